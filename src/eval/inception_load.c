/* inception_load: every tensor of the FID Inception network taken by name and shape, each batch
 * norm folded into the convolution before it, then one upload. Folding (inference form,
 * eps 0.001), in double: s = gamma / sqrt(var + eps), W' = W * s (per output channel),
 * b' = beta - mean * s, so that conv(x, W') + b' = bn(conv(x, W)). */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "../ckpt/weights.h"
#include "inception_internal.h"

#define BN_EPS 0.001

typedef struct {
    InceptionTensorFn fn;
    void *ctx;
    Error *e;
    int failed;
    float *host;   /* every parameter, f32, in take order */
    size_t count, cap;
} Loader;

/* Room for n values, 8-aligned (16-byte vector loads of the act buffer): their offset. */
static size_t place(Loader *L, size_t n) {
    const size_t at = (L->count + 7) / 8 * 8;
    if (at + n > L->cap) {
        while (at + n > L->cap) L->cap = L->cap ? 2 * L->cap : (size_t)1 << 22;
        L->host = xrealloc(L->host, L->cap * sizeof *L->host, "Inception weights");
    }
    memset(L->host + L->count, 0, (at - L->count) * sizeof *L->host);
    L->count = at + n;
    return at;
}

static void read_into(Loader *L, float *dst, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void read_into(Loader *L, float *dst, int ndim, const int64_t *shape, const char *fmt, ...) {
    if (L->failed) return;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (L->fn(L->ctx, name, ndim, shape, dst, L->e) < 0) L->failed = 1;
}

/* BasicConv2d `prefix`: prefix.conv.weight [O, C, kh, kw] and prefix.bn.*, folded. */
static IncConv take_conv(Loader *L, const char *prefix, int O, int C, int kh, int kw, int stride, int pad_h,
                         int pad_w) {
    IncConv c = {.O = O, .C = C, .kh = kh, .kw = kw, .stride = stride, .pad_h = pad_h, .pad_w = pad_w};
    if (L->failed) return c;
    const size_t per = (size_t)C * kh * kw;
    c.w = place(L, (size_t)O * per);
    c.b = place(L, (size_t)O);
    const int64_t sw[4] = {O, C, kh, kw}, sv[1] = {O};
    float *bn = xmalloc(4 * (size_t)O * sizeof *bn, "Inception batch norm");
    read_into(L, L->host + c.w, 4, sw, "%s.conv.weight", prefix);
    static const char *const parts[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int p = 0; p < 4; p++) read_into(L, bn + (size_t)p * O, 1, sv, "%s.bn.%s", prefix, parts[p]);
    if (!L->failed)
        for (int o = 0; o < O; o++) {
            const double s = bn[o] / sqrt((double)bn[3 * O + o] + BN_EPS);
            float *w = L->host + c.w + (size_t)o * per;
            for (size_t k = 0; k < per; k++) w[k] = (float)(w[k] * s);
            L->host[c.b + o] = (float)(bn[O + o] - bn[2 * O + o] * s);
        }
    free(bn);
    return c;
}

/* A 1x1 convolution of branch `branch` of block `block`. */
static IncConv pointwise(Loader *L, const char *block, const char *branch, int O, int C) {
    char p[160];
    snprintf(p, sizeof p, "%s.%s", block, branch);
    return take_conv(L, p, O, C, 1, 1, 1, 0, 0);
}
static IncConv kernel(Loader *L, const char *block, const char *branch, int O, int C, int kh, int kw, int stride) {
    char p[160];
    snprintf(p, sizeof p, "%s.%s", block, branch);
    /* "same" padding at stride 1, none at stride 2 (the reductions) */
    return take_conv(L, p, O, C, kh, kw, stride, stride == 1 ? kh / 2 : 0, stride == 1 ? kw / 2 : 0);
}

static IncBlockA take_a(Loader *L, const char *n, int in, int pool_features) {
    return (IncBlockA){
        .b1x1 = pointwise(L, n, "branch1x1", 64, in),
        .b5x5_1 = pointwise(L, n, "branch5x5_1", 48, in),
        .b5x5_2 = kernel(L, n, "branch5x5_2", 64, 48, 5, 5, 1),
        .dbl_1 = pointwise(L, n, "branch3x3dbl_1", 64, in),
        .dbl_2 = kernel(L, n, "branch3x3dbl_2", 96, 64, 3, 3, 1),
        .dbl_3 = kernel(L, n, "branch3x3dbl_3", 96, 96, 3, 3, 1),
        .pool = pointwise(L, n, "branch_pool", pool_features, in),
    };
}

static IncBlockB take_b(Loader *L, const char *n, int in) {
    return (IncBlockB){
        .b3x3 = kernel(L, n, "branch3x3", 384, in, 3, 3, 2),
        .dbl_1 = pointwise(L, n, "branch3x3dbl_1", 64, in),
        .dbl_2 = kernel(L, n, "branch3x3dbl_2", 96, 64, 3, 3, 1),
        .dbl_3 = kernel(L, n, "branch3x3dbl_3", 96, 96, 3, 3, 2),
    };
}

static IncBlockC take_c(Loader *L, const char *n, int c7) {
    return (IncBlockC){
        .b1x1 = pointwise(L, n, "branch1x1", 192, 768),
        .b7_1 = pointwise(L, n, "branch7x7_1", c7, 768),
        .b7_2 = kernel(L, n, "branch7x7_2", c7, c7, 1, 7, 1),
        .b7_3 = kernel(L, n, "branch7x7_3", 192, c7, 7, 1, 1),
        .dbl_1 = pointwise(L, n, "branch7x7dbl_1", c7, 768),
        .dbl_2 = kernel(L, n, "branch7x7dbl_2", c7, c7, 7, 1, 1),
        .dbl_3 = kernel(L, n, "branch7x7dbl_3", c7, c7, 1, 7, 1),
        .dbl_4 = kernel(L, n, "branch7x7dbl_4", c7, c7, 7, 1, 1),
        .dbl_5 = kernel(L, n, "branch7x7dbl_5", 192, c7, 1, 7, 1),
        .pool = pointwise(L, n, "branch_pool", 192, 768),
    };
}

static IncBlockD take_d(Loader *L, const char *n) {
    return (IncBlockD){
        .b3_1 = pointwise(L, n, "branch3x3_1", 192, 768),
        .b3_2 = kernel(L, n, "branch3x3_2", 320, 192, 3, 3, 2),
        .b7_1 = pointwise(L, n, "branch7x7x3_1", 192, 768),
        .b7_2 = kernel(L, n, "branch7x7x3_2", 192, 192, 1, 7, 1),
        .b7_3 = kernel(L, n, "branch7x7x3_3", 192, 192, 7, 1, 1),
        .b7_4 = kernel(L, n, "branch7x7x3_4", 192, 192, 3, 3, 2),
    };
}

static IncBlockE take_e(Loader *L, const char *n, int in, int max_pool) {
    return (IncBlockE){
        .b1x1 = pointwise(L, n, "branch1x1", 320, in),
        .b3_1 = pointwise(L, n, "branch3x3_1", 384, in),
        .b3_2a = kernel(L, n, "branch3x3_2a", 384, 384, 1, 3, 1),
        .b3_2b = kernel(L, n, "branch3x3_2b", 384, 384, 3, 1, 1),
        .dbl_1 = pointwise(L, n, "branch3x3dbl_1", 448, in),
        .dbl_2 = kernel(L, n, "branch3x3dbl_2", 384, 448, 3, 3, 1),
        .dbl_3a = kernel(L, n, "branch3x3dbl_3a", 384, 384, 1, 3, 1),
        .dbl_3b = kernel(L, n, "branch3x3dbl_3b", 384, 384, 3, 1, 1),
        .pool = pointwise(L, n, "branch_pool", 192, in),
        .max_pool = max_pool,
    };
}

static void take_network(Loader *L, Inception *net) {
    net->conv_1a = take_conv(L, "Conv2d_1a_3x3", 32, 3, 3, 3, 2, 0, 0);
    net->conv_2a = take_conv(L, "Conv2d_2a_3x3", 32, 32, 3, 3, 1, 0, 0);   /* unpadded */
    net->conv_2b = take_conv(L, "Conv2d_2b_3x3", 64, 32, 3, 3, 1, 1, 1);
    net->conv_3b = take_conv(L, "Conv2d_3b_1x1", 80, 64, 1, 1, 1, 0, 0);
    net->conv_4a = take_conv(L, "Conv2d_4a_3x3", 192, 80, 3, 3, 1, 0, 0);   /* unpadded */
    net->mixed_5[0] = take_a(L, "Mixed_5b", 192, 32);
    net->mixed_5[1] = take_a(L, "Mixed_5c", 256, 64);
    net->mixed_5[2] = take_a(L, "Mixed_5d", 288, 64);
    net->mixed_6a = take_b(L, "Mixed_6a", 288);
    static const int c7[4] = {128, 160, 160, 192};
    for (int i = 0; i < 4; i++) {
        char n[16];
        snprintf(n, sizeof n, "Mixed_6%c", 'b' + i);
        net->mixed_6[i] = take_c(L, n, c7[i]);
    }
    net->mixed_7a = take_d(L, "Mixed_7a");
    net->mixed_7[0] = take_e(L, "Mixed_7b", 1280, 0);
    net->mixed_7[1] = take_e(L, "Mixed_7c", 2048, 1);
    const int64_t sfc[2] = {INCEPTION_CLASSES, INCEPTION_POOL_DIM};
    net->fc = place(L, (size_t)INCEPTION_CLASSES * INCEPTION_POOL_DIM);
    read_into(L, L->host + net->fc, 2, sfc, "fc.weight");
}

Inception *inception_from_fn(Backend *be, InceptionTensorFn fn, void *ctx, Error *e) {
    Inception *net = xcalloc(1, sizeof *net, "Inception network");
    net->be = be;
    Loader L = {.fn = fn, .ctx = ctx, .e = e};
    take_network(&L, net);
    if (!L.failed) net->weights = backend_upload_act(be, L.host, L.count, "Inception weights");
    free(L.host);
    if (L.failed) {
        inception_free(net);
        return NULL;
    }
    return net;
}

/* ---- from a weights file ---- */

typedef struct {
    WeightFile *wf;
    char *used;   /* per file tensor */
} FileSource;

static int read_from_file(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst, Error *e) {
    FileSource *f = ctx;
    char want[96], got[96];
    shape_str(ndim, shape, want, sizeof want);
    const int i = weights_find(f->wf, name);
    if (i < 0)
        return error_set(e, "%s: missing tensor %s (expected shape %s): not the FID Inception network's weights",
                         weights_path(f->wf), name, want);
    const TensorMeta *m = weights_meta(f->wf, i);
    if (m->ndim != ndim || memcmp(m->shape, shape, (size_t)ndim * sizeof *shape) != 0) {
        shape_str(m->ndim, m->shape, got, sizeof got);
        return error_set(e, "%s: %s: expected shape %s, found %s", weights_path(f->wf), name, want, got);
    }
    f->used[i] = 1;
    return weights_read(f->wf, i, dst, e);
}

static int ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

Inception *inception_load(Backend *be, const char *path, Error *e) {
    FileSource f = {.wf = weights_open(path, e)};
    if (!f.wf) return NULL;
    f.used = xcalloc((size_t)weights_count(f.wf) + 1, 1, "Inception tensor flags");
    Inception *net = inception_from_fn(be, read_from_file, &f, e);
    for (int i = 0; net && i < weights_count(f.wf); i++) {
        const char *name = weights_meta(f.wf, i)->name;
        if (f.used[i] || ends_with(name, ".num_batches_tracked") || strcmp(name, "fc.bias") == 0) continue;
        error_set(e, "%s: tensor %s is not part of the FID Inception network", path, name);
        inception_free(net);
        net = NULL;
    }
    free(f.used);
    weights_close(f.wf);
    return net;
}

void inception_free(Inception *net) {
    if (!net) return;
    if (net->weights) net->be->free(net->be, net->weights);
    if (net->stage) net->be->free(net->be, net->stage);
    free(net);
}
