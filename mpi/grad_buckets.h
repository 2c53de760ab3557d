/* The bucketing shared by both gradient all-reduces (gradcomm_mpi.c, gradcomm_nccl.c): the ranges
 * the backward pass reports (GradComm.ready) are merged into buckets of about `bucket` floats and
 * each bucket is handed to the transport's start function as soon as it is full; at the end of a
 * step, grad_buckets_finish hands over the open bucket and every range that was never reported,
 * so that each gradient is reduced exactly once even if the model leaves a range out (a range
 * reported twice is an internal error). */
#ifndef MASKDIT_GRAD_BUCKETS_H
#define MASKDIT_GRAD_BUCKETS_H

#include <stddef.h>

typedef struct {
    size_t lo, hi;   /* [lo, hi) floats */
} GradRange;

/* Starts the reduction of [lo, hi) of the flat gradient buffer (never empty). */
typedef void (*GradStartFn)(void *ctx, GradRange r);

typedef struct {
    size_t n, bucket;    /* floats in the buffer, floats per bucket */
    GradStartFn start;
    void *ctx;
    GradRange open;      /* the bucket being filled (empty: lo == hi) */
    GradRange *done;     /* ranges started in this step */
    int n_done, cap_done;
} GradBuckets;

void grad_buckets_init(GradBuckets *gb, size_t n, size_t bucket_bytes, GradStartFn start, void *ctx);
void grad_buckets_free(GradBuckets *gb);
/* A reported range: merged with the open bucket when adjacent to it (either side), else the open
 * bucket is started and the range opens a new one; a full bucket is started. */
void grad_buckets_ready(GradBuckets *gb, size_t offset, size_t count);
/* End of a step: start the open bucket and the unreported gaps; ready for the next step. */
void grad_buckets_finish(GradBuckets *gb);

#endif
