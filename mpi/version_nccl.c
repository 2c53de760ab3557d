/* NCCL's version (built with CUDA; mpi/nccl_absent.c otherwise). */
#include <nccl.h>
#include <stdio.h>

#include "library_versions.h"

void dist_nccl_version(char *buf, size_t len) {
    int v = 0;
    if (ncclGetVersion(&v) != ncclSuccess) {
        snprintf(buf, len, "unknown (ncclGetVersion failed)");
        return;
    }
    /* NCCL >= 2.9 encodes major*10000 + minor*100 + patch, older ones major*1000 + minor*100 + patch */
    int major = v >= 10000 ? v / 10000 : v / 1000, rest = v >= 10000 ? v % 10000 : v % 1000;
    snprintf(buf, len, "%d.%d.%d", major, rest / 100, rest % 100);
}
