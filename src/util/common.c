#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int error_set(Error *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int error_prefix(Error *e, const char *fmt, ...) {
    if (e) {
        char old[ERROR_MSG_MAX];
        memcpy(old, e->msg, sizeof old);
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof e->msg) snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", old);
    }
    return -1;
}

const char *error_after_path(const Error *e, const char *path) {
    size_t n = strlen(path);
    return !strncmp(e->msg, path, n) && !strncmp(e->msg + n, ": ", 2) ? e->msg + n + 2 : e->msg;
}

static JobRuntime runtime;

void job_runtime_install(const JobRuntime *rt) { runtime = *rt; }

/* Rank and world size: the runtime's answer once one is installed, else a process of its own. */
static void mpi_position(int *rank, int *world) {
    *rank = 0;
    *world = 1;
    if (runtime.position) runtime.position(rank, world);
}

int world_rank(void) {
    int rank, world;
    mpi_position(&rank, &world);
    return rank;
}

static void vprint_tagged(const char *tag, const char *fmt, va_list ap) {
    int rank, world;
    mpi_position(&rank, &world);
    char line[4096];
    vsnprintf(line, sizeof line, fmt, ap);
    if (world > 1)
        fprintf(stderr, "[rank %d] %s%s\n", rank, tag, line);
    else
        fprintf(stderr, "%s%s\n", tag, line);
    fflush(stderr);
}

/* Ends the job: with several ranks through the runtime's abort (MPI_Abort), so that no other
 * rank waits forever in a collective for this one. */
static void __attribute__((noreturn)) end_job(int status) {
    int rank, world;
    mpi_position(&rank, &world);
    fflush(stdout);
    if (world > 1 && runtime.abort) runtime.abort(status);
    exit(status);
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint_tagged("maskdit: error: ", fmt, ap);
    va_end(ap);
    end_job(EXIT_FAILURE_STATUS);
}

void fatal_at(const char *file, int line, const char *fmt, ...) {
    char tag[512];
    snprintf(tag, sizeof tag, "maskdit: fatal error at %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vprint_tagged(tag, fmt, ap);
    va_end(ap);
    end_job(EXIT_FAILURE_STATUS);
}

void info(const char *fmt, ...) {
    int rank, world;
    mpi_position(&rank, &world);
    if (rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vprint_tagged("", fmt, ap);
    va_end(ap);
}

void warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint_tagged("maskdit: warning: ", fmt, ap);
    va_end(ap);
}

void *xmalloc_at(size_t bytes, const char *what, const char *file, int line) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        char b[32];
        fatal_at(file, line, "out of memory allocating %s for %s", format_bytes((double)bytes, b, sizeof b),
                 what);
    }
    return p;
}

void *xcalloc_at(size_t count, size_t size, const char *what, const char *file, int line) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        char b[32];
        fatal_at(file, line, "out of memory allocating %s for %s",
                 format_bytes((double)count * (double)size, b, sizeof b), what);
    }
    return p;
}

void *xrealloc_at(void *old, size_t bytes, const char *what, const char *file, int line) {
    void *p = realloc(old, bytes ? bytes : 1);
    if (!p) {
        char b[32];
        fatal_at(file, line, "out of memory growing %s to %s", what, format_bytes((double)bytes, b, sizeof b));
    }
    return p;
}

char *xstrdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc_at(n, "string copy", file, line);
    memcpy(p, s, n);
    return p;
}

size_t host_available_bytes(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return SIZE_MAX;
    char line[256];
    unsigned long long kib = 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
    fclose(f);
    return found ? (size_t)kib * 1024 : SIZE_MAX;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

char *format_bytes(double bytes, char *buf, size_t len) {
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
    return buf;
}

char *format_duration(double seconds, char *buf, size_t len) {
    long long t = seconds > 0 ? (long long)(seconds + 0.5) : 0;
    if (t >= 86400) snprintf(buf, len, "%lldd%02lldh%02lldm", t / 86400, t % 86400 / 3600, t % 3600 / 60);
    else if (t >= 3600) snprintf(buf, len, "%lldh%02lldm%02llds", t / 3600, t % 3600 / 60, t % 60);
    else if (t >= 60) snprintf(buf, len, "%lldm%02llds", t / 60, t % 60);
    else snprintf(buf, len, "%llds", t);
    return buf;
}

void text_append(char *buf, size_t len, const char *fmt, ...) {
    size_t at = strnlen(buf, len);
    if (at + 1 >= len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + at, len - at, fmt, ap);
    va_end(ap);
}

int memory_sink(void *ctx, const void *data, size_t bytes, Error *e) {
    MemorySink *m = ctx;
    memcpy(m->buf + m->used, data, bytes);
    m->used += bytes;
    return 0;
}

void xsnprintf_at(char *buf, size_t len, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) fatal_at(file, line, "text too long for a %zu-byte buffer: \"%.60s...\"", len, buf);
}
