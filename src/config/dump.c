/* The resolved configuration as YAML (stored in checkpoints, printed by --print_config) and the
 * key table as Markdown (docs/configs.md). */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "config.h"
#include "scalar.h"
#include "schema.h"

typedef struct {
    char *buf;
    size_t len, cap;
} Text;

static void put(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Text *t, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) FATAL("formatting the configuration text");
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = 2 * t->cap + (size_t)n + 256;
        t->buf = xrealloc(t->buf, t->cap, "configuration text");
    }
}

/* A string that reads back as the same string: plain when safe, else double-quoted. */
static void put_string(Text *t, const char *s) {
    int plain = s[0] && yaml_resolve_plain(s).kind == YS_STR && !strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]);
    for (const char *p = s; plain && *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("._/-+()=", *p))) plain = 0;
    if (plain) {
        put(t, "%s", s);
        return;
    }
    put(t, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\') put(t, "\\%c", *p);
        else if ((unsigned char)*p < 0x20) put(t, "\\x%02x", (unsigned char)*p);
        else put(t, "%c", *p);
    }
    put(t, "\"");
}

static void put_float(Text *t, double v, int as_int) {
    char buf[64];
    if (isinf(v)) snprintf(buf, sizeof buf, v > 0 ? ".inf" : "-.inf");
    else if (as_int) snprintf(buf, sizeof buf, "%.0f", v);
    else format_py_float(v, buf, sizeof buf);
    put(t, "%s", buf);
}

static void put_value(Text *t, const RunConfig *c, int ki) {
    const ConfigKey *k = &CONFIG_KEYS[ki];
    const void *p = (const char *)c + k->offset;
    switch (k->type) {
    case CT_STR: put_string(t, p); break;
    case CT_INT: put(t, "%d", *(const int *)p); break;
    case CT_I64: put(t, "%lld", *(const long long *)p); break;
    case CT_BOOL: put(t, "%s", *(const int *)p ? "true" : "false"); break;
    case CT_FLOAT: put_float(t, *(const double *)p, c->int_literal[ki]); break;
    case CT_FLOAT_LIST: {
        int n = *(const int *)((const char *)c + k->count_offset);
        put(t, "[");
        for (int i = 0; i < n; i++) {
            if (i) put(t, ", ");
            put_float(t, ((const double *)p)[i], 0);
        }
        put(t, "]");
        break;
    }
    }
}

char *run_config_to_yaml(const RunConfig *c, int with_run_section) {
    Text t = {xmalloc(4096, "configuration text"), 0, 4096};
    t.buf[0] = 0;
    put(&t, "# MaskDiT-C resolved configuration (keys marked 'ext' are extensions of the original schema)\n");
    for (int s = 0; s < CONFIG_NSECTIONS; s++) {
        const char *sec = CONFIG_SECTIONS[s];
        if (!strcmp(sec, "run") && !with_run_section) continue;
        put(&t, "%s:\n", sec);
        size_t sl = strlen(sec);
        for (int i = 0; i < CONFIG_NKEYS; i++) {
            const ConfigKey *k = &CONFIG_KEYS[i];
            if (strncmp(k->key, sec, sl) || k->key[sl] != '.') continue;
            put(&t, "  %s: ", k->key + sl + 1);
            put_value(&t, c, i);
            put(&t, "%s\n", (k->flags & CK_EXTENSION) ? "  # ext" : "");
        }
    }
    return t.buf;
}

char *run_config_keys_markdown(void) {
    Text t = {xmalloc(8192, "key table"), 0, 8192};
    t.buf[0] = 0;
    put(&t, "| key | type | default | meaning |\n|---|---|---|---|\n");
    for (int i = 0; i < CONFIG_NKEYS; i++) {
        const ConfigKey *k = &CONFIG_KEYS[i];
        if (k->flags & CK_INTERNAL) continue;
        const char *type = k->type == CT_STR ? "string" : k->type == CT_BOOL ? "bool" : k->type == CT_FLOAT ? "float"
                           : k->type == CT_FLOAT_LIST ? "list of floats" : "int";
        const char *mark = (k->flags & CK_EXTENSION) ? " *(extension)*" : (k->flags & CK_IGNORED) ? " *(ignored)*" : "";
        put(&t, "| `%s`%s | %s | `%s` | %s |\n", k->key, mark, type, k->def[0] ? k->def : "\"\"", k->doc);
    }
    return t.buf;
}
