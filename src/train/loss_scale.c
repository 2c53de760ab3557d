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

int loss_scale_restore(LossScale *s, double scale, long long good_steps, const char *source, Error *e) {
    if (good_steps >= s->growth_interval || good_steps < -1)
        return error_set(e, "%s: loss_scale_good_steps is %lld, expected 0 to %d (the loss scale doubles after %d "
                            "finite steps in a row): corrupt checkpoint", source, good_steps, s->growth_interval - 1,
                         s->growth_interval);
    if (!s->enabled) return 0;
    if (good_steps < 0)
        warn("%s records no loss_scale_good_steps (an older checkpoint or a .pt file): the loss scale's count of "
             "finite steps restarts at 0, so the scale may double later than without the interruption", source);
    if (scale > 0) s->scale = scale;
    s->good_steps = good_steps < 0 ? 0 : (int)good_steps;
    return 0;
}
