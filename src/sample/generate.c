#include "generate.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "../ckpt/ckpt.h"
#include "../util/fileio.h"
#include "../util/png.h"
#include "../util/progress.h"
#include "collect.h"
#include "guided.h"
#include "images.h"
#include "intlist.h"
#include "latents_file.h"
#include "npz_out.h"
#include "streams.h"
#include "work.h"

#define SEED_MAX 4294967295LL           /* seeds key 32-bit streams */
#define MAX_IMAGES (1LL << 31)          /* per run */
#define GRID_MAX_IMAGES 1024            /* tiles in grid.png */
#define PROGRESS_LOG_INTERVAL 10.0      /* seconds between progress lines in a log */

int generate_pixel_space(const RunConfig *rc, const ModelConfig *mc) {
    return !strstr(rc->data.dataset, "latent") && (mc->in_channels == 1 || mc->in_channels == 3);
}

/* Everything a run needs, checked before any model is built. */
typedef struct {
    const GenerateArgs *a;
    RunConfig rc;
    ModelConfig mc;
    int pixels;
    int C, H;
    size_t dim;                   /* C*H*H values per sample */
    double cfg_scale;             /* passed to the denoiser: <= 0 = none */
    SampleWork work;
    SamplerPlan plan;
    char sampler_desc[256];
} Setup;

static void check_inputs(Setup *s, const GenerateArgs *a) {
    Error e;
    s->a = a;
    if (!a->config_path) die("--config is required (e.g. --config configs/test/maskdit-512.yaml)");
    if (run_config_load(&s->rc, a->config_path, NULL, 0, &e)) die("%s", e.msg);
    if (run_config_model(&s->rc, &s->mc, &e)) die("%s: %s", a->config_path, e.msg);
    s->pixels = generate_pixel_space(&s->rc, &s->mc);
    s->C = s->mc.in_channels;
    s->H = s->mc.input_size;
    s->dim = (size_t)s->C * s->H * s->H;
    int K = s->mc.num_classes;

    if (!a->ckpt_path) die("--ckpt_path is required (a .pt checkpoint of the original or one of ours, .h5)");
    if (access(a->ckpt_path, R_OK) != 0) die("--ckpt_path %s: %s", a->ckpt_path, strerror(errno));
    if (strcmp(a->weights, "ema") && strcmp(a->weights, "model"))
        die("--weights: unknown value '%s' (expected ema or model)", a->weights);
    if (a->max_batch_size < 1) die("--max_batch_size must be at least 1 (got %d)", a->max_batch_size);

    /* Guidance: None = off; 0 = the null label only (unconditional samples), as the original's
     * F_u + 0 * (F_c - F_u); s > 0 guided. */
    int unconditional_samples = 0;
    if (!isnan(a->cfg_scale)) {
        if (K == 0)
            die("--cfg_scale %g: classifier-free guidance needs a class-conditional model, and %s describes an "
                "unconditional one (model.num_classes 0)", a->cfg_scale, a->config_path);
        if (a->cfg_scale < 0) die("--cfg_scale must be >= 0 (got %g)", a->cfg_scale);
        unconditional_samples = a->cfg_scale == 0;
    }
    s->cfg_scale = isnan(a->cfg_scale) ? 0.0 : a->cfg_scale;

    long long *classes = NULL, n_classes = 0;
    if (a->class_idx) {
        if (K == 0)
            die("--class_idx %s: the model is unconditional (model.num_classes 0 in %s)", a->class_idx, a->config_path);
        if (unconditional_samples)
            die("--class_idx %s with --cfg_scale 0: guidance scale 0 samples unconditionally; drop one of them",
                a->class_idx);
        if (intlist_parse("--class_idx", a->class_idx, 0, K - 1, K, &classes, &n_classes, &e))
            die("%s (the model has %d classes)", e.msg, K);
    }
    long long *seeds = NULL, n_seeds = 0;
    if (intlist_parse("--seeds", a->seeds, 0, SEED_MAX, MAX_IMAGES, &seeds, &n_seeds, &e)) die("%s", e.msg);
    if (n_classes > 1 && n_seeds * n_classes > MAX_IMAGES)
        die("%lld seeds x %lld classes is more than %lld images", n_seeds, n_classes, MAX_IMAGES);
    sample_work_build(&s->work, seeds, n_seeds, classes, n_classes, unconditional_samples ? 0 : K);
    free(seeds);
    free(classes);

    SamplerOptions so = a->sampler;
    so.net_sigma_min = s->mc.sigma_min;
    so.net_sigma_max = s->mc.sigma_max;
    if (sampler_plan(&s->plan, &so, &e)) die("%s", e.msg);
    sampler_describe(&s->plan.opt, s->sampler_desc, sizeof s->sampler_desc);
}

static void class_dir(const Setup *s, int class_idx, char *buf, size_t len) {
    if (s->work.n_rows > 0) xsnprintf(buf, len, "%s/class_%d", s->a->results_dir, class_idx);
    else xsnprintf(buf, len, "%s", s->a->results_dir);
}

/* Rank 0 creates the results directory (and one per class for a class grid) before anyone writes. */
static void prepare_results_dir(const Dist *d, const Setup *s) {
    if (d->rank == 0) {
        Error e;
        if (make_dirs(s->a->results_dir, &e)) die("--results_dir: %s", e.msg);
        for (int r = 0; r < s->work.n_rows; r++) {
            char dir[4096];
            class_dir(s, s->work.items[(long long)r * s->work.n_seeds].class_idx, dir, sizeof dir);
            if (make_dirs(dir, &e)) die("--results_dir: %s", e.msg);
        }
    }
    dist_barrier(d);
}

/* The weights every rank samples with: rank 0 reads the checkpoint, then broadcasts. */
static float *load_weights(const Dist *d, const Setup *s, const ParamTable *t) {
    float *flat = xcalloc(t->total, sizeof *flat, "sampling weights");
    if (d->rank == 0) {
        CkptTensors want = {0};
        if (!strcmp(s->a->weights, "ema")) want.ema = flat;
        else want.model = flat;
        Error e;
        if (ckpt_load(s->a->ckpt_path, t, &want, NULL, 1, &e)) die("%s", e.msg);
    }
    dist_bcast(d, flat, t->total * sizeof *flat, 0);
    return flat;
}

/* Progress of this rank's share, shown by rank 0: images done (the current batch counted by its
 * steps), images/s and ETA. Rank 0 sees only its own share, so with several ranks its numbers
 * are scaled to the whole run (the shares differ by at most one batch), marked "~". */
typedef struct {
    Progress line;
    long long local_total, global_total;
    int world, num_steps;
    long long done;               /* images of this rank finished before the current batch */
    int batch;                    /* images in the current batch */
} SampleProgress;

static void show_progress(SampleProgress *p, double local_done, int steps_done, int final) {
    double frac = p->local_total ? local_done / (double)p->local_total : 1.0;
    double global = frac * (double)p->global_total, elapsed = progress_elapsed(&p->line);
    double rate = elapsed > 0 ? global / elapsed : 0.0;
    char bar[PROGRESS_BAR_WIDTH + 1], eta[32];
    progress_bar(frac, bar);
    progress_eta((double)p->global_total - global, rate, eta, sizeof eta);
    const char *approx = p->world > 1 ? "~" : "";
    progress_print(&p->line, final, "sampling [%s] %s%.0f/%lld images  step %d/%d  %s%.2f images/s  ETA %s", bar, approx,
                   global, p->global_total, steps_done, p->num_steps, approx, rate, eta);
}

static void on_step(void *ctx, int step, const double *x, int n) {
    SampleProgress *p = ctx;
    if (progress_due(&p->line))
        show_progress(p, (double)p->done + (double)p->batch * (step + 1) / p->num_steps, step + 1, 0);
}

/* Sample this rank's share [begin, end) in batches of B; writes one PNG per image (pixel models) and
 * returns the rank's block of outputs: HWC bytes (pixels) or CHW float32 (latents). */
static void *sample_share(const Setup *s, Model *m, int B, SampleProgress *progress, long long begin, long long end) {
    long long n_local = end - begin;
    size_t out_bytes = s->pixels ? s->dim : s->dim * sizeof(float);
    char *out = xmalloc((size_t)n_local * out_bytes, "samples of this rank");
    GuidedDenoiser gd;
    guided_init(&gd, m, B, s->cfg_scale);
    double *x = xmalloc((size_t)B * s->dim * sizeof *x, "sampler state");
    uint32_t *seeds = xmalloc((size_t)B * sizeof *seeds, "batch seeds");
    int *classes = xmalloc((size_t)B * sizeof *classes, "batch classes");
    SamplerCallbacks cb = {.denoise = guided_denoise, .ctx = &gd, .on_step = on_step, .step_ctx = progress};
    for (long long i = begin; i < end; i += B) {
        int n = (int)MIN((long long)B, end - i);
        for (int k = 0; k < n; k++) {
            const SampleItem *it = &s->work.items[i + k];
            seeds[k] = it->seed;
            classes[k] = it->class_idx;
            sample_initial_noise(x + (size_t)k * s->dim, s->dim, it->seed);
        }
        guided_set_classes(&gd, classes, n);
        progress->batch = n;
        sampler_run(&s->plan, &cb, x, n, s->dim, seeds);
        for (int k = 0; k < n; k++) {
            char *o = out + (size_t)(i - begin + k) * out_bytes;
            const double *xk = x + (size_t)k * s->dim;
            if (!s->pixels) {
                for (size_t v = 0; v < s->dim; v++) ((float *)o)[v] = (float)xk[v];
                continue;
            }
            image_to_u8((uint8_t *)o, xk, s->C, s->H, s->H);
            char dir[4096], path[4200];
            class_dir(s, classes[k], dir, sizeof dir);
            xsnprintf(path, sizeof path, "%s/%06u.png", dir, seeds[k]);
            Error e;
            if (png_write(path, (const uint8_t *)o, s->H, s->H, s->C, &e)) die("%s", e.msg);
        }
        progress->done += n;
        int last = progress->done >= progress->local_total;
        if (last || progress_due(&progress->line))
            show_progress(progress, (double)progress->done, progress->num_steps, last);
    }
    free(x);
    free(seeds);
    free(classes);
    guided_free(&gd);
    return out;
}

/* ---- outputs gathered on rank 0 ---- */

static void write_npz(const Dist *d, const Setup *s, const void *local, long long n_local, const char *descr,
                      size_t elem, const long long shape[4], const char *path) {
    NpzOut npz;
    Error e = {{0}};
    if (d->rank == 0 && npz_out_open(&npz, path, descr, 4, shape, elem, &e)) die("%s", e.msg);
    size_t record = (size_t)shape[1] * shape[2] * shape[3] * elem;
    if (collect_to_root(d, local, n_local, record, npz_out_sink, &npz, &e)) {
        if (d->rank == 0) npz_out_abort(&npz);
        die("%s", e.msg);
    }
    if (d->rank == 0) {
        if (npz_out_close(&npz, &e)) die("%s", e.msg);
        info("wrote %s (arr_0: %s %lldx%lldx%lldx%lld)", path, descr, shape[0], shape[1], shape[2], shape[3]);
    }
}

static void write_pixel_outputs(const Dist *d, const Setup *s, const uint8_t *local, long long n_local) {
    size_t img = s->dim;
    MemorySink all = {.buf = d->rank == 0 ? xmalloc((size_t)s->work.count * img, "all samples") : NULL};
    Error e;
    if (collect_to_root(d, local, n_local, img, memory_sink, &all, &e)) die("%s", e.msg);
    if (d->rank == 0) {
        GridLayout g;
        grid_layout(&g, &s->work, GRID_MAX_IMAGES);
        uint8_t *tiles = xmalloc((size_t)g.shown * img, "grid tiles");
        for (int k = 0; k < g.shown; k++) memcpy(tiles + (size_t)k * img, all.buf + (size_t)g.grid_index[k] * img, img);
        int gw, gh;
        uint8_t *canvas = grid_compose(tiles, g.shown, g.rows, g.cols, s->H, s->H, s->C, &gw, &gh);
        char path[4200];
        xsnprintf(path, sizeof path, "%s/grid.png", s->a->results_dir);
        if (png_write(path, canvas, gw, gh, s->C, &e)) die("%s", e.msg);
        info("wrote %lld PNG images and %s (%d x %d images%s)", s->work.count, path, g.rows, g.cols,
             s->work.n_rows ? ", one row per class" : "");
        free(canvas);
        free(tiles);
        grid_layout_free(&g);
    }
    if (s->a->npz) {
        /* The ADM evaluator's sample batch: arr_0 uint8 [N, H, W, C]. */
        long long shape[4] = {s->work.count, s->H, s->H, s->C};
        char path[4200];
        xsnprintf(path, sizeof path, "%s/samples_%lldx%dx%dx%d.npz", s->a->results_dir, s->work.count, s->H, s->H, s->C);
        write_npz(d, s, local, n_local, "|u1", 1, shape, path);
    }
    free(all.buf);
}

static void write_latent_outputs(const Dist *d, const Setup *s, const float *local, long long n_local) {
    char path[4200];
    xsnprintf(path, sizeof path, "%s/latents.h5", s->a->results_dir);
    SampleMeta meta = {.checkpoint = s->a->ckpt_path, .weights = s->a->weights, .sampler = s->sampler_desc,
                       .cfg_scale = s->cfg_scale, .num_classes = s->mc.num_classes};
    LatentsFile lf;
    Error e = {{0}};
    if (d->rank == 0 && latents_file_create(&lf, path, &s->work, s->C, s->H, s->H, &meta, &e)) die("%s", e.msg);
    if (collect_to_root(d, local, n_local, s->dim * sizeof(float), latents_file_sink, &lf, &e)) {
        if (d->rank == 0) latents_file_abort(&lf);
        die("%s", e.msg);
    }
    if (d->rank == 0) {
        if (latents_file_close(&lf, &e)) die("%s", e.msg);
        info("wrote %s: %lld latents %dx%dx%d; decode them with the VAE decoder (z / %g)", path, s->work.count, s->C,
             s->H, s->H, LATENT_SCALE_FACTOR);
    }
    if (s->a->npz) {
        long long shape[4] = {s->work.count, s->C, s->H, s->H};
        xsnprintf(path, sizeof path, "%s/latents_%lldx%dx%dx%d.npz", s->a->results_dir, s->work.count, s->C, s->H, s->H);
        write_npz(d, s, local, n_local, "<f4", sizeof(float), shape, path);
    }
}

void generate_run(const Dist *d, const GenerateArgs *a) {
    Setup s;
    memset(&s, 0, sizeof s);
    check_inputs(&s, a);
    char desc[256];
    model_config_describe(&s.mc, desc, sizeof desc);
    info("model %s (%s space); %s weights of %s", desc, s.pixels ? "pixel" : "latent", a->weights, a->ckpt_path);
    info("sampler: %s; guidance %s", s.sampler_desc,
         isnan(a->cfg_scale) ? "none" : a->cfg_scale == 0 ? "scale 0 (unconditional)" : "on");
    if (!isnan(a->cfg_scale) && a->cfg_scale > 0) info("cfg_scale %g", a->cfg_scale);
    info("%lld images (%lld seeds%s) on %d rank%s, batches of up to %d per rank", s.work.count, s.work.n_seeds,
         s.work.n_rows ? " x classes" : "", d->world, d->world == 1 ? "" : "s", a->max_batch_size);
    prepare_results_dir(d, &s);

    long long begin, end;
    sample_rank_share(s.work.count, a->max_batch_size, d->rank, d->world, &begin, &end);
    if (end == begin) warn("no batch left for this rank (%lld batches of %d on %d ranks)",
                           (s.work.count + a->max_batch_size - 1) / a->max_batch_size, a->max_batch_size, d->world);
    Backend *be = backend_create(a->device, d->local_rank, a->precision, 0, 0);
    /* Batches of --max_batch_size (the last of the list may be smaller); a share smaller than
     * one batch plans the model for just that. */
    int B = (int)MIN((long long)a->max_batch_size, MAX(1LL, end - begin));
    int model_batch = guided_model_batch(&s.mc, B, s.cfg_scale);
    char bytes[32];
    format_bytes((double)model_activation_bytes(&s.mc, be, model_batch, model_num_patches(&s.mc), 0), bytes, sizeof bytes);
    info("model batch %d: %s of activations on %s (--max_batch_size sets the batch)", model_batch, bytes, be->name);
    model_check_fits(&s.mc, be, model_batch, model_num_patches(&s.mc), 0, 0, "--max_batch_size (with guidance the model batch is twice it)");
    Model *m = model_create_inference(&s.mc, be, model_batch);
    float *flat = load_weights(d, &s, &m->table);
    model_upload_params(m, flat);
    free(flat);

    SampleProgress progress = {.local_total = end - begin, .global_total = s.work.count, .world = d->world,
                               .num_steps = s.plan.opt.num_steps};
    progress_start(&progress.line, 1, PROGRESS_LOG_INTERVAL);
    void *local = sample_share(&s, m, B, &progress, begin, end);
    dist_barrier(d);
    progress_end(&progress.line);
    double seconds = progress_elapsed(&progress.line);
    char took[32];
    info("sampled %lld images in %s (%.2f images/s on %d rank%s)", s.work.count,
         format_duration(seconds, took, sizeof took), seconds > 0 ? s.work.count / seconds : 0.0, d->world,
         d->world == 1 ? "" : "s");
    if (s.pixels) write_pixel_outputs(d, &s, local, end - begin);
    else write_latent_outputs(d, &s, local, end - begin);

    free(local);
    model_destroy(m);
    be->destroy(be);
    sample_work_free(&s.work);
    sampler_plan_free(&s.plan);
}
