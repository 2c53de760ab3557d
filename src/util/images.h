/* Pixel-space samples as 8-bit images: conversion and grids. */
#ifndef MASKDIT_IMAGES_H
#define MASKDIT_IMAGES_H

#include <stddef.h>
#include <stdint.h>

/* One image x [C,H,W] with values in [-1, 1] to HWC bytes, as the original saves samples:
 * (x + 1) * 127.5 in float32, clamped to [0, 255], truncated. */
void image_to_u8(uint8_t *out, const double *x, int C, int H, int W);

#define GRID_PAD 2

/* A rows x cols grid of tiles (HWC bytes of H x W x C each, tile k at row k / cols, column
 * k % cols; n <= rows*cols, missing tiles black) with GRID_PAD black pixels between and around
 * the tiles. Returns the malloc'ed canvas and its size. */
uint8_t *grid_compose(const uint8_t *tiles, int n, int rows, int cols, int H, int W, int C, int *grid_w,
                      int *grid_h);

#endif
