/* A resumed conversion keeps the shards an earlier run completed, so it must read the same input:
 * replacing the input file between the two runs would mix old and new shards in one dataset that
 * verify calls OK. The first run records what it reads in <out>/.convert-input, one line per input
 * file: its size, modification time, and CRC-32 of its first and last MiB (what a copy of other
 * data, even of the same size and with a preserved time, would change); a later run into the same
 * --out compares its input with the record and refuses a changed one. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../mpi/dist.h"
#include "../src/data/format.h"
#include "../src/util/fileio.h"
#include "convert.h"

#define INPUT_RECORD ".convert-input"
#define END_BYTES (1 << 20)

/* CRC-32 of n bytes of fd at off. */
static int crc_of_range(int fd, const char *path, uint64_t off, size_t n, unsigned long *crc, Error *e) {
    unsigned char *buf = xmalloc(n + 1, "input fingerprint");
    int rc = pread_full(fd, buf, n, off);
    if (rc == 0) *crc = crc32_z(crc32(0L, Z_NULL, 0), buf, n);
    else error_set(e, "%s: cannot read: %s", path, errno ? strerror(errno) : "the file ended early");
    free(buf);
    return rc;
}

/* Appends the line of input k to *text (malloc'ed, grown). The part before "  # " is compared. */
static int describe_input(int k, const char *path, char **text, Error *e) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int rc = error_set(e, "%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return rc;
    }
    size_t n = (size_t)MIN((long long)st.st_size, (long long)END_BYTES);
    unsigned long head = 0, tail = 0;
    int rc = crc_of_range(fd, path, 0, n, &head, e);
    if (rc == 0) rc = crc_of_range(fd, path, (uint64_t)st.st_size - n, n, &tail, e);
    close(fd);
    if (rc < 0) return -1;
    char *line;
    if (asprintf(&line, "%sinput %d: %lld bytes, modified %lld.%09ld, CRC-32 %08lx of the first and %08lx of the last "
                 "%zu bytes  # %s\n", *text, k, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec, head, tail, n, path) < 0)
        FATAL("out of memory");
    free(*text);
    *text = line;
    return 0;
}

/* The first line of a and b that differs in its compared part (up to "  # "): 1 and the line
 * number and starts, 0 when none does. */
static int first_difference(const char *a, const char *b, int *line, const char **la, const char **lb) {
    for (*line = 1; *a || *b; ++*line) {
        size_t na = strcspn(a, "\n"), nb = strcspn(b, "\n");
        const char *ca = strstr(a, "  # "), *cb = strstr(b, "  # ");
        size_t ka = ca && (size_t)(ca - a) < na ? (size_t)(ca - a) : na, kb = cb && (size_t)(cb - b) < nb ? (size_t)(cb - b) : nb;
        if (ka != kb || memcmp(a, b, ka)) {
            *la = a, *lb = b;
            return 1;
        }
        a += na + (a[na] != 0);
        b += nb + (b[nb] != 0);
    }
    return 0;
}

/* Reads the whole record file into a malloc'ed string; NULL when it does not exist. */
static int read_record(const char *path, char **out, Error *e) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 0 : error_set(e, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap, "input record");
    for (size_t got; (got = fread(buf + len, 1, cap - len - 1, f)) > 0;) {
        len += got;
        if (len + 1 == cap) buf = xrealloc(buf, cap *= 2, "input record");
    }
    int failed = ferror(f);
    fclose(f);
    buf[len] = 0;
    if (failed) {
        free(buf);
        return error_set(e, "%s: cannot read", path);
    }
    *out = buf;
    return 0;
}

static int write_record(const char *path, const char *text, Error *e) {
    char tmp[4300];
    tmp_name(path, tmp, sizeof tmp);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    if (tmp_finish(tmp, path, ok) < 0) return error_set(e, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
    return 0;
}

/* Whether dir holds a shard from an earlier run. */
static int has_shards(const char *out) {
    char path[4200];
    dataset_shard_path(out, 0, path, sizeof path);
    return access(path, F_OK) == 0;
}

static int check_on_rank0(const ConvertOptions *opt, Error *e) {
    char *now = xstrdup(""), *before = NULL, path[4200];
    int rc = 0;
    for (int k = 0; rc == 0 && k < CONVERT_MAX_INPUTS && opt->inputs[k]; k++)
        rc = describe_input(k + 1, opt->inputs[k], &now, e);
    xsnprintf(path, sizeof path, "%s/%s", opt->out, INPUT_RECORD);
    if (rc == 0) rc = read_record(path, &before, e);
    int line;
    const char *was, *is;
    if (rc == 0 && before && first_difference(before, now, &line, &was, &is))
        rc = error_set(e, "--out %s was written from an input that has changed since: %s line %d says '%.*s', now it "
                          "is '%.*s'; the shards kept from that run would mix old and new data: convert into a new "
                          "--out directory, or empty this one to start over", opt->out, path, line,
                       (int)strcspn(was, "\n"), was, (int)strcspn(is, "\n"), is);
    if (rc == 0 && !before) {
        if (has_shards(opt->out))
            warn("%s holds shards of an earlier conversion that recorded no %s: cannot check that its input is the "
                 "same as this one", opt->out, INPUT_RECORD);
        rc = write_record(path, now, e);
    }
    free(now);
    free(before);
    return rc;
}

int convert_check_input(const ConvertOptions *opt, const Dist *dist, Error *e) {
    int rank, rc = 0;
    rank = dist->rank;
    if (rank == 0) rc = check_on_rank0(opt, e);
    return convert_rank0_result(rc, dist, e);
}
