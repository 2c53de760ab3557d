#include "scalar.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../util/common.h"

static int one_of(const char *s, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, list[i])) return 1;
    return 0;
}

/* Copy s without '_' digit separators into out (len bytes); 0 if it does not fit. */
static int strip_underscores(const char *s, char *out, size_t len) {
    size_t k = 0;
    for (; *s; s++) {
        if (*s == '_') continue;
        if (k + 1 >= len) return 0;
        out[k++] = *s;
    }
    out[k] = 0;
    return 1;
}

static int parse_int(const char *s, long long *out) {
    char buf[80];
    if (!*s || !strip_underscores(s, buf, sizeof buf) || !buf[0]) return 0;
    const char *p = buf;
    int neg = 0;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) base = 16, p += 2;
    else if (p[0] == '0' && p[1] == 'o') base = 8, p += 2;
    else if (p[0] == '0' && p[1]) base = 8, p += 1;   /* YAML 1.1: 0755 is octal */
    if (!*p) return 0;
    for (const char *q = p; *q; q++) {
        int ok = base == 16 ? isxdigit((unsigned char)*q) : base == 8 ? (*q >= '0' && *q <= '7') : isdigit((unsigned char)*q);
        if (!ok) return 0;
    }
    errno = 0;
    char *end;
    unsigned long long v = strtoull(p, &end, base);
    if (errno || *end || v > (unsigned long long)LLONG_MAX + (unsigned long long)neg) return 0;
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 1;
}

/* digits [. digits] [e[+-]digits], at least one of '.' or the exponent; or . digits [exp]. */
static int looks_float(const char *p) {
    if (*p == '+' || *p == '-') p++;
    int lead = 0, frac = 0, dot = 0, exp = 0;
    while (isdigit((unsigned char)*p)) p++, lead++;
    if (*p == '.') {
        dot = 1;
        p++;
        while (isdigit((unsigned char)*p)) p++, frac++;
    }
    if (!lead && !frac) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return 0;
        while (isdigit((unsigned char)*p)) p++;
        exp = 1;
    }
    return !*p && (dot || exp);
}

Scalar yaml_resolve_plain(const char *s) {
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *const falses[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    static const char *const infs[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"};
    static const char *const ninfs[] = {"-.inf", "-.Inf", "-.INF"};
    static const char *const nans[] = {".nan", ".NaN", ".NAN"};
    Scalar v = {.kind = YS_STR};
    if (one_of(s, nulls, ARRAY_LEN(nulls))) v.kind = YS_NULL;
    else if (one_of(s, trues, ARRAY_LEN(trues))) v.kind = YS_BOOL, v.b = 1;
    else if (one_of(s, falses, ARRAY_LEN(falses))) v.kind = YS_BOOL, v.b = 0;
    else if (parse_int(s, &v.i)) v.kind = YS_INT, v.f = (double)v.i;
    else if (one_of(s, infs, ARRAY_LEN(infs))) v.kind = YS_FLOAT, v.f = INFINITY;
    else if (one_of(s, ninfs, ARRAY_LEN(ninfs))) v.kind = YS_FLOAT, v.f = -INFINITY;
    else if (one_of(s, nans, ARRAY_LEN(nans))) v.kind = YS_FLOAT, v.f = NAN;
    else {
        char buf[80];
        if (strip_underscores(s, buf, sizeof buf) && looks_float(buf)) {
            v.kind = YS_FLOAT;
            v.f = strtod(buf, NULL);
        }
    }
    return v;
}
