/* `maskdit-convert npy`: NumPy arrays as written by numpy.save: the data [N, C, H, W] (any float or
 * integer dtype; moments, latents or pixels) and optionally the labels [N] (integer). The data is
 * streamed from its file offset; only the labels are held in memory. */
#include <string.h>

#include "../src/util/npy.h"
#include "convert.h"
#include "numpy_source.h"

static const char USAGE[] =
    "usage: maskdit-convert npy --data X.npy [--labels Y.npy] --kind KIND --out DIR [options]\n"
    "Converts NumPy arrays (numpy.save) into HDF5 shards.\n"
    "  --data FILE          array [N, C, H, W] with H == W (float16/32/64 or integers)\n"
    "  --labels FILE        class indices [N] (integers); without it the data is unlabelled\n"
    "  --kind KIND          moments (VAE mean and logvar in 2C channels), latents, or pixels in [-1, 1]\n";

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

static int npy_file_open(NumpyArray *a, const char *path, Error *e) {
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

int convert_npy_command(int argc, char **argv, MPI_Comm comm, Error *e) {
    ConvertOptions opt;
    convert_options_default(&opt, "");
    const char *data = NULL, *labels = NULL, *kind = NULL;
    const ConvertArg args[] = {{"--data", &data, NULL}, {"--labels", &labels, NULL}, {"--kind", &kind, NULL},
                               {NULL, NULL, NULL}};
    int r = convert_parse_args(argc, argv, args, &opt, USAGE, e);
    if (r != 0) return r < 0 ? -1 : 0;
    if (!data) return error_set(e, "npy: no --data array given (see maskdit-convert npy --help)");
    NumpyArray arrays[2];
    memset(arrays, 0, sizeof arrays);
    r = npy_file_open(&arrays[0], data, e);
    if (r == 0 && labels) r = npy_file_open(&arrays[1], labels, e);
    if (r == 0) r = numpy_convert(&arrays[0], labels ? &arrays[1] : NULL, kind, &opt, comm, e);
    for (int i = 0; i < 2; i++)
        if (arrays[i].close) arrays[i].close(&arrays[i]);
    return r;
}
