/* .npz statistics files (fid_stats_file.h), through the project's zip reader/writer and .npy headers. */
#include <string.h>

#include "../util/npy.h"
#include "../util/zip.h"
#include "fid_stats_file.h"

/* Array key of the archive as n doubles with the given shape (ndim 1: [d], 2: [d, d]); *d is
 * taken from the first array read (0) and checked against the next. */
static double *read_array(const ZipReader *z, const char *path, const char *key, int ndim, int *d, Error *e) {
    char entry[256];
    snprintf(entry, sizeof entry, "%s.npy", key);
    const ZipEntry *en = zip_find(z, entry);
    if (!en) {
        error_set(e, "%s: no array %s (expected FID statistics: mu [d] and sigma [d, d])", path, key);
        return NULL;
    }
    void *data = NULL;
    size_t len = 0;
    NpyHeader h;
    char name[512];
    snprintf(name, sizeof name, "%s:%s", path, entry);
    if (zip_read(z, en, &data, &len, e) < 0 || npy_parse_header(data, len, name, &h, e) < 0) {
        free(data);
        return NULL;
    }
    const int want_d = *d ? *d : (int)h.shape[0];
    const int ok_shape = h.ndim == ndim && h.shape[0] == want_d && (ndim == 1 || h.shape[1] == want_d) && want_d > 0;
    const int f8 = strcmp(h.descr, "<f8") == 0, f4 = strcmp(h.descr, "<f4") == 0;
    if (!ok_shape || !(f8 || f4)) {
        char found[160] = "(";
        for (int i = 0; i < h.ndim; i++)
            snprintf(found + strlen(found), sizeof found - strlen(found), "%s%lld", i ? ", " : "", h.shape[i]);
        snprintf(found + strlen(found), sizeof found - strlen(found), ")");
        error_set(e, "%s: expected a float64 or float32 array of shape %s with d = %d, found %s %s", name,
                  ndim == 1 ? "(d,)" : "(d, d)", want_d, h.descr, found);
        free(data);
        return NULL;
    }
    const size_t n = (size_t)npy_count(&h);
    double *out = xmalloc(n * sizeof *out, "FID statistics");
    const char *src = (const char *)data + h.header_bytes;
    for (size_t i = 0; i < n; i++) {
        if (f8) {
            memcpy(&out[i], src + i * 8, 8);
        } else {
            float f;
            memcpy(&f, src + i * 4, 4);
            out[i] = f;
        }
    }
    free(data);
    *d = want_d;
    return out;
}

int fid_stats_read(const char *path, const char *mu_key, const char *sigma_key, FidStats *out, Error *e) {
    ZipReader *z = zip_open(path, e);
    if (!z) return -1;
    int d = 0;
    out->mu = read_array(z, path, mu_key, 1, &d, e);
    out->sigma = out->mu ? read_array(z, path, sigma_key, 2, &d, e) : NULL;
    zip_close(z);
    out->dim = d;
    if (!out->sigma) {
        fid_stats_free(out);
        return -1;
    }
    return 0;
}

static int add_array(ZipWriter *w, const char *key, const double *x, int ndim, int d, Error *e) {
    const long long shape[2] = {d, d};
    char header[256], entry[64];
    const long long header_len = npy_format_header(header, sizeof header, "<f8", ndim, shape);
    const size_t bytes = (ndim == 1 ? (size_t)d : (size_t)d * d) * sizeof *x;
    snprintf(entry, sizeof entry, "%s.npy", key);
    if (header_len < 0) return error_set(e, "npy header of %s does not fit", key);
    if (zip_writer_begin(w, entry, (uint64_t)header_len + bytes, e) < 0 ||
        zip_writer_write(w, header, (size_t)header_len, e) < 0 || zip_writer_write(w, x, bytes, e) < 0 ||
        zip_writer_end(w, e) < 0)
        return -1;
    return 0;
}

int fid_stats_write(const char *path, const FidStats *pool, const FidStats *spatial, Error *e) {
    ZipWriter *w = zip_writer_open(path, 0, e);
    if (!w) return -1;
    int rc = add_array(w, "mu", pool->mu, 1, pool->dim, e);
    if (rc == 0) rc = add_array(w, "sigma", pool->sigma, 2, pool->dim, e);
    if (rc == 0 && spatial) rc = add_array(w, "mu_s", spatial->mu, 1, spatial->dim, e);
    if (rc == 0 && spatial) rc = add_array(w, "sigma_s", spatial->sigma, 2, spatial->dim, e);
    if (rc < 0) {
        zip_writer_abort(w);
        return error_prefix(e, "writing %s", path);
    }
    return zip_writer_close(w, e);
}
