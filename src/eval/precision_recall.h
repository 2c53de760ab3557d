/* Improved precision and recall (Kynkäänniemi et al. 2019) as ADM's evaluator computes them from
 * pool features, with k = 3 nearest-neighbour manifolds:
 *   radius(x) = squared Euclidean distance from x to its k-th nearest neighbour in its own set
 *               (the (k+1)-th smallest distance, x itself being the first at 0);
 *   precision = fraction of samples within radius(r) of some reference feature r (d <= radius);
 *   recall    = fraction of reference features within radius(s) of some sample s.
 * Distances: |u|^2 + |v|^2 (double) - 2 u.v (float32 SGEMM), clamped at 0. ADM computes them in
 * float16 first (float32 where that overflows), so counts can differ where a distance is within
 * rounding of a radius. */
#ifndef MASKDIT_PRECISION_RECALL_H
#define MASKDIT_PRECISION_RECALL_H

#define PR_NEIGHBOURS 3

/* ref [n_ref, dim], samples [n_samples, dim] float32; each set needs more than k rows. */
void precision_recall(const float *ref, long long n_ref, const float *samples, long long n_samples, int dim, int k,
                      double *precision, double *recall);

#endif
