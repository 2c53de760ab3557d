/* Dynamic loss scaling for fp16 activations (as torch.cuda.amp.GradScaler, which the original's
 * accelerate fp16 mode uses): the loss gradient is multiplied by `scale`; a step whose gradients
 * are not finite is skipped and the scale halved; after `growth_interval` good steps in a row it
 * doubles. Disabled (scale 1, never skips) for fp32 and bf16. */
#ifndef MASKDIT_TRAIN_LOSS_SCALE_H
#define MASKDIT_TRAIN_LOSS_SCALE_H

#include "../util/common.h"

typedef struct {
    int enabled;
    double scale;
    int good_steps;
    int growth_interval;
} LossScale;

void loss_scale_init(LossScale *s, int enabled, double initial_scale);
/* After a step's gradients are known: finite = all gradients finite. Returns 1 when the optimizer
 * step must be taken, 0 when it is skipped (the scale has been reduced). */
int loss_scale_update(LossScale *s, int finite);
/* Resume: take the state a checkpoint recorded, read from the file `source` (scale: a non-positive
 * one keeps the current scale; good_steps: -1 when the file does not record it). A count outside
 * [0, growth_interval) is refused as a corrupt checkpoint, also when the scaler is off. An
 * unrecorded count is read as 0, which is what resuming such a file always did (with a warning
 * when the scaler is on: the next doubling may come later than in an uninterrupted run). A
 * disabled scaler keeps scale 1 and count 0. */
int loss_scale_restore(LossScale *s, double scale, long long good_steps, const char *source, Error *e);

#endif
