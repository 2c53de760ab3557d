/* The experiment directory, named as the original train.py names it, so that the same command
 * finds its own checkpoints again (auto-resume):
 *   <results_dir>/<model>-<precond>-<dataset>-<cond|uncond>-m<mask_ratio>-de<0|1>-mae<mae_loss_coef>
 *                 -bs-<global batch>-lr<lr><log.tag>
 * with model = model_type with '/' replaced by '-', numbers as Python prints them (0.0001, 5e-05,
 * 0.5) and the tag appended without a separator, e.g.
 *   results/DiT-XL-2-edm-imagenet256-latent-cond-m0.5-de1-mae0.1-bs-1024-lr0.0001pretrain
 * It holds checkpoints/NNNNNNN.h5, log.txt (the progress lines) and metrics.jsonl. */
#ifndef MASKDIT_TRAIN_EXPDIR_H
#define MASKDIT_TRAIN_EXPDIR_H

#include "../config/config.h"

void experiment_name(const RunConfig *c, long long global_batch, char *out, size_t len);

/* <dir>/checkpoints, where the run's NNNNNNN.h5 files go. */
void experiment_checkpoint_dir(const char *dir, char *buf, size_t len);

/* Create dir and dir/checkpoints, and check that files can be written there. */
int experiment_prepare(const char *dir, Error *e);

/* The directory part of a path ("." for a bare name), like os.path.dirname. */
void path_dirname(const char *path, char *out, size_t len);

#endif
