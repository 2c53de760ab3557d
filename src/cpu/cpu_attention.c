/* Multi-head self-attention with SGEMMs per (sample, head), inside one OpenMP loop over the N*H
 * pairs (the OpenMP build of OpenBLAS runs single-threaded inside a parallel region, so each
 * thread works on whole heads with no synchronisation).
 *
 * saved = the attention probabilities, f32 [N, H, T, T] (row i: softmax over keys j), kept for
 * the backward pass, which then needs no recomputation; after them (64-byte aligned) one T x T
 * float matrix per thread where the forward computes the scores: the SGEMM zeroes its output
 * first, and doing that on the cache-resident scratch instead of the probabilities (which go to
 * memory) made the forward 15% faster. Scratch for the backward: one T x T float matrix per
 * thread (dP, turned into dS in place). */
#include <cblas.h>
#include <math.h>
#include <omp.h>

#include "cpu_math.h"
#include "cpu_ops.h"

/* Floats of a T x T matrix, rounded up to a multiple of 16 (64 bytes). */
static size_t matrix_floats(int T) { return ((size_t)T * T + 15) / 16 * 16; }

/* Floats of the probabilities, rounded up so that the score matrices after them are aligned. */
static size_t probs_floats(int N, int T, int H) { return ((size_t)N * H * T * T + 15) / 16 * 16; }

size_t cpu_attention_saved_bytes(Backend *b, int N, int T, int E, int H) {
    return (probs_floats(N, T, H) + (size_t)cpu_state(b)->threads * matrix_floats(T)) * sizeof(float);
}

size_t cpu_attention_scratch_bytes(Backend *b, int N, int T, int E, int H) {
    return (size_t)cpu_state(b)->threads * matrix_floats(T) * sizeof(float);
}

/* P = softmax of each row of the T x T scores S, max subtracted. The sum runs in float vector
 * lanes (each lane adds T/8 terms in [0, 1], the largest being 1: relative error ~1e-7); a double
 * accumulator made this loop twice as slow. */
static void softmax_rows(float *restrict P, const float *restrict S, int T) {
    for (int i = 0; i < T; i++) {
        const float *srow = S + (size_t)i * T;
        float *prow = P + (size_t)i * T, mx = srow[0];
#pragma omp simd reduction(max : mx)
        for (int j = 1; j < T; j++) mx = srow[j] > mx ? srow[j] : mx;
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < T; j++) {
            prow[j] = cpu_expf(srow[j] - mx);
            sum += prow[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < T; j++) prow[j] *= inv;
    }
}

void cpu_attention(Backend *b, void *out, void *saved, const void *qkv, int N, int T, int E, int H) {
    const int hd = E / H, ld = 3 * E;
    const float scale = (float)(1.0 / sqrt((double)hd));
    const float *in = qkv;
    float *o = out, *probs = saved, *scores = probs + probs_floats(N, T, H);
#pragma omp parallel for schedule(static) num_threads(cpu_state(b)->threads)
    for (int nh = 0; nh < N * H; nh++) {
        int n = nh / H, h = nh % H;
        const float *q = in + (size_t)n * T * ld + h * hd, *k = q + E, *v = q + 2 * E;
        float *P = probs + (size_t)nh * T * T, *S = scores + (size_t)omp_get_thread_num() * matrix_floats(T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, ld, k, ld, 0.0f, S, T);
        softmax_rows(P, S, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, P, T, v, ld, 0.0f,
                    o + (size_t)n * T * E + h * hd, E);
    }
}

/* With P the probabilities and dO the output gradient of one head:
 *   dP = dO V^T;  dS = P * (dP - D), D_i = sum_j P_ij dP_ij = dO_i . O_i;
 *   dQ = scale dS K;  dK = scale dS^T Q;  dV = P^T dO. */
void cpu_attention_backward(Backend *b, void *dqkv, void *scratch, const void *dout, const void *qkv,
                            const void *out, const void *saved, int N, int T, int E, int H) {
    const int hd = E / H, ld = 3 * E;
    const float scale = (float)(1.0 / sqrt((double)hd));
    const float *in = qkv, *dos = dout, *os = out, *probs = saved;
    float *dst = dqkv;
#pragma omp parallel for schedule(static) num_threads(cpu_state(b)->threads)
    for (int nh = 0; nh < N * H; nh++) {
        int n = nh / H, h = nh % H;
        float *dS = (float *)scratch + (size_t)omp_get_thread_num() * matrix_floats(T);
        const float *q = in + (size_t)n * T * ld + h * hd, *k = q + E, *v = q + 2 * E;
        const float *dO = dos + (size_t)n * T * E + h * hd, *O = os + (size_t)n * T * E + h * hd;
        const float *P = probs + (size_t)nh * T * T;
        float *dq = dst + (size_t)n * T * ld + h * hd, *dk = dq + E, *dv = dq + 2 * E;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dO, E, v, ld, 0.0f, dS, T);
        for (int i = 0; i < T; i++) {
            double D = 0;
#pragma omp simd reduction(+ : D)
            for (int d = 0; d < hd; d++) D += dO[(size_t)i * E + d] * O[(size_t)i * E + d];
            float Df = (float)D, *row = dS + (size_t)i * T;
            const float *prow = P + (size_t)i * T;
            for (int j = 0; j < T; j++) row[j] = prow[j] * (row[j] - Df);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, dS, T, k, ld, 0.0f, dq, ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, dS, T, q, ld, 0.0f, dk, ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, P, T, dO, E, 0.0f, dv, ld);
    }
}
