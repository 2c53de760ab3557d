/* Token gather / un-mask and their backward passes: whole rows moved by index, one warp per row,
 * in the widest unit (16, 4 or 2 bytes) that the row size and the base addresses allow. The mask
 * token's gradient is a column sum over the filled positions, in double, in a fixed order. */
#include "internal.cuh"
#include "tokens_kernels.cuh"

/* rows of rb bytes; the unit must divide rb and the alignment of every base address */
static void move_rows(Backend *b, RowMove map, size_t rows, size_t rb, uintptr_t addr_bits) {
    if (!rows) return;
    cudaStream_t s = cuda_state(b)->stream;
    uintptr_t bits = addr_bits | rb;
    dim3 block(32, MOVE_ROWS_PER_BLOCK);
    unsigned grid = (unsigned)((rows + MOVE_ROWS_PER_BLOCK - 1) / MOVE_ROWS_PER_BLOCK);
    if (bits % 16 == 0) move_rows_kernel<uint4><<<grid, block, 0, s>>>(map, rows, (int)(rb / 16));
    else if (bits % 4 == 0) move_rows_kernel<uint32_t><<<grid, block, 0, s>>>(map, rows, (int)(rb / 4));
    else move_rows_kernel<uint16_t><<<grid, block, 0, s>>>(map, rows, (int)(rb / 2));
    LAUNCH_CHECK("move_rows_kernel");
}

void cuda_gather_tokens(Backend *b, void *out, const void *in, const int32_t *ids, int N, int L, int K, int width) {
    size_t rb = (size_t)width * dtype_size(b->act_dtype);
    RowMove m = {GATHER, (char *)out, (const char *)in, NULL, ids, L, K, rb};
    move_rows(b, m, (size_t)N * K, rb, (uintptr_t)out | (uintptr_t)in);
}

void cuda_gather_tokens_backward(Backend *b, void *din, const void *dout, const int32_t *ids, int N, int L, int K,
                                 int width) {
    size_t rb = (size_t)width * dtype_size(b->act_dtype);
    if (N > 0 && L > 0) CUDA_CHECK(cudaMemsetAsync(din, 0, (size_t)N * L * rb, cuda_state(b)->stream));
    RowMove m = {SCATTER, (char *)din, (const char *)dout, NULL, ids, L, K, rb};
    move_rows(b, m, (size_t)N * K, rb, (uintptr_t)din | (uintptr_t)dout);
}

void cuda_unmask_tokens(Backend *b, void *out, const void *in, const void *fill, const int32_t *ids_restore, int N,
                        int L, int K, int width) {
    size_t rb = (size_t)width * dtype_size(b->act_dtype);
    RowMove m = {UNMASK, (char *)out, (const char *)in, (const char *)fill, ids_restore, L, K, rb};
    move_rows(b, m, (size_t)N * L, rb, (uintptr_t)out | (uintptr_t)in | (uintptr_t)fill);
}

void cuda_unmask_tokens_backward(Backend *b, void *din, float *dfill, const void *dout, const int32_t *ids_restore,
                                 int N, int L, int K, int width) {
    size_t rb = (size_t)width * dtype_size(b->act_dtype);
    RowMove m = {UNMASK_BACKWARD, (char *)din, (const char *)dout, NULL, ids_restore, L, K, rb};
    move_rows(b, m, (size_t)N * L, rb, (uintptr_t)din | (uintptr_t)dout);
    if (!dfill || (size_t)N * L == 0) return;
    cudaStream_t s = cuda_state(b)->stream;
    dim3 grid((width + 31) / 32), block(32, FILL_ROWS);
    DISPATCH_ACT(b->act_dtype, A,
                 fill_grad_kernel<A><<<grid, block, 0, s>>>(dfill, (const A *)dout, ids_restore, (size_t)N * L, K, width));
    LAUNCH_CHECK("fill_grad_kernel");
}
