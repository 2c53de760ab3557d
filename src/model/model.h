/* The MaskDiT network (the inner `model` of the original EDMPrecond): forward and hand-written
 * backward over the backend interface, with every activation buffer planned once at creation.
 *
 * Data flow of one training micro-batch (see src/model/edm.h for how the host prepares it):
 *   patches (c_in * x_noisy, patchified in the Conv2d weight's (c, a, b) order)
 *     -> x_embedder (a Linear over C*p*p values) + pos_embed -> gather kept tokens
 *     -> encoder DiT blocks (adaLN-Zero, conditioned on c = t_emb + y_emb)
 *     -> DecoderLayer -> un-mask with mask_token -> + decoder_pos_embed -> decoder blocks
 *     -> FinalLayer -> final_out [N, L, P] in token layout, P ordered (a, b, c)
 * The EDM output D_x = c_skip x_noisy + c_out F_x and the losses are formed in the same token
 * layout (Backend.edm_loss), so no unpatchify is needed on the device. */
#ifndef MASKDIT_MODEL_H
#define MASKDIT_MODEL_H

#include "../backend/backend.h"
#include "params.h"

/* Saved activations of one DiT block (T tokens of width W, MLP hidden M). */
typedef struct {
    void *x_in;             /* [N,T,W] block input (the residual stream) */
    void *mod;              /* [N,6W] adaLN output: shift/scale/gate msa, shift/scale/gate mlp */
    void *ln1;              /* [N,T,W] modulated LayerNorm before attention */
    float *ln1_mean, *ln1_rstd;
    void *qkv;              /* [N,T,3W] */
    void *att_saved;        /* backend-defined (probabilities or log-sum-exp) */
    void *att_out;          /* [N,T,W] attention core output (input of proj) */
    void *proj;             /* [N,T,W] attention branch output (before the gate) */
    void *x_mid;            /* [N,T,W] residual after the attention branch */
    void *ln2;              /* [N,T,W] */
    float *ln2_mean, *ln2_rstd;
    void *fc1;              /* [N,T,M] before GELU */
    void *gelu;             /* [N,T,M], one buffer shared by the blocks of a stack: recomputed from fc1
                               in the backward pass */
    void *fc2;              /* [N,T,W] MLP branch output (before the gate) */
} BlockActs;

typedef struct {
    /* inputs, on the device */
    void *patches;          /* [N,L,C*p*p] act */
    void *t_freq;           /* [N,F] act */
    void *labels;           /* [N,K] act (absent when num_classes == 0) */
    int32_t *ids_keep;      /* [N,len_keep] */
    int32_t *ids_restore;   /* [N,L] */
    /* conditioning */
    void *t_hidden;         /* [N,D] t_embedder.mlp.0 output (before SiLU) */
    void *t_hidden_silu;    /* [N,D] */
    void *t_emb;            /* [N,D] */
    void *c;                /* [N,D] t_emb + y_emb */
    void *c_silu;           /* [N,D] SiLU(c), the input of every adaLN linear */
    /* trunk */
    void *x_embed;          /* [N,L,D] patch embedding + pos_embed (all tokens) */
    BlockActs *blocks;      /* depth (+1 for the output: blocks[depth].x_in = enc_out) */
    void *dec_mod;          /* [N,2D] */
    void *dec_ln;           /* [N,Tenc,D] */
    float *dec_ln_mean, *dec_ln_rstd;
    void *dec_layer_out;    /* [N,Tenc,Dd] */
    BlockActs *dblocks;     /* decoder_depth (+1: dblocks[decoder_depth].x_in = dec_out) */
    void *final_mod;        /* [N,2Df] */
    void *final_ln;         /* [N,L,Df] */
    float *final_ln_mean, *final_ln_rstd;
    void *final_kept;       /* [N,Tenc,P] final layer on the kept tokens (no-decoder models only) */
    void *final_out;        /* [N,L,P] act */
    /* loss inputs and outputs, f32 */
    float *x_tok, *xn_tok, *mae_target;   /* [N,L,P] */
    float *mask;                          /* [N,L] 1 = removed */
    float *c_skip, *c_out, *weight;       /* [N] */
    float *loss;                          /* [N] */
    /* backward scratch */
    void *d_final;          /* [N,L,P] dLoss/dfinal_out */
    void *d_res;            /* residual-stream gradient, [N, max(Tenc*D, L*Dd)] */
    void *d_tmp;            /* [N, T, max(3W, M)] for the widest block */
    void *d_tmp2;           /* same size */
    void *d_mod;            /* [N, 6*max(D, Dd)] */
    void *d_c_silu;         /* [N,D] accumulates over every adaLN linear */
    void *d_c;              /* [N,D] */
    void *d_t;              /* [N,D] */
    void *att_scratch;
    float *stage;           /* f32 staging for uploads/downloads of act buffers (when act is not f32) */
} ModelActs;

typedef struct {
    ModelConfig cfg;
    ParamTable table;
    Backend *be;
    float *params;          /* device f32 master weights [table.total] (trainable prefix + fixed) */
    void *wact;             /* the compute copy of params in act dtype (== params when act is f32) */
    float *grads;           /* device f32 [table.n_trainable] */
    ModelActs a;
    void *act_base;         /* the one allocation that holds every activation */
    float *t_freq_host;     /* [max_batch, F] host buffer of the timestep features */
    int max_batch;          /* activations are planned for up to max_batch samples ... */
    int max_enc_tokens;     /* ... and up to this many encoder tokens */
    /* shape of the last forward */
    int N, len_keep;
    int masked;
    int training;           /* 0: created for inference (no gradients, shared block buffers) */
    size_t act_bytes;       /* device bytes of the activation plan */
} Model;

/* Create the model on a backend with activations planned for (max_batch, max_enc_tokens);
 * max_enc_tokens = L covers unmasked training and sampling. Parameters are zero: load or init. */
Model *model_create(const ModelConfig *cfg, Backend *be, int max_batch, int max_enc_tokens);
/* A model for forward passes only (sampling, evaluation): no gradients, and the blocks share one
 * set of activation buffers, so memory does not grow with depth. All L tokens are planned. */
Model *model_create_inference(const ModelConfig *cfg, Backend *be, int max_batch);
void model_destroy(Model *m);

/* Bytes of device memory the activation plan of (cfg, batch, len_keep) needs on backend be,
 * for training or for inference; used to say which batch would fit when memory runs out. */
size_t model_activation_bytes(const ModelConfig *cfg, Backend *be, int batch, int len_keep, int training);

/* Before creating a model: end the job with a clear message when (weights [+ gradients] +
 * extra_bytes + the activations of `batch`) exceed the backend's available memory, saying how
 * much was asked, how much is free and which batch would fit; batch_setting names the setting
 * that sets the batch (e.g. "train.batchsize"). */
void model_check_fits(const ModelConfig *cfg, Backend *be, int batch, int len_keep, int training,
                      size_t extra_bytes, const char *batch_setting);

/* Host <-> device parameters (f32, the whole flat layout). model_params_changed() refreshes the
 * compute copy; call it after every change to m->params (upload, EMA swap) except an optimizer
 * step that writes the copy itself (model_params_act). */
void model_upload_params(Model *m, const float *host_flat);
void model_download_params(Model *m, float *host_flat);
void model_params_changed(Model *m);
/* The param_act argument of the backend's adamw over the trainable prefix of m->params: the step
 * then refreshes the compute copy in its own pass, which replaces model_params_changed() after it
 * (the fixed tail, the position embeddings, never changes, so its copy stays valid). NULL when the
 * compute copy is m->params itself (act f32): nothing to refresh. */
void *model_params_act(const Model *m);

/* One micro-batch of input, in host memory. */
typedef struct {
    int N;
    int len_keep;                  /* encoder tokens; L (and ids NULL) for the unmasked path */
    const float *patches;          /* [N, L, C*p*p]: c_in * x_noisy in Conv2d (c, a, b) order */
    const double *c_noise;         /* [N] */
    const float *labels;           /* [N, K] one-hot, all-zero row = null label; NULL if K == 0 */
    const int32_t *ids_keep;       /* [N, len_keep] or NULL */
    const int32_t *ids_restore;    /* [N, L] or NULL */
} ModelInput;

/* Forward pass; leaves final_out [N,L,P] on the device (m->a.final_out). */
void model_forward(Model *m, const ModelInput *in);

/* The loss inputs of the last forward's batch, host memory, token layout [N,L,P]. */
typedef struct {
    const float *x_tok;        /* clean x, patchified (a, b, c) */
    const float *xn_tok;       /* x_noisy, patchified (a, b, c) */
    const float *mae_target;   /* per-patch normalised x_noisy, or NULL (no MAE term) */
    const float *mask;         /* [N, L], 1 = removed; NULL = unmasked loss */
    const float *c_skip, *c_out, *weight;   /* [N] */
    float mae_coef;
} LossInput;

/* Per-sample loss of the last forward into loss_host[N]; when grad_scale != 0 it also prepares
 * dLoss/dfinal_out for model_backward, scaled by grad_scale (1/global batch, times any AMP loss
 * scale). */
void model_loss(Model *m, const LossInput *li, float grad_scale, float *loss_host);

/* Called during the backward pass each time the gradients of a contiguous range of the flat
 * layout are final, in reverse layer order (for overlapping the all-reduce with the backward). */
typedef void (*GradReadyFn)(void *ctx, size_t offset, size_t count);

/* Backward of the last forward + loss, ACCUMULATING into m->grads (zero them with
 * model_zero_grads once per optimizer step). */
void model_backward(Model *m, GradReadyFn ready, void *ctx);
void model_zero_grads(Model *m);

/* Download final_out of the last forward as f32 [N, L, P]. */
void model_final_out_to_host(Model *m, float *out);

/* Download any activation buffer of act dtype, as f32 (n elements). Used by the golden checker
 * and tests to inspect intermediates. */
void model_act_to_host(Model *m, const void *act, float *out, size_t n);

#endif
