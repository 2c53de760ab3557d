/* ADM sample batches (image_npz.h): the header of arr_0.npy parsed from the start of the entry,
 * then images by byte range (the entry must be stored, as numpy.savez writes it, not deflated). */
#include <string.h>

#include "../util/npy.h"
#include "image_npz.h"

#define HEADER_PEEK 4096

int image_npz_open(ImageNpz *in, const char *path, Error *e) {
    memset(in, 0, sizeof *in);
    in->zip = zip_open(path, e);
    if (!in->zip) return -1;
    in->entry = zip_find(in->zip, "arr_0.npy");
    if (!in->entry) {
        image_npz_close(in);
        return error_set(e, "%s: no array arr_0 (expected images, uint8 [N, H, W, 3], as ADM's sample batches)", path);
    }
    if (in->entry->method != ZIP_STORED) {
        image_npz_close(in);
        return error_set(e, "%s: arr_0 is compressed (numpy.savez_compressed); write it with numpy.savez", path);
    }
    char head[HEADER_PEEK], name[4200];
    const size_t peek = in->entry->size < HEADER_PEEK ? (size_t)in->entry->size : HEADER_PEEK;
    NpyHeader h;
    snprintf(name, sizeof name, "%s:arr_0.npy", path);
    if (zip_read_range(in->zip, in->entry, 0, head, peek, e) < 0 || npy_parse_header(head, peek, name, &h, e) < 0) {
        image_npz_close(in);
        return -1;
    }
    const int channels = h.ndim == 3 ? 1 : h.ndim == 4 ? (int)h.shape[3] : 0;
    if (h.kind != 'u' || h.elem_size != 1 || (channels != 1 && channels != 3) || h.shape[0] < 1 || h.shape[1] < 1 ||
        h.shape[2] < 1) {
        image_npz_close(in);
        return error_set(e, "%s: expected uint8 images [N, H, W, 3] (or grayscale [N, H, W]), found %s with %d "
                         "dimension(s)", name, h.descr, h.ndim);
    }
    in->channels = channels;
    in->count = h.shape[0];
    in->H = (int)h.shape[1];
    in->W = (int)h.shape[2];
    in->data_offset = (uint64_t)h.header_bytes;
    return 0;
}

int image_npz_read(const ImageNpz *in, long long first, long long n, uint8_t *out, Error *e) {
    const uint64_t pixels = (uint64_t)n * in->H * in->W, image = (uint64_t)in->H * in->W * in->channels;
    if (zip_read_range(in->zip, in->entry, in->data_offset + (uint64_t)first * image, out, (size_t)(n * image), e) < 0)
        return -1;
    if (in->channels == 1) /* spread in place, from the end so that nothing is overwritten before it is read */
        for (uint64_t p = pixels; p-- > 0;) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = out[p];
    return 0;
}

void image_npz_close(ImageNpz *in) {
    if (in->zip) zip_close(in->zip);
    in->zip = NULL;
}
