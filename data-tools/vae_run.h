/* The work of maskdit-vae (data-tools/maskdit-vae.c): decode a latents file into images, encode an
 * images file into moments, describe a VAE. Ranks split the rows in contiguous runs of whole
 * batches; rank 0 gathers and writes the HDF5 and .npz outputs, every rank writes its own PNGs. */
#ifndef MASKDIT_VAE_RUN_H
#define MASKDIT_VAE_RUN_H

#include "../mpi/dist.h"

typedef struct {
    const char *vae;          /* weights (--vae / --pretrained_path) */
    const char *in, *out;     /* HDF5 input and output (out optional for decode) */
    const char *png_dir;      /* decode: PNGs named by seed (or row) */
    const char *npz;          /* decode: the ADM evaluator's uint8 [N, H, W, 3] */
    const char *device, *precision;
    int batch;
    double scale_factor;      /* decode: > 0 to override; else the VAE's, the file's or 0.18215 */
} VaeRunArgs;

int vae_run_decode(const Dist *d, const VaeRunArgs *a);
int vae_run_encode(const Dist *d, const VaeRunArgs *a);
/* Prints the architecture, parameter count, format and layout of the weights at path. */
int vae_run_info(const char *path);

#endif
