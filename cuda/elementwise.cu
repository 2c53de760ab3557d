/* Element-wise ops: dtype casts, SiLU, ReLU, GELU (tanh) and their derivatives, broadcast row adds.
 * Each thread moves 16 bytes per access when every pointer is 16-byte aligned and the sizes are
 * multiples of the pack; otherwise one element per access. Math in fp32. */
#include "internal.cuh"
#include "elementwise_kernels.cuh"

#define EW_MAX_BLOCKS 8192

/* ---- cast ---- */

template <typename D, typename S> static void cast_typed(cudaStream_t s, void *dst, const void *src, size_t n) {
    /* packs of 4 (16 bytes of fp32, 8 of a 16-bit type) keep both sides aligned for any pair */
    const int V = 4;
    int vec = ((uintptr_t)dst % (sizeof(D) * V)) == 0 && ((uintptr_t)src % (sizeof(S) * V)) == 0 && n % V == 0;
    size_t packs = vec ? n / V : n;
    if (vec) cast_kernel<D, S, V><<<grid_for(packs, EW_THREADS, EW_MAX_BLOCKS), EW_THREADS, 0, s>>>((D *)dst, (const S *)src, packs);
    else cast_kernel<D, S, 1><<<grid_for(packs, EW_THREADS, EW_MAX_BLOCKS), EW_THREADS, 0, s>>>((D *)dst, (const S *)src, packs);
    LAUNCH_CHECK("cast_kernel");
}

void cuda_cast(Backend *b, void *dst, DType dst_t, const void *src, DType src_t, size_t n) {
    cudaStream_t s = cuda_state(b)->stream;
    if (!n) return;
    if (dst_t == src_t) {
        CUDA_CHECK(cudaMemcpyAsync(dst, src, n * dtype_size(dst_t), cudaMemcpyDeviceToDevice, s));
        return;
    }
    DISPATCH_ACT(dst_t, D, DISPATCH_ACT(src_t, S, cast_typed<D, S>(s, dst, src, n)));
}

/* ---- unary maps with an optional second operand: out[i] = op(a[i], b[i]) ---- */

template <typename T, typename Op> static void map_typed(cudaStream_t s, void *out, const void *a, const void *bb, size_t n, Op op) {
    const int V = 16 / sizeof(T);
    int vec = aligned16(out) && aligned16(a) && (!bb || aligned16(bb)) && n % V == 0;
    size_t packs = vec ? n / V : n;
    unsigned grid = grid_for(packs, EW_THREADS, EW_MAX_BLOCKS);
    if (vec) map_kernel<T, V, Op><<<grid, EW_THREADS, 0, s>>>((T *)out, (const T *)a, (const T *)bb, packs, op);
    else map_kernel<T, 1, Op><<<grid, EW_THREADS, 0, s>>>((T *)out, (const T *)a, (const T *)bb, packs, op);
    LAUNCH_CHECK("map_kernel");
}

template <typename Op> static void map(Backend *b, void *out, const void *a, const void *bb, size_t n, Op op) {
    if (!n) return;
    DISPATCH_ACT(b->act_dtype, T, map_typed<T, Op>(cuda_state(b)->stream, out, a, bb, n, op));
}

void cuda_silu(Backend *b, void *out, const void *in, size_t n) { map(b, out, in, NULL, n, SiluOp()); }
void cuda_silu_backward(Backend *b, void *din, const void *dout, const void *in, size_t n) {
    map(b, din, dout, in, n, SiluBackwardOp());
}
void cuda_relu(Backend *b, void *out, const void *in, size_t n) { map(b, out, in, NULL, n, ReluOp()); }
void cuda_gelu(Backend *b, void *out, const void *in, size_t n) { map(b, out, in, NULL, n, GeluOp()); }
void cuda_gelu_backward(Backend *b, void *din, const void *dout, const void *in, size_t n) {
    map(b, din, dout, in, n, GeluBackwardOp());
}

/* ---- x[n,t,:] += rows[t,:] ---- */

template <typename T> static void add_rows_typed(cudaStream_t s, void *x, const void *rows, size_t n, size_t period) {
    const int V = 16 / sizeof(T);
    int vec = aligned16(x) && aligned16(rows) && period % V == 0;
    size_t packs = vec ? n / V : n, period_packs = vec ? period / V : period;
    unsigned grid = grid_for(packs, EW_THREADS, EW_MAX_BLOCKS);
    if (vec) add_rows_kernel<T, V><<<grid, EW_THREADS, 0, s>>>((T *)x, (const T *)rows, packs, period_packs);
    else add_rows_kernel<T, 1><<<grid, EW_THREADS, 0, s>>>((T *)x, (const T *)rows, packs, period_packs);
    LAUNCH_CHECK("add_rows_kernel");
}

void cuda_add_rows(Backend *b, void *x, const void *rows, int N, int T, int width) {
    size_t period = (size_t)T * width, n = (size_t)N * period;
    if (!n) return;
    DISPATCH_ACT(b->act_dtype, A, add_rows_typed<A>(cuda_state(b)->stream, x, rows, n, period));
}
