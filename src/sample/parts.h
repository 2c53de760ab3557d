/* Resumable sampling, the batch parts: every batch a rank finishes is kept as one file
 * DIR/.parts/batch-NNNNNNNN.part (N: the batch's index in the run's list of batches of
 * --max_batch_size images), written under a temporary name, synced and renamed, so that a part
 * that exists under its name is complete. A rerun reads the parts back instead of sampling their
 * batches again. Format (host byte order: little-endian on x86-64 and aarch64):
 *
 *   magic   8 bytes  "MDGPART1"
 *   run     u32      CRC-32 of the run description it belongs to (run_record_crc)
 *   n       u32      images in the batch
 *   batch   u64      the batch index
 *   first   u64      index of its first image in the output order
 *   record  u64      bytes per image: H*W*C uint8 (pixels, HWC) or C*H*W float32 (latents)
 *   seeds   n x u32, labels n x i32 (-1: no class)
 *   values  n x record bytes, in batch order
 *   crc     u32      CRC-32 (zlib's) of every byte before it */
#ifndef MASKDIT_SAMPLE_PARTS_H
#define MASKDIT_SAMPLE_PARTS_H

#include <stddef.h>
#include <stdint.h>

#include "../util/common.h"
#include "work.h"

#define PARTS_SUBDIR ".parts"

typedef struct {
    char dir[4096];          /* DIR/.parts */
    uint32_t run_crc;        /* the run the parts belong to */
    size_t record_bytes;     /* bytes per image */
    int batch_size;          /* --max_batch_size: batch b holds images [b*B, min((b+1)*B, count)) */
} PartStore;

typedef enum {
    PART_ABSENT,             /* no part for this batch */
    PART_OK,                 /* complete and read */
    PART_DAMAGED,            /* unreadable, truncated, or not what this batch holds: sample it again */
    PART_FOREIGN             /* a complete part of another run */
} PartStatus;

/* DIR/.parts/batch-NNNNNNNN.part of batch b. */
void part_path(const PartStore *ps, long long batch, char *buf, size_t len);

/* Writes batch `batch`: its n images items[0..n) (from the run's list) and their values
 * (n x record_bytes). Returns -1 with a message when the file cannot be written. */
int part_write(const PartStore *ps, long long batch, const SampleItem *items, int n, const void *values, Error *e);

/* Reads batch `batch` into values (n x record_bytes) after checking every field against what
 * the batch must hold (items[0..n)) and the checksum. PART_DAMAGED and PART_FOREIGN come with
 * the reason in e. */
PartStatus part_read(const PartStore *ps, long long batch, const SampleItem *items, int n, void *values, Error *e);

#endif
