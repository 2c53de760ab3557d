#include "build_info.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Defined on the command line by the Makefile; a build by other means records "unknown". */
#ifndef MASKDIT_GIT_COMMIT
#define MASKDIT_GIT_COMMIT "unknown"
#endif
#ifndef MASKDIT_BUILD_SETTINGS
#define MASKDIT_BUILD_SETTINGS "unknown"
#endif

const char *build_git_commit(void) { return MASKDIT_GIT_COMMIT; }

const char *build_settings(void) { return "gcc " __VERSION__ "; " MASKDIT_BUILD_SETTINGS; }

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void build_environment_switches(char *buf, size_t len) {
    extern char **environ;
    size_t n = 0, at = 0;
    for (char **e = environ; *e; e++) n += strncmp(*e, "MASKDIT_", 8) == 0;
    const char **names = xmalloc((n ? n : 1) * sizeof *names, "environment switches");
    n = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "MASKDIT_", 8) == 0) names[n++] = *e;
    qsort(names, n, sizeof *names, by_name);
    buf[0] = 0;
    for (size_t i = 0; i < n && at < len; i++) at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "", names[i]);
    free(names);
}
