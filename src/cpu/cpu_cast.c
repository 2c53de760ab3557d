/* Conversions between fp32 and the 16-bit act dtypes of the CUDA backend, rounding to nearest
 * even. The CPU computes in fp32; these serve the tests and the CPU-vs-GPU comparison, which
 * hold reference data in every dtype. bf16 is the upper half of an fp32 pattern; fp16 uses the
 * compiler's _Float16 (IEEE binary16, F16C instructions on x86-64-v3). */
#include <string.h>

#include "../util/common.h"
#include "cpu_ops.h"

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);   /* NaN stays a (quiet) NaN */
    u += 0x7fffu + ((u >> 16) & 1u);   /* round to nearest, ties to the even bf16 */
    return (uint16_t)(u >> 16);
}

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float load_f32(const void *src, DType t, size_t i) {
    switch (t) {
    case DTYPE_BF16: return bf16_to_f32(((const uint16_t *)src)[i]);
    case DTYPE_F16: return (float)((const _Float16 *)src)[i];
    case DTYPE_F32: break;
    }
    return ((const float *)src)[i];
}

static inline void store_f32(void *dst, DType t, size_t i, float v) {
    switch (t) {
    case DTYPE_BF16: ((uint16_t *)dst)[i] = f32_to_bf16(v); return;
    case DTYPE_F16: ((_Float16 *)dst)[i] = (_Float16)v; return;
    case DTYPE_F32: break;
    }
    ((float *)dst)[i] = v;
}

void cpu_cast(Backend *b, void *dst, DType dst_t, const void *src, DType src_t, size_t n) {
    if (dst_t == src_t) {
        memcpy(dst, src, n * dtype_size(dst_t));
        return;
    }
    /* Every 16-bit value is exact in fp32, so going through fp32 rounds only once. */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) store_f32(dst, dst_t, i, load_f32(src, src_t, i));
}
