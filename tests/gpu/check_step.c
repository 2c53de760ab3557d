/* check_step: one full masked training step (forward, EDM + MAE loss, backward, AdamW refreshing
 * the compute copy in its own pass, a second forward + loss) of a small MaskDiT on the CUDA
 * backend against the same step on the CPU backend, from the same random parameters and batch.
 * Run on a GPU machine by tests/gpu/run.sh; built everywhere (without a GPU it says so and exits
 * with status 2).
 *
 *   check_step [--precision fp32|bf16|fp16|all] [--seed S]
 *
 * The model has the head widths of the real ones: encoder 288/4 heads (72, as DiT-XL's 1152/16),
 * decoder 128/4 heads (32, as the decoder's 512/16), 3 + 2 blocks, 16x16x4 latents in patches of
 * 2 (64 tokens, 32 kept), 10 classes, batch 6. Every parameter is random and non-zero (the paper's
 * zero init of the adaLN and output layers would make most gradients vanish), as in the golden
 * files. Metrics (normwise relative, per tensor for gradients):
 *   fp32: final_out and loss 1e-5, gradients 1e-4 (the golden README's float32 thresholds),
 *         loss after the step 1e-5.
 *   bf16/fp16: final_out 5e-2, loss 2e-2, gradients 1.5e-1, loss after the step 2e-2: every
 *         activation is rounded to 8 (11) significant bits at each of ~60 ops; these limits are
 *         an order of magnitude above a single rounding's effect (~4e-3) and still far below
 *         what a wrong op gives (rel ~1).
 * The AdamW step uses lr 1e-2, so that it changes the loss visibly: its first update is
 * lr * sign(g) (moments start at zero), and the share of parameters whose update differs from the
 * CPU's by more than lr (a flipped sign: a gradient near zero, e.g. the attention key bias whose
 * gradient is rounding noise; or a missing update) must stay under 1e-3 (fp32) / 5e-2 (bf16, fp16). */
#include <math.h>

#include "../../src/model/edm.h"
#include "../../src/util/rng.h"
#include "gpu_check.h"

typedef struct {
    const char *name;
    DType act;
    double fwd, loss, grad, flips;
} Mode;

static const Mode MODES[] = {
    {"fp32", DTYPE_F32, 1e-5, 1e-5, 1e-4, 1e-3},
    {"bf16", DTYPE_BF16, 5e-2, 2e-2, 1.5e-1, 5e-2},
    {"fp16", DTYPE_F16, 5e-2, 2e-2, 1.5e-1, 5e-2},
};

#define STEP_LR 1e-2f

static int passed, failed;

static void verdict(const char *mode, const char *what, double rel, double limit) {
    int ok = isfinite(rel) && rel <= limit;
    printf("%s %s/step %s rel %.2e (limit %.0e)\n", ok ? "PASS" : "FAIL", mode, what, rel, limit);
    fflush(stdout);
    if (ok) passed++;
    else failed++;
}

static double rel_err(const float *a, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static ModelConfig small_config(void) {
    ModelConfig c = model_config_default();
    c.input_size = 16; c.patch_size = 2; c.in_channels = 4;
    c.hidden_size = 288; c.depth = 3; c.num_heads = 4;
    c.num_classes = 10;
    c.decoder_hidden_size = 128; c.decoder_depth = 2; c.decoder_num_heads = 4;
    return c;
}

/* Random non-zero parameters: weights N(0, 1/fan_in), biases and the rest N(0, 0.1^2), exact
 * position embeddings. */
static void random_params(const ParamTable *t, const ModelConfig *c, uint64_t seed, float *flat) {
    for (int i = 0; i < t->count; i++) {
        const ParamInfo *p = &t->params[i];
        if (!p->trainable) continue;
        double fan_in = 1;
        for (int d = 1; d < p->ndim; d++) fan_in *= (double)p->shape[d];
        float scale = p->ndim >= 2 ? (float)(1.0 / sqrt(fan_in)) : 0.1f;
        rng_fill_normal(flat + p->offset, p->numel, seed, RNG_TEST, (uint32_t)i, 7);
        for (size_t k = 0; k < p->numel; k++) flat[p->offset + k] *= scale;
    }
    params_set_pos_embeds(t, c, flat);
}

typedef struct {
    Backend *be;
    Model *m;
    float *exp_avg, *exp_avg_sq;
    float loss[64], loss2[64];
    float *final_out, *grads, *params;
} Side;

static void run_side(Side *s, const ModelConfig *c, const float *init, EdmBatch *eb, const ModelInput *in,
                     const LossInput *li, int N) {
    Backend *be = s->be;
    Model *m = s->m;
    size_t nt = m->table.n_trainable, L = model_num_patches(c), P = model_patch_dim(c);
    model_upload_params(m, init);
    model_zero_grads(m);
    model_forward(m, in);
    model_loss(m, li, 1.0f / N, s->loss);
    s->final_out = xmalloc(N * L * P * sizeof(float), "final_out");
    model_final_out_to_host(m, s->final_out);
    model_backward(m, NULL, NULL);
    s->grads = xmalloc(nt * sizeof(float), "grads");
    be->to_host(be, s->grads, m->grads, nt * sizeof(float));
    s->exp_avg = be->alloc(be, nt * sizeof(float), "exp_avg");
    s->exp_avg_sq = be->alloc(be, nt * sizeof(float), "exp_avg_sq");
    be->zero(be, s->exp_avg, nt * sizeof(float));
    be->zero(be, s->exp_avg_sq, nt * sizeof(float));
    be->adamw(be, m->params, model_params_act(m), m->grads, s->exp_avg, s->exp_avg_sq, nt, STEP_LR, 0.9, 0.999, 1e-8f,
              0.0f, 0.1f, 0.001f, 1.0f);
    s->params = xmalloc(m->table.total * sizeof(float), "params");
    model_download_params(m, s->params);
    model_forward(m, in);
    model_loss(m, li, 0.0f, s->loss2);
}

static void free_side(Side *s) {
    s->be->free(s->be, s->exp_avg);
    s->be->free(s->be, s->exp_avg_sq);
    model_destroy(s->m);
    s->be->destroy(s->be);
    free(s->final_out);
    free(s->grads);
    free(s->params);
}

static void run_mode(const Mode *md, uint64_t seed) {
    ModelConfig c = small_config();
    int N = 6, L = model_num_patches(&c), len_keep = model_len_keep(&c, 0.5), K = c.num_classes;
    char err[512];
    Side g = {.be = backend_cuda_create(0, md->act, 0, err, sizeof err)}, r = {.be = backend_cpu_create(0)};
    if (!g.be) {
        printf("FAIL %s/step create: %s\n", md->name, err);
        failed++;
        r.be->destroy(r.be);
        return;
    }
    g.m = model_create(&c, g.be, N, len_keep);
    r.m = model_create(&c, r.be, N, len_keep);
    float *init = xmalloc(g.m->table.total * sizeof(float), "parameters");
    random_params(&g.m->table, &c, seed, init);

    /* one batch: clean latents, labels (sample 1 dropped), sigma draws, noise, mask */
    size_t img = (size_t)N * c.in_channels * c.input_size * c.input_size;
    float *x = xmalloc(img * sizeof *x, "x"), *noise = xmalloc(img * sizeof *noise, "noise");
    float *labels = xcalloc((size_t)N * K, sizeof *labels, "labels");
    double rnd[64], *u = xmalloc((size_t)N * L * sizeof *u, "u");
    int32_t *ids = xmalloc((size_t)N * L * sizeof *ids, "ids");
    rng_fill_normal(x, img, seed, RNG_TEST, 1000, 0);
    rng_fill_normal(noise, img, seed, RNG_TEST, 1001, 0);
    Rng rr = rng_stream(seed, RNG_TEST, 1002, 0);
    for (int n = 0; n < N; n++) {
        rnd[n] = rng_normal(&rr);
        if (n != 1) labels[(size_t)n * K + rng_below(&rr, (uint32_t)K)] = 1;
        for (int l = 0; l < L; l++) u[(size_t)n * L + l] = rng_uniform(&rr);
    }
    mask_from_uniforms(ids, u, N, L);
    EdmBatch eb;
    edm_batch_alloc(&eb, &c, N);
    ModelInput in;
    LossInput li;
    edm_prepare(&eb, &c, N, x, labels, rnd, noise, ids, len_keep, &in, &li);

    double t0 = now_seconds();
    run_side(&g, &c, init, &eb, &in, &li, N);
    double t1 = now_seconds();
    run_side(&r, &c, init, &eb, &in, &li, N);
    printf("%s/step: GPU %.2f s (first use included), CPU %.2f s\n", md->name, t1 - t0, now_seconds() - t1);

    size_t P = model_patch_dim(&c);
    verdict(md->name, "final_out", rel_err(g.final_out, r.final_out, (size_t)N * L * P), md->fwd);
    verdict(md->name, "loss", rel_err(g.loss, r.loss, N), md->loss);
    const ParamTable *t = &g.m->table;
    double worst = -1;
    const char *worst_name = "";
    for (int i = 0; i < t->count; i++) {
        const ParamInfo *p = &t->params[i];
        if (!p->trainable) continue;
        double e = rel_err(g.grads + p->offset, r.grads + p->offset, p->numel);
        if (!(e <= worst)) {
            worst = e;
            worst_name = p->name;
        }
    }
    char what[160];
    snprintf(what, sizeof what, "grads (worst tensor %s)", worst_name);
    verdict(md->name, what, worst, md->grad);
    size_t flips = 0;
    for (size_t i = 0; i < t->n_trainable; i++)
        if (!(fabs((double)g.params[i] - r.params[i]) <= STEP_LR)) flips++;
    verdict(md->name, "share of AdamW updates unlike the CPU's", (double)flips / t->n_trainable, md->flips);
    verdict(md->name, "loss after the step", rel_err(g.loss2, r.loss2, N), md->loss);

    free_side(&g);
    free_side(&r);
    edm_batch_free(&eb);
    free(init), free(x), free(noise), free(labels), free(u), free(ids);
}

int main(int argc, char **argv) {
    GpuCheck g = gpu_check_start("check_step", "fp32|bf16|fp16", argc, argv);
    for (size_t k = 0; k < ARRAY_LEN(MODES); k++)
        if (gpu_check_selected(&g, MODES[k].name)) run_mode(&MODES[k], g.seed);
    return gpu_check_finish(&g, passed, failed);
}
