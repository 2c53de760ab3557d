/* The Inception network's layers, shared by the loader (inception_load.c) and the forward pass
 * (inception.c). Every convolution carries its folded batch norm as a bias; weights and biases
 * are offsets, in elements, into one act buffer. */
#ifndef MASKDIT_INCEPTION_INTERNAL_H
#define MASKDIT_INCEPTION_INTERNAL_H

#include "inception.h"

typedef struct {
    size_t w, b;
    int O, C, kh, kw, stride, pad_h, pad_w;
} IncConv;

/* Mixed_5b-d (FIDInceptionA): 1x1 | 1x1, 5x5 | 1x1, 3x3, 3x3 | avg pool, 1x1 */
typedef struct {
    IncConv b1x1, b5x5_1, b5x5_2, dbl_1, dbl_2, dbl_3, pool;
} IncBlockA;
/* Mixed_6a (InceptionB): 3x3 stride 2 | 1x1, 3x3, 3x3 stride 2 | max pool stride 2 */
typedef struct {
    IncConv b3x3, dbl_1, dbl_2, dbl_3;
} IncBlockB;
/* Mixed_6b-e (FIDInceptionC): 1x1 | 1x1, 1x7, 7x1 | 1x1, 7x1, 1x7, 7x1, 1x7 | avg pool, 1x1 */
typedef struct {
    IncConv b1x1, b7_1, b7_2, b7_3, dbl_1, dbl_2, dbl_3, dbl_4, dbl_5, pool;
} IncBlockC;
/* Mixed_7a (InceptionD): 1x1, 3x3 stride 2 | 1x1, 1x7, 7x1, 3x3 stride 2 | max pool stride 2 */
typedef struct {
    IncConv b3_1, b3_2, b7_1, b7_2, b7_3, b7_4;
} IncBlockD;
/* Mixed_7b-c (FIDInceptionE_1/_2): 1x1 | 1x1, (1x3 and 3x1) | 1x1, 3x3, (1x3 and 3x1) |
 * pool (average in 7b, max in 7c), 1x1 */
typedef struct {
    IncConv b1x1, b3_1, b3_2a, b3_2b, dbl_1, dbl_2, dbl_3a, dbl_3b, pool;
    int max_pool;
} IncBlockE;

struct Inception {
    Backend *be;
    void *weights;   /* act, every parameter */
    IncConv conv_1a, conv_2a, conv_2b, conv_3b, conv_4a;
    IncBlockA mixed_5[3];
    IncBlockB mixed_6a;
    IncBlockC mixed_6[4];   /* 6b-e; sFID's tensor is the first branch of mixed_6[2] (6d) */
    IncBlockD mixed_7a;
    IncBlockE mixed_7[2];
    size_t fc;   /* [1008, 2048] */
    float *stage;   /* f32 staging between the host and act buffers */
    size_t stage_count;
};

#endif
