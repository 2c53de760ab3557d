/* Device helpers of every kernel: 16-bit <-> fp32 conversions, 16-byte packed loads and stores,
 * warp sums. Device code only, and compilable as host C++ (tests/simt runs kernels that use it on
 * the CPU, with its own __shfl_xor_sync). */
#ifndef MASKDIT_CUDA_DEVICE_MATH_CUH
#define MASKDIT_CUDA_DEVICE_MATH_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }

/* V consecutive elements moved as one access (16 bytes when V = 16 / sizeof(T)). */
template <typename T, int V> struct alignas(sizeof(T) * V) Pack {
    T v[V];
};

template <typename T, int V> __device__ __forceinline__ void load_f32(const T *p, float (&f)[V]) {
    Pack<T, V> pk = *reinterpret_cast<const Pack<T, V> *>(p);
#pragma unroll
    for (int i = 0; i < V; i++) f[i] = to_f32(pk.v[i]);
}
template <typename T, int V> __device__ __forceinline__ void store_f32(T *p, const float (&f)[V]) {
    Pack<T, V> pk;
#pragma unroll
    for (int i = 0; i < V; i++) pk.v[i] = from_f32<T>(f[i]);
    *reinterpret_cast<Pack<T, V> *>(p) = pk;
}

/* Warp sums; every lane gets the result. */
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

#endif
