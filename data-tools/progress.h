/* A progress bar with rate and ETA on stderr, for long conversions:
 *   lmdb -> float16  [##########----------]  51.2%  655360/1281167  4210/s  ETA 2m29s
 * Redrawn in place (at most 4 times a second) on a terminal; one line every 30 s otherwise (logs of
 * batch jobs). Only rank 0 of MPI_COMM_WORLD prints. */
#ifndef MASKDIT_PROGRESS_H
#define MASKDIT_PROGRESS_H

typedef struct {
    char what[64];
    long long total, done, skipped;
    double start, last_print;
    int enabled, tty, printed;
} Progress;

/* enabled = 0 keeps it silent (--no-progress, or ranks other than 0). */
void progress_init(Progress *p, const char *what, long long total, int enabled);
/* n more items done; skipped items (already converted) count as done but not in the rate. */
void progress_add(Progress *p, long long n, int skipped);
/* Final state and a newline. */
void progress_finish(Progress *p);

#endif
