/* Ops that only move values between layouts: nearest upsampling and the batched transpose
 * between NCHW and token-major tensors. The transpose goes through 32x32 blocks so that both the
 * reads and the writes touch whole cache lines. */
#include "cpu_ops.h"

#define TRANSPOSE_BLOCK 32

void cpu_upsample_nearest2x(Backend *b, void *out_, const void *in_, int N, int C, int H, int W) {
    const float *in = in_;
    float *out = out_;
    const int W2 = 2 * W;
#pragma omp parallel for schedule(static)
    for (long row = 0; row < (long)N * C * H; row++) {   /* one input row -> two output rows */
        const float *src = in + row * W;
        float *dst = out + row * 2 * W2;
        for (int x = 0; x < W; x++) dst[2 * x] = dst[2 * x + 1] = src[x];
        for (int x = 0; x < W2; x++) dst[W2 + x] = dst[x];
    }
}

void cpu_transpose(Backend *b, void *out_, const void *in_, int N, int R, int Cols, float beta) {
    const float *in = in_;
    float *out = out_;
    const int rb = (R + TRANSPOSE_BLOCK - 1) / TRANSPOSE_BLOCK, cb = (Cols + TRANSPOSE_BLOCK - 1) / TRANSPOSE_BLOCK;
#pragma omp parallel for schedule(static)
    for (long blk = 0; blk < (long)N * rb * cb; blk++) {
        const int n = (int)(blk / ((long)rb * cb)), r0 = (int)(blk / cb % rb) * TRANSPOSE_BLOCK,
                  c0 = (int)(blk % cb) * TRANSPOSE_BLOCK;
        const int r1 = r0 + TRANSPOSE_BLOCK < R ? r0 + TRANSPOSE_BLOCK : R;
        const int c1 = c0 + TRANSPOSE_BLOCK < Cols ? c0 + TRANSPOSE_BLOCK : Cols;
        const float *src = in + (size_t)n * R * Cols;
        float *dst = out + (size_t)n * R * Cols;
        for (int c = c0; c < c1; c++)
            for (int r = r0; r < r1; r++) {
                const float v = src[(size_t)r * Cols + c];
                dst[(size_t)c * R + r] = beta == 0.0f ? v : dst[(size_t)c * R + r] + v;
            }
    }
}
