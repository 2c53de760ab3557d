/* Per-sample randomness of the reader that has to be fast (a 4x32x32 latent needs 4096 normals per
 * sample, at tens of thousands of samples per second): the latent draw from VAE moments.
 *
 * eps of sample g: normals from the Philox stream (seed, RNG_LATENT_EPS, g) (src/util/rng.h).
 * Counter block j gives u32 words w0..w3; normals 4j..4j+3 are two Box-Muller pairs in float32:
 *   (w0, w1) -> r = sqrt(-2 ln u), u = ((w0 >> 8) + 1) / 2^24  in (0, 1]
 *               theta = 2 pi t,     t = (w1 >> 8) / 2^24        in [0, 1)
 *               eps[4j] = r cos theta, eps[4j+1] = r sin theta
 *   (w2, w3) -> eps[4j+2], eps[4j+3] the same way.
 * ln, sqrt, sin, cos are evaluated with float32 polynomials that vectorise (a few ulp from the
 * exact values; |eps| <= 5.77 since u >= 2^-24). This is a definition, part of the
 * reproducibility contract like the stream numbers: do not change it. */
#ifndef MASKDIT_DATA_LATENT_H
#define MASKDIT_DATA_LATENT_H

#include <stddef.h>
#include <stdint.h>

/* eps[0..n) of sample g. */
void latent_eps_fill(uint64_t seed, uint64_t g, float *eps, size_t n);

/* z = scale * (mean + exp(0.5 * clamp(logvar, -30, 20)) * eps), n elements: the original's
 * DiagonalGaussianDistribution.sample() times the VAE scale factor (golden file /moments). */
void latent_from_moments(const float *mean, const float *logvar, const float *eps, size_t n, float scale, float *z);

#endif
