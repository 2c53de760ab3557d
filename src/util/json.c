#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#define JSON_MAX_DEPTH 256

typedef struct {
    const char *s;
    size_t len, pos;
    const char *where;
    Error *e;
} Parser;

static int fail(Parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(Parser *p, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(p->e, "%s: invalid JSON at byte %zu: %s", p->where, p->pos, msg);
}

static void skip_space(Parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\r' ||
                               p->s[p->pos] == '\n'))
        p->pos++;
}

static int peek(Parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static int literal(Parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return fail(p, "expected a value");
    p->pos += n;
    return 0;
}

static int hex4(Parser *p, unsigned *out) {
    if (p->len - p->pos < 4) return fail(p, "\\u escape ends early");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return fail(p, "bad hex digit in a \\u escape");
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A \u escape, with its low surrogate when it is a high one. */
static int unicode_escape(Parser *p, unsigned *cp) {
    if (hex4(p, cp) < 0) return -1;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) return fail(p, "a lone low surrogate in a \\u escape");
    if (*cp < 0xd800 || *cp > 0xdbff) return 0;
    unsigned lo;
    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
        return fail(p, "a high surrogate without its low surrogate");
    p->pos += 2;
    if (hex4(p, &lo) < 0) return -1;
    if (lo < 0xdc00 || lo > 0xdfff) return fail(p, "a high surrogate without its low surrogate");
    *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    return 0;
}

/* Bytes from pos to the closing quote (or to the end of the text): the decoded string is never
 * longer. */
static size_t quoted_len(const Parser *p) {
    size_t j = p->pos;
    while (j < p->len && p->s[j] != '"') j += p->s[j] == '\\' ? 2 : 1;
    return MIN(j, p->len) - p->pos;
}

/* At the opening quote. */
static int string(Parser *p, char **out) {
    p->pos++;
    const char *end = p->s + p->len;
    char *o = xmalloc(quoted_len(p) + 1, "json string"), *w = o;
    for (;;) {
        if (p->pos >= p->len) {
            free(o);
            return fail(p, "a string is not closed");
        }
        char c = p->s[p->pos];
        if (c == '"') break;
        if ((unsigned char)c < 0x20) {
            free(o);
            return fail(p, "a control character inside a string");
        }
        p->pos++;
        if (c != '\\') {
            *w++ = c;
            continue;
        }
        if (p->s + p->pos >= end) {
            free(o);
            return fail(p, "a string is not closed");
        }
        char esc = p->s[p->pos++];
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *hit = strchr(from, esc);
        unsigned cp;
        if (esc && hit) {
            *w++ = to[hit - from];
        } else if (esc == 'u') {
            int rc = unicode_escape(p, &cp);
            if (rc == 0 && cp == 0) rc = fail(p, "a NUL character in a string");
            if (rc < 0) {
                free(o);
                return -1;
            }
            w += put_utf8(w, cp);
        } else {
            free(o);
            return fail(p, "unknown escape \\%c", esc);
        }
    }
    p->pos++;
    *w = 0;
    *out = o;
    return 0;
}

static int number(Parser *p, double *out) {
    size_t start = p->pos;
    if (peek(p) == '-') p->pos++;
    if (peek(p) == '0') {
        p->pos++;
    } else if (peek(p) >= '1' && peek(p) <= '9') {
        while (peek(p) >= '0' && peek(p) <= '9') p->pos++;
    } else {
        return fail(p, "expected a value");
    }
    if (peek(p) == '.') {
        p->pos++;
        if (!(peek(p) >= '0' && peek(p) <= '9')) return fail(p, "expected a digit after '.'");
        while (peek(p) >= '0' && peek(p) <= '9') p->pos++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-') p->pos++;
        if (!(peek(p) >= '0' && peek(p) <= '9')) return fail(p, "expected a digit in the exponent");
        while (peek(p) >= '0' && peek(p) <= '9') p->pos++;
    }
    char *text = xmalloc(p->pos - start + 1, "json number");
    memcpy(text, p->s + start, p->pos - start);
    text[p->pos - start] = 0;
    *out = strtod(text, NULL);
    free(text);
    return 0;
}

static int value(Parser *p, JsonValue *v, int depth);

static void append(JsonValue *v, size_t *cap, char *key) {
    if (v->n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        v->items = xrealloc(v->items, *cap * sizeof *v->items, "json container");
        if (v->kind == JSON_OBJECT) v->keys = xrealloc(v->keys, *cap * sizeof *v->keys, "json keys");
    }
    memset(&v->items[v->n], 0, sizeof v->items[v->n]);
    if (v->kind == JSON_OBJECT) v->keys[v->n] = key;
    v->n++;
}

/* At '[' or '{'. Items are counted in v->n as soon as they exist, so json_free cleans up after a
 * failure half way. */
static int container(Parser *p, JsonValue *v, int depth) {
    char close = v->kind == JSON_ARRAY ? ']' : '}';
    size_t cap = 0;
    p->pos++;
    skip_space(p);
    if (peek(p) == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        skip_space(p);
        if (v->kind == JSON_OBJECT) {
            if (peek(p) != '"') return fail(p, "expected a member name in quotes");
            if (string(p, &key) < 0) return -1;
            skip_space(p);
            if (peek(p) != ':') {
                free(key);
                return fail(p, "expected ':' after a member name");
            }
            p->pos++;
        }
        append(v, &cap, key);
        if (value(p, &v->items[v->n - 1], depth + 1) < 0) return -1;
        skip_space(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == close) {
            p->pos++;
            return 0;
        }
        return fail(p, "expected ',' or '%c'", close);
    }
}

static int value(Parser *p, JsonValue *v, int depth) {
    if (depth > JSON_MAX_DEPTH) return fail(p, "nested deeper than %d levels", JSON_MAX_DEPTH);
    skip_space(p);
    switch (peek(p)) {
    case '{': v->kind = JSON_OBJECT; return container(p, v, depth);
    case '[': v->kind = JSON_ARRAY; return container(p, v, depth);
    case '"': v->kind = JSON_STRING; return string(p, &v->string);
    case 't': v->kind = JSON_BOOL; v->boolean = 1; return literal(p, "true");
    case 'f': v->kind = JSON_BOOL; return literal(p, "false");
    case 'n': v->kind = JSON_NULL; return literal(p, "null");
    case -1: return fail(p, "the text ends where a value was expected");
    default: v->kind = JSON_NUMBER; return number(p, &v->number);
    }
}

static void free_members(JsonValue *v) {
    for (size_t i = 0; i < v->n; i++) {
        free_members(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
}

JsonValue *json_parse(const char *text, size_t len, const char *where, Error *e) {
    Parser p = {.s = text, .len = len, .where = where, .e = e};
    JsonValue *v = xcalloc(1, sizeof *v, "json value");
    int rc = value(&p, v, 0);
    if (rc == 0) {
        skip_space(&p);
        if (p.pos != p.len) rc = fail(&p, "more text after the value");
    }
    if (rc < 0) {
        json_free(v);
        return NULL;
    }
    return v;
}

void json_free(JsonValue *v) {
    if (!v) return;
    free_members(v);
    free(v);
}

const JsonValue *json_get(const JsonValue *v, const char *key) {
    if (!v || v->kind != JSON_OBJECT) return NULL;
    for (size_t i = v->n; i-- > 0;)
        if (strcmp(v->keys[i], key) == 0) return &v->items[i];
    return NULL;
}

int json_as_u64(const JsonValue *v, uint64_t *out) {
    if (!v || v->kind != JSON_NUMBER || !(v->number >= 0) || v->number > 9007199254740992.0 ||
        v->number != floor(v->number))
        return -1;
    *out = (uint64_t)v->number;
    return 0;
}

const char *json_kind_name(JsonKind k) {
    static const char *const names[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
    return names[k];
}
