/* AdamW (with the optional compute copy of the updated parameters), EMA and the bookkeeping over
 * the flat f32 parameter, gradient and moment buffers: element-wise float loops (OpenMP + SIMD),
 * and a double-precision sum of squares whose partial sums are combined in thread order, so the
 * gradient norm is reproducible. */
#include <math.h>
#include <omp.h>

#include "cpu_ops.h"

void cpu_adamw(Backend *b, float *param, void *param_act, const float *grad, float *m, float *v, size_t n, float lr,
               double b1, double b2, float eps, float wd, float bc1, float bc2, float grad_scale) {
    const float beta1 = (float)b1, beta2 = (float)b2;
    const float one_minus_b1 = (float)(1.0 - b1), one_minus_b2 = (float)(1.0 - b2);
    float *copy = param_act;   /* the CPU act dtype is f32: the compute copy takes the value as it is */
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] * grad_scale;
        float mi = beta1 * m[i] + one_minus_b1 * g;
        float vi = beta2 * v[i] + one_minus_b2 * g * g;
        m[i] = mi;
        v[i] = vi;
        float p = param[i] - lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + wd * param[i]);
        param[i] = p;
        if (copy) copy[i] = p;
    }
}

void cpu_ema(Backend *b, float *ema, const float *param, size_t n, float decay) {
    const float keep = decay, take = 1.0f - decay;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) ema[i] = keep * ema[i] + take * param[i];
}

void cpu_scale(Backend *b, float *x, size_t n, float s) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

/* Each thread sums one contiguous share; the shares are added in thread order. */
double cpu_sum_squares(Backend *b, const float *x, size_t n) {
    const int threads = cpu_state(b)->threads;
    double partial[threads];
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = n * t / nt, hi = n * (t + 1) / nt;
        double acc = 0;
#pragma omp simd reduction(+ : acc)
        for (size_t i = lo; i < hi; i++) acc += (double)x[i] * x[i];
        partial[t] = acc;
        if (t == 0)
            for (int u = nt; u < threads; u++) partial[u] = 0;   /* the runtime may give fewer threads */
    }
    double sum = 0;
    for (int t = 0; t < threads; t++) sum += partial[t];
    return sum;
}
