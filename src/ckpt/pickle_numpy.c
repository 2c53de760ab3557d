#include "pickle_numpy.h"

#include <stdlib.h>
#include <string.h>

static int is_numpy_global(const PkValue *v, const char *submodule_and_name) {
    char name[128];
    snprintf(name, sizeof name, "numpy.core.%s", submodule_and_name);
    if (pk_is_global(v, name)) return 1;
    snprintf(name, sizeof name, "numpy._core.%s", submodule_and_name);
    return pk_is_global(v, name);
}

/* numpy.dtype(typestr, align, copy) with BUILD state (3, byteorder, ...): "<f4". */
static int read_dtype(const PkValue *d, const char *where, PkNdarray *a, Error *e) {
    if (!pk_is_global(d, "numpy.dtype") || d->kind != PK_OBJECT || d->n < 1 || d->items[0]->kind != PK_STR)
        return error_set(e, "%s: the array's dtype is not a numpy.dtype", where);
    const char *type = d->items[0]->s;
    char order = '|';
    if (d->state && d->state->kind == PK_TUPLE && d->state->n >= 2 && d->state->items[1]->kind == PK_STR &&
        d->state->items[1]->len == 1)
        order = d->state->items[1]->s[0];
    if (order == '=') order = '<';   /* native; this program runs on little-endian machines */
    if (strlen(type) < 2 || strlen(type) > 8 || !strchr("biufc", type[0]))
        return error_set(e, "%s: the array's dtype '%s' is not a number type", where, type);
    snprintf(a->dtype, sizeof a->dtype, "%c%s", order, type);
    return 0;
}

static int read_shape(const PkValue *t, const char *where, PkNdarray *a, Error *e) {
    if (!t || t->kind != PK_TUPLE) return error_set(e, "%s: the array's shape is not a tuple", where);
    if (t->n > PK_NDARRAY_MAX_DIMS) return error_set(e, "%s: array of %zu dimensions", where, t->n);
    a->ndim = (int)t->n;
    for (size_t i = 0; i < t->n; i++)
        if (pk_as_int(t->items[i], &a->shape[i]) < 0 || a->shape[i] < 0)
            return error_set(e, "%s: the array's shape has a dimension that is not a size", where);
    return 0;
}

static int read_data(const PkValue *b, const char *where, PkNdarray *a, Error *e) {
    if (!b || b->kind != PK_BYTES)
        return error_set(e, "%s: the array's data is not raw bytes (an object array?)", where);
    size_t want = (size_t)atoi(a->dtype + 2);
    for (int i = 0; i < a->ndim; i++)
        if (__builtin_mul_overflow(want, (size_t)a->shape[i], &want))
            return error_set(e, "%s: the array's shape is too large", where);
    if (b->len != want)
        return error_set(e, "%s: the array's data has %zu bytes, its dtype %s and shape need %zu", where, b->len,
                         a->dtype, want);
    a->data = (const unsigned char *)b->s;
    a->nbytes = b->len;
    return 0;
}

int pk_ndarray(const PkValue *v, const char *where, PkNdarray *a, Error *e) {
    memset(a, 0, sizeof *a);
    if (v && v->kind == PK_OBJECT && is_numpy_global(v, "multiarray._reconstruct")) {
        /* ndarray.__setstate__: (version, shape, dtype, is_fortran, data), or without version */
        const PkValue *s = v->state;
        if (!s || s->kind != PK_TUPLE || (s->n != 5 && s->n != 4))
            return error_set(e, "%s: a pickled NumPy array without its state (shape, dtype, data)", where);
        const PkValue *const *f = (const PkValue *const *)s->items + (s->n - 4);
        long long fortran = 0;
        if (read_shape(f[0], where, a, e) < 0 || read_dtype(f[1], where, a, e) < 0) return -1;
        if (pk_as_int(f[2], &fortran) < 0) return error_set(e, "%s: the array's is_fortran flag is not a bool", where);
        a->fortran = fortran != 0;
        return read_data(f[3], where, a, e);
    }
    if (v && v->kind == PK_OBJECT && is_numpy_global(v, "numeric._frombuffer")) {
        /* _frombuffer(buffer, dtype, shape, order) */
        if (v->n != 4 || v->items[3]->kind != PK_STR)
            return error_set(e, "%s: numpy _frombuffer with unexpected arguments", where);
        if (read_dtype(v->items[1], where, a, e) < 0 || read_shape(v->items[2], where, a, e) < 0) return -1;
        a->fortran = !strcmp(v->items[3]->s, "F");
        return read_data(v->items[0], where, a, e);
    }
    char text[160];
    if (v) pk_repr(v, text, sizeof text);
    return error_set(e, "%s: the pickle holds %s, not a NumPy array", where, v ? text : "nothing");
}
