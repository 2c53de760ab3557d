#include "images.h"

#include <string.h>

#include "common.h"

void image_to_u8(uint8_t *out, const double *x, int C, int H, int W) {
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                float v = ((float)x[((size_t)c * H + y) * W + xx] + 1.0f) * 127.5f;
                v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;   /* NaN stays NaN: mapped to 0 below */
                out[((size_t)y * W + xx) * C + c] = v == v ? (uint8_t)v : 0;
            }
}

uint8_t *grid_compose(const uint8_t *tiles, int n, int rows, int cols, int H, int W, int C, int *grid_w,
                      int *grid_h) {
    *grid_w = cols * (W + GRID_PAD) + GRID_PAD;
    *grid_h = rows * (H + GRID_PAD) + GRID_PAD;
    size_t stride = (size_t)*grid_w * C, tile_bytes = (size_t)H * W * C;
    uint8_t *canvas = xcalloc((size_t)*grid_h, stride, "sample grid");
    for (int k = 0; k < n; k++) {
        int r = k / cols, c = k % cols;
        uint8_t *dst = canvas + (size_t)(GRID_PAD + r * (H + GRID_PAD)) * stride + (size_t)(GRID_PAD + c * (W + GRID_PAD)) * C;
        for (int y = 0; y < H; y++) memcpy(dst + (size_t)y * stride, tiles + k * tile_bytes + (size_t)y * W * C, (size_t)W * C);
    }
    return canvas;
}
