/* PyTorch torch.save files (.pt), read directly in C: the zip archive ("<archive>/data.pkl", the
 * pickle, and "<archive>/data/<key>", one raw little-endian storage per key), or the legacy layout
 * of PyTorch < 1.6 (src/ckpt/pt_legacy.h), and the pickled objects that checkpoints hold.
 *
 * Two layouts are understood:
 *  - a checkpoint dict as the original MaskDiT writes it: {"model": state_dict, "ema": state_dict,
 *    "opt": optimizer state_dict, "args": argparse.Namespace} (any subset, other keys ignored);
 *  - a plain state dict (an OrderedDict of tensors at the top level): its one set of weights
 *    answers for both "model" and "ema".
 * Tensors are rebuilt from torch._utils._rebuild_tensor_v2 (and _rebuild_tensor,
 * _rebuild_parameter) records: float32, float16, bfloat16 (and float64) storages, a storage
 * offset, sizes and strides, which must describe a contiguous row-major tensor. Device tags
 * ("cuda:0") are ignored. Data is read per tensor by byte range, never the whole file. */
#ifndef MASKDIT_PT_IMPORT_H
#define MASKDIT_PT_IMPORT_H

#include "../util/zip.h"
#include "float_data.h"
#include "pickle.h"
#include "tensor_match.h"

/* One storage of the file: a zip entry, or a byte range of a legacy file. */
typedef struct {
    const char *key;
    uint64_t bytes;
    const ZipEntry *entry;      /* zip layout: the entry holding the data */
    uint64_t file_offset;       /* legacy layout: where the data starts in the file */
} PtStorage;

typedef struct {
    TensorMeta meta;            /* name (malloc'ed) and shape */
    size_t numel;
    FloatData dtype;            /* FD_NOT_FLOAT: an integer or bool storage, not readable here */
    const char *storage_type;   /* "FloatStorage", "HalfStorage", ... (static) */
    const PtStorage *storage;   /* its data (owned by the PtFile) */
    uint64_t offset;            /* storage offset, in elements */
} PtTensor;

typedef struct {
    PtTensor *tensors;
    int count;
} PtStateDict;

/* Optimizer state_dict: moments per position of the parameters listed in param_groups. */
typedef struct {
    int count;                  /* parameters listed in param_groups (all groups, in order) */
    PtTensor *exp_avg;          /* [count]; storage == NULL where the state has none */
    PtTensor *exp_avg_sq;
    int has_step, has_lr;
    long long step;             /* state "step" (torch) or param_groups "step" (apex FusedAdam) */
    double lr;                  /* param_groups[0]["lr"] */
} PtOptimizer;

typedef struct PtFile PtFile;

/* Open and unpickle, zip or legacy layout; refuses big-endian files. */
PtFile *pt_open(const char *path, Error *e);
void pt_close(PtFile *f);
const char *pt_path(const PtFile *f);
/* "torch zip" or "torch legacy". */
const char *pt_format(const PtFile *f);
int pt_is_plain(const PtFile *f);
/* Whether the file holds section ("model", "ema", "opt", "args"). */
int pt_has_section(const PtFile *f, const char *section);
/* Comma-separated list of the top-level keys, for messages and `maskdit-ckpt info`. */
void pt_sections_str(const PtFile *f, char *buf, size_t len);

/* The tensors of state dict `section` ("model" or "ema"), in file order. */
int pt_state_dict(const PtFile *f, const char *section, PtStateDict *out, Error *e);
void pt_state_dict_free(PtStateDict *sd);

int pt_optimizer(const PtFile *f, PtOptimizer *out, Error *e);
void pt_optimizer_free(PtOptimizer *o);

/* The element type and size of a torch storage class ("torch.FloatStorage" or "FloatStorage"):
 * 0, or -1 when it is not one. */
int pt_storage_info(const char *type, FloatData *dtype, int *elem_size);

/* Read a tensor's numel values, converted to float32. */
int pt_read_tensor(const PtFile *f, const PtTensor *t, float *dst, Error *e);

/* Attributes of the pickled argparse.Namespace "args" (a dict), or NULL. */
const PkValue *pt_args(const PtFile *f);

/* The step in a checkpoint's file name, as the original names and reads them ("0200000.pt":
 * 200000), or -1 when the name does not start with digits followed by a dot. */
long long pt_step_from_file_name(const char *path);

#endif
