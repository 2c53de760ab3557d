/* The CPU backend's ops, one group per file; backend_cpu_create (cpu_backend.c) puts them into the
 * Backend table. Every "act" pointer is float (the CPU act dtype is fp32), so the ops cast the
 * void pointers of the interface to float. The semantics are those documented in
 * src/backend/backend.h; comments here only say how the CPU computes them.
 *
 * Threading: backend_cpu_create sets the OpenMP thread count once; the ops parallelise with
 * OpenMP over rows, samples or (sample, head) pairs, with static schedules, so the results
 * depend only on the thread count, never on timing. OpenBLAS (OpenMP build) runs its SGEMMs
 * multi-threaded when called outside a parallel region and single-threaded inside one. No op
 * allocates memory, except conv2d growing its workspace on the first call of a larger shape. */
#ifndef MASKDIT_CPU_OPS_H
#define MASKDIT_CPU_OPS_H

#include "../backend/backend.h"

typedef struct {
    int threads;        /* OpenMP threads every parallel region uses */
    size_t in_use;      /* bytes allocated now ... */
    size_t peak;        /* ... and at the high-water mark */
    float *workspace;   /* conv2d's patches (cpu_conv.c), grown on first use of a larger shape */
    size_t workspace_count;
} CpuState;

static inline CpuState *cpu_state(Backend *b) { return (CpuState *)b->impl; }

/* cpu_<name> for every op of backend_ops.h, one group per file: cpu_memory.c (memory, sync,
 * device description), cpu_cast.c, cpu_dense.c, cpu_elementwise.c, cpu_adaln.c, cpu_attention.c,
 * cpu_tokens.c, cpu_loss.c, cpu_optimizer.c, cpu_conv.c, cpu_pool.c, cpu_groupnorm.c, cpu_layout.c (upsampling,
 * transpose); cpu_backend.c (destroy). */
#define CPU_OP_DECL(ret, name, params) ret cpu_##name params;
BACKEND_OPS(CPU_OP_DECL)
#undef CPU_OP_DECL

/* cpu_dense.c: dst[j] += sum over the rows i < M of src[i, j] (src is M x N), accumulated in double;
 * with row_ids != NULL only the rows with row_ids[i] >= min_id count. Columns are split into blocks
 * across threads, so the summation order is fixed. */
void cpu_add_column_sums(Backend *b, float *dst, const float *src, long M, int N, const int32_t *row_ids, int min_id);

#endif
