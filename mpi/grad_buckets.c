/* See grad_buckets.h. */
#include "grad_buckets.h"

#include <stdlib.h>

#include "../src/util/common.h"

void grad_buckets_init(GradBuckets *gb, size_t n, size_t bucket_bytes, GradStartFn start, void *ctx) {
    *gb = (GradBuckets){.n = n, .bucket = MAX(bucket_bytes / sizeof(float), (size_t)1), .start = start, .ctx = ctx};
}

void grad_buckets_free(GradBuckets *gb) {
    free(gb->done);
    gb->done = NULL;
}

static void start(GradBuckets *gb, GradRange r) {
    if (r.hi <= r.lo) return;
    if (gb->n_done == gb->cap_done) {
        gb->cap_done = gb->cap_done ? 2 * gb->cap_done : 64;
        gb->done = xrealloc(gb->done, (size_t)gb->cap_done * sizeof *gb->done, "gradient ranges");
    }
    gb->done[gb->n_done++] = r;
    gb->start(gb->ctx, r);
}

void grad_buckets_ready(GradBuckets *gb, size_t offset, size_t count) {
    if (offset > gb->n || count > gb->n - offset)
        FATAL("gradient range [%zu, %zu) outside the buffer of %zu", offset, offset + count, gb->n);
    if (!count) return;
    GradRange r = {offset, offset + count}, *o = &gb->open;
    if (o->hi > o->lo && r.hi == o->lo) {
        o->lo = r.lo;   /* the usual case: the next range lies just below the open bucket */
    } else if (o->hi > o->lo && r.lo == o->hi) {
        o->hi = r.hi;
    } else {
        start(gb, *o);
        *o = r;
    }
    if (o->hi - o->lo >= gb->bucket) {
        start(gb, *o);
        *o = (GradRange){0, 0};
    }
}

static int range_cmp(const void *a, const void *b) {
    const GradRange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void grad_buckets_finish(GradBuckets *gb) {
    start(gb, gb->open);
    gb->open = (GradRange){0, 0};
    /* the gaps between the ranges started in this step (and a check that none overlap) */
    int reported = gb->n_done;
    qsort(gb->done, (size_t)reported, sizeof *gb->done, range_cmp);
    size_t at = 0;
    for (int i = 0; i < reported; i++) {
        GradRange r = gb->done[i];
        if (r.lo < at) FATAL("gradient range [%zu, %zu) reported twice in one step", r.lo, r.hi);
        start(gb, (GradRange){at, r.lo});
        at = r.hi;
    }
    start(gb, (GradRange){at, gb->n});
    gb->n_done = 0;
}
