#include "guided.h"

#include <string.h>

static int is_guided(const ModelConfig *cfg, double cfg_scale) {
    return cfg->num_classes > 0 && cfg_scale > 0 && cfg_scale != 1.0;
}

int guided_model_batch(const ModelConfig *cfg, int max_images, double cfg_scale) {
    return is_guided(cfg, cfg_scale) ? 2 * max_images : max_images;
}

void guided_init(GuidedDenoiser *g, Model *m, int max_images, double cfg_scale) {
    memset(g, 0, sizeof *g);
    g->model = m;
    g->max_images = max_images;
    g->cfg_scale = cfg_scale;
    int batch = guided_model_batch(&m->cfg, max_images, cfg_scale);
    if (batch > m->max_batch)
        FATAL("guided denoiser: %d images need a model planned for %d, it has %d", max_images, batch, m->max_batch);
    edm_batch_alloc(&g->batch, &m->cfg, batch);
    int K = m->cfg.num_classes;
    if (K) g->labels = xcalloc((size_t)max_images * K, sizeof *g->labels, "sampling labels");
}

void guided_free(GuidedDenoiser *g) {
    edm_batch_free(&g->batch);
    free(g->labels);
    g->labels = NULL;
}

void guided_set_classes(GuidedDenoiser *g, const int *classes, int n) {
    int K = g->model->cfg.num_classes;
    if (n > g->max_images) FATAL("guided denoiser: %d images, planned for %d", n, g->max_images);
    if (!K) return;
    memset(g->labels, 0, (size_t)n * K * sizeof *g->labels);
    for (int i = 0; i < n; i++) {
        if (classes[i] >= K) FATAL("guided denoiser: class %d of a %d-class model", classes[i], K);
        if (classes[i] >= 0) g->labels[(size_t)i * K + classes[i]] = 1.0f;
    }
}

void guided_denoise(void *ctx, const double *x, int n, double sigma, double *D_out) {
    GuidedDenoiser *g = ctx;
    edm_denoise(g->model, &g->batch, x, n, sigma, g->labels, g->cfg_scale, D_out);
    g->calls++;
}
