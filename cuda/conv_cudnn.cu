/* conv2d through cuDNN, in builds that have it (-DMASKDIT_CUDNN: the Makefile found cudnn.h), and
 * the MASKDIT_CONV switch between it and image.cu's im2col + GEMM path.
 *
 * cudnnConvolutionForward with fp32 accumulation (tensor cores for bf16/fp16; in fp32 FMA kernels
 * only, unless the backend allows TF32), the algorithm the heuristics rank first among the
 * deterministic ones (no timing runs: the choice depends only on the shape and the GPU, so runs
 * repeat), and a plan (descriptors, algorithm, workspace size) cached per shape. The bias is
 * written (or added, beta 1) first by image_kernels.cuh's bias_fill_kernel and the convolution
 * adds onto it, as on the GEMM path. cuDNN's convolution descriptor pads both sides of an axis
 * alike, so a shape with unequal padding (the VAE encoder's downsampling: bottom and right only)
 * takes the GEMM path. */
#include <limits.h>

#include "image_kernels.cuh"
#include "internal.cuh"

#ifdef MASKDIT_CUDNN
#include <cudnn.h>

static void cudnn_check_at(cudnnStatus_t s, const char *what, const char *file, int line) {
    if (s != CUDNN_STATUS_SUCCESS) fatal_at(file, line, "cuDNN error in %s: %s", what, cudnnGetErrorString(s));
}
#define CUDNN_CHECK(call) cudnn_check_at((call), #call, __FILE__, __LINE__)

typedef struct {
    Conv2dShape s;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t algo;
    size_t workspace_bytes;
} ConvPlan;

struct ConvCache {
    cudnnHandle_t handle;
    ConvPlan *plans;
    size_t n, cap;
};

static cudnnDataType_t cudnn_dtype(DType t) {
    return t == DTYPE_BF16 ? CUDNN_DATA_BFLOAT16 : t == DTYPE_F16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
}

/* The plan of shape s, made on first use (the cuDNN handle with the first plan). */
static ConvPlan *conv_plan(Backend *b, const Conv2dShape *s) {
    CudaState *st = cuda_state(b);
    struct ConvCache *cc = st->conv_cache;
    if (!cc) {
        cc = st->conv_cache = (struct ConvCache *)xcalloc(1, sizeof *cc, "cuDNN plan cache");
        CUDNN_CHECK(cudnnCreate(&cc->handle));
        CUDNN_CHECK(cudnnSetStream(cc->handle, st->stream));
    }
    for (size_t i = 0; i < cc->n; i++)
        if (!memcmp(&cc->plans[i].s, s, sizeof *s)) return &cc->plans[i];
    if (cc->n == cc->cap) {
        cc->cap = cc->cap ? 2 * cc->cap : 16;
        cc->plans = (ConvPlan *)xrealloc(cc->plans, cc->cap * sizeof *cc->plans, "cuDNN plan cache");
    }
    ConvPlan *p = &cc->plans[cc->n];
    memset(p, 0, sizeof *p);
    p->s = *s;
    const cudnnDataType_t t = cudnn_dtype(b->act_dtype);
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, t, s->N, s->C, s->H, s->W));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, t, s->N, s->O, conv2d_out_h(s), conv2d_out_w(s)));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, t, CUDNN_TENSOR_NCHW, s->O, s->C, s->kh, s->kw));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, s->pad_top, s->pad_left, s->stride, s->stride, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    /* fp32 without TF32 takes FMA kernels only; bf16/fp16 may use tensor cores */
    const int fma_only = b->act_dtype == DTYPE_F32 && !st->tf32;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, fma_only ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0, k = 0;
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cc->handle, p->x, p->w, p->conv, p->y,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
    while (k < returned && (perf[k].status != CUDNN_STATUS_SUCCESS || perf[k].determinism != CUDNN_DETERMINISTIC))
        k++;
    if (k == returned)
        FATAL("cuDNN offers no deterministic algorithm for conv2d of [%d,%d,%d,%d] by [%d,%d,%d,%d], stride %d, "
              "padding %d,%d (MASKDIT_CONV=gemm runs without cuDNN)",
              s->N, s->C, s->H, s->W, s->O, s->C, s->kh, s->kw, s->stride, s->pad_top, s->pad_left);
    /* the math type the algorithm was ranked with; fp32 without TF32 stays on FMA kernels */
    if (!fma_only) CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, perf[k].mathType));
    p->algo = perf[k].algo;
    CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(cc->handle, p->x, p->w, p->conv, p->y, p->algo,
                                                        &p->workspace_bytes));
    cc->n++;
    return p;
}

int cuda_conv2d_cudnn(Backend *b, void *out, const void *in, const void *W, const void *bias, const Conv2dShape *s,
                      float beta) {
    CudaState *st = cuda_state(b);
    if (!st->conv_cudnn || s->pad_top != s->pad_bottom || s->pad_left != s->pad_right) return 0;
    const size_t plane = (size_t)conv2d_out_h(s) * conv2d_out_w(s), es = dtype_size(b->act_dtype);
    if (s->N == 0 || s->O == 0 || plane == 0) return 1;
    const size_t in_sample = (size_t)s->C * s->H * s->W, out_sample = (size_t)s->O * plane;
    /* cuDNN's 4-d descriptors count elements in int: larger batches go in parts */
    const size_t per_call = (size_t)INT_MAX / (in_sample > out_sample ? in_sample : out_sample);
    if (per_call == 0) return 0;   /* one sample is too large: the GEMM path */
    if (bias) {
        const unsigned grid = grid_for(out_sample, IMAGE_THREADS, 65535);
        DISPATCH_ACT(b->act_dtype, T, {
            for (int n = 0; n < s->N; n++) {
                bias_fill_kernel<T><<<grid, IMAGE_THREADS, 0, st->stream>>>((T *)out + (size_t)n * out_sample,
                                                                            (const T *)bias, s->O, plane, beta);
                LAUNCH_CHECK("bias_fill_kernel");
            }
        });
        beta = 1.0f;   /* the convolution adds onto the bias */
    }
    const float one = 1.0f;   /* alpha and beta are floats for float, half and bfloat16 data */
    for (int n0 = 0; n0 < s->N; n0 += (int)per_call) {
        Conv2dShape part = *s;
        part.N = s->N - n0 < (int)per_call ? s->N - n0 : (int)per_call;
        ConvPlan *p = conv_plan(b, &part);
        if (p->workspace_bytes)
            cuda_workspace_grow(b, &st->cudnn_workspace, &st->cudnn_workspace_bytes, p->workspace_bytes, 1,
                                "cuDNN convolution workspace");
        CUDNN_CHECK(cudnnConvolutionForward(st->conv_cache->handle, &one, p->x, (const char *)in + n0 * in_sample * es,
                                            p->w, W, p->conv, p->algo, st->cudnn_workspace, p->workspace_bytes, &beta,
                                            p->y, (char *)out + n0 * out_sample * es));
    }
    return 1;
}

void cuda_conv_destroy(Backend *b) {
    struct ConvCache *cc = cuda_state(b)->conv_cache;
    if (!cc) return;
    for (size_t i = 0; i < cc->n; i++) {
        CUDNN_CHECK(cudnnDestroyTensorDescriptor(cc->plans[i].x));
        CUDNN_CHECK(cudnnDestroyTensorDescriptor(cc->plans[i].y));
        CUDNN_CHECK(cudnnDestroyFilterDescriptor(cc->plans[i].w));
        CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(cc->plans[i].conv));
    }
    CUDNN_CHECK(cudnnDestroy(cc->handle));
    free(cc->plans);
    free(cc);
}

const char *cuda_cudnn_version(void) {
    static char text[32];
    size_t v = cudnnGetVersion();   /* major*10000 + minor*100 + patch (cuDNN 9) */
    snprintf(text, sizeof text, "%zu.%zu.%zu", v / 10000, v / 100 % 100, v % 100);
    return text;
}
#define HAVE_CUDNN 1
#else
int cuda_conv2d_cudnn(Backend *, void *, const void *, const void *, const void *, const Conv2dShape *, float) {
    return 0;
}
void cuda_conv_destroy(Backend *) {}
const char *cuda_cudnn_version(void) { return "not used"; }
#define HAVE_CUDNN 0
#endif

int cuda_conv_cudnn_setting(int *cudnn, char *err, size_t err_len) {
    if (cuda_env_switch("MASKDIT_CONV", HAVE_CUDNN, (EnvChoice){"cudnn", "cuDNN", 1},
                        (EnvChoice){"gemm", "im2col and GEMMs", 0}, cudnn, err, err_len) < 0)
        return -1;
    if (*cudnn && !HAVE_CUDNN) {
        snprintf(err, err_len, "MASKDIT_CONV=cudnn: this build has no cuDNN (the Makefile found no cudnn.h under "
                 "CUDNN_HOME, default CUDA_HOME): use MASKDIT_CONV=gemm, or rebuild with CUDNN_HOME set");
        return -1;
    }
    return 0;
}
