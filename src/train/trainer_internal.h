/* State shared by the files of the training loop (src/train/trainer*.c, start.c, step.c,
 * checkpoint_io.c). */
#ifndef MASKDIT_TRAIN_TRAINER_INTERNAL_H
#define MASKDIT_TRAIN_TRAINER_INTERNAL_H

#include "../ckpt/ckpt.h"
#include "../data/reader.h"
#include "../model/edm.h"
#include "draws.h"
#include "ema.h"
#include "loss_scale.h"
#include "optimizer.h"
#include "sample_grid.h"
#include "train_log.h"
#include "trainer.h"

#define TRAIN_PATH_MAX 4096

typedef struct {
    const Dist *d;
    RunConfig cfg;
    TrainOptions opt;
    ModelConfig mc;
    Backend *be;
    Model *model;
    AdamW adam;
    Ema ema;
    LossScale scale;
    GradComm *gc;
    Reader *reader;
    DatasetInfo info;
    Draws draws;
    EdmBatch eb;
    float *x;                 /* [batchsize, C, H, W] one micro-batch of this rank */
    int32_t *classes;         /* [batchsize] */
    /* The host inputs of the next micro-batch, made while the GPU runs the backward pass of the
     * current one (step.c): in and li point into eb, holding samples prepared_g0.. with
     * prepared_len_keep encoder tokens; prepared = 0 when they hold nothing usable. */
    ModelInput in;
    LossInput li;
    int prepared, prepared_len_keep;
    uint64_t prepared_g0;
    long long global_batch;   /* batchsize * grad_accum * ranks: samples per optimizer step */
    long long micro_global;   /* batchsize * ranks: samples per micro-batch round */
    long long step;           /* optimizer steps done: names checkpoints, drives lr */
    long long start_step;     /* where this run's max_num_steps and mask schedule count from */
    long long end_step;
    uint64_t cursor;          /* global index of the next training sample */
    long long saved_step;     /* step of the newest checkpoint written or loaded (-1: none) */
    double last_lr, last_mask_ratio;
    double data_wait, host_prepare;   /* this rank's host seconds since the last step's report */
    double peak_flops;        /* one device's peak FLOP/s for the MFU (0: unknown) */
    char *run_info;           /* run_info_json(): the start record's and checkpoints' "software" */
    SampleGrid *grid;         /* rank 0 with log.sample_every; else NULL */
    double t_start;           /* when the loop started (max_minutes) */
    char exp_dir[TRAIN_PATH_MAX], ckpt_dir[TRAIN_PATH_MAX];
    TrainLog log;        /* rank 0 */
} Trainer;

/* What one step ended with. */
typedef enum { STEP_OK, STEP_NONFINITE, STEP_STOP_SIGNAL, STEP_TIME_LIMIT } StepOutcome;

/* start.c: experiment directory, the start state (fresh, resumed or fine-tuned), parameters
 * broadcast from rank 0. Returns -1 (on every rank, message printed) on bad input. */
int trainer_start(Trainer *t);

/* step.c: one optimizer step over grad_accum micro-batches; what it did in *stats. */
StepOutcome trainer_step(Trainer *t, StepStats *stats);

/* checkpoint_io.c: write <ckpt_dir>/<step>.h5 (collective). */
int trainer_save(Trainer *t, Error *e);

/* Host buffers for every tensor of a checkpoint of this model (model, ema, exp_avg, exp_avg_sq). */
CkptTensors trainer_tensors_alloc(const ParamTable *t);
void trainer_tensors_free(CkptTensors *ts);

/* Agree on a setup result (dist_agree): when any rank failed, rank 0 prints the message of the
 * lowest failing rank and every rank gets -1. */
int trainer_agree(const Dist *d, int rc, const Error *e);

#endif
