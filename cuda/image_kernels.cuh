/* The kernels of image.cu (the VAE's NCHW ops): im2col of a tile of output rows, the bias fill
 * before a convolution's GEMM, GroupNorm (+ SiLU), nearest 2x upsampling, and the batched
 * transpose between NCHW and token-major layouts. Device code only; tests/simt runs them on the
 * CPU. Math in fp32; GroupNorm's reductions in a fixed order (no atomics), so results repeat. */
#ifndef MASKDIT_CUDA_IMAGE_KERNELS_CUH
#define MASKDIT_CUDA_IMAGE_KERNELS_CUH

#include <stddef.h>
#include <stdint.h>

#include "device_math.cuh"
#include "elementwise_kernels.cuh"

#define IMAGE_THREADS 256   /* element-wise kernels and GroupNorm's block (8 warps) */
#define TRANSPOSE_TILE 32   /* transpose_kernel: 32 x 32 tiles, blocks of (32, TRANSPOSE_ROWS) */
#define TRANSPOSE_ROWS 8

/* Grid-stride loops: this thread's first index and the stride. */
__device__ __forceinline__ size_t grid_thread() { return (size_t)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ size_t grid_threads() { return (size_t)gridDim.x * blockDim.x; }

/* A convolution's input and kernel geometry, as im2col needs it. */
struct ConvGeom {
    int C, H, W, kh, kw, stride, pad_top, pad_left, Wo;
};

/* col[k, (y - y0) * Wo + x] = in[c, y*stride + i - pad_top, x*stride + j - pad_left] (0 outside)
 * for k = (c*kh + i)*kw + j and the output rows y0 <= y < y0 + rows of one image. Grid-stride. */
template <typename T> __global__ void im2col_kernel(T *col, const T *in, ConvGeom g, int y0, int rows) {
    const size_t cols = (size_t)rows * g.Wo, total = (size_t)g.C * g.kh * g.kw * cols;
    for (size_t idx = grid_thread(); idx < total; idx += grid_threads()) {
        const size_t k = idx / cols, p = idx % cols;
        const int c = (int)(k / (g.kh * g.kw)), i = (int)(k / g.kw % g.kh), j = (int)(k % g.kw);
        const int y = y0 + (int)(p / g.Wo), x = (int)(p % g.Wo);
        const int iy = y * g.stride + i - g.pad_top, ix = x * g.stride + j - g.pad_left;
        const bool inside = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W;
        col[idx] = inside ? in[((size_t)c * g.H + iy) * g.W + ix] : from_f32<T>(0.0f);
    }
}

/* out[o, q] = bias[o] (+ out[o, q] when beta is 1) over O planes of `plane` values: the bias of a
 * convolution, before the GEMM adds into it. Grid-stride. */
template <typename T> __global__ void bias_fill_kernel(T *out, const T *bias, int O, size_t plane, float beta) {
    const size_t total = (size_t)O * plane;
    for (size_t idx = grid_thread(); idx < total; idx += grid_threads()) {
        const float b = to_f32(bias[idx / plane]);
        out[idx] = from_f32<T>(beta != 0.0f ? to_f32(out[idx]) + b : b);
    }
}

/* The block's sum of v, in a fixed order (warp sums, then the warps' sums in warp order); every
 * thread gets it. red: 32 floats of shared memory. */
__device__ __forceinline__ float block_sum(float v, float *red) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
    v = warp_sum(v);
    if (lane == 0) red[warp] = v;
    __syncthreads();
    float total = 0.0f;
    for (int w = 0; w < warps; w++) total += red[w];
    __syncthreads();   /* red is reused by the next call */
    return total;
}

/* GroupNorm of one (sample, group) per block: the mean, then the centred variance (two passes,
 * so large groups lose no precision), then the affine map and the optional SiLU. A group's
 * channels are contiguous in NCHW. out may be in: each value is read and written by one thread. */
template <typename T>
__global__ void group_norm_kernel(T *out, const T *in, const T *gamma, const T *beta, int C, int HW, int groups,
                                  float eps, int silu) {
    __shared__ float red[32];
    const int per = C / groups, g = blockIdx.x % groups;
    const size_t count = (size_t)per * HW, base = (size_t)blockIdx.x * count;
    float s = 0.0f;
    for (size_t q = threadIdx.x; q < count; q += blockDim.x) s += to_f32(in[base + q]);
    const float mean = block_sum(s, red) / (float)count;
    float sq = 0.0f;
    for (size_t q = threadIdx.x; q < count; q += blockDim.x) {
        const float d = to_f32(in[base + q]) - mean;
        sq += d * d;
    }
    const float rstd = 1.0f / sqrtf(block_sum(sq, red) / (float)count + eps);
    for (size_t q = threadIdx.x; q < count; q += blockDim.x) {
        const int c = g * per + (int)(q / HW);
        float y = (to_f32(in[base + q]) - mean) * rstd * to_f32(gamma[c]) + to_f32(beta[c]);
        if (silu) y = SiluOp()(y, 0.0f);
        out[base + q] = from_f32<T>(y);
    }
}

/* out[p, y, x] = in[p, y/2, x/2] for planes p of H x W input values. Grid-stride over the output. */
template <typename T> __global__ void upsample2x_kernel(T *out, const T *in, size_t planes, int H, int W) {
    const size_t W2 = 2 * (size_t)W, total = planes * 4 * (size_t)H * W;
    for (size_t idx = grid_thread(); idx < total; idx += grid_threads()) {
        const size_t x = idx % W2, y = idx / W2 % (2 * (size_t)H), p = idx / (W2 * 2 * H);
        out[idx] = in[(p * H + y / 2) * W + x / 2];
    }
}

/* out[n, c, r] = beta*out[n, c, r] + in[n, r, c] for in [N, R, Cols]: a 32 x 32 tile per block
 * (blockIdx.x over Cols, .y over R, .z over N) through shared memory, so that both the reads and
 * the writes are coalesced; the tile's row is padded by one against bank conflicts. */
template <typename T> __global__ void transpose_kernel(T *out, const T *in, int R, int Cols, float beta) {
    __shared__ float tile[TRANSPOSE_TILE][TRANSPOSE_TILE + 1];
    const size_t n = blockIdx.z;
    const int c0 = blockIdx.x * TRANSPOSE_TILE, r0 = blockIdx.y * TRANSPOSE_TILE;
    const T *src = in + n * R * Cols;
    T *dst = out + n * R * Cols;
    for (int dy = threadIdx.y; dy < TRANSPOSE_TILE; dy += TRANSPOSE_ROWS) {
        const int r = r0 + dy, c = c0 + threadIdx.x;
        if (r < R && c < Cols) tile[dy][threadIdx.x] = to_f32(src[(size_t)r * Cols + c]);
    }
    __syncthreads();
    for (int dy = threadIdx.y; dy < TRANSPOSE_TILE; dy += TRANSPOSE_ROWS) {
        const int c = c0 + dy, r = r0 + threadIdx.x;
        if (r < R && c < Cols) {
            T *o = dst + (size_t)c * R + r;
            const float v = tile[threadIdx.x][dy];
            *o = from_f32<T>(beta != 0.0f ? to_f32(*o) + v : v);
        }
    }
}

#endif
