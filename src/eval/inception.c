/* The FID Inception network's forward pass over the backend's ops (the layers: inception_internal.h).
 *
 * Branch concatenation: each block allocates its output [N, C_total, H, W] and every branch's
 * last convolution (or pooling) writes its channel slice directly, one image at a time (for
 * image n the slice of channels [at, at + O) is contiguous), so there is no copy. Those last
 * layers skip their ReLU; one ReLU over the whole output then applies it. That is exact for the
 * max-pool branches too: they pool ReLU outputs, which are >= 0 already. */
#include <string.h>

#include "inception_internal.h"

typedef struct {
    void *p;
    int N, C, H, W;
} Act;

static size_t numel(const Act *t) { return (size_t)t->N * t->C * t->H * t->W; }

static Act act_new(Inception *net, int N, int C, int H, int W) {
    Act t = {.N = N, .C = C, .H = H, .W = W};
    t.p = net->be->alloc(net->be, numel(&t) * dtype_size(net->be->act_dtype), "Inception activations");
    return t;
}

static void act_free(Inception *net, Act *t) {
    net->be->free(net->be, t->p);
    t->p = NULL;
}

/* Image n's channel c onwards. */
static void *image_at(const Inception *net, const Act *t, int n, int c) {
    return (char *)t->p + ((size_t)n * t->C + c) * t->H * t->W * dtype_size(net->be->act_dtype);
}

static const void *param(const Inception *net, size_t offset) {
    return (const char *)net->weights + offset * dtype_size(net->be->act_dtype);
}

static Conv2dShape conv_shape(const IncConv *c, const Act *in, int N) {
    return (Conv2dShape){.N = N, .C = in->C, .H = in->H, .W = in->W, .O = c->O, .kh = c->kh, .kw = c->kw,
                         .stride = c->stride, .pad_top = c->pad_h, .pad_bottom = c->pad_h, .pad_left = c->pad_w,
                         .pad_right = c->pad_w};
}

/* c applied to in, written without ReLU to channels [at, at + O) of out: returns at + O. */
static int conv_into(Inception *net, Act *out, int at, const Act *in, const IncConv *c) {
    const Conv2dShape s = conv_shape(c, in, 1);
    for (int n = 0; n < in->N; n++)
        net->be->conv2d(net->be, image_at(net, out, n, at), image_at(net, in, n, 0), param(net, c->w),
                        param(net, c->b), &s, 0.0f);
    return at + c->O;
}

/* BasicConv2d: convolution, (folded) batch norm, ReLU, into a new tensor. */
static Act conv_relu(Inception *net, const Act *in, const IncConv *c) {
    const Conv2dShape s = conv_shape(c, in, in->N);
    Act out = act_new(net, in->N, c->O, conv2d_out_h(&s), conv2d_out_w(&s));
    net->be->conv2d(net->be, out.p, in->p, param(net, c->w), param(net, c->b), &s, 0.0f);
    net->be->relu(net->be, out.p, out.p, numel(&out));
    return out;
}

/* conv_relu of a tensor that is no longer needed afterwards. */
static Act then(Inception *net, Act in, const IncConv *c) {
    Act out = conv_relu(net, &in, c);
    act_free(net, &in);
    return out;
}

static Pool2dShape pool_shape(const Act *in, int N, int k, int stride, int pad, int is_max) {
    return (Pool2dShape){.N = N, .C = in->C, .H = in->H, .W = in->W, .k = k, .stride = stride, .pad = pad,
                         .is_max = is_max};
}

static Act pool_new(Inception *net, const Act *in, int k, int stride, int pad, int is_max) {
    const Pool2dShape s = pool_shape(in, in->N, k, stride, pad, is_max);
    Act out = act_new(net, in->N, in->C, pool2d_out(&s, in->H), pool2d_out(&s, in->W));
    net->be->pool2d(net->be, out.p, in->p, &s);
    return out;
}

/* 3x3 stride 2 max pooling of in into channels [at, at + C) of out (the reduction blocks). */
static void max_pool_into(Inception *net, Act *out, int at, const Act *in) {
    const Pool2dShape s = pool_shape(in, 1, 3, 2, 0, 1);
    for (int n = 0; n < in->N; n++) net->be->pool2d(net->be, image_at(net, out, n, at), image_at(net, in, n, 0), &s);
}

/* The stem's 3x3 stride 2 max pooling (APPLY's form; no parameters). */
static Act stem_max_pool(Inception *net, const Act *x, const void *unused) {
    (void)unused;
    return pool_new(net, x, 3, 2, 0, 1);
}

static void relu_all(Inception *net, Act *t) { net->be->relu(net->be, t->p, t->p, numel(t)); }

static Act block_a(Inception *net, const Act *x, const IncBlockA *m) {
    Act out = act_new(net, x->N, m->b1x1.O + m->b5x5_2.O + m->dbl_3.O + m->pool.O, x->H, x->W);
    int at = conv_into(net, &out, 0, x, &m->b1x1);
    Act t = conv_relu(net, x, &m->b5x5_1);
    at = conv_into(net, &out, at, &t, &m->b5x5_2);
    act_free(net, &t);
    t = then(net, conv_relu(net, x, &m->dbl_1), &m->dbl_2);
    at = conv_into(net, &out, at, &t, &m->dbl_3);
    act_free(net, &t);
    t = pool_new(net, x, 3, 1, 1, 0);   /* average, padding not counted */
    conv_into(net, &out, at, &t, &m->pool);
    act_free(net, &t);
    relu_all(net, &out);
    return out;
}

static Act block_b(Inception *net, const Act *x, const IncBlockB *m) {
    Act out = act_new(net, x->N, m->b3x3.O + m->dbl_3.O + x->C, (x->H - 3) / 2 + 1, (x->W - 3) / 2 + 1);
    int at = conv_into(net, &out, 0, x, &m->b3x3);
    Act t = then(net, conv_relu(net, x, &m->dbl_1), &m->dbl_2);
    at = conv_into(net, &out, at, &t, &m->dbl_3);
    act_free(net, &t);
    max_pool_into(net, &out, at, x);
    relu_all(net, &out);
    return out;
}

static Act block_c(Inception *net, const Act *x, const IncBlockC *m) {
    Act out = act_new(net, x->N, m->b1x1.O + m->b7_3.O + m->dbl_5.O + m->pool.O, x->H, x->W);
    int at = conv_into(net, &out, 0, x, &m->b1x1);
    Act t = then(net, conv_relu(net, x, &m->b7_1), &m->b7_2);
    at = conv_into(net, &out, at, &t, &m->b7_3);
    act_free(net, &t);
    t = then(net, then(net, then(net, conv_relu(net, x, &m->dbl_1), &m->dbl_2), &m->dbl_3), &m->dbl_4);
    at = conv_into(net, &out, at, &t, &m->dbl_5);
    act_free(net, &t);
    t = pool_new(net, x, 3, 1, 1, 0);
    conv_into(net, &out, at, &t, &m->pool);
    act_free(net, &t);
    relu_all(net, &out);
    return out;
}

static Act block_d(Inception *net, const Act *x, const IncBlockD *m) {
    Act out = act_new(net, x->N, m->b3_2.O + m->b7_4.O + x->C, (x->H - 3) / 2 + 1, (x->W - 3) / 2 + 1);
    Act t = conv_relu(net, x, &m->b3_1);
    int at = conv_into(net, &out, 0, &t, &m->b3_2);
    act_free(net, &t);
    t = then(net, then(net, conv_relu(net, x, &m->b7_1), &m->b7_2), &m->b7_3);
    at = conv_into(net, &out, at, &t, &m->b7_4);
    act_free(net, &t);
    max_pool_into(net, &out, at, x);
    relu_all(net, &out);
    return out;
}

static Act block_e(Inception *net, const Act *x, const IncBlockE *m) {
    Act out = act_new(net, x->N, m->b1x1.O + m->b3_2a.O + m->b3_2b.O + m->dbl_3a.O + m->dbl_3b.O + m->pool.O, x->H,
                      x->W);
    int at = conv_into(net, &out, 0, x, &m->b1x1);
    Act t = conv_relu(net, x, &m->b3_1);
    at = conv_into(net, &out, at, &t, &m->b3_2a);
    at = conv_into(net, &out, at, &t, &m->b3_2b);
    act_free(net, &t);
    t = then(net, conv_relu(net, x, &m->dbl_1), &m->dbl_2);
    at = conv_into(net, &out, at, &t, &m->dbl_3a);
    at = conv_into(net, &out, at, &t, &m->dbl_3b);
    act_free(net, &t);
    t = pool_new(net, x, 3, 1, 1, m->max_pool);   /* 7b: average without padding; 7c: max */
    conv_into(net, &out, at, &t, &m->pool);
    act_free(net, &t);
    relu_all(net, &out);
    return out;
}

/* Replace *x by f(x). */
#define APPLY(net, x, f, m)              \
    do {                                 \
        Act next_ = f(net, &(x), m);     \
        act_free(net, &(x));             \
        (x) = next_;                     \
    } while (0)

/* ---- host transfers through f32 staging ---- */

static float *stage(Inception *net, size_t n) {
    if (net->stage_count < n) {
        if (net->stage) net->be->free(net->be, net->stage);
        net->stage = net->be->alloc(net->be, n * sizeof(float), "Inception float32 staging");
        net->stage_count = n;
    }
    return net->stage;
}

/* The staging buffer of a copy of n values between the host and act buffers (none where act is
 * float32). */
static float *stage_for(Inception *net, size_t n) { return net->be->act_dtype == DTYPE_F32 ? NULL : stage(net, n); }

static void upload(Inception *net, void *dst, const float *host, size_t n) {
    backend_act_from_host(net->be, dst, host, n, stage_for(net, n));
}

static void download(Inception *net, float *host, const void *src, size_t n) {
    backend_act_to_host(net->be, host, src, n, stage_for(net, n));
}

/* sFID's features: channels 0-6 of Mixed_6d's output (its branch1x1 after ReLU), as H, W, C. */
static void spatial_features(Inception *net, const Act *x, float *spatial) {
    enum { C = INCEPTION_SPATIAL_CHANNELS };
    const int HW = x->H * x->W;
    float *chw = xmalloc((size_t)C * HW * sizeof *chw, "sFID features");
    for (int n = 0; n < x->N; n++) {
        download(net, chw, image_at(net, x, n, 0), (size_t)C * HW);
        float *dst = spatial + (size_t)n * INCEPTION_SPATIAL_DIM;
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++) dst[p * C + c] = chw[(size_t)c * HW + p];
    }
    free(chw);
}

void inception_features(Inception *net, const uint8_t *images, int N, int H, int W, float *pool, float *logits,
                        float *spatial) {
    enum { S = INCEPTION_SIZE };
    Backend *be = net->be;
    const size_t in_size = (size_t)3 * S * S;
    float *host = xmalloc(N * in_size * sizeof *host, "Inception input");
    for (int n = 0; n < N; n++) inception_input(images + (size_t)n * H * W * 3, H, W, host + n * in_size);
    Act x = act_new(net, N, 3, S, S);
    upload(net, x.p, host, N * in_size);
    free(host);

    x = then(net, x, &net->conv_1a);
    x = then(net, x, &net->conv_2a);
    x = then(net, x, &net->conv_2b);
    APPLY(net, x, stem_max_pool, NULL);
    x = then(net, x, &net->conv_3b);
    x = then(net, x, &net->conv_4a);
    APPLY(net, x, stem_max_pool, NULL);
    for (int i = 0; i < 3; i++) APPLY(net, x, block_a, &net->mixed_5[i]);
    APPLY(net, x, block_b, &net->mixed_6a);
    for (int i = 0; i < 4; i++) {
        APPLY(net, x, block_c, &net->mixed_6[i]);
        if (i == 2 && spatial) spatial_features(net, &x, spatial);
    }
    APPLY(net, x, block_d, &net->mixed_7a);
    for (int i = 0; i < 2; i++) APPLY(net, x, block_e, &net->mixed_7[i]);
    Act features = pool_new(net, &x, x.H, 1, 0, 0);   /* global average: [N, 2048, 1, 1] */
    act_free(net, &x);

    if (pool) download(net, pool, features.p, (size_t)N * INCEPTION_POOL_DIM);
    if (logits) {
        Act out = act_new(net, N, INCEPTION_CLASSES, 1, 1);
        be->linear(be, out.p, features.p, param(net, net->fc), NULL, N, INCEPTION_POOL_DIM, INCEPTION_CLASSES, 0.0f);
        download(net, logits, out.p, (size_t)N * INCEPTION_CLASSES);
        act_free(net, &out);
    }
    act_free(net, &features);
}
