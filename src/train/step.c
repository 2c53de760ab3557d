/* One optimizer step: grad_accum micro-batches per rank, the gradient all-reduce overlapping the
 * last backward pass, one agreement among the ranks (loss sum and stop requests in a single
 * all-reduce), AdamW on the rank-identical averaged gradients, EMA.
 *
 * The host half of a micro-batch (read, random draws, EDM inputs) is done for the next micro-batch
 * while the device runs the backward pass of the current one, so that a GPU does not wait for it.
 * What a micro-batch holds depends only on its sample indices and its token count, so preparing it
 * early changes no number. */
#include <math.h>

#include "../model/flops.h"
#include "lr.h"
#include "mask_schedule.h"
#include "../util/stop_signals.h"
#include "trainer_internal.h"

static double mask_ratio_of_step(const Trainer *t, long long step) {
    const TrainSection *tr = &t->cfg.train;
    const ModelSection *ms = &t->cfg.model;
    double progress = tr->max_num_steps > 0 ? (double)(step - t->start_step) / (double)tr->max_num_steps : 0;
    return mask_ratio_at(ms->mask_ratio_fn, ms->mask_ratio, ms->mask_ratio_min, fmin(progress, 1.0));
}

/* First sample this rank reads in micro-batch round a of the step `ahead` steps after this one. */
static uint64_t round_g0(const Trainer *t, int ahead, int a) {
    return t->cursor + (uint64_t)ahead * t->global_batch + (uint64_t)a * t->micro_global +
           (uint64_t)t->d->rank * t->cfg.train.batchsize;
}

/* Read, draw and prepare round a of the step `ahead` steps from now, with len_keep encoder tokens. */
static void prepare(Trainer *t, int ahead, int a, int len_keep) {
    const TrainSection *tr = &t->cfg.train;
    int bs = tr->batchsize;
    uint64_t g0 = round_g0(t, ahead, a);
    /* where this rank reads after that: the next round, or the first round of the following step */
    uint64_t next = a + 1 < tr->grad_accum ? round_g0(t, ahead, a + 1) : round_g0(t, ahead + 1, 0);
    Error e;
    double t0 = now_seconds();
    if (reader_read(t->reader, g0, bs, t->x, t->classes, (int64_t)next, &e) < 0) die("%s", e.msg);
    double t1 = now_seconds();
    int masked = len_keep < model_num_patches(&t->mc);
    draws_make(&t->draws, (uint64_t)tr->seed, g0, bs, t->classes, t->cfg.model.class_dropout_prob, masked);
    edm_prepare(&t->eb, &t->mc, bs, t->x, t->mc.num_classes ? t->draws.labels : NULL, t->draws.rnd_normal,
                t->draws.noise, t->draws.ids_shuffle, len_keep, &t->in, &t->li);
    t->data_wait += t1 - t0;
    t->host_prepare += now_seconds() - t1;
    t->prepared = 1;
    t->prepared_g0 = g0;
    t->prepared_len_keep = len_keep;
}

/* Forward, loss and backward of round a (prepared earlier when possible), then the host half of
 * the next micro-batch. Returns the sum of this rank's per-sample losses. */
static double micro_batch(Trainer *t, int a, int len_keep, float grad_scale) {
    int bs = t->cfg.train.batchsize, last = a == t->cfg.train.grad_accum - 1;
    if (!(t->prepared && t->prepared_g0 == round_g0(t, 0, a) && t->prepared_len_keep == len_keep)) prepare(t, 0, a, len_keep);
    t->prepared = 0;
    model_forward(t->model, &t->in);
    model_loss(t->model, &t->li, grad_scale, t->eb.loss);
    double sum = 0;
    for (int n = 0; n < bs; n++) sum += t->eb.loss[n];
    model_backward(t->model, last ? t->gc->ready : NULL, last ? t->gc : NULL);
    if (!last) prepare(t, 0, a + 1, len_keep);
    else if (t->step + 1 < t->end_step) prepare(t, 1, 0, model_len_keep(&t->mc, mask_ratio_of_step(t, t->step + 1)));
    return sum;
}

/* Factor applied to the reduced gradients: the AMP unscale and the clipping of the global norm.
 * The norm (before clipping) is computed where it is needed, and on steps whose numbers are logged
 * (want_norm); else *norm is NaN. */
static double gradient_factor(Trainer *t, int want_norm, int *finite, double *norm) {
    double unscale = 1.0 / t->scale.scale, clip = t->cfg.train.grad_clip;
    *finite = 1;
    *norm = NAN;
    if (!t->scale.enabled && clip <= 0 && !want_norm) return unscale;
    double sq = t->be->sum_squares(t->be, t->model->grads, t->model->table.n_trainable);
    *finite = isfinite(sq);
    *norm = sqrt(sq) * unscale;
    if (clip > 0 && *finite && *norm > clip) return unscale * clip / *norm;
    return unscale;
}

StepOutcome trainer_step(Trainer *t, StepStats *stats) {
    const TrainSection *tr = &t->cfg.train;
    double ratio = mask_ratio_of_step(t, t->step);
    int len_keep = model_len_keep(&t->mc, ratio);
    double lr = lr_at_step(t->step, tr->lr, t->global_batch, tr->lr_rampup_kimg);
    float grad_scale = (float)(t->scale.scale / (double)t->global_batch);

    model_zero_grads(t->model);
    double local_sum = 0;
    for (int a = 0; a < tr->grad_accum; a++) local_sum += micro_batch(t, a, len_keep, grad_scale);
    t->gc->finish(t->gc);

    /* One all-reduce carries the loss, every rank's stop requests and host times. Only rank 0's
     * clock counts for the time limit, so that the ranks cannot disagree about it. */
    int time_up = t->d->rank == 0 && tr->max_minutes > 0 && now_seconds() - t->t_start >= tr->max_minutes * 60;
    double v[5] = {local_sum, stop_signal_received() ? 1 : 0, time_up, t->data_wait, t->host_prepare};
    dist_allreduce_sum_double(t->d, v, 5);
    t->data_wait = t->host_prepare = 0;
    *stats = (StepStats){
        .loss = v[0] / (double)t->global_batch,
        .images = t->global_batch,
        .flops = model_step_flops(&t->mc, tr->batchsize, len_keep) * tr->grad_accum,
        .data_wait = v[3] / t->d->world,
        .host_prepare = v[4] / t->d->world,
    };
    t->last_lr = lr;
    t->last_mask_ratio = ratio;
    if (!isfinite(stats->loss)) return STEP_NONFINITE;

    int finite, logged = (t->step + 1) % t->cfg.log.log_every == 0;
    double factor = gradient_factor(t, logged, &finite, &stats->grad_norm);
    if (loss_scale_update(&t->scale, finite)) {
        adamw_step(&t->adam, t->model->params, model_params_act(t->model), t->model->grads, lr, factor);
    } else {
        stats->skipped = 1;
    }
    ema_update(&t->ema, t->model->params);
    t->step++;
    t->cursor += (uint64_t)t->global_batch;
    if (v[1] > 0) return STEP_STOP_SIGNAL;
    if (v[2] > 0) return STEP_TIME_LIMIT;
    return STEP_OK;
}
