/* The kernels of image.cu (the VAE's NCHW ops): im2col of a tile of output rows, the bias fill
 * before a convolution's GEMM, GroupNorm (+ SiLU), nearest 2x upsampling, and the batched
 * transpose between NCHW and token-major layouts. Device code only; tests/simt runs them on the
 * CPU. Math in fp32; GroupNorm's reductions in a fixed order (no atomics), so results repeat. */
#ifndef MASKDIT_CUDA_IMAGE_KERNELS_CUH
#define MASKDIT_CUDA_IMAGE_KERNELS_CUH

#include <math.h>
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

/* GroupNorm. A group of a sample is one contiguous span of `span` = C/groups * HW values in NCHW.
 * The span is cut into pieces of piece_len values (the last may be shorter: gn_pieces), one block
 * each, grid (N * groups, pieces): a large image is normalised by many blocks, not by one per group.
 * group_norm_stats_kernel writes each piece's mean and sum of squared deviations from it (two
 * passes over the piece, the second from cache); group_norm_apply_kernel combines a group's
 * partials in piece order (Chan's formula, in double) and normalises its piece. Fixed shapes and
 * orders, no atomics: bitwise repeatable. out may be in: each value is read and written by one
 * thread, after every piece's statistics were taken. */

/* The number of pieces of a span cut into pieces of about `target` values, at most max_pieces;
 * *piece_len: their length (every piece but the last full, none empty). */
inline size_t gn_pieces(size_t span, size_t target, size_t max_pieces, size_t *piece_len) {
    size_t pieces = (span + target - 1) / target;
    if (pieces > max_pieces) pieces = max_pieces;
    if (pieces < 1) pieces = 1;
    *piece_len = (span + pieces - 1) / pieces;
    return (span + *piece_len - 1) / *piece_len;
}

/* partials[(group * pieces + piece) * 2 + 0/1] = the piece's mean, sum of squared deviations */
template <typename T>
__global__ void group_norm_stats_kernel(float *partials, const T *in, size_t span, size_t piece_len) {
    __shared__ float red[32];
    const size_t group = blockIdx.x, piece = blockIdx.y, lo = piece * piece_len;
    const size_t hi = lo + piece_len < span ? lo + piece_len : span;
    const T *x = in + group * span;
    float s = 0.0f;
    for (size_t q = lo + threadIdx.x; q < hi; q += blockDim.x) s += to_f32(x[q]);
    const float mean = block_sum(s, red) / (float)(hi - lo);
    float sq = 0.0f;
    for (size_t q = lo + threadIdx.x; q < hi; q += blockDim.x) {
        const float d = to_f32(x[q]) - mean;
        sq += d * d;
    }
    const float m2 = block_sum(sq, red);
    if (threadIdx.x == 0) {
        partials[(group * gridDim.y + piece) * 2] = mean;
        partials[(group * gridDim.y + piece) * 2 + 1] = m2;
    }
}

/* The affine map and the optional SiLU over one piece, from the group's combined statistics. */
template <typename T>
__global__ void group_norm_apply_kernel(T *out, const T *in, const float *partials, const T *gamma, const T *beta,
                                        int C, int HW, int groups, size_t span, size_t piece_len, float eps,
                                        int silu) {
    __shared__ float stat[2];
    const size_t group = blockIdx.x, piece = blockIdx.y, pieces = gridDim.y;
    if (threadIdx.x == 0) {
        const float *p = partials + group * pieces * 2;
        double n = 0.0, mean = 0.0, m2 = 0.0;
        for (size_t k = 0; k < pieces; k++) {
            const size_t lo = k * piece_len, hi = lo + piece_len < span ? lo + piece_len : span;
            const double nk = (double)(hi - lo), d = (double)p[2 * k] - mean, nt = n + nk;
            mean += d * nk / nt;
            m2 += (double)p[2 * k + 1] + d * d * n * nk / nt;
            n = nt;
        }
        stat[0] = (float)mean;
        stat[1] = (float)(1.0 / sqrt(m2 / n + (double)eps));
    }
    __syncthreads();
    const float mean = stat[0], rstd = stat[1];
    const int per = C / groups, c0 = (int)(group % groups) * per;
    const size_t lo = piece * piece_len, hi = lo + piece_len < span ? lo + piece_len : span, base = group * span;
    for (size_t q = lo + threadIdx.x; q < hi; q += blockDim.x) {
        const int c = c0 + (int)(q / HW);
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
