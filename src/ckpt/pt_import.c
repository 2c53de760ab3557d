#include "pt_import.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fileio.h"
#include "pt_legacy.h"

struct PtFile {
    char *path;
    ZipReader *zip;          /* zip layout */
    PtLegacy legacy;         /* legacy layout (zip == NULL) */
    int fd;                  /* legacy layout: the open file */
    PtStorage *storages;     /* every storage of the file (legacy: legacy.storages) */
    int n_storages;
    Pickle *pickle;
    PkValue *root;
    char *prefix;    /* zip: the archive's top folder: "<prefix>/data.pkl" */
    int plain;       /* the root is a state dict itself */
};

/* Storage classes of torch (torch.FloatStorage, ...) with their element sizes. */
static const struct {
    const char *name;
    FloatData dtype;
    int elem_size;
} STORAGES[] = {
    {"FloatStorage", FD_FLOAT32, 4},       {"HalfStorage", FD_FLOAT16, 2},    {"BFloat16Storage", FD_BFLOAT16, 2},
    {"DoubleStorage", FD_FLOAT64, 8},      {"LongStorage", FD_NOT_FLOAT, 8},  {"IntStorage", FD_NOT_FLOAT, 4},
    {"ShortStorage", FD_NOT_FLOAT, 2},     {"CharStorage", FD_NOT_FLOAT, 1},  {"ByteStorage", FD_NOT_FLOAT, 1},
    {"BoolStorage", FD_NOT_FLOAT, 1},      {"ComplexFloatStorage", FD_NOT_FLOAT, 8},
    {"ComplexDoubleStorage", FD_NOT_FLOAT, 16},
};

static int storage_index(const char *storage_type) {
    if (strncmp(storage_type, "torch.", 6) == 0) storage_type += 6;
    for (size_t i = 0; i < ARRAY_LEN(STORAGES); i++)
        if (strcmp(STORAGES[i].name, storage_type) == 0) return (int)i;
    return -1;
}

int pt_storage_info(const char *type, FloatData *dtype, int *elem_size) {
    int si = storage_index(type);
    if (si < 0) return -1;
    *dtype = STORAGES[si].dtype;
    *elem_size = STORAGES[si].elem_size;
    return 0;
}

static int elem_size_of(const PtTensor *t) { return STORAGES[storage_index(t->storage_type)].elem_size; }

/* ---------------------------------------------------------------- opening */

typedef enum { PT_ZIP, PT_LEGACY } PtLayout;

/* A zip archive, or a legacy file: a bare pickle stream starting with a pickled magic number. */
static int sniff(const char *path, PtLayout *layout, Error *e) {
    unsigned char m[32] = {0};
    size_t n;
    if (file_read_head(path, m, sizeof m, &n, e) < 0) return -1;
    if (n >= 4 && memcmp(m, "PK\x03\x04", 4) == 0) *layout = PT_ZIP;
    else if (pt_legacy_magic(m, n)) *layout = PT_LEGACY;
    else return error_set(e, "%s: not a PyTorch checkpoint (neither a torch.save zip archive nor the legacy format)", path);
    return 0;
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

/* The archive's storages: its entries "<prefix>/data/<key>". */
static void zip_storages(PtFile *f) {
    char dir[1024];
    xsnprintf(dir, sizeof dir, "%s/data/", f->prefix);
    size_t dlen = strlen(dir);
    f->storages = xcalloc((size_t)f->zip->count + 1, sizeof *f->storages, "pt storages");
    for (int i = 0; i < f->zip->count; i++) {
        const ZipEntry *en = &f->zip->entries[i];
        if (strncmp(en->name, dir, dlen) == 0 && en->name[dlen])
            f->storages[f->n_storages++] = (PtStorage){.key = en->name + dlen, .bytes = en->size, .entry = en};
    }
}

static int open_zip(PtFile *f, Error *e) {
    f->zip = zip_open(f->path, e);
    if (!f->zip) return -1;
    const ZipEntry *pkl = find_pickle(f->zip);
    if (!pkl) return error_set(e, "%s: a zip archive but not a torch.save file (no <name>/data.pkl entry)", f->path);
    size_t plen = (size_t)(strchr(pkl->name, '/') - pkl->name);
    f->prefix = xmalloc(plen + 1, "pt archive name");
    memcpy(f->prefix, pkl->name, plen);
    f->prefix[plen] = 0;
    if (check_byteorder(f, e) < 0) return -1;
    zip_storages(f);
    unsigned char *data = NULL;
    size_t len = 0;
    if (zip_read(f->zip, pkl, (void **)&data, &len, e) < 0) return -1;
    char where[1200];
    snprintf(where, sizeof where, "%s: %s", f->path, pkl->name);
    f->pickle = pickle_load(data, len, where, &f->root, e);
    free(data);
    return f->pickle ? 0 : -1;
}

static int open_legacy(PtFile *f, Error *e) {
    struct stat st;
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0 || fstat(f->fd, &st) < 0) return error_set(e, "%s: cannot open: %s", f->path, strerror(errno));
    if (pt_legacy_read(f->fd, (uint64_t)st.st_size, f->path, &f->legacy, e) < 0) return -1;
    f->storages = f->legacy.storages;
    f->n_storages = f->legacy.count;
    f->root = f->legacy.root;
    return 0;
}

PtFile *pt_open(const char *path, Error *e) {
    PtLayout layout = PT_ZIP;
    if (sniff(path, &layout, e) < 0) return NULL;
    PtFile *f = xcalloc(1, sizeof *f, "pt file");
    f->path = xstrdup(path);
    f->fd = -1;
    if ((layout == PT_ZIP ? open_zip(f, e) : open_legacy(f, e)) < 0) goto fail;
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
    if (f->zip) free(f->storages);
    pt_legacy_free(&f->legacy);
    if (f->fd >= 0) close(f->fd);
    free(f->prefix);
    free(f->path);
    free(f);
}

const char *pt_path(const PtFile *f) { return f->path; }
const char *pt_format(const PtFile *f) { return f->zip ? "torch zip" : "torch legacy"; }
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
    int si = storage_index(id->items[1]->s);
    if (si < 0) return error_set(e, "%s: unknown storage type %s", where, id->items[1]->s);
    long long n;
    if (pk_as_int(id->items[4], &n) < 0 || n < 0) return error_set(e, "%s: bad storage size", where);
    t->storage_type = STORAGES[si].name;
    t->dtype = STORAGES[si].dtype;
    const char *key = id->items[2]->s;
    t->storage = NULL;
    for (int i = 0; i < f->n_storages && !t->storage; i++)
        if (strcmp(f->storages[i].key, key) == 0) t->storage = &f->storages[i];
    if (!t->storage)
        return error_set(e, "%s: its storage '%s' is missing from the file%s", where, key,
                         f->legacy.truncated ? " (the file ends before its data: truncated?)" : "");
    uint64_t bytes = (uint64_t)n * (uint64_t)STORAGES[si].elem_size;
    if (t->storage->bytes != bytes)
        return error_set(e, "%s: storage '%s' holds %llu bytes, expected %llu (%lld x %d-byte elements)", where, key,
                         (unsigned long long)t->storage->bytes, (unsigned long long)bytes, n, STORAGES[si].elem_size);
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
    if (t->dtype == FD_NOT_FLOAT)
        return error_set(e, "%s: tensor %s is stored as %s, which cannot be read as floating point", pt_path(f),
                         t->meta.name, t->storage_type);
    size_t es = (size_t)elem_size_of(t), bytes = t->numel * es;
    uint64_t at = t->offset * es;
    if (!f->zip) {
        if (float_data_pread(f->fd, t->storage->file_offset + at, t->dtype, t->numel, dst) < 0)
            return error_set(e, "%s: tensor %s: cannot read storage '%s': %s", pt_path(f), t->meta.name,
                             t->storage->key, errno ? strerror(errno) : "the file ended early (truncated?)");
        return 0;
    }
    /* float32 goes straight in */
    if (t->dtype == FD_FLOAT32)
        return zip_read_range(f->zip, t->storage->entry, at, dst, bytes, e) < 0 ? error_prefix(e, "tensor %s", t->meta.name)
                                                                                : 0;
    void *tmp = xmalloc(bytes ? bytes : 1, t->meta.name);
    int rc = zip_read_range(f->zip, t->storage->entry, at, tmp, bytes, e);
    if (rc < 0) error_prefix(e, "tensor %s", t->meta.name);
    else float_data_to_f32(t->dtype, tmp, dst, t->numel);
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
