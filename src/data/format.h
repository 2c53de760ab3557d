/* The on-disk dataset format (docs/data-format.md): a directory holding index.h5 and shard files
 * shard-00000.h5, shard-00001.h5, ... Each shard has `latents` [N, C, H, W] (float16 or float32,
 * chunked along N, unfiltered) and `labels` [N] (int32), and root attributes describing the data;
 * the index repeats the attributes and adds the total count and the rows of every shard.
 *
 * This module is shared by the shard writer, the reader and `maskdit-convert info/verify`: paths,
 * HDF5 types, attribute I/O, and the checks that a shard is what the index says it is. */
#ifndef MASKDIT_DATA_FORMAT_H
#define MASKDIT_DATA_FORMAT_H

#include <hdf5.h>
#include <stdint.h>

#include "reader.h"

#define DATASET_FORMAT_NAME "maskdit-dataset"
#define DATASET_FORMAT_VERSION 1
#define DATASET_INDEX_FILE "index.h5"
#define DATASET_LATENTS "latents"
#define DATASET_LABELS "labels"
#define DATASET_CRC_ATTR "crc32"   /* zlib crc32 of a dataset's raw little-endian bytes in row order */

/* "<root>/shard-00042.h5", "<root>/index.h5" */
void dataset_shard_path(const char *root, int shard, char *buf, size_t len);
void dataset_index_path(const char *root, char *buf, size_t len);

/* Bytes per stored element (2 or 4) of dtype "float16"/"float32"; 0 for anything else. */
int dataset_dtype_size(const char *dtype);
/* A new HDF5 file type for dtype (close it): IEEE binary16 little-endian (what h5py calls '<f2')
 * or H5T_IEEE_F32LE. */
hid_t dataset_file_type(const char *dtype);

/* Sets info->source; a text too long for it keeps its end, which names the data ("...<end>"). */
void dataset_set_source(DatasetInfo *info, const char *source);

/* Checks the descriptive fields (kind, channels, resolution, classes, scale, dtype) for sense;
 * `where` names the file in the message. Fills info->channels from kind and stored_channels. */
int dataset_info_check(DatasetInfo *info, const char *where, Error *e);

/* The one rule on stored sample values, applied when converting (shard_writer), by `verify` and
 * by the training reader: every value finite, and for kind pixels within [-1, 1]. Returns the
 * index of the first value that breaks it, n when none does. */
size_t dataset_first_bad_value(int pixels, const float *x, size_t n);
#define DATASET_PIXEL_RULE "outside [-1, 1] for kind pixels"

/* Attributes of a shard (shard_index, first_row given) or of the index (shard_index < 0: count
 * and num_shards are written instead). */
int dataset_write_attrs(hid_t loc, const DatasetInfo *info, int shard_index, long long first_row);
/* Reads the descriptive attributes (not count / num_shards) and checks the format name and
 * version. */
int dataset_read_attrs(hid_t file, const char *file_name, DatasetInfo *info, Error *e);
/* Same descriptive attributes? The message names the first differing attribute. */
int dataset_attrs_match(const DatasetInfo *have, const DatasetInfo *want, const char *file_name, Error *e);

/* Files and datasets without timestamps, so that the same input gives byte-identical files
 * whoever writes them (close the returned ids). */
hid_t dataset_create_file(const char *path);
hid_t dataset_create_plist(void);

/* index.h5 (written to index.h5.tmp, then renamed). */
int dataset_index_write(const char *root, const DatasetInfo *info, const long long *shard_rows, Error *e);
/* Reads and checks index.h5: fills info (count, num_shards included) and a malloc'ed
 * shard_rows[num_shards]. */
int dataset_index_read(const char *root, DatasetInfo *info, long long **shard_rows, Error *e);

/* Where the raw rows of one shard's `latents` are in its file. */
typedef struct {
    long long rows;
    long long first_row;     /* global row of the shard's first sample */
    long long chunk_rows;    /* rows per chunk (all rows for a contiguous dataset) */
    long long n_chunks;
    uint64_t *chunk_offset;  /* byte offset of every chunk in the file (malloc'ed) */
    size_t row_bytes;
} ShardLayout;

/* Opens shard `shard` of the dataset described by info / shard_rows, checks its attributes,
 * shapes, types and layout against them, finds the raw byte offset of every chunk (the reader
 * reads rows with pread; so the data must be uncompressed and little-endian) and checks that all
 * of it lies inside the file (truncation). If labels is not NULL it receives the shard's labels,
 * checked to lie in [0, max(num_classes, 1)). If file is not NULL the open HDF5 file is returned
 * in it (the caller closes it); otherwise it is closed. */
int dataset_shard_open(const char *root, const DatasetInfo *info, int shard, long long first_row, long long rows,
                       ShardLayout *layout, int32_t *labels, hid_t *file, Error *e);
void shard_layout_free(ShardLayout *l);

#endif
