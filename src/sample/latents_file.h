/* Latent-space samples in HDF5 (format in docs/maskdit-generate.md), written on rank 0:
 *   /latents [count, C, H, W] float32   the sampler's output z, in the model's (scaled) latent space
 *   /seeds   [count] int64              the seed of each sample
 *   /labels  [count] int64              its class, -1 = none
 * Root attributes: format "maskdit-samples-v1", kind "latents", needs_vae_decoder 1,
 * scale_factor 0.18215, decode (how to get images: VAE decoder of z / scale_factor), and the
 * settings (checkpoint, weights, cfg_scale, sampler, num_classes). Written to "<path>.tmp" and
 * renamed when every row is in. */
#ifndef MASKDIT_SAMPLE_LATENTS_FILE_H
#define MASKDIT_SAMPLE_LATENTS_FILE_H

#include "../util/h5rows.h"
#include "work.h"

/* Scale of the Stable Diffusion VAE latents the original trains on (z = 0.18215 * latent). */
#define LATENT_SCALE_FACTOR 0.18215

typedef struct {
    const char *checkpoint, *weights, *sampler;
    double cfg_scale;        /* <= 0: no guidance */
    int num_classes;
} SampleMeta;

typedef struct {
    H5Rows rows;
} LatentsFile;

int latents_file_create(LatentsFile *f, const char *path, const SampleWork *w, int C, int H, int W,
                        const SampleMeta *meta, Error *e);
/* CollectSink: the next rows (whole rows of C*H*W float32) in output order. */
int latents_file_sink(void *ctx, const void *data, size_t bytes, Error *e);
/* Checks that every row arrived, closes and renames. On failure the temporary file is removed. */
int latents_file_close(LatentsFile *f, Error *e);
/* Close and remove the temporary file. */
void latents_file_abort(LatentsFile *f);

#endif
