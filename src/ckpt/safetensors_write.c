#include "safetensors_write.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../util/fileio.h"

typedef struct {
    char *b;
    size_t n, cap;
} Text;

static void add(Text *t, const char *s, size_t n) {
    if (t->n + n + 1 > t->cap) {
        t->cap = (t->n + n + 1) * 2 + 256;
        t->b = xrealloc(t->b, t->cap, "safetensors header");
    }
    memcpy(t->b + t->n, s, n);
    t->n += n;
    t->b[t->n] = 0;
}

static void addf(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(Text *t, const char *fmt, ...) {
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    add(t, buf, (size_t)n);
}

/* A JSON string literal (names and metadata are user text: any byte is escaped as needed). */
static void add_json_string(Text *t, const char *s) {
    add(t, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') addf(t, "\\%c", *p);
        else if (*p < 0x20) addf(t, "\\u%04x", *p);
        else add(t, (const char *)p, 1);
    }
    add(t, "\"", 1);
}

static size_t numel_of(const StTensor *x) {
    size_t n = 1;
    for (int d = 0; d < x->ndim; d++) n *= (size_t)x->shape[d];
    return n;
}

static int write_all(FILE *f, const void *p, size_t n, const char *tmp, Error *e) {
    if (n && fwrite(p, 1, n, f) != n) return error_set(e, "cannot write %s: %s", tmp, strerror(errno));
    return 0;
}

int safetensors_write(const char *path, const StTensor *ts, int n, const char *const *meta, int n_meta, Error *e) {
    Text h = {0};
    add(&h, "{", 1);
    if (n_meta > 0) {
        add(&h, "\"__metadata__\":{", 16);
        for (int i = 0; i < n_meta; i++) {
            if (i) add(&h, ",", 1);
            add_json_string(&h, meta[2 * i]);
            add(&h, ":", 1);
            add_json_string(&h, meta[2 * i + 1]);
        }
        add(&h, "}", 1);
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        if (n_meta > 0 || i) add(&h, ",", 1);
        add_json_string(&h, ts[i].name);
        add(&h, ":{\"dtype\":\"F32\",\"shape\":[", 25);
        for (int d = 0; d < ts[i].ndim; d++) addf(&h, "%s%lld", d ? "," : "", (long long)ts[i].shape[d]);
        uint64_t end = offset + numel_of(&ts[i]) * sizeof(float);
        addf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset, (unsigned long long)end);
        offset = end;
    }
    add(&h, "}", 1);
    while (h.n % 8) add(&h, " ", 1);   /* the tensor data starts 8-byte aligned */

    size_t len = strlen(path) + 8;
    char *tmp = xmalloc(len, "file name");
    tmp_name(path, tmp, len);
    FILE *f = fopen(tmp, "wb");
    int rc = f ? 0 : error_set(e, "cannot create %s: %s", tmp, strerror(errno));
    unsigned char head[8];
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    if (rc == 0) rc = write_all(f, head, 8, tmp, e);
    if (rc == 0) rc = write_all(f, h.b, h.n, tmp, e);
    /* float32 on a little-endian host is already the file's byte order */
    for (int i = 0; i < n && rc == 0; i++) rc = write_all(f, ts[i].data, numel_of(&ts[i]) * sizeof(float), tmp, e);
    if (f && fflush(f) != 0 && rc == 0) rc = error_set(e, "cannot write %s: %s", tmp, strerror(errno));
    if (f && fsync(fileno(f)) != 0 && rc == 0) rc = error_set(e, "cannot sync %s: %s", tmp, strerror(errno));
    if (f && fclose(f) != 0 && rc == 0) rc = error_set(e, "cannot write %s: %s", tmp, strerror(errno));
    if (f && tmp_finish(tmp, path, rc == 0) < 0 && rc == 0)
        rc = error_set(e, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    free(tmp);
    free(h.b);
    return rc;
}
