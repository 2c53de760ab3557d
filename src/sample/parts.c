#include "parts.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../util/fileio.h"

#define PART_MAGIC "MDGPART1"
#define HEADER_BYTES 40

void part_path(const PartStore *ps, long long batch, char *buf, size_t len) {
    xsnprintf(buf, len, "%s/batch-%08lld.part", ps->dir, batch);
}

static size_t part_bytes(const PartStore *ps, int n) {
    return HEADER_BYTES + (size_t)n * (2 * sizeof(uint32_t) + ps->record_bytes) + sizeof(uint32_t);
}

/* The whole file in memory: header, seeds, labels, values, CRC. */
static void *part_encode(const PartStore *ps, long long batch, const SampleItem *items, int n, const void *values) {
    size_t total = part_bytes(ps, n);
    char *buf = xmalloc(total, "batch part");
    uint32_t run = ps->run_crc, count = (uint32_t)n;
    uint64_t b = (uint64_t)batch, first = (uint64_t)batch * (uint64_t)ps->batch_size, record = ps->record_bytes;
    memcpy(buf, PART_MAGIC, 8);
    memcpy(buf + 8, &run, 4);
    memcpy(buf + 12, &count, 4);
    memcpy(buf + 16, &b, 8);
    memcpy(buf + 24, &first, 8);
    memcpy(buf + 32, &record, 8);
    char *p = buf + HEADER_BYTES;
    for (int k = 0; k < n; k++, p += 4) memcpy(p, &items[k].seed, 4);
    for (int k = 0; k < n; k++, p += 4) {
        int32_t label = items[k].class_idx;
        memcpy(p, &label, 4);
    }
    memcpy(p, values, (size_t)n * ps->record_bytes);
    p += (size_t)n * ps->record_bytes;
    uint32_t crc = (uint32_t)crc32_z(0, (const Bytef *)buf, (z_size_t)(p - buf));
    memcpy(p, &crc, 4);
    return buf;
}

int part_write(const PartStore *ps, long long batch, const SampleItem *items, int n, const void *values, Error *e) {
    char path[4200], tmp[4300];
    part_path(ps, batch, path, sizeof path);
    tmp_name(path, tmp, sizeof tmp);
    size_t total = part_bytes(ps, n);
    char *buf = part_encode(ps, batch, items, n, values);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        free(buf);
        return error_set(e, "%s: cannot create the batch part (%s)", tmp, strerror(errno));
    }
    size_t done = 0;
    while (done < total) {
        ssize_t w = write(fd, buf + done, total - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    /* Synced before the rename: a part under its final name survives a crash of the node. */
    int ok = done == total && fsync(fd) == 0;
    int err = errno;
    ok &= close(fd) == 0;
    free(buf);
    if (!ok) {
        remove(tmp);
        return error_set(e, "%s: cannot write the batch part (%s)", tmp, strerror(err ? err : errno));
    }
    if (tmp_finish(tmp, path, 1))
        return error_set(e, "%s: cannot rename the batch part to %s (%s)", tmp, path, strerror(errno));
    return 0;
}

/* Checks a part of len bytes against the one this run would write; buf holds its first
 * min(len, expected size) bytes. */
static PartStatus part_check(const PartStore *ps, const char *path, long long batch, const SampleItem *items, int n,
                             const char *buf, size_t len, Error *e) {
    size_t want = part_bytes(ps, n);
    if (len < HEADER_BYTES || memcmp(buf, PART_MAGIC, 8))
        return error_set(e, "%s is not a batch part (no %s header)", path, PART_MAGIC), PART_DAMAGED;
    if (len != want)
        return error_set(e, "%s has %zu bytes, expected %zu (truncated?)", path, len, want), PART_DAMAGED;
    uint32_t crc;
    memcpy(&crc, buf + len - 4, 4);
    if (crc != (uint32_t)crc32_z(0, (const Bytef *)buf, (z_size_t)(len - 4)))
        return error_set(e, "%s is damaged (CRC-32 mismatch)", path), PART_DAMAGED;
    uint32_t run, count;
    uint64_t b, first, record;
    memcpy(&run, buf + 8, 4);
    memcpy(&count, buf + 12, 4);
    memcpy(&b, buf + 16, 8);
    memcpy(&first, buf + 24, 8);
    memcpy(&record, buf + 32, 8);
    if (run != ps->run_crc)
        return error_set(e, "%s belongs to another run (run CRC-32 %08x, this run's is %08x)", path, run, ps->run_crc),
               PART_FOREIGN;
    if (count != (uint32_t)n || b != (uint64_t)batch || first != (uint64_t)batch * (uint64_t)ps->batch_size ||
        record != ps->record_bytes)
        return error_set(e, "%s holds batch %llu (%u images from %llu, %llu bytes each), expected batch %lld "
                            "(%d images from %lld, %zu bytes each)", path, (unsigned long long)b, count,
                         (unsigned long long)first, (unsigned long long)record, batch, n,
                         batch * ps->batch_size, ps->record_bytes), PART_DAMAGED;
    const char *p = buf + HEADER_BYTES;
    for (int k = 0; k < n; k++) {
        uint32_t seed;
        int32_t label;
        memcpy(&seed, p + 4 * k, 4);
        memcpy(&label, p + 4 * ((size_t)n + k), 4);
        if (seed != items[k].seed || label != items[k].class_idx)
            return error_set(e, "%s: image %d is seed %u class %d, expected seed %u class %d", path, k, seed, label,
                             items[k].seed, items[k].class_idx), PART_DAMAGED;
    }
    return PART_OK;
}

PartStatus part_read(const PartStore *ps, long long batch, const SampleItem *items, int n, void *values, Error *e) {
    char path[4200];
    part_path(ps, batch, path, sizeof path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT) return PART_ABSENT;
        return error_set(e, "%s: cannot open (%s)", path, strerror(errno)), PART_DAMAGED;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        return error_set(e, "%s: cannot stat (%s)", path, strerror(err)), PART_DAMAGED;
    }
    /* A part of the wrong size is refused by its size alone: read at most what a valid one has. */
    size_t size = (size_t)st.st_size, len = MIN(size, part_bytes(ps, n));
    char *buf = xmalloc(MAX(len, (size_t)1), "batch part");
    PartStatus status;
    if (pread_full(fd, buf, len, 0) < 0) {
        status = PART_DAMAGED;
        error_set(e, "%s: cannot read (%s)", path, errno ? strerror(errno) : "the file ended early");
    } else {
        status = part_check(ps, path, batch, items, n, buf, size, e);
    }
    if (status == PART_OK) memcpy(values, buf + HEADER_BYTES + (size_t)n * 8, (size_t)n * ps->record_bytes);
    close(fd);
    free(buf);
    return status;
}
