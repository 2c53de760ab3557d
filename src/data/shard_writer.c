#include "shard_writer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "../util/fileio.h"
#include "../util/h5util.h"
#include "../util/half.h"

struct ShardWriter {
    DatasetInfo info;
    char path[4096], tmp[4200];
    long long first_row, rows, written;
    long long chunk_rows, buffered;  /* rows per chunk, rows waiting in chunk */
    size_t row_elems, row_bytes;
    unsigned char *chunk;            /* chunk_rows rows in the stored dtype */
    int32_t *labels;                 /* every label of the shard (4 bytes per row) */
    uLong crc;                       /* of the latents bytes written so far */
    hid_t file, latents;
};

static hid_t create_dataset(hid_t file, const char *name, hid_t type, int rank, const hsize_t *dims,
                            const hsize_t *chunk) {
    hid_t space = H5Screate_simple(rank, dims, NULL), dcpl = dataset_create_plist();
    if (space < 0) FATAL("HDF5 dataspace creation failed");
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER); /* every chunk is written */
    if (chunk && H5Pset_chunk(dcpl, rank, chunk) < 0) FATAL("H5Pset_chunk failed");
    hid_t d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    return d;
}

ShardWriter *shard_writer_open(const char *root, const DatasetInfo *info, int shard, long long first_row,
                               long long rows, Error *e) {
    ShardWriter *w = xcalloc(1, sizeof *w, "shard writer");
    w->info = *info;
    w->first_row = first_row;
    w->rows = rows;
    dataset_shard_path(root, shard, w->path, sizeof w->path);
    tmp_name(w->path, w->tmp, sizeof w->tmp);
    size_t elem = (size_t)dataset_dtype_size(info->dtype);
    w->row_elems = (size_t)info->stored_channels * (size_t)info->resolution * (size_t)info->resolution;
    w->row_bytes = w->row_elems * elem;
    w->chunk_rows = MIN(rows, MAX(1, (long long)(SHARD_CHUNK_BYTES / w->row_bytes)));
    w->chunk = xmalloc((size_t)w->chunk_rows * w->row_bytes, "shard chunk buffer");
    w->labels = xmalloc((size_t)rows * sizeof *w->labels, "shard labels");
    w->crc = crc32(0L, Z_NULL, 0);
    w->latents = -1;

    w->file = dataset_create_file(w->tmp);
    if (w->file < 0) {
        error_set(e, "%s: cannot create the file (missing directory or no permission?)", w->tmp);
        free(w->chunk);
        free(w->labels);
        free(w);
        return NULL;
    }
    hsize_t dims[4] = {(hsize_t)rows, (hsize_t)info->stored_channels, (hsize_t)info->resolution,
                       (hsize_t)info->resolution};
    hsize_t chunk[4] = {(hsize_t)w->chunk_rows, dims[1], dims[2], dims[3]};
    hid_t type = dataset_file_type(info->dtype);
    w->latents = create_dataset(w->file, DATASET_LATENTS, type, 4, dims, chunk);
    H5Tclose(type);
    if (w->latents < 0 || dataset_write_attrs(w->file, info, shard, first_row) < 0) {
        error_set(e, "%s: cannot create dataset latents (disk full?)", w->tmp);
        shard_writer_abort(w);
        return NULL;
    }
    return w;
}

/* Writes the buffered rows as the next chunk (the last one may be partial). */
static int flush_chunk(ShardWriter *w, Error *e) {
    if (!w->buffered) return 0;
    hsize_t start[4] = {(hsize_t)(w->written - w->buffered), 0, 0, 0};
    hsize_t count[4] = {(hsize_t)w->buffered, (hsize_t)w->info.stored_channels, (hsize_t)w->info.resolution,
                        (hsize_t)w->info.resolution};
    hid_t fspace = H5Dget_space(w->latents);
    hid_t mspace = H5Screate_simple(4, count, NULL);
    hid_t type = dataset_file_type(w->info.dtype);
    int ok = fspace >= 0 && mspace >= 0 && H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
             H5Dwrite(w->latents, type, mspace, fspace, H5P_DEFAULT, w->chunk) >= 0;
    H5Tclose(type);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (!ok) return error_set(e, "%s: writing dataset latents failed (disk full?)", w->tmp);
    w->crc = crc32_z(w->crc, w->chunk, (size_t)w->buffered * w->row_bytes);
    w->buffered = 0;
    return 0;
}

static int check_sample(const ShardWriter *w, const float *x, int32_t label, long long row, Error *e) {
    long long g = w->first_row + row;
    int limit = MAX(w->info.num_classes, 1);
    if (label < 0 || label >= limit)
        return error_set(e, "sample %lld: label %d is outside [0, %d)", g, label, limit);
    int half = dataset_dtype_size(w->info.dtype) == 2;
    size_t bad = dataset_first_bad_value(!strcmp(w->info.kind, "pixels"), x, w->row_elems);
    if (bad < w->row_elems)
        return error_set(e, "sample %lld: value %zu is %g (%s)", g, bad, x[bad],
                         isfinite(x[bad]) ? DATASET_PIXEL_RULE : "NaN/Inf");
    for (size_t i = 0; i < w->row_elems; i++) {
        if (half && fabsf(x[i]) > HALF_MAX)
            return error_set(e, "sample %lld: value %zu = %g exceeds the float16 range (use --dtype float32)", g, i, x[i]);
    }
    return 0;
}

int shard_writer_append(ShardWriter *w, const float *x, const int32_t *labels, long long n, Error *e) {
    if (w->written + n > w->rows)
        FATAL("%s: %lld rows appended to a shard of %lld", w->tmp, w->written + n, w->rows);
    for (long long i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * w->row_elems;
        if (check_sample(w, xi, labels[i], w->written, e) < 0) return -1;
        unsigned char *dst = w->chunk + (size_t)w->buffered * w->row_bytes;
        if (dataset_dtype_size(w->info.dtype) == 2)
            half_from_float_n(xi, (uint16_t *)dst, w->row_elems);
        else
            memcpy(dst, xi, w->row_bytes);
        w->labels[w->written] = labels[i];
        w->written++;
        if (++w->buffered == w->chunk_rows && flush_chunk(w, e) < 0) return -1;
    }
    return 0;
}

int shard_writer_finish(ShardWriter *w, Error *e) {
    if (w->written != w->rows) FATAL("%s: finished after %lld of %lld rows", w->tmp, w->written, w->rows);
    if (flush_chunk(w, e) < 0) {
        shard_writer_abort(w);
        return -1;
    }
    hsize_t n = (hsize_t)w->rows;
    hid_t labels = create_dataset(w->file, DATASET_LABELS, H5T_STD_I32LE, 1, &n, NULL);
    int ok = labels >= 0 && H5Dwrite(labels, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->labels) >= 0;
    uLong label_crc = crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)w->labels, (size_t)w->rows * sizeof *w->labels);
    ok = ok && h5_write_attr_int64(labels, DATASET_CRC_ATTR, (long long)label_crc) == 0 &&
         h5_write_attr_int64(w->latents, DATASET_CRC_ATTR, (long long)w->crc) == 0;
    if (labels >= 0) H5Dclose(labels);
    ok = H5Dclose(w->latents) >= 0 && ok;
    w->latents = -1;
    ok = H5Fclose(w->file) >= 0 && ok;
    w->file = -1;
    if (tmp_finish(w->tmp, w->path, ok) < 0) {
        error_set(e, "%s: finishing the shard failed (disk full?)", w->tmp);
        shard_writer_abort(w);
        return -1;
    }
    free(w->chunk);
    free(w->labels);
    free(w);
    return 0;
}

void shard_writer_abort(ShardWriter *w) {
    if (w->latents >= 0) H5Dclose(w->latents);
    if (w->file >= 0) H5Fclose(w->file);
    remove(w->tmp);
    free(w->chunk);
    free(w->labels);
    free(w);
}
