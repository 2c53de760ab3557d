/* The random inputs of a training micro-batch, each a pure function of (seed, global sample index
 * g) through its own Philox stream (src/util/rng.h), so that a sample gets the same noise level,
 * noise, mask and label dropout whichever rank, micro-batch or resumed run draws it:
 *   sigma:   rnd_normal = one normal of (seed, RNG_SIGMA, g); sigma = exp(P_std r + P_mean)
 *   noise:   C*H*W normals of (seed, RNG_NOISE, g)
 *   mask:    L uniforms of (seed, RNG_MASK, g), argsorted (the original's argsort of torch.rand)
 *   labels:  one-hot of the dataset label, all-zero when one uniform of (seed, RNG_LABEL_DROP, g)
 *            is < class_dropout_prob (the original: y * (rand >= p)) */
#ifndef MASKDIT_TRAIN_DRAWS_H
#define MASKDIT_TRAIN_DRAWS_H

#include <stdint.h>

#include "../model/model_config.h"

typedef struct {
    int max_n, K, L;
    size_t per_sample;     /* C*H*W */
    float *labels;         /* [n, K] (NULL when K == 0) */
    double *rnd_normal;    /* [n] */
    float *noise;          /* [n, C*H*W] */
    double *u;             /* [n, L] */
    int32_t *ids_shuffle;  /* [n, L] */
} Draws;

void draws_alloc(Draws *d, const ModelConfig *cfg, int max_n);
void draws_free(Draws *d);

/* Draw for samples g0 .. g0+n-1 with dataset labels classes[n]. masked: also draw the mask. */
void draws_make(Draws *d, uint64_t seed, uint64_t g0, int n, const int32_t *classes, double class_dropout_prob,
                int masked);

#endif
