/* The pooling kernel of cuda/pool_kernels.cuh, run on the CPU by tests/simt/simt.h against float64
 * from the same rounded inputs, in fp32, bf16 and fp16, for the Inception network's poolings: 3x3
 * stride 2 max, 3x3 stride 1 padding 1 average (padding not counted) and max, the global average.
 * POOL_THREADS per block as cuda/pool.cu launches it but at most 2 blocks, so that threads run the
 * grid-stride loop several times. Inputs are all negative, so a padding taken as 0 would win a max;
 * outputs start as NaN, so a value left unwritten fails. Limits: act_limit (reference.h). */
#include "simt.h"

#include "../../cuda/pool_kernels.cuh"
#include "../unit/test.h"
#include "reference.h"

#include <vector>

namespace {

template <typename T> void check_pool(Pool2dShape s, const char *what) {
    const int Ho = pool2d_out(&s, s.H), Wo = pool2d_out(&s, s.W);
    const size_t n_in = (size_t)s.N * s.C * s.H * s.W, total = (size_t)s.N * s.C * Ho * Wo;
    Drawn<T> x(n_in, 61 + s.k, -3, -0.5);
    std::vector<double> ref(total);
    for (size_t i = 0; i < total; i++) {
        const int ox = (int)(i % Wo), oy = (int)(i / Wo % Ho);
        const size_t plane = i / ((size_t)Wo * Ho);
        double acc = s.is_max ? -INFINITY : 0;
        int count = 0;
        for (int r = 0; r < s.k; r++)
            for (int c = 0; c < s.k; c++) {
                const int iy = oy * s.stride + r - s.pad, ix = ox * s.stride + c - s.pad;
                if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                const double v = x.v[(plane * s.H + iy) * s.W + ix];
                acc = s.is_max ? fmax(acc, v) : acc + v;
                count++;
            }
        ref[i] = s.is_max ? acc : acc / count;
    }
    std::vector<T> out(total, from_f32<T>(NAN));
    const unsigned blocks = (unsigned)std::min<size_t>(2, (total + POOL_THREADS - 1) / POOL_THREADS);
    simt::launch(SimtDim{blocks, 1, 1}, SimtDim{POOL_THREADS, 1, 1},
                 [&] { pool2d_kernel<T>(out.data(), x.h.data(), s, Ho, Wo, total); });
    const double e = normwise(out, ref), limit = act_limit<T>();
    CHECK(e <= limit, "%s %s: rel %.3g (limit %g)", type_name<T>(), what, e, limit);
}

template <typename T> void check_all() {
    check_pool<T>(Pool2dShape{2, 3, 9, 8, 3, 2, 0, 1}, "max 3x3 stride 2");
    check_pool<T>(Pool2dShape{2, 3, 7, 6, 3, 1, 1, 0}, "average 3x3 stride 1 padding 1");
    check_pool<T>(Pool2dShape{1, 4, 5, 5, 3, 1, 1, 1}, "max 3x3 stride 1 padding 1");
    check_pool<T>(Pool2dShape{3, 5, 8, 8, 8, 1, 0, 0}, "global average 8x8");
}

void pool2d() {
    check_all<float>();
    check_all<__nv_bfloat16>();
    check_all<__half>();
}

}   // namespace

int main() {
    RUN(pool2d);
    return test_summary();
}
