/* Versions of the communication libraries in use, for the start record of a training run. */
#ifndef MASKDIT_LIBRARY_VERSIONS_H
#define MASKDIT_LIBRARY_VERSIONS_H

#include <stddef.h>

/* The first line of MPI_Get_library_version ("Open MPI v4.1.4, package: ..."). */
void dist_mpi_version(char *buf, size_t len);
/* NCCL's version ("2.21.5"), or "" in a build without NCCL. */
void dist_nccl_version(char *buf, size_t len);

#endif
