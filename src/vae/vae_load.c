/* vae_load: the autoencoder's configuration read from the shapes of its weights, every tensor
 * taken under its ldm name with the shape that configuration implies, then uploaded in one piece.
 * A tensor the architecture does not use is an error (a file of another architecture must not
 * load half-way), as is a missing one or one of another shape. vae_create_synthetic walks the
 * same architecture with the tensors made by a formula instead of read from a file. */
#include <stdarg.h>
#include <math.h>
#include <string.h>
#include <zlib.h>

#include "vae_internal.h"

#define GROUPS 32   /* GroupNorm groups of the KL autoencoders */

typedef struct Loader Loader;
/* Where the tensors come from: fill dst with tensor `name` of the given shape, or -1 with a
 * message in L->e. */
typedef int (*TensorSource)(Loader *L, const char *name, int ndim, const int64_t *shape, float *dst);

struct Loader {
    TensorSource source;
    WeightFile *wf;       /* the file (vae_load) */
    char *used;           /* per file tensor */
    uint32_t seed;        /* the formula's seed (vae_create_synthetic) */
    float *host;          /* every parameter, f32, in take order */
    size_t count, cap;    /* elements placed (with alignment padding), allocated */
    size_t params;        /* elements of the tensors themselves */
    Error *e;
    int failed;
};

static const TensorMeta *find_meta(Loader *L, const char *name) {
    const int i = weights_find(L->wf, name);
    return i < 0 ? NULL : weights_meta(L->wf, i);
}

/* Take tensor `name` (printf-style) of the given shape: returns its offset. After a failure every
 * take returns 0 and the first message stays. */
static size_t take(Loader *L, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t take(Loader *L, int ndim, const int64_t *shape, const char *fmt, ...) {
    if (L->failed) return 0;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    /* every tensor 16-byte aligned in the act buffer (vector loads) */
    const size_t n = shape_numel(ndim, shape), at = (L->count + 7) / 8 * 8;
    if (at + n > L->cap) {
        while (at + n > L->cap) L->cap = L->cap ? 2 * L->cap : (size_t)1 << 20;
        L->host = xrealloc(L->host, L->cap * sizeof *L->host, "VAE weights");
    }
    memset(L->host + L->count, 0, (at - L->count) * sizeof *L->host);
    if (L->source(L, name, ndim, shape, L->host + at) < 0) {
        L->failed = 1;
        return 0;
    }
    L->count = at + n;
    L->params += n;
    return at;
}

/* TensorSource of a weight file: the tensor of that name and shape, marked as used. */
static int from_file(Loader *L, const char *name, int ndim, const int64_t *shape, float *dst) {
    char want[96], got[96];
    shape_str(ndim, shape, want, sizeof want);
    const int i = weights_find(L->wf, name);
    if (i < 0) return error_set(L->e, "%s: missing tensor %s (expected shape %s)", weights_path(L->wf), name, want);
    const TensorMeta *m = weights_meta(L->wf, i);
    if (m->ndim != ndim || memcmp(m->shape, shape, (size_t)ndim * sizeof *shape) != 0) {
        shape_str(m->ndim, m->shape, got, sizeof got);
        return error_set(L->e, "%s: %s: expected shape %s, found %s", weights_path(L->wf), name, want, got);
    }
    if (weights_read(L->wf, i, dst, L->e) < 0) return -1;
    L->used[i] = 1;
    return 0;
}

/* TensorSource of vae_create_synthetic: the formula of vae.h. */
static int from_formula(Loader *L, const char *name, int ndim, const int64_t *shape, float *dst) {
    vae_synthetic_tensor(name, ndim, shape, L->seed, dst);
    return 0;
}

static VaeNorm take_norm(Loader *L, int C, const char *prefix) {
    const int64_t s[1] = {C};
    VaeNorm n = {.C = C};
    n.gamma = take(L, 1, s, "%s.weight", prefix);
    n.beta = take(L, 1, s, "%s.bias", prefix);
    return n;
}

static VaeConv take_conv(Loader *L, int O, int C, int k, const char *prefix) {
    const int64_t sw[4] = {O, C, k, k}, sb[1] = {O};
    VaeConv c = {.O = O, .C = C, .k = k};
    c.w = take(L, 4, sw, "%s.weight", prefix);
    c.b = take(L, 1, sb, "%s.bias", prefix);
    return c;
}

static VaeResBlock take_block(Loader *L, int cin, int cout, const char *prefix) {
    char p[200];
    VaeResBlock r = {.has_nin = cin != cout};
    snprintf(p, sizeof p, "%s.norm1", prefix), r.norm1 = take_norm(L, cin, p);
    snprintf(p, sizeof p, "%s.conv1", prefix), r.conv1 = take_conv(L, cout, cin, 3, p);
    snprintf(p, sizeof p, "%s.norm2", prefix), r.norm2 = take_norm(L, cout, p);
    snprintf(p, sizeof p, "%s.conv2", prefix), r.conv2 = take_conv(L, cout, cout, 3, p);
    if (r.has_nin) snprintf(p, sizeof p, "%s.nin_shortcut", prefix), r.nin = take_conv(L, cout, cin, 1, p);
    return r;
}

/* q, k, v weights taken one after the other form the [3C, C] qkv weight; then their biases. */
static VaeAttn take_attention(Loader *L, int C, const char *prefix) {
    const int64_t sw[4] = {C, C, 1, 1}, sb[1] = {C};
    char p[200];
    VaeAttn a = {.C = C};
    snprintf(p, sizeof p, "%s.norm", prefix), a.norm = take_norm(L, C, p);
    a.wqkv = take(L, 4, sw, "%s.q.weight", prefix);
    take(L, 4, sw, "%s.k.weight", prefix);
    take(L, 4, sw, "%s.v.weight", prefix);
    a.bqkv = take(L, 1, sb, "%s.q.bias", prefix);
    take(L, 1, sb, "%s.k.bias", prefix);
    take(L, 1, sb, "%s.v.bias", prefix);
    a.wproj = take(L, 4, sw, "%s.proj_out.weight", prefix);
    a.bproj = take(L, 1, sb, "%s.proj_out.bias", prefix);
    return a;
}

static void take_mid(Loader *L, VaeCoder *c, int C, const char *coder) {
    char p[96];   /* prefixes of the block and attention names */
    snprintf(p, sizeof p, "%s.mid.block_1", coder), c->mid1 = take_block(L, C, C, p);
    snprintf(p, sizeof p, "%s.mid.attn_1", coder), c->attn = take_attention(L, C, p);
    snprintf(p, sizeof p, "%s.mid.block_2", coder), c->mid2 = take_block(L, C, C, p);
}

static void take_encoder(Loader *L, Vae *v) {
    const VaeConfig *g = &v->cfg;
    VaeCoder *c = &v->enc;
    char p[96];   /* prefixes of the block and attention names */
    c->conv_in = take_conv(L, g->ch, g->in_channels, 3, "encoder.conv_in");
    int block_in = g->ch;
    for (int i = 0; i < g->levels; i++) {
        const int block_out = g->ch * g->ch_mult[i];
        VaeLevel *lv = &c->level[i];
        lv->n_blocks = g->num_res_blocks;
        lv->blocks = xcalloc((size_t)lv->n_blocks, sizeof *lv->blocks, "VAE encoder blocks");
        for (int j = 0; j < lv->n_blocks; j++, block_in = block_out) {
            snprintf(p, sizeof p, "encoder.down.%d.block.%d", i, j);
            lv->blocks[j] = take_block(L, block_in, block_out, p);
        }
        lv->has_resample = i != g->levels - 1;
        if (lv->has_resample) {
            snprintf(p, sizeof p, "encoder.down.%d.downsample.conv", i);
            lv->resample = take_conv(L, block_in, block_in, 3, p);
        }
    }
    take_mid(L, c, block_in, "encoder");
    c->norm_out = take_norm(L, block_in, "encoder.norm_out");
    c->conv_out = take_conv(L, 2 * g->z_channels, block_in, 3, "encoder.conv_out");
    c->quant = take_conv(L, 2 * g->z_channels, 2 * g->z_channels, 1, "quant_conv");
}

static void take_decoder(Loader *L, Vae *v) {
    const VaeConfig *g = &v->cfg;
    VaeCoder *c = &v->dec;
    char p[96];   /* prefixes of the block and attention names */
    c->quant = take_conv(L, g->z_channels, g->z_channels, 1, "post_quant_conv");
    int block_in = g->ch * g->ch_mult[g->levels - 1];
    c->conv_in = take_conv(L, block_in, g->z_channels, 3, "decoder.conv_in");
    take_mid(L, c, block_in, "decoder");
    for (int i = g->levels - 1; i >= 0; i--) {
        const int block_out = g->ch * g->ch_mult[i];
        VaeLevel *lv = &c->level[i];
        lv->n_blocks = g->num_res_blocks + 1;
        lv->blocks = xcalloc((size_t)lv->n_blocks, sizeof *lv->blocks, "VAE decoder blocks");
        for (int j = 0; j < lv->n_blocks; j++, block_in = block_out) {
            snprintf(p, sizeof p, "decoder.up.%d.block.%d", i, j);
            lv->blocks[j] = take_block(L, block_in, block_out, p);
        }
        lv->has_resample = i != 0;
        if (lv->has_resample) {
            snprintf(p, sizeof p, "decoder.up.%d.upsample.conv", i);
            lv->resample = take_conv(L, block_in, block_in, 3, p);
        }
    }
    c->norm_out = take_norm(L, block_in, "decoder.norm_out");
    c->conv_out = take_conv(L, g->in_channels, block_in, 3, "decoder.conv_out");
}

/* ch and in_channels from encoder.conv_in, the levels and blocks by counting, ch_mult from each
 * level's first conv, z_channels from decoder.conv_in. */
static int infer_config(Loader *L, VaeConfig *g) {
    const char *path = weights_path(L->wf);
    const TensorMeta *m = find_meta(L, "encoder.conv_in.weight");
    if (!m || m->ndim != 4)
        return error_set(L->e, "%s: not a KL autoencoder: no 4-D tensor encoder.conv_in.weight", path);
    g->ch = (int)m->shape[0];
    g->in_channels = (int)m->shape[1];
    char name[96];
    for (g->levels = 0;; g->levels++) {
        snprintf(name, sizeof name, "encoder.down.%d.block.0.conv1.weight", g->levels);
        if (!(m = find_meta(L, name))) break;
        if (g->levels == VAE_MAX_LEVELS)
            return error_set(L->e, "%s: more than %d encoder levels", path, VAE_MAX_LEVELS);
        if (m->ndim != 4 || m->shape[0] % g->ch)
            return error_set(L->e, "%s: %s: expected [k * %d, C, 3, 3] (a multiple of encoder.conv_in's %d channels)",
                             path, name, g->ch, g->ch);
        g->ch_mult[g->levels] = (int)(m->shape[0] / g->ch);
    }
    if (g->levels == 0)
        return error_set(L->e, "%s: not a KL autoencoder: no encoder.down.0.block.0.conv1.weight", path);
    for (g->num_res_blocks = 0;; g->num_res_blocks++) {
        snprintf(name, sizeof name, "encoder.down.0.block.%d.conv1.weight", g->num_res_blocks);
        if (!find_meta(L, name)) break;
    }
    if (!(m = find_meta(L, "decoder.conv_in.weight")) || m->ndim != 4)
        return error_set(L->e, "%s: not a KL autoencoder: no 4-D tensor decoder.conv_in.weight", path);
    g->z_channels = (int)m->shape[1];
    g->factor = 1 << (g->levels - 1);
    if (g->ch % GROUPS)
        return error_set(L->e, "%s: encoder.conv_in has %d channels: GroupNorm's %d groups need a multiple of %d",
                         path, g->ch, GROUPS, GROUPS);
    return 0;
}

/* The first file tensor nothing took, for the message of a file of another architecture. */
static int check_all_used(Loader *L, const VaeConfig *g) {
    for (int i = 0; i < weights_count(L->wf); i++)
        if (!L->used[i])
            return error_set(L->e, "%s: tensor %s is not part of a KL autoencoder of this shape (ch %d, %d levels, "
                             "%d blocks per level, no attention inside the levels): another architecture?",
                             weights_path(L->wf), weights_meta(L->wf, i)->name, g->ch, g->levels, g->num_res_blocks);
    return 0;
}

/* The parameters the walk collected, uploaded into one act buffer (through f32 staging and one
 * cast), and what identifies them. */
static void upload(Vae *v, const Loader *L) {
    v->n_params = L->params;
    v->fingerprint = (uint32_t)crc32_z(0, (const Bytef *)L->host, (z_size_t)(L->count * sizeof *L->host));
    v->weights = backend_upload_act(v->be, L->host, L->count, "VAE weights");
}

Vae *vae_load(const char *path, Backend *be, Error *e) {
    WeightFile *wf = vae_weights_open(path, e);
    if (!wf) return NULL;
    Vae *v = xcalloc(1, sizeof *v, "VAE");
    v->be = be;
    Loader L = {.source = from_file, .wf = wf, .e = e};
    L.used = xcalloc((size_t)weights_count(wf) + 1, 1, "VAE tensor flags");
    int rc = infer_config(&L, &v->cfg);
    if (rc == 0) {
        take_encoder(&L, v);
        take_decoder(&L, v);
        rc = L.failed ? -1 : check_all_used(&L, &v->cfg);
    }
    if (rc == 0) {
        upload(v, &L);
        v->path = xstrdup(weights_path(wf));
        v->format = xstrdup(weights_format(wf));
        v->layout = xstrdup(weights_layout(wf));
        v->has_scaling_factor = weights_scaling_factor(wf, &v->scaling_factor);
    }
    free(L.used);
    free(L.host);
    weights_close(wf);
    if (rc < 0) {
        vae_free(v);
        return NULL;
    }
    return v;
}

/* FNV-1a of a name, then the murmur3 finaliser of (hash + i * golden ratio): 32-bit integer
 * arithmetic, the same in C and in Python. */
static uint32_t name_hash(const char *name, uint32_t seed) {
    uint32_t h = 2166136261u ^ seed;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 16777619u;
    return h;
}

static uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    return x ^ (x >> 16);
}

void vae_synthetic_tensor(const char *name, int ndim, const int64_t *shape, uint32_t seed, float *dst) {
    const uint32_t h = name_hash(name, seed);
    const size_t n = shape_numel(ndim, shape);
    int64_t fan_in = 1;
    for (int d = 1; d < ndim; d++) fan_in *= shape[d];
    const int norm = ndim == 1 && strstr(name, "norm") != NULL;
    const int is_weight = strlen(name) > 7 && !strcmp(name + strlen(name) - 7, ".weight");
    const double scale = ndim > 1 ? 1.0 / sqrt((double)fan_in) : 0.1, offset = norm && is_weight ? 1.0 : 0.0;
    for (size_t i = 0; i < n; i++) {
        const double u = (double)(mix32(h + (uint32_t)i * 0x9e3779b9u) >> 8) * 0x1p-24;   /* [0, 1) */
        dst[i] = (float)(offset + (2.0 * u - 1.0) * scale);
    }
}

Vae *vae_create_synthetic(const VaeConfig *cfg, uint32_t seed, Backend *be) {
    Vae *v = xcalloc(1, sizeof *v, "VAE");
    v->be = be;
    v->cfg = *cfg;
    v->cfg.factor = 1 << (cfg->levels - 1);
    Error e;
    Loader L = {.source = from_formula, .seed = seed, .e = &e};
    take_encoder(&L, v);
    take_decoder(&L, v);
    upload(v, &L);
    free(L.host);
    char path[64];
    snprintf(path, sizeof path, "(synthetic, seed %u)", seed);
    v->path = xstrdup(path);
    v->format = xstrdup("formula");
    v->layout = xstrdup("ldm");
    return v;
}
