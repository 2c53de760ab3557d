#include "build_info.h"

/* Defined on the command line by the Makefile; a build by other means records "unknown". */
#ifndef MASKDIT_GIT_COMMIT
#define MASKDIT_GIT_COMMIT "unknown"
#endif
#ifndef MASKDIT_BUILD_SETTINGS
#define MASKDIT_BUILD_SETTINGS "unknown"
#endif

const char *build_git_commit(void) { return MASKDIT_GIT_COMMIT; }

const char *build_settings(void) { return "gcc " __VERSION__ "; " MASKDIT_BUILD_SETTINGS; }
