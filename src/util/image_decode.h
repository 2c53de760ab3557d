/* Image files to 8-bit RGB as Pillow 9.4's Image.open(f).convert('RGB') gives them (the original
 * MaskDiT's preprocessing reads images that way): PNG through libpng, JPEG through libjpeg(-turbo),
 * the format told by the file's bytes, never by its name. Pillow's conversions, reproduced:
 * grayscale is repeated in R, G and B; alpha is dropped (not composited); a palette is looked up
 * (its transparency ignored); 1-, 2- and 4-bit grayscale is scaled to 0..255; 16-bit grayscale PNG
 * (Pillow's mode I) is clipped to 255, other 16-bit PNGs keep the high byte; CMYK JPEG (Adobe
 * inverted, as Photoshop and Pillow write it) becomes RGB by Pillow's cmyk2rgb. */
#ifndef MASKDIT_IMAGE_DECODE_H
#define MASKDIT_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* Decodes data[0, len) read from `name` (used in messages) into *rgb (malloc'ed, h rows of w*3
 * bytes). -1 with a message naming the file: not PNG or JPEG, damaged or truncated. */
int image_decode_rgb(const unsigned char *data, size_t len, const char *name, uint8_t **rgb, int *w, int *h, Error *e);

#endif
