/* Listing the files of a tar archive without reading their contents: POSIX ustar headers (name
 * with its 155-byte prefix), pax extended headers (path and size records) and GNU long names
 * (././@LongLink), as Python's tarfile, GNU tar and bsdtar write them. Directories, links and other
 * special entries are passed over. */
#ifndef MASKDIT_TAR_H
#define MASKDIT_TAR_H

#include <stdint.h>

#include "common.h"

typedef struct {
    char *name;        /* the member's full path inside the archive */
    uint64_t offset;   /* of its data in the file */
    uint64_t size;
} TarMember;

/* The regular files of the archive at path, in archive order. -1 with a message naming the file
 * (and the member) for an unreadable file, a damaged header (checksum), or a member whose data
 * goes past the end of the file (truncated archive). */
int tar_list(const char *path, TarMember **members, size_t *count, Error *e);
void tar_members_free(TarMember *members, size_t count);

#endif
