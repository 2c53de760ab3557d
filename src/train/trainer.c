/* The training run: setup, the loop, the end. See trainer.h and docs/maskdit-train.md. */
#include <math.h>
#include <string.h>

#include "../util/stop_signals.h"
#include "peak_flops.h"
#include "run_info.h"
#include "trainer_internal.h"

/* The dataset must deliver what the model takes. */
static int check_dataset(const Trainer *t, Error *e) {
    const DatasetInfo *in = &t->info;
    const ModelConfig *m = &t->mc;
    const char *root = t->cfg.data.root;
    if (in->channels != m->in_channels || in->resolution != m->input_size)
        return error_set(e, "dataset %s holds %dx%dx%d samples (%s), the model takes %dx%dx%d (model.in_channels, "
                            "model.in_size)", root, in->channels, in->resolution, in->resolution, in->kind,
                         m->in_channels, m->input_size, m->input_size);
    if (m->num_classes > 0 && in->num_classes != m->num_classes)
        return error_set(e, "dataset %s has %d classes, the model %d (model.num_classes)", root, in->num_classes,
                         m->num_classes);
    if (t->cfg.data.num_classes >= 0 && in->num_classes != t->cfg.data.num_classes)
        return error_set(e, "dataset %s has %d classes, data.num_classes says %d", root, in->num_classes,
                         t->cfg.data.num_classes);
    if (in->count < t->global_batch)
        return error_set(e, "dataset %s has %lld samples, fewer than one global batch of %lld (train.batchsize x "
                            "train.grad_accum x ranks)", root, in->count, t->global_batch);
    return 0;
}

/* What the run computes in: train.precision, or from train.amp and --no_amp. */
static const char *precision_of(const Trainer *t) {
    const char *p = t->cfg.train.precision;
    if (t->opt.no_amp) {
        if (strcmp(p, "auto") && strcmp(p, "fp32")) info("notice: --no_amp overrides train.precision %s: fp32", p);
        return "fp32";
    }
    if (strcmp(p, "auto")) return p;
    return t->cfg.train.amp ? "auto" : "fp32";
}

/* Buckets overlap the all-reduce with the backward pass where that pays: with NCCL. With MPI on
 * the CPU the reduction only progresses inside MPI calls and one reduction after the backward pass
 * measured faster (tests/bench/allreduce_overlap.sh), so the automatic choice is one bucket. */
static GradComm *make_gradcomm(Trainer *t) {
    size_t n = t->model->table.n_trainable, mib = 1024 * 1024;
    size_t bucket = t->cfg.train.bucket_mb > 0 ? (size_t)(t->cfg.train.bucket_mb * mib) : 25 * mib;
    if (t->be->memory == BACKEND_MEMORY_CUDA) {
        char err[512];
        GradComm *g = gradcomm_nccl_create(t->d, t->be, t->model->grads, n, bucket, err, sizeof err);
        if (g) return g;
        if (t->d->world > 1) info("notice: NCCL unavailable (%s); averaging gradients with MPI through host memory", err);
    }
    if (t->cfg.train.bucket_mb <= 0) bucket = n * sizeof(float);
    return gradcomm_mpi_create(t->d, t->be, t->model->grads, n, bucket);
}

/* NCCL, and any fair share of a GPU, need one GPU per rank: a launcher that gives two ranks of
 * a node the same one (e.g. the same CUDA_VISIBLE_DEVICES for every task) is refused here, with
 * the setting to change, rather than by NCCL's initialisation deep inside the first step. */
static int check_own_device(Trainer *t, Error *e) {
    int other = dist_node_rank_sharing(t->d, t->be->device_uuid(t->be));
    if (other < 0) return 0;
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    return error_set(e, "%s (%s) is also the GPU of node-local rank %d (CUDA_VISIBLE_DEVICES=%s here): training "
                        "needs a GPU of its own for every rank; start at most one rank per GPU on each node, or give "
                        "each task its own GPU (srun --gpus-per-task=1)",
                     t->be->device_name(t->be), t->be->device_uuid(t->be), other, visible ? visible : "unset");
}

/* Everything before the start state: backend, dataset, model, optimizer, buffers. */
static int setup(Trainer *t) {
    const Dist *d = t->d;
    const TrainSection *tr = &t->cfg.train;
    Error e = {""};
    int rc = run_config_check_training(&t->cfg, &e);
    if (rc == 0) rc = run_config_model(&t->cfg, &t->mc, &e);
    if (trainer_agree(d, rc, &e)) return -1;
    if (d->rank == 0) run_config_notices(&t->cfg);

    t->micro_global = (long long)tr->batchsize * d->world;
    t->global_batch = t->micro_global * tr->grad_accum;
    ReaderOptions ro = {.root = t->cfg.data.root, .seed = (uint64_t)tr->seed, .xflip = tr->xflip,
                        .resampled = tr->resampled, .prefetch = tr->prefetch};
    t->reader = reader_open(&ro, &t->info, &e);
    rc = t->reader ? check_dataset(t, &e) : error_prefix(&e, "data.root");
    if (rc == 0) rc = sample_grid_check(t->cfg.log.sample_every, &t->info, t->cfg.log.vae, &e);
    if (trainer_agree(d, rc, &e)) return -1;

    const char *precision = precision_of(t);
    t->be = backend_create(tr->device, d->local_rank, precision, tr->tf32, tr->threads);
    if (t->be->memory == BACKEND_MEMORY_HOST && !strcmp(precision, "auto") && d->rank == 0)
        info("notice: the CPU backend computes in fp32 (train.amp applies to CUDA only)");
    if (trainer_agree(d, check_own_device(t, &e), &e)) return -1;

    /* Activations for the largest encoder the mask schedule can ask for. */
    const ModelSection *ms = &t->cfg.model;
    int len_keep_max = model_len_keep(&t->mc, ms->mask_ratio);
    if (strcmp(ms->mask_ratio_fn, "constant")) len_keep_max = MAX(len_keep_max, model_len_keep(&t->mc, ms->mask_ratio_min));
    ParamTable sizes;
    param_table_build(&sizes, &t->mc);
    size_t optimizer_bytes = 3 * sizes.n_trainable * sizeof(float);   /* AdamW moments and the EMA */
    param_table_free(&sizes);
    model_check_fits(&t->mc, t->be, tr->batchsize, len_keep_max, 1, optimizer_bytes, "train.batchsize");
    t->model = model_create(&t->mc, t->be, tr->batchsize, len_keep_max);
    adamw_init(&t->adam, t->be, t->model->table.n_trainable);
    ema_init(&t->ema, t->be, t->model->table.n_trainable, tr->ema_decay);
    loss_scale_init(&t->scale, t->be->act_dtype == DTYPE_F16, 65536.0);
    t->gc = make_gradcomm(t);
    draws_alloc(&t->draws, &t->mc, tr->batchsize);
    edm_batch_alloc(&t->eb, &t->mc, tr->batchsize);
    t->x = xmalloc((size_t)tr->batchsize * t->info.channels * t->info.resolution * t->info.resolution * sizeof(float),
                   "training micro-batch");
    t->classes = xmalloc((size_t)tr->batchsize * sizeof(int32_t), "training labels");

    if (t->be->memory == BACKEND_MEMORY_CUDA)
        t->peak_flops = t->cfg.log.peak_tflops > 0 ? t->cfg.log.peak_tflops * 1e12
                                                   : gpu_peak_flops(t->be->device_name(t->be), t->be->act_dtype, tr->tf32);
    if (d->rank == 0) t->run_info = run_info_json();
    if (d->rank == 0 && t->cfg.log.sample_every > 0) t->grid = sample_grid_create(&t->mc, t->be, strcmp(t->info.kind, "pixels") ? t->cfg.log.vae : "");

    if (trainer_start(t) < 0) return -1;
    long long steps_per_epoch = t->info.count / t->global_batch;
    t->end_step = MIN(t->start_step + tr->max_num_steps, tr->epochs * steps_per_epoch);
    if (d->rank == 0) {
        char desc[256];
        model_config_describe(&t->mc, desc, sizeof desc);
        TrainLog *p = &t->log;
        train_log_say(p, "Global batchsize: %lld,  batchsize per GPU: %lld, micro_batch: %d.", t->global_batch,
                     (long long)tr->batchsize * tr->grad_accum, tr->batchsize);
        train_log_say(p, "%s (%s) Model Parameters: %zu, on %s (%s), %d rank%s", ms->model_type, desc,
                     t->model->table.total, t->be->name, dtype_name(t->be->act_dtype), d->world, d->world > 1 ? "s" : "");
        train_log_say(p, "Dataset contains %lld images (%s), %lld steps per epoch", t->info.count, t->cfg.data.root,
                     steps_per_epoch);
        if (t->end_step >= t->step) {
            train_log_say(p, "Training from step %lld to step %lld", t->step, t->end_step);
        } else {   /* e.g. a fine-tuning run from a late checkpoint on a small dataset */
            int by_epochs = t->end_step == tr->epochs * steps_per_epoch;
            train_log_say(p, "The run ends at step %lld (%s), before step %lld where it starts", t->end_step,
                          by_epochs ? "train.epochs x steps per epoch" : "where its schedule started + train.max_num_steps",
                          t->step);
        }
        train_log_say(p, "Software: %s", t->run_info);
        train_log_event(p, "start",
                        "\"step\": %lld, \"end_step\": %lld, \"world_size\": %d, \"global_batch\": %lld, \"device\": \"%s\", "
                        "\"precision\": \"%s\", \"software\": %s",
                        t->step, t->end_step, d->world, t->global_batch, t->be->name, dtype_name(t->be->act_dtype),
                        t->run_info);
    }
    return 0;
}

static void teardown(Trainer *t) {
    if (t->d->rank == 0) train_log_close(&t->log);
    sample_grid_destroy(t->grid);
    if (t->gc) t->gc->destroy(t->gc);
    if (t->model) {
        adamw_free(&t->adam);
        ema_free(&t->ema);
        model_destroy(t->model);
        draws_free(&t->draws);
        edm_batch_free(&t->eb);
    }
    if (t->reader) reader_close(t->reader);
    if (t->be) t->be->destroy(t->be);
    free(t->x);
    free(t->classes);
    free(t->run_info);
}

/* Rank 0: the sample grid of this step, with the EMA weights (trainable prefix from the EMA, the
 * fixed position embeddings from the model); its time is not training time. */
static void sample_grid(Trainer *t) {
    const ParamTable *tab = &t->model->table;
    float *ema = xmalloc(tab->total * sizeof(float), "EMA weights for the sample grid");
    model_download_params(t->model, ema);
    t->be->to_host(t->be, ema, t->ema.ema, tab->n_trainable * sizeof(float));
    train_log_pause(&t->log, sample_grid_make(t->grid, ema, t->step, t->exp_dir, &t->log));
    free(ema);
}

/* Write a checkpoint unless this step has one; a failure ends the run. */
static int save_once(Trainer *t) {
    if (t->saved_step == t->step) return 0;
    Error e = {""};
    int rc = trainer_agree(t->d, trainer_save(t, &e), &e);
    train_log_restart_clock(&t->log);
    return rc;
}

static int loop(Trainer *t) {
    const Dist *d = t->d;
    TrainLog *p = &t->log;
    if (t->step >= t->end_step) {   /* e.g. a finished run requeued once more */
        if (d->rank == 0 && t->step == t->end_step) train_log_say(p, "Nothing to do: step %lld is the end of this run", t->step);
        else if (d->rank == 0) train_log_say(p, "Nothing to do: step %lld is past the end of this run", t->step);
        return 0;
    }
    t->t_start = now_seconds();
    train_log_restart_clock(p);
    while (t->step < t->end_step) {
        StepStats stats;
        StepOutcome out = trainer_step(t, &stats);
        double loss = stats.loss;
        if (out == STEP_NONFINITE) {
            if (d->rank == 0) {
                char last[64] = "none";
                if (t->saved_step >= 0) snprintf(last, sizeof last, "step %lld", t->saved_step);
                train_log_error(p, "the training loss is %s at step %lld (lr %.3g); stopping without saving. The last "
                                  "checkpoint (%s) is intact.",
                                isnan(loss) ? "NaN" : "infinite", t->step + 1, t->last_lr, last);
                train_log_event(p, "stop", "\"step\": %lld, \"reason\": \"nonfinite_loss\"", t->step + 1);
            }
            return EXIT_FAILURE_STATUS;
        }
        if (d->rank == 0) {
            train_log_step(p, &stats);
            if (t->step % t->cfg.log.log_every == 0) {
                ReportState r = {.step = t->step, .end_step = t->end_step, .lr = t->last_lr,
                                 .mask_ratio = t->last_mask_ratio, .peak_mem_bytes = t->be->peak_memory(t->be),
                                 .loss_scale = t->scale.scale, .fp16 = t->scale.enabled, .peak_flops = t->peak_flops};
                train_log_report(p, &r);
            }
            if (t->grid && t->step % t->cfg.log.sample_every == 0) sample_grid(t);
        }
        if (t->step % t->cfg.log.ckpt_every == 0 && save_once(t)) return EXIT_FAILURE_STATUS;
        if (out == STEP_STOP_SIGNAL || out == STEP_TIME_LIMIT) {
            if (save_once(t)) return EXIT_FAILURE_STATUS;
            int sig = out == STEP_STOP_SIGNAL;
            if (d->rank == 0) {
                train_log_say(p, sig ? "Stopped by a signal at step %lld after writing its checkpoint; exit status %d "
                                      "asks the batch system to requeue the job"
                                    : "Reached train.max_minutes at step %lld; checkpoint written (exit status %d)",
                             t->step, sig ? EXIT_REQUEUE_STATUS : 0);
                train_log_event(p, "stop", "\"step\": %lld, \"reason\": \"%s\"", t->step, sig ? "signal" : "time_limit");
            }
            return sig ? EXIT_REQUEUE_STATUS : 0;
        }
    }
    if (save_once(t)) return EXIT_FAILURE_STATUS;
    if (d->rank == 0) {
        train_log_say(p, "Done: step %lld", t->step);
        train_log_event(p, "stop", "\"step\": %lld, \"reason\": \"end\"", t->step);
    }
    return 0;
}

int train_run(const Dist *d, const RunConfig *cfg, const TrainOptions *opt) {
    Trainer t;
    memset(&t, 0, sizeof t);
    t.d = d;
    t.cfg = *cfg;
    t.opt = *opt;
    t.saved_step = -1;
    stop_signals_install();
    int status = setup(&t) < 0 ? EXIT_FAILURE_STATUS : loop(&t);
    teardown(&t);
    return status;
}
