/* Exponential moving average of the trainable parameters (the original's update_ema: only
 * parameters with requires_grad, so the fixed position embeddings are not averaged; they are
 * copied from the model when a full EMA state dict is needed). */
#ifndef MASKDIT_TRAIN_EMA_H
#define MASKDIT_TRAIN_EMA_H

#include "../backend/backend.h"

typedef struct {
    Backend *be;
    float *ema;       /* device [n]: the trainable prefix */
    size_t n;
    double decay;
} Ema;

void ema_init(Ema *e, Backend *be, size_t n, double decay);
void ema_free(Ema *e);
/* ema = params (the original's update_ema(ema, model, decay=0) at the start of a fresh run). */
void ema_reset(Ema *e, const float *params);
/* ema = decay * ema + (1 - decay) * params */
void ema_update(Ema *e, const float *params);

#endif
