/* TensorBoard event files (src/util/tfevents.c): the CRC-32C against its published check value,
 * the record framing of a written file decoded here field by field, a new file per open, and a
 * directory that cannot be written refused with its name. The tensorboard package reads the files
 * in tests/cli/observability.sh. */
#include <dirent.h>
#include <string.h>

#include "../../src/util/fileio.h"
#include "../../src/util/tfevents.h"
#include "test.h"
#include "test_util.h"

static char dir[256];

static void crc32c_check_value(void) {
    /* the check value of CRC-32C (iSCSI): crc("123456789") = 0xE3069283 (RFC 3720, B.4) */
    CHECK(crc32c("123456789", 9) == 0xE3069283u, "crc32c = %08x", crc32c("123456789", 9));
    /* RFC 3720 B.4: 32 bytes of zeros */
    unsigned char zeros[32] = {0};
    CHECK(crc32c(zeros, 32) == 0x8A9136AAu, "crc32c(zeros) = %08x", crc32c(zeros, 32));
    uint32_t c = 0xE3069283u, masked = ((c >> 15) | (c << 17)) + 0xa282ead8u;
    CHECK(crc32c_masked("123456789", 9) == masked, "masked");
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint32_t le32(const unsigned char *p) { return (uint32_t)le64((const unsigned char[8]){p[0], p[1], p[2], p[3]}); }

/* Records of a file: count them, checking lengths and CRCs; *first = the first record's data. */
static int count_records(const char *path, char *first, size_t first_len) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char head[12], *data;
    int n = 0;
    while (fread(head, 1, 12, f) == 12) {
        uint64_t len = le64(head);
        if (le32(head + 8) != crc32c_masked(head, 8)) break;
        data = malloc(len + 4);
        if (fread(data, 1, len + 4, f) != len + 4 || le32(data + len) != crc32c_masked(data, len)) {
            free(data);
            break;
        }
        if (n == 0) memcpy(first, data, len < first_len ? len : first_len);
        free(data);
        n++;
    }
    fclose(f);
    return n;
}

static int event_files(char names[][600], int max) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));)
        if (strstr(de->d_name, "tfevents") && n < max) snprintf(names[n++], 600, "%s/%s", dir, de->d_name);
    if (d) closedir(d);
    return n;
}

static void file_records_and_new_file_per_open(void) {
    Error e;
    TfEvents *a = tfevents_open(dir, &e), *b = tfevents_open(dir, &e);
    CHECK(a && b, "open: %s", e.msg);
    if (!a || !b) return;
    CHECK(strcmp(tfevents_path(a), tfevents_path(b)) != 0, "two opens, two files");
    CHECK(strstr(tfevents_path(a), "/events.out.tfevents.") != NULL, "name %s", tfevents_path(a));
    const char *tags[] = {"train/loss", "train/lr"};
    double values[] = {0.25, 1e-4};
    CHECK(tfevents_scalars(a, 10, tags, values, 2, &e) == 0, "%s", e.msg);
    CHECK(tfevents_scalars(a, 20, tags, values, 2, &e) == 0, "%s", e.msg);
    unsigned char png[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    CHECK(tfevents_image(a, 20, "samples", png, sizeof png, 1, 1, 3, &e) == 0, "%s", e.msg);
    char first[64] = {0};
    CHECK(count_records(tfevents_path(a), first, sizeof first) == 4, "records in %s", tfevents_path(a));
    /* Event{wall_time (field 1, 64 bit) = 9 bytes, file_version (field 3) = "brain.Event:2"}: the
     * string follows the 9 bytes of wall_time, the key byte 0x1a and its length 13 */
    CHECK(memmem(first, sizeof first, "brain.Event:2", 13) != NULL, "file_version in the first record");
    char last[64];
    CHECK(count_records(tfevents_path(b), last, sizeof last) == 1, "the second file has its version record only");
    tfevents_close(a);
    tfevents_close(b);
    char names[8][600];
    CHECK(event_files(names, 8) == 2, "two event files");
}

static void missing_directory_refused(void) {
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no/such/dir", dir);
    Error e;
    TfEvents *w = tfevents_open(missing, &e);
    CHECK(w == NULL, "opened in a missing directory");
    CHECK(strstr(e.msg, "cannot create the TensorBoard event file") && strstr(e.msg, missing), "message: %s", e.msg);
}

int main(void) {
    scratch_dir(dir, sizeof dir, "tfevents");
    RUN(crc32c_check_value);
    RUN(file_records_and_new_file_per_open);
    RUN(missing_directory_refused);
    remove_scratch_dir(dir);
    return test_summary();
}
