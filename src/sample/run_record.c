#include "run_record.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

void run_record_init(RunRecord *r) {
    r->cap = 1024;
    r->len = 0;
    r->text = xmalloc(r->cap, "run description");
    r->text[0] = 0;
}

void run_record_free(RunRecord *r) {
    free(r->text);
    r->text = NULL;
}

/* Lines are as long as their text (a --seeds list of any length). */
static void append(RunRecord *r, const char *prefix, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int v = vsnprintf(NULL, 0, fmt, ap);
    if (v < 0) FATAL("cannot format the run description line '%s...'", prefix);
    size_t k = strlen(prefix), n = k + (size_t)v + 1;   /* the line and its newline */
    if (r->len + n + 1 > r->cap) {
        r->cap = 2 * (r->len + n + 1);
        r->text = xrealloc(r->text, r->cap, "run description");
    }
    memcpy(r->text + r->len, prefix, k);
    vsnprintf(r->text + r->len + k, (size_t)v + 1, fmt, again);
    va_end(again);
    r->len += n;
    r->text[r->len - 1] = '\n';
    r->text[r->len] = 0;
}

void run_record_set(RunRecord *r, const char *key, const char *fmt, ...) {
    char prefix[128];
    xsnprintf(prefix, sizeof prefix, "%s: ", key);
    va_list ap;
    va_start(ap, fmt);
    append(r, prefix, fmt, ap);
    va_end(ap);
}

void run_record_note(RunRecord *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    append(r, "# ", fmt, ap);
    va_end(ap);
}

/* The next setting line ("key: value", not a note) at or after *p: its start and length (no
 * newline); 0 at the end of the text. */
static int next_setting(const char **p, const char **line, size_t *len) {
    while (**p) {
        const char *s = *p, *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        *p = s + n + (nl != NULL);
        if (n == 0 || s[0] == '#') continue;
        *line = s;
        *len = n;
        return 1;
    }
    return 0;
}

uint32_t run_record_crc(const RunRecord *r) {
    uLong crc = crc32(0, Z_NULL, 0);
    const char *p = r->text, *line;
    size_t len;
    while (next_setting(&p, &line, &len)) crc = crc32_z(crc, (const Bytef *)line, (z_size_t)len + 1);
    return (uint32_t)crc;
}

/* Length of the key of a setting line (up to ": "), or the whole line without one. */
static size_t key_len(const char *line, size_t len) {
    const char *colon = memchr(line, ':', len);
    return colon ? (size_t)(colon - line) : len;
}

static const char *value_of(const char *line, size_t len, size_t klen, int *vlen) {
    size_t skip = MIN(len, klen + 2);
    *vlen = (int)(len - skip);
    return line + skip;
}

int run_record_compare(const RunRecord *r, const char *recorded, const char *where, Error *e) {
    const char *pn = r->text, *po = recorded, *ln = NULL, *lo = NULL;
    size_t nn = 0, no = 0;
    for (;;) {
        int have_n = next_setting(&pn, &ln, &nn), have_o = next_setting(&po, &lo, &no);
        if (!have_n && !have_o) return 0;
        if (have_n && have_o && nn == no && !memcmp(ln, lo, nn)) continue;
        if (!have_o) return error_set(e, "%s lacks the setting %.*s", where, (int)key_len(ln, nn), ln);
        size_t ko = key_len(lo, no);
        if (!have_n) return error_set(e, "%s has a setting %.*s that this run does not have", where, (int)ko, lo);
        size_t kn = key_len(ln, nn);
        if (kn != ko || memcmp(ln, lo, kn))
            return error_set(e, "%s has the setting %.*s where this run has %.*s", where, (int)ko, lo, (int)kn, ln);
        int vo, vn;
        const char *so = value_of(lo, no, ko, &vo), *sn = value_of(ln, nn, kn, &vn);
        return error_set(e, "%.*s is '%.*s' in %s, '%.*s' now", (int)kn, ln, vo, so, where, vn, sn);
    }
}
