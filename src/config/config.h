/* Run configuration: the original MaskDiT YAML schema (sections data / model / train / eval / log /
 * wandb, e.g. configs/train/imagenet256-latent.yaml) plus the settings this implementation adds
 * (device, precision, threads, decoder sizes, ...). Every key, its type, default and meaning is in
 * one table (src/config/schema.c) and in docs/configs.md.
 *
 * Loading is strict: an unknown key is refused with its full dotted name and the file, a value of
 * the wrong type with the key, the expected type and the value. Scalars follow the YAML 1.1 rules
 * the original's OmegaConf uses (True/False/yes/no, 2_000_000, 1e-4 as a float; a quoted value is
 * always a string). Keys of the original that have no effect here (wandb.*, eval.*, ...) are
 * accepted and reported once by run_config_notices(). */
#ifndef MASKDIT_CONFIG_H
#define MASKDIT_CONFIG_H

#include "../model/model_config.h"
#include "../util/common.h"
#include "../util/numtext.h"

#define CFG_STR_MAX 256
#define CFG_PATH_MAX 1024
#define CFG_LIST_MAX 16

typedef struct {
    char dataset[CFG_STR_MAX];     /* name used in the experiment directory */
    char category[32];             /* "hdf5" (lmdb / webdataset are refused with a conversion hint) */
    char root[CFG_PATH_MAX];       /* HDF5 dataset directory */
    int resolution;                /* H == W of what the model sees */
    int num_channels;              /* channels the model sees (4 for SD latents) */
    int num_classes;               /* -1: same as model.num_classes */
    int random_flip;               /* original key, unused by the original: ignored */
    char feat_path[CFG_PATH_MAX];  /* external features (ext_feature_dim > 0 only): ignored */
    long long total_num;           /* webdataset sample count: ignored (the HDF5 index knows) */
} DataSection;

typedef struct {
    char precond[16];              /* "edm" */
    char model_type[32];           /* "DiT-XL/2", ... */
    int in_size, in_channels, num_classes;
    int use_decoder;
    int ext_feature_dim;           /* must be 0 */
    int pad_cls_token;             /* must be false */
    int self_cond;                 /* must be false */
    double mask_ratio;
    char mask_ratio_fn[16];        /* constant, linear, exp, cosine2..cosine6 (cos2..cos6) */
    double mask_ratio_min;
    double cond_mask_ratio;        /* original test configs only: ignored */
    double mae_loss_coef;
    double class_dropout_prob;
    /* extensions: 0 = take it from model_type */
    int hidden_size, depth, num_heads, patch_size;
    double mlp_ratio;
    int decoder_hidden_size, decoder_depth, decoder_num_heads;
    double sigma_data, P_mean, P_std;
} ModelSection;

typedef struct {
    int tf32;
    int amp;                       /* original: fp16 autocast; here: precision auto on CUDA */
    int batchsize;                 /* micro-batch per rank */
    int grad_accum;                /* micro-batches per optimizer step */
    long long epochs;
    double lr;
    double lr_rampup_kimg;
    int xflip;
    long long max_num_steps;
    /* extensions */
    long long seed;                /* --global_seed */
    char device[8];                /* cpu, cuda, auto */
    char precision[8];             /* auto, fp32, bf16, fp16 */
    int threads;                   /* OpenMP threads per rank, 0 = default */
    double grad_clip;              /* max global gradient norm, 0 = off */
    double ema_decay;
    double max_minutes;            /* stop (with a checkpoint) after this wall time, 0 = no limit */
    int resampled;                 /* sample with replacement instead of epoch permutations */
    int prefetch;                  /* reader prefetch thread */
    double bucket_mb;              /* gradient all-reduce bucket size, 0 = automatic */
} TrainSection;

typedef struct {
    int batchsize;
    char ref_path[CFG_PATH_MAX];
    double cfg_scales[CFG_LIST_MAX];
    int n_cfg_scales;
} EvalSection;

typedef struct {
    long long log_every;
    long long ckpt_every;
    char tag[CFG_STR_MAX];
    /* extensions */
    int tensorboard;               /* TensorBoard event files in the experiment directory */
    double peak_tflops;            /* one GPU's peak for MFU, 0 = from the table of known GPUs */
    long long sample_every;        /* steps between sample grids, 0 = none */
    char vae[CFG_STR_MAX];         /* latent models: the VAE that decodes the sample grids */
} LogSection;

typedef struct {
    char entity[CFG_STR_MAX], project[CFG_STR_MAX], group[CFG_STR_MAX], notes[CFG_STR_MAX];
} WandbSection;

/* Written by maskdit-train into the configuration stored in checkpoints; refused in user files. */
typedef struct {
    long long start_step;          /* step the run's schedule counts max_num_steps from */
    long long optimizer_step;      /* AdamW steps taken (bias corrections) */
} RunSection;

#define CFG_MAX_KEYS 96

typedef struct {
    DataSection data;
    ModelSection model;
    TrainSection train;
    EvalSection eval;
    LogSection log;
    WandbSection wandb;
    RunSection run;
    char source[CFG_PATH_MAX];               /* the file it came from ("" = defaults only) */
    unsigned char given[CFG_MAX_KEYS];       /* key index -> set by the file or an override */
    unsigned char int_literal[CFG_MAX_KEYS]; /* float key given as an integer literal ("0") */
} RunConfig;

/* Defaults of every key. */
void run_config_defaults(RunConfig *c);

/* Defaults, then the YAML file at path (NULL: none), then the overrides "section.key=value" in
 * order. Returns -1 with a message naming the file (and line) or override and the key. */
int run_config_load(RunConfig *c, const char *path, char **overrides, int n_overrides, Error *e);

/* Apply YAML text (a whole config; name is used in messages). allow_run_section: accept the
 * internal `run:` section (configs stored in checkpoints). */
int run_config_apply_text(RunConfig *c, const char *text, const char *name, int allow_run_section, Error *e);

/* One override "section.key=value" (the value is a YAML scalar or flow sequence). */
int run_config_set(RunConfig *c, const char *assignment, Error *e);

/* Values that only make sense together (ranges, schedule names, unsupported original options).
 * Does not look at files. */
int run_config_check(const RunConfig *c, Error *e);

/* Extra checks of a training run: the data section (category hdf5, a root), batch sizes. */
int run_config_check_training(const RunConfig *c, Error *e);

/* The model hyper-parameters the configuration describes (model_type preset + overrides),
 * validated. */
int run_config_model(const RunConfig *c, ModelConfig *m, Error *e);

/* Print one notice (rank 0) listing the keys given with values that have no effect here. */
void run_config_notices(const RunConfig *c);

/* The resolved configuration as YAML in the original layout (every key, our extensions marked).
 * malloc'ed. with_run_section: include `run:` (checkpoints). */
char *run_config_to_yaml(const RunConfig *c, int with_run_section);

/* Markdown table of every key (docs/configs.md is generated from it). malloc'ed. */
char *run_config_keys_markdown(void);

/* The value of a float key as the original would print it: an integer literal stays an integer
 * ("0"), a float uses Python's repr. key e.g. "model.mask_ratio". */
void run_config_py_value(const RunConfig *c, const char *key, char *buf, size_t len);

#endif
