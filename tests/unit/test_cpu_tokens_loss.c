/* CPU backend: token gather / un-masking with random permutations and the EDM + MAE loss against
 * naive float64 implementations (the loss written from the formulas of the golden README §3),
 * and their backward passes against finite differences. */
#include "cpu_op_check.h"

/* A random permutation of 0..L-1 per sample (ids_shuffle), and its inverse (ids_restore). */
static void random_permutations(int32_t *shuffle, int32_t *restore, int N, int L) {
    for (int n = 0; n < N; n++) {
        int32_t *s = shuffle + (size_t)n * L;
        for (int l = 0; l < L; l++) s[l] = l;
        for (int l = L - 1; l > 0; l--) {
            int r = (int)rng_below(&test_rng, (uint32_t)l + 1);
            int32_t t = s[l];
            s[l] = s[r];
            s[r] = t;
        }
        for (int l = 0; l < L; l++) restore[(size_t)n * L + s[l]] = l;
    }
}

/* ---- gather ---- */

typedef struct {
    int N, L, K, W;
    const int32_t *ids;
    double *in, *wts;
} GatherCtx;

static double gather_objective(void *p) {
    GatherCtx *c = p;
    double s = 0;
    for (int n = 0; n < c->N; n++)
        for (int k = 0; k < c->K; k++)
            for (int j = 0; j < c->W; j++)
                s += c->in[((size_t)n * c->L + c->ids[n * c->K + k]) * c->W + j] *
                     c->wts[((size_t)n * c->K + k) * c->W + j];
    return s;
}

static void gather_tokens_forward_and_backward(void) {
    const int N = 2, L = 7, K = 4, W = 5;
    int32_t shuffle[N * L], restore[N * L], ids_keep[N * K];
    random_permutations(shuffle, restore, N, L);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) ids_keep[n * K + k] = shuffle[n * L + k];
    int32_t *d_ids = be->alloc(be, sizeof ids_keep, "ids");
    be->to_device(be, d_ids, ids_keep, sizeof ids_keep);
    float *in = host_randn(N * L * W, 1);
    float *d_in = dev_from(in, N * L * W), *d_out = dev_randn(N * K * W, 1);
    be->gather_tokens(be, d_out, d_in, d_ids, N, L, K, W);
    float *out = host_of(d_out, N * K * W);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            CHECK(memcmp(out + (n * K + k) * W, in + (n * L + ids_keep[n * K + k]) * W, W * sizeof(float)) == 0,
                  "gathered row n=%d k=%d", n, k);
    float *wts = host_randn(N * K * W, 1);
    float *d_dout = dev_from(wts, N * K * W), *d_din = dev_randn(N * L * W, 1);   /* overwritten */
    be->gather_tokens_backward(be, d_din, d_dout, d_ids, N, L, K, W);
    float *din = host_of(d_din, N * L * W);
    GatherCtx c = {N, L, K, W, ids_keep, to_f64(in, N * L * W), to_f64(wts, N * K * W)};
    double e;
    CHECK((e = fd_error(gather_objective, &c, c.in, din, NULL, N * L * W)) <= BWD_TOL, "din: %g", e);
    free(in), free(out), free(wts), free(din), free(c.in), free(c.wts);
    be->free(be, d_ids), be->free(be, d_in), be->free(be, d_out), be->free(be, d_dout), be->free(be, d_din);
}

/* ---- un-masking ---- */

typedef struct {
    int N, L, K, W;
    const int32_t *restore;
    double *in, *fill, *wts;
} UnmaskCtx;

static void naive_unmask(const UnmaskCtx *c, double *out) {
    for (int n = 0; n < c->N; n++)
        for (int l = 0; l < c->L; l++) {
            int r = c->restore[n * c->L + l];
            for (int j = 0; j < c->W; j++)
                out[((size_t)n * c->L + l) * c->W + j] =
                    r < c->K ? c->in[((size_t)n * c->K + r) * c->W + j] : (c->fill ? c->fill[j] : 0.0);
        }
}

WEIGHTED_SUM_OBJECTIVE(unmask_objective, UnmaskCtx, naive_unmask, (size_t)c->N * c->L * c->W)

static void unmask_tokens_forward_and_backward(void) {
    const int N = 3, L = 8, K = 5, W = 6;
    int32_t shuffle[N * L], restore[N * L];
    random_permutations(shuffle, restore, N, L);
    int32_t *d_restore = be->alloc(be, sizeof restore, "ids_restore");
    be->to_device(be, d_restore, restore, sizeof restore);
    float *in = host_randn(N * K * W, 1), *fill = host_randn(W, 1);
    float *d_in = dev_from(in, N * K * W), *d_fill = dev_from(fill, W), *d_out = dev_randn(N * L * W, 1);
    UnmaskCtx c = {N, L, K, W, restore, to_f64(in, N * K * W), to_f64(fill, W), NULL};
    double ref[N * L * W], e;
    for (int with_fill = 1; with_fill >= 0; with_fill--) {
        be->unmask_tokens(be, d_out, d_in, with_fill ? d_fill : NULL, d_restore, N, L, K, W);
        float *out = host_of(d_out, N * L * W);
        double *keep_fill = c.fill;
        if (!with_fill) c.fill = NULL;
        naive_unmask(&c, ref);
        c.fill = keep_fill;
        CHECK(rel_error(out, ref, N * L * W) == 0, "unmask_tokens (fill %d) must copy rows exactly", with_fill);
        free(out);
    }
    float *wts = host_randn(N * L * W, 1), *base = host_randn(W, 1);
    float *d_dout = dev_from(wts, N * L * W), *d_din = dev_randn(N * K * W, 1), *d_dfill = dev_from(base, W);
    be->unmask_tokens_backward(be, d_din, d_dfill, d_dout, d_restore, N, L, K, W);
    float *din = host_of(d_din, N * K * W), *dfill = host_of(d_dfill, W);
    c.wts = to_f64(wts, N * L * W);
    CHECK((e = fd_error(unmask_objective, &c, c.in, din, NULL, N * K * W)) <= BWD_TOL, "din: %g", e);
    CHECK((e = fd_error(unmask_objective, &c, c.fill, dfill, base, W)) <= BWD_TOL, "dfill: %g", e);
    /* dfill accumulates; din is overwritten; dfill NULL is allowed. */
    be->unmask_tokens_backward(be, d_din, d_dfill, d_dout, d_restore, N, L, K, W);
    be->unmask_tokens_backward(be, d_din, NULL, d_dout, d_restore, N, L, K, W);
    float *din2 = host_of(d_din, N * K * W), *dfill2 = host_of(d_dfill, W);
    CHECK(memcmp(din, din2, sizeof(float) * N * K * W) == 0, "din must be overwritten");
    for (int j = 0; j < W; j++) CHECK_CLOSE(dfill2[j] - base[j], 2.0 * (dfill[j] - base[j]), 1e-5, "dfill accumulates");
    free(in), free(fill), free(wts), free(base), free(din), free(dfill), free(din2), free(dfill2);
    free(c.in), free(c.fill), free(c.wts);
    be->free(be, d_restore), be->free(be, d_in), be->free(be, d_fill), be->free(be, d_out), be->free(be, d_dout);
    be->free(be, d_din), be->free(be, d_dfill);
}

/* ---- EDM + MAE loss ---- */

typedef struct {
    int N, L, P;
    double *F;
    const double *x, *xn, *target, *mask, *c_skip, *c_out, *weight;
    double mae_coef, grad_scale;
} LossCtx;

/* README §3: l[n,l] = mean_P weight (Dx - x)^2; loss_dsm = sum (1-mask) l / sum (1-mask);
 * loss_mae = sum mask mean_P (Dx - t)^2 / sum mask; loss = loss_dsm + coef loss_mae; without a
 * mask loss = mean_l l. */
static void naive_edm_loss(const LossCtx *c, double *loss) {
    for (int n = 0; n < c->N; n++) {
        double dsm_num = 0, dsm_den = 0, mae_num = 0, mae_den = 0;
        for (int l = 0; l < c->L; l++) {
            double per_patch = 0, mae_patch = 0;
            for (int p = 0; p < c->P; p++) {
                size_t i = ((size_t)n * c->L + l) * c->P + p;
                double Dx = c->c_skip[n] * c->xn[i] + c->c_out[n] * c->F[i];
                per_patch += c->weight[n] * (Dx - c->x[i]) * (Dx - c->x[i]) / c->P;
                if (c->target) mae_patch += (Dx - c->target[i]) * (Dx - c->target[i]) / c->P;
            }
            double m = c->mask ? c->mask[n * c->L + l] : 0.0;
            dsm_num += (1 - m) * per_patch;
            dsm_den += 1 - m;
            mae_num += m * mae_patch;
            mae_den += m;
        }
        loss[n] = dsm_num / dsm_den + (c->target && c->mae_coef > 0 ? c->mae_coef * mae_num / mae_den : 0.0);
    }
}

static double loss_objective(void *p) {
    LossCtx *c = p;
    double loss[16], s = 0;
    naive_edm_loss(c, loss);
    for (int n = 0; n < c->N; n++) s += loss[n];
    return c->grad_scale * s;
}

static void check_edm_loss(int with_mask, int with_target, float mae_coef) {
    const int N = 3, L = 6, P = 4, n = N * L * P;
    float *F = host_randn(n, 1), *x = host_randn(n, 1), *xn = host_randn(n, 1.5), *t = host_randn(n, 1);
    float mask[N * L], c_skip[N], c_out[N], weight[N];
    for (int i = 0; i < N * L; i++) mask[i] = (float)((i * 7 + i / L) % 3 == 0);   /* both kinds in every row */
    for (int i = 0; i < N; i++) {
        c_skip[i] = (float)(0.2 + 0.3 * i);
        c_out[i] = (float)(0.9 - 0.2 * i);
        weight[i] = (float)(1.5 + i);
    }
    float *d_F = dev_from(F, n), *d_x = dev_from(x, n), *d_xn = dev_from(xn, n), *d_t = dev_from(t, n);
    float *d_mask = dev_from(mask, N * L), *d_cs = dev_from(c_skip, N), *d_co = dev_from(c_out, N);
    float *d_w = dev_from(weight, N), *d_loss = dev_randn(N, 1), *d_dF = dev_randn(n, 1);
    const float grad_scale = 0.37f;
    be->edm_loss(be, d_loss, d_dF, d_F, d_x, d_xn, with_target ? d_t : NULL, with_mask ? d_mask : NULL, d_cs, d_co,
                 d_w, N, L, P, mae_coef, grad_scale);
    float *loss = host_of(d_loss, N), *dF = host_of(d_dF, n);
    double *Fd = to_f64(F, n), *xd = to_f64(x, n), *xnd = to_f64(xn, n), *td = to_f64(t, n);
    double *maskd = to_f64(mask, N * L), *csd = to_f64(c_skip, N), *cod = to_f64(c_out, N), *wd = to_f64(weight, N);
    LossCtx c = {N, L, P, Fd, xd, xnd, with_target ? td : NULL, with_mask ? maskd : NULL, csd, cod, wd, mae_coef,
                 grad_scale};
    double ref[N], e;
    naive_edm_loss(&c, ref);
    CHECK((e = elementwise_error(loss, ref, N)) <= FWD_TOL, "loss (mask %d, target %d, coef %g): %g", with_mask,
          with_target, mae_coef, e);
    CHECK((e = fd_error(loss_objective, &c, c.F, dF, NULL, n)) <= BWD_TOL, "dF (mask %d, target %d, coef %g): %g",
          with_mask, with_target, mae_coef, e);
    /* dF may be NULL: the loss alone. */
    be->edm_loss(be, d_loss, NULL, d_F, d_x, d_xn, with_target ? d_t : NULL, with_mask ? d_mask : NULL, d_cs, d_co,
                 d_w, N, L, P, mae_coef, grad_scale);
    float *loss2 = host_of(d_loss, N);
    CHECK(memcmp(loss, loss2, sizeof(float) * N) == 0, "loss without dF");
    free(F), free(x), free(xn), free(t), free(loss), free(dF), free(loss2), free(Fd), free(xd), free(xnd), free(td);
    free(maskd), free(csd), free(cod), free(wd);
    float *bufs[] = {d_F, d_x, d_xn, d_t, d_mask, d_cs, d_co, d_w, d_loss, d_dF};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->free(be, bufs[i]);
}

static void edm_loss_masked_with_mae(void) {
    check_edm_loss(1, 1, 0.1f);   /* the original coefficient */
    check_edm_loss(1, 1, 2.0f);   /* an MAE term as large as the denoising term */
}
static void edm_loss_masked_without_mae(void) {
    check_edm_loss(1, 1, 0.0f);   /* coefficient 0 */
    check_edm_loss(1, 0, 0.1f);   /* no target */
}
static void edm_loss_unmasked(void) { check_edm_loss(0, 0, 0.0f); }

int main(void) {
    check_setup(4);
    RUN(gather_tokens_forward_and_backward);
    RUN(unmask_tokens_forward_and_backward);
    RUN(edm_loss_masked_with_mae);
    RUN(edm_loss_masked_without_mae);
    RUN(edm_loss_unmasked);
    be->destroy(be);
    return test_summary();
}
