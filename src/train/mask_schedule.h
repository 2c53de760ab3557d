/* Mask-ratio schedules of the original (train_utils/helper.py get_mask_ratio_fn), as a function of
 * the run's progress s = (step - start_step) / max_num_steps in [0, 1]:
 *   constant   ratio
 *   linear     (ratio - min) * s + min          (rises from min to ratio, as in the original)
 *   exp        (ratio - min) * exp(-7 s) + min
 *   cosineK    (ratio - min) * cos(pi s / 2)^K + min,  K = 2 ... 6  (alias cosK)
 * where ratio = model.mask_ratio and min = model.mask_ratio_min. */
#ifndef MASKDIT_TRAIN_MASK_SCHEDULE_H
#define MASKDIT_TRAIN_MASK_SCHEDULE_H

/* Returns the ratio; the name must have passed run_config_check (unknown names are fatal). */
double mask_ratio_at(const char *fn, double ratio, double ratio_min, double progress);

#endif
