/* Shared by the CUDA backend's translation units: the backend state, checked CUDA/cuBLAS calls,
 * the act-dtype dispatch, 16-byte packed loads, and the ops of each file (backend.cu puts them into
 * the Backend table). The semantics of every op are those of src/backend/backend.h; comments here
 * and in the .cu files only say how the GPU computes them.
 *
 * Execution model: every op is enqueued on one stream (CudaState.stream) and returns at once; only
 * to_host, sync and sum_squares wait. Reductions use fixed launch shapes and fixed summation
 * orders (no atomics), so a run is bitwise repeatable on the same GPU model. */
#ifndef MASKDIT_CUDA_INTERNAL_CUH
#define MASKDIT_CUDA_INTERNAL_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

extern "C" {
#include "../src/backend/backend.h"
#include "../src/util/common.h"
}
#include "cuda_backend.h"
#include "device_math.cuh"

/* ---- checked calls: file:line of the call and the call's text (CUDA_CHECK: cuda_backend.h) ---- */
void cublas_check_at(cublasStatus_t s, const char *what, const char *file, int line);
#define CUBLAS_CHECK(call) cublas_check_at((call), #call, __FILE__, __LINE__)
/* After every kernel launch: a bad launch configuration is reported where it happened. */
#define LAUNCH_CHECK(kernel_name) cuda_check_at(cudaGetLastError(), "launch of " kernel_name, __FILE__, __LINE__)

struct GemmCache;   /* dense.cu: cuBLASLt plans by shape */

typedef struct {
    void *ptr;
    size_t bytes;
} CudaAlloc;

/* upload.cu: pinned staging slots of host-to-device copies (a ring of UPLOAD_SLOTS). */
#define UPLOAD_SLOTS 16
typedef struct {
    void *slot[UPLOAD_SLOTS];
    cudaEvent_t done[UPLOAD_SLOTS];   /* recorded behind the last copy out of each slot */
    int next;
} CudaUploads;

typedef struct {
    int device;
    DType act;
    int tf32;                       /* fp32 GEMMs may use TF32 tensor cores */
    char device_name[256];
    char described[300];   /* "GPU d (name)", for messages */
    char uuid[48];                  /* "GPU-<UUID>" (device_uuid) */
    cudaStream_t stream;
    cublasHandle_t blas;            /* batched GEMMs of attention, fallback GEMMs */
    cublasLtHandle_t lt;            /* every dense layer */
    void *lt_workspace;
    size_t lt_workspace_bytes;
    int use_lt;                     /* 0: cublasGemmEx only (MASKDIT_CUDA_NO_LT=1, for checking both paths) */
    int flash;                      /* fused attention kernels for bf16/fp16 (MASKDIT_ATTENTION) */
    int gelu_epilogue;              /* the MLP's GELU in the cuBLASLt epilogues (MASKDIT_GELU_EPILOGUE) */
    int bgrad_epilogue;             /* bias gradients in the weight-gradient GEMM (MASKDIT_BGRAD_EPILOGUE) */
    struct GemmCache *gemm_cache;
    /* allocations, for peak_bytes and free() */
    CudaAlloc *allocs;
    size_t n_allocs, cap_allocs;
    size_t in_use, peak;
    /* workspaces that grow on first use of a larger shape (allocated outside the steady state) */
    void *ones;                     /* act ones, for the bias-gradient GEMV */
    size_t ones_count;
    float *bgrad;                   /* the BGRADB epilogue's output, added to dbias (it overwrites) */
    size_t bgrad_count;
    void **ptr_arrays;              /* A, B, C pointer arrays of the attention batched GEMMs */
    size_t ptr_arrays_count;
    void *scores;                   /* batched-GEMM attention: fp32 scores S, turned into P in place */
    size_t scores_count;
    void *dscores;                  /* batched-GEMM attention backward: fp32 dP, turned into dS in place */
    size_t dscores_count;
    void *conv_cols;                /* conv2d's patches (im2col), act */
    size_t conv_cols_count;
    int conv_cudnn;                 /* conv2d through cuDNN where it applies (MASKDIT_CONV; cuDNN builds) */
    struct ConvCache *conv_cache;   /* conv_cudnn.cu: the cuDNN handle and plans by shape */
    float *gn_partials;             /* group_norm: (mean, M2) of every piece of every group */
    size_t gn_partials_count;
    void *cudnn_workspace;          /* cuDNN's convolution workspace (bytes) */
    size_t cudnn_workspace_bytes;
    double *partials;               /* sum_squares: per-block partial sums, then the total */
    double *result_host;            /* pinned */
    CudaUploads uploads;
} CudaState;

static inline CudaState *cuda_state(Backend *b) { return (CudaState *)b->impl; }

/* cuda_<name> for every op of backend_ops.h. backend.cu: memory (tracked in CudaState; alloc ends
 * the job when memory runs out), sync, device description, destroy; upload.cu: to_device (returns
 * once src may be reused; the copy runs in stream order); the other ops in the file of their group (dense.cu, elementwise.cu, adaln.cu, attention.cu,
 * tokens.cu, loss.cu, optimizer.cu). */
#define CUDA_OP_DECL(ret, name, params) ret cuda_##name params;
BACKEND_OPS(CUDA_OP_DECL)
#undef CUDA_OP_DECL

/* upload.cu */
void cuda_uploads_destroy(Backend *b);

/* Make sure *buf holds at least count elements of elem_bytes (reallocating, which waits for the
 * device, only when it grows). Returns 1 when it was (re)allocated. */
int cuda_workspace_grow(Backend *b, void **buf, size_t *count, size_t need, size_t elem_bytes, const char *what);

/* ---- act dtype ---- */
static inline cudaDataType_t cuda_dtype(DType t) {
    return t == DTYPE_BF16 ? CUDA_R_16BF : t == DTYPE_F16 ? CUDA_R_16F : CUDA_R_32F;
}

/* Runs the statement with T bound to the C++ type of an act dtype. */
#define DISPATCH_ACT(dtype, T, ...)                                    \
    switch (dtype) {                                                   \
    case DTYPE_F32: { typedef float T; __VA_ARGS__; } break;           \
    case DTYPE_BF16: { typedef __nv_bfloat16 T; __VA_ARGS__; } break;  \
    case DTYPE_F16: { typedef __half T; __VA_ARGS__; } break;          \
    }

static inline int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

static inline unsigned grid_for(size_t work, unsigned per_block, unsigned cap) {
    size_t g = (work + per_block - 1) / per_block;
    if (g < 1) g = 1;
    return (unsigned)(g < cap ? g : cap);
}

/* ---- helpers of the ops, by file ---- */
/* dense.cu */
void cuda_gemm_init(Backend *b);
void cuda_gemm_destroy(Backend *b);
/* Column-major D = alpha op(A) op(B) + beta C (C = D, in place) of cuBLAS conventions: m x n
 * result, k inner; A, B in ab_t, C in c_t; bias (c_t, length m, broadcast over columns) or NULL. */
void cuda_gemm(Backend *b, int trans_a, int trans_b, int m, int n, int k, float alpha, const void *A, int lda,
               const void *B, int ldb, DType ab_t, float beta, void *C, int ldc, DType c_t, const void *bias);
cublasComputeType_t cuda_compute_type(Backend *b, DType ab_t);
/* backend.cu: an environment switch between two settings, read when the backend is created:
 * *value = dflt when var is unset or empty, the value of the choice it names, and anything else is
 * refused in err ("VAR=x: expected a (meaning) or b (meaning)"). */
typedef struct {
    const char *name, *meaning;
    int value;
} EnvChoice;
int cuda_env_switch(const char *var, int dflt, EnvChoice a, EnvChoice b, int *value, char *err, size_t err_len);

/* *epilogue from MASKDIT_GELU_EPILOGUE (0|1, unset: the default for act); -1 with a message in err
 * when the value is neither. */
int cuda_gelu_epilogue_setting(DType act, int *epilogue, char *err, size_t err_len);
/* *epilogue from MASKDIT_BGRAD_EPILOGUE (0|1, unset: 1); -1 with a message in err otherwise. */
int cuda_bgrad_epilogue_setting(int *epilogue, char *err, size_t err_len);

/* attention.cu */
/* *flash from MASKDIT_ATTENTION (flash|gemm, unset: the default); -1 with a message in err when
 * the value is neither. */
int cuda_attention_flash_setting(int *flash, char *err, size_t err_len);

/* conv_cudnn.cu */
/* *cudnn from MASKDIT_CONV (cudnn|gemm; unset: cudnn in builds with cuDNN, else gemm); -1 with a
 * message in err for any other value, and for cudnn in a build without cuDNN. */
int cuda_conv_cudnn_setting(int *cudnn, char *err, size_t err_len);
/* conv2d through cuDNN; returns 0, having done nothing, where the backend does not use cuDNN or
 * the shape pads unequally (then image.cu's GEMM path runs). */
int cuda_conv2d_cudnn(Backend *b, void *out, const void *in, const void *W, const void *bias, const Conv2dShape *s,
                      float beta);
void cuda_conv_destroy(Backend *b);

/* flash_attention.cu: the fused kernels (bf16/fp16, 16-byte aligned buffers); D: N*H*T floats */
int cuda_flash_supported(int hd);
void cuda_flash_attention(Backend *b, void *out, float *lse, const void *qkv, int N, int T, int E, int H);
void cuda_flash_attention_backward(Backend *b, void *dqkv, float *D, const void *dout, const void *qkv,
                                   const void *out, const float *lse, int N, int T, int E, int H);

#endif

