#include "library_versions.h"

#include <string.h>

#include "dist.h"

void dist_mpi_version(char *buf, size_t len) {
    char text[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    MPI_CHECK(MPI_Get_library_version(text, &n));
    text[n < (int)sizeof text ? n : (int)sizeof text - 1] = 0;
    text[strcspn(text, "\r\n")] = 0;   /* the rest is build details, pages of them for some MPIs */
    snprintf(buf, len, "%s", text);
}
