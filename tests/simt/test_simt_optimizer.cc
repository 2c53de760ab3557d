/* The optimizer kernels of cuda/optimizer_kernels.cuh (AdamW and the compute copy it writes in the
 * same pass, EMA, scaling, the two-pass sum of squares), run on the CPU by tests/simt/simt.h
 * against the same formulas in float64, in packs of 4 and element by element, on a grid smaller
 * than the work (the grid-stride loops). The GPU runs these ops against the CPU backend in
 * tests/gpu/check_ops.c.
 *
 * Limits: fp32 results of a few fp32 operations per element, 1e-6 normwise; the compute copy
 * exactly the kernel's own updated parameters rounded to the act type (as the backend's cast
 * would round them); the sum of squares (double) 1e-12. */
#include "simt.h"

#include "../../cuda/optimizer_kernels.cuh"
#include "../unit/test.h"
#include "reference.h"

#include <vector>

namespace {

const SimtDim GRID = {3, 1, 1}, BLOCK = {OPT_THREADS, 1, 1};   /* 768 threads for up to 1001 packs */

/* AdamW over n values, V per access, writing the compute copy in A when with_copy. */
template <typename A, int V> void check_adamw(size_t n, bool with_copy, const char *what) {
    std::vector<float> p = Drawn<float>(n, 1, -1, 1).h, g = Drawn<float>(n, 2, -3, 3).h,
                       m = Drawn<float>(n, 3, -0.1, 0.1).h, v = Drawn<float>(n, 4, 0, 0.01).h;
    std::vector<A> pa(n, from_f32<A>(NAN));
    const double b1 = 0.9, b2 = 0.999;
    const float lr = 1e-3f, eps = 1e-8f, wd = 0.01f, bc1 = 0.19f, bc2 = 0.0199f, gs = 0.5f;
    std::vector<double> rp(n), rm(n), rv(n);
    for (size_t i = 0; i < n; i++) {
        double gk = (double)g[i] * gs;
        rm[i] = b1 * m[i] + (1 - b1) * gk;
        rv[i] = b2 * v[i] + (1 - b2) * gk * gk;
        rp[i] = p[i] - lr * ((rm[i] / bc1) / (sqrt(rv[i] / bc2) + eps) + wd * p[i]);
    }
    const AdamWOp<A> op = {p.data(), m.data(), v.data(), with_copy ? pa.data() : nullptr, g.data(), lr, (float)b1,
                           (float)(1.0 - b1), (float)b2, (float)(1.0 - b2), eps, wd, bc1, bc2, gs};
    simt::launch(GRID, BLOCK, [&] { flat_kernel<V, AdamWOp<A>>(op, n / V); });
    double ep = normwise(p, rp), em = normwise(m, rm), ev = normwise(v, rv);
    CHECK(ep <= 1e-6 && em <= 1e-6 && ev <= 1e-6, "%s n%zu V%d: param %.2g, exp_avg %.2g, exp_avg_sq %.2g (limit 1e-6)",
          what, n, V, ep, em, ev);
    size_t copy_wrong = 0;
    for (size_t i = 0; i < n; i++) {
        float want = with_copy ? to_f32(from_f32<A>(p[i])) : NAN;
        float got = to_f32(pa[i]);
        copy_wrong += with_copy ? got != want : !std::isnan(got);   /* without a copy: untouched */
    }
    CHECK(copy_wrong == 0, "%s n%zu V%d: %zu elements of the compute copy wrong", what, n, V, copy_wrong);
}

void adamw() {
    check_adamw<__nv_bfloat16, 4>(1000, true, "bf16 copy");
    check_adamw<__nv_bfloat16, 1>(1001, true, "bf16 copy");
    check_adamw<__half, 4>(1000, true, "fp16 copy");
    check_adamw<__half, 1>(999, true, "fp16 copy");
    check_adamw<float, 4>(1000, false, "fp32, no copy");
    check_adamw<float, 1>(1001, false, "fp32, no copy");
}

template <int V> void check_ema_scale(size_t n) {
    std::vector<float> e = Drawn<float>(n, 5, -1, 1).h, p = Drawn<float>(n, 6, -1, 1).h, x = Drawn<float>(n, 7, -2, 2).h;
    const float decay = 0.9999f, s = 0.25f;
    std::vector<double> re(n), rx(n);
    for (size_t i = 0; i < n; i++) {
        re[i] = (double)decay * e[i] + (1.0 - (double)decay) * p[i];
        rx[i] = (double)x[i] * s;
    }
    const EmaOp ema = {e.data(), p.data(), decay, (float)(1.0 - (double)decay)};
    const ScaleOp scale = {x.data(), s};
    simt::launch(GRID, BLOCK, [&] {
        flat_kernel<V, EmaOp>(ema, n / V);
        flat_kernel<V, ScaleOp>(scale, n / V);
    });
    double ee = normwise(e, re), ex = normwise(x, rx);
    CHECK(ee <= 1e-6 && ex <= 1e-6, "n%zu V%d: ema %.2g, scale %.2g (limit 1e-6)", n, V, ee, ex);
}

void ema_and_scale() {
    check_ema_scale<4>(1000);
    check_ema_scale<1>(1001);
}

void sum_of_squares() {
    for (size_t n : {1, 255, 5000}) {
        std::vector<float> x = Drawn<float>(n, 8 + n, -3, 3).h;
        std::vector<double> partials(SUMSQ_BLOCKS + 1, NAN);
        double want = 0.0;
        for (float v : x) want += (double)v * v;
        const unsigned blocks = n < 1000 ? 1 : 3;
        simt::launch(SimtDim{blocks, 1, 1}, BLOCK, [&] { sum_squares_partial_kernel(partials.data(), x.data(), n); });
        simt::launch(SimtDim{1, 1, 1}, BLOCK, [&] { sum_squares_final_kernel(partials.data(), (int)blocks); });
        double got = partials[SUMSQ_BLOCKS];
        CHECK(fabs(got - want) <= 1e-12 * want, "n%zu: %.17g vs %.17g", n, got, want);
    }
}

}   // namespace

int main() {
    RUN_IN_BOTH_ORDERS(adamw);
    RUN_IN_BOTH_ORDERS(ema_and_scale);
    RUN_IN_BOTH_ORDERS(sum_of_squares);
    return test_summary();
}
