/* The CPU backend's ops, one group per file; backend_cpu_create (cpu_backend.c) puts them into the
 * Backend table. Every "act" pointer is float (the CPU act dtype is fp32), so the ops cast the
 * void pointers of the interface to float. The semantics are those documented in
 * src/backend/backend.h; comments here only say how the CPU computes them.
 *
 * Threading: backend_cpu_create sets the OpenMP thread count once; the ops parallelise with
 * OpenMP over rows, samples or (sample, head) pairs, with static schedules, so the results
 * depend only on the thread count, never on timing. OpenBLAS (OpenMP build) runs its SGEMMs
 * multi-threaded when called outside a parallel region and single-threaded inside one. No op
 * allocates memory. */
#ifndef MASKDIT_CPU_OPS_H
#define MASKDIT_CPU_OPS_H

#include "../backend/backend.h"

typedef struct {
    int threads;        /* OpenMP threads every parallel region uses */
    size_t in_use;      /* bytes allocated now ... */
    size_t peak;        /* ... and at the high-water mark */
} CpuState;

static inline CpuState *cpu_state(Backend *b) { return (CpuState *)b->impl; }

/* cpu_memory.c */
void *cpu_alloc(Backend *b, size_t bytes, const char *what);
void cpu_free(Backend *b, void *p);
void cpu_to_device(Backend *b, void *dst, const void *host_src, size_t bytes);
void cpu_to_host(Backend *b, void *host_dst, const void *src, size_t bytes);
void cpu_copy(Backend *b, void *dst, const void *src, size_t bytes);
void cpu_zero(Backend *b, void *p, size_t bytes);
void cpu_sync(Backend *b);
size_t cpu_peak_bytes(Backend *b);
size_t cpu_available_bytes(Backend *b);
const char *cpu_device_name(Backend *b);
const char *cpu_device_uuid(Backend *b);

/* cpu_cast.c */
void cpu_cast(Backend *b, void *dst, DType dst_t, const void *src, DType src_t, size_t n);

/* cpu_dense.c */
void cpu_linear(Backend *b, void *out, const void *in, const void *W, const void *bias, int M, int K, int N,
                float beta);
void cpu_linear_backward(Backend *b, void *din, float *dW, float *dbias, const void *dout, const void *in,
                         const void *W, int M, int K, int N, float din_beta);
/* dst[j] += sum over the rows i < M of src[i, j] (src is M x N), accumulated in double; with
 * row_ids != NULL only the rows with row_ids[i] >= min_id count. Columns are split into blocks
 * across threads, so the summation order is fixed. */
void cpu_add_column_sums(Backend *b, float *dst, const float *src, long M, int N, const int32_t *row_ids, int min_id);

/* cpu_elementwise.c */
void cpu_silu(Backend *b, void *out, const void *in, size_t n);
void cpu_silu_backward(Backend *b, void *din, const void *dout, const void *in, size_t n);
void cpu_gelu(Backend *b, void *out, const void *in, size_t n);
void cpu_gelu_backward(Backend *b, void *din, const void *dout, const void *in, size_t n);
void cpu_add_rows(Backend *b, void *x, const void *rows, int N, int T, int width);

/* cpu_adaln.c */
void cpu_layernorm_modulate(Backend *b, void *out, float *mean, float *rstd, const void *x, const void *mod,
                            int mod_stride, int shift_off, int scale_off, int N, int T, int width, float eps);
void cpu_layernorm_modulate_backward(Backend *b, void *dx, void *dmod, const void *dout, const void *x,
                                     const float *mean, const float *rstd, const void *mod, int mod_stride,
                                     int shift_off, int scale_off, int N, int T, int width);
void cpu_gate_residual(Backend *b, void *x_out, const void *x_in, const void *y, const void *mod, int mod_stride,
                       int gate_off, int N, int T, int width);
void cpu_gate_residual_backward(Backend *b, void *dy, void *dmod, const void *dx, const void *y, const void *mod,
                                int mod_stride, int gate_off, int N, int T, int width);

/* cpu_attention.c */
size_t cpu_attention_saved_bytes(Backend *b, int N, int T, int E, int H);
size_t cpu_attention_scratch_bytes(Backend *b, int N, int T, int E, int H);
void cpu_attention(Backend *b, void *out, void *saved, const void *qkv, int N, int T, int E, int H);
void cpu_attention_backward(Backend *b, void *dqkv, void *scratch, const void *dout, const void *qkv,
                            const void *out, const void *saved, int N, int T, int E, int H);

/* cpu_tokens.c */
void cpu_gather_tokens(Backend *b, void *out, const void *in, const int32_t *ids, int N, int L, int K, int width);
void cpu_gather_tokens_backward(Backend *b, void *din, const void *dout, const int32_t *ids, int N, int L, int K,
                                int width);
void cpu_unmask_tokens(Backend *b, void *out, const void *in, const void *fill, const int32_t *ids_restore, int N,
                       int L, int K, int width);
void cpu_unmask_tokens_backward(Backend *b, void *din, float *dfill, const void *dout, const int32_t *ids_restore,
                                int N, int L, int K, int width);

/* cpu_loss.c */
void cpu_edm_loss(Backend *b, float *loss, void *dF, const void *F, const float *x, const float *xn,
                  const float *mae_target, const float *mask, const float *c_skip, const float *c_out,
                  const float *weight, int N, int L, int P, float mae_coef, float grad_scale);

/* cpu_optimizer.c */
void cpu_adamw(Backend *b, float *param, void *param_act, const float *grad, float *m, float *v, size_t n, float lr,
               double b1, double b2, float eps, float wd, float bc1, float bc2, float grad_scale);
void cpu_ema(Backend *b, float *ema, const float *param, size_t n, float decay);
void cpu_scale(Backend *b, float *x, size_t n, float s);
double cpu_sum_squares(Backend *b, const float *x, size_t n);

#endif
