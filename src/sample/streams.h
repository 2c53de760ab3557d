/* The random numbers of sampling, one stream per image seed (src/util/rng.h, purpose
 * RNG_SAMPLER): an image depends only on its seed, its class and the sampler settings, never on
 * the batch it is sampled in or on the number of ranks.
 *
 *   initial latents of seed s:      rng_stream(SAMPLER_RNG_KEY, RNG_SAMPLER, s, 0)
 *   churn noise of step i, seed s:  rng_stream(SAMPLER_RNG_KEY, RNG_SAMPLER, s, 1 + i)
 *   random class of seed s:         rng_stream(SAMPLER_RNG_KEY, RNG_SAMPLER_CLASS, s, 0)
 *
 * The key is fixed: the seed list alone names the images (as in the original, where every seed
 * owns a torch generator). */
#ifndef MASKDIT_SAMPLE_STREAMS_H
#define MASKDIT_SAMPLE_STREAMS_H

#include <stddef.h>
#include <stdint.h>

#define SAMPLER_RNG_KEY 0

/* dim unit normals, rounded to float32 as the original's float32 latents are. */
void sample_initial_noise(double *out, size_t dim, uint32_t seed);
/* dim unit normals (float64) for the churn of step `step` (0-based). */
void sample_churn_noise(double *out, size_t dim, uint32_t seed, int step);
/* A uniform class in [0, num_classes) for a seed sampled without --class_idx. */
int sample_random_class(uint32_t seed, int num_classes);

#endif
