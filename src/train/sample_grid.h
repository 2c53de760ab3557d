/* Sample grids during training (log.sample_every): every N steps rank 0 samples one fixed grid
 * with the EMA weights and writes it to <experiment>/samples/NNNNNNN.png and, as the image
 * "samples", into the TensorBoard file. The grid is the same at every step — 16 images in 4 x 4,
 * seeds 0..15 (src/sample/streams.h), classes 0, 1, 2, ... cycling (unconditional models: no
 * label), the original edm_sampler (18 Heun steps, no guidance) — so that the grids of a run show
 * the model's progress, not the noise.
 *
 * A latent-space model's grid is decoded by the VAE that log.vae (--pretrained_path) names; without
 * one such a run is refused at the start. The grid model (and the VAE) are inference models of
 * their own, planned for the 16 unmasked images, on rank 0's device. */
#ifndef MASKDIT_TRAIN_SAMPLE_GRID_H
#define MASKDIT_TRAIN_SAMPLE_GRID_H

#include "../backend/backend.h"
#include "../data/reader.h"
#include "../model/model.h"
#include "train_log.h"

#define SAMPLE_GRID_IMAGES 16

typedef struct SampleGrid SampleGrid;

/* -1 with a message naming log.sample_every when the dataset is not in pixel space and no VAE is
 * given (vae: the path of log.vae, "" for none), or log.vae cannot be read. */
int sample_grid_check(long long sample_every, const DatasetInfo *info, const char *vae, Error *e);

/* vae: "" for a pixel-space model; else the VAE is loaded (a bad file ends the job naming it). */
SampleGrid *sample_grid_create(const ModelConfig *mc, Backend *be, const char *vae);
void sample_grid_destroy(SampleGrid *g);

/* Samples the grid with the weights ema (a full flat parameter buffer on the host) and writes
 * <exp_dir>/samples/<step>.png and the TensorBoard image. A file that cannot be written is
 * reported and the run goes on (samples are for watching, not for resuming). Returns the seconds
 * it took. */
double sample_grid_make(SampleGrid *g, const float *ema, long long step, const char *exp_dir, TrainLog *log);

#endif
