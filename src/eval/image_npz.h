/* The ADM evaluator's sample batches: an .npz whose arr_0 is uint8 [N, H, W, 3] (what
 * maskdit-generate --npz and ADM's samplers write with numpy.savez), read a range of images at a
 * time without loading the file. Grayscale batches ([N, H, W] or [N, H, W, 1]) are read with the
 * value repeated in the 3 channels, as the Inception network's input needs. */
#ifndef MASKDIT_IMAGE_NPZ_H
#define MASKDIT_IMAGE_NPZ_H

#include <stdint.h>

#include "../util/zip.h"

typedef struct {
    ZipReader *zip;
    const ZipEntry *entry;
    long long count;
    int H, W;
    int channels;           /* stored: 3, or 1 for grayscale */
    uint64_t data_offset;   /* of the first image within the entry */
} ImageNpz;

/* Errors name the file and what was expected (arr_0, uint8, [N, H, W, 3], stored). */
int image_npz_open(ImageNpz *in, const char *path, Error *e);
/* Images [first, first + n) into out as RGB (n * H * W * 3 bytes). */
int image_npz_read(const ImageNpz *in, long long first, long long n, uint8_t *out, Error *e);
void image_npz_close(ImageNpz *in);

#endif
