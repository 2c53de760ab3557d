/* The FID network's input, as pytorch-fid prepares it: bytes / 255, PyTorch's bilinear
 * interpolation to 299x299 with align_corners=False (source coordinate (d + 0.5) * in/out - 0.5,
 * clamped at 0; the upper neighbour clamped to the last row/column; no antialiasing, also when
 * shrinking), then 2x - 1. Computed in double, rounded once to float. */
#include "inception.h"

typedef struct {
    int i0, i1;
    double l1;   /* weight of i1; i0 gets 1 - l1 */
} Tap;

static void taps(Tap *t, int in, int out) {
    const double scale = (double)in / out;
    for (int d = 0; d < out; d++) {
        double src = scale * (d + 0.5) - 0.5;
        if (src < 0) src = 0;
        t[d].i0 = (int)src;
        t[d].i1 = t[d].i0 < in - 1 ? t[d].i0 + 1 : t[d].i0;
        t[d].l1 = src - t[d].i0;
    }
}

void inception_input(const uint8_t *image, int H, int W, float *out) {
    enum { S = INCEPTION_SIZE };
    Tap ty[S], tx[S];
    taps(ty, H, S);
    taps(tx, W, S);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++) {
            const uint8_t *r0 = image + (size_t)ty[y].i0 * W * 3 + c, *r1 = image + (size_t)ty[y].i1 * W * 3 + c;
            for (int x = 0; x < S; x++) {
                const Tap *a = &tx[x];
                const double top = (1 - a->l1) * r0[a->i0 * 3] + a->l1 * r0[a->i1 * 3];
                const double bottom = (1 - a->l1) * r1[a->i0 * 3] + a->l1 * r1[a->i1 * 3];
                const double v = ((1 - ty[y].l1) * top + ty[y].l1 * bottom) / 255.0;
                out[((size_t)c * S + y) * S + x] = (float)(2 * v - 1);
            }
        }
}
