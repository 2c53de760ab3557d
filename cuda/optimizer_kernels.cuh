/* The kernels of optimizer.cu (AdamW with the optional compute copy, EMA, scaling, the sum of squares),
 * which launches them. Device code only; tests/simt runs them on the CPU. */
#ifndef MASKDIT_CUDA_OPTIMIZER_KERNELS_CUH
#define MASKDIT_CUDA_OPTIMIZER_KERNELS_CUH

#include <math.h>
#include <stddef.h>

#include "device_math.cuh"

#define OPT_THREADS 256     /* threads per block of every kernel here */
#define SUMSQ_BLOCKS 1024   /* most blocks of the sum of squares' first pass */

/* Applies op to V consecutive elements at index i of every buffer (V = 4: one float4). */
template <int V, typename Op> __global__ void flat_kernel(Op op, size_t n_packs) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n_packs; i += (size_t)gridDim.x * blockDim.x)
        op.template apply<V>(i * V);
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

#endif
