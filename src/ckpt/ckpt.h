/* Checkpoints: one HDF5 file per checkpoint (format in docs/checkpoint-format.md), written by all
 * ranks collectively with parallel HDF5 to "<path>.tmp" and renamed when complete; read back
 * serially or by every rank. The official PyTorch .pt checkpoints load through the same call.
 *
 * Tensors are addressed with the parameter table (src/model/params.h): one flat float buffer per
 * kind, the layout of ParamTable. Names in the file are the original state_dict keys. */
#ifndef MASKDIT_CKPT_H
#define MASKDIT_CKPT_H

#include "../../mpi/dist.h"

#include "../model/params.h"
#include "tensor_match.h"

/* Host flat buffers of a checkpoint. model and ema cover table->total floats (the fixed position
 * embeddings included); exp_avg and exp_avg_sq cover the trainable prefix. A NULL pointer means
 * "not present / not wanted". */
typedef struct {
    float *model;
    float *ema;
    float *exp_avg;
    float *exp_avg_sq;
} CkptTensors;

typedef struct {
    long long step;            /* optimizer steps done */
    long long sample_cursor;   /* global sample index g of the next training sample; -1 when the file
                                  does not record it (.pt files) */
    long long seed;            /* the run's global seed */
    int world_size;            /* ranks of the run that wrote it (informational) */
    double loss_scale;         /* AMP dynamic loss scale (1 without fp16) */
    long long loss_scale_good_steps; /* finite fp16 steps in a row since the scale last changed
                                        (LossScale.good_steps); -1 when the file does not record it
                                        (written before it was recorded, .pt files): not written then */
    double lr;                 /* learning rate of the last step */
    char precision[8];         /* "fp32", "bf16", "fp16": precision of the run that wrote it */
    char *config_text;         /* the resolved run configuration (YAML), malloc'ed or NULL */
    char *model_config_json;   /* ModelConfig as JSON, malloc'ed or NULL */
    char *software;            /* what wrote it: git commit, build settings, library versions (JSON,
                                  src/train/run_info.h), malloc'ed or NULL */
} CkptMeta;
/* From a .pt file: step = the optimizer's step (else args.step, else the digits of the file name,
 * else 0), lr =
 * param_groups[0].lr, seed = args.global_seed when present; world_size 0, loss_scale 1,
 * loss_scale_good_steps -1, precision "", no config texts. */

void ckpt_meta_free(CkptMeta *m);

/* Collective over d: every rank passes identical tensors (data parallel replicas) and each
 * writes its share; rank 0 renames "<path>.tmp" to path when every rank has finished. Returns -1
 * with a message on any rank's failure (the partial .tmp file is removed, an existing older
 * checkpoint is never touched). */
int ckpt_save(const char *path, const Dist *d, const ParamTable *t, const CkptTensors *ts, const CkptMeta *meta,
              Error *e);

/* Load what `want` asks for (non-NULL buffers in want, sized for t) from an HDF5 checkpoint or an
 * official .pt file (recognised by content). strict: every tensor of t must be present with the
 * same shape, and the file may hold no other; non-strict: missing/extra tensors are reported
 * with warn() and skipped (a shape mismatch is always an error). A section asked for that the
 * file does not hold is an error (see ckpt_sections); a .pt plain state dict answers for both
 * model and ema. meta may be NULL. */
int ckpt_load(const char *path, const ParamTable *t, CkptTensors *want, CkptMeta *meta, int strict, Error *e);

/* Newest complete checkpoint "NNNNNNN.h5" in dir that opens and passes ckpt_validate; damaged
 * ones (proven so by their content) are skipped with a warning naming them. Returns 1 and fills
 * out, 0 if there is none, -1 with a message when the newest intact one holds another model
 * (CKPT_OTHER_MODEL) or when one newer than it cannot be read now (CKPT_UNREADABLE: permissions,
 * a lock held by another process): unreadable is not damaged. */
int ckpt_find_latest(const char *dir, const ParamTable *t, char *out, size_t out_len, Error *e);

/* Cheap integrity check of an HDF5 checkpoint: format attribute, every tensor of /model and /ema
 * (and of /opt when present) present with the right shape. Returns -1 when the file's content is
 * not a checkpoint (damaged), CKPT_OTHER_MODEL when it is one whose tensors are not those of t. */
#define CKPT_OTHER_MODEL (-2)
/* ... and CKPT_UNREADABLE when it cannot be read now for a reason other than its content. */
#define CKPT_UNREADABLE (-3)
int ckpt_validate(const char *path, const ParamTable *t, Error *e);

/* A checkpoint's file name "NNNNNNN.h5" (the step with at least 7 digits, the original's
 * f"{step:07d}"): 1 and *step, else 0. */
int ckpt_step_of_name(const char *name, long long *step);

/* What a file is, from its first bytes: an HDF5 checkpoint or a PyTorch .pt archive. */
typedef enum { CKPT_FILE_HDF5, CKPT_FILE_PT } CkptFileKind;
int ckpt_file_kind(const char *path, CkptFileKind *kind, Error *e);

/* Which sections a checkpoint (HDF5 or .pt) holds: CKPT_* bits in *sections. */
enum { CKPT_MODEL = 1, CKPT_EMA = 2, CKPT_OPT = 4 };
int ckpt_sections(const char *path, int *sections, Error *e);

/* Names and shapes of the tensors of one section ("model", "ema") of an HDF5 checkpoint or a .pt
 * file, in file order (HDF5: name order). Free with ckpt_list_free. */
int ckpt_list(const char *path, const char *section, TensorMeta **list, int *count, Error *e);
void ckpt_list_free(TensorMeta *list, int count);

#endif
