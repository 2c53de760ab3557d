#include "intlist.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* A non-negative decimal number at *p (no sign, no spaces); advances *p. */
static int parse_number(const char **p, long long *v) {
    if (!isdigit((unsigned char)**p)) return -1;
    char *end;
    errno = 0;
    unsigned long long u = strtoull(*p, &end, 10);
    if (errno == ERANGE || u > (unsigned long long)LLONG_MAX) return -1;
    *p = end;
    *v = (long long)u;
    return 0;
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int intlist_parse(const char *option, const char *text, long long lo, long long hi, long long max_count,
                  long long **out, long long *count, Error *e) {
    if (!*text) return error_set(e, "%s: the list is empty (expected e.g. 0-63,100)", option);
    long long n = 0, cap = 16;
    long long *v = xmalloc((size_t)cap * sizeof *v, "integer list");
    const char *p = text;
    for (;;) {
        const char *item = p;
        long long a, b;
        if (parse_number(&p, &a)) goto bad_item;
        b = a;
        if (*p == '-') {
            p++;
            if (parse_number(&p, &b)) goto bad_item;
            if (b < a) {
                error_set(e, "%s '%s': the range %lld-%lld runs backwards", option, text, a, b);
                goto fail;
            }
        }
        if (*p != ',' && *p != 0) goto bad_item;
        if (a < lo || b > hi) {
            error_set(e, "%s '%s': %lld is out of range (expected %lld..%lld)", option, text, a < lo ? a : b, lo, hi);
            goto fail;
        }
        if (b - a + 1 > max_count - n) {
            error_set(e, "%s '%s': more than %lld values", option, text, max_count);
            goto fail;
        }
        while (n + (b - a + 1) > cap) cap *= 2;
        v = xrealloc(v, (size_t)cap * sizeof *v, "integer list");
        for (long long x = a; x <= b; x++) v[n++] = x;
        if (*p == 0) break;
        p++;
        continue;
    bad_item: {
        size_t len = strcspn(item, ",");
        error_set(e, "%s '%s': bad item '%.*s' (expected a number N or a range A-B, e.g. 0-63,100)", option, text,
                  (int)len, item);
        goto fail;
    }
    }
    long long *sorted = xmalloc((size_t)n * sizeof *sorted, "integer list");
    memcpy(sorted, v, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_ll);
    for (long long i = 1; i < n; i++)
        if (sorted[i] == sorted[i - 1]) {
            error_set(e, "%s '%s': %lld is listed more than once", option, text, sorted[i]);
            free(sorted);
            goto fail;
        }
    free(sorted);
    *out = v;
    *count = n;
    return 0;
fail:
    free(v);
    return -1;
}
