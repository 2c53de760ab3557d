/* The CPU backend's image ops (conv2d, group_norm, upsample_nearest2x, transpose, pool2d, relu)
 * against float64 direct sums written here from the definitions in src/backend/backend_ops.h. */
#include "cpu_op_check.h"

/* ---- conv2d ---- */

static void naive_conv2d(double *out, const double *in, const double *W, const double *bias, const Conv2dShape *s,
                         const double *base) {
    const int Ho = conv2d_out_h(s), Wo = conv2d_out_w(s);
    for (int n = 0; n < s->N; n++)
        for (int o = 0; o < s->O; o++)
            for (int y = 0; y < Ho; y++)
                for (int x = 0; x < Wo; x++) {
                    const size_t at = (((size_t)n * s->O + o) * Ho + y) * Wo + x;
                    double acc = (base ? base[at] : 0) + (bias ? bias[o] : 0);
                    for (int c = 0; c < s->C; c++)
                        for (int i = 0; i < s->kh; i++)
                            for (int j = 0; j < s->kw; j++) {
                                const int iy = y * s->stride + i - s->pad_top, ix = x * s->stride + j - s->pad_left;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                                acc += W[(((size_t)o * s->C + c) * s->kh + i) * s->kw + j] *
                                       in[(((size_t)n * s->C + c) * s->H + iy) * s->W + ix];
                            }
                    out[at] = acc;
                }
}

/* One conv2d call against the direct sum; accumulate: beta 1 onto a random out. */
static void check_conv2d(Conv2dShape s, int with_bias, int accumulate, const char *what) {
    const size_t n_in = (size_t)s.N * s.C * s.H * s.W, n_w = (size_t)s.O * s.C * s.kh * s.kw;
    const size_t n_out = (size_t)s.N * s.O * conv2d_out_h(&s) * conv2d_out_w(&s);
    float *h_in = host_randn(n_in, 1.0), *h_w = host_randn(n_w, 0.2), *h_b = host_randn(s.O, 1.0);
    float *h_base = host_randn(n_out, 1.0);
    double *in = to_f64(h_in, n_in), *w = to_f64(h_w, n_w), *bias = to_f64(h_b, s.O), *base = to_f64(h_base, n_out);
    double *ref = malloc(n_out * sizeof *ref);
    naive_conv2d(ref, in, w, with_bias ? bias : NULL, &s, accumulate ? base : NULL);
    float *d_in = dev_from(h_in, n_in), *d_w = dev_from(h_w, n_w), *d_b = dev_from(h_b, s.O);
    float *d_out = dev_from(h_base, n_out);
    be->conv2d(be, d_out, d_in, d_w, with_bias ? d_b : NULL, &s, accumulate ? 1.0f : 0.0f);
    float *got = host_of(d_out, n_out);
    double e = rel_error(got, ref, n_out);
    CHECK(e <= FWD_TOL, "%s: relative error %.3g", what, e);
    free(h_in), free(h_w), free(h_b), free(h_base), free(in), free(w), free(bias), free(base), free(ref), free(got);
    be->free(be, d_in), be->free(be, d_w), be->free(be, d_b), be->free(be, d_out);
}

static void conv2d_3x3_same_padding(void) {
    check_conv2d((Conv2dShape){.N = 2, .C = 5, .H = 9, .W = 7, .O = 6, .kh = 3, .kw = 3, .stride = 1, .pad_top = 1,
                               .pad_left = 1, .pad_bottom = 1, .pad_right = 1},
                 1, 0, "3x3, padding 1, bias");
    check_conv2d((Conv2dShape){.N = 1, .C = 3, .H = 6, .W = 6, .O = 4, .kh = 3, .kw = 3, .stride = 1, .pad_top = 1,
                               .pad_left = 1, .pad_bottom = 1, .pad_right = 1},
                 0, 1, "3x3, no bias, added to out");
}

/* The VAE's downsampling: pad bottom and right by one, 3x3, stride 2. */
static void conv2d_stride2_asymmetric_padding(void) {
    check_conv2d((Conv2dShape){.N = 2, .C = 4, .H = 8, .W = 10, .O = 3, .kh = 3, .kw = 3, .stride = 2,
                               .pad_bottom = 1, .pad_right = 1},
                 1, 0, "3x3 stride 2, padded bottom/right");
    check_conv2d((Conv2dShape){.N = 1, .C = 3, .H = 7, .W = 9, .O = 2, .kh = 3, .kw = 3, .stride = 2},
                 1, 0, "3x3 stride 2, odd sizes, no padding");
}

static void conv2d_pointwise_and_rectangular(void) {
    check_conv2d((Conv2dShape){.N = 3, .C = 8, .H = 5, .W = 4, .O = 7, .kh = 1, .kw = 1, .stride = 1}, 1, 0,
                 "1x1 (plain SGEMM)");
    check_conv2d((Conv2dShape){.N = 3, .C = 8, .H = 5, .W = 4, .O = 7, .kh = 1, .kw = 1, .stride = 1}, 1, 1,
                 "1x1 added to out");
    check_conv2d((Conv2dShape){.N = 1, .C = 4, .H = 9, .W = 11, .O = 5, .kh = 1, .kw = 7, .stride = 1, .pad_left = 3,
                               .pad_right = 3},
                 1, 0, "1x7, padding (0, 3)");
    check_conv2d((Conv2dShape){.N = 1, .C = 4, .H = 11, .W = 9, .O = 5, .kh = 7, .kw = 1, .stride = 1, .pad_top = 3,
                               .pad_bottom = 3},
                 1, 0, "7x1, padding (3, 0)");
    /* padding wider than the image: rows and columns made of zeros only, on both sides */
    check_conv2d((Conv2dShape){.N = 2, .C = 3, .H = 3, .W = 2, .O = 4, .kh = 5, .kw = 5, .stride = 2, .pad_top = 3,
                               .pad_left = 3, .pad_bottom = 4, .pad_right = 4},
                 1, 0, "5x5 stride 2, padding (3, 3, 4, 4) around a 3x2 image");
}

/* Large enough that the patches come in several tiles of output rows (K * Ho * Wo > 4M floats):
 * two, of 51 and 50 rows. */
static void conv2d_tiled_patches(void) {
    check_conv2d((Conv2dShape){.N = 1, .C = 64, .H = 101, .W = 96, .O = 3, .kh = 3, .kw = 3, .stride = 1,
                               .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1},
                 1, 1, "3x3 over several patch tiles");
}

/* ---- group_norm ---- */

static void check_group_norm(int N, int C, int HW, int groups, int silu, int in_place) {
    const size_t n = (size_t)N * C * HW;
    float *h_x = host_randn(n, 2.0), *h_g = host_randn(C, 1.0), *h_b = host_randn(C, 1.0);
    for (size_t i = 0; i < n; i++) h_x[i] += 3.0f;   /* a mean far from 0, as activations have */
    double *ref = malloc(n * sizeof *ref);
    const int per = C / groups;
    for (int s = 0; s < N; s++)
        for (int g = 0; g < groups; g++) {
            const size_t base = ((size_t)s * C + (size_t)g * per) * HW, cnt = (size_t)per * HW;
            double mean = 0, var = 0;
            for (size_t q = 0; q < cnt; q++) mean += h_x[base + q];
            mean /= cnt;
            for (size_t q = 0; q < cnt; q++) var += (h_x[base + q] - mean) * (h_x[base + q] - mean);
            var /= cnt;
            for (size_t q = 0; q < cnt; q++) {
                const int c = g * per + (int)(q / HW);
                double y = (h_x[base + q] - mean) / sqrt(var + 1e-6) * h_g[c] + h_b[c];
                ref[base + q] = silu ? y / (1 + exp(-y)) : y;
            }
        }
    float *d_x = dev_from(h_x, n), *d_g = dev_from(h_g, C), *d_b = dev_from(h_b, C);
    float *d_out = in_place ? d_x : be->alloc(be, n * sizeof(float), "test output");
    be->group_norm(be, d_out, d_x, d_g, d_b, N, C, HW, groups, 1e-6f, silu);
    float *got = host_of(d_out, n);
    double e = rel_error(got, ref, n);
    CHECK(e <= FWD_TOL, "N %d C %d HW %d groups %d silu %d in place %d: relative error %.3g", N, C, HW, groups, silu,
          in_place, e);
    if (!in_place) be->free(be, d_out);
    be->free(be, d_x), be->free(be, d_g), be->free(be, d_b);
    free(h_x), free(h_g), free(h_b), free(ref), free(got);
}

static void group_norm_with_and_without_silu(void) {
    check_group_norm(2, 64, 25, 32, 0, 0);
    check_group_norm(3, 96, 16, 32, 1, 0);
    check_group_norm(2, 8, 9, 4, 1, 1);
    check_group_norm(1, 6, 7, 1, 0, 1);   /* one group: LayerNorm over (C, H, W) */
}

/* ---- upsampling and transpose ---- */

static void upsample_nearest2x_copies_each_value_to_a_2x2_block(void) {
    const int N = 2, C = 3, H = 5, W = 7;
    const size_t n = (size_t)N * C * H * W;
    float *h_x = host_randn(n, 1.0);
    float *d_x = dev_from(h_x, n), *d_y = be->alloc(be, 4 * n * sizeof(float), "test output");
    be->upsample_nearest2x(be, d_y, d_x, N, C, H, W);
    float *got = host_of(d_y, 4 * n);
    int wrong = 0;
    for (int p = 0; p < N * C; p++)
        for (int y = 0; y < 2 * H; y++)
            for (int x = 0; x < 2 * W; x++)
                wrong += got[((size_t)p * 2 * H + y) * 2 * W + x] != h_x[((size_t)p * H + y / 2) * W + x / 2];
    CHECK(wrong == 0, "%d of %zu values differ from the input value they copy", wrong, 4 * n);
    be->free(be, d_x), be->free(be, d_y);
    free(h_x), free(got);
}

static void check_transpose(int N, int R, int Cols, int accumulate) {
    const size_t n = (size_t)N * R * Cols;
    float *h_x = host_randn(n, 1.0), *h_base = host_randn(n, 1.0);
    double *ref = malloc(n * sizeof *ref);
    for (int s = 0; s < N; s++)
        for (int r = 0; r < R; r++)
            for (int c = 0; c < Cols; c++) {
                const size_t to = ((size_t)s * Cols + c) * R + r;
                ref[to] = (accumulate ? (double)h_base[to] : 0) + h_x[((size_t)s * R + r) * Cols + c];
            }
    float *d_x = dev_from(h_x, n), *d_y = dev_from(h_base, n);
    be->transpose(be, d_y, d_x, N, R, Cols, accumulate ? 1.0f : 0.0f);
    float *got = host_of(d_y, n);
    double e = rel_error(got, ref, n);
    CHECK(e <= 1e-7, "N %d R %d Cols %d beta %d: relative error %.3g", N, R, Cols, accumulate, e);
    be->free(be, d_x), be->free(be, d_y);
    free(h_x), free(h_base), free(ref), free(got);
}

static void transpose_both_directions(void) {
    check_transpose(2, 40, 70, 0);   /* partial 32x32 blocks on both axes */
    check_transpose(3, 70, 40, 1);   /* back, added to a residual */
    check_transpose(1, 1, 5, 0);
}

/* ---- pool2d and relu ---- */

static void naive_pool2d(double *out, const double *in, const Pool2dShape *s) {
    const int Ho = pool2d_out(s, s->H), Wo = pool2d_out(s, s->W);
    for (int p = 0; p < s->N * s->C; p++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++) {
                double acc = s->is_max ? -INFINITY : 0;
                int count = 0;
                for (int i = 0; i < s->k; i++)
                    for (int j = 0; j < s->k; j++) {
                        const int iy = y * s->stride + i - s->pad, ix = x * s->stride + j - s->pad;
                        if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                        const double v = in[((size_t)p * s->H + iy) * s->W + ix];
                        acc = s->is_max ? fmax(acc, v) : acc + v;
                        count++;
                    }
                out[((size_t)p * Ho + y) * Wo + x] = s->is_max ? acc : acc / count;
            }
}

static void check_pool2d(Pool2dShape s, const char *what) {
    const size_t n_in = (size_t)s.N * s.C * s.H * s.W;
    const size_t n_out = (size_t)s.N * s.C * pool2d_out(&s, s.H) * pool2d_out(&s, s.W);
    /* all values negative, so that a padding counted as 0 would win a max */
    float *h_in = host_randn(n_in, 1.0);
    for (size_t i = 0; i < n_in; i++) h_in[i] = -1.0f - fabsf(h_in[i]);
    double *in = to_f64(h_in, n_in), *ref = malloc(n_out * sizeof *ref);
    naive_pool2d(ref, in, &s);
    float *d_in = dev_from(h_in, n_in), *d_out = dev_from(h_in, n_out);
    be->pool2d(be, d_out, d_in, &s);
    float *got = host_of(d_out, n_out);
    double e = rel_error(got, ref, n_out);
    CHECK(e <= FWD_TOL, "%s: relative error %.3g", what, e);
    free(h_in), free(in), free(ref), free(got);
    be->free(be, d_in), be->free(be, d_out);
}

/* Inception's poolings: 3x3 stride 2 max (odd and even sizes), 3x3 stride 1 padding 1 average
 * without the padding and max, the final global average. */
static void pool2d_max_average_and_global(void) {
    check_pool2d((Pool2dShape){.N = 2, .C = 3, .H = 9, .W = 8, .k = 3, .stride = 2, .is_max = 1}, "max 3x3 stride 2");
    check_pool2d((Pool2dShape){.N = 2, .C = 3, .H = 7, .W = 6, .k = 3, .stride = 1, .pad = 1},
                 "average 3x3 stride 1 padding 1, padding not counted");
    check_pool2d((Pool2dShape){.N = 1, .C = 4, .H = 5, .W = 5, .k = 3, .stride = 1, .pad = 1, .is_max = 1},
                 "max 3x3 stride 1 padding 1");
    check_pool2d((Pool2dShape){.N = 3, .C = 5, .H = 8, .W = 8, .k = 8, .stride = 1}, "global average 8x8");
}

static void relu_clamps_negatives_in_place(void) {
    const size_t n = 1001;
    float *h = host_randn(n, 1.0);
    float *d = dev_from(h, n);
    be->relu(be, d, d, n);
    float *got = host_of(d, n);
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += got[i] != (h[i] > 0 ? h[i] : 0.0f);
    CHECK(bad == 0, "%d of %zu values differ from max(x, 0)", bad, n);
    free(h), free(got);
    be->free(be, d);
}

int main(void) {
    check_setup(9);
    RUN(conv2d_3x3_same_padding);
    RUN(conv2d_stride2_asymmetric_padding);
    RUN(conv2d_pointwise_and_rectangular);
    RUN(conv2d_tiled_patches);
    RUN(group_norm_with_and_without_silu);
    RUN(upsample_nearest2x_copies_each_value_to_a_2x2_block);
    RUN(transpose_both_directions);
    RUN(pool2d_max_average_and_global);
    RUN(relu_clamps_negatives_in_place);
    be->destroy(be);
    return test_summary();
}
