/* The names of the Stable Diffusion KL autoencoder's tensors in the layouts that files use, mapped
 * onto one: the original's (ldm / U-ViT) names and shapes, which the VAE model reads.
 *
 *  - ldm: "encoder.down.{i}.block.{j}.{norm1,conv1,norm2,conv2,nin_shortcut}",
 *    "encoder.down.{i}.downsample.conv", "decoder.up.{i}.block.{j}...", "decoder.up.{i}.upsample.conv"
 *    (i = resolution level, 0 = full resolution), "{encoder,decoder}.mid.{block_1,attn_1,block_2}",
 *    attention "{norm,q,k,v,proj_out}" as 1x1 convolutions [C, C, 1, 1],
 *    "{encoder,decoder}.{conv_in,norm_out,conv_out}", "quant_conv", "post_quant_conv"; each with
 *    ".weight" and ".bias". In full Stable Diffusion checkpoints and ldm .ckpt files under the prefix
 *    "first_stage_model.", next to other models' tensors (model.*, cond_stage_model.*, loss.*),
 *    which are left out.
 *  - diffusers AutoencoderKL: down_blocks.{i} -> down.{i}; up_blocks.{i} -> up.{n-1-i} (diffusers
 *    numbers them in execution order, lowest resolution first); resnets.{j} -> block.{j};
 *    conv_shortcut -> nin_shortcut; downsamplers.0 / upsamplers.0 -> downsample / upsample;
 *    mid_block.resnets.{0,1} -> mid.block_{1,2}; mid_block.attentions.0 -> mid.attn_1 with
 *    group_norm -> norm, to_q/to_k/to_v/to_out.0 (and the older query/key/value/proj_attn) ->
 *    q/k/v/proj_out, their linear weights [C, C] -> [C, C, 1, 1]; conv_norm_out -> norm_out. */
#ifndef MASKDIT_VAE_NAMES_H
#define MASKDIT_VAE_NAMES_H

#include "tensor_match.h"

/* Map the n tensor names of one file (`path`, for messages): out[i] = the malloc'ed ldm name of
 * names[i], or NULL for a tensor of another model. *diffusers: whether the file used diffusers'
 * names. Refused, naming the file and the key: a name under the autoencoder's prefixes that fits
 * neither layout, two names that map onto one, no autoencoder tensor at all. */
int vae_map_names(const char *const *names, int n, const char *path, char **out, int *diffusers, Error *e);

/* The ldm shape of tensor `ldm_name`: an attention matrix given as [C, C] becomes [C, C, 1, 1]. */
void vae_ldm_shape(const char *ldm_name, TensorMeta *meta);

#endif
