/* One writer per output directory (src/util/dirlock.h): a second process is refused with the
 * holder's program, PID and host; the lock goes with its holder's death; taking it twice in one
 * process keeps it; MASKDIT_LOCK_WAIT waits; file systems without locks get their own message. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/util/dirlock.h"
#include "test.h"

static char dir[128];

/* A child that takes the lock, reports it on a pipe and sleeps (lives seconds at most). */
static pid_t holder_child(int seconds) {
    int p[2];
    if (pipe(p) < 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        Error e;
        close(p[0]);
        char ok = dir_lock(dir, "test-holder", "stop", &e) == 0 ? 'y' : 'n';
        if (write(p[1], &ok, 1) < 0) _exit(2);
        sleep((unsigned)seconds);
        _exit(0);
    }
    close(p[1]);
    char ok = 'n';
    if (read(p[0], &ok, 1) != 1) ok = 'n';
    close(p[0]);
    return ok == 'y' ? pid : -1;
}

/* In a child: whether this process could take the lock now (1), or not (0). */
static int other_process_can_lock(void) {
    pid_t pid = fork();
    if (pid == 0) {
        Error e;
        _exit(dir_lock(dir, "probe", "stop", &e) == 0 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void second_writer_refused_until_holder_dies(void) {
    pid_t pid = holder_child(30);
    CHECK(pid > 0, "the holder could not lock");
    if (pid <= 0) return;
    Error e = {""};
    pid_t me = fork();
    if (me == 0) {   /* not in this process: it must stay free to take the lock below */
        int rc = dir_lock(dir, "second", "give this run another --results_dir", &e);
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        char want[400];
        snprintf(want, sizeof want, "is held by test-holder, PID %ld on host %s, since ", (long)pid, host);
        if (rc == 0 || !strstr(e.msg, want) || !strstr(e.msg, "give this run another --results_dir") ||
            !strstr(e.msg, DIR_LOCK_FILE)) {
            printf("    message: %s\n    expected: %s\n", e.msg, want);
            _exit(1);
        }
        _exit(0);
    }
    int status;
    waitpid(me, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the second writer was not refused with the holder named");
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    CHECK(other_process_can_lock(), "the lock outlived its holder (killed with SIGKILL)");
}

static void taking_it_twice_keeps_it(void) {
    Error e = {""};
    /* this process holds it from here on (the cases after this one run in children) */
    CHECK(dir_lock(dir, "self", "stop", &e) == 0, "%s", e.msg);
    CHECK(dir_lock(dir, "self", "stop", &e) == 0, "second call: %s", e.msg);
    CHECK(!other_process_can_lock(), "taking the lock a second time released it");
}

static void lock_wait_waits_for_the_holder(void) {
    char other[sizeof dir];
    snprintf(other, sizeof other, "%.100s/sub", dir);
    if (mkdir(other, 0755) < 0) CHECK(0, "mkdir %s", other);
    memcpy(dir, other, sizeof dir);
    pid_t pid = holder_child(1);
    CHECK(pid > 0, "the holder could not lock");
    pid_t me = fork();
    if (me == 0) {
        Error e;
        setenv("MASKDIT_LOCK_WAIT", "20", 1);
        _exit(dir_lock(dir, "waiter", "stop", &e) == 0 ? 0 : 1);
    }
    int status;
    waitpid(me, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "MASKDIT_LOCK_WAIT=20 did not wait for a 1 s holder");
    waitpid(pid, &status, 0);
    setenv("MASKDIT_LOCK_WAIT", "soon", 1);
    Error e = {""};
    CHECK(dir_lock(dir, "x", "stop", &e) < 0 && strstr(e.msg, "MASKDIT_LOCK_WAIT is 'soon', expected whole seconds"),
          "%s", e.msg);
    unsetenv("MASKDIT_LOCK_WAIT");
    setenv("MASKDIT_LOCK", "no", 1);
    CHECK(dir_lock(dir, "x", "stop", &e) < 0 && strstr(e.msg, "MASKDIT_LOCK is 'no', expected 'off' or unset"), "%s",
          e.msg);
    unsetenv("MASKDIT_LOCK");
}

static void file_systems_without_locks_are_named(void) {
    int errs[] = {ENOSYS, ENOLCK};
    for (size_t i = 0; i < ARRAY_LEN(errs); i++) {
        Error e = {""};
        dir_lock_failure("d/" DIR_LOCK_FILE, errs[i], "", "stop", &e);
        CHECK(strstr(e.msg, "cannot lock d/" DIR_LOCK_FILE ": ") && strstr(e.msg, strerror(errs[i])) &&
                  strstr(e.msg, "does not support locks") && strstr(e.msg, "MASKDIT_LOCK=off"),
              "%s", e.msg);
    }
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/maskdit-dirlock.XXXXXX");
    if (!mkdtemp(dir)) return 1;
    char top[sizeof dir];
    memcpy(top, dir, sizeof top);
    RUN(second_writer_refused_until_holder_dies);
    RUN(lock_wait_waits_for_the_holder);
    memcpy(dir, top, sizeof dir);
    RUN(taking_it_twice_keeps_it);
    RUN(file_systems_without_locks_are_named);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", top);
    return system(cmd) == 0 ? test_summary() : 1;
}
