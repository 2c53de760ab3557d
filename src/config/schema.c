#include "schema.h"

#include <string.h>

#define F(field) offsetof(RunConfig, field)
#define STR(key, field, def, flags, doc) {key, CT_STR, F(field), sizeof(((RunConfig *)0)->field), 0, def, flags, doc}
#define NUM(key, type, field, def, flags, doc) {key, type, F(field), 0, 0, def, flags, doc}

/* Defaults of the original keys are the values of configs/train/imagenet256-latent.yaml (the
 * original has no defaults: its configs spell every key out). */
const ConfigKey CONFIG_KEYS[] = {
    /* ---- data ---- */
    STR("data.dataset", data.dataset, "imagenet256-latent", CK_ORIGINAL,
        "Dataset name; part of the experiment directory name."),
    STR("data.category", data.category, "hdf5", CK_ORIGINAL,
        "Dataset format. Only `hdf5` (a maskdit-convert dataset directory) is read; `lmdb` and "
        "`webdataset` are refused with the maskdit-convert command that produces the HDF5 form."),
    STR("data.root", data.root, "", CK_ORIGINAL, "The HDF5 dataset directory (written by maskdit-convert)."),
    NUM("data.resolution", CT_INT, data.resolution, "32", CK_ORIGINAL,
        "Side of the samples the model sees (latent side for latent datasets); must equal model.in_size "
        "and the dataset."),
    NUM("data.num_channels", CT_INT, data.num_channels, "4", CK_ORIGINAL,
        "Channels the model sees (4 for VAE latents, even when the dataset stores 8-channel moments); "
        "must equal model.in_channels and the dataset."),
    NUM("data.num_classes", CT_INT, data.num_classes, "-1", CK_EXTENSION,
        "Classes of the dataset's labels; -1 = model.num_classes. Checked against the dataset."),
    NUM("data.random_flip", CT_BOOL, data.random_flip, "false", CK_IGNORED,
        "Unused by the original's training scripts; use train.xflip."),
    STR("data.feat_path", data.feat_path, "None", CK_IGNORED,
        "External-feature LMDB of the original (only with model.ext_feature_dim > 0, which is not "
        "supported)."),
    NUM("data.total_num", CT_I64, data.total_num, "0", CK_IGNORED,
        "Sample count for the original's webdataset loader; the HDF5 index holds the count."),

    /* ---- model ---- */
    STR("model.precond", model.precond, "edm", CK_ORIGINAL, "Preconditioning; only `edm` exists."),
    STR("model.model_type", model.model_type, "DiT-XL/2", CK_ORIGINAL,
        "Backbone preset DiT-{S,B,L,XL,H}/{2,4,8}: depth, width, heads and patch size."),
    NUM("model.in_size", CT_INT, model.in_size, "32", CK_ORIGINAL, "Input side H == W (latent side: 32 for 256 px)."),
    NUM("model.in_channels", CT_INT, model.in_channels, "4", CK_ORIGINAL, "Input (= output) channels."),
    NUM("model.num_classes", CT_INT, model.num_classes, "1000", CK_ORIGINAL, "Classes; 0 = unconditional."),
    NUM("model.use_decoder", CT_BOOL, model.use_decoder, "true", CK_ORIGINAL,
        "MaskDiT decoder (DecoderLayer, mask token, decoder blocks)."),
    NUM("model.ext_feature_dim", CT_INT, model.ext_feature_dim, "0", CK_ORIGINAL,
        "External conditioning features of the original; must be 0 (not supported)."),
    NUM("model.pad_cls_token", CT_BOOL, model.pad_cls_token, "false", CK_ORIGINAL,
        "Extra class token of the original; must be false (not supported)."),
    NUM("model.self_cond", CT_BOOL, model.self_cond, "false", CK_ORIGINAL,
        "Encoder-feature conditioning of the original (test configs); must be false (not supported)."),
    NUM("model.mask_ratio", CT_FLOAT, model.mask_ratio, "0.5", CK_ORIGINAL,
        "Fraction of tokens removed during training (0 = unmasked training, e.g. fine-tuning)."),
    STR("model.mask_ratio_fn", model.mask_ratio_fn, "constant", CK_ORIGINAL,
        "Mask-ratio schedule over train.max_num_steps: constant, linear, exp, cosine2 ... cosine6 "
        "(cos2 ... cos6 accepted as aliases)."),
    NUM("model.mask_ratio_min", CT_FLOAT, model.mask_ratio_min, "0", CK_ORIGINAL,
        "Lower end of the schedules (upper end: model.mask_ratio)."),
    NUM("model.cond_mask_ratio", CT_FLOAT, model.cond_mask_ratio, "0", CK_IGNORED,
        "Appears in the original's test configs; unused."),
    NUM("model.mae_loss_coef", CT_FLOAT, model.mae_loss_coef, "0.1", CK_ORIGINAL,
        "Weight of the MAE loss on removed patches; > 0 also creates the mask token."),
    NUM("model.class_dropout_prob", CT_FLOAT, model.class_dropout_prob, "0.1", CK_ORIGINAL,
        "Probability that a training label becomes the null (all-zero) label."),
    NUM("model.hidden_size", CT_INT, model.hidden_size, "0", CK_EXTENSION, "Encoder width; 0 = from model_type."),
    NUM("model.depth", CT_INT, model.depth, "0", CK_EXTENSION, "Encoder blocks; 0 = from model_type."),
    NUM("model.num_heads", CT_INT, model.num_heads, "0", CK_EXTENSION, "Encoder heads; 0 = from model_type."),
    NUM("model.patch_size", CT_INT, model.patch_size, "0", CK_EXTENSION, "Patch size; 0 = from model_type."),
    NUM("model.mlp_ratio", CT_FLOAT, model.mlp_ratio, "4.0", CK_EXTENSION, "MLP hidden width / block width."),
    NUM("model.decoder_hidden_size", CT_INT, model.decoder_hidden_size, "512", CK_EXTENSION,
        "Decoder width (the original hard-codes 512)."),
    NUM("model.decoder_depth", CT_INT, model.decoder_depth, "8", CK_EXTENSION,
        "Decoder blocks (the original hard-codes 8)."),
    NUM("model.decoder_num_heads", CT_INT, model.decoder_num_heads, "16", CK_EXTENSION,
        "Decoder heads (the original hard-codes 16)."),
    NUM("model.sigma_data", CT_FLOAT, model.sigma_data, "0.5", CK_EXTENSION, "EDM sigma_data."),
    NUM("model.P_mean", CT_FLOAT, model.P_mean, "-1.2", CK_EXTENSION, "EDM training noise: ln(sigma) ~ N(P_mean, P_std^2)."),
    NUM("model.P_std", CT_FLOAT, model.P_std, "1.2", CK_EXTENSION, "See model.P_mean."),

    /* ---- train ---- */
    NUM("train.tf32", CT_BOOL, train.tf32, "false", CK_ORIGINAL, "Allow TF32 for fp32 GEMMs on CUDA."),
    NUM("train.amp", CT_BOOL, train.amp, "true", CK_ORIGINAL,
        "Mixed precision on CUDA (bf16 where supported, else fp16); --no_amp turns it off. The CPU "
        "always computes in fp32."),
    NUM("train.batchsize", CT_INT, train.batchsize, "128", CK_ORIGINAL,
        "Micro-batch per rank. Global batch = batchsize x grad_accum x ranks."),
    NUM("train.grad_accum", CT_INT, train.grad_accum, "1", CK_ORIGINAL, "Micro-batches per optimizer step."),
    NUM("train.epochs", CT_I64, train.epochs, "2800", CK_ORIGINAL,
        "Training also stops after this many epochs (steps per epoch = dataset size // global batch)."),
    NUM("train.lr", CT_FLOAT, train.lr, "0.0001", CK_ORIGINAL, "AdamW learning rate."),
    NUM("train.lr_rampup_kimg", CT_FLOAT, train.lr_rampup_kimg, "0", CK_ORIGINAL,
        "Linear lr ramp-up over this many thousand images (0 = none; see docs/maskdit-train.md for "
        "the step-0 quirk)."),
    NUM("train.xflip", CT_BOOL, train.xflip, "false", CK_ORIGINAL, "Random horizontal flips of the training samples."),
    NUM("train.max_num_steps", CT_I64, train.max_num_steps, "2000000", CK_ORIGINAL,
        "Optimizer steps of the run, counted from where it started (0, or the step of the "
        "checkpoint given with --ckpt_path); also the length of the mask-ratio schedule."),
    NUM("train.seed", CT_I64, train.seed, "0", CK_EXTENSION, "Global seed (--global_seed sets it)."),
    STR("train.device", train.device, "auto", CK_EXTENSION, "cpu, cuda or auto (--device)."),
    STR("train.precision", train.precision, "auto", CK_EXTENSION,
        "auto (from train.amp / --no_amp), fp32, bf16 or fp16 (the last two on CUDA only)."),
    NUM("train.threads", CT_INT, train.threads, "0", CK_EXTENSION, "OpenMP threads per rank; 0 = OMP_NUM_THREADS / all."),
    NUM("train.grad_clip", CT_FLOAT, train.grad_clip, "0", CK_EXTENSION,
        "Clip the global gradient norm to this value; 0 = off (the original does not clip)."),
    NUM("train.ema_decay", CT_FLOAT, train.ema_decay, "0.9999", CK_EXTENSION, "EMA decay per optimizer step."),
    NUM("train.max_minutes", CT_FLOAT, train.max_minutes, "0", CK_EXTENSION,
        "Stop after this many minutes of training, writing a checkpoint; 0 = no limit."),
    NUM("train.resampled", CT_BOOL, train.resampled, "false", CK_EXTENSION,
        "Draw samples with replacement instead of one permutation per epoch (--resample)."),
    NUM("train.prefetch", CT_BOOL, train.prefetch, "true", CK_EXTENSION, "Read the next micro-batch in a background thread."),
    NUM("train.bucket_mb", CT_FLOAT, train.bucket_mb, "0", CK_EXTENSION,
        "Gradient all-reduce bucket size in MiB, reduced while the backward pass goes on; 0 = automatic: 25 "
        "with NCCL, one reduction after the backward pass with MPI on the CPU (measured faster there: "
        "tests/bench/allreduce_overlap.sh)."),

    /* ---- eval ---- */
    NUM("eval.batchsize", CT_INT, eval.batchsize, "50", CK_IGNORED,
        "FID evaluation during training is not built in (use maskdit-generate)."),
    STR("eval.ref_path", eval.ref_path, "", CK_IGNORED, "FID reference statistics of the original."),
    {"eval.cfg_scales", CT_FLOAT_LIST, F(eval.cfg_scales), CFG_LIST_MAX, F(eval.n_cfg_scales), "[]", CK_IGNORED,
     "Guidance scales of the original's FID evaluation."},

    /* ---- log ---- */
    NUM("log.log_every", CT_I64, log.log_every, "100", CK_ORIGINAL, "Steps between progress lines."),
    NUM("log.ckpt_every", CT_I64, log.ckpt_every, "50000", CK_ORIGINAL, "Steps between checkpoints."),
    STR("log.tag", log.tag, "", CK_ORIGINAL, "Appended to the experiment directory name (--tag sets it)."),
    NUM("log.tensorboard", CT_BOOL, log.tensorboard, "true", CK_EXTENSION,
        "Write the logged metrics as TensorBoard event files (events.out.tfevents.*) into the experiment "
        "directory, a new file per (re)start."),
    NUM("log.peak_tflops", CT_FLOAT, log.peak_tflops, "0", CK_EXTENSION,
        "Peak dense TFLOP/s of one GPU in the run's precision, for the MFU in the progress line; 0 = from a "
        "table of known GPUs (A100, H100, H200, L40S, V100), none reported for others."),
    NUM("log.sample_every", CT_I64, log.sample_every, "0", CK_EXTENSION,
        "Steps between sample grids of the EMA weights (16 fixed seeds and classes, 18 Heun steps) into "
        "samples/NNNNNNN.png and TensorBoard; 0 = none. Latent-space datasets need log.vae."),
    STR("log.vae", log.vae, "", CK_EXTENSION,
        "The Stable Diffusion KL VAE (any weight layout maskdit-vae reads) that decodes the sample grids of a "
        "latent-space model; --pretrained_path sets it."),

    /* ---- wandb ---- */
    STR("wandb.entity", wandb.entity, "", CK_IGNORED, "Weights & Biases is not built in; metrics go to metrics.jsonl."),
    STR("wandb.project", wandb.project, "", CK_IGNORED, "See wandb.entity."),
    STR("wandb.group", wandb.group, "", CK_IGNORED, "See wandb.entity."),
    STR("wandb.notes", wandb.notes, "", CK_IGNORED, "See wandb.entity."),

    /* ---- run (internal) ---- */
    NUM("run.start_step", CT_I64, run.start_step, "-1", CK_INTERNAL,
        "Step the run's train.max_num_steps and mask-ratio schedule count from (-1: not recorded)."),
    NUM("run.optimizer_step", CT_I64, run.optimizer_step, "-1", CK_INTERNAL,
        "AdamW steps taken (the bias-correction counter; differs from the step after a fine-tune start)."),
};
const int CONFIG_NKEYS = (int)ARRAY_LEN(CONFIG_KEYS);

const char *const CONFIG_SECTIONS[] = {"data", "model", "train", "eval", "log", "wandb", "run"};
const int CONFIG_NSECTIONS = (int)ARRAY_LEN(CONFIG_SECTIONS);

_Static_assert(ARRAY_LEN(CONFIG_KEYS) <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");

int config_key_find(const char *key) {
    for (int i = 0; i < CONFIG_NKEYS; i++)
        if (!strcmp(CONFIG_KEYS[i].key, key)) return i;
    return -1;
}

/* Levenshtein distance, capped: keys are short. */
static int edit_distance(const char *a, const char *b) {
    enum { MAXL = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXL || lb >= MAXL) return MAXL;
    int prev[MAXL + 1], cur[MAXL + 1];
    for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            cur[j] = MIN(MIN(prev[j] + 1, cur[j - 1] + 1), sub);
        }
        memcpy(prev, cur, sizeof cur);
    }
    return prev[lb];
}

const char *config_key_suggest(const char *key) {
    const char *best = NULL;
    int best_d = 4;   /* further than 3 edits is not a typo */
    for (int i = 0; i < CONFIG_NKEYS; i++) {
        if (CONFIG_KEYS[i].flags & CK_INTERNAL) continue;
        int d = edit_distance(key, CONFIG_KEYS[i].key);
        if (d < best_d) best_d = d, best = CONFIG_KEYS[i].key;
    }
    return best;
}

const char *config_type_name(ConfigType t) {
    switch (t) {
    case CT_STR: return "a string";
    case CT_INT:
    case CT_I64: return "an integer";
    case CT_FLOAT: return "a number";
    case CT_BOOL: return "a boolean (true/false)";
    case CT_FLOAT_LIST: return "a list of numbers";
    }
    return "?";
}
