#include "optimizer.h"

#include <math.h>

void adamw_init(AdamW *o, Backend *be, size_t n) {
    *o = (AdamW){.be = be, .n = n, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0};
    o->exp_avg = be->alloc(be, n * sizeof(float), "AdamW exp_avg");
    o->exp_avg_sq = be->alloc(be, n * sizeof(float), "AdamW exp_avg_sq");
    be->zero(be, o->exp_avg, n * sizeof(float));
    be->zero(be, o->exp_avg_sq, n * sizeof(float));
}

void adamw_free(AdamW *o) {
    o->be->free(o->be, o->exp_avg);
    o->be->free(o->be, o->exp_avg_sq);
}

void adamw_step(AdamW *o, float *params, void *params_act, const float *grads, double lr, double grad_scale) {
    o->step++;
    /* the corrections in double: 1 - 0.999^k loses most of its digits in float for small k */
    double bc1 = 1.0 - pow(o->beta1, (double)o->step), bc2 = 1.0 - pow(o->beta2, (double)o->step);
    o->be->adamw(o->be, params, params_act, grads, o->exp_avg, o->exp_avg_sq, o->n, (float)lr, o->beta1, o->beta2,
                 (float)o->eps, (float)o->weight_decay, (float)bc1, (float)bc2, (float)grad_scale);
}

void adamw_download(const AdamW *o, float *exp_avg, float *exp_avg_sq) {
    o->be->to_host(o->be, exp_avg, o->exp_avg, o->n * sizeof(float));
    o->be->to_host(o->be, exp_avg_sq, o->exp_avg_sq, o->n * sizeof(float));
}

void adamw_upload(AdamW *o, const float *exp_avg, const float *exp_avg_sq, long long step) {
    o->be->to_device(o->be, o->exp_avg, exp_avg, o->n * sizeof(float));
    o->be->to_device(o->be, o->exp_avg_sq, exp_avg_sq, o->n * sizeof(float));
    o->step = step;
}
