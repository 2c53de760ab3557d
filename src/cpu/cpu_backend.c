/* backend_cpu_create: the CPU backend's table of ops (fp32 activations). */
#include <cblas.h>
#include <omp.h>

#include "../util/common.h"
#include "cpu_ops.h"

void cpu_destroy(Backend *b) {
    cpu_free(b, cpu_state(b)->workspace);
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
    b->name = "cpu";
    b->act_dtype = DTYPE_F32;
    b->memory = BACKEND_MEMORY_HOST;
    b->impl = st;
#define CPU_OP_SET(ret, name, params) b->name = cpu_##name;
    BACKEND_OPS(CPU_OP_SET)
#undef CPU_OP_SET
    return b;
}
