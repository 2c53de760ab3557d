/* The Stable Diffusion KL autoencoder (AutoencoderKL, "KL-f8" for the real weights): the encoder
 * from images to latent moments and the decoder from latents to images, over the backend
 * interface, inference only.
 *
 * Architecture (facts of the original ldm code and diffusers' AutoencoderKL): GroupNorm with 32
 * groups, eps 1e-6; ResnetBlock = norm1, SiLU, conv3x3, norm2, SiLU, conv3x3, plus a 1x1
 * nin_shortcut when the channels change; the middle has block_1, a single-head attention over
 * all H*W positions (scale C^-1/2, residual), block_2; the encoder's levels downsample by padding
 * bottom/right by one and a stride-2 conv3x3, the decoder's upsample by nearest x2 and a conv3x3.
 * Everything (ch, ch_mult, num_res_blocks, z_channels) is read from the weights' shapes, so a
 * tiny test VAE and the real 84M-parameter one load the same way.
 *
 * Data flow of a decode (encode is the mirror image, ending in quant_conv):
 *   latents / scale_factor -> post_quant_conv (1x1) -> conv_in -> mid (block, attention, block)
 *     -> up levels from the lowest resolution: num_res_blocks + 1 blocks, then upsampling
 *     -> norm_out + SiLU -> conv_out -> images [N, 3, F*h, F*w] (about [-1, 1], not clamped)
 * The attention runs in token-major layout (transpose, one [3C, C] linear for q, k and v, the
 * backend's attention with one head, the output projection, transposed back onto the residual).
 * Activations live in three feature buffers of the largest level's size plus the attention's,
 * planned for a batch size and image size and grown only when a larger one comes. */
#ifndef MASKDIT_VAE_H
#define MASKDIT_VAE_H

#include "../backend/backend.h"
#include "../util/common.h"

#define VAE_MAX_LEVELS 8

typedef struct {
    int in_channels;          /* image channels (3) */
    int ch;                   /* base width (128 for KL-f8) */
    int levels;               /* len(ch_mult) */
    int ch_mult[VAE_MAX_LEVELS];
    int num_res_blocks;       /* per encoder level; the decoder has one more */
    int z_channels;           /* latent channels (4) */
    int factor;               /* spatial downsampling factor, 2^(levels - 1) */
} VaeConfig;

typedef struct Vae Vae;

/* Load the weights at path (any layout src/ckpt/weights.h reads) onto backend be. Errors name the
 * file and the tensor (a missing one with its expected shape, a wrong shape, one left over). */
Vae *vae_load(const char *path, Backend *be, Error *e);
void vae_free(Vae *v);

/* A VAE of configuration cfg (factor derived) whose weights come from a formula instead of a file,
 * for benchmarks and for golden checks of the real architecture, whose 335 MB of weights cannot
 * be committed: vae_synthetic_tensor fills every tensor under its ldm name. */
Vae *vae_create_synthetic(const VaeConfig *cfg, uint32_t seed, Backend *be);
/* The formula, which tests/golden/make_vae_real.py computes identically: with h the FNV-1a hash of
 * the name (offset basis xor seed) and u_i = (mix32(h + i * 0x9e3779b9) >> 8) / 2^24 (mix32: the
 * murmur3 finaliser; 32-bit arithmetic), element i is (2 u_i - 1) / sqrt(fan_in) for weights of
 * 2 or more dimensions (fan_in = the product of all but the first), 1 + 0.1 (2 u_i - 1) for
 * GroupNorm weights (1-D, "norm" in the name, ending ".weight"), 0.1 (2 u_i - 1) for biases;
 * computed in double, rounded to float. */
void vae_synthetic_tensor(const char *name, int ndim, const int64_t *shape, uint32_t seed, float *dst);

const VaeConfig *vae_config(const Vae *v);
/* Parameter count, the file read and its layout ("ldm" or "diffusers"). */
size_t vae_parameter_count(const Vae *v);
const char *vae_path(const Vae *v);
const char *vae_layout(const Vae *v);
const char *vae_format(const Vae *v);
/* The latent scale factor the weights' config gives (diffusers' scaling_factor): 1 and *out set,
 * else 0. */
int vae_scaling_factor(const Vae *v, double *out);
/* CRC-32 of the weights as read (float32), to tell two VAEs apart by content. */
uint32_t vae_fingerprint(const Vae *v);
/* "ch 128, ch_mult [1,2,4,4], num_res_blocks 2, z_channels 4". */
void vae_describe(const Vae *v, char *buf, size_t len);

/* Decode N latents [N, z_channels, h, w] (host, float32), already divided by the scale factor,
 * into images [N, in_channels, F*h, F*w] (host, float32, raw decoder output). */
void vae_decode(Vae *v, float *images, const float *latents, int N, int h, int w);
/* Encode N images [N, in_channels, H, W] (host, float32 in [-1, 1]; H, W multiples of F) into
 * moments [N, 2*z_channels, H/F, W/F] (host, float32: the means, then the log-variances,
 * unclamped). */
void vae_encode(Vae *v, float *moments, const float *images, int N, int H, int W);

/* Floating-point operations of the last vae_encode or vae_decode (convolutions, attention and its
 * linear layers; the normalisations and element-wise work are not counted), for benchmarks. */
double vae_last_flops(const Vae *v);

/* Device memory the activations of one call of N images of H x W pixels need (planning). */
size_t vae_activation_bytes(const Vae *v, int N, int H, int W);

#endif
