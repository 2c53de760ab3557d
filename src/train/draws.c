#include "draws.h"

#include <string.h>

#include "../model/edm.h"
#include "../util/rng.h"

void draws_alloc(Draws *d, const ModelConfig *cfg, int max_n) {
    memset(d, 0, sizeof *d);
    d->max_n = max_n;
    d->K = cfg->num_classes;
    d->L = model_num_patches(cfg);
    d->per_sample = (size_t)cfg->in_channels * cfg->input_size * cfg->input_size;
    size_t n = (size_t)max_n;
    if (d->K) d->labels = xmalloc(n * (size_t)d->K * sizeof(float), "one-hot labels");
    d->rnd_normal = xmalloc(n * sizeof(double), "sigma draws");
    d->noise = xmalloc(n * d->per_sample * sizeof(float), "noise");
    d->u = xmalloc(n * (size_t)d->L * sizeof(double), "mask draws");
    d->ids_shuffle = xmalloc(n * (size_t)d->L * sizeof(int32_t), "mask permutation");
}

void draws_free(Draws *d) {
    free(d->labels);
    free(d->rnd_normal);
    free(d->noise);
    free(d->u);
    free(d->ids_shuffle);
    memset(d, 0, sizeof *d);
}

void draws_make(Draws *d, uint64_t seed, uint64_t g0, int n, const int32_t *classes, double class_dropout_prob,
                int masked) {
    if (n > d->max_n) FATAL("draws_make: %d samples, planned for %d", n, d->max_n);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        uint64_t g = g0 + (uint64_t)i;
        Rng r = rng_sample_stream(seed, RNG_SIGMA, g);
        d->rnd_normal[i] = rng_normal(&r);
        rng_fill_normal(d->noise + (size_t)i * d->per_sample, d->per_sample, seed, RNG_NOISE, (uint32_t)(g >> 32),
                        (uint32_t)g);
        if (masked) {
            Rng m = rng_sample_stream(seed, RNG_MASK, g);
            for (int l = 0; l < d->L; l++) d->u[(size_t)i * d->L + l] = rng_uniform(&m);
        }
        if (d->K) {
            float *row = d->labels + (size_t)i * d->K;
            memset(row, 0, (size_t)d->K * sizeof(float));
            Rng u = rng_sample_stream(seed, RNG_LABEL_DROP, g);
            if (rng_uniform(&u) >= class_dropout_prob) row[classes[i]] = 1.0f;
        }
    }
    if (masked) mask_from_uniforms(d->ids_shuffle, d->u, n, d->L);
}
