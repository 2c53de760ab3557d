/* conv2d on the CPU: im2col + one SGEMM per tile of output rows.
 *
 * For image n, out[O, Ho*Wo] = W[O, K] . col[K, Ho*Wo] with K = C*kh*kw and col the input patches
 * (im2col, in W's (c, i, j) order). col is built a tile of output rows at a time, so that its size
 * stays near CONV_TILE_FLOATS whatever the image size (a 512x512 decode would otherwise need a
 * gigabyte of patches); the SGEMM writes the tile's columns of out through its leading dimension.
 * A 1x1 convolution of stride 1 without padding needs no patches: in itself is col. The patch
 * buffer is the backend's workspace, grown on first use of a larger shape. */
#include <cblas.h>
#include <string.h>

#include "../util/common.h"
#include "cpu_ops.h"

/* 4M floats (16 MiB): tiles of a few hundred output columns or more, large enough for SGEMM
 * to run near its peak, small enough to stay a minor part of a decode's memory. */
#define CONV_TILE_FLOATS ((size_t)4 << 20)

static float *workspace(Backend *b, size_t count) {
    CpuState *st = cpu_state(b);
    if (st->workspace_count < count) {
        cpu_free(b, st->workspace);
        st->workspace = cpu_alloc(b, count * sizeof(float), "conv2d patch workspace");
        st->workspace_count = count;
    }
    return st->workspace;
}

/* col[k, (y - y0)*Wo + x] = in[c, y*stride + i - pad_top, x*stride + j - pad_left] (or 0) for
 * k = (c*kh + i)*kw + j and output rows y0 <= y < y1. The columns x whose input column falls inside
 * the image, [x_lo, x_hi), are the same for every row of a given j: the padding on both sides is
 * filled with zeros once per row and the inside is copied without a bounds test (a memcpy when
 * stride is 1). */
static void im2col_rows(float *col, const float *in, const Conv2dShape *s, int Wo, int y0, int y1) {
    const int K = s->C * s->kh * s->kw, cols = (y1 - y0) * Wo;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < K; k++) {
        const int c = k / (s->kh * s->kw), i = k / s->kw % s->kh, j = k % s->kw;
        const int shift = j - s->pad_left;   /* ix = x*stride + shift */
        int x_lo = shift >= 0 ? 0 : (-shift + s->stride - 1) / s->stride;
        int x_hi = s->W - 1 - shift < 0 ? 0 : (s->W - 1 - shift) / s->stride + 1;
        if (x_hi > Wo) x_hi = Wo;
        if (x_lo > x_hi) x_lo = x_hi;
        const float *plane = in + (size_t)c * s->H * s->W;
        float *dst = col + (size_t)k * cols;
        for (int y = y0; y < y1; y++, dst += Wo) {
            const int iy = y * s->stride + i - s->pad_top;
            if (iy < 0 || iy >= s->H) {
                memset(dst, 0, (size_t)Wo * sizeof *dst);
                continue;
            }
            const float *src = plane + (size_t)iy * s->W + (x_lo * s->stride + shift);   /* ix at x_lo */
            memset(dst, 0, (size_t)x_lo * sizeof *dst);
            if (s->stride == 1)
                memcpy(dst + x_lo, src, (size_t)(x_hi - x_lo) * sizeof *dst);
            else
                for (int x = x_lo; x < x_hi; x++) dst[x] = src[(size_t)(x - x_lo) * s->stride];
            memset(dst + x_hi, 0, (size_t)(Wo - x_hi) * sizeof *dst);
        }
    }
}

/* out[o, :] = bias[o] (+ out[o, :] when accumulating), so that the SGEMM then adds into it. */
static void add_bias(float *out, const float *bias, int O, size_t plane, float beta) {
#pragma omp parallel for schedule(static)
    for (int o = 0; o < O; o++) {
        float *p = out + (size_t)o * plane;
        if (beta == 0.0f)
            for (size_t q = 0; q < plane; q++) p[q] = bias[o];
        else
            for (size_t q = 0; q < plane; q++) p[q] += bias[o];
    }
}

void cpu_conv2d(Backend *b, void *out_, const void *in_, const void *W_, const void *bias_, const Conv2dShape *s,
                float beta) {
    const float *in = in_, *W = W_, *bias = bias_;
    float *out = out_;
    const int Ho = conv2d_out_h(s), Wo = conv2d_out_w(s), K = s->C * s->kh * s->kw;
    const size_t plane = (size_t)Ho * Wo, in_size = (size_t)s->C * s->H * s->W;
    const int pointwise = s->kh == 1 && s->kw == 1 && s->stride == 1 && !s->pad_top && !s->pad_left &&
                          !s->pad_bottom && !s->pad_right;
    int tile_rows = (int)(CONV_TILE_FLOATS / ((size_t)K * Wo));
    if (tile_rows < 1) tile_rows = 1;
    if (tile_rows > Ho) tile_rows = Ho;
    /* equal tiles: 32 rows in tiles of 28 would leave a last GEMM of 4 rows, far below SGEMM's peak */
    const int tiles = (Ho + tile_rows - 1) / tile_rows;
    tile_rows = (Ho + tiles - 1) / tiles;
    float *col = pointwise ? NULL : workspace(b, (size_t)K * tile_rows * Wo);
    for (int n = 0; n < s->N; n++) {
        const float *img = in + (size_t)n * in_size;
        float *o = out + (size_t)n * s->O * plane;
        float gemm_beta = beta;
        if (bias) {
            add_bias(o, bias, s->O, plane, beta);
            gemm_beta = 1.0f;
        }
        if (pointwise) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->O, (int)plane, K, 1.0f, W, K, img, (int)plane,
                        gemm_beta, o, (int)plane);
            continue;
        }
        for (int y0 = 0; y0 < Ho; y0 += tile_rows) {
            const int y1 = y0 + tile_rows < Ho ? y0 + tile_rows : Ho, cols = (y1 - y0) * Wo;
            im2col_rows(col, img, s, Wo, y0, y1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->O, cols, K, 1.0f, W, K, col, cols, gemm_beta,
                        o + (size_t)y0 * Wo, (int)plane);
        }
    }
}
