/* Reading checkpoints: HDF5 files of our format and official PyTorch .pt files, through one set of
 * name/shape rules (tensor_match); finding the newest intact checkpoint of a run. */
#include <dirent.h>
#include <math.h>
#include <string.h>

#include "../util/fileio.h"
#include "../util/h5util.h"
#include "ckpt_layout.h"
#include "pt_import.h"
#include "pt_legacy.h"

int ckpt_file_kind(const char *path, CkptFileKind *kind, Error *e) {
    unsigned char m[32] = {0};
    size_t n;
    if (file_read_head(path, m, sizeof m, &n, e) < 0) return -1;
    h5_quiet();
    if (n >= 4 && memcmp(m, "PK\x03\x04", 4) == 0) *kind = CKPT_FILE_PT;
    else if ((n >= 8 && memcmp(m, "\x89HDF\r\n\x1a\n", 8) == 0) || H5Fis_hdf5(path) > 0) *kind = CKPT_FILE_HDF5;
    else if (pt_legacy_magic(m, n)) *kind = CKPT_FILE_PT;
    else return error_set(e, "%s: neither an HDF5 checkpoint nor a PyTorch .pt file", path);
    return 0;
}

void ckpt_meta_free(CkptMeta *m) {
    free(m->config_text);
    free(m->model_config_json);
    free(m->software);
    m->config_text = m->model_config_json = m->software = NULL;
}

/* A section's tensors are read through one of these: k indexes the list given to tensor_match. */
typedef int (*TensorReader)(void *ctx, int k, float *dst, size_t n, Error *e);

/* Training never saves a non-finite value, so one is damage; loaded, it would turn every sample
 * black or the first loss into NaN without naming the file. */
static int check_finite(const float *x, size_t n, const char *where, const char *name, Error *e) {
    for (size_t k = 0; k < n; k++)
        if (!isfinite(x[k]))
            return error_set(e, "%s: %s holds %s at element %zu (a damaged checkpoint, or one of a diverged run)",
                             where, name, isnan(x[k]) ? "NaN" : "Inf", k);
    return 0;
}

static int load_section(const ParamTable *t, int trainable_only, TensorMeta *const *found, int n, int strict,
                        const char *where, TensorReader rd, void *ctx, float *buf, Error *e) {
    int *map = xmalloc((size_t)t->count * sizeof *map, "tensor map");
    int rc = tensor_match(t, trainable_only, found, n, strict, where, map, e);
    for (int i = 0; i < t->count && rc == 0; i++) {
        const ParamInfo *p = &t->params[i];
        if (map[i] < 0) continue;
        rc = rd(ctx, map[i], buf + p->offset, p->numel, e);
        if (rc == 0) rc = check_finite(buf + p->offset, p->numel, where, p->name, e);
    }
    free(map);
    return rc;
}

/* ---------------------------------------------------------------- HDF5 */

typedef struct {
    TensorMeta *items;
    TensorMeta **ptrs;
    int n, cap;
} MetaList;

static void meta_list_free(MetaList *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i].name);
    free(l->items);
    free(l->ptrs);
    memset(l, 0, sizeof *l);
}

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *ctx) {
    MetaList *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->items = xrealloc(l->items, (size_t)l->cap * sizeof *l->items, "checkpoint tensor list");
    }
    memset(&l->items[l->n], 0, sizeof l->items[l->n]);
    l->items[l->n++].name = xstrdup(name);
    return 0;
}

/* Names and shapes of the datasets in group (e.g. "ema"). */
static int h5_list_section(hid_t f, const char *path, const char *group, MetaList *l, Error *e) {
    memset(l, 0, sizeof *l);
    if (!h5_exists(f, group)) return error_set(e, "%s: the checkpoint has no /%s section", path, group);
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    if (g < 0) return error_set(e, "%s: cannot open group /%s", path, group);
    herr_t r = H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, collect_name, l);
    H5Gclose(g);
    if (r < 0) return error_set(e, "%s: cannot list group /%s (damaged file?)", path, group);
    l->ptrs = xmalloc(((size_t)l->n + 1) * sizeof *l->ptrs, "checkpoint tensor list");
    for (int i = 0; i < l->n; i++) {
        char dset[512];
        hsize_t dims[H5_MAX_DIMS];
        snprintf(dset, sizeof dset, "/%s/%s", group, l->items[i].name);
        int rank = h5_dataset_shape(f, path, dset, dims, e);
        if (rank < 0) return -1;
        l->items[i].ndim = MIN(rank, TENSOR_MAX_DIMS);
        for (int d = 0; d < l->items[i].ndim; d++) l->items[i].shape[d] = (int64_t)dims[d];
        l->ptrs[i] = &l->items[i];
    }
    return 0;
}

typedef struct {
    hid_t f;
    const char *path, *group;
    const MetaList *list;
} H5Source;

static int h5_read_tensor(void *ctx, int k, float *dst, size_t n, Error *e) {
    const H5Source *s = ctx;
    char dset[512];
    snprintf(dset, sizeof dset, "/%s/%s", s->group, s->list->items[k].name);
    return h5_read_into(s->f, s->path, dset, H5T_NATIVE_FLOAT, dst, n, e);
}

static int check_format(hid_t f, const char *path, Error *e) {
    char *format = NULL;
    if (h5_attr_string(f, path, "/", "format", &format, e) < 0) {
        char why[ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", error_after_path(e, path));
        return error_set(e, "%s: not a MaskDiT checkpoint (%s)", path, why);
    }
    int ok = strcmp(format, CKPT_FORMAT) == 0;
    if (!ok) error_set(e, "%s: format is '%s', expected '%s'", path, format, CKPT_FORMAT);
    free(format);
    return ok ? 0 : -1;
}

/* A string attribute that may be absent: NULL then. */
static int optional_string(hid_t f, const char *path, const char *attr, char **out, Error *e) {
    *out = NULL;
    if (H5Aexists_by_name(f, "/", attr, H5P_DEFAULT) <= 0) return 0;
    return h5_attr_string(f, path, "/", attr, out, e);
}

/* Absent in checkpoints written before it was recorded: -1 then. A count is never negative. */
static int optional_good_steps(hid_t f, const char *path, long long *out, Error *e) {
    *out = -1;
    if (H5Aexists_by_name(f, "/", "loss_scale_good_steps", H5P_DEFAULT) <= 0) return 0;
    if (h5_attr_int64(f, path, "/", "loss_scale_good_steps", out, e) < 0) return -1;
    if (*out < 0)
        return error_set(e, "%s: attribute loss_scale_good_steps is %lld, expected a count of steps >= 0 (corrupt "
                            "checkpoint)", path, *out);
    return 0;
}

static int h5_read_meta(hid_t f, const char *path, CkptMeta *m, Error *e) {
    char *precision = NULL;
    memset(m, 0, sizeof *m);
    long long world;
    if (h5_attr_int64(f, path, "/", "step", &m->step, e) < 0 ||
        h5_attr_int64(f, path, "/", "sample_cursor", &m->sample_cursor, e) < 0 ||
        h5_attr_int64(f, path, "/", "seed", &m->seed, e) < 0 || h5_attr_int64(f, path, "/", "world_size", &world, e) < 0 ||
        h5_attr_double(f, path, "/", "loss_scale", &m->loss_scale, e) < 0 ||
        optional_good_steps(f, path, &m->loss_scale_good_steps, e) < 0 ||
        h5_attr_double(f, path, "/", "lr", &m->lr, e) < 0 ||
        h5_attr_string(f, path, "/", "precision", &precision, e) < 0 ||
        optional_string(f, path, "config", &m->config_text, e) < 0 ||
        optional_string(f, path, "model_config", &m->model_config_json, e) < 0 ||
        optional_string(f, path, "software", &m->software, e) < 0) {
        free(precision);
        ckpt_meta_free(m);
        return -1;
    }
    m->world_size = (int)world;
    snprintf(m->precision, sizeof m->precision, "%s", precision);
    free(precision);
    return 0;
}

static int load_h5(const char *path, const ParamTable *t, CkptTensors *want, CkptMeta *meta, int strict, Error *e) {
    hid_t f = h5_open_read(path, e);
    if (f < 0) return -1;
    int rc = check_format(f, path, e);
    for (int s = 0; s < SEC_COUNT && rc == 0; s++) {
        float *buf = ckpt_section_buffer(want, s);
        if (!buf) continue;
        MetaList l;
        char where[1200];
        snprintf(where, sizeof where, "%s: %s", path, ckpt_section_group(s));
        rc = h5_list_section(f, path, ckpt_section_group(s), &l, e);
        H5Source src = {f, path, ckpt_section_group(s), &l};
        if (rc == 0)
            rc = load_section(t, ckpt_section_trainable_only(s), l.ptrs, l.n, strict, where, h5_read_tensor, &src,
                              buf, e);
        meta_list_free(&l);
    }
    if (rc == 0 && meta) rc = h5_read_meta(f, path, meta, e);
    H5Fclose(f);
    return rc;
}

/* ---------------------------------------------------------------- .pt */

typedef struct {
    const PtFile *f;
    PtTensor *const *tensors;
} PtSource;

static int pt_read_one(void *ctx, int k, float *dst, size_t n, Error *e) {
    const PtSource *s = ctx;
    return pt_read_tensor(s->f, s->tensors[k], dst, e);
}

static int load_pt_weights(const PtFile *f, const ParamTable *t, const char *section, float *buf, int strict,
                           Error *e) {
    PtStateDict sd;
    if (pt_state_dict(f, section, &sd, e) < 0) return -1;
    TensorMeta **metas = xmalloc(((size_t)sd.count + 1) * sizeof *metas, "pt tensor list");
    PtTensor **tensors = xmalloc(((size_t)sd.count + 1) * sizeof *tensors, "pt tensor list");
    for (int i = 0; i < sd.count; i++) {
        metas[i] = &sd.tensors[i].meta;
        tensors[i] = &sd.tensors[i];
    }
    char where[1200];
    snprintf(where, sizeof where, "%s: %s", pt_path(f), section);
    PtSource src = {f, tensors};
    int rc = load_section(t, 0, metas, sd.count, strict, where, pt_read_one, &src, buf, e);
    free(metas);
    free(tensors);
    pt_state_dict_free(&sd);
    return rc;
}

/* Table tensor of each optimizer position. torch's param_groups list model.parameters(): every
 * tensor in state_dict order when the position embeddings are (frozen) parameters, as in the
 * original; only the trainable ones when they were left out. */
static int opt_positions(const PtFile *f, const ParamTable *t, int count, int *order, Error *e) {
    int trainable = 0;
    for (int i = 0; i < t->count; i++) trainable += t->params[i].trainable;
    if (count == trainable) {
        for (int i = 0, k = 0; i < t->count; i++)
            if (t->params[i].trainable) order[k++] = i;
    } else if (count == t->count) {
        for (int i = 0; i < t->count; i++) order[i] = i;
    } else {
        return error_set(e, "%s: opt: param_groups list %d parameters, but the configured model has %d trainable "
                            "tensors (%d with the fixed position embeddings)", pt_path(f), count, trainable, t->count);
    }
    return 0;
}

static int load_pt_moments(const PtFile *f, const ParamTable *t, PtOptimizer *o, CkptTensors *want, int strict,
                           Error *e) {
    int *order = xmalloc(((size_t)o->count + 1) * sizeof *order, "optimizer order");
    int rc = opt_positions(f, t, o->count, order, e);
    TensorMeta **metas = xmalloc(((size_t)o->count + 1) * sizeof *metas, "pt tensor list");
    PtTensor **tensors = xmalloc(((size_t)o->count + 1) * sizeof *tensors, "pt tensor list");
    for (int which = 0; which < 2 && rc == 0; which++) {
        PtTensor *list = which ? o->exp_avg_sq : o->exp_avg;
        float *buf = which ? want->exp_avg_sq : want->exp_avg;
        if (!buf) continue;
        int n = 0;
        for (int k = 0; k < o->count; k++) {
            if (!list[k].storage) continue;   /* no state for this parameter (a frozen one) */
            free(list[k].meta.name);
            list[k].meta.name = xstrdup(t->params[order[k]].name);
            metas[n] = &list[k].meta;
            tensors[n++] = &list[k];
        }
        char where[1200];
        snprintf(where, sizeof where, "%s: opt/%s", pt_path(f), which ? "exp_avg_sq" : "exp_avg");
        PtSource src = {f, tensors};
        rc = load_section(t, 1, metas, n, strict, where, pt_read_one, &src, buf, e);
    }
    free(order);
    free(metas);
    free(tensors);
    return rc;
}

static void pt_meta(const PtFile *f, const PtOptimizer *o, CkptMeta *m) {
    memset(m, 0, sizeof *m);
    long long args_step;   /* recorded by maskdit-ckpt export (src/ckpt/export.h), not by the original */
    if (o && o->has_step) m->step = o->step;
    else if (pk_as_int(pk_dict_get(pt_args(f), "step"), &args_step) == 0 && args_step >= 0) m->step = args_step;
    else m->step = MAX(0, pt_step_from_file_name(pt_path(f)));
    m->sample_cursor = -1;
    m->loss_scale = 1.0;
    m->loss_scale_good_steps = -1;
    if (o && o->has_lr) m->lr = o->lr;
    long long seed;
    if (pk_as_int(pk_dict_get(pt_args(f), "global_seed"), &seed) == 0) m->seed = seed;
}

static int load_pt(const char *path, const ParamTable *t, CkptTensors *want, CkptMeta *meta, int strict, Error *e) {
    PtFile *f = pt_open(path, e);
    if (!f) return -1;
    int rc = 0;
    if (want->model) rc = load_pt_weights(f, t, "model", want->model, strict, e);
    if (rc == 0 && want->ema) rc = load_pt_weights(f, t, "ema", want->ema, strict, e);
    PtOptimizer o = {0};
    int need_opt = want->exp_avg || want->exp_avg_sq, have_opt = 0;
    if (rc == 0 && need_opt) {
        rc = pt_optimizer(f, &o, e);
        have_opt = rc == 0;
    } else if (rc == 0 && meta && pt_has_section(f, "opt")) {
        Error ignored;   /* only the step and lr are wanted: without them the file name gives the step */
        have_opt = pt_optimizer(f, &o, &ignored) == 0;
    }
    if (rc == 0 && need_opt) rc = load_pt_moments(f, t, &o, want, strict, e);
    if (rc == 0 && meta) pt_meta(f, have_opt ? &o : NULL, meta);
    if (have_opt) pt_optimizer_free(&o);
    pt_close(f);
    return rc;
}

int ckpt_load(const char *path, const ParamTable *t, CkptTensors *want, CkptMeta *meta, int strict, Error *e) {
    CkptFileKind kind = CKPT_FILE_HDF5;   /* set on success; initialised for the compiler's flow analysis */
    if (ckpt_file_kind(path, &kind, e) < 0) return -1;
    return kind == CKPT_FILE_PT ? load_pt(path, t, want, meta, strict, e) : load_h5(path, t, want, meta, strict, e);
}

/* ---------------------------------------------------------------- inspection */

int ckpt_sections(const char *path, int *sections, Error *e) {
    CkptFileKind kind;
    *sections = 0;
    if (ckpt_file_kind(path, &kind, e) < 0) return -1;
    if (kind == CKPT_FILE_PT) {
        PtFile *f = pt_open(path, e);
        if (!f) return -1;
        *sections = (pt_has_section(f, "model") ? CKPT_MODEL : 0) | (pt_has_section(f, "ema") ? CKPT_EMA : 0) |
                    (pt_has_section(f, "opt") ? CKPT_OPT : 0);
        pt_close(f);
        return 0;
    }
    hid_t f = h5_open_read(path, e);
    if (f < 0) return -1;
    int rc = check_format(f, path, e);
    if (rc == 0)
        *sections = (h5_exists(f, "/model") ? CKPT_MODEL : 0) | (h5_exists(f, "/ema") ? CKPT_EMA : 0) |
                    (h5_exists(f, "/opt/exp_avg") && h5_exists(f, "/opt/exp_avg_sq") ? CKPT_OPT : 0);
    H5Fclose(f);
    return rc;
}

int ckpt_list(const char *path, const char *section, TensorMeta **list, int *count, Error *e) {
    CkptFileKind kind;
    *list = NULL;
    *count = 0;
    if (ckpt_file_kind(path, &kind, e) < 0) return -1;
    if (kind == CKPT_FILE_PT) {
        PtFile *f = pt_open(path, e);
        PtStateDict sd;
        if (!f || pt_state_dict(f, section, &sd, e) < 0) {
            pt_close(f);
            return -1;
        }
        *list = xcalloc((size_t)sd.count + 1, sizeof **list, "tensor list");
        for (int i = 0; i < sd.count; i++) {
            (*list)[i] = sd.tensors[i].meta;
            sd.tensors[i].meta.name = NULL;   /* ownership moves to the list */
        }
        *count = sd.count;
        pt_state_dict_free(&sd);
        pt_close(f);
        return 0;
    }
    hid_t f = h5_open_read(path, e);
    if (f < 0) return -1;
    MetaList l = {0};
    int rc = check_format(f, path, e);
    if (rc == 0) rc = h5_list_section(f, path, section, &l, e);
    H5Fclose(f);
    if (rc < 0) {
        meta_list_free(&l);
        return -1;
    }
    *list = l.items;
    *count = l.n;
    free(l.ptrs);
    return 0;
}

void ckpt_list_free(TensorMeta *list, int count) {
    for (int i = 0; i < count; i++) free(list[i].name);
    free(list);
}

int ckpt_check_layout(const char *path, const ParamTable *t, unsigned sections, Error *e) {
    hid_t f = h5_open_read(path, e);
    if (f < 0) return f == H5_UNREADABLE ? CKPT_UNREADABLE : -1;
    int rc = check_format(f, path, e);
    if (sections == CKPT_LAYOUT_PRESENT)
        sections = 1u << SEC_MODEL | 1u << SEC_EMA | (h5_exists(f, "/opt") ? 1u << SEC_EXP_AVG | 1u << SEC_EXP_AVG_SQ : 0);
    int *map = xmalloc((size_t)t->count * sizeof *map, "tensor map");
    for (int s = 0; s < SEC_COUNT && rc == 0; s++) {
        if (!(sections & 1u << s)) continue;
        MetaList l;
        char where[1200];
        snprintf(where, sizeof where, "%s: %s", path, ckpt_section_group(s));
        rc = h5_list_section(f, path, ckpt_section_group(s), &l, e);
        if (rc == 0 && tensor_match(t, ckpt_section_trainable_only(s), l.ptrs, l.n, 1, where, map, e) < 0)
            rc = CKPT_OTHER_MODEL;
        meta_list_free(&l);
    }
    free(map);
    H5Fclose(f);
    return rc;
}

int ckpt_validate(const char *path, const ParamTable *t, Error *e) {
    return ckpt_check_layout(path, t, CKPT_LAYOUT_PRESENT, e);
}

int ckpt_step_of_name(const char *name, long long *step) {
    size_t digits = strspn(name, "0123456789");
    if (digits < 7 || digits > 18 || strcmp(name + digits, ".h5") != 0) return 0;
    *step = strtoll(name, NULL, 10);
    return 1;
}

typedef struct {
    long long step;
    char *name;
} Candidate;

static int newest_first(const void *a, const void *b) {
    long long x = ((const Candidate *)a)->step, y = ((const Candidate *)b)->step;
    return x < y ? 1 : x > y ? -1 : 0;
}

int ckpt_find_latest(const char *dir, const ParamTable *t, char *out, size_t out_len, Error *e) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    Candidate *c = NULL;
    int n = 0, cap = 0;
    for (struct dirent *de; (de = readdir(d));) {
        long long step;
        if (!ckpt_step_of_name(de->d_name, &step)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            c = xrealloc(c, (size_t)cap * sizeof *c, "checkpoint list");
        }
        c[n].step = step;
        c[n++].name = xstrdup(de->d_name);
    }
    closedir(d);
    qsort(c, (size_t)n, sizeof *c, newest_first);
    int found = 0;
    for (int i = 0; i < n && found == 0; i++) {
        char path[4096];
        Error why;
        xsnprintf(path, sizeof path, "%s/%s", dir, c[i].name);
        int rc = ckpt_validate(path, t, &why);
        if (rc == 0) {
            xsnprintf(out, out_len, "%s", path);
            found = 1;
        } else if (rc == CKPT_UNREADABLE) {
            /* It may well be intact: skipping it would let this run overwrite it with an older restart. */
            found = error_set(e, "cannot resume: %s; it may be intact, so it is not skipped: make it readable (or wait "
                                 "for the process that holds it) and run again, or move it away if it is damaged",
                              why.msg);
        } else if (rc == CKPT_OTHER_MODEL) {
            /* Skipping it would start afresh and overwrite that run's checkpoints. */
            found = error_set(e, "cannot resume from %s, a checkpoint of another model (%s); starting afresh would "
                                 "overwrite the checkpoints of that run: give this one another --results_dir or --tag "
                                 "(or move the file away if it is damaged)", path, error_after_path(&why, path));
        } else {
            warn("skipping damaged checkpoint %s: %s", path, error_after_path(&why, path));
        }
    }
    for (int i = 0; i < n; i++) free(c[i].name);
    free(c);
    return found;
}
