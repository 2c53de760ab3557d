/* Small HDF5 helpers shared by the golden checker, checkpoints, datasets and tools. Every function
 * that reads user files reports problems through Error, naming the file and the object. HDF5's own
 * error stack printing is turned off by h5_quiet(); our messages replace it. */
#ifndef MASKDIT_H5UTIL_H
#define MASKDIT_H5UTIL_H

#include <hdf5.h>

#include "common.h"

#define H5_MAX_DIMS 8

/* Silence HDF5's automatic error-stack printing (call once at start-up). */
void h5_quiet(void);

/* Open an existing file read-only (serial). Returns < 0 with a message naming the path:
 * H5_UNREADABLE when the file cannot be read now for a reason other than its content (permissions,
 * an I/O error, a lock another process holds: file_check_readable, or HDF5's own lock), -1 when its
 * content is not a readable HDF5 file (truncated, damaged, something else). */
#define H5_UNREADABLE (-2)
hid_t h5_open_read(const char *path, Error *e);

/* Shape of a dataset; returns its rank, or -1 with a message naming file and dataset. */
int h5_dataset_shape(hid_t file, const char *file_name, const char *dset, hsize_t dims[H5_MAX_DIMS], Error *e);
int h5_exists(hid_t loc, const char *path);

/* Read a whole dataset converting to the memory type (H5T_NATIVE_FLOAT, H5T_NATIVE_DOUBLE,
 * H5T_NATIVE_INT64, ...). If expect_n >= 0, the element count must equal it. The buffer is
 * allocated and returned in *out; *n_out (optional) receives the element count. */
int h5_read_all(hid_t file, const char *file_name, const char *dset, hid_t mem_type, size_t elem_size,
                long long expect_n, void **out, size_t *n_out, Error *e);

/* Read a whole dataset into a caller buffer of exactly n elements of mem_type. */
int h5_read_into(hid_t file, const char *file_name, const char *dset, hid_t mem_type, void *buf, size_t n,
                 Error *e);

/* Rows [first, first + n) of dataset dset (rows along its first axis, row_elems values each) into
 * out, converted to float32. */
int h5_read_rows(hid_t file, const char *file_name, const char *dset, long long first, long long n, size_t row_elems,
                 float *out, Error *e);

/* Numeric and string attributes of an object (path "/" for the root, "/config", ...). */
int h5_attr_double(hid_t file, const char *file_name, const char *obj, const char *attr, double *out, Error *e);
int h5_attr_int64(hid_t file, const char *file_name, const char *obj, const char *attr, long long *out, Error *e);
/* Fixed- or variable-length string attribute; returns a malloc'ed, NUL-terminated copy. */
int h5_attr_string(hid_t file, const char *file_name, const char *obj, const char *attr, char **out, Error *e);

/* Writers (serial or collective: they use whatever file access the file was opened with).
 * Attribute writers replace an existing attribute of the same name. */
int h5_write_attr_string(hid_t loc, const char *attr, const char *value);
int h5_write_attr_double(hid_t loc, const char *attr, double value);
int h5_write_attr_int64(hid_t loc, const char *attr, long long value);

/* Create the groups along path ("a/b/c"), like mkdir -p. Returns the innermost group (close it). */
hid_t h5_make_groups(hid_t loc, const char *path);

#endif
