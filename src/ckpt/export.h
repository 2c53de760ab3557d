/* Checkpoints for other tools (maskdit-ckpt export):
 *
 *  - PyTorch .pt in the original MaskDiT's layout, a torch.save zip archive
 *      {"model": OrderedDict(name -> tensor), "ema": OrderedDict, "opt": AdamW state_dict,
 *       "args": {"global_seed": int, "step": int, "model_config": {...}}}
 *    (any of model / ema / opt left out when not exported). "args" is a plain dict, not the
 *    original's argparse.Namespace, so that torch.load(weights_only=True) accepts the file; the
 *    tensors are float32 storages rebuilt by torch._utils._rebuild_tensor_v2. The optimizer
 *    state_dict is torch.optim.AdamW's over model.parameters(): param_groups list every tensor in
 *    state_dict order (the frozen position embeddings included, as in the original), "state" holds
 *    step, exp_avg and exp_avg_sq of the trainable ones.
 *  - safetensors with the state_dict names; with both sets of weights prefixed "model." and "ema."
 *    (so "ema.model.blocks.0.attn.qkv.weight"). Metadata: format "pt", step, and model_config. */
#ifndef MASKDIT_CKPT_EXPORT_H
#define MASKDIT_CKPT_EXPORT_H

#include "../model/params.h"

typedef struct {
    const ParamTable *t;
    const float *model, *ema;           /* table->total floats each; NULL: not exported */
    const float *exp_avg, *exp_avg_sq;  /* table->n_trainable floats; NULL: no optimizer state */
    long long step;                     /* training steps done */
    long long optimizer_step;           /* AdamW's own count (its bias corrections) */
    long long seed;
    double lr;
    const char *model_config_json;      /* a flat JSON object (src/model/config_json.h), or NULL */
} ExportInput;

/* Both return -1 with a message naming the file; an existing file at path is replaced only by a
 * complete new one. */
int export_pt(const char *path, const ExportInput *x, Error *e);
int export_safetensors(const char *path, const ExportInput *x, Error *e);

#endif
