#include "export.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../util/zip.h"
#include "pickle_write.h"
#include "safetensors_write.h"

/* ------------------------------------------------------------------ .pt */

/* The pickle stream and the storages it refers to, in key order ("0", "1", ...). */
typedef struct {
    PkWriter w;
    const float **data;
    size_t *numel;
    int n, cap;
} PtWriter;

static void tuple_of(PkWriter *w, int ndim, const long long *v) {
    pkw_op(w, PKW_MARK);
    for (int d = 0; d < ndim; d++) pkw_int(w, v[d]);
    pkw_op(w, PKW_TUPLE);
}

/* torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()), the storage a
 * persistent id ('storage', torch.FloatStorage, key, 'cpu', numel) of a new archive entry. */
static void pt_tensor(PtWriter *p, const float *data, int ndim, const int64_t *shape) {
    PkWriter *w = &p->w;
    long long size[PARAM_MAX_DIMS], stride[PARAM_MAX_DIMS];
    size_t numel = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        size[d] = shape[d];
        stride[d] = (long long)numel;
        numel *= (size_t)shape[d];
    }
    if (p->n == p->cap) {
        p->cap = p->cap * 2 + 64;
        p->data = xrealloc(p->data, (size_t)p->cap * sizeof *p->data, "storage list");
        p->numel = xrealloc(p->numel, (size_t)p->cap * sizeof *p->numel, "storage list");
    }
    char key[24];
    snprintf(key, sizeof key, "%d", p->n);
    p->data[p->n] = data;
    p->numel[p->n++] = numel;

    pkw_global(w, "torch._utils", "_rebuild_tensor_v2");
    pkw_op(w, PKW_MARK);
    pkw_op(w, PKW_MARK);
    pkw_str(w, "storage");
    pkw_global(w, "torch", "FloatStorage");
    pkw_str(w, key);
    pkw_str(w, "cpu");
    pkw_int(w, (long long)numel);
    pkw_op(w, PKW_TUPLE);
    pkw_op(w, PKW_BINPERSID);
    pkw_int(w, 0);
    tuple_of(w, ndim, size);
    tuple_of(w, ndim, stride);
    pkw_bool(w, 0);
    pkw_global(w, "collections", "OrderedDict");
    pkw_op(w, PKW_EMPTY_TUPLE);
    pkw_op(w, PKW_REDUCE);
    pkw_op(w, PKW_TUPLE);
    pkw_op(w, PKW_REDUCE);
}

static void ordered_dict(PkWriter *w) {
    pkw_global(w, "collections", "OrderedDict");
    pkw_op(w, PKW_EMPTY_TUPLE);
    pkw_op(w, PKW_REDUCE);
}

static void state_dict(PtWriter *p, const ParamTable *t, const float *flat) {
    ordered_dict(&p->w);
    pkw_op(&p->w, PKW_MARK);
    for (int i = 0; i < t->count; i++) {
        const ParamInfo *q = &t->params[i];
        pkw_str(&p->w, q->name);
        pt_tensor(p, flat + q->offset, q->ndim, q->shape);
    }
    pkw_op(&p->w, PKW_SETITEMS);
}

/* torch.optim.AdamW(model.parameters(), lr, weight_decay=0).state_dict() (src/train/optimizer.c's
 * betas and eps). */
static void optimizer(PtWriter *p, const ExportInput *x, const float *step_value) {
    PkWriter *w = &p->w;
    const ParamTable *t = x->t;
    pkw_op(w, PKW_EMPTY_DICT);
    pkw_op(w, PKW_MARK);
    pkw_str(w, "state");
    pkw_op(w, PKW_EMPTY_DICT);
    pkw_op(w, PKW_MARK);
    for (int i = 0; i < t->count; i++) {
        const ParamInfo *q = &t->params[i];
        if (!q->trainable) continue;   /* a frozen tensor never gets a gradient, so no state */
        pkw_int(w, i);
        pkw_op(w, PKW_EMPTY_DICT);
        pkw_op(w, PKW_MARK);
        pkw_str(w, "step");
        pt_tensor(p, step_value, 0, NULL);
        pkw_str(w, "exp_avg");
        pt_tensor(p, x->exp_avg + q->offset, q->ndim, q->shape);
        pkw_str(w, "exp_avg_sq");
        pt_tensor(p, x->exp_avg_sq + q->offset, q->ndim, q->shape);
        pkw_op(w, PKW_SETITEMS);
    }
    pkw_op(w, PKW_SETITEMS);
    pkw_str(w, "param_groups");
    pkw_op(w, PKW_EMPTY_LIST);
    pkw_op(w, PKW_MARK);
    pkw_op(w, PKW_EMPTY_DICT);
    pkw_op(w, PKW_MARK);
    pkw_str(w, "lr"), pkw_float(w, x->lr);
    pkw_str(w, "betas"), pkw_op(w, PKW_MARK), pkw_float(w, 0.9), pkw_float(w, 0.999), pkw_op(w, PKW_TUPLE);
    pkw_str(w, "eps"), pkw_float(w, 1e-8);
    pkw_str(w, "weight_decay"), pkw_int(w, 0);
    pkw_str(w, "amsgrad"), pkw_bool(w, 0);
    pkw_str(w, "maximize"), pkw_bool(w, 0);
    pkw_str(w, "foreach"), pkw_op(w, PKW_NONE);
    pkw_str(w, "capturable"), pkw_bool(w, 0);
    pkw_str(w, "differentiable"), pkw_bool(w, 0);
    pkw_str(w, "fused"), pkw_op(w, PKW_NONE);
    pkw_str(w, "params");
    pkw_op(w, PKW_EMPTY_LIST);
    pkw_op(w, PKW_MARK);
    for (int i = 0; i < t->count; i++) pkw_int(w, i);
    pkw_op(w, PKW_APPENDS);
    pkw_op(w, PKW_SETITEMS);
    pkw_op(w, PKW_APPENDS);
    pkw_op(w, PKW_SETITEMS);
}

/* A flat JSON object (string keys; string, number, true/false/null values) as a pickled dict:
 * integers stay integers. Returns -1 when the text is not such an object. */
static int flat_json_dict(PkWriter *w, const char *s) {
    char *buf = xmalloc(strlen(s) + 1, "JSON text");
    int rc = -1;
    pkw_op(w, PKW_EMPTY_DICT);
    pkw_op(w, PKW_MARK);
    while (isspace((unsigned char)*s)) s++;
    if (*s++ != '{') goto done;
    for (int first = 1;; first = 0) {
        while (isspace((unsigned char)*s)) s++;
        if (*s == '}' && first) break;
        for (int k = 0; k < 2; k++) {   /* k = 0: the key, 1: the value */
            while (isspace((unsigned char)*s)) s++;
            if (*s == '"') {
                size_t n = 0;
                for (s++; *s && *s != '"'; s++) {
                    if (*s == '\\' && s[1]) s++;   /* the writer escapes only " and \ in these texts */
                    buf[n++] = *s;
                }
                if (*s++ != '"') goto done;
                buf[n] = 0;
                pkw_str(w, buf);
            } else if (k == 0) {
                goto done;
            } else if (!strncmp(s, "true", 4) || !strncmp(s, "false", 5) || !strncmp(s, "null", 4)) {
                if (*s == 'n') pkw_op(w, PKW_NONE);
                else pkw_bool(w, *s == 't');
                s += *s == 'f' ? 5 : 4;
            } else {
                char *end;
                size_t len = strspn(s, "-+0123456789.eE");
                double v = strtod(s, &end);
                if (end == s || len == 0) goto done;
                if (strcspn(s, ".eE") >= len) pkw_int(w, strtoll(s, NULL, 10));
                else pkw_float(w, v);
                s = end;
            }
            while (isspace((unsigned char)*s)) s++;
            if (k == 0 && *s++ != ':') goto done;
        }
        if (*s == '}') break;
        if (*s++ != ',') goto done;
    }
    rc = 0;
done:
    pkw_op(w, PKW_SETITEMS);
    free(buf);
    return rc;
}

int export_pt(const char *path, const ExportInput *x, Error *e) {
    PtWriter p = {0};
    PkWriter *w = &p.w;
    float step_value = (float)x->optimizer_step;   /* torch keeps AdamW's step as a float32 tensor */
    pkw_begin(w);
    pkw_op(w, PKW_EMPTY_DICT);
    pkw_op(w, PKW_MARK);
    if (x->model) pkw_str(w, "model"), state_dict(&p, x->t, x->model);
    if (x->ema) pkw_str(w, "ema"), state_dict(&p, x->t, x->ema);
    if (x->exp_avg && x->exp_avg_sq) pkw_str(w, "opt"), optimizer(&p, x, &step_value);
    pkw_str(w, "args");
    pkw_op(w, PKW_EMPTY_DICT);
    pkw_op(w, PKW_MARK);
    pkw_str(w, "global_seed"), pkw_int(w, x->seed);
    pkw_str(w, "step"), pkw_int(w, x->step);
    int rc = 0;
    if (x->model_config_json) {
        pkw_str(w, "model_config");
        if (flat_json_dict(w, x->model_config_json) < 0)
            rc = error_set(e, "%s: the checkpoint's model_config is not a flat JSON object: %.200s", path,
                           x->model_config_json);
    }
    pkw_op(w, PKW_SETITEMS);
    pkw_op(w, PKW_SETITEMS);
    pkw_end(w);

    /* torch.save's archive: <name>/data.pkl, <name>/byteorder, <name>/data/<key>, <name>/version */
    ZipWriter *z = rc == 0 ? zip_writer_open(path, 0, e) : NULL;
    if (rc == 0 && !z) rc = -1;
    if (rc == 0) rc = zip_writer_add(z, "archive/data.pkl", w->b, w->n, e);
    if (rc == 0) rc = zip_writer_add(z, "archive/byteorder", "little", 6, e);
    for (int k = 0; k < p.n && rc == 0; k++) {
        char name[48];
        snprintf(name, sizeof name, "archive/data/%d", k);
        rc = zip_writer_add(z, name, p.data[k], p.numel[k] * sizeof(float), e);   /* little-endian host */
    }
    if (rc == 0) rc = zip_writer_add(z, "archive/version", "3\n", 2, e);
    if (rc == 0) rc = zip_writer_close(z, e);
    else if (z) zip_writer_abort(z);
    free(w->b);
    free(p.data);
    free(p.numel);
    return rc;
}

/* ------------------------------------------------------------------ safetensors */

int export_safetensors(const char *path, const ExportInput *x, Error *e) {
    const ParamTable *t = x->t;
    int both = x->model && x->ema, n = 0;
    StTensor *ts = xmalloc(2 * (size_t)t->count * sizeof *ts, "tensor list");
    char **names = xcalloc(2 * (size_t)t->count, sizeof *names, "tensor names");
    for (int s = 0; s < 2; s++) {
        const float *flat = s ? x->ema : x->model;
        if (!flat) continue;
        for (int i = 0; i < t->count; i++) {
            const ParamInfo *q = &t->params[i];
            size_t len = strlen(q->name) + 8;
            names[n] = xmalloc(len, "tensor name");
            snprintf(names[n], len, "%s%s", both ? (s ? "ema." : "model.") : "", q->name);
            ts[n] = (StTensor){names[n], q->ndim, q->shape, flat + q->offset};
            n++;
        }
    }
    char step[32];
    snprintf(step, sizeof step, "%lld", x->step);
    const char *meta[] = {"format", "pt", "step", step, "model_config", x->model_config_json};
    int rc = safetensors_write(path, ts, n, meta, x->model_config_json ? 3 : 2, e);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(ts);
    return rc;
}
