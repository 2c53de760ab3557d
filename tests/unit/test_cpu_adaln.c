/* CPU backend: LayerNorm + adaLN modulation and the gated residual against naive float64
 * implementations, with the shift/scale/gate vectors read from chunks at offsets inside a
 * 6W-wide adaLN row; backward passes against finite differences, including which outputs
 * accumulate and which are overwritten. */
#include "cpu_op_check.h"

#define LN_EPS 1e-6f
#define SENTINEL 7.0f   /* dmod entries outside the chunks an op writes must keep this value */

typedef struct {
    int N, T, W, stride, shift_off, scale_off;
    double *x, *mod, *wts;
} LnCtx;

/* out = LN(x) (1 + scale) + shift; also the row statistics. */
static void naive_ln_modulate(const LnCtx *c, double *out, double *mean, double *rstd) {
    for (int n = 0; n < c->N; n++)
        for (int t = 0; t < c->T; t++) {
            const double *x = c->x + ((size_t)n * c->T + t) * c->W;
            double mu = 0, var = 0;
            for (int j = 0; j < c->W; j++) mu += x[j];
            mu /= c->W;
            for (int j = 0; j < c->W; j++) var += (x[j] - mu) * (x[j] - mu);
            var /= c->W;
            double rs = 1 / sqrt(var + LN_EPS);
            if (mean) mean[n * c->T + t] = mu, rstd[n * c->T + t] = rs;
            const double *shift = c->mod + (size_t)n * c->stride + c->shift_off;
            const double *scale = c->mod + (size_t)n * c->stride + c->scale_off;
            for (int j = 0; j < c->W; j++)
                out[((size_t)n * c->T + t) * c->W + j] = (x[j] - mu) * rs * (1 + scale[j]) + shift[j];
        }
}

static void naive_ln_out(const LnCtx *c, double *out) { naive_ln_modulate(c, out, NULL, NULL); }
WEIGHTED_SUM_OBJECTIVE(ln_objective, LnCtx, naive_ln_out, (size_t)c->N * c->T * c->W)

/* Runs layernorm_modulate on random inputs (rows offset from zero, to exercise the variance) and
 * checks it; fills the device buffers the backward test continues with. */
static void check_ln_forward(LnCtx *c, float **x_out, float **mod_out, float **d_x, float **d_mod, float **d_mean,
                             float **d_rstd) {
    size_t rows = (size_t)c->N * c->T, n = rows * c->W, nmod = (size_t)c->N * c->stride;
    float *x = host_randn(n, 1.5), *mod = host_randn(nmod, 0.5);
    for (size_t i = 0; i < n; i++) x[i] += 4.0f;
    *d_x = dev_from(x, n);
    *d_mod = dev_from(mod, nmod);
    *d_mean = dev_randn(rows, 1);
    *d_rstd = dev_randn(rows, 1);
    float *d_out = dev_randn(n, 1);
    be->layernorm_modulate(be, d_out, *d_mean, *d_rstd, *d_x, *d_mod, c->stride, c->shift_off, c->scale_off, c->N,
                           c->T, c->W, LN_EPS);
    float *out = host_of(d_out, n), *mean = host_of(*d_mean, rows), *rstd = host_of(*d_rstd, rows);
    c->x = to_f64(x, n);
    c->mod = to_f64(mod, nmod);
    double *ref = malloc(n * sizeof *ref), *rmean = malloc(rows * sizeof *rmean), *rrstd = malloc(rows * sizeof *rrstd);
    naive_ln_modulate(c, ref, rmean, rrstd);
    double e;
    CHECK((e = rel_error(out, ref, n)) <= FWD_TOL, "LN modulate W=%d: rel error %g", c->W, e);
    CHECK((e = elementwise_error(mean, rmean, rows)) <= 1e-6, "mean: %g", e);
    CHECK((e = rel_error(rstd, rrstd, rows)) <= 1e-6, "rstd: %g", e);
    *x_out = x;
    *mod_out = mod;
    free(out), free(mean), free(rstd), free(ref), free(rmean), free(rrstd);
    be->free(be, d_out);
}

static void layernorm_modulate_forward_and_backward(void) {
    /* shift_mlp and scale_mlp of a (N, 6W) adaLN row */
    const int N = 2, T = 5, W = 12;
    LnCtx c = {N, T, W, 6 * W, 3 * W, 4 * W, NULL, NULL, NULL};
    float *x, *mod, *d_x, *d_mod, *d_mean, *d_rstd;
    check_ln_forward(&c, &x, &mod, &d_x, &d_mod, &d_mean, &d_rstd);
    const size_t n = (size_t)N * T * W, nmod = (size_t)N * c.stride;
    float *wts = host_randn(n, 1), *base = host_randn(n, 1), *sentinel = malloc(nmod * sizeof *sentinel);
    for (size_t i = 0; i < nmod; i++) sentinel[i] = SENTINEL;
    float *d_dout = dev_from(wts, n), *d_dx = dev_from(base, n), *d_dmod = dev_from(sentinel, nmod);
    be->layernorm_modulate_backward(be, d_dx, d_dmod, d_dout, d_x, d_mean, d_rstd, d_mod, c.stride, c.shift_off,
                                    c.scale_off, N, T, W);
    float *dx = host_of(d_dx, n), *dmod = host_of(d_dmod, nmod);
    c.wts = to_f64(wts, n);
    double e;
    CHECK((e = fd_error(ln_objective, &c, c.x, dx, base, n)) <= BWD_TOL, "dx: %g", e);
    double *fd_mod = fd_gradient(ln_objective, &c, c.mod, nmod);
    CHECK((e = rel_error_rows(dmod + c.shift_off, fd_mod + c.shift_off, N, W, c.stride)) <= BWD_TOL, "dshift: %g", e);
    CHECK((e = rel_error_rows(dmod + c.scale_off, fd_mod + c.scale_off, N, W, c.stride)) <= BWD_TOL, "dscale: %g", e);
    for (size_t i = 0; i < nmod; i++) {
        size_t col = i % c.stride;
        int in_chunk = (col >= (size_t)c.shift_off && col < (size_t)c.shift_off + W) ||
                       (col >= (size_t)c.scale_off && col < (size_t)c.scale_off + W);
        if (!in_chunk) CHECK(dmod[i] == SENTINEL, "dmod[%zu] outside the shift/scale chunks was written", i);
    }
    /* Again: dx accumulates (base + 2 g), the dmod chunks are overwritten (same values). */
    be->layernorm_modulate_backward(be, d_dx, d_dmod, d_dout, d_x, d_mean, d_rstd, d_mod, c.stride, c.shift_off,
                                    c.scale_off, N, T, W);
    float *dx2 = host_of(d_dx, n), *dmod2 = host_of(d_dmod, nmod);
    for (size_t i = 0; i < n; i++) CHECK_CLOSE(dx2[i] - base[i], 2.0 * (dx[i] - base[i]), 1e-5, "dx accumulates");
    CHECK(memcmp(dmod, dmod2, nmod * sizeof *dmod) == 0, "dmod chunks must be overwritten, not accumulated");
    free(x), free(mod), free(wts), free(base), free(sentinel), free(dx), free(dmod), free(dx2), free(dmod2);
    free(fd_mod), free(c.x), free(c.mod), free(c.wts);
    be->free(be, d_x), be->free(be, d_mod), be->free(be, d_mean), be->free(be, d_rstd), be->free(be, d_dout);
    be->free(be, d_dx), be->free(be, d_dmod);
}

/* A wider shape (several vectors plus a tail), the decoder layer's (N, 2W) layout. */
static void layernorm_modulate_wide_rows(void) {
    const int N = 3, T = 33, W = 44;
    LnCtx c = {N, T, W, 2 * W, 0, W, NULL, NULL, NULL};
    float *x, *mod, *d_x, *d_mod, *d_mean, *d_rstd;
    check_ln_forward(&c, &x, &mod, &d_x, &d_mod, &d_mean, &d_rstd);
    const size_t n = (size_t)N * T * W, nmod = (size_t)N * c.stride;
    float *wts = host_randn(n, 1);
    float *d_dout = dev_from(wts, n), *d_dx = dev_randn(n, 1), *d_dmod = dev_randn(nmod, 1);
    float *base = host_of(d_dx, n);
    be->layernorm_modulate_backward(be, d_dx, d_dmod, d_dout, d_x, d_mean, d_rstd, d_mod, c.stride, c.shift_off,
                                    c.scale_off, N, T, W);
    float *dx = host_of(d_dx, n), *dmod = host_of(d_dmod, nmod);
    for (size_t i = 0; i < n; i++) dx[i] -= base[i];
    c.wts = to_f64(wts, n);
    double e;
    CHECK((e = fd_directional_error(ln_objective, &c, c.x, dx, n)) <= BWD_TOL, "dx along a direction: %g", e);
    CHECK((e = fd_directional_error(ln_objective, &c, c.mod, dmod, nmod)) <= BWD_TOL, "dmod along a direction: %g", e);
    free(x), free(mod), free(wts), free(base), free(dx), free(dmod), free(c.x), free(c.mod), free(c.wts);
    be->free(be, d_x), be->free(be, d_mod), be->free(be, d_mean), be->free(be, d_rstd), be->free(be, d_dout);
    be->free(be, d_dx), be->free(be, d_dmod);
}

/* ---- gated residual ---- */

typedef struct {
    int N, T, W, stride, gate_off;
    double *x, *y, *mod, *wts;
} GateCtx;

static void naive_gate_residual(const GateCtx *c, double *out) {
    for (int n = 0; n < c->N; n++)
        for (int t = 0; t < c->T; t++)
            for (int j = 0; j < c->W; j++) {
                size_t i = ((size_t)n * c->T + t) * c->W + j;
                out[i] = c->x[i] + c->mod[(size_t)n * c->stride + c->gate_off + j] * c->y[i];
            }
}

WEIGHTED_SUM_OBJECTIVE(gate_objective, GateCtx, naive_gate_residual, (size_t)c->N * c->T * c->W)

static void gate_residual_forward_and_backward(void) {
    const int N = 2, T = 5, W = 12;
    GateCtx c = {N, T, W, 6 * W, 5 * W, NULL, NULL, NULL, NULL};   /* gate_mlp */
    const size_t n = (size_t)N * T * W, nmod = (size_t)N * c.stride;
    float *x = host_randn(n, 1), *y = host_randn(n, 1), *mod = host_randn(nmod, 0.5);
    float *sentinel_out = malloc(n * sizeof *sentinel_out);
    for (size_t i = 0; i < n; i++) sentinel_out[i] = SENTINEL;
    float *d_x = dev_from(x, n), *d_y = dev_from(y, n), *d_mod = dev_from(mod, nmod);
    float *d_out = dev_from(sentinel_out, n);
    be->gate_residual(be, d_out, d_x, d_y, d_mod, c.stride, c.gate_off, N, T, W);
    float *out = host_of(d_out, n), *x_after = host_of(d_x, n);
    c.x = to_f64(x, n), c.y = to_f64(y, n), c.mod = to_f64(mod, nmod);
    double *ref = malloc(n * sizeof *ref), e;
    naive_gate_residual(&c, ref);
    CHECK((e = rel_error(out, ref, n)) <= FWD_TOL, "gate_residual: rel error %g", e);
    CHECK(memcmp(x_after, x, n * sizeof *x) == 0, "gate_residual changed its input x_in");
    /* in place (x_out = x_in): the same values */
    be->gate_residual(be, d_x, d_x, d_y, d_mod, c.stride, c.gate_off, N, T, W);
    float *inplace = host_of(d_x, n);
    CHECK(memcmp(inplace, out, n * sizeof *out) == 0, "in place differs from out of place");

    float *wts = host_randn(n, 1), *sentinel = malloc(nmod * sizeof *sentinel);
    for (size_t i = 0; i < nmod; i++) sentinel[i] = SENTINEL;
    float *d_dx = dev_from(wts, n), *d_dy = dev_randn(n, 1), *d_dmod = dev_from(sentinel, nmod);
    be->gate_residual_backward(be, d_dy, d_dmod, d_dx, d_y, d_mod, c.stride, c.gate_off, N, T, W);
    float *dy = host_of(d_dy, n), *dmod = host_of(d_dmod, nmod), *dx_after = host_of(d_dx, n);
    c.wts = to_f64(wts, n);
    CHECK((e = fd_error(gate_objective, &c, c.y, dy, NULL, n)) <= BWD_TOL, "dy: %g", e);
    double *fd_mod = fd_gradient(gate_objective, &c, c.mod, nmod);
    CHECK((e = rel_error_rows(dmod + c.gate_off, fd_mod + c.gate_off, N, W, c.stride)) <= BWD_TOL, "dgate: %g", e);
    for (size_t i = 0; i < nmod; i++)
        if (i % c.stride < (size_t)c.gate_off) CHECK(dmod[i] == SENTINEL, "dmod[%zu] outside the gate chunk", i);
    CHECK(memcmp(dx_after, wts, n * sizeof *wts) == 0, "the residual gradient must be unchanged");
    /* Overwrites: a second call gives the same dy and dgate. */
    be->gate_residual_backward(be, d_dy, d_dmod, d_dx, d_y, d_mod, c.stride, c.gate_off, N, T, W);
    float *dy2 = host_of(d_dy, n), *dmod2 = host_of(d_dmod, nmod);
    CHECK(memcmp(dy, dy2, n * sizeof *dy) == 0 && memcmp(dmod, dmod2, nmod * sizeof *dmod) == 0,
          "dy and dgate must be overwritten");
    free(x), free(y), free(mod), free(out), free(ref), free(wts), free(sentinel), free(dy), free(dmod);
    free(sentinel_out), free(x_after), free(inplace), be->free(be, d_out);
    free(dx_after), free(fd_mod), free(dy2), free(dmod2), free(c.x), free(c.y), free(c.mod), free(c.wts);
    be->free(be, d_x), be->free(be, d_y), be->free(be, d_mod), be->free(be, d_dx), be->free(be, d_dy);
    be->free(be, d_dmod);
}

int main(void) {
    check_setup(2);
    RUN(layernorm_modulate_forward_and_backward);
    RUN(layernorm_modulate_wide_rows);
    RUN(gate_residual_forward_and_backward);
    be->destroy(be);
    return test_summary();
}
