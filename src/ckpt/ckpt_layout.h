/* The HDF5 checkpoint layout shared by the writer (ckpt_save.c) and the reader (ckpt.c); the
 * format is documented in docs/checkpoint-format.md. */
#ifndef MASKDIT_CKPT_LAYOUT_H
#define MASKDIT_CKPT_LAYOUT_H

#include "ckpt.h"

#define CKPT_FORMAT "maskdit-checkpoint-v1"

/* The four tensor sections: a group each, one dataset per tensor under its original name. */
enum { SEC_MODEL, SEC_EMA, SEC_EXP_AVG, SEC_EXP_AVG_SQ, SEC_COUNT };

static inline const char *ckpt_section_group(int s) {
    return s == SEC_MODEL ? "model" : s == SEC_EMA ? "ema" : s == SEC_EXP_AVG ? "opt/exp_avg" : "opt/exp_avg_sq";
}

/* The optimizer moments cover the trainable tensors only (the flat prefix). */
static inline int ckpt_section_trainable_only(int s) { return s == SEC_EXP_AVG || s == SEC_EXP_AVG_SQ; }

static inline float *ckpt_section_buffer(const CkptTensors *ts, int s) {
    return s == SEC_MODEL ? ts->model : s == SEC_EMA ? ts->ema : s == SEC_EXP_AVG ? ts->exp_avg : ts->exp_avg_sq;
}

/* Format attribute and every tensor of the sections in the mask (bit s for section s) present
 * with its shape. CKPT_LAYOUT_PRESENT: model and ema, plus the optimizer moments when /opt exists
 * (ckpt_validate). Returns -1, CKPT_OTHER_MODEL when the tensors are the only thing amiss, or
 * CKPT_UNREADABLE when the file cannot be read now (ckpt.h). */
#define CKPT_LAYOUT_PRESENT 0u
int ckpt_check_layout(const char *path, const ParamTable *t, unsigned sections, Error *e);

#endif
