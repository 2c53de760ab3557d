/* A minimal PNG writer (ISO/IEC 15948): 8-bit grayscale or RGB, no interlace, deflate through
 * zlib, every chunk with its CRC-32. Used for generated samples and sample grids. */
#ifndef MASKDIT_PNG_H
#define MASKDIT_PNG_H

#include <stdint.h>

#include "common.h"

/* pixels: height rows of width*channels bytes (HWC order); channels 1 (gray) or 3 (RGB).
 * Written to "<path>.tmp" and renamed, so that a complete file or none is left. Returns -1 with
 * a message naming the path when it cannot be written. */
int png_write(const char *path, const uint8_t *pixels, int width, int height, int channels, Error *e);

#endif
