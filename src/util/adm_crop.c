#include "adm_crop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define PRECISION_BITS (32 - 8 - 2)

static double box_filter(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }

static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0) x = -x;
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

/* Per output pixel: the first input pixel, the count, and fixed-point weights (Pillow's
 * precompute_coeffs and normalize_coeffs_8bpc). Returns the weights' stride. */
static int coefficients(int in_size, int out_size, ResampleFilter f, int **bounds, int32_t **weights) {
    double support0 = f == RESAMPLE_BOX ? 0.5 : 2.0;
    double (*filter)(double) = f == RESAMPLE_BOX ? box_filter : bicubic_filter;
    double scale = (double)in_size / out_size, filterscale = scale < 1 ? 1 : scale;
    double support = support0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = xmalloc((size_t)ksize * sizeof *k, "resample weights");
    *bounds = xmalloc((size_t)out_size * 2 * sizeof **bounds, "resample bounds");
    *weights = xcalloc((size_t)out_size * (size_t)ksize, sizeof **weights, "resample weights");
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            k[x] = filter((x + xmin - center + 0.5) * ss);
            ww += k[x];
        }
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? k[x] / ww : k[x];
            v *= (double)(1 << PRECISION_BITS);
            (*weights)[(size_t)xx * (size_t)ksize + (size_t)x] = (int32_t)(v < 0 ? trunc(-0.5 + v) : trunc(0.5 + v));
        }
        (*bounds)[2 * xx] = xmin;
        (*bounds)[2 * xx + 1] = xmax;
    }
    free(k);
    return ksize;
}

static uint8_t clip8(int32_t v) {
    if (v >= (1 << PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* One pass along x (step 3 bytes between taps) or y (step a row), for `lines` lines. */
static void pass(const uint8_t *in, uint8_t *out, int out_size, int lines, size_t in_tap, size_t in_line,
                 size_t out_tap, size_t out_line, const int *bounds, const int32_t *weights, int ksize) {
    for (int l = 0; l < lines; l++)
        for (int xx = 0; xx < out_size; xx++) {
            const int32_t *k = weights + (size_t)xx * (size_t)ksize;
            const uint8_t *src = in + (size_t)l * in_line + (size_t)bounds[2 * xx] * in_tap;
            for (int c = 0; c < 3; c++) {
                int32_t ss = 1 << (PRECISION_BITS - 1);
                for (int x = 0; x < bounds[2 * xx + 1]; x++) ss += src[(size_t)x * in_tap + (size_t)c] * k[x];
                out[(size_t)l * out_line + (size_t)xx * out_tap + (size_t)c] = clip8(ss);
            }
        }
}

void pillow_resize(const uint8_t *in, int w, int h, uint8_t *out, int ow, int oh, ResampleFilter f) {
    if (ow == w && oh == h) {   /* Pillow returns a copy */
        memcpy(out, in, (size_t)w * (size_t)h * 3);
        return;
    }
    int *bx = NULL, *by = NULL;
    int32_t *kx = NULL, *ky = NULL;
    const uint8_t *src = in;
    uint8_t *mid = NULL;
    if (ow != w) {
        int ks = coefficients(w, ow, f, &bx, &kx);
        uint8_t *dst = oh != h ? (mid = xmalloc((size_t)ow * (size_t)h * 3, "resample")) : out;
        pass(src, dst, ow, h, 3, (size_t)w * 3, 3, (size_t)ow * 3, bx, kx, ks);
        src = dst;
    }
    if (oh != h) {
        int ks = coefficients(h, oh, f, &by, &ky);
        pass(src, out, oh, ow, (size_t)ow * 3, 3, (size_t)ow * 3, 3, by, ky, ks);
    }
    free(mid);
    free(bx);
    free(by);
    free(kx);
    free(ky);
}

void adm_center_crop(const uint8_t *rgb, int w, int h, int R, uint8_t *out) {
    uint8_t *cur = xmalloc((size_t)w * (size_t)h * 3, "crop");
    memcpy(cur, rgb, (size_t)w * (size_t)h * 3);
    while (MIN(w, h) >= 2 * R) {
        uint8_t *half = xmalloc((size_t)(w / 2) * (size_t)(h / 2) * 3, "crop");
        pillow_resize(cur, w, h, half, w / 2, h / 2, RESAMPLE_BOX);
        free(cur);
        cur = half;
        w /= 2;
        h /= 2;
    }
    double scale = (double)R / MIN(w, h);
    int ow = (int)nearbyint(w * scale), oh = (int)nearbyint(h * scale);   /* half to even */
    uint8_t *big = xmalloc((size_t)ow * (size_t)oh * 3, "crop");
    pillow_resize(cur, w, h, big, ow, oh, RESAMPLE_BICUBIC);
    free(cur);
    int y0 = (oh - R) / 2, x0 = (ow - R) / 2;   /* both >= 0: the short side became R */
    for (int y = 0; y < R; y++) memcpy(out + (size_t)y * (size_t)R * 3, big + ((size_t)(y + y0) * (size_t)ow + (size_t)x0) * 3, (size_t)R * 3);
    free(big);
}
