/* The NCCL gradient all-reduce (mpi/gradcomm_nccl.c) over the emulated CUDA runtime and NCCL of
 * fake_runtime.c: the cases of the MPI all-reduce (exact sums, buckets, unreported ranges), with
 * the bootstrap and the stream order checked by the emulation. Alone it runs as one rank (the
 * GradComm must do nothing); tests/cli/mpi_runtime.sh runs it on 2 ranks, and with
 * FAKE_GPU_FAULT set, to see a failed or stuck peer end the job with a message. */
#include <string.h>

#include "../unit/gradcomm_cases.h"

static Backend cuda = {.name = "cuda", .memory = BACKEND_MEMORY_CUDA};

static GradComm *make_nccl(float *grads, size_t n, size_t bucket_bytes) {
    char err[256];
    GradComm *g = gradcomm_nccl_create(&D, &cuda, grads, n, bucket_bytes, err, sizeof err);
    if (!g) FATAL("gradcomm_nccl_create: %s", err);
    return g;
}

static void gradients_summed_over_ranks(void) { check_sums_over_ranks(make_nccl); }
static void unreported_ranges_are_reduced_once(void) { check_unreported_ranges(make_nccl); }

static void needs_the_cuda_backend(void) {
    Backend cpu = {.name = "cpu", .memory = BACKEND_MEMORY_HOST};
    float g[4];
    char err[256] = "";
    CHECK(gradcomm_nccl_create(&D, &cpu, g, 4, 1024, err, sizeof err) == NULL, "a CPU backend was accepted");
    CHECK(strstr(err, "needs the CUDA backend, not 'cpu'") != NULL, "message: %s", err);
    agree();
}

int main(int argc, char **argv) {
    ranks_begin(&argc, &argv);
    RUN(gradients_summed_over_ranks);
    RUN(unreported_ranges_are_reduced_once);
    RUN(needs_the_cuda_backend);
    return ranks_end();
}
