/* Bring every rank's block of the output to rank 0, in rank order, without holding it all in
 * memory: rank 0 hands its own block and then each other rank's, piece by piece as it arrives,
 * to a sink (a file writer or a buffer). Each rank's block is a whole number of records (one
 * image or latent); pieces are whole records of at most COLLECT_PIECE_BYTES (MPI counts are int). */
#ifndef MASKDIT_MPI_COLLECT_H
#define MASKDIT_MPI_COLLECT_H

#include <stddef.h>

#include "dist.h"

#define COLLECT_PIECE_BYTES ((size_t)64 << 20)

/* Called on rank 0 for consecutive pieces; returns -1 (with a message in e) to fail. After a
 * failure the remaining pieces are still received (no rank is left waiting) but not passed on. */
typedef int (*CollectSink)(void *ctx, const void *data, size_t bytes, Error *e);

/* Collective over d->comm. local: this rank's block of `records` records of record_bytes each.
 * Returns 0, or -1 on every rank when the sink failed (e filled on every rank). */
int collect_to_root(const Dist *d, const void *local, long long records, size_t record_bytes, CollectSink sink,
                    void *ctx, Error *e);

/* Every rank's block of n_local records gathered into one NumPy .npz on rank 0 (entry arr_0 of dtype
 * descr, elem bytes per value, the given 4-D shape), written under a temporary name and renamed;
 * a failure ends the job with the message (collective). */
void collect_npz(const Dist *d, const void *local, long long n_local, const char *descr, size_t elem,
                 const long long shape[4], const char *path);

#endif
