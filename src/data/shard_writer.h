/* Writes one shard file of the dataset format (src/data/format.h) with bounded memory: samples
 * are appended in order, buffered one chunk at a time (about 1 MiB), converted to the stored
 * dtype (float16 rounds to nearest even) and written to "<shard>.tmp"; finish() adds the
 * checksums and renames the file, so a shard under its final name is always complete. */
#ifndef MASKDIT_DATA_SHARD_WRITER_H
#define MASKDIT_DATA_SHARD_WRITER_H

#include "format.h"

/* Target bytes of one chunk of `latents`: big enough for streaming, small enough that an
 * h5py reader slicing a few rows does not read much more than it needs. */
#define SHARD_CHUNK_BYTES (1 << 20)

typedef struct ShardWriter ShardWriter;

/* Starts shard `shard` of the dataset in root (info: the descriptive fields, already checked)
 * holding global rows first_row .. first_row+rows-1. */
ShardWriter *shard_writer_open(const char *root, const DatasetInfo *info, int shard, long long first_row,
                               long long rows, Error *e);

/* Appends n samples: x [n, stored_channels, H, W] float32 and their labels. Refuses NaN/Inf,
 * values beyond the float16 range when storing float16, and labels outside [0, max(num_classes,1))
 * with a message naming the global sample index. */
int shard_writer_append(ShardWriter *w, const float *x, const int32_t *labels, long long n, Error *e);

/* Every row written: checksums, close, rename to the final name. Frees w (also on error). */
int shard_writer_finish(ShardWriter *w, Error *e);

/* After an error: close and delete the temporary file, free w. */
void shard_writer_abort(ShardWriter *w);

#endif
