/* File helpers: positioned reads that finish the job, mkdir -p, and the temporary names that
 * outputs are written under. */
#ifndef MASKDIT_FILEIO_H
#define MASKDIT_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* Read exactly n bytes at offset off (short reads and EINTR retried): 0, or -1 with errno set
 * (errno 0: the file ended first). */
int pread_full(int fd, void *buf, size_t n, uint64_t off);

/* Whether the file at path can be read now, whatever its content: it opens, its first bytes read,
 * and no other process holds a lock on it (a writer, or HDF5 in another job: flock). A file that
 * fails this is unreadable, not damaged, and must not be skipped as damaged or replaced. Returns
 * -1 with "<path>: <why>" when it cannot be read. file_read_head also gives its first n bytes
 * (*got of them: fewer in a shorter file). */
int file_read_head(const char *path, void *buf, size_t n, size_t *got, Error *e);
/* The whole file (malloc'ed, with a NUL after its *len bytes), or NULL with "<path>: <why>". */
char *file_read_all(const char *path, size_t *len, Error *e);
int file_check_readable(const char *path, Error *e);

/* No program writes over one of its inputs: -1 with a message when out exists and is the same file
 * as input (same device and inode, whatever the names: "X.pt" and "./X.pt", a hard link), where
 * input_what says what the input is. 0 otherwise (out absent, input absent or another file). */
int check_not_input(const char *out, const char *input, const char *input_what, Error *e);

/* mkdir -p: creates every missing directory of path. Returns -1 with a message naming the
 * directory that could not be made (or that exists as a file). */
int make_dirs(const char *path, Error *e);

/* Outputs are written under a temporary name and renamed when complete, so that a reader never
 * sees a partial file and an existing file survives a failed write. */
/* The temporary name of path: "<path>.tmp". */
void tmp_name(const char *path, char *buf, size_t len);
/* Completes a file written under tmp: renames it to path when ok; otherwise, or when the rename
 * fails, removes it. Returns 0 when renamed, else -1 with errno of the failed rename (0 when !ok). */
int tmp_finish(const char *tmp, const char *path, int ok);

#endif
