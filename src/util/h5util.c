#include "h5util.h"

#include <stdlib.h>
#include <string.h>

#include "fileio.h"

void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static herr_t find_lock_error(unsigned n, const H5E_error2_t *err, void *found) {
    if (err->min_num == H5E_CANTLOCKFILE) *(int *)found = 1;
    return 0;
}

hid_t h5_open_read(const char *path, Error *e) {
    h5_quiet();
    if (file_check_readable(path, e) < 0) return H5_UNREADABLE;
    if (H5Fis_hdf5(path) <= 0) return error_set(e, "%s: not an HDF5 file (or truncated/damaged)", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) return f;
    int lock = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_lock_error, &lock);
    if (lock) {
        error_set(e, "%s: HDF5 cannot lock the file (another process is writing it, or this file system has no "
                     "locks: then set HDF5_USE_FILE_LOCKING=FALSE)", path);
        return H5_UNREADABLE;
    }
    return error_set(e, "%s: HDF5 cannot open the file (truncated or damaged)", path);
}

int h5_exists(hid_t loc, const char *path) {
    /* H5Lexists fails on a missing intermediate group, so walk the path one link at a time. */
    char buf[1024];
    if (strlen(path) >= sizeof buf) return 0;
    strcpy(buf, path);
    for (char *p = buf + (buf[0] == '/'); ; p++) {
        char c = *p;
        if (c == '/' || c == 0) {
            *p = 0;
            if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
            if (c == 0) return 1;
            *p = '/';
        }
    }
}

int h5_dataset_shape(hid_t file, const char *file_name, const char *dset, hsize_t dims[H5_MAX_DIMS], Error *e) {
    if (!h5_exists(file, dset)) return error_set(e, "%s: dataset %s is missing", file_name, dset);
    hid_t d = H5Dopen2(file, dset, H5P_DEFAULT);
    if (d < 0) return error_set(e, "%s: cannot open dataset %s", file_name, dset);
    hid_t s = H5Dget_space(d);
    int rank = s < 0 ? -1 : H5Sget_simple_extent_ndims(s);
    if (rank > H5_MAX_DIMS) rank = -1;
    if (rank >= 0) H5Sget_simple_extent_dims(s, dims, NULL);
    if (s >= 0) H5Sclose(s);
    H5Dclose(d);
    if (rank < 0) return error_set(e, "%s: cannot read the shape of dataset %s", file_name, dset);
    return rank;
}

static size_t count_of(const hsize_t *dims, int rank) {
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    return n;
}

int h5_read_into(hid_t file, const char *file_name, const char *dset, hid_t mem_type, void *buf, size_t n,
                 Error *e) {
    hsize_t dims[H5_MAX_DIMS];
    int rank = h5_dataset_shape(file, file_name, dset, dims, e);
    if (rank < 0) return -1;
    size_t have = count_of(dims, rank);
    if (have != n)
        return error_set(e, "%s: dataset %s has %zu elements, expected %zu", file_name, dset, have, n);
    hid_t d = H5Dopen2(file, dset, H5P_DEFAULT);
    if (d < 0) return error_set(e, "%s: cannot open dataset %s", file_name, dset);
    herr_t r = H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    if (r < 0) return error_set(e, "%s: cannot read dataset %s (damaged file or incompatible type)", file_name, dset);
    return 0;
}

int h5_read_rows(hid_t file, const char *file_name, const char *dset, long long first, long long n, size_t row_elems,
                 float *out, Error *e) {
    hid_t d = H5Dopen2(file, dset, H5P_DEFAULT);
    if (d < 0) return error_set(e, "%s: cannot open dataset %s", file_name, dset);
    hid_t fspace = H5Dget_space(d);
    hsize_t dims[H5_MAX_DIMS], start[H5_MAX_DIMS] = {0};
    const int rank = H5Sget_simple_extent_dims(fspace, dims, NULL);
    herr_t r = -1;
    if (rank >= 1 && rank <= H5_MAX_DIMS && first >= 0 && first + n <= (long long)dims[0] &&
        count_of(dims + 1, rank - 1) == row_elems) {
        start[0] = (hsize_t)first;
        dims[0] = (hsize_t)n;
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, dims, NULL);
        hid_t mspace = H5Screate_simple(rank, dims, NULL);
        r = H5Dread(d, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, out);
        H5Sclose(mspace);
    }
    H5Sclose(fspace);
    H5Dclose(d);
    if (r < 0)
        return error_set(e, "%s: cannot read rows %lld..%lld of dataset %s (damaged file or incompatible type)",
                         file_name, first, first + n - 1, dset);
    return 0;
}

int h5_read_all(hid_t file, const char *file_name, const char *dset, hid_t mem_type, size_t elem_size,
                long long expect_n, void **out, size_t *n_out, Error *e) {
    hsize_t dims[H5_MAX_DIMS];
    int rank = h5_dataset_shape(file, file_name, dset, dims, e);
    if (rank < 0) return -1;
    size_t n = count_of(dims, rank);
    if (expect_n >= 0 && n != (size_t)expect_n)
        return error_set(e, "%s: dataset %s has %zu elements, expected %lld", file_name, dset, n, expect_n);
    void *buf = xmalloc(n * elem_size, dset);
    if (h5_read_into(file, file_name, dset, mem_type, buf, n, e) < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    if (n_out) *n_out = n;
    return 0;
}

static hid_t open_attr(hid_t file, const char *file_name, const char *obj, const char *attr, Error *e) {
    if (strcmp(obj, "/") && !h5_exists(file, obj)) return error_set(e, "%s: object %s is missing", file_name, obj);
    if (H5Aexists_by_name(file, obj, attr, H5P_DEFAULT) <= 0)
        return error_set(e, "%s: attribute %s of %s is missing", file_name, attr, obj);
    hid_t a = H5Aopen_by_name(file, obj, attr, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return error_set(e, "%s: cannot open attribute %s of %s", file_name, attr, obj);
    return a;
}

static int read_attr_number(hid_t file, const char *file_name, const char *obj, const char *attr, hid_t type,
                            void *out, Error *e) {
    hid_t a = open_attr(file, file_name, obj, attr, e);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int numeric = t >= 0 && (H5Tget_class(t) == H5T_INTEGER || H5Tget_class(t) == H5T_FLOAT);
    hid_t s = H5Aget_space(a);
    hssize_t n = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    herr_t r = numeric && n == 1 ? H5Aread(a, type, out) : -1;
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    if (r < 0) return error_set(e, "%s: attribute %s of %s is not a single number", file_name, attr, obj);
    return 0;
}

int h5_attr_double(hid_t file, const char *file_name, const char *obj, const char *attr, double *out, Error *e) {
    return read_attr_number(file, file_name, obj, attr, H5T_NATIVE_DOUBLE, out, e);
}

int h5_attr_int64(hid_t file, const char *file_name, const char *obj, const char *attr, long long *out, Error *e) {
    return read_attr_number(file, file_name, obj, attr, H5T_NATIVE_LLONG, out, e);
}

int h5_attr_string(hid_t file, const char *file_name, const char *obj, const char *attr, char **out, Error *e) {
    hid_t a = open_attr(file, file_name, obj, attr, e);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int ok = t >= 0 && H5Tget_class(t) == H5T_STRING;
    char *s = NULL;
    if (ok && H5Tis_variable_str(t) > 0) {
        char *vs = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        /* same character set as stored: HDF5 converts neither way between ASCII and UTF-8 (h5py
         * writes UTF-8) */
        ok = mt >= 0 && H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Tset_cset(mt, H5Tget_cset(t)) >= 0 &&
             H5Aread(a, mt, &vs) >= 0 && vs;
        if (ok) s = xstrdup(vs);
        if (vs) H5free_memory(vs);
        if (mt >= 0) H5Tclose(mt);
    } else if (ok) {
        size_t len = H5Tget_size(t);
        s = xmalloc(len + 1, attr);
        ok = H5Aread(a, t, s) >= 0;
        s[len] = 0;
    }
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    if (!ok) {
        free(s);
        return error_set(e, "%s: attribute %s of %s is not a string", file_name, attr, obj);
    }
    *out = s;
    return 0;
}

static int replace_attr(hid_t loc, const char *attr, hid_t file_type, hid_t mem_type, hid_t space, const void *value) {
    if (H5Aexists(loc, attr) > 0 && H5Adelete(loc, attr) < 0) return -1;
    hid_t a = H5Acreate2(loc, attr, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return -1;
    herr_t r = H5Awrite(a, mem_type, value);
    H5Aclose(a);
    return r < 0 ? -1 : 0;
}

int h5_write_attr_string(hid_t loc, const char *attr, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) ? strlen(value) : 1);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hid_t s = H5Screate(H5S_SCALAR);
    int r = replace_attr(loc, attr, t, t, s, strlen(value) ? value : "");
    H5Sclose(s);
    H5Tclose(t);
    return r;
}

static int write_attr_scalar(hid_t loc, const char *attr, hid_t file_type, hid_t mem_type, const void *v) {
    hsize_t one = 1;
    hid_t s = H5Screate_simple(1, &one, NULL);
    int r = replace_attr(loc, attr, file_type, mem_type, s, v);
    H5Sclose(s);
    return r;
}

int h5_write_attr_double(hid_t loc, const char *attr, double value) {
    return write_attr_scalar(loc, attr, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

int h5_write_attr_int64(hid_t loc, const char *attr, long long value) {
    return write_attr_scalar(loc, attr, H5T_STD_I64LE, H5T_NATIVE_LLONG, &value);
}

hid_t h5_make_groups(hid_t loc, const char *path) {
    char buf[1024];
    if (strlen(path) >= sizeof buf) return -1;
    strcpy(buf, path);
    hid_t g = H5Gopen2(loc, ".", H5P_DEFAULT);
    char *save = NULL;
    for (char *tok = strtok_r(buf, "/", &save); tok && g >= 0; tok = strtok_r(NULL, "/", &save)) {
        hid_t next = H5Lexists(g, tok, H5P_DEFAULT) > 0 ? H5Gopen2(g, tok, H5P_DEFAULT)
                                                         : H5Gcreate2(g, tok, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Gclose(g);
        g = next;
    }
    return g;
}
