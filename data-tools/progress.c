#include "progress.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../src/util/common.h"

void progress_init(Progress *p, const char *what, long long total, int enabled) {
    memset(p, 0, sizeof *p);
    snprintf(p->what, sizeof p->what, "%s", what);
    p->total = total;
    int rank = 0, up = 0;
    MPI_Initialized(&up);
    if (up) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    p->enabled = enabled && rank == 0;
    p->tty = isatty(STDERR_FILENO);
    p->start = p->last_print = now_seconds();
}

static void format_duration(double s, char *buf, size_t len) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, len, "%lds", t);
}

static void draw(Progress *p, int final) {
    double elapsed = now_seconds() - p->start;
    long long fresh = p->done - p->skipped;
    double rate = elapsed > 0 ? (double)fresh / elapsed : 0;
    double frac = p->total ? (double)p->done / (double)p->total : 1;
    char bar[21], eta[32];
    int filled = (int)(frac * 20 + 1e-9);
    for (int i = 0; i < 20; i++) bar[i] = i < filled ? '#' : '-';
    bar[20] = 0;
    if (final) format_duration(elapsed, eta, sizeof eta);
    else if (rate > 0) format_duration((double)(p->total - p->done) / rate, eta, sizeof eta);
    else snprintf(eta, sizeof eta, "?");
    fprintf(stderr, "%s%s  [%s] %5.1f%%  %lld/%lld  %.0f/s  %s %s%s", p->tty ? "\r" : "", p->what, bar, 100 * frac,
            p->done, p->total, rate, final ? "took" : "ETA", eta, p->tty && !final ? "" : "\n");
    fflush(stderr);
    p->printed = 1;
}

void progress_add(Progress *p, long long n, int skipped) {
    p->done += n;
    if (skipped) p->skipped += n;
    if (!p->enabled) return;
    double t = now_seconds();
    if (t - p->last_print >= (p->tty ? 0.25 : 30.0)) {
        p->last_print = t;
        draw(p, 0);
    }
}

void progress_finish(Progress *p) {
    if (p->enabled) draw(p, 1);
}
