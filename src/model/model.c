/* MaskDiT forward and backward over the backend interface (see model.h for the data flow).
 * Written once for every backend, like llm.c's train_gpt2.c: explicit layer calls and a
 * hand-written backward; the activations of the largest batch are planned at creation. */
#include "model.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Activation plan: one pass counts bytes (base == NULL), the second carves one allocation. */

typedef struct {
    char *base;
    size_t used;
} Arena;

static void *carve(Arena *a, size_t bytes) {
    size_t off = a->used;
    a->used += (bytes + 255) & ~(size_t)255;     /* 256-byte alignment for vector loads / cuBLAS */
    return a->base ? a->base + off : NULL;
}

typedef struct {
    Backend *be;
    Arena arena;
    size_t act;       /* bytes per act element */
} Planner;

static void *plan_act(Planner *p, size_t n) { return carve(&p->arena, n * p->act); }
static float *plan_f32(Planner *p, size_t n) { return carve(&p->arena, n * sizeof(float)); }

/* gelu: the stack's shared GELU output buffer (see plan_stack). */
static void plan_block(Planner *p, BlockActs *b, size_t N, size_t T, size_t W, size_t M, int heads, void *gelu) {
    b->x_in = plan_act(p, N * T * W);
    b->mod = plan_act(p, N * 6 * W);
    b->ln1 = plan_act(p, N * T * W);
    b->ln1_mean = plan_f32(p, N * T);
    b->ln1_rstd = plan_f32(p, N * T);
    b->qkv = plan_act(p, N * T * 3 * W);
    b->att_saved = carve(&p->arena, p->be->attention_saved_bytes(p->be, (int)N, (int)T, (int)W, heads));
    b->att_out = plan_act(p, N * T * W);
    b->proj = plan_act(p, N * T * W);
    b->x_mid = plan_act(p, N * T * W);
    b->ln2 = plan_act(p, N * T * W);
    b->ln2_mean = plan_f32(p, N * T);
    b->ln2_rstd = plan_f32(p, N * T);
    b->fc1 = plan_act(p, N * T * M);
    b->gelu = gelu;
    b->fc2 = plan_act(p, N * T * W);
}

/* The activations of `depth` blocks and the stack's output (blocks[depth].x_in). Training keeps
 * every block's activations for the backward pass except the GELU output, the widest of them
 * (4W per token): the blocks share one GELU buffer and the backward pass recomputes it from fc1,
 * one cheap element-wise pass that keeps peak memory below the original's. Inference shares one
 * set between the blocks and alternates the residual stream between two buffers. */
static void plan_stack(Planner *p, BlockActs *blocks, int depth, size_t N, size_t T, size_t W, size_t M, int heads,
                       int training) {
    void *gelu = depth ? plan_act(p, N * T * M) : NULL;
    if (training) {
        for (int i = 0; i < depth; i++) plan_block(p, &blocks[i], N, T, W, M, heads, gelu);
        blocks[depth].x_in = plan_act(p, N * T * W);
        return;
    }
    BlockActs shared = {0};
    if (depth) plan_block(p, &shared, N, T, W, M, heads, gelu);
    else shared.x_in = plan_act(p, N * T * W);
    void *other = plan_act(p, N * T * W);
    for (int i = 0; i <= depth; i++) {
        blocks[i] = i < depth ? shared : (BlockActs){0};
        blocks[i].x_in = i % 2 ? other : shared.x_in;
    }
}

/* Assigns every buffer of a (pointers are NULL in the counting pass). a->blocks and a->dblocks
 * must hold depth+1 and decoder_depth+1 entries. Without training, the backward buffers are not
 * planned. */
static void plan_acts(Planner *p, ModelActs *a, const ModelConfig *c, size_t N, size_t len_keep, int training) {
    size_t L = (size_t)model_num_patches(c), D = (size_t)c->hidden_size, Dd = (size_t)c->decoder_hidden_size;
    size_t Df = (size_t)model_final_width(c), P = (size_t)model_patch_dim(c), F = (size_t)c->frequency_embedding_size;
    size_t M = (size_t)model_mlp_hidden((int)D, c->mlp_ratio), Md = (size_t)model_mlp_hidden((int)Dd, c->mlp_ratio);
    size_t Tdec = c->use_decoder ? L : 0;

    a->patches = plan_act(p, N * L * P);
    a->t_freq = plan_act(p, N * F);
    a->labels = c->num_classes ? plan_act(p, N * (size_t)c->num_classes) : NULL;
    a->ids_keep = carve(&p->arena, N * L * sizeof(int32_t));
    a->ids_restore = carve(&p->arena, N * L * sizeof(int32_t));
    a->t_hidden = plan_act(p, N * D);
    a->t_hidden_silu = plan_act(p, N * D);
    a->t_emb = plan_act(p, N * D);
    a->c = plan_act(p, N * D);
    a->c_silu = plan_act(p, N * D);
    a->x_embed = plan_act(p, N * L * D);
    plan_stack(p, a->blocks, c->depth, N, len_keep, D, M, c->num_heads, training);
    size_t T_final = len_keep;
    if (c->use_decoder) {
        a->dec_mod = plan_act(p, N * 2 * D);
        a->dec_ln = plan_act(p, N * len_keep * D);
        a->dec_ln_mean = plan_f32(p, N * len_keep);
        a->dec_ln_rstd = plan_f32(p, N * len_keep);
        a->dec_layer_out = plan_act(p, N * len_keep * Dd);
        plan_stack(p, a->dblocks, c->decoder_depth, N, Tdec, Dd, Md, c->decoder_num_heads, training);
        T_final = L;
    }
    a->final_mod = plan_act(p, N * 2 * Df);
    a->final_ln = plan_act(p, N * T_final * Df);
    a->final_ln_mean = plan_f32(p, N * T_final);
    a->final_ln_rstd = plan_f32(p, N * T_final);
    /* Without a decoder the final layer runs on the kept tokens and is un-masked with zeros. */
    a->final_kept = c->use_decoder ? NULL : plan_act(p, N * len_keep * P);
    a->final_out = plan_act(p, N * L * P);
    a->x_tok = plan_f32(p, N * L * P);
    a->xn_tok = plan_f32(p, N * L * P);
    a->mae_target = plan_f32(p, N * L * P);
    a->mask = plan_f32(p, N * L);
    a->c_skip = plan_f32(p, N);
    a->c_out = plan_f32(p, N);
    a->weight = plan_f32(p, N);
    a->loss = plan_f32(p, N);
    /* Staging for act <-> f32 transfers; unused when act is f32 (the CPU). */
    size_t widest_token = MAX(MAX(P, D), c->use_decoder ? Dd : 0);
    a->stage = plan_f32(p, p->act == sizeof(float) ? 0 : N * MAX(L * widest_token, MAX(F, (size_t)c->num_classes)));

    if (!training) return;
    size_t widest = MAX(3 * D, M), res = len_keep * D;
    if (c->use_decoder) {
        widest = MAX(widest, MAX(3 * Dd, Md));
        res = MAX(res, L * Dd);
    }
    a->d_final = plan_act(p, N * L * P);
    a->d_res = plan_act(p, N * MAX(res, L * MAX(D, Df)));
    a->d_tmp = plan_act(p, N * L * MAX(widest, P));
    a->d_tmp2 = plan_act(p, N * L * MAX(widest, P));
    a->d_mod = plan_act(p, N * 6 * MAX(D, Dd));
    a->d_c_silu = plan_act(p, N * D);
    a->d_c = plan_act(p, N * D);
    a->d_t = plan_act(p, N * D);
    size_t scratch = p->be->attention_scratch_bytes(p->be, (int)N, (int)len_keep, (int)D, c->num_heads);
    if (c->use_decoder)
        scratch = MAX(scratch, p->be->attention_scratch_bytes(p->be, (int)N, (int)L, (int)Dd, c->decoder_num_heads));
    a->att_scratch = carve(&p->arena, scratch);
}

static size_t plan(Backend *be, const ModelConfig *c, int batch, int len_keep, int training, ModelActs *a,
                   char *base) {
    Planner p = {be, {base, 0}, dtype_size(be->act_dtype)};
    plan_acts(&p, a, c, (size_t)batch, (size_t)len_keep, training);
    return p.arena.used;
}

static void alloc_block_tables(ModelActs *a, const ModelConfig *c) {
    a->blocks = xcalloc((size_t)c->depth + 1, sizeof *a->blocks, "encoder activation table");
    a->dblocks = xcalloc((size_t)c->decoder_depth + 1, sizeof *a->dblocks, "decoder activation table");
}

size_t model_activation_bytes(const ModelConfig *cfg, Backend *be, int batch, int len_keep, int training) {
    ModelActs a = {0};
    alloc_block_tables(&a, cfg);
    size_t bytes = plan(be, cfg, batch, len_keep, training, &a, NULL);
    free(a.blocks);
    free(a.dblocks);
    return bytes;
}

/* Device bytes of a model besides its activations: f32 master weights, their compute copy when
 * activations are not f32, and the gradients of a training model. */
static size_t weight_bytes(const ModelConfig *cfg, Backend *be, int training) {
    ParamTable t;
    param_table_build(&t, cfg);
    size_t bytes = t.total * sizeof(float);
    if (be->act_dtype != DTYPE_F32) bytes += t.total * dtype_size(be->act_dtype);
    if (training) bytes += t.n_trainable * sizeof(float);
    param_table_free(&t);
    return bytes;
}

void model_check_fits(const ModelConfig *cfg, Backend *be, int batch, int len_keep, int training,
                      size_t extra_bytes, const char *batch_setting) {
    size_t fixed = weight_bytes(cfg, be, training) + extra_bytes, avail = be->available_bytes(be);
    size_t need = fixed + model_activation_bytes(cfg, be, batch, len_keep, training);
    if (need <= avail) return;
    int lo = 0, hi = batch;     /* the largest batch that fits is in [lo, hi) */
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (fixed + model_activation_bytes(cfg, be, mid, len_keep, training) <= avail) lo = mid;
        else hi = mid;
    }
    char n[32], a[32], f[32];
    format_bytes((double)need, n, sizeof n);
    format_bytes((double)avail, a, sizeof a);
    format_bytes((double)fixed, f, sizeof f);
    const char *what = training ? "weights, gradients and optimizer state" : "weights";
    if (lo > 0)
        die("%s: a model batch of %d needs %s on %s (%s of %s, the rest activations) but only %s is free; "
            "a model batch of %d would fit", batch_setting, batch, n, be->device_name(be), f, what, a, lo);
    die("%s: a model batch of %d needs %s on %s, but only %s is free and the %s alone take %s: not even a "
        "batch of 1 fits", batch_setting, batch, n, be->device_name(be), a, what, f);
}

static Model *create(const ModelConfig *cfg, Backend *be, int max_batch, int max_enc_tokens, int training) {
    Error e;
    if (model_config_validate(cfg, &e) < 0) die("model configuration: %s", e.msg);
    int L = model_num_patches(cfg);
    if (max_batch < 1 || max_enc_tokens < 1 || max_enc_tokens > L)
        FATAL("model_create: bad plan (batch %d, encoder tokens %d of %d)", max_batch, max_enc_tokens, L);
    Model *m = xcalloc(1, sizeof *m, "model");
    m->cfg = *cfg;
    m->be = be;
    m->max_batch = max_batch;
    m->max_enc_tokens = max_enc_tokens;
    m->training = training;
    param_table_build(&m->table, cfg);
    m->params = be->alloc(be, m->table.total * sizeof(float), "parameters (f32)");
    be->zero(be, m->params, m->table.total * sizeof(float));
    m->wact = be->act_dtype == DTYPE_F32 ? (void *)m->params
                                         : be->alloc(be, m->table.total * dtype_size(be->act_dtype), "parameters (act)");
    if (training) {
        m->grads = be->alloc(be, m->table.n_trainable * sizeof(float), "gradients");
        be->zero(be, m->grads, m->table.n_trainable * sizeof(float));
    }
    alloc_block_tables(&m->a, cfg);
    m->act_bytes = plan(be, cfg, max_batch, max_enc_tokens, training, &m->a, NULL);
    char *base = be->alloc(be, m->act_bytes, "activations");
    plan(be, cfg, max_batch, max_enc_tokens, training, &m->a, base);
    m->act_base = base;
    m->t_freq_host = xmalloc((size_t)max_batch * cfg->frequency_embedding_size * sizeof(float), "timestep features");
    model_params_changed(m);
    return m;
}

Model *model_create(const ModelConfig *cfg, Backend *be, int max_batch, int max_enc_tokens) {
    return create(cfg, be, max_batch, max_enc_tokens, 1);
}

Model *model_create_inference(const ModelConfig *cfg, Backend *be, int max_batch) {
    return create(cfg, be, max_batch, model_num_patches(cfg), 0);
}

void model_destroy(Model *m) {
    if (!m) return;
    Backend *be = m->be;
    be->free(be, m->act_base);
    if (m->grads) be->free(be, m->grads);
    if (m->wact != (void *)m->params) be->free(be, m->wact);
    be->free(be, m->params);
    free(m->t_freq_host);
    free(m->a.blocks);
    free(m->a.dblocks);
    param_table_free(&m->table);
    free(m);
}

/* ------------------------------------------------------------------------------------------ */
/* Parameters */

void model_upload_params(Model *m, const float *host_flat) {
    m->be->to_device(m->be, m->params, host_flat, m->table.total * sizeof(float));
    model_params_changed(m);
}

void model_download_params(Model *m, float *host_flat) {
    m->be->to_host(m->be, host_flat, m->params, m->table.total * sizeof(float));
}

void model_params_changed(Model *m) {
    void *copy = model_params_act(m);
    if (copy) m->be->cast(m->be, copy, m->be->act_dtype, m->params, DTYPE_F32, m->table.total);
}

void *model_params_act(const Model *m) { return m->wact != (void *)m->params ? m->wact : NULL; }

static void require_training(const Model *m, const char *what) {
    if (!m->training) FATAL("%s on a model created for inference (model_create_inference has no gradients)", what);
}

void model_zero_grads(Model *m) {
    require_training(m, "model_zero_grads");
    m->be->zero(m->be, m->grads, m->table.n_trainable * sizeof(float));
}

/* Compute-copy weight and f32 gradient of parameter i. */
static const void *W(const Model *m, int i) {
    return (const char *)m->wact + m->table.params[i].offset * dtype_size(m->be->act_dtype);
}
static float *G(const Model *m, int i) { return m->grads + m->table.params[i].offset; }

/* Host f32 -> device act buffer (through the f32 staging buffer when act is not f32). */
static void upload_act(Model *m, void *dst, const float *src, size_t n) {
    backend_act_from_host(m->be, dst, src, n, m->a.stage);
}

void model_act_to_host(Model *m, const void *act, float *out, size_t n) {
    backend_act_to_host(m->be, out, act, n, m->a.stage);
}

void model_final_out_to_host(Model *m, float *out) {
    model_act_to_host(m, m->a.final_out, out, (size_t)m->N * model_num_patches(&m->cfg) * model_patch_dim(&m->cfg));
}

/* ------------------------------------------------------------------------------------------ */
/* Forward */

/* Sinusoidal timestep features [cos(t f_k), sin(t f_k)], f_k = exp(-ln(max_period) k / half),
 * computed in double (zero-padded for an odd size). */
static void timestep_features(float *out, const double *c_noise, int N, int dim, int max_period) {
    int half = dim / 2;
    for (int n = 0; n < N; n++) {
        float *row = out + (size_t)n * dim;
        for (int k = 0; k < half; k++) {
            double arg = c_noise[n] * exp(-log((double)max_period) * k / half);
            row[k] = (float)cos(arg);
            row[half + k] = (float)sin(arg);
        }
        if (dim % 2) row[dim - 1] = 0;
    }
}

static void block_forward(Model *m, const BlockParams *bp, BlockActs *b, void *x_out, int N, int T, int W_, int H) {
    Backend *be = m->be;
    int M = model_mlp_hidden(W_, m->cfg.mlp_ratio), NT = N * T;
    float eps = (float)m->cfg.norm_eps;
    be->linear(be, b->mod, m->a.c_silu, W(m, bp->ada_w), W(m, bp->ada_b), N, m->cfg.hidden_size, 6 * W_, 0);
    be->layernorm_modulate(be, b->ln1, b->ln1_mean, b->ln1_rstd, b->x_in, b->mod, 6 * W_, 0, W_, N, T, W_, eps);
    be->linear(be, b->qkv, b->ln1, W(m, bp->qkv_w), W(m, bp->qkv_b), NT, W_, 3 * W_, 0);
    be->attention(be, b->att_out, b->att_saved, b->qkv, N, T, W_, H);
    be->linear(be, b->proj, b->att_out, W(m, bp->proj_w), W(m, bp->proj_b), NT, W_, W_, 0);
    be->gate_residual(be, b->x_mid, b->x_in, b->proj, b->mod, 6 * W_, 2 * W_, N, T, W_);
    be->layernorm_modulate(be, b->ln2, b->ln2_mean, b->ln2_rstd, b->x_mid, b->mod, 6 * W_, 3 * W_, 4 * W_, N, T, W_,
                           eps);
    be->linear_gelu(be, b->gelu, b->fc1, b->ln2, W(m, bp->fc1_w), W(m, bp->fc1_b), NT, W_, M);
    be->linear(be, b->fc2, b->gelu, W(m, bp->fc2_w), W(m, bp->fc2_b), NT, M, W_, 0);
    be->gate_residual(be, x_out, b->x_mid, b->fc2, b->mod, 6 * W_, 5 * W_, N, T, W_);
}

static void check_input(const Model *m, const ModelInput *in) {
    int L = model_num_patches(&m->cfg);
    if (in->N < 1 || in->N > m->max_batch)
        FATAL("model_forward: batch %d outside the planned 1..%d", in->N, m->max_batch);
    if (in->len_keep < 1 || in->len_keep > m->max_enc_tokens)
        FATAL("model_forward: %d encoder tokens outside the planned 1..%d", in->len_keep, m->max_enc_tokens);
    if (in->len_keep < L && (!in->ids_keep || !in->ids_restore))
        FATAL("model_forward: a masked forward (%d of %d tokens) needs ids_keep and ids_restore", in->len_keep, L);
    if (m->cfg.num_classes && !in->labels) FATAL("model_forward: a class-conditional model needs labels");
}

void model_forward(Model *m, const ModelInput *in) {
    check_input(m, in);
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    const ParamIndex *x = &m->table.idx;
    ModelActs *a = &m->a;
    int N = in->N, L = model_num_patches(c), len_keep = in->len_keep, D = c->hidden_size, Dd = c->decoder_hidden_size;
    int P = model_patch_dim(c), F = c->frequency_embedding_size, K = c->num_classes, Df = model_final_width(c);
    float eps = (float)c->norm_eps;
    m->N = N;
    m->len_keep = len_keep;
    m->masked = len_keep < L;

    /* Every host input first, so that any wait of a copy for the stream (CUDA: for a free staging
     * slot, cuda/upload.cu) is a wait for the previous step's work, not for this pass's kernels. */
    timestep_features(m->t_freq_host, in->c_noise, N, F, c->max_period);
    upload_act(m, a->t_freq, m->t_freq_host, (size_t)N * F);
    if (K) upload_act(m, a->labels, in->labels, (size_t)N * K);
    upload_act(m, a->patches, in->patches, (size_t)N * L * P);
    if (m->masked) {
        be->to_device(be, a->ids_keep, in->ids_keep, (size_t)N * len_keep * sizeof(int32_t));
        be->to_device(be, a->ids_restore, in->ids_restore, (size_t)N * L * sizeof(int32_t));
    }

    /* Conditioning c = t_emb + y_emb, and SiLU(c) shared by every adaLN linear. */
    be->linear(be, a->t_hidden, a->t_freq, W(m, x->t_mlp0_w), W(m, x->t_mlp0_b), N, F, D, 0);
    be->silu(be, a->t_hidden_silu, a->t_hidden, (size_t)N * D);
    be->linear(be, a->t_emb, a->t_hidden_silu, W(m, x->t_mlp2_w), W(m, x->t_mlp2_b), N, D, D, 0);
    be->copy(be, a->c, a->t_emb, (size_t)N * D * dtype_size(be->act_dtype));
    if (K) be->linear(be, a->c, a->labels, W(m, x->y_table), NULL, N, K, D, 1);
    be->silu(be, a->c_silu, a->c, (size_t)N * D);

    /* Patch embedding (+ fixed position embedding), then the kept tokens. */
    be->linear(be, a->x_embed, a->patches, W(m, x->x_embed_w), W(m, x->x_embed_b), N * L, P, D, 0);
    be->add_rows(be, a->x_embed, W(m, x->pos_embed), N, L, D);
    if (m->masked) {
        be->gather_tokens(be, a->blocks[0].x_in, a->x_embed, a->ids_keep, N, L, len_keep, D);
    } else {
        be->copy(be, a->blocks[0].x_in, a->x_embed, (size_t)N * L * D * dtype_size(be->act_dtype));
    }

    for (int i = 0; i < c->depth; i++)
        block_forward(m, &x->blocks[i], &a->blocks[i], a->blocks[i + 1].x_in, N, len_keep, D, c->num_heads);
    void *trunk_out = a->blocks[c->depth].x_in;
    int T_final = len_keep;

    if (c->use_decoder) {
        be->linear(be, a->dec_mod, a->c_silu, W(m, x->dec_ada_w), W(m, x->dec_ada_b), N, D, 2 * D, 0);
        be->layernorm_modulate(be, a->dec_ln, a->dec_ln_mean, a->dec_ln_rstd, trunk_out, a->dec_mod, 2 * D, 0, D, N,
                               len_keep, D, eps);
        be->linear(be, a->dec_layer_out, a->dec_ln, W(m, x->dec_linear_w), W(m, x->dec_linear_b), N * len_keep, D, Dd, 0);
        void *dec_in = a->dblocks[0].x_in;
        if (m->masked)
            be->unmask_tokens(be, dec_in, a->dec_layer_out, x->mask_token >= 0 ? W(m, x->mask_token) : NULL,
                              a->ids_restore, N, L, len_keep, Dd);
        else
            be->copy(be, dec_in, a->dec_layer_out, (size_t)N * L * Dd * dtype_size(be->act_dtype));
        be->add_rows(be, dec_in, W(m, x->decoder_pos_embed), N, L, Dd);
        for (int i = 0; i < c->decoder_depth; i++)
            block_forward(m, &x->decoder_blocks[i], &a->dblocks[i], a->dblocks[i + 1].x_in, N, L, Dd,
                          c->decoder_num_heads);
        trunk_out = a->dblocks[c->decoder_depth].x_in;
        T_final = L;
    }

    be->linear(be, a->final_mod, a->c_silu, W(m, x->final_ada_w), W(m, x->final_ada_b), N, D, 2 * Df, 0);
    be->layernorm_modulate(be, a->final_ln, a->final_ln_mean, a->final_ln_rstd, trunk_out, a->final_mod, 2 * Df, 0,
                           Df, N, T_final, Df, eps);
    if (!c->use_decoder && m->masked) {
        be->linear(be, a->final_kept, a->final_ln, W(m, x->final_linear_w), W(m, x->final_linear_b), N * len_keep, Df, P, 0);
        be->unmask_tokens(be, a->final_out, a->final_kept, NULL, a->ids_restore, N, L, len_keep, P);
    } else {
        be->linear(be, a->final_out, a->final_ln, W(m, x->final_linear_w), W(m, x->final_linear_b), N * L, Df, P, 0);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Loss */

void model_loss(Model *m, const LossInput *li, float grad_scale, float *loss_host) {
    Backend *be = m->be;
    ModelActs *a = &m->a;
    int N = m->N, L = model_num_patches(&m->cfg), P = model_patch_dim(&m->cfg);
    size_t tok = (size_t)N * L * P * sizeof(float);
    if (li->mask && !m->masked) FATAL("model_loss: a masked loss needs a masked forward");
    if (grad_scale != 0) require_training(m, "model_loss with gradients");
    be->to_device(be, a->x_tok, li->x_tok, tok);
    be->to_device(be, a->xn_tok, li->xn_tok, tok);
    int mae = li->mask && li->mae_target && li->mae_coef > 0;
    if (mae) be->to_device(be, a->mae_target, li->mae_target, tok);
    if (li->mask) be->to_device(be, a->mask, li->mask, (size_t)N * L * sizeof(float));
    be->to_device(be, a->c_skip, li->c_skip, (size_t)N * sizeof(float));
    be->to_device(be, a->c_out, li->c_out, (size_t)N * sizeof(float));
    be->to_device(be, a->weight, li->weight, (size_t)N * sizeof(float));
    be->edm_loss(be, a->loss, grad_scale != 0 ? a->d_final : NULL, a->final_out, a->x_tok, a->xn_tok,
                 mae ? a->mae_target : NULL, li->mask ? a->mask : NULL, a->c_skip, a->c_out, a->weight, N, L, P,
                 mae ? li->mae_coef : 0.0f, grad_scale);
    be->to_host(be, loss_host, a->loss, (size_t)N * sizeof(float));
}

/* ------------------------------------------------------------------------------------------ */
/* Backward */

static void ready_range(const Model *m, GradReadyFn ready, void *ctx, int first, int last) {
    if (!ready) return;
    const ParamInfo *p0 = &m->table.params[first], *p1 = &m->table.params[last];
    ready(ctx, p0->offset, p1->offset + p1->numel - p0->offset);
}

/* adaLN linear backward: dmod -> weight/bias grads, and d SiLU(c) (accumulated after the first). */
static void ada_backward(Model *m, int w, int b, int out_width, int *first_cond_grad) {
    Backend *be = m->be;
    be->linear_backward(be, m->a.d_c_silu, G(m, w), G(m, b), m->a.d_mod, m->a.c_silu, W(m, w), m->N,
                        m->cfg.hidden_size, out_width, *first_cond_grad ? 0.0f : 1.0f);
    *first_cond_grad = 0;
}

/* On entry d_res = dLoss/d(block output); on exit dLoss/d(block input). */
static void block_backward(Model *m, const BlockParams *bp, BlockActs *b, int N, int T, int W_, int H,
                           int *first_cond_grad) {
    Backend *be = m->be;
    ModelActs *a = &m->a;
    int M = model_mlp_hidden(W_, m->cfg.mlp_ratio), NT = N * T, S = 6 * W_;
    /* MLP branch: x_out = x_mid + gate_mlp * fc2(gelu(fc1(ln2))); the GELU output, fc2's input, is
     * recomputed for fc2's weight gradient; d_tmp2 = d fc1 (before the GELU), d_tmp = d ln2. */
    be->gelu(be, b->gelu, b->fc1, (size_t)NT * M);
    be->gate_residual_backward(be, a->d_tmp, a->d_mod, a->d_res, b->fc2, b->mod, S, 5 * W_, N, T, W_);
    be->gelu_linear_backward(be, a->d_tmp2, G(m, bp->fc2_w), G(m, bp->fc2_b), a->d_tmp, b->gelu, b->fc1,
                             W(m, bp->fc2_w), NT, M, W_);
    be->linear_backward(be, a->d_tmp, G(m, bp->fc1_w), G(m, bp->fc1_b), a->d_tmp2, b->ln2, W(m, bp->fc1_w), NT, W_,
                        M, 0);
    be->layernorm_modulate_backward(be, a->d_res, a->d_mod, a->d_tmp, b->x_mid, b->ln2_mean, b->ln2_rstd, b->mod, S,
                                    3 * W_, 4 * W_, N, T, W_);
    /* Attention branch: x_mid = x_in + gate_msa * proj(attn(qkv(ln1))) */
    be->gate_residual_backward(be, a->d_tmp, a->d_mod, a->d_res, b->proj, b->mod, S, 2 * W_, N, T, W_);
    be->linear_backward(be, a->d_tmp2, G(m, bp->proj_w), G(m, bp->proj_b), a->d_tmp, b->att_out, W(m, bp->proj_w), NT,
                        W_, W_, 0);
    be->attention_backward(be, a->d_tmp, a->att_scratch, a->d_tmp2, b->qkv, b->att_out, b->att_saved, N, T, W_, H);
    be->linear_backward(be, a->d_tmp2, G(m, bp->qkv_w), G(m, bp->qkv_b), a->d_tmp, b->ln1, W(m, bp->qkv_w), NT, W_,
                        3 * W_, 0);
    be->layernorm_modulate_backward(be, a->d_res, a->d_mod, a->d_tmp2, b->x_in, b->ln1_mean, b->ln1_rstd, b->mod, S,
                                    0, W_, N, T, W_);
    ada_backward(m, bp->ada_w, bp->ada_b, S, first_cond_grad);
}

void model_backward(Model *m, GradReadyFn ready, void *ctx) {
    require_training(m, "model_backward");
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    const ParamIndex *x = &m->table.idx;
    ModelActs *a = &m->a;
    int N = m->N, L = model_num_patches(c), len_keep = m->len_keep, D = c->hidden_size, Dd = c->decoder_hidden_size;
    int P = model_patch_dim(c), K = c->num_classes, Df = model_final_width(c), F = c->frequency_embedding_size;
    size_t act = dtype_size(be->act_dtype);
    int first_cond_grad = 1;
    void *trunk_out = c->use_decoder ? a->dblocks[c->decoder_depth].x_in : a->blocks[c->depth].x_in;
    int T_final = c->use_decoder ? L : len_keep;

    /* Final layer. */
    const void *d_out = a->d_final;
    if (!c->use_decoder && m->masked) {
        be->unmask_tokens_backward(be, a->d_tmp2, NULL, a->d_final, a->ids_restore, N, L, len_keep, P);
        d_out = a->d_tmp2;
    }
    be->linear_backward(be, a->d_tmp, G(m, x->final_linear_w), G(m, x->final_linear_b), d_out, a->final_ln,
                        W(m, x->final_linear_w), N * T_final, Df, P, 0);
    be->zero(be, a->d_res, (size_t)N * T_final * Df * act);
    be->layernorm_modulate_backward(be, a->d_res, a->d_mod, a->d_tmp, trunk_out, a->final_ln_mean, a->final_ln_rstd,
                                    a->final_mod, 2 * Df, 0, Df, N, T_final, Df);
    ada_backward(m, x->final_ada_w, x->final_ada_b, 2 * Df, &first_cond_grad);
    ready_range(m, ready, ctx, x->final_linear_w, x->final_ada_b);

    if (c->use_decoder) {
        for (int i = c->decoder_depth - 1; i >= 0; i--) {
            block_backward(m, &x->decoder_blocks[i], &a->dblocks[i], N, L, Dd, c->decoder_num_heads, &first_cond_grad);
            ready_range(m, ready, ctx, x->decoder_blocks[i].qkv_w, x->decoder_blocks[i].ada_b);
        }
        /* d_res = d dec_in; the position embedding is fixed, so d dec_layer_out is its un-mask. */
        if (m->masked)
            be->unmask_tokens_backward(be, a->d_tmp, x->mask_token >= 0 ? G(m, x->mask_token) : NULL, a->d_res,
                                       a->ids_restore, N, L, len_keep, Dd);
        else
            be->copy(be, a->d_tmp, a->d_res, (size_t)N * L * Dd * act);
        be->linear_backward(be, a->d_tmp2, G(m, x->dec_linear_w), G(m, x->dec_linear_b), a->d_tmp, a->dec_ln,
                            W(m, x->dec_linear_w), N * len_keep, D, Dd, 0);
        be->zero(be, a->d_res, (size_t)N * len_keep * D * act);
        be->layernorm_modulate_backward(be, a->d_res, a->d_mod, a->d_tmp2, a->blocks[c->depth].x_in, a->dec_ln_mean,
                                        a->dec_ln_rstd, a->dec_mod, 2 * D, 0, D, N, len_keep, D);
        ada_backward(m, x->dec_ada_w, x->dec_ada_b, 2 * D, &first_cond_grad);
        ready_range(m, ready, ctx, x->dec_linear_w, x->dec_ada_b);
    }

    for (int i = c->depth - 1; i >= 0; i--) {
        block_backward(m, &x->blocks[i], &a->blocks[i], N, len_keep, D, c->num_heads, &first_cond_grad);
        ready_range(m, ready, ctx, x->blocks[i].qkv_w, x->blocks[i].ada_b);
    }

    /* d_res = d enc_in -> d x_embed -> patch embedding weights (the input needs no gradient). */
    const void *d_embed = a->d_res;
    if (m->masked) {
        be->gather_tokens_backward(be, a->d_tmp, a->d_res, a->ids_keep, N, L, len_keep, D);
        d_embed = a->d_tmp;
    }
    be->linear_backward(be, NULL, G(m, x->x_embed_w), G(m, x->x_embed_b), d_embed, a->patches, W(m, x->x_embed_w),
                        N * L, P, D, 0);

    /* Conditioning: d c = d SiLU(c) * silu'(c); c = t_emb + labels W_y^T. */
    be->silu_backward(be, a->d_c, a->d_c_silu, a->c, (size_t)N * D);
    if (K) be->linear_backward(be, NULL, G(m, x->y_table), NULL, a->d_c, a->labels, W(m, x->y_table), N, K, D, 0);
    be->linear_backward(be, a->d_t, G(m, x->t_mlp2_w), G(m, x->t_mlp2_b), a->d_c, a->t_hidden_silu, W(m, x->t_mlp2_w),
                        N, D, D, 0);
    be->silu_backward(be, a->d_c, a->d_t, a->t_hidden, (size_t)N * D);
    be->linear_backward(be, NULL, G(m, x->t_mlp0_w), G(m, x->t_mlp0_b), a->d_c, a->t_freq, W(m, x->t_mlp0_w), N, F, D,
                        0);
    /* Everything before the first block in the layout: the mask token and the embedders. */
    if (ready) {
        int next = c->depth ? x->blocks[0].qkv_w : c->use_decoder ? x->dec_linear_w : x->final_linear_w;
        ready(ctx, 0, m->table.params[next].offset);
    }
}
