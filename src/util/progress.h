/* Progress lines on stderr for long loops (dataset conversion, sampling), printed by rank 0 of
 * MPI_COMM_WORLD only. On a terminal the line is redrawn in place, at most 4 times a second; into
 * a log (stderr not a terminal: batch jobs) one line is printed at most every log_interval
 * seconds, so that logs stay short. The caller words the line; this module supplies the timing,
 * the bar and the ETA:
 *   lmdb -> float16  [##########----------]  51.2%  655360/1281167  4210/s  ETA 2m29s */
#ifndef MASKDIT_PROGRESS_H
#define MASKDIT_PROGRESS_H

#include <stddef.h>

#define PROGRESS_BAR_WIDTH 20

typedef struct {
    int enabled, tty;
    int open;                 /* a line was drawn on the terminal without its newline */
    double start, last_print, log_interval;
} Progress;

/* enabled = 0 keeps it silent (--no-progress); ranks other than 0 are always silent. */
void progress_start(Progress *p, int enabled, double log_interval);
double progress_elapsed(const Progress *p);
/* 1 when a line is due now (and the clock of the last line restarts), 0 when it is too early or
 * the progress is silent. */
int progress_due(Progress *p);
/* Prints a line (printf format, no newline) over the previous one on a terminal, as a line of
 * its own in a log. final: the line is the last one and ends with a newline on a terminal too. */
void progress_print(Progress *p, int final, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Ends a line left open on the terminal, before other output follows. */
void progress_end(Progress *p);

/* frac in [0, 1] as PROGRESS_BAR_WIDTH characters of '#' (done) and '-' (to do). */
void progress_bar(double frac, char bar[PROGRESS_BAR_WIDTH + 1]);
/* The time left for `remaining` units at `rate` units per second ("2m29s"), "?" without a rate. */
void progress_eta(double remaining, double rate, char *buf, size_t len);

#endif
