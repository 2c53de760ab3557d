/* adaLN: LayerNorm + modulate and the gated residual, forward and backward.
 *
 * Row ops (one warp per token row, statistics in fp32) and per-sample column sums (the shift,
 * scale and gate gradients: a sum over the T tokens of each sample, one block per (32 packs of
 * channels, sample), 16 row groups summed in a fixed order). */
#include "internal.cuh"

#define ROW_THREADS 256   /* 8 rows (warps) per block */
#define COL_ROWS 16       /* row groups of the column sums */

static unsigned row_grid(size_t rows) { return (unsigned)((rows * 32 + ROW_THREADS - 1) / ROW_THREADS); }

/* 16-byte packs need the width, the strides and the offsets of the mod chunks to be multiples of
 * the pack, and aligned base pointers. */
template <typename T> static int mod_vec_ok(int width, int mod_stride, int off_a, int off_b, const void *p0,
                                            const void *p1, const void *p2, const void *p3) {
    const int V = 16 / sizeof(T);
    return width % V == 0 && mod_stride % V == 0 && off_a % V == 0 && off_b % V == 0 && aligned16(p0) &&
           aligned16(p1) && aligned16(p2) && aligned16(p3);
}

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

template <typename T>
static void ln_modulate_typed(cudaStream_t s, void *out, float *mean, float *rstd, const void *x, const void *mod,
                              int mod_stride, int shift_off, int scale_off, int N, int T_, int width, float eps) {
    int rows = N * T_;
    if (mod_vec_ok<T>(width, mod_stride, shift_off, scale_off, out, x, mod, mod))
        ln_modulate_kernel<T, 16 / sizeof(T)><<<row_grid(rows), ROW_THREADS, 0, s>>>(
            (T *)out, mean, rstd, (const T *)x, (const T *)mod, mod_stride, shift_off, scale_off, rows, T_, width, eps);
    else
        ln_modulate_kernel<T, 1><<<row_grid(rows), ROW_THREADS, 0, s>>>(
            (T *)out, mean, rstd, (const T *)x, (const T *)mod, mod_stride, shift_off, scale_off, rows, T_, width, eps);
    LAUNCH_CHECK("ln_modulate_kernel");
}

void cuda_layernorm_modulate(Backend *b, void *out, float *mean, float *rstd, const void *x, const void *mod,
                             int mod_stride, int shift_off, int scale_off, int N, int T, int width, float eps) {
    if (N * T == 0) return;
    DISPATCH_ACT(b->act_dtype, A,
                 ln_modulate_typed<A>(cuda_state(b)->stream, out, mean, rstd, x, mod, mod_stride, shift_off,
                                      scale_off, N, T, width, eps));
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

/* a and b: the two tensors the source reads. */
template <typename T, typename Src>
static void sample_colsum(cudaStream_t s, Src src, const void *a, const void *b, void *dmod, int mod_stride, int off0,
                          int off1, int N, int T_, int width) {
    const int V = 16 / sizeof(T);
    dim3 block(32, COL_ROWS);
    if (width % V == 0 && aligned16(a) && aligned16(b)) {
        dim3 grid((width + 32 * V - 1) / (32 * V), N);
        sample_colsum_kernel<T, V, Src><<<grid, block, 0, s>>>(src, (T *)dmod, mod_stride, off0, off1, T_, width);
    } else {
        dim3 grid((width + 31) / 32, N);
        sample_colsum_kernel<T, 1, Src><<<grid, block, 0, s>>>(src, (T *)dmod, mod_stride, off0, off1, T_, width);
    }
    LAUNCH_CHECK("sample_colsum_kernel");
}

template <typename T>
static void ln_modulate_backward_typed(cudaStream_t s, void *dx, void *dmod, const void *dout, const void *x,
                                       const float *mean, const float *rstd, const void *mod, int mod_stride,
                                       int shift_off, int scale_off, int N, int T_, int width) {
    int rows = N * T_;
    if (mod_vec_ok<T>(width, mod_stride, scale_off, scale_off, dx, dout, x, mod))
        ln_modulate_dx_kernel<T, 16 / sizeof(T)><<<row_grid(rows), ROW_THREADS, 0, s>>>(
            (T *)dx, (const T *)dout, (const T *)x, mean, rstd, (const T *)mod, mod_stride, scale_off, rows, T_, width);
    else
        ln_modulate_dx_kernel<T, 1><<<row_grid(rows), ROW_THREADS, 0, s>>>(
            (T *)dx, (const T *)dout, (const T *)x, mean, rstd, (const T *)mod, mod_stride, scale_off, rows, T_, width);
    LAUNCH_CHECK("ln_modulate_dx_kernel");
    LnColumns<T> src = {(const T *)dout, (const T *)x, mean, rstd};
    sample_colsum<T>(s, src, dout, x, dmod, mod_stride, shift_off, scale_off, N, T_, width);
}

void cuda_layernorm_modulate_backward(Backend *b, void *dx, void *dmod, const void *dout, const void *x,
                                      const float *mean, const float *rstd, const void *mod, int mod_stride,
                                      int shift_off, int scale_off, int N, int T, int width) {
    if (N * T == 0) return;
    DISPATCH_ACT(b->act_dtype, A,
                 ln_modulate_backward_typed<A>(cuda_state(b)->stream, dx, dmod, dout, x, mean, rstd, mod, mod_stride,
                                               shift_off, scale_off, N, T, width));
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

template <typename T>
static void gate_typed(cudaStream_t s, void *out, const void *base, const void *v, const void *mod, int mod_stride,
                       int gate_off, int N, int T_, int width) {
    size_t n = (size_t)N * T_ * width;
    if (!n) return;
    const int V = 16 / sizeof(T);
    if (mod_vec_ok<T>(width, mod_stride, gate_off, gate_off, out, v, mod, base ? base : out))
        gate_kernel<T, V><<<grid_for(n / V, 256, 8192), 256, 0, s>>>((T *)out, (const T *)base, (const T *)v,
                                                                      (const T *)mod, mod_stride, gate_off, n / V, T_,
                                                                      width);
    else
        gate_kernel<T, 1><<<grid_for(n, 256, 8192), 256, 0, s>>>((T *)out, (const T *)base, (const T *)v,
                                                                  (const T *)mod, mod_stride, gate_off, n, T_, width);
    LAUNCH_CHECK("gate_kernel");
}

void cuda_gate_residual(Backend *b, void *x_out, const void *x_in, const void *y, const void *mod, int mod_stride,
                        int gate_off, int N, int T, int width) {
    DISPATCH_ACT(b->act_dtype, A,
                 gate_typed<A>(cuda_state(b)->stream, x_out, x_in, y, mod, mod_stride, gate_off, N, T, width));
}

void cuda_gate_residual_backward(Backend *b, void *dy, void *dmod, const void *dx, const void *y, const void *mod,
                                 int mod_stride, int gate_off, int N, int T, int width) {
    if (N * T == 0) return;
    cudaStream_t s = cuda_state(b)->stream;
    /* the gate gradient reads y before dy is written: dy may share memory with y */
    DISPATCH_ACT(b->act_dtype, A, {
        GateColumns<A> src = {(const A *)dx, (const A *)y};
        sample_colsum<A>(s, src, dx, y, dmod, mod_stride, gate_off, gate_off, N, T, width);
        gate_typed<A>(s, dy, NULL, dx, mod, mod_stride, gate_off, N, T, width);
    });
}
