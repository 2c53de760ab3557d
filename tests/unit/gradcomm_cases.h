/* The cases every gradient all-reduce (dist.h's GradComm) must pass, on however many ranks run
 * the test: gradients of small integers, so that float sums are exact and a range summed twice or
 * not at all shows. Used by tests/unit/test_gradcomm.c (MPI) and tests/fakegpu/test_gradcomm_nccl.c
 * (NCCL over an emulated runtime). Only rank 0 prints; a case fails when it failed on any rank. */
#ifndef MASKDIT_TESTS_GRADCOMM_CASES_H
#define MASKDIT_TESTS_GRADCOMM_CASES_H

#include "../../mpi/dist.h"
#include "test.h"

static Dist D;

/* A GradComm of the transport under test over grads[n], buckets of bucket_bytes. */
typedef GradComm *(*MakeGradComm)(float *grads, size_t n, size_t bucket_bytes);

/* MPI up, only rank 0 printing (the first line names the world size, which the scripts check). */
static void ranks_begin(int *argc, char ***argv) {
    dist_init(&D, argc, argv);
    if (D.rank != 0 && !freopen("/dev/null", "w", stdout)) die("cannot silence rank %d's output", D.rank);
    if (D.rank == 0) printf("world size %d\n", D.world);
}

/* The exit status of main: non-zero when a case failed. */
static int ranks_end(void) {
    int rc = test_summary();
    dist_finalize(&D);
    return rc;
}

/* Every rank agrees on the verdict of a case. */
static void agree(void) { test_case_failures = dist_any(&D, test_case_failures != 0); }

/* Gradient value of element i on rank r. */
static float grad_value(int r, size_t i) { return (float)((r + 1) * (int)(i % 1000) - 500); }

static float expected_sum(size_t i) {
    float s = 0;
    for (int r = 0; r < D.world; r++) s += grad_value(r, i);
    return s;
}

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

/* Bucket sizes from one float to more than the buffer, ranges from one float to the buffer, the
 * same GradComm step after step. */
static void check_sums_over_ranks(MakeGradComm make) {
    size_t n = 100003;
    float *grads = xmalloc(n * sizeof(float), "grads");
    size_t buckets[] = {4, 4000, 1 << 20};
    size_t pieces[] = {1, 777, 50000, n};
    for (size_t b = 0; b < ARRAY_LEN(buckets); b++)
        for (size_t p = 0; p < ARRAY_LEN(pieces); p++) {
            if (buckets[b] == 4 && pieces[p] == 1) continue;   /* 400k reductions: slow, nothing new */
            GradComm *g = make(grads, n, buckets[b]);
            for (int step = 0; step < 2; step++) {
                run_step(g, grads, n, pieces[p], 0, 0);
                CHECK(all_summed(grads, n), "bucket %zu bytes, pieces of %zu, step %d", buckets[b], pieces[p], step);
            }
            g->destroy(g);
        }
    free(grads);
    agree();
}

/* What the backward pass does not report is reduced at finish(), once. */
static void check_unreported_ranges(MakeGradComm make) {
    size_t n = 5000;
    float *grads = xmalloc(n * sizeof(float), "grads");
    GradComm *g = make(grads, n, 1024);
    run_step(g, grads, n, 300, 1234, 2345);
    CHECK(all_summed(grads, n), "a gap in the reported ranges");
    run_step(g, grads, n, 300, 0, n);
    CHECK(all_summed(grads, n), "nothing reported");
    g->destroy(g);
    free(grads);
    agree();
}

#endif
