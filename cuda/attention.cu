/* Multi-head self-attention: the choice between the two paths, and the batched-GEMM path.
 *
 * Paths: the fused kernels of flash_attention.cu for bf16/fp16 and head widths that are multiples
 * of 8 up to 128 (the default; MASKDIT_ATTENTION=gemm turns them off), else batched GEMMs over
 * (sample, head) + fused softmax kernels, for any head width and every act dtype. Both save the
 * same lse, so a forward pass on one path and a backward pass on the other agree.
 *
 * Batched GEMMs: q, k and v are read in place from qkv [N, T, 3E] (head h of
 * sample n starts at n*T*3E + h*hd, row stride 3E); cuBLAS gets one pointer per (n, h) (the batch
 * is not a single stride), built on the device by a small kernel.
 *
 * saved = the log-sum-exp of each score row, f32 [N, H, T]: lse = log sum_j exp(s_j), s = q k^T /
 * sqrt(hd), so that P = exp(s - lse). The backward pass recomputes S with one more batched GEMM
 * instead of keeping N*H*T*T probabilities per layer between the passes.
 *
 * T x T buffers (per (n, h)), two backend workspaces shared by every layer (grown to the largest
 * N*H*T*T seen), so that the scratch size of the backward pass does not depend on the path:
 *   scores:  S in fp32, overwritten in place by P in the act dtype, row r of P starting where
 *            row r of S started (row stride 4T bytes);
 *   dscores: dP = dO v^T in fp32, overwritten in place by dS = P (dP - rowsum(P dP)) / sqrt(hd) in
 *            the act dtype, same layout.
 * In-place rewrite of a row by one warp: it reads a chunk of 32 fp32 values, synchronises, then
 * writes the converted chunk; a 16-bit value j overlaps fp32 value j/2, which an earlier or the
 * current chunk has already read. */
#include <math.h>
#include <string.h>

#include "internal.cuh"
#include "attention_kernels.cuh"

/* The path for bf16/fp16 when MASKDIT_ATTENTION is not set: 1 = fused (flash) kernels, 0 = batched
 * GEMMs. The one line to change to make the batched GEMMs the default. */
#define FLASH_BY_DEFAULT 1

int cuda_attention_flash_setting(int *flash, char *err, size_t err_len) {
    return cuda_env_switch("MASKDIT_ATTENTION", FLASH_BY_DEFAULT, (EnvChoice){"flash", "fused kernels", 1},
                           (EnvChoice){"gemm", "batched GEMMs", 0}, flash, err, err_len);
}

/* The fused kernels need 16-bit activations, a head width they handle and 16-byte aligned rows
 * (they read 16-byte chunks); anything else takes the batched GEMMs. */
static int use_flash(Backend *b, int E, int H, const void *p0, const void *p1, const void *p2, const void *p3) {
    return cuda_state(b)->flash && b->act_dtype != DTYPE_F32 && E % H == 0 && cuda_flash_supported(E / H) &&
           aligned16(p0) && aligned16(p1) && aligned16(p2) && aligned16(p3);
}

size_t cuda_attention_saved_bytes(Backend *b, int N, int T, int E, int H) { return (size_t)N * H * T * sizeof(float); }
/* rowsum(dO o O) of the fused backward; the batched-GEMM path keeps its T x T blocks in workspaces */
size_t cuda_attention_scratch_bytes(Backend *b, int N, int T, int E, int H) { return (size_t)N * H * T * sizeof(float); }

/* One batched column-major GEMM C_i = alpha op(A_i) op(B_i) over the N*H (sample, head) pairs. */
static void batched_gemm(Backend *b, int trans_a, int trans_b, int m, int n, int k, float alpha, BatchPtrs A, int lda,
                         BatchPtrs B, int ldb, DType ab_t, BatchPtrs C, int ldc, DType c_t, int N, int H) {
    CudaState *st = cuda_state(b);
    int NH = N * H;
    cuda_workspace_grow(b, (void **)&st->ptr_arrays, &st->ptr_arrays_count, 3 * (size_t)NH, sizeof(void *),
                        "attention pointer arrays");
    const void **pa = (const void **)st->ptr_arrays, **pb = pa + NH;
    void **pc = st->ptr_arrays + 2 * NH;
    /* the previous GEMM has read the arrays before this kernel runs: both are on one stream */
    batch_ptrs_kernel<<<(NH + BATCH_PTRS_THREADS - 1) / BATCH_PTRS_THREADS, BATCH_PTRS_THREADS, 0, st->stream>>>(
        pa, pb, pc, A, B, C, NH, H);
    LAUNCH_CHECK("batch_ptrs_kernel");
    float beta = 0.0f;
    CUBLAS_CHECK(cublasGemmBatchedEx(st->blas, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     m, n, k, &alpha, pa, cuda_dtype(ab_t), lda, pb, cuda_dtype(ab_t), ldb, &beta, pc,
                                     cuda_dtype(c_t), ldc, NH, cuda_compute_type(b, ab_t), CUBLAS_GEMM_DEFAULT));
}

static unsigned rows_grid(int rows) {
    return (unsigned)(((size_t)rows * 32 + ATTENTION_ROW_THREADS - 1) / ATTENTION_ROW_THREADS);
}

/* Pointers of q, k, v of head h (column blocks of qkv) and of a T x T matrix of the (n, h) batch. */
static BatchPtrs qkv_part(const void *qkv, int part, int T, int E, int hd, size_t es) {
    BatchPtrs p = {(const char *)qkv + (size_t)part * E * es, (size_t)T * 3 * E * es, (size_t)hd * es};
    return p;
}
static BatchPtrs tok(const void *x, int T, int E, int hd, size_t es) {   /* [N, T, E] head views */
    BatchPtrs p = {(const char *)x, (size_t)T * E * es, (size_t)hd * es};
    return p;
}
static BatchPtrs square(const void *buf, int T, int H) {   /* [N, H, T, T] fp32 blocks (also act rows in them) */
    BatchPtrs p = {(const char *)buf, (size_t)H * T * T * 4, (size_t)T * T * 4};
    return p;
}

/* S = q k^T / sqrt(hd) into the scores workspace, then P (act, in place) and, in the forward pass,
 * lse. Returns the row stride of P in act elements. */
static int scores_to_probs(Backend *b, const void *qkv, float *lse, int N, int T, int E, int H, int find_lse) {
    CudaState *st = cuda_state(b);
    DType t = b->act_dtype;
    size_t es = dtype_size(t);
    int hd = E / H, ld3 = 3 * E;
    cuda_workspace_grow(b, &st->scores, &st->scores_count, (size_t)N * H * T * T, sizeof(float), "attention scores");
    /* S^T (keys x queries, col-major) = op_T(k stored hd x T) q (hd x T); row-major that is S[q][k] */
    batched_gemm(b, 1, 0, T, T, hd, 1.0f / sqrtf((float)hd), qkv_part(qkv, 1, T, E, hd, es), ld3,
                 qkv_part(qkv, 0, T, E, hd, es), ld3, t, square(st->scores, T, H), T, DTYPE_F32, N, H);
    DISPATCH_ACT(t, A, probs_rows_kernel<A><<<rows_grid(N * H * T), ATTENTION_ROW_THREADS, 0, st->stream>>>(
                           (float *)st->scores, lse, N * H * T, T, find_lse));
    LAUNCH_CHECK("probs_rows_kernel");
    return (int)(T * 4 / es);
}

static void attention_gemm(Backend *b, void *out, float *lse, const void *qkv, int N, int T, int E, int H) {
    DType t = b->act_dtype;
    size_t es = dtype_size(t);
    int hd = E / H;
    int ldp = scores_to_probs(b, qkv, lse, N, T, E, H, 1);
    /* O^T (hd x Tq) = v^T (hd x Tk) P^T (Tk x Tq) */
    batched_gemm(b, 0, 0, hd, T, T, 1.0f, qkv_part(qkv, 2, T, E, hd, es), 3 * E, square(cuda_state(b)->scores, T, H),
                 ldp, t, tok(out, T, E, hd, es), E, t, N, H);
}

static void attention_backward_gemm(Backend *b, void *dqkv, const void *dout, const void *qkv, const float *lse, int N,
                                    int T, int E, int H) {
    CudaState *st = cuda_state(b);
    DType t = b->act_dtype;
    size_t es = dtype_size(t);
    int hd = E / H, ld3 = 3 * E;
    float scale = 1.0f / sqrtf((float)hd);
    int ldp = scores_to_probs(b, qkv, (float *)lse, N, T, E, H, 0), ld_ds = ldp;   /* dS rows keep dP's stride */
    cuda_workspace_grow(b, &st->dscores, &st->dscores_count, (size_t)N * H * T * T, sizeof(float),
                        "attention score gradients");
    BatchPtrs P = square(st->scores, T, H), dS = square(st->dscores, T, H);
    /* dP^T (Tk x Tq) = op_T(v stored hd x Tk) dO (hd x Tq) */
    batched_gemm(b, 1, 0, T, T, hd, 1.0f, qkv_part(qkv, 2, T, E, hd, es), ld3, tok(dout, T, E, hd, es), E, t, dS, T,
                 DTYPE_F32, N, H);
    /* dV^T (hd x Tk) = dO^T (hd x Tq) op_T(P^T stored Tk x Tq) */
    batched_gemm(b, 0, 1, hd, T, T, 1.0f, tok(dout, T, E, hd, es), E, P, ldp, t, qkv_part(dqkv, 2, T, E, hd, es), ld3,
                 t, N, H);
    DISPATCH_ACT(t, A,
                 softmax_backward_rows_kernel<A><<<rows_grid(N * H * T), ATTENTION_ROW_THREADS, 0, st->stream>>>(
                     (float *)st->dscores, (const A *)st->scores, ldp, N * H * T, T, scale));
    LAUNCH_CHECK("softmax_backward_rows_kernel");
    /* dQ^T (hd x Tq) = k^T (hd x Tk) dS^T (Tk x Tq) */
    batched_gemm(b, 0, 0, hd, T, T, 1.0f, qkv_part(qkv, 1, T, E, hd, es), ld3, dS, ld_ds, t,
                 qkv_part(dqkv, 0, T, E, hd, es), ld3, t, N, H);
    /* dK^T (hd x Tk) = q^T (hd x Tq) op_T(dS^T stored Tk x Tq) */
    batched_gemm(b, 0, 1, hd, T, T, 1.0f, qkv_part(qkv, 0, T, E, hd, es), ld3, dS, ld_ds, t,
                 qkv_part(dqkv, 1, T, E, hd, es), ld3, t, N, H);
}

void cuda_attention(Backend *b, void *out, void *saved, const void *qkv, int N, int T, int E, int H) {
    if (N * T == 0) return;
    if (use_flash(b, E, H, out, qkv, qkv, qkv)) cuda_flash_attention(b, out, (float *)saved, qkv, N, T, E, H);
    else attention_gemm(b, out, (float *)saved, qkv, N, T, E, H);
}

void cuda_attention_backward(Backend *b, void *dqkv, void *scratch, const void *dout, const void *qkv,
                             const void *out, const void *saved, int N, int T, int E, int H) {
    if (N * T == 0) return;
    if (use_flash(b, E, H, dqkv, dout, qkv, out))
        cuda_flash_attention_backward(b, dqkv, (float *)scratch, dout, qkv, out, (const float *)saved, N, T, E, H);
    else
        attention_backward_gemm(b, dqkv, dout, qkv, (const float *)saved, N, T, E, H);
}
