/* maskdit-train's training run: setup (dataset, model, experiment directory, start state),
 * the loop of optimizer steps, checkpoints, stopping. See docs/maskdit-train.md. */
#ifndef MASKDIT_TRAIN_TRAINER_H
#define MASKDIT_TRAIN_TRAINER_H

#include "../../mpi/dist.h"
#include "../config/config.h"

/* The original's command-line flags that are not config keys. */
typedef struct {
    const char *results_dir;   /* --results_dir (default "results") */
    const char *ckpt_path;     /* --ckpt_path, NULL = auto-resume */
    int use_ckpt_path;         /* --use_ckpt_path (default true) */
    int use_strict_load;       /* --use_strict_load (default true) */
    int no_amp;                /* --no_amp */
} TrainOptions;

/* Runs the whole training on every rank (collective). Returns the process exit status: 0 when
 * the run reached its end or time limit, EXIT_REQUEUE_STATUS after a stop signal and its
 * checkpoint, EXIT_FAILURE_STATUS on bad input or a non-finite loss (with a message). */
int train_run(const Dist *d, const RunConfig *cfg, const TrainOptions *opt);

#endif
