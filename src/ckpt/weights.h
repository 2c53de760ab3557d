/* One source of named float32 tensors, whatever the file that holds them:
 *  - a PyTorch torch.save file (.pt, .pth, .ckpt, .bin), zip (PyTorch >= 1.6) or legacy, holding a
 *    plain state_dict or a {"state_dict": state_dict, ...} wrapper as ldm's .ckpt files do;
 *  - a .safetensors file;
 *  - a diffusers model folder (config.json + diffusion_pytorch_model.safetensors, or the
 *    folder's diffusion_pytorch_model.safetensors named directly; also the .fp16.safetensors
 *    variant, and .bin / .fp16.bin torch files in their place).
 * Tensors are listed in file order with their shapes; float16, bfloat16 and float64 data are
 * converted to float32 when read. Data is read per tensor, never the whole file at once.
 *
 * vae_weights_open() gives the same object seen through the Stable Diffusion KL autoencoder's
 * names (src/ckpt/vae_names.c): every tensor under its ldm / U-ViT name and shape
 * ("decoder.up.2.block.0.conv1.weight", attention "…mid.attn_1.q.weight" as a [C, C, 1, 1] 1x1
 * convolution), whichever layout the file used, tensors of other models in the same file (loss.*,
 * model.diffusion_model.*, ...) left out. */
#ifndef MASKDIT_WEIGHTS_H
#define MASKDIT_WEIGHTS_H

#include "tensor_match.h"

typedef struct WeightFile WeightFile;

/* Every tensor of the file under its own name. Errors name the path and what was wrong. */
WeightFile *weights_open(const char *path, Error *e);
/* The autoencoder's tensors under their ldm names and shapes. A name that belongs to the
 * autoencoder but cannot be mapped is refused, naming the file and the key. */
WeightFile *vae_weights_open(const char *path, Error *e);
void weights_close(WeightFile *w);

/* The file actually read (for a diffusers folder: its .safetensors file). */
const char *weights_path(const WeightFile *w);
/* "torch zip", "torch legacy" or "safetensors". */
const char *weights_format(const WeightFile *w);
/* The key layout the file used: "ldm" or "diffusers" (vae_weights_open), "as stored" otherwise. */
const char *weights_layout(const WeightFile *w);
/* diffusers' config.json "scaling_factor": 1 and *out set when the config gives one, else 0. */
int weights_scaling_factor(const WeightFile *w, double *out);

int weights_count(const WeightFile *w);
/* Name and shape of tensor i (0 <= i < count), as presented (mapped for vae_weights_open). */
const TensorMeta *weights_meta(const WeightFile *w, int i);
/* The tensor's name in the file (differs from weights_meta's for mapped layouts). */
const char *weights_file_name(const WeightFile *w, int i);
/* Index of the tensor presented as `name`, or -1. */
int weights_find(const WeightFile *w, const char *name);
/* Read tensor i's numel values as float32 into dst. */
int weights_read(const WeightFile *w, int i, float *dst, Error *e);

#endif
