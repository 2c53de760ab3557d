/* adaLN: LayerNorm (no affine, biased variance) followed by the per-sample modulation
 * x (1 + scale) + shift, and the gated residual add x += gate * y, with their backward passes.
 * Row statistics and the sums over tokens are accumulated in double: they are O(N T W), next to
 * the O(N T W^2) GEMMs around them, and keep the results within float rounding of the float64
 * reference. shift/scale/gate are chunks of the adaLN linear's output row: mod + n*mod_stride +
 * offset. */
#include <math.h>

#include "cpu_ops.h"

void cpu_layernorm_modulate(Backend *b, void *out, float *mean, float *rstd, const void *x, const void *mod,
                            int mod_stride, int shift_off, int scale_off, int N, int T, int width, float eps) {
    float *y = out;
    const float *xs = x, *ms = mod;
#pragma omp parallel for schedule(static)
    for (long row = 0; row < (long)N * T; row++) {
        const float *xr = xs + row * width;
        const float *shift = ms + (row / T) * mod_stride + shift_off;
        const float *scale = ms + (row / T) * mod_stride + scale_off;
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < width; j++) sum += xr[j];
        double mu = sum / width, sq = 0;
#pragma omp simd reduction(+ : sq)
        for (int j = 0; j < width; j++) sq += (xr[j] - mu) * (xr[j] - mu);   /* two-pass variance */
        double rs = 1.0 / sqrt(sq / width + eps);
        float m = (float)mu, r = (float)rs;
        mean[row] = m;
        rstd[row] = r;
        float *yr = y + row * width;
        for (int j = 0; j < width; j++) yr[j] = (xr[j] - m) * r * (1.0f + scale[j]) + shift[j];
    }
}

/* With g = dout (1 + scale) the gradient of the normalised row xhat:
 *   dx += rstd (g - mean(g) - xhat mean(g xhat)),
 *   dshift = sum_t dout, dscale = sum_t dout xhat.
 * Parallel over samples, each thread owning the dmod rows of its samples. */
void cpu_layernorm_modulate_backward(Backend *b, void *dx, void *dmod, const void *dout, const void *x,
                                     const float *mean, const float *rstd, const void *mod, int mod_stride,
                                     int shift_off, int scale_off, int N, int T, int width) {
    float *dxs = dx, *dms = dmod;
    const float *dys = dout, *xs = x, *ms = mod;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *scale = ms + (long)n * mod_stride + scale_off;
        double dshift[width], dscale[width];
        for (int j = 0; j < width; j++) dshift[j] = dscale[j] = 0;
        for (int t = 0; t < T; t++) {
            long row = (long)n * T + t;
            const float *xr = xs + row * width, *dy = dys + row * width;
            float m = mean[row], r = rstd[row];
            double sum_g = 0, sum_gx = 0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
            for (int j = 0; j < width; j++) {
                float xhat = (xr[j] - m) * r, g = dy[j] * (1.0f + scale[j]);
                sum_g += g;
                sum_gx += g * xhat;
                dshift[j] += dy[j];
                dscale[j] += dy[j] * xhat;
            }
            float mg = (float)(sum_g / width), mgx = (float)(sum_gx / width);
            float *dxr = dxs + row * width;
            for (int j = 0; j < width; j++) {
                float xhat = (xr[j] - m) * r, g = dy[j] * (1.0f + scale[j]);
                dxr[j] += r * (g - mg - xhat * mgx);
            }
        }
        float *ds = dms + (long)n * mod_stride + shift_off, *dc = dms + (long)n * mod_stride + scale_off;
        for (int j = 0; j < width; j++) {
            ds[j] = (float)dshift[j];
            dc[j] = (float)dscale[j];
        }
    }
}

void cpu_gate_residual(Backend *b, void *x_out, const void *x_in, const void *y, const void *mod, int mod_stride,
                       int gate_off, int N, int T, int width) {
    float *outs = x_out;
    const float *ins = x_in, *ys = y, *ms = mod;
#pragma omp parallel for schedule(static)
    for (long row = 0; row < (long)N * T; row++) {
        const float *gate = ms + (row / T) * mod_stride + gate_off;
        float *outr = outs + row * width;   /* may be inr: each element is read before it is written */
        const float *inr = ins + row * width, *yr = ys + row * width;
        for (int j = 0; j < width; j++) outr[j] = inr[j] + gate[j] * yr[j];
    }
}

void cpu_gate_residual_backward(Backend *b, void *dy, void *dmod, const void *dx, const void *y, const void *mod,
                                int mod_stride, int gate_off, int N, int T, int width) {
    float *dys = dy, *dms = dmod;
    const float *dxs = dx, *ys = y, *ms = mod;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *gate = ms + (long)n * mod_stride + gate_off;
        double dgate[width];
        for (int j = 0; j < width; j++) dgate[j] = 0;
        for (int t = 0; t < T; t++) {
            long row = (long)n * T + t;
            const float *dxr = dxs + row * width, *yr = ys + row * width;
            float *dyr = dys + row * width;
            for (int j = 0; j < width; j++) {
                dyr[j] = gate[j] * dxr[j];
                dgate[j] += dxr[j] * yr[j];
            }
        }
        float *dg = dms + (long)n * mod_stride + gate_off;
        for (int j = 0; j < width; j++) dg[j] = (float)dgate[j];
    }
}
