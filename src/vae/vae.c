/* The VAE's forward passes (encode, decode) over the backend, and the planning of their buffers.
 * See vae.h for the data flow. Three feature buffers (x: the running activation; t and h:
 * temporaries) hold [N, C, H, W] tensors of every stage; a stage whose output cannot overwrite
 * its input writes into a temporary and swaps. */
#include <string.h>

#include "vae_internal.h"

#define GROUPS 32
#define NORM_EPS 1e-6f

typedef struct {
    Vae *v;
    void *x, *t, *h;
    int N, H, W;   /* the current resolution */
} Pass;

static void swap(void **a, void **b) {
    void *keep = *a;
    *a = *b;
    *b = keep;
}

static const void *param(const Vae *v, size_t offset) {
    return (const char *)v->weights + offset * dtype_size(v->be->act_dtype);
}

/* ---- planning ---- */

/* The largest [C, H, W] of any stage, times N: each level's channels at its resolution, the
 * neighbouring levels' channels at that resolution (a level's first block reads them, an
 * upsampling writes them), the images and the moments. */
static size_t feature_elements(const VaeConfig *g, int N, int H, int W) {
    size_t most = (size_t)g->in_channels * H * W;
    for (int i = 0; i < g->levels; i++) {
        const size_t at = (size_t)(H >> i) * (W >> i);
        int c = g->ch_mult[i];
        if (i > 0 && g->ch_mult[i - 1] > c) c = g->ch_mult[i - 1];
        if (i + 1 < g->levels && g->ch_mult[i + 1] > c) c = g->ch_mult[i + 1];
        if ((size_t)g->ch * c * at > most) most = (size_t)g->ch * c * at;
    }
    const size_t moments = (size_t)2 * g->z_channels * (H / g->factor) * (W / g->factor);
    return (most > moments ? most : moments) * N;
}

static int mid_channels(const VaeConfig *g) { return g->ch * g->ch_mult[g->levels - 1]; }

/* The float32 staging of the images (the largest input or output) between the host and act
 * buffers: none where act is float32. */
static size_t stage_elements(const Vae *v, int N, int H, int W) {
    return v->be->act_dtype == DTYPE_F32 ? 0 : (size_t)N * v->cfg.in_channels * H * W;
}

size_t vae_activation_bytes(const Vae *v, int N, int H, int W) {
    const VaeConfig *g = &v->cfg;
    Backend *be = v->be;
    const int T = (H / g->factor) * (W / g->factor), C = mid_channels(g);
    const size_t act = dtype_size(be->act_dtype);
    return 3 * feature_elements(g, N, H, W) * act + (size_t)N * T * 3 * C * act +
           be->attention_saved_bytes(be, N, T, C, 1) + stage_elements(v, N, H, W) * sizeof(float);
}

/* Buffers for N images of H x W pixels, kept while they are large enough. */
static void plan(Vae *v, int N, int H, int W) {
    const VaeConfig *g = &v->cfg;
    Backend *be = v->be;
    const size_t act = dtype_size(be->act_dtype), need = feature_elements(g, N, H, W);
    const int T = (H / g->factor) * (W / g->factor);
    if (need > v->planned) {
        for (int i = 0; i < 3; i++) {
            be->free(be, v->feat[i]);
            v->feat[i] = be->alloc(be, need * act, "VAE activations");
        }
        v->planned = need;
    }
    if ((size_t)N * T > v->planned_tokens) {
        be->free(be, v->qkv);
        be->free(be, v->att_saved);
        v->qkv = be->alloc(be, (size_t)N * T * 3 * mid_channels(g) * act, "VAE attention q, k, v");
        v->att_saved = be->alloc(be, be->attention_saved_bytes(be, N, T, mid_channels(g), 1), "VAE attention");
        v->planned_tokens = (size_t)N * T;
    }
    const size_t stage = stage_elements(v, N, H, W);
    if (stage > v->stage_count) {
        be->free(be, v->stage);
        v->stage = be->alloc(be, stage * sizeof(float), "VAE input/output staging");
        v->stage_count = stage;
    }
}

/* ---- layers ---- */

static void norm(Pass *p, void *out, const void *in, const VaeNorm *n, int silu) {
    Vae *v = p->v;
    v->be->group_norm(v->be, out, in, param(v, n->gamma), param(v, n->beta), p->N, n->C, p->H * p->W, GROUPS,
                      NORM_EPS, silu);
}

/* A convolution at the current resolution: "same" padding, or the downsampling's stride 2 with
 * one row and column of zeros at the bottom and right (then the resolution halves). */
static void conv(Pass *p, void *out, const void *in, const VaeConv *c, int stride, float beta) {
    const int same = stride == 1 ? (c->k - 1) / 2 : 0, extra = stride == 1 ? same : 1;
    const Conv2dShape s = {.N = p->N, .C = c->C, .H = p->H, .W = p->W, .O = c->O, .kh = c->k, .kw = c->k,
                           .stride = stride, .pad_top = same, .pad_left = same, .pad_bottom = extra,
                           .pad_right = extra};
    p->v->be->conv2d(p->v->be, out, in, param(p->v, c->w), param(p->v, c->b), &s, beta);
    p->v->flops += 2.0 * s.N * c->O * c->C * c->k * c->k * (double)conv2d_out_h(&s) * conv2d_out_w(&s);
}

/* x <- x + conv2(SiLU(norm2(conv1(SiLU(norm1(x)))))), with the 1x1 shortcut when channels change. */
static void resnet_block(Pass *p, const VaeResBlock *r) {
    norm(p, p->t, p->x, &r->norm1, 1);
    conv(p, p->h, p->t, &r->conv1, 1, 0.0f);
    norm(p, p->h, p->h, &r->norm2, 1);
    if (r->has_nin) {
        conv(p, p->t, p->x, &r->nin, 1, 0.0f);
        conv(p, p->t, p->h, &r->conv2, 1, 1.0f);
        swap(&p->x, &p->t);
    } else {
        conv(p, p->x, p->h, &r->conv2, 1, 1.0f);
    }
}

/* x <- x + proj_out(attention(q, k, v of norm(x))) over the H*W positions, in token-major layout. */
static void attention_block(Pass *p, const VaeAttn *a) {
    Vae *v = p->v;
    Backend *be = v->be;
    const int T = p->H * p->W, C = a->C, M = p->N * T;
    norm(p, p->t, p->x, &a->norm, 0);
    be->transpose(be, p->h, p->t, p->N, C, T, 0.0f);   /* [N, C, T] -> tokens [N, T, C] */
    be->linear(be, v->qkv, p->h, param(v, a->wqkv), param(v, a->bqkv), M, C, 3 * C, 0.0f);
    be->attention(be, p->t, v->att_saved, v->qkv, p->N, T, C, 1);
    be->linear(be, p->h, p->t, param(v, a->wproj), param(v, a->bproj), M, C, C, 0.0f);
    v->flops += 2.0 * M * C * 4 * C + 4.0 * p->N * (double)T * T * C;   /* q, k, v, proj; q k^T and P v */
    be->transpose(be, p->x, p->h, p->N, T, C, 1.0f);   /* back onto the residual */
}

static void middle(Pass *p, const VaeCoder *c) {
    resnet_block(p, &c->mid1);
    attention_block(p, &c->attn);
    resnet_block(p, &c->mid2);
}

/* norm_out + SiLU, then conv_out: the result is left in t. */
static void head(Pass *p, const VaeCoder *c) {
    norm(p, p->h, p->x, &c->norm_out, 1);
    conv(p, p->t, p->h, &c->conv_out, 1, 0.0f);
}

static Pass begin(Vae *v, int N, int H, int W) {
    plan(v, N, H, W);
    v->flops = 0;
    return (Pass){.v = v, .x = v->feat[0], .t = v->feat[1], .h = v->feat[2], .N = N, .H = H, .W = W};
}

void vae_encode(Vae *v, float *moments, const float *images, int N, int H, int W) {
    const VaeConfig *g = &v->cfg;
    const VaeCoder *c = &v->enc;
    Pass p = begin(v, N, H, W);
    backend_act_from_host(v->be, p.t, images, (size_t)N * g->in_channels * H * W, v->stage);
    conv(&p, p.x, p.t, &c->conv_in, 1, 0.0f);
    for (int i = 0; i < g->levels; i++) {
        const VaeLevel *lv = &c->level[i];
        for (int j = 0; j < lv->n_blocks; j++) resnet_block(&p, &lv->blocks[j]);
        if (lv->has_resample) {
            conv(&p, p.t, p.x, &lv->resample, 2, 0.0f);
            swap(&p.x, &p.t);
            p.H /= 2, p.W /= 2;
        }
    }
    middle(&p, c);
    head(&p, c);
    conv(&p, p.h, p.t, &c->quant, 1, 0.0f);
    backend_act_to_host(v->be, moments, p.h, (size_t)N * 2 * g->z_channels * p.H * p.W, v->stage);
}

void vae_decode(Vae *v, float *images, const float *latents, int N, int h, int w) {
    const VaeConfig *g = &v->cfg;
    const VaeCoder *c = &v->dec;
    Pass p = begin(v, N, h * g->factor, w * g->factor);
    p.H = h, p.W = w;
    backend_act_from_host(v->be, p.h, latents, (size_t)N * g->z_channels * h * w, v->stage);
    conv(&p, p.t, p.h, &c->quant, 1, 0.0f);
    conv(&p, p.x, p.t, &c->conv_in, 1, 0.0f);
    middle(&p, c);
    for (int i = g->levels - 1; i >= 0; i--) {
        const VaeLevel *lv = &c->level[i];
        for (int j = 0; j < lv->n_blocks; j++) resnet_block(&p, &lv->blocks[j]);
        if (lv->has_resample) {
            v->be->upsample_nearest2x(v->be, p.t, p.x, N, lv->resample.C, p.H, p.W);
            p.H *= 2, p.W *= 2;
            conv(&p, p.x, p.t, &lv->resample, 1, 0.0f);
        }
    }
    head(&p, c);
    backend_act_to_host(v->be, images, p.t, (size_t)N * g->in_channels * p.H * p.W, v->stage);
}

/* ---- description ---- */

const VaeConfig *vae_config(const Vae *v) { return &v->cfg; }
size_t vae_parameter_count(const Vae *v) { return v->n_params; }
uint32_t vae_fingerprint(const Vae *v) { return v->fingerprint; }
double vae_last_flops(const Vae *v) { return v->flops; }
const char *vae_path(const Vae *v) { return v->path; }
const char *vae_layout(const Vae *v) { return v->layout; }
const char *vae_format(const Vae *v) { return v->format; }

int vae_scaling_factor(const Vae *v, double *out) {
    if (v->has_scaling_factor) *out = v->scaling_factor;
    return v->has_scaling_factor;
}

void vae_describe(const Vae *v, char *buf, size_t len) {
    const VaeConfig *g = &v->cfg;
    size_t n = (size_t)snprintf(buf, len, "ch %d, ch_mult [", g->ch);
    for (int i = 0; i < g->levels && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%d", i ? "," : "", g->ch_mult[i]);
    if (n < len)
        snprintf(buf + n, len - n, "], num_res_blocks %d, z_channels %d (factor %d)", g->num_res_blocks, g->z_channels,
                 g->factor);
}

static void free_levels(VaeCoder *c) {
    for (int i = 0; i < VAE_MAX_LEVELS; i++) free(c->level[i].blocks);
}

void vae_free(Vae *v) {
    if (!v) return;
    Backend *be = v->be;
    for (int i = 0; i < 3; i++) be->free(be, v->feat[i]);
    be->free(be, v->qkv);
    be->free(be, v->att_saved);
    be->free(be, v->stage);
    be->free(be, v->weights);
    free_levels(&v->enc);
    free_levels(&v->dec);
    free(v->path);
    free(v->format);
    free(v->layout);
    free(v);
}
