/* Learning rate of the original training loop: linear ramp-up over lr_rampup_kimg thousand images,
 * then constant. */
#ifndef MASKDIT_TRAIN_LR_H
#define MASKDIT_TRAIN_LR_H

/* lr at optimizer step `step` (0-based: the step about to be taken), exactly as the original:
 *   lr * min(step * global_batch / max(lr_rampup_kimg * 1000, 1e-8), 1)
 * Quirk kept on purpose: step 0 always gets lr 0 (even without a ramp-up: 0 / 1e-8 = 0), so the
 * first optimizer step of a run from scratch only fills the Adam moments and moves nothing. */
double lr_at_step(long long step, double base_lr, long long global_batch, double lr_rampup_kimg);

#endif
