/* What this binary was built from: the git commit and the build settings, recorded by the Makefile
 * (build/.build-info) into src/util/build_info.c; "unknown" when built outside a git checkout. */
#ifndef MASKDIT_BUILD_INFO_H
#define MASKDIT_BUILD_INFO_H

#include <stddef.h>

/* Short commit hash, with "-dirty" when the working tree had uncommitted changes. */
const char *build_git_commit(void);
/* The compiler and the make settings (CUDA=, CUDA_ARCHS=, CFLAGS=) as one line. */
const char *build_settings(void);
/* The MASKDIT_* environment switches of this process (MASKDIT_ATTENTION=gemm, ...: the kernel
 * paths of A/B runs), as "NAME=VALUE, NAME=VALUE" in buf, sorted; "" when none is set. */
void build_environment_switches(char *buf, size_t len);

#endif
