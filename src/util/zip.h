/* Zip archives: a reader (central directory, zip64, stored and deflate entries, CRC-32 checks)
 * and a writer of stored entries (zip64 where needed). PyTorch's torch.save files (.pt) and NumPy's
 * .npz files are zip archives; both are read here without loading a whole file: entries are read
 * with pread, a stored entry also by byte range (a tensor inside a multi-GB checkpoint).
 *
 * Damaged input (truncated archive, bad signatures, sizes or offsets outside the file, CRC
 * mismatch, broken deflate data) is reported through Error, naming the archive and the entry. */
#ifndef MASKDIT_ZIP_H
#define MASKDIT_ZIP_H

#include <stdint.h>

#include "common.h"

enum { ZIP_STORED = 0, ZIP_DEFLATED = 8 };

typedef struct {
    char *name;
    uint64_t size;          /* uncompressed bytes */
    uint64_t comp_size;     /* bytes in the archive */
    uint64_t data_offset;   /* file offset of the (compressed) data, after the local header */
    uint32_t crc32;
    uint16_t method;        /* ZIP_STORED or ZIP_DEFLATED (others are refused when read) */
} ZipEntry;

typedef struct {
    char *path;
    int fd;
    uint64_t file_size;
    ZipEntry *entries;      /* in central-directory order */
    int count;
} ZipReader;

/* Open an archive and read its central directory (and every local header, so that a damaged
 * archive is refused here rather than half way through a load). */
ZipReader *zip_open(const char *path, Error *e);
void zip_close(ZipReader *z);

/* Entry by exact name, or NULL. */
const ZipEntry *zip_find(const ZipReader *z, const char *name);

/* Stream an entry's uncompressed bytes to fn in chunks (at most 1 MiB each); the size and the
 * CRC-32 are checked at the end. fn returns 0 to go on, -1 to stop (with its own message in e). */
typedef int (*ZipChunkFn)(void *ctx, const void *data, size_t n, Error *e);
int zip_stream(const ZipReader *z, const ZipEntry *en, ZipChunkFn fn, void *ctx, Error *e);

/* Read a whole entry and check its size and CRC-32 (a stored entry read by byte range is not
 * checked otherwise). */
int zip_verify(const ZipReader *z, const ZipEntry *en, Error *e);

/* Read a whole entry into a malloc'ed buffer (NUL-terminated for convenience; *len excludes it). */
int zip_read(const ZipReader *z, const ZipEntry *en, void **out, size_t *len, Error *e);

/* Read bytes [offset, offset + n) of a STORED entry. The CRC is checked when the range is the
 * whole entry. */
int zip_read_range(const ZipReader *z, const ZipEntry *en, uint64_t offset, void *buf, size_t n, Error *e);

/* Writer of stored entries. The archive is written to "<path>.tmp" and renamed to path by
 * zip_writer_close; on any failure (or zip_writer_abort) the temporary file is removed and an
 * existing file at path is left untouched. Zip64 records are written where a size, an offset or
 * the entry count needs them, or for everything with ZIP_WRITE_ZIP64 (readers that understand
 * zip64 read both forms). Timestamps are fixed (1980-01-01), so equal content gives equal files. */
enum { ZIP_WRITE_ZIP64 = 1 };
typedef struct ZipWriter ZipWriter;

ZipWriter *zip_writer_open(const char *path, int flags, Error *e);
/* One entry of `size` bytes, written by zip_writer_write calls that add up to exactly size. */
int zip_writer_begin(ZipWriter *w, const char *name, uint64_t size, Error *e);
int zip_writer_write(ZipWriter *w, const void *data, size_t n, Error *e);
int zip_writer_end(ZipWriter *w, Error *e);
/* begin + write + end. */
int zip_writer_add(ZipWriter *w, const char *name, const void *data, size_t n, Error *e);
/* Central directory, end records, fsync, rename. Frees w (also on failure). */
int zip_writer_close(ZipWriter *w, Error *e);
/* Remove the temporary file and free w. */
void zip_writer_abort(ZipWriter *w);

#endif
