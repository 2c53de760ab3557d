#include "dirlock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Directories this process holds (by device and inode). Their descriptors stay open until exit:
 * closing any descriptor of a file drops every fcntl lock the process has on it, so a second
 * dir_lock of the same directory must not even open the lock file again. A child of fork()
 * inherits the list but not the locks: entries count only for the process that made them. */
typedef struct HeldLock {
    pid_t pid;
    dev_t dev;
    ino_t ino;
    struct HeldLock *next;
} HeldLock;
static HeldLock *held;

static int lock_whole_file(int fd) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int r;
    while ((r = fcntl(fd, F_SETLK, &fl)) < 0 && errno == EINTR) {}
    return r;
}

/* The holder's line from the lock file ("" when it has not written it yet). */
static void read_holder(int fd, char *buf, size_t len) {
    ssize_t n = pread(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    buf[strcspn(buf, "\n")] = 0;
}

static void write_holder(int fd, const char *program) {
    char host[256] = "unknown", when[64] = "", line[512];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    int n = snprintf(line, sizeof line, "%s, PID %ld on host %s, since %s\n", program, (long)getpid(), host, when);
    /* Only a courtesy for the message of a second writer: the lock itself is what counts. */
    if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)MIN(n, (int)sizeof line - 1), 0) < 0) {}
}

int dir_lock_failure(const char *lock_path, int err, const char *holder, const char *advice, Error *e) {
    if (err == EACCES || err == EAGAIN)
        return error_set(e, "%s is held by %s: one program writes a directory at a time; wait for it to end, or %s "
                            "(on NFS, a job requeued after its node failed meets the dead node's lock until the "
                            "server's lease ends, about 90 s: set MASKDIT_LOCK_WAIT=SECONDS to wait for it)",
                         lock_path, holder[0] ? holder : "another process (which has not written its name yet)", advice);
    if (err == ENOSYS || err == ENOLCK || err == EOPNOTSUPP)
        return error_set(e, "cannot lock %s: %s: this file system does not support locks (Lustre mounted without "
                            "the flock option, NFS without its lock service), so two programs could write the same "
                            "directory; ask for locks on the mount, or make sure nothing else writes here and set "
                            "MASKDIT_LOCK=off", lock_path, strerror(err));
    return error_set(e, "cannot lock %s: %s", lock_path, strerror(err));
}

/* MASKDIT_LOCK_WAIT: whole seconds to keep trying (0 when unset). */
static int wait_seconds(Error *e) {
    const char *s = getenv("MASKDIT_LOCK_WAIT");
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < 0 || v > 86400)
        return error_set(e, "MASKDIT_LOCK_WAIT is '%s', expected whole seconds from 0 to 86400", s);
    return (int)v;
}

int dir_lock(const char *dir, const char *program, const char *advice, Error *e) {
    const char *mode = getenv("MASKDIT_LOCK");
    if (mode && !strcmp(mode, "off")) {
        info("notice: MASKDIT_LOCK=off: not locking %s; nothing else may write it while this runs", dir);
        return 0;
    }
    if (mode && *mode) return error_set(e, "MASKDIT_LOCK is '%s', expected 'off' or unset", mode);
    int wait = wait_seconds(e);
    if (wait < 0) return -1;
    struct stat st;
    if (stat(dir, &st) < 0) return error_set(e, "cannot lock directory %s: %s", dir, strerror(errno));
    for (HeldLock *h = held; h; h = h->next)
        if (h->pid == getpid() && h->dev == st.st_dev && h->ino == st.st_ino) return 0;
    size_t len = strlen(dir) + sizeof DIR_LOCK_FILE + 1;
    char *path = xmalloc(len, "lock file name");
    snprintf(path, len, "%s/%s", dir, DIR_LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = error_set(e, "cannot open the lock file %s: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    int r, err = 0;
    for (int waited = 0; (r = lock_whole_file(fd)) < 0; waited++) {
        err = errno;
        if ((err != EACCES && err != EAGAIN) || waited >= wait) break;
        if (waited == 0) info("%s is locked; waiting up to %d s (MASKDIT_LOCK_WAIT)", path, wait);
        sleep(1);
    }
    if (r < 0) {
        char holder[512];
        read_holder(fd, holder, sizeof holder);
        dir_lock_failure(path, err, holder, advice, e);
        close(fd);
        free(path);
        return -1;
    }
    write_holder(fd, program);
    HeldLock *h = xmalloc(sizeof *h, "lock record");
    *h = (HeldLock){getpid(), st.st_dev, st.st_ino, held};
    held = h;
    free(path);
    return 0;
}
