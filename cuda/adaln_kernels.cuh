/* The kernels of adaln.cu (adaLN: LayerNorm + modulate and the gated residual, forward and
 * backward), which launches them. Device code only; tests/simt runs them on the CPU.
 *
 * Row kernels: one warp per token row [width] of [N, T, width], statistics in fp32; the adaLN
 * parameters of sample n are row n of mod (row stride mod_stride, chunks at element offsets
 * shift_off, scale_off, gate_off). V: elements per access (16 / sizeof(T) when widths, strides,
 * offsets and pointers allow 16-byte packs, else 1; the launcher decides). */
#ifndef MASKDIT_CUDA_ADALN_KERNELS_CUH
#define MASKDIT_CUDA_ADALN_KERNELS_CUH

#include <math.h>
#include <stddef.h>

#include "device_math.cuh"

#define COL_ROWS 16   /* row groups of the column sums */

/* ---- LayerNorm + modulate ---- */

template <typename T, int V>
__global__ void ln_modulate_kernel(T *out, float *mean, float *rstd, const T *x, const T *mod, int mod_stride,
                                   int shift_off, int scale_off, int rows, int T_, int width, float eps) {
    int row = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    const T *xr = x + (size_t)row * width;
    float s = 0.0f;
    for (int c = lane * V; c < width; c += 32 * V) {
        float v[V];
        load_f32<T, V>(xr + c, v);
#pragma unroll
        for (int k = 0; k < V; k++) s += v[k];
    }
    float mu = warp_sum(s) / width, q = 0.0f;
    for (int c = lane * V; c < width; c += 32 * V) {
        float v[V];
        load_f32<T, V>(xr + c, v);
#pragma unroll
        for (int k = 0; k < V; k++) q += (v[k] - mu) * (v[k] - mu);
    }
    float rs = 1.0f / sqrtf(warp_sum(q) / width + eps);
    if (lane == 0) {
        mean[row] = mu;
        rstd[row] = rs;
    }
    const T *m = mod + (size_t)(row / T_) * mod_stride;
    T *o = out + (size_t)row * width;
    for (int c = lane * V; c < width; c += 32 * V) {
        float v[V], sh[V], sc[V];
        load_f32<T, V>(xr + c, v);
        load_f32<T, V>(m + shift_off + c, sh);
        load_f32<T, V>(m + scale_off + c, sc);
#pragma unroll
        for (int k = 0; k < V; k++) v[k] = (v[k] - mu) * rs * (1.0f + sc[k]) + sh[k];
        store_f32<T, V>(o + c, v);
    }
}

/* dx += rstd (g - mean(g) - xhat mean(g xhat)),  g = dout (1 + scale) */
template <typename T, int V>
__global__ void ln_modulate_dx_kernel(T *dx, const T *dout, const T *x, const float *mean, const float *rstd,
                                      const T *mod, int mod_stride, int scale_off, int rows, int T_, int width) {
    int row = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    size_t base = (size_t)row * width;
    const T *sc_row = mod + (size_t)(row / T_) * mod_stride + scale_off;
    float mu = mean[row], rs = rstd[row], sg = 0.0f, sgx = 0.0f;
    for (int c = lane * V; c < width; c += 32 * V) {
        float d[V], v[V], sc[V];
        load_f32<T, V>(dout + base + c, d);
        load_f32<T, V>(x + base + c, v);
        load_f32<T, V>(sc_row + c, sc);
#pragma unroll
        for (int k = 0; k < V; k++) {
            float g = d[k] * (1.0f + sc[k]);
            sg += g;
            sgx += g * (v[k] - mu) * rs;
        }
    }
    sg = warp_sum(sg) / width;
    sgx = warp_sum(sgx) / width;
    for (int c = lane * V; c < width; c += 32 * V) {
        float d[V], v[V], sc[V], o[V];
        load_f32<T, V>(dout + base + c, d);
        load_f32<T, V>(x + base + c, v);
        load_f32<T, V>(sc_row + c, sc);
        load_f32<T, V>(dx + base + c, o);
#pragma unroll
        for (int k = 0; k < V; k++) o[k] += rs * (d[k] * (1.0f + sc[k]) - sg - (v[k] - mu) * rs * sgx);
        store_f32<T, V>(dx + base + c, o);
    }
}

/* ---- per-sample column sums: dmod[n, off_j + c] = sum_t src_j(n, t, c) ----
 * A thread sums V adjacent channels (16-byte loads when the rows allow: a warp then reads 512
 * contiguous bytes of a row), COL_ROWS row groups of a block take every COL_ROWS-th token, and the
 * groups are added in a fixed order. A source gives NV values per element of its V channels. */

template <typename T> struct LnColumns {   /* dshift = sum dout, dscale = sum dout * xhat */
    static const int NV = 2;
    const T *dout, *x;
    const float *mean, *rstd;
    template <int V> __device__ void operator()(size_t row, size_t i, float (&v)[2][V]) const {
        float d[V], xv[V], mu = mean[row], rs = rstd[row];
        load_f32<T, V>(dout + i, d);
        load_f32<T, V>(x + i, xv);
#pragma unroll
        for (int k = 0; k < V; k++) {
            v[0][k] = d[k];
            v[1][k] = d[k] * (xv[k] - mu) * rs;
        }
    }
};

template <typename T> struct GateColumns {   /* dgate = sum dx * y */
    static const int NV = 1;
    const T *dx, *y;
    template <int V> __device__ void operator()(size_t, size_t i, float (&v)[1][V]) const {
        float a[V], b[V];
        load_f32<T, V>(dx + i, a);
        load_f32<T, V>(y + i, b);
#pragma unroll
        for (int k = 0; k < V; k++) v[0][k] = a[k] * b[k];
    }
};

template <typename T, int V, typename Src>
__global__ void sample_colsum_kernel(Src src, T *dmod, int mod_stride, int off0, int off1, int T_, int width) {
    const int NV = Src::NV;
    __shared__ float part[NV][COL_ROWS][V][33];   /* [.][group][channel in pack][thread]: no bank conflicts */
    int c = (blockIdx.x * 32 + threadIdx.x) * V, n = blockIdx.y;
    float acc[NV][V] = {};
    if (c < width)
        for (int t = threadIdx.y; t < T_; t += COL_ROWS) {
            size_t row = (size_t)n * T_ + t;
            float v[NV][V];
            src(row, row * width + c, v);
#pragma unroll
            for (int j = 0; j < NV; j++)
#pragma unroll
                for (int k = 0; k < V; k++) acc[j][k] += v[j][k];
        }
#pragma unroll
    for (int j = 0; j < NV; j++)
#pragma unroll
        for (int k = 0; k < V; k++) part[j][threadIdx.y][k][threadIdx.x] = acc[j][k];
    __syncthreads();
    if (threadIdx.y != 0 || c >= width) return;
    T *m = dmod + (size_t)n * mod_stride;
    for (int j = 0; j < NV; j++)
        for (int k = 0; k < V; k++) {
            float s = 0.0f;
            for (int r = 0; r < COL_ROWS; r++) s += part[j][r][k][threadIdx.x];
            m[(j == 0 ? off0 : off1) + c + k] = from_f32<T>(s);
        }
}

/* ---- gated residual ---- */

/* out = base + gate * v (base NULL: gate * v), over packs of V elements of [N, T, width]; out may be
 * base (each pack is read before it is written, by the same thread). */
template <typename T, int V>
__global__ void gate_kernel(T *out, const T *base, const T *v, const T *mod, int mod_stride, int gate_off,
                            size_t n_packs, int T_, int width) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n_packs; i += (size_t)gridDim.x * blockDim.x) {
        size_t e = i * V, row = e / width;
        int c = (int)(e % width);
        float g[V], a[V], o[V] = {};
        load_f32<T, V>(mod + (row / T_) * mod_stride + gate_off + c, g);
        load_f32<T, V>(v + e, a);
        if (base) load_f32<T, V>(base + e, o);
#pragma unroll
        for (int k = 0; k < V; k++) o[k] += g[k] * a[k];
        store_f32<T, V>(out + e, o);
    }
}

#endif
