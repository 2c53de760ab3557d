/* The training data reader: streams a rank's share of an HDF5 shard dataset (format in
 * docs/data-format.md).
 *
 * The sample stream of a run is a pure function of (seed, g) where g is the GLOBAL SAMPLE INDEX
 * (see src/util/rng.h): epoch = g / count, position = g % count, dataset row =
 * permutation_epoch[position] with one global shuffle per epoch drawn from (seed, epoch) — or, in
 * resampled mode, a uniform draw with replacement keyed by (seed, g). Optimizer step s with global
 * batch B consumes g = s*B .. s*B+B-1 and each rank reads its own slice of that range, so the
 * union over ranks is the same for any world size, and a checkpoint only has to store g (the
 * cursor) to resume exactly.
 *
 * For `moments` datasets each read draws a fresh latent z = scale*(mean + exp(0.5*clamp(logvar,
 * -30, 20))*eps) with eps from the stream (seed, RNG_LATENT_EPS, g); x-flip, when enabled, is
 * decided by (seed, RNG_FLIP, g). So the data of sample g is identical whoever reads it. */
#ifndef MASKDIT_DATA_READER_H
#define MASKDIT_DATA_READER_H

#include <stdint.h>

#include "../util/common.h"

typedef struct {
    char kind[16];           /* "moments", "latents" or "pixels" */
    int stored_channels;     /* channels on disk (2C for moments) */
    int channels;            /* channels delivered to the model (C) */
    int resolution;          /* H == W */
    int num_classes;
    long long count;         /* samples in the dataset (all shards) */
    int num_shards;
    double scale_factor;     /* applied to moments/latents (0.18215 for the SD VAE); 1 for pixels */
    int xflip_included;      /* the dataset already holds x-flipped copies */
    char dtype[8];           /* "float16" or "float32" */
    char source[256];
} DatasetInfo;

typedef struct {
    const char *root;        /* dataset directory */
    uint64_t seed;           /* global seed of the run */
    int xflip;               /* train.xflip: mirrored samples (see reader_sample_count) */
    int resampled;           /* draw with replacement instead of epoch permutations */
    int prefetch;            /* background prefetch thread (double buffering) */
} ReaderOptions;

typedef struct Reader Reader;

/* Open and check the dataset (index, every shard's shape/dtype/attributes). */
Reader *reader_open(const ReaderOptions *opt, DatasetInfo *info, Error *e);

/* Deliver samples g0 .. g0+n-1 of the stream: x [n, C, H, W] float32 (the model input: a fresh
 * latent for moments, stored latents scaled by scale_factor, pixels as stored in [-1, 1]) and
 * labels [n] (class index). next_g0 is where the caller will read next (the prefetch thread
 * starts on (next_g0, n) at once); pass -1 if unknown. Returns -1 with a message naming the shard
 * and dataset on a read error or bad data (NaN/Inf, label out of range). */
int reader_read(Reader *r, uint64_t g0, int n, float *x, int32_t *labels, int64_t next_g0, Error *e);

/* The slice of optimizer step `step` that rank `rank` of `world` reads: samples g0 .. g0+n-1 of
 * the global batch step*global_batch .. +global_batch-1, contiguous and in rank order (when the
 * batch does not divide evenly, the first global_batch % world ranks read one more). */
void reader_rank_slice(uint64_t step, int global_batch, int rank, int world, uint64_t *g0, int *n);

/* The dataset row that stream position g maps to (for tests and tools). */
long long reader_row_of(Reader *r, uint64_t g);

/* The samples of one epoch (the rows the stream draws from). train.xflip x xflip_included:
 * with stored mirrors (the second half of the dataset: the encodings of the mirrored images),
 * xflip trains on all `count` stored samples and never flips, no xflip on the first count / 2;
 * without them, xflip mirrors the delivered samples at random (for latents an approximation: a
 * mirrored latent is not the latent of the mirrored image) over all `count`, no xflip neither. */
long long reader_sample_count(const Reader *r);
void reader_close(Reader *r);

#endif
