/* The kernels of the fused ("flash") multi-head self-attention for 16-bit activations,
 * FlashAttention-2 style: the T x T scores never leave the chip. Tensor cores through
 * mma.sync.m16n8k16 (bf16 or fp16 inputs, fp32 accumulation); softmax and every sum in fp32.
 *
 * Layouts (as the batched-GEMM path, attention.cu): q, k, v are read in place from qkv [N, T, 3E]
 * (columns [q | k | v], head h at columns h*hd .. h*hd+hd-1 of each), out and dout are [N, T, E],
 * dqkv [N, T, 3E]; lse [N, H, T] (f32, natural log: P = exp(s - lse), s = q.k / sqrt(hd)).
 *
 * Head widths: any multiple of 8 up to 128, padded inside to HDP, the next multiple of 16 (the
 * k extent of one mma): 72 -> 80. Padding columns and rows past T are read as zeros; scores of keys
 * past T are masked to -inf (P = 0). T is any length >= 1.
 *
 * Kernels (4 warps each, 16 rows of the 16 x 8 mma tiles per warp; no atomics, so runs repeat bit
 * for bit):
 *   forward:       grid (query blocks of 64, H, N); each warp keeps 16 query rows in registers
 *                  and loops over key blocks of 64 (32 for head widths over 80), with the online
 *                  softmax (running max m and sum l per row, in log2 units); writes O / l and
 *                  lse = (m + log2 l) ln 2.
 *   rowdot:        D[n,h,t] = sum_d dO o O (the softmax-backward row term), one thread per row/head.
 *   backward dK dV: grid (key blocks of 64, H, N); each warp keeps 16 keys' K and V in registers
 *                  and loops over query blocks of 32: S^T = K Q^T, P^T = exp(S^T - lse),
 *                  dP^T = V dO^T, dV += P^T dO, dS^T = P^T (dP^T - D), dK += dS^T Q.
 *   backward dQ:   grid (query blocks of 64, H, N); each warp keeps 16 rows of Q and dO in
 *                  registers and loops over key blocks of 32: S, P, dP = dO V^T, dS, dQ += dS K.
 * The 1/sqrt(hd) of dS is applied once to dQ and dK at the end. The tiles a loop steps through
 * (K and V; Q, dO, lse and D) are double-buffered in shared memory, row-major as in global memory,
 * and filled by asynchronous copies (cp.async) while the block computes on the previous step's.
 *
 * mma.m16n8k16 fragments (PTX ISA; g = lane / 4, t = lane % 4; each 32-bit register holds two
 * consecutive 16-bit values, the lower column in the low half):
 *   A (16 x 16, row-major): a0 (row g, cols 2t, 2t+1), a1 (row g+8, same cols),
 *                           a2 (row g, cols 2t+8, 2t+9), a3 (row g+8, cols 2t+8, 2t+9)
 *   B (16 x 8, k x n):      b0 (k = 2t, 2t+1; n = g), b1 (k = 2t+8, 2t+9; n = g)
 *   C (16 x 8, f32):        c0, c1 (row g, cols 2t, 2t+1), c2, c3 (row g+8, cols 2t, 2t+1)
 * A B operand needs pairs consecutive in k: for B = K^T (k = head dim) they are consecutive in a
 * row-major K tile (two 32-bit loads, b_frag); for B = V (k = key) they are in one column of the
 * row-major V tile, and ldmatrix.trans gathers them (the fragments of two 8-column tiles per
 * instruction, mma_acc). So every tile is stored once, row-major, as it is in global memory.
 * The accumulator of two neighbouring 8-column tiles is exactly the A fragment of a 16-column
 * block (c0 c1 of tile 2i -> a0, c2 c3 -> a1, tile 2i+1 -> a2, a3), so P and dS go from one mma
 * to the next in registers.
 *
 * Shared-memory tiles have rows padded by 8 values (16 bytes): 32-bit fragment reads of 8 rows x
 * 4 threads, and ldmatrix's reads of 8 rows of 16 bytes, then hit 32 different banks.
 *
 * Device code only: flash_attention.cu includes it after tensor_core.cuh and launches the kernels;
 * tests/simt/ includes it after its CPU emulation of the CUDA built-ins and of tensor_core.cuh
 * (ex2, mma16816, ldmatrix_x4_trans, cp.async) and checks the kernels against a float64 attention
 * in CI. */
#ifndef MASKDIT_CUDA_FLASH_ATTENTION_KERNELS_CUH
#define MASKDIT_CUDA_FLASH_ATTENTION_KERNELS_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "device_math.cuh"

#define FLASH_THREADS 128   /* 4 warps */
#define FLASH_ROWS 64       /* query rows (forward, dQ) or keys (dK dV) of one block: 16 per warp */
#define FLASH_BWD_STEP 32   /* queries (dK dV) or keys (dQ) per step of the backward kernels */

constexpr float LOG2E = 1.4426950408889634f, LN2 = 0.6931471805599453f;

/* ---- building blocks ---- */

/* Two floats -> one register of two 16-bit values (lo in the low half), rounded to nearest. */
template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}
template <> __device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

/* Two consecutive 16-bit values (the first at an even index) as one register. */
__device__ __forceinline__ uint32_t pair(const uint16_t *p) { return *reinterpret_cast<const uint32_t *>(p); }

/* The B fragment (b0, b1) of 8 columns n (rows n0 .. n0+7 of `tile`) and 16 k values k0 .. k0+15,
 * from a tile whose rows are the n index and whose columns are the k index (row stride `stride`):
 * b0 = tile[n0+g][k0+2t, +1], b1 = tile[n0+g][k0+8+2t, +1]. */
__device__ __forceinline__ void b_frag(uint32_t &b0, uint32_t &b1, const uint16_t *tile, int stride, int n0, int k0,
                                       int g, int t) {
    const uint16_t *p = tile + (n0 + g) * stride + k0 + 2 * t;
    b0 = pair(p);
    b1 = pair(p + 8);
}

/* A fragments (KS k-steps of 16 columns) of rows r0 .. r0+15 of a head's view (element (r, d) at
 * v + r*ld + d), straight from global memory; rows >= T_ and columns >= hd are zeros. */
template <int KS>
__device__ __forceinline__ void load_a_frags(uint32_t (&f)[KS][4], const uint16_t *v, size_t ld, int r0, int T_,
                                             int hd, int g, int t) {
#pragma unroll
    for (int kk = 0; kk < KS; kk++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int row = r0 + g + (i % 2) * 8, col = kk * 16 + (i / 2) * 8 + 2 * t;   /* a0..a3 as in the header */
            f[kk][i] = row < T_ && col < hd ? pair(v + row * ld + col) : 0u;
        }
}

/* A fragment of one 16-column block from the accumulators of its two 8-column tiles. */
template <typename T>
__device__ __forceinline__ void acc_to_a(uint32_t (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
    a[0] = pack2<T>(lo[0], lo[1]);
    a[1] = pack2<T>(lo[2], lo[3]);
    a[2] = pack2<T>(hi[0], hi[1]);
    a[3] = pack2<T>(hi[2], hi[3]);
}

/* Issues the asynchronous copy of rows r0 .. r0+R-1 and head-dim columns 0 .. HDP-1 of a head's
 * view (element (r, d) at v + r*ld + d; rows >= T_ and columns >= hd as zeros) into shared
 * memory, row-major with row stride HDP+8, in 16-byte chunks (8 values; hd is a multiple of 8, so
 * a chunk is either all inside the head or all padding); consecutive threads copy consecutive
 * chunks. */
template <int R, int HDP>
__device__ __forceinline__ void load_tile(uint16_t *tile, const uint16_t *v, size_t ld, int r0, int T_, int hd) {
    constexpr int CH = HDP / 8;
    for (int c = threadIdx.x; c < R * CH; c += FLASH_THREADS) {
        int r = c / CH, ch = c % CH;
        bool in = r0 + r < T_ && ch * 8 < hd;
        cp_async_16(tile + r * (HDP + 8) + ch * 8, in ? v + (size_t)(r0 + r) * ld + ch * 8 : v, in);
    }
}

/* The same for R floats from index r0 of a vector of T_ (zeros past T_). */
template <int R> __device__ __forceinline__ void load_rows(float *dst, const float *src, int r0, int T_) {
    for (int i = threadIdx.x; i < R; i += FLASH_THREADS)
        cp_async_4(dst + i, src + (r0 + i < T_ ? r0 + i : 0), r0 + i < T_);
}

/* Before a double-buffered loop over tiles (load as for next_tiles): issues the first step's
 * copies into buffer 0, as a group of their own. */
template <typename Load> __device__ __forceinline__ void first_tiles(const Load &load) {
    load(0, 0);
    cp_async_commit();
}

/* One step of a double-buffered loop over tiles (load(buf, x) issues the copies of the tiles that
 * start at x into buffer buf): issues the next step's copies (start x_next, if < T_) into the
 * other buffer, then waits until this step's tiles (buffer buf) are in shared memory for every
 * thread, so that they load while this step computes. The loop ends each step with a
 * __syncthreads, before the step after refills buffer buf. */
template <typename Load> __device__ __forceinline__ void next_tiles(const Load &load, int buf, int x_next, int T_) {
    if (x_next < T_) load(buf ^ 1, x_next);
    cp_async_commit();   /* an empty group on the last step keeps wait<1> counting right */
    cp_async_wait<1>();
    __syncthreads();
}

/* Stores a 16 x HDP accumulator (rows r0 .. r0+15, times mul) into rows < T_, columns < hd of a
 * head's view (element (r, d) at dst + r*ld + d). */
template <typename T, int NT>
__device__ __forceinline__ void store_acc(T *dst, size_t ld, const float (&acc)[NT][4], const float (&mul)[2], int r0,
                                          int T_, int hd, int g, int t) {
#pragma unroll
    for (int half = 0; half < 2; half++) {
        int row = r0 + g + 8 * half;
        if (row >= T_) continue;
#pragma unroll
        for (int j = 0; j < NT; j++)
            if (j * 8 < hd)
                *reinterpret_cast<uint32_t *>(dst + row * ld + j * 8 + 2 * t) =
                    pack2<T>(acc[j][2 * half] * mul[half], acc[j][2 * half + 1] * mul[half]);
    }
}

template <int NT> __device__ __forceinline__ void zero_acc(float (&a)[NT][4]) {
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
        for (int i = 0; i < 4; i++) a[j][i] = 0.0f;
}

/* C (+)= A B over KS k-steps: A from registers, B from a tile as in b_frag; NB 8-column tiles. */
template <typename T, int KS, int NB>
__device__ __forceinline__ void mma_rows(float (&c)[NB][4], const uint32_t (&a)[KS][4], const uint16_t *tile,
                                         int stride, int g, int t) {
#pragma unroll
    for (int kk = 0; kk < KS; kk++)
#pragma unroll
        for (int j = 0; j < NB; j++) {
            uint32_t b0, b1;
            b_frag(b0, b1, tile, stride, j * 8, kk * 16, g, t);
            mma16816<T>(c[j], a[kk], b0, b1);
        }
}

/* C += A B where A is the accumulator of a previous mma (16 x 8*NA, converted block by block) and
 * B is a row-major tile (rows = the k index, columns = the n index of C; NB even). One
 * ldmatrix.trans per k-step and pair of 8-column tiles j, j+1: lane 8m + i gives row i of matrix
 * m = (k rows 8(m % 2) .. +7, n columns of tile j + m / 2), and receives b0, b1 of tile j and
 * b0, b1 of tile j+1. */
template <typename T, int NA, int NB>
__device__ __forceinline__ void mma_acc(float (&c)[NB][4], const float (&acc)[NA][4], const uint16_t *tile,
                                        int stride, int g, int t) {
    const int lane = 4 * g + t, m = lane / 8, i = lane % 8;
    const uint16_t *row = tile + ((m % 2) * 8 + i) * stride + (m / 2) * 8;
#pragma unroll
    for (int kk = 0; kk < NA / 2; kk++) {
        uint32_t a[4];
        acc_to_a<T>(a, acc[2 * kk], acc[2 * kk + 1]);
#pragma unroll
        for (int j = 0; j < NB; j += 2) {
            uint32_t b[4];
            ldmatrix_x4_trans(b, row + kk * 16 * stride + j * 8);
            mma16816<T>(c[j], a, b[0], b[1]);
            mma16816<T>(c[j + 1], a, b[2], b[3]);
        }
    }
}

/* What a thread works on: the (sample, head) of its block (blockIdx.z, blockIdx.y), i.e. the q, k,
 * v columns of qkv and dqkv (element offset `off`, row stride ld = 3E), the dO (dout, if given)
 * and out columns (offset `off_e`, stride E) and the rows of lse and D (from index `row0`); the
 * 16 rows of its warp from r0 (queries, or keys in the dK dV kernel); its lane's g and t. */
struct HeadView {
    const uint16_t *q, *k, *v, *dO;
    size_t ld, off, off_e, row0;
    int E, r0, g, t;
};

__device__ __forceinline__ HeadView head_view(const void *qkv, const void *dout, int T_, int H, int hd) {
    HeadView hv;
    const int h = blockIdx.y, n = blockIdx.z, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    hv.r0 = blockIdx.x * FLASH_ROWS + warp * 16;
    hv.g = lane / 4;
    hv.t = lane % 4;
    hv.E = H * hd;
    hv.ld = 3 * (size_t)hv.E;
    hv.off = (size_t)n * T_ * hv.ld + (size_t)h * hd;
    hv.off_e = (size_t)n * T_ * hv.E + (size_t)h * hd;
    hv.row0 = ((size_t)n * H + h) * T_;
    hv.q = reinterpret_cast<const uint16_t *>(qkv) + hv.off;
    hv.k = hv.q + hv.E;
    hv.v = hv.q + 2 * hv.E;
    hv.dO = dout ? reinterpret_cast<const uint16_t *>(dout) + hv.off_e : nullptr;
    return hv;
}

/* Issues the copies of the K and V tiles of keys k0 .. k0+R-1 of a thread's head into k and v. */
template <int R, int HDP>
__device__ __forceinline__ void load_kv_tiles(uint16_t *k, uint16_t *v, const HeadView &hv, int k0, int T_, int hd) {
    load_tile<R, HDP>(k, hv.k, hv.ld, k0, T_, hd);
    load_tile<R, HDP>(v, hv.v, hv.ld, k0, T_, hd);
}

/* ---- forward ---- */

template <typename T, int HDP>
__global__ void __launch_bounds__(FLASH_THREADS)
    flash_forward_kernel(T *out, float *lse, const T *qkv, int T_, int H, int hd, float scale_log2) {
    /* keys per step: 64, or 32 above head width 80, so that two buffers of K and V tiles fit the
     * 48 KB of static shared memory */
    constexpr int KS = HDP / 16, NT = HDP / 8, BK = HDP <= 80 ? 64 : 32, NS = BK / 8, SK = HDP + 8;
    __shared__ __align__(16) uint16_t k_rm[2][BK * SK];   /* K tiles [key][d] */
    __shared__ __align__(16) uint16_t v_rm[2][BK * SK];   /* V tiles [key][d] */
    const HeadView hv = head_view(qkv, nullptr, T_, H, hd);
    const int g = hv.g, t = hv.t, r0 = hv.r0;   /* this thread's rows r0+g (i = 0, 1) and r0+g+8 (i = 2, 3) */

    uint32_t qf[KS][4];
    load_a_frags<KS>(qf, hv.q, hv.ld, r0, T_, hd, g, t);
    float o[NT][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};   /* l: this thread's columns only */
    zero_acc<NT>(o);
    auto load = [&](int buf, int k0) { load_kv_tiles<BK, HDP>(k_rm[buf], v_rm[buf], hv, k0, T_, hd); };
    first_tiles(load);
    for (int k0 = 0, buf = 0; k0 < T_; k0 += BK, buf ^= 1) {
        next_tiles(load, buf, k0 + BK, T_);
        float s[NS][4];
        zero_acc<NS>(s);
        mma_rows<T, KS, NS>(s, qf, k_rm[buf], SK, g, t);   /* S = Q K^T */
        /* scores in log2 units; keys past T masked (key k0 is valid, so every row max is finite) */
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int j = 0; j < NS; j++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                int key = k0 + j * 8 + 2 * t + i % 2;
                s[j][i] = key < T_ ? s[j][i] * scale_log2 : -INFINITY;
                mx[i / 2] = fmaxf(mx[i / 2], s[j][i]);
            }
#pragma unroll
        for (int r = 0; r < 2; r++) {   /* the 4 threads of a quad hold one row's 8 columns of a tile */
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            float alpha = ex2(m[r] - mx[r]);   /* 0 on the first block (m = -inf) */
            m[r] = mx[r];
            l[r] *= alpha;
#pragma unroll
            for (int j = 0; j < NT; j++) {
                o[j][2 * r] *= alpha;
                o[j][2 * r + 1] *= alpha;
            }
        }
#pragma unroll
        for (int j = 0; j < NS; j++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                s[j][i] = ex2(s[j][i] - m[i / 2]);
                l[i / 2] += s[j][i];
            }
        mma_acc<T, NS, NT>(o, s, v_rm[buf], SK, g, t);   /* O += P V */
        __syncthreads();   /* every warp is done with tile buf */
    }
    float inv[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
        inv[r] = 1.0f / l[r];
        int row = r0 + g + 8 * r;
        if (t == 0 && row < T_) lse[hv.row0 + row] = (m[r] + log2f(l[r])) * LN2;
    }
    store_acc<T, NT>(out + hv.off_e, hv.E, o, inv, r0, T_, hd, g, t);
}

/* ---- backward ---- */

/* D[n,h,t] = sum_d dO[n,t,h*hd+d] O[n,t,h*hd+d], one thread per (token, head). */
template <typename T>
__global__ void flash_rowdot_kernel(float *D, const T *dout, const T *out, int N, int T_, int H, int hd) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)N * T_ * H) return;
    size_t token = i / H;
    int h = (int)(i % H);
    const T *a = dout + token * H * hd + (size_t)h * hd, *b = out + token * H * hd + (size_t)h * hd;
    float s = 0.0f;
    for (int d = 0; d < hd; d += 8) {
        float x[8], y[8];
        load_f32<T, 8>(a + d, x);
        load_f32<T, 8>(b + d, y);
#pragma unroll
        for (int e = 0; e < 8; e++) s += x[e] * y[e];
    }
    size_t n = token / T_, tt = token % T_;
    D[(n * H + h) * T_ + tt] = s;
}

/* The arguments of both backward kernels (D: rowsum(dO o O), [N, H, T]). */
template <typename T> struct FlashBackward {
    T *dqkv;
    const T *qkv, *dout;
    const float *lse, *D;
    int T_, H, hd;
    float scale, scale_log2;
};

/* The start of both backward kernels: a thread's head view, and the A fragments of its warp's 16
 * rows (from r0) of the two operands it keeps in registers: K and V (dK dV kernel, KEYS) or Q and
 * dO (dQ kernel). */
template <bool KEYS, typename T, int KS>
__device__ __forceinline__ HeadView backward_start(const FlashBackward<T> &a, uint32_t (&f0)[KS][4],
                                                   uint32_t (&f1)[KS][4]) {
    const HeadView hv = head_view(a.qkv, a.dout, a.T_, a.H, a.hd);
    load_a_frags<KS>(f0, KEYS ? hv.k : hv.q, hv.ld, hv.r0, a.T_, a.hd, hv.g, hv.t);
    load_a_frags<KS>(f1, KEYS ? hv.v : hv.dO, KEYS ? hv.ld : (size_t)hv.E, hv.r0, a.T_, a.hd, hv.g, hv.t);
    return hv;
}

template <typename T, int HDP>
__global__ void __launch_bounds__(FLASH_THREADS) flash_backward_kv_kernel(const FlashBackward<T> a) {
    constexpr int KS = HDP / 16, NT = HDP / 8, BQ = FLASH_BWD_STEP, NS = BQ / 8, SR = HDP + 8;
    const int T_ = a.T_, hd = a.hd;
    __shared__ __align__(16) uint16_t q_rm[2][BQ * SR];    /* Q tiles [query][d] */
    __shared__ __align__(16) uint16_t do_rm[2][BQ * SR];   /* dO tiles [query][d] */
    __shared__ __align__(16) float lse_s[2][BQ], d_s[2][BQ];   /* lse and D of the tiles' queries */
    uint32_t kf[KS][4], vf[KS][4];
    const HeadView hv = backward_start<true>(a, kf, vf);
    const int g = hv.g, t = hv.t, r0 = hv.r0;   /* r0: this warp's keys */
    const float *lse_h = a.lse + hv.row0, *D_h = a.D + hv.row0;
    float dk[NT][4], dv[NT][4];
    zero_acc<NT>(dk);
    zero_acc<NT>(dv);
    auto load = [&](int buf, int q0) {
        load_tile<BQ, HDP>(q_rm[buf], hv.q, hv.ld, q0, T_, hd);
        load_tile<BQ, HDP>(do_rm[buf], hv.dO, hv.E, q0, T_, hd);
        load_rows<BQ>(lse_s[buf], lse_h, q0, T_);
        load_rows<BQ>(d_s[buf], D_h, q0, T_);
    };
    first_tiles(load);
    for (int q0 = 0, buf = 0; q0 < T_; q0 += BQ, buf ^= 1) {
        next_tiles(load, buf, q0 + BQ, T_);
        float p[NS][4], dp[NS][4];   /* P^T and dP^T: rows = this warp's keys, columns = the tile's queries */
        zero_acc<NS>(p);
        zero_acc<NS>(dp);
        mma_rows<T, KS, NS>(p, kf, q_rm[buf], SR, g, t);     /* S^T = K Q^T */
        mma_rows<T, KS, NS>(dp, vf, do_rm[buf], SR, g, t);   /* dP^T = V dO^T */
#pragma unroll
        for (int j = 0; j < NS; j++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                int c = j * 8 + 2 * t + i % 2;   /* query q0 + c */
                p[j][i] = q0 + c < T_ ? ex2(p[j][i] * a.scale_log2 - lse_s[buf][c] * LOG2E) : 0.0f;
                dp[j][i] = p[j][i] * (dp[j][i] - d_s[buf][c]);   /* dS^T (without 1/sqrt(hd)) */
            }
        mma_acc<T, NS, NT>(dv, p, do_rm[buf], SR, g, t);    /* dV += P^T dO */
        mma_acc<T, NS, NT>(dk, dp, q_rm[buf], SR, g, t);    /* dK += dS^T Q */
        __syncthreads();   /* every warp is done with tile buf */
    }
    const float one[2] = {1.0f, 1.0f}, sc[2] = {a.scale, a.scale};
    store_acc<T, NT>(a.dqkv + hv.off + hv.E, hv.ld, dk, sc, r0, T_, hd, g, t);
    store_acc<T, NT>(a.dqkv + hv.off + 2 * hv.E, hv.ld, dv, one, r0, T_, hd, g, t);
}

template <typename T, int HDP>
__global__ void __launch_bounds__(FLASH_THREADS) flash_backward_q_kernel(const FlashBackward<T> a) {
    constexpr int KS = HDP / 16, NT = HDP / 8, BK = FLASH_BWD_STEP, NS = BK / 8, SR = HDP + 8;
    const int T_ = a.T_, hd = a.hd;
    __shared__ __align__(16) uint16_t k_rm[2][BK * SR];   /* K tiles [key][d] */
    __shared__ __align__(16) uint16_t v_rm[2][BK * SR];   /* V tiles [key][d] */
    uint32_t qf[KS][4], of[KS][4];
    const HeadView hv = backward_start<false>(a, qf, of);
    const int g = hv.g, t = hv.t, r0 = hv.r0;   /* r0: this warp's queries */
    const float *lse_h = a.lse + hv.row0, *D_h = a.D + hv.row0;
    float lse2[2], Dr[2];   /* rows r0+g and r0+g+8 */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int row = r0 + g + 8 * r;
        lse2[r] = row < T_ ? lse_h[row] * LOG2E : 0.0f;
        Dr[r] = row < T_ ? D_h[row] : 0.0f;
    }
    float dq[NT][4];
    zero_acc<NT>(dq);
    auto load = [&](int buf, int k0) { load_kv_tiles<BK, HDP>(k_rm[buf], v_rm[buf], hv, k0, T_, hd); };
    first_tiles(load);
    for (int k0 = 0, buf = 0; k0 < T_; k0 += BK, buf ^= 1) {
        next_tiles(load, buf, k0 + BK, T_);
        float p[NS][4], ds[NS][4];   /* rows = this warp's queries, columns = the tile's keys */
        zero_acc<NS>(p);
        zero_acc<NS>(ds);
        mma_rows<T, KS, NS>(p, qf, k_rm[buf], SR, g, t);    /* S = Q K^T */
        mma_rows<T, KS, NS>(ds, of, v_rm[buf], SR, g, t);   /* dP = dO V^T */
#pragma unroll
        for (int j = 0; j < NS; j++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                int key = k0 + j * 8 + 2 * t + i % 2;
                p[j][i] = key < T_ ? ex2(p[j][i] * a.scale_log2 - lse2[i / 2]) : 0.0f;
                ds[j][i] = p[j][i] * (ds[j][i] - Dr[i / 2]);   /* dS (without 1/sqrt(hd)) */
            }
        mma_acc<T, NS, NT>(dq, ds, k_rm[buf], SR, g, t);   /* dQ += dS K */
        __syncthreads();   /* every warp is done with tile buf */
    }
    const float sc[2] = {a.scale, a.scale};
    store_acc<T, NT>(a.dqkv + hv.off, hv.ld, dq, sc, r0, T_, hd, g, t);
}

#endif
