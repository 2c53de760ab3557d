/* Helpers shared by the CPU backend's op tests (tests/unit/test_cpu_*.c): random inputs in
 * backend memory, the relative-error metric of the golden README (max |a - ref| / max |ref|),
 * and central finite differences of a naive float64 forward written in the test.
 *
 * The backward checks all follow one pattern: the naive forward defines a scalar
 * s = sum(out * wts) for random weights wts; the op's backward is run with dout = wts; its
 * gradient must match ds/dinput by central differences of the naive forward. */
#ifndef MASKDIT_CPU_OP_CHECK_H
#define MASKDIT_CPU_OP_CHECK_H

#include <string.h>

#include "../../src/backend/backend.h"
#include "../../src/util/rng.h"
#include "test.h"

#define FWD_TOL 1e-5   /* forward ops vs float64 (README §5) */
#define BWD_TOL 1e-4   /* gradients vs float64 finite differences */

static Backend *be;
static Rng test_rng;

static inline void check_setup(uint32_t test_id) {
    be = backend_cpu_create(2);
    test_rng = rng_stream(1234, RNG_TEST, test_id, 0);
}

/* n standard normals times scale, in host memory (malloc'd). */
static inline float *host_randn(size_t n, double scale) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(&test_rng));
    return x;
}

static inline double *to_f64(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* A backend buffer holding a copy of host[0..n). */
static inline float *dev_from(const float *host, size_t n) {
    float *d = be->alloc(be, n * sizeof *d, "test buffer");
    be->to_device(be, d, host, n * sizeof *d);
    return d;
}

/* A backend buffer of n normals times scale. */
static inline float *dev_randn(size_t n, double scale) {
    float *h = host_randn(n, scale);
    float *d = dev_from(h, n);
    free(h);
    return d;
}

/* A host copy of a backend buffer (malloc'd). */
static inline float *host_of(const float *dev, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    be->to_host(be, h, dev, n * sizeof *h);
    return h;
}

/* max |a - ref| / max |ref| */
static inline double rel_error(const float *a, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs(a[i] - ref[i]));
        den = fmax(den, fabs(ref[i]));
    }
    return den > 0 ? num / den : num;
}

/* max |a - ref| / max(1, |ref|) element by element: for values of very different magnitudes. */
static inline double elementwise_error(const float *a, const double *ref, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(a[i] - ref[i]) / fmax(1.0, fabs(ref[i])));
    return worst;
}

/* The same metric over `rows` rows of `width` values, the rows `stride` apart in both a and ref
 * (one chunk of a strided row, e.g. the shift chunk of adaLN's (N, 6W) output). */
static inline double rel_error_rows(const float *a, const double *ref, int rows, int width, int stride) {
    double num = 0, den = 0;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < width; j++) {
            size_t i = (size_t)r * stride + j;
            num = fmax(num, fabs(a[i] - ref[i]));
            den = fmax(den, fabs(ref[i]));
        }
    return den > 0 ? num / den : num;
}

typedef double (*Objective)(void *ctx);

/* ds/dx[i] by central differences for every i < n (x is perturbed in place and restored). */
static inline double *fd_gradient(Objective f, void *ctx, double *x, size_t n) {
    const double h = 1e-5;
    double *g = malloc((n ? n : 1) * sizeof *g);
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double up = f(ctx);
        x[i] = keep - h;
        double down = f(ctx);
        x[i] = keep;
        g[i] = (up - down) / (2 * h);
    }
    return g;
}

/* Compare an op's gradient (host copy of n floats, minus `base` if not NULL: for accumulating
 * outputs) with the finite differences of f with respect to x. */
static inline double fd_error(Objective f, void *ctx, double *x, const float *grad, const float *base, size_t n) {
    double *fd = fd_gradient(f, ctx, x, n);
    float *g = malloc((n ? n : 1) * sizeof *g);
    for (size_t i = 0; i < n; i++) g[i] = base ? grad[i] - base[i] : grad[i];
    double e = rel_error(g, fd, n);
    free(fd);
    free(g);
    return e;
}

/* For shapes too large for element-wise differences: the derivative along one random direction
 * v, (s(x + h v) - s(x - h v)) / 2h, against grad . v; returns their relative difference. */
static inline double fd_directional_error(Objective f, void *ctx, double *x, const float *grad, size_t n) {
    const double h = 1e-5;
    double *keep = malloc(n * sizeof *keep), *v = malloc(n * sizeof *v), analytic = 0;
    for (size_t i = 0; i < n; i++) {
        keep[i] = x[i];
        v[i] = rng_normal(&test_rng);
        analytic += grad[i] * v[i];
    }
    for (size_t i = 0; i < n; i++) x[i] = keep[i] + h * v[i];
    double up = f(ctx);
    for (size_t i = 0; i < n; i++) x[i] = keep[i] - h * v[i];
    double down = f(ctx);
    memcpy(x, keep, n * sizeof *x);
    double fd = (up - down) / (2 * h);
    free(keep);
    free(v);
    return fabs(analytic - fd) / fmax(fabs(fd), 1e-30);
}

/* sum(a * w) */
static inline double dot_f64(const double *a, const double *w, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * w[i];
    return s;
}

/* Defines `static double name(void *ctx)`, the objective sum(out * ctx->wts) of a naive forward
 * naive(ctx, out) that writes `count` values (count may use the context as `c`). */
#define WEIGHTED_SUM_OBJECTIVE(name, CtxType, naive, count) \
    static double name(void *p) {                           \
        CtxType *c = p;                                     \
        size_t n_ = (count);                                \
        double *out_ = malloc(n_ * sizeof *out_);           \
        naive(c, out_);                                     \
        double s_ = dot_f64(out_, c->wts, n_);              \
        free(out_);                                         \
        return s_;                                          \
    }

#endif
