/* The EDM denoising loss and the MAE loss in token layout, with dLoss/dF, all in double (the
 * loss inputs are O(N L P), negligible next to the network). Without a mask every patch counts
 * as kept, which turns the masked formula into the plain mean. A term whose patch set is empty
 * (no removed patch, e.g. a mask ratio rounding to zero tokens) contributes 0 instead of 0/0. */
#include "cpu_ops.h"

void cpu_edm_loss(Backend *b, float *loss, void *dF, const void *F, const float *x, const float *xn,
                  const float *mae_target, const float *mask, const float *c_skip, const float *c_out,
                  const float *weight, int N, int L, int P, float mae_coef, float grad_scale) {
    const float *Fs = F;
    float *dFs = dF;
    const int with_mae = mask && mae_target && mae_coef > 0.0f;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const double cs = c_skip[n], co = c_out[n], w = weight[n];
        double kept = 0, removed = 0;
        for (int l = 0; l < L; l++) {
            double m = mask ? mask[(size_t)n * L + l] : 0.0;
            kept += 1.0 - m;
            removed += m;
        }
        /* d loss / d Dx = a_dsm (1-m) (Dx - x) + a_mae m (Dx - t) */
        const double a_dsm = kept > 0 ? 2.0 * w / (P * kept) : 0.0;
        const double a_mae = with_mae && removed > 0 ? 2.0 * mae_coef / (P * removed) : 0.0;
        double dsm = 0, mae = 0;
        for (int l = 0; l < L; l++) {
            const size_t base = ((size_t)n * L + l) * P;
            const double m = mask ? mask[(size_t)n * L + l] : 0.0;
            for (int p = 0; p < P; p++) {
                const double Dx = cs * xn[base + p] + co * Fs[base + p];
                const double r = Dx - x[base + p];
                const double e = a_mae != 0.0 ? Dx - mae_target[base + p] : 0.0;
                dsm += (1.0 - m) * r * r;
                mae += m * e * e;
                if (dFs) dFs[base + p] = (float)(grad_scale * co * (a_dsm * (1.0 - m) * r + a_mae * m * e));
            }
        }
        /* a/2 = weight / (P * patch count): the same factors turn the sums into the means. */
        loss[n] = (float)(0.5 * (a_dsm * dsm + a_mae * mae));
    }
}
