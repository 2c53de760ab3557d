/* Model-level properties beyond golden parity: the inference plan computes exactly what the
 * training plan computes, with less memory; the activation plan does not depend on the order of
 * creation; gradients accumulate over micro-batches; an f32 model's compute copy is its
 * parameters. */
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

/* Two backward passes of the same batch accumulate exactly twice the gradient of one. */
static void gradients_accumulate(void) {
    ModelConfig c = tiny();
    int N = 3, L = model_num_patches(&c), Lk = model_len_keep(&c, 0.5);
    Model *m = model_create(&c, be, N, Lk);
    float *flat = random_params(&m->table, &c);
    model_upload_params(m, flat);
    size_t img = (size_t)N * c.in_channels * c.input_size * c.input_size, nt = m->table.n_trainable;
    float *x = malloc(img * sizeof *x), *noise = malloc(img * sizeof *noise), labels[3 * 10] = {0}, loss[3];
    double rnd[3] = {-0.3, 0.4, 1.1}, u[3 * 16];
    int32_t ids[3 * 16];
    rng_fill_normal(x, img, 5, RNG_TEST, 3, 0);
    rng_fill_normal(noise, img, 5, RNG_TEST, 4, 0);
    Rng r = rng_stream(5, RNG_TEST, 5, 0);
    for (int i = 0; i < N * L; i++) u[i] = rng_uniform(&r);
    mask_from_uniforms(ids, u, N, L);
    labels[2] = labels[20 + 9] = 1;
    EdmBatch b;
    edm_batch_alloc(&b, &c, N);
    ModelInput in;
    LossInput li;
    edm_prepare(&b, &c, N, x, labels, rnd, noise, ids, Lk, &in, &li);
    float *g1 = malloc(nt * sizeof *g1), *g2 = malloc(nt * sizeof *g2);
    model_zero_grads(m);
    for (int pass = 0; pass < 2; pass++) {
        model_forward(m, &in);
        model_loss(m, &li, 1.0f / N, loss);
        model_backward(m, NULL, NULL);
        be->to_host(be, pass ? g2 : g1, m->grads, nt * sizeof *g1);
    }
    double worst = 0;
    for (size_t i = 0; i < nt; i++) worst = fmax(worst, fabs(g2[i] - 2.0 * g1[i]) / (fabs(g1[i]) + 1e-6));
    CHECK(worst < 1e-5, "second pass accumulates 2x the gradient (worst rel %g)", worst);
    edm_batch_free(&b);
    free(x); free(noise); free(g1); free(g2); free(flat);
    model_destroy(m);
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
    RUN(f32_compute_copy_is_params);
    be->destroy(be);
    return test_summary();
}
