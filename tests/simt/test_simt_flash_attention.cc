/* The fused attention kernels of cuda/flash_attention_kernels.cuh, run on the CPU by the SIMT
 * emulation of tests/simt/simt.h, against attention computed here in float64 from the same
 * 16-bit inputs: forward output and log-sum-exp, and the gradient of q, k and v. The GPU runs the
 * same comparison (against the CPU backend) in tests/gpu/check_ops.c; this one runs in CI.
 *
 * Limits (normwise, ||kernel - ref|| / ||ref||) as check_ops': bf16 1e-2, fp16 5e-3 (outputs
 * rounded to 16 bits, and P and dS rounded once more as operands of the next product); the
 * log-sum-exp is fp32 from exact products: 1e-5. An index or fragment mistake gives errors of
 * order 1. Shapes: the head widths in use (72: XL, 32: decoder, 64: S/B) and the extremes (8, 128),
 * lengths with partial 64-row blocks and 32/64-key steps; every one with the asynchronous tile
 * copies landing as late and as early as the GPU allows (simt.h), which shows a missing wait or a
 * missing __syncthreads around the double buffers. */
#include "simt.h"

#include "../../cuda/flash_attention_kernels.cuh"
#include "../unit/test.h"
#include "reference.h"

#include <vector>

namespace {

struct Shape {
    int N, T, H, hd;
};

/* Attention of one (sample, head) in float64: out, lse and, given dout, dqkv (layouts of the
 * kernels: qkv [N, T, 3E], out and dout [N, T, E], lse [N, H, T]). */
struct Reference {
    std::vector<double> out, lse, dqkv;
    Reference(const Shape &s, const std::vector<double> &qkv, const std::vector<double> &dout) {
        int T = s.T, hd = s.hd, E = s.H * hd;
        out.assign((size_t)s.N * T * E, 0.0), lse.assign((size_t)s.N * s.H * T, 0.0);
        dqkv.assign((size_t)s.N * T * 3 * E, 0.0);
        double scale = 1.0 / sqrt((double)hd);
        std::vector<double> P((size_t)T * T), dS((size_t)T * T);
        for (int n = 0; n < s.N; n++)
            for (int h = 0; h < s.H; h++) {
                auto q = [&](int t, int d) { return qkv[((size_t)n * T + t) * 3 * E + h * hd + d]; };
                auto k = [&](int t, int d) { return qkv[((size_t)n * T + t) * 3 * E + E + h * hd + d]; };
                auto v = [&](int t, int d) { return qkv[((size_t)n * T + t) * 3 * E + 2 * E + h * hd + d]; };
                auto dO = [&](int t, int d) { return dout[((size_t)n * T + t) * E + h * hd + d]; };
                auto grad = [&](int part, int t, int d) -> double & {
                    return dqkv[((size_t)n * T + t) * 3 * E + part * E + h * hd + d];
                };
                for (int i = 0; i < T; i++) {
                    double mx = -INFINITY, sum = 0.0;
                    for (int j = 0; j < T; j++) {
                        double x = 0.0;
                        for (int d = 0; d < hd; d++) x += q(i, d) * k(j, d);
                        P[(size_t)i * T + j] = x * scale;
                        mx = fmax(mx, x * scale);
                    }
                    for (int j = 0; j < T; j++) sum += exp(P[(size_t)i * T + j] - mx);
                    lse[((size_t)n * s.H + h) * T + i] = mx + log(sum);
                    for (int j = 0; j < T; j++) P[(size_t)i * T + j] = exp(P[(size_t)i * T + j] - mx) / sum;
                    double Di = 0.0;
                    for (int j = 0; j < T; j++) {
                        double dp = 0.0;
                        for (int d = 0; d < hd; d++) dp += dO(i, d) * v(j, d);
                        dS[(size_t)i * T + j] = dp;
                        Di += P[(size_t)i * T + j] * dp;
                    }
                    for (int j = 0; j < T; j++) dS[(size_t)i * T + j] = P[(size_t)i * T + j] * (dS[(size_t)i * T + j] - Di);
                    for (int d = 0; d < hd; d++) {
                        double o = 0.0;
                        for (int j = 0; j < T; j++) o += P[(size_t)i * T + j] * v(j, d);
                        out[((size_t)n * T + i) * E + h * hd + d] = o;
                    }
                }
                for (int i = 0; i < T; i++)
                    for (int j = 0; j < T; j++)
                        for (int d = 0; d < hd; d++) {
                            double p = P[(size_t)i * T + j], ds = dS[(size_t)i * T + j] * scale;
                            grad(0, i, d) += ds * k(j, d);
                            grad(1, j, d) += ds * q(i, d);
                            grad(2, j, d) += p * dO(i, d);
                        }
            }
    }
};

template <typename T, int HDP> void check_timing(const Shape &s, double limit, const char *dtype) {
    const int E = s.H * s.hd;
    const size_t tokens = (size_t)s.N * s.T;
    Drawn<T> qkv(tokens * 3 * E, 1 + s.T * 131 + s.hd, -2, 2), dout(tokens * E, 7 + s.T * 17 + s.hd, -2, 2);
    Reference ref(s, qkv.v, dout.v);
    char what[96];
    snprintf(what, sizeof what, "%s N%d T%d H%d hd%d copies %s", dtype, s.N, s.T, s.H, s.hd,
             simt::copy_timing == simt::COPY_AT_WAIT ? "late" : "early");

    /* every output starts as NaN, so an element left unwritten fails */
    const T nan16 = from_f32<T>(NAN);
    std::vector<T> out(tokens * E, nan16), dqkv(tokens * 3 * E, nan16);
    std::vector<float> lse((size_t)s.N * s.H * s.T, NAN), D((size_t)s.N * s.H * s.T, NAN);
    const float scale = 1.0f / sqrtf((float)s.hd), scale_log2 = LOG2E * scale;
    const SimtDim grid = {(unsigned)((s.T + FLASH_ROWS - 1) / FLASH_ROWS), (unsigned)s.H, (unsigned)s.N},
                  block = {FLASH_THREADS, 1, 1};
    simt::launch(grid, block, [&] {
        flash_forward_kernel<T, HDP>(out.data(), lse.data(), qkv.h.data(), s.T, s.H, s.hd, scale_log2);
    });
    double e_out = normwise(out, ref.out), e_lse = normwise(lse, ref.lse);
    CHECK(e_out <= limit, "%s: out rel %.3g (limit %g)", what, e_out, limit);
    CHECK(e_lse <= 1e-5, "%s: lse rel %.3g (limit 1e-5)", what, e_lse);

    const size_t rows = tokens * s.H;
    simt::launch(SimtDim{(unsigned)((rows + 255) / 256), 1, 1}, SimtDim{256, 1, 1}, [&] {
        flash_rowdot_kernel<T>(D.data(), dout.h.data(), out.data(), s.N, s.T, s.H, s.hd);
    });
    const FlashBackward<T> args = {dqkv.data(), qkv.h.data(), dout.h.data(), lse.data(), D.data(),
                                   s.T,         s.H,          s.hd,          scale,      scale_log2};
    simt::launch(grid, block, [&] { flash_backward_kv_kernel<T, HDP>(args); });
    simt::launch(grid, block, [&] { flash_backward_q_kernel<T, HDP>(args); });
    double e_grad = normwise(dqkv, ref.dqkv);
    CHECK(e_grad <= limit, "%s: dqkv rel %.3g (limit %g)", what, e_grad, limit);
    printf("    %-40s out %.2e  lse %.2e  dqkv %.2e\n", what, e_out, e_lse, e_grad);
}

/* Each shape with the asynchronous copies landing as late and as early as the GPU allows. */
template <typename T, int HDP> void check_shape(const Shape &s, double limit, const char *dtype) {
    for (simt::CopyTiming timing : {simt::COPY_AT_WAIT, simt::COPY_AT_ISSUE}) {
        simt::copy_timing = timing;
        check_timing<T, HDP>(s, limit, dtype);
    }
}

void bf16_model_widths() {
    check_shape<__nv_bfloat16, 80>({2, 128, 2, 72}, 1e-2, "bf16");   /* XL: two full 64-row blocks */
    check_shape<__nv_bfloat16, 32>({1, 100, 2, 32}, 1e-2, "bf16");   /* decoder, partial blocks */
    check_shape<__nv_bfloat16, 64>({1, 70, 1, 64}, 1e-2, "bf16");    /* S/B */
}

void fp16_model_widths() {
    check_shape<__half, 80>({1, 77, 2, 72}, 5e-3, "fp16");
    check_shape<__half, 32>({2, 33, 2, 32}, 5e-3, "fp16");
}

void extreme_widths_and_lengths() {
    check_shape<__nv_bfloat16, 16>({2, 17, 3, 8}, 1e-2, "bf16");     /* padded to 16 */
    check_shape<__nv_bfloat16, 128>({1, 65, 1, 128}, 1e-2, "bf16");  /* widest */
    check_shape<__half, 48>({1, 1, 2, 40}, 5e-3, "fp16");            /* one token */
    check_shape<__half, 80>({1, 5, 1, 72}, 5e-3, "fp16");
}

}   // namespace

int main() {
    RUN_IN_BOTH_ORDERS(bf16_model_widths);
    RUN_IN_BOTH_ORDERS(fp16_model_widths);
    RUN_IN_BOTH_ORDERS(extreme_widths_and_lengths);
    return test_summary();
}
