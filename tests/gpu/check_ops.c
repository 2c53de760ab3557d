/* check_ops: every op of the CUDA backend against the CPU backend (the reference), on fresh random
 * inputs, for each GPU precision. Run on a GPU machine by tests/gpu/run.sh; built everywhere (on
 * a machine without a GPU it says so and exits with status 2).
 *
 *   check_ops [--precision fp32|tf32|bf16|fp16|nolt|all] [--seed S]
 *
 * Inputs are drawn in f32, rounded to the act dtype (through the CPU backend's cast, so both
 * backends see exactly the same values) and uploaded to both backends. Outputs that an op
 * overwrites start as NaN on the GPU (all bits set), so an element left unwritten fails; outputs
 * that an op accumulates into or writes only in part (dmod chunks, dfill, dW, dbias) start from the
 * same random values on both. One line per output:
 * "PASS fp32/linear[256x1152x3456 bias bgrad-epilogue] out rel 3.1e-07 (limit 1e-05)",
 * rel = ||gpu - cpu|| / ||cpu|| (2-norms), a NaN or Inf anywhere fails.
 *
 * Limits (normwise relative):
 *   fp32: 1e-5. Same inputs, fp32 arithmetic in another summation order: ~1e-7 observed in
 *         such comparisons; 1e-5 leaves room for K ~ 5000 long sums.
 *   tf32: 3e-3 where the GEMMs run on TF32 tensor cores (10-bit mantissa, unit roundoff 4.9e-4
 *         on each operand: a random dot product's relative error is ~4e-4 rms, and the
 *         attention backward chains three such products).
 *   bf16: 1e-2 on act outputs: the output itself is rounded to bf16 (unit roundoff 2^-9 = 2e-3,
 *         ~1.1e-3 normwise for random data), and attention rounds twice more (P, then P v).
 *   fp16: 5e-3 on act outputs (unit roundoff 2^-11 = 4.9e-4, same reasoning).
 *   f32 outputs of bf16/fp16 runs (dW, dbias, LayerNorm statistics, loss, optimizer): 1e-4:
 *         their inputs are identical on both sides and they accumulate in fp32/double.
 *   cast: exact (both round to nearest even).
 *   AdamW's compute copy (param_act): exact against the GPU's own updated parameters rounded by
 *         the CPU's cast, and the fused call's param/moments exact against the plain call's (the
 *         parameters themselves differ from the CPU's by contraction into FMAs, limit 1e-6).
 * Attention in bf16/fp16 runs on both paths, from two GPU backends: MASKDIT_ATTENTION=flash (the
 * fused kernels) and =gemm (batched GEMMs), and mixed (forward on one, backward on the other).
 * The fused kernels round P and dS to 16 bits where the batched GEMMs do (operands of the next
 * product), so the same limits apply.
 * The MLP ops (linear_gelu, gelu_linear_backward) run on two GPU backends too, the GELU in the
 * cuBLASLt epilogue (MASKDIT_GELU_EPILOGUE=1) and separate (=0); the environment's own setting is
 * ignored. The epilogue computes the GELU from the fp32 accumulator before rounding (the separate
 * kernels from the rounded pre-activation): within the limits above in bf16/fp16. In fp32 and
 * TF32 the epilogue is not the default path and its GELU is cuBLASLt's, which may use a hardware
 * tanh approximation (relative error ~2^-11): its GELU outputs (act, dpre) are held to the TF32
 * limit, 3e-3, and their printed error says whether fp32 could take that path by default; the
 * pre-activation and dW are plain GEMM outputs, held to the usual limits. Shapes whose aux matrix
 * cuBLASLt does not take (leading dimension not a multiple of 8) run the separate kernels on the
 * epilogue backend as well, as in training.
 * The bias gradients of linear_backward and gelu_linear_backward run on both paths too, in every
 * mode but nolt: cuBLASLt's BGRADB epilogue on the weight-gradient GEMM (MASKDIT_BGRAD_EPILOGUE=1)
 * and the GEMV against ones (=0); the environment's own setting is ignored. Each backward runs
 * twice, so dW and dbias (random to start with) must accumulate as gradient accumulation does
 * (the epilogue itself overwrites its vector). The linear cases include shapes for which cuBLASLt
 * may have no BGRADB algorithm (odd widths: 2-byte-aligned rows of dout in bf16/fp16; an odd row
 * count): those run the GEMV on the epilogue backend too, said once per shape in the log.
 * The image ops of the VAE and the Inception network (conv2d, group_norm, upsample_nearest2x,
 * transpose, pool2d; relu exact) take the act limits;
 * upsampling and the plain transpose move values and must be exact. conv2d runs on two GPU
 * backends: the default path (cuDNN in builds with it, the GEMM path for unequal padding) and
 * MASKDIT_CONV=gemm (im2col + GEMMs); the environment's own setting is ignored. */
#include <math.h>

#include "../../src/util/rng.h"
#include "gpu_check.h"

typedef struct {
    Backend *cpu, *gpu;
    Backend *gemm;   /* bf16/fp16: a second GPU backend with MASKDIT_ATTENTION=gemm (gpu has flash) */
    Backend *paths[2][2];   /* [MASKDIT_GELU_EPILOGUE][MASKDIT_BGRAD_EPILOGUE], each 0 or 1 (not in nolt mode) */
    Backend *conv_gemm;     /* MASKDIT_CONV=gemm (gpu: the default conv path, cuDNN in builds with it) */
    DType act;
    const char *mode;
    double tol_act, tol_f32;
    uint64_t seed;
    uint32_t draw;   /* stream counter: every buffer gets its own Philox stream */
    int passed, failed;
} Ctx;

/* One tensor on both backends, with a host copy of its initial values (f32). */
typedef struct {
    size_t n;
    int act;        /* act dtype on the GPU (else f32) */
    void *c, *g;    /* CPU (always f32) and GPU buffers */
} Buf;

static size_t gpu_bytes(const Ctx *x, const Buf *b) { return b->n * (b->act ? dtype_size(x->act) : sizeof(float)); }

/* f32 host values -> GPU buffer (act: through an f32 staging buffer and the GPU's cast). */
static void gpu_upload(Ctx *x, Buf *b, const float *h) {
    if (!b->act || x->act == DTYPE_F32) {
        x->gpu->to_device(x->gpu, b->g, h, b->n * sizeof(float));
        return;
    }
    float *stage = x->gpu->alloc(x->gpu, b->n * sizeof(float), "upload staging");
    x->gpu->to_device(x->gpu, stage, h, b->n * sizeof(float));
    x->gpu->cast(x->gpu, b->g, x->act, stage, DTYPE_F32, b->n);
    x->gpu->sync(x->gpu);
    x->gpu->free(x->gpu, stage);
}

static void gpu_download(Ctx *x, const Buf *b, float *h) {
    if (!b->act || x->act == DTYPE_F32) {
        x->gpu->to_host(x->gpu, h, b->g, b->n * sizeof(float));
        return;
    }
    float *stage = x->gpu->alloc(x->gpu, b->n * sizeof(float), "download staging");
    x->gpu->cast(x->gpu, stage, DTYPE_F32, b->g, x->act, b->n);
    x->gpu->to_host(x->gpu, h, stage, b->n * sizeof(float));
    x->gpu->free(x->gpu, stage);
}

/* Round f32 values to the act dtype in place (through the CPU backend's cast). */
static void round_to_act(Ctx *x, float *h, size_t n) {
    if (x->act == DTYPE_F32) return;
    uint16_t *tmp = xmalloc(n * sizeof *tmp, "rounding buffer");
    x->cpu->cast(x->cpu, tmp, x->act, h, DTYPE_F32, n);
    x->cpu->cast(x->cpu, h, DTYPE_F32, tmp, x->act, n);
    free(tmp);
}

static Buf buf_alloc(Ctx *x, size_t n, int act) {
    Buf b = {n, act, NULL, NULL};
    b.c = x->cpu->alloc(x->cpu, n * sizeof(float), "check_ops cpu buffer");
    b.g = x->gpu->alloc(x->gpu, gpu_bytes(x, &b), "check_ops gpu buffer");
    return b;
}

/* Same random values (normal * scale + shift, rounded to act) on both backends. */
static Buf buf_random(Ctx *x, size_t n, int act, float scale, float shift) {
    Buf b = buf_alloc(x, n, act);
    float *h = xmalloc(n * sizeof *h, "random values");
    rng_fill_normal(h, n, x->seed, RNG_TEST, x->draw++, 0);
    for (size_t i = 0; i < n; i++) h[i] = h[i] * scale + shift;
    if (act) round_to_act(x, h, n);
    memcpy(b.c, h, n * sizeof *h);
    gpu_upload(x, &b, h);
    free(h);
    return b;
}

/* An output the op overwrites: NaN bits on the GPU, zeros on the CPU. */
static Buf buf_poison(Ctx *x, size_t n, int act) {
    Buf b = buf_alloc(x, n, act);
    memset(b.c, 0, n * sizeof(float));
    unsigned char *h = xmalloc(gpu_bytes(x, &b), "poison");
    memset(h, 0xff, gpu_bytes(x, &b));
    x->gpu->to_device(x->gpu, b.g, h, gpu_bytes(x, &b));
    free(h);
    return b;
}

static Buf buf_ids(Ctx *x, const int32_t *ids, size_t n) {
    Buf b = {n, 0, NULL, NULL};
    b.c = x->cpu->alloc(x->cpu, n * sizeof(int32_t), "ids");
    b.g = x->gpu->alloc(x->gpu, n * sizeof(int32_t), "ids");
    memcpy(b.c, ids, n * sizeof *ids);
    x->gpu->to_device(x->gpu, b.g, ids, n * sizeof *ids);
    return b;
}

static void buf_free(Ctx *x, Buf *b) {
    x->cpu->free(x->cpu, b->c);
    x->gpu->free(x->gpu, b->g);
}

static void report(Ctx *x, const char *op, const char *what, int ok, const char *msg) {
    printf("%s %s/%s %s %s\n", ok ? "PASS" : "FAIL", x->mode, op, what, msg);
    fflush(stdout);
    if (ok) x->passed++;
    else x->failed++;
}

/* Compare the GPU buffer with the CPU one; limit < 0 = the dtype's limit, 0 = bitwise. */
static void check(Ctx *x, const char *op, const char *what, const Buf *b, double limit) {
    if (limit < 0) limit = b->act ? x->tol_act : x->tol_f32;
    float *g = xmalloc(b->n * sizeof *g, "gpu result");
    gpu_download(x, b, g);
    const float *c = b->c;
    double num = 0, den = 0;
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (!isfinite(g[i]) || !isfinite(c[i])) {
            if (!bad++) first_bad = i;
            continue;
        }
        double d = (double)g[i] - c[i];
        num += d * d;
        den += (double)c[i] * c[i];
    }
    char msg[200];
    int ok = 0;
    if (bad) {
        snprintf(msg, sizeof msg, "%zu of %zu values not finite (first at %zu: gpu %g, cpu %g)", bad, b->n, first_bad,
                 g[first_bad], c[first_bad]);
    } else {
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        ok = limit == 0 ? num == 0 : rel <= limit;
        snprintf(msg, sizeof msg, "rel %.2e (limit %.0e)", rel, limit);
    }
    report(x, op, what, ok, msg);
    free(g);
}

/* Double sums of the same values in another order: a few units of 1e-16 per term at worst. */
static void check_double(Ctx *x, const char *op, double gpu, double cpu) {
    double rel = fabs(gpu - cpu) / fmax(fabs(cpu), 1e-300);
    char msg[64];
    snprintf(msg, sizeof msg, "rel %.2e (limit 1e-09)", rel);
    report(x, op, "value", isfinite(gpu) && rel <= 1e-9, msg);
}


/* ---- cases ---- */

static void case_cast(Ctx *x) {
    if (x->act == DTYPE_F32) return;
    size_t n = 1000003;   /* odd: the one-element path; offset 1: misaligned addresses */
    Buf src = buf_random(x, n, 0, 3.0f, 0.0f);
    Buf mid = buf_poison(x, n, 1), back = buf_poison(x, n, 0);
    memcpy(mid.c, src.c, n * sizeof(float));
    round_to_act(x, mid.c, n);
    memcpy(back.c, mid.c, n * sizeof(float));
    x->gpu->cast(x->gpu, mid.g, x->act, src.g, DTYPE_F32, n);
    x->gpu->cast(x->gpu, back.g, DTYPE_F32, mid.g, x->act, n);
    check(x, "cast", "f32->act->f32", &back, 0);
    Buf back1 = buf_poison(x, n - 1, 0);
    memcpy(back1.c, (float *)mid.c + 1, (n - 1) * sizeof(float));
    x->gpu->cast(x->gpu, back1.g, DTYPE_F32, (char *)mid.g + dtype_size(x->act), x->act, n - 1);
    check(x, "cast", "misaligned act->f32", &back1, 0);
    buf_free(x, &src), buf_free(x, &mid), buf_free(x, &back), buf_free(x, &back1);
}

/* linear and linear_backward on GPU backend g (bgrad: its MASKDIT_BGRAD_EPILOGUE). */
static void case_linear(Ctx *x, Backend *g, int bgrad, int M, int K, int N, int with_bias, float beta, int w_offset) {
    char op[112];
    snprintf(op, sizeof op, "linear[%dx%dx%d%s%s%s bgrad-%s]", M, K, N, with_bias ? " bias" : "",
             beta != 0 ? " beta1" : "", w_offset ? " misaligned" : "", bgrad ? "epilogue" : "gemv");
    float ws = 1.0f / sqrtf((float)K);
    Buf in = buf_random(x, (size_t)M * K, 1, 1.0f, 0.0f);
    Buf w = buf_random(x, (size_t)N * K + w_offset, 1, ws, 0.0f);   /* W starts w_offset elements in */
    Buf bias = buf_random(x, (size_t)N, 1, 0.5f, 0.0f);
    Buf out = beta != 0 ? buf_random(x, (size_t)M * N, 1, 1.0f, 0.0f) : buf_poison(x, (size_t)M * N, 1);
    size_t es = dtype_size(x->act);
    x->cpu->linear(x->cpu, out.c, in.c, (float *)w.c + w_offset, with_bias ? bias.c : NULL, M, K, N, beta);
    x->gpu->sync(x->gpu);   /* the buffers' uploads ran on x->gpu's stream */
    g->linear(g, out.g, in.g, (char *)w.g + w_offset * es, with_bias ? bias.g : NULL, M, K, N, beta);
    g->sync(g);
    check(x, op, "out", &out, -1);

    /* backward, every output, twice: din (beta 0 and 1 by case), dW and dbias accumulate into random
     * values, the second call onto the first's */
    Buf dout = buf_random(x, (size_t)M * N, 1, 1.0f, 0.0f);
    Buf din = beta != 0 ? buf_random(x, (size_t)M * K, 1, 1.0f, 0.0f) : buf_poison(x, (size_t)M * K, 1);
    Buf dW = buf_random(x, (size_t)N * K, 0, 1.0f, 0.0f), db = buf_random(x, (size_t)N, 0, 1.0f, 0.0f);
    x->gpu->sync(x->gpu);
    for (int pass = 0; pass < 2; pass++) {
        x->cpu->linear_backward(x->cpu, din.c, dW.c, with_bias ? db.c : NULL, dout.c, in.c, (float *)w.c + w_offset, M,
                                K, N, beta);
        g->linear_backward(g, din.g, dW.g, with_bias ? db.g : NULL, dout.g, in.g, (char *)w.g + w_offset * es, M, K, N,
                           beta);
    }
    g->sync(g);
    snprintf(op + strlen(op), sizeof op - strlen(op), " backward x2");
    check(x, op, "din", &din, -1);
    /* dW and dbias are fp32, but with TF32 their GEMM runs on TF32 tensor cores */
    double tf = x->act == DTYPE_F32 ? x->tol_act : -1;
    check(x, op, "dW", &dW, tf);
    if (with_bias) check(x, op, "dbias", &db, tf);
    buf_free(x, &in), buf_free(x, &w), buf_free(x, &bias), buf_free(x, &out);
    buf_free(x, &dout), buf_free(x, &din), buf_free(x, &dW), buf_free(x, &db);
}

/* The model's shapes (XL/2 encoder 1152 with its adaLN over 8 samples, decoder 512, labels 10 /
 * 1000, patches 16) and odd ones, among them odd widths and row counts (see the header). */
static void linear_cases(Ctx *x, Backend *g, int bgrad) {
    case_linear(x, g, bgrad, 256, 1152, 3456, 1, 0, 0);
    case_linear(x, g, bgrad, 8, 1152, 6912, 1, 1, 0);
    case_linear(x, g, bgrad, 300, 512, 2048, 1, 0, 0);
    case_linear(x, g, bgrad, 64, 10, 64, 0, 1, 0);
    case_linear(x, g, bgrad, 130, 16, 72, 1, 0, 1);
    case_linear(x, g, bgrad, 33, 256, 1152, 1, 1, 3);
    case_linear(x, g, bgrad, 37, 24, 45, 1, 0, 0);
}

static void case_elementwise(Ctx *x, size_t n) {
    char sfx[32];
    snprintf(sfx, sizeof sfx, "[%zu]", n);
    Buf in = buf_random(x, n, 1, 2.0f, 0.0f), dout = buf_random(x, n, 1, 1.0f, 0.0f);
    struct {
        const char *name;
        void (*fwd)(Backend *, void *, const void *, size_t);
        void (*bwd)(Backend *, void *, const void *, const void *, size_t);
    } ops[2] = {{"silu", x->cpu->silu, x->cpu->silu_backward}, {"gelu", x->cpu->gelu, x->cpu->gelu_backward}};
    void (*gfwd[2])(Backend *, void *, const void *, size_t) = {x->gpu->silu, x->gpu->gelu};
    void (*gbwd[2])(Backend *, void *, const void *, const void *, size_t) = {x->gpu->silu_backward,
                                                                               x->gpu->gelu_backward};
    for (int k = 0; k < 2; k++) {
        char op[64];
        snprintf(op, sizeof op, "%s%s", ops[k].name, sfx);
        Buf out = buf_poison(x, n, 1), din = buf_poison(x, n, 1);
        ops[k].fwd(x->cpu, out.c, in.c, n);
        gfwd[k](x->gpu, out.g, in.g, n);
        check(x, op, "out", &out, -1);
        ops[k].bwd(x->cpu, din.c, dout.c, in.c, n);
        gbwd[k](x->gpu, din.g, dout.g, in.g, n);
        check(x, op, "din", &din, -1);
        buf_free(x, &out), buf_free(x, &din);
    }
    buf_free(x, &in), buf_free(x, &dout);
}

static Buf buf_clone(Ctx *x, const Buf *b);

/* The VAE's NCHW ops: a convolution of shape sh (beta 1: onto random values), GroupNorm (+ SiLU,
 * in place), nearest 2x upsampling and both transposes, on [N, C, H, W] = sh's input. */
static void case_conv(Ctx *x, Backend *g, const char *path, const Buf *in, Conv2dShape sh, float beta) {
    char op[128];
    const size_t n_out = (size_t)sh.N * sh.O * conv2d_out_h(&sh) * conv2d_out_w(&sh);
    snprintf(op, sizeof op, "conv2d[%dx%dx%dx%d->%d k%dx%d s%d pad %d,%d,%d,%d beta %g %s]", sh.N, sh.C, sh.H, sh.W,
             sh.O, sh.kh, sh.kw, sh.stride, sh.pad_top, sh.pad_left, sh.pad_bottom, sh.pad_right, beta, path);
    Buf w = buf_random(x, (size_t)sh.O * sh.C * sh.kh * sh.kw, 1, 0.05f, 0.0f), bias = buf_random(x, sh.O, 1, 0.5f, 0.0f);
    Buf out = beta != 0.0f ? buf_random(x, n_out, 1, 1.0f, 0.0f) : buf_poison(x, n_out, 1);
    x->cpu->conv2d(x->cpu, out.c, in->c, w.c, bias.c, &sh, beta);
    g->conv2d(g, out.g, in->g, w.g, bias.g, &sh, beta);
    check(x, op, "out", &out, -1);
    /* without a bias, onto the output just written (both paths accumulate) */
    x->cpu->conv2d(x->cpu, out.c, in->c, w.c, NULL, &sh, 1.0f);
    g->conv2d(g, out.g, in->g, w.g, NULL, &sh, 1.0f);
    check(x, op, "out, no bias, added", &out, -1);
    buf_free(x, &out), buf_free(x, &w), buf_free(x, &bias);
}

/* The VAE's NCHW ops: a convolution of shape sh (beta 1: onto random values) on the default path
 * (cuDNN in builds with it) and on the im2col + GEMM path, GroupNorm (+ SiLU, in place), nearest
 * 2x upsampling and both transposes, on [N, C, H, W] = sh's input. */
static void case_image(Ctx *x, Conv2dShape sh, float beta) {
    char op[96];
    const int HW = sh.H * sh.W;
    const size_t n_in = (size_t)sh.N * sh.C * HW;
    Buf in = buf_random(x, n_in, 1, 1.0f, 0.0f);
    case_conv(x, x->gpu, "default path", &in, sh, beta);
    case_conv(x, x->conv_gemm, "MASKDIT_CONV=gemm", &in, sh, beta);

    const int groups = sh.C % 32 == 0 ? 32 : 1;
    snprintf(op, sizeof op, "group_norm[%dx%dx%d groups %d]", sh.N, sh.C, HW, groups);
    Buf gamma = buf_random(x, sh.C, 1, 0.5f, 1.0f), beta_ = buf_random(x, sh.C, 1, 0.5f, 0.0f);
    Buf norm = buf_poison(x, n_in, 1), inplace = buf_clone(x, &in);
    x->cpu->group_norm(x->cpu, norm.c, in.c, gamma.c, beta_.c, sh.N, sh.C, HW, groups, 1e-6f, 1);
    x->gpu->group_norm(x->gpu, norm.g, in.g, gamma.g, beta_.g, sh.N, sh.C, HW, groups, 1e-6f, 1);
    check(x, op, "out (silu)", &norm, -1);
    x->cpu->group_norm(x->cpu, inplace.c, inplace.c, gamma.c, beta_.c, sh.N, sh.C, HW, groups, 1e-6f, 0);
    x->gpu->group_norm(x->gpu, inplace.g, inplace.g, gamma.g, beta_.g, sh.N, sh.C, HW, groups, 1e-6f, 0);
    check(x, op, "in place", &inplace, -1);
    buf_free(x, &gamma), buf_free(x, &beta_), buf_free(x, &norm), buf_free(x, &inplace);

    snprintf(op, sizeof op, "image[%dx%dx%dx%d]", sh.N, sh.C, sh.H, sh.W);
    Buf up = buf_poison(x, 4 * n_in, 1), tok = buf_poison(x, n_in, 1), back = buf_random(x, n_in, 1, 1.0f, 0.0f);
    x->cpu->upsample_nearest2x(x->cpu, up.c, in.c, sh.N, sh.C, sh.H, sh.W);
    x->gpu->upsample_nearest2x(x->gpu, up.g, in.g, sh.N, sh.C, sh.H, sh.W);
    check(x, op, "upsample_nearest2x", &up, 0);
    x->cpu->transpose(x->cpu, tok.c, in.c, sh.N, sh.C, HW, 0.0f);
    x->gpu->transpose(x->gpu, tok.g, in.g, sh.N, sh.C, HW, 0.0f);
    check(x, op, "transpose to tokens", &tok, 0);
    x->cpu->transpose(x->cpu, back.c, tok.c, sh.N, HW, sh.C, 1.0f);
    x->gpu->transpose(x->gpu, back.g, tok.g, sh.N, HW, sh.C, 1.0f);
    check(x, op, "transpose back, added", &back, -1);
    buf_free(x, &up), buf_free(x, &tok), buf_free(x, &back), buf_free(x, &in);
}

/* The Inception network's ops on [N, C, H, W] = sh's input: ReLU in place (exact), its poolings
 * (3x3 stride 2 max, 3x3 stride 1 padding 1 average without the padding and max) and a global
 * average over min(H, W) x min(H, W). */
static void case_inception_ops(Ctx *x, Conv2dShape sh) {
    char op[96];
    const size_t n_in = (size_t)sh.N * sh.C * sh.H * sh.W;
    Buf in = buf_random(x, n_in, 1, 1.0f, 0.0f);
    snprintf(op, sizeof op, "inception[%dx%dx%dx%d]", sh.N, sh.C, sh.H, sh.W);
    Buf relu = buf_clone(x, &in);
    x->cpu->relu(x->cpu, relu.c, relu.c, n_in);
    x->gpu->relu(x->gpu, relu.g, relu.g, n_in);
    check(x, op, "relu in place", &relu, 0);
    const int g = sh.H < sh.W ? sh.H : sh.W;
    const Pool2dShape pools[4] = {{sh.N, sh.C, sh.H, sh.W, 3, 2, 0, 1}, {sh.N, sh.C, sh.H, sh.W, 3, 1, 1, 0},
                                  {sh.N, sh.C, sh.H, sh.W, 3, 1, 1, 1}, {sh.N, sh.C, sh.H, sh.W, g, 1, 0, 0}};
    static const char *const names[4] = {"pool2d max 3x3 stride 2", "pool2d average 3x3 padding 1",
                                         "pool2d max 3x3 padding 1", "pool2d global average"};
    for (int i = 0; i < 4; i++) {
        Buf out = buf_poison(x, (size_t)sh.N * sh.C * pool2d_out(&pools[i], sh.H) * pool2d_out(&pools[i], sh.W), 1);
        x->cpu->pool2d(x->cpu, out.c, in.c, &pools[i]);
        x->gpu->pool2d(x->gpu, out.g, in.g, &pools[i]);
        check(x, op, names[i], &out, -1);
        buf_free(x, &out);
    }
    buf_free(x, &relu), buf_free(x, &in);
}

static void image_cases(Ctx *x) {
    case_image(x, (Conv2dShape){2, 128, 64, 64, 128, 3, 3, 1, 1, 1, 1, 1}, 0.0f);   /* a VAE block's conv */
    case_image(x, (Conv2dShape){2, 64, 33, 40, 96, 3, 3, 1, 1, 1, 1, 1}, 1.0f);     /* odd sizes, added */
    case_image(x, (Conv2dShape){1, 128, 64, 64, 128, 3, 3, 2, 0, 0, 1, 1}, 0.0f);   /* downsampling */
    case_image(x, (Conv2dShape){2, 256, 16, 16, 512, 1, 1, 1, 0, 0, 0, 0}, 1.0f);   /* 1x1 shortcut */
    case_image(x, (Conv2dShape){1, 32, 300, 300, 3, 3, 3, 1, 1, 1, 1, 1}, 0.0f);    /* patches in several tiles */
    case_image(x, (Conv2dShape){2, 64, 17, 17, 96, 1, 7, 1, 0, 3, 0, 3}, 1.0f);     /* Inception's 1x7 */
    case_image(x, (Conv2dShape){2, 3, 75, 75, 32, 3, 3, 2, 0, 0, 0, 0}, 0.0f);      /* strided, no padding */
    case_inception_ops(x, (Conv2dShape){.N = 2, .C = 64, .H = 35, .W = 35});
    case_inception_ops(x, (Conv2dShape){.N = 3, .C = 40, .H = 8, .W = 8});
}

static void case_add_rows(Ctx *x, int N, int T, int W) {
    char op[64];
    snprintf(op, sizeof op, "add_rows[%dx%dx%d]", N, T, W);
    Buf xx = buf_random(x, (size_t)N * T * W, 1, 1.0f, 0.0f), rows = buf_random(x, (size_t)T * W, 1, 1.0f, 0.0f);
    x->cpu->add_rows(x->cpu, xx.c, rows.c, N, T, W);
    x->gpu->add_rows(x->gpu, xx.g, rows.g, N, T, W);
    check(x, op, "x", &xx, -1);
    buf_free(x, &xx), buf_free(x, &rows);
}

/* adaLN ops with mod rows of `chunks` chunks of width W (6 for blocks, 2 for the final layers). */
static void case_adaln(Ctx *x, int N, int T, int W, int chunks) {
    char op[64];
    snprintf(op, sizeof op, "adaln[%dx%dx%d/%d]", N, T, W, chunks);
    int S = chunks * W, sh = chunks == 6 ? 3 * W : 0, sc = chunks == 6 ? 4 * W : W, gt = chunks == 6 ? 5 * W : W;
    size_t NTW = (size_t)N * T * W;
    Buf xx = buf_random(x, NTW, 1, 2.0f, 0.5f), mod = buf_random(x, (size_t)N * S, 1, 0.5f, 0.0f);
    Buf out = buf_poison(x, NTW, 1), mean = buf_poison(x, (size_t)N * T, 0), rstd = buf_poison(x, (size_t)N * T, 0);
    x->cpu->layernorm_modulate(x->cpu, out.c, mean.c, rstd.c, xx.c, mod.c, S, sh, sc, N, T, W, 1e-6f);
    x->gpu->layernorm_modulate(x->gpu, out.g, mean.g, rstd.g, xx.g, mod.g, S, sh, sc, N, T, W, 1e-6f);
    check(x, op, "ln out", &out, -1);
    check(x, op, "ln mean", &mean, -1);
    check(x, op, "ln rstd", &rstd, -1);
    /* backward from the CPU's statistics on both sides (the GPU's were just checked) */
    x->gpu->to_device(x->gpu, mean.g, mean.c, (size_t)N * T * sizeof(float));
    x->gpu->to_device(x->gpu, rstd.g, rstd.c, (size_t)N * T * sizeof(float));
    Buf dout = buf_random(x, NTW, 1, 1.0f, 0.0f), dx = buf_random(x, NTW, 1, 1.0f, 0.0f);
    Buf dmod = buf_random(x, (size_t)N * S, 1, 1.0f, 0.0f);
    x->cpu->layernorm_modulate_backward(x->cpu, dx.c, dmod.c, dout.c, xx.c, mean.c, rstd.c, mod.c, S, sh, sc, N, T, W);
    x->gpu->layernorm_modulate_backward(x->gpu, dx.g, dmod.g, dout.g, xx.g, mean.g, rstd.g, mod.g, S, sh, sc, N, T, W);
    check(x, op, "ln backward dx", &dx, -1);
    check(x, op, "ln backward dmod", &dmod, -1);
    /* gated residual: out of place (into a poisoned buffer), then in place */
    Buf y = buf_random(x, NTW, 1, 1.0f, 0.0f), gx = buf_poison(x, NTW, 1);
    x->cpu->gate_residual(x->cpu, gx.c, xx.c, y.c, mod.c, S, gt, N, T, W);
    x->gpu->gate_residual(x->gpu, gx.g, xx.g, y.g, mod.g, S, gt, N, T, W);
    check(x, op, "gate x_out", &gx, -1);
    x->cpu->gate_residual(x->cpu, xx.c, xx.c, y.c, mod.c, S, gt, N, T, W);
    x->gpu->gate_residual(x->gpu, xx.g, xx.g, y.g, mod.g, S, gt, N, T, W);
    check(x, op, "gate in place", &xx, -1);
    Buf dy = buf_poison(x, NTW, 1);
    x->cpu->gate_residual_backward(x->cpu, dy.c, dmod.c, dout.c, y.c, mod.c, S, gt, N, T, W);
    x->gpu->gate_residual_backward(x->gpu, dy.g, dmod.g, dout.g, y.g, mod.g, S, gt, N, T, W);
    check(x, op, "gate backward dy", &dy, -1);
    check(x, op, "gate backward dmod", &dmod, -1);
    buf_free(x, &xx), buf_free(x, &mod), buf_free(x, &out), buf_free(x, &mean), buf_free(x, &rstd);
    buf_free(x, &dout), buf_free(x, &dx), buf_free(x, &dmod), buf_free(x, &y), buf_free(x, &dy), buf_free(x, &gx);
}

/* The attention path a backend of this mode runs ("flash": the fused kernels, for the head widths
 * they take; the batched GEMMs otherwise and in fp32). */
static const char *path_name(const Ctx *x, const Backend *b) {
    return x->act == DTYPE_F32 || b == x->gemm ? "gemm" : "flash";
}

/* Forward on backend fwd, backward on bwd (GPU backends of this mode; both paths save the same
 * log-sum-exp, so they may be mixed). */
static void case_attention(Ctx *x, Backend *fwd, Backend *bwd, int N, int T, int E, int H) {
    char op[96], path[16];
    if (fwd == bwd) snprintf(path, sizeof path, "%s", path_name(x, fwd));
    else snprintf(path, sizeof path, "%s>%s", path_name(x, fwd), path_name(x, bwd));
    snprintf(op, sizeof op, "attention[%s N%d T%d E%d H%d hd%d]", path, N, T, E, H, E / H);
    size_t NT = (size_t)N * T;
    Buf qkv = buf_random(x, NT * 3 * E, 1, 1.0f, 0.0f), out = buf_poison(x, NT * E, 1);
    void *cs = x->cpu->alloc(x->cpu, x->cpu->attention_saved_bytes(x->cpu, N, T, E, H), "cpu saved");
    void *gs = x->gpu->alloc(x->gpu, x->gpu->attention_saved_bytes(x->gpu, N, T, E, H), "gpu saved");
    void *cw = x->cpu->alloc(x->cpu, x->cpu->attention_scratch_bytes(x->cpu, N, T, E, H), "cpu scratch");
    void *gw = x->gpu->alloc(x->gpu, x->gpu->attention_scratch_bytes(x->gpu, N, T, E, H), "gpu scratch");
    x->cpu->attention(x->cpu, out.c, cs, qkv.c, N, T, E, H);
    /* the buffers belong to x->gpu: its uploads are complete before another backend's stream runs */
    x->gpu->sync(x->gpu);
    fwd->attention(fwd, out.g, gs, qkv.g, N, T, E, H);
    fwd->sync(fwd);
    check(x, op, "out", &out, -1);
    /* the backward reads the forward's out: give both sides the CPU's */
    gpu_upload(x, &out, out.c);
    Buf dout = buf_random(x, NT * E, 1, 1.0f, 0.0f), dqkv = buf_poison(x, NT * 3 * E, 1);
    x->cpu->attention_backward(x->cpu, dqkv.c, cw, dout.c, qkv.c, out.c, cs, N, T, E, H);
    x->gpu->sync(x->gpu);
    bwd->attention_backward(bwd, dqkv.g, gw, dout.g, qkv.g, out.g, gs, N, T, E, H);
    bwd->sync(bwd);
    check(x, op, "dqkv", &dqkv, -1);
    x->cpu->free(x->cpu, cs), x->gpu->free(x->gpu, gs), x->cpu->free(x->cpu, cw), x->gpu->free(x->gpu, gw);
    buf_free(x, &qkv), buf_free(x, &out), buf_free(x, &dout), buf_free(x, &dqkv);
}

/* Every attention case on backend b: the model's shapes; each head width in use (32: decoder,
 * 64: S/B, 72: XL, 80) at lengths with partial 64-row blocks and 32/64-key steps; the other
 * widths the fused kernels are built for (padded to 16, 48, 96, 112, 128); widths they do not
 * take (12: not a multiple of 8; 136: over 128), which run the batched GEMMs. */
static void attention_cases(Ctx *x, Backend *b) {
    static const int model[][4] = {{4, 128, 1152, 16}, {2, 256, 512, 16}, {2, 64, 256, 4}, {3, 17, 40, 5}};
    static const int lengths[] = {1, 5, 17, 128, 256, 1000}, widths[] = {32, 64, 72, 80};
    static const int others[] = {8, 40, 96, 112, 120, 128, 12, 136};
    for (size_t i = 0; i < ARRAY_LEN(model); i++) case_attention(x, b, b, model[i][0], model[i][1], model[i][2], model[i][3]);
    for (size_t w = 0; w < ARRAY_LEN(widths); w++)
        for (size_t l = 0; l < ARRAY_LEN(lengths); l++) case_attention(x, b, b, 2, lengths[l], 2 * widths[w], 2);
    for (size_t w = 0; w < ARRAY_LEN(others); w++) case_attention(x, b, b, 2, 77, 3 * others[w], 3);
}

/* The MLP ops on GPU backend g (epilogue, bgrad: its MASKDIT_GELU_EPILOGUE and
 * MASKDIT_BGRAD_EPILOGUE) for a K -> N -> K MLP over R rows: linear_gelu as fc1, gelu_linear_backward
 * as fc2's backward from the CPU's pre and act (twice: dW and dbias accumulate). */
static void case_mlp(Ctx *x, Backend *g, int epilogue, int bgrad, int R, int K, int N, int with_bias) {
    char op[112];
    snprintf(op, sizeof op, "mlp[%s %dx%dx%d%s bgrad-%s]", epilogue ? "epilogue" : "separate", R, K, N,
             with_bias ? " bias" : "", bgrad ? "epilogue" : "gemv");
    double gelu_limit = epilogue && x->act == DTYPE_F32 ? 3e-3 : -1;   /* see the header */
    size_t RK = (size_t)R * K, RN = (size_t)R * N, NK = (size_t)N * K;
    Buf in = buf_random(x, RK, 1, 1.0f, 0.0f), w1 = buf_random(x, NK, 1, 1.0f / sqrtf((float)K), 0.0f);
    Buf b1 = buf_random(x, (size_t)N, 1, 0.5f, 0.0f), act = buf_poison(x, RN, 1), pre = buf_poison(x, RN, 1);
    x->cpu->linear_gelu(x->cpu, act.c, pre.c, in.c, w1.c, with_bias ? b1.c : NULL, R, K, N);
    x->gpu->sync(x->gpu);   /* the buffers' uploads ran on x->gpu's stream */
    g->linear_gelu(g, act.g, pre.g, in.g, w1.g, with_bias ? b1.g : NULL, R, K, N);
    g->sync(g);
    check(x, op, "linear_gelu pre", &pre, -1);
    check(x, op, "linear_gelu act", &act, gelu_limit);

    /* fc2 = linear(act, w2 [K,N], b2): both sides get the CPU's pre (rounded) and its GELU */
    round_to_act(x, pre.c, RN);
    gpu_upload(x, &pre, pre.c);
    x->cpu->gelu(x->cpu, act.c, pre.c, RN);
    round_to_act(x, act.c, RN);
    gpu_upload(x, &act, act.c);
    Buf w2 = buf_random(x, NK, 1, 1.0f / sqrtf((float)N), 0.0f), dout = buf_random(x, RK, 1, 1.0f, 0.0f);
    Buf dpre = buf_poison(x, RN, 1), dW = buf_random(x, NK, 0, 1.0f, 0.0f), db = buf_random(x, (size_t)K, 0, 1.0f, 0.0f);
    x->gpu->sync(x->gpu);
    for (int pass = 0; pass < 2; pass++) {
        x->cpu->gelu_linear_backward(x->cpu, dpre.c, dW.c, with_bias ? db.c : NULL, dout.c, act.c, pre.c, w2.c, R, N,
                                     K);
        g->gelu_linear_backward(g, dpre.g, dW.g, with_bias ? db.g : NULL, dout.g, act.g, pre.g, w2.g, R, N, K);
    }
    g->sync(g);
    snprintf(op + strlen(op), sizeof op - strlen(op), " backward x2");
    check(x, op, "dpre", &dpre, gelu_limit);
    double tf = x->act == DTYPE_F32 ? x->tol_act : -1;   /* dW and dbias: as in case_linear */
    check(x, op, "dW", &dW, tf);
    if (with_bias) check(x, op, "dbias", &db, tf);
    buf_free(x, &in), buf_free(x, &w1), buf_free(x, &b1), buf_free(x, &act), buf_free(x, &pre);
    buf_free(x, &w2), buf_free(x, &dout), buf_free(x, &dpre), buf_free(x, &dW), buf_free(x, &db);
}

/* The MLP of an XL/2 encoder block (1152 -> 4608) and decoder block (512 -> 2048), an odd number of
 * rows, and a width whose aux matrix cuBLASLt does not take (100: the separate kernels either way). */
static void mlp_cases(Ctx *x, Backend *g, int epilogue, int bgrad) {
    case_mlp(x, g, epilogue, bgrad, 256, 1152, 4608, 1);
    case_mlp(x, g, epilogue, bgrad, 300, 512, 2048, 1);
    case_mlp(x, g, epilogue, bgrad, 37, 24, 72, 1);
    case_mlp(x, g, epilogue, bgrad, 33, 40, 100, 0);
}

/* A random permutation of each sample's L tokens: ids_shuffle; ids_restore is its inverse. */
static void permutation(Ctx *x, int32_t *shuffle, int32_t *restore, int N, int L) {
    Rng r = rng_stream(x->seed, RNG_TEST, x->draw++, 1);
    for (int n = 0; n < N; n++) {
        int32_t *s = shuffle + (size_t)n * L;
        for (int l = 0; l < L; l++) s[l] = l;
        for (int l = L - 1; l > 0; l--) {
            int j = (int)rng_below(&r, (uint32_t)l + 1);
            int32_t t = s[l];
            s[l] = s[j];
            s[j] = t;
        }
        for (int l = 0; l < L; l++) restore[(size_t)n * L + s[l]] = l;
    }
}

static void case_tokens(Ctx *x, int N, int L, int K, int W) {
    char op[64];
    snprintf(op, sizeof op, "tokens[N%d L%d K%d W%d]", N, L, K, W);
    int32_t *shuffle = xmalloc((size_t)N * L * sizeof *shuffle, "ids"), *restore = xmalloc((size_t)N * L * sizeof *restore, "ids");
    int32_t *keep = xmalloc((size_t)N * K * sizeof *keep, "ids");
    permutation(x, shuffle, restore, N, L);
    for (int n = 0; n < N; n++) memcpy(keep + (size_t)n * K, shuffle + (size_t)n * L, (size_t)K * sizeof *keep);
    Buf ik = buf_ids(x, keep, (size_t)N * K), ir = buf_ids(x, restore, (size_t)N * L);
    Buf full = buf_random(x, (size_t)N * L * W, 1, 1.0f, 0.0f), kept = buf_poison(x, (size_t)N * K * W, 1);
    x->cpu->gather_tokens(x->cpu, kept.c, full.c, ik.c, N, L, K, W);
    x->gpu->gather_tokens(x->gpu, kept.g, full.g, ik.g, N, L, K, W);
    check(x, op, "gather", &kept, 0);
    Buf dfull = buf_poison(x, (size_t)N * L * W, 1);
    x->cpu->gather_tokens_backward(x->cpu, dfull.c, kept.c, ik.c, N, L, K, W);
    x->gpu->gather_tokens_backward(x->gpu, dfull.g, kept.g, ik.g, N, L, K, W);
    check(x, op, "gather backward", &dfull, 0);
    Buf fill = buf_random(x, (size_t)W, 1, 1.0f, 0.0f);
    for (int with_fill = 0; with_fill < 2; with_fill++) {
        Buf un = buf_poison(x, (size_t)N * L * W, 1);
        x->cpu->unmask_tokens(x->cpu, un.c, kept.c, with_fill ? fill.c : NULL, ir.c, N, L, K, W);
        x->gpu->unmask_tokens(x->gpu, un.g, kept.g, with_fill ? fill.g : NULL, ir.g, N, L, K, W);
        check(x, op, with_fill ? "unmask fill" : "unmask zeros", &un, 0);
        buf_free(x, &un);
    }
    Buf dkept = buf_poison(x, (size_t)N * K * W, 1), dfill = buf_random(x, (size_t)W, 0, 1.0f, 0.0f);
    x->cpu->unmask_tokens_backward(x->cpu, dkept.c, dfill.c, full.c, ir.c, N, L, K, W);
    x->gpu->unmask_tokens_backward(x->gpu, dkept.g, dfill.g, full.g, ir.g, N, L, K, W);
    check(x, op, "unmask backward din", &dkept, 0);
    check(x, op, "unmask backward dfill", &dfill, -1);
    free(shuffle), free(restore), free(keep);
    buf_free(x, &ik), buf_free(x, &ir), buf_free(x, &full), buf_free(x, &kept), buf_free(x, &dfull);
    buf_free(x, &fill), buf_free(x, &dkept), buf_free(x, &dfill);
}

static void case_loss(Ctx *x, int N, int L, int P, int masked, int mae) {
    char op[64];
    snprintf(op, sizeof op, "edm_loss[N%d L%d P%d%s%s]", N, L, P, masked ? " mask" : "", mae ? " mae" : "");
    size_t NLP = (size_t)N * L * P;
    Buf F = buf_random(x, NLP, 1, 1.0f, 0.0f), xx = buf_random(x, NLP, 0, 1.0f, 0.0f);
    Buf xn = buf_random(x, NLP, 0, 2.0f, 0.0f), tgt = buf_random(x, NLP, 0, 1.0f, 0.0f);
    Buf cs = buf_random(x, N, 0, 0.1f, 0.5f), co = buf_random(x, N, 0, 0.1f, 0.5f), w = buf_random(x, N, 0, 0.5f, 3.0f);
    Buf mask = buf_alloc(x, (size_t)N * L, 0);
    float *m = mask.c;
    int32_t *shuffle = xmalloc((size_t)N * L * sizeof *shuffle, "ids"), *restore = xmalloc((size_t)N * L * sizeof *restore, "ids");
    permutation(x, shuffle, restore, N, L);
    for (size_t i = 0; i < (size_t)N * L; i++) m[i] = restore[i] >= L / 2;   /* half removed */
    x->gpu->to_device(x->gpu, mask.g, m, (size_t)N * L * sizeof(float));
    Buf loss = buf_poison(x, N, 0), dF = buf_poison(x, NLP, 1);
    const float gs = 1.0f / N;
    x->cpu->edm_loss(x->cpu, loss.c, dF.c, F.c, xx.c, xn.c, mae ? tgt.c : NULL, masked ? mask.c : NULL, cs.c, co.c,
                     w.c, N, L, P, mae ? 0.1f : 0.0f, gs);
    x->gpu->edm_loss(x->gpu, loss.g, dF.g, F.g, xx.g, xn.g, mae ? tgt.g : NULL, masked ? mask.g : NULL, cs.g, co.g,
                     w.g, N, L, P, mae ? 0.1f : 0.0f, gs);
    check(x, op, "loss", &loss, -1);
    check(x, op, "dF", &dF, -1);
    free(shuffle), free(restore);
    buf_free(x, &F), buf_free(x, &xx), buf_free(x, &xn), buf_free(x, &tgt), buf_free(x, &cs), buf_free(x, &co);
    buf_free(x, &w), buf_free(x, &mask), buf_free(x, &loss), buf_free(x, &dF);
}

/* A second buffer with b's values on both backends. */
static Buf buf_clone(Ctx *x, const Buf *b) {
    Buf c = buf_alloc(x, b->n, b->act);
    memcpy(c.c, b->c, b->n * sizeof(float));
    x->gpu->copy(x->gpu, c.g, b->g, gpu_bytes(x, b));
    return c;
}

/* AdamW against the CPU, then its compute-copy output (param_act, act_off elements into its
 * buffer: 1 takes the one-element path) against the GPU's own plain adamw followed by the CPU's
 * cast, bitwise: the fused call must change no bit of param, m, v, and round as cast does. */
static void case_optimizer(Ctx *x, size_t n, size_t act_off) {
    char op[64];
    snprintf(op, sizeof op, "optimizer[%zu%s]", n, act_off ? ", copy misaligned" : "");
    Buf p = buf_random(x, n, 0, 1.0f, 0.0f), g = buf_random(x, n, 0, 1e-3f, 0.0f);
    Buf m = buf_random(x, n, 0, 1e-3f, 0.0f), v = buf_alloc(x, n, 0);
    float *hv = v.c;
    rng_fill_normal(hv, n, x->seed, RNG_TEST, x->draw++, 0);
    for (size_t i = 0; i < n; i++) hv[i] = 1e-6f * hv[i] * hv[i];   /* second moments are >= 0 */
    x->gpu->to_device(x->gpu, v.g, hv, n * sizeof(float));
    Buf plain_p = buf_clone(x, &p), plain_m = buf_clone(x, &m), plain_v = buf_clone(x, &v);
    Buf copy = buf_poison(x, n + act_off, 1);
    Buf copy_at = {n, 1, (float *)copy.c + act_off, (char *)copy.g + act_off * dtype_size(x->act)};
    for (int step = 1; step <= 2; step++) {
        float bc1 = (float)(1 - pow(0.9, step)), bc2 = (float)(1 - pow(0.999, step));
        x->cpu->adamw(x->cpu, p.c, NULL, g.c, m.c, v.c, n, 1e-4f, 0.9, 0.999, 1e-8f, 0.01f, bc1, bc2, 0.5f);
        x->gpu->adamw(x->gpu, p.g, copy_at.g, g.g, m.g, v.g, n, 1e-4f, 0.9, 0.999, 1e-8f, 0.01f, bc1, bc2, 0.5f);
        x->gpu->adamw(x->gpu, plain_p.g, NULL, g.g, plain_m.g, plain_v.g, n, 1e-4f, 0.9, 0.999, 1e-8f, 0.01f, bc1, bc2,
                      0.5f);
    }
    check(x, op, "adamw param", &p, 1e-6);
    check(x, op, "adamw exp_avg", &m, 1e-6);
    check(x, op, "adamw exp_avg_sq", &v, 1e-6);
    /* the references: what the fused call left on the GPU (CPU side of plain_*), and its param
     * rounded by the CPU's cast (CPU side of copy_at) */
    Buf *fused[3] = {&p, &m, &v}, *plain[3] = {&plain_p, &plain_m, &plain_v};
    for (int k = 0; k < 3; k++) x->gpu->to_host(x->gpu, plain[k]->c, fused[k]->g, n * sizeof(float));
    memcpy(copy_at.c, plain_p.c, n * sizeof(float));
    round_to_act(x, copy_at.c, n);
    check(x, op, "adamw without param_act: param", &plain_p, 0);
    check(x, op, "adamw without param_act: exp_avg", &plain_m, 0);
    check(x, op, "adamw without param_act: exp_avg_sq", &plain_v, 0);
    check(x, op, "adamw param_act = cast(param)", &copy_at, 0);
    buf_free(x, &plain_p), buf_free(x, &plain_m), buf_free(x, &plain_v), buf_free(x, &copy);
    Buf e = buf_random(x, n, 0, 1.0f, 0.0f);
    x->cpu->ema(x->cpu, e.c, p.c, n, 0.9999f);
    x->gpu->ema(x->gpu, e.g, p.g, n, 0.9999f);
    check(x, op, "ema", &e, 1e-6);
    x->cpu->scale(x->cpu, g.c, n, 0.125f);
    x->gpu->scale(x->gpu, g.g, n, 0.125f);
    check(x, op, "scale", &g, 0);
    check_double(x, "sum_squares", x->gpu->sum_squares(x->gpu, g.g, n), x->cpu->sum_squares(x->cpu, g.c, n));
    buf_free(x, &p), buf_free(x, &g), buf_free(x, &m), buf_free(x, &v), buf_free(x, &e);
}

/* ---- driver ---- */

typedef struct {
    const char *name;
    DType act;
    int tf32, no_lt;
    double tol_act, tol_f32;
} Mode;

static const Mode MODES[] = {
    {"fp32", DTYPE_F32, 0, 0, 1e-5, 1e-5},
    {"tf32", DTYPE_F32, 1, 0, 3e-3, 1e-5},
    {"bf16", DTYPE_BF16, 0, 0, 1e-2, 1e-4},
    {"fp16", DTYPE_F16, 0, 0, 5e-3, 1e-4},
    {"nolt", DTYPE_BF16, 0, 1, 1e-2, 1e-4},   /* bf16 GEMMs through cublasGemmEx (the cuBLASLt fallback) */
};

static void destroy_backends(Ctx *x) {
    Backend **all[7] = {&x->gpu,           &x->gemm,          &x->paths[0][0], &x->paths[0][1],
                        &x->paths[1][0], &x->paths[1][1], &x->conv_gemm};
    for (int i = 0; i < 7; i++) {
        if (*all[i]) (*all[i])->destroy(*all[i]);
        *all[i] = NULL;
    }
}

/* A GPU backend of mode md with MASKDIT_GELU_EPILOGUE=gelu and MASKDIT_BGRAD_EPILOGUE=bgrad. */
static Backend *backend_with_epilogues(const Mode *md, int gelu, int bgrad, char *err, size_t err_len) {
    setenv("MASKDIT_BGRAD_EPILOGUE", bgrad ? "1" : "0", 1);
    Backend *b = gpu_backend_with_env("MASKDIT_GELU_EPILOGUE", gelu ? "1" : "0", md->act, md->tf32, err, err_len);
    unsetenv("MASKDIT_BGRAD_EPILOGUE");
    return b;
}

static void run_mode(Ctx *x, const Mode *md) {
    char err[512];
    x->gpu = md->no_lt ? gpu_backend_with_env("MASKDIT_CUDA_NO_LT", "1", md->act, md->tf32, err, sizeof err)
                       : gpu_backend_with_env("MASKDIT_ATTENTION", "flash", md->act, md->tf32, err, sizeof err);
    int ok = x->gpu != NULL;
    if (ok && md->act != DTYPE_F32 && !md->no_lt)
        ok = (x->gemm = gpu_backend_with_env("MASKDIT_ATTENTION", "gemm", md->act, md->tf32, err, sizeof err)) != NULL;
    if (ok && !md->no_lt)
        ok = (x->conv_gemm = gpu_backend_with_env("MASKDIT_CONV", "gemm", md->act, md->tf32, err, sizeof err)) != NULL;
    for (int e = 0; e < 4 && ok && !md->no_lt; e++)
        ok = (x->paths[e / 2][e % 2] = backend_with_epilogues(md, e / 2, e % 2, err, sizeof err)) != NULL;
    if (!ok) {
        printf("FAIL %s/create %s\n", md->name, err);
        x->failed++;
        destroy_backends(x);
        return;
    }
    x->act = md->act;
    x->mode = md->name;
    x->tol_act = md->tol_act;
    x->tol_f32 = md->tol_f32;
    double t0 = now_seconds();
    if (md->no_lt) {   /* cublasGemmEx has no epilogues: the GEMV and the separate kernels */
        linear_cases(x, x->gpu, 0);
        mlp_cases(x, x->gpu, 0, 0);
        goto done;
    }
    for (int bg = 0; bg < 2; bg++) linear_cases(x, x->paths[0][bg], bg);
    for (int e = 0; e < 4; e++) mlp_cases(x, x->paths[e / 2][e % 2], e / 2, e % 2);
    case_cast(x);
    case_elementwise(x, (size_t)1 << 20);
    case_elementwise(x, 100003);
    case_add_rows(x, 4, 256, 1152);
    case_add_rows(x, 3, 7, 10);
    case_adaln(x, 8, 128, 1152, 6);
    case_adaln(x, 4, 256, 512, 2);
    case_adaln(x, 3, 5, 36, 6);
    attention_cases(x, x->gpu);
    if (x->gemm) {
        attention_cases(x, x->gemm);
        case_attention(x, x->gpu, x->gemm, 2, 200, 144, 2);   /* fused forward, batched-GEMM backward */
        case_attention(x, x->gemm, x->gpu, 2, 200, 144, 2);   /* and the other way round */
    }
    case_tokens(x, 4, 256, 128, 1152);
    case_tokens(x, 3, 16, 8, 5);
    image_cases(x);
    case_loss(x, 8, 256, 16, 1, 1);
    case_loss(x, 8, 256, 16, 1, 0);
    case_loss(x, 5, 64, 12, 0, 0);
    case_optimizer(x, 1000003, 0);
    case_optimizer(x, (size_t)1 << 20, 0);
    case_optimizer(x, (size_t)1 << 20, 1);
done:
    printf("%s: %.1f s\n", md->name, now_seconds() - t0);
    destroy_backends(x);
}

int main(int argc, char **argv) {
    GpuCheck g = gpu_check_start("check_ops", "fp32|tf32|bf16|fp16|nolt", argc, argv);
    /* each backend's GELU and bias-gradient paths are chosen here (see the header) */
    unsetenv("MASKDIT_GELU_EPILOGUE");
    unsetenv("MASKDIT_BGRAD_EPILOGUE");
    unsetenv("MASKDIT_CONV");   /* the default conv path on x.gpu, the GEMM path on x.conv_gemm */
    Ctx x = {.cpu = backend_cpu_create(0), .seed = g.seed};
    for (size_t k = 0; k < ARRAY_LEN(MODES); k++)
        if (gpu_check_selected(&g, MODES[k].name)) run_mode(&x, &MODES[k]);
    x.cpu->destroy(x.cpu);
    return gpu_check_finish(&g, x.passed, x.failed);
}
