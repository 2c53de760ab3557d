/* The FID Inception-v3 network (pytorch-fid's port of the TensorFlow graph: torchvision's
 * inception_v3 with the FIDInceptionA/C/E_1/E_2 blocks), forward only, over the backend's ops.
 * Weights: the state_dict of pt_inception-2015-12-05-6726825d.pth (any format weights_open
 * reads); every batch norm (eps 0.001) is folded into the convolution before it at load time.
 *
 * Input as the package takes it: uint8 RGB -> [0, 1] -> bilinear resize to 299x299 (PyTorch's
 * align_corners=False) -> [-1, 1], done on the host in double (inception_input). Outputs per image:
 *   pool     [2048]  the global average pool (FID, precision/recall);
 *   logits   [1008]  pool . fc.weight^T, no bias (ADM's Inception Score takes the MatMul weight alone);
 *   spatial  [2023]  sFID's mixed_6/conv as ADM takes it: Mixed_6d.branch1x1 after its ReLU,
 *                    channels 0-6 of the 17x17 map, flattened in H, W, C order (TensorFlow's NHWC). */
#ifndef MASKDIT_INCEPTION_H
#define MASKDIT_INCEPTION_H

#include <stdint.h>

#include "../backend/backend.h"
#include "../util/common.h"

#define INCEPTION_SIZE 299
#define INCEPTION_POOL_DIM 2048
#define INCEPTION_CLASSES 1008
#define INCEPTION_SPATIAL_CHANNELS 7
#define INCEPTION_SPATIAL_DIM (17 * 17 * INCEPTION_SPATIAL_CHANNELS)

typedef struct Inception Inception;

/* Reads tensor `name` (float32, numel of shape values) into dst: 0, or -1 with e set. Lets a test
 * supply weights computed rather than read. */
typedef int (*InceptionTensorFn)(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst, Error *e);

/* From a weights file: every tensor checked by name and shape; a tensor the network does not use
 * is refused, except the int64 num_batches_tracked counters and fc.bias (unused, as by ADM). */
Inception *inception_load(Backend *be, const char *path, Error *e);
/* From a function giving each tensor (its messages name the source). */
Inception *inception_from_fn(Backend *be, InceptionTensorFn fn, void *ctx, Error *e);
void inception_free(Inception *net);

/* One image, uint8 HWC RGB of H x W, to the network's input: float [3, 299, 299] in [-1, 1]. */
void inception_input(const uint8_t *image, int H, int W, float *out);

/* N images of H x W (uint8 NHWC RGB) to pool [N, 2048], logits [N, 1008] and spatial [N, 2023]
 * (host float32 buffers; any may be NULL). */
void inception_features(Inception *net, const uint8_t *images, int N, int H, int W, float *pool, float *logits,
                        float *spatial);

#endif
