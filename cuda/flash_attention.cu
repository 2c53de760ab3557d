/* Fused ("flash") multi-head self-attention for 16-bit activations: the launches of the kernels
 * of flash_attention_kernels.cuh (the algorithm, layouts and fragment maps are described there). */
#include <math.h>

#include "internal.cuh"
#include "tensor_core.cuh"
#include "flash_attention_kernels.cuh"

int cuda_flash_supported(int hd) { return hd >= 8 && hd <= 128 && hd % 8 == 0; }

/* ---- launch ---- */

/* Runs the statement with HDP bound to the padded head width (a multiple of 16 up to 128). */
#define DISPATCH_HDP(hd, HDP, ...)                                                   \
    switch (((hd) + 15) / 16 * 16) {                                                 \
    case 16: { constexpr int HDP = 16; __VA_ARGS__; } break;                         \
    case 32: { constexpr int HDP = 32; __VA_ARGS__; } break;                         \
    case 48: { constexpr int HDP = 48; __VA_ARGS__; } break;                         \
    case 64: { constexpr int HDP = 64; __VA_ARGS__; } break;                         \
    case 80: { constexpr int HDP = 80; __VA_ARGS__; } break;                         \
    case 96: { constexpr int HDP = 96; __VA_ARGS__; } break;                         \
    case 112: { constexpr int HDP = 112; __VA_ARGS__; } break;                       \
    case 128: { constexpr int HDP = 128; __VA_ARGS__; } break;                       \
    default: FATAL("flash attention: head width %d is not a multiple of 8 up to 128", hd); \
    }

/* 16-bit act dtypes only (fp32 has no flash path). */
#define DISPATCH_HALF(dtype, T, ...)                                                      \
    switch (dtype) {                                                                      \
    case DTYPE_BF16: { typedef __nv_bfloat16 T; __VA_ARGS__; } break;                     \
    case DTYPE_F16: { typedef __half T; __VA_ARGS__; } break;                             \
    default: FATAL("flash attention: activations are %s, not bf16 or fp16", dtype_name(dtype)); \
    }

static dim3 flash_grid(int N, int T, int H) { return dim3((unsigned)((T + FLASH_ROWS - 1) / FLASH_ROWS), H, N); }

void cuda_flash_attention(Backend *b, void *out, float *lse, const void *qkv, int N, int T, int E, int H) {
    cudaStream_t s = cuda_state(b)->stream;
    int hd = E / H;
    float scale_log2 = LOG2E / sqrtf((float)hd);
    DISPATCH_HALF(b->act_dtype, A, DISPATCH_HDP(hd, HDP, {
        flash_forward_kernel<A, HDP><<<flash_grid(N, T, H), FLASH_THREADS, 0, s>>>((A *)out, lse, (const A *)qkv, T,
                                                                                   H, hd, scale_log2);
    }));
    LAUNCH_CHECK("flash_forward_kernel");
}

void cuda_flash_attention_backward(Backend *b, void *dqkv, float *D, const void *dout, const void *qkv,
                                   const void *out, const float *lse, int N, int T, int E, int H) {
    cudaStream_t s = cuda_state(b)->stream;
    int hd = E / H;
    float scale = 1.0f / sqrtf((float)hd), scale_log2 = LOG2E * scale;
    size_t rows = (size_t)N * T * H;
    DISPATCH_HALF(b->act_dtype, A, {
        flash_rowdot_kernel<A><<<(unsigned)((rows + 255) / 256), 256, 0, s>>>(D, (const A *)dout, (const A *)out, N, T,
                                                                              H, hd);
        LAUNCH_CHECK("flash_rowdot_kernel");
        const FlashBackward<A> args = {(A *)dqkv, (const A *)qkv, (const A *)dout, lse, D, T, H, hd, scale, scale_log2};
        DISPATCH_HDP(hd, HDP, {
            flash_backward_kv_kernel<A, HDP><<<flash_grid(N, T, H), FLASH_THREADS, 0, s>>>(args);
            LAUNCH_CHECK("flash_backward_kv_kernel");
            flash_backward_q_kernel<A, HDP><<<flash_grid(N, T, H), FLASH_THREADS, 0, s>>>(args);
            LAUNCH_CHECK("flash_backward_q_kernel");
        });
    });
}
