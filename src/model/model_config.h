/* MaskDiT hyper-parameters: the fields of the original model (and of the golden files' /config),
 * the original model_type presets, and validation. */
#ifndef MASKDIT_MODEL_MODEL_CONFIG_H
#define MASKDIT_MODEL_MODEL_CONFIG_H

#include "../util/common.h"

typedef struct {
    int input_size;          /* H == W of the latent/image */
    int patch_size;          /* p */
    int in_channels;         /* C (== out channels; learn_sigma is not used) */
    int hidden_size;         /* D */
    int depth;               /* encoder blocks */
    int num_heads;
    double mlp_ratio;
    int num_classes;         /* 0 = unconditional: no label embedder */
    int use_decoder;         /* 1: DecoderLayer + decoder blocks + mask token */
    int decoder_hidden_size; /* Dd */
    int decoder_depth;
    int decoder_num_heads;
    double mae_loss_coef;    /* > 0 creates the learnable mask_token */
    double sigma_data, sigma_min, sigma_max;   /* sigma_max may be INFINITY */
    double P_mean, P_std;
    int frequency_embedding_size;
    int max_period;
    double norm_eps;         /* LayerNorm epsilon */
    double norm_pix_eps;     /* epsilon of the MAE target normalisation */
} ModelConfig;

/* Defaults of the original: DiT-XL/2 on 4x32x32 latents, 1000 classes, decoder 512/8/16. */
ModelConfig model_config_default(void);

/* Apply a model_type string of the original ("DiT-XL/2", "DiT-S/4", ...): sets depth,
 * hidden_size, patch_size and num_heads. Returns -1 with a message listing the valid names. */
int model_config_apply_type(ModelConfig *c, const char *model_type, Error *e);

/* Checks divisibility and ranges (e.g. input_size % patch_size, hidden_size % num_heads,
 * even widths for the sin-cos embeddings). */
int model_config_validate(const ModelConfig *c, Error *e);

static inline int model_grid(const ModelConfig *c) { return c->input_size / c->patch_size; }
static inline int model_num_patches(const ModelConfig *c) { return model_grid(c) * model_grid(c); }
static inline int model_patch_dim(const ModelConfig *c) { return c->patch_size * c->patch_size * c->in_channels; }
/* Tokens the encoder keeps: int(L * (1 - mask_ratio)), as the original computes it. */
int model_len_keep(const ModelConfig *c, double mask_ratio);
/* A mask ratio must leave the encoder at least one token; the message begins with the ratio. */
int model_check_mask_ratio(const ModelConfig *c, double mask_ratio, Error *e);
/* Width of the layers after the encoder (decoder width, or D without a decoder). */
static inline int model_final_width(const ModelConfig *c) { return c->use_decoder ? c->decoder_hidden_size : c->hidden_size; }
static inline int model_mlp_hidden(int width, double ratio) { return (int)(width * ratio); }

/* One line summary, e.g. "D=1152 depth=28 heads=16 p=2 in=4x32x32 classes=1000 decoder=512/8/16". */
void model_config_describe(const ModelConfig *c, char *buf, size_t len);

#endif
