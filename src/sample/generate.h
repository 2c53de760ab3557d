/* maskdit-generate: sample images (pixel-space models) or latents (latent-space models) from a
 * checkpoint with the EDM sampler, the seeds split across MPI ranks. Formats and options in
 * docs/maskdit-generate.md.
 *
 * Pixel or latent space is decided by the configuration: a model whose data.dataset name
 * contains "latent" (the original's imagenet256-latent, imagenet512-latent) or whose in_channels
 * is neither 1 nor 3 produces latents; any other (e.g. the Fashion-MNIST demo, 1 channel) produces
 * images with values in [-1, 1]. A latent-space model given the VAE's weights (--pretrained_path,
 * --vae) decodes its samples and writes images as a pixel-space model does. */
#ifndef MASKDIT_SAMPLE_GENERATE_H
#define MASKDIT_SAMPLE_GENERATE_H

#include "../../mpi/dist.h"
#include "../config/config.h"
#include "sampler.h"

typedef struct {
    const char *config_path, *ckpt_path, *results_dir;
    const char *seeds;            /* "0-63,100" */
    const char *class_idx;        /* NULL: a random class per seed (conditional models) */
    double cfg_scale;             /* NAN: no guidance (the original's None); 0: unconditional samples */
    int max_batch_size;           /* images per rank and batch */
    const char *weights;          /* "ema" (default) or "model" */
    const char *device, *precision;
    int npz;                      /* also write the samples as .npz */
    const char *vae;              /* latent models: the VAE weights that decode the samples into images */
    int save_latents;             /* with vae: keep latents.h5 too */
    int fresh;                    /* discard the batch parts of an earlier run instead of resuming */
    int stop_after_batches;       /* > 0: stop as on a signal after this many batches per rank */
    SamplerOptions sampler;       /* the network's sigma range is filled in from the model */
} GenerateArgs;

/* 1 when the configured model samples pixels (PNG output), 0 for latents (HDF5 output). */
int generate_pixel_space(const RunConfig *rc, const ModelConfig *mc);

/* The whole run on every rank (collective). Every finished batch is kept in DIR/.parts until the
 * outputs are written, and a rerun of the same run resumes from them (docs/maskdit-generate.md).
 * Returns 0 when the outputs are written, EXIT_REQUEUE_STATUS when a stop signal (SIGUSR1,
 * SIGTERM) or --stop_after_batches stopped it with batches left. Bad input, and batch parts of a
 * run with other settings, end the job with a message (die). */
int generate_run(const Dist *d, const GenerateArgs *a);

#endif
