/* The EDM denoising + MAE loss and its gradient, one block per sample: the kept / removed counts
 * first (they scale every gradient element), then one pass over the L*P values that writes dF and
 * sums the per-sample loss terms, all in double (fixed block size and order: repeatable). */
#include "internal.cuh"
#include "loss_kernels.cuh"

void cuda_edm_loss(Backend *b, float *loss, void *dF, const void *F, const float *x, const float *xn,
                   const float *mae_target, const float *mask, const float *c_skip, const float *c_out,
                   const float *weight, int N, int L, int P, float mae_coef, float grad_scale) {
    if (!N) return;
    cudaStream_t s = cuda_state(b)->stream;
    DISPATCH_ACT(b->act_dtype, A,
                 edm_loss_kernel<A><<<N, LOSS_THREADS, 0, s>>>(loss, (A *)dF, (const A *)F, x, xn, mae_target, mask,
                                                               c_skip, c_out, weight, L, P, mae_coef, grad_scale));
    LAUNCH_CHECK("edm_loss_kernel");
}
