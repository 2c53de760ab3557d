#include <string.h>

#include "../util/fileio.h"
#include "../util/png.h"
#include "../../mpi/collect.h"
#include "generate_internal.h"
#include "../util/images.h"
#include "latents_file.h"

#define GRID_MAX_IMAGES 1024            /* tiles in grid.png */

void generate_class_dir(const GenerateSetup *s, int class_idx, char *buf, size_t len) {
    if (s->work.n_rows > 0) xsnprintf(buf, len, "%s/class_%d", s->a->results_dir, class_idx);
    else xsnprintf(buf, len, "%s", s->a->results_dir);
}

/* The files of a run besides its PNGs: images (grid, samples npz) and latents (HDF5, npz). */
enum { OUT_GRID, OUT_SAMPLES_NPZ, OUT_LATENTS_H5, OUT_LATENTS_NPZ };

static void output_path(const GenerateSetup *s, int which, char *path, size_t len) {
    const char *dir = s->a->results_dir;
    long long n = s->work.count;
    switch (which) {
    case OUT_GRID: xsnprintf(path, len, "%s/grid.png", dir); break;
    case OUT_SAMPLES_NPZ:
        xsnprintf(path, len, "%s/samples_%lldx%dx%dx%d.npz", dir, n, s->img_H, s->img_H, s->img_C);
        break;
    case OUT_LATENTS_H5: xsnprintf(path, len, "%s/latents.h5", dir); break;
    default: xsnprintf(path, len, "%s/latents_%lldx%dx%dx%d.npz", dir, n, s->C, s->H, s->H); break;
    }
}

void generate_check_outputs(const GenerateSetup *s) {
    for (int k = OUT_GRID; k <= OUT_LATENTS_NPZ; k++) {
        if ((k <= OUT_SAMPLES_NPZ && !s->img_bytes) || (k >= OUT_LATENTS_H5 && !s->lat_bytes)) continue;
        char path[4200];
        Error e;
        output_path(s, k, path, sizeof path);
        if (check_not_input(path, s->a->ckpt_path, "the checkpoint being sampled", &e) < 0 ||
            check_not_input(path, s->a->config_path, "the configuration", &e) < 0 ||
            (s->vae && check_not_input(path, vae_path(s->vae), "the VAE's weights", &e) < 0))
            die("--results_dir: %s", e.msg);
    }
}

static void write_pixel_outputs(const Dist *d, const GenerateSetup *s, const uint8_t *local, long long n_local) {
    size_t img = s->img_bytes;
    MemorySink all = {.buf = d->rank == 0 ? xmalloc((size_t)s->work.count * img, "all samples") : NULL};
    Error e;
    if (collect_to_root(d, local, n_local, img, memory_sink, &all, &e)) die("%s", e.msg);
    if (d->rank == 0) {
        GridLayout g;
        grid_layout(&g, &s->work, GRID_MAX_IMAGES);
        uint8_t *tiles = xmalloc((size_t)g.shown * img, "grid tiles");
        for (int k = 0; k < g.shown; k++) memcpy(tiles + (size_t)k * img, all.buf + (size_t)g.grid_index[k] * img, img);
        int gw, gh;
        uint8_t *canvas = grid_compose(tiles, g.shown, g.rows, g.cols, s->img_H, s->img_H, s->img_C, &gw, &gh);
        char path[4200];
        output_path(s, OUT_GRID, path, sizeof path);
        if (png_write(path, canvas, gw, gh, s->img_C, &e)) die("%s", e.msg);
        info("wrote %lld PNG images and %s (%d x %d images%s)", s->work.count, path, g.rows, g.cols,
             s->work.n_rows ? ", one row per class" : "");
        free(canvas);
        free(tiles);
        grid_layout_free(&g);
    }
    if (s->a->npz) {
        /* The ADM evaluator's sample batch: arr_0 uint8 [N, H, W, C]. */
        long long shape[4] = {s->work.count, s->img_H, s->img_H, s->img_C};
        char path[4200];
        output_path(s, OUT_SAMPLES_NPZ, path, sizeof path);
        collect_npz(d, local, n_local, "|u1", 1, shape, path);
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
        collect_npz(d, local, n_local, "<f4", sizeof(float), shape, path);
    }
}

/* bytes [offset, offset + size) of each of n records of stride bytes, packed together. */
static char *unzip_records(const char *records, long long n, size_t stride, size_t offset, size_t size) {
    char *out = xmalloc((size_t)MAX(n, 1LL) * size, "samples of this rank");
    for (long long k = 0; k < n; k++) memcpy(out + (size_t)k * size, records + (size_t)k * stride + offset, size);
    return out;
}

void generate_write_outputs(const Dist *d, const GenerateSetup *s, const void *local, long long n_local) {
    if (!s->img_bytes || !s->lat_bytes) {   /* one kind of output: the records are it */
        if (s->img_bytes) write_pixel_outputs(d, s, local, n_local);
        else write_latent_outputs(d, s, local, n_local);
        return;
    }
    char *images = unzip_records(local, n_local, s->out_bytes, 0, s->img_bytes);
    char *latents = unzip_records(local, n_local, s->out_bytes, s->img_bytes, s->lat_bytes);
    write_pixel_outputs(d, s, (const uint8_t *)images, n_local);
    write_latent_outputs(d, s, (const float *)latents, n_local);
    free(images);
    free(latents);
}
