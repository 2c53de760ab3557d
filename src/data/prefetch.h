/* The reader's background prefetch: one worker thread and two buffers. While the caller works on
 * batch k, the worker fills the buffer of batch k+1; when the caller asks for k+1 it queues k+2
 * into the other buffer before copying k+1 out, so reading and decoding stay off the caller's
 * critical path. The worker only runs `fetch` (no HDF5, no MPI: the reader reads with pread). */
#ifndef MASKDIT_DATA_PREFETCH_H
#define MASKDIT_DATA_PREFETCH_H

#include <stdint.h>

#include "../util/common.h"

/* Reads samples g0 .. g0+n-1 into x [n, sample_floats] and labels [n]; scratch is the worker's
 * own working memory. Returns 0, or -1 with a message in e. */
typedef int (*PrefetchFetch)(void *ctx, void *scratch, uint64_t g0, int n, float *x, int32_t *labels, Error *e);

typedef struct Prefetcher Prefetcher;

Prefetcher *prefetch_start(PrefetchFetch fetch, void *ctx, void *scratch, size_t sample_floats);

/* If (g0, n) was requested: waits for it, queues (next_g0, n) when next_g0 >= 0, copies the
 * samples into x / labels and returns 1 (or -1 with the fetch's error in e). Returns 0 when
 * (g0, n) was never requested; stale requests are then dropped. */
int prefetch_take(Prefetcher *p, uint64_t g0, int n, int64_t next_g0, float *x, int32_t *labels, Error *e);

/* Queue (g0, n) unless it is already queued or no buffer is free. */
void prefetch_request(Prefetcher *p, uint64_t g0, int n);

/* Finishes the job in progress, ends the thread, frees p. */
void prefetch_stop(Prefetcher *p);

#endif
