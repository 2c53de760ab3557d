/* Host memory for the CPU backend: 64-byte aligned blocks (cache lines, AVX-512 loads) with the
 * allocation high-water mark tracked for peak_bytes. Every block starts with a 64-byte header
 * holding its size, so that free() keeps the in-use count exact. alloc is only called while
 * setting up (model, optimizer) or by an op growing its workspace on the calling thread, never
 * inside a parallel region, so the counters need no locking. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../util/common.h"
#include "cpu_ops.h"

#define CPU_ALIGN 64

void *cpu_alloc(Backend *b, size_t bytes, const char *what) {
    CpuState *st = cpu_state(b);
    void *base = NULL;
    if (bytes > SIZE_MAX - CPU_ALIGN || posix_memalign(&base, CPU_ALIGN, bytes + CPU_ALIGN) != 0) {
        char human[32];
        FATAL("out of memory allocating %s (%zu bytes) for %s", format_bytes((double)bytes, human, sizeof human),
              bytes, what);
    }
    *(size_t *)base = bytes;
    st->in_use += bytes;
    if (st->in_use > st->peak) st->peak = st->in_use;
    return (char *)base + CPU_ALIGN;
}

void cpu_free(Backend *b, void *p) {
    if (!p) return;
    char *base = (char *)p - CPU_ALIGN;
    cpu_state(b)->in_use -= *(size_t *)base;
    free(base);
}

void cpu_to_device(Backend *b, void *dst, const void *host_src, size_t bytes) { memcpy(dst, host_src, bytes); }

void cpu_to_host(Backend *b, void *host_dst, const void *src, size_t bytes) { memcpy(host_dst, src, bytes); }

/* Copies and fills of activation-sized buffers (megabytes) are split over the threads: one core
 * alone does not saturate the memory bandwidth. Smaller ones are not worth waking the threads. */
#define PARALLEL_MIN_BYTES (1u << 20)

void cpu_copy(Backend *b, void *dst, const void *src, size_t bytes) {
    const char *d = dst, *s = src;
    const int overlap = d < s + bytes && s < d + bytes;
    if (bytes < PARALLEL_MIN_BYTES || overlap) {
        memmove(dst, src, bytes);   /* small, or overlapping: one ordered move */
        return;
    }
#pragma omp parallel num_threads(cpu_state(b)->threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = bytes * t / nt, hi = bytes * (t + 1) / nt;
        memcpy((char *)dst + lo, (const char *)src + lo, hi - lo);
    }
}

void cpu_zero(Backend *b, void *p, size_t bytes) {
    if (bytes < PARALLEL_MIN_BYTES) {
        memset(p, 0, bytes);
        return;
    }
#pragma omp parallel num_threads(cpu_state(b)->threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = bytes * t / nt, hi = bytes * (t + 1) / nt;
        memset((char *)p + lo, 0, hi - lo);
    }
}

/* Ops run synchronously on the calling thread: there is nothing to wait for. */
void cpu_sync(Backend *b) {}

size_t cpu_peak_bytes(Backend *b) { return cpu_state(b)->peak; }

size_t cpu_peak_memory(Backend *b) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;   /* Linux reports kilobytes */
}

/* What can be allocated without swapping; unlimited if unknown. */
size_t cpu_available_bytes(Backend *b) { return host_available_bytes(); }

const char *cpu_device_name(Backend *b) { return "the CPU"; }

const char *cpu_device_uuid(Backend *b) { return ""; }
