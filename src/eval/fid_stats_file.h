/* FID statistics as .npz files, laid out as the EDM / U-ViT reference files (mu [d], sigma [d, d],
 * float64) and ADM's reference batches (also mu_s / sigma_s for sFID). */
#ifndef MASKDIT_FID_STATS_FILE_H
#define MASKDIT_FID_STATS_FILE_H

#include "fid.h"

/* Arrays mu_key [d] and sigma_key [d, d] (float64 or float32) of the .npz at path. Errors name the
 * file and the array (missing, another dtype or shape). */
int fid_stats_read(const char *path, const char *mu_key, const char *sigma_key, FidStats *out, Error *e);

/* mu and sigma from pool, and mu_s and sigma_s from spatial when it is not NULL, as float64, to
 * path (written to "<path>.tmp" and renamed when complete). */
int fid_stats_write(const char *path, const FidStats *pool, const FidStats *spatial, Error *e);

#endif
