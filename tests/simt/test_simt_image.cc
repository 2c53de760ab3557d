/* The kernels of cuda/image_kernels.cuh (the VAE's NCHW ops) on the CPU, in the launch shapes of
 * cuda/image.cu, in fp32, bf16 and fp16, against references computed here from the ops'
 * definitions (src/backend/backend_ops.h): im2col with the bias fill (the convolution's patches
 * and its GEMM's starting values, checked as the direct convolution they make), GroupNorm with
 * and without SiLU (in place too, several groups, a group larger than the block, groups in several
 * pieces whose statistics are combined), nearest 2x
 * upsampling, and the tiled transpose with partial tiles and beta 1. GroupNorm's and the
 * transpose's barriers run under both schedules. Outputs a kernel overwrites start as NaN.
 *
 * Limits: moves exact; GroupNorm as check_ops' act outputs (fp32 1e-5, bf16 1e-2, fp16 5e-3,
 * normwise); the convolution in fp32 1e-5 and in 16 bits within the limit of its act output. */
#include "simt.h"

#include "../../cuda/image_kernels.cuh"
#include "../unit/test.h"
#include "reference.h"

#include <vector>

namespace {

const unsigned MAX_BLOCKS = 3;   /* fewer blocks than the work: the grid-stride loops go round */

SimtDim blocks_for(size_t work) {
    size_t g = (work + IMAGE_THREADS - 1) / IMAGE_THREADS;
    return SimtDim{(unsigned)std::max<size_t>(1, std::min<size_t>(g, MAX_BLOCKS)), 1, 1};
}
const SimtDim THREADS = {IMAGE_THREADS, 1, 1};

/* ---- im2col + bias: the convolution of one image, the GEMM done here in double ---- */

template <typename T> void check_conv(int C, int H, int W, int O, int k, int stride, int pt, int pl, int pb, int pr,
                                      int tile_rows, float beta) {
    const int Ho = (H + pt + pb - k) / stride + 1, Wo = (W + pl + pr - k) / stride + 1, K = C * k * k;
    Drawn<T> in((size_t)C * H * W, 3, -1, 1), w((size_t)O * K, 5, -0.5, 0.5), bias(O, 7, -1, 1),
        base((size_t)O * Ho * Wo, 9, -1, 1);
    std::vector<double> ref((size_t)O * Ho * Wo);
    for (int o = 0; o < O; o++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++) {
                double acc = bias.v[o] + (beta != 0.0f ? base.v[((size_t)o * Ho + y) * Wo + x] : 0.0);
                for (int c = 0; c < C; c++)
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            int iy = y * stride + i - pt, ix = x * stride + j - pl;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                acc += w.v[((size_t)o * C + c) * k * k + i * k + j] *
                                       in.v[((size_t)c * H + iy) * W + ix];
                        }
                ref[((size_t)o * Ho + y) * Wo + x] = acc;
            }
    std::vector<T> out = base.h;
    simt::launch(blocks_for(out.size()), THREADS,
                 [&] { bias_fill_kernel<T>(out.data(), bias.h.data(), O, (size_t)Ho * Wo, beta); });
    std::vector<double> got(out.size());
    for (size_t q = 0; q < out.size(); q++) got[q] = to_f32(out[q]);
    const ConvGeom g = {C, H, W, k, k, stride, pt, pl, Wo};
    for (int y0 = 0; y0 < Ho; y0 += tile_rows) {
        const int rows = std::min(tile_rows, Ho - y0), cols = rows * Wo;
        std::vector<T> col((size_t)K * cols, from_f32<T>(NAN));
        simt::launch(blocks_for(col.size()), THREADS, [&] { im2col_kernel<T>(col.data(), in.h.data(), g, y0, rows); });
        for (int o = 0; o < O; o++)
            for (int p = 0; p < cols; p++) {
                double acc = 0;
                for (int kk = 0; kk < K; kk++) acc += w.v[(size_t)o * K + kk] * to_f32(col[(size_t)kk * cols + p]);
                got[(size_t)o * Ho * Wo + (size_t)y0 * Wo + p] += acc;
            }
    }
    double num = 0, den = 0;
    for (size_t q = 0; q < ref.size(); q++) num += (got[q] - ref[q]) * (got[q] - ref[q]), den += ref[q] * ref[q];
    double err = sqrt(num / den);
    CHECK(err <= (sizeof(T) == 4 ? 1e-6 : act_limit<T>()),
          "%s conv %dx%d k%d s%d pad %d,%d,%d,%d tile %d beta %g: error %.3g", type_name<T>(), H, W, k, stride, pt,
          pl, pb, pr, tile_rows, beta, err);
}

/* ---- GroupNorm ---- */

/* GroupNorm in pieces of about `target` values (cuda/image.cu uses GN_PIECE; small targets here
 * give several pieces per group, the last one short). */
template <typename T>
void check_group_norm(int N, int C, int HW, int groups, int silu, bool in_place, size_t target) {
    const size_t n = (size_t)N * C * HW;
    Drawn<T> x(n, 11, 1.0, 5.0), gamma(C, 13, 0.5, 1.5), beta(C, 17, -1, 1);
    std::vector<double> ref(n);
    const int per = C / groups;
    for (int s = 0; s < N * groups; s++) {
        const size_t b0 = (size_t)s * per * HW, cnt = (size_t)per * HW;
        double mean = 0, var = 0;
        for (size_t q = 0; q < cnt; q++) mean += x.v[b0 + q];
        mean /= cnt;
        for (size_t q = 0; q < cnt; q++) var += (x.v[b0 + q] - mean) * (x.v[b0 + q] - mean);
        var /= cnt;
        for (size_t q = 0; q < cnt; q++) {
            const int c = s % groups * per + (int)(q / HW);
            double y = (x.v[b0 + q] - mean) / sqrt(var + 1e-6) * gamma.v[c] + beta.v[c];
            ref[b0 + q] = silu ? y / (1 + exp(-y)) : y;
        }
    }
    const size_t span = (size_t)per * HW;
    size_t piece_len;
    const size_t pieces = gn_pieces(span, target, 256, &piece_len);
    std::vector<float> partials((size_t)N * groups * pieces * 2, NAN);
    std::vector<T> out(n, from_f32<T>(NAN)), work = x.h;
    T *dst = in_place ? work.data() : out.data();
    const SimtDim grid = {(unsigned)(N * groups), (unsigned)pieces, 1};
    simt::launch(grid, THREADS, [&] { group_norm_stats_kernel<T>(partials.data(), work.data(), span, piece_len); });
    simt::launch(grid, THREADS, [&] {
        group_norm_apply_kernel<T>(dst, work.data(), partials.data(), gamma.h.data(), beta.h.data(), C, HW, groups, span,
                                   piece_len, 1e-6f, silu);
    });
    double err = normwise(in_place ? work : out, ref);
    CHECK(err <= act_limit<T>(), "%s group_norm N %d C %d HW %d groups %d silu %d in place %d, %zu pieces: error %.3g",
          type_name<T>(), N, C, HW, groups, silu, in_place, pieces, err);
}

/* ---- upsampling and transpose ---- */

template <typename T> void check_upsample(int planes, int H, int W) {
    Drawn<T> x((size_t)planes * H * W, 19, -1, 1);
    std::vector<T> out((size_t)planes * 4 * H * W, from_f32<T>(NAN));
    simt::launch(blocks_for(out.size()), THREADS, [&] { upsample2x_kernel<T>(out.data(), x.h.data(), planes, H, W); });
    size_t wrong = 0;
    for (int p = 0; p < planes; p++)
        for (int y = 0; y < 2 * H; y++)
            for (int xx = 0; xx < 2 * W; xx++)
                wrong += to_f32(out[((size_t)p * 2 * H + y) * 2 * W + xx]) !=
                         (float)x.v[((size_t)p * H + y / 2) * W + xx / 2];
    CHECK(wrong == 0, "%s upsample: %zu values wrong", type_name<T>(), wrong);
}

template <typename T> void check_transpose(int N, int R, int Cols, float beta) {
    Drawn<T> x((size_t)N * R * Cols, 23, -1, 1), base((size_t)N * R * Cols, 29, -1, 1);
    std::vector<double> ref(x.v.size());
    for (int n = 0; n < N; n++)
        for (int r = 0; r < R; r++)
            for (int c = 0; c < Cols; c++) {
                const size_t to = ((size_t)n * Cols + c) * R + r;
                ref[to] = (beta != 0.0f ? base.v[to] : 0.0) + x.v[((size_t)n * R + r) * Cols + c];
            }
    std::vector<T> out = beta != 0.0f ? base.h : std::vector<T>(x.h.size(), from_f32<T>(NAN));
    const SimtDim grid = {(unsigned)((Cols + TRANSPOSE_TILE - 1) / TRANSPOSE_TILE),
                          (unsigned)((R + TRANSPOSE_TILE - 1) / TRANSPOSE_TILE), (unsigned)N};
    simt::launch(grid, SimtDim{TRANSPOSE_TILE, TRANSPOSE_ROWS, 1},
                 [&] { transpose_kernel<T>(out.data(), x.h.data(), R, Cols, beta); });
    double err = normwise(out, ref);
    /* a move is exact; with beta 1 one rounding of the sum to T */
    CHECK(err <= (beta != 0.0f ? act_limit<T>() : 0.0), "%s transpose N %d R %d Cols %d beta %g: error %.3g",
          type_name<T>(), N, R, Cols, beta, err);
}

template <typename T> void all_ops() {
    check_conv<T>(3, 7, 9, 4, 3, 1, 1, 1, 1, 1, 3, 0.0f);   /* same padding, tiles of 3 rows (last partial) */
    check_conv<T>(2, 8, 10, 3, 3, 2, 0, 0, 1, 1, 2, 1.0f);  /* the VAE's downsampling, added to out */
    check_conv<T>(4, 5, 4, 2, 1, 1, 0, 0, 0, 0, 5, 0.0f);   /* 1x1 */
    check_group_norm<T>(2, 64, 9, 32, 1, false, 8192);      /* one piece a group */
    check_group_norm<T>(1, 8, 100, 2, 0, true, 8192);        /* 400 values a group: more than the block */
    check_group_norm<T>(2, 12, 230, 3, 1, true, 300);        /* pieces of 307 and 306 values, in place */
    check_group_norm<T>(1, 4, 1000, 2, 0, false, 256);       /* 8 pieces a group; mean far from 0 */
    check_upsample<T>(3, 5, 7);
    check_transpose<T>(2, 40, 70, 0.0f);
    check_transpose<T>(1, 33, 5, 1.0f);
}

void fp32() { all_ops<float>(); }
void bf16() { all_ops<__nv_bfloat16>(); }
void fp16() { all_ops<__half>(); }

}  // namespace

int main() {
    RUN_IN_BOTH_ORDERS(fp32);
    RUN_IN_BOTH_ORDERS(bf16);
    RUN_IN_BOTH_ORDERS(fp16);
    return test_summary();
}
