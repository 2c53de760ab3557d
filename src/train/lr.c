#include "lr.h"

double lr_at_step(long long step, double base_lr, long long global_batch, double lr_rampup_kimg) {
    double ramp = lr_rampup_kimg * 1000.0;
    if (ramp < 1e-8) ramp = 1e-8;
    double f = (double)step * (double)global_batch / ramp;
    return base_lr * (f < 1.0 ? f : 1.0);
}
