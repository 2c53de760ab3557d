/* A small RGB raster for charts (the demo's loss curve): lines, rectangles and 5x7 bitmap text,
 * written out with the PNG writer (src/util/png.h). */
#ifndef MASKDIT_PLOT_CANVAS_H
#define MASKDIT_PLOT_CANVAS_H

#include <stdint.h>

#include "../util/common.h"

typedef struct {
    int w, h;
    uint8_t *rgb;   /* h rows of w*3 bytes */
} Canvas;

typedef struct {
    uint8_t r, g, b;
} Color;

void canvas_init(Canvas *c, int w, int h, Color background);
void canvas_free(Canvas *c);
void canvas_fill_rect(Canvas *c, int x0, int y0, int x1, int y1, Color col);   /* inclusive corners */
/* A line of the given thickness (pixels) from (x0, y0) to (x1, y1), clipped to the canvas. */
void canvas_line(Canvas *c, double x0, double y0, double x1, double y1, int thickness, Color col);
/* Text in the 5x7 font (plus descenders), each font pixel scale x scale; (x, y) = top-left. Characters without a
 * glyph are drawn as blanks. Returns the width drawn. */
int canvas_text(Canvas *c, int x, int y, const char *s, int scale, Color col);
int canvas_text_width(const char *s, int scale);
int canvas_write_png(const Canvas *c, const char *path, Error *e);

#endif
