/* The BLAS library of the CPU backend, for the start record of a run. */
#include <cblas.h>

#include "../backend/backend.h"

const char *backend_cpu_blas_version(void) { return openblas_get_config(); }
