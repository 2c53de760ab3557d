#include "params.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "../util/rng.h"

typedef struct {
    ParamTable *t;
    int cap;
} Builder;

static int add(Builder *b, int trainable, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int add(Builder *b, int trainable, int ndim, const int64_t *shape, const char *fmt, ...) {
    ParamTable *t = b->t;
    if (t->count == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        t->params = xrealloc(t->params, (size_t)b->cap * sizeof *t->params, "parameter table");
    }
    ParamInfo *p = &t->params[t->count];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof p->name) FATAL("parameter name too long: %s", p->name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->trainable = trainable;
    return t->count++;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define ADD_LINEAR(b, wi, bi, out, in, ...)                                       \
    do {                                                                          \
        wi = add(b, 1, 2, SHAPE(out, in), __VA_ARGS__, "weight");                \
        bi = add(b, 1, 1, SHAPE(out), __VA_ARGS__, "bias");                       \
    } while (0)

static void add_block(Builder *b, BlockParams *bp, const char *prefix, int i, int width, int cond, double ratio) {
    int m = model_mlp_hidden(width, ratio);
    ADD_LINEAR(b, bp->qkv_w, bp->qkv_b, 3 * width, width, "model.%s.%d.attn.qkv.%s", prefix, i);
    ADD_LINEAR(b, bp->proj_w, bp->proj_b, width, width, "model.%s.%d.attn.proj.%s", prefix, i);
    ADD_LINEAR(b, bp->fc1_w, bp->fc1_b, m, width, "model.%s.%d.mlp.fc1.%s", prefix, i);
    ADD_LINEAR(b, bp->fc2_w, bp->fc2_b, width, m, "model.%s.%d.mlp.fc2.%s", prefix, i);
    ADD_LINEAR(b, bp->ada_w, bp->ada_b, 6 * width, cond, "model.%s.%d.adaLN_modulation.1.%s", prefix, i);
}

void param_table_build(ParamTable *t, const ModelConfig *c) {
    memset(t, 0, sizeof *t);
    Builder b = {t, 0};
    ParamIndex *x = &t->idx;
    int D = c->hidden_size, Dd = c->decoder_hidden_size, L = model_num_patches(c), p = c->patch_size;
    int F = c->frequency_embedding_size, Df = model_final_width(c);
    int use_mask_token = c->use_decoder && c->mae_loss_coef > 0;

    /* Own parameters of MaskDiT first, in the original's registration order. */
    x->pos_embed = add(&b, 0, 3, SHAPE(1, L, D), "model.pos_embed");
    x->decoder_pos_embed = c->use_decoder ? add(&b, 0, 3, SHAPE(1, L, Dd), "model.decoder_pos_embed") : -1;
    x->mask_token = use_mask_token ? add(&b, 1, 3, SHAPE(1, 1, Dd), "model.mask_token") : -1;
    x->x_embed_w = add(&b, 1, 4, SHAPE(D, c->in_channels, p, p), "model.x_embedder.proj.weight");
    x->x_embed_b = add(&b, 1, 1, SHAPE(D), "model.x_embedder.proj.bias");
    ADD_LINEAR(&b, x->t_mlp0_w, x->t_mlp0_b, D, F, "model.t_embedder.mlp.0.%s");
    ADD_LINEAR(&b, x->t_mlp2_w, x->t_mlp2_b, D, D, "model.t_embedder.mlp.2.%s");
    x->y_table = c->num_classes ? add(&b, 1, 2, SHAPE(D, c->num_classes), "model.y_embedder.embedding_table.weight")
                                : -1;
    x->blocks = xcalloc((size_t)MAX(c->depth, 1), sizeof *x->blocks, "encoder block index");
    for (int i = 0; i < c->depth; i++) add_block(&b, &x->blocks[i], "blocks", i, D, D, c->mlp_ratio);
    x->dec_linear_w = x->dec_linear_b = x->dec_ada_w = x->dec_ada_b = -1;
    x->decoder_blocks = xcalloc((size_t)MAX(c->decoder_depth, 1), sizeof *x->decoder_blocks, "decoder block index");
    if (c->use_decoder) {
        ADD_LINEAR(&b, x->dec_linear_w, x->dec_linear_b, Dd, D, "model.decoder_layer.linear.%s");
        ADD_LINEAR(&b, x->dec_ada_w, x->dec_ada_b, 2 * D, D, "model.decoder_layer.adaLN_modulation.1.%s");
        for (int i = 0; i < c->decoder_depth; i++)
            add_block(&b, &x->decoder_blocks[i], "decoder_blocks", i, Dd, D, c->mlp_ratio);
    }
    ADD_LINEAR(&b, x->final_linear_w, x->final_linear_b, model_patch_dim(c), Df, "model.final_layer.linear.%s");
    ADD_LINEAR(&b, x->final_ada_w, x->final_ada_b, 2 * Df, D, "model.final_layer.adaLN_modulation.1.%s");

    /* Offsets: trainable prefix in state_dict order, then the fixed buffers. */
    size_t off = 0;
    for (int pass = 1; pass >= 0; pass--) {
        for (int i = 0; i < t->count; i++) {
            if (t->params[i].trainable != pass) continue;
            t->params[i].offset = off;
            off += t->params[i].numel;
        }
        if (pass == 1) t->n_trainable = off;
    }
    t->total = off;
}

void param_table_free(ParamTable *t) {
    free(t->params);
    free(t->idx.blocks);
    free(t->idx.decoder_blocks);
    memset(t, 0, sizeof *t);
}

int param_find(const ParamTable *t, const char *name) {
    for (int i = 0; i < t->count; i++)
        if (strcmp(t->params[i].name, name) == 0) return i;
    return -1;
}

static void sincos_1d(double *out, int stride, int dim, double pos) {
    int half = dim / 2;
    for (int k = 0; k < half; k++) {
        double omega = 1.0 / pow(10000.0, (double)k / (dim / 2.0));
        out[k * stride] = sin(pos * omega);
        out[(half + k) * stride] = cos(pos * omega);
    }
}

void sincos_pos_embed_2d(double *out, int width, int grid) {
    int quarter = width / 2;
    for (int i = 0; i < grid; i++)
        for (int j = 0; j < grid; j++) {
            double *row = out + (size_t)(i * grid + j) * width;
            sincos_1d(row, 1, quarter, j);            /* the column j comes first */
            sincos_1d(row + quarter, 1, quarter, i);
        }
}

static void set_pos_embed(const ParamInfo *p, int grid, float *flat) {
    int width = (int)p->shape[2];
    double *pe = xmalloc((size_t)grid * grid * width * sizeof *pe, "position embedding");
    sincos_pos_embed_2d(pe, width, grid);
    for (size_t i = 0; i < p->numel; i++) flat[p->offset + i] = (float)pe[i];
    free(pe);
}

void params_set_pos_embeds(const ParamTable *t, const ModelConfig *c, float *flat) {
    set_pos_embed(&t->params[t->idx.pos_embed], model_grid(c), flat);
    if (t->idx.decoder_pos_embed >= 0) set_pos_embed(&t->params[t->idx.decoder_pos_embed], model_grid(c), flat);
}

static void fill_normal(const ParamInfo *p, float *flat, uint64_t seed, int index, double std) {
    Rng r = rng_stream(seed, RNG_INIT, (uint32_t)index, 0);
    for (size_t i = 0; i < p->numel; i++) flat[p->offset + i] = (float)(std * rng_normal(&r));
}

/* Xavier-uniform over the weight viewed as (out, numel/out), as torch does for a Linear and as the
 * original does for the patch embedding (w.view(w.shape[0], -1)). */
static void fill_xavier(const ParamInfo *p, float *flat, uint64_t seed, int index) {
    double fan_out = (double)p->shape[0], fan_in = (double)p->numel / fan_out;
    double bound = sqrt(6.0 / (fan_in + fan_out));
    Rng r = rng_stream(seed, RNG_INIT, (uint32_t)index, 0);
    for (size_t i = 0; i < p->numel; i++) flat[p->offset + i] = (float)(bound * (2.0 * rng_uniform(&r) - 1.0));
}

static int is_zero_init(const ParamTable *t, int i) {
    const char *n = t->params[i].name;
    return strstr(n, "adaLN_modulation") || strncmp(n, "model.final_layer.linear.", 25) == 0 ||
           strncmp(n, "model.decoder_layer.linear.", 27) == 0;
}

void params_init(const ParamTable *t, const ModelConfig *c, uint64_t seed, float *flat) {
    const ParamIndex *x = &t->idx;
    for (int i = 0; i < t->count; i++) {
        const ParamInfo *p = &t->params[i];
        if (!p->trainable) continue;
        if (is_zero_init(t, i) || p->ndim == 1)
            memset(flat + p->offset, 0, p->numel * sizeof *flat);
        else if (i == x->y_table || i == x->t_mlp0_w || i == x->t_mlp2_w || i == x->mask_token)
            fill_normal(p, flat, seed, i, 0.02);
        else
            fill_xavier(p, flat, seed, i);
    }
    params_set_pos_embeds(t, c, flat);
}
