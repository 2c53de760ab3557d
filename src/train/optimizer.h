/* AdamW as the original uses it: apex FusedAdam(adam_w_mode=True, weight_decay=0), betas (0.9,
 * 0.999), eps 1e-8, bias correction, ONE step counter for all parameters (apex keeps one per
 * param group). The moments live on the backend over the trainable prefix of the flat layout. */
#ifndef MASKDIT_TRAIN_OPTIMIZER_H
#define MASKDIT_TRAIN_OPTIMIZER_H

#include "../backend/backend.h"

typedef struct {
    Backend *be;
    float *exp_avg, *exp_avg_sq;   /* device [n] */
    size_t n;
    long long step;                /* optimizer steps taken (the bias-correction counter) */
    double beta1, beta2, eps, weight_decay;
} AdamW;

/* Zero moments, step 0, the original's hyper-parameters. */
void adamw_init(AdamW *o, Backend *be, size_t n);
void adamw_free(AdamW *o);

/* One step: step += 1, then p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd p) with
 * g = grads * grad_scale (grad_scale carries gradient clipping and the AMP unscale); params_act
 * (may be NULL) receives the updated values in the backend's act dtype in the same pass (the
 * compute copy of the weights: pass model_params_act()). */
void adamw_step(AdamW *o, float *params, void *params_act, const float *grads, double lr, double grad_scale);

/* Host copies of the moments (for checkpoints) and back. */
void adamw_download(const AdamW *o, float *exp_avg, float *exp_avg_sq);
void adamw_upload(AdamW *o, const float *exp_avg, const float *exp_avg_sq, long long step);

#endif
