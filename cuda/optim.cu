/* AdamW (optionally writing the updated parameters' compute copy in the act dtype in the same
 * pass), EMA and scaling over the flat fp32 buffers (4 values per thread and access when every
 * buffer allows it), and the sum of squares in double: per-block partial sums, then one block adds
 * them in order (fixed grid: the same bits every run). */
#include "internal.cuh"

#define OPT_THREADS 256
#define OPT_MAX_BLOCKS 8192
#define SUMSQ_BLOCKS 1024

/* Applies op to V consecutive elements at index i of every buffer (V = 4: one float4). */
template <int V, typename Op> __global__ void flat_kernel(Op op, size_t n_packs) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n_packs; i += (size_t)gridDim.x * blockDim.x)
        op.template apply<V>(i * V);
}

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

/* A: the act type of the compute copy pa (NULL: not written). The updated value is stored to p
 * and rounded to pa from the same register, as cast_kernel rounds it (store_f32). */
template <typename A> struct AdamWOp {
    float *p, *m, *v;
    A *pa;
    const float *g;
    float lr, b1, one_minus_b1, b2, one_minus_b2, eps, wd, bc1, bc2, grad_scale;
    template <int V> __device__ void apply(size_t i) const {
        float pp[V], gg[V], mm[V], vv[V];
        load_f32<float, V>(p + i, pp);
        load_f32<float, V>(g + i, gg);
        load_f32<float, V>(m + i, mm);
        load_f32<float, V>(v + i, vv);
#pragma unroll
        for (int k = 0; k < V; k++) {
            float gk = gg[k] * grad_scale;
            mm[k] = b1 * mm[k] + one_minus_b1 * gk;
            vv[k] = b2 * vv[k] + one_minus_b2 * gk * gk;
            pp[k] -= lr * ((mm[k] / bc1) / (sqrtf(vv[k] / bc2) + eps) + wd * pp[k]);
        }
        store_f32<float, V>(p + i, pp);
        store_f32<float, V>(m + i, mm);
        store_f32<float, V>(v + i, vv);
        if (pa) store_f32<A, V>(pa + i, pp);
    }
};

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

struct EmaOp {
    float *ema;
    const float *param;
    float decay, one_minus_decay;
    template <int V> __device__ void apply(size_t i) const {
        float e[V], p[V];
        load_f32<float, V>(ema + i, e);
        load_f32<float, V>(param + i, p);
#pragma unroll
        for (int k = 0; k < V; k++) e[k] = decay * e[k] + one_minus_decay * p[k];
        store_f32<float, V>(ema + i, e);
    }
};

void cuda_ema(Backend *b, float *ema, const float *param, size_t n, float decay) {
    EmaOp op = {ema, param, decay, (float)(1.0 - (double)decay)};
    flat(b, op, n, pack4_aligned(ema, sizeof(float)) && pack4_aligned(param, sizeof(float)));
}

struct ScaleOp {
    float *x;
    float s;
    template <int V> __device__ void apply(size_t i) const {
        float a[V];
        load_f32<float, V>(x + i, a);
#pragma unroll
        for (int k = 0; k < V; k++) a[k] *= s;
        store_f32<float, V>(x + i, a);
    }
};

void cuda_scale(Backend *b, float *x, size_t n, float s) {
    ScaleOp op = {x, s};
    flat(b, op, n, pack4_aligned(x, sizeof(float)));
}

/* ---- sum of squares ---- */

__device__ double block_sum_sq(double v) {
    __shared__ double warps[OPT_THREADS / 32];
    v = warp_sum(v);
    if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = v;
    __syncthreads();
    double s = 0.0;
    if (threadIdx.x == 0)
        for (int w = 0; w < OPT_THREADS / 32; w++) s += warps[w];
    return s;   /* valid in thread 0 */
}

__global__ void sum_squares_partial_kernel(double *partials, const float *x, size_t n) {
    double acc = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        acc += (double)x[i] * (double)x[i];
    double s = block_sum_sq(acc);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

__global__ void sum_squares_final_kernel(double *partials, int count) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
    double s = block_sum_sq(acc);
    if (threadIdx.x == 0) partials[SUMSQ_BLOCKS] = s;
}

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
