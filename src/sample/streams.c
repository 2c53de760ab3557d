#include "streams.h"

#include "../util/rng.h"

void sample_initial_noise(double *out, size_t dim, uint32_t seed) {
    Rng r = rng_stream(SAMPLER_RNG_KEY, RNG_SAMPLER, seed, 0);
    for (size_t i = 0; i < dim; i++) out[i] = (float)rng_normal(&r);
}

void sample_churn_noise(double *out, size_t dim, uint32_t seed, int step) {
    Rng r = rng_stream(SAMPLER_RNG_KEY, RNG_SAMPLER, seed, 1u + (uint32_t)step);
    for (size_t i = 0; i < dim; i++) out[i] = rng_normal(&r);
}

int sample_random_class(uint32_t seed, int num_classes) {
    Rng r = rng_stream(SAMPLER_RNG_KEY, RNG_SAMPLER_CLASS, seed, 0);
    return (int)rng_below(&r, (uint32_t)num_classes);
}
