/* maskdit-bench: times full masked training steps (forward, loss, backward, AdamW) of a model
 * given by a preset or by flags, and prints ms/step, images/s, achieved GFLOP/s (model FLOPs of
 * src/model/flops.h), the same backend's GEMM throughput measured in the same run (the baseline
 * the step is compared with) and peak memory. A benchmark, never a test.
 *
 *   maskdit-bench --preset fmnist-small --threads 2
 *   maskdit-bench --model_type DiT-XL/2 --input_size 32 --batch 32 --device cuda --precision bf16
 */
#include <math.h>
#include <string.h>

#include "../../mpi/dist.h"
#include "../model/edm.h"
#include "../model/flops.h"
#include "../train/draws.h"
#include "../util/numtext.h"
#include "../util/options.h"
#include "../util/rng.h"

typedef struct {
    ModelConfig cfg;
    int batch, steps, warmup, threads;
    double mask_ratio;
    const char *device, *precision, *label;
} Bench;

/* The reference models of ../shared/reference/bench_torch.py, by the same names. */
static void apply_preset(Bench *b, const char *name) {
    ModelConfig *c = &b->cfg;
    if (!strcmp(name, "fmnist-small")) {
        c->input_size = 32; c->patch_size = 2; c->in_channels = 1; c->hidden_size = 256; c->depth = 6;
        c->num_heads = 4; c->decoder_hidden_size = 128; c->decoder_depth = 2; c->decoder_num_heads = 4;
        c->num_classes = 10; b->batch = 32;
    } else if (!strcmp(name, "S2-latent")) {
        c->input_size = 32; c->patch_size = 2; c->in_channels = 4; c->hidden_size = 384; c->depth = 12;
        c->num_heads = 6; c->decoder_hidden_size = 512; c->decoder_depth = 8; c->decoder_num_heads = 16;
        c->num_classes = 1000; b->batch = 8;
    } else {
        die("unknown preset '%s' (expected fmnist-small or S2-latent)", name);
    }
    b->label = name;
}

static int int_arg(const char *flag, const char *v) {
    long long x;
    Error e;
    if (parse_whole(flag, v, 0, 1 << 30, &x, &e)) die("%s", e.msg);
    return (int)x;
}

static double num_arg(const char *flag, const char *v) {
    double x;
    Error e;
    if (parse_number(flag, v, &x, &e)) die("%s", e.msg);
    return x;
}

enum { PRESET, MODEL_TYPE, INPUT_SIZE, IN_CHANNELS, NUM_CLASSES, DECODER, BATCH, MASK_RATIO, STEPS, WARMUP, THREADS,
       DEVICE, PRECISION };

static const OptionSpec OPTIONS[] = {
    {"--preset", OPTION_TAKES_VALUE, PRESET}, {"--model_type", OPTION_TAKES_VALUE, MODEL_TYPE},
    {"--input_size", OPTION_TAKES_VALUE, INPUT_SIZE}, {"--in_channels", OPTION_TAKES_VALUE, IN_CHANNELS},
    {"--num_classes", OPTION_TAKES_VALUE, NUM_CLASSES}, {"--decoder", OPTION_TAKES_VALUE, DECODER},
    {"--batch", OPTION_TAKES_VALUE, BATCH}, {"--mask_ratio", OPTION_TAKES_VALUE, MASK_RATIO},
    {"--steps", OPTION_TAKES_VALUE, STEPS}, {"--warmup", OPTION_TAKES_VALUE, WARMUP},
    {"--threads", OPTION_TAKES_VALUE, THREADS}, {"--device", OPTION_TAKES_VALUE, DEVICE},
    {"--precision", OPTION_TAKES_VALUE, PRECISION},
};

static void parse(Bench *b, Dist *d, int argc, char **argv) {
    Error e;
    OptionParser p = option_parser(argc, argv, OPTIONS, ARRAY_LEN(OPTIONS), "maskdit-bench", 0);
    const char *v;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        switch (id) {
        case OPTION_HELP:
            printf("usage: maskdit-bench [--preset fmnist-small|S2-latent] [--model_type DiT-XL/2] [--input_size N]\n"
                   "         [--in_channels C] [--num_classes K] [--decoder WIDTH/DEPTH/HEADS] [--batch B]\n"
                   "         [--mask_ratio R] [--steps S] [--warmup W] [--threads T] [--device cpu|cuda]\n"
                   "         [--precision fp32|bf16|fp16]\n");
            dist_finalize(d);   /* an MPI program ending without it fails under mpirun */
            exit(0);
        case OPTION_ERROR: die("%s", e.msg);
        case PRESET: apply_preset(b, v); break;
        case MODEL_TYPE:
            if (model_config_apply_type(&b->cfg, v, &e) < 0) die("--model_type: %s", e.msg);
            b->label = v;
            break;
        case INPUT_SIZE: b->cfg.input_size = int_arg(p.option, v); break;
        case IN_CHANNELS: b->cfg.in_channels = int_arg(p.option, v); break;
        case NUM_CLASSES: b->cfg.num_classes = int_arg(p.option, v); break;
        case DECODER:
            if (sscanf(v, "%d/%d/%d", &b->cfg.decoder_hidden_size, &b->cfg.decoder_depth, &b->cfg.decoder_num_heads) != 3)
                die("--decoder expects WIDTH/DEPTH/HEADS, e.g. 512/8/16, got '%s'", v);
            break;
        case BATCH: b->batch = int_arg(p.option, v); break;
        case MASK_RATIO: b->mask_ratio = num_arg(p.option, v); break;
        case STEPS: b->steps = int_arg(p.option, v); break;
        case WARMUP: b->warmup = int_arg(p.option, v); break;
        case THREADS: b->threads = int_arg(p.option, v); break;
        case DEVICE: b->device = v; break;
        case PRECISION: b->precision = v; break;
        }
    }
    if (model_config_validate(&b->cfg, &e) < 0) die("%s", e.msg);
    if (!(b->mask_ratio >= 0 && b->mask_ratio < 1)) die("--mask_ratio must be in [0, 1), got %g", b->mask_ratio);
    if (model_check_mask_ratio(&b->cfg, b->mask_ratio, &e) < 0) die("--mask_ratio %s", e.msg);
    if (b->batch < 1 || b->steps < 1) die("--batch and --steps must be >= 1 (got %d and %d)", b->batch, b->steps);
}

/* Random inputs of one step: images and classes from Philox streams keyed by the sample, the
 * noise level, noise, mask and labels drawn as training draws them. */
static void fill_step(const Bench *b, int step, float *x, int32_t *classes, Draws *d, int masked) {
    const ModelConfig *c = &b->cfg;
    size_t per = (size_t)c->in_channels * c->input_size * c->input_size;
    uint64_t g0 = (uint64_t)step * (uint64_t)b->batch;
    for (int n = 0; n < b->batch; n++) {
        rng_fill_normal(x + n * per, per, 1, RNG_TEST, (uint32_t)(g0 + n), 0);
        Rng r = rng_stream(1, RNG_TEST, (uint32_t)(g0 + n), 1);
        classes[n] = c->num_classes ? (int32_t)rng_below(&r, (uint32_t)c->num_classes) : 0;
    }
    draws_make(d, 1, g0, b->batch, classes, 0.0, masked);
}

/* The host half of step `step`, as training does it: inputs, draws, EDM inputs. */
static void prepare_step(const Bench *b, int step, float *x, int32_t *classes, Draws *d, EdmBatch *eb, int len_keep,
                         ModelInput *in, LossInput *li) {
    const ModelConfig *c = &b->cfg;
    fill_step(b, step, x, classes, d, len_keep < model_num_patches(c));
    edm_prepare(eb, c, b->batch, x, d->labels, d->rnd_normal, d->noise, d->ids_shuffle, len_keep, in, li);
}

/* The backend's own GEMM speed on the step's dominant shape (the encoder MLP), same threads. */
static double gemm_gflops(Backend *be, const ModelConfig *c, int rows) {
    return backend_linear_gflops(be, rows, c->hidden_size, model_mlp_hidden(c->hidden_size, c->mlp_ratio));
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    Dist dist;
    dist_init(&dist, &argc, &argv);
    Bench b = {.cfg = model_config_default(), .batch = 8, .steps = 10, .warmup = 2, .mask_ratio = 0.5,
               .device = "cpu", .precision = "auto", .label = "DiT-XL/2"};
    parse(&b, &dist, argc, argv);
    const ModelConfig *c = &b.cfg;
    Backend *be = backend_create(b.device, dist.local_rank, b.precision, 0, b.threads);
    int L = model_num_patches(c), len_keep = model_len_keep(c, b.mask_ratio);
    Model *m = model_create(c, be, b.batch, len_keep);
    float *host = xmalloc(m->table.total * sizeof *host, "initial parameters");
    params_init(&m->table, c, 0, host);
    model_upload_params(m, host);
    free(host);
    size_t nt = m->table.n_trainable;
    float *exp_avg = be->alloc(be, nt * sizeof(float), "AdamW exp_avg");
    float *exp_avg_sq = be->alloc(be, nt * sizeof(float), "AdamW exp_avg_sq");
    be->zero(be, exp_avg, nt * sizeof(float));
    be->zero(be, exp_avg_sq, nt * sizeof(float));

    EdmBatch eb;
    edm_batch_alloc(&eb, c, b.batch);
    Draws draws;
    draws_alloc(&draws, c, b.batch);
    size_t img = (size_t)b.batch * c->in_channels * c->input_size * c->input_size;
    float *x = xmalloc(img * sizeof *x, "x");
    int32_t *classes = xmalloc((size_t)b.batch * sizeof *classes, "classes");

    /* As in training (src/train/step.c), the host half of step s+1 (draws, EDM inputs) runs while
     * the device finishes step s; a step's time is the interval between two step ends. */
    double *times = xmalloc((size_t)b.steps * sizeof *times, "times");
    double *prep = xmalloc((size_t)b.steps * sizeof *prep, "host preparation times");
    ModelInput in;
    LossInput li;
    prepare_step(&b, 0, x, classes, &draws, &eb, len_keep, &in, &li);
    double t_end = now_seconds();
    for (int s = 0; s < b.warmup + b.steps; s++) {
        model_zero_grads(m);
        model_forward(m, &in);
        model_loss(m, &li, 1.0f / b.batch, eb.loss);
        model_backward(m, NULL, NULL);
        int k = s + 1;
        be->adamw(be, m->params, model_params_act(m), m->grads, exp_avg, exp_avg_sq, nt, 1e-4f, 0.9f, 0.999f, 1e-8f,
                  0.0f, (float)(1 - pow(0.9, k)), (float)(1 - pow(0.999, k)), 1.0f);
        double t_prep = now_seconds();
        if (k < b.warmup + b.steps) prepare_step(&b, k, x, classes, &draws, &eb, len_keep, &in, &li);
        t_prep = now_seconds() - t_prep;
        be->sync(be);
        double t = now_seconds();
        if (s >= b.warmup) {
            times[s - b.warmup] = t - t_end;
            prep[s - b.warmup] = t_prep;
        }
        t_end = t;
    }
    qsort(prep, (size_t)b.steps, sizeof *prep, cmp_double);
    double prep_med = prep[b.steps / 2];
    free(prep);
    qsort(times, (size_t)b.steps, sizeof *times, cmp_double);
    double med = times[b.steps / 2];
    double flops = model_step_flops(c, b.batch, len_keep);
    double gemm = gemm_gflops(be, c, b.batch * len_keep);
    char dev_peak[32], alloc_peak[32];
    format_bytes((double)be->peak_memory(be), dev_peak, sizeof dev_peak);
    format_bytes((double)be->peak_bytes(be), alloc_peak, sizeof alloc_peak);
    info("model=%s batch=%d tokens=%d keep=%d params=%.2fM backend=%s/%s threads=%d", b.label, b.batch, L, len_keep,
         (double)nt / 1e6, be->name, dtype_name(be->act_dtype), b.threads);
    info("median %.1f ms/step (%.2f images/s)  min %.1f  max %.1f ms over %d steps", med * 1e3, b.batch / med,
         times[0] * 1e3, times[b.steps - 1] * 1e3, b.steps);
    info("step %.1f GFLOP -> %.1f GFLOP/s; backend GEMM baseline %.1f GFLOP/s; step/GEMM %.0f%%", flops / 1e9,
         flops / med / 1e9, gemm, 100.0 * flops / med / 1e9 / gemm);
    info("host: preparing the next step's inputs %.1f ms (median; %s)", prep_med * 1e3,
         be->memory == BACKEND_MEMORY_HOST ? "part of the step on the host's cores" : "overlapped with the device's work");
    info("peak memory on %s: %s (backend allocations %s)", be->device_name(be), dev_peak, alloc_peak);
    free(times);
    free(x);
    free(classes);
    draws_free(&draws);
    edm_batch_free(&eb);
    be->free(be, exp_avg);
    be->free(be, exp_avg_sq);
    model_destroy(m);
    be->destroy(be);
    dist_finalize(&dist);
    return 0;
}
