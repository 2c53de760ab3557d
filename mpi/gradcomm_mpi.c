/* Gradient averaging over MPI: each bucket of grad_buckets.h is reduced with MPI_Iallreduce (SUM,
 * in place) as soon as it is full, so that the reduction of the last layers overlaps the backward
 * pass of the first ones; finish() waits for every bucket.
 *
 * The CPU backend's gradients are host memory and are reduced where they are. Other backends
 * (CUDA without NCCL) go through a host staging copy of the buffer. */
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "grad_buckets.h"

typedef struct {
    Dist d;
    Backend *be;
    float *grads;          /* backend buffer */
    float *host;           /* what MPI reduces: grads itself on the CPU, else a staging copy */
    size_t n;              /* floats */
    GradBuckets buckets;
    MPI_Request *req;
    int n_req, cap_req;
} MpiComm;

static void start_reduce(void *ctx, GradRange r) {
    MpiComm *c = ctx;
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
    grad_buckets_ready(&c->buckets, offset, count);
    /* Open MPI progresses non-blocking collectives only inside MPI calls. */
    if (c->n_req) {
        int flag;
        MPI_CHECK(MPI_Testall(c->n_req, c->req, &flag, MPI_STATUSES_IGNORE));
    }
}

static void mpi_finish(GradComm *g) {
    MpiComm *c = g->impl;
    grad_buckets_finish(&c->buckets);
    MPI_CHECK(MPI_Waitall(c->n_req, c->req, MPI_STATUSES_IGNORE));
    if (c->host != c->grads) c->be->to_device(c->be, c->grads, c->host, c->n * sizeof(float));
    c->n_req = 0;
}

static void mpi_destroy(GradComm *g) {
    MpiComm *c = g->impl;
    if (c->host != c->grads) free(c->host);
    grad_buckets_free(&c->buckets);
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
    grad_buckets_init(&c->buckets, n, bucket_bytes, start_reduce, c);
    c->host = be->memory != BACKEND_MEMORY_HOST ? xmalloc(n * sizeof(float), "gradient staging buffer") : grads;
    g->impl = c;
    g->ready = mpi_ready;
    g->finish = mpi_finish;
    g->destroy = mpi_destroy;
    return g;
}
