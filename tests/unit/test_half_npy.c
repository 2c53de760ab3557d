/* float16 conversions (exhaustive, against the compiler's _Float16 where it has one and against
 * exact arithmetic) and the .npy header reader/writer. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "../../src/util/half.h"
#include "../../src/util/npy.h"
#include "test.h"
#include "test_util.h"

static char dir[256];

/* Every half -> float is exact: sign * mantissa * 2^exponent. */
static void half_to_float_is_exact(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int e = (h >> 10) & 31, m = h & 1023;
        float want;
        if (e == 31) want = m ? NAN : INFINITY; /* NaNs come out quiet, as F16C makes them */
        else if (e == 0) want = ldexpf((float)m, -24);
        else want = ldexpf((float)(1024 + m), e - 25);
        if (h & 0x8000) want = -want;
        float got = half_to_float((uint16_t)h), bulk;
        half_to_float_n((const uint16_t *)&h, &bulk, 1);
        if (isnan(want) ? !isnan(got) : got != want) bad++;
        if (memcmp(&got, &bulk, sizeof got)) bad++;
    }
    CHECK(bad == 0, "%d half values decode wrongly", bad);
    uint16_t all[65536];
    float bulk[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    half_to_float_n(all, bulk, 65536);   /* vector path (F16C) against the scalar one */
    for (int i = 0; i < 65536; i++) bad += memcmp(&bulk[i], &(float){half_to_float(all[i])}, 4) != 0;
    CHECK(bad == 0, "bulk and scalar decoding differ for %d values", bad);
}

/* Rounding: exact halves stay, midpoints go to the even neighbour, just above/below a midpoint go
 * to the nearest, overflow to Inf; checked on every finite half and its neighbourhood. */
static void float_to_half_rounds_to_nearest_even(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x7c00; h++) {
        float v = half_to_float((uint16_t)h);
        if (half_from_float(v) != h || half_from_float(-v) != (h | 0x8000)) bad++;
        double next = h + 1 < 0x7c00 ? half_to_float((uint16_t)(h + 1)) : 65536.0; /* 65520 is the Inf midpoint */
        double mid = (v + next) / 2;
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        float midf = (float)mid; /* exact: halves have 11 significant bits */
        if (half_from_float(midf) != even) bad++;
        if (half_from_float(nextafterf(midf, 0)) != h) bad++;
        if (half_from_float(nextafterf(midf, INFINITY)) != h + 1) bad++;
#ifdef __FLT16_MAX__
        _Float16 c = (_Float16)nextafterf(midf, INFINITY);
        uint16_t cb;
        memcpy(&cb, &c, 2);
        if (cb != half_from_float(nextafterf(midf, INFINITY))) bad++;
#endif
    }
    CHECK(bad == 0, "%d rounding cases wrong", bad);
    CHECK(half_from_float(65504.0f) == 0x7bff, "largest half");
    CHECK(half_from_float(65519.99f) == 0x7bff, "below the Inf midpoint");
    CHECK(half_from_float(65520.0f) == 0x7c00, "Inf midpoint rounds to Inf");
    CHECK(half_from_float(-1e30f) == 0xfc00, "-Inf");
    CHECK((half_from_float(NAN) & 0x7c00) == 0x7c00 && (half_from_float(NAN) & 0x3ff), "NaN stays NaN");
    CHECK(half_from_float(ldexpf(1, -25)) == 0, "2^-25 ties to 0");
    CHECK(half_from_float(ldexpf(1.5f, -25)) == 1, "1.5*2^-25 rounds to the smallest subnormal");
    float src[1000];
    uint16_t a[1000];
    for (int i = 0; i < 1000; i++) src[i] = ldexpf(sinf((float)i) * 3, i % 40 - 30);
    half_from_float_n(src, a, 1000);
    for (int i = 0; i < 1000; i++) bad += a[i] != half_from_float(src[i]);
    CHECK(bad == 0, "bulk and scalar encoding differ for %d values", bad);
}

static void npy_header_round_trip(void) {
    char buf[256];
    long long shape[4] = {3, 8, 32, 32};
    long long len = npy_format_header(buf, sizeof buf, "<f2", 4, shape);
    CHECK(len > 0 && len % 64 == 0, "header length %lld", len);
    CHECK(len > 0 && buf[len - 1] == '\n', "header ends with a newline");
    NpyHeader h;
    Error e;
    CHECK(npy_parse_header(buf, (size_t)len, "x.npy", &h, &e) == 0, "%s", e.msg);
    CHECK(h.kind == 'f' && h.elem_size == 2 && h.ndim == 4 && h.shape[3] == 32 && h.header_bytes == len, "parsed");
    long long one[1] = {5};
    len = npy_format_header(buf, sizeof buf, "<i8", 1, one);
    CHECK(len > 0 && memmem(buf, (size_t)len, "'shape': (5,)", 13) != NULL, "1-d shape written as (5,)");
    CHECK(npy_parse_header(buf, (size_t)len, "y.npy", &h, &e) == 0 && h.ndim == 1 && h.shape[0] == 5, "1-d parse");
    /* A header as numpy writes it, keys in another order, scalar shape. */
    const char np[] = "\x93NUMPY\x01\x00\x36\x00{'fortran_order': False, 'descr': '|u1', 'shape': (), }     \n";
    CHECK(npy_parse_header(np, sizeof np - 1, "z.npy", &h, &e) == 0, "%s", e.msg);
    CHECK(h.ndim == 0 && npy_count(&h) == 1 && h.kind == 'u', "scalar array");
}

static void npy_bad_headers(void) {
    struct { const char *dict, *want; } cases[] = {
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "big-endian"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", "unsupported dtype '<c8'"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "Fortran order"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", "structured dtypes"},
        {"{'descr': '<f4', 'fortran_order': False, }", "no 'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "malformed 'shape'"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char buf[256] = "\x93NUMPY\x01\x00";
        size_t n = strlen(cases[i].dict);
        buf[8] = (char)n;
        buf[9] = 0;
        memcpy(buf + 10, cases[i].dict, n);
        NpyHeader h;
        Error e = {{0}};
        CHECK(npy_parse_header(buf, 10 + n, "bad.npy", &h, &e) < 0, "case %zu accepted", i);
        CHECK(strstr(e.msg, cases[i].want) && strstr(e.msg, "bad.npy"), "case %zu: %s", i, e.msg);
    }
    NpyHeader h;
    Error e;
    CHECK(npy_parse_header("PK\x03\x04xxxxxxxxxxxx", 16, "a.npy", &h, &e) < 0 && strstr(e.msg, "not a .npy file"), "%s", e.msg);
    CHECK(npy_parse_header("\x93NUMPY\x01\x00\x70\x00{'descr'", 17, "t.npy", &h, &e) < 0 && strstr(e.msg, "truncated"), "%s", e.msg);
}

static void npy_save_and_read_back(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/a.npy", dir);
    double data[6] = {1.5, -2, 3.25, 1e10, -0.0, 7};
    long long shape[2] = {2, 3};
    Error e;
    CHECK(npy_save(path, "<f8", 2, shape, data, &e) == 0, "%s", e.msg);
    FILE *f = fopen(path, "rb");
    NpyHeader h;
    CHECK(f && npy_read_header(f, path, &h, &e) == 0, "%s", e.msg);
    double back[6] = {0};
    CHECK(f && fread(back, sizeof(double), 6, f) == 6 && fgetc(f) == EOF, "data follows the header exactly");
    if (f) fclose(f);
    CHECK(!memcmp(back, data, sizeof data), "values");
    float as_float[6];
    npy_to_float(&h, data, 6, as_float);
    CHECK(as_float[2] == 3.25f && as_float[3] == 1e10f, "f8 -> float");
    NpyHeader i1 = {.kind = 'i', .elem_size = 1}, u2 = {.kind = 'u', .elem_size = 2};
    int8_t small[3] = {-5, 0, 127};
    uint16_t wide[2] = {65535, 3};
    int64_t out[3];
    npy_to_int64(&i1, small, 3, out);
    CHECK(out[0] == -5 && out[2] == 127, "i1 -> int64");
    npy_to_int64(&u2, wide, 2, out);
    CHECK(out[0] == 65535 && out[1] == 3, "u2 -> int64");
    CHECK(access(path, F_OK) == 0, "saved under the final name");
    snprintf(path, sizeof path, "%s/a.npy.tmp", dir);
    CHECK(access(path, F_OK) != 0, "no temporary left");
}

int main(void) {
    scratch_dir(dir, sizeof dir, "npy");
    RUN(half_to_float_is_exact);
    RUN(float_to_half_rounds_to_nearest_even);
    RUN(npy_header_round_trip);
    RUN(npy_bad_headers);
    RUN(npy_save_and_read_back);
    remove_scratch_dir(dir);
    return test_summary();
}
