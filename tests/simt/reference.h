/* What the tests/simt tests share: inputs of a given type drawn from a uniform range (with their
 * exact float64 values, from which the references are computed), the normwise relative error of
 * a kernel's output and its limits, as tests/gpu/check_ops.c measures and justifies them, and
 * running a case under both of simt.h's schedules. Include after simt.h. */
#ifndef MASKDIT_TESTS_SIMT_REFERENCE_H
#define MASKDIT_TESTS_SIMT_REFERENCE_H

#include <math.h>
#include <stdint.h>

#include <type_traits>
#include <vector>

#include "../../cuda/device_math.cuh"
#include "../unit/test.h"

/* n values of type T (float, __nv_bfloat16, __half) rounded from uniform [lo, hi) (xorshift
 * seeded by seed), and their float64 values. */
template <typename T> struct Drawn {
    std::vector<T> h;
    std::vector<double> v;
    Drawn(size_t n, uint64_t seed, double lo, double hi) : h(n), v(n) {
        uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            h[i] = from_f32<T>((float)(lo + (s >> 11) * 0x1.0p-53 * (hi - lo)));
            v[i] = (double)to_f32(h[i]);
        }
    }
};

/* ||got - ref|| / ||ref|| (2-norms); infinite when got holds a NaN or Inf. */
template <typename T> double normwise(const std::vector<T> &got, const std::vector<double> &ref) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < ref.size(); i++) {
        double x = (double)to_f32(got[i]);
        if (!isfinite(x)) return INFINITY;
        num += (x - ref[i]) * (x - ref[i]);
        den += ref[i] * ref[i];
    }
    return sqrt(num / den);
}

/* check_ops' limits of that error: outputs in the act type T (fp32 1e-5; rounded to bf16 1e-2, to
 * fp16 5e-3), and fp32 outputs of a run in T (1e-5 in fp32 runs, 1e-4 in bf16/fp16 runs). */
template <typename T> double act_limit() { return sizeof(T) == 4 ? 1e-5 : std::is_same<T, __half>::value ? 5e-3 : 1e-2; }
template <typename T> double f32_limit() { return sizeof(T) == 4 ? 1e-5 : 1e-4; }

template <typename T> const char *type_name() {
    return sizeof(T) == 4 ? "fp32" : std::is_same<T, __half>::value ? "fp16" : "bf16";
}

/* A test case as two: NAME with the lowest-numbered thread always running first, NAME_highest_first
 * the other way round. A missing barrier shows only when the writing thread runs before the
 * reading one, which depends on which of the two is numbered lower. */
inline void run_in_both_orders(const char *name, void (*fn)()) {
    char other[128];
    snprintf(other, sizeof other, "%s_highest_first", name);
    simt::schedule = simt::LOWEST_FIRST;
    test_run(name, fn);
    simt::schedule = simt::HIGHEST_FIRST;
    test_run(other, fn);
    simt::schedule = simt::LOWEST_FIRST;
}
#define RUN_IN_BOTH_ORDERS(fn) run_in_both_orders(#fn, fn)

#endif
