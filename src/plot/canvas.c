#include "canvas.h"

#include <math.h>
#include <string.h>

#include "../util/png.h"
#include "font5x7.h"

void canvas_init(Canvas *c, int w, int h, Color bg) {
    c->w = w;
    c->h = h;
    c->rgb = xmalloc((size_t)w * h * 3, "chart pixels");
    for (size_t i = 0; i < (size_t)w * h; i++) {
        c->rgb[3 * i] = bg.r;
        c->rgb[3 * i + 1] = bg.g;
        c->rgb[3 * i + 2] = bg.b;
    }
}

void canvas_free(Canvas *c) {
    free(c->rgb);
    c->rgb = NULL;
}

static void put(Canvas *c, int x, int y, Color col) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    uint8_t *p = c->rgb + ((size_t)y * c->w + x) * 3;
    p[0] = col.r, p[1] = col.g, p[2] = col.b;
}

void canvas_fill_rect(Canvas *c, int x0, int y0, int x1, int y1, Color col) {
    for (int y = MIN(y0, y1); y <= MAX(y0, y1); y++)
        for (int x = MIN(x0, x1); x <= MAX(x0, x1); x++) put(c, x, y, col);
}

void canvas_line(Canvas *c, double x0, double y0, double x1, double y1, int thickness, Color col) {
    double len = fmax(fabs(x1 - x0), fabs(y1 - y0));
    int n = (int)ceil(len) + 1, lo = -(thickness - 1) / 2, hi = thickness / 2;
    if (n > 100000) n = 100000;   /* clipped far outside anyway */
    for (int i = 0; i <= n; i++) {
        double t = n ? (double)i / n : 0;
        int x = (int)lround(x0 + t * (x1 - x0)), y = (int)lround(y0 + t * (y1 - y0));
        canvas_fill_rect(c, x + lo, y + lo, x + hi, y + hi, col);
    }
}

int canvas_text_width(const char *s, int scale) { return (int)strlen(s) * 6 * scale; }

int canvas_text(Canvas *c, int x, int y, const char *s, int scale, Color col) {
    for (const char *p = s; *p; p++, x += 6 * scale) {
        const uint8_t *g = font5x7_glyph(*p);
        if (!g) continue;
        for (int r = 0; r < 9; r++)
            for (int k = 0; k < 5; k++)
                if (g[r] & (0x10 >> k)) canvas_fill_rect(c, x + k * scale, y + r * scale, x + k * scale + scale - 1,
                                                         y + r * scale + scale - 1, col);
    }
    return canvas_text_width(s, scale);
}

int canvas_write_png(const Canvas *c, const char *path, Error *e) { return png_write(path, c->rgb, c->w, c->h, 3, e); }
