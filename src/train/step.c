/* One optimizer step: grad_accum micro-batches per rank, the gradient all-reduce overlapping the
 * last backward pass, one agreement among the ranks (loss sum and stop requests in a single
 * all-reduce), AdamW on the rank-identical averaged gradients, EMA. */
#include <math.h>

#include "lr.h"
#include "mask_schedule.h"
#include "signals.h"
#include "trainer_internal.h"

/* Read this rank's share of micro-batch round a, draw its randomness, forward, loss, backward.
 * Returns the sum of its per-sample losses. */
static double micro_batch(Trainer *t, int a, int Lk, int last, float grad_scale) {
    const TrainSection *tr = &t->cfg.train;
    int bs = tr->batchsize;
    uint64_t g0 = t->cursor + (uint64_t)a * t->micro_global + (uint64_t)t->d->rank * bs;
    /* where this rank reads next: the next round, or the first round of the next step */
    uint64_t next = last ? t->cursor + t->global_batch + (uint64_t)t->d->rank * bs : g0 + t->micro_global;
    Error e;
    if (reader_read(t->reader, g0, bs, t->x, t->classes, (int64_t)next, &e) < 0) die("%s", e.msg);
    int L = model_num_patches(&t->mc), masked = Lk < L;
    draws_make(&t->draws, (uint64_t)tr->seed, g0, bs, t->classes, t->cfg.model.class_dropout_prob, masked);
    ModelInput in;
    LossInput li;
    edm_prepare(&t->eb, &t->mc, bs, t->x, t->mc.num_classes ? t->draws.labels : NULL, t->draws.rnd_normal,
                t->draws.noise, t->draws.ids_shuffle, Lk, &in, &li);
    model_forward(t->model, &in);
    model_loss(t->model, &li, grad_scale, t->eb.loss);
    model_backward(t->model, last ? t->gc->ready : NULL, last ? t->gc : NULL);
    double sum = 0;
    for (int n = 0; n < bs; n++) sum += t->eb.loss[n];
    return sum;
}

/* Factor applied to the reduced gradients: the AMP unscale and the clipping of the global norm. */
static double gradient_factor(Trainer *t, int *finite) {
    double unscale = 1.0 / t->scale.scale, clip = t->cfg.train.grad_clip;
    *finite = 1;
    if (!t->scale.enabled && clip <= 0) return unscale;
    double sq = t->be->sum_squares(t->be, t->model->grads, t->model->table.n_trainable);
    *finite = isfinite(sq);
    double norm = sqrt(sq) * unscale;
    if (clip > 0 && *finite && norm > clip) return unscale * clip / norm;
    return unscale;
}

StepOutcome trainer_step(Trainer *t, double *loss) {
    const TrainSection *tr = &t->cfg.train;
    const ModelSection *ms = &t->cfg.model;
    double progress = tr->max_num_steps > 0 ? (double)(t->step - t->start_step) / (double)tr->max_num_steps : 0;
    double ratio = mask_ratio_at(ms->mask_ratio_fn, ms->mask_ratio, ms->mask_ratio_min, fmin(progress, 1.0));
    int Lk = model_len_keep(&t->mc, ratio);
    double lr = lr_at_step(t->step, tr->lr, t->global_batch, tr->lr_rampup_kimg);
    float grad_scale = (float)(t->scale.scale / (double)t->global_batch);

    model_zero_grads(t->model);
    double local_sum = 0;
    for (int a = 0; a < tr->grad_accum; a++) local_sum += micro_batch(t, a, Lk, a == tr->grad_accum - 1, grad_scale);
    t->gc->finish(t->gc);

    /* One all-reduce carries the loss and every rank's stop requests. Only rank 0's clock counts
     * for the time limit, so that the ranks cannot disagree about it. */
    int time_up = t->d->rank == 0 && tr->max_minutes > 0 && now_seconds() - t->t_start >= tr->max_minutes * 60;
    double v[3] = {local_sum, stop_signal_received() ? 1 : 0, time_up};
    dist_allreduce_sum_double(t->d, v, 3);
    *loss = v[0] / (double)t->global_batch;
    t->last_lr = lr;
    t->last_mask_ratio = ratio;
    if (!isfinite(*loss)) return STEP_NONFINITE;

    int finite;
    double factor = gradient_factor(t, &finite);
    if (loss_scale_update(&t->scale, finite)) {
        adamw_step(&t->adam, t->model->params, model_params_act(t->model), t->model->grads, lr, factor);
    }
    ema_update(&t->ema, t->model->params);
    t->step++;
    t->cursor += (uint64_t)t->global_batch;
    if (v[1] > 0) return STEP_STOP_SIGNAL;
    if (v[2] > 0) return STEP_TIME_LIMIT;
    return STEP_OK;
}
