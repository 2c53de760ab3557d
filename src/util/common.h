/* Error reporting, checked allocation and small helpers shared by every module.
 *
 * Two kinds of failure:
 *  - internal failures (malloc, MPI, HDF5, CUDA, I/O on a file we own) end the whole job at once
 *    with file:line and what was being done: FATAL(...) / xmalloc(...). In an MPI job with more
 *    than one rank this aborts every rank (through the runtime mpi/dist.c installs), so no rank is
 *    left waiting in a collective.
 *  - bad input (configs, datasets, checkpoints, flags) is reported by library functions through an
 *    Error (return -1); the caller decides whether to die, skip or retry. Messages name the file,
 *    the key or dataset, and what was expected. */
#ifndef MASKDIT_COMMON_H
#define MASKDIT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ERROR_MSG_MAX 1024

typedef struct {
    char msg[ERROR_MSG_MAX];
} Error;

/* Fill e (if not NULL) with a printf-style message; always returns -1 so that
 * `return error_set(e, ...)` reads naturally. */
int error_set(Error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix an existing message: "context: old message". Returns -1. */
int error_prefix(Error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message of e without a leading "<path>: ": for a caller that names the file itself, so
 * that a message names it once. The whole message when it does not start so. */
const char *error_after_path(const Error *e, const char *path);

/* Print "maskdit: error: <msg>" (user-facing error, no file:line) and end the job. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Internal failure with the source location. */
void fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define FATAL(...) fatal_at(__FILE__, __LINE__, __VA_ARGS__)

/* Exit status used when a job ends because of an error (1) and when it stopped on a signal
 * after writing a checkpoint, asking the batch script to requeue it (see README). */
#define EXIT_FAILURE_STATUS 1
#define EXIT_REQUEUE_STATUS 3

void *xmalloc_at(size_t bytes, const char *what, const char *file, int line);
void *xcalloc_at(size_t count, size_t size, const char *what, const char *file, int line);
void *xrealloc_at(void *p, size_t bytes, const char *what, const char *file, int line);
char *xstrdup_at(const char *s, const char *file, int line);
#define xmalloc(bytes, what) xmalloc_at((bytes), (what), __FILE__, __LINE__)
#define xcalloc(count, size, what) xcalloc_at((count), (size), (what), __FILE__, __LINE__)
#define xrealloc(p, bytes, what) xrealloc_at((p), (bytes), (what), __FILE__, __LINE__)
#define xstrdup(s) xstrdup_at((s), __FILE__, __LINE__)

/* Messages on stderr prefixed with "[rank r]" when the job has several ranks. info() prints
 * only on rank 0; warn() prints on every rank. */
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The job's runtime, installed by dist_init (mpi/dist.c) so that util/ needs no MPI: this
 * process's rank and the world size (0 of 1 while MPI is not running), and how to end every
 * process of the job. Until one is installed the process is alone: rank 0 of 1, exit(). */
typedef struct {
    void (*position)(int *rank, int *world);
    void (*abort)(int status) __attribute__((noreturn));
} JobRuntime;
void job_runtime_install(const JobRuntime *rt);

/* This process's rank in MPI_COMM_WORLD; 0 before MPI_Init and after MPI_Finalize. */
int world_rank(void);

/* Host memory that can be allocated without swapping (MemAvailable of /proc/meminfo); SIZE_MAX
 * when unknown. */
size_t host_available_bytes(void);

/* Monotonic wall clock in seconds. */
double now_seconds(void);

/* Format a byte count as "12.3 MiB" into buf (returns buf). */
char *format_bytes(double bytes, char *buf, size_t len);
/* Format a duration as "45s", "2m29s", "11h02m13s" or "3d04h10m" into buf (returns buf). */
char *format_duration(double seconds, char *buf, size_t len);

/* snprintf that dies instead of truncating (paths and names must never be cut silently). */
void xsnprintf_at(char *buf, size_t len, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define xsnprintf(buf, len, ...) xsnprintf_at((buf), (len), __FILE__, __LINE__, __VA_ARGS__)

/* Append printf-style text to the NUL-terminated string in buf (len bytes in all), cut short at
 * the end of buf: lists and shapes in messages. */
void text_append(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A chunk callback (ZipChunkFn, CollectSink) that appends to buf, which holds all chunks. */
typedef struct {
    char *buf;
    size_t used;
} MemorySink;
int memory_sink(void *ctx, const void *data, size_t bytes, Error *e);

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
