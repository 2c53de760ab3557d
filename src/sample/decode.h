/* Latent samples through the VAE decoder: the sampler's output (double, in the scaled latent
 * space) to images (double, about [-1, 1]) in chunks of images small enough that the decoder's
 * activations stay within DECODE_BYTES (a 512x512 decode needs about 1 GB per image in fp32).
 * Used by maskdit-generate --pretrained_path and by training's sample grids. */
#ifndef MASKDIT_SAMPLE_DECODE_H
#define MASKDIT_SAMPLE_DECODE_H

#include "../vae/vae.h"

#define DECODE_BYTES ((size_t)2 << 30)

typedef struct {
    Vae *vae;
    double scale;                 /* the decoder gets latents / scale */
    int C, h;                     /* latents [C, h, h] */
    int img_C, img_H;             /* images [img_C, img_H, img_H] */
    int chunk;                    /* images per decoder call */
    float *lat, *img;             /* one chunk */
    double *images;               /* up to max_batch decoded images */
} SampleDecoder;

void sample_decoder_init(SampleDecoder *d, Vae *vae, double scale, int C, int h, int max_batch);
/* The images of n <= max_batch latents x [n, C, h, h]; valid until the next call. */
const double *sample_decoder_run(SampleDecoder *d, const double *x, int n);
void sample_decoder_free(SampleDecoder *d);

#endif
