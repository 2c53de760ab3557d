/* NumPy .npy files (format versions 1.0, 2.0 and 3.0): parse and write the header
 *   "\x93NUMPY" major minor header_len {'descr': '<f4', 'fortran_order': False, 'shape': (N, C, H, W), }
 * padded with spaces and a newline so that the data starts at a multiple of 64 bytes. The data
 * follows in C order. Used by `maskdit-convert npy/npz` (reading) and by the sampler's ADM-style
 * .npz output (writing, through src/util/zip.h). */
#ifndef MASKDIT_NPY_H
#define MASKDIT_NPY_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"

#define NPY_MAX_DIMS 8

typedef struct {
    char descr[16];          /* e.g. "<f4", "|u1" */
    char kind;               /* 'f' float, 'i' signed int, 'u' unsigned int, 'b' bool */
    int elem_size;           /* bytes per element */
    int ndim;
    long long shape[NPY_MAX_DIMS];
    long long header_bytes;  /* offset of the data from the start of the .npy */
} NpyHeader;

/* Parse a header from memory (buf holds at least the first avail bytes of the .npy). Accepts only
 * what we can read: little-endian (or single-byte) bool/int/uint/float, fortran_order False. The
 * messages name `name` (a file, or "archive.npz:entry.npy"). */
int npy_parse_header(const void *buf, size_t avail, const char *name, NpyHeader *h, Error *e);

/* Read and parse the header at the current position of f (leaves f at the start of the data). */
int npy_read_header(FILE *f, const char *name, NpyHeader *h, Error *e);

/* Elements of the array: the product of the shape. */
long long npy_count(const NpyHeader *h);

/* Format a version 1.0 header for a C-order array into buf; returns its length (a multiple of
 * 64, so the data that follows is aligned), or -1 if cap is too small. */
long long npy_format_header(char *buf, size_t cap, const char *descr, int ndim, const long long *shape);

/* Write a whole .npy file (to "<path>.tmp", renamed when complete). data holds
 * npy_count elements of descr in C order. */
int npy_save(const char *path, const char *descr, int ndim, const long long *shape, const void *data, Error *e);

/* Convert n elements of the header's dtype (little-endian) to float32 / int64. Integer -> float
 * and float -> float conversions are exact or correctly rounded; converting floats to int64 is
 * refused by the caller (npy_to_int64 requires an integer or bool dtype). */
void npy_to_float(const NpyHeader *h, const void *src, size_t n, float *dst);
void npy_to_int64(const NpyHeader *h, const void *src, size_t n, int64_t *dst);

#endif
