#include "zip.h"

#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Record signatures and fixed sizes (PKWARE APPNOTE 6.3). */
#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define LOCAL_LEN 30
#define CENTRAL_LEN 46
#define EOCD_LEN 22
#define EOCD64_LEN 56
#define LOCATOR64_LEN 20
#define EXTRA_ZIP64 0x0001
#define MAX_COMMENT 65535
#define CHUNK (1u << 20)
#define U32_MAX_FIELD 0xffffffffu
#define U16_MAX_FIELD 0xffffu
/* Deflate cannot expand data by more than about 1032:1; a larger claim means a damaged header. */
#define MAX_INFLATE_RATIO 1040

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static unsigned char *wr16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); return p + 2; }
static unsigned char *wr32(unsigned char *p, uint32_t v) { return wr16(wr16(p, (uint16_t)v), (uint16_t)(v >> 16)); }
static unsigned char *wr64(unsigned char *p, uint64_t v) { return wr32(wr32(p, (uint32_t)v), (uint32_t)(v >> 32)); }

static int read_error(Error *e, const ZipReader *z, const char *what, uint64_t off) {
    if (errno == 0)
        return error_set(e, "%s: truncated zip archive: %s at offset %llu lies past the end of the file (%llu bytes)",
                         z->path, what, (unsigned long long)off, (unsigned long long)z->file_size);
    return error_set(e, "%s: cannot read %s at offset %llu: %s", z->path, what, (unsigned long long)off,
                     strerror(errno));
}

/* crc32 over a size_t length (zlib's takes uInt). */
static uint32_t crc_update(uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = data;
    while (n) {
        uInt k = n > CHUNK ? CHUNK : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

/* ---------------------------------------------------------------- reader: end records */

typedef struct {
    uint64_t count, cd_size, cd_offset;
    uint64_t end_of_cd;   /* where the central directory must end: the zip64 record or the EOCD */
} Directory;

static int find_eocd(ZipReader *z, uint64_t *eocd_pos, unsigned char eocd[EOCD_LEN], Error *e) {
    uint64_t tail = MIN(z->file_size, (uint64_t)EOCD_LEN + MAX_COMMENT);
    if (z->file_size < EOCD_LEN)
        return error_set(e, "%s: not a zip archive, or truncated (%llu bytes, no end-of-central-directory record)",
                         z->path, (unsigned long long)z->file_size);
    unsigned char *buf = xmalloc(tail, "zip end records");
    uint64_t start = z->file_size - tail;
    if (pread_full(z->fd, buf, tail, start) < 0) {
        free(buf);
        return read_error(e, z, "the end-of-central-directory record", start);
    }
    for (uint64_t i = tail - EOCD_LEN + 1; i-- > 0;) {
        if (rd32(buf + i) != SIG_EOCD) continue;
        if (i + EOCD_LEN + rd16(buf + i + 20) > tail) continue;   /* comment would run past the end */
        memcpy(eocd, buf + i, EOCD_LEN);
        *eocd_pos = start + i;
        free(buf);
        return 0;
    }
    free(buf);
    return error_set(e, "%s: not a zip archive, or truncated (no end-of-central-directory record found)", z->path);
}

static int read_directory(ZipReader *z, Directory *d, Error *e) {
    unsigned char eocd[EOCD_LEN] = {0};
    uint64_t eocd_pos = 0;
    if (find_eocd(z, &eocd_pos, eocd, e) < 0) return -1;
    if (rd16(eocd + 4) != 0 || rd16(eocd + 6) != 0)
        return error_set(e, "%s: multi-volume (split) zip archives are not supported", z->path);
    d->count = rd16(eocd + 10);
    d->cd_size = rd32(eocd + 12);
    d->cd_offset = rd32(eocd + 16);
    d->end_of_cd = eocd_pos;

    /* A zip64 locator right before the EOCD makes the zip64 end record authoritative. */
    unsigned char loc[LOCATOR64_LEN];
    if (eocd_pos >= LOCATOR64_LEN && pread_full(z->fd, loc, sizeof loc, eocd_pos - LOCATOR64_LEN) == 0 &&
        rd32(loc) == SIG_LOCATOR64) {
        uint64_t rec_pos = rd64(loc + 8);
        unsigned char rec[EOCD64_LEN];
        if (rec_pos > eocd_pos - LOCATOR64_LEN - EOCD64_LEN)
            return error_set(e, "%s: damaged zip archive: zip64 end record offset %llu is outside the file", z->path,
                             (unsigned long long)rec_pos);
        if (pread_full(z->fd, rec, sizeof rec, rec_pos) < 0) return read_error(e, z, "the zip64 end record", rec_pos);
        if (rd32(rec) != SIG_EOCD64)
            return error_set(e, "%s: damaged zip archive: no zip64 end record at offset %llu", z->path,
                             (unsigned long long)rec_pos);
        d->count = rd64(rec + 32);
        d->cd_size = rd64(rec + 40);
        d->cd_offset = rd64(rec + 48);
        d->end_of_cd = rec_pos;
    } else if (d->count == U16_MAX_FIELD || d->cd_size == U32_MAX_FIELD || d->cd_offset == U32_MAX_FIELD) {
        return error_set(e, "%s: damaged zip archive: zip64 sizes are announced but the zip64 locator is missing",
                         z->path);
    }
    if (d->cd_offset > d->end_of_cd || d->cd_size > d->end_of_cd - d->cd_offset)
        return error_set(e, "%s: damaged or truncated zip archive: the central directory (offset %llu, %llu bytes) "
                            "does not fit before its end record at %llu", z->path, (unsigned long long)d->cd_offset,
                         (unsigned long long)d->cd_size, (unsigned long long)d->end_of_cd);
    if (d->count > d->cd_size / CENTRAL_LEN)
        return error_set(e, "%s: damaged zip archive: %llu entries cannot fit in a %llu-byte central directory",
                         z->path, (unsigned long long)d->count, (unsigned long long)d->cd_size);
    return 0;
}

/* ---------------------------------------------------------------- reader: entries */

/* Replace the 0xffffffff placeholders of a central record by the zip64 extra field's values. */
static int apply_zip64_extra(const ZipReader *z, const char *name, const unsigned char *extra, size_t len,
                             uint64_t *usize, uint64_t *csize, uint64_t *offset, Error *e) {
    int need_u = *usize == U32_MAX_FIELD, need_c = *csize == U32_MAX_FIELD, need_o = *offset == U32_MAX_FIELD;
    for (size_t i = 0; i + 4 <= len;) {
        uint16_t id = rd16(extra + i), n = rd16(extra + i + 2);
        if (i + 4 + n > len) break;
        if (id == EXTRA_ZIP64) {
            const unsigned char *p = extra + i + 4, *end = p + n;
            uint64_t *fields[3] = {need_u ? usize : NULL, need_c ? csize : NULL, need_o ? offset : NULL};
            for (int k = 0; k < 3; k++) {
                if (!fields[k]) continue;
                if (p + 8 > end)
                    return error_set(e, "%s: damaged zip archive: entry %s has a short zip64 extra field", z->path,
                                     name);
                *fields[k] = rd64(p);
                p += 8;
            }
            return 0;
        }
        i += 4 + (size_t)n;
    }
    if (need_u || need_c || need_o)
        return error_set(e, "%s: damaged zip archive: entry %s needs a zip64 extra field and has none", z->path, name);
    return 0;
}

/* Check the local header of an entry and find where its data starts. */
static int resolve_local(const ZipReader *z, ZipEntry *en, uint64_t local, uint64_t data_end, Error *e) {
    unsigned char h[LOCAL_LEN];
    if (local > data_end || data_end - local < LOCAL_LEN)
        return error_set(e, "%s: damaged zip archive: entry %s starts at offset %llu, outside the data area", z->path,
                         en->name, (unsigned long long)local);
    if (pread_full(z->fd, h, sizeof h, local) < 0) return read_error(e, z, "a local header", local);
    if (rd32(h) != SIG_LOCAL)
        return error_set(e, "%s: damaged zip archive: no local header for entry %s at offset %llu", z->path, en->name,
                         (unsigned long long)local);
    en->data_offset = local + LOCAL_LEN + rd16(h + 26) + rd16(h + 28);
    if (en->data_offset > data_end || en->comp_size > data_end - en->data_offset)
        return error_set(e, "%s: damaged or truncated zip archive: the data of entry %s (%llu bytes at offset %llu) "
                            "runs past the central directory", z->path, en->name,
                         (unsigned long long)en->comp_size, (unsigned long long)en->data_offset);
    return 0;
}

static int parse_entries(ZipReader *z, const Directory *d, Error *e) {
    unsigned char *cd = xmalloc(d->cd_size, "zip central directory");
    if (pread_full(z->fd, cd, d->cd_size, d->cd_offset) < 0) {
        free(cd);
        return read_error(e, z, "the central directory", d->cd_offset);
    }
    z->entries = xcalloc(d->count ? d->count : 1, sizeof *z->entries, "zip entries");
    size_t pos = 0;
    int rc = 0;
    for (uint64_t i = 0; i < d->count && rc == 0; i++) {
        const unsigned char *r = cd + pos;
        if (pos + CENTRAL_LEN > d->cd_size || rd32(r) != SIG_CENTRAL) {
            rc = error_set(e, "%s: damaged zip archive: central directory record %llu of %llu is missing or bad",
                           z->path, (unsigned long long)i + 1, (unsigned long long)d->count);
            break;
        }
        size_t nlen = rd16(r + 28), xlen = rd16(r + 30), clen = rd16(r + 32);
        if (pos + CENTRAL_LEN + nlen + xlen + clen > d->cd_size) {
            rc = error_set(e, "%s: damaged zip archive: central directory record %llu runs past the directory",
                           z->path, (unsigned long long)i + 1);
            break;
        }
        ZipEntry *en = &z->entries[z->count++];
        en->name = xmalloc(nlen + 1, "zip entry name");
        memcpy(en->name, r + CENTRAL_LEN, nlen);
        en->name[nlen] = 0;
        uint16_t flags = rd16(r + 8);
        en->method = rd16(r + 10);
        en->crc32 = rd32(r + 16);
        en->comp_size = rd32(r + 20);
        en->size = rd32(r + 24);
        uint64_t local = rd32(r + 42);
        if (flags & 1) {
            rc = error_set(e, "%s: entry %s is encrypted (not supported)", z->path, en->name);
            break;
        }
        rc = apply_zip64_extra(z, en->name, r + CENTRAL_LEN + nlen, xlen, &en->size, &en->comp_size, &local, e);
        if (rc == 0) rc = resolve_local(z, en, local, d->cd_offset, e);
        pos += CENTRAL_LEN + nlen + xlen + clen;
    }
    free(cd);
    return rc;
}

ZipReader *zip_open(const char *path, Error *e) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_set(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        error_set(e, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    ZipReader *z = xcalloc(1, sizeof *z, "zip reader");
    z->path = xstrdup(path);
    z->fd = fd;
    z->file_size = (uint64_t)st.st_size;
    Directory d = {0};
    if (read_directory(z, &d, e) < 0 || parse_entries(z, &d, e) < 0) {
        zip_close(z);
        return NULL;
    }
    return z;
}

void zip_close(ZipReader *z) {
    if (!z) return;
    for (int i = 0; i < z->count; i++) free(z->entries[i].name);
    free(z->entries);
    if (z->fd >= 0) close(z->fd);
    free(z->path);
    free(z);
}

const ZipEntry *zip_find(const ZipReader *z, const char *name) {
    for (int i = 0; i < z->count; i++)
        if (strcmp(z->entries[i].name, name) == 0) return &z->entries[i];
    return NULL;
}

/* ---------------------------------------------------------------- reader: data */

static int check_crc(const ZipReader *z, const ZipEntry *en, uint32_t crc, Error *e) {
    if (crc != en->crc32)
        return error_set(e, "%s: entry %s is damaged: CRC-32 %08x, expected %08x", z->path, en->name, crc, en->crc32);
    return 0;
}

static int stream_stored(const ZipReader *z, const ZipEntry *en, ZipChunkFn fn, void *ctx, Error *e) {
    if (en->comp_size != en->size)
        return error_set(e, "%s: damaged zip archive: stored entry %s has %llu bytes but claims %llu", z->path,
                         en->name, (unsigned long long)en->comp_size, (unsigned long long)en->size);
    unsigned char *buf = xmalloc(MIN(en->size, (uint64_t)CHUNK), "zip read buffer");
    uint32_t crc = (uint32_t)crc32(0, NULL, 0);
    int rc = 0;
    for (uint64_t done = 0; done < en->size && rc == 0;) {
        size_t n = (size_t)MIN(en->size - done, (uint64_t)CHUNK);
        if (pread_full(z->fd, buf, n, en->data_offset + done) < 0) {
            rc = read_error(e, z, en->name, en->data_offset + done);
            break;
        }
        crc = crc_update(crc, buf, n);
        rc = fn(ctx, buf, n, e);
        done += n;
    }
    free(buf);
    return rc < 0 ? -1 : check_crc(z, en, crc, e);
}

static int stream_deflated(const ZipReader *z, const ZipEntry *en, ZipChunkFn fn, void *ctx, Error *e) {
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) FATAL("zlib inflateInit2 failed for %s", en->name);
    unsigned char *in = xmalloc(CHUNK, "zip inflate input"), *out = xmalloc(CHUNK, "zip inflate output");
    uint32_t crc = (uint32_t)crc32(0, NULL, 0);
    uint64_t read_pos = 0, produced = 0;
    int rc = 0, zr = Z_OK;
    while (rc == 0 && zr != Z_STREAM_END) {
        if (s.avail_in == 0) {
            size_t n = (size_t)MIN(en->comp_size - read_pos, (uint64_t)CHUNK);
            if (n == 0) {
                rc = error_set(e, "%s: entry %s is damaged: its deflate data ends early", z->path, en->name);
                break;
            }
            if (pread_full(z->fd, in, n, en->data_offset + read_pos) < 0) {
                rc = read_error(e, z, en->name, en->data_offset + read_pos);
                break;
            }
            read_pos += n;
            s.next_in = in;
            s.avail_in = (uInt)n;
        }
        s.next_out = out;
        s.avail_out = CHUNK;
        zr = inflate(&s, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END) {
            rc = error_set(e, "%s: entry %s is damaged: bad deflate data (%s)", z->path, en->name,
                           s.msg ? s.msg : "zlib error");
            break;
        }
        size_t got = CHUNK - s.avail_out;
        produced += got;
        if (produced > en->size) {
            rc = error_set(e, "%s: entry %s is damaged: it inflates to more than its %llu bytes", z->path, en->name,
                           (unsigned long long)en->size);
            break;
        }
        crc = crc_update(crc, out, got);
        if (got) rc = fn(ctx, out, got, e);
    }
    inflateEnd(&s);
    free(in);
    free(out);
    if (rc < 0) return -1;
    if (produced != en->size)
        return error_set(e, "%s: entry %s is damaged: it inflates to %llu bytes, expected %llu", z->path, en->name,
                         (unsigned long long)produced, (unsigned long long)en->size);
    return check_crc(z, en, crc, e);
}

int zip_stream(const ZipReader *z, const ZipEntry *en, ZipChunkFn fn, void *ctx, Error *e) {
    if (en->method == ZIP_STORED) return stream_stored(z, en, fn, ctx, e);
    if (en->method == ZIP_DEFLATED) return stream_deflated(z, en, fn, ctx, e);
    return error_set(e, "%s: entry %s uses compression method %u (only stored and deflate are supported)", z->path,
                     en->name, en->method);
}

static int discard_chunk(void *ctx, const void *data, size_t n, Error *e) { return 0; }

int zip_verify(const ZipReader *z, const ZipEntry *en, Error *e) { return zip_stream(z, en, discard_chunk, NULL, e); }

int zip_read(const ZipReader *z, const ZipEntry *en, void **out, size_t *len, Error *e) {
    if (en->size >= SIZE_MAX || (en->method == ZIP_DEFLATED && en->size / MAX_INFLATE_RATIO > en->comp_size + 1))
        return error_set(e, "%s: damaged zip archive: entry %s claims an impossible size of %llu bytes", z->path,
                         en->name, (unsigned long long)en->size);
    MemorySink m = {xmalloc((size_t)en->size + 1, en->name), 0};
    if (zip_stream(z, en, memory_sink, &m, e) < 0) {
        free(m.buf);
        return -1;
    }
    m.buf[en->size] = 0;
    *out = m.buf;
    if (len) *len = (size_t)en->size;
    return 0;
}

int zip_read_range(const ZipReader *z, const ZipEntry *en, uint64_t offset, void *buf, size_t n, Error *e) {
    if (en->method != ZIP_STORED)
        return error_set(e, "%s: entry %s is compressed; byte-range reads need a stored entry", z->path, en->name);
    if (en->comp_size != en->size)
        return error_set(e, "%s: damaged zip archive: stored entry %s has %llu bytes but claims %llu", z->path,
                         en->name, (unsigned long long)en->comp_size, (unsigned long long)en->size);
    if (offset > en->size || n > en->size - offset)
        return error_set(e, "%s: bytes [%llu, %llu) are outside entry %s (%llu bytes)", z->path,
                         (unsigned long long)offset, (unsigned long long)(offset + n), en->name,
                         (unsigned long long)en->size);
    if (pread_full(z->fd, buf, n, en->data_offset + offset) < 0)
        return read_error(e, z, en->name, en->data_offset + offset);
    if (offset == 0 && n == en->size) return check_crc(z, en, crc_update((uint32_t)crc32(0, NULL, 0), buf, n), e);
    return 0;
}

/* ---------------------------------------------------------------- writer */

typedef struct {
    char *name;
    uint64_t size, offset;
    uint32_t crc;
} WrittenEntry;

struct ZipWriter {
    char *path, *tmp;
    int fd, flags;
    uint64_t pos;               /* bytes written so far */
    WrittenEntry *entries;
    int count, cap;
    int in_entry;               /* between begin and end */
    uint64_t remaining;         /* bytes the open entry still expects */
    uint32_t crc;               /* of the open entry so far */
};

/* Version 4.5 is needed for zip64 records, 2.0 otherwise; "made by" Unix. */
#define VERSION_ZIP64 45
#define VERSION_PLAIN 20
#define MADE_BY_UNIX (3u << 8)
#define FLAG_UTF8 0x0800
#define DOS_DATE_1980 ((0 << 9) | (1 << 5) | 1)
#define UNIX_MODE_0644 (0100644u << 16)

static int write_all(ZipWriter *w, const void *data, size_t n, Error *e) {
    const char *p = data;
    while (n) {
        ssize_t r = write(w->fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return error_set(e, "%s: write failed: %s", w->tmp, r < 0 ? strerror(errno) : "no progress");
        p += r;
        n -= (size_t)r;
        w->pos += (uint64_t)r;
    }
    return 0;
}

ZipWriter *zip_writer_open(const char *path, int flags, Error *e) {
    ZipWriter *w = xcalloc(1, sizeof *w, "zip writer");
    w->path = xstrdup(path);
    size_t n = strlen(path) + 5;
    w->tmp = xmalloc(n, "zip temporary name");
    tmp_name(path, w->tmp, n);
    w->flags = flags;
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        error_set(e, "%s: cannot create: %s", w->tmp, strerror(errno));
        free(w->tmp);
        free(w->path);
        free(w);
        return NULL;
    }
    return w;
}

int zip_writer_begin(ZipWriter *w, const char *name, uint64_t size, Error *e) {
    size_t nlen = strlen(name);
    if (w->in_entry) return error_set(e, "%s: entry %s begun before the previous one ended", w->tmp, name);
    if (nlen == 0 || nlen > U16_MAX_FIELD) return error_set(e, "%s: bad entry name length %zu", w->tmp, nlen);
    if (w->count == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        w->entries = xrealloc(w->entries, (size_t)w->cap * sizeof *w->entries, "zip entries");
    }
    WrittenEntry *en = &w->entries[w->count++];
    en->name = xstrdup(name);
    en->size = size;
    en->offset = w->pos;
    en->crc = 0;
    int z64 = (w->flags & ZIP_WRITE_ZIP64) || size >= U32_MAX_FIELD;
    unsigned char h[LOCAL_LEN + 20], *p = h;
    p = wr32(p, SIG_LOCAL);
    p = wr16(p, z64 ? VERSION_ZIP64 : VERSION_PLAIN);
    p = wr16(p, FLAG_UTF8);
    p = wr16(p, ZIP_STORED);
    p = wr16(p, 0);
    p = wr16(p, DOS_DATE_1980);
    p = wr32(p, 0);   /* CRC-32: patched by zip_writer_end */
    p = wr32(p, z64 ? U32_MAX_FIELD : (uint32_t)size);
    p = wr32(p, z64 ? U32_MAX_FIELD : (uint32_t)size);
    p = wr16(p, (uint16_t)nlen);
    p = wr16(p, z64 ? 20 : 0);
    if (write_all(w, h, LOCAL_LEN, e) < 0 || write_all(w, name, nlen, e) < 0) return -1;
    if (z64) {
        unsigned char *x = h + LOCAL_LEN;
        p = wr16(x, EXTRA_ZIP64);
        p = wr16(p, 16);
        p = wr64(p, size);
        p = wr64(p, size);
        if (write_all(w, x, 20, e) < 0) return -1;
    }
    w->in_entry = 1;
    w->remaining = size;
    w->crc = (uint32_t)crc32(0, NULL, 0);
    return 0;
}

int zip_writer_write(ZipWriter *w, const void *data, size_t n, Error *e) {
    if (!w->in_entry) return error_set(e, "%s: data written outside an entry", w->tmp);
    if (n > w->remaining)
        return error_set(e, "%s: entry %s: %zu more bytes than announced", w->tmp, w->entries[w->count - 1].name,
                         (size_t)(n - w->remaining));
    w->crc = crc_update(w->crc, data, n);
    w->remaining -= n;
    return write_all(w, data, n, e);
}

int zip_writer_end(ZipWriter *w, Error *e) {
    if (!w->in_entry) return error_set(e, "%s: no entry to end", w->tmp);
    WrittenEntry *en = &w->entries[w->count - 1];
    if (w->remaining)
        return error_set(e, "%s: entry %s ended %llu bytes short of its announced size", w->tmp, en->name,
                         (unsigned long long)w->remaining);
    en->crc = w->crc;
    w->in_entry = 0;
    unsigned char c[4];
    wr32(c, en->crc);
    if (pwrite(w->fd, c, 4, (off_t)(en->offset + 14)) != 4)
        return error_set(e, "%s: cannot patch the CRC of entry %s: %s", w->tmp, en->name, strerror(errno));
    return 0;
}

int zip_writer_add(ZipWriter *w, const char *name, const void *data, size_t n, Error *e) {
    if (zip_writer_begin(w, name, n, e) < 0 || zip_writer_write(w, data, n, e) < 0) return -1;
    return zip_writer_end(w, e);
}

static int write_central_record(ZipWriter *w, const WrittenEntry *en, Error *e) {
    int force = w->flags & ZIP_WRITE_ZIP64;
    int z_size = force || en->size >= U32_MAX_FIELD, z_off = force || en->offset >= U32_MAX_FIELD;
    size_t nlen = strlen(en->name);
    unsigned char h[CENTRAL_LEN], x[4 + 24], *p = h;
    unsigned char *q = wr16(wr16(x, EXTRA_ZIP64), (uint16_t)(8 * (2 * z_size + z_off)));
    if (z_size) q = wr64(wr64(q, en->size), en->size);
    if (z_off) q = wr64(q, en->offset);
    size_t xlen = (z_size || z_off) ? (size_t)(q - x) : 0;
    p = wr32(p, SIG_CENTRAL);
    p = wr16(p, (uint16_t)(MADE_BY_UNIX | VERSION_ZIP64));
    p = wr16(p, xlen ? VERSION_ZIP64 : VERSION_PLAIN);
    p = wr16(p, FLAG_UTF8);
    p = wr16(p, ZIP_STORED);
    p = wr16(p, 0);
    p = wr16(p, DOS_DATE_1980);
    p = wr32(p, en->crc);
    p = wr32(p, z_size ? U32_MAX_FIELD : (uint32_t)en->size);
    p = wr32(p, z_size ? U32_MAX_FIELD : (uint32_t)en->size);
    p = wr16(p, (uint16_t)nlen);
    p = wr16(p, (uint16_t)xlen);
    p = wr16(p, 0);   /* comment */
    p = wr16(p, 0);   /* disk */
    p = wr16(p, 0);   /* internal attributes */
    p = wr32(p, UNIX_MODE_0644);
    p = wr32(p, z_off ? U32_MAX_FIELD : (uint32_t)en->offset);
    if (write_all(w, h, CENTRAL_LEN, e) < 0 || write_all(w, en->name, nlen, e) < 0) return -1;
    return xlen ? write_all(w, x, xlen, e) : 0;
}

static int write_end_records(ZipWriter *w, uint64_t cd_offset, uint64_t cd_size, Error *e) {
    uint64_t count = (uint64_t)w->count;
    int z64 = (w->flags & ZIP_WRITE_ZIP64) || count >= U16_MAX_FIELD || cd_offset >= U32_MAX_FIELD ||
              cd_size >= U32_MAX_FIELD;
    unsigned char b[EOCD64_LEN + LOCATOR64_LEN + EOCD_LEN], *p = b;
    if (z64) {
        uint64_t rec_pos = w->pos;
        p = wr32(p, SIG_EOCD64);
        p = wr64(p, EOCD64_LEN - 12);   /* size of the rest of the record */
        p = wr16(p, (uint16_t)(MADE_BY_UNIX | VERSION_ZIP64));
        p = wr16(p, VERSION_ZIP64);
        p = wr32(p, 0);
        p = wr32(p, 0);
        p = wr64(p, count);
        p = wr64(p, count);
        p = wr64(p, cd_size);
        p = wr64(p, cd_offset);
        p = wr32(p, SIG_LOCATOR64);
        p = wr32(p, 0);
        p = wr64(p, rec_pos);
        p = wr32(p, 1);
    }
    p = wr32(p, SIG_EOCD);
    p = wr16(p, 0);
    p = wr16(p, 0);
    p = wr16(p, z64 ? U16_MAX_FIELD : (uint16_t)count);
    p = wr16(p, z64 ? U16_MAX_FIELD : (uint16_t)count);
    p = wr32(p, z64 ? U32_MAX_FIELD : (uint32_t)cd_size);
    p = wr32(p, z64 ? U32_MAX_FIELD : (uint32_t)cd_offset);
    p = wr16(p, 0);
    return write_all(w, b, (size_t)(p - b), e);
}

static void writer_free(ZipWriter *w) {
    for (int i = 0; i < w->count; i++) free(w->entries[i].name);
    free(w->entries);
    free(w->tmp);
    free(w->path);
    free(w);
}

int zip_writer_close(ZipWriter *w, Error *e) {
    int rc = 0;
    if (w->in_entry) rc = error_set(e, "%s: entry %s was not ended", w->tmp, w->entries[w->count - 1].name);
    uint64_t cd_offset = w->pos;
    for (int i = 0; i < w->count && rc == 0; i++) rc = write_central_record(w, &w->entries[i], e);
    if (rc == 0) rc = write_end_records(w, cd_offset, w->pos - cd_offset, e);
    if (rc == 0 && fsync(w->fd) < 0) rc = error_set(e, "%s: fsync failed: %s", w->tmp, strerror(errno));
    if (close(w->fd) < 0 && rc == 0) rc = error_set(e, "%s: close failed: %s", w->tmp, strerror(errno));
    w->fd = -1;
    if (tmp_finish(w->tmp, w->path, rc == 0) < 0 && rc == 0)
        rc = error_set(e, "cannot rename %s to %s: %s", w->tmp, w->path, strerror(errno));
    writer_free(w);
    return rc;
}

void zip_writer_abort(ZipWriter *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp);
    writer_free(w);
}
