#include "numtext.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>

int parse_whole(const char *what, const char *text, long long min, long long max, long long *out, Error *e) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        if (max == LLONG_MAX) return error_set(e, "%s: expected a whole number >= %lld, got '%s'", what, min, text);
        return error_set(e, "%s: expected a whole number from %lld to %lld, got '%s'", what, min, max, text);
    }
    *out = v;
    return 0;
}

int parse_number(const char *what, const char *text, double *out, Error *e) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || isnan(v) || (errno == ERANGE && isinf(v)))
        return error_set(e, "%s: expected a number, got '%s'", what, text);
    *out = v;
    return 0;
}

void format_py_float(double v, char *buf, size_t len) {
    if (isnan(v)) {
        snprintf(buf, len, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "inf" : "-inf");
        return;
    }
    /* Shortest %.*e that reads back exactly (what Python's repr does). */
    char e[40];
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e = [-]d[.ddd]e[+-]XX: split into digits and decimal exponent. */
    const char *p = e;
    int neg = *p == '-';
    if (neg) p++;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p)) digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    char out[64];
    size_t k = 0;
    if (neg) out[k++] = '-';
    if (exp10 < -4 || exp10 >= 16) {   /* Python's repr switches to exponent notation here */
        out[k++] = digits[0];
        if (nd > 1) {
            out[k++] = '.';
            for (int i = 1; i < nd; i++) out[k++] = digits[i];
        }
        k += (size_t)snprintf(out + k, sizeof out - k, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (exp10 < 0) {
        out[k++] = '0';
        out[k++] = '.';
        for (int i = 0; i < -exp10 - 1; i++) out[k++] = '0';
        for (int i = 0; i < nd; i++) out[k++] = digits[i];
        out[k] = 0;
    } else {
        for (int i = 0; i <= exp10; i++) out[k++] = i < nd ? digits[i] : '0';
        out[k++] = '.';
        if (nd > exp10 + 1)
            for (int i = exp10 + 1; i < nd; i++) out[k++] = digits[i];
        else
            out[k++] = '0';
        out[k] = 0;
    }
    snprintf(buf, len, "%s", out);
}
