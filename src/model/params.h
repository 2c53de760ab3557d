/* The parameter table: every tensor of the model under its original PyTorch state_dict name
 * ("model.blocks.3.attn.qkv.weight"), with its shape and its offset in ONE flat float buffer.
 *
 * Layout of the flat buffer: the trainable tensors first, in state_dict order, then the fixed
 * buffers (the two sin-cos position embeddings). Gradients, AdamW moments, the EMA copy and the
 * gradient all-reduce therefore all work on the prefix [0, n_trainable) of the same layout. The
 * table itself (params[]) lists every tensor in the original state_dict order. */
#ifndef MASKDIT_MODEL_PARAMS_H
#define MASKDIT_MODEL_PARAMS_H

#include "model_config.h"

#define PARAM_NAME_MAX 96
#define PARAM_MAX_DIMS 4

typedef struct {
    char name[PARAM_NAME_MAX];
    int ndim;
    int64_t shape[PARAM_MAX_DIMS];
    size_t numel;
    size_t offset;      /* in floats, into the flat buffer */
    int trainable;      /* 0 for the fixed position embeddings */
} ParamInfo;

/* Indices into ParamTable.params of one DiT block's tensors. */
typedef struct {
    int qkv_w, qkv_b, proj_w, proj_b, fc1_w, fc1_b, fc2_w, fc2_b, ada_w, ada_b;
} BlockParams;

/* Indices of every tensor the model code uses (-1 where the configuration has none). */
typedef struct {
    int pos_embed, decoder_pos_embed, mask_token;
    int x_embed_w, x_embed_b;
    int t_mlp0_w, t_mlp0_b, t_mlp2_w, t_mlp2_b;
    int y_table;
    BlockParams *blocks;          /* depth entries */
    int dec_linear_w, dec_linear_b, dec_ada_w, dec_ada_b;
    BlockParams *decoder_blocks;  /* decoder_depth entries */
    int final_linear_w, final_linear_b, final_ada_w, final_ada_b;
} ParamIndex;

typedef struct {
    ParamInfo *params;  /* in state_dict order */
    int count;
    size_t total;       /* floats in the flat buffer */
    size_t n_trainable; /* floats in the trainable prefix */
    ParamIndex idx;
} ParamTable;

/* Build the table for a (validated) configuration. */
void param_table_build(ParamTable *t, const ModelConfig *c);
void param_table_free(ParamTable *t);

/* Index of a tensor by name, or -1. */
int param_find(const ParamTable *t, const char *name);

/* Fixed 2-D sin-cos position embedding (grid*grid, width), computed in double: for token
 * l = i*grid + j, [sin(j w), cos(j w), sin(i w), cos(i w)] with w_k = 10000^(-k/(width/4)). */
void sincos_pos_embed_2d(double *out, int width, int grid);

/* Write the fixed position embeddings into a flat host buffer (float). */
void params_set_pos_embeds(const ParamTable *t, const ModelConfig *c, float *flat);

/* Initialisation of the original, for training from scratch: Xavier-uniform linears (the patch
 * embedding as a linear over C*p*p inputs), zero biases, N(0, 0.02) label table and timestep MLP
 * weights, zeroed adaLN modulations and output layers, N(0, 0.02) mask token, exact position
 * embeddings. Deterministic in seed (one Philox stream per tensor). */
void params_init(const ParamTable *t, const ModelConfig *c, uint64_t seed, float *flat);

#endif
