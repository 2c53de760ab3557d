/* GroupNorm (+ SiLU) on the CPU: one (sample, group) per iteration, statistics in double over the
 * group's channels and positions (two passes: the mean, then the centred squares, as exact as
 * the float64 reference needs), then the affine map per channel. Static schedule: the result
 * depends on nothing but the inputs. */
#include <math.h>

#include "cpu_math.h"
#include "cpu_ops.h"

void cpu_group_norm(Backend *b, void *out_, const void *in_, const void *gamma_, const void *beta_, int N, int C,
                    int HW, int groups, float eps, int silu) {
    const float *in = in_, *gamma = gamma_, *beta = beta_;
    float *out = out_;
    const int per_group = C / groups;
    const size_t count = (size_t)per_group * HW;
#pragma omp parallel for schedule(static)
    for (int ng = 0; ng < N * groups; ng++) {
        const size_t base = (size_t)ng * count;   /* a group's channels are contiguous in NCHW */
        const float *x = in + base;
        double sum = 0;
        for (size_t q = 0; q < count; q++) sum += x[q];
        const double mean = sum / (double)count;
        double sq = 0;
        for (size_t q = 0; q < count; q++) sq += (x[q] - mean) * (x[q] - mean);
        const float rstd = (float)(1.0 / sqrt(sq / (double)count + eps)), fmean = (float)mean;
        for (int cc = 0; cc < per_group; cc++) {
            const int c = ng % groups * per_group + cc;
            const float a = rstd * gamma[c], shift = beta[c] - fmean * a;
            const float *xc = x + (size_t)cc * HW;
            float *yc = out + base + (size_t)cc * HW;
            if (silu)
                for (int q = 0; q < HW; q++) yc[q] = cpu_silu_f(xc[q] * a + shift);
            else
                for (int q = 0; q < HW; q++) yc[q] = xc[q] * a + shift;
        }
    }
}
