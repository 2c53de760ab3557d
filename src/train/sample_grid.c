#include "sample_grid.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../sample/decode.h"
#include "../sample/guided.h"
#include "../sample/latents_file.h"
#include "../util/images.h"
#include "../sample/sampler.h"
#include "../sample/streams.h"
#include "../util/fileio.h"
#include "../util/png.h"

#define GRID_SIDE 4   /* SAMPLE_GRID_IMAGES = GRID_SIDE^2 */

struct SampleGrid {
    Model *model;
    GuidedDenoiser gd;
    SamplerPlan plan;
    int C, H;
    size_t dim;
    double *x;
    Vae *vae;                 /* latent models: the decoder of the grid */
    SampleDecoder decoder;
    int img_C, img_H;         /* the grid's images: the samples, or the decoded latents */
    uint8_t *tiles;
};

int sample_grid_check(long long sample_every, const DatasetInfo *info, const char *vae, Error *e) {
    if (sample_every <= 0 || !strcmp(info->kind, "pixels")) return 0;
    if (!vae[0])
        return error_set(e, "log.sample_every: this dataset holds %s (a latent-space model), whose samples need the VAE "
                            "decoder: name its weights with log.vae or --pretrained_path (or set log.sample_every: 0)",
                         info->kind);
    if (access(vae, R_OK) != 0) return error_set(e, "log.vae %s: %s", vae, strerror(errno));
    return 0;
}

SampleGrid *sample_grid_create(const ModelConfig *mc, Backend *be, const char *vae) {
    SampleGrid *g = xcalloc(1, sizeof *g, "sample grid");
    g->model = model_create_inference(mc, be, guided_model_batch(mc, SAMPLE_GRID_IMAGES, 0));
    guided_init(&g->gd, g->model, SAMPLE_GRID_IMAGES, 0);
    SamplerOptions so = sampler_options_default();
    so.net_sigma_min = mc->sigma_min;
    so.net_sigma_max = mc->sigma_max;
    Error e;
    if (sampler_plan(&g->plan, &so, &e)) FATAL("sample grid sampler: %s", e.msg);   /* fixed options: a bug */
    g->C = mc->in_channels;
    g->H = mc->input_size;
    g->dim = (size_t)g->C * g->H * g->H;
    g->x = xmalloc(SAMPLE_GRID_IMAGES * g->dim * sizeof *g->x, "sample grid state");
    g->img_C = g->C, g->img_H = g->H;
    if (vae[0]) {
        if (!(g->vae = vae_load(vae, be, &e))) die("log.vae: %s", e.msg);
        if (vae_config(g->vae)->z_channels != g->C)
            die("log.vae %s: the VAE's latents have %d channels, the model samples %d", vae,
                vae_config(g->vae)->z_channels, g->C);
        double scale;
        if (!vae_scaling_factor(g->vae, &scale)) scale = LATENT_SCALE_FACTOR;
        sample_decoder_init(&g->decoder, g->vae, scale, g->C, g->H, SAMPLE_GRID_IMAGES);
        g->img_C = g->decoder.img_C, g->img_H = g->decoder.img_H;
    }
    g->tiles = xmalloc(SAMPLE_GRID_IMAGES * (size_t)g->img_C * g->img_H * g->img_H, "sample grid images");
    return g;
}

void sample_grid_destroy(SampleGrid *g) {
    if (!g) return;
    guided_free(&g->gd);
    model_destroy(g->model);
    sampler_plan_free(&g->plan);
    if (g->vae) {
        sample_decoder_free(&g->decoder);
        vae_free(g->vae);
    }
    free(g->x);
    free(g->tiles);
    free(g);
}

double sample_grid_make(SampleGrid *g, const float *ema, long long step, const char *exp_dir, TrainLog *log) {
    double t0 = now_seconds();
    model_upload_params(g->model, ema);
    uint32_t seeds[SAMPLE_GRID_IMAGES];
    int classes[SAMPLE_GRID_IMAGES], K = g->model->cfg.num_classes;
    for (int k = 0; k < SAMPLE_GRID_IMAGES; k++) {
        seeds[k] = (uint32_t)k;
        classes[k] = K ? k % K : -1;
        sample_initial_noise(g->x + (size_t)k * g->dim, g->dim, seeds[k]);
    }
    guided_set_classes(&g->gd, classes, SAMPLE_GRID_IMAGES);
    SamplerCallbacks cb = {.denoise = guided_denoise, .ctx = &g->gd};
    sampler_run(&g->plan, &cb, g->x, SAMPLE_GRID_IMAGES, g->dim, seeds);
    const double *images = g->vae ? sample_decoder_run(&g->decoder, g->x, SAMPLE_GRID_IMAGES) : g->x;
    const size_t img_dim = (size_t)g->img_C * g->img_H * g->img_H;
    for (int k = 0; k < SAMPLE_GRID_IMAGES; k++)
        image_to_u8(g->tiles + (size_t)k * img_dim, images + (size_t)k * img_dim, g->img_C, g->img_H, g->img_H);
    int w, h;
    uint8_t *canvas =
        grid_compose(g->tiles, SAMPLE_GRID_IMAGES, GRID_SIDE, GRID_SIDE, g->img_H, g->img_H, g->img_C, &w, &h);

    size_t len = strlen(exp_dir) + 32;
    char *dir = xmalloc(len, "path"), *path = xmalloc(len + 16, "path");
    snprintf(dir, len, "%s/samples", exp_dir);
    snprintf(path, len + 16, "%s/%07lld.png", dir, step);
    Error e;
    unsigned char *png = NULL;
    size_t png_len = 0;
    if (make_dirs(dir, &e) == 0 && png_write(path, canvas, w, h, g->img_C, &e) == 0 &&
        (png = (unsigned char *)file_read_all(path, &png_len, &e)))
        train_log_image(log, step, "samples", png, png_len, h, w, g->img_C);
    else
        train_log_error(log, "sample grid of step %lld not written: %s (training goes on)", step, e.msg);
    free(png);
    free(canvas);
    free(dir);
    free(path);
    return now_seconds() - t0;
}
