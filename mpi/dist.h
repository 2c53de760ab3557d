/* The distributed runtime: every executable is an MPI program (one process = world size 1).
 * MPI gives world and node-local ranks; the gradient all-reduce goes through a GradComm:
 * MPI_Allreduce on host memory for the CPU backend (mpi/gradcomm_mpi.c), NCCL on device memory
 * for the CUDA backend (mpi/gradcomm_nccl.c, bootstrapped over MPI). Every MPI call is checked;
 * a failure on any rank ends the whole job with MPI_Abort and a message (never a hang). */
#ifndef MASKDIT_DIST_H
#define MASKDIT_DIST_H

#include <mpi.h>

#include "../src/backend/backend.h"
#include "../src/util/common.h"

typedef struct {
    int rank, world;             /* in MPI_COMM_WORLD */
    int local_rank, local_world; /* on this node (MPI_Comm_split_type SHARED) */
    MPI_Comm comm;               /* duplicate of MPI_COMM_WORLD for our collectives */
    MPI_Comm node_comm;
} Dist;

/* MPI_Init_thread (the data prefetch thread never calls MPI: FUNNELED is enough), errors
 * returned instead of fatal so that we can report them with file:line. */
void dist_init(Dist *d, int *argc, char ***argv);
void dist_finalize(Dist *d);

/* Report a failed MPI call with file:line and the MPI error string, then abort the job. */
void mpi_check_at(int rc, const char *what, const char *file, int line);
#define MPI_CHECK(call) mpi_check_at((call), #call, __FILE__, __LINE__)

/* Sum over ranks of n doubles, in place (logging: loss, counts). */
void dist_allreduce_sum_double(const Dist *d, double *x, int n);
/* Logical OR over ranks: "has any rank failed". */
int dist_any(const Dist *d, int flag);
/* Minimum and sum of one int over ranks. */
int dist_min_int(const Dist *d, int v);
double dist_min_double(const Dist *d, double v);
int dist_sum_int(const Dist *d, int v);
/* Agreement on an outcome: 0 on every rank when every rank's rc is >= 0; otherwise -1 on every
 * rank, with e (non-NULL everywhere) holding the message of the lowest rank that failed. */
int dist_agree(const Dist *d, int rc, Error *e);
/* Rank 0's string s on every rank (malloc'ed; NULL when rank 0's is NULL). */
char *dist_bcast_string(const Dist *d, const char *s);
void dist_bcast(const Dist *d, void *buf, size_t bytes, int root);
void dist_barrier(const Dist *d);
/* The node-local rank of another rank on this node whose device_id (a backend's device_uuid) is
 * this rank's, the lowest if several; -1 when none does or device_id is "" (a device processes
 * may share). Collective over the node. */
int dist_node_rank_sharing(const Dist *d, const char *device_id);

/* Gradient averaging. The model's backward calls ready(offset, count) (a GradReadyFn with the
 * GradComm as ctx) as soon as a contiguous range of the flat gradient buffer is final, in
 * reverse layer order; the GradComm groups ranges into buckets and starts their reduction
 * (SUM over ranks) while the backward pass goes on. finish() waits for all of them. The loss
 * gradient is already scaled by 1/global_batch, so the sum is the gradient of the global mean. */
typedef struct GradComm GradComm;
struct GradComm {
    void (*ready)(void *self, size_t offset, size_t count);
    void (*finish)(GradComm *g);
    void (*destroy)(GradComm *g);
    const char *name;            /* "mpi" or "nccl" */
    void *impl;
};

/* grads: the backend's flat gradient buffer of n floats. bucket_bytes: reduction granularity
 * (e.g. 25 MiB). With world == 1 the returned GradComm does nothing. */
GradComm *gradcomm_mpi_create(const Dist *d, Backend *be, float *grads, size_t n, size_t bucket_bytes);
/* NCCL communicator: ncclGetUniqueId on rank 0, MPI_Bcast, ncclCommInitRank on device
 * local_rank. Returns NULL with a message in err when NCCL is unavailable in this build. */
GradComm *gradcomm_nccl_create(const Dist *d, Backend *be, float *grads, size_t n, size_t bucket_bytes, char *err,
                               size_t err_len);

#endif
