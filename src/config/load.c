/* Reading YAML configs (libyaml's document API) and --set overrides into a RunConfig. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "config.h"
#include "scalar.h"
#include "schema.h"

static void *field(RunConfig *c, const ConfigKey *k) { return (char *)c + k->offset; }

/* How a node looks, for "got ..." in messages. */
static void describe_node(const yaml_node_t *n, char *buf, size_t len) {
    if (!n) {
        snprintf(buf, len, "nothing");
    } else if (n->type == YAML_SEQUENCE_NODE) {
        snprintf(buf, len, "a list");
    } else if (n->type == YAML_MAPPING_NODE) {
        snprintf(buf, len, "a mapping");
    } else {
        const char *text = (const char *)n->data.scalar.value;
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            snprintf(buf, len, yaml_resolve_plain(text).kind == YS_NULL ? "null ('%.200s')" : "'%.200s'", text);
        else
            snprintf(buf, len, "the quoted string '%.200s'", text);
    }
}

static int type_error(const ConfigKey *k, const char *where, const yaml_node_t *n, Error *e) {
    char got[256];
    describe_node(n, got, sizeof got);
    return error_set(e, "%s: %s: expected %s, got %s", where, k->key, config_type_name(k->type), got);
}

/* A plain scalar's resolved value; quoted scalars and collections are not numbers. */
static int plain_scalar(const yaml_node_t *n, Scalar *v) {
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    *v = yaml_resolve_plain((const char *)n->data.scalar.value);
    return 1;
}

/* A number (integer or float literal, not NaN) into *v. */
static int number_of(const yaml_node_t *n, Scalar *v) {
    return plain_scalar(n, v) && (v->kind == YS_INT || v->kind == YS_FLOAT) && !isnan(v->f);
}

static int apply_value(RunConfig *c, int ki, yaml_document_t *doc, yaml_node_t *n, const char *where, Error *e) {
    const ConfigKey *k = &CONFIG_KEYS[ki];
    void *dst = field(c, k);
    Scalar v;
    switch (k->type) {
    case CT_STR: {
        if (!n || n->type != YAML_SCALAR_NODE) return type_error(k, where, n, e);
        const char *text = (const char *)n->data.scalar.value;
        if (plain_scalar(n, &v) && v.kind == YS_NULL) text = "";
        if (strlen(text) >= k->size)
            return error_set(e, "%s: %s: value is too long (%zu characters, at most %zu)", where, k->key, strlen(text),
                             k->size - 1);
        strncpy(dst, text, k->size);   /* zero-filled: configs compare with memcmp */
        break;
    }
    case CT_INT:
    case CT_I64: {
        /* an integer literal, or a float with an integral value (2e6) */
        double lim = k->type == CT_INT ? (double)INT_MAX : 9.2e18;
        if (!number_of(n, &v) || v.f != floor(v.f)) return type_error(k, where, n, e);
        if (fabs(v.f) > lim)
            return error_set(e, "%s: %s: %s is out of range (an integer from %.0f to %.0f)", where, k->key,
                             (const char *)n->data.scalar.value, -lim - (k->type == CT_INT), lim);
        long long value = v.kind == YS_INT ? v.i : (long long)v.f;
        if (k->type == CT_INT) *(int *)dst = (int)value;
        else *(long long *)dst = value;
        break;
    }
    case CT_FLOAT: {
        if (!number_of(n, &v)) return type_error(k, where, n, e);
        *(double *)dst = v.f;
        c->int_literal[ki] = v.kind == YS_INT;
        break;
    }
    case CT_BOOL:
        if (!plain_scalar(n, &v) || !(v.kind == YS_BOOL || (v.kind == YS_INT && (v.i == 0 || v.i == 1))))
            return type_error(k, where, n, e);
        *(int *)dst = v.kind == YS_BOOL ? v.b : (int)v.i;
        break;
    case CT_FLOAT_LIST: {
        int *count = (int *)((char *)c + k->count_offset);
        double *list = dst;
        if (plain_scalar(n, &v) && v.kind == YS_NULL) {
            *count = 0;
            break;
        }
        if (!n || n->type != YAML_SEQUENCE_NODE) return type_error(k, where, n, e);
        int m = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, m++) {
            yaml_node_t *item = yaml_document_get_node(doc, *it);
            Scalar x;
            if (m >= (int)k->size)
                return error_set(e, "%s: %s: at most %zu values", where, k->key, k->size);
            if (!number_of(item, &x)) {
                char got[256];
                describe_node(item, got, sizeof got);
                return error_set(e, "%s: %s: item %d: expected a number, got %s", where, k->key, m + 1, got);
            }
            list[m] = x.f;
        }
        *count = m;
        break;
    }
    }
    c->given[ki] = 1;
    return 0;
}

static int unknown_key(const char *where, const char *key, const char *what, Error *e) {
    const char *near = config_key_suggest(key);
    if (near) return error_set(e, "%s: unknown %s '%s' (did you mean '%s'?)", where, what, key, near);
    return error_set(e, "%s: unknown %s '%s' (the keys are listed in docs/configs.md)", where, what, key);
}

static int is_section(const char *name, int allow_run_section) {
    for (int i = 0; i < CONFIG_NSECTIONS; i++)
        if (!strcmp(name, CONFIG_SECTIONS[i])) return strcmp(name, "run") || allow_run_section;
    return 0;
}

static const char *scalar_text(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int apply_section(RunConfig *c, yaml_document_t *doc, const char *section, yaml_node_t *map,
                         const char *name, unsigned char *seen, Error *e) {
    char where[CFG_PATH_MAX + 32];
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key), *vn = yaml_document_get_node(doc, p->value);
        snprintf(where, sizeof where, "%s:%zu", name, kn->start_mark.line + 1);
        const char *k = scalar_text(kn);
        if (!k) return error_set(e, "%s: a key of section '%s' is not a plain name", where, section);
        char full[160];
        snprintf(full, sizeof full, "%s.%s", section, k);
        int ki = config_key_find(full);
        if (ki < 0) return unknown_key(where, full, "key", e);
        if (seen[ki]) return error_set(e, "%s: key '%s' appears twice", where, full);
        seen[ki] = 1;
        if (apply_value(c, ki, doc, vn, where, e)) return -1;
    }
    return 0;
}

static int apply_document(RunConfig *c, yaml_document_t *doc, const char *name, int allow_run_section, Error *e) {
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root) return error_set(e, "%s: the config is empty (expected sections data, model, train, ...)", name);
    if (root->type != YAML_MAPPING_NODE)
        return error_set(e, "%s:%zu: the config must be a mapping of sections (data, model, train, eval, log, wandb)",
                         name, root->start_mark.line + 1);
    unsigned char seen_keys[CFG_MAX_KEYS] = {0};
    unsigned char seen_sections[16] = {0};
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key), *vn = yaml_document_get_node(doc, p->value);
        char where[CFG_PATH_MAX + 32];
        snprintf(where, sizeof where, "%s:%zu", name, kn->start_mark.line + 1);
        const char *s = scalar_text(kn);
        if (!s || !is_section(s, allow_run_section))
            return error_set(e, "%s: unknown section '%s' (expected data, model, train, eval, log or wandb)", where,
                             s ? s : "?");
        int si = 0;
        while (strcmp(CONFIG_SECTIONS[si], s)) si++;
        if (seen_sections[si]) return error_set(e, "%s: section '%s' appears twice", where, s);
        seen_sections[si] = 1;
        Scalar v;
        if (plain_scalar(vn, &v) && v.kind == YS_NULL) continue;   /* an empty section */
        if (vn->type != YAML_MAPPING_NODE)
            return error_set(e, "%s: section '%s' must be a mapping of keys", where, s);
        if (apply_section(c, doc, s, vn, name, seen_keys, e)) return -1;
    }
    return 0;
}

static int syntax_error(const yaml_parser_t *p, const char *name, Error *e) {
    return error_set(e, "%s:%zu:%zu: YAML syntax error: %s%s%s", name, p->problem_mark.line + 1,
                     p->problem_mark.column + 1, p->problem ? p->problem : "malformed",
                     p->context ? " " : "", p->context ? p->context : "");
}

/* A second document ("---" and keys) would be ignored silently with all the values it sets; an
 * empty one sets nothing. */
static int no_second_document(yaml_parser_t *parser, const char *name, Error *e) {
    yaml_document_t doc;
    if (!yaml_parser_load(parser, &doc)) return syntax_error(parser, name, e);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    Scalar v;
    int rc = 0;
    if (root && !(plain_scalar(root, &v) && v.kind == YS_NULL))
        rc = error_set(e, "%s:%zu: a second YAML document begins here; a config is one document (remove the '---' "
                          "line)", name, doc.start_mark.line + 1);
    yaml_document_delete(&doc);
    return rc;
}

/* Parse one YAML document from text (from f when text is NULL) and hand it to fn. */
static int with_document(const char *text, FILE *f, const char *name, Error *e,
                         int (*fn)(void *ctx, yaml_document_t *doc, Error *e), void *ctx) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) FATAL("libyaml: cannot initialise a parser");
    if (text) yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    else yaml_parser_set_input_file(&parser, f);
    int rc;
    if (!yaml_parser_load(&parser, &doc)) {
        rc = syntax_error(&parser, name, e);
    } else {
        rc = fn(ctx, &doc, e);
        yaml_document_delete(&doc);
    }
    if (rc == 0) rc = no_second_document(&parser, name, e);
    yaml_parser_delete(&parser);
    return rc;
}

typedef struct {
    RunConfig *c;
    const char *name;
    int allow_run_section;
} DocCtx;

static int doc_fn(void *ctx, yaml_document_t *doc, Error *e) {
    DocCtx *d = ctx;
    return apply_document(d->c, doc, d->name, d->allow_run_section, e);
}

int run_config_apply_text(RunConfig *c, const char *text, const char *name, int allow_run_section, Error *e) {
    DocCtx d = {c, name, allow_run_section};
    return with_document(text, NULL, name, e, doc_fn, &d);
}

static int apply_file(RunConfig *c, const char *path, Error *e) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return error_set(e, "cannot read config file '%s': it is a directory (expected a YAML file)", path);
    FILE *f = fopen(path, "rb");
    if (!f) return error_set(e, "cannot read config file '%s': %s", path, strerror(errno));
    DocCtx d = {c, path, 0};
    int rc = with_document(NULL, f, path, e, doc_fn, &d);
    fclose(f);
    return rc;
}

typedef struct {
    RunConfig *c;
    int ki;
    const char *where;
} SetCtx;

static int set_fn(void *ctx, yaml_document_t *doc, Error *e) {
    SetCtx *s = ctx;
    yaml_node_t *root = yaml_document_get_root_node(doc);
    yaml_node_t empty = {.type = YAML_SCALAR_NODE};
    if (!root) {   /* "--set log.tag=" : an empty plain scalar = null */
        empty.data.scalar.value = (yaml_char_t *)"";
        empty.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
        root = &empty;
    }
    return apply_value(s->c, s->ki, doc, root, s->where, e);
}

int run_config_set(RunConfig *c, const char *assignment, Error *e) {
    const char *eq = strchr(assignment, '=');
    char where[512];
    snprintf(where, sizeof where, "--set %.400s", assignment);
    if (!eq) return error_set(e, "%s: expected section.key=value", where);
    char key[160];
    if ((size_t)(eq - assignment) >= sizeof key) return error_set(e, "%s: key too long", where);
    memcpy(key, assignment, (size_t)(eq - assignment));
    key[eq - assignment] = 0;
    int ki = config_key_find(key);
    if (ki < 0 || (CONFIG_KEYS[ki].flags & CK_INTERNAL)) return unknown_key(where, key, "key", e);
    SetCtx s = {c, ki, where};
    if (CONFIG_KEYS[ki].type == CT_STR) {   /* strings are taken verbatim: --set log.tag=a: b */
        yaml_node_t text = {.type = YAML_SCALAR_NODE};
        text.data.scalar.value = (yaml_char_t *)(eq + 1);
        text.data.scalar.length = strlen(eq + 1);
        text.data.scalar.style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        return apply_value(c, ki, NULL, &text, where, e);
    }
    return with_document(eq + 1, NULL, where, e, set_fn, &s);
}

void run_config_defaults(RunConfig *c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < CONFIG_NKEYS; i++) {
        char assignment[256];
        Error e;
        snprintf(assignment, sizeof assignment, "%s=%s", CONFIG_KEYS[i].key, CONFIG_KEYS[i].def);
        SetCtx s = {c, i, "default"};
        if (with_document(CONFIG_KEYS[i].def, NULL, assignment, &e, set_fn, &s))
            FATAL("bad default of config key %s: %s", CONFIG_KEYS[i].key, e.msg);
    }
    memset(c->given, 0, sizeof c->given);
}

int run_config_load(RunConfig *c, const char *path, char **overrides, int n_overrides, Error *e) {
    run_config_defaults(c);
    if (path) {
        if (strlen(path) >= sizeof c->source) return error_set(e, "config path too long: %s", path);
        strcpy(c->source, path);
        if (apply_file(c, path, e)) return -1;
    }
    for (int i = 0; i < n_overrides; i++)
        if (run_config_set(c, overrides[i], e)) return -1;
    return run_config_check(c, e);
}
