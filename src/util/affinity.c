#include "affinity.h"

#include <omp.h>
#include <sched.h>
#include <string.h>

#include "common.h"

int affinity_check(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    /* Not fatal: on a system without the call the threads run wherever the OS puts them. */
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    int cpus = CPU_COUNT(&set), threads = omp_get_max_threads();
    if (cpus < threads)
        warn("%d OpenMP threads but the affinity mask of this rank holds only %d CPU%s: threads will share cores. "
             "Under Slurm, launch with srun --cpus-per-task=%d (jobs/*.slurm do when SLURM_CPUS_PER_TASK is set), "
             "or set OMP_NUM_THREADS=%d (docs/slurm.md)",
             threads, cpus, cpus == 1 ? "" : "s", threads, cpus);
    return cpus;
}
