/* Positioned reads that finish the job (short reads and EINTR retried). */
#ifndef MASKDIT_FILEIO_H
#define MASKDIT_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Read exactly n bytes at offset off: 0, or -1 with errno set (errno 0: the file ended first). */
int pread_full(int fd, void *buf, size_t n, uint64_t off);

#endif
