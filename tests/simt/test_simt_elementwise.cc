/* The element-wise kernels of cuda/elementwise_kernels.cuh (dtype casts, SiLU, ReLU, GELU and their
 * derivatives, the broadcast row add), run on the CPU by tests/simt/simt.h against float64 from
 * the same rounded inputs, in fp32, bf16 and fp16, in 16-byte packs (4 elements per pack for
 * casts) and element by element, with EW_THREADS per block as cuda/elementwise.cu launches them
 * but at most 2 blocks (the .cu allows 8192), so that every thread runs the grid-stride loop
 * several times; element-by-element sizes are odd. Outputs that a kernel overwrites start as NaN,
 * so an element left unwritten fails. The GPU runs these ops against the CPU backend in
 * tests/gpu/check_ops.c.
 *
 * Limits: casts exact (round to nearest even, computed here from the float64 value); the maps and
 * the row add normwise (||kernel - ref|| / ||ref||) as check_ops': fp32 1e-5, bf16 1e-2, fp16
 * 5e-3 (the output is rounded to the type). */
#include "simt.h"

#include "../../cuda/elementwise_kernels.cuh"
#include "../unit/test.h"
#include "reference.h"

#include <type_traits>
#include <vector>

namespace {

const unsigned MAX_BLOCKS = 2;


/* The launch of cuda/elementwise.cu's grid_for, capped at MAX_BLOCKS. */
SimtDim grid_for(size_t packs) {
    size_t g = (packs + EW_THREADS - 1) / EW_THREADS;
    return SimtDim{(unsigned)std::max<size_t>(1, std::min<size_t>(g, MAX_BLOCKS)), 1, 1};
}
const SimtDim BLOCK = {EW_THREADS, 1, 1};

/* ---- casts ---- */

/* v rounded to nearest even in a binary format of `digits` significant bits whose smallest
 * normal exponent is min_exp (fp32 24, -126; bf16 8, -126; fp16 11, -14): the spacing of the
 * format around v, then an integer multiple of it (nearbyint rounds ties to even). */
template <typename D> double round_to(double v) {
    const int digits = sizeof(D) == 4 ? 24 : std::is_same<D, __half>::value ? 11 : 8;
    const int min_exp = std::is_same<D, __half>::value ? -14 : -126;
    if (v == 0.0) return v;
    int e;
    frexp(v, &e);   /* |v| in [2^(e-1), 2^e) */
    double spacing = ldexp(1.0, std::max(e - 1, min_exp) - (digits - 1));
    return nearbyint(v / spacing) * spacing;
}

/* n values of S over exponents -30 to 9 (fp16's subnormals and underflow among them); every
 * fifth value a tie between two bf16 values, the next a tie between two fp16 values. */
template <typename S> std::vector<S> cast_inputs(size_t n) {
    Drawn<float> u(n, 31, -1, 1);
    std::vector<S> s(n);
    for (size_t i = 0; i < n; i++) {
        float f = ldexpf(u.h[i], (int)(i * 7 % 40) - 30);
        uint32_t bits;
        memcpy(&bits, &f, sizeof bits);
        if (i % 5 == 0) bits = (bits & 0xffff0000u) | 0x8000u;
        if (i % 5 == 1) bits = (bits & ~0x1fffu) | 0x1000u;
        memcpy(&f, &bits, sizeof f);
        s[i] = from_f32<S>(f);
    }
    return s;
}

template <typename D, typename S, int V> void check_cast(size_t n) {
    std::vector<S> src = cast_inputs<S>(n);
    std::vector<D> dst(n, from_f32<D>(NAN));
    simt::launch(grid_for(n / V), BLOCK, [&] { cast_kernel<D, S, V>(dst.data(), src.data(), n / V); });
    size_t wrong = 0;
    double first[3] = {};   /* the first wrong value: source, expected, got */
    for (size_t i = 0; i < n; i++) {
        double from = (double)to_f32(src[i]), want = round_to<D>(from), got = (double)to_f32(dst[i]);
        if (got == want) continue;
        if (wrong++ == 0) first[0] = from, first[1] = want, first[2] = got;
    }
    CHECK(wrong == 0, "%s -> %s V%d n%zu: %zu values wrong, the first %.9g to %.9g instead of %.9g", type_name<S>(),
          type_name<D>(), V, n, wrong, first[0], first[2], first[1]);
}

template <typename D, typename S> void check_cast_pair() {
    check_cast<D, S, 4>(4 * 1300);
    check_cast<D, S, 1>(1301);
}

void cast() {
    check_cast_pair<__nv_bfloat16, float>();
    check_cast_pair<__half, float>();
    check_cast_pair<float, __nv_bfloat16>();
    check_cast_pair<float, __half>();
    check_cast_pair<__half, __nv_bfloat16>();
    check_cast_pair<__nv_bfloat16, __half>();
}

/* ---- SiLU, GELU and their derivatives ---- */

const double K0 = 0.7978845608028654, K1 = 0.044715;   /* sqrt(2 / pi), GELU's cubic coefficient */

double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
double silu(double x) { return x * sigmoid(x); }
double dsilu(double x) { return sigmoid(x) + x * exp(-x) * sigmoid(x) * sigmoid(x); }
double gelu(double x) { return 0.5 * x * (1.0 + tanh(K0 * (x + K1 * x * x * x))); }
double dgelu(double x) {
    double u = K0 * (x + K1 * x * x * x), sech = 1.0 / cosh(u);
    return 0.5 * (1.0 + tanh(u)) + 0.5 * x * sech * sech * K0 * (1.0 + 3.0 * K1 * x * x);
}

/* out = op(a, b) over n elements, V per access; the backward ops also in place (out = a = dout). */
template <typename T, int V> void check_maps(size_t n) {
    Drawn<T> x(n, 41, -6, 6), dout(n, 43, -1, 1);
    std::vector<double> y(n), dy(n), g(n), dg(n);
    for (size_t i = 0; i < n; i++) {
        y[i] = silu(x.v[i]), dy[i] = dout.v[i] * dsilu(x.v[i]);
        g[i] = gelu(x.v[i]), dg[i] = dout.v[i] * dgelu(x.v[i]);
    }
    const size_t packs = n / V;
    const double limit = act_limit<T>();
    auto run = [&](auto op, const T *a, const T *b, const std::vector<double> &ref, const char *what) {
        std::vector<T> out(n, from_f32<T>(NAN));
        simt::launch(grid_for(packs), BLOCK, [&] { map_kernel<T, V>(out.data(), a, b, packs, op); });
        double e = normwise(out, ref);
        CHECK(e <= limit, "%s V%d n%zu: %s rel %.3g (limit %g)", type_name<T>(), V, n, what, e, limit);
        return e;
    };
    double e_silu = run(SiluOp(), x.h.data(), nullptr, y, "silu");
    double e_dsilu = run(SiluBackwardOp(), dout.h.data(), x.h.data(), dy, "silu backward");
    double e_gelu = run(GeluOp(), x.h.data(), nullptr, g, "gelu");
    std::vector<double> r(n);
    for (size_t i = 0; i < n; i++) r[i] = x.v[i] > 0 ? x.v[i] : 0.0;
    run(ReluOp(), x.h.data(), nullptr, r, "relu");
    double e_dgelu = run(GeluBackwardOp(), dout.h.data(), x.h.data(), dg, "gelu backward");
    for (int k = 0; k < 2; k++) {
        std::vector<T> inplace = dout.h;
        simt::launch(grid_for(packs), BLOCK, [&] {
            if (k == 0) map_kernel<T, V>(inplace.data(), inplace.data(), x.h.data(), packs, SiluBackwardOp());
            else map_kernel<T, V>(inplace.data(), inplace.data(), x.h.data(), packs, GeluBackwardOp());
        });
        double e = normwise(inplace, k == 0 ? dy : dg);
        CHECK(e <= limit, "%s V%d n%zu: %s in place rel %.3g (limit %g)", type_name<T>(), V, n,
              k == 0 ? "silu backward" : "gelu backward", e, limit);
    }
    printf("    %s V%-2d n%-6zu silu %.1e  backward %.1e  gelu %.1e  backward %.1e\n", type_name<T>(), V, n, e_silu,
           e_dsilu, e_gelu, e_dgelu);
}

template <typename T> void check_maps_type() {
    constexpr int V = 16 / sizeof(T);
    check_maps<T, V>(8 * 1300);
    check_maps<T, 1>(1301);
}

void silu_gelu() {
    check_maps_type<float>();
    check_maps_type<__nv_bfloat16>();
    check_maps_type<__half>();
}

/* ---- x[n,t,:] += rows[t,:] ---- */

template <typename T, int V> void check_add_rows(int N, int T_, int width) {
    const size_t period = (size_t)T_ * width, n = (size_t)N * period;
    Drawn<T> x(n, 51 + width, -2, 2), rows(period, 53 + width, -2, 2);
    std::vector<double> ref(n);
    for (int s = 0; s < N; s++)
        for (size_t j = 0; j < period; j++) ref[s * period + j] = x.v[s * period + j] + rows.v[j];
    std::vector<T> out = x.h;
    simt::launch(grid_for(n / V), BLOCK, [&] { add_rows_kernel<T, V>(out.data(), rows.h.data(), n / V, period / V); });
    double e = normwise(out, ref);
    CHECK(e <= act_limit<T>(), "%s V%d N%d T%d W%d: rel %.3g (limit %g)", type_name<T>(), V, N, T_, width, e,
          act_limit<T>());
}

template <typename T> void check_add_rows_type() {
    constexpr int V = 16 / sizeof(T);
    check_add_rows<T, V>(16, 16, 24);   /* packs within rows */
    check_add_rows<T, V>(200, 4, 6);    /* packs across rows: the launcher needs only T * width % V == 0 */
    check_add_rows<T, 1>(17, 3, 37);    /* element by element: a period the packs do not divide */
}

void add_rows() {
    check_add_rows_type<float>();
    check_add_rows_type<__nv_bfloat16>();
    check_add_rows_type<__half>();
}

}   // namespace

int main() {
    RUN(cast);
    RUN(silu_gelu);
    RUN(add_rows);
    return test_summary();
}
