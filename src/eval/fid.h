/* Fréchet Inception Distance from features: running sums over feature rows (so that ranks can add
 * theirs: the sums are plain arrays), the mean and unbiased covariance in float64, and
 *   FID = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr sqrt(S_a S_b)
 * as pytorch-fid and ADM compute it, the last trace through symmetric eigendecompositions
 * (LAPACK's dsyevd_ from OpenBLAS) rather than a general matrix square root:
 *   S_a = V diag(l) V^T (l clipped at 0),  tr sqrt(S_a S_b) = sum_i sqrt(max(m_i, 0)),
 *   m = eigenvalues of diag(sqrt l) (V^T S_b V) diag(sqrt l)  (similar to sqrt(S_a) S_b sqrt(S_a)).
 * Equal to scipy.linalg.sqrtm's trace for well-conditioned statistics; finite and correct where
 * the covariances of small sets are singular (scipy then warns and pytorch-fid adds 1e-6 I). */
#ifndef MASKDIT_FID_H
#define MASKDIT_FID_H

#include "../util/common.h"

typedef struct {
    int dim;
    long long count;   /* rows added */
    double *sum;       /* [dim] */
    double *outer;     /* [dim, dim]: sum of x x^T (upper triangle kept up to date; full after finish) */
} FidSums;

typedef struct {
    int dim;
    double *mu;      /* [dim] */
    double *sigma;   /* [dim, dim], unbiased (divided by count - 1) */
} FidStats;

void fid_sums_init(FidSums *s, int dim);
void fid_sums_free(FidSums *s);
/* Add rows of features (row-major [rows, dim], float32). */
void fid_sums_add(FidSums *s, const float *features, long long rows);
/* Mean and covariance of the rows added; -1 with e set when fewer than 2. */
int fid_stats_from_sums(const FidSums *s, FidStats *out, Error *e);
void fid_stats_free(FidStats *st);

/* The Fréchet distance between two sets of statistics of the same dim; -1 with e set when LAPACK
 * fails or a value is not finite. */
int fid_distance(const FidStats *a, const FidStats *b, double *out, Error *e);

#endif
