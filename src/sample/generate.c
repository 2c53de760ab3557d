#include "generate.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../ckpt/ckpt.h"
#include "../util/dirlock.h"
#include "../util/stop_signals.h"
#include "../util/fileio.h"
#include "generate_internal.h"
#include "guided.h"
#include "intlist.h"
#include "latents_file.h"
#include "parts_dir.h"

#define SEED_MAX 4294967295LL           /* seeds key 32-bit streams */
#define MAX_IMAGES (1LL << 31)          /* per run */

int generate_pixel_space(const RunConfig *rc, const ModelConfig *mc) {
    return !strstr(rc->data.dataset, "latent") && (mc->in_channels == 1 || mc->in_channels == 3);
}

static void check_inputs(GenerateSetup *s, const GenerateArgs *a) {
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
    if (a->vae && s->pixels) {
        warn("--pretrained_path %s has no effect: the model samples pixels, there are no latents to decode", a->vae);
    }
    if (a->vae && !s->pixels && access(a->vae, R_OK) != 0) die("--pretrained_path %s: %s", a->vae, strerror(errno));
    if (a->save_latents && (s->pixels || !a->vae))
        die("--save_latents keeps the latents beside the decoded images: it needs a latent-space model and "
            "--pretrained_path (without a VAE the latents are written anyway)");

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
        if (isinf(a->cfg_scale)) die("--cfg_scale must be finite (got %g)", a->cfg_scale);
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

/* What a record holds: the image (pixel models, or latents decoded by the VAE loaded here) and
 * the latents (latent models without a VAE, or with --save_latents). */
static void setup_outputs(GenerateSetup *s, Backend *be) {
    const GenerateArgs *a = s->a;
    if (!s->pixels && a->vae) {
        Error e;
        if (!(s->vae = vae_load(a->vae, be, &e))) die("--pretrained_path: %s", e.msg);
        const VaeConfig *g = vae_config(s->vae);
        if (g->z_channels != s->C)
            die("--pretrained_path %s: the VAE's latents have %d channels, the model samples %d (model.in_channels in "
                "%s)", a->vae, g->z_channels, s->C, a->config_path);
        if (!vae_scaling_factor(s->vae, &s->scale_factor)) s->scale_factor = LATENT_SCALE_FACTOR;
        char desc[256];
        vae_describe(s->vae, desc, sizeof desc);
        info("VAE %s (%s layout): %s; images %dx%d, decoded from latents / %g", vae_path(s->vae), vae_layout(s->vae),
             desc, s->H * g->factor, s->H * g->factor, s->scale_factor);
    }
    if (s->pixels || s->vae) {
        s->img_C = s->pixels ? s->C : vae_config(s->vae)->in_channels;
        s->img_H = s->pixels ? s->H : s->H * vae_config(s->vae)->factor;
        s->img_bytes = (size_t)s->img_C * s->img_H * s->img_H;
    }
    if (!s->pixels && (!s->vae || a->save_latents)) s->lat_bytes = s->dim * sizeof(float);
    s->out_bytes = s->img_bytes + s->lat_bytes;
}

/* Rank 0 creates the results directory (and one per class for a class grid) before anyone writes. */
static void prepare_results_dir(const Dist *d, const GenerateSetup *s) {
    if (d->rank == 0) {
        Error e;
        if (make_dirs(s->a->results_dir, &e) ||
            dir_lock(s->a->results_dir, "maskdit-generate", "give this one another --results_dir (a job array: one "
                     "per task)", &e))
            die("--results_dir: %s", e.msg);
        generate_check_outputs(s);
        for (int r = 0; r < s->work.n_rows; r++) {
            char dir[4096];
            generate_class_dir(s, s->work.items[(long long)r * s->work.n_seeds].class_idx, dir, sizeof dir);
            if (make_dirs(dir, &e)) die("--results_dir: %s", e.msg);
        }
    }
    dist_barrier(d);
}

int generate_check_memory(const GenerateSetup *s, int rank, int world, long long begin, long long end, double avail,
                          Error *e) {
    double local = (double)MAX(end - begin, 1LL) * (double)s->out_bytes;
    double need = local + (rank == 0 ? (double)s->work.count * (double)s->img_bytes : 0.0);
    if (need <= avail) return 0;
    /* images per run that would fit: each rank holds count/world of them, rank 0 the images all again */
    double per_image = (double)s->out_bytes / world + (double)s->img_bytes;
    char n[32], a[32], each[32];
    format_bytes(need, n, sizeof n);
    format_bytes(avail, a, sizeof a);
    format_bytes((double)s->out_bytes, each, sizeof each);
    return error_set(e, "--seeds/--class_idx: %lld images of %s are kept in memory until the outputs are written: %s "
                        "on %s, but only %s is available: about %.0f images fit in one run on %d rank%s; split the "
                        "seeds over several runs (one --results_dir each) or use more ranks",
                     s->work.count, each, n, world > 1 ? "this rank" : "this machine", a, floor(avail / per_image),
                     world, world == 1 ? "" : "s");
}

/* The weights every rank samples with: rank 0 reads the checkpoint, then broadcasts. */
static float *load_weights(const Dist *d, const GenerateSetup *s, const ParamTable *t) {
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

/* Everything that decides the numbers of the run, for the batch parts (run_record.h). The
 * weights are fingerprinted by their content (a copied or touched checkpoint is the same run);
 * the device kind and precision are part of it because CPU and GPU round differently. */
static void describe_run(const GenerateSetup *s, const Backend *be, const float *weights, size_t n_weights,
                         RunRecord *r) {
    const GenerateArgs *a = s->a;
    const ModelConfig *mc = &s->mc;
    const SamplerOptions *o = &s->plan.opt;
    char desc[256];
    model_config_describe(mc, desc, sizeof desc);
    run_record_init(r);
    run_record_note(r, "maskdit-generate: the batch parts in this directory belong to the run described here");
    run_record_note(r, "checkpoint %s", a->ckpt_path);
    run_record_note(r, "--seeds %s --class_idx %s", a->seeds, a->class_idx ? a->class_idx : "(none)");
    run_record_set(r, "model", "%s space, %s, mlp_ratio %.17g, sigma_data %.17g, norm_eps %.17g, frequency embedding %d, "
                   "max_period %d", s->pixels ? "pixel" : "latent", desc, mc->mlp_ratio, mc->sigma_data, mc->norm_eps,
                   mc->frequency_embedding_size, mc->max_period);
    run_record_set(r, "--weights", "%s", a->weights);
    run_record_set(r, "weights content", "%zu parameters, CRC-32 %08x", n_weights,
                   (unsigned)crc32_z(0, (const Bytef *)weights, (z_size_t)(n_weights * sizeof *weights)));
    run_record_set(r, "--seeds/--class_idx", "%lld images, CRC-32 %08x of their seeds and classes", s->work.count,
                   (unsigned)crc32_z(0, (const Bytef *)s->work.items, (z_size_t)(s->work.count * sizeof *s->work.items)));
    run_record_set(r, "--max_batch_size", "%d", a->max_batch_size);
    if (isnan(a->cfg_scale)) run_record_set(r, "--cfg_scale", "None");
    else run_record_set(r, "--cfg_scale", "%.17g", a->cfg_scale);
    run_record_set(r, "--num_steps", "%d", o->num_steps);
    run_record_set(r, "sampler", "%s", s->sampler_desc);
    run_record_set(r, "--sigma_min/--sigma_max/--rho", "%.17g %.17g %.17g", o->sigma_min, o->sigma_max, o->rho);
    run_record_set(r, "--S_churn/--S_min/--S_max/--S_noise", "%.17g %.17g %.17g %.17g", o->S_churn, o->S_min, o->S_max,
                   o->S_noise);
    if (s->vae) {   /* the VAE by content, as the checkpoint (a copied file is the same run) */
        run_record_set(r, "--pretrained_path", "%zu parameters, CRC-32 %08x, scale factor %.17g",
                       vae_parameter_count(s->vae), (unsigned)vae_fingerprint(s->vae), s->scale_factor);
        run_record_set(r, "--save_latents", "%d", a->save_latents);
    }
    run_record_set(r, "--device", "%s", be->name);
    run_record_set(r, "--precision", "%s", dtype_name(be->act_dtype));
}

int generate_run(const Dist *d, const GenerateArgs *a) {
    GenerateSetup s;
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
    Backend *be = backend_create(a->device, d->local_rank, a->precision, 0, 0);
    setup_outputs(&s, be);   /* what a record holds, with the VAE's image size */
    prepare_results_dir(d, &s);
    stop_signals_install();

    long long begin, end;
    sample_rank_share(s.work.count, a->max_batch_size, d->rank, d->world, &begin, &end);
    if (end == begin) warn("no batch left for this rank (%lld batches of %d on %d ranks)",
                           (s.work.count + a->max_batch_size - 1) / a->max_batch_size, a->max_batch_size, d->world);
    Error e;
    if (generate_check_memory(&s, d->rank, d->world, begin, end, (double)host_available_bytes(), &e)) die("%s", e.msg);
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
    RunRecord record;
    describe_run(&s, be, flat, m->table.total, &record);
    free(flat);
    PartStore parts = {.record_bytes = s.out_bytes, .batch_size = a->max_batch_size};
    parts_dir_prepare(d, a->results_dir, &record, a->fresh, &parts);
    run_record_free(&record);

    void *local = xmalloc((size_t)MAX(end - begin, 1LL) * s.out_bytes, "samples of this rank");
    int status = 0;
    if (generate_batches(d, &s, m, B, &parts, begin, end, local)) {
        info("stopped %s with batches left; the finished ones are kept in %s. Exit status %d: run the same command "
             "again to carry on", a->stop_after_batches > 0 ? "by --stop_after_batches" : "by a signal", parts.dir,
             EXIT_REQUEUE_STATUS);
        status = EXIT_REQUEUE_STATUS;
    } else {
        generate_write_outputs(d, &s, local, end - begin);
        /* Every file is complete (collective above): the parts are no longer needed. */
        if (d->rank == 0) parts_dir_remove(&parts);
    }
    free(local);
    vae_free(s.vae);
    model_destroy(m);
    be->destroy(be);
    sample_work_free(&s.work);
    sampler_plan_free(&s.plan);
    return status;
}
