/* Multi-head self-attention as batched GEMMs over (sample, head) + a fused softmax, for any head
 * width. q, k and v are read in place from qkv [N, T, 3E] (head h of sample n starts at
 * n*T*3E + h*hd, row stride 3E); cuBLAS gets one pointer per (n, h) (the batch is not a single
 * stride), built on the device by a small kernel.
 *
 * Buffers, per (n, h), T x T:
 *   S:       q k^T / sqrt(hd) in fp32, in a backend workspace shared by every layer (grown to the
 *            largest N*H*T*T seen);
 *   saved:   the probabilities P in the act dtype (what the backward pass needs);
 *   scratch: dP = dO v^T in fp32, overwritten in place by dS = P (dP - rowsum(P dP)) / sqrt(hd)
 *            in the act dtype, row r of dS starting where row r of dP started (row stride 4T
 *            bytes). One warp rewrites a row: it reads a chunk of 32 values, synchronises, then
 *            writes the converted chunk; a 16-bit value j overlaps fp32 value j/2, which an earlier
 *            or the current chunk has already read. */
#include <math.h>

#include "internal.cuh"

size_t cuda_attention_saved_bytes(Backend *b, int N, int T, int E, int H) {
    return (size_t)N * H * T * T * dtype_size(b->act_dtype);
}
size_t cuda_attention_scratch_bytes(Backend *b, int N, int T, int E, int H) { return (size_t)N * H * T * T * 4; }

/* Address of matrix (n, h): base + n*sample_stride + h*head_stride (bytes). */
typedef struct {
    const char *base;
    size_t sample_stride, head_stride;
} BatchPtrs;

__global__ void batch_ptrs_kernel(const void **A, const void **B, void **C, BatchPtrs a, BatchPtrs bb, BatchPtrs c,
                                  int NH, int H) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= NH) return;
    size_t n = i / H, h = i % H;
    A[i] = a.base + n * a.sample_stride + h * a.head_stride;
    B[i] = bb.base + n * bb.sample_stride + h * bb.head_stride;
    C[i] = (void *)(c.base + n * c.sample_stride + h * c.head_stride);
}

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
    batch_ptrs_kernel<<<(NH + 255) / 256, 256, 0, st->stream>>>(pa, pb, pc, A, B, C, NH, H);
    LAUNCH_CHECK("batch_ptrs_kernel");
    float beta = 0.0f;
    CUBLAS_CHECK(cublasGemmBatchedEx(st->blas, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     m, n, k, &alpha, pa, cuda_dtype(ab_t), lda, pb, cuda_dtype(ab_t), ldb, &beta, pc,
                                     cuda_dtype(c_t), ldc, NH, cuda_compute_type(b, ab_t), CUBLAS_GEMM_DEFAULT));
}

/* Online max / sum-of-exponentials pairs, combined across lanes (-inf max = empty). */
__device__ __forceinline__ void softmax_merge(float &m, float &s, float m2, float s2) {
    float mx = fmaxf(m, m2);
    if (mx == -INFINITY) return;
    s = (m == -INFINITY ? 0.0f : s * expf(m - mx)) + (m2 == -INFINITY ? 0.0f : s2 * expf(m2 - mx));
    m = mx;
}

/* Row r of S (fp32) -> row r of P (act), one warp per row. */
template <typename T>
__global__ void softmax_rows_kernel(T *P, const float *S, int rows, int T_) {
    int row = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    const float *s = S + (size_t)row * T_;
    float m = -INFINITY, sum = 0.0f;
    for (int j = lane; j < T_; j += 32) softmax_merge(m, sum, s[j], 1.0f);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, sum, o);
        softmax_merge(m, sum, m2, s2);
    }
    float inv = 1.0f / sum;
    T *p = P + (size_t)row * T_;
    for (int j = lane; j < T_; j += 32) p[j] = from_f32<T>(expf(s[j] - m) * inv);
}

/* Row r: dP (fp32, scratch) and P (act, saved) -> dS = scale P (dP - sum_j P dP) (act, in place of dP). */
template <typename T>
__global__ void softmax_backward_rows_kernel(float *dP, const T *P, int rows, int T_, float scale) {
    int row = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    float *d = dP + (size_t)row * T_;
    const T *p = P + (size_t)row * T_;
    float dot = 0.0f;
    for (int j = lane; j < T_; j += 32) dot += to_f32(p[j]) * d[j];
    dot = warp_sum(dot);
    T *ds = reinterpret_cast<T *>(d);
    for (int base = 0; base < T_; base += 32) {
        int j = base + lane;
        float v = j < T_ ? d[j] : 0.0f;
        __syncwarp();
        if (j < T_) ds[j] = from_f32<T>(scale * to_f32(p[j]) * (v - dot));
        __syncwarp();
    }
}

static unsigned rows_grid(int rows) { return (unsigned)(((size_t)rows * 32 + 255) / 256); }

/* Pointers of q, k, v of head h (column blocks of qkv) and of a T x T matrix of the (n, h) batch. */
static BatchPtrs qkv_part(const void *qkv, int part, int T, int E, int hd, size_t es) {
    BatchPtrs p = {(const char *)qkv + (size_t)part * E * es, (size_t)T * 3 * E * es, (size_t)hd * es};
    return p;
}
static BatchPtrs tok(const void *x, int T, int E, int hd, size_t es) {   /* [N, T, E] head views */
    BatchPtrs p = {(const char *)x, (size_t)T * E * es, (size_t)hd * es};
    return p;
}
static BatchPtrs square(const void *buf, int T, int H, size_t es) {   /* [N, H, T, T] */
    BatchPtrs p = {(const char *)buf, (size_t)H * T * T * es, (size_t)T * T * es};
    return p;
}

void cuda_attention(Backend *b, void *out, void *saved, const void *qkv, int N, int T, int E, int H) {
    if (N * T == 0) return;
    CudaState *st = cuda_state(b);
    DType t = b->act_dtype;
    size_t es = dtype_size(t);
    int hd = E / H, ld3 = 3 * E;
    float scale = 1.0f / sqrtf((float)hd);
    cuda_workspace_grow(b, &st->scores, &st->scores_count, (size_t)N * H * T * T, sizeof(float), "attention scores");
    /* S^T (keys x queries, col-major) = op_T(k stored hd x T) q (hd x T); row-major that is S[q][k] */
    batched_gemm(b, 1, 0, T, T, hd, scale, qkv_part(qkv, 1, T, E, hd, es), ld3, qkv_part(qkv, 0, T, E, hd, es), ld3, t,
                 square(st->scores, T, H, 4), T, DTYPE_F32, N, H);
    DISPATCH_ACT(t, A, softmax_rows_kernel<A><<<rows_grid(N * H * T), 256, 0, st->stream>>>(
                           (A *)saved, (const float *)st->scores, N * H * T, T));
    LAUNCH_CHECK("softmax_rows_kernel");
    /* O^T (hd x Tq) = v^T (hd x Tk) P^T (Tk x Tq) */
    batched_gemm(b, 0, 0, hd, T, T, 1.0f, qkv_part(qkv, 2, T, E, hd, es), ld3, square(saved, T, H, es), T, t,
                 tok(out, T, E, hd, es), E, t, N, H);
}

void cuda_attention_backward(Backend *b, void *dqkv, void *scratch, const void *dout, const void *qkv,
                             const void *out, const void *saved, int N, int T, int E, int H) {
    if (N * T == 0) return;
    DType t = b->act_dtype;
    size_t es = dtype_size(t);
    int hd = E / H, ld3 = 3 * E, ld_ds = (int)(T * 4 / es);   /* dS rows keep dP's 4T-byte stride */
    float scale = 1.0f / sqrtf((float)hd);
    /* dP^T (Tk x Tq) = op_T(v stored hd x Tk) dO (hd x Tq) */
    batched_gemm(b, 1, 0, T, T, hd, 1.0f, qkv_part(qkv, 2, T, E, hd, es), ld3, tok(dout, T, E, hd, es), E, t,
                 square(scratch, T, H, 4), T, DTYPE_F32, N, H);
    /* dV^T (hd x Tk) = dO^T (hd x Tq) op_T(P^T stored Tk x Tq) */
    batched_gemm(b, 0, 1, hd, T, T, 1.0f, tok(dout, T, E, hd, es), E, square(saved, T, H, es), T, t,
                 qkv_part(dqkv, 2, T, E, hd, es), ld3, t, N, H);
    DISPATCH_ACT(t, A, softmax_backward_rows_kernel<A><<<rows_grid(N * H * T), 256, 0, cuda_state(b)->stream>>>(
                           (float *)scratch, (const A *)saved, N * H * T, T, scale));
    LAUNCH_CHECK("softmax_backward_rows_kernel");
    /* dQ^T (hd x Tq) = k^T (hd x Tk) dS^T (Tk x Tq) */
    batched_gemm(b, 0, 0, hd, T, T, 1.0f, qkv_part(qkv, 1, T, E, hd, es), ld3, square(scratch, T, H, 4), ld_ds, t,
                 qkv_part(dqkv, 0, T, E, hd, es), ld3, t, N, H);
    /* dK^T (hd x Tk) = q^T (hd x Tq) op_T(dS^T stored Tk x Tq) */
    batched_gemm(b, 0, 1, hd, T, T, 1.0f, qkv_part(qkv, 0, T, E, hd, es), ld3, square(scratch, T, H, 4), ld_ds, t,
                 qkv_part(dqkv, 1, T, E, hd, es), ld3, t, N, H);
}
