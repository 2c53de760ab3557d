/* Peak dense FLOP/s of known GPUs, the denominator of the MFU (model FLOPs utilisation) that the
 * progress line reports: tensor-core throughput without sparsity, from the vendors' data sheets. */
#ifndef MASKDIT_TRAIN_PEAK_FLOPS_H
#define MASKDIT_TRAIN_PEAK_FLOPS_H

#include "../backend/backend.h"

/* Peak of one GPU for GEMMs in act (fp32 with or without TF32), from its name as the CUDA backend
 * reports it ("GPU 0 (NVIDIA H100 80GB HBM3)"); 0 when the GPU is not in the table. */
double gpu_peak_flops(const char *device_name, DType act, int tf32);

#endif
