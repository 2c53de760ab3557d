/* A writer of safetensors files (the format of the `safetensors` package): an 8-byte little-endian
 * header length N, N bytes of JSON
 *   {"__metadata__": {"key": "text", ...}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
 * padded with spaces to a multiple of 8, then the tensors' bytes back to back (little endian, row
 * major), offsets relative to the end of the header. Written to "<path>.tmp" and renamed when
 * complete. The reader lives in src/ckpt (another file). */
#ifndef MASKDIT_SAFETENSORS_WRITE_H
#define MASKDIT_SAFETENSORS_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "../util/common.h"

typedef struct {
    const char *name;
    int ndim;
    const int64_t *shape;
    const float *data;   /* float32, numel = product of the shape */
} StTensor;

/* n tensors (distinct names, in file order) and n_meta pairs of metadata text (keys and values
 * alternating in meta). Returns -1 with a message naming the file. */
int safetensors_write(const char *path, const StTensor *ts, int n, const char *const *meta, int n_meta, Error *e);

#endif
