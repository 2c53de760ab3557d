/* Built instead of mpi/gradcomm_nccl.c when the build has no CUDA (make CUDA=0, or no nvcc). */
#include <stdio.h>

#include "dist.h"
#include "library_versions.h"

GradComm *gradcomm_nccl_create(const Dist *d, Backend *be, float *grads, size_t n, size_t bucket_bytes, char *err,
                               size_t err_len) {
    snprintf(err, err_len, "this build has no NCCL (it was built with CUDA=0 or without nvcc; rebuild with "
                           "`make CUDA=1` on a machine with the CUDA toolkit and NCCL)");
    return NULL;
}

void dist_nccl_version(char *buf, size_t len) { snprintf(buf, len, "%s", ""); }
