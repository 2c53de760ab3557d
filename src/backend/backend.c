#include "backend.h"

#include <string.h>

#include "../util/common.h"

size_t dtype_size(DType t) { return t == DTYPE_F32 ? 4 : 2; }

const char *dtype_name(DType t) {
    switch (t) {
    case DTYPE_F32: return "fp32";
    case DTYPE_BF16: return "bf16";
    case DTYPE_F16: return "fp16";
    }
    return "?";
}

void backend_linear_gelu_composed(Backend *b, void *act, void *pre, const void *in, const void *W, const void *bias,
                                  int M, int K, int N) {
    b->linear(b, pre, in, W, bias, M, K, N, 0.0f);
    b->gelu(b, act, pre, (size_t)M * N);
}

void backend_gelu_linear_backward_composed(Backend *b, void *dpre, float *dW, float *dbias, const void *dout,
                                           const void *act, const void *pre, const void *W, int M, int K, int N) {
    b->linear_backward(b, dpre, dW, dbias, dout, act, W, M, K, N, 0.0f);
    b->gelu_backward(b, dpre, dpre, pre, (size_t)M * K);
}

/* -1 = "auto" */
void backend_act_from_host(Backend *b, void *dst, const float *host, size_t n, float *stage) {
    if (b->act_dtype == DTYPE_F32) {
        b->to_device(b, dst, host, n * sizeof(float));
        return;
    }
    b->to_device(b, stage, host, n * sizeof(float));
    b->cast(b, dst, b->act_dtype, stage, DTYPE_F32, n);
}

void backend_act_to_host(Backend *b, float *host, const void *src, size_t n, float *stage) {
    if (b->act_dtype == DTYPE_F32) {
        b->to_host(b, host, src, n * sizeof(float));
        return;
    }
    b->cast(b, stage, DTYPE_F32, src, b->act_dtype, n);
    b->to_host(b, host, stage, n * sizeof(float));
}

void *backend_upload_act(Backend *b, const float *host, size_t n, const char *what) {
    void *out = b->alloc(b, n * dtype_size(b->act_dtype), what);
    float *stage = b->act_dtype == DTYPE_F32 ? NULL : b->alloc(b, n * sizeof(float), "float32 staging");
    backend_act_from_host(b, out, host, n, stage);
    b->sync(b);
    b->free(b, stage);
    return out;
}

static int parse_precision(const char *precision, DType *out) {
    if (!precision || !strcmp(precision, "auto")) return -1;
    if (!strcmp(precision, "fp32")) *out = DTYPE_F32;
    else if (!strcmp(precision, "bf16")) *out = DTYPE_BF16;
    else if (!strcmp(precision, "fp16")) *out = DTYPE_F16;
    else die("--precision: expected fp32, bf16, fp16 or auto, got '%s'", precision);
    return 0;
}

Backend *backend_create(const char *device, int local_rank, const char *precision, int tf32, int threads) {
    DType dt = DTYPE_F32;
    int automatic_dtype = parse_precision(precision, &dt) < 0;
    int want_cuda = 0;
    /* "auto" picks CUDA whenever a GPU is visible; from then on failures are errors (a rank must
     * not quietly train on the CPU because its node has fewer GPUs than ranks) */
    if (!device || !strcmp(device, "auto")) want_cuda = backend_cuda_gpu_count() > 0;
    else if (!strcmp(device, "cuda")) want_cuda = 1;
    else if (strcmp(device, "cpu")) die("--device: expected cpu, cuda or auto, got '%s'", device);

    if (want_cuda) {
        char err[512] = "";
        Backend *b = backend_cuda_create(local_rank, automatic_dtype ? DTYPE_BF16 : dt, tf32, err, sizeof err);
        if (!b && automatic_dtype) {
            /* "auto" means bf16 where the GPU has it (compute capability 8.0+), else fp16; any other
             * failure (no GPU) fails for fp16 too and is reported with the first message */
            char err16[512] = "";
            b = backend_cuda_create(local_rank, DTYPE_F16, tf32, err16, sizeof err16);
            if (b) info("%s; precision auto: training in fp16", err);
        }
        if (!b) die("--device %s: %s", device ? device : "auto", err);
        return b;
    }
    if (!automatic_dtype && dt != DTYPE_F32)
        die("precision %s needs the CUDA backend; the CPU backend computes in fp32 (use --no_amp or "
            "train.amp/precision fp32)", dtype_name(dt));
    return backend_cpu_create(threads);
}
