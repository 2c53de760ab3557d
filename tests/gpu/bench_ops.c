/* bench_ops: where the time of a MaskDiT-XL/2 training step goes on the GPU. Times every backend op
 * at the shapes of one encoder block (T = 128 kept tokens, width 1152, 16 heads) and one decoder
 * block (T = 256, width 512, 16 heads) of a batch, and the per-step work over the flat buffers
 * (AdamW writing the compute copy of the weights in its pass, zeroing the gradients); prints each
 * op's time, its achieved rate (TFLOP/s for GEMMs and attention, GB/s of the bytes an op must
 * move at least, counting 16-bit activations), and the sum over one step (28 encoder + 8 decoder
 * blocks), which is the step time the ops would give without launch gaps. The block's ops are
 * those a training step runs: fc1's forward with its GELU (linear_gelu), fc2's backward through the
 * GELU (gelu_linear_backward), and the GELU recomputed in the backward pass for fc2's weight
 * gradient. Attention is also timed on each path (MASKDIT_ATTENTION=flash and =gemm) in bf16/fp16,
 * and the MLP ops on each GELU path (MASKDIT_GELU_EPILOGUE=1 and =0), outside the sum. A
 * benchmark, never a test.
 *
 *   bench_ops [--batch B] [--precision bf16|fp16|fp32]
 */
#include <string.h>

#include "../../src/util/common.h"
#include "../../src/util/rng.h"
#include "../../src/backend/backend.h"
#include "gpu_check.h"

typedef struct {
    Backend *be;            /* the default attention and GELU paths */
    Backend *paths[2];      /* bf16/fp16: MASKDIT_ATTENTION=flash and =gemm, attention timed on each */
    Backend *gelu_paths[2]; /* MASKDIT_GELU_EPILOGUE=1 and =0, the MLP ops timed on each */
    double step_ms;
    int reps;
} Bench;

static const char *const PATH_NAMES[2] = {"flash", "gemm"};
static const char *const GELU_PATH_NAMES[2] = {"epilogue", "separate"};
static const char *const GELU_PATH_SETTINGS[2] = {"1", "0"};

/* Random values for timing: 2^20 normals repeated (drawing hundreds of millions would take longer
 * than the benchmark), made non-negative when asked (second moments). */
static float *host_values(size_t n, int non_negative) {
    size_t k = n < ((size_t)1 << 20) ? n : ((size_t)1 << 20);
    float *h = xmalloc(n * sizeof *h, "random values");
    rng_fill_normal(h, k, 3, RNG_TEST, 0, 0);
    for (size_t i = k; i < n; i++) h[i] = h[i % k];
    if (non_negative)
        for (size_t i = 0; i < n; i++) h[i] = h[i] * h[i];
    return h;
}

static float *f32_random(Bench *b, size_t n, float scale, int non_negative) {
    float *h = host_values(n, non_negative);
    for (size_t i = 0; i < n; i++) h[i] *= scale;
    float *d = b->be->alloc(b->be, n * sizeof(float), "bench buffer");
    b->be->to_device(b->be, d, h, n * sizeof(float));
    free(h);
    return d;
}

static void *act_random(Bench *b, size_t n) {
    Backend *be = b->be;
    float *f = f32_random(b, n, 1.0f, 0);
    void *a = be->alloc(be, n * dtype_size(be->act_dtype), "bench buffer");
    be->cast(be, a, be->act_dtype, f, DTYPE_F32, n);
    be->sync(be);
    be->free(be, f);
    return a;
}

/* Runs the op (on backend on) once to warm up, then reps times; prints and adds count * time to
 * the step. */
#define TIME_ON(b, on, name, count, flops, bytes, call)                                                  \
    do {                                                                                                 \
        call;                                                                                            \
        (on)->sync(on);                                                                                  \
        double t0_ = now_seconds();                                                                      \
        for (int r_ = 0; r_ < (b)->reps; r_++) call;                                                     \
        (on)->sync(on);                                                                                  \
        double ms_ = (now_seconds() - t0_) / (b)->reps * 1e3;                                            \
        report(b, name, count, ms_, flops, bytes);                                                       \
    } while (0)
#define TIME(b, name, count, flops, bytes, call) TIME_ON(b, (b)->be, name, count, flops, bytes, call)

static void report(Bench *b, const char *name, int count, double ms, double flops, double bytes) {
    char rate[48];
    if (flops > 0) snprintf(rate, sizeof rate, "%7.1f TFLOP/s", flops / ms / 1e9);
    else snprintf(rate, sizeof rate, "%7.0f GB/s   ", bytes / ms / 1e6);
    printf("  %-64s %8.3f ms  %s  x%-3d %8.2f ms/step\n", name, ms, rate, count, ms * count);
    b->step_ms += ms * count;
}

/* One DiT block's ops at N samples of T tokens, width W, MLP width M, H heads, cond width D;
 * count = blocks of this kind per step. */
static void block(Bench *b, const char *label, int N, int T, int W, int M, int H, int D, int count) {
    Backend *be = b->be;
    size_t R = (size_t)N * T;
    double es = (double)dtype_size(be->act_dtype);
    printf("%s block: N=%d T=%d W=%d M=%d H=%d (x%d per step)\n", label, N, T, W, M, H, count);
    size_t widest = (size_t)(M > 3 * W ? M : 3 * W), wmax = (size_t)M * W;
    if ((size_t)3 * W * W > wmax) wmax = (size_t)3 * W * W;
    if ((size_t)6 * W * D > wmax) wmax = (size_t)6 * W * D;
    void *x = act_random(b, R * W), *y = act_random(b, R * W), *z = act_random(b, R * W);
    void *wide = act_random(b, R * widest), *wide2 = act_random(b, R * widest), *wide3 = act_random(b, R * widest);
    void *mod = act_random(b, (size_t)N * 6 * W), *dmod = act_random(b, (size_t)N * 6 * W);
    void *cs = act_random(b, (size_t)N * D), *dcs = act_random(b, (size_t)N * D);
    void *w = act_random(b, wmax), *bias = act_random(b, widest > (size_t)6 * W ? widest : (size_t)6 * W);
    float *dW = f32_random(b, wmax, 1.0f, 0), *db = f32_random(b, widest > (size_t)6 * W ? widest : (size_t)6 * W, 1.0f, 0);
    float *mean = f32_random(b, R, 0.1f, 0), *rstd = f32_random(b, R, 1.0f, 1);
    void *saved = be->alloc(be, be->attention_saved_bytes(be, N, T, W, H), "attention saved");
    void *scratch = be->alloc(be, be->attention_scratch_bytes(be, N, T, W, H), "attention scratch");
    struct {
        const char *name;
        int K, Nout;
    } lin[4] = {{"qkv", W, 3 * W}, {"proj", W, W}, {"fc1", W, M}, {"fc2", M, W}};
    char name[96];
    TIME(b, "adaLN linear (fwd)", count, 2.0 * N * D * 6 * W, 0, be->linear(be, mod, cs, w, bias, N, D, 6 * W, 0));
    TIME(b, "adaLN linear (bwd)", count, 4.0 * N * D * 6 * W, 0,
         be->linear_backward(be, dcs, dW, db, dmod, cs, w, N, D, 6 * W, 1));
    for (int i = 0; i < 4; i++) {
        /* fc1's forward and fc2's backward are the MLP ops below */
        if (i != 2) {
            snprintf(name, sizeof name, "linear %s %zux%dx%d (fwd)", lin[i].name, R, lin[i].K, lin[i].Nout);
            TIME(b, name, count, 2.0 * R * lin[i].K * lin[i].Nout, 0,
                 be->linear(be, wide2, wide, w, bias, (int)R, lin[i].K, lin[i].Nout, 0));
        }
        if (i != 3) {
            snprintf(name, sizeof name, "linear %s (bwd: din, dW, dbias)", lin[i].name);
            TIME(b, name, count, 4.0 * R * lin[i].K * lin[i].Nout, 0,
                 be->linear_backward(be, wide3, dW, db, wide2, wide, w, (int)R, lin[i].K, lin[i].Nout, 0));
        }
    }
    /* the MLP ops on backend on: fc1 = linear_gelu(wide -> pre wide3, act wide2), and fc2's backward
     * from dout y [R, W] through act wide, pre wide2 into dpre wide3 */
    for (int p = -1; p < 2; p++) {
        Backend *on = p < 0 ? be : b->gelu_paths[p];
        char sfx[48] = "";
        if (p >= 0) snprintf(sfx, sizeof sfx, " [%s, not in the sum]", GELU_PATH_NAMES[p]);
        snprintf(name, sizeof name, "linear_gelu fc1 %zux%dx%d (fwd)%s", R, W, M, sfx);
        TIME_ON(b, on, name, p < 0 ? count : 0, 2.0 * R * W * M, 0,
                on->linear_gelu(on, wide2, wide3, wide, w, bias, (int)R, W, M));
        snprintf(name, sizeof name, "gelu_linear_backward fc2 (bwd)%s", sfx);
        TIME_ON(b, on, name, p < 0 ? count : 0, 4.0 * R * W * M, 0,
                on->gelu_linear_backward(on, wide3, dW, db, y, wide, wide2, w, (int)R, M, W));
    }
    TIME(b, "attention (fwd)", count, 4.0 * R * T * W, 0, be->attention(be, y, saved, wide, N, T, W, H));
    TIME(b, "attention (bwd)", count, 8.0 * R * T * W, 0,
         be->attention_backward(be, wide2, scratch, y, wide, y, saved, N, T, W, H));
    /* each path on its own (not in the sum; the buffers are this backend's, finished before) */
    for (int p = 0; p < 2 && b->paths[p]; p++) {
        Backend *ab = b->paths[p];
        snprintf(name, sizeof name, "attention (fwd) [%s, not in the sum]", PATH_NAMES[p]);
        TIME_ON(b, ab, name, 0, 4.0 * R * T * W, 0, ab->attention(ab, y, saved, wide, N, T, W, H));
        snprintf(name, sizeof name, "attention (bwd) [%s, not in the sum]", PATH_NAMES[p]);
        TIME_ON(b, ab, name, 0, 8.0 * R * T * W, 0,
                ab->attention_backward(ab, wide2, scratch, y, wide, y, saved, N, T, W, H));
    }
    double row = R * W * es;
    TIME(b, "layernorm_modulate (fwd)", 2 * count, 0, 2 * row,
         be->layernorm_modulate(be, y, mean, rstd, x, mod, 6 * W, 0, W, N, T, W, 1e-6f));
    TIME(b, "layernorm_modulate (bwd)", 2 * count, 0, 4 * row,
         be->layernorm_modulate_backward(be, z, dmod, y, x, mean, rstd, mod, 6 * W, 0, W, N, T, W));
    TIME(b, "gate_residual (fwd)", 2 * count, 0, 3 * row,
         be->gate_residual(be, z, x, y, mod, 6 * W, 2 * W, N, T, W));
    TIME(b, "gate_residual (bwd)", 2 * count, 0, 3 * row,
         be->gate_residual_backward(be, y, dmod, x, z, mod, 6 * W, 2 * W, N, T, W));
    TIME(b, "gelu (recomputed in the bwd pass)", count, 0, 2 * R * M * es, be->gelu(be, wide2, wide, R * M));
    void *bufs[] = {x, y, z, wide, wide2, wide3, mod, dmod, cs, dcs, w, bias, dW, db, mean, rstd, saved, scratch};
    for (size_t i = 0; i < ARRAY_LEN(bufs); i++) be->free(be, bufs[i]);
}

int main(int argc, char **argv) {
    int batch = 128;
    const char *precision = "bf16";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) precision = argv[++i];
        else die("usage: bench_ops [--batch B] [--precision bf16|fp16|fp32]");
    }
    DType t = !strcmp(precision, "fp32") ? DTYPE_F32 : !strcmp(precision, "fp16") ? DTYPE_F16 : DTYPE_BF16;
    char err[512];
    Bench b = {backend_cuda_create(0, t, 0, err, sizeof err), {NULL, NULL}, {NULL, NULL}, 0, 10};
    if (!b.be) {
        printf("bench_ops: %s\n", err);
        return 2;
    }
    for (int p = 0; p < 2 && t != DTYPE_F32; p++)
        if (!(b.paths[p] = gpu_backend_with_env("MASKDIT_ATTENTION", PATH_NAMES[p], t, 0, err, sizeof err)))
            die("bench_ops: %s", err);
    for (int p = 0; p < 2; p++)
        if (!(b.gelu_paths[p] = gpu_backend_with_env("MASKDIT_GELU_EPILOGUE", GELU_PATH_SETTINGS[p], t, 0, err,
                                                     sizeof err)))
            die("bench_ops: %s", err);
    if (batch < 1) die("--batch must be >= 1");
    printf("bench_ops: MaskDiT-XL/2 at 256 px, batch %d, %s\n", batch, dtype_name(t));
    block(&b, "encoder", batch, 128, 1152, 4608, 16, 1152, 28);
    block(&b, "decoder", batch, 256, 512, 2048, 16, 1152, 8);
    /* per-step work over the flat buffers: XL/2 with the decoder has 730M parameters */
    size_t n = 730u * 1000u * 1000u;
    Backend *be = b.be;
    float *p = f32_random(&b, n, 0.02f, 0), *g = f32_random(&b, n, 1e-3f, 0), *m = f32_random(&b, n, 1e-3f, 0);
    float *v = f32_random(&b, n, 1e-6f, 1);
    /* AdamW writes the compute copy in its own pass, as the training step does; in fp32 the copy is
     * the parameters themselves */
    void *wact = t == DTYPE_F32 ? NULL : be->alloc(be, n * dtype_size(t), "compute copy");
    double moved = 28.0 + (wact ? (double)dtype_size(t) : 0);   /* bytes per parameter */
    printf("per step (730M parameters):\n");
    TIME(&b, wact ? "adamw + compute copy" : "adamw", 1, 0, moved * n,
         be->adamw(be, p, wact, g, m, v, n, 1e-4f, 0.9, 0.999, 1e-8f, 0.0f, 0.1f, 0.001f, 1.0f));
    TIME(&b, "zero gradients", 1, 0, 4.0 * n, be->zero(be, g, n * sizeof(float)));
    printf("sum over one step: %.1f ms (ops back to back, without launch gaps or the embedders/final layer)\n",
           b.step_ms);
    be->free(be, p), be->free(be, g), be->free(be, m), be->free(be, v);
    if (wact) be->free(be, wact);
    for (int k = 0; k < 2; k++) {
        if (b.paths[k]) b.paths[k]->destroy(b.paths[k]);
        b.gelu_paths[k]->destroy(b.gelu_paths[k]);
    }
    be->destroy(be);
    return 0;
}
