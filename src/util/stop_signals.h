/* Stop requests by signal: SIGUSR1 (what Slurm's --signal=B:USR1@<s> sends before the time limit)
 * and SIGTERM (preemption, scancel) only set a flag; the training loop looks at it at every step
 * boundary, the ranks agree (in the step's one all-reduce, src/train/step.c), write a checkpoint
 * and exit with EXIT_REQUEUE_STATUS (3) so that a batch script can requeue the job. Sampling
 * (maskdit-generate) does the same between sampler steps (src/sample/generate_batches.c): run
 * control shared by both, so it lives below them. */
#ifndef MASKDIT_STOP_SIGNALS_H
#define MASKDIT_STOP_SIGNALS_H

void stop_signals_install(void);
/* The signal received (SIGUSR1 or SIGTERM), or 0. */
int stop_signal_received(void);

#endif
