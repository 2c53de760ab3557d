/* `maskdit-convert idx`: MNIST-format IDX files (gzip-compressed or raw), e.g. Fashion-MNIST from
 * Debian's dataset-fashion-mnist. Images (magic 0x00000803: unsigned bytes [N, rows, cols]) are
 * centred on a square canvas of --resolution pixels, padded with black, and scaled to [-1, 1]:
 * kind pixels, 1 channel. Labels (magic 0x00000801: unsigned bytes [N]). */
#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "../src/util/numtext.h"
#include "convert.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u

typedef struct {
    gzFile images;
    char path[4096];
    long long rows, cols, next;   /* next: the sample the stream is positioned at */
    long long header_bytes;
    int pad_top, pad_left;
    unsigned char *pixels;
} Idx;

static const char USAGE[] =
    "usage: maskdit-convert idx --images FILE --labels FILE --out DIR [options]\n"
    "Converts MNIST-format IDX files (.gz or raw) into HDF5 shards of kind pixels (1 channel, [-1, 1]).\n"
    "  --images FILE        e.g. train-images-idx3-ubyte.gz\n"
    "  --labels FILE        e.g. train-labels-idx1-ubyte.gz\n"
    "  --resolution N       pad the images to N x N (default 32)\n";

/* After a short read: a damaged .gz stream (zlib names the file and the reason) is not a
 * truncated file. Returns -1 with the message. */
static int short_read(gzFile f, const char *path, const char *truncated, Error *e) {
    int status;
    const char *why = gzerror(f, &status);
    if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR)
        return error_set(e, "%s (damaged gzip data, not a truncated file)", why);
    return error_set(e, "%s: truncated: %s", path, truncated);
}

/* After the last byte wanted: zlib checks a .gz member's CRC-32 and length only when its end is
 * read, so read past the data once; a flipped bit would otherwise convert silently. */
static int check_gz_end(gzFile f, const char *path, Error *e) {
    unsigned char extra;
    int status;
    gzread(f, &extra, 1);
    const char *why = gzerror(f, &status);
    if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR)
        return error_set(e, "%s (damaged gzip data)", why);
    return 0;
}

/* Opens an IDX file and reads its header: magic and big-endian dimensions. */
static gzFile open_idx(const char *path, uint32_t magic, int ndims, long long *dims, Error *e) {
    gzFile f = gzopen(path, "rb");
    if (!f) {
        error_set(e, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    unsigned char h[4 + 4 * 3];
    int want = 4 + 4 * ndims, got = gzread(f, h, (unsigned)want), gz_status;
    const char *gz_why = gzerror(f, &gz_status);
    if (got < 0 || (gz_status != Z_OK && gz_status != Z_STREAM_END)) {   /* a damaged .gz: zlib's "<path>: <reason>" */
        error_set(e, "%s (not a readable IDX file)", gz_why);
        gzclose(f);
        return NULL;
    }
    uint32_t m = got >= 4 ? (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3] : 0;
    if (got >= 4 && m == magic && got != want) {
        gzclose(f);
        error_set(e, "%s: too short for an IDX header", path);
        return NULL;
    }
    if (m != magic) {
        gzclose(f);
        error_set(e, "%s: wrong magic number 0x%08x, expected 0x%08x (IDX %s of unsigned bytes)", path, m, magic,
                  ndims == 3 ? "images [N, rows, cols]" : "labels [N]");
        return NULL;
    }
    for (int d = 0; d < ndims; d++) {
        const unsigned char *p = h + 4 + 4 * d;
        dims[d] = (long long)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
    }
    return f;
}

static int idx_read(ConvertSource *src, long long first, long long n, float *x, Error *e) {
    Idx *idx = src->impl;
    long long image = idx->rows * idx->cols;
    if (first != idx->next) {
        /* gzseek only ever goes forward here: every rank reads its shards in increasing order. */
        z_off_t at = (z_off_t)(idx->header_bytes + first * image);
        if (gzseek(idx->images, at, SEEK_SET) != at)
            return error_set(e, "%s: cannot seek to image %lld (truncated file?)", idx->path, first);
    }
    size_t plane = (size_t)src->resolution * (size_t)src->resolution;
    for (long long i = 0; i < n; i++) {
        if (gzread(idx->images, idx->pixels, (unsigned)image) != (int)image) {
            char what[96];
            snprintf(what, sizeof what, "image %lld of %lld is missing", first + i, src->count);
            return short_read(idx->images, idx->path, what, e);
        }
        float *out = x + (size_t)i * plane;
        for (size_t k = 0; k < plane; k++) out[k] = -1.0f;
        for (long long r = 0; r < idx->rows; r++)
            for (long long c = 0; c < idx->cols; c++)
                out[(size_t)(r + idx->pad_top) * (size_t)src->resolution + (size_t)(c + idx->pad_left)] =
                    (float)idx->pixels[r * idx->cols + c] / 127.5f - 1.0f;
    }
    idx->next = first + n;
    return idx->next == src->count ? check_gz_end(idx->images, idx->path, e) : 0;
}

static void idx_close(ConvertSource *src) {
    Idx *idx = src->impl;
    if (idx) {
        if (idx->images) gzclose(idx->images);
        free(idx->pixels);
        free(idx);
    }
    free(src->labels);
    src->impl = NULL;
    src->labels = NULL;
}

static int read_labels(ConvertSource *src, const char *path, Error *e) {
    long long n;
    gzFile f = open_idx(path, IDX_LABELS_MAGIC, 1, &n, e);
    if (!f) return -1;
    if (n != src->count) {
        gzclose(f);
        return error_set(e, "%s: %lld labels, but the images file has %lld images", path, n, src->count);
    }
    unsigned char *bytes = xmalloc((size_t)n, "labels");
    int got = gzread(f, bytes, (unsigned)n);
    if (got != (int)n) {
        char what[96];
        snprintf(what, sizeof what, "%d of %lld labels", got < 0 ? 0 : got, n);
        short_read(f, path, what, e);
        gzclose(f);
        free(bytes);
        return -1;
    }
    int rc = check_gz_end(f, path, e);
    gzclose(f);
    if (rc < 0) {
        free(bytes);
        return -1;
    }
    src->labels = xmalloc((size_t)n * sizeof *src->labels, "labels");
    for (long long i = 0; i < n; i++) src->labels[i] = bytes[i];
    free(bytes);
    return 0;
}

static int idx_open(ConvertSource *src, const char *images, const char *labels, long long resolution, Error *e) {
    Idx *idx = xcalloc(1, sizeof *idx, "idx source");
    src->impl = idx;
    src->read = idx_read;
    xsnprintf(idx->path, sizeof idx->path, "%s", images);
    xsnprintf(src->description, sizeof src->description, "idx %s", images);
    xsnprintf(src->labels_from, sizeof src->labels_from, "idx %s", labels);
    long long dims[3];
    idx->images = open_idx(images, IDX_IMAGES_MAGIC, 3, dims, e);
    if (!idx->images) return -1;
    if (dims[0] < 1 || dims[1] < 1 || dims[2] < 1)
        return error_set(e, "%s: empty images array [%lld, %lld, %lld]", images, dims[0], dims[1], dims[2]);
    if (resolution < dims[1] || resolution < dims[2])
        return error_set(e, "%s: images are %lld x %lld, larger than --resolution %lld (images are padded, never "
                            "cropped)", images, dims[1], dims[2], resolution);
    src->count = dims[0];
    idx->rows = dims[1];
    idx->cols = dims[2];
    idx->header_bytes = 16;
    idx->pad_top = (int)((resolution - dims[1]) / 2);
    idx->pad_left = (int)((resolution - dims[2]) / 2);
    idx->pixels = xmalloc((size_t)(dims[1] * dims[2]), "image");
    src->channels = 1;
    src->resolution = (int)resolution;
    return read_labels(src, labels, e);
}

int convert_idx_command(int argc, char **argv, const Dist *dist, Error *e) {
    ConvertOptions opt;
    convert_options_default(&opt, "pixels");
    const char *images = NULL, *labels = NULL, *resolution_text = NULL;
    const ConvertArg args[] = {{"--images", &images, NULL}, {"--labels", &labels, NULL},
                               {"--resolution", &resolution_text, NULL}, {NULL, NULL, NULL}};
    int r = convert_parse_args(argc, argv, args, &opt, USAGE, e);
    if (r != 0) return r < 0 ? -1 : 0;
    if (!images || !labels) return error_set(e, "idx: give both --images and --labels (see maskdit-convert idx --help)");
    long long resolution = 32;
    if (resolution_text && parse_whole("--resolution", resolution_text, 1, 1 << 14, &resolution, e) < 0) return -1;
    opt.inputs[0] = images;
    opt.inputs[1] = labels;
    ConvertSource src = {0};
    r = idx_open(&src, images, labels, resolution, e);
    if (r == 0) r = convert_write_dataset(&src, &opt, dist, e);
    idx_close(&src);
    return r;
}
