/* CPU affinity check at start: a rank pinned to fewer CPUs than it runs OpenMP threads (srun
 * without --cpus-per-task under task/affinity pins each task to one core) runs its threads on
 * the same cores, a silent slowdown. */
#ifndef MASKDIT_AFFINITY_H
#define MASKDIT_AFFINITY_H

/* Warn (on this rank) when the process's affinity mask holds fewer CPUs than
 * omp_get_max_threads(), naming both numbers. Returns the number of CPUs in the mask (0 when it
 * cannot be read; then nothing is checked). */
int affinity_check(void);

#endif
