/* CUDA kernels on the CPU, for tests: each GPU thread of a block is a fiber (ucontext), blocks run
 * one after another, and the built-ins a kernel synchronises through (__syncthreads, __syncwarp,
 * warp shuffles, the tensor-core instructions of cuda/tensor_core.cuh) are collective operations
 * that wait for every thread of the block or warp. The schedule is as unfair as a GPU may be: the
 * lowest-numbered thread that can run always runs (or the highest-numbered: simt::schedule), so
 * warp 0 gets as far ahead of the others as their barriers let it, and a missing __syncthreads
 * shows as a warp reading data that another has already replaced. The tensor-core instructions
 * follow the fragment layouts of the PTX ISA, with fp32 accumulation; the GPU's own results for
 * the same kernels are compared with the CPU backend by tests/gpu/check_ops.c.
 *
 * What it is for: catching index, fragment and synchronisation mistakes in kernels in CI, where
 * there is no GPU. What it is not: a model of timing, of memory spaces (a __shared__ array is a
 * static, shared by the block's fibers), or of instructions it does not emulate.
 *
 *   simt::launch(grid, block, [&] { my_kernel<float>(args...); });
 * Include it before the kernels: it defines the CUDA names the kernels use. */
#ifndef MASKDIT_TESTS_SIMT_H
#define MASKDIT_TESTS_SIMT_H

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <algorithm>
#include <functional>
#include <vector>

#undef __shared__
#define __shared__ static   /* blocks run one at a time, so a static is the block's shared memory */
#define __launch_bounds__(...)

struct SimtDim {
    unsigned x, y, z;
};

namespace simt {

enum { WARP = 32, SLOT_BYTES = 64 };

/* An asynchronous copy (cp_async_*) not yet landed (see copy_timing). */
struct Copy {
    void *dst;
    const void *src;
    int bytes;
    bool valid;
};

struct Barrier {   /* generation counting: the last arrival opens it */
    unsigned arrived = 0, generation = 0;
};

struct Fiber {
    ucontext_t ctx;
    SimtDim tid;
    bool done;
    const Barrier *waits_at;   /* runnable again when its generation differs from waits_gen */
    unsigned waits_gen;
    std::vector<Copy> open;                 /* issued since the last commit */
    std::vector<std::vector<Copy>> groups;  /* committed, oldest first */
};

struct Block {
    SimtDim idx, dim, grid;
    std::vector<Fiber> fibers;
    std::vector<std::vector<char>> stacks;
    ucontext_t scheduler;
    int current = 0;
    const std::function<void()> *body = nullptr;
    Barrier block_barrier;
    std::vector<Barrier> warp_barrier;
    std::vector<unsigned char> slots;   /* warp exchange: SLOT_BYTES per thread */
};

inline Block &block() {
    static Block b;
    return b;
}

/* The fiber (GPU thread) running now. */
inline Fiber &self() { return block().fibers[block().current]; }

inline void yield() {
    if (swapcontext(&self().ctx, &block().scheduler) != 0) {
        perror("simt: swapcontext");
        abort();
    }
}

inline void wait(Barrier &bar, unsigned count) {
    if (++bar.arrived == count) {
        bar.arrived = 0;
        bar.generation++;
        return;
    }
    Fiber &f = self();
    f.waits_at = &bar;
    f.waits_gen = bar.generation;
    yield();
}

/* Lanes of warp w (fewer in a last, partial warp). */
inline unsigned warp_lanes(const Block &b, int w) {
    return (unsigned)std::min<size_t>(WARP, b.fibers.size() - (size_t)w * WARP);
}

/* One warp-wide exchange: every lane hands in `mine`, then computes its result from all lanes'
 * values (all[lane]), as the warp's instructions do in one step. */
template <typename In, typename F> auto exchange(const In &mine, F result) {
    static_assert(sizeof(In) <= SLOT_BYTES, "simt: exchange value too large");
    Block &b = block();
    int r = b.current, w = r / WARP;
    memcpy(&b.slots[(size_t)r * SLOT_BYTES], &mine, sizeof mine);
    unsigned lanes = warp_lanes(b, w);
    wait(b.warp_barrier[w], lanes);
    In all[WARP];
    for (unsigned l = 0; l < lanes; l++) memcpy(&all[l], &b.slots[((size_t)w * WARP + l) * SLOT_BYTES], sizeof(In));
    auto out = result(all, r % WARP);
    wait(b.warp_barrier[w], lanes);   /* no lane refills its slot before every lane has read */
    return out;
}

/* Runs fiber i until it waits or ends (a function of its own: nothing live across the switch). */
inline void resume(Block &b, size_t i) {
    b.current = (int)i;
    if (swapcontext(&b.scheduler, &b.fibers[i].ctx) != 0) {
        perror("simt: swapcontext");
        abort();
    }
}

inline void fiber_main() {
    (*block().body)();
    self().done = true;
}

inline bool runnable(const Fiber &f) { return !f.done && (!f.waits_at || f.waits_at->generation != f.waits_gen); }

/* Which runnable thread runs: the lowest-numbered (warp 0 and lane 0 ahead of the others) or the
 * highest-numbered (the last lanes ahead), chosen by the test. A hazard between lanes shows
 * under the order in which the writing lane runs before the reading one. */
enum Schedule { LOWEST_FIRST, HIGHEST_FIRST };
inline Schedule schedule = LOWEST_FIRST;

/* Makes fiber i (thread index i of the block) ready to run the body from its start. */
inline void start(Block &b, size_t i) {
    Fiber &f = b.fibers[i];
    const SimtDim &dim = b.dim;
    f.done = false;
    f.waits_at = nullptr;
    f.open.clear();
    f.groups.clear();
    f.tid = SimtDim{(unsigned)(i % dim.x), (unsigned)(i / dim.x % dim.y), (unsigned)(i / dim.x / dim.y)};
    if (getcontext(&f.ctx) != 0) {
        perror("simt: getcontext");
        abort();
    }
    f.ctx.uc_stack.ss_sp = b.stacks[i].data();
    f.ctx.uc_stack.ss_size = b.stacks[i].size();
    f.ctx.uc_link = &b.scheduler;
    makecontext(&f.ctx, fiber_main, 0);
}

/* Runs body once per thread of every block of the grid. */
inline void launch(SimtDim grid, SimtDim dim, const std::function<void()> &body) {
    Block &b = block();
    size_t n = (size_t)dim.x * dim.y * dim.z;
    b.dim = dim;
    b.grid = grid;
    b.body = &body;
    b.fibers.assign(n, Fiber{});
    b.stacks.assign(n, std::vector<char>(64 * 1024));
    b.slots.assign(n * SLOT_BYTES, 0);
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                b.idx = SimtDim{x, y, z};
                b.block_barrier = Barrier{};
                b.warp_barrier.assign((n + WARP - 1) / WARP, Barrier{});
                for (size_t i = 0; i < n; i++) start(b, i);
                for (;;) {
                    size_t k = 0, live = 0;
                    auto index = [&](size_t pos) { return schedule == LOWEST_FIRST ? pos : n - 1 - pos; };
                    while (k < n && !runnable(b.fibers[index(k)])) live += !b.fibers[index(k++)].done;
                    if (k < n) {
                        b.fibers[index(k)].waits_at = nullptr;
                        resume(b, index(k));
                        continue;
                    }
                    if (live == 0) break;
                    fprintf(stderr, "simt: block (%u,%u,%u) deadlocked: %zu threads wait at barriers that the "
                                    "others never reach\n", x, y, z, live);
                    abort();
                }
            }
}

/* The GPU faults on an access that is not aligned to its size; so does the emulation. */
inline void require_aligned(const void *p, size_t bytes, const char *what) {
    if ((uintptr_t)p % bytes != 0) {
        fprintf(stderr, "simt: %s at %p is not aligned to %zu bytes (thread %d of block (%u,%u,%u))\n", what, p, bytes,
                block().current, block().idx.x, block().idx.y, block().idx.z);
        abort();
    }
}

/* fp32 value of a 16-bit element (bits) */
template <typename T> float to_float(uint16_t bits);
template <> inline float to_float<__nv_bfloat16>(uint16_t bits) {
    __nv_bfloat16_raw r;
    r.x = bits;
    return __bfloat162float(__nv_bfloat16(r));
}
template <> inline float to_float<__half>(uint16_t bits) {
    __half_raw r;
    r.x = bits;
    return __half2float(__half(r));
}

}   // namespace simt

#define threadIdx (simt::self().tid)
#define blockIdx (simt::block().idx)
#define blockDim (simt::block().dim)
#define gridDim (simt::block().grid)

inline void __syncthreads() { simt::wait(simt::block().block_barrier, (unsigned)simt::block().fibers.size()); }

/* The whole warp only (every kernel here syncs full warps). */
inline void __syncwarp(unsigned mask = 0xffffffffu) {
    if (mask != 0xffffffffu) {
        fprintf(stderr, "simt: __syncwarp(0x%x): only the full mask is emulated\n", mask);
        abort();
    }
    simt::Block &b = simt::block();
    int w = b.current / simt::WARP;
    simt::wait(b.warp_barrier[w], simt::warp_lanes(b, w));
}

template <typename V> inline V __shfl_xor_sync(unsigned, V v, int lane_mask) {
    return simt::exchange(v, [&](const V *all, int lane) { return all[lane ^ lane_mask]; });
}

/* ---- cuda/tensor_core.cuh ---- */

inline float ex2(float x) { return exp2f(x); }

/* m16n8k16 with fp32 accumulation: lane g*4+t holds A rows g, g+8 and B column g (PTX ISA). */
template <typename T> inline void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    struct Frag {
        uint32_t a[4], b[2];
    } mine = {{a[0], a[1], a[2], a[3]}, {b0, b1}};
    auto value = [](uint32_t reg, int k) { return simt::to_float<T>((uint16_t)(reg >> (16 * (k % 2)))); };
    struct Out {
        float d[4];
    } out = simt::exchange(mine, [&](const Frag *all, int lane) {
        Out o;
        int g = lane / 4, t = lane % 4;
        for (int i = 0; i < 4; i++) {
            int row = g + 8 * (i / 2), col = 2 * t + i % 2;
            float s = d[i];
            for (int k = 0; k < 16; k++) {
                /* A(row, k): lane (row % 8)*4 + (k % 8)/2, register (row / 8) + 2*(k / 8);
                 * B(k, col): lane col*4 + (k % 8)/2, register k / 8 */
                const Frag &fa = all[(row % 8) * 4 + (k % 8) / 2], &fb = all[col * 4 + (k % 8) / 2];
                s += value(fa.a[row / 8 + 2 * (k / 8)], k) * value(fb.b[k / 8], k);
            }
            o.d[i] = s;
        }
        return o;
    });
    for (int i = 0; i < 4; i++) d[i] = out.d[i];
}

inline void ldmatrix_x4_trans(uint32_t (&r)[4], const uint16_t *row) {
    simt::require_aligned(row, 16, "ldmatrix row");
    struct Out {
        uint32_t r[4];
    } out = simt::exchange(row, [](const uint16_t *const *rows, int lane) {
        Out o;
        int g = lane / 4, t = lane % 4;
        for (int m = 0; m < 4; m++)
            o.r[m] = (uint32_t)rows[8 * m + 2 * t][g] | (uint32_t)rows[8 * m + 2 * t + 1][g] << 16;
        return o;
    });
    for (int m = 0; m < 4; m++) r[m] = out.r[m];
}

/* Asynchronous copies land at one of the two extremes the GPU allows, chosen by the test
 * (simt::copy_timing): when their thread waits for them, so that a kernel reading a tile before
 * its wait (or before the __syncthreads after every thread's wait) reads stale data; or at once,
 * so that a kernel refilling a buffer that another warp still reads (a __syncthreads missing
 * before the refill) changes that warp's data. */
namespace simt {
enum CopyTiming { COPY_AT_WAIT, COPY_AT_ISSUE };
inline CopyTiming copy_timing = COPY_AT_WAIT;
inline void land(const Copy &c) {
    if (c.valid) memcpy(c.dst, c.src, (size_t)c.bytes);
    else memset(c.dst, 0, (size_t)c.bytes);
}
}   // namespace simt

inline void cp_async(void *dst, const void *src, int bytes, bool valid) {
    simt::require_aligned(dst, (size_t)bytes, "cp.async destination");
    simt::require_aligned(src, (size_t)bytes, "cp.async source");
    const simt::Copy c = {dst, src, bytes, valid};
    if (simt::copy_timing == simt::COPY_AT_ISSUE) simt::land(c);
    else simt::self().open.push_back(c);
}
inline void cp_async_16(void *dst, const void *src, bool valid) { cp_async(dst, src, 16, valid); }
inline void cp_async_4(void *dst, const void *src, bool valid) { cp_async(dst, src, 4, valid); }
inline void cp_async_commit() {
    simt::Fiber &f = simt::self();
    f.groups.push_back(f.open);
    f.open.clear();
}
template <int N> inline void cp_async_wait() {
    simt::Fiber &f = simt::self();
    while (f.groups.size() > (size_t)N) {
        for (const simt::Copy &c : f.groups.front()) simt::land(c);
        f.groups.erase(f.groups.begin());
    }
}

#endif
