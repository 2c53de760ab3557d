// Versions of the CUDA runtime, the driver, cuBLAS and cuDNN ("not used" in a build without it) this process uses (src/backend/backend.h).
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <stdio.h>

extern "C" {
#include "../src/backend/backend.h"
}

// CUDA encodes versions as major*1000 + minor*10.
static void cuda_version_text(int v, char *buf, size_t len) {
    if (v <= 0) snprintf(buf, len, "none");
    else snprintf(buf, len, "%d.%d", v / 1000, (v % 1000) / 10);
}

const char *cuda_cudnn_version(void);   // conv_cudnn.cu

extern "C" void backend_cuda_versions(char *json, size_t len) {
    int runtime = 0, driver = 0;
    if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;   // 0: no driver on this machine
    size_t lt = cublasLtGetVersion();   // major*10000 + minor*100 + patch
    char r[32], d[32];
    cuda_version_text(runtime, r, sizeof r);
    cuda_version_text(driver, d, sizeof d);
    snprintf(json, len, "\"cuda_runtime\": \"%s\", \"cuda_driver\": \"%s\", \"cublas\": \"%zu.%zu.%zu\", \"cudnn\": \"%s\"",
             r, d, lt / 10000, (lt / 100) % 100, lt % 100, cuda_cudnn_version());
}
