#include "decode.h"

#include <string.h>

void sample_decoder_init(SampleDecoder *d, Vae *vae, double scale, int C, int h, int max_batch) {
    const VaeConfig *g = vae_config(vae);
    *d = (SampleDecoder){.vae = vae, .scale = scale, .C = C, .h = h, .img_C = g->in_channels, .img_H = h * g->factor};
    const size_t per_image = vae_activation_bytes(vae, 1, d->img_H, d->img_H);
    d->chunk = (int)MAX((size_t)1, MIN((size_t)max_batch, DECODE_BYTES / per_image));
    const size_t dim = (size_t)C * h * h, img_dim = (size_t)d->img_C * d->img_H * d->img_H;
    d->lat = xmalloc((size_t)d->chunk * dim * sizeof(float), "latents to decode");
    d->img = xmalloc((size_t)d->chunk * img_dim * sizeof(float), "decoded images");
    d->images = xmalloc((size_t)max_batch * img_dim * sizeof(double), "decoded images");
}

const double *sample_decoder_run(SampleDecoder *d, const double *x, int n) {
    const size_t dim = (size_t)d->C * d->h * d->h, img_dim = (size_t)d->img_C * d->img_H * d->img_H;
    for (int k0 = 0; k0 < n; k0 += d->chunk) {
        const int m = MIN(d->chunk, n - k0);
        for (size_t v = 0; v < (size_t)m * dim; v++) d->lat[v] = (float)(x[(size_t)k0 * dim + v] / d->scale);
        vae_decode(d->vae, d->img, d->lat, m, d->h, d->h);
        for (size_t v = 0; v < (size_t)m * img_dim; v++) d->images[(size_t)k0 * img_dim + v] = d->img[v];
    }
    return d->images;
}

void sample_decoder_free(SampleDecoder *d) {
    free(d->lat);
    free(d->img);
    free(d->images);
    memset(d, 0, sizeof *d);
}
