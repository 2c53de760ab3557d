#include "image_decode.h"

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

/* Larger images are refused: 2^28 pixels is 768 MiB of RGB. */
#define MAX_PIXELS (1LL << 28)

typedef struct {
    const unsigned char *data;
    size_t len, pos;
    char message[256];
    jmp_buf jump;
} PngInput;

static void png_read_bytes(png_structp png, png_bytep out, png_size_t n) {
    PngInput *in = png_get_io_ptr(png);
    if (in->len - in->pos < n) png_error(png, "the file ends early (truncated)");
    memcpy(out, in->data + in->pos, n);
    in->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg) {
    PngInput *in = png_get_error_ptr(png);
    snprintf(in->message, sizeof in->message, "%s", msg);
    longjmp(in->jump, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static int decode_png(const unsigned char *data, size_t len, const char *name, uint8_t **rgb, int *w, int *h, Error *e) {
    PngInput in = {.data = data, .len = len};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &in, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) FATAL("libpng: out of memory");
    uint8_t *volatile out = NULL;
    png_bytep *volatile rows = NULL;
    uint16_t *volatile wide = NULL;
    if (setjmp(in.jump)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(out);
        free(rows);
        free(wide);
        return error_set(e, "%s: damaged PNG: %s", name, in.message);
    }
    png_set_read_fn(png, &in, png_read_bytes);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if ((long long)width * height > MAX_PIXELS) png_error(png, "image too large");
    /* Pillow's mode I: 16-bit grayscale without alpha is clipped to 255, not scaled */
    int gray16 = color == PNG_COLOR_TYPE_GRAY && depth == 16;
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !gray16) png_set_strip_16(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    int channels = png_get_channels(png, info);
    unsigned char *pixels = malloc(rowbytes * height);
    rows = malloc(height * sizeof *rows);
    if (!pixels || !rows) FATAL("out of memory for a %ux%u image", (unsigned)width, (unsigned)height);
    wide = (uint16_t *)pixels;
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    out = xmalloc((size_t)width * height * 3, "image");
    for (size_t p = 0; p < (size_t)width * height; p++) {
        for (int c = 0; c < 3; c++) {
            if (gray16) {
                unsigned v = (unsigned)pixels[2 * p] << 8 | pixels[2 * p + 1];   /* big-endian */
                out[3 * p + c] = (uint8_t)(v > 255 ? 255 : v);
            } else {
                out[3 * p + c] = pixels[p * (size_t)channels + (channels >= 3 ? (size_t)c : 0)];
            }
        }
    }
    free(pixels);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *rgb = out;
    *w = (int)width;
    *h = (int)height;
    return 0;
}

typedef struct {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} JpegErrors;

static void jpeg_on_error(j_common_ptr cinfo) {
    JpegErrors *err = (JpegErrors *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
}

/* libjpeg's warnings include a truncated file (it pads with an EOI): Pillow refuses those too. */
static void jpeg_on_warning(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(cinfo);
}

/* Pillow's cmyk2rgb on the un-inverted values. */
static uint8_t cmyk_channel(int c, int nk) {
    int t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int decode_jpeg(const unsigned char *data, size_t len, const char *name, uint8_t **rgb, int *w, int *h, Error *e) {
    struct jpeg_decompress_struct cinfo;
    JpegErrors err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_on_error;
    err.mgr.emit_message = jpeg_on_warning;
    uint8_t *volatile out = NULL;
    JSAMPLE *volatile row = NULL;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(out);
        free(row);
        return error_set(e, "%s: damaged JPEG: %s", name, err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    int adobe_inverted = cmyk && cinfo.saw_Adobe_marker;
    cinfo.out_color_space = cmyk ? JCS_CMYK : cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if ((long long)cinfo.output_width * cinfo.output_height > MAX_PIXELS) {
        snprintf(err.message, sizeof err.message, "image too large");
        longjmp(err.jump, 1);
    }
    int n = cinfo.output_components;
    out = xmalloc((size_t)cinfo.output_width * cinfo.output_height * 3, "image");
    row = xmalloc((size_t)cinfo.output_width * (size_t)n, "image row");
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *o = out + (size_t)cinfo.output_scanline * cinfo.output_width * 3;
        JSAMPLE *rp = row;
        jpeg_read_scanlines(&cinfo, &rp, 1);
        for (JDIMENSION x = 0; x < cinfo.output_width; x++) {
            const JSAMPLE *p = row + (size_t)x * (size_t)n;
            if (cmyk) {
                int k = adobe_inverted ? 255 - p[3] : p[3];
                int nk = 255 - k;
                for (int c = 0; c < 3; c++) o[3 * x + (size_t)c] = cmyk_channel(adobe_inverted ? 255 - p[c] : p[c], nk);
            } else {
                for (int c = 0; c < 3; c++) o[3 * x + (size_t)c] = p[n == 1 ? 0 : c];
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    *w = (int)cinfo.output_width;
    *h = (int)cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    free(row);
    *rgb = out;
    return 0;
}

int image_decode_rgb(const unsigned char *data, size_t len, const char *name, uint8_t **rgb, int *w, int *h, Error *e) {
    static const unsigned char PNG_SIGNATURE[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    *rgb = NULL;
    if (len == 0) return error_set(e, "%s: empty file (0 bytes), not an image", name);
    if (len >= 8 && !memcmp(data, PNG_SIGNATURE, 8)) return decode_png(data, len, name, rgb, w, h, e);
    if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return decode_jpeg(data, len, name, rgb, w, h, e);
    return error_set(e, "%s: not a PNG or JPEG image (the format is told by the bytes, not the name; other formats "
                        "are not supported)", name);
}
