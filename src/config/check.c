/* Checks that need several keys, the model the configuration describes, and notices. */
#include <math.h>
#include <string.h>

#include "config.h"
#include "schema.h"

static const char *const MASK_RATIO_FNS[] = {"constant", "linear", "exp", "cosine2", "cosine3", "cosine4",
                                             "cosine5", "cosine6", "cos2", "cos3", "cos4", "cos5", "cos6"};

static int known_mask_ratio_fn(const char *name) {
    for (size_t i = 0; i < ARRAY_LEN(MASK_RATIO_FNS); i++)
        if (!strcmp(name, MASK_RATIO_FNS[i])) return 1;
    return 0;
}

static int one_of(const char *s, const char *a, const char *b, const char *c, const char *d) {
    return !strcmp(s, a) || !strcmp(s, b) || !strcmp(s, c) || (d && !strcmp(s, d));
}

#define RANGE(cond, key, fmt, value, expect) \
    if (!(cond)) return error_set(e, "%s: %s: expected %s, got " fmt, where, key, expect, value)

int run_config_check(const RunConfig *c, Error *e) {
    const char *where = c->source[0] ? c->source : "config";
    const ModelSection *m = &c->model;
    const TrainSection *t = &c->train;
    if (strcmp(m->precond, "edm"))
        return error_set(e, "%s: model.precond: '%s' is not supported (only edm)", where, m->precond);
    if (m->ext_feature_dim != 0)
        return error_set(e, "%s: model.ext_feature_dim: external features are not supported (expected 0, got %d)",
                         where, m->ext_feature_dim);
    if (m->pad_cls_token)
        return error_set(e, "%s: model.pad_cls_token: the extra class token is not supported (expected false)", where);
    if (m->self_cond)
        return error_set(e, "%s: model.self_cond: encoder-feature conditioning is not supported (expected false)",
                         where);
    RANGE(m->mask_ratio >= 0 && m->mask_ratio < 1, "model.mask_ratio", "%g", m->mask_ratio, "0 <= value < 1");
    RANGE(m->mask_ratio_min >= 0 && m->mask_ratio_min < 1, "model.mask_ratio_min", "%g", m->mask_ratio_min,
          "0 <= value < 1");
    RANGE(!(m->P_std < 0), "model.P_std", "%g", m->P_std, "a number >= 0 (a standard deviation)");
    if (!known_mask_ratio_fn(m->mask_ratio_fn))
        return error_set(e, "%s: model.mask_ratio_fn: unknown schedule '%s' (expected constant, linear, exp or "
                            "cosine2 ... cosine6)", where, m->mask_ratio_fn);
    RANGE(m->class_dropout_prob >= 0 && m->class_dropout_prob <= 1, "model.class_dropout_prob", "%g",
          m->class_dropout_prob, "a probability in [0, 1]");
    RANGE(t->batchsize >= 1, "train.batchsize", "%d", t->batchsize, "an integer >= 1");
    RANGE(t->grad_accum >= 1, "train.grad_accum", "%d", t->grad_accum, "an integer >= 1");
    RANGE(t->epochs >= 1, "train.epochs", "%lld", t->epochs, "an integer >= 1");
    RANGE(t->max_num_steps >= 0, "train.max_num_steps", "%lld", t->max_num_steps, "an integer >= 0");
    RANGE(t->lr >= 0 && isfinite(t->lr), "train.lr", "%g", t->lr, "a finite number >= 0");
    RANGE(t->lr_rampup_kimg >= 0 && isfinite(t->lr_rampup_kimg), "train.lr_rampup_kimg", "%g", t->lr_rampup_kimg,
          "a finite number >= 0");
    RANGE(t->seed >= 0, "train.seed", "%lld", t->seed, "an integer >= 0");
    if (!one_of(t->device, "cpu", "cuda", "auto", NULL))
        return error_set(e, "%s: train.device: expected cpu, cuda or auto, got '%s'", where, t->device);
    if (!one_of(t->precision, "auto", "fp32", "bf16", "fp16"))
        return error_set(e, "%s: train.precision: expected auto, fp32, bf16 or fp16, got '%s'", where, t->precision);
    RANGE(t->threads >= 0, "train.threads", "%d", t->threads, "an integer >= 0");
    RANGE(t->grad_clip >= 0, "train.grad_clip", "%g", t->grad_clip, "a number >= 0");
    RANGE(t->ema_decay >= 0 && t->ema_decay <= 1, "train.ema_decay", "%g", t->ema_decay, "a number in [0, 1]");
    RANGE(t->max_minutes >= 0, "train.max_minutes", "%g", t->max_minutes, "a number >= 0");
    RANGE(t->bucket_mb >= 0 && t->bucket_mb < 65536, "train.bucket_mb", "%g", t->bucket_mb, "0 <= value < 65536");
    RANGE(c->log.log_every >= 1, "log.log_every", "%lld", c->log.log_every, "an integer >= 1");
    RANGE(c->log.ckpt_every >= 1, "log.ckpt_every", "%lld", c->log.ckpt_every, "an integer >= 1");
    RANGE(c->log.peak_tflops >= 0, "log.peak_tflops", "%g", c->log.peak_tflops, "a number >= 0 (0 = known GPUs)");
    RANGE(c->log.sample_every >= 0, "log.sample_every", "%lld", c->log.sample_every, "an integer >= 0 (0 = none)");
    RANGE(c->data.num_classes >= -1, "data.num_classes", "%d", c->data.num_classes, "-1 or a class count");
    ModelConfig mc;
    if (run_config_model(c, &mc, e)) return error_prefix(e, "%s", where);
    if (model_check_mask_ratio(&mc, m->mask_ratio, e)) return error_prefix(e, "%s: model.mask_ratio", where);
    /* The schedules run between mask_ratio_min and mask_ratio. */
    if (strcmp(m->mask_ratio_fn, "constant") && model_check_mask_ratio(&mc, m->mask_ratio_min, e))
        return error_prefix(e, "%s: model.mask_ratio_min", where);
    if (strcmp(m->mask_ratio_fn, "constant") && m->mask_ratio_min > m->mask_ratio)
        return error_set(e, "%s: model.mask_ratio_min %g is above model.mask_ratio %g: the schedule runs from "
                            "mask_ratio_min up to mask_ratio", where, m->mask_ratio_min, m->mask_ratio);
    return 0;
}

int run_config_check_training(const RunConfig *c, Error *e) {
    const char *where = c->source[0] ? c->source : "config";
    const DataSection *d = &c->data;
    const char *root = d->root[0] ? d->root : "<data.root>";
    /* The original's LMDB root holds the latents in <root>/train (its ImageNetLatentDataset). */
    if (!strcmp(d->category, "lmdb"))
        return error_set(e,
                         "%s: data.category: lmdb is not read directly; convert the latent LMDB once to an HDF5 "
                         "dataset with\n    maskdit-convert lmdb %s/train --out %s-hdf5\nthen set data.category: hdf5 "
                         "and data.root: %s-hdf5",
                         where, root, root, root);
    if (!strcmp(d->category, "webdataset"))
        return error_set(e,
                         "%s: data.category: webdataset is not read directly; convert the latent LMDB the shards "
                         "were made from (the input of the original's lmdb2wds.py) with\n    maskdit-convert lmdb "
                         "<latent-lmdb>/train --out %s-hdf5\nthen set data.category: hdf5 and data.root: %s-hdf5",
                         where, root, root);
    if (strcmp(d->category, "hdf5"))
        return error_set(e, "%s: data.category: unknown dataset category '%s' (expected hdf5)", where, d->category);
    if (!d->root[0]) return error_set(e, "%s: data.root: no dataset directory given", where);
    if (d->resolution != c->model.in_size)
        return error_set(e, "%s: data.resolution (%d) differs from model.in_size (%d)", where, d->resolution,
                         c->model.in_size);
    if (d->num_channels != c->model.in_channels)
        return error_set(e, "%s: data.num_channels (%d) differs from model.in_channels (%d)", where, d->num_channels,
                         c->model.in_channels);
    if (d->num_classes >= 0 && d->num_classes != c->model.num_classes)
        return error_set(e, "%s: data.num_classes (%d) differs from model.num_classes (%d)", where, d->num_classes,
                         c->model.num_classes);
    return 0;
}

int run_config_model(const RunConfig *c, ModelConfig *mc, Error *e) {
    const ModelSection *m = &c->model;
    *mc = model_config_default();
    if (model_config_apply_type(mc, m->model_type, e)) return error_prefix(e, "model.model_type");
    if (m->hidden_size) mc->hidden_size = m->hidden_size;
    if (m->depth) mc->depth = m->depth;
    if (m->num_heads) mc->num_heads = m->num_heads;
    if (m->patch_size) mc->patch_size = m->patch_size;
    mc->input_size = m->in_size;
    mc->in_channels = m->in_channels;
    mc->num_classes = m->num_classes;
    mc->use_decoder = m->use_decoder;
    mc->mlp_ratio = m->mlp_ratio;
    mc->decoder_hidden_size = m->decoder_hidden_size;
    mc->decoder_depth = m->decoder_depth;
    mc->decoder_num_heads = m->decoder_num_heads;
    mc->mae_loss_coef = m->mae_loss_coef;
    mc->sigma_data = m->sigma_data;
    mc->P_mean = m->P_mean;
    mc->P_std = m->P_std;
    if (model_config_validate(mc, e)) return error_prefix(e, "model");
    return 0;
}

void run_config_notices(const RunConfig *c) {
    char list[1024] = "";
    int wandb = 0;
    for (int i = 0; i < CONFIG_NKEYS; i++) {
        const ConfigKey *k = &CONFIG_KEYS[i];
        if (!(k->flags & CK_IGNORED) || !c->given[i]) continue;
        if (!strncmp(k->key, "wandb.", 6)) {
            wandb = 1;
            continue;
        }
        text_append(list, sizeof list, "%s%s", list[0] ? ", " : "", k->key);
    }
    if (list[0]) info("notice: config keys accepted without effect here: %s (see docs/configs.md)", list);
    if (wandb) info("notice: the wandb section is ignored (Weights & Biases is not built in; metrics go to metrics.jsonl)");
}

void run_config_py_value(const RunConfig *c, const char *key, char *buf, size_t len) {
    int ki = config_key_find(key);
    if (ki < 0) FATAL("unknown config key %s", key);
    const ConfigKey *k = &CONFIG_KEYS[ki];
    const void *p = (const char *)c + k->offset;
    switch (k->type) {
    case CT_STR: snprintf(buf, len, "%s", (const char *)p); break;
    case CT_INT: snprintf(buf, len, "%d", *(const int *)p); break;
    case CT_I64: snprintf(buf, len, "%lld", *(const long long *)p); break;
    case CT_BOOL: snprintf(buf, len, "%s", *(const int *)p ? "True" : "False"); break;
    case CT_FLOAT:
        if (c->int_literal[ki]) snprintf(buf, len, "%.0f", *(const double *)p);
        else format_py_float(*(const double *)p, buf, len);
        break;
    case CT_FLOAT_LIST: FATAL("run_config_py_value: %s is a list", key);
    }
}
