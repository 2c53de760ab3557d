#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fileio.h"
#include "../util/json.h"

/* The header is JSON text; the format's own reader refuses headers over 100 MB, and so does this. */
#define HEADER_LIMIT (100u << 20)

/* The dtypes the format defines, with their element sizes. */
static const struct {
    const char *name;
    FloatData type;
    int size;
} DTYPES[] = {
    {"F32", FD_FLOAT32, 4},       {"F16", FD_FLOAT16, 2},        {"BF16", FD_BFLOAT16, 2},
    {"F64", FD_FLOAT64, 8},       {"I64", FD_NOT_FLOAT, 8},      {"U64", FD_NOT_FLOAT, 8},
    {"I32", FD_NOT_FLOAT, 4},     {"U32", FD_NOT_FLOAT, 4},      {"I16", FD_NOT_FLOAT, 2},
    {"U16", FD_NOT_FLOAT, 2},     {"I8", FD_NOT_FLOAT, 1},       {"U8", FD_NOT_FLOAT, 1},
    {"BOOL", FD_NOT_FLOAT, 1},    {"F8_E4M3", FD_NOT_FLOAT, 1},  {"F8_E5M2", FD_NOT_FLOAT, 1},
};

int st_sniff(const unsigned char *head, size_t n) {
    if (n < 9) return 0;
    uint64_t len = 0;
    for (int b = 7; b >= 0; b--) len = len << 8 | head[b];
    return len >= 2 && len <= HEADER_LIMIT && head[8] == '{';
}

static int read_header_text(SafeTensors *st, char **text, uint64_t *len, Error *e) {
    unsigned char len_le[8];
    if (st->file_size < 8)
        return error_set(e, "%s: not a safetensors file: %llu bytes, shorter than the 8-byte header length",
                         st->path, (unsigned long long)st->file_size);
    if (pread_full(st->fd, len_le, 8, 0) < 0) return error_set(e, "%s: cannot read: %s", st->path, strerror(errno));
    *len = 0;
    for (int b = 7; b >= 0; b--) *len = *len << 8 | len_le[b];
    if (*len > st->file_size - 8)
        return error_set(e, "%s: the header length %llu runs past the end of the file (%llu bytes; truncated, or not "
                            "a safetensors file)", st->path, (unsigned long long)*len,
                         (unsigned long long)st->file_size);
    if (*len > HEADER_LIMIT)
        return error_set(e, "%s: a header of %llu bytes (more than the %u the format allows)", st->path,
                         (unsigned long long)*len, HEADER_LIMIT);
    *text = xmalloc((size_t)*len + 1, "safetensors header");
    if (pread_full(st->fd, *text, (size_t)*len, 8) < 0) {
        free(*text);
        return error_set(e, "%s: cannot read the header: %s", st->path, errno ? strerror(errno) : "the file shrank");
    }
    (*text)[*len] = 0;
    return 0;
}

static int parse_shape(const JsonValue *shape, StTensor *t) {
    if (!shape || shape->kind != JSON_ARRAY || shape->n > TENSOR_MAX_DIMS) return -1;
    t->meta.ndim = (int)shape->n;
    t->numel = 1;
    for (size_t d = 0; d < shape->n; d++) {
        uint64_t x;
        if (json_as_u64(&shape->items[d], &x) < 0 || (x && t->numel > ((size_t)1 << 48) / x)) return -1;
        t->meta.shape[d] = (int64_t)x;
        t->numel *= (size_t)x;
    }
    return 0;
}

/* One header entry; data_size = bytes after the header. */
static int parse_entry(const SafeTensors *st, const char *name, const JsonValue *v, uint64_t data_size, StTensor *t,
                       Error *e) {
    if (v->kind != JSON_OBJECT)
        return error_set(e, "%s: tensor %s: its header entry is %s, expected an object", st->path, name,
                         json_kind_name(v->kind));
    const JsonValue *dtype = json_get(v, "dtype"), *shape = json_get(v, "shape"), *offs = json_get(v, "data_offsets");
    if (!dtype || dtype->kind != JSON_STRING)
        return error_set(e, "%s: tensor %s: no \"dtype\" string in its header entry", st->path, name);
    int di = -1;
    for (size_t i = 0; i < ARRAY_LEN(DTYPES) && di < 0; i++)
        if (strcmp(DTYPES[i].name, dtype->string) == 0) di = (int)i;
    if (di < 0)
        return error_set(e, "%s: tensor %s: unknown dtype \"%s\" (expected F32, F16, BF16, F64 or another dtype of the "
                            "safetensors format)", st->path, name, dtype->string);
    t->dtype = DTYPES[di].type;
    t->dtype_name = DTYPES[di].name;
    if (parse_shape(shape, t) < 0)
        return error_set(e, "%s: tensor %s: \"shape\" is not a list of at most %d sizes (of at most 2^48 elements "
                            "in all)", st->path, name, TENSOR_MAX_DIMS);
    if (!offs || offs->kind != JSON_ARRAY || offs->n != 2 || json_as_u64(&offs->items[0], &t->begin) < 0 ||
        json_as_u64(&offs->items[1], &t->end) < 0 || t->begin > t->end)
        return error_set(e, "%s: tensor %s: \"data_offsets\" is not a pair [begin, end] with begin <= end", st->path,
                         name);
    char sz[160];
    shape_str(t->meta.ndim, t->meta.shape, sz, sizeof sz);
    uint64_t bytes = (uint64_t)t->numel * (uint64_t)DTYPES[di].size;
    if (t->end - t->begin != bytes)
        return error_set(e, "%s: tensor %s: data_offsets [%llu, %llu) hold %llu bytes, but shape %s of %s needs %llu",
                         st->path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)(t->end - t->begin), sz, t->dtype_name, (unsigned long long)bytes);
    if (t->end > data_size)
        return error_set(e, "%s: tensor %s: data_offsets [%llu, %llu) run past the end of the data (%llu bytes; "
                            "truncated?)", st->path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)data_size);
    return 0;
}

static int parse_header(SafeTensors *st, const char *text, uint64_t len, Error *e) {
    char where[1200];
    snprintf(where, sizeof where, "%s: header", st->path);
    JsonValue *h = json_parse(text, (size_t)len, where, e);
    if (!h) return -1;
    int rc = 0;
    if (h->kind != JSON_OBJECT) rc = error_set(e, "%s: the header is %s, expected an object", st->path,
                                               json_kind_name(h->kind));
    st->tensors = xcalloc(h->n + 1, sizeof *st->tensors, "safetensors tensors");
    uint64_t data_size = st->file_size - st->data_start;
    for (size_t i = 0; i < h->n && rc == 0; i++) {
        if (strcmp(h->keys[i], "__metadata__") == 0) continue;   /* free-form strings (e.g. "format": "pt") */
        for (int k = 0; k < st->count && rc == 0; k++)
            if (strcmp(st->tensors[k].meta.name, h->keys[i]) == 0)
                rc = error_set(e, "%s: tensor %s appears twice in the header", st->path, h->keys[i]);
        StTensor *t = &st->tensors[st->count];
        if (rc == 0) rc = parse_entry(st, h->keys[i], &h->items[i], data_size, t, e);
        if (rc == 0) {
            t->meta.name = xstrdup(h->keys[i]);
            st->count++;
        }
    }
    json_free(h);
    return rc;
}

SafeTensors *st_open(const char *path, Error *e) {
    SafeTensors *st = xcalloc(1, sizeof *st, "safetensors file");
    st->path = xstrdup(path);
    struct stat sb;
    st->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (st->fd < 0 || fstat(st->fd, &sb) < 0) {
        error_set(e, "%s: cannot open: %s", path, strerror(errno));
        st_close(st);
        return NULL;
    }
    st->file_size = (uint64_t)sb.st_size;
    char *text = NULL;
    uint64_t len = 0;
    int rc = read_header_text(st, &text, &len, e);
    if (rc == 0) {
        st->data_start = 8 + len;
        rc = parse_header(st, text, len, e);
    }
    free(text);
    if (rc < 0) {
        st_close(st);
        return NULL;
    }
    return st;
}

void st_close(SafeTensors *st) {
    if (!st) return;
    for (int i = 0; i < st->count; i++) free(st->tensors[i].meta.name);
    free(st->tensors);
    if (st->fd >= 0) close(st->fd);
    free(st->path);
    free(st);
}

int st_read_tensor(const SafeTensors *st, int i, float *dst, Error *e) {
    const StTensor *t = &st->tensors[i];
    if (t->dtype == FD_NOT_FLOAT)
        return error_set(e, "%s: tensor %s is stored as %s, which cannot be read as floating point", st->path,
                         t->meta.name, t->dtype_name);
    if (float_data_pread(st->fd, st->data_start + t->begin, t->dtype, t->numel, dst) < 0)
        return error_set(e, "%s: tensor %s: cannot read its data: %s", st->path, t->meta.name,
                         errno ? strerror(errno) : "the file ended early (truncated?)");
    return 0;
}
