#include "fileio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int pread_full(int fd, void *buf, size_t n, uint64_t off) {
    char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = 0;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int file_read_head(const char *path, void *buf, size_t n, size_t *got, Error *e) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return error_set(e, "%s: cannot open: %s", path, strerror(errno));
    int rc = 0;
    *got = 0;
    while (*got < n) {
        ssize_t r = pread(fd, (char *)buf + *got, n - *got, (off_t)*got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = error_set(e, "%s: cannot read: %s", path, strerror(errno));
        if (r <= 0) break;
        *got += (size_t)r;
    }
    if (rc == 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
        /* (ENOSYS, ENOLCK: no locks on this file system, so none can be held) */
        rc = error_set(e, "%s: another process holds a lock on it (a program writing it, or HDF5 in another job): it "
                          "cannot be read now", path);
    }
    close(fd);   /* releases the shared lock taken just to test */
    return rc;
}

int file_check_readable(const char *path, Error *e) {
    char byte;
    size_t got;
    return file_read_head(path, &byte, 1, &got, e);
}

int check_not_input(const char *out, const char *input, const char *input_what, Error *e) {
    struct stat a, b;
    if (!input || stat(out, &a) < 0 || stat(input, &b) < 0) return 0;
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) return 0;
    return error_set(e, "%s is %s (%s): writing it would replace an input; choose another output name", out,
                     input_what, input);
}

int make_dirs(const char *path, Error *e) {
    char buf[4096];
    if (!path[0]) return error_set(e, "empty directory name");
    if (strlen(path) >= sizeof buf) return error_set(e, "path too long: %s", path);
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char saved = *p;
        *p = 0;
        if (mkdir(buf, 0777) < 0 && errno != EEXIST)
            return error_set(e, "cannot create directory '%s': %s", buf, strerror(errno));
        struct stat st;
        if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
            return error_set(e, "'%s' exists and is not a directory", buf);
        if (!(*p = saved)) break;
    }
    return 0;
}

void tmp_name(const char *path, char *buf, size_t len) { xsnprintf(buf, len, "%s.tmp", path); }

int tmp_finish(const char *tmp, const char *path, int ok) {
    if (ok && rename(tmp, path) == 0) return 0;
    int err = ok ? errno : 0;
    remove(tmp);
    errno = err;
    return -1;
}

char *file_read_all(const char *path, size_t *len, Error *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return error_set(e, "%s: cannot open: %s", path, strerror(errno)), NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, k;
    do {
        if (n + 1 >= cap) buf = xrealloc(buf, cap = cap * 2 + 65536, path);
        k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
    } while (k > 0);
    const int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return error_set(e, "%s: read error", path), NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}
