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

int convert_npy_command(int argc, char **argv, const Dist *dist, Error *e) {
    ConvertOptions opt;
    convert_options_default(&opt, "");
    const char *data = NULL, *labels = NULL, *kind = NULL;
    const ConvertArg args[] = {{"--data", &data, NULL}, {"--labels", &labels, NULL}, {"--kind", &kind, NULL},
                               {NULL, NULL, NULL}};
    int r = convert_parse_args(argc, argv, args, &opt, USAGE, e);
    if (r != 0) return r < 0 ? -1 : 0;
    if (!data) return error_set(e, "npy: no --data array given (see maskdit-convert npy --help)");
    opt.inputs[0] = data;
    opt.inputs[1] = labels;
    NumpyArray arrays[2];
    memset(arrays, 0, sizeof arrays);
    r = numpy_open_file(&arrays[0], data, e);
    if (r == 0 && labels) r = numpy_open_file(&arrays[1], labels, e);
    if (r == 0) r = numpy_convert(&arrays[0], labels ? &arrays[1] : NULL, kind, &opt, dist, e);
    for (int i = 0; i < 2; i++)
        if (arrays[i].close) arrays[i].close(&arrays[i]);
    return r;
}
