#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "../util/common.h"

#define BAR_WIDTH 24

void sample_progress_start(SampleProgress *p, long long local_total, long long global_total, int world, int enabled) {
    p->local_total = local_total;
    p->global_total = global_total;
    p->world = world;
    p->enabled = enabled;
    p->tty = isatty(fileno(stderr));
    p->t0 = p->last_print = now_seconds();
    p->printed = 0;
}

static void format_duration(double s, char *buf, size_t len) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

void sample_progress_update(SampleProgress *p, long long done, int batch, int step, int num_steps) {
    if (!p->enabled) return;
    double now = now_seconds();
    int last = done >= p->local_total;
    if (!last && now - p->last_print < (p->tty ? 0.2 : 10.0)) return;
    p->last_print = now;
    double local = done + (double)batch * (step + 1) / num_steps;
    if (last) local = (double)p->local_total;
    double frac = p->local_total ? local / p->local_total : 1.0;
    double global = frac * p->global_total, elapsed = now - p->t0;
    double rate = elapsed > 0 ? global / elapsed : 0.0;
    char bar[BAR_WIDTH + 1], eta[32];
    int fill = (int)(frac * BAR_WIDTH);
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = 0;
    format_duration(rate > 0 ? (p->global_total - global) / rate : 0.0, eta, sizeof eta);
    const char *approx = p->world > 1 ? "~" : "";
    fprintf(stderr, "%ssampling [%s] %s%.0f/%lld images  step %d/%d  %s%.2f images/s  ETA %s%s", p->tty ? "\r" : "",
            bar, approx, global, p->global_total, step + 1, num_steps, approx, rate, eta, p->tty ? "\033[K" : "\n");
    fflush(stderr);
    p->printed = 1;
}

void sample_progress_finish(SampleProgress *p, long long images, double seconds) {
    if (!p->enabled) return;
    if (p->tty && p->printed) fputc('\n', stderr);
    char took[32];
    format_duration(seconds, took, sizeof took);
    info("sampled %lld images in %s (%.2f images/s on %d rank%s)", images, took, seconds > 0 ? images / seconds : 0.0,
         p->world, p->world == 1 ? "" : "s");
}
