#include "loss_scale.h"

void loss_scale_init(LossScale *s, int enabled, double initial_scale) {
    *s = (LossScale){.enabled = enabled, .scale = enabled ? initial_scale : 1.0, .growth_interval = 2000};
}

int loss_scale_update(LossScale *s, int finite) {
    if (!s->enabled) return 1;
    if (!finite) {
        s->scale *= 0.5;
        s->good_steps = 0;
        return 0;
    }
    if (++s->good_steps >= s->growth_interval) {
        s->scale *= 2.0;
        s->good_steps = 0;
    }
    return 1;
}
