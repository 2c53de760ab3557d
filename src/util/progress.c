#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "common.h"

/* Redraws on a terminal: often enough to look live, rarely enough to cost nothing. */
#define TTY_INTERVAL 0.25

void progress_start(Progress *p, int enabled, double log_interval) {
    p->enabled = enabled && world_rank() == 0;
    p->tty = isatty(STDERR_FILENO);
    p->open = 0;
    p->log_interval = log_interval;
    p->start = p->last_print = now_seconds();
}

double progress_elapsed(const Progress *p) { return now_seconds() - p->start; }

int progress_due(Progress *p) {
    if (!p->enabled) return 0;
    double t = now_seconds();
    if (t - p->last_print < (p->tty ? TTY_INTERVAL : p->log_interval)) return 0;
    p->last_print = t;
    return 1;
}

void progress_print(Progress *p, int final, const char *fmt, ...) {
    if (!p->enabled) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* On a terminal: back to the line start, the text, and clear what a longer line left. */
    if (p->tty) fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
    p->open = p->tty && !final;
}

void progress_end(Progress *p) {
    if (!p->open) return;
    fputc('\n', stderr);
    fflush(stderr);
    p->open = 0;
}

void progress_bar(double frac, char bar[PROGRESS_BAR_WIDTH + 1]) {
    int filled = (int)(frac * PROGRESS_BAR_WIDTH + 1e-9);
    for (int i = 0; i < PROGRESS_BAR_WIDTH; i++) bar[i] = i < filled ? '#' : '-';
    bar[PROGRESS_BAR_WIDTH] = 0;
}

void progress_eta(double remaining, double rate, char *buf, size_t len) {
    if (rate > 0) format_duration(remaining / rate, buf, len);
    else snprintf(buf, len, "?");
}
