/* Helpers of the unit tests: a scratch directory, and capturing what a call prints on
 * stderr (warnings) to check it. */
#ifndef MASKDIT_TEST_UTIL_H
#define MASKDIT_TEST_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
    int saved;
    char path[64];
} Capture;

static inline void capture_begin(Capture *c) {
    fflush(stderr);
    snprintf(c->path, sizeof c->path, "/tmp/maskdit-capture.XXXXXX");
    int fd = mkstemp(c->path);
    c->saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* Restores stderr; returns the captured text (malloc'ed). */
static inline char *capture_end(Capture *c) {
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    FILE *f = fopen(c->path, "rb");
    char *text = calloc(1, 65536);
    if (f) {
        size_t n = fread(text, 1, 65535, f);
        text[n] = 0;
        fclose(f);
    }
    unlink(c->path);
    return text;
}

/* A new directory /tmp/maskdit-<what>.XXXXXX in buf (exits when it cannot be made). */
static inline void scratch_dir(char *buf, size_t len, const char *what) {
    snprintf(buf, len, "/tmp/maskdit-%s.XXXXXX", what);
    if (!mkdtemp(buf)) {
        perror(buf);
        exit(1);
    }
}

static inline void remove_scratch_dir(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
}

#endif
