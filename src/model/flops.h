/* Floating-point operations of one training step, for throughput and MFU reports. Counts the
 * matrix products only (GEMMs and attention), as is customary for MFU: a Linear of M rows,
 * K inputs, N outputs costs 2MKN forward and 4MKN backward (input and weight gradients; 2MKN
 * for the patch embedding, whose input needs no gradient); attention over T tokens of width E
 * costs 4 N T^2 E forward (q k^T and A v) and twice that backward. */
#ifndef MASKDIT_FLOPS_H
#define MASKDIT_FLOPS_H

#include "model_config.h"

/* FLOPs of the forward and backward pass of N samples with len_keep encoder tokens. */
double model_step_flops(const ModelConfig *c, int N, int len_keep);

#endif
