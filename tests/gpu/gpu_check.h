/* Shared by the GPU check programs (check_ops, check_step, bench_ops): the command line
 * [--precision NAME|all] [--seed S], the exit with status 2 on a machine without a GPU, the
 * choice of precisions, and backends created with a given switch. */
#ifndef MASKDIT_GPU_CHECK_H
#define MASKDIT_GPU_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/backend/backend.h"
#include "../../src/util/common.h"

typedef struct {
    const char *prog, *which;
    uint64_t seed;   /* fresh inputs every run unless given */
    int matched;
} GpuCheck;

static inline GpuCheck gpu_check_start(const char *prog, const char *precisions, int argc, char **argv) {
    GpuCheck g = {prog, "all", (uint64_t)time(NULL), 0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--precision") && i + 1 < argc) g.which = argv[++i];
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) g.seed = strtoull(argv[++i], NULL, 10);
        else die("usage: %s [--precision %s|all] [--seed S]", prog, precisions);
    }
    if (backend_cuda_gpu_count() == 0) {
        char err[512];
        backend_cuda_create(0, DTYPE_F32, 0, err, sizeof err);
        printf("%s: no GPU: %s\n", prog, err);
        exit(2);
    }
    printf("%s: seed %llu (rerun with --seed to repeat)\n", prog, (unsigned long long)g.seed);
    return g;
}

/* A CUDA backend on GPU 0 created with the environment variable `name` set to value (NULL: unset)
 * during its creation only: the backend reads its switches (MASKDIT_CUDA_NO_LT, MASKDIT_ATTENTION)
 * then. NULL with a message in err when creation fails. */
static inline Backend *gpu_backend_with_env(const char *name, const char *value, DType act, int tf32, char *err,
                                            size_t err_len) {
    const char *old = getenv(name);
    char *keep = old ? xstrdup(old) : NULL;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
    Backend *b = backend_cuda_create(0, act, tf32, err, err_len);
    if (keep) setenv(name, keep, 1);
    else unsetenv(name);
    free(keep);
    return b;
}

/* Whether the precision called name was asked for. */
static inline int gpu_check_selected(GpuCheck *g, const char *name) {
    int on = !strcmp(g->which, "all") || !strcmp(g->which, name);
    g->matched |= on;
    return on;
}

/* The summary line and the exit status (1 when a check failed). */
static inline int gpu_check_finish(const GpuCheck *g, int passed, int failed) {
    if (!g->matched) die("%s: unknown precision '%s'", g->prog, g->which);
    printf("%s: %d passed, %d failed\n", g->prog, passed, failed);
    return failed ? 1 : 0;
}

#endif
