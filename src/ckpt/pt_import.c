#include "pt_import.h"

#include <string.h>

#include "../util/fileio.h"
#include "../util/half.h"

struct PtFile {
    ZipReader *zip;
    Pickle *pickle;
    PkValue *root;
    char *prefix;    /* the archive's top folder: "<prefix>/data.pkl" */
    int plain;       /* the root is a state dict itself */
};

/* Storage classes of torch (torch.FloatStorage, ...) with their element sizes. */
static const struct {
    const char *name;
    PtDtype dtype;
    int elem_size;
} STORAGES[] = {
    {"FloatStorage", PT_FLOAT32, 4},       {"HalfStorage", PT_FLOAT16, 2},     {"BFloat16Storage", PT_BFLOAT16, 2},
    {"DoubleStorage", PT_FLOAT64, 8},      {"LongStorage", PT_UNSUPPORTED, 8}, {"IntStorage", PT_UNSUPPORTED, 4},
    {"ShortStorage", PT_UNSUPPORTED, 2},   {"CharStorage", PT_UNSUPPORTED, 1}, {"ByteStorage", PT_UNSUPPORTED, 1},
    {"BoolStorage", PT_UNSUPPORTED, 1},    {"ComplexFloatStorage", PT_UNSUPPORTED, 8},
    {"ComplexDoubleStorage", PT_UNSUPPORTED, 16},
};

static int storage_index(const char *storage_type) {
    for (size_t i = 0; i < ARRAY_LEN(STORAGES); i++)
        if (strcmp(STORAGES[i].name, storage_type) == 0) return (int)i;
    return -1;
}

static int elem_size_of(const PtTensor *t) { return STORAGES[storage_index(t->storage_type)].elem_size; }

/* ---------------------------------------------------------------- opening */

/* torch.save before 1.6 wrote a bare pickle stream starting with a pickled magic number. */
static int check_magic(const char *path, Error *e) {
    unsigned char m[4] = {0};
    size_t n;
    if (file_read_head(path, m, sizeof m, &n, e) < 0) return -1;
    if (n == 4 && memcmp(m, "PK\x03\x04", 4) == 0) return 0;
    if (n >= 3 && m[0] == 0x80 && m[1] == 0x02 && m[2] == 0x8a)
        return error_set(e, "%s: a legacy (before PyTorch 1.6) torch.save file; re-save it with a recent PyTorch "
                            "(torch.save(torch.load(f), f2)) to get the zip format", path);
    return error_set(e, "%s: not a PyTorch checkpoint (a torch.save file is a zip archive)", path);
}

static const ZipEntry *find_pickle(const ZipReader *z) {
    for (int i = 0; i < z->count; i++) {
        const char *n = z->entries[i].name, *slash = strchr(n, '/');
        if (slash && strcmp(slash, "/data.pkl") == 0) return &z->entries[i];
    }
    return NULL;
}

static int check_byteorder(PtFile *f, Error *e) {
    char name[1024];
    xsnprintf(name, sizeof name, "%s/byteorder", f->prefix);
    const ZipEntry *en = zip_find(f->zip, name);
    if (!en) return 0;   /* written since PyTorch 2.1; older files are little-endian */
    char *text = NULL;
    if (zip_read(f->zip, en, (void **)&text, NULL, e) < 0) return -1;
    int little = strncmp(text, "little", 6) == 0;
    free(text);
    if (!little) return error_set(e, "%s: the tensors were saved big-endian (not supported)", f->zip->path);
    return 0;
}

static int is_tensor_record(const PkValue *v) {
    return pk_is_global(v, "torch._utils._rebuild_tensor_v2") || pk_is_global(v, "torch._utils._rebuild_tensor") ||
           pk_is_global(v, "torch._utils._rebuild_parameter") ||
           pk_is_global(v, "torch._utils._rebuild_parameter_with_state");
}

static int all_tensors(const PkValue *d) {
    if (d->kind != PK_DICT || pk_dict_len(d) == 0) return 0;
    for (size_t i = 0; i < pk_dict_len(d); i++)
        if (!is_tensor_record(pk_dict_value(d, i))) return 0;
    return 1;
}

PtFile *pt_open(const char *path, Error *e) {
    if (check_magic(path, e) < 0) return NULL;
    PtFile *f = xcalloc(1, sizeof *f, "pt file");
    f->zip = zip_open(path, e);
    if (!f->zip) goto fail;
    const ZipEntry *pkl = find_pickle(f->zip);
    if (!pkl) {
        error_set(e, "%s: a zip archive but not a torch.save file (no <name>/data.pkl entry)", path);
        goto fail;
    }
    size_t plen = (size_t)(strchr(pkl->name, '/') - pkl->name);
    f->prefix = xmalloc(plen + 1, "pt archive name");
    memcpy(f->prefix, pkl->name, plen);
    f->prefix[plen] = 0;
    if (check_byteorder(f, e) < 0) goto fail;
    unsigned char *data = NULL;
    size_t len = 0;
    if (zip_read(f->zip, pkl, (void **)&data, &len, e) < 0) goto fail;
    char where[1200];
    snprintf(where, sizeof where, "%s: %s", path, pkl->name);
    f->pickle = pickle_load(data, len, where, &f->root, e);
    free(data);
    if (!f->pickle) goto fail;
    if (f->root->kind != PK_DICT) {
        error_set(e, "%s: the pickled object is not a dict (neither a checkpoint nor a state dict)", path);
        goto fail;
    }
    f->plain = all_tensors(f->root);
    return f;
fail:
    pt_close(f);
    return NULL;
}

void pt_close(PtFile *f) {
    if (!f) return;
    pickle_free(f->pickle);
    zip_close(f->zip);
    free(f->prefix);
    free(f);
}

const char *pt_path(const PtFile *f) { return f->zip->path; }
int pt_is_plain(const PtFile *f) { return f->plain; }

int pt_has_section(const PtFile *f, const char *section) {
    if (f->plain) return strcmp(section, "model") == 0 || strcmp(section, "ema") == 0;
    return pk_dict_get(f->root, section) != NULL;
}

void pt_sections_str(const PtFile *f, char *buf, size_t len) {
    if (f->plain) {
        snprintf(buf, len, "a plain state dict (one set of weights)");
        return;
    }
    buf[0] = 0;
    for (size_t i = 0; i < pk_dict_len(f->root); i++) {
        const PkValue *k = pk_dict_key(f->root, i);
        if (k->kind == PK_STR) text_append(buf, len, "%s%s", buf[0] ? ", " : "", k->s);
    }
}

/* ---------------------------------------------------------------- tensors */

/* The persistent id of a storage: ('storage', torch.FloatStorage, key, location, numel). */
static int parse_storage(const PtFile *f, const PkValue *pid, const char *where, PtTensor *t, uint64_t *numel,
                         Error *e) {
    const PkValue *id = pid->kind == PK_PERSID ? pid->items[0] : NULL;
    if (!id || id->kind != PK_TUPLE || id->n < 5 || id->items[0]->kind != PK_STR ||
        strcmp(id->items[0]->s, "storage") != 0 || id->items[1]->kind != PK_GLOBAL || id->items[2]->kind != PK_STR)
        return error_set(e, "%s: the tensor's storage is not a torch storage reference", where);
    const char *type = id->items[1]->s;
    if (strncmp(type, "torch.", 6) == 0) type += 6;
    int si = storage_index(type);
    if (si < 0) return error_set(e, "%s: unknown storage type %s", where, id->items[1]->s);
    long long n;
    if (pk_as_int(id->items[4], &n) < 0 || n < 0) return error_set(e, "%s: bad storage size", where);
    t->storage_type = STORAGES[si].name;
    t->dtype = STORAGES[si].dtype;
    char entry[1024];
    xsnprintf(entry, sizeof entry, "%s/data/%s", f->prefix, id->items[2]->s);
    t->entry = zip_find(f->zip, entry);
    if (!t->entry) return error_set(e, "%s: its storage %s is missing from the archive", where, entry);
    uint64_t bytes = (uint64_t)n * (uint64_t)STORAGES[si].elem_size;
    if (t->entry->size != bytes)
        return error_set(e, "%s: storage %s holds %llu bytes, expected %llu (%lld x %d-byte elements)", where, entry,
                         (unsigned long long)t->entry->size, (unsigned long long)bytes, n, STORAGES[si].elem_size);
    *numel = (uint64_t)n;
    return 0;
}

static int int_tuple(const PkValue *v, int64_t *out, int *n) {
    if (v->kind != PK_TUPLE || v->n > TENSOR_MAX_DIMS) return -1;
    for (size_t i = 0; i < v->n; i++) {
        long long x;
        if (pk_as_int(v->items[i], &x) < 0 || x < 0) return -1;
        out[i] = x;
    }
    *n = (int)v->n;
    return 0;
}

/* where: "file: section/name" for messages. The tensor's name is set by the caller. */
static int parse_tensor(const PtFile *f, const PkValue *v, const char *where, PtTensor *t, Error *e) {
    if (pk_is_global(v, "torch._utils._rebuild_parameter") ||
        pk_is_global(v, "torch._utils._rebuild_parameter_with_state"))
        v = v->n ? v->items[0] : NULL;
    if (!v || !(pk_is_global(v, "torch._utils._rebuild_tensor_v2") || pk_is_global(v, "torch._utils._rebuild_tensor")) ||
        v->kind != PK_OBJECT || v->n < 4)
        return error_set(e, "%s: not a tensor", where);
    uint64_t storage_numel = 0;
    if (parse_storage(f, v->items[0], where, t, &storage_numel, e) < 0) return -1;
    long long offset;
    int64_t stride[TENSOR_MAX_DIMS];
    int nstride;
    if (pk_as_int(v->items[1], &offset) < 0 || offset < 0) return error_set(e, "%s: bad storage offset", where);
    if (int_tuple(v->items[2], t->meta.shape, &t->meta.ndim) < 0 || int_tuple(v->items[3], stride, &nstride) < 0 ||
        nstride != t->meta.ndim)
        return error_set(e, "%s: bad tensor sizes or strides", where);
    t->offset = (uint64_t)offset;
    t->numel = shape_numel(t->meta.ndim, t->meta.shape);
    /* Row-major contiguity; a dimension of size 1 may carry any stride (as in torch). */
    int64_t expect = 1;
    for (int i = t->meta.ndim - 1; i >= 0; i--) {
        if (t->meta.shape[i] != 1 && stride[i] != expect) {
            char sz[160], st[160];
            shape_str(t->meta.ndim, t->meta.shape, sz, sizeof sz);
            shape_str(nstride, stride, st, sizeof st);
            return error_set(e, "%s: strides %s of a tensor of shape %s are not contiguous row-major (save a "
                                ".contiguous() copy)", where, st, sz);
        }
        expect *= t->meta.shape[i];
    }
    if (t->numel && t->offset + t->numel > storage_numel)
        return error_set(e, "%s: elements [%llu, %llu) lie outside its storage of %llu elements", where,
                         (unsigned long long)t->offset, (unsigned long long)(t->offset + t->numel),
                         (unsigned long long)storage_numel);
    return 0;
}

static const PkValue *section_dict(const PtFile *f, const char *section, Error *e) {
    if (f->plain && (strcmp(section, "model") == 0 || strcmp(section, "ema") == 0)) return f->root;
    const PkValue *d = pk_dict_get(f->root, section);
    if (!d) {
        char have[512];
        pt_sections_str(f, have, sizeof have);
        error_set(e, "%s: no '%s' section (the file holds: %s)", pt_path(f), section, have);
        return NULL;
    }
    if (d->kind != PK_DICT) {
        error_set(e, "%s: '%s' is not a dict", pt_path(f), section);
        return NULL;
    }
    return d;
}

int pt_state_dict(const PtFile *f, const char *section, PtStateDict *out, Error *e) {
    memset(out, 0, sizeof *out);
    const PkValue *d = section_dict(f, section, e);
    if (!d) return -1;
    out->tensors = xcalloc(pk_dict_len(d) + 1, sizeof *out->tensors, "pt state dict");
    for (size_t i = 0; i < pk_dict_len(d); i++) {
        const PkValue *k = pk_dict_key(d, i);
        char where[1024];
        if (k->kind != PK_STR) {
            pt_state_dict_free(out);
            return error_set(e, "%s: '%s' has a key that is not a string", pt_path(f), section);
        }
        snprintf(where, sizeof where, "%s: %s/%s", pt_path(f), section, k->s);
        PtTensor *t = &out->tensors[out->count];
        if (parse_tensor(f, pk_dict_value(d, i), where, t, e) < 0) {
            pt_state_dict_free(out);
            return -1;
        }
        t->meta.name = xstrdup(k->s);
        out->count++;
    }
    return 0;
}

void pt_state_dict_free(PtStateDict *sd) {
    for (int i = 0; i < sd->count; i++) free(sd->tensors[i].meta.name);
    free(sd->tensors);
    memset(sd, 0, sizeof *sd);
}

/* ---------------------------------------------------------------- data */

int pt_read_tensor(const PtFile *f, const PtTensor *t, float *dst, Error *e) {
    if (t->dtype == PT_UNSUPPORTED)
        return error_set(e, "%s: tensor %s is stored as %s, which cannot be read as floating point", pt_path(f),
                         t->meta.name, t->storage_type);
    size_t es = (size_t)elem_size_of(t), bytes = t->numel * es;
    uint64_t at = t->offset * es;
    /* The storages are little-endian, like every host this runs on: float32 goes straight in. */
    if (t->dtype == PT_FLOAT32)
        return zip_read_range(f->zip, t->entry, at, dst, bytes, e) < 0 ? error_prefix(e, "tensor %s", t->meta.name) : 0;
    void *tmp = xmalloc(bytes, t->meta.name);
    int rc = zip_read_range(f->zip, t->entry, at, tmp, bytes, e);
    if (rc < 0) {
        error_prefix(e, "tensor %s", t->meta.name);
    } else if (t->dtype == PT_FLOAT16) {
        half_to_float_n(tmp, dst, t->numel);
    } else if (t->dtype == PT_BFLOAT16) {
        for (size_t i = 0; i < t->numel; i++) {   /* bfloat16: the upper half of a float32 */
            uint32_t bits = (uint32_t)((const uint16_t *)tmp)[i] << 16;
            memcpy(&dst[i], &bits, sizeof bits);
        }
    } else {
        for (size_t i = 0; i < t->numel; i++) dst[i] = (float)((const double *)tmp)[i];
    }
    free(tmp);
    return rc;
}

/* ---------------------------------------------------------------- optimizer */

static int read_step(const PtFile *f, const PkValue *v, const char *where, long long *out, Error *e) {
    double d;
    if (pk_as_int(v, out) == 0) return 0;
    if (pk_as_double(v, &d) == 0) {
        *out = (long long)d;
        return 0;
    }
    PtTensor t = {0};
    if (parse_tensor(f, v, where, &t, e) < 0) return -1;
    if (t.numel != 1) return error_set(e, "%s: the step is not a single number", where);
    float x;
    t.meta.name = (char *)where;
    if (pt_read_tensor(f, &t, &x, e) < 0) return -1;
    *out = (long long)x;
    return 0;
}

static int moment(const PtFile *f, const PkValue *st, const char *key, long long id, PtTensor *t, Error *e) {
    const PkValue *v = pk_dict_get(st, key);
    if (!v) return 0;
    char where[1024];
    snprintf(where, sizeof where, "%s: opt/state[%lld].%s", pt_path(f), id, key);
    if (parse_tensor(f, v, where, t, e) < 0) return -1;
    snprintf(where, sizeof where, "state[%lld].%s", id, key);
    t->meta.name = xstrdup(where);
    return 0;
}

int pt_optimizer(const PtFile *f, PtOptimizer *out, Error *e) {
    memset(out, 0, sizeof *out);
    const PkValue *opt = section_dict(f, "opt", e);
    if (!opt) return -1;
    const PkValue *state = pk_dict_get(opt, "state"), *groups = pk_dict_get(opt, "param_groups");
    if (!state || state->kind != PK_DICT || !groups || groups->kind != PK_LIST)
        return error_set(e, "%s: 'opt' is not an optimizer state_dict (needs 'state' and 'param_groups')",
                         pt_path(f));
    size_t total = 0;
    for (size_t g = 0; g < groups->n; g++) {
        const PkValue *params = pk_dict_get(groups->items[g], "params");
        if (!params || params->kind != PK_LIST)
            return error_set(e, "%s: opt/param_groups[%zu] has no 'params' list", pt_path(f), g);
        total += params->n;
    }
    out->exp_avg = xcalloc(total + 1, sizeof *out->exp_avg, "pt optimizer");
    out->exp_avg_sq = xcalloc(total + 1, sizeof *out->exp_avg_sq, "pt optimizer");
    out->has_lr = groups->n && pk_as_double(pk_dict_get(groups->items[0], "lr"), &out->lr) == 0;
    char where[1024];
    for (size_t g = 0; g < groups->n; g++) {
        const PkValue *group = groups->items[g], *params = pk_dict_get(group, "params");
        for (size_t k = 0; k < params->n; k++, out->count++) {
            long long id;
            if (pk_as_int(params->items[k], &id) < 0) {
                pt_optimizer_free(out);
                return error_set(e, "%s: opt/param_groups[%zu] lists a parameter that is not an index", pt_path(f), g);
            }
            const PkValue *st = pk_dict_get_int(state, id), *step = st ? pk_dict_get(st, "step") : NULL;
            snprintf(where, sizeof where, "%s: opt/state[%lld].step", pt_path(f), id);
            if (moment(f, st, "exp_avg", id, &out->exp_avg[out->count], e) < 0 ||
                moment(f, st, "exp_avg_sq", id, &out->exp_avg_sq[out->count], e) < 0 ||
                (step && !out->has_step && read_step(f, step, where, &out->step, e) < 0)) {
                out->count++;
                pt_optimizer_free(out);
                return -1;
            }
            out->has_step |= step != NULL;
        }
        const PkValue *group_step = pk_dict_get(group, "step");
        snprintf(where, sizeof where, "%s: opt/param_groups[%zu].step", pt_path(f), g);
        if (group_step && !out->has_step) {
            if (read_step(f, group_step, where, &out->step, e) < 0) {
                pt_optimizer_free(out);
                return -1;
            }
            out->has_step = 1;
        }
    }
    return 0;
}

void pt_optimizer_free(PtOptimizer *o) {
    for (int i = 0; i < o->count; i++) {
        free(o->exp_avg[i].meta.name);
        free(o->exp_avg_sq[i].meta.name);
    }
    free(o->exp_avg);
    free(o->exp_avg_sq);
    memset(o, 0, sizeof *o);
}

long long pt_step_from_file_name(const char *path) {
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t digits = strspn(base, "0123456789");
    return digits && digits <= 18 && base[digits] == '.' ? strtoll(base, NULL, 10) : -1;
}

const PkValue *pt_args(const PtFile *f) {
    const PkValue *a = f->plain ? NULL : pk_dict_get(f->root, "args");
    if (!a) return NULL;
    if (a->kind == PK_DICT) return a;
    return a->kind == PK_OBJECT && a->state && a->state->kind == PK_DICT ? a->state : NULL;
}
