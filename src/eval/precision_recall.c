/* precision_recall (precision_recall.h): squared distances a block of rows at a time against every
 * row of the other set (one SGEMM per block), so memory stays at ROWS x n. */
#include <cblas.h>
#include <stdlib.h>

#include "../util/common.h"
#include "precision_recall.h"

#define ROWS 256

static double *squared_norms(const float *x, long long n, int dim) {
    double *out = xmalloc((size_t)n * sizeof *out, "feature norms");
    for (long long i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < dim; j++) s += (double)x[i * dim + j] * x[i * dim + j];
        out[i] = s;
    }
    return out;
}

/* dist[r, c] = |a_r - b_c|^2 for rows r of a [rows, dim] (norms na) and all n rows of b (norms nb);
 * dot is float scratch [rows, n]. */
static void distances(const float *a, const double *na, int rows, const float *b, const double *nb, long long n,
                      int dim, float *dot, double *dist) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, (int)n, dim, 1.0f, a, dim, b, dim, 0.0f, dot, (int)n);
    for (int r = 0; r < rows; r++)
        for (long long c = 0; c < n; c++) {
            const double d = na[r] + nb[c] - 2.0 * dot[(size_t)r * n + c];
            dist[(size_t)r * n + c] = d > 0 ? d : 0;
        }
}

/* The (k+1)-th smallest of row[0, n): kept in a sorted list of k+1. */
static double kth_smallest(const double *row, long long n, int k, double *best) {
    int have = 0;
    for (long long c = 0; c < n; c++) {
        const double v = row[c];
        if (have == k + 1 && v >= best[k]) continue;
        int at = have < k + 1 ? have++ : k;
        while (at > 0 && best[at - 1] > v) best[at] = best[at - 1], at--;
        best[at] = v;
    }
    return best[k];
}

static double *radii(const float *x, const double *nx, long long n, int dim, int k, float *dot, double *dist) {
    double *out = xmalloc((size_t)n * sizeof *out, "manifold radii");
    double *best = xmalloc((size_t)(k + 1) * sizeof *best, "nearest distances");
    for (long long r0 = 0; r0 < n; r0 += ROWS) {
        const int rows = (int)(n - r0 < ROWS ? n - r0 : ROWS);
        distances(x + r0 * dim, nx + r0, rows, x, nx, n, dim, dot, dist);
        for (int r = 0; r < rows; r++) out[r0 + r] = kth_smallest(dist + (size_t)r * n, n, k, best);
    }
    free(best);
    return out;
}

/* Fraction of the rows of y inside the ball of radius rx[i] around some row i of x. */
static double coverage(const float *x, const double *nx, const double *rx, long long n_x, const float *y,
                       const double *ny, long long n_y, int dim, float *dot, double *dist) {
    long long inside = 0;
    for (long long r0 = 0; r0 < n_y; r0 += ROWS) {
        const int rows = (int)(n_y - r0 < ROWS ? n_y - r0 : ROWS);
        distances(y + r0 * dim, ny + r0, rows, x, nx, n_x, dim, dot, dist);
        for (int r = 0; r < rows; r++) {
            const double *row = dist + (size_t)r * n_x;
            long long c = 0;
            while (c < n_x && row[c] > rx[c]) c++;
            inside += c < n_x;
        }
    }
    return (double)inside / n_y;
}

void precision_recall(const float *ref, long long n_ref, const float *samples, long long n_samples, int dim, int k,
                      double *precision, double *recall) {
    const long long n_max = n_ref > n_samples ? n_ref : n_samples;
    float *dot = xmalloc((size_t)ROWS * n_max * sizeof *dot, "distance products");
    double *dist = xmalloc((size_t)ROWS * n_max * sizeof *dist, "distances");
    double *nr = squared_norms(ref, n_ref, dim), *ns = squared_norms(samples, n_samples, dim);
    double *rr = radii(ref, nr, n_ref, dim, k, dot, dist), *rs = radii(samples, ns, n_samples, dim, k, dot, dist);
    *precision = coverage(ref, nr, rr, n_ref, samples, ns, n_samples, dim, dot, dist);
    *recall = coverage(samples, ns, rs, n_samples, ref, nr, n_ref, dim, dot, dist);
    free(dot), free(dist), free(nr), free(ns), free(rr), free(rs);
}
