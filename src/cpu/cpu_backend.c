/* backend_cpu_create: the CPU backend's table of ops (fp32 activations). */
#include <cblas.h>
#include <omp.h>

#include "../util/common.h"
#include "cpu_ops.h"

static void cpu_destroy(Backend *b) {
    free(b->impl);
    free(b);
}

Backend *backend_cpu_create(int threads) {
    /* One thread count for our parallel regions and for OpenBLAS (its OpenMP build follows
     * omp_get_max_threads() of the calling thread). */
    if (threads > 0) {
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
    }
    CpuState *st = xcalloc(1, sizeof *st, "CPU backend state");
    st->threads = omp_get_max_threads();
    Backend *b = xcalloc(1, sizeof *b, "CPU backend");
    *b = (Backend){
        .name = "cpu",
        .act_dtype = DTYPE_F32,
        .impl = st,
        .alloc = cpu_alloc,
        .free = cpu_free,
        .to_device = cpu_to_device,
        .to_host = cpu_to_host,
        .copy = cpu_copy,
        .zero = cpu_zero,
        .sync = cpu_sync,
        .peak_bytes = cpu_peak_bytes,
        .available_bytes = cpu_available_bytes,
        .device_name = cpu_device_name,
        .device_uuid = cpu_device_uuid,
        .cast = cpu_cast,
        .linear = cpu_linear,
        .linear_backward = cpu_linear_backward,
        .linear_gelu = backend_linear_gelu_composed,
        .gelu_linear_backward = backend_gelu_linear_backward_composed,
        .silu = cpu_silu,
        .silu_backward = cpu_silu_backward,
        .gelu = cpu_gelu,
        .gelu_backward = cpu_gelu_backward,
        .add_rows = cpu_add_rows,
        .layernorm_modulate = cpu_layernorm_modulate,
        .layernorm_modulate_backward = cpu_layernorm_modulate_backward,
        .gate_residual = cpu_gate_residual,
        .gate_residual_backward = cpu_gate_residual_backward,
        .attention_saved_bytes = cpu_attention_saved_bytes,
        .attention_scratch_bytes = cpu_attention_scratch_bytes,
        .attention = cpu_attention,
        .attention_backward = cpu_attention_backward,
        .gather_tokens = cpu_gather_tokens,
        .gather_tokens_backward = cpu_gather_tokens_backward,
        .unmask_tokens = cpu_unmask_tokens,
        .unmask_tokens_backward = cpu_unmask_tokens_backward,
        .edm_loss = cpu_edm_loss,
        .adamw = cpu_adamw,
        .ema = cpu_ema,
        .scale = cpu_scale,
        .sum_squares = cpu_sum_squares,
        .destroy = cpu_destroy,
    };
    return b;
}
