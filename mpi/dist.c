#include "dist.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

void mpi_check_at(int rc, const char *what, const char *file, int line) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error code %d", rc);
    fatal_at(file, line, "%s failed: %s", what, msg);
}

/* Inside a Slurm job the world must be what the allocation says: srun starts one process per task
 * (SLURM_NTASKS is the step's task count), and a process started without a launcher in an
 * allocation of several tasks is a world of 1. Another size means the processes did not join one
 * MPI job (srun --mpi plugin and the MPI library's PMI do not match, or no launcher): each would
 * train alone and write the same checkpoints. The ranks of an mpirun (Open MPI's marks them with
 * OMPI_COMM_WORLD_SIZE, MPICH/Intel hydra's with PMI_SIZE) run under daemons that srun started as a
 * step of their own, whose SLURM_NTASKS counts the daemons: mpirun sizes the world itself. */
static void check_world_matches_slurm(const Dist *d) {
    const char *tasks = getenv("SLURM_NTASKS");
    if (!tasks || getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE")) return;
    char *end;
    long n = strtol(tasks, &end, 10);
    if (end == tasks || *end || n == d->world) return;
    die("the MPI world has %d rank%s but Slurm started SLURM_NTASKS=%ld tasks: the processes did not join one "
        "MPI job; launch with `srun --mpi=pmix` (one rank per task) or mpirun (see INSTALL.md)",
        d->world, d->world == 1 ? "" : "s", n);
}

/* Rank and world size without requiring anything to be set up: MPI may not be initialised yet
 * (early argument errors) or already finalised. */
static void world_position(int *rank, int *world) {
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) {
        MPI_Comm_rank(MPI_COMM_WORLD, rank);
        MPI_Comm_size(MPI_COMM_WORLD, world);
    }
}

static void __attribute__((noreturn)) world_abort(int status) {
    MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}

void dist_init(Dist *d, int *argc, char ***argv) {
    job_runtime_install(&(JobRuntime){.position = world_position, .abort = world_abort});
    int provided = 0;
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    /* Errors come back as return codes, so that MPI_CHECK can say where they happened. */
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    if (provided < MPI_THREAD_FUNNELED) FATAL("MPI provides thread level %d, FUNNELED is needed", provided);
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &d->comm));
    MPI_CHECK(MPI_Comm_rank(d->comm, &d->rank));
    MPI_CHECK(MPI_Comm_size(d->comm, &d->world));
    MPI_CHECK(MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &d->node_comm));
    MPI_CHECK(MPI_Comm_rank(d->node_comm, &d->local_rank));
    MPI_CHECK(MPI_Comm_size(d->node_comm, &d->local_world));
    check_world_matches_slurm(d);
}

void dist_finalize(Dist *d) {
    MPI_CHECK(MPI_Comm_free(&d->node_comm));
    MPI_CHECK(MPI_Comm_free(&d->comm));
    MPI_CHECK(MPI_Finalize());
}

void dist_allreduce_sum_double(const Dist *d, double *x, int n) {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, d->comm));
}

int dist_node_rank_sharing(const Dist *d, const char *device_id) {
    enum { ID = 64 };
    char mine[ID] = {0};
    snprintf(mine, sizeof mine, "%s", device_id);
    char *all = xcalloc((size_t)d->local_world, ID, "device ids of the node");
    MPI_CHECK(MPI_Allgather(mine, ID, MPI_CHAR, all, ID, MPI_CHAR, d->node_comm));
    int other = -1;
    for (int r = 0; r < d->local_world && other < 0 && mine[0]; r++)
        if (r != d->local_rank && !strcmp(all + (size_t)r * ID, mine)) other = r;
    free(all);
    return other;
}

int dist_any(const Dist *d, int flag) {
    int v = flag;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, d->comm));
    return v;
}

int dist_min_int(const Dist *d, int v) {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MIN, d->comm));
    return v;
}

double dist_min_double(const Dist *d, double v) {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_MIN, d->comm));
    return v;
}

int dist_sum_int(const Dist *d, int v) {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_SUM, d->comm));
    return v;
}

int dist_agree(const Dist *d, int rc, Error *e) {
    int who = dist_min_int(d, rc < 0 ? d->rank : d->world);
    if (who == d->world) return 0;
    MPI_CHECK(MPI_Bcast(e->msg, (int)sizeof e->msg, MPI_CHAR, who, d->comm));
    return -1;
}

char *dist_bcast_string(const Dist *d, const char *s) {
    long long n = d->rank == 0 && s ? (long long)strlen(s) + 1 : 0;
    MPI_CHECK(MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, d->comm));
    if (n == 0) return NULL;
    char *out = xmalloc((size_t)n, "broadcast text");
    if (d->rank == 0) memcpy(out, s, (size_t)n);
    dist_bcast(d, out, (size_t)n, 0);
    return out;
}

void dist_bcast(const Dist *d, void *buf, size_t bytes, int root) {
    /* MPI counts are int: send large buffers in pieces of 1 GiB. */
    const size_t piece = (size_t)1 << 30;
    for (size_t off = 0; off < bytes; off += piece)
        MPI_CHECK(MPI_Bcast((char *)buf + off, (int)MIN(piece, bytes - off), MPI_BYTE, root, d->comm));
}

void dist_barrier(const Dist *d) { MPI_CHECK(MPI_Barrier(d->comm)); }
