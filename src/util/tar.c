#include "tar.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

#define BLOCK 512

/* A numeric header field: octal text (NUL or space ended), or base-256 when the high bit of the
 * first byte is set (GNU and pax writers for sizes of 8 GiB and more). -1 if it is neither. */
static int64_t header_number(const unsigned char *f, size_t len) {
    uint64_t v = 0;
    if (f[0] & 0x80) {
        if (f[0] & 0x40) return -1;   /* negative */
        v = f[0] & 0x3f;
        for (size_t i = 1; i < len; i++) {
            if (v >> 55) return -1;
            v = v << 8 | f[i];
        }
        return (int64_t)v;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ') i++;
    if (i == len || f[i] < '0' || f[i] > '7') return -1;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) v = v << 3 | (uint64_t)(f[i] - '0');
    if (i < len && f[i] != 0 && f[i] != ' ') return -1;
    return (int64_t)v;
}

/* The checksum is the sum of the header's bytes with its own field taken as spaces (unsigned, or
 * signed as some old writers computed it). */
static int checksum_ok(const unsigned char *h) {
    int64_t want = header_number(h + 148, 8);
    long unsigned_sum = 0, signed_sum = 0;
    for (int i = 0; i < BLOCK; i++) {
        unsigned char c = i >= 148 && i < 156 ? ' ' : h[i];
        unsigned_sum += c;
        signed_sum += (signed char)c;
    }
    return want == unsigned_sum || want == signed_sum;
}

static char *field_text(const unsigned char *f, size_t len) {
    size_t n = strnlen((const char *)f, len);
    char *s = xmalloc(n + 1, "tar name");
    memcpy(s, f, n);
    s[n] = 0;
    return s;
}

/* pax records "LEN key=value\n": path and size apply to the next member. */
static int parse_pax(const char *path, const unsigned char *d, size_t len, char **name, int64_t *size, Error *e) {
    size_t pos = 0;
    while (pos < len) {
        size_t rec = 0, i = pos;
        while (i < len && d[i] >= '0' && d[i] <= '9' && rec < len) rec = rec * 10 + (size_t)(d[i++] - '0');
        if (i == pos || i >= len || d[i] != ' ' || rec <= i - pos || rec > len - pos || d[pos + rec - 1] != '\n')
            return error_set(e, "%s: damaged pax extended header at byte %zu of its records", path, pos);
        const unsigned char *kv = d + i + 1, *end = d + pos + rec - 1;
        const unsigned char *eq = memchr(kv, '=', (size_t)(end - kv));
        if (!eq) return error_set(e, "%s: pax record without '='", path);
        size_t klen = (size_t)(eq - kv), vlen = (size_t)(end - eq - 1);
        if (klen == 4 && !memcmp(kv, "path", 4)) {
            free(*name);
            *name = xmalloc(vlen + 1, "tar name");
            memcpy(*name, eq + 1, vlen);
            (*name)[vlen] = 0;
        } else if (klen == 4 && !memcmp(kv, "size", 4)) {
            *size = 0;
            for (size_t k = 0; k < vlen; k++) {
                if (eq[1 + k] < '0' || eq[1 + k] > '9' || *size > (INT64_MAX - 9) / 10)
                    return error_set(e, "%s: pax size record is not a number", path);
                *size = *size * 10 + (eq[1 + k] - '0');
            }
        }
        pos += rec;
    }
    return 0;
}

/* The data of an extension entry (pax header, GNU long name), bounded by the file. */
static unsigned char *read_extension(int fd, const char *path, uint64_t off, uint64_t size, Error *e) {
    if (size > (64u << 20)) {
        error_set(e, "%s: an extended header of %llu bytes at offset %llu (damaged archive?)", path,
                  (unsigned long long)size, (unsigned long long)off);
        return NULL;
    }
    unsigned char *d = xmalloc((size_t)size + 1, "tar extended header");
    if (pread_full(fd, d, (size_t)size, off) < 0) {
        error_set(e, "%s: cannot read the extended header at offset %llu: %s", path, (unsigned long long)off,
                  errno ? strerror(errno) : "the file ends inside it");
        free(d);
        return NULL;
    }
    d[size] = 0;
    return d;
}

int tar_list(const char *path, TarMember **members, size_t *count, Error *e) {
    *members = NULL;
    *count = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return error_set(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return error_set(e, "%s: cannot stat: %s", path, strerror(errno));
    }
    uint64_t file_size = (uint64_t)st.st_size, pos = 0;
    size_t cap = 0;
    char *next_name = NULL;      /* from a pax header or a GNU long name, for the next member */
    int64_t next_size = -1;
    unsigned char h[BLOCK];
    int r = 0;
    while (r == 0 && pos < file_size) {
        if (file_size - pos < BLOCK) {
            r = error_set(e, "%s: the file ends inside a tar header at offset %llu (truncated)", path,
                          (unsigned long long)pos);
            break;
        }
        if (pread_full(fd, h, BLOCK, pos) < 0) {
            r = error_set(e, "%s: cannot read at offset %llu: %s", path, (unsigned long long)pos, strerror(errno));
            break;
        }
        static const unsigned char zero[BLOCK];
        if (!memcmp(h, zero, BLOCK)) break;   /* end-of-archive blocks */
        if (!checksum_ok(h)) {
            r = error_set(e, "%s: damaged tar header at offset %llu (checksum mismatch; not a tar file?)", path,
                          (unsigned long long)pos);
            break;
        }
        int64_t size = header_number(h + 124, 12);
        if (next_size >= 0) size = next_size;
        char type = (char)h[156];
        char *name = next_name;   /* the extension applies to this entry only */
        next_name = NULL;
        next_size = -1;
        if (!name) {
            char *base = field_text(h, 100);
            name = base;
            if (!memcmp(h + 257, "ustar", 5) && h[345]) {   /* ustar: prefix/name */
                char *prefix = field_text(h + 345, 155);
                name = xmalloc(strlen(prefix) + strlen(base) + 2, "tar name");
                sprintf(name, "%s/%s", prefix, base);
                free(prefix);
                free(base);
            }
        }
        uint64_t data = pos + BLOCK;
        if (size < 0) {
            r = error_set(e, "%s: member %s: damaged size field", path, name);
        } else if ((uint64_t)size > file_size - data) {
            r = error_set(e, "%s: member %s is truncated: %lld bytes of data, the file ends after %llu", path, name,
                          (long long)size, (unsigned long long)(file_size - data));
        }
        int extension = type == 'x' || type == 'L';
        if (r == 0 && extension) {
            unsigned char *d = read_extension(fd, path, data, (uint64_t)size, e);
            char *pax_name = NULL;
            int64_t pax_size = -1;
            if (!d) r = -1;
            else if (type == 'L') pax_name = field_text(d, (size_t)size);
            else r = parse_pax(path, d, (size_t)size, &pax_name, &pax_size, e);
            free(d);
            next_name = pax_name;
            next_size = pax_size;
        } else if (r == 0 && (type == '0' || type == 0 || type == '7')) {
            if (*count == cap) {
                cap = cap ? 2 * cap : 64;
                *members = xrealloc(*members, cap * sizeof **members, "tar members");
            }
            (*members)[(*count)++] = (TarMember){name, data, (uint64_t)size};
            name = NULL;
        }
        free(name);
        pos = data + (((uint64_t)size + BLOCK - 1) / BLOCK) * BLOCK;
    }
    free(next_name);
    close(fd);
    if (r < 0) {
        tar_members_free(*members, *count);
        *members = NULL;
        *count = 0;
    }
    return r;
}

void tar_members_free(TarMember *members, size_t count) {
    for (size_t i = 0; i < count; i++) free(members[i].name);
    free(members);
}
