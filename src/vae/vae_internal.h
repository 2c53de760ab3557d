/* The VAE's parameter layout, shared by the loader (vae_load.c) and the forward passes (vae.c).
 * Every parameter is an offset, in elements, into one act buffer holding all the weights. */
#ifndef MASKDIT_VAE_INTERNAL_H
#define MASKDIT_VAE_INTERNAL_H

#include "../ckpt/weights.h"
#include "vae.h"

typedef struct {
    size_t gamma, beta;
    int C;
} VaeNorm;

typedef struct {
    size_t w, b;
    int O, C, k;   /* [O, C, k, k] */
} VaeConv;

typedef struct {
    VaeNorm norm1, norm2;
    VaeConv conv1, conv2;
    VaeConv nin;   /* 1x1 shortcut where the channels change (has_nin) */
    int has_nin;
} VaeResBlock;

/* q, k and v are stored next to each other: wqkv is the [3C, C] weight of one linear layer, bqkv
 * its [3C] bias. */
typedef struct {
    VaeNorm norm;
    size_t wqkv, bqkv, wproj, bproj;
    int C;
} VaeAttn;

typedef struct {
    VaeResBlock *blocks;
    int n_blocks;
    VaeConv resample;   /* downsample.conv (encoder) or upsample.conv (decoder), absent on one end */
    int has_resample;
} VaeLevel;

typedef struct {
    VaeConv conv_in;
    VaeLevel level[VAE_MAX_LEVELS];
    VaeResBlock mid1, mid2;
    VaeAttn attn;
    VaeNorm norm_out;
    VaeConv conv_out;
    VaeConv quant;   /* quant_conv after the encoder, post_quant_conv before the decoder */
} VaeCoder;

struct Vae {
    Backend *be;
    VaeConfig cfg;
    VaeCoder enc, dec;
    void *weights;           /* act, every parameter */
    size_t n_params;
    uint32_t fingerprint;    /* CRC-32 of the float32 weights */
    char *path, *format, *layout;
    int has_scaling_factor;
    double scaling_factor;
    /* activations, planned for `planned` elements per feature buffer (vae.c) */
    void *feat[3];
    size_t planned;
    void *qkv, *att_saved;
    size_t planned_tokens;   /* N * T of the attention buffers */
    float *stage;            /* f32 staging between the host and act buffers (act not f32) */
    double flops;            /* of the last encode or decode: convolutions, attention, linears */
    size_t stage_count;
};

#endif
