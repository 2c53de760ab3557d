/* ADM's center_crop_arr (guided-diffusion, used by the original MaskDiT to prepare ImageNet), bit
 * for bit with Pillow 9.4: while the short side is >= 2R, resize to (w // 2, h // 2) with the BOX
 * filter; then BICUBIC to (round(w * s), round(h * s)), s = R / short side, round half to even as
 * Python's; then crop R x R at ((h - R) // 2, (w - R) // 2). The resizes are Pillow's: separable
 * fixed-point passes (22 fractional bits, coefficients rounded per output pixel), horizontal then
 * vertical, rounding to uint8 between the two. An image smaller than R is upscaled, as the
 * original does. */
#ifndef MASKDIT_ADM_CROP_H
#define MASKDIT_ADM_CROP_H

#include <stdint.h>

/* rgb: h rows of w*3 bytes -> out: R rows of R*3 bytes. */
void adm_center_crop(const uint8_t *rgb, int w, int h, int R, uint8_t *out);

/* Pillow's Image.resize(size, BOX or BICUBIC) of an RGB image (exposed for tests). */
typedef enum { RESAMPLE_BOX, RESAMPLE_BICUBIC } ResampleFilter;
void pillow_resize(const uint8_t *in, int w, int h, uint8_t *out, int ow, int oh, ResampleFilter f);

#endif
