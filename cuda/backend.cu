/* The CUDA backend: device selection, the stream and library handles, tracked device memory, and
 * the Backend table. The ops live in dense.cu, attention.cu, adaln.cu, elementwise.cu, tokens.cu,
 * loss.cu and optimizer.cu. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.cuh"

void cuda_check_at(cudaError_t e, const char *what, const char *file, int line) {
    if (e != cudaSuccess) fatal_at(file, line, "CUDA error in %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

void cublas_check_at(cublasStatus_t s, const char *what, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS)
        fatal_at(file, line, "cuBLAS error in %s: %s (%s)", what, cublasGetStatusString(s), cublasGetStatusName(s));
}

/* ---- memory ---- */

void *cuda_alloc(Backend *b, size_t bytes, const char *what) {
    CudaState *st = cuda_state(b);
    void *p = NULL;
    if (bytes == 0) bytes = 1;   /* a valid, distinct pointer for empty buffers */
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();   /* not sticky: clear it before asking for the free memory */
        size_t free_b = 0, total_b = 0;
        CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
        char asked[32], fr[32], tot[32], mine[32];
        FATAL("out of GPU memory: %s asked for %s, but only %s of %s are free on device %d (%s); this process "
              "holds %s (use a smaller batch)",
              format_bytes((double)bytes, asked, sizeof asked), what, format_bytes((double)free_b, fr, sizeof fr),
              format_bytes((double)total_b, tot, sizeof tot), st->device, st->device_name,
              format_bytes((double)st->in_use, mine, sizeof mine));
    }
    cuda_check_at(e, what, __FILE__, __LINE__);
    if (st->n_allocs == st->cap_allocs) {
        st->cap_allocs = st->cap_allocs ? 2 * st->cap_allocs : 64;
        st->allocs = (CudaAlloc *)xrealloc(st->allocs, st->cap_allocs * sizeof *st->allocs, "CUDA allocation table");
    }
    st->allocs[st->n_allocs++] = (CudaAlloc){p, bytes};
    st->in_use += bytes;
    if (st->in_use > st->peak) st->peak = st->in_use;
    return p;
}

void cuda_free(Backend *b, void *p) {
    if (!p) return;
    CudaState *st = cuda_state(b);
    for (size_t i = st->n_allocs; i-- > 0;) {
        if (st->allocs[i].ptr != p) continue;
        st->in_use -= st->allocs[i].bytes;
        st->allocs[i] = st->allocs[--st->n_allocs];
        CUDA_CHECK(cudaFree(p));
        return;
    }
    FATAL("cuda free: %p was not allocated by this backend", p);
}

int cuda_workspace_grow(Backend *b, void **buf, size_t *count, size_t need, size_t elem_bytes, const char *what) {
    if (*buf && *count >= need) return 0;
    cuda_free(b, *buf);   /* cudaFree waits for the device: no kernel still reads the old buffer */
    *buf = cuda_alloc(b, need * elem_bytes, what);
    *count = need;
    return 1;
}

void cuda_to_host(Backend *b, void *host_dst, const void *src, size_t bytes) {
    CudaState *st = cuda_state(b);
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, st->stream));
    CUDA_CHECK(cudaStreamSynchronize(st->stream));
}

void cuda_copy(Backend *b, void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_state(b)->stream));
}

void cuda_zero(Backend *b, void *p, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_state(b)->stream));
}

void cuda_sync(Backend *b) { CUDA_CHECK(cudaStreamSynchronize(cuda_state(b)->stream)); }

size_t cuda_peak_bytes(Backend *b) { return cuda_state(b)->peak; }

size_t cuda_peak_memory(Backend *b) { return cuda_state(b)->peak; }

size_t cuda_available_bytes(Backend *b) {
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    return free_b;
}

const char *cuda_device_name(Backend *b) {
    CudaState *st = cuda_state(b);
    if (!st->described[0])
        snprintf(st->described, sizeof st->described, "GPU %d (%s)", st->device, st->device_name);
    return st->described;
}

const char *cuda_device_uuid(Backend *b) { return cuda_state(b)->uuid; }

void cuda_destroy(Backend *b) {
    if (!b) return;
    CudaState *st = cuda_state(b);
    CUDA_CHECK(cudaStreamSynchronize(st->stream));
    cuda_gemm_destroy(b);
    cuda_conv_destroy(b);
    cuda_uploads_destroy(b);
    CUBLAS_CHECK(cublasDestroy(st->blas));
    CUBLAS_CHECK(cublasLtDestroy(st->lt));
    /* whatever the caller did not free (the workspaces included) */
    for (size_t i = 0; i < st->n_allocs; i++) CUDA_CHECK(cudaFree(st->allocs[i].ptr));
    CUDA_CHECK(cudaFreeHost(st->result_host));
    CUDA_CHECK(cudaStreamDestroy(st->stream));
    free(st->allocs);
    free(st);
    free(b);
}

/* ---- creation ---- */

int cuda_env_switch(const char *var, int dflt, EnvChoice a, EnvChoice b, int *value, char *err, size_t err_len) {
    const char *v = getenv(var);
    if (!v || !*v) *value = dflt;
    else if (!strcmp(v, a.name)) *value = a.value;
    else if (!strcmp(v, b.name)) *value = b.value;
    else {
        snprintf(err, err_len, "%s=%s: expected %s (%s) or %s (%s)", var, v, a.name, a.meaning, b.name, b.meaning);
        return -1;
    }
    return 0;
}

/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", the form nvidia-smi -L prints. */
static void format_uuid(char (&out)[48], const char *bytes) {
    char *p = out + snprintf(out, sizeof out, "GPU-");
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        p += snprintf(p, (size_t)(out + sizeof out - p), "%02x", (unsigned char)bytes[i]);
    }
}

static Backend *fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static Backend *fail(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return NULL;
}

extern "C" cudaStream_t cuda_backend_stream(Backend *b) { return cuda_state(b)->stream; }
extern "C" int cuda_backend_device(Backend *b) { return cuda_state(b)->device; }

extern "C" int backend_cuda_gpu_count(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return count;
}

extern "C" Backend *backend_cuda_create(int device, DType act_dtype, int tf32, char *err, size_t err_len) {
    int flash = 0, gelu_epilogue = 0, bgrad_epilogue = 0, conv_cudnn = 0;
    if (cuda_attention_flash_setting(&flash, err, err_len) < 0) return NULL;
    if (cuda_conv_cudnn_setting(&conv_cudnn, err, err_len) < 0) return NULL;
    if (cuda_gelu_epilogue_setting(act_dtype, &gelu_epilogue, err, err_len) < 0) return NULL;
    if (cuda_bgrad_epilogue_setting(&bgrad_epilogue, err, err_len) < 0) return NULL;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        if (e == cudaErrorInsufficientDriver)
            return fail(err, err_len, "no usable CUDA GPU: no NVIDIA driver is loaded, or it is older than this "
                        "build's CUDA %d.%d runtime (%s)", CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10,
                        cudaGetErrorName(e));
        return fail(err, err_len, "no usable CUDA GPU on this machine (%s: %s)", cudaGetErrorName(e),
                    cudaGetErrorString(e));
    }
    if (count == 0) return fail(err, err_len, "no CUDA GPU on this machine");
    /* A launcher that binds one GPU per task (srun --gpus-per-task=1 or --gpu-bind) leaves each
     * rank exactly one visible device, whatever its node-local rank: use it. */
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    if (count == 1 && visible && *visible && !strchr(visible, ',')) device = 0;
    if (device < 0 || device >= count)
        return fail(err, err_len,
                    "this rank needs GPU %d (its node-local rank) but the node has only %d GPU%s: start at most "
                    "%d rank%s per node",
                    device, count, count == 1 ? "" : "s", count, count == 1 ? "" : "s");
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    if (act_dtype == DTYPE_BF16 && prop.major < 8)
        return fail(err, err_len,
                    "precision bf16 needs a GPU of compute capability 8.0 or newer; GPU %d (%s) is %d.%d: use "
                    "fp16 or fp32",
                    device, prop.name, prop.major, prop.minor);
    CUDA_CHECK(cudaSetDevice(device));

    CudaState *st = (CudaState *)xcalloc(1, sizeof *st, "CUDA backend state");
    st->device = device;
    st->act = act_dtype;
    st->tf32 = act_dtype == DTYPE_F32 && tf32;
    snprintf(st->device_name, sizeof st->device_name, "%s", prop.name);
    format_uuid(st->uuid, prop.uuid.bytes);
    const char *no_lt = getenv("MASKDIT_CUDA_NO_LT");
    st->use_lt = !(no_lt && *no_lt && strcmp(no_lt, "0"));
    st->flash = flash;
    st->conv_cudnn = conv_cudnn;
    st->gelu_epilogue = gelu_epilogue && st->use_lt;   /* the epilogues are cuBLASLt's */
    st->bgrad_epilogue = bgrad_epilogue && st->use_lt;
    CUDA_CHECK(cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&st->blas));
    CUBLAS_CHECK(cublasSetStream(st->blas, st->stream));
    CUBLAS_CHECK(cublasLtCreate(&st->lt));
    CUDA_CHECK(cudaMallocHost((void **)&st->result_host, sizeof(double)));

    Backend *b = (Backend *)xcalloc(1, sizeof *b, "CUDA backend");
    b->name = "cuda";
    b->act_dtype = act_dtype;
    b->memory = BACKEND_MEMORY_CUDA;
    b->impl = st;
#define CUDA_OP_SET(ret, name, params) b->name = cuda_##name;
    BACKEND_OPS(CUDA_OP_SET)
#undef CUDA_OP_SET

    cuda_gemm_init(b);   /* the cuBLASLt workspace: allocated through the table, so it counts in peak */

    char mem[32];
    info("CUDA backend: GPU %d of %d, %s (compute capability %d.%d, %d SMs, %s), activations %s%s%s, attention %s, "
         "MLP GELU %s, bias gradients %s, convolutions %s",
         device, count, prop.name, prop.major, prop.minor, prop.multiProcessorCount,
         format_bytes((double)prop.totalGlobalMem, mem, sizeof mem), dtype_name(act_dtype),
         st->tf32 ? ", TF32 GEMMs" : "", st->use_lt ? "" : ", cuBLASLt off (MASKDIT_CUDA_NO_LT)",
         flash && act_dtype != DTYPE_F32 ? "fused (flash)" : "batched GEMMs",
         st->gelu_epilogue ? "in the GEMM epilogues" : "separate kernels",
         st->bgrad_epilogue ? "in the GEMM epilogue" : "as GEMVs",
         conv_cudnn ? "cuDNN (im2col GEMMs where padding is unequal)" : "im2col GEMMs");
    return b;
}
