/* Names and shapes of the tensors found in a checkpoint file (HDF5 or .pt), and their matching
 * against the parameter table: one place for the strict / non-strict rules and their messages,
 * whatever the file format. */
#ifndef MASKDIT_TENSOR_MATCH_H
#define MASKDIT_TENSOR_MATCH_H

#include "../model/params.h"

#define TENSOR_MAX_DIMS 8

typedef struct {
    char *name;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
} TensorMeta;

/* "(192, 64)", "(64,)", "()". */
void shape_str(int ndim, const int64_t *shape, char *buf, size_t len);
size_t shape_numel(int ndim, const int64_t *shape);

/* For every tensor of t (only the trainable ones when trainable_only: optimizer moments) find the
 * file tensor of the same name among found[0, n): map[i] = its index, or -1. A shape mismatch is
 * always an error ("<where>: <name>: expected shape (..), found (..)"). strict: a missing or an
 * extra tensor is an error naming it; otherwise each is reported with warn() and skipped.
 * `where` names the file and section, e.g. "X.pt: ema". */
int tensor_match(const ParamTable *t, int trainable_only, TensorMeta *const *found, int n, int strict,
                 const char *where, int *map, Error *e);

#endif
