/* EDM preconditioning and the host side of a step: everything that is per sample and in pixel
 * layout (sigma, the noisy input, patchify, the MAE target, guidance, D_x) is computed here in
 * double on the host; it is O(N*C*H*W) and negligible next to the transformer, and it keeps the
 * device interface down to token tensors. */
#ifndef MASKDIT_EDM_H
#define MASKDIT_EDM_H

#include "model.h"

typedef struct {
    double c_skip, c_out, c_in, c_noise;
} EdmCoeffs;

/* c_skip = sd^2/(s^2+sd^2), c_out = s sd/sqrt(s^2+sd^2), c_in = 1/sqrt(sd^2+s^2), c_noise = ln(s)/4 */
EdmCoeffs edm_coeffs(double sigma, double sigma_data);
/* Loss weight (s^2 + sd^2) / (s sd)^2. */
double edm_weight(double sigma, double sigma_data);

/* (N,C,H,W) -> (N,L,C*p*p) in the Conv2d weight order (c, a, b): the x_embedder input. */
void patchify_cab(float *out, const float *img, int N, int C, int H, int p);
/* (N,C,H,W) -> (N,L,p*p*C) in the final layer's order (a, b, c). */
void patchify_abc(float *out, const float *img, int N, int C, int H, int p);
/* Inverse of patchify_abc, (N,L,p*p*C) -> (N,C,H,W), in double. */
void unpatchify_abc(double *out, const float *tok, int N, int C, int H, int p);

/* Host buffers of one training micro-batch, sized once for (max_batch, cfg). */
typedef struct {
    int max_batch;
    int N, L, P, len_keep;
    float *x_noisy;          /* [N,C,H,W] */
    float *xin;              /* [N,C,H,W] c_in * x_noisy */
    float *patches;          /* [N,L,C*p*p] */
    float *x_tok, *xn_tok, *mae_target;   /* [N,L,P] */
    float *mask;             /* [N,L] */
    int32_t *ids_keep, *ids_restore, *ids_shuffle;
    double *sigma, *c_noise;
    float *c_skip, *c_out, *weight;
    float *loss;             /* [N] */
    /* for edm_denoise */
    float *labels;           /* [N,K] conditional rows then null rows */
    float *final_host;       /* [N,L,P] */
    double *F;               /* [N,C,H,W] */
} EdmBatch;

void edm_batch_alloc(EdmBatch *b, const ModelConfig *cfg, int max_batch);
void edm_batch_free(EdmBatch *b);

/* Prepare a training micro-batch from clean images x [N,C,H,W], the standard normals rnd_normal
 * [N] (sigma = exp(P_std r + P_mean)) and noise [N,C,H,W], and a mask given by ids_shuffle
 * [N,L] (the first len_keep entries are kept; len_keep = L means unmasked). Fills the ModelInput and
 * LossInput that point into b. labels may be NULL for an unconditional model. */
void edm_prepare(EdmBatch *b, const ModelConfig *cfg, int N, const float *x, const float *labels,
                 const double *rnd_normal, const float *noise, const int32_t *ids_shuffle, int len_keep,
                 ModelInput *in, LossInput *li);

/* Random mask of the original: argsort of N uniforms per sample, from a caller-supplied array
 * of L uniforms per sample (u [N,L]); writes ids_shuffle [N,L]. */
void mask_from_uniforms(int32_t *ids_shuffle, const double *u, int N, int L);

/* The denoiser D(x; sigma) with classifier-free guidance, as the sampler calls it: x [N,C,H,W]
 * in double, one sigma for the batch, labels [N,K] (NULL = unconditional model). cfg_scale <= 0
 * or == 1 means a plain conditional forward; otherwise the 2N batch [cond; null labels] is run
 * and F = F_u + s (F_c - F_u) on all channels. D_out [N,C,H,W] double. Work buffers are inside m
 * and b (sized for 2N <= max_batch). */
void edm_denoise(Model *m, EdmBatch *b, const double *x, int N, double sigma, const float *labels,
                 double cfg_scale, double *D_out);

#endif
