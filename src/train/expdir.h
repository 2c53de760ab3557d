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

/* The parts of the name taken from the config as written (data.dataset, log.tag) must keep the
 * directory inside --results_dir: no '/' in them (a tag "/../../x" would lead out of it). */
int experiment_name_check(const RunConfig *c, Error *e);

/* <dir>/checkpoints, where the run's NNNNNNN.h5 files go. */
void experiment_checkpoint_dir(const char *dir, char *buf, size_t len);

/* Create dir and dir/checkpoints, take the directory's lock for the rest of the process (one
 * writer per directory, src/util/dirlock.h), and check that files can be written there. */
int experiment_prepare(const char *dir, Error *e);

/* A run that starts at `step` writes checkpoints of later steps: step files in ckpt_dir newer than
 * it must not be overwritten. damaged = 1: they were proven damaged (ckpt_find_latest skipped
 * them) and are renamed "<name>.damaged" (kept, with a warning); damaged = 0: they may be intact
 * and the run stops with a message naming the newest. */
int experiment_protect_newer(const char *ckpt_dir, long long step, int damaged, Error *e);

/* The directory part of a path ("." for a bare name), like os.path.dirname. */
void path_dirname(const char *path, char *out, size_t len);

#endif
