/* Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
 *
 * Every random draw of a run is a pure function of (seed, purpose, a, b, position): no state is
 * carried from one sample to the next. That is what makes training independent of the number of
 * ranks (a sample's noise depends on its global index, not on who draws it) and resume exact (the
 * generator state is just the step counter). See docs/design.md "Randomness".
 *
 * A stream is opened for one (purpose, a, b) triple, e.g. (RNG_NOISE, step, global_sample_index),
 * and yields as many numbers as needed from consecutive counter blocks. */
#ifndef MASKDIT_RNG_H
#define MASKDIT_RNG_H

#include <stddef.h>
#include <stdint.h>

/* What a stream is for. The numbers are part of the reproducibility contract (checkpoints resume
 * on them): never renumber an existing entry.
 *
 * Per-sample draws of training are keyed by the GLOBAL SAMPLE INDEX g: the position of the sample
 * in the run's endless sample stream (optimizer step s with global batch B covers
 * g = s*B .. s*B+B-1, whatever the number of ranks and accumulation rounds). Open them with
 * rng_sample_stream(seed, purpose, g). */
enum {
    RNG_SHUFFLE = 1,      /* dataset permutation of an epoch: a = epoch */
    RNG_SIGMA = 2,        /* EDM noise level (one normal) of sample g */
    RNG_NOISE = 3,        /* EDM noise tensor of sample g */
    RNG_MASK = 4,         /* token mask (L uniforms) of sample g */
    RNG_LABEL_DROP = 5,   /* class dropout (one uniform) of sample g */
    RNG_LATENT_EPS = 6,   /* latent draw from VAE moments of sample g */
    RNG_FLIP = 7,         /* x-flip augmentation of sample g */
    RNG_INIT = 8,         /* parameter initialisation: a = parameter index */
    RNG_SAMPLER = 9,      /* sampling: a = image seed, b = 0 initial latents, b = 1 + step churn noise */
    RNG_SAMPLER_CLASS = 10, /* sampling: random class of image seed a (b = 0) */
    RNG_TEST = 100        /* tests and benchmarks */
};

typedef struct {
    uint32_t key[2];     /* from the seed */
    uint32_t ctr[4];     /* ctr[0] = block index, ctr[1] = purpose, ctr[2] = a, ctr[3] = b */
    uint32_t out[4];     /* current block */
    int used;            /* how many of out[] have been consumed (4 = need a new block) */
    int has_spare;       /* Box-Muller produces normals in pairs */
    double spare;
} Rng;

/* Philox4x32-10 of one counter block: the raw bijection, exposed for tests. */
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

Rng rng_stream(uint64_t seed, uint32_t purpose, uint32_t a, uint32_t b);
/* The stream of one training sample: a, b = high and low 32 bits of the global sample index. */
Rng rng_sample_stream(uint64_t seed, uint32_t purpose, uint64_t global_index);
uint32_t rng_u32(Rng *r);
/* Uniform in the open interval (0, 1), 53-bit resolution. */
double rng_uniform(Rng *r);
/* Standard normal (Box-Muller on two uniforms). */
double rng_normal(Rng *r);
/* Uniform integer in [0, n) without modulo bias. */
uint32_t rng_below(Rng *r, uint32_t n);

/* Fill out[0..n) with standard normals from the stream (seed, purpose, a, b). */
void rng_fill_normal(float *out, size_t n, uint64_t seed, uint32_t purpose, uint32_t a, uint32_t b);

#endif
