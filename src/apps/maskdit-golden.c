/* maskdit-golden FILE.h5 [--device cpu|cuda] [--precision fp32|bf16|fp16]
 *
 * Golden parity checker: reads any golden file of the maskdit-golden-v1 layout (whatever model
 * configuration its /config holds), runs the masked forward + loss + backward, the unmasked path
 * the guided forward and the guided EDM sampler, and prints one line per quantity:
 *     PASS forward/x_embed  rel 1.3e-07  (limit 1e-05)
 * with rel = max|ours - ref| / max|ref| (per tensor for gradients). Exits 1 if anything fails.
 * The limits are the recommended float32 thresholds of the golden README (§5); with bf16/fp16
 * they are widened (see limits_for). */
#include <math.h>
#include <string.h>

#include "../../mpi/dist.h"
#include "../model/edm.h"
#include "../sample/guided.h"
#include "../sample/sampler.h"
#include "../util/h5util.h"
#include "../util/options.h"

typedef struct {
    hid_t f;
    const char *path;
    ModelConfig cfg;
    int N, L, P, K, len_keep;
    size_t img;              /* N*C*H*W */
    double lim_fwd, lim_loss, lim_grad;
    int failures;
} Golden;

/* ---- reading ---- */

/* Dataset dset of exactly n elements, converted to the memory type (malloc'ed). */
static void *read_all(Golden *g, const char *dset, hid_t type, size_t elem, size_t n) {
    Error e;
    void *buf;
    if (h5_read_all(g->f, g->path, dset, type, elem, (long long)n, &buf, NULL, &e) < 0) die("%s", e.msg);
    return buf;
}

static double *read_f64(Golden *g, const char *dset, size_t n) {
    return read_all(g, dset, H5T_NATIVE_DOUBLE, sizeof(double), n);
}

static float *read_f32(Golden *g, const char *dset, size_t n) {
    return read_all(g, dset, H5T_NATIVE_FLOAT, sizeof(float), n);
}

static long long *read_i64(Golden *g, const char *dset, size_t n) {
    return read_all(g, dset, H5T_NATIVE_LLONG, sizeof(long long), n);
}

static double cfg_num(Golden *g, const char *key) {
    Error e;
    double v;
    if (h5_attr_double(g->f, g->path, "/config", key, &v, &e) < 0) die("%s", e.msg);
    return v;
}

static void read_config(Golden *g) {
    Error e;
    char *format = NULL;
    if (h5_attr_string(g->f, g->path, "/", "format", &format, &e) < 0) die("%s", e.msg);
    if (strcmp(format, "maskdit-golden-v1")) die("%s: format '%s', expected maskdit-golden-v1", g->path, format);
    free(format);
    ModelConfig *c = &g->cfg;
    *c = model_config_default();
    c->input_size = (int)cfg_num(g, "input_size");
    c->patch_size = (int)cfg_num(g, "patch_size");
    c->in_channels = (int)cfg_num(g, "in_channels");
    c->hidden_size = (int)cfg_num(g, "hidden_size");
    c->depth = (int)cfg_num(g, "depth");
    c->num_heads = (int)cfg_num(g, "num_heads");
    c->mlp_ratio = cfg_num(g, "mlp_ratio");
    c->num_classes = (int)cfg_num(g, "num_classes");
    c->use_decoder = (int)cfg_num(g, "use_decoder");
    c->decoder_hidden_size = (int)cfg_num(g, "decoder_hidden_size");
    c->decoder_depth = (int)cfg_num(g, "decoder_depth");
    c->decoder_num_heads = (int)cfg_num(g, "decoder_num_heads");
    c->mae_loss_coef = cfg_num(g, "mae_loss_coef");
    c->sigma_data = cfg_num(g, "sigma_data");
    c->sigma_min = cfg_num(g, "sigma_min");
    c->sigma_max = cfg_num(g, "sigma_max");
    c->P_mean = cfg_num(g, "P_mean");
    c->P_std = cfg_num(g, "P_std");
    c->frequency_embedding_size = (int)cfg_num(g, "frequency_embedding_size");
    c->max_period = (int)cfg_num(g, "max_period");
    c->norm_eps = cfg_num(g, "norm_eps");
    c->norm_pix_eps = cfg_num(g, "norm_pix_eps");
    if (model_config_validate(c, &e) < 0) die("%s: /config: %s", g->path, e.msg);
    g->N = (int)cfg_num(g, "N");
    g->L = model_num_patches(c);
    g->P = model_patch_dim(c);
    g->K = c->num_classes;
    g->len_keep = (int)cfg_num(g, "len_keep");
    if (g->len_keep != model_len_keep(c, cfg_num(g, "mask_ratio")))
        die("%s: /config len_keep %d does not match mask_ratio %g", g->path, g->len_keep, cfg_num(g, "mask_ratio"));
    g->img = (size_t)g->N * c->in_channels * c->input_size * c->input_size;
}

/* ---- comparing ---- */

static double rel_error_f(const float *a, const double *ref, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - ref[i]));
        scale = fmax(scale, fabs(ref[i]));
        if (isnan(a[i])) return INFINITY;
    }
    return scale > 0 ? diff / scale : diff;
}

static double rel_error_d(const double *a, const double *ref, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs(a[i] - ref[i]));
        scale = fmax(scale, fabs(ref[i]));
        if (isnan(a[i])) return INFINITY;
    }
    return scale > 0 ? diff / scale : diff;
}

static void report(Golden *g, const char *name, double rel, double limit) {
    int ok = rel <= limit;
    printf("%s %-58s rel %.2e  (limit %.0e)\n", ok ? "PASS" : "FAIL", name, rel, limit);
    g->failures += !ok;
}

static void compare_f(Golden *g, const char *dset, const float *ours, size_t n, double limit) {
    double *ref = read_f64(g, dset, n);
    report(g, dset + 1, rel_error_f(ours, ref, n), limit);
    free(ref);
}

static void compare_d(Golden *g, const char *dset, const double *ours, size_t n, double limit) {
    double *ref = read_f64(g, dset, n);
    report(g, dset + 1, rel_error_d(ours, ref, n), limit);
    free(ref);
}

static void compare_act(Golden *g, Model *m, const char *dset, const void *act, size_t n) {
    float *buf = xmalloc(n * sizeof *buf, dset);
    model_act_to_host(m, act, buf, n);
    compare_f(g, dset, buf, n, g->lim_fwd);
    free(buf);
}

/* y_emb is not kept on the device: c - t_emb. */
static void compare_y_emb(Golden *g, Model *m) {
    size_t n = (size_t)g->N * g->cfg.hidden_size;
    float *c = xmalloc(n * sizeof *c, "c"), *t = xmalloc(n * sizeof *t, "t_emb");
    model_act_to_host(m, m->a.c, c, n);
    model_act_to_host(m, m->a.t_emb, t, n);
    for (size_t i = 0; i < n; i++) c[i] -= t[i];
    compare_f(g, "/forward/y_emb", c, n, g->lim_fwd);
    free(c);
    free(t);
}

/* Gradients of the tensors listed (JSON) in attribute `names` of group, compared per tensor with
 * the datasets group/<name>; prints the worst tensor and any failing one. */
static void compare_grads(Golden *g, Model *m, const char *group, const char *names_obj) {
    Error e;
    char *names = NULL;
    if (h5_attr_string(g->f, g->path, names_obj, "names", &names, &e) < 0) die("%s", e.msg);
    float *grads = xmalloc(m->table.n_trainable * sizeof *grads, "gradients");
    m->be->to_host(m->be, grads, m->grads, m->table.n_trainable * sizeof *grads);
    double worst = 0;
    char worst_name[PARAM_NAME_MAX] = "", buf[512];
    int count = 0, before = g->failures;
    for (char *p = strchr(names, '"'); p; p = strchr(p + 1, '"')) {
        char *end = strchr(p + 1, '"');
        if (!end) break;
        *end = 0;
        int i = param_find(&m->table, p + 1);
        if (i < 0) die("%s: %s lists '%s', which this configuration does not have", g->path, names_obj, p + 1);
        const ParamInfo *pi = &m->table.params[i];
        xsnprintf(buf, sizeof buf, "%s/%s", group, pi->name);
        double *ref = read_f64(g, buf, pi->numel);
        double rel = rel_error_f(grads + pi->offset, ref, pi->numel);
        free(ref);
        if (rel > g->lim_grad) report(g, buf + 1, rel, g->lim_grad);
        if (rel >= worst) {
            worst = rel;
            snprintf(worst_name, sizeof worst_name, "%s", pi->name);
        }
        count++;
        p = end;
    }
    xsnprintf(buf, sizeof buf, "%s (%d tensors, worst %s)", group + 1, count, worst_name);
    if (g->failures == before) report(g, buf, worst, g->lim_grad);
    free(grads);
    free(names);
}

/* ---- the checks ---- */

static void load_params(Golden *g, Model *m) {
    float *flat = xcalloc(m->table.total, sizeof *flat, "parameters");
    char buf[256];
    for (int i = 0; i < m->table.count; i++) {
        const ParamInfo *p = &m->table.params[i];
        xsnprintf(buf, sizeof buf, "/params/%s", p->name);
        Error e;
        if (h5_read_into(g->f, g->path, buf, H5T_NATIVE_FLOAT, flat + p->offset, p->numel, &e) < 0) die("%s", e.msg);
    }
    model_upload_params(m, flat);
    free(flat);
}

typedef struct {
    float *x, *labels, *noise;
    double *rnd_normal;
    int32_t *ids_shuffle;
} Inputs;

static void read_inputs(Golden *g, Inputs *in) {
    in->x = read_f32(g, "/inputs/x", g->img);
    in->noise = read_f32(g, "/inputs/noise", g->img);
    in->rnd_normal = read_f64(g, "/inputs/rnd_normal", (size_t)g->N);
    in->labels = g->K ? read_f32(g, "/inputs/labels", (size_t)g->N * g->K) : NULL;
    long long *ids = read_i64(g, "/inputs/ids_shuffle", (size_t)g->N * g->L);
    in->ids_shuffle = xmalloc((size_t)g->N * g->L * sizeof(int32_t), "ids_shuffle");
    for (int i = 0; i < g->N * g->L; i++) in->ids_shuffle[i] = (int32_t)ids[i];
    free(ids);
}

static void free_inputs(Inputs *in) {
    free(in->x);
    free(in->noise);
    free(in->rnd_normal);
    free(in->labels);
    free(in->ids_shuffle);
}

/* D_x = c_skip x_noisy + c_out F_x, from the token-layout output. */
static void denoised_from_output(Golden *g, Model *m, EdmBatch *b, double *F, double *D) {
    model_final_out_to_host(m, b->final_host);
    unpatchify_abc(F, b->final_host, g->N, g->cfg.in_channels, g->cfg.input_size, g->cfg.patch_size);
    size_t per = g->img / g->N;
    for (size_t i = 0; i < g->img; i++) D[i] = b->c_skip[i / per] * (double)b->x_noisy[i] + b->c_out[i / per] * F[i];
}

static double mean_f(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return s / n;
}

/* F_x, D_x, the per-sample loss, its mean and the gradients of the last forward against
 * <group>/F_x, D_x, loss, loss_mean and the gradient datasets of grads_group; the per-sample loss
 * is left in loss[N]. */
static void check_outputs(Golden *g, Model *m, EdmBatch *b, const LossInput *li, const char *group,
                          const char *grads_group, float *loss) {
    char name[64];
    double *F = xmalloc(g->img * sizeof *F, "F_x"), *Dx = xmalloc(g->img * sizeof *Dx, "D_x");
    denoised_from_output(g, m, b, F, Dx);
    xsnprintf(name, sizeof name, "%s/F_x", group);
    compare_d(g, name, F, g->img, g->lim_fwd);
    xsnprintf(name, sizeof name, "%s/D_x", group);
    compare_d(g, name, Dx, g->img, g->lim_fwd);
    model_zero_grads(m);
    model_loss(m, li, 1.0f / g->N, loss);
    xsnprintf(name, sizeof name, "%s/loss", group);
    compare_f(g, name, loss, (size_t)g->N, g->lim_loss);
    double mean = mean_f(loss, g->N);
    xsnprintf(name, sizeof name, "%s/loss_mean", group);
    compare_d(g, name, &mean, 1, g->lim_loss);
    model_backward(m, NULL, NULL);
    compare_grads(g, m, grads_group, grads_group);
    free(F);
    free(Dx);
}

static void check_masked(Golden *g, Model *m, EdmBatch *b, const Inputs *in) {
    const ModelConfig *c = &g->cfg;
    int N = g->N, D = c->hidden_size, len_keep = g->len_keep;
    ModelInput mi;
    LossInput li;
    edm_prepare(b, c, N, in->x, in->labels, in->rnd_normal, in->noise, in->ids_shuffle, g->len_keep, &mi, &li);
    double per_sample[6][64];
    if (N > 64) die("%s: the checker supports N <= 64 (N = %d)", g->path, N);
    for (int n = 0; n < N; n++) {
        EdmCoeffs k = edm_coeffs(b->sigma[n], c->sigma_data);
        double v[6] = {b->sigma[n], b->weight[n], k.c_in, b->c_skip[n], b->c_out[n], b->c_noise[n]};
        for (int q = 0; q < 6; q++) per_sample[q][n] = v[q];
    }
    const char *names[6] = {"/forward/sigma", "/forward/weight", "/forward/c_in", "/forward/c_skip", "/forward/c_out",
                            "/forward/c_noise"};
    for (int q = 0; q < 6; q++) compare_d(g, names[q], per_sample[q], (size_t)N, g->lim_fwd);
    compare_f(g, "/forward/x_noisy", b->x_noisy, g->img, g->lim_fwd);

    model_forward(m, &mi);
    ModelActs *a = &m->a;
    compare_act(g, m, "/forward/t_freq", a->t_freq, (size_t)N * c->frequency_embedding_size);
    compare_act(g, m, "/forward/t_emb", a->t_emb, (size_t)N * D);
    if (g->K) compare_y_emb(g, m);
    compare_act(g, m, "/forward/c", a->c, (size_t)N * D);
    compare_act(g, m, "/forward/x_embed", a->x_embed, (size_t)N * g->L * D);
    compare_act(g, m, "/forward/enc_in", a->blocks[0].x_in, (size_t)N * len_keep * D);
    compare_act(g, m, "/forward/enc_out", a->blocks[c->depth].x_in, (size_t)N * len_keep * D);
    if (c->use_decoder) {
        int Dd = c->decoder_hidden_size;
        compare_act(g, m, "/forward/dec_layer_out", a->dec_layer_out, (size_t)N * len_keep * Dd);
        compare_act(g, m, "/forward/dec_in", a->dblocks[0].x_in, (size_t)N * g->L * Dd);
        compare_act(g, m, "/forward/dec_out", a->dblocks[c->decoder_depth].x_in, (size_t)N * g->L * Dd);
    }
    compare_act(g, m, "/forward/final_out", a->final_out, (size_t)N * g->L * g->P);

    /* The two loss terms: the op with the MAE coefficient 0 gives loss_dsm, the rest is MAE. */
    float dsm[64], total[64], mae[64];
    LossInput no_mae = li;
    no_mae.mae_coef = 0;
    model_loss(m, &no_mae, 0.0f, dsm);
    compare_f(g, "/forward/loss_dsm", dsm, (size_t)N, g->lim_loss);
    check_outputs(g, m, b, &li, "/forward", "/grads", total);
    if (c->mae_loss_coef > 0) {
        for (int n = 0; n < N; n++) mae[n] = (float)((total[n] - (double)dsm[n]) / c->mae_loss_coef);
        compare_f(g, "/forward/loss_mae", mae, (size_t)N, g->lim_loss * 10);   /* a difference of two losses */
    }
}

static void check_unmasked(Golden *g, Model *m, EdmBatch *b, const Inputs *in) {
    ModelInput mi;
    LossInput li;
    float loss[64];
    edm_prepare(b, &g->cfg, g->N, in->x, in->labels, in->rnd_normal, in->noise, in->ids_shuffle, g->L, &mi, &li);
    model_forward(m, &mi);
    check_outputs(g, m, b, &li, "/unmasked", "/unmasked/grads", loss);
}

static void check_guidance(Golden *g, Model *m, EdmBatch *b) {
    double *x = read_f64(g, "/cfg/x", g->img), *sigma = read_f64(g, "/cfg/sigma", 1);
    double *scale = read_f64(g, "/cfg/cfg_scale", 1);
    float *labels = g->K ? read_f32(g, "/cfg/labels", (size_t)g->N * g->K) : NULL;
    double *D = xmalloc(g->img * sizeof *D, "D");
    if (g->K) {
        edm_denoise(m, b, x, g->N, sigma[0], labels, scale[0], D);
        compare_d(g, "/cfg/D_x", D, g->img, g->lim_fwd);
        edm_denoise(m, b, x, g->N, sigma[0], labels, 1.0, D);
        compare_d(g, "/cfg/D_cond", D, g->img, g->lim_fwd);
    }
    edm_denoise(m, b, x, g->N, sigma[0], NULL, 1.0, D);
    compare_d(g, "/cfg/D_uncond", D, g->img, g->lim_fwd);
    free(x);
    free(sigma);
    free(scale);
    free(labels);
    free(D);
}

/* /sampler: the deterministic Heun sampler with guidance, through the sampler module and the
 * guided denoiser that maskdit-generate uses; every denoiser call and every step recorded. */
typedef struct {
    GuidedDenoiser gd;
    size_t img;
    int calls, max_calls;
    double *first_input;     /* the state of the first call: x_init */
    double *denoised;        /* [max_calls, img] */
    double *x_steps;         /* [num_steps, img] */
} SamplerTrace;

static void trace_denoise(void *ctx, const double *x, int n, double sigma, double *D) {
    SamplerTrace *t = ctx;
    guided_denoise(&t->gd, x, n, sigma, D);
    if (t->calls == 0) memcpy(t->first_input, x, t->img * sizeof *x);
    if (t->calls < t->max_calls) memcpy(t->denoised + (size_t)t->calls * t->img, D, t->img * sizeof *D);
    t->calls++;
}

static void trace_step(void *ctx, int step, const double *x, int n) {
    SamplerTrace *t = ctx;
    memcpy(t->x_steps + (size_t)step * t->img, x, t->img * sizeof *x);
}

static void check_sampler(Golden *g, Model *m) {
    Error e;
    long long *steps = read_i64(g, "/sampler/num_steps", 1);
    long long *label_index = read_i64(g, "/sampler/label_index", (size_t)g->N);
    int S = (int)steps[0];
    double *scale = read_f64(g, "/sampler/cfg_scale", 1);
    SamplerOptions o = sampler_options_default();
    o.num_steps = S;
    o.sigma_min = cfg_num(g, "sampler_sigma_min");
    o.sigma_max = cfg_num(g, "sampler_sigma_max");
    o.rho = cfg_num(g, "sampler_rho");
    o.net_sigma_min = g->cfg.sigma_min;
    o.net_sigma_max = g->cfg.sigma_max;
    SamplerPlan plan;
    if (sampler_plan(&plan, &o, &e) < 0) die("%s: /sampler: %s", g->path, e.msg);
    compare_d(g, "/sampler/t_steps", plan.t_steps, (size_t)S + 1, 1e-15);

    SamplerTrace t = {.img = g->img, .max_calls = 2 * S - 1};
    guided_init(&t.gd, m, g->N, scale[0]);
    int *classes = xmalloc((size_t)g->N * sizeof *classes, "classes");
    for (int i = 0; i < g->N; i++) classes[i] = (int)label_index[i];
    guided_set_classes(&t.gd, classes, g->N);
    t.first_input = xmalloc(g->img * sizeof(double), "x_init");
    t.denoised = xmalloc((size_t)t.max_calls * g->img * sizeof(double), "denoised");
    t.x_steps = xmalloc((size_t)S * g->img * sizeof(double), "x_steps");
    double *x = read_f64(g, "/sampler/latents", g->img);
    SamplerCallbacks cb = {.denoise = trace_denoise, .ctx = &t, .on_step = trace_step, .step_ctx = &t};
    sampler_run(&plan, &cb, x, g->N, g->img / g->N, NULL);
    if (t.calls != t.max_calls) {
        printf("FAIL sampler/denoised  %d denoiser calls, expected %d\n", t.calls, t.max_calls);
        g->failures++;
    }
    compare_d(g, "/sampler/x_init", t.first_input, g->img, g->lim_grad);
    compare_d(g, "/sampler/denoised", t.denoised, (size_t)t.max_calls * g->img, g->lim_grad);
    compare_d(g, "/sampler/x_steps", t.x_steps, (size_t)S * g->img, g->lim_grad);
    compare_d(g, "/sampler/x_final", x, g->img, g->lim_grad);
    guided_free(&t.gd);
    sampler_plan_free(&plan);
    free(steps);
    free(label_index);
    free(scale);
    free(classes);
    free(t.first_input);
    free(t.denoised);
    free(t.x_steps);
    free(x);
}

/* Limits of golden README §5 for float32; reduced-precision activations get wider ones, checked
 * against the same float64 reference (bf16 keeps 8 bits of mantissa: ~4e-3 per rounding). */
static void limits_for(Golden *g, DType t) {
    double widen = t == DTYPE_F32 ? 1.0 : t == DTYPE_F16 ? 300.0 : 2000.0;
    g->lim_fwd = 1e-5 * widen;
    g->lim_loss = 1e-5 * widen;
    g->lim_grad = 1e-4 * widen;
}

/* On stdout when asked for (--help), on stderr after a mistake. */
static void usage(FILE *out) {
    fprintf(out, "usage: maskdit-golden FILE.h5 [--device cpu|cuda|auto] [--precision fp32|bf16|fp16]\n"
                    "Checks this implementation against a golden file of the maskdit-golden-v1 layout.\n");
}

int main(int argc, char **argv) {
    Dist dist;
    dist_init(&dist, &argc, &argv);
    const char *path = NULL, *device = "cpu", *precision = "fp32";
    enum { DEVICE, PRECISION };
    static const OptionSpec options[] = {{"--device", OPTION_TAKES_VALUE, DEVICE},
                                         {"--precision", OPTION_TAKES_VALUE, PRECISION}};
    OptionParser p = option_parser(argc, argv, options, ARRAY_LEN(options), "maskdit-golden", 1);
    const char *v;
    Error e;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        switch (id) {
        case OPTION_HELP: usage(stdout); dist_finalize(&dist); return 0;
        case OPTION_ERROR: die("%s", e.msg);
        case OPTION_POSITIONAL: path = v; break;
        case DEVICE: device = v; break;
        case PRECISION: precision = v; break;
        }
    }
    if (!path) { usage(stderr); die("no golden file given"); }
    Golden g = {.path = path};
    g.f = h5_open_read(path, &e);
    if (g.f < 0) die("%s", e.msg);
    read_config(&g);
    Backend *be = backend_create(device, dist.local_rank, precision, 0, 0);
    limits_for(&g, be->act_dtype);
    char desc[256];
    model_config_describe(&g.cfg, desc, sizeof desc);
    printf("golden file %s: N=%d %s, backend %s %s\n", path, g.N, desc, be->name, dtype_name(be->act_dtype));
    Model *m = model_create(&g.cfg, be, 2 * g.N, g.L);
    EdmBatch b;
    edm_batch_alloc(&b, &g.cfg, 2 * g.N);
    load_params(&g, m);
    Inputs in;
    read_inputs(&g, &in);
    check_masked(&g, m, &b, &in);
    check_unmasked(&g, m, &b, &in);
    check_guidance(&g, m, &b);
    check_sampler(&g, m);
    free_inputs(&in);
    edm_batch_free(&b);
    model_destroy(m);
    be->destroy(be);
    H5Fclose(g.f);
    printf("%s: %d failure%s\n", path, g.failures, g.failures == 1 ? "" : "s");
    dist_finalize(&dist);
    return g.failures ? 1 : 0;
}
