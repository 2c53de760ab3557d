/* The backend interface: every operation the MaskDiT forward and backward passes, the optimizer
 * and the EMA need, behind one table of function pointers. The model code (src/model/) is written
 * once against it; src/cpu/ implements it with OpenBLAS SGEMM + OpenMP (the reference), cuda/ with
 * CUDA kernels and cuBLAS(Lt). `--device cpu|cuda` picks one at run time.
 *
 * Conventions (every backend must follow them exactly):
 *  - Pointers passed to ops are DEVICE pointers obtained from alloc() (on the CPU: host memory).
 *  - Row-major (C order) everywhere, PyTorch conventions: a Linear weight is (out, in) and
 *    y = x W^T + b. Token tensors are (N, T, width).
 *  - Three kinds of buffers:
 *      "act"  activations and the compute copy of the weights, in the backend's act_dtype
 *             (float32 on the CPU; float32, bfloat16 or float16 on CUDA);
 *      "f32"  float32 always: master parameters, gradients, AdamW moments, EMA, LayerNorm
 *             statistics, per-sample coefficients and the loss inputs;
 *      "i32"  int32 index arrays (ids_keep, ids_restore).
 *    Element counts are passed, never byte counts, except for the memory functions.
 *  - Gradient outputs of weights and biases (f32) are ACCUMULATED (+=), so that several
 *    micro-batches can add into one gradient buffer; the caller zeroes them once per step.
 *  - Ops are asynchronous with respect to the host on CUDA (one stream, in order); the memory
 *    copies to the host and sync() wait for completion.
 *  - A backend reports its own failures (CUDA, cuBLAS, out of memory) with FATAL and file:line.
 * The operations themselves, with their exact semantics, are listed once in backend_ops.h.
 */
#ifndef MASKDIT_BACKEND_H
#define MASKDIT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "backend_ops.h"

typedef enum { DTYPE_F32 = 0, DTYPE_BF16 = 1, DTYPE_F16 = 2 } DType;

size_t dtype_size(DType t);
const char *dtype_name(DType t);

/* Per-sample adaLN vectors (shift, scale, gate) are passed as (mod, mod_stride, offset): the
 * vector of sample n is mod[n*mod_stride + offset + 0 .. width-1], i.e. one chunk of the (N, 6W)
 * or (N, 2W) output of the adaLN_modulation linear. */

typedef struct Backend Backend;

/* Where a backend's buffers live: host memory (the pointers are host pointers; ops run on the
 * CPU cores), or the memory of a CUDA device (NCCL can reduce it; GPU peak FLOP/s apply). Code
 * above the backend decides by this, never by the backend's name. */
typedef enum { BACKEND_MEMORY_HOST, BACKEND_MEMORY_CUDA } BackendMemory;

/* The shape of a 2-D convolution (the conv2d op): input [N, C, H, W], O output channels, a kh x kw
 * kernel, one stride for both axes, and zero padding per side (the VAE's downsampling pads only
 * bottom and right; Inception's 1x7 and 7x1 kernels pad one axis). */
typedef struct {
    int N, C, H, W;
    int O, kh, kw;
    int stride;
    int pad_top, pad_left, pad_bottom, pad_right;
} Conv2dShape;

static inline int conv2d_out_h(const Conv2dShape *s) {
    return (s->H + s->pad_top + s->pad_bottom - s->kh) / s->stride + 1;
}
static inline int conv2d_out_w(const Conv2dShape *s) {
    return (s->W + s->pad_left + s->pad_right - s->kw) / s->stride + 1;
}

/* The shape of a pooling (the pool2d op): input [N, C, H, W], a k x k window moved by stride, zero
 * padding of pad on every side (never counted: see backend_ops.h); max pooling when is_max, else
 * the average. */
typedef struct {
    int N, C, H, W;
    int k, stride, pad;
    int is_max;
} Pool2dShape;

static inline int pool2d_out(const Pool2dShape *s, int size) { return (size + 2 * s->pad - s->k) / s->stride + 1; }

struct Backend {
    const char *name;      /* "cpu" or "cuda" */
    DType act_dtype;       /* dtype of "act" buffers */
    BackendMemory memory;  /* where its buffers live */
    void *impl;            /* backend private state */

    /* The operations (backend_ops.h): one function pointer per entry. */
#define BACKEND_OP_FIELD(ret, name, params) ret(*name) params;
    BACKEND_OPS(BACKEND_OP_FIELD)
#undef BACKEND_OP_FIELD
};

/* linear_gelu and gelu_linear_backward as the compositions of b's own ops that define them. */
void backend_linear_gelu_composed(Backend *b, void *act, void *pre, const void *in, const void *W, const void *bias,
                                  int M, int K, int N);
void backend_gelu_linear_backward_composed(Backend *b, void *dpre, float *dW, float *dbias, const void *dout,
                                           const void *act, const void *pre, const void *W, int M, int K, int N);

/* The backend's linear layer rate on out[M,N] = in[M,K] . W[N,K]^T in GFLOP/s (the mean of 5
 * calls after a warm-up): the baseline that benchmarks report their share of. */
double backend_linear_gflops(Backend *be, int M, int K, int N);

/* Host float32 values to and from an act buffer of n values: directly where act is float32, else
 * through stage (n float32 values of backend memory; NULL is fine where act is float32) and one
 * cast. backend_act_to_host waits for the copy. */
void backend_act_from_host(Backend *b, void *dst, const float *host, size_t n, float *stage);
void backend_act_to_host(Backend *b, float *host, const void *src, size_t n, float *stage);

/* A new act buffer holding the n float32 values of host (through a float32 staging buffer and one
 * cast where act is not float32; waits for the copy). `what` names it in allocation failures. */
void *backend_upload_act(Backend *b, const float *host, size_t n, const char *what);

/* The CPU backend (always available). threads <= 0: OpenMP default. */
Backend *backend_cpu_create(int threads);

/* The CUDA backend on one device, activations in act_dtype, tf32 allowed for f32 GEMMs or not.
 * Returns NULL with a message in err (no GPU, no CUDA support compiled in, a dtype the device
 * cannot run). */
Backend *backend_cuda_create(int device, DType act_dtype, int tf32, char *err, size_t err_len);

/* Versions of the CUDA runtime, the driver and cuBLAS as JSON members
 * ("cuda_runtime": "12.4", "cuda_driver": "12.4", "cublas": "12.4.5"); "" in a build without CUDA. */
void backend_cuda_versions(char *json, size_t len);

/* The CPU backend's BLAS: OpenBLAS's configuration line ("OpenBLAS 0.3.21 DYNAMIC_ARCH ... Haswell"). */
const char *backend_cpu_blas_version(void);

/* Number of CUDA GPUs this process can use (0 without a driver, a GPU or CUDA support). */
int backend_cuda_gpu_count(void);

/* device: "cpu", "cuda" or "auto" (cuda when a GPU is present, else cpu); the CUDA device is
 * local_rank. precision: "fp32", "bf16", "fp16" or "auto" (bf16 on CUDA devices of compute
 * capability 8.0 or newer, else fp16 on CUDA; fp32 on the CPU). Ends the job with a clear message
 * when the request cannot be met (cuda without a GPU, bf16 on the CPU). */
Backend *backend_create(const char *device, int local_rank, const char *precision, int tf32, int threads);

#endif
