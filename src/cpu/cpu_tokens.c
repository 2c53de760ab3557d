/* Token gather (keeping the unmasked tokens) and un-masking (scattering them back among mask
 * tokens), with their backward passes: row copies, parallel over rows or samples. ids_keep holds
 * distinct token indices per sample and ids_restore is a permutation of 0..L-1, as the masking
 * code produces them. */
#include <string.h>

#include "cpu_ops.h"

void cpu_gather_tokens(Backend *b, void *out, const void *in, const int32_t *ids, int N, int L, int K, int width) {
    float *o = out;
    const float *x = in;
    const size_t row_bytes = (size_t)width * sizeof(float);
#pragma omp parallel for schedule(static)
    for (long nk = 0; nk < (long)N * K; nk++) {
        long n = nk / K;
        memcpy(o + nk * width, x + (n * L + ids[nk]) * width, row_bytes);
    }
}

void cpu_gather_tokens_backward(Backend *b, void *din, const void *dout, const int32_t *ids, int N, int L, int K,
                                int width) {
    float *dx = din;
    const float *dy = dout;
    const size_t row_bytes = (size_t)width * sizeof(float);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *dxn = dx + (size_t)n * L * width;
        memset(dxn, 0, (size_t)L * row_bytes);
        for (int k = 0; k < K; k++)
            memcpy(dxn + (size_t)ids[(size_t)n * K + k] * width, dy + ((size_t)n * K + k) * width, row_bytes);
    }
}

void cpu_unmask_tokens(Backend *b, void *out, const void *in, const void *fill, const int32_t *ids_restore, int N,
                       int L, int K, int width) {
    float *o = out;
    const float *x = in, *f = fill;
    const size_t row_bytes = (size_t)width * sizeof(float);
#pragma omp parallel for schedule(static)
    for (long nl = 0; nl < (long)N * L; nl++) {
        long n = nl / L;
        int r = ids_restore[nl];
        if (r < K) memcpy(o + nl * width, x + (n * K + r) * width, row_bytes);
        else if (f) memcpy(o + nl * width, f, row_bytes);
        else memset(o + nl * width, 0, row_bytes);
    }
}

/* ids_restore being a permutation, the positions with r < K write each of the K rows of din
 * exactly once; dfill sums the remaining rows. */
void cpu_unmask_tokens_backward(Backend *b, void *din, float *dfill, const void *dout, const int32_t *ids_restore,
                                int N, int L, int K, int width) {
    float *dx = din;
    const float *dy = dout;
    const size_t row_bytes = (size_t)width * sizeof(float);
#pragma omp parallel for schedule(static)
    for (long nl = 0; nl < (long)N * L; nl++) {
        long n = nl / L;
        int r = ids_restore[nl];
        if (r < K) memcpy(dx + (n * K + r) * width, dy + nl * width, row_bytes);
    }
    if (dfill) cpu_add_column_sums(b, dfill, dy, (long)N * L, width, ids_restore, K);
}
