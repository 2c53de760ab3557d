/* Gradient averaging through NCCL for the CUDA backend (see dist.h).
 *
 * Bootstrap: rank 0 makes the ncclUniqueId, MPI_Bcast hands it to every rank, and each rank joins
 * with ncclCommInitRank on the backend's device (its node-local rank).
 *
 * Overlap: the backward pass calls ready(offset, count) from the host as soon as the kernels that
 * produce a range are ENQUEUED (the GPU runs behind the host). The ranges grow buckets
 * (grad_buckets.h); a full bucket is reduced on a communication stream of its own, after an event
 * recorded on the compute stream at that moment, so its all-reduce starts as soon as the GPU has
 * finished those gradients while the rest of the backward pass keeps computing. finish() reduces
 * the last bucket and any range never reported, makes the compute stream wait for the
 * communication (the optimizer runs after it) and waits on the host, polling NCCL's asynchronous
 * error state: a failed or vanished peer ends the job with MPI_Abort and a message instead of a
 * hang (MASKDIT_NCCL_TIMEOUT seconds, default 1800, bounds the wait). */
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cuda/cuda_backend.h"
#include "../src/util/numtext.h"
#include "dist.h"
#include "grad_buckets.h"

#define NCCL_CHECK(g, call) nccl_check_at((g), (call), #call, __FILE__, __LINE__)

typedef struct {
    int rank, world;
    ncclComm_t comm;
    cudaStream_t compute, comm_stream;
    cudaEvent_t produced;   /* recorded on the compute stream before each bucket */
    cudaEvent_t reduced;    /* recorded on the communication stream by finish() */
    float *grads;
    GradBuckets buckets;
    double timeout_s;
} Nccl;

static void nccl_check_at(const Nccl *g, ncclResult_t r, const char *what, const char *file, int line) {
    if (r == ncclSuccess) return;
    const char *detail = g && g->comm ? ncclGetLastError(g->comm) : ncclGetLastError(NULL);
    fatal_at(file, line, "NCCL error in %s: %s%s%s", what, ncclGetErrorString(r), detail && *detail ? ": " : "",
             detail ? detail : "");
}

static void start_reduce(void *ctx, GradRange r) {
    Nccl *g = ctx;
    CUDA_CHECK(cudaEventRecord(g->produced, g->compute));
    CUDA_CHECK(cudaStreamWaitEvent(g->comm_stream, g->produced, 0));
    NCCL_CHECK(g, ncclAllReduce(g->grads + r.lo, g->grads + r.lo, r.hi - r.lo, ncclFloat32, ncclSum, g->comm,
                                g->comm_stream));
}

static void nccl_ready(void *self, size_t offset, size_t count) {
    grad_buckets_ready(&((Nccl *)((GradComm *)self)->impl)->buckets, offset, count);
}

static void nccl_finish(GradComm *self) {
    Nccl *g = self->impl;
    grad_buckets_finish(&g->buckets);
    CUDA_CHECK(cudaEventRecord(g->reduced, g->comm_stream));
    CUDA_CHECK(cudaStreamWaitEvent(g->compute, g->reduced, 0));
    struct timespec pause = {0, 100000};   /* 0.1 ms between polls */
    double t0 = now_seconds();
    for (;;) {
        cudaError_t e = cudaEventQuery(g->reduced);
        if (e == cudaSuccess) return;
        if (e != cudaErrorNotReady) cuda_check_at(e, "waiting for the gradient all-reduce", __FILE__, __LINE__);
        ncclResult_t state;
        NCCL_CHECK(g, ncclCommGetAsyncError(g->comm, &state));
        if (state != ncclSuccess && state != ncclInProgress) {
            const char *detail = ncclGetLastError(g->comm);
            fatal_at(__FILE__, __LINE__, "the NCCL gradient all-reduce failed on rank %d of %d: %s%s%s (a peer may have "
                     "died or lost its network)", g->rank, g->world, ncclGetErrorString(state),
                     detail && *detail ? ": " : "", detail ? detail : "");
        }
        if (now_seconds() - t0 > g->timeout_s)
            fatal_at(__FILE__, __LINE__, "the NCCL gradient all-reduce did not complete within %.0f s on rank %d of %d "
                     "(a peer is stuck or gone; MASKDIT_NCCL_TIMEOUT sets the limit)", g->timeout_s, g->rank, g->world);
        nanosleep(&pause, NULL);
    }
}

static void nccl_destroy(GradComm *self) {
    if (!self) return;
    Nccl *g = self->impl;
    if (g) {
        CUDA_CHECK(cudaStreamSynchronize(g->comm_stream));
        NCCL_CHECK(g, ncclCommDestroy(g->comm));
        CUDA_CHECK(cudaEventDestroy(g->produced));
        CUDA_CHECK(cudaEventDestroy(g->reduced));
        CUDA_CHECK(cudaStreamDestroy(g->comm_stream));
        grad_buckets_free(&g->buckets);
        free(g);
    }
    free(self);
}

/* world == 1: the gradients are already the global ones */
static void single_ready(void *self, size_t offset, size_t count) {}
static void single_finish(GradComm *self) {}

static double timeout_seconds(void) {
    const char *v = getenv("MASKDIT_NCCL_TIMEOUT");
    if (!v || !*v) return 1800.0;
    double s;
    Error e;
    if (parse_number("MASKDIT_NCCL_TIMEOUT", v, &s, &e)) die("%s (seconds)", e.msg);
    if (!(s > 0)) die("MASKDIT_NCCL_TIMEOUT: expected a positive number of seconds, got '%s'", v);
    return s;
}

GradComm *gradcomm_nccl_create(const Dist *d, Backend *be, float *grads, size_t n, size_t bucket_bytes, char *err,
                               size_t err_len) {
    if (be->memory != BACKEND_MEMORY_CUDA) {
        snprintf(err, err_len, "the NCCL gradient all-reduce needs the CUDA backend, not '%s'", be->name);
        return NULL;
    }
    GradComm *gc = xcalloc(1, sizeof *gc, "NCCL gradient communicator");
    gc->name = "nccl";
    gc->destroy = nccl_destroy;
    if (d->world == 1) {
        gc->ready = single_ready;
        gc->finish = single_finish;
        return gc;
    }
    Nccl *g = xcalloc(1, sizeof *g, "NCCL gradient communicator");
    g->rank = d->rank;
    g->world = d->world;
    g->grads = grads;
    grad_buckets_init(&g->buckets, n, bucket_bytes, start_reduce, g);
    g->timeout_s = timeout_seconds();
    g->compute = cuda_backend_stream(be);
    CUDA_CHECK(cudaSetDevice(cuda_backend_device(be)));
    ncclUniqueId id;
    if (d->rank == 0) NCCL_CHECK(g, ncclGetUniqueId(&id));
    MPI_CHECK(MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, d->comm));
    NCCL_CHECK(g, ncclCommInitRank(&g->comm, d->world, id, d->rank));
    CUDA_CHECK(cudaStreamCreateWithFlags(&g->comm_stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&g->produced, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&g->reduced, cudaEventDisableTiming));
    gc->impl = g;
    gc->ready = nccl_ready;
    gc->finish = nccl_finish;
    int version = 0;
    NCCL_CHECK(g, ncclGetVersion(&version));
    char bucket[32];
    info("gradient all-reduce: NCCL %d.%d.%d over %d ranks, buckets of %s", version / 10000, version / 100 % 100,
         version % 100, d->world, format_bytes((double)g->buckets.bucket * sizeof(float), bucket, sizeof bucket));
    return gc;
}
