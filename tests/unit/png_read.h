/* A small PNG reader for tests, independent of the writer: its own bitwise CRC-32, zlib's
 * inflate, every chunk's CRC checked; 8-bit gray or RGB, filter types 0 (none) and 1-4 undone. */
#ifndef MASKDIT_TEST_PNG_READ_H
#define MASKDIT_TEST_PNG_READ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t test_crc32(const uint8_t *p, size_t n, uint32_t crc) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t test_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int test_paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Returns malloc'ed HWC pixels, or NULL with a reason in why. */
static uint8_t *png_read_test(const char *path, int *w, int *h, int *channels, char *why, size_t why_len) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(why, why_len, "cannot open the file"); return NULL; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)size);
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    uint8_t *idat = NULL, *out = NULL;
    size_t idat_len = 0, pos = 8;
    int seen_end = 0, depth = 0, colour = -1;
    if (got != (size_t)size || size < 8 || memcmp(buf, sig, 8)) { snprintf(why, why_len, "bad signature"); goto done; }
    while (pos + 12 <= (size_t)size && !seen_end) {
        uint32_t len = test_be32(buf + pos);
        if (pos + 12 + len > (size_t)size) { snprintf(why, why_len, "truncated chunk"); goto done; }
        const uint8_t *type = buf + pos + 4, *data = buf + pos + 8;
        if (test_crc32(type, 4 + len, 0) != test_be32(data + len)) {
            snprintf(why, why_len, "CRC mismatch in chunk %.4s", (const char *)type);
            goto done;
        }
        if (!memcmp(type, "IHDR", 4)) {
            *w = (int)test_be32(data);
            *h = (int)test_be32(data + 4);
            depth = data[8];
            colour = data[9];
        } else if (!memcmp(type, "IDAT", 4)) {
            idat = realloc(idat, idat_len + len);
            memcpy(idat + idat_len, data, len);
            idat_len += len;
        } else if (!memcmp(type, "IEND", 4)) {
            seen_end = 1;
        }
        pos += 12 + len;
    }
    if (!seen_end || pos != (size_t)size) { snprintf(why, why_len, "no IEND at the end"); goto done; }
    if (depth != 8 || (colour != 0 && colour != 2)) { snprintf(why, why_len, "not 8-bit gray/RGB"); goto done; }
    *channels = colour == 0 ? 1 : 3;
    size_t row = (size_t)*w * (size_t)*channels;
    uLongf raw_len = (uLongf)((row + 1) * (size_t)*h);
    uint8_t *raw = malloc(raw_len);
    uLongf have = raw_len;
    if (uncompress(raw, &have, idat, (uLong)idat_len) != Z_OK || have != raw_len) {
        snprintf(why, why_len, "IDAT does not inflate to %lu bytes", (unsigned long)raw_len);
        free(raw);
        goto done;
    }
    out = calloc(row * (size_t)*h, 1);
    int bpp = *channels;
    for (int y = 0; y < *h; y++) {
        int filter = raw[(size_t)y * (row + 1)];
        const uint8_t *in = raw + (size_t)y * (row + 1) + 1;
        uint8_t *o = out + (size_t)y * row, *up = y ? o - row : NULL;
        for (size_t x = 0; x < row; x++) {
            int a = x >= (size_t)bpp ? o[x - bpp] : 0, b = up ? up[x] : 0, c = up && x >= (size_t)bpp ? up[x - bpp] : 0;
            int pred = filter == 0 ? 0 : filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2 : test_paeth(a, b, c);
            o[x] = (uint8_t)(in[x] + pred);
        }
        if (filter > 4) { snprintf(why, why_len, "bad filter type %d", filter); free(out); out = NULL; break; }
    }
    free(raw);
done:
    free(buf);
    free(idat);
    return out;
}

#endif
