#include "peak_flops.h"

#include <string.h>

typedef struct {
    const char *name;          /* matched as a substring, first match wins: specific names first */
    double half, tf32, fp32;   /* TFLOP/s: bf16/fp16 tensor cores, TF32 tensor cores, plain fp32 */
} GpuPeak;

static const GpuPeak PEAKS[] = {
    {"H100 PCIe", 756.0, 378.0, 51.2},
    {"H100 NVL", 835.0, 417.5, 60.0},
    {"H100", 989.4, 494.7, 66.9},   /* SXM ("H100 80GB HBM3") */
    {"H200", 989.4, 494.7, 66.9},
    {"A100", 312.0, 156.0, 19.5},
    {"L40S", 362.1, 183.0, 91.6},
    {"V100", 125.0, 15.7, 15.7},   /* no bf16 or TF32: fp16 tensor cores, fp32 cores */
};

double gpu_peak_flops(const char *device_name, DType act, int tf32) {
    for (size_t i = 0; i < sizeof PEAKS / sizeof PEAKS[0]; i++) {
        if (!strstr(device_name, PEAKS[i].name)) continue;
        double t = act != DTYPE_F32 ? PEAKS[i].half : tf32 ? PEAKS[i].tf32 : PEAKS[i].fp32;
        return t * 1e12;
    }
    return 0;
}
