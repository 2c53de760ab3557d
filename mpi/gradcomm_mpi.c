/* Gradient averaging over MPI: the ranges the backward pass reports are merged into buckets of
 * about bucket_bytes, each reduced with MPI_Iallreduce (SUM, in place) as soon as it is full, so
 * that the reduction of the last layers overlaps the backward pass of the first ones; finish()
 * waits for every bucket and reduces whatever the backward pass did not report (nothing is ever
 * left unsummed or summed twice).
 *
 * The CPU backend's gradients are host memory and are reduced where they are. Other backends
 * (CUDA without NCCL) go through a host staging copy of the buffer. */
#include <stdlib.h>
#include <string.h>

#include "dist.h"

typedef struct {
    size_t lo, hi;   /* [lo, hi) floats */
} Range;

typedef struct {
    Dist d;
    Backend *be;
    float *grads;          /* backend buffer */
    float *host;           /* what MPI reduces: grads itself on the CPU, else a staging copy */
    size_t n, bucket;      /* floats */
    Range open;            /* the bucket being filled (empty: lo == hi) */
    Range *done;           /* ranges handed to MPI in this step */
    int n_done, cap_done;
    MPI_Request *req;
    int n_req, cap_req;
} MpiComm;

static void start_reduce(MpiComm *c, Range r) {
    if (r.hi <= r.lo) return;
    if (c->n_done == c->cap_done) {
        c->cap_done = c->cap_done ? 2 * c->cap_done : 64;
        c->done = xrealloc(c->done, (size_t)c->cap_done * sizeof *c->done, "gradient ranges");
    }
    c->done[c->n_done++] = r;
    if (c->host != c->grads) c->be->to_host(c->be, c->host + r.lo, c->grads + r.lo, (r.hi - r.lo) * sizeof(float));
    /* MPI counts are int; buckets are far smaller, but a caller may report a huge range. */
    const size_t max_count = (size_t)1 << 30;
    for (size_t lo = r.lo; lo < r.hi; lo += max_count) {
        if (c->n_req == c->cap_req) {
            c->cap_req = c->cap_req ? 2 * c->cap_req : 64;
            c->req = xrealloc(c->req, (size_t)c->cap_req * sizeof *c->req, "MPI requests");
        }
        MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, c->host + lo, (int)MIN(max_count, r.hi - lo), MPI_FLOAT, MPI_SUM,
                                 c->d.comm, &c->req[c->n_req++]));
    }
}

static void mpi_ready(void *self, size_t offset, size_t count) {
    MpiComm *c = ((GradComm *)self)->impl;
    if (count == 0) return;
    if (offset + count > c->n) FATAL("gradient range [%zu, %zu) outside the buffer of %zu", offset, offset + count, c->n);
    Range r = {offset, offset + count};
    if (c->open.hi > c->open.lo && r.hi == c->open.lo) {
        c->open.lo = r.lo;   /* the usual case: the next range lies just below the open bucket */
    } else if (c->open.hi > c->open.lo && r.lo == c->open.hi) {
        c->open.hi = r.hi;
    } else {
        start_reduce(c, c->open);
        c->open = r;
    }
    if (c->open.hi - c->open.lo >= c->bucket) {
        start_reduce(c, c->open);
        c->open.lo = c->open.hi = 0;
    }
    /* Open MPI progresses non-blocking collectives only inside MPI calls. */
    if (c->n_req) {
        int flag;
        MPI_CHECK(MPI_Testall(c->n_req, c->req, &flag, MPI_STATUSES_IGNORE));
    }
}

static int range_cmp(const void *a, const void *b) {
    const Range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void mpi_finish(GradComm *g) {
    MpiComm *c = g->impl;
    start_reduce(c, c->open);
    c->open.lo = c->open.hi = 0;
    /* Whatever was not reported (and check that nothing was reported twice). */
    int reported = c->n_done;
    qsort(c->done, (size_t)reported, sizeof *c->done, range_cmp);
    size_t at = 0;
    for (int i = 0; i < reported; i++) {
        Range r = c->done[i];
        if (r.lo < at) FATAL("gradient range [%zu, %zu) reported twice in one step", r.lo, r.hi);
        start_reduce(c, (Range){at, r.lo});
        at = r.hi;
    }
    start_reduce(c, (Range){at, c->n});
    MPI_CHECK(MPI_Waitall(c->n_req, c->req, MPI_STATUSES_IGNORE));
    if (c->host != c->grads) c->be->to_device(c->be, c->grads, c->host, c->n * sizeof(float));
    c->n_req = 0;
    c->n_done = 0;
}

static void mpi_destroy(GradComm *g) {
    MpiComm *c = g->impl;
    if (c->host != c->grads) free(c->host);
    free(c->done);
    free(c->req);
    free(c);
    free(g);
}

static void noop_ready(void *self, size_t offset, size_t count) {}
static void noop_finish(GradComm *g) {}
static void noop_destroy(GradComm *g) { free(g); }

GradComm *gradcomm_mpi_create(const Dist *d, Backend *be, float *grads, size_t n, size_t bucket_bytes) {
    GradComm *g = xcalloc(1, sizeof *g, "GradComm");
    g->name = "mpi";
    if (d->world == 1) {
        g->ready = noop_ready;
        g->finish = noop_finish;
        g->destroy = noop_destroy;
        return g;
    }
    MpiComm *c = xcalloc(1, sizeof *c, "MPI GradComm");
    c->d = *d;
    c->be = be;
    c->grads = grads;
    c->n = n;
    c->bucket = MAX(bucket_bytes / sizeof(float), (size_t)1);
    c->host = strcmp(be->name, "cpu") ? xmalloc(n * sizeof(float), "gradient staging buffer") : grads;
    g->impl = c;
    g->ready = mpi_ready;
    g->finish = mpi_finish;
    g->destroy = mpi_destroy;
    return g;
}
