#include "ema.h"

void ema_init(Ema *e, Backend *be, size_t n, double decay) {
    *e = (Ema){.be = be, .n = n, .decay = decay};
    e->ema = be->alloc(be, n * sizeof(float), "EMA weights");
}

void ema_free(Ema *e) { e->be->free(e->be, e->ema); }

void ema_reset(Ema *e, const float *params) { e->be->copy(e->be, e->ema, params, e->n * sizeof(float)); }

void ema_update(Ema *e, const float *params) { e->be->ema(e->be, e->ema, params, e->n, (float)e->decay); }
