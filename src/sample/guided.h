/* The sampler's denoiser for a MaskDiT model: D(x; sigma) with per-image class labels and
 * classifier-free guidance (edm_denoise), as a SamplerCallbacks.denoise function. */
#ifndef MASKDIT_SAMPLE_GUIDED_H
#define MASKDIT_SAMPLE_GUIDED_H

#include "../model/edm.h"

typedef struct {
    Model *model;
    EdmBatch batch;
    int max_images;          /* images per call */
    double cfg_scale;        /* <= 0: no guidance (a plain conditional forward) */
    float *labels;           /* [max_images, K] one-hot rows of the images being sampled; NULL if K == 0 */
    long long calls;         /* denoiser evaluations so far */
} GuidedDenoiser;

/* The model must be planned for max_images images, 2*max_images with guidance (cfg_scale > 0
 * and != 1 on a conditional model: the conditional and null-label halves run as one batch). */
void guided_init(GuidedDenoiser *g, Model *m, int max_images, double cfg_scale);
void guided_free(GuidedDenoiser *g);

/* Model batch size that guided_init needs for max_images. */
int guided_model_batch(const ModelConfig *cfg, int max_images, double cfg_scale);

/* Labels of the next n images: classes[i] in [0, K), or -1 for the null (all-zero) label. */
void guided_set_classes(GuidedDenoiser *g, const int *classes, int n);

/* SamplerCallbacks.denoise with ctx = GuidedDenoiser. */
void guided_denoise(void *ctx, const double *x, int n, double sigma, double *D_out);

#endif
