/* CPU backend: multi-head self-attention against a naive float64 implementation (output and the
 * saved probabilities, f32 [N,H,T,T] at the start of the saved buffer), and its backward pass
 * against finite differences. */
#include "cpu_op_check.h"

typedef struct {
    int N, T, E, H;
    double *qkv, *wts;
} AttnCtx;

/* out[n,t,h*hd+d] = sum_j softmax_j(q_t . k_j / sqrt(hd)) v_j[d]; probs (optional) [N,H,T,T]. */
static void naive_attention(const AttnCtx *c, double *out, double *probs) {
    const int T = c->T, E = c->E, hd = E / c->H;
    double *s = malloc(T * sizeof *s);
    for (int n = 0; n < c->N; n++)
        for (int h = 0; h < c->H; h++)
            for (int i = 0; i < T; i++) {
                const double *q = c->qkv + ((size_t)n * T + i) * 3 * E + h * hd;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    const double *k = c->qkv + ((size_t)n * T + j) * 3 * E + E + h * hd;
                    s[j] = 0;
                    for (int d = 0; d < hd; d++) s[j] += q[d] * k[d];
                    s[j] /= sqrt((double)hd);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < T; j++) sum += (s[j] = exp(s[j] - mx));
                for (int j = 0; j < T; j++) s[j] /= sum;
                if (probs)
                    for (int j = 0; j < T; j++) probs[(((size_t)n * c->H + h) * T + i) * T + j] = s[j];
                for (int d = 0; d < hd; d++) {
                    double o = 0;
                    for (int j = 0; j < T; j++) o += s[j] * c->qkv[((size_t)n * T + j) * 3 * E + 2 * E + h * hd + d];
                    out[((size_t)n * T + i) * E + h * hd + d] = o;
                }
            }
    free(s);
}

static void naive_attention_out(const AttnCtx *c, double *out) { naive_attention(c, out, NULL); }
WEIGHTED_SUM_OBJECTIVE(attention_objective, AttnCtx, naive_attention_out, (size_t)c->N * c->T * c->E)

/* Forward and backward on one shape; elementwise = 1 checks every gradient entry by finite
 * differences, 0 checks the derivative along random directions (larger shapes). */
static void check_attention(int N, int T, int E, int H, int elementwise) {
    const size_t nqkv = (size_t)N * T * 3 * E, nout = (size_t)N * T * E, nprob = (size_t)N * H * T * T;
    CHECK(be->attention_saved_bytes(be, N, T, E, H) >= nprob * sizeof(float), "saved bytes: probabilities f32 first");
    float *qkv = host_randn(nqkv, 1);
    float *d_qkv = dev_from(qkv, nqkv), *d_out = dev_randn(nout, 1);
    float *d_saved = be->alloc(be, be->attention_saved_bytes(be, N, T, E, H), "saved");
    be->attention(be, d_out, d_saved, d_qkv, N, T, E, H);
    float *out = host_of(d_out, nout), *probs = host_of(d_saved, nprob);
    AttnCtx c = {N, T, E, H, to_f64(qkv, nqkv), NULL};
    double *ref = malloc(nout * sizeof *ref), *ref_probs = malloc(nprob * sizeof *ref_probs), e;
    naive_attention(&c, ref, ref_probs);
    CHECK((e = rel_error(out, ref, nout)) <= FWD_TOL, "attention N=%d T=%d E=%d H=%d: rel error %g", N, T, E, H, e);
    CHECK((e = rel_error(probs, ref_probs, nprob)) <= FWD_TOL, "probabilities: rel error %g", e);

    float *wts = host_randn(nout, 1);
    float *d_dout = dev_from(wts, nout), *d_dqkv = dev_randn(nqkv, 100);   /* garbage: must be overwritten */
    void *scratch = be->alloc(be, be->attention_scratch_bytes(be, N, T, E, H), "scratch");
    be->attention_backward(be, d_dqkv, scratch, d_dout, d_qkv, d_out, d_saved, N, T, E, H);
    float *dqkv = host_of(d_dqkv, nqkv);
    c.wts = to_f64(wts, nout);
    if (elementwise) e = fd_error(attention_objective, &c, c.qkv, dqkv, NULL, nqkv);
    else e = fd_directional_error(attention_objective, &c, c.qkv, dqkv, nqkv);
    CHECK(e <= BWD_TOL, "dqkv N=%d T=%d E=%d H=%d: %g", N, T, E, H, e);
    free(qkv), free(out), free(probs), free(ref), free(ref_probs), free(wts), free(dqkv), free(c.qkv), free(c.wts);
    be->free(be, d_qkv), be->free(be, d_out), be->free(be, d_saved), be->free(be, d_dout), be->free(be, d_dqkv);
    be->free(be, scratch);
}

static void attention_matches_naive_and_finite_differences(void) { check_attention(2, 5, 12, 2, 1); }

/* More (sample, head) pairs than threads, rows longer than a vector plus a tail. */
static void attention_larger_shape(void) {
    check_attention(3, 37, 40, 5, 0);
    check_attention(2, 64, 64, 4, 0);
}

int main(void) {
    check_setup(3);
    RUN(attention_matches_naive_and_finite_differences);
    RUN(attention_larger_shape);
    be->destroy(be);
    return test_summary();
}
