#include "numparse.h"

#include <errno.h>
#include <limits.h>
#include <math.h>

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
