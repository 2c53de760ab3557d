/* Built instead of the CUDA backend when the build has no CUDA (make CUDA=0, or no nvcc). */
#include <stdio.h>

#include "../src/backend/backend.h"

Backend *backend_cuda_create(int device, DType act_dtype, int tf32, char *err, size_t err_len) {
    snprintf(err, err_len, "this build has no CUDA backend (it was built with CUDA=0 or without nvcc; "
                           "rebuild with `make CUDA=1` on a machine with the CUDA toolkit)");
    return NULL;
}

int backend_cuda_gpu_count(void) { return 0; }

void backend_cuda_versions(char *json, size_t len) { snprintf(json, len, "%s", ""); }
