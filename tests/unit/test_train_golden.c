/* AdamW (apex FusedAdam, adam_w_mode) and EMA against the /adamw and /ema groups of the golden
 * file, and two whole training steps end to end (our gradients -> AdamW -> loss and gradients at
 * the new parameters -> AdamW). Tolerances from the golden README §5. */
#include <string.h>

#include "../../src/model/edm.h"
#include "../../src/train/ema.h"
#include "../../src/train/optimizer.h"
#include "../../src/util/h5util.h"
#include "test.h"

static hid_t F;
static char path[512];
static Backend *be;
static const double LR = 1e-4;

/* The tiny configuration of the golden README §2 (checked against /config below). */
static ModelConfig tiny_config(void) {
    ModelConfig c = model_config_default();
    c.input_size = 8, c.patch_size = 2, c.in_channels = 4, c.hidden_size = 64, c.depth = 2, c.num_heads = 4;
    c.num_classes = 10, c.decoder_hidden_size = 32, c.decoder_depth = 2, c.decoder_num_heads = 4;
    return c;
}

static float *read_f32(const char *dset, size_t n) {
    Error e;
    float *buf = xmalloc(n * sizeof *buf, dset);
    if (h5_read_into(F, path, dset, H5T_NATIVE_FLOAT, buf, n, &e) < 0) FATAL("%s", e.msg);
    return buf;
}

static double *read_f64(const char *dset, size_t n) {
    Error e;
    double *buf = xmalloc(n * sizeof *buf, dset);
    if (h5_read_into(F, path, dset, H5T_NATIVE_DOUBLE, buf, n, &e) < 0) FATAL("%s", e.msg);
    return buf;
}

/* The 33 tensors of /adamw (names attribute). */
static ParamTable T;
static int names[64], n_names;

static void read_names(void) {
    Error e;
    char *json = NULL;
    if (h5_attr_string(F, path, "/adamw", "names", &json, &e) < 0) FATAL("%s", e.msg);
    n_names = 0;
    for (char *p = strchr(json, '"'); p; p = strchr(p + 1, '"')) {
        char *end = strchr(p + 1, '"');
        *end = 0;
        int i = param_find(&T, p + 1);
        if (i < 0) FATAL("golden name %s not in the table", p + 1);
        names[n_names++] = i;
        p = end;
    }
    free(json);
}

/* Concatenation of group/<name> over the 33 tensors, as float or double. */
static size_t packed_len(void) {
    size_t n = 0;
    for (int k = 0; k < n_names; k++) n += T.params[names[k]].numel;
    return n;
}

static double *read_packed_f64(const char *group) {
    double *out = xmalloc(packed_len() * sizeof *out, group);
    size_t at = 0;
    for (int k = 0; k < n_names; k++) {
        char d[256];
        snprintf(d, sizeof d, "%s/%s", group, T.params[names[k]].name);
        double *t = read_f64(d, T.params[names[k]].numel);
        memcpy(out + at, t, T.params[names[k]].numel * sizeof *t);
        at += T.params[names[k]].numel;
        free(t);
    }
    return out;
}

/* The stored values are float32-representable: the float copy is exact. */
static float *read_packed_f32(const char *group) {
    double *d = read_packed_f64(group);
    float *out = xmalloc(packed_len() * sizeof *out, group);
    for (size_t i = 0; i < packed_len(); i++) out[i] = (float)d[i];
    free(d);
    return out;
}

/* Per-tensor rel = max|a - ref| / max|ref| over the packed tensors; the worst. */
static double worst_rel(const float *a, const double *ref) {
    double worst = 0;
    size_t at = 0;
    for (int k = 0; k < n_names; k++) {
        double diff = 0, scale = 0;
        for (size_t i = at; i < at + T.params[names[k]].numel; i++) {
            diff = fmax(diff, fabs(a[i] - ref[i]));
            scale = fmax(scale, fabs(ref[i]));
        }
        worst = fmax(worst, scale > 0 ? diff / scale : diff);
        at += T.params[names[k]].numel;
    }
    return worst;
}

/* Largest violation of |d| <= 2^-22 |ref| + slack; <= 0 means within. skip_key_bias: the key
 * slice [W, 2W) of every attn.qkv.bias gets 2 lr per step instead (README §5 pitfall). */
static double param_excess(const float *a, const double *ref, double slack, int steps_for_key_bias) {
    double worst = -1;
    size_t at = 0;
    for (int k = 0; k < n_names; k++) {
        const ParamInfo *p = &T.params[names[k]];
        int key_bias = steps_for_key_bias && strstr(p->name, "attn.qkv.bias");
        size_t w = p->numel / 3;
        for (size_t i = 0; i < p->numel; i++) {
            double allowed = ldexp(fabs(ref[at + i]), -22) + slack;
            if (key_bias && i >= w && i < 2 * w) allowed = 2 * LR * steps_for_key_bias + ldexp(fabs(ref[at + i]), -22);
            worst = fmax(worst, fabs(a[at + i] - ref[at + i]) - allowed);
        }
        at += p->numel;
    }
    return worst;
}

static void adamw_two_steps_golden(void) {
    size_t n = packed_len();
    float *host = read_packed_f32("/params");
    float *g1 = read_packed_f32("/grads"), *g2 = read_packed_f32("/adamw/grads2");
    float *p = be->alloc(be, n * sizeof(float), "params"), *g = be->alloc(be, n * sizeof(float), "grads");
    be->to_device(be, p, host, n * sizeof(float));
    AdamW o;
    adamw_init(&o, be, n);
    float *m = xmalloc(n * sizeof *m, "m"), *v = xmalloc(n * sizeof *v, "v");
    const char *groups[2][3] = {{"/adamw/params1", "/adamw/exp_avg1", "/adamw/exp_avg_sq1"},
                                {"/adamw/params2", "/adamw/exp_avg2", "/adamw/exp_avg_sq2"}};
    for (int s = 0; s < 2; s++) {
        be->to_device(be, g, s == 0 ? g1 : g2, n * sizeof(float));
        adamw_step(&o, p, NULL, g, LR, 1.0);
        be->to_host(be, host, p, n * sizeof(float));
        adamw_download(&o, m, v);
        double *rp = read_packed_f64(groups[s][0]), *rm = read_packed_f64(groups[s][1]),
               *rv = read_packed_f64(groups[s][2]);
        double rel_m = worst_rel(m, rm), rel_v = worst_rel(v, rv), excess = param_excess(host, rp, 1e-2 * LR, 0);
        CHECK(rel_m <= 1e-6, "step %d exp_avg rel %.2e", s + 1, rel_m);
        CHECK(rel_v <= 1e-6, "step %d exp_avg_sq rel %.2e", s + 1, rel_v);
        CHECK(excess <= 0, "step %d params beyond 2^-22|ref| + 1e-2 lr by %.2e", s + 1, excess);
        free(rp), free(rm), free(rv);
    }
    CHECK(o.step == 2, "one step counter: %lld", o.step);
    adamw_free(&o);
    be->free(be, p), be->free(be, g);
    free(host), free(g1), free(g2), free(m), free(v);
}

static void ema_golden(void) {
    size_t n = packed_len();
    float *before = read_packed_f32("/ema/ema_before"), *params = read_packed_f32("/params");
    double *after = read_packed_f64("/ema/ema_after");
    float *dp = be->alloc(be, n * sizeof(float), "params");
    be->to_device(be, dp, params, n * sizeof(float));
    Ema e;
    ema_init(&e, be, n, 0.9999);
    be->to_device(be, e.ema, before, n * sizeof(float));
    ema_update(&e, dp);
    be->to_host(be, before, e.ema, n * sizeof(float));
    double rel = worst_rel(before, after);
    CHECK(rel <= 1e-6, "ema_after rel %.2e", rel);
    ema_reset(&e, dp);
    be->to_host(be, before, e.ema, n * sizeof(float));
    CHECK(!memcmp(before, params, n * sizeof(float)), "reset copies the parameters");
    ema_free(&e);
    be->free(be, dp);
    free(before), free(params), free(after);
}

/* Pack the 33 tensors out of the model's flat layout. */
static void pack_from_flat(float *out, const float *flat) {
    size_t at = 0;
    for (int k = 0; k < n_names; k++) {
        memcpy(out + at, flat + T.params[names[k]].offset, T.params[names[k]].numel * sizeof(float));
        at += T.params[names[k]].numel;
    }
}

static void two_training_steps_end_to_end(void) {
    ModelConfig c = tiny_config();
    int N = 3, L = model_num_patches(&c), K = c.num_classes, len_keep = model_len_keep(&c, 0.5);
    size_t img = (size_t)N * c.in_channels * c.input_size * c.input_size;
    Model *m = model_create(&c, be, N, len_keep);
    float *flat = xcalloc(T.total, sizeof *flat, "params");
    for (int i = 0; i < T.count; i++) {
        char d[256];
        snprintf(d, sizeof d, "/params/%s", T.params[i].name);
        float *t = read_f32(d, T.params[i].numel);
        memcpy(flat + T.params[i].offset, t, T.params[i].numel * sizeof *t);
        free(t);
    }
    model_upload_params(m, flat);
    float *x = read_f32("/inputs/x", img), *noise = read_f32("/inputs/noise", img);
    float *labels = read_f32("/inputs/labels", (size_t)N * K);
    double *rnd = read_f64("/inputs/rnd_normal", (size_t)N), *ids64 = read_f64("/inputs/ids_shuffle", (size_t)N * L);
    int32_t ids[64];
    for (int i = 0; i < N * L; i++) ids[i] = (int32_t)ids64[i];
    EdmBatch eb;
    edm_batch_alloc(&eb, &c, N);
    AdamW o;
    adamw_init(&o, be, T.n_trainable);
    size_t n = packed_len();
    float *packed = xmalloc(n * sizeof *packed, "packed"), *grads = xmalloc(T.n_trainable * sizeof *grads, "grads");
    const char *params_ref[2] = {"/adamw/params1", "/adamw/params2"};
    for (int s = 0; s < 2; s++) {
        ModelInput in;
        LossInput li;
        float loss[3];
        edm_prepare(&eb, &c, N, x, labels, rnd, noise, ids, len_keep, &in, &li);
        model_zero_grads(m);
        model_forward(m, &in);
        model_loss(m, &li, 1.0f / N, loss);
        model_backward(m, NULL, NULL);
        if (s == 1) {   /* the loss and gradients at the parameters after step 1 */
            double mean = (loss[0] + (double)loss[1] + loss[2]) / 3, *ref = read_f64("/adamw/loss_mean1", 1);
            CHECK(fabs(mean - ref[0]) <= 1e-5 * fabs(ref[0]), "loss_mean1 %.9g vs %.9g", mean, ref[0]);
            free(ref);
            be->to_host(be, grads, m->grads, T.n_trainable * sizeof(float));
            pack_from_flat(packed, grads);
            double *g2 = read_packed_f64("/adamw/grads2"), rel = worst_rel(packed, g2);
            CHECK(rel <= 1e-4, "grads2 worst per-tensor rel %.2e", rel);
            free(g2);
        }
        adamw_step(&o, m->params, model_params_act(m), m->grads, LR, 1.0);
        model_download_params(m, flat);
        pack_from_flat(packed, flat);
        double *ref = read_packed_f64(params_ref[s]);
        double excess = param_excess(packed, ref, 1e-2 * LR, s + 1);
        CHECK(excess <= 0, "params after step %d from our gradients: beyond tolerance by %.2e", s + 1, excess);
        free(ref);
    }
    adamw_free(&o);
    edm_batch_free(&eb);
    model_destroy(m);
    free(flat), free(x), free(noise), free(labels), free(rnd), free(ids64), free(packed), free(grads);
}

int main(void) {
    const char *dir = getenv("MASKDIT_GOLDEN_DIR");
    snprintf(path, sizeof path, "%s/maskdit_tiny.h5", dir ? dir : "../shared/golden");
    h5_quiet();
    Error e;
    F = h5_open_read(path, &e);
    if (F < 0) {
        printf("FAIL open_golden\n    %s\n", e.msg);
        return 1;
    }
    ModelConfig c = tiny_config();
    double hidden;
    if (h5_attr_double(F, path, "/config", "hidden_size", &hidden, &e) < 0 || hidden != c.hidden_size)
        FATAL("%s: not the tiny configuration this test assumes", path);
    param_table_build(&T, &c);
    read_names();
    be = backend_cpu_create(0);
    RUN(adamw_two_steps_golden);
    RUN(ema_golden);
    RUN(two_training_steps_end_to_end);
    be->destroy(be);
    param_table_free(&T);
    H5Fclose(F);
    return test_summary();
}
