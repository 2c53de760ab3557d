/* An HDF5 file of one float32 array [count, d1, d2, d3] written row by row as the rows arrive
 * (a CollectSink), with 1-D int64 datasets and attributes beside it. Written to "<path>.tmp" and
 * renamed when every row is in, so a reader never sees a partial file. Datasets carry no
 * modification times: the same rows give the same file, byte for byte. Used for sampled latents
 * (src/sample/latents_file.c) and the VAE's images and moments (src/vae/vae_files.c). */
#ifndef MASKDIT_H5ROWS_H
#define MASKDIT_H5ROWS_H

#include <hdf5.h>

#include "common.h"

typedef struct {
    hid_t file, data;
    char *path, *tmp;
    long long count, rows_written;
    size_t row_bytes;
} H5Rows;

/* Creates "<path>.tmp" with dataset `name` [count, row_dims[0..2]] float32, chunked along the
 * rows (about 1 MiB a chunk). f->file takes attributes and h5rows_write_ints datasets. */
int h5rows_create(H5Rows *f, const char *path, const char *name, long long count, const int row_dims[3], Error *e);
/* A 1-D int64 dataset of n values. */
int h5rows_write_ints(H5Rows *f, const char *name, const long long *v, long long n, Error *e);
/* CollectSink: the next whole rows, in order. */
int h5rows_sink(void *ctx, const void *data, size_t bytes, Error *e);
/* Checks that every row arrived, closes and renames. On failure the temporary file is removed. */
int h5rows_close(H5Rows *f, Error *e);
/* Close and remove the temporary file. */
void h5rows_abort(H5Rows *f);

#endif
