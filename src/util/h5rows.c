#include "h5rows.h"

#include <errno.h>
#include <string.h>

#include "fileio.h"
#include "h5util.h"

/* Dataset creation properties without modification times. */
static hid_t untimed_dcpl(void) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0 || H5Pset_obj_track_times(dcpl, 0) < 0) FATAL("HDF5 dataset creation properties");
    return dcpl;
}

int h5rows_create(H5Rows *f, const char *path, const char *name, long long count, const int row_dims[3], Error *e) {
    memset(f, 0, sizeof *f);
    f->file = f->data = H5I_INVALID_HID;
    f->path = xstrdup(path);
    f->tmp = xmalloc(strlen(path) + 8, "temporary file name");
    tmp_name(path, f->tmp, strlen(path) + 8);
    f->count = count;
    f->row_bytes = (size_t)row_dims[0] * row_dims[1] * row_dims[2] * sizeof(float);
    h5_quiet();
    f->file = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f->file < 0) {
        error_set(e, "%s: cannot create (%s)", f->tmp, strerror(errno));
        h5rows_abort(f);
        return -1;
    }
    hsize_t dims[4] = {(hsize_t)count, (hsize_t)row_dims[0], (hsize_t)row_dims[1], (hsize_t)row_dims[2]};
    long long per_chunk = (long long)((1 << 20) / f->row_bytes);
    hsize_t chunk[4] = {(hsize_t)MAX(1, MIN(count, per_chunk)), dims[1], dims[2], dims[3]};
    hid_t space = H5Screate_simple(4, dims, NULL), dcpl = untimed_dcpl();
    if (count > 0) H5Pset_chunk(dcpl, 4, chunk);
    f->data = H5Dcreate2(f->file, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (f->data < 0) {
        error_set(e, "%s: cannot create dataset %s (disk full?)", f->tmp, name);
        h5rows_abort(f);
        return -1;
    }
    return 0;
}

int h5rows_write_ints(H5Rows *f, const char *name, const long long *v, long long n, Error *e) {
    hsize_t dim = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &dim, NULL), dcpl = untimed_dcpl();
    hid_t d = H5Dcreate2(f->file, name, H5T_STD_I64LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    int r = d < 0 || (n > 0 && H5Dwrite(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) ? -1 : 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    return r ? error_set(e, "%s: cannot write dataset %s (disk full?)", f->tmp, name) : 0;
}

int h5rows_sink(void *ctx, const void *data, size_t bytes, Error *e) {
    H5Rows *f = ctx;
    long long rows = (long long)(bytes / f->row_bytes);
    if (bytes % f->row_bytes || f->rows_written + rows > f->count)
        FATAL("%s: %zu bytes do not fit the remaining rows", f->tmp, bytes);
    hid_t fspace = H5Dget_space(f->data);
    hsize_t start[4] = {(hsize_t)f->rows_written, 0, 0, 0}, count[4];
    H5Sget_simple_extent_dims(fspace, count, NULL);
    count[0] = (hsize_t)rows;
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t mspace = H5Screate_simple(4, count, NULL);
    herr_t r = H5Dwrite(f->data, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, data);
    H5Sclose(mspace);
    H5Sclose(fspace);
    if (r < 0) return error_set(e, "%s: cannot write rows %lld.. (disk full?)", f->tmp, f->rows_written);
    f->rows_written += rows;
    return 0;
}

static void release(H5Rows *f) {
    free(f->path);
    free(f->tmp);
    f->path = f->tmp = NULL;
}

int h5rows_close(H5Rows *f, Error *e) {
    if (f->rows_written != f->count) FATAL("%s: %lld of %lld rows written", f->tmp, f->rows_written, f->count);
    int bad = H5Dclose(f->data) < 0;
    bad |= H5Fclose(f->file) < 0;
    f->data = f->file = H5I_INVALID_HID;
    int r = 0;
    if (tmp_finish(f->tmp, f->path, !bad) < 0)
        r = error_set(e, "%s: cannot complete the file (%s)", f->path, bad ? "HDF5 close failed" : strerror(errno));
    release(f);
    return r;
}

void h5rows_abort(H5Rows *f) {
    if (f->data >= 0) H5Dclose(f->data);
    if (f->file >= 0) H5Fclose(f->file);
    f->data = f->file = H5I_INVALID_HID;
    if (f->tmp) remove(f->tmp);
    release(f);
}
