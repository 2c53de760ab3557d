/* Linear layers with OpenBLAS SGEMM. Each call is one SGEMM over all M rows (OpenBLAS threads
 * it itself); the bias is folded in by writing it into the output first and running the SGEMM
 * with beta 1, which saves a second pass over the output. */
#include <cblas.h>

#include "cpu_ops.h"

/* Columns per block of the column sums: 16 floats = one cache line per row. */
#define COLUMN_BLOCK 16

void cpu_linear(Backend *b, void *out, const void *in, const void *W, const void *bias, int M, int K, int N,
                float beta) {
    float *y = out;
    const float *bs = bias;
    if (bs) {
#pragma omp parallel for schedule(static)
        for (long i = 0; i < M; i++) {
            float *row = y + i * (long)N;
            if (beta == 0.0f)
                for (int j = 0; j < N; j++) row[j] = bs[j];
            else
                for (int j = 0; j < N; j++) row[j] += bs[j];
        }
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, in, K, W, K, beta, y, N);
}

void cpu_add_column_sums(float *dst, const float *src, long M, int N, const int32_t *row_ids, int min_id) {
    int blocks = (N + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < blocks; blk++) {
        int j0 = blk * COLUMN_BLOCK, width = N - j0 < COLUMN_BLOCK ? N - j0 : COLUMN_BLOCK;
        double acc[COLUMN_BLOCK] = {0};
        for (long i = 0; i < M; i++) {
            if (row_ids && row_ids[i] < min_id) continue;
            const float *row = src + i * (long)N + j0;
            for (int j = 0; j < width; j++) acc[j] += row[j];
        }
        for (int j = 0; j < width; j++) dst[j0 + j] += (float)acc[j];
    }
}

void cpu_linear_backward(Backend *b, void *din, float *dW, float *dbias, const void *dout, const void *in,
                         const void *W, int M, int K, int N, float din_beta) {
    if (dW) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dout, N, in, K, 1.0f, dW, K);
    if (din) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dout, N, W, K, din_beta, din, K);
    if (dbias) cpu_add_column_sums(dbias, dout, M, N, NULL, 0);
}
