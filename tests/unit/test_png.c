/* PNG writer: files read back by an independent reader (own CRC-32, zlib inflate), and refusals. */
#include <string.h>
#include <unistd.h>

#include "../../src/util/png.h"
#include "png_read.h"
#include "test.h"
#include "test_util.h"

static char dir[256];

static void round_trip(int w, int h, int channels) {
    size_t n = (size_t)w * h * channels;
    uint8_t *px = malloc(n);
    for (size_t i = 0; i < n; i++) px[i] = (uint8_t)((i * 37u + (i >> 5)) & 0xFF);
    char path[512];
    snprintf(path, sizeof path, "%s/img_%dx%dx%d.png", dir, w, h, channels);
    Error e;
    CHECK(png_write(path, px, w, h, channels, &e) == 0, "%s", e.msg);
    int rw = 0, rh = 0, rc = 0;
    char why[256] = "";
    uint8_t *back = png_read_test(path, &rw, &rh, &rc, why, sizeof why);
    CHECK(back != NULL, "%s: %s", path, why);
    if (back) {
        CHECK(rw == w && rh == h && rc == channels, "read %dx%dx%d", rw, rh, rc);
        CHECK(memcmp(back, px, n) == 0, "pixels differ after the round trip");
    }
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0, "temporary file left behind");
    free(back);
    free(px);
}

static void gray_and_rgb_round_trip(void) {
    round_trip(1, 1, 1);
    round_trip(28, 28, 1);
    round_trip(33, 17, 3);
    round_trip(256, 64, 3);
}

static void refusals_name_the_file(void) {
    uint8_t px[12] = {0};
    Error e;
    CHECK(png_write("x.png", px, 2, 2, 2, &e) == -1 && strstr(e.msg, "x.png: PNG output supports 1 (gray) or 3 (RGB) "
                                                                   "channels, not 2"), "%s", e.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/a.png", dir);
    CHECK(png_write(path, px, 2, 2, 3, &e) == -1 && strstr(e.msg, "no/such/dir/a.png.tmp: cannot create"), "%s", e.msg);
}

int main(void) {
    scratch_dir(dir, sizeof dir, "test-png");
    RUN(gray_and_rgb_round_trip);
    RUN(refusals_name_the_file);
    remove_scratch_dir(dir);
    return test_summary();
}
