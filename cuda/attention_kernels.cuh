/* The kernels of attention.cu's batched-GEMM path (the pointer arrays of the batched GEMMs, scores
 * to probabilities, the softmax backward), which launches them; its header comment describes the
 * T x T buffers these kernels rewrite in place. Device code only; tests/simt runs it on the CPU.
 *
 * Row kernels: one warp per row of T_ scores, ATTENTION_ROW_THREADS threads per block. */
#ifndef MASKDIT_CUDA_ATTENTION_KERNELS_CUH
#define MASKDIT_CUDA_ATTENTION_KERNELS_CUH

#include <math.h>
#include <stddef.h>

#include "device_math.cuh"

#define ATTENTION_ROW_THREADS 256   /* 8 rows (warps) per block */
#define BATCH_PTRS_THREADS 256

/* Address of matrix (n, h): base + n*sample_stride + h*head_stride (bytes). */
typedef struct {
    const char *base;
    size_t sample_stride, head_stride;
} BatchPtrs;

__global__ void batch_ptrs_kernel(const void **A, const void **B, void **C, BatchPtrs a, BatchPtrs bb, BatchPtrs c,
                                  int NH, int H) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= NH) return;
    size_t n = i / H, h = i % H;
    A[i] = a.base + n * a.sample_stride + h * a.head_stride;
    B[i] = bb.base + n * bb.sample_stride + h * bb.head_stride;
    C[i] = (void *)(c.base + n * c.sample_stride + h * c.head_stride);
}

/* Online max / sum-of-exponentials pairs, combined across lanes (-inf max = empty). */
__device__ __forceinline__ void softmax_merge(float &m, float &s, float m2, float s2) {
    float mx = fmaxf(m, m2);
    if (mx == -INFINITY) return;
    s = (m == -INFINITY ? 0.0f : s * expf(m - mx)) + (m2 == -INFINITY ? 0.0f : s2 * expf(m2 - mx));
    m = mx;
}

/* Row r of S (fp32) -> row r of P = exp(S - lse[r]) (act, in place), one warp per row. The forward
 * pass computes lse[r] (find_lse); the backward pass reads it, so both get the same P from the
 * same S. */
template <typename T>
__global__ void probs_rows_kernel(float *S, float *lse, int rows, int T_, int find_lse) {
    int row = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    float *s = S + (size_t)row * T_;
    float l;
    if (find_lse) {
        float m = -INFINITY, sum = 0.0f;
        for (int j = lane; j < T_; j += 32) softmax_merge(m, sum, s[j], 1.0f);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, sum, o);
            softmax_merge(m, sum, m2, s2);
        }
        l = m + logf(sum);
        if (lane == 0) lse[row] = l;
    } else {
        l = lse[row];
    }
    T *p = reinterpret_cast<T *>(s);
    for (int base = 0; base < T_; base += 32) {
        int j = base + lane;
        float v = j < T_ ? s[j] : 0.0f;
        __syncwarp();
        if (j < T_) p[j] = from_f32<T>(expf(v - l));
        __syncwarp();
    }
}

/* Row r: dP (fp32) and P (act, row stride ldp) -> dS = scale P (dP - sum_j P dP) (act, in place of
 * dP). */
template <typename T>
__global__ void softmax_backward_rows_kernel(float *dP, const T *P, int ldp, int rows, int T_, float scale) {
    int row = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    float *d = dP + (size_t)row * T_;
    const T *p = P + (size_t)row * ldp;
    float dot = 0.0f;
    for (int j = lane; j < T_; j += 32) dot += to_f32(p[j]) * d[j];
    dot = warp_sum(dot);
    T *ds = reinterpret_cast<T *>(d);
    for (int base = 0; base < T_; base += 32) {
        int j = base + lane;
        float v = j < T_ ? d[j] : 0.0f;
        __syncwarp();
        if (j < T_) ds[j] = from_f32<T>(scale * to_f32(p[j]) * (v - dot));
        __syncwarp();
    }
}

#endif
