/* Model-level properties beyond golden parity: the inference plan computes exactly what the
 * training plan computes, with less memory; the activation plan does not depend on the order of
 * creation; gradients accumulate over micro-batches; the backward pass reports every gradient to
 * the all-reduce once, top down; an f32 model's compute copy is its parameters. */
#include <string.h>

#include "../../src/model/edm.h"
#include "../../src/util/rng.h"
#include "test.h"

static ModelConfig tiny(void) {
    ModelConfig c = model_config_default();
    c.input_size = 8; c.patch_size = 2; c.in_channels = 4; c.hidden_size = 64; c.depth = 3; c.num_heads = 4;
    c.num_classes = 10; c.decoder_hidden_size = 32; c.decoder_depth = 2; c.decoder_num_heads = 4;
    return c;
}

static Backend *be;

/* Random parameters (every tensor non-zero, unlike the zero-initialised adaLN layers). */
static float *random_params(const ParamTable *t, const ModelConfig *c) {
    float *flat = malloc(t->total * sizeof *flat);
    rng_fill_normal(flat, t->total, 3, RNG_TEST, 1, 0);
    for (size_t i = 0; i < t->total; i++) flat[i] *= 0.1f;
    params_set_pos_embeds(t, c, flat);
    return flat;
}

static void inference_plan_matches_training(void) {
    ModelConfig c = tiny();
    int N = 4, K = c.num_classes;
    Model *train = model_create(&c, be, N, model_num_patches(&c));
    Model *infer = model_create_inference(&c, be, N);
    float *flat = random_params(&train->table, &c);
    model_upload_params(train, flat);
    model_upload_params(infer, flat);
    size_t img = (size_t)N / 2 * c.in_channels * c.input_size * c.input_size;
    double *x = malloc(img * sizeof *x), *d1 = malloc(img * sizeof *d1), *d2 = malloc(img * sizeof *d2);
    float *noise = malloc(img * sizeof *noise), labels[2 * 10] = {0};
    rng_fill_normal(noise, img, 4, RNG_TEST, 2, 0);
    for (size_t i = 0; i < img; i++) x[i] = 3.0 * noise[i];
    labels[3] = labels[K + 7] = 1;
    EdmBatch b1, b2;
    edm_batch_alloc(&b1, &c, N);
    edm_batch_alloc(&b2, &c, N);
    edm_denoise(train, &b1, x, N / 2, 3.0, labels, 1.5, d1);
    edm_denoise(infer, &b2, x, N / 2, 3.0, labels, 1.5, d2);
    CHECK(memcmp(d1, d2, img * sizeof *d1) == 0, "guided denoiser differs between the training and inference plans");
    CHECK(infer->act_bytes < train->act_bytes / 2, "inference plan %zu bytes vs training %zu", infer->act_bytes,
          train->act_bytes);
    CHECK(model_activation_bytes(&c, be, N, model_num_patches(&c), 0) == infer->act_bytes, "planned bytes");
    /* Memory of the inference plan must not grow with depth. */
    ModelConfig deep = c;
    deep.depth = 12;
    CHECK(model_activation_bytes(&deep, be, N, model_num_patches(&c), 0) == infer->act_bytes,
          "inference memory grows with depth");
    edm_batch_free(&b1);
    edm_batch_free(&b2);
    free(x); free(d1); free(d2); free(noise); free(flat);
    model_destroy(train);
    model_destroy(infer);
}

/* A training micro-batch of N random images (labels when the model has classes) with a random
 * mask keeping len_keep of the L patches, prepared by edm_prepare for model_forward and model_loss. */
typedef struct {
    EdmBatch b;
    float *x, *noise, *labels;
    ModelInput in;
    LossInput li;
} TinyBatch;

static void tiny_batch(TinyBatch *t, const ModelConfig *c, int N, int len_keep) {
    int L = model_num_patches(c), K = c->num_classes;
    size_t img = (size_t)N * c->in_channels * c->input_size * c->input_size;
    t->x = malloc(img * sizeof *t->x);
    t->noise = malloc(img * sizeof *t->noise);
    t->labels = K ? calloc((size_t)N * K, sizeof *t->labels) : NULL;
    double *rnd = malloc(N * sizeof *rnd), *u = malloc((size_t)N * L * sizeof *u);
    int32_t *ids = malloc((size_t)N * L * sizeof *ids);
    rng_fill_normal(t->x, img, 5, RNG_TEST, 3, 0);
    rng_fill_normal(t->noise, img, 5, RNG_TEST, 4, 0);
    Rng r = rng_stream(5, RNG_TEST, 5, 0);
    for (int i = 0; i < N * L; i++) u[i] = rng_uniform(&r);
    for (int i = 0; i < N; i++) {
        rnd[i] = 1.4 * i - 0.3;
        if (K) t->labels[(size_t)i * K + (7 * i + 2) % K] = 1;
    }
    mask_from_uniforms(ids, u, N, L);
    edm_batch_alloc(&t->b, c, N);
    edm_prepare(&t->b, c, N, t->x, t->labels, rnd, t->noise, ids, len_keep, &t->in, &t->li);
    free(rnd); free(u); free(ids);
}

static void tiny_batch_free(TinyBatch *t) {
    edm_batch_free(&t->b);
    free(t->x); free(t->noise); free(t->labels);
}

/* Two backward passes of the same batch accumulate exactly twice the gradient of one. */
static void gradients_accumulate(void) {
    ModelConfig c = tiny();
    int N = 3, len_keep = model_len_keep(&c, 0.5);
    Model *m = model_create(&c, be, N, len_keep);
    float *flat = random_params(&m->table, &c);
    model_upload_params(m, flat);
    size_t nt = m->table.n_trainable;
    float loss[3];
    TinyBatch t;
    tiny_batch(&t, &c, N, len_keep);
    float *g1 = malloc(nt * sizeof *g1), *g2 = malloc(nt * sizeof *g2);
    model_zero_grads(m);
    for (int pass = 0; pass < 2; pass++) {
        model_forward(m, &t.in);
        model_loss(m, &t.li, 1.0f / N, loss);
        model_backward(m, NULL, NULL);
        be->to_host(be, pass ? g2 : g1, m->grads, nt * sizeof *g1);
    }
    double worst = 0;
    for (size_t i = 0; i < nt; i++) worst = fmax(worst, fabs(g2[i] - 2.0 * g1[i]) / (fabs(g1[i]) + 1e-6));
    CHECK(worst < 1e-5, "second pass accumulates 2x the gradient (worst rel %g)", worst);
    tiny_batch_free(&t);
    free(g1); free(g2); free(flat);
    model_destroy(m);
}

/* The ranges a backward pass reports to the gradient all-reduce, in the order reported. */
typedef struct {
    size_t lo[256], hi[256];
    int n;
} Reported;

static void record_range(void *ctx, size_t offset, size_t count) {
    Reported *r = ctx;
    if (r->n < 256) {
        r->lo[r->n] = offset;
        r->hi[r->n] = offset + count;
    }
    r->n++;
}

/* The backward pass reports every trainable gradient exactly once, each range below the one before
 * (reverse layer order, so that the all-reduce of the last layers overlaps the rest of the pass):
 * the ranges tile [0, n_trainable). The all-reduces reduce what is left out at the end of the step,
 * but a gap would wait for the whole backward pass. Every model shape: decoder or not, masked or
 * not, conditional or not. */
static void backward_reports_every_gradient_once(void) {
    for (int variant = 0; variant < 4; variant++) {
        ModelConfig c = tiny();
        if (variant == 1) c.use_decoder = 0;
        if (variant == 2) c.num_classes = 0;
        int N = 2, len_keep = variant == 3 ? model_num_patches(&c) : model_len_keep(&c, 0.5);
        Model *m = model_create(&c, be, N, len_keep);
        float *flat = random_params(&m->table, &c), loss[2];
        model_upload_params(m, flat);
        TinyBatch t;
        tiny_batch(&t, &c, N, len_keep);
        model_zero_grads(m);
        model_forward(m, &t.in);
        model_loss(m, &t.li, 1.0f / N, loss);
        Reported r = {.n = 0};
        model_backward(m, record_range, &r);
        CHECK(r.n > 2 && r.n <= 256, "variant %d: %d ranges reported", variant, r.n);
        size_t top = m->table.n_trainable;
        int tiled = r.n <= 256;
        for (int i = 0; i < r.n && i < 256 && tiled; i++) {
            tiled = r.hi[i] == top && r.lo[i] < r.hi[i];
            if (!tiled) printf("    variant %d: range %d is [%zu, %zu), expected one ending at %zu\n", variant, i,
                               r.lo[i], r.hi[i], top);
            top = r.lo[i];
        }
        CHECK(tiled && top == 0, "variant %d: the reported ranges tile [0, %zu) from the top down (down to %zu)",
              variant, m->table.n_trainable, top);
        tiny_batch_free(&t);
        free(flat);
        model_destroy(m);
    }
}

/* With f32 activations the compute copy is the parameters themselves: no second buffer, and nothing
 * for the optimizer step to refresh. */
static void f32_compute_copy_is_params(void) {
    ModelConfig c = tiny();
    Model *m = model_create(&c, be, 2, model_num_patches(&c));
    CHECK(m->wact == (void *)m->params, "the f32 compute copy must be the parameters");
    CHECK(model_params_act(m) == NULL, "an f32 model must give the optimizer no param_act output");
    model_destroy(m);
}

int main(void) {
    be = backend_cpu_create(1);
    RUN(inference_plan_matches_training);
    RUN(gradients_accumulate);
    RUN(backward_reports_every_gradient_once);
    RUN(f32_compute_copy_is_params);
    be->destroy(be);
    return test_summary();
}
