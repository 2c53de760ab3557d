/* inception_score (inception_score.h): the softmax of each row in float64 (shifted by its maximum),
 * then per split the marginal and the mean KL divergence. */
#include <math.h>
#include <stdlib.h>

#include "../util/common.h"
#include "inception_score.h"

static void softmax_row(const float *x, int k, double *p) {
    double m = x[0], sum = 0;
    for (int j = 1; j < k; j++) m = x[j] > m ? x[j] : m;
    for (int j = 0; j < k; j++) sum += p[j] = exp(x[j] - m);
    for (int j = 0; j < k; j++) p[j] /= sum;
}

double inception_score(const float *logits, long long n, int classes, long long split_size) {
    double *p = xmalloc((size_t)classes * sizeof *p, "softmax row");
    double *marginal = xmalloc((size_t)classes * sizeof *marginal, "class marginal");
    double total = 0;
    long long splits = 0;
    for (long long s0 = 0; s0 < n; s0 += split_size, splits++) {
        const long long rows = n - s0 < split_size ? n - s0 : split_size;
        for (int j = 0; j < classes; j++) marginal[j] = 0;
        for (long long i = s0; i < s0 + rows; i++) {
            softmax_row(logits + i * classes, classes, p);
            for (int j = 0; j < classes; j++) marginal[j] += p[j] / rows;
        }
        double kl = 0;
        for (long long i = s0; i < s0 + rows; i++) {
            softmax_row(logits + i * classes, classes, p);
            for (int j = 0; j < classes; j++)
                if (p[j] > 0) kl += p[j] * (log(p[j]) - log(marginal[j]));
        }
        total += exp(kl / rows);
    }
    free(p);
    free(marginal);
    return total / splits;
}
