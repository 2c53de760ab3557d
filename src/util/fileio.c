#include "fileio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
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
