#include <math.h>
#include <signal.h>
#include <string.h>

#include "../util/stop_signals.h"
#include "../util/png.h"
#include "../util/progress.h"
#include "generate_internal.h"
#include "decode.h"
#include "guided.h"
#include "../util/images.h"
#include "streams.h"

#define PROGRESS_LOG_INTERVAL 10.0      /* seconds between progress lines in a log */

/* What the ranks agree on between batches (summed over ranks in one all-reduce). */
enum { AGREE_STOP, AGREE_NEXT, AGREE_SAMPLED, AGREE_SKIPPED, AGREE_PENDING, AGREE_N };

/* Progress of the whole run, shown by rank 0: images sampled in this run (skipped batches do not
 * count), images/s and ETA. Between batches the count is exact (the ranks' agreement carries it);
 * within a batch rank 0 assumes that every rank is as far through its batch as itself ("~" with
 * several ranks). */
typedef struct {
    Progress line;
    long long total;              /* images to sample in this run, all ranks */
    long long done;               /* sampled by all ranks before the current round of batches */
    long long round;              /* images all ranks sample in the current round */
    int world, num_steps;
} SampleProgress;

static void show_progress(SampleProgress *p, double done, int steps_done, int final) {
    double frac = p->total ? done / (double)p->total : 1.0, elapsed = progress_elapsed(&p->line);
    double rate = elapsed > 0 ? done / elapsed : 0.0;
    char bar[PROGRESS_BAR_WIDTH + 1], eta[32];
    progress_bar(frac, bar);
    progress_eta((double)p->total - done, rate, eta, sizeof eta);
    const char *approx = p->world > 1 && !final ? "~" : "";
    progress_print(&p->line, final, "sampling [%s] %s%.0f/%lld images  step %d/%d  %s%.2f images/s  ETA %s", bar, approx,
                   done, p->total, steps_done, p->num_steps, approx, rate, eta);
}

static void on_step(void *ctx, int step, const double *x, int n) {
    SampleProgress *p = ctx;
    if (progress_due(&p->line))
        show_progress(p, (double)p->done + (double)p->round * (step + 1) / p->num_steps, step + 1, 0);
}

/* A stop signal takes effect between sampler steps: a long batch is not waited for. */
static int stop_requested(void *ctx) { return stop_signal_received() != 0; }

/* Where a stop signal interrupted this rank: the batch dropped and the steps it had done. */
typedef struct {
    long long batch;              /* -1: none */
    int steps_done;
} Interrupted;

/* The batches of this rank's share: their first image and size, and whether a part had them. */
typedef struct {
    long long count, next;        /* batches; the next one to sample (skipping those done) */
    long long *first;
    int *n;
    char *done;
} ShareBatches;

static long long batch_index(const GenerateSetup *s, long long first) { return first / s->a->max_batch_size; }

/* Reads the parts of this rank's batches into out; returns the images they held. */
static long long read_parts(const GenerateSetup *s, const PartStore *ps, long long begin, long long end, char *out,
                            ShareBatches *sb) {
    int mbs = s->a->max_batch_size;
    sb->count = (end - begin + mbs - 1) / mbs;
    sb->next = 0;
    sb->first = xmalloc((size_t)MAX(sb->count, 1LL) * sizeof *sb->first, "batch list");
    sb->n = xmalloc((size_t)MAX(sb->count, 1LL) * sizeof *sb->n, "batch list");
    sb->done = xcalloc((size_t)MAX(sb->count, 1LL), 1, "batch list");
    long long skipped = 0;
    for (long long k = 0; k < sb->count; k++) {
        long long i = begin + k * mbs, b = batch_index(s, i);
        sb->first[k] = i;
        sb->n[k] = (int)MIN((long long)mbs, end - i);
        Error e;
        switch (part_read(ps, b, &s->work.items[i], sb->n[k], out + (size_t)(i - begin) * s->out_bytes, &e)) {
        case PART_OK:
            sb->done[k] = 1;
            skipped += sb->n[k];
            break;
        case PART_ABSENT: break;
        case PART_DAMAGED: warn("%s; sampling batch %lld again", e.msg, b); break;
        case PART_FOREIGN:
            die("%s: it cannot be mixed into this run. Add --fresh to discard the batches in %s and start over", e.msg,
                ps->dir);
        }
    }
    return skipped;
}

static long long next_batch_images(const ShareBatches *sb) {
    for (long long k = sb->next; k < sb->count; k++)
        if (!sb->done[k]) return sb->n[k];
    return 0;
}

/* A NaN or Inf end point would be written as a black image (or a NaN latent) without a word: the
 * computation overflowed. Ends the run before the batch is kept, so running again resamples it. */
static void check_finite_samples(const GenerateSetup *s, const double *x, int n, const uint32_t *seeds) {
    char cfg[32] = "None";
    if (!isnan(s->a->cfg_scale)) snprintf(cfg, sizeof cfg, "%g", s->a->cfg_scale);
    for (int k = 0; k < n; k++)
        for (size_t v = 0; v < s->dim; v++)
            if (!isfinite(x[(size_t)k * s->dim + v]))
                die("the sample of seed %u came out as NaN/Inf: the computation overflowed (with --cfg_scale %s, "
                    "--S_noise %g, --precision %s); nothing of its batch was kept", seeds[k], cfg,
                    s->plan.opt.S_noise, s->a->precision);
}

/* The batch's records (the image as bytes, then the latents, as the run keeps them) and PNGs. */
static void store_batch(const GenerateSetup *s, SampleDecoder *dec, const double *x, int n, const uint32_t *seeds,
                        const int *classes, char *block) {
    const size_t img_dim = (size_t)s->img_C * s->img_H * s->img_H;
    const double *images = s->vae ? sample_decoder_run(dec, x, n) : x;
    Error e;
    for (int k = 0; k < n; k++) {
        char *o = block + (size_t)k * s->out_bytes;
        const double *xk = x + (size_t)k * s->dim;
        if (s->lat_bytes)
            for (size_t v = 0; v < s->dim; v++) ((float *)(o + s->img_bytes))[v] = (float)xk[v];
        if (!s->img_bytes) continue;
        image_to_u8((uint8_t *)o, images + (size_t)k * img_dim, s->img_C, s->img_H, s->img_H);
        char dir[4096], path[4200];
        generate_class_dir(s, classes[k], dir, sizeof dir);
        xsnprintf(path, sizeof path, "%s/%06u.png", dir, seeds[k]);
        if (png_write(path, (const uint8_t *)o, s->img_H, s->img_H, s->img_C, &e)) die("%s", e.msg);
    }
}

/* Samples the next batch not done, writes its PNGs (pixel models) and its part; returns its size,
 * or 0 with *cut set when a stop signal came before its last sampler step (the batch is dropped:
 * nothing of it is written, and it stays to do). */
static int sample_next(const GenerateSetup *s, GuidedDenoiser *gd, SampleDecoder *dec, SampleProgress *progress,
                       const PartStore *ps, long long begin, ShareBatches *sb, char *out, double *x, uint32_t *seeds,
                       int *classes, Interrupted *cut) {
    while (sb->next < sb->count && sb->done[sb->next]) sb->next++;
    if (sb->next == sb->count) return 0;
    long long i = sb->first[sb->next];
    int n = sb->n[sb->next];
    const SampleItem *items = &s->work.items[i];
    for (int k = 0; k < n; k++) {
        seeds[k] = items[k].seed;
        classes[k] = items[k].class_idx;
        sample_initial_noise(x + (size_t)k * s->dim, s->dim, items[k].seed);
    }
    guided_set_classes(gd, classes, n);
    SamplerCallbacks cb = {.denoise = guided_denoise, .ctx = gd, .on_step = on_step, .step_ctx = progress,
                           .stop = stop_requested};
    int steps_done = sampler_run(&s->plan, &cb, x, n, s->dim, seeds);
    if (steps_done < s->plan.opt.num_steps) {
        *cut = (Interrupted){batch_index(s, i), steps_done};
        return 0;
    }
    check_finite_samples(s, x, n, seeds);
    char *block = out + (size_t)(i - begin) * s->out_bytes;
    store_batch(s, dec, x, n, seeds, classes, block);
    Error e;
    /* The part last: a batch counts as done only once its PNGs are written too. */
    if (part_write(ps, batch_index(s, i), items, n, block, &e)) die("%s", e.msg);
    sb->done[sb->next++] = 1;
    return n;
}

static void agree(const Dist *d, double v[AGREE_N]) { dist_allreduce_sum_double(d, v, AGREE_N); }

int generate_batches(const Dist *d, const GenerateSetup *s, Model *m, int B, const PartStore *ps, long long begin,
                     long long end, void *out) {
    ShareBatches sb;
    long long skipped = read_parts(s, ps, begin, end, out, &sb);
    double v[AGREE_N] = {[AGREE_STOP] = stop_signal_received() != 0, [AGREE_NEXT] = (double)next_batch_images(&sb),
                         [AGREE_SKIPPED] = (double)skipped, [AGREE_PENDING] = (double)(end - begin - skipped)};
    agree(d, v);
    long long count = s->work.count, pending = (long long)v[AGREE_PENDING];
    if (v[AGREE_SKIPPED] > 0)
        info("resuming: %.0f of %lld images are already done in %s (their batches are skipped); %lld left to sample",
             v[AGREE_SKIPPED], count, ps->dir, pending);

    SampleProgress progress = {.total = pending, .round = (long long)v[AGREE_NEXT], .world = d->world,
                               .num_steps = s->plan.opt.num_steps};
    progress_start(&progress.line, pending > 0, PROGRESS_LOG_INTERVAL);
    GuidedDenoiser gd;
    guided_init(&gd, m, B, s->cfg_scale);
    SampleDecoder dec = {0};
    if (s->vae) sample_decoder_init(&dec, s->vae, s->scale_factor, s->C, s->H, B);
    double *x = xmalloc((size_t)B * s->dim * sizeof *x, "sampler state");
    uint32_t *seeds = xmalloc((size_t)B * sizeof *seeds, "batch seeds");
    int *classes = xmalloc((size_t)B * sizeof *classes, "batch classes");
    long long sampled = 0;
    int stop_after = s->a->stop_after_batches, rounds = 0;
    Interrupted cut = {-1, 0};
    /* One round = every rank samples its next batch (if it has one left), then all agree. */
    while (v[AGREE_NEXT] > 0 && v[AGREE_STOP] == 0) {
        sampled += sample_next(s, &gd, &dec, &progress, ps, begin, &sb, out, x, seeds, classes, &cut);
        rounds++;
        v[AGREE_STOP] = stop_signal_received() || (stop_after > 0 && rounds >= stop_after);
        v[AGREE_NEXT] = (double)next_batch_images(&sb);
        v[AGREE_SAMPLED] = (double)sampled;
        v[AGREE_SKIPPED] = v[AGREE_PENDING] = 0;
        agree(d, v);
        progress.done = (long long)v[AGREE_SAMPLED];
        progress.round = (long long)v[AGREE_NEXT];
        int last = progress.round == 0 || v[AGREE_STOP] > 0;
        int steps = cut.batch >= 0 ? cut.steps_done : progress.num_steps;
        if (last || progress_due(&progress.line)) show_progress(&progress, (double)progress.done, steps, last);
    }
    progress_end(&progress.line);
    if (cut.batch >= 0)
        warn("%s stopped batch %lld after %d of its %d sampler steps: the batch is dropped (its images are sampled "
             "again when the run resumes)", stop_signal_received() == SIGTERM ? "SIGTERM" : "SIGUSR1", cut.batch,
             cut.steps_done, s->plan.opt.num_steps);
    double seconds = progress_elapsed(&progress.line);
    int stopped = v[AGREE_NEXT] > 0;
    if (pending > 0) {
        char took[32], left[96] = "; every image of the run is done";
        if (stopped) xsnprintf(left, sizeof left, "; %lld of %lld images of the run are done", count - pending + progress.done, count);
        info("sampled %lld images in %s (%.2f images/s on %d rank%s)%s", progress.done,
             format_duration(seconds, took, sizeof took), seconds > 0 ? progress.done / seconds : 0.0, d->world,
             d->world == 1 ? "" : "s", left);
    }
    free(x);
    free(seeds);
    free(classes);
    guided_free(&gd);
    if (s->vae) sample_decoder_free(&dec);
    free(sb.first);
    free(sb.n);
    free(sb.done);
    return stopped;
}
