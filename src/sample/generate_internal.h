/* The parts of maskdit-generate (generate.h) shared by its files: generate.c checks the inputs
 * and runs the steps, generate_batches.c samples a rank's batches (resuming from the batch
 * parts), generate_outputs.c says where the images go and writes the final files on rank 0. The
 * calls go one way: generate.c -> generate_batches.c -> generate_outputs.c. */
#ifndef MASKDIT_SAMPLE_GENERATE_INTERNAL_H
#define MASKDIT_SAMPLE_GENERATE_INTERNAL_H

#include "../model/model.h"
#include "../vae/vae.h"
#include "generate.h"
#include "parts.h"
#include "work.h"

/* Everything a run needs, checked before any model is built. */
typedef struct {
    const GenerateArgs *a;
    RunConfig rc;
    ModelConfig mc;
    int pixels;                   /* the model samples pixels */
    int C, H;
    size_t dim;                   /* C*H*H values per sample */
    /* The outputs: images (pixel models, or latents decoded by the VAE) of img_C x img_H x img_H,
     * and latents. A record holds img_bytes of uint8 HWC image, then lat_bytes of float32 latents. */
    Vae *vae;                     /* latent models with --pretrained_path; NULL otherwise */
    double scale_factor;          /* the decoder gets latents / scale_factor */
    int img_C, img_H;
    size_t img_bytes, lat_bytes;
    size_t out_bytes;             /* img_bytes + lat_bytes */
    double cfg_scale;             /* passed to the denoiser: <= 0 = none */
    SampleWork work;
    SamplerPlan plan;
    char sampler_desc[256];
} GenerateSetup;

/* generate_outputs.c: the directory of the PNGs of a class: DIR/class_C with several classes,
 * else DIR. */
void generate_class_dir(const GenerateSetup *s, int class_idx, char *buf, size_t len);

/* Samples this rank's share [begin, end) of the images into out ((end - begin) records), batch
 * by batch (batches of --max_batch_size in the run's list, B = the model's batch): a batch whose
 * part exists is read back, the others are sampled, their PNGs written (pixel models) and their
 * part kept. Between batches the ranks agree, in one all-reduce, on the progress and on stop
 * requests (a stop signal on any rank, or --stop_after_batches). Collective. Returns 0 when every
 * image of the run is done, 1 when the run stopped on a request with batches left. */
int generate_batches(const Dist *d, const GenerateSetup *s, Model *m, int B, const PartStore *ps, long long begin,
                     long long end, void *out);

/* Every image of a rank's share stays in its memory until the outputs are written (and rank 0 of
 * a run that writes images holds every image once more for the grid): checked against avail bytes before the
 * model is loaded, naming how many images fit, instead of failing to allocate after the loading.
 * Returns -1 with the message when they do not fit. */
int generate_check_memory(const GenerateSetup *s, int rank, int world, long long begin, long long end, double avail,
                          Error *e);

/* Rank 0, before sampling: none of the final files may be one of the run's inputs (the checkpoint
 * saved as DIR/latents.h5, say); dies naming it. */
void generate_check_outputs(const GenerateSetup *s);

/* The final files on rank 0 (grid.png, latents.h5, the npz), gathered from every rank's block of
 * n_local records (collective). */
void generate_write_outputs(const Dist *d, const GenerateSetup *s, const void *local, long long n_local);

#endif
