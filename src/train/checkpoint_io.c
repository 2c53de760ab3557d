/* Writing the training state as one checkpoint (src/ckpt/ckpt.h; every rank takes part). */
#include <string.h>

#include "trainer_internal.h"

CkptTensors trainer_tensors_alloc(const ParamTable *t) {
    return (CkptTensors){
        .model = xmalloc(t->total * sizeof(float), "checkpoint model weights"),
        .ema = xmalloc(t->total * sizeof(float), "checkpoint EMA weights"),
        .exp_avg = xmalloc(t->n_trainable * sizeof(float), "checkpoint exp_avg"),
        .exp_avg_sq = xmalloc(t->n_trainable * sizeof(float), "checkpoint exp_avg_sq"),
    };
}

void trainer_tensors_free(CkptTensors *ts) {
    free(ts->model), free(ts->ema), free(ts->exp_avg), free(ts->exp_avg_sq);
    *ts = (CkptTensors){0};
}

int trainer_save(Trainer *t, Error *e) {
    const ParamTable *tab = &t->model->table;
    size_t total = tab->total, nt = tab->n_trainable;
    CkptTensors ts = trainer_tensors_alloc(tab);
    model_download_params(t->model, ts.model);
    /* the EMA covers the trainable prefix; its fixed position embeddings are the model's */
    memcpy(ts.ema + nt, ts.model + nt, (total - nt) * sizeof(float));
    t->be->to_host(t->be, ts.ema, t->ema.ema, nt * sizeof(float));
    adamw_download(&t->adam, ts.exp_avg, ts.exp_avg_sq);

    RunConfig stored = t->cfg;
    stored.run.start_step = t->start_step;
    stored.run.optimizer_step = t->adam.step;
    CkptMeta meta = {
        .step = t->step,
        .sample_cursor = (long long)t->cursor,
        .seed = t->cfg.train.seed,
        .world_size = t->d->world,
        .loss_scale = t->scale.scale,
        .loss_scale_good_steps = t->scale.good_steps,
        .lr = t->last_lr,
        .config_text = run_config_to_yaml(&stored, 1),
        .software = t->run_info ? xstrdup(t->run_info) : NULL,
    };
    snprintf(meta.precision, sizeof meta.precision, "%s", dtype_name(t->be->act_dtype));
    char path[TRAIN_PATH_MAX + 32];
    xsnprintf(path, sizeof path, "%s/%07lld.h5", t->ckpt_dir, t->step);
    double t0 = now_seconds();
    int rc = ckpt_save(path, t->d, tab, &ts, &meta, e);
    ckpt_meta_free(&meta);
    trainer_tensors_free(&ts);
    if (rc < 0) return error_prefix(e, "at step %lld", t->step);   /* the message names the file */
    t->saved_step = t->step;
    if (t->d->rank == 0) {
        train_log_say(&t->log, "Saved checkpoint to %s (%.1f s)", path, now_seconds() - t0);
        char quoted[6 * sizeof path + 3];   /* every byte escaped at worst (\u00XX) */
        train_log_json_string(path, quoted, sizeof quoted);
        train_log_event(&t->log, "checkpoint", "\"step\": %lld, \"path\": %s, \"seconds\": %.3f", t->step, quoted,
                       now_seconds() - t0);
    }
    return 0;
}
