/* Dynamic loss scaling for fp16 activations (as torch.cuda.amp.GradScaler, which the original's
 * accelerate fp16 mode uses): the loss gradient is multiplied by `scale`; a step whose gradients
 * are not finite is skipped and the scale halved; after `growth_interval` good steps in a row it
 * doubles. Disabled (scale 1, never skips) for fp32 and bf16. */
#ifndef MASKDIT_TRAIN_LOSS_SCALE_H
#define MASKDIT_TRAIN_LOSS_SCALE_H

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

#endif
