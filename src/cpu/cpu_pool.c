/* pool2d on the CPU: one output plane per (image, channel), planes split across threads. The
 * window is clipped to the input, which gives both PyTorch rules at once: padding never wins a
 * max, and an average divides by the positions inside (count_include_pad=False). Sums in float,
 * as PyTorch's CPU kernel; at most k*k terms. */
#include <float.h>

#include "cpu_ops.h"

static inline int clip_lo(int v) { return v < 0 ? 0 : v; }
static inline int clip_hi(int v, int size) { return v > size ? size : v; }

void cpu_pool2d(Backend *b, void *out_, const void *in_, const Pool2dShape *s) {
    const float *in = in_;
    float *out = out_;
    const int Ho = pool2d_out(s, s->H), Wo = pool2d_out(s, s->W);
#pragma omp parallel for schedule(static)
    for (long plane = 0; plane < (long)s->N * s->C; plane++) {
        const float *src = in + plane * s->H * s->W;
        float *dst = out + plane * Ho * Wo;
        for (int y = 0; y < Ho; y++) {
            const int y0 = clip_lo(y * s->stride - s->pad), y1 = clip_hi(y * s->stride - s->pad + s->k, s->H);
            for (int x = 0; x < Wo; x++) {
                const int x0 = clip_lo(x * s->stride - s->pad), x1 = clip_hi(x * s->stride - s->pad + s->k, s->W);
                float acc = s->is_max ? -FLT_MAX : 0.0f;
                for (int i = y0; i < y1; i++)
                    for (int j = x0; j < x1; j++) {
                        const float v = src[i * s->W + j];
                        acc = s->is_max ? (v > acc ? v : acc) : acc + v;
                    }
                dst[y * Wo + x] = s->is_max ? acc : acc / (float)((y1 - y0) * (x1 - x0));
            }
        }
    }
}
