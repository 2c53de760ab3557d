#include <string.h>

#include "../util/fileio.h"
#include "../util/png.h"
#include "collect.h"
#include "generate_internal.h"
#include "images.h"
#include "latents_file.h"
#include "npz_out.h"

#define GRID_MAX_IMAGES 1024            /* tiles in grid.png */

/* The files of a run besides its PNGs: pixel models the first two, latent models the last two. */
enum { OUT_GRID, OUT_SAMPLES_NPZ, OUT_LATENTS_H5, OUT_LATENTS_NPZ };

static void output_path(const GenerateSetup *s, int which, char *path, size_t len) {
    const char *dir = s->a->results_dir;
    long long n = s->work.count;
    switch (which) {
    case OUT_GRID: xsnprintf(path, len, "%s/grid.png", dir); break;
    case OUT_SAMPLES_NPZ: xsnprintf(path, len, "%s/samples_%lldx%dx%dx%d.npz", dir, n, s->H, s->H, s->C); break;
    case OUT_LATENTS_H5: xsnprintf(path, len, "%s/latents.h5", dir); break;
    default: xsnprintf(path, len, "%s/latents_%lldx%dx%dx%d.npz", dir, n, s->C, s->H, s->H); break;
    }
}

void generate_check_outputs(const GenerateSetup *s) {
    int first = s->pixels ? OUT_GRID : OUT_LATENTS_H5;
    for (int k = first; k < first + 2; k++) {
        char path[4200];
        Error e;
        output_path(s, k, path, sizeof path);
        if (check_not_input(path, s->a->ckpt_path, "the checkpoint being sampled", &e) < 0 ||
            check_not_input(path, s->a->config_path, "the configuration", &e) < 0)
            die("--results_dir: %s", e.msg);
    }
}

static void write_npz(const Dist *d, const GenerateSetup *s, const void *local, long long n_local, const char *descr,
                      size_t elem, const long long shape[4], const char *path) {
    NpzOut npz;
    Error e = {{0}};
    if (d->rank == 0 && npz_out_open(&npz, path, descr, 4, shape, elem, &e)) die("%s", e.msg);
    size_t record = (size_t)shape[1] * shape[2] * shape[3] * elem;
    if (collect_to_root(d, local, n_local, record, npz_out_sink, &npz, &e)) {
        if (d->rank == 0) npz_out_abort(&npz);
        die("%s", e.msg);
    }
    if (d->rank == 0) {
        if (npz_out_close(&npz, &e)) die("%s", e.msg);
        info("wrote %s (arr_0: %s %lldx%lldx%lldx%lld)", path, descr, shape[0], shape[1], shape[2], shape[3]);
    }
}

static void write_pixel_outputs(const Dist *d, const GenerateSetup *s, const uint8_t *local, long long n_local) {
    size_t img = s->dim;
    MemorySink all = {.buf = d->rank == 0 ? xmalloc((size_t)s->work.count * img, "all samples") : NULL};
    Error e;
    if (collect_to_root(d, local, n_local, img, memory_sink, &all, &e)) die("%s", e.msg);
    if (d->rank == 0) {
        GridLayout g;
        grid_layout(&g, &s->work, GRID_MAX_IMAGES);
        uint8_t *tiles = xmalloc((size_t)g.shown * img, "grid tiles");
        for (int k = 0; k < g.shown; k++) memcpy(tiles + (size_t)k * img, all.buf + (size_t)g.grid_index[k] * img, img);
        int gw, gh;
        uint8_t *canvas = grid_compose(tiles, g.shown, g.rows, g.cols, s->H, s->H, s->C, &gw, &gh);
        char path[4200];
        output_path(s, OUT_GRID, path, sizeof path);
        if (png_write(path, canvas, gw, gh, s->C, &e)) die("%s", e.msg);
        info("wrote %lld PNG images and %s (%d x %d images%s)", s->work.count, path, g.rows, g.cols,
             s->work.n_rows ? ", one row per class" : "");
        free(canvas);
        free(tiles);
        grid_layout_free(&g);
    }
    if (s->a->npz) {
        /* The ADM evaluator's sample batch: arr_0 uint8 [N, H, W, C]. */
        long long shape[4] = {s->work.count, s->H, s->H, s->C};
        char path[4200];
        output_path(s, OUT_SAMPLES_NPZ, path, sizeof path);
        write_npz(d, s, local, n_local, "|u1", 1, shape, path);
    }
    free(all.buf);
}

static void write_latent_outputs(const Dist *d, const GenerateSetup *s, const float *local, long long n_local) {
    char path[4200];
    output_path(s, OUT_LATENTS_H5, path, sizeof path);
    SampleMeta meta = {.checkpoint = s->a->ckpt_path, .weights = s->a->weights, .sampler = s->sampler_desc,
                       .cfg_scale = s->cfg_scale, .num_classes = s->mc.num_classes};
    LatentsFile lf;
    Error e = {{0}};
    if (d->rank == 0 && latents_file_create(&lf, path, &s->work, s->C, s->H, s->H, &meta, &e)) die("%s", e.msg);
    if (collect_to_root(d, local, n_local, s->dim * sizeof(float), latents_file_sink, &lf, &e)) {
        if (d->rank == 0) latents_file_abort(&lf);
        die("%s", e.msg);
    }
    if (d->rank == 0) {
        if (latents_file_close(&lf, &e)) die("%s", e.msg);
        info("wrote %s: %lld latents %dx%dx%d; decode them with the VAE decoder (z / %g)", path, s->work.count, s->C,
             s->H, s->H, LATENT_SCALE_FACTOR);
    }
    if (s->a->npz) {
        long long shape[4] = {s->work.count, s->C, s->H, s->H};
        output_path(s, OUT_LATENTS_NPZ, path, sizeof path);
        write_npz(d, s, local, n_local, "<f4", sizeof(float), shape, path);
    }
}

void generate_write_outputs(const Dist *d, const GenerateSetup *s, const void *local, long long n_local) {
    if (s->pixels) write_pixel_outputs(d, s, local, n_local);
    else write_latent_outputs(d, s, local, n_local);
}
