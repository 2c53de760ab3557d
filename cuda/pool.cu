/* pool2d: one thread per output value (cuda/pool_kernels.cuh). */
#include "internal.cuh"
#include "pool_kernels.cuh"

#define POOL_MAX_BLOCKS 8192

void cuda_pool2d(Backend *b, void *out, const void *in, const Pool2dShape *s) {
    const int Ho = pool2d_out(s, s->H), Wo = pool2d_out(s, s->W);
    const size_t total = (size_t)s->N * s->C * Ho * Wo;
    if (!total) return;
    cudaStream_t st = cuda_state(b)->stream;
    const unsigned grid = grid_for(total, POOL_THREADS, POOL_MAX_BLOCKS);
    DISPATCH_ACT(b->act_dtype, T,
                 pool2d_kernel<T><<<grid, POOL_THREADS, 0, st>>>((T *)out, (const T *)in, *s, Ho, Wo, total));
    LAUNCH_CHECK("pool2d_kernel");
}
