/* One array as a NumPy .npz archive (entry "arr_0.npy", stored), written on rank 0 as the
 * pieces arrive: the ADM evaluator's sample-batch format (arr_0 uint8 [N, H, W, C]) and latents
 * (float32 [N, C, H, W]). Written to "<path>.tmp" and renamed when complete. */
#ifndef MASKDIT_NPZ_OUT_H
#define MASKDIT_NPZ_OUT_H

#include "zip.h"

typedef struct {
    ZipWriter *zip;
} NpzOut;

/* descr: NumPy dtype ("|u1", "<f4"); elem: its size in bytes; the data follows through
 * npz_out_sink and must add up to the product of the shape. */
int npz_out_open(NpzOut *o, const char *path, const char *descr, int ndim, const long long *shape, size_t elem,
                 Error *e);
/* CollectSink: the next bytes of the array in C order. */
int npz_out_sink(void *ctx, const void *data, size_t bytes, Error *e);
int npz_out_close(NpzOut *o, Error *e);
void npz_out_abort(NpzOut *o);

#endif
