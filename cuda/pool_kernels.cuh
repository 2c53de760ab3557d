/* The kernel of pool.cu (pool2d: max, average without the padding, global average). Device code
 * only; tests/simt runs it on the CPU.
 *
 * One thread per output value, in a grid-stride loop over N*C*Ho*Wo: the window is clipped to
 * the input, so padding never wins a max and an average divides by the positions inside
 * (PyTorch's count_include_pad=False). Math in fp32, as the CPU backend. */
#ifndef MASKDIT_CUDA_POOL_KERNELS_CUH
#define MASKDIT_CUDA_POOL_KERNELS_CUH

#include <float.h>
#include <stddef.h>

#include "../src/backend/backend.h"
#include "device_math.cuh"

#define POOL_THREADS 256   /* threads per block of every launch */

/* The window [start, start + k) clipped to [0, size). */
__device__ __forceinline__ int window_begin(int start) { return start > 0 ? start : 0; }
__device__ __forceinline__ int window_end(int start, int k, int size) { return start + k < size ? start + k : size; }

template <typename T>
__global__ void pool2d_kernel(T *out, const T *in, Pool2dShape s, int Ho, int Wo, size_t total) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const int x = (int)(i % Wo), y = (int)(i / Wo % Ho);
        const size_t plane = i / ((size_t)Wo * Ho);
        const T *src = in + plane * s.H * s.W;
        const int sy = y * s.stride - s.pad, sx = x * s.stride - s.pad;
        const int y0 = window_begin(sy), y1 = window_end(sy, s.k, s.H);
        const int x0 = window_begin(sx), x1 = window_end(sx, s.k, s.W);
        float acc = s.is_max ? -FLT_MAX : 0.0f;
        for (int r = y0; r < y1; r++)
            for (int c = x0; c < x1; c++) {
                float v[1];
                load_f32<T, 1>(src + (size_t)r * s.W + c, v);
                acc = s.is_max ? fmaxf(acc, v[0]) : acc + v[0];
            }
        const float result[1] = {s.is_max ? acc : acc / (float)((y1 - y0) * (x1 - x0))};
        store_f32<T, 1>(out + i, result);
    }
}

#endif
