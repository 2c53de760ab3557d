/* The kernels of tokens.cu (rows moved by index: token gather, un-masking and their backward
 * passes; the mask token's gradient), which launches them. Device code only; tests/simt runs them
 * on the CPU. */
#ifndef MASKDIT_CUDA_TOKENS_KERNELS_CUH
#define MASKDIT_CUDA_TOKENS_KERNELS_CUH

#include <stddef.h>
#include <stdint.h>

#include "device_math.cuh"

#define MOVE_ROWS_PER_BLOCK 8   /* move_rows_kernel's block: (32, MOVE_ROWS_PER_BLOCK), a warp per row */

/* Which rows move where (rows of rb bytes; "k" indexes the K kept tokens, "l" all L tokens). */
typedef enum {
    GATHER,            /* out[n,k] = in[n, ids[n,k]]                        (rows: N*K) */
    SCATTER,           /* out[n, ids[n,k]] = in[n,k]                         (rows: N*K) */
    UNMASK,            /* out[n,l] = in[n, r] if r = ids[n,l] < K, else fill (rows: N*L) */
    UNMASK_BACKWARD    /* out[n, r] = in[n,l] for r = ids[n,l] < K           (rows: N*L) */
} MoveKind;

struct RowMove {
    MoveKind kind;
    char *out;
    const char *in, *fill;   /* fill NULL: zeros */
    const int32_t *ids;
    int L, K;
    size_t rb;
    /* destination and source of a row (source NULL: zeros); false when the row is not written */
    __device__ bool operator()(size_t row, char *&dst, const char *&src) const {
        size_t n = row / (kind == GATHER || kind == SCATTER ? K : L);
        int r = ids[row];
        switch (kind) {
        case GATHER: dst = out + row * rb; src = in + (n * L + r) * rb; return true;
        case SCATTER: dst = out + (n * L + r) * rb; src = in + row * rb; return true;
        case UNMASK: dst = out + row * rb; src = r < K ? in + (n * K + r) * rb : fill; return true;
        case UNMASK_BACKWARD: dst = out + (n * K + r) * rb; src = in + row * rb; return r < K;
        }
        return false;
    }
};

/* units: the row size in U (uint4, uint32_t or uint16_t; it must divide every row address) */
template <typename U> __global__ void move_rows_kernel(RowMove map, size_t rows, int units) {
    size_t row = (size_t)blockIdx.x * MOVE_ROWS_PER_BLOCK + threadIdx.y;
    if (row >= rows) return;
    char *dst;
    const char *src;
    if (!map(row, dst, src)) return;
    U *d = reinterpret_cast<U *>(dst);
    const U *s = reinterpret_cast<const U *>(src);
    for (int u = threadIdx.x; u < units; u += 32) d[u] = s ? s[u] : U{};
}

#define FILL_ROWS 8   /* fill_grad_kernel's block: (32 columns, FILL_ROWS row groups) */

/* dfill[c] += sum over rows with ids_restore >= K of dout[row, c] */
template <typename T>
__global__ void fill_grad_kernel(float *dfill, const T *dout, const int32_t *ids, size_t rows, int K, int width) {
    __shared__ double part[FILL_ROWS][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    double acc = 0.0;
    if (c < width)
        for (size_t row = threadIdx.y; row < rows; row += FILL_ROWS)
            if (ids[row] >= K) acc += (double)to_f32(dout[row * width + c]);
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y != 0 || c >= width) return;
    double s = 0.0;
    for (int r = 0; r < FILL_ROWS; r++) s += part[r][threadIdx.x];
    dfill[c] += (float)s;
}

#endif
