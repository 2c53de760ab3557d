/* The kernel of loss.cu (the EDM denoising + MAE loss and its gradient), which launches it.
 * Device code only; tests/simt runs it on the CPU. */
#ifndef MASKDIT_CUDA_LOSS_KERNELS_CUH
#define MASKDIT_CUDA_LOSS_KERNELS_CUH

#include <stddef.h>

#include "device_math.cuh"

#define LOSS_THREADS 256   /* edm_loss_kernel's block (one per sample) */

/* Block-wide sum of a double; every thread gets the result. */
__device__ double block_sum(double v, double *shared /* [LOSS_THREADS / 32] */) {
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = warp_sum(v);
    __syncthreads();   /* shared may still be read by a previous call */
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    double s = 0.0;
    for (int w = 0; w < LOSS_THREADS / 32; w++) s += shared[w];
    return s;
}

template <typename T>
__global__ void edm_loss_kernel(float *loss, T *dF, const T *F, const float *x, const float *xn, const float *tgt,
                                const float *mask, const float *c_skip, const float *c_out, const float *weight, int L,
                                int P, float mae_coef, float grad_scale) {
    __shared__ double red[LOSS_THREADS / 32];
    int n = blockIdx.x;
    size_t base = (size_t)n * L * P;
    const float *mrow = mask ? mask + (size_t)n * L : NULL;
    double removed = 0.0;
    if (mrow) {
        for (int l = threadIdx.x; l < L; l += LOSS_THREADS) removed += mrow[l];
        removed = block_sum(removed, red);
    }
    double kept = mrow ? (double)L - removed : (double)L;
    int mae = mrow && mae_coef > 0.0f && tgt;
    /* loss = a_dsm w sum (1-m) r^2 + a_mae sum m q^2 (r = Dx - x, q = Dx - target), so
     * d loss / d Dx = 2 a_dsm w (1-m) r + 2 a_mae m q; a term over an empty patch set is 0, not 0/0 */
    double a_dsm = kept > 0.0 ? 1.0 / ((double)P * kept) : 0.0;
    double a_mae = mae && removed > 0.0 ? mae_coef / ((double)P * removed) : 0.0;
    double cs = c_skip[n], co = c_out[n], w = weight[n];
    double acc_dsm = 0.0, acc_mae = 0.0;
    /* in double like the CPU reference: r = Dx - x cancels when the prediction is good */
    for (int e = threadIdx.x; e < L * P; e += LOSS_THREADS) {
        double m = mrow ? mrow[e / P] : 0.0;
        double dx = cs * xn[base + e] + co * to_f32(F[base + e]);
        double r = dx - x[base + e];
        acc_dsm += (1.0 - m) * r * r;
        double g = 2.0 * a_dsm * w * (1.0 - m) * r;
        if (mae) {
            double q = dx - tgt[base + e];
            acc_mae += m * q * q;
            g += 2.0 * a_mae * m * q;
        }
        if (dF) dF[base + e] = from_f32<T>((float)(grad_scale * co * g));
    }
    acc_dsm = block_sum(acc_dsm, red);
    if (mae) acc_mae = block_sum(acc_mae, red);
    if (threadIdx.x == 0) loss[n] = (float)(a_dsm * w * acc_dsm + a_mae * acc_mae);
}

#endif
