/* backend_linear_gflops: the backend's own GEMM rate, the baseline that benchmarks report their
 * share of. */
#include "../util/common.h"
#include "../util/rng.h"
#include "backend.h"

double backend_linear_gflops(Backend *be, int M, int K, int N) {
    const int reps = 5;
    const size_t act = dtype_size(be->act_dtype), big = (size_t)MAX(M, N) * K;
    void *in = be->alloc(be, (size_t)M * K * act, "GEMM baseline input");
    void *w = be->alloc(be, (size_t)N * K * act, "GEMM baseline weight");
    void *out = be->alloc(be, (size_t)M * N * act, "GEMM baseline output");
    float *host = xmalloc(big * sizeof *host, "GEMM baseline data");
    rng_fill_normal(host, big, 2, RNG_TEST, 0, 0);
    float *f32 = be->alloc(be, big * sizeof(float), "GEMM baseline staging");
    be->to_device(be, f32, host, big * sizeof(float));
    be->cast(be, in, be->act_dtype, f32, DTYPE_F32, (size_t)M * K);
    be->cast(be, w, be->act_dtype, f32, DTYPE_F32, (size_t)N * K);
    be->linear(be, out, in, w, NULL, M, K, N, 0);   /* warm-up: plans, caches, thread pools */
    be->sync(be);
    const double t0 = now_seconds();
    for (int i = 0; i < reps; i++) be->linear(be, out, in, w, NULL, M, K, N, 0);
    be->sync(be);
    const double dt = (now_seconds() - t0) / reps;
    be->free(be, in);
    be->free(be, w);
    be->free(be, out);
    be->free(be, f32);
    free(host);
    return 2.0 * M * K * N / dt / 1e9;
}
