/* Where a run starts. Rank 0 decides and loads, every rank receives the result by broadcast:
 *
 *  --ckpt_path X, --use_ckpt_path True (the original's default): the experiment directory is the
 *      one X lies in (X = <exp>/checkpoints/N.h5); X is loaded as --use_strict_load says.
 *  otherwise the experiment directory is <results_dir>/<name> (expdir.h), and
 *      - its newest valid checkpoint is resumed (damaged ones are skipped with a warning and
 *        renamed "<name>.damaged"; one that cannot be read now stops the run: unreadable is not
 *        damaged),
 *      - else --ckpt_path X is loaded (fine-tuning: --use_strict_load False loads the model and
 *        EMA weights only and starts a fresh optimizer at X's step),
 *      - else the run starts from scratch (the original's initialisation, seeded).
 *    The original never resumes a fine-tuning run from its own directory (it would restart from X
 *    after a requeue); here the fine-tuning run's newest checkpoint wins.
 *
 * A strict load restores everything a checkpoint holds: weights, EMA, AdamW moments and step,
 * sample cursor, seed, loss scale and its count of finite steps, and where the run's schedule
 * started, so that training N steps, stopping and resuming for M more equals training N+M steps
 * (the loss scale only when the precision is the one the checkpoint was written in). */
#include <string.h>

#include "../ckpt/pt_import.h"
#include "expdir.h"
#include "trainer_internal.h"

enum { START_FRESH, START_RESUME, START_FINETUNE };

typedef struct {
    int rc;
    int kind;
    int strict;
    char source[TRAIN_PATH_MAX];
    char exp_dir[TRAIN_PATH_MAX];
    long long step, start_step, optimizer_step, cursor, seed;
    LossScale scale;
} StartPlan;

int trainer_agree(const Dist *d, int rc, const Error *e) {
    Error shared = *e;
    if (dist_agree(d, rc, &shared) == 0) return 0;
    if (d->rank == 0) {
        fprintf(stderr, "maskdit-train: error: %s\n", shared.msg);
        fflush(stderr);
    }
    return -1;
}

/* A checkpoint's stored configuration (NULL text: none); 0 when there is none to read. */
static int stored_config(const char *text, const char *path, RunConfig *out) {
    if (!text) return 0;
    Error e;
    run_config_defaults(out);
    if (run_config_apply_text(out, text, path, 1, &e) < 0) {
        warn("cannot read the configuration stored in a checkpoint (%s); not comparing it", e.msg);
        return 0;
    }
    return 1;
}

/* Shapes are checked by ckpt_load; this catches what shapes cannot show (head counts). */
static int check_same_model(const ModelConfig *a, const ModelConfig *b, const char *path, Error *e) {
    struct {
        const char *name;
        double here, there;
    } f[] = {{"in_size", a->input_size, b->input_size},
             {"patch_size", a->patch_size, b->patch_size},
             {"in_channels", a->in_channels, b->in_channels},
             {"hidden_size", a->hidden_size, b->hidden_size},
             {"depth", a->depth, b->depth},
             {"num_heads", a->num_heads, b->num_heads},
             {"mlp_ratio", a->mlp_ratio, b->mlp_ratio},
             {"num_classes", a->num_classes, b->num_classes},
             {"use_decoder", a->use_decoder, b->use_decoder},
             {"decoder_hidden_size", a->decoder_hidden_size, b->decoder_hidden_size},
             {"decoder_depth", a->decoder_depth, b->decoder_depth},
             {"decoder_num_heads", a->decoder_num_heads, b->decoder_num_heads}};
    for (size_t i = 0; i < ARRAY_LEN(f); i++)
        if (f[i].here != f[i].there)
            return error_set(e, "checkpoint %s is from a different model: model.%s is %g there, %g in this config", path,
                             f[i].name, f[i].there, f[i].here);
    return 0;
}

/* A run may resume a checkpoint written in another precision: weights, EMA and AdamW moments are
 * fp32 in every precision, so they carry over unchanged; only the loss scale belongs to the old
 * precision (an fp32 or bf16 run records 1, useless for fp16), so the scaler starts afresh. Says
 * so and returns 1 when the precision changed (checkpoints that record none: 0). */
static int precision_changed(const Trainer *t, const char *written, const char *source) {
    const char *now = dtype_name(t->be->act_dtype);
    if (!written[0] || !strcmp(written, now)) return 0;
    info("notice: %s was written by a %s run and this run computes in %s: the fp32 weights, EMA and optimizer "
         "state carry over%s; the run will not repeat the old one bit for bit",
         source, written, now, t->scale.enabled ? ", the loss scale starts afresh" : "");
    return 1;
}

/* What a failed load of plan->source was for, before the message (which names the file). */
static int load_failed(const Trainer *t, const StartPlan *plan, Error *e) {
    int given = t->opt.ckpt_path && !strcmp(plan->source, t->opt.ckpt_path);
    return error_prefix(e, "cannot %s %s", plan->strict ? "resume from" : "fine-tune from",
                        given ? "--ckpt_path" : "the experiment's newest checkpoint");
}

/* Rank 0: load `plan->source` into the host buffers and fill the plan's counters. */
static int load_source(Trainer *t, StartPlan *plan, CkptTensors *ts, Error *e) {
    CkptMeta meta = {0};
    CkptFileKind kind;
    if (ckpt_file_kind(plan->source, &kind, e) < 0) return load_failed(t, plan, e);
    CkptTensors want = *ts;
    if (!plan->strict) want.exp_avg = want.exp_avg_sq = NULL;
    if (ckpt_load(plan->source, &t->model->table, &want, &meta, plan->strict, e) < 0) return load_failed(t, plan, e);
    RunConfig there;
    ModelConfig there_model;
    int have_there = stored_config(meta.config_text, plan->source, &there), rc = 0;
    if (have_there && run_config_model(&there, &there_model, e) == 0)
        rc = check_same_model(&t->mc, &there_model, plan->source, e);
    else if (have_there)
        warn("%s: the stored configuration describes no valid model (%s); not comparing it", plan->source, e->msg);
    if (rc == 0) {
        /* .pt: the step is in the file name (as the original reads it), the optimizer's own count in
         * the file, no cursor; HDF5 written by maskdit-train: all recorded (run section). */
        long long named = pt_step_from_file_name(plan->source);
        int pt = kind == CKPT_FILE_PT, has_run = have_there && there.run.start_step >= 0;
        plan->step = pt && named >= 0 ? named : meta.step;
        plan->optimizer_step = has_run ? there.run.optimizer_step : meta.step;
        plan->start_step = has_run ? there.run.start_step : plan->step;
        plan->cursor = meta.sample_cursor >= 0 ? meta.sample_cursor : plan->step * t->global_batch;
        plan->seed = pt ? t->cfg.train.seed : meta.seed;
        plan->scale = t->scale;
        if (!plan->strict) {   /* fine-tuning: a new run that starts at the checkpoint's step, fresh scaler */
            plan->optimizer_step = 0;
            plan->start_step = plan->step;
            plan->cursor = plan->step * t->global_batch;
            plan->seed = t->cfg.train.seed;
        } else if (!precision_changed(t, meta.precision, plan->source)) {
            rc = loss_scale_restore(&plan->scale, meta.loss_scale, meta.loss_scale_good_steps, plan->source, e);
        }
    }
    ckpt_meta_free(&meta);
    return rc;
}

/* Rank 0: the experiment directory and the source to start from. */
static int plan_start(Trainer *t, StartPlan *plan, Error *e) {
    const TrainOptions *o = &t->opt;
    if (o->ckpt_path && o->use_ckpt_path) {
        char dir[TRAIN_PATH_MAX];
        path_dirname(o->ckpt_path, dir, sizeof dir);
        path_dirname(dir, plan->exp_dir, sizeof plan->exp_dir);
    } else {
        char name[1024];
        if (experiment_name_check(&t->cfg, e) < 0) return -1;
        experiment_name(&t->cfg, t->global_batch, name, sizeof name);
        xsnprintf(plan->exp_dir, sizeof plan->exp_dir, "%s/%s", o->results_dir, name);
    }
    if (experiment_prepare(plan->exp_dir, e) < 0) return -1;
    char ckpt_dir[TRAIN_PATH_MAX + 16];
    experiment_checkpoint_dir(plan->exp_dir, ckpt_dir, sizeof ckpt_dir);
    plan->kind = START_FRESH;
    plan->strict = 1;
    int found;
    if (o->ckpt_path && o->use_ckpt_path) {
        xsnprintf(plan->source, sizeof plan->source, "%s", o->ckpt_path);
        plan->strict = o->use_strict_load;
    } else if ((found = ckpt_find_latest(ckpt_dir, &t->model->table, plan->source, sizeof plan->source, e)) < 0) {
        return -1;
    } else if (found) {
        if (o->ckpt_path) info("notice: %s already has checkpoints; resuming from %s instead of loading %s",
                               plan->exp_dir, plan->source, o->ckpt_path);
    } else if (o->ckpt_path) {
        xsnprintf(plan->source, sizeof plan->source, "%s", o->ckpt_path);
        plan->strict = o->use_strict_load;
    } else {
        plan->source[0] = 0;
    }
    if (plan->source[0]) plan->kind = plan->strict ? START_RESUME : START_FINETUNE;
    return 0;
}

/* Rank 0: no checkpoint newer than where the run starts may be overwritten by its checkpoints.
 * Resuming the directory's own newest, every newer one was proven damaged (ckpt_find_latest);
 * a --ckpt_path inside the directory proves nothing about them. */
static int protect_newer(const Trainer *t, const StartPlan *plan, Error *e) {
    char ckpt_dir[TRAIN_PATH_MAX + 16];
    experiment_checkpoint_dir(plan->exp_dir, ckpt_dir, sizeof ckpt_dir);
    int from_given_path = t->opt.ckpt_path && t->opt.use_ckpt_path;
    return experiment_protect_newer(ckpt_dir, plan->kind == START_FRESH ? 0 : plan->step, !from_given_path, e);
}

static void bcast_floats(const Dist *d, float *buf, size_t n) { dist_bcast(d, buf, n * sizeof(float), 0); }

int trainer_start(Trainer *t) {
    const Dist *d = t->d;
    const ParamTable *tab = &t->model->table;
    size_t total = tab->total, nt = tab->n_trainable;
    CkptTensors ts = trainer_tensors_alloc(tab);
    StartPlan plan = {0};
    Error e = {""};
    if (d->rank == 0) {
        plan.rc = plan_start(t, &plan, &e);
        if (plan.rc == 0 && plan.kind != START_FRESH) plan.rc = load_source(t, &plan, &ts, &e);
        if (plan.rc == 0 && plan.kind == START_FRESH) {
            params_init(tab, &t->mc, (uint64_t)t->cfg.train.seed, ts.model);
            plan.seed = t->cfg.train.seed;
            plan.scale = t->scale;
        }
        if (plan.rc == 0) plan.rc = protect_newer(t, &plan, &e);
        if (plan.rc == 0) plan.rc = train_log_open(&t->log, plan.exp_dir, t->cfg.log.tensorboard, &e);
    }
    int rc = trainer_agree(d, plan.rc, &e);
    if (rc == 0) {
        dist_bcast(d, &plan, sizeof plan, 0);
        /* Parameters from rank 0, whatever each rank could compute itself. */
        bcast_floats(d, ts.model, total);
        model_upload_params(t->model, ts.model);
        if (plan.kind == START_FRESH) {
            ema_reset(&t->ema, t->model->params);   /* the original: update_ema(ema, model, decay=0) */
        } else {
            bcast_floats(d, ts.ema, nt);
            t->be->to_device(t->be, t->ema.ema, ts.ema, nt * sizeof(float));
        }
        if (plan.kind == START_RESUME) {
            bcast_floats(d, ts.exp_avg, nt);
            bcast_floats(d, ts.exp_avg_sq, nt);
            adamw_upload(&t->adam, ts.exp_avg, ts.exp_avg_sq, plan.optimizer_step);
        }
        if (plan.seed != t->cfg.train.seed)
            info("notice: continuing with the checkpoint's seed %lld (the config says %lld)", plan.seed,
                 t->cfg.train.seed);
        t->cfg.train.seed = plan.seed;
        t->scale = plan.scale;
        t->step = plan.step;
        t->start_step = plan.kind == START_FRESH ? 0 : plan.start_step;
        t->cursor = (uint64_t)plan.cursor;
        t->saved_step = plan.kind == START_RESUME ? plan.step : -1;
        xsnprintf(t->exp_dir, sizeof t->exp_dir, "%s", plan.exp_dir);
        experiment_checkpoint_dir(plan.exp_dir, t->ckpt_dir, sizeof t->ckpt_dir);
        if (d->rank == 0) {
            train_log_say(&t->log, "Experiment directory created at %s", t->exp_dir);
            if (plan.kind == START_RESUME)
                train_log_say(&t->log, "Resuming from %s: step %lld, sample %lld", plan.source, plan.step,
                             plan.cursor);
            else if (plan.kind == START_FINETUNE)
                train_log_say(&t->log, "Loaded model and EMA weights from %s (step %lld); fresh optimizer",
                             plan.source, plan.step);
            else
                train_log_say(&t->log, "Starting from scratch (seed %lld)", plan.seed);
        }
    }
    trainer_tensors_free(&ts);
    return rc;
}
