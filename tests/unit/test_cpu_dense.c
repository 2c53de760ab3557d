/* CPU backend: linear layers, activations and the position-embedding add against naive float64
 * implementations, and their backward passes against finite differences. */
#include "../../src/cpu/cpu_math.h"
#include "../../src/util/common.h"
#include "cpu_op_check.h"

/* ---- linear ---- */

typedef struct {
    int M, K, N;
    double *in, *W, *bias, *wts;   /* wts [M,N]: weights of the objective sum(out * wts) */
} LinearCtx;

static void naive_linear(const LinearCtx *c, double *out) {
    for (int i = 0; i < c->M; i++)
        for (int j = 0; j < c->N; j++) {
            double s = c->bias ? c->bias[j] : 0;
            for (int k = 0; k < c->K; k++) s += c->in[i * c->K + k] * c->W[j * c->K + k];
            out[i * c->N + j] = s;
        }
}

WEIGHTED_SUM_OBJECTIVE(linear_objective, LinearCtx, naive_linear, (size_t)c->M * c->N)

static void check_linear_forward(int M, int K, int N, int with_bias, float beta) {
    float *in = host_randn((size_t)M * K, 1), *W = host_randn((size_t)N * K, 0.5), *bias = host_randn(N, 0.3);
    float *prev = host_randn((size_t)M * N, 1);
    float *d_in = dev_from(in, (size_t)M * K), *d_W = dev_from(W, (size_t)N * K), *d_b = dev_from(bias, N);
    float *d_out = dev_from(prev, (size_t)M * N);
    be->linear(be, d_out, d_in, d_W, with_bias ? d_b : NULL, M, K, N, beta);
    float *out = host_of(d_out, (size_t)M * N);
    LinearCtx c = {M, K, N, to_f64(in, (size_t)M * K), to_f64(W, (size_t)N * K), with_bias ? to_f64(bias, N) : NULL,
                   NULL};
    double *ref = malloc(sizeof(double) * M * N);
    naive_linear(&c, ref);
    for (int i = 0; i < M * N; i++) ref[i] += beta * prev[i];
    double e = rel_error(out, ref, (size_t)M * N);
    CHECK(e <= FWD_TOL, "linear M=%d K=%d N=%d bias=%d beta=%g: rel error %g", M, K, N, with_bias, beta, e);
    free(in), free(W), free(bias), free(prev), free(out), free(ref), free(c.in), free(c.W), free(c.bias);
    be->free(be, d_in), be->free(be, d_W), be->free(be, d_b), be->free(be, d_out);
}

static void linear_forward_matches_naive(void) {
    check_linear_forward(7, 6, 5, 1, 0.0f);
    check_linear_forward(7, 6, 5, 1, 1.0f);
    check_linear_forward(7, 6, 5, 0, 0.0f);
    check_linear_forward(7, 6, 5, 0, 1.0f);
    check_linear_forward(131, 40, 33, 1, 0.0f);   /* large enough for OpenBLAS to use both threads */
}

static void linear_backward_matches_finite_differences(void) {
    const int M = 7, K = 6, N = 5;
    float *in = host_randn(M * K, 1), *W = host_randn(N * K, 0.5), *bias = host_randn(N, 0.3);
    float *wts = host_randn(M * N, 1), *base_W = host_randn(N * K, 1), *base_b = host_randn(N, 1);
    float *d_in = dev_from(in, M * K), *d_W = dev_from(W, N * K), *d_dout = dev_from(wts, M * N);
    float *d_din = dev_randn(M * K, 1), *d_dW = dev_from(base_W, N * K), *d_db = dev_from(base_b, N);
    be->linear_backward(be, d_din, d_dW, d_db, d_dout, d_in, d_W, M, K, N, 0.0f);
    float *din = host_of(d_din, M * K), *dW = host_of(d_dW, N * K), *db = host_of(d_db, N);
    LinearCtx c = {M, K, N, to_f64(in, M * K), to_f64(W, N * K), to_f64(bias, N), to_f64(wts, M * N)};
    double e;
    CHECK((e = fd_error(linear_objective, &c, c.in, din, NULL, M * K)) <= BWD_TOL, "din: %g", e);
    CHECK((e = fd_error(linear_objective, &c, c.W, dW, base_W, N * K)) <= BWD_TOL, "dW: %g", e);
    CHECK((e = fd_error(linear_objective, &c, c.bias, db, base_b, N)) <= BWD_TOL, "dbias: %g", e);

    /* Second call: dW and dbias accumulate (base + 2 g), din with din_beta 1 adds (2 g). */
    be->linear_backward(be, d_din, d_dW, d_db, d_dout, d_in, d_W, M, K, N, 1.0f);
    float *din2 = host_of(d_din, M * K), *dW2 = host_of(d_dW, N * K), *db2 = host_of(d_db, N);
    for (int i = 0; i < M * K; i++) CHECK_CLOSE(din2[i], 2.0 * din[i], 1e-6, "din with din_beta 1");
    for (int i = 0; i < N * K; i++) CHECK_CLOSE(dW2[i] - base_W[i], 2.0 * (dW[i] - base_W[i]), 1e-5, "dW accumulates");
    for (int i = 0; i < N; i++) CHECK_CLOSE(db2[i] - base_b[i], 2.0 * (db[i] - base_b[i]), 1e-5, "dbias accumulates");

    /* NULL outputs are skipped: only din is written. */
    be->linear_backward(be, d_din, NULL, NULL, d_dout, d_in, d_W, M, K, N, 0.0f);
    float *din3 = host_of(d_din, M * K), *dW3 = host_of(d_dW, N * K);
    for (int i = 0; i < M * K; i++) CHECK_CLOSE(din3[i], din[i], 1e-6, "din alone");
    CHECK(memcmp(dW3, dW2, sizeof(float) * N * K) == 0, "dW must be untouched when NULL is passed for it");
    free(in), free(W), free(bias), free(wts), free(base_W), free(base_b), free(din), free(dW), free(db);
    free(din2), free(dW2), free(db2), free(din3), free(dW3), free(c.in), free(c.W), free(c.bias), free(c.wts);
    be->free(be, d_in), be->free(be, d_W), be->free(be, d_dout), be->free(be, d_din), be->free(be, d_dW);
    be->free(be, d_db);
}

/* ---- activations ---- */

static double naive_silu(double x) { return x / (1 + exp(-x)); }
static double naive_gelu(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

typedef struct {
    double (*fn)(double);
    double *x, *wts;
    size_t n;
} ActCtx;

static double activation_objective(void *p) {
    ActCtx *c = p;
    double s = 0;
    for (size_t i = 0; i < c->n; i++) s += c->fn(c->x[i]) * c->wts[i];
    return s;
}

typedef void (*ActFwd)(Backend *, void *, const void *, size_t);
typedef void (*ActBwd)(Backend *, void *, const void *, const void *, size_t);

static void check_activation(const char *name, ActFwd fwd, ActBwd bwd, double (*naive)(double)) {
    /* Inputs over the whole useful range, including the saturated tails. */
    const size_t n = 203;
    float *x = host_randn(n, 3);
    x[0] = -30, x[1] = 30, x[2] = -100, x[3] = 100, x[4] = 0;
    float *d_x = dev_from(x, n), *d_y = dev_randn(n, 1);
    fwd(be, d_y, d_x, n);
    float *y = host_of(d_y, n);
    double *ref = malloc(n * sizeof *ref);
    for (size_t i = 0; i < n; i++) ref[i] = naive(x[i]);
    double e = elementwise_error(y, ref, n);
    CHECK(e <= 1e-6, "%s forward: error %g", name, e);

    /* Backward over the first 64 inputs (the tails included): overwrites din. */
    const size_t nb = 64;
    float *wts = host_randn(nb, 1);
    float *d_w = dev_from(wts, nb), *d_dx = dev_randn(nb, 5);
    bwd(be, d_dx, d_w, d_x, nb);
    float *dx = host_of(d_dx, nb);
    ActCtx c = {naive, to_f64(x, nb), to_f64(wts, nb), nb};
    CHECK((e = fd_error(activation_objective, &c, c.x, dx, NULL, nb)) <= BWD_TOL, "%s backward: %g", name, e);

    /* NaN propagates through the forward. */
    float nan_in = NAN, *d_nan = dev_from(&nan_in, 1);
    fwd(be, d_nan, d_nan, 1);
    float nan_out;
    be->to_host(be, &nan_out, d_nan, sizeof nan_out);
    CHECK(isnan(nan_out), "%s(NaN) = %g", name, nan_out);
    free(x), free(y), free(ref), free(wts), free(dx), free(c.x), free(c.wts);
    be->free(be, d_x), be->free(be, d_y), be->free(be, d_w), be->free(be, d_dx), be->free(be, d_nan);
}

static void silu_matches_naive_and_finite_differences(void) {
    check_activation("silu", be->silu, be->silu_backward, naive_silu);
}

static void gelu_matches_naive_and_finite_differences(void) {
    check_activation("gelu", be->gelu, be->gelu_backward, naive_gelu);
}

/* ---- the MLP ops: linear + GELU ---- */

/* linear_gelu against float64: pre = in W^T (+ bias) and act = gelu(pre). (Its backward,
 * gelu_linear_backward, is checked against finite differences below.) */
static void linear_gelu_matches_naive(void) {
    const int M = 37, K = 24, N = 40;
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        float *in = host_randn((size_t)M * K, 1), *W = host_randn((size_t)N * K, 0.4), *b = host_randn(N, 0.5);
        double *pre_ref = malloc((size_t)M * N * sizeof *pre_ref), *act_ref = malloc((size_t)M * N * sizeof *act_ref);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = with_bias ? b[j] : 0;
                for (int k = 0; k < K; k++) acc += (double)in[i * K + k] * W[j * K + k];
                pre_ref[i * N + j] = acc;
                act_ref[i * N + j] = naive_gelu(acc);
            }
        float *d_in = dev_from(in, (size_t)M * K), *d_W = dev_from(W, (size_t)N * K), *d_b = dev_from(b, N);
        float *d_act = dev_randn((size_t)M * N, 1), *d_pre = dev_randn((size_t)M * N, 1);
        be->linear_gelu(be, d_act, d_pre, d_in, d_W, with_bias ? d_b : NULL, M, K, N);
        float *act = host_of(d_act, (size_t)M * N), *pre = host_of(d_pre, (size_t)M * N);
        double e_pre = rel_error(pre, pre_ref, (size_t)M * N), e_act = rel_error(act, act_ref, (size_t)M * N);
        CHECK(e_pre <= FWD_TOL, "pre (bias %d): relative error %.3g", with_bias, e_pre);
        CHECK(e_act <= FWD_TOL, "act (bias %d): relative error %.3g", with_bias, e_act);
        free(in), free(W), free(b), free(pre_ref), free(act_ref), free(act), free(pre);
        float *bufs[] = {d_in, d_W, d_b, d_act, d_pre};
        for (size_t i = 0; i < ARRAY_LEN(bufs); i++) be->free(be, bufs[i]);
    }
}

/* s = sum(out * wts), out = gelu(pre) W^T + bias: the layer gelu_linear_backward differentiates. */
typedef struct {
    int M, K, N;
    double *pre, *W, *bias, *wts;
} GeluLinearCtx;

static double gelu_linear_objective(void *p) {
    GeluLinearCtx *c = p;
    double s = 0;
    for (int i = 0; i < c->M; i++)
        for (int j = 0; j < c->N; j++) {
            double o = c->bias[j];
            for (int k = 0; k < c->K; k++) o += naive_gelu(c->pre[i * c->K + k]) * c->W[j * c->K + k];
            s += o * c->wts[i * c->N + j];
        }
    return s;
}

static void gelu_linear_backward_matches_finite_differences(void) {
    const int M = 7, K = 6, N = 5;
    float *pre = host_randn(M * K, 2), *W = host_randn(N * K, 0.5), *bias = host_randn(N, 0.3);
    float *wts = host_randn(M * N, 1), *base_W = host_randn(N * K, 1), *base_b = host_randn(N, 1);
    float *d_pre = dev_from(pre, M * K), *d_W = dev_from(W, N * K), *d_dout = dev_from(wts, M * N);
    float *d_act = dev_randn(M * K, 1), *d_dpre = dev_randn(M * K, 1);
    float *d_dW = dev_from(base_W, N * K), *d_db = dev_from(base_b, N);
    be->gelu(be, d_act, d_pre, M * K);
    be->gelu_linear_backward(be, d_dpre, d_dW, d_db, d_dout, d_act, d_pre, d_W, M, K, N);
    float *dpre = host_of(d_dpre, M * K), *dW = host_of(d_dW, N * K), *db = host_of(d_db, N);
    GeluLinearCtx c = {M, K, N, to_f64(pre, M * K), to_f64(W, N * K), to_f64(bias, N), to_f64(wts, M * N)};
    double e;
    CHECK((e = fd_error(gelu_linear_objective, &c, c.pre, dpre, NULL, M * K)) <= BWD_TOL, "dpre: %g", e);
    CHECK((e = fd_error(gelu_linear_objective, &c, c.W, dW, base_W, N * K)) <= BWD_TOL, "dW: %g", e);
    CHECK((e = fd_error(gelu_linear_objective, &c, c.bias, db, base_b, N)) <= BWD_TOL, "dbias: %g", e);
    free(pre), free(W), free(bias), free(wts), free(base_W), free(base_b), free(dpre), free(dW), free(db);
    free(c.pre), free(c.W), free(c.bias), free(c.wts);
    float *bufs[] = {d_pre, d_W, d_dout, d_act, d_dpre, d_dW, d_db};
    for (size_t i = 0; i < ARRAY_LEN(bufs); i++) be->free(be, bufs[i]);
}

/* The vectorisable exp behind SiLU, GELU and softmax: within 3 ulp of exp over its range, 0
 * below it (never a denormal), clamped above it. */
static void fast_exp_is_accurate(void) {
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = (float)(-87.0 + 174.0 * i / 200000.0);
        double ref = exp((double)x);
        worst = fmax(worst, fabs(cpu_expf(x) - ref) / ref);
    }
    CHECK(worst <= 3 * 5.96e-8, "max relative error %g", worst);
    CHECK(cpu_expf(0.0f) == 1.0f, "exp(0) = %.9g", cpu_expf(0.0f));
    CHECK(isnan(cpu_expf(NAN)), "exp(NaN) must be NaN");
    CHECK(cpu_expf(-87.5f) == 0 && cpu_expf(-1000.0f) == 0 && cpu_expf(-INFINITY) == 0, "exp below -87 must be 0");
    CHECK(cpu_expf(-87.0f) > 1e-38f, "exp(-87) = %g", cpu_expf(-87.0f));
    CHECK(cpu_expf(1000.0f) == cpu_expf(87.0f) && cpu_expf(INFINITY) == cpu_expf(87.0f), "exp above 87 is clamped");
}

static void add_rows_matches_naive(void) {
    const int N = 3, T = 5, W = 11;
    float *x = host_randn(N * T * W, 1), *rows = host_randn(T * W, 1);
    float *d_x = dev_from(x, N * T * W), *d_rows = dev_from(rows, T * W);
    be->add_rows(be, d_x, d_rows, N, T, W);
    float *y = host_of(d_x, N * T * W);
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < W; j++) {
                int i = (n * T + t) * W + j;
                CHECK(y[i] == x[i] + rows[t * W + j], "add_rows n=%d t=%d j=%d", n, t, j);
            }
    free(x), free(rows), free(y);
    be->free(be, d_x), be->free(be, d_rows);
}

int main(void) {
    check_setup(1);
    RUN(linear_forward_matches_naive);
    RUN(linear_backward_matches_finite_differences);
    RUN(silu_matches_naive_and_finite_differences);
    RUN(gelu_matches_naive_and_finite_differences);
    RUN(linear_gelu_matches_naive);
    RUN(gelu_linear_backward_matches_finite_differences);
    RUN(fast_exp_is_accurate);
    RUN(add_rows_matches_naive);
    be->destroy(be);
    return test_summary();
}
