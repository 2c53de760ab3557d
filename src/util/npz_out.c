#include "npz_out.h"

#include "npy.h"

int npz_out_open(NpzOut *o, const char *path, const char *descr, int ndim, const long long *shape, size_t elem,
                 Error *e) {
    char header[512];
    long long header_len = npy_format_header(header, sizeof header, descr, ndim, shape);
    if (header_len < 0) FATAL("npy header for %s does not fit %zu bytes", path, sizeof header);
    uint64_t data = elem;
    for (int i = 0; i < ndim; i++) data *= (uint64_t)shape[i];
    o->zip = zip_writer_open(path, 0, e);
    if (!o->zip) return -1;
    if (zip_writer_begin(o->zip, "arr_0.npy", (uint64_t)header_len + data, e) ||
        zip_writer_write(o->zip, header, (size_t)header_len, e)) {
        npz_out_abort(o);
        return -1;
    }
    return 0;
}

int npz_out_sink(void *ctx, const void *data, size_t bytes, Error *e) {
    NpzOut *o = ctx;
    return zip_writer_write(o->zip, data, bytes, e);
}

int npz_out_close(NpzOut *o, Error *e) {
    int r = zip_writer_end(o->zip, e);
    if (r) {
        npz_out_abort(o);
        return -1;
    }
    r = zip_writer_close(o->zip, e);
    o->zip = NULL;
    return r;
}

void npz_out_abort(NpzOut *o) {
    if (o->zip) zip_writer_abort(o->zip);
    o->zip = NULL;
}
