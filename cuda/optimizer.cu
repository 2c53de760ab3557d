/* AdamW (optionally writing the updated parameters' compute copy in the act dtype in the same
 * pass), EMA and scaling over the flat fp32 buffers (4 values per thread and access when every
 * buffer allows it), and the sum of squares in double: per-block partial sums, then one block adds
 * them in order (fixed grid: the same bits every run). */
#include "internal.cuh"
#include "optimizer_kernels.cuh"

#define OPT_MAX_BLOCKS 8192

/* Whether p (NULL: an absent buffer) can be accessed in packs of 4 elements of elem_bytes each
 * (16 bytes of fp32, 8 of a 16-bit type). */
static int pack4_aligned(const void *p, size_t elem_bytes) { return !p || (uintptr_t)p % (4 * elem_bytes) == 0; }

/* Runs op over n elements; packs of 4 when n allows it and every buffer is pack4_aligned. */
template <typename Op> static void flat(Backend *b, Op op, size_t n, int buffers_aligned) {
    if (!n) return;
    cudaStream_t s = cuda_state(b)->stream;
    int vec = n % 4 == 0 && buffers_aligned;
    size_t packs = vec ? n / 4 : n;
    unsigned grid = grid_for(packs, OPT_THREADS, OPT_MAX_BLOCKS);
    if (vec) flat_kernel<4, Op><<<grid, OPT_THREADS, 0, s>>>(op, packs);
    else flat_kernel<1, Op><<<grid, OPT_THREADS, 0, s>>>(op, packs);
    LAUNCH_CHECK("flat_kernel");
}

void cuda_adamw(Backend *b, float *param, void *param_act, const float *grad, float *m, float *v, size_t n, float lr,
                double b1, double b2, float eps, float wd, float bc1, float bc2, float grad_scale) {
    int aligned = pack4_aligned(param, sizeof(float)) && pack4_aligned(grad, sizeof(float)) &&
                  pack4_aligned(m, sizeof(float)) && pack4_aligned(v, sizeof(float)) &&
                  pack4_aligned(param_act, dtype_size(b->act_dtype));
    /* 1 - beta formed in double, then rounded once (as the CPU backend does) */
    DISPATCH_ACT(b->act_dtype, A, {
        AdamWOp<A> op = {param, m, v, (A *)param_act, grad, lr, (float)b1, (float)(1.0 - b1), (float)b2,
                         (float)(1.0 - b2), eps, wd, bc1, bc2, grad_scale};
        flat(b, op, n, aligned);
    });
}

void cuda_ema(Backend *b, float *ema, const float *param, size_t n, float decay) {
    EmaOp op = {ema, param, decay, (float)(1.0 - (double)decay)};
    flat(b, op, n, pack4_aligned(ema, sizeof(float)) && pack4_aligned(param, sizeof(float)));
}

void cuda_scale(Backend *b, float *x, size_t n, float s) {
    ScaleOp op = {x, s};
    flat(b, op, n, pack4_aligned(x, sizeof(float)));
}

/* ---- sum of squares ---- */

double cuda_sum_squares(Backend *b, const float *x, size_t n) {
    CudaState *st = cuda_state(b);
    if (!n) return 0.0;
    if (!st->partials) st->partials = (double *)cuda_alloc(b, (SUMSQ_BLOCKS + 1) * sizeof(double), "sum_squares partials");
    unsigned grid = grid_for(n, OPT_THREADS, SUMSQ_BLOCKS);
    sum_squares_partial_kernel<<<grid, OPT_THREADS, 0, st->stream>>>(st->partials, x, n);
    LAUNCH_CHECK("sum_squares_partial_kernel");
    sum_squares_final_kernel<<<1, OPT_THREADS, 0, st->stream>>>(st->partials, (int)grid);
    LAUNCH_CHECK("sum_squares_final_kernel");
    CUDA_CHECK(cudaMemcpyAsync(st->result_host, st->partials + SUMSQ_BLOCKS, sizeof(double), cudaMemcpyDeviceToHost,
                               st->stream));
    CUDA_CHECK(cudaStreamSynchronize(st->stream));
    return *st->result_host;
}
