/* Dense layers through cuBLASLt: act-dtype operands (bf16/fp16 on the tensor cores, fp32 with
 * optional TF32), fp32 accumulation, the bias fused as an epilogue in the forward pass, and the
 * weight and bias gradients accumulated straight into the fp32 gradient buffer (C type fp32,
 * beta = 1). Plans (descriptors + the heuristic's algorithm) are cached per shape and epilogue, so
 * the steady state does no heuristic search. Where cuBLASLt offers no algorithm, or
 * MASKDIT_CUDA_NO_LT=1, the same product goes through cublasGemmEx and the bias through add_rows.
 *
 * Row-major tensors are column-major transposes: for Y[M,N] = X[M,K] W[N,K]^T the column-major
 * product is Y^T (N x M) = op_T(W^T: K x N) X^T (K x M).
 *
 * The MLP's GELU in the epilogue (linear_gelu, gelu_linear_backward): GELU_AUX(_BIAS) writes
 * gelu(acc + bias) to D and acc + bias (the pre-activation) to the auxiliary matrix; DGELU
 * multiplies the product by gelu'(aux) with the pre-activation as aux. cuBLASLt's GELU is the tanh
 * approximation, ours. The aux matrix has D's shape and layout (column-major m x n: the row-major
 * [rows, m] tensor), its elements D's type (the default of EPILOGUE_AUX_DATA_TYPE), and cuBLASLt
 * wants its leading dimension a multiple of 8 (elements) and >= m. Where that does not hold, the
 * aux is not 16-byte aligned, or the heuristic has no algorithm, that shape runs the separate GEMM
 * and element-wise kernels instead (said once per shape).
 *
 * The bias gradient in the weight-gradient GEMM (linear_backward): dW^T (K x N) += in^T (K x M)
 * op_T(dout^T), so B = dout and the bias gradient, the column sums of dout (length N = the columns
 * of D, a reduction over k = M), is cuBLASLt's BGRADB epilogue. That epilogue overwrites its
 * vector (fp32: the bias-gradient type is D's) while our gradients accumulate, so it goes into
 * the backend's scratch vector and is then added to dbias (an axpy with alpha 1: exact, fixed
 * order). Where the heuristic has no algorithm for it, that shape runs the plain GEMM and the GEMV
 * against ones (said once per shape). */
#include <string.h>

#include "internal.cuh"

/* The GELU part of a GEMM's epilogue. */
typedef enum { GEMM_NO_GELU = 0, GEMM_GELU_AUX = 1, GEMM_DGELU = 2 } GemmGelu;

typedef struct {
    int trans_a, trans_b, m, n, k, lda, ldb, ldc;
    DType ab_t, c_t;
    int has_bias, beta_zero;
    int align_a, align_b, align_c, align_bias;   /* bytes, the heuristic depends on them */
    int gelu, aux_ld, align_aux;                 /* GemmGelu and its aux matrix (0 without) */
    int bgrad;                                   /* 1: BGRADB, the bias pointer is its output */
} GemmKey;

typedef struct {
    GemmKey key;
    int usable;   /* 0: cuBLASLt had no algorithm, use cublasGemmEx */
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} GemmPlan;

struct GemmCache {
    GemmPlan *plans;
    int count, cap;
};

#define LT_WORKSPACE_BYTES (32u << 20)   /* what cuBLAS recommends for Hopper */

void cuda_gemm_init(Backend *b) {
    CudaState *st = cuda_state(b);
    st->gemm_cache = (GemmCache *)xcalloc(1, sizeof(GemmCache), "GEMM plan cache");
    st->lt_workspace_bytes = LT_WORKSPACE_BYTES;
    st->lt_workspace = cuda_alloc(b, st->lt_workspace_bytes, "cuBLASLt workspace");
}

void cuda_gemm_destroy(Backend *b) {
    GemmCache *c = cuda_state(b)->gemm_cache;
    for (int i = 0; i < c->count; i++) {
        GemmPlan *p = &c->plans[i];
        CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->la));
        CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lb));
        CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lc));
        CUBLAS_CHECK(cublasLtMatmulDescDestroy(p->desc));
    }
    free(c->plans);
    free(c);
}

cublasComputeType_t cuda_compute_type(Backend *b, DType ab_t) {
    if (ab_t == DTYPE_F32) return cuda_state(b)->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    return CUBLAS_COMPUTE_32F;
}

/* Largest power of two <= 16 dividing the address and the leading dimension in bytes. */
static int alignment(const void *p, int ld, size_t elem) {
    uintptr_t v = (uintptr_t)p | (uintptr_t)((size_t)ld * elem) | 16;
    return (int)(v & (~v + 1));
}

static cublasLtEpilogue_t epilogue_of(const GemmKey *key) {
    if (key->bgrad) return CUBLASLT_EPILOGUE_BGRADB;   /* callers pass no GELU with it */
    if (key->gelu == GEMM_GELU_AUX) return key->has_bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
    if (key->gelu == GEMM_DGELU) return CUBLASLT_EPILOGUE_DGELU;   /* callers pass no bias with it */
    return key->has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
}

/* The heuristic's answer for the plan's descriptors (usable = 0 when it has none). */
static void choose_algorithm(CudaState *st, GemmPlan *p) {
    const GemmKey *key = &p->key;
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = st->lt_workspace_bytes;
    uint32_t al_a = (uint32_t)key->align_a, al_b = (uint32_t)key->align_b, al_c = (uint32_t)key->align_c;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a,
                                                      sizeof al_a));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b,
                                                      sizeof al_b));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c,
                                                      sizeof al_c));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c,
                                                      sizeof al_c));
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(st->lt, p->desc, p->la, p->lb, p->lc, p->lc, pref, 1, &result,
                                                      &found);
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    /* NOT_SUPPORTED (no algorithm for this combination) is an answer, not a failure */
    if (s != CUBLAS_STATUS_NOT_SUPPORTED) CUBLAS_CHECK(s);
    p->usable = s == CUBLAS_STATUS_SUCCESS && found > 0;
    if (p->usable) p->algo = result.algo;
}

/* cuBLASLt's conditions on the GELU aux matrix (cublasLt.h, EPILOGUE_AUX_LD), and 16-byte rows. */
static int aux_acceptable(const GemmKey *key) {
    return key->aux_ld % 8 == 0 && key->aux_ld >= key->m && key->align_aux == 16;
}

/* What runs instead of a plan cuBLASLt cannot run, said once per plan (plain GEMMs fall back to
 * cublasGemmEx silently); why: what cuBLASLt said. */
static void say_fallback(const GemmKey *key, const char *why) {
    if (key->gelu)
        info("GELU epilogue: cuBLASLt %s for %s of a %s %dx%dx%d GEMM (aux ld %d, aligned to %d bytes): separate "
             "GEMM and element-wise kernels for that shape",
             why, key->gelu == GEMM_GELU_AUX ? "GELU_AUX" : "DGELU", dtype_name(key->ab_t), key->m, key->n, key->k,
             key->aux_ld, key->align_aux);
    else if (key->bgrad)
        info("bias-gradient epilogue: cuBLASLt %s for BGRADB of a %s %dx%dx%d GEMM (B aligned to %d bytes): the "
             "bias gradient as a separate GEMV for that shape",
             why, dtype_name(key->ab_t), key->m, key->n, key->k, key->align_b);
}

static GemmPlan *plan_for(Backend *b, const GemmKey *key, const void *bias, const void *aux) {
    CudaState *st = cuda_state(b);
    GemmCache *c = st->gemm_cache;
    for (int i = 0; i < c->count; i++)
        if (!memcmp(&c->plans[i].key, key, sizeof *key)) return &c->plans[i];
    if (c->count == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 32;
        c->plans = (GemmPlan *)xrealloc(c->plans, (size_t)c->cap * sizeof(GemmPlan), "GEMM plan cache");
    }
    GemmPlan *p = &c->plans[c->count++];
    memset(p, 0, sizeof *p);
    p->key = *key;
    cudaDataType_t ab = cuda_dtype(key->ab_t), ct = cuda_dtype(key->c_t);
    cublasOperation_t ta = key->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = key->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, cuda_compute_type(b, key->ab_t), CUDA_R_32F));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    cublasLtEpilogue_t epi = epilogue_of(key);
    if (epi != CUBLASLT_EPILOGUE_DEFAULT)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    if (key->has_bias)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    if (key->bgrad) {   /* fp32, D's type (the default, said explicitly as Transformer Engine does) */
        int32_t bias_t = CUDA_R_32F;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_t,
                                                    sizeof bias_t));
    }
    if (key->gelu) {
        int64_t aux_ld = key->aux_ld;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof aux));
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &aux_ld,
                                                    sizeof aux_ld));
    }
    /* stored (not transposed) shapes: op_T(A) of m x k is a k x m matrix */
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->la, ab, key->trans_a ? key->k : key->m, key->trans_a ? key->m : key->k,
                                            key->lda));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lb, ab, key->trans_b ? key->n : key->k, key->trans_b ? key->k : key->n,
                                            key->ldb));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lc, ct, key->m, key->n, key->ldc));

    if (!key->gelu || aux_acceptable(key)) choose_algorithm(st, p);
    if (!p->usable) say_fallback(key, "has no algorithm");
    return p;
}

static void gemm_ex(Backend *b, int trans_a, int trans_b, int m, int n, int k, float alpha, const void *A, int lda,
                    const void *B, int ldb, DType ab_t, float beta, void *C, int ldc, DType c_t) {
    CUBLAS_CHECK(cublasGemmEx(cuda_state(b)->blas, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                              trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, A, cuda_dtype(ab_t), lda, B,
                              cuda_dtype(ab_t), ldb, &beta, C, cuda_dtype(c_t), ldc, cuda_compute_type(b, ab_t),
                              CUBLAS_GEMM_DEFAULT));
}

/* cuda_gemm's product (with the GELU epilogue `gelu` and its aux matrix, c_t elements, leading
 * dimension aux_ld; or, with bgrad and no bias, BGRADB writing the n column sums of op(B) to bgrad,
 * fp32) through cuBLASLt when it is on and has an algorithm for it. Returns 0, having done
 * nothing, otherwise. */
static int lt_matmul(Backend *b, int trans_a, int trans_b, int m, int n, int k, float alpha, const void *A, int lda,
                     const void *B, int ldb, DType ab_t, float beta, void *C, int ldc, DType c_t, const void *bias,
                     GemmGelu gelu, const void *aux, int aux_ld, float *bgrad) {
    CudaState *st = cuda_state(b);
    if (!st->use_lt || m <= 0 || n <= 0 || k <= 0) return 0;   /* k == 0 (D = beta C) is left to cublasGemmEx */
    size_t ab_sz = dtype_size(ab_t), c_sz = dtype_size(c_t);
    GemmKey key;
    memset(&key, 0, sizeof key);   /* padding too: keys are compared with memcmp */
    key.trans_a = trans_a; key.trans_b = trans_b; key.m = m; key.n = n; key.k = k;
    key.lda = lda; key.ldb = ldb; key.ldc = ldc; key.ab_t = ab_t; key.c_t = c_t;
    if (bgrad) bias = bgrad;   /* the epilogue's vector, written instead of read */
    key.has_bias = bias != NULL; key.beta_zero = beta == 0.0f;
    key.align_a = alignment(A, lda, ab_sz); key.align_b = alignment(B, ldb, ab_sz);
    key.align_c = alignment(C, ldc, c_sz); key.align_bias = bias ? alignment(bias, 0, c_sz) : 0;
    if (gelu) {
        key.gelu = gelu; key.aux_ld = aux_ld; key.align_aux = alignment(aux, aux_ld, c_sz);
    }
    key.bgrad = bgrad != NULL;
    GemmPlan *p = plan_for(b, &key, bias, aux);
    if (!p->usable) return 0;
    /* the plan's descriptor holds the pointers of the call that made it: this call's */
    if (bias) CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    if (gelu)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof aux));
    cublasStatus_t s = cublasLtMatmul(st->lt, p->desc, &alpha, A, p->la, B, p->lb, &beta, C, p->lc, C, p->lc,
                                      &p->algo, st->lt_workspace, st->lt_workspace_bytes, st->stream);
    /* an algorithm the heuristic offered but the call refuses (checked before anything runs):
     * the fallback for that shape from now on, as if the heuristic had none */
    if (s == CUBLAS_STATUS_NOT_SUPPORTED) {
        p->usable = 0;
        say_fallback(&p->key, "refused the heuristic's algorithm");
        return 0;
    }
    CUBLAS_CHECK(s);
    return 1;
}

void cuda_gemm(Backend *b, int trans_a, int trans_b, int m, int n, int k, float alpha, const void *A, int lda,
               const void *B, int ldb, DType ab_t, float beta, void *C, int ldc, DType c_t, const void *bias) {
    if (m <= 0 || n <= 0) return;
    if (lt_matmul(b, trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, ab_t, beta, C, ldc, c_t, bias, GEMM_NO_GELU,
                  NULL, 0, NULL))
        return;
    gemm_ex(b, trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, ab_t, beta, C, ldc, c_t);
    if (bias) cuda_add_rows(b, C, bias, n, 1, m);   /* column-major m x n: n rows of m in row-major terms */
}

void cuda_linear(Backend *b, void *out, const void *in, const void *W, const void *bias, int M, int K, int N,
                 float beta) {
    DType t = b->act_dtype;
    /* out^T (N x M) = op_T(W stored K x N) in^T (K x M) */
    cuda_gemm(b, 1, 0, N, M, K, 1.0f, W, K, in, K, t, beta, out, N, t, bias);
}

/* Grows the act ones vector used to sum dout over rows with a GEMV. */
static const void *ones(Backend *b, size_t count);

/* dW^T (K x N) += in^T (K x M) op_T(dout^T stored N x M), and dbias += the column sums of dout from
 * the same GEMM's BGRADB epilogue (into the scratch vector, then added). Returns 0, having done
 * nothing, where the epilogue is off or cuBLASLt has no algorithm for it. */
static int weight_and_bias_gradients(Backend *b, float *dW, float *dbias, const void *dout, const void *in, int M,
                                     int K, int N) {
    CudaState *st = cuda_state(b);
    if (!st->bgrad_epilogue) return 0;
    cuda_workspace_grow(b, (void **)&st->bgrad, &st->bgrad_count, (size_t)N, sizeof(float), "bias-gradient scratch");
    if (!lt_matmul(b, 0, 1, K, N, M, 1.0f, in, K, dout, N, b->act_dtype, 1.0f, dW, K, DTYPE_F32, NULL, GEMM_NO_GELU,
                   NULL, 0, st->bgrad))
        return 0;
    const float one = 1.0f;
    CUBLAS_CHECK(cublasSaxpy(st->blas, N, &one, st->bgrad, 1, dbias, 1));
    return 1;
}

void cuda_linear_backward(Backend *b, void *din, float *dW, float *dbias, const void *dout, const void *in,
                          const void *W, int M, int K, int N, float din_beta) {
    DType t = b->act_dtype;
    /* din^T (K x M) = W^T (stored K x N) dout^T (N x M) */
    if (din) cuda_gemm(b, 0, 0, K, M, N, 1.0f, W, K, dout, N, t, din_beta, din, K, t, NULL);
    if (dW && dbias && weight_and_bias_gradients(b, dW, dbias, dout, in, M, K, N)) return;
    /* dW^T (K x N) += in^T (K x M) op_T(dout^T stored N x M) */
    if (dW) cuda_gemm(b, 0, 1, K, N, M, 1.0f, in, K, dout, N, t, 1.0f, dW, K, DTYPE_F32, NULL);
    /* dbias (N x 1) += dout^T (N x M) ones (M x 1) */
    if (dbias) cuda_gemm(b, 0, 0, N, 1, M, 1.0f, dout, N, ones(b, (size_t)M), M, t, 1.0f, dbias, N, DTYPE_F32, NULL);
}

/* A 0|1 switch from the environment (off and on: what 0 and 1 mean, for the message); unset or
 * empty: dflt. -1 with a message in err for any other value. */
/* MASKDIT_GELU_EPILOGUE: 0 = the separate kernels, 1 = the epilogue in every precision; unset:
 * the epilogue in bf16/fp16 only. In fp32 the separate kernels stay the default: their GELU is
 * the one the CPU reference and the golden parity were checked against, while how closely
 * cuBLASLt's epilogue GELU follows tanhf has not been measured (check_ops reports it in fp32 and
 * TF32 with MASKDIT_GELU_EPILOGUE=1). */
int cuda_gelu_epilogue_setting(DType act, int *epilogue, char *err, size_t err_len) {
    return cuda_env_switch("MASKDIT_GELU_EPILOGUE", act != DTYPE_F32,
                           (EnvChoice){"0", "separate GEMM and GELU kernels", 0},
                           (EnvChoice){"1", "GELU in the cuBLASLt epilogue", 1}, epilogue, err, err_len);
}

/* MASKDIT_BGRAD_EPILOGUE: 0 = the GEMV against ones, 1 = the BGRADB epilogue; unset: the epilogue,
 * in every precision. In fp32 it is a sum of the same fp32 values in another order (the GEMV's is
 * cuBLAS's too), within check_ops' fp32 limit and far within the golden gradients' 1e-4. */
int cuda_bgrad_epilogue_setting(int *epilogue, char *err, size_t err_len) {
    return cuda_env_switch("MASKDIT_BGRAD_EPILOGUE", 1, (EnvChoice){"0", "bias gradient as a separate GEMV", 0},
                           (EnvChoice){"1", "bias gradient in the cuBLASLt epilogue", 1}, epilogue, err, err_len);
}

void cuda_linear_gelu(Backend *b, void *act, void *pre, const void *in, const void *W, const void *bias, int M, int K,
                      int N) {
    DType t = b->act_dtype;
    /* as cuda_linear, with pre^T (N x M, ld N) as the aux matrix */
    if (cuda_state(b)->gelu_epilogue &&
        lt_matmul(b, 1, 0, N, M, K, 1.0f, W, K, in, K, t, 0.0f, act, N, t, bias, GEMM_GELU_AUX, pre, N, NULL))
        return;
    backend_linear_gelu_composed(b, act, pre, in, W, bias, M, K, N);
}

void cuda_gelu_linear_backward(Backend *b, void *dpre, float *dW, float *dbias, const void *dout, const void *act,
                               const void *pre, const void *W, int M, int K, int N) {
    DType t = b->act_dtype;
    /* as cuda_linear_backward's din, dpre^T (K x M, ld K) = gelu'(pre^T) o (W^T dout^T), pre^T the aux
     * matrix; then dW and dbias as there */
    if (cuda_state(b)->gelu_epilogue &&
        lt_matmul(b, 0, 0, K, M, N, 1.0f, W, K, dout, N, t, 0.0f, dpre, K, t, NULL, GEMM_DGELU, pre, K, NULL)) {
        cuda_linear_backward(b, NULL, dW, dbias, dout, act, W, M, K, N, 0.0f);
        return;
    }
    backend_gelu_linear_backward_composed(b, dpre, dW, dbias, dout, act, pre, W, M, K, N);
}

template <typename T> __global__ void fill_ones_kernel(T *p, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = from_f32<T>(1.0f);
}

static const void *ones(Backend *b, size_t count) {
    CudaState *st = cuda_state(b);
    if (cuda_workspace_grow(b, &st->ones, &st->ones_count, count, dtype_size(b->act_dtype), "bias-gradient ones")) {
        DISPATCH_ACT(b->act_dtype, T,
                     fill_ones_kernel<T><<<grid_for(count, 256, 1024), 256, 0, st->stream>>>((T *)st->ones, count));
        LAUNCH_CHECK("fill_ones_kernel");
    }
    return st->ones;
}
