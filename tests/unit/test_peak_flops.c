/* The peak table behind the MFU (src/train/peak_flops.c): GPU names as the CUDA backend reports
 * them, each precision's data-sheet number, the more specific name first, unknown GPUs none. */
#include "../../src/train/peak_flops.h"
#include "test.h"

static void known_gpus(void) {
    CHECK_CLOSE(gpu_peak_flops("GPU 0 (NVIDIA H100 80GB HBM3)", DTYPE_BF16, 0), 989.4e12, 1e-12, "H100 SXM bf16");
    CHECK_CLOSE(gpu_peak_flops("GPU 0 (NVIDIA H100 80GB HBM3)", DTYPE_F16, 0), 989.4e12, 1e-12, "H100 SXM fp16");
    CHECK_CLOSE(gpu_peak_flops("GPU 0 (NVIDIA H100 80GB HBM3)", DTYPE_F32, 1), 494.7e12, 1e-12, "H100 SXM tf32");
    CHECK_CLOSE(gpu_peak_flops("GPU 0 (NVIDIA H100 80GB HBM3)", DTYPE_F32, 0), 66.9e12, 1e-12, "H100 SXM fp32");
    CHECK_CLOSE(gpu_peak_flops("GPU 1 (NVIDIA H100 PCIe)", DTYPE_BF16, 0), 756.0e12, 1e-12, "H100 PCIe before H100");
    CHECK_CLOSE(gpu_peak_flops("GPU 0 (NVIDIA H200)", DTYPE_BF16, 0), 989.4e12, 1e-12, "H200");
    CHECK_CLOSE(gpu_peak_flops("GPU 3 (NVIDIA A100-SXM4-80GB)", DTYPE_BF16, 0), 312e12, 1e-12, "A100 bf16");
    CHECK_CLOSE(gpu_peak_flops("GPU 3 (NVIDIA A100-SXM4-80GB)", DTYPE_F32, 1), 156e12, 1e-12, "A100 tf32");
}

static void unknown_gpu_has_none(void) {
    CHECK(gpu_peak_flops("GPU 0 (NVIDIA GeForce RTX 3090)", DTYPE_BF16, 0) == 0, "no MFU for a GPU not in the table");
    CHECK(gpu_peak_flops("the CPU", DTYPE_F32, 0) == 0, "no MFU on the CPU");
}

int main(void) {
    RUN(known_gpus);
    RUN(unknown_gpu_has_none);
    return test_summary();
}
