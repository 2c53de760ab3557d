/* The Inception Score as ADM's evaluator computes it from the network's logits (without fc's
 * bias: inception.h): p = softmax(logits) per image; the images are cut into consecutive splits
 * of split_size (ADM: 5000), the last one shorter when the count is not a multiple (a set smaller
 * than split_size is one split); per split, exp(mean over its images of
 * KL(p || mean of p over the split)); the score is the mean over the splits. In float64. */
#ifndef MASKDIT_INCEPTION_SCORE_H
#define MASKDIT_INCEPTION_SCORE_H

#define INCEPTION_SCORE_SPLIT 5000

/* logits: [n, classes] float32, n >= 1. */
double inception_score(const float *logits, long long n, int classes, long long split_size);

#endif
