/* Statistics and the Fréchet distance (fid.h). The sums of outer products go through DSYRK on
 * blocks of rows converted to double; LAPACK is called directly (Debian's OpenBLAS has no
 * LAPACKE), with the hidden string-length arguments of gfortran's calling convention. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "fid.h"

#define ROW_BLOCK 256

void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len, size_t uplo_len);

void fid_sums_init(FidSums *s, int dim) {
    s->dim = dim;
    s->count = 0;
    s->sum = xcalloc((size_t)dim, sizeof *s->sum, "FID feature sums");
    s->outer = xcalloc((size_t)dim * dim, sizeof *s->outer, "FID feature outer products");
}

void fid_sums_free(FidSums *s) {
    free(s->sum);
    free(s->outer);
    s->sum = s->outer = NULL;
}

void fid_sums_add(FidSums *s, const float *features, long long rows) {
    const int d = s->dim;
    double *block = xmalloc((size_t)ROW_BLOCK * d * sizeof *block, "FID feature block");
    for (long long r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
        const int n = (int)(rows - r0 < ROW_BLOCK ? rows - r0 : ROW_BLOCK);
        for (size_t i = 0; i < (size_t)n * d; i++) block[i] = features[(size_t)r0 * d + i];
        for (int r = 0; r < n; r++)
            for (int j = 0; j < d; j++) s->sum[j] += block[(size_t)r * d + j];
        /* outer (upper) += block^T block */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, n, 1.0, block, d, 1.0, s->outer, d);
    }
    s->count += rows;
    free(block);
}

int fid_stats_from_sums(const FidSums *s, FidStats *out, Error *e) {
    if (s->count < 2)
        return error_set(e, "%lld image(s): the covariance of the features needs at least 2", s->count);
    const int d = s->dim;
    const double n = (double)s->count;
    out->dim = d;
    out->mu = xmalloc((size_t)d * sizeof *out->mu, "FID mean");
    out->sigma = xmalloc((size_t)d * d * sizeof *out->sigma, "FID covariance");
    for (int j = 0; j < d; j++) out->mu[j] = s->sum[j] / n;
    /* (sum x x^T - n mu mu^T) / (n - 1), mirrored from the upper triangle */
    for (int i = 0; i < d; i++)
        for (int j = i; j < d; j++) {
            const double v = (s->outer[(size_t)i * d + j] - n * out->mu[i] * out->mu[j]) / (n - 1);
            out->sigma[(size_t)i * d + j] = out->sigma[(size_t)j * d + i] = v;
        }
    return 0;
}

void fid_stats_free(FidStats *st) {
    free(st->mu);
    free(st->sigma);
    st->mu = st->sigma = NULL;
}

/* Eigenvalues w (ascending) of the symmetric a [n, n], and its eigenvectors in place of a when
 * vectors (row i of a = eigenvector i, as a row-major array). */
static int eigen(double *a, int n, double *w, int vectors, Error *e) {
    const char jobz = vectors ? 'V' : 'N', uplo = 'U';
    int lwork = -1, liwork = -1, info = 0, iwork_query = 0;
    double work_query = 0;
    dsyevd_(&jobz, &uplo, &n, a, &n, w, &work_query, &lwork, &iwork_query, &liwork, &info, 1, 1);
    if (info != 0) return error_set(e, "LAPACK dsyevd (workspace query, n = %d) failed: info %d", n, info);
    lwork = (int)work_query;
    liwork = iwork_query;
    double *work = xmalloc((size_t)lwork * sizeof *work, "dsyevd workspace");
    int *iwork = xmalloc((size_t)liwork * sizeof *iwork, "dsyevd integer workspace");
    dsyevd_(&jobz, &uplo, &n, a, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work);
    free(iwork);
    if (info != 0) return error_set(e, "LAPACK dsyevd (n = %d) did not converge: info %d", n, info);
    return 0;
}

static int all_finite(const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

int fid_distance(const FidStats *a, const FidStats *b, double *out, Error *e) {
    const int d = a->dim;
    if (b->dim != d) return error_set(e, "statistics of %d and %d features cannot be compared", a->dim, b->dim);
    const size_t dd = (size_t)d * d;
    if (!all_finite(a->mu, d) || !all_finite(b->mu, d) || !all_finite(a->sigma, dd) || !all_finite(b->sigma, dd))
        return error_set(e, "the statistics hold NaN or infinite values");
    double *v = xmalloc(dd * sizeof *v, "FID eigenvectors"), *p = xmalloc(dd * sizeof *p, "FID product");
    double *m = xmalloc(dd * sizeof *m, "FID product"), *l = xmalloc((size_t)d * sizeof *l, "FID eigenvalues");
    double *mu = xmalloc((size_t)d * sizeof *mu, "FID eigenvalues");
    memcpy(v, a->sigma, dd * sizeof *v);
    int rc = eigen(v, d, l, 1, e);
    if (rc == 0) {
        /* m = V^T S_b V, with v holding V^T row-major */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, v, d, b->sigma, d, 0.0, p, d);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d, d, d, 1.0, p, d, v, d, 0.0, m, d);
        for (int i = 0; i < d; i++) l[i] = sqrt(l[i] > 0 ? l[i] : 0);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) m[(size_t)i * d + j] *= l[i] * l[j];
        rc = eigen(m, d, mu, 0, e);
    }
    if (rc == 0) {
        double dist = 0, tr = 0, tr_sqrt = 0;
        for (int i = 0; i < d; i++) {
            const double diff = a->mu[i] - b->mu[i];
            dist += diff * diff;
            tr += a->sigma[(size_t)i * d + i] + b->sigma[(size_t)i * d + i];
            tr_sqrt += sqrt(mu[i] > 0 ? mu[i] : 0);
        }
        *out = dist + tr - 2 * tr_sqrt;
        if (!isfinite(*out)) rc = error_set(e, "the Fréchet distance is not finite");
    }
    free(v), free(p), free(m), free(l), free(mu);
    return rc;
}
