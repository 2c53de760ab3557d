/* A progress bar for sampling on rank 0: images done (with the current batch's step progress),
 * images/s and ETA. Rank 0 only sees its own share, so with several ranks the numbers are its own
 * scaled by the world size (the shares differ by at most one image), marked "~". On a terminal
 * the line is redrawn in place (at most 5 times a second); otherwise a line is printed at most
 * every 10 seconds, so logs stay short. */
#ifndef MASKDIT_SAMPLE_PROGRESS_H
#define MASKDIT_SAMPLE_PROGRESS_H

typedef struct {
    long long local_total, global_total;
    int world, enabled, tty;
    double t0, last_print;
    int printed;
} SampleProgress;

void sample_progress_start(SampleProgress *p, long long local_total, long long global_total, int world, int enabled);
/* done: images of this rank finished; batch: images in the batch being sampled, at step
 * `step` (0-based, done with it) of num_steps. */
void sample_progress_update(SampleProgress *p, long long done, int batch, int step, int num_steps);
/* The final line with the exact totals of all ranks. */
void sample_progress_finish(SampleProgress *p, long long images, double seconds);

#endif
