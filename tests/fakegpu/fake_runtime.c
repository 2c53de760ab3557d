/* The CUDA runtime and NCCL calls of mpi/gradcomm_nccl.c, emulated on the host over MPI, so that the
 * NCCL gradient all-reduce runs in CI, where there is no GPU. It compiles against CUDA's and
 * NCCL's own headers (the prototypes are theirs) and stands in for cudart, NCCL and the two
 * accessors of the CUDA backend (cuda/cuda_backend.h).
 *
 * What it checks beyond the sums: the bootstrap (every rank joins with the same unique id, its
 * own rank, the world size, and the device of its node-local rank), and the stream order that
 * makes the overlap safe: an all-reduce runs on a stream other than the compute stream, and only
 * after that stream waited for an event recorded on the compute stream since its previous
 * all-reduce. A breach is returned as the NCCL error the real library would give for misuse.
 *
 * Faults, for the tests of the "never hang" paths: FAKE_GPU_FAULT=peer-error (the all-reduce never
 * completes and NCCL reports a remote error, as when a peer died) or stall (it never completes,
 * with no error: a stuck peer). Memory is host memory: the all-reduce is an MPI_Allreduce when it
 * is enqueued, complete before the call returns. */
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cuda/cuda_backend.h"
#include "../../src/util/common.h"

struct CUstream_st {
    const struct CUstream_st *waited_for;   /* stream of the last event waited for since the last all-reduce */
};

struct CUevent_st {
    const struct CUstream_st *recorded_on;
};

struct ncclComm {
    MPI_Comm mpi;
};

static struct CUstream_st compute_stream;
static int current_device = -1;
static char last_error[256];

static const char *fault(void) {
    const char *f = getenv("FAKE_GPU_FAULT");
    return f ? f : "";
}

/* ---- what the CUDA backend provides ---- */

void cuda_check_at(cudaError_t e, const char *what, const char *file, int line) {
    if (e != cudaSuccess) fatal_at(file, line, "CUDA error in %s: error %d (emulated runtime)", what, (int)e);
}

cudaStream_t cuda_backend_stream(Backend *b) { return &compute_stream; }

/* the node-local rank, as the backend picks its device */
int cuda_backend_device(Backend *b) {
    MPI_Comm node;
    int local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local);
    MPI_Comm_free(&node);
    return local;
}

/* ---- CUDA runtime ---- */

cudaError_t cudaSetDevice(int device) {
    current_device = device;
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags) {
    *s = calloc(1, sizeof **s);
    return *s ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    free(s);
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) { return cudaSuccess; }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags) {
    *e = calloc(1, sizeof **e);
    return *e ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
    free(e);
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    e->recorded_on = s;
    return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags) {
    s->waited_for = e->recorded_on;
    return cudaSuccess;
}

/* Work on a communication stream never completes under a fault. */
cudaError_t cudaEventQuery(cudaEvent_t e) {
    return *fault() && e->recorded_on != &compute_stream ? cudaErrorNotReady : cudaSuccess;
}

/* ---- NCCL ---- */

static ncclResult_t misuse(ncclResult_t r, const char *msg) {
    snprintf(last_error, sizeof last_error, "%s", msg);
    return r;
}

const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage";
    case ncclRemoteError: return "remote process exited or there was a network error";
    default: return "unhandled error";
    }
}

const char *ncclGetLastError(ncclComm_t comm) { return last_error; }

ncclResult_t ncclGetVersion(int *version) {
    *version = NCCL_VERSION_CODE;
    return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    snprintf(id->internal, sizeof id->internal, "fake-nccl-id pid %ld", (long)getpid());
    return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    int world, me;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    /* the same id everywhere: compare every rank's bytes with rank 0's */
    ncclUniqueId root = id;
    MPI_Bcast(&root, sizeof root, MPI_BYTE, 0, MPI_COMM_WORLD);
    int same = memcmp(&root, &id, sizeof id) == 0 && strncmp(id.internal, "fake-nccl-id", 12) == 0, all;
    MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (!all) return misuse(ncclInvalidArgument, "the ranks joined with different unique ids");
    if (nranks != world || rank != me) return misuse(ncclInvalidArgument, "rank or world size differs from MPI's");
    if (current_device != cuda_backend_device(NULL))
        return misuse(ncclInvalidUsage, "the current device is not the backend's (cudaSetDevice missing)");
    *comm = calloc(1, sizeof **comm);
    if (!*comm) return ncclSystemError;
    MPI_Comm_dup(MPI_COMM_WORLD, &(*comm)->mpi);
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    MPI_Comm_free(&comm->mpi);
    free(comm);
    return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t s) {
    if (type != ncclFloat32 || op != ncclSum) return misuse(ncclInvalidArgument, "expected a float32 sum");
    if (s == &compute_stream) return misuse(ncclInvalidUsage, "all-reduce on the compute stream (no overlap)");
    if (s->waited_for != &compute_stream)
        return misuse(ncclInvalidUsage, "all-reduce on a stream that did not wait for the compute stream first");
    s->waited_for = NULL;
    const size_t max_count = (size_t)1 << 30;
    for (size_t at = 0; at < count; at += max_count) {
        int c = (int)(count - at < max_count ? count - at : max_count);
        const float *in = (const float *)send + at;
        float *out = (float *)recv + at;
        MPI_Allreduce(in == out ? MPI_IN_PLACE : in, out, c, MPI_FLOAT, MPI_SUM, comm->mpi);
    }
    return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *state) {
    *state = strcmp(fault(), "peer-error") == 0 ? ncclRemoteError : ncclSuccess;
    return ncclSuccess;
}
