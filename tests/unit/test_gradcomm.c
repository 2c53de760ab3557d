/* The MPI runtime (mpi/dist.c) and the MPI gradient all-reduce (mpi/gradcomm_mpi.c). Runs as one
 * process (world size 1: the GradComm must leave the gradients alone) and under
 * `mpirun -np 2` (tests/cli/mpi_runtime.sh): every case then checks exact sums over the ranks
 * (gradcomm_cases.h). */
#include <string.h>

#include "gradcomm_cases.h"

/* A backend whose "device" memory is host memory reached only through to_host/to_device, to
 * exercise the staging path that the CUDA backend uses without NCCL. */
static void staged_copy(Backend *b, void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }

static GradComm *make_mpi(float *grads, size_t n, size_t bucket_bytes) {
    static Backend cpu = {.name = "cpu", .memory = BACKEND_MEMORY_HOST};
    return gradcomm_mpi_create(&D, &cpu, grads, n, bucket_bytes);
}

static void gradients_summed_over_ranks(void) { check_sums_over_ranks(make_mpi); }
static void unreported_ranges_are_reduced_once(void) { check_unreported_ranges(make_mpi); }

static void staging_backend(void) {
    Backend dev = {.name = "staged", .to_host = staged_copy, .to_device = staged_copy};
    size_t n = 9999;
    float *grads = xmalloc(n * sizeof(float), "grads");
    GradComm *g = gradcomm_mpi_create(&D, &dev, grads, n, 4096);
    run_step(g, grads, n, 1000, 0, 0);
    CHECK(all_summed(grads, n), "through the host staging buffer");
    g->destroy(g);
    free(grads);
    agree();
}

static void collectives(void) {
    double x[3] = {1.0 * D.rank, 2.0, -0.5};
    dist_allreduce_sum_double(&D, x, 3);
    CHECK(x[0] == D.world * (D.world - 1) / 2.0 && x[1] == 2.0 * D.world && x[2] == -0.5 * D.world, "sum of doubles");
    CHECK(dist_any(&D, D.rank == D.world - 1) == 1, "any: the last rank says yes");
    CHECK(dist_any(&D, 0) == 0, "any: nobody");
    size_t bytes = 3 * 1000 * 1000 + 7;
    unsigned char *buf = xmalloc(bytes, "bcast buffer");
    for (size_t i = 0; i < bytes; i++) buf[i] = D.rank == 0 ? (unsigned char)(i * 7) : 0;
    dist_bcast(&D, buf, bytes, 0);
    int same = 1;
    for (size_t i = 0; i < bytes; i++) same &= buf[i] == (unsigned char)(i * 7);
    CHECK(same, "broadcast from rank 0");
    free(buf);
    CHECK(D.local_rank >= 0 && D.local_rank < D.local_world && D.local_world <= D.world, "local rank %d of %d",
          D.local_rank, D.local_world);
    agree();
}

/* Two ranks of a node on one device are found (both ways round); distinct devices and the CPU's
 * "" are not. Run alone, a rank shares with nobody. */
static void shared_devices_found(void) {
    int expect_other = D.local_world > 1 ? (D.local_rank == 0 ? 1 : 0) : -1;
    CHECK(dist_node_rank_sharing(&D, "GPU-same") == expect_other, "one id on every rank: %d",
          dist_node_rank_sharing(&D, "GPU-same"));
    char own[32];
    snprintf(own, sizeof own, "GPU-%d", D.local_rank);
    CHECK(dist_node_rank_sharing(&D, own) == -1, "an id of its own per rank");
    CHECK(dist_node_rank_sharing(&D, "") == -1, "the CPU (\"\") is shared by design");
    agree();
}

int main(int argc, char **argv) {
    ranks_begin(&argc, &argv);
    RUN(gradients_summed_over_ranks);
    RUN(unreported_ranges_are_reduced_once);
    RUN(staging_backend);
    RUN(collectives);
    RUN(shared_devices_found);
    return ranks_end();
}
