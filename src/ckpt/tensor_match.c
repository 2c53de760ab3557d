#include "tensor_match.h"

#include <string.h>

void shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
    snprintf(buf, len, "(");
    for (int i = 0; i < ndim; i++) text_append(buf, len, i ? ", %lld" : "%lld", (long long)shape[i]);
    text_append(buf, len, ndim == 1 ? ",)" : ")");
}

size_t shape_numel(int ndim, const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

static int same_shape(const ParamInfo *p, const TensorMeta *m) {
    if (p->ndim != m->ndim) return 0;
    for (int i = 0; i < p->ndim; i++)
        if (p->shape[i] != m->shape[i]) return 0;
    return 1;
}

int tensor_match(const ParamTable *t, int trainable_only, TensorMeta *const *found, int n, int strict,
                 const char *where, int *map, Error *e) {
    char *used = xcalloc((size_t)n + 1, 1, "tensor match flags");
    int missing = 0, first_missing = -1, rc = 0;
    for (int i = 0; i < t->count && rc == 0; i++) {
        const ParamInfo *p = &t->params[i];
        map[i] = -1;
        if (trainable_only && !p->trainable) continue;
        for (int k = 0; k < n; k++)
            if (!used[k] && strcmp(found[k]->name, p->name) == 0) {
                map[i] = k;
                used[k] = 1;
                break;
            }
        if (map[i] < 0) {
            if (first_missing < 0) first_missing = i;
            missing++;
            if (!strict) warn("%s: tensor %s is missing; it keeps its current values", where, p->name);
            continue;
        }
        if (!same_shape(p, found[map[i]])) {
            char want[96], got[160];
            shape_str(p->ndim, p->shape, want, sizeof want);
            shape_str(found[map[i]]->ndim, found[map[i]]->shape, got, sizeof got);
            rc = error_set(e, "%s: %s: expected shape %s, found %s", where, p->name, want, got);
        }
    }
    int extra = 0, first_extra = -1;
    for (int k = 0; k < n && rc == 0; k++) {
        if (used[k]) continue;
        if (first_extra < 0) first_extra = k;
        extra++;
        if (!strict) warn("%s: ignoring tensor %s, which the configured model does not have", where, found[k]->name);
    }
    if (rc == 0 && strict && missing)
        rc = error_set(e, "%s: tensor %s is missing (%d tensor%s of the configured model missing; a non-strict load "
                          "skips them)", where, t->params[first_missing].name, missing, missing == 1 ? "" : "s");
    else if (rc == 0 && strict && extra)
        rc = error_set(e, "%s: unexpected tensor %s, which the configured model does not have (%d unexpected; a "
                          "non-strict load ignores them)", where, found[first_extra]->name, extra);
    free(used);
    return rc;
}
