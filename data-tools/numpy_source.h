/* A ConvertSource over NumPy arrays, shared by `npy` (files) and `npz` (archive entries): the
 * arrays are read through NumpyArray, which knows where their bytes are. */
#ifndef MASKDIT_NUMPY_SOURCE_H
#define MASKDIT_NUMPY_SOURCE_H

#include "../src/util/npy.h"
#include "convert.h"

typedef struct NumpyArray {
    char name[4200];         /* "x.npy" or "archive.npz:x.npy", for messages */
    NpyHeader header;
    /* bytes of the array data starting at byte offset (offsets only grow between calls) */
    int (*read)(struct NumpyArray *a, long long offset, size_t bytes, void *buf, Error *e);
    void (*close)(struct NumpyArray *a);
    void *impl;
} NumpyArray;

/* A .npy file (closed by a->close). */
int numpy_open_file(NumpyArray *a, const char *path, Error *e);

/* Checks the shapes (data [N, C, H, W] with H == W, labels [N] of an integer type), loads the
 * labels and writes the dataset (kind: moments / latents / pixels). labels may be NULL
 * (unlabelled: every label 0, num_classes 0 unless given). */
int numpy_convert(NumpyArray *data, NumpyArray *labels, const char *kind, ConvertOptions *opt, const Dist *dist, Error *e);

#endif
