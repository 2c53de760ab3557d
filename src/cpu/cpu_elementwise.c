/* Element-wise activations (SiLU, GELU, ReLU) and the position-embedding add. SiLU and GELU both go through the
 * logistic function with the vectorisable cpu_expf: GELU_tanh(x) = 0.5 x (1 + tanh(u)) is
 * computed as x * sigmoid(2u) (the same function, since 1 + tanh(u) = 2 sigmoid(2u)), which
 * avoids the cancellation of 1 + tanh(u) for negative x. */
#include "cpu_math.h"
#include "cpu_ops.h"

#define GELU_K0 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_K1 0.044715f

void cpu_silu(Backend *b, void *out, const void *in, size_t n) {
    float *y = out;
    const float *x = in;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = cpu_silu_f(x[i]);
}

void cpu_relu(Backend *b, void *out, const void *in, size_t n) {
    float *y = out;
    const float *x = in;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* silu'(x) = s (1 + x (1 - s)), s = sigmoid(x). */
void cpu_silu_backward(Backend *b, void *din, const void *dout, const void *in, size_t n) {
    float *dx = din;
    const float *dy = dout, *x = in;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + cpu_expf(-x[i]));
        dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

void cpu_gelu(Backend *b, void *out, const void *in, size_t n) {
    float *y = out;
    const float *x = in;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float v = x[i], u = GELU_K0 * (v + GELU_K1 * v * v * v);
        y[i] = v / (1.0f + cpu_expf(-2.0f * u));
    }
}

/* d/dx [x s] with s = sigmoid(2u): s + 2 x s (1 - s) u', u' = k0 (1 + 3 k1 x^2). */
void cpu_gelu_backward(Backend *b, void *din, const void *dout, const void *in, size_t n) {
    float *dx = din;
    const float *dy = dout, *x = in;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float v = x[i], u = GELU_K0 * (v + GELU_K1 * v * v * v);
        float s = 1.0f / (1.0f + cpu_expf(-2.0f * u));
        float du = GELU_K0 * (1.0f + 3.0f * GELU_K1 * v * v);
        dx[i] = dy[i] * (s + 2.0f * v * s * (1.0f - s) * du);
    }
}

void cpu_add_rows(Backend *b, void *x, const void *rows, int N, int T, int width) {
    float *y = x;
    const float *r = rows;
#pragma omp parallel for schedule(static)
    for (long row = 0; row < (long)N * T; row++) {
        float *dst = y + row * width;
        const float *src = r + (row % T) * width;
        for (int j = 0; j < width; j++) dst[j] += src[j];
    }
}
