/* The zip reader and writer: round trips (plain and zip64 records), archives built by hand here
 * (deflate entries, an entry past the 4 GiB mark in a sparse file), and damaged archives, each
 * refused with its message. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../../src/util/zip.h"
#include "test.h"
#include "test_util.h"

static char dir[256];

static void path_of(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

static unsigned char *pattern(size_t n, unsigned seed) {
    unsigned char *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
    return p;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ------------------------------------------------------------ an independent zip builder */

typedef struct {
    const char *name;
    const unsigned char *data;
    size_t size;
    int deflate;
} TestEntry;

static unsigned char *put16(unsigned char *p, unsigned v) { p[0] = v & 255; p[1] = (v >> 8) & 255; return p + 2; }
static unsigned char *put32(unsigned char *p, uint32_t v) { return put16(put16(p, v & 0xffff), v >> 16); }
static unsigned char *put64(unsigned char *p, uint64_t v) { return put32(put32(p, (uint32_t)v), (uint32_t)(v >> 32)); }

static void pwrite_all(int fd, const void *b, size_t n, uint64_t off) {
    if (pwrite(fd, b, n, (off_t)off) != (ssize_t)n) {
        perror("pwrite");
        exit(1);
    }
}

static size_t raw_deflate(const unsigned char *in, size_t n, unsigned char *out, size_t cap) {
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    s.next_in = (unsigned char *)in;
    s.avail_in = (uInt)n;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    deflate(&s, Z_FINISH);
    size_t got = cap - s.avail_out;
    deflateEnd(&s);
    return got;
}

/* Entries from file offset `start` on (a hole before it); with zip64 every size and offset goes
 * through zip64 extra fields and the zip64 end records. Returns the offset of entry 0's data. */
static uint64_t build_zip(const char *path, const TestEntry *ents, int n, uint64_t start, int zip64) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    uint64_t pos = start, offsets[8], csizes[8], first_data = 0;
    uint32_t crcs[8];
    for (int i = 0; i < n; i++) {
        const TestEntry *t = &ents[i];
        unsigned char *c = malloc(t->size + 1024);
        size_t csize = t->deflate ? raw_deflate(t->data, t->size, c, t->size + 1024) : t->size;
        if (!t->deflate) memcpy(c, t->data, t->size);
        crcs[i] = (uint32_t)crc32(0, t->data, (uInt)t->size);
        offsets[i] = pos;
        csizes[i] = csize;
        unsigned char h[64], *p = h;
        p = put32(p, 0x04034b50);
        p = put16(p, 45);
        p = put16(p, 0);
        p = put16(p, t->deflate ? 8 : 0);
        p = put32(p, 0);
        p = put32(p, crcs[i]);
        p = put32(p, zip64 ? 0xffffffffu : (uint32_t)csize);
        p = put32(p, zip64 ? 0xffffffffu : (uint32_t)t->size);
        p = put16(p, (unsigned)strlen(t->name));
        p = put16(p, zip64 ? 20 : 0);
        pwrite_all(fd, h, (size_t)(p - h), pos);
        pos += (uint64_t)(p - h);
        pwrite_all(fd, t->name, strlen(t->name), pos);
        pos += strlen(t->name);
        if (zip64) {
            p = put16(h, 1);
            p = put16(p, 16);
            p = put64(p, t->size);
            p = put64(p, csize);
            pwrite_all(fd, h, 20, pos);
            pos += 20;
        }
        if (i == 0) first_data = pos;
        pwrite_all(fd, c, csize, pos);
        pos += csize;
        free(c);
    }
    uint64_t cd = pos;
    for (int i = 0; i < n; i++) {
        unsigned char h[128], *p = h;
        p = put32(p, 0x02014b50);
        p = put16(p, 45);
        p = put16(p, 45);
        p = put16(p, 0);
        p = put16(p, ents[i].deflate ? 8 : 0);
        p = put32(p, 0);
        p = put32(p, crcs[i]);
        p = put32(p, zip64 ? 0xffffffffu : (uint32_t)csizes[i]);
        p = put32(p, zip64 ? 0xffffffffu : (uint32_t)ents[i].size);
        p = put16(p, (unsigned)strlen(ents[i].name));
        p = put16(p, zip64 ? 28 : 0);
        p = put16(p, 0);
        p = put16(p, 0);
        p = put16(p, 0);
        p = put32(p, 0);
        p = put32(p, zip64 ? 0xffffffffu : (uint32_t)offsets[i]);
        memcpy(p, ents[i].name, strlen(ents[i].name));
        p += strlen(ents[i].name);
        if (zip64) {
            p = put16(p, 1);
            p = put16(p, 24);
            p = put64(p, ents[i].size);   /* order: uncompressed, compressed, offset */
            p = put64(p, csizes[i]);
            p = put64(p, offsets[i]);
        }
        pwrite_all(fd, h, (size_t)(p - h), pos);
        pos += (uint64_t)(p - h);
    }
    uint64_t cd_size = pos - cd;
    unsigned char e[128], *p = e;
    if (zip64) {
        uint64_t rec = pos;
        p = put32(p, 0x06064b50);
        p = put64(p, 44);
        p = put16(p, 45);
        p = put16(p, 45);
        p = put32(p, 0);
        p = put32(p, 0);
        p = put64(p, (uint64_t)n);
        p = put64(p, (uint64_t)n);
        p = put64(p, cd_size);
        p = put64(p, cd);
        p = put32(p, 0x07064b50);
        p = put32(p, 0);
        p = put64(p, rec);
        p = put32(p, 1);
    }
    p = put32(p, 0x06054b50);
    p = put16(p, 0);
    p = put16(p, 0);
    p = put16(p, zip64 ? 0xffff : (unsigned)n);
    p = put16(p, zip64 ? 0xffff : (unsigned)n);
    p = put32(p, zip64 ? 0xffffffffu : (uint32_t)cd_size);
    p = put32(p, zip64 ? 0xffffffffu : (uint32_t)cd);
    p = put16(p, 0);
    pwrite_all(fd, e, (size_t)(p - e), pos);
    close(fd);
    return first_data;
}

/* ------------------------------------------------------------ cases */

static void check_entry(ZipReader *z, const char *name, const unsigned char *want, size_t n) {
    const ZipEntry *en = zip_find(z, name);
    CHECK(en != NULL, "entry %s missing", name);
    if (!en) return;
    CHECK(en->size == n, "%s size %llu vs %zu", name, (unsigned long long)en->size, n);
    void *got = NULL;
    size_t len = 0;
    Error e;
    CHECK(zip_read(z, en, &got, &len, &e) == 0, "%s", e.msg);
    CHECK(got && len == n && memcmp(got, want, n) == 0, "%s content differs", name);
    free(got);
}

static void writer_round_trip(void) {
    size_t sizes[3] = {0, 1, 300000};
    unsigned char *data[3];
    for (int i = 0; i < 3; i++) data[i] = pattern(sizes[i], (unsigned)i);
    const char *names[3] = {"empty", "a/one byte", "b/grand-\xc3\xa9l\xc3\xa9ment.npy"};
    for (int mode = 0; mode < 2; mode++) {
        char path[512], tmp[520];
        path_of(path, sizeof path, mode ? "rt64.zip" : "rt.zip");
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        Error e;
        ZipWriter *w = zip_writer_open(path, mode ? ZIP_WRITE_ZIP64 : 0, &e);
        CHECK(w != NULL, "%s", e.msg);
        if (!w) return;
        CHECK(zip_writer_add(w, names[0], data[0], sizes[0], &e) == 0, "%s", e.msg);
        CHECK(zip_writer_add(w, names[1], data[1], sizes[1], &e) == 0, "%s", e.msg);
        /* the big one in pieces, as the npz writer streams arrays */
        CHECK(zip_writer_begin(w, names[2], sizes[2], &e) == 0, "%s", e.msg);
        for (size_t at = 0; at < sizes[2]; at += 70000)
            CHECK(zip_writer_write(w, data[2] + at, MIN(70000, sizes[2] - at), &e) == 0, "%s", e.msg);
        CHECK(zip_writer_end(w, &e) == 0, "%s", e.msg);
        CHECK(file_exists(tmp) && !file_exists(path), "written under the temporary name until closed");
        CHECK(zip_writer_close(w, &e) == 0, "%s", e.msg);
        CHECK(!file_exists(tmp) && file_exists(path), "renamed on close");
        ZipReader *z = zip_open(path, &e);
        CHECK(z != NULL, "%s", e.msg);
        if (!z) return;
        CHECK(z->count == 3, "count %d", z->count);
        for (int i = 0; i < 3; i++) check_entry(z, names[i], data[i], sizes[i]);
        /* a byte range of a stored entry */
        unsigned char part[1000];
        const ZipEntry *big = zip_find(z, names[2]);
        CHECK(zip_read_range(z, big, 123457, part, sizeof part, &e) == 0, "%s", e.msg);
        CHECK(memcmp(part, data[2] + 123457, sizeof part) == 0, "range content");
        CHECK(zip_read_range(z, big, sizes[2] - 10, part, 20, &e) < 0 && strstr(e.msg, "outside entry"), "%s", e.msg);
        zip_close(z);
    }
    for (int i = 0; i < 3; i++) free(data[i]);
}

static void writer_failures_keep_old_file(void) {
    char path[512];
    path_of(path, sizeof path, "keep.zip");
    Error e;
    ZipWriter *w = zip_writer_open(path, 0, &e);
    zip_writer_add(w, "x", "old", 3, &e);
    CHECK(zip_writer_close(w, &e) == 0, "%s", e.msg);
    w = zip_writer_open(path, 0, &e);
    CHECK(zip_writer_begin(w, "y", 10, &e) == 0, "%s", e.msg);
    CHECK(zip_writer_write(w, "0123456789AB", 12, &e) < 0 && strstr(e.msg, "more bytes than announced"), "%s", e.msg);
    CHECK(zip_writer_write(w, "01234", 5, &e) == 0, "%s", e.msg);
    CHECK(zip_writer_end(w, &e) < 0 && strstr(e.msg, "5 bytes short"), "%s", e.msg);
    CHECK(zip_writer_close(w, &e) < 0 && strstr(e.msg, "was not ended"), "%s", e.msg);
    w = zip_writer_open(path, 0, &e);
    zip_writer_add(w, "z", "new", 3, &e);
    zip_writer_abort(w);
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(tmp), "temporary file removed");
    ZipReader *z = zip_open(path, &e);
    CHECK(z && z->count == 1 && zip_find(z, "x"), "the old archive is intact");
    zip_close(z);
    char bad[512];
    path_of(bad, sizeof bad, "no/such/dir/a.zip");
    CHECK(zip_writer_open(bad, 0, &e) == NULL && strstr(e.msg, "cannot create"), "%s", e.msg);
}

static void deflate_and_zip64_records(void) {
    size_t n = 200000;
    unsigned char *text = malloc(n);
    for (size_t i = 0; i < n; i++) text[i] = "maskdit checkpoint "[i % 19];
    unsigned char *noise = pattern(5000, 7);
    TestEntry ents[2] = {{"text.txt", text, n, 1}, {"noise.bin", noise, 5000, 0}};
    for (int zip64 = 0; zip64 < 2; zip64++) {
        char path[512];
        path_of(path, sizeof path, zip64 ? "hand64.zip" : "hand.zip");
        build_zip(path, ents, 2, 0, zip64);
        Error e;
        ZipReader *z = zip_open(path, &e);
        CHECK(z != NULL, "%s", e.msg);
        if (!z) continue;
        CHECK(zip_find(z, "text.txt")->method == ZIP_DEFLATED, "deflated entry");
        CHECK(zip_find(z, "text.txt")->comp_size < n / 10, "really compressed");
        check_entry(z, "text.txt", text, n);
        check_entry(z, "noise.bin", noise, 5000);
        unsigned char b[4];
        CHECK(zip_read_range(z, zip_find(z, "text.txt"), 0, b, 4, &e) < 0 && strstr(e.msg, "stored entry"), "%s",
              e.msg);
        zip_close(z);
    }
    free(text);
    free(noise);
}

/* An entry whose local header lies past 4 GiB: a sparse file, so nothing is written before it. */
static void entry_beyond_4gib(void) {
    char path[512];
    path_of(path, sizeof path, "sparse64.zip");
    unsigned char *data = pattern(4096, 3);
    TestEntry ent = {"far.bin", data, 4096, 0};
    uint64_t start = (5ull << 30) + 12345;
    uint64_t data_off = build_zip(path, &ent, 1, start, 1);
    Error e;
    ZipReader *z = zip_open(path, &e);
    CHECK(z != NULL, "%s", e.msg);
    if (z) {
        CHECK(z->file_size > start, "file size %llu", (unsigned long long)z->file_size);
        CHECK(z->entries[0].data_offset == data_off, "data offset %llu vs %llu",
              (unsigned long long)z->entries[0].data_offset, (unsigned long long)data_off);
        check_entry(z, "far.bin", data, 4096);
        zip_close(z);
    }
    unlink(path);
    free(data);
}

static void damaged_archives(void) {
    char path[512], bad[512];
    path_of(path, sizeof path, "base.zip");
    unsigned char *data = pattern(100000, 9);
    unsigned char *text = malloc(50000);
    for (int i = 0; i < 50000; i++) text[i] = (unsigned char)('a' + i % 7);
    TestEntry ents[2] = {{"data.bin", data, 100000, 0}, {"text", text, 50000, 1}};
    uint64_t data_off = build_zip(path, ents, 2, 0, 0);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)size);
    CHECK(fread(bytes, 1, (size_t)size, f) == (size_t)size, "read back");
    fclose(f);
    Error e;
    long cd = size - 22 - 2 * 46 - 8 - 4;   /* the central directory: records of data.bin and text */
    struct {
        const char *what, *expect;
        long cut;             /* write only the first `cut` bytes (0: all, -1: none) */
        long at;              /* offset of the bytes to overwrite (-1: none) */
        const char *bytes;    /* their new values (2 bytes), NULL: flip the byte at `at` */
    } cases[] = {
        {"truncated in half", "truncated", size / 2, -1, NULL},
        {"cut inside the end record", "truncated", size - 5, -1, NULL},
        {"stored data damaged", "CRC-32", 0, (long)data_off + 500, NULL},
        {"deflate data damaged", "entry text is damaged", 0, (long)data_off + 100000 + 30 + 4 + 3, NULL},
        {"local header damaged", "no local header", 0, (long)data_off - 38, NULL},
        {"central directory damaged", "central directory record 1", 0, cd, NULL},
        {"unknown compression", "uses compression method 12", 0, cd + 10, "\x0c\x00"},
        {"encrypted entry", "is encrypted", 0, cd + 8, "\x01\x00"},
        {"zip64 count without locator", "zip64 locator is missing", 0, size - 22 + 10, "\xff\xff"},
        {"directory outside the file", "does not fit before its end record", 0, size - 22 + 16 + 2, "\x07\x00"},
        {"stored sizes disagree", "stored entry data.bin has", 0, cd + 20, "\x00\x00"},
        {"empty file", "not a zip archive", -1, -1, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        path_of(bad, sizeof bad, "bad.zip");
        unsigned char *copy = malloc((size_t)size);
        memcpy(copy, bytes, (size_t)size);
        long n = cases[i].cut > 0 ? cases[i].cut : cases[i].cut < 0 ? 0 : size;
        if (cases[i].at >= 0 && cases[i].bytes) memcpy(copy + cases[i].at, cases[i].bytes, 2);
        else if (cases[i].at >= 0) copy[cases[i].at] ^= 0x5a;
        f = fopen(bad, "wb");
        fwrite(copy, 1, (size_t)n, f);
        fclose(f);
        free(copy);
        ZipReader *z = zip_open(bad, &e);
        int failed = z == NULL;
        for (int k = 0; z && k < z->count && !failed; k++) {
            void *out;
            size_t len;
            if (zip_read(z, &z->entries[k], &out, &len, &e) < 0) failed = 1;
            else free(out);
        }
        zip_close(z);
        CHECK(failed && strstr(e.msg, cases[i].expect) && strstr(e.msg, bad), "%s: got '%s'", cases[i].what,
              failed ? e.msg : "success");
    }
    path_of(bad, sizeof bad, "missing.zip");
    CHECK(zip_open(bad, &e) == NULL && strstr(e.msg, "cannot open"), "%s", e.msg);
    CHECK(zip_open(dir, &e) == NULL && strstr(e.msg, "not a regular file"), "%s", e.msg);
    free(bytes);
    free(data);
    free(text);
}

int main(void) {
    scratch_dir(dir, sizeof dir, "test-zip");
    RUN(writer_round_trip);
    RUN(writer_failures_keep_old_file);
    RUN(deflate_and_zip64_records);
    RUN(entry_beyond_4gib);
    RUN(damaged_archives);
    remove_scratch_dir(dir);
    return test_summary();
}
