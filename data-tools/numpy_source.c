#include "numpy_source.h"

#include <string.h>

/* Bytes read from the array per conversion of its elements. */
#define NUMPY_READ_BYTES (4 << 20)

typedef struct {
    FILE *f;
    long long data_start;
} NpyFile;

static int npy_file_read(NumpyArray *a, long long offset, size_t bytes, void *buf, Error *e) {
    NpyFile *nf = a->impl;
    if (fseeko(nf->f, (off_t)(nf->data_start + offset), SEEK_SET) != 0 || fread(buf, 1, bytes, nf->f) != bytes)
        return error_set(e, "%s: truncated: the array data ends before its shape says", a->name);
    return 0;
}

static void npy_file_close(NumpyArray *a) {
    NpyFile *nf = a->impl;
    if (nf && nf->f) fclose(nf->f);
    free(nf);
    a->impl = NULL;
}

int numpy_open_file(NumpyArray *a, const char *path, Error *e) {
    memset(a, 0, sizeof *a);
    xsnprintf(a->name, sizeof a->name, "%s", path);
    NpyFile *nf = xcalloc(1, sizeof *nf, "npy file");
    a->impl = nf;
    a->read = npy_file_read;
    a->close = npy_file_close;
    nf->f = fopen(path, "rb");
    if (!nf->f) return error_set(e, "%s: cannot open", path);
    if (npy_read_header(nf->f, path, &a->header, e) < 0) return -1;
    nf->data_start = a->header.header_bytes;
    return 0;
}

static int numpy_read(ConvertSource *src, long long first, long long n, float *x, Error *e) {
    NumpyArray *a = src->impl;
    size_t per_sample = (size_t)src->channels * (size_t)src->resolution * (size_t)src->resolution;
    size_t elem = (size_t)a->header.elem_size, total = (size_t)n * per_sample, step = NUMPY_READ_BYTES / elem;
    unsigned char *buf = xmalloc(MIN(total, step) * elem, "array block");
    int r = 0;
    for (size_t done = 0; r == 0 && done < total; done += step) {
        size_t k = MIN(step, total - done);
        r = a->read(a, (long long)(((size_t)first * per_sample + done) * elem), k * elem, buf, e);
        if (r == 0) npy_to_float(&a->header, buf, k, x + done);
    }
    free(buf);
    return r;
}

static int load_labels(ConvertSource *src, NumpyArray *labels, Error *e) {
    const NpyHeader *h = &labels->header;
    if (h->ndim != 1 || h->shape[0] != src->count)
        return error_set(e, "%s: labels must have shape (%lld,) (one per sample of the data)", labels->name, src->count);
    if (h->kind == 'f')
        return error_set(e, "%s: labels have the float dtype '%s', expected integers", labels->name, h->descr);
    void *raw = xmalloc((size_t)src->count * (size_t)h->elem_size, "labels");
    int64_t *wide = xmalloc((size_t)src->count * sizeof *wide, "labels");
    int r = labels->read(labels, 0, (size_t)src->count * (size_t)h->elem_size, raw, e);
    if (r == 0) npy_to_int64(h, raw, (size_t)src->count, wide);
    for (long long i = 0; r == 0 && i < src->count; i++) {
        if (wide[i] < 0 || wide[i] > 0x7fffffff)
            r = error_set(e, "%s: label %lld of sample %lld is not a class index >= 0", labels->name, (long long)wide[i], i);
        else
            src->labels[i] = (int32_t)wide[i];
    }
    free(raw);
    free(wide);
    return r;
}

int numpy_convert(NumpyArray *data, NumpyArray *labels, const char *kind, ConvertOptions *opt, const Dist *dist, Error *e) {
    if (!kind) return error_set(e, "say what the array holds with --kind moments, latents or pixels");
    snprintf(opt->kind, sizeof opt->kind, "%s", kind);
    const NpyHeader *h = &data->header;
    if (h->ndim != 4 || h->shape[2] != h->shape[3] || h->shape[0] < 1 || h->shape[1] < 1 || h->shape[2] < 1) {
        char shape[160] = "";
        for (int i = 0; i < h->ndim; i++)
            text_append(shape, sizeof shape, "%s%lld%s", i ? ", " : "", h->shape[i], h->ndim == 1 ? "," : "");
        return error_set(e, "%s: array has shape (%s), expected (N, C, H, W) with H == W", data->name, shape);
    }
    if (h->kind == 'b') return error_set(e, "%s: a bool array is not image data", data->name);
    ConvertSource src = {0};
    xsnprintf(src.description, sizeof src.description, "%s", data->name);
    xsnprintf(src.labels_from, sizeof src.labels_from, "%s", labels ? labels->name : data->name);
    src.count = h->shape[0];
    src.channels = (int)h->shape[1];
    src.resolution = (int)h->shape[2];
    src.read = numpy_read;
    src.impl = data;
    src.labels = xcalloc((size_t)src.count, sizeof *src.labels, "labels");
    int r = labels ? load_labels(&src, labels, e) : 0;
    if (!labels && opt->num_classes < 0) opt->num_classes = 0;
    if (r == 0) r = convert_write_dataset(&src, opt, dist, e);
    free(src.labels);
    return r;
}
