/* Resumable sampling's files: a batch part written and read back (values, seeds, labels), every
 * way a part is refused (absent, wrong size, not a part, CRC mismatch, another batch, other
 * images, another run) with its message, and the run description (notes ignored by its CRC and
 * its comparison, the first differing setting named, missing and extra settings). The whole
 * stop/resume cycle of maskdit-generate is in tests/cli/generate_resume.sh. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../src/sample/parts.h"
#include "../../src/sample/run_record.h"
#include "test.h"
#include "test_util.h"

#define N 3
#define RECORD 8

static char dir[256];
static const SampleItem ITEMS[N] = {{7, 2}, {9, -1}, {11, 0}};

static PartStore store(uint32_t run) {
    PartStore ps = {.run_crc = run, .record_bytes = RECORD, .batch_size = 4};
    snprintf(ps.dir, sizeof ps.dir, "%s", dir);
    return ps;
}

static void values(unsigned char v[N * RECORD]) {
    for (int i = 0; i < N * RECORD; i++) v[i] = (unsigned char)(3 * i + 1);
}

/* Reads batch 5 of store(0xabc) and checks its status and (when given) the message. */
static void expect_read(PartStatus want, const char *want_msg, const SampleItem *items) {
    PartStore ps = store(0xabc);
    unsigned char got[N * RECORD];
    Error e = {""};
    PartStatus st = part_read(&ps, 5, items, N, got, &e);
    CHECK(st == want, "status %d, expected %d (%s)", st, want, e.msg);
    if (want_msg) CHECK(strstr(e.msg, want_msg) != NULL, "message '%s' lacks '%s'", e.msg, want_msg);
}

static void write_part(void) {
    PartStore ps = store(0xabc);
    unsigned char v[N * RECORD];
    values(v);
    Error e;
    CHECK(part_write(&ps, 5, ITEMS, N, v, &e) == 0, "%s", e.msg);
}

static char *path_of(long long batch) {
    static char p[512];
    PartStore ps = store(0);
    part_path(&ps, batch, p, sizeof p);
    return p;
}

static void patch(long offset, unsigned char byte) {
    FILE *f = fopen(path_of(5), "r+b");
    CHECK(f != NULL, "open %s", path_of(5));
    if (!f) return;
    fseek(f, offset, SEEK_SET);
    fputc(byte, f);
    fclose(f);
}

static void part_round_trip(void) {
    expect_read(PART_ABSENT, NULL, ITEMS);
    write_part();
    PartStore ps = store(0xabc);
    unsigned char want[N * RECORD], got[N * RECORD];
    values(want);
    memset(got, 0, sizeof got);
    Error e;
    CHECK(part_read(&ps, 5, ITEMS, N, got, &e) == PART_OK, "%s", e.msg);
    CHECK(!memcmp(got, want, sizeof got), "values differ");
    /* Header 40 + seeds and labels 24 + values 24 + CRC 4; no temporary file is left. */
    FILE *f = fopen(path_of(5), "rb");
    fseek(f, 0, SEEK_END);
    CHECK(ftell(f) == 92, "%ld bytes", ftell(f));
    fclose(f);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path_of(5));
    CHECK(access(tmp, F_OK) != 0, "%s left behind", tmp);
}

static void damaged_parts_are_refused(void) {
    char msg[700];
    write_part();
    CHECK(truncate(path_of(5), 91) == 0, "truncate");
    snprintf(msg, sizeof msg, "%s has 91 bytes, expected 92 (truncated?)", path_of(5));
    expect_read(PART_DAMAGED, msg, ITEMS);
    CHECK(truncate(path_of(5), 3) == 0, "truncate");
    expect_read(PART_DAMAGED, "is not a batch part (no MDGPART1 header)", ITEMS);
    write_part();
    patch(70, 0xff);   /* a value */
    expect_read(PART_DAMAGED, "is damaged (CRC-32 mismatch)", ITEMS);
    write_part();
    SampleItem other[N] = {{7, 2}, {9, 1}, {11, 0}};
    expect_read(PART_DAMAGED, "image 1 is seed 9 class -1, expected seed 9 class 1", other);
    /* Another batch's part under this name (renamed by hand). */
    PartStore ps = store(0xabc);
    unsigned char v[N * RECORD];
    values(v);
    Error e;
    CHECK(part_write(&ps, 6, ITEMS, N, v, &e) == 0, "%s", e.msg);
    char from[512];
    snprintf(from, sizeof from, "%s", path_of(6));
    CHECK(rename(from, path_of(5)) == 0, "rename");
    expect_read(PART_DAMAGED, "holds batch 6 (3 images from 24, 8 bytes each), expected batch 5 (3 images from 20, 8 bytes each)", ITEMS);
    /* A complete part of another run. */
    ps = store(0x123);
    CHECK(part_write(&ps, 5, ITEMS, N, v, &e) == 0, "%s", e.msg);
    expect_read(PART_FOREIGN, "belongs to another run (run CRC-32 00000123, this run's is 00000abc)", ITEMS);
}

static void record(RunRecord *r, const char *steps, const char *note) {
    run_record_init(r);
    run_record_note(r, "%s", note);
    run_record_set(r, "--weights", "ema");
    run_record_set(r, "--num_steps", "%s", steps);
}

static void run_description(void) {
    RunRecord a, b, c;
    record(&a, "40", "checkpoint a.pt");
    record(&b, "40", "checkpoint elsewhere/a.pt");
    record(&c, "18", "checkpoint a.pt");
    CHECK(!strcmp(a.text, "# checkpoint a.pt\n--weights: ema\n--num_steps: 40\n"), "text '%s'", a.text);
    CHECK(run_record_crc(&a) == run_record_crc(&b), "a note changed the CRC");
    CHECK(run_record_crc(&a) != run_record_crc(&c), "a setting did not change the CRC");
    Error e = {""};
    CHECK(run_record_compare(&a, b.text, "run.txt", &e) == 0, "%s", e.msg);
    CHECK(run_record_compare(&a, c.text, "run.txt", &e) == -1 && !strcmp(e.msg, "--num_steps is '18' in run.txt, '40' now"),
          "'%s'", e.msg);
    CHECK(run_record_compare(&a, "--weights: ema\n", "run.txt", &e) == -1 &&
              !strcmp(e.msg, "run.txt lacks the setting --num_steps"), "'%s'", e.msg);
    CHECK(run_record_compare(&a, "--weights: ema\n--num_steps: 40\nsampler: x\n", "run.txt", &e) == -1 &&
              !strcmp(e.msg, "run.txt has a setting sampler that this run does not have"), "'%s'", e.msg);
    CHECK(run_record_compare(&a, "--weights: ema\n--steps: 40\n", "run.txt", &e) == -1 &&
              !strcmp(e.msg, "run.txt has the setting --steps where this run has --num_steps"), "'%s'", e.msg);
    run_record_free(&a);
    run_record_free(&b);
    run_record_free(&c);
}

/* User-given text of any length (an explicit --seeds list of 100000 characters) is kept whole. */
static void long_lines_kept_whole(void) {
    size_t n = 100000;
    char *seeds = malloc(n + 1);
    for (size_t i = 0; i < n; i++) seeds[i] = i % 2 ? ',' : (char)('0' + i % 10);
    seeds[n] = 0;
    RunRecord r;
    run_record_init(&r);
    run_record_note(&r, "--seeds %s", seeds);
    run_record_set(&r, "--seeds", "%s", seeds);
    CHECK(r.len == 2 * n + strlen("# --seeds \n--seeds: \n") && strlen(r.text) == r.len, "length %zu", r.len);
    CHECK(!strncmp(r.text, "# --seeds ", 10) && !strncmp(r.text + 10, seeds, n) && r.text[10 + n] == '\n' &&
              !strncmp(r.text + 11 + n, "--seeds: ", 9) && !strcmp(r.text + 20 + n + n, "\n"),
          "text not kept whole");
    run_record_free(&r);
    free(seeds);
}

int main(void) {
    scratch_dir(dir, sizeof dir, "test-parts");
    RUN(part_round_trip);
    RUN(damaged_parts_are_refused);
    RUN(run_description);
    RUN(long_lines_kept_whole);
    remove(path_of(5));
    rmdir(dir);
    return test_summary();
}
