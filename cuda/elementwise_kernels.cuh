/* The kernels of elementwise.cu (dtype casts, SiLU, ReLU, GELU (tanh) and their derivatives, broadcast
 * row adds), which launches them. Device code only; tests/simt runs them on the CPU.
 *
 * Every kernel is a grid-stride loop over packs of V consecutive elements (the launcher picks V:
 * 16-byte packs when the pointers and sizes allow, else 1), math in fp32. */
#ifndef MASKDIT_CUDA_ELEMENTWISE_KERNELS_CUH
#define MASKDIT_CUDA_ELEMENTWISE_KERNELS_CUH

#include <math.h>
#include <stddef.h>

#include "device_math.cuh"

#define EW_THREADS 256   /* threads per block of every launch */

/* ---- cast ---- */

template <typename D, typename S, int V> __global__ void cast_kernel(D *dst, const S *src, size_t n_packs) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n_packs; i += (size_t)gridDim.x * blockDim.x) {
        float f[V];
        load_f32<S, V>(src + i * V, f);
        store_f32<D, V>(dst + i * V, f);
    }
}

/* ---- unary maps with an optional second operand: out[i] = op(a[i], b[i]) ---- */

struct SiluOp {
    __device__ float operator()(float x, float) const { return x / (1.0f + expf(-x)); }
};
/* a = dout, b = x:  dout * s(x) (1 + x (1 - s(x))) */
struct SiluBackwardOp {
    __device__ float operator()(float dout, float x) const {
        float s = 1.0f / (1.0f + expf(-x));
        return dout * s * (1.0f + x * (1.0f - s));
    }
};

struct ReluOp {
    __device__ float operator()(float x, float) const { return x > 0.0f ? x : 0.0f; }
};

#define GELU_K0 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_K1 0.044715f
struct GeluOp {
    __device__ float operator()(float x, float) const {
        return 0.5f * x * (1.0f + tanhf(GELU_K0 * (x + GELU_K1 * x * x * x)));
    }
};
/* d/dx 0.5 x (1 + tanh u), u = k0 (x + k1 x^3):  0.5 (1 + t) + 0.5 x (1 - t^2) k0 (1 + 3 k1 x^2) */
struct GeluBackwardOp {
    __device__ float operator()(float dout, float x) const {
        float t = tanhf(GELU_K0 * (x + GELU_K1 * x * x * x));
        float d = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K0 * (1.0f + 3.0f * GELU_K1 * x * x);
        return dout * d;
    }
};

/* out may be a (each pack is read before it is written, by the same thread); bb NULL: b = 0 */
template <typename T, int V, typename Op>
__global__ void map_kernel(T *out, const T *a, const T *bb, size_t n_packs, Op op) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n_packs; i += (size_t)gridDim.x * blockDim.x) {
        float x[V], y[V] = {};
        load_f32<T, V>(a + i * V, x);
        if (bb) load_f32<T, V>(bb + i * V, y);
#pragma unroll
        for (int k = 0; k < V; k++) x[k] = op(x[k], y[k]);
        store_f32<T, V>(out + i * V, x);
    }
}

/* ---- x[n,t,:] += rows[t,:] ----
 * x as packs of [N, period] with period = T * width: pack i adds pack i % period_packs of rows. */

template <typename T, int V> __global__ void add_rows_kernel(T *x, const T *rows, size_t n_packs, size_t period_packs) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n_packs; i += (size_t)gridDim.x * blockDim.x) {
        float a[V], r[V];
        load_f32<T, V>(x + i * V, a);
        load_f32<T, V>(rows + (i % period_packs) * V, r);
#pragma unroll
        for (int k = 0; k < V; k++) a[k] += r[k];
        store_f32<T, V>(x + i * V, a);
    }
}

#endif
