/* adaLN: LayerNorm + modulate and the gated residual, forward and backward.
 *
 * Row ops (one warp per token row, statistics in fp32) and per-sample column sums (the shift,
 * scale and gate gradients: a sum over the T tokens of each sample, one block per (32 packs of
 * channels, sample), 16 row groups summed in a fixed order). */
#include "internal.cuh"
#include "adaln_kernels.cuh"

#define ROW_THREADS 256   /* 8 rows (warps) per block */

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
