#include "png.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "fileio.h"

static void put_u32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One chunk: length, type, data, CRC-32 of type and data. */
static int write_chunk(FILE *f, const char type[4], const uint8_t *data, size_t len) {
    uint8_t head[8];
    put_u32be(head, (uint32_t)len);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (len) crc = crc32(crc, data, (uInt)len);
    uint8_t tail[4];
    put_u32be(tail, (uint32_t)crc);
    return fwrite(head, 1, 8, f) == 8 && (len == 0 || fwrite(data, 1, len, f) == len) && fwrite(tail, 1, 4, f) == 4
               ? 0
               : -1;
}

int png_write(const char *path, const uint8_t *pixels, int width, int height, int channels, Error *e) {
    if (channels != 1 && channels != 3)
        return error_set(e, "%s: PNG output supports 1 (gray) or 3 (RGB) channels, not %d", path, channels);
    if (width < 1 || height < 1) return error_set(e, "%s: empty image (%dx%d)", path, width, height);
    /* Every row starts with its filter type; 0 = none. */
    size_t row = (size_t)width * (size_t)channels;
    size_t raw_len = (row + 1) * (size_t)height;
    if (raw_len > 0xFFFFFFFFu / 2) return error_set(e, "%s: image too large for one PNG (%dx%d)", path, width, height);
    uint8_t *raw = xmalloc(raw_len, "PNG rows");
    for (int y = 0; y < height; y++) {
        raw[(size_t)y * (row + 1)] = 0;
        memcpy(raw + (size_t)y * (row + 1) + 1, pixels + (size_t)y * row, row);
    }
    uLongf z_len = compressBound((uLong)raw_len);
    uint8_t *z = xmalloc(z_len, "PNG compressed data");
    if (compress2(z, &z_len, raw, (uLong)raw_len, 6) != Z_OK) FATAL("zlib compress2 failed for %s", path);
    free(raw);

    uint8_t ihdr[13];
    put_u32be(ihdr, (uint32_t)width);
    put_u32be(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;                          /* bit depth */
    ihdr[9] = channels == 1 ? 0 : 2;      /* colour type: gray or RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;   /* deflate, adaptive filtering, no interlace */

    char tmp[4096];
    tmp_name(path, tmp, sizeof tmp);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(z);
        return error_set(e, "%s: cannot create (%s)", tmp, strerror(errno));
    }
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    int bad = fwrite(signature, 1, 8, f) != 8 || write_chunk(f, "IHDR", ihdr, sizeof ihdr) ||
              write_chunk(f, "IDAT", z, z_len) || write_chunk(f, "IEND", NULL, 0);
    free(z);
    bad |= fclose(f) != 0;
    if (tmp_finish(tmp, path, !bad) < 0)
        return error_set(e, "%s: cannot write (%s)", path, errno ? strerror(errno) : "disk full?");
    return 0;
}
