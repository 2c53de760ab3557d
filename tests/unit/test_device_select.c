/* Backend selection and the CUDA entry points on whatever machine the tests run on: without a GPU
 * (CI, or a build without CUDA) `--device cuda` must fail with a clear message and "auto" must
 * fall back to the CPU; with a GPU, both give the CUDA backend. The NCCL all-reduce refuses a CPU
 * backend. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../mpi/dist.h"
#include "../../src/backend/backend.h"
#include "test.h"

/* Runs backend_create in a child process (it ends the job on bad requests); returns the exit
 * status and the child's stderr in msg. */
static int create_in_child(const char *device, const char *precision, char *msg, size_t len) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        Backend *b = backend_create(device, 0, precision, 0, 1);
        b->destroy(b);
        _exit(0);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < len && (r = read(fd[0], msg + got, len - 1 - got)) > 0) got += (size_t)r;
    msg[got] = 0;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void cuda_create_reports_why_or_works(void) {
    char err[512] = "";
    int gpus = backend_cuda_gpu_count();
    CHECK(gpus >= 0, "gpu count %d", gpus);
    Backend *b = backend_cuda_create(0, DTYPE_F32, 0, err, sizeof err);
    if (gpus == 0) {
        CHECK(b == NULL, "a CUDA backend without a GPU");
        CHECK(strstr(err, "no usable CUDA GPU") || strstr(err, "no CUDA GPU") || strstr(err, "has no CUDA backend"),
              "message: '%s'", err);
    } else {
        CHECK(b && !strcmp(b->name, "cuda"), "no CUDA backend on a machine with %d GPUs: %s", gpus, err);
        if (b) b->destroy(b);
        CHECK(backend_cuda_create(gpus, DTYPE_F32, 0, err, sizeof err) == NULL, "GPU %d of %d", gpus, gpus);
        CHECK(strstr(err, "ranks per node") != NULL, "message: '%s'", err);
    }
}

static void device_cuda_without_gpu_fails_clearly(void) {
    char msg[1024];
    int rc = create_in_child("cuda", "fp32", msg, sizeof msg);
    if (backend_cuda_gpu_count() == 0) {
        CHECK(rc != 0, "--device cuda succeeded without a GPU");
        CHECK(strstr(msg, "--device cuda: ") != NULL, "message: '%s'", msg);
    } else {
        CHECK(rc == 0, "--device cuda failed with a GPU: %s", msg);
    }
}

static void device_auto_picks_what_is_there(void) {
    Backend *b = backend_create("auto", 0, "auto", 0, 1);
    const char *want = backend_cuda_gpu_count() > 0 ? "cuda" : "cpu";
    CHECK(!strcmp(b->name, want), "auto chose %s, expected %s", b->name, want);
    b->destroy(b);
}

static void half_precision_on_the_cpu_is_refused(void) {
    char msg[1024];
    int rc = create_in_child("cpu", "bf16", msg, sizeof msg);
    CHECK(rc != 0, "bf16 on the CPU accepted");
    CHECK(strstr(msg, "precision bf16 needs the CUDA backend") != NULL, "message: '%s'", msg);
}

/* Whether a CUDA backend could be created with the environment variable var set to value (it is
 * destroyed again); the message in err when not. */
static int created_with_setting(const char *var, const char *value, char *err, size_t err_len) {
    err[0] = 0;
    setenv(var, value, 1);
    Backend *b = backend_cuda_create(0, DTYPE_BF16, 0, err, err_len);
    unsetenv(var);
    if (b) b->destroy(b);
    return b != NULL;
}

/* The backend's switches are read before anything else, so a bad value is reported with or without
 * a GPU (a build without CUDA reports that instead): "VAR=value: expected ...". */
static void check_setting_refused(const char *var, const char *value, const char *expected) {
    char err[512], want[512];
    CHECK(!created_with_setting(var, value, err, sizeof err), "%s=%s accepted", var, value);
    snprintf(want, sizeof want, "%s=%s: expected %s", var, value, expected);
    CHECK(strstr(err, want) || strstr(err, "has no CUDA backend"), "message: '%s'", err);
}

static void bad_attention_setting_is_refused(void) {
    check_setting_refused("MASKDIT_ATTENTION", "fast", "flash (fused kernels) or gemm (batched GEMMs)");
}

static void bad_gelu_epilogue_setting_is_refused(void) {
    check_setting_refused("MASKDIT_GELU_EPILOGUE", "yes",
                          "0 (separate GEMM and GELU kernels) or 1 (GELU in the cuBLASLt epilogue)");
}

/* MASKDIT_BGRAD_EPILOGUE likewise; 0 and 1 are accepted (without a GPU the message is then about
 * the GPU, not the variable). */
static void bad_bgrad_epilogue_setting_is_refused(void) {
    check_setting_refused("MASKDIT_BGRAD_EPILOGUE", "on",
                          "0 (bias gradient as a separate GEMV) or 1 (bias gradient in the cuBLASLt epilogue)");
    char err[512];
    for (int v = 0; v < 2; v++) {
        created_with_setting("MASKDIT_BGRAD_EPILOGUE", v ? "1" : "0", err, sizeof err);
        CHECK(!strstr(err, "MASKDIT_BGRAD_EPILOGUE"), "MASKDIT_BGRAD_EPILOGUE=%d refused: '%s'", v, err);
    }
}

/* MASKDIT_CONV likewise; gemm is always accepted, cudnn exactly where the build has cuDNN (its
 * version is then in backend_cuda_versions). */
static void bad_conv_setting_is_refused(void) {
    check_setting_refused("MASKDIT_CONV", "fast", "cudnn (cuDNN) or gemm (im2col and GEMMs)");
    char err[512], versions[512];
    created_with_setting("MASKDIT_CONV", "gemm", err, sizeof err);
    CHECK(!strstr(err, "MASKDIT_CONV"), "MASKDIT_CONV=gemm refused: '%s'", err);
    backend_cuda_versions(versions, sizeof versions);
    created_with_setting("MASKDIT_CONV", "cudnn", err, sizeof err);
    if (!versions[0]) return;   /* no CUDA backend in this build */
    if (strstr(versions, "\"cudnn\": \"not used\""))
        CHECK(strstr(err, "MASKDIT_CONV=cudnn: this build has no cuDNN"), "message: '%s'", err);
    else
        CHECK(!strstr(err, "MASKDIT_CONV"), "MASKDIT_CONV=cudnn refused in a build with cuDNN: '%s'", err);
}

static void nccl_refuses_a_cpu_backend(void) {
    Backend *cpu = backend_cpu_create(1);
    Dist d;
    memset(&d, 0, sizeof d);
    d.world = 2;
    char err[512] = "";
    float *g = cpu->alloc(cpu, 16 * sizeof(float), "grads");
    GradComm *gc = gradcomm_nccl_create(&d, cpu, g, 16, 1024, err, sizeof err);
    CHECK(gc == NULL, "NCCL over a CPU backend");
    CHECK(strstr(err, "needs the CUDA backend") || strstr(err, "has no NCCL"), "message: '%s'", err);
    cpu->free(cpu, g);
    cpu->destroy(cpu);
}

int main(void) {
    RUN(cuda_create_reports_why_or_works);
    RUN(device_cuda_without_gpu_fails_clearly);
    RUN(device_auto_picks_what_is_there);
    RUN(half_precision_on_the_cpu_is_refused);
    RUN(bad_attention_setting_is_refused);
    RUN(bad_gelu_epilogue_setting_is_refused);
    RUN(bad_bgrad_epilogue_setting_is_refused);
    RUN(bad_conv_setting_is_refused);
    RUN(nccl_refuses_a_cpu_backend);
    return test_summary();
}
