#include "latents_file.h"

#include <stdio.h>

#include "../util/h5util.h"

static int write_meta(hid_t root, const SampleMeta *m) {
    char decode[512];
    xsnprintf(decode, sizeof decode,
              "scaled VAE latents z: decode images with the Stable Diffusion VAE decoder applied to z / %g", LATENT_SCALE_FACTOR);
    return h5_write_attr_string(root, "format", "maskdit-samples-v1") || h5_write_attr_string(root, "kind", "latents") ||
           h5_write_attr_int64(root, "needs_vae_decoder", 1) ||
           h5_write_attr_double(root, "scale_factor", LATENT_SCALE_FACTOR) || h5_write_attr_string(root, "decode", decode) ||
           h5_write_attr_string(root, "checkpoint", m->checkpoint) || h5_write_attr_string(root, "weights", m->weights) ||
           h5_write_attr_string(root, "sampler", m->sampler) || h5_write_attr_double(root, "cfg_scale", m->cfg_scale) ||
           h5_write_attr_int64(root, "num_classes", m->num_classes);
}

int latents_file_create(LatentsFile *f, const char *path, const SampleWork *w, int C, int H, int W,
                        const SampleMeta *meta, Error *e) {
    const int row[3] = {C, H, W};
    if (h5rows_create(&f->rows, path, "latents", w->count, row, e)) return -1;
    long long *seeds = xmalloc((size_t)MAX(w->count, 1LL) * sizeof *seeds, "seeds");
    long long *labels = xmalloc((size_t)MAX(w->count, 1LL) * sizeof *labels, "labels");
    for (long long i = 0; i < w->count; i++) {
        seeds[i] = w->items[i].seed;
        labels[i] = w->items[i].class_idx;
    }
    int bad = h5rows_write_ints(&f->rows, "seeds", seeds, w->count, e) ||
              h5rows_write_ints(&f->rows, "labels", labels, w->count, e);
    if (!bad && write_meta(f->rows.file, meta)) bad = error_set(e, "%s: cannot write the attributes (disk full?)", f->rows.tmp);
    free(seeds);
    free(labels);
    if (bad) {
        latents_file_abort(f);
        return -1;
    }
    return 0;
}

int latents_file_sink(void *ctx, const void *data, size_t bytes, Error *e) {
    return h5rows_sink(&((LatentsFile *)ctx)->rows, data, bytes, e);
}

int latents_file_close(LatentsFile *f, Error *e) { return h5rows_close(&f->rows, e); }

void latents_file_abort(LatentsFile *f) { h5rows_abort(&f->rows); }
