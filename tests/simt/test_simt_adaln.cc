/* The adaLN kernels of cuda/adaln_kernels.cuh (LayerNorm + modulate, its input gradient, the
 * per-sample column sums of the shift, scale and gate gradients, the gated residual), run on the
 * CPU by tests/simt/simt.h against the same math in float64 from the same rounded inputs. Each
 * runs with 16-byte packs (V = 16 / sizeof(T)) and element by element (V = 1), in the launch
 * shapes of cuda/adaln.cu. The GPU runs these ops against the CPU backend in tests/gpu/check_ops.c.
 *
 * Limits (normwise, ||kernel - ref|| / ||ref||), as check_ops': fp32 1e-5; outputs rounded to
 * bf16 1e-2, to fp16 5e-3; the fp32 statistics (mean, rstd) 1e-5 in every precision. */
#include "simt.h"

#include "../../cuda/adaln_kernels.cuh"
#include "../unit/test.h"
#include "reference.h"

#include <vector>

namespace {

enum { ROW_THREADS = 256 };   /* cuda/adaln.cu's launch shapes */

/* The shapes: N samples of T_ tokens of `width` channels; mod rows of 6 chunks (stride 6 * width,
 * as adaLN's shift/scale/gate pairs), the chunks used at offsets 0, width, 2 * width. */
struct Shape {
    int N, T_, width;
    size_t rows() const { return (size_t)N * T_; }
    int mod_stride() const { return 6 * width; }
};

template <typename T, int V> void check_shape(const Shape &sh, const char *dtype) {
    const int W = sh.width, S = sh.mod_stride(), shift_off = 0, scale_off = W, gate_off = 2 * W;
    const size_t rows = sh.rows(), n = rows * W;
    const double limit = act_limit<T>();
    const float eps = 1e-6f;
    char what[96];
    snprintf(what, sizeof what, "%s V%d N%d T%d W%d", dtype, V, sh.N, sh.T_, W);
    Drawn<T> x(n, 11 + W, -2, 2), mod((size_t)sh.N * S, 13 + W, -0.5, 0.5), dout(n, 17 + W, -2, 2),
        dx0(n, 19 + W, -2, 2), y(n, 23 + W, -2, 2), base(n, 29 + W, -2, 2);
    auto m = [&](size_t row, int off, int c) { return mod.v[row / sh.T_ * S + off + c]; };

    /* float64 reference */
    std::vector<double> mean(rows), rstd(rows), out(n), dx(n), dmod((size_t)sh.N * S, 0.0), gated(n), gated0(n);
    for (size_t r = 0; r < rows; r++) {
        double mu = 0.0, var = 0.0, sg = 0.0, sgx = 0.0;
        for (int c = 0; c < W; c++) mu += x.v[r * W + c] / W;
        for (int c = 0; c < W; c++) var += (x.v[r * W + c] - mu) * (x.v[r * W + c] - mu) / W;
        mean[r] = mu, rstd[r] = 1.0 / sqrt(var + eps);
        for (int c = 0; c < W; c++) {
            double xh = (x.v[r * W + c] - mu) * rstd[r], g = dout.v[r * W + c] * (1.0 + m(r, scale_off, c));
            out[r * W + c] = xh * (1.0 + m(r, scale_off, c)) + m(r, shift_off, c);
            sg += g / W, sgx += g * xh / W;
            size_t n_row = r / sh.T_ * S;
            dmod[n_row + shift_off + c] += dout.v[r * W + c];
            dmod[n_row + scale_off + c] += dout.v[r * W + c] * xh;
            dmod[n_row + gate_off + c] += dx0.v[r * W + c] * y.v[r * W + c];
            gated[r * W + c] = base.v[r * W + c] + m(r, gate_off, c) * y.v[r * W + c];
            gated0[r * W + c] = m(r, gate_off, c) * y.v[r * W + c];
        }
        for (int c = 0; c < W; c++) {
            double xh = (x.v[r * W + c] - mu) * rstd[r], g = dout.v[r * W + c] * (1.0 + m(r, scale_off, c));
            dx[r * W + c] = dx0.v[r * W + c] + rstd[r] * (g - sg - xh * sgx);
        }
    }

    /* LayerNorm + modulate */
    std::vector<T> o(n, from_f32<T>(NAN));
    std::vector<float> mu(rows, NAN), rs(rows, NAN);
    const SimtDim row_grid = {(unsigned)((rows * 32 + ROW_THREADS - 1) / ROW_THREADS), 1, 1},
                  row_block = {ROW_THREADS, 1, 1};
    simt::launch(row_grid, row_block, [&] {
        ln_modulate_kernel<T, V>(o.data(), mu.data(), rs.data(), x.h.data(), mod.h.data(), S, shift_off, scale_off,
                                 (int)rows, sh.T_, W, eps);
    });
    double e_out = normwise(o, out), e_mu = normwise(mu, mean), e_rs = normwise(rs, rstd);
    CHECK(e_out <= limit, "%s: ln_modulate out rel %.3g (limit %g)", what, e_out, limit);
    CHECK(e_mu <= 1e-5 && e_rs <= 1e-5, "%s: mean rel %.3g, rstd rel %.3g (limit 1e-5)", what, e_mu, e_rs);

    /* its input gradient, accumulated into dx (the kernel's statistics, as the backward pass) */
    std::vector<T> dxk = dx0.h;
    simt::launch(row_grid, row_block, [&] {
        ln_modulate_dx_kernel<T, V>(dxk.data(), dout.h.data(), x.h.data(), mu.data(), rs.data(), mod.h.data(), S,
                                    scale_off, (int)rows, sh.T_, W);
    });
    double e_dx = normwise(dxk, dx);
    CHECK(e_dx <= limit, "%s: ln_modulate dx rel %.3g (limit %g)", what, e_dx, limit);

    /* the column sums: dshift, dscale (LayerNorm source), dgate (gate source); other columns untouched */
    std::vector<T> dm((size_t)sh.N * S, from_f32<T>(0.0f));
    const SimtDim col_grid = {(unsigned)((W + 32 * V - 1) / (32 * V)), (unsigned)sh.N, 1}, col_block = {32, COL_ROWS, 1};
    const LnColumns<T> ln_src = {dout.h.data(), x.h.data(), mu.data(), rs.data()};
    simt::launch(col_grid, col_block, [&] {
        sample_colsum_kernel<T, V, LnColumns<T>>(ln_src, dm.data(), S, shift_off, scale_off, sh.T_, W);
    });
    const GateColumns<T> gate_src = {dx0.h.data(), y.h.data()};
    simt::launch(col_grid, col_block, [&] {
        sample_colsum_kernel<T, V, GateColumns<T>>(gate_src, dm.data(), S, gate_off, gate_off, sh.T_, W);
    });
    double e_dmod = normwise(dm, dmod);
    CHECK(e_dmod <= limit, "%s: column sums rel %.3g (limit %g)", what, e_dmod, limit);

    /* gated residual, with and without a base, on a grid smaller than the work (grid-stride loop) */
    std::vector<T> g(n, from_f32<T>(NAN)), g0(n, from_f32<T>(NAN));
    const size_t packs = n / V;
    simt::launch(SimtDim{3, 1, 1}, SimtDim{64, 1, 1}, [&] {
        gate_kernel<T, V>(g.data(), base.h.data(), y.h.data(), mod.h.data(), S, gate_off, packs, sh.T_, W);
        gate_kernel<T, V>(g0.data(), nullptr, y.h.data(), mod.h.data(), S, gate_off, packs, sh.T_, W);
    });
    double e_g = normwise(g, gated), e_g0 = normwise(g0, gated0);
    CHECK(e_g <= limit && e_g0 <= limit, "%s: gate rel %.3g, without base %.3g (limit %g)", what, e_g, e_g0, limit);
    printf("    %-26s out %.1e  mean %.1e  rstd %.1e  dx %.1e  colsums %.1e  gate %.1e %.1e\n", what, e_out, e_mu,
           e_rs, e_dx, e_dmod, e_g, e_g0);
}

template <typename T> void check_type(const char *dtype) {
    constexpr int V = 16 / sizeof(T);
    check_shape<T, V>({2, 5, 144}, dtype);    /* 16-byte packs */
    check_shape<T, V>({3, 17, 1024}, dtype);  /* several column blocks; T not a multiple of the row groups */
    check_shape<T, 1>({2, 5, 36}, dtype);     /* element by element: a width the packs do not divide */
}

void fp32() { check_type<float>("fp32"); }
void bf16() { check_type<__nv_bfloat16>("bf16"); }
void fp16() { check_type<__half>("fp16"); }

}   // namespace

int main() {
    RUN_IN_BOTH_ORDERS(fp32);
    RUN_IN_BOTH_ORDERS(bf16);
    RUN_IN_BOTH_ORDERS(fp16);
    return test_summary();
}
