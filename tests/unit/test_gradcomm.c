/* The MPI runtime (mpi/dist.c) and the MPI gradient all-reduce (mpi/gradcomm_mpi.c). Runs as one
 * process (world size 1: the GradComm must leave the gradients alone) and under
 * `mpirun -np 2` (tests/cli/mpi_runtime.sh): every case then checks exact sums over the ranks.
 * Only rank 0 prints; a case fails when it failed on any rank. */
#include <string.h>

#include "../../mpi/dist.h"
#include "test.h"

static Dist D;

/* Every rank agrees on the verdict of a case. */
static void agree(void) { test_case_failures = dist_any(&D, test_case_failures != 0); }

/* Gradient value of element i on rank r: small integers, so float sums are exact. */
static float grad_value(int r, size_t i) { return (float)((r + 1) * (int)(i % 1000) - 500); }

static float expected_sum(size_t i) {
    float s = 0;
    for (int r = 0; r < D.world; r++) s += grad_value(r, i);
    return s;
}

/* A backend whose "device" memory is host memory reached only through to_host/to_device, to
 * exercise the staging path that the CUDA backend uses without NCCL. */
static void staged_copy(Backend *b, void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }

/* Report the layout [0, n) in reverse order as pieces of `piece` floats, leaving out [skip_lo,
 * skip_hi), then finish. */
static void run_step(GradComm *g, float *grads, size_t n, size_t piece, size_t skip_lo, size_t skip_hi) {
    for (size_t i = 0; i < n; i++) grads[i] = grad_value(D.rank, i);
    for (size_t hi = n; hi > 0;) {
        size_t lo = hi > piece ? hi - piece : 0;
        /* report [lo, hi) minus the skipped range */
        if (hi <= skip_lo || lo >= skip_hi) {
            g->ready(g, lo, hi - lo);
        } else {
            if (skip_hi < hi) g->ready(g, skip_hi, hi - skip_hi);
            if (lo < skip_lo) g->ready(g, lo, skip_lo - lo);
        }
        hi = lo;
    }
    g->finish(g);
}

static int all_summed(const float *grads, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (grads[i] != expected_sum(i)) {
            printf("    element %zu: %g, expected %g\n", i, grads[i], expected_sum(i));
            return 0;
        }
    return 1;
}

static void gradients_summed_over_ranks(void) {
    Backend cpu = {.name = "cpu"};
    size_t n = 100003;
    float *grads = xmalloc(n * sizeof(float), "grads");
    size_t buckets[] = {4, 4000, 1 << 20};
    size_t pieces[] = {1, 777, 50000, n};
    for (size_t b = 0; b < ARRAY_LEN(buckets); b++)
        for (size_t p = 0; p < ARRAY_LEN(pieces); p++) {
            if (buckets[b] == 4 && pieces[p] == 1) continue;   /* 400k requests: slow, nothing new */
            GradComm *g = gradcomm_mpi_create(&D, &cpu, grads, n, buckets[b]);
            for (int step = 0; step < 2; step++) {   /* the GradComm is reused step after step */
                run_step(g, grads, n, pieces[p], 0, 0);
                CHECK(all_summed(grads, n), "bucket %zu bytes, pieces of %zu, step %d", buckets[b], pieces[p], step);
            }
            g->destroy(g);
        }
    free(grads);
    agree();
}

static void unreported_ranges_are_reduced_once(void) {
    Backend cpu = {.name = "cpu"};
    size_t n = 5000;
    float *grads = xmalloc(n * sizeof(float), "grads");
    GradComm *g = gradcomm_mpi_create(&D, &cpu, grads, n, 1024);
    run_step(g, grads, n, 300, 1234, 2345);
    CHECK(all_summed(grads, n), "a gap in the reported ranges");
    run_step(g, grads, n, 300, 0, n);
    CHECK(all_summed(grads, n), "nothing reported");
    g->destroy(g);
    free(grads);
    agree();
}

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
    dist_init(&D, &argc, &argv);
    if (D.rank != 0 && !freopen("/dev/null", "w", stdout)) return 1;
    if (D.rank == 0) printf("world size %d\n", D.world);
    RUN(gradients_summed_over_ranks);
    RUN(unreported_ranges_are_reduced_once);
    RUN(staging_backend);
    RUN(collectives);
    RUN(shared_devices_found);
    int rc = test_summary();
    dist_finalize(&D);
    return rc;
}
