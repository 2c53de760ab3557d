/* Linear layers with OpenBLAS SGEMM. Each call is one SGEMM over all M rows (OpenBLAS threads
 * it itself); the bias is folded in by writing it into the output first and running the SGEMM
 * with beta 1, which saves a second pass over the output. */
#include <cblas.h>

#include "cpu_ops.h"

/* Column sums are computed by column blocks, one block per thread (a multiple of 16 floats = whole
 * cache lines, at most COLUMN_BLOCK_MAX wide): each thread streams through contiguous row
 * segments, and every column is summed in row order whatever the thread count. */
#define COLUMN_BLOCK_MAX 1024

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

void cpu_add_column_sums(Backend *b, float *dst, const float *src, long M, int N, const int32_t *row_ids, int min_id) {
    const int threads = cpu_state(b)->threads;
    int width = (N + threads - 1) / threads;
    width = (width + 15) / 16 * 16;
    if (width > COLUMN_BLOCK_MAX) width = COLUMN_BLOCK_MAX;
    const int blocks = (N + width - 1) / width;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < blocks; blk++) {
        const int j0 = blk * width, w = N - j0 < width ? N - j0 : width;
        double acc[width];
        for (int j = 0; j < w; j++) acc[j] = 0;
        for (long i = 0; i < M; i++) {
            if (row_ids && row_ids[i] < min_id) continue;
            const float *row = src + i * (long)N + j0;
            for (int j = 0; j < w; j++) acc[j] += row[j];
        }
        for (int j = 0; j < w; j++) dst[j0 + j] += (float)acc[j];
    }
}

void cpu_linear_backward(Backend *b, void *din, float *dW, float *dbias, const void *dout, const void *in,
                         const void *W, int M, int K, int N, float din_beta) {
    if (dW) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dout, N, in, K, 1.0f, dW, K);
    if (din) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dout, N, W, K, din_beta, din, K);
    if (dbias) cpu_add_column_sums(b, dbias, dout, M, N, NULL, 0);
}

/* The MLP ops are, on the CPU, exactly the compositions that define them (backend.c). */
void cpu_linear_gelu(Backend *b, void *act, void *pre, const void *in, const void *W, const void *bias, int M, int K,
                     int N) {
    backend_linear_gelu_composed(b, act, pre, in, W, bias, M, K, N);
}

void cpu_gelu_linear_backward(Backend *b, void *dpre, float *dW, float *dbias, const void *dout, const void *act,
                              const void *pre, const void *W, int M, int K, int N) {
    backend_gelu_linear_backward_composed(b, dpre, dW, dbias, dout, act, pre, W, M, K, N);
}
