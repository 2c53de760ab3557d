/* The training reader on small synthetic datasets written with the shard writer: values against an
 * independent computation, the global permutation per epoch, the rank-split invariants (the same
 * stream for W = 1, 2, 4), cursor resume, prefetch, x-flip, resampling, and every bad shard. */
#include <hdf5.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/data/format.h"
#include "../../src/data/latent.h"
#include "../../src/data/reader.h"
#include "../../src/data/shard_writer.h"
#include "../../src/util/h5util.h"
#include "../../src/util/half.h"
#include "../../src/util/rng.h"
#include "test.h"
#include "test_util.h"

static char dir[256];

typedef struct {
    const char *name, *kind, *dtype;
    int count, shard_size, channels, resolution, classes;
    double scale;
} Spec;

/* Moments: 8 channels of 4x4, 23 samples in shards of 7, 7, 7, 2 (float16). */
static const Spec SMALL = {"small", "moments", "float16", 23, 7, 8, 4, 5, 0.18215};
/* Shards of two chunks (64 + 36 rows of 16 KiB) to cross chunk and shard boundaries. */
static const Spec CHUNKY = {"chunky", "moments", "float16", 230, 100, 8, 32, 10, 0.18215};
static const Spec LATENTS = {"latents32", "latents", "float32", 19, 10, 4, 8, 3, 0.5};
static const Spec PIXELS = {"pixels", "pixels", "float16", 12, 12, 1, 6, 10, 1.0};

static void path_of(const Spec *s, char *buf, size_t len) { snprintf(buf, len, "%s/%s", dir, s->name); }

/* Stored value i of dataset row `row` (before the dtype's rounding). */
static float value_of(const Spec *s, long long row, size_t i) {
    size_t plane = (size_t)s->resolution * (size_t)s->resolution;
    int logvar = !strcmp(s->kind, "moments") && (int)(i / plane) >= s->channels / 2;
    if (logvar) return -3.0f + 2.0f * sinf((float)row * 0.7f + (float)i * 0.013f);
    float v = sinf((float)row * 1.3f + (float)i * 0.029f);
    return !strcmp(s->kind, "pixels") ? v : 2.0f * v;
}

static float stored(const Spec *s, long long row, size_t i) {
    float v = value_of(s, row, i);
    return !strcmp(s->dtype, "float16") ? half_to_float(half_from_float(v)) : v;
}

static int32_t label_of(const Spec *s, long long row) { return (int32_t)((row * 7 + 3) % s->classes); }

static DatasetInfo info_of(const Spec *s) {
    DatasetInfo info = {0};
    snprintf(info.kind, sizeof info.kind, "%s", s->kind);
    snprintf(info.dtype, sizeof info.dtype, "%s", s->dtype);
    snprintf(info.source, sizeof info.source, "test %s", s->name);
    info.stored_channels = s->channels;
    info.resolution = s->resolution;
    info.num_classes = s->classes;
    info.scale_factor = s->scale;
    info.count = s->count;
    info.num_shards = (s->count + s->shard_size - 1) / s->shard_size;
    Error e;
    if (dataset_info_check(&info, s->name, &e) < 0) FATAL("%s", e.msg);
    return info;
}

static void make_dataset(const Spec *s) {
    char root[300];
    path_of(s, root, sizeof root);
    mkdir(root, 0777);
    DatasetInfo info = info_of(s);
    size_t elems = (size_t)s->channels * (size_t)s->resolution * (size_t)s->resolution;
    long long rows[64];
    float *x = malloc(elems * sizeof *x);
    Error e;
    for (int sh = 0; sh < info.num_shards; sh++) {
        long long first = (long long)sh * s->shard_size;
        rows[sh] = MIN(s->shard_size, s->count - first);
        ShardWriter *w = shard_writer_open(root, &info, sh, first, rows[sh], &e);
        if (!w) FATAL("%s", e.msg);
        for (long long r = first; r < first + rows[sh]; r++) {
            for (size_t i = 0; i < elems; i++) x[i] = value_of(s, r, i);
            int32_t label = label_of(s, r);
            if (shard_writer_append(w, x, &label, 1, &e) < 0) FATAL("%s", e.msg);
        }
        if (shard_writer_finish(w, &e) < 0) FATAL("%s", e.msg);
    }
    if (dataset_index_write(root, &info, rows, &e) < 0) FATAL("%s", e.msg);
    free(x);
}

static Reader *open_reader(const Spec *s, uint64_t seed, int prefetch, int xflip, int resampled, DatasetInfo *info) {
    char root[300];
    path_of(s, root, sizeof root);
    ReaderOptions o = {.root = root, .seed = seed, .prefetch = prefetch, .xflip = xflip, .resampled = resampled};
    Error e;
    Reader *r = reader_open(&o, info, &e);
    if (!r) FATAL("reader_open: %s", e.msg);
    return r;
}

static int flipped(uint64_t seed, uint64_t g) {
    Rng r = rng_sample_stream(seed, RNG_FLIP, g);
    return (int)(rng_u32(&r) >> 31);
}

/* What the reader must deliver for sample g read from `row`, computed in double. */
static void expected_sample(const Spec *s, uint64_t seed, uint64_t g, long long row, int xflip, double *out) {
    size_t plane = (size_t)s->resolution * (size_t)s->resolution;
    int moments = !strcmp(s->kind, "moments"), model_c = moments ? s->channels / 2 : s->channels;
    size_t n = (size_t)model_c * plane;
    float *eps = malloc(n * sizeof *eps);
    latent_eps_fill(seed, g, eps, n);
    for (size_t i = 0; i < n; i++) {
        double v = stored(s, row, i);
        if (moments) {
            double lv = fmin(fmax(stored(s, row, n + i), -30), 20);
            v = s->scale * (v + exp(0.5 * lv) * eps[i]);
        } else if (!strcmp(s->kind, "latents")) {
            v = (float)s->scale * (float)v;
        }
        out[i] = v;
    }
    if (xflip && flipped(seed, g))
        for (size_t r = 0; r < (size_t)model_c * (size_t)s->resolution; r++)
            for (int a = 0, b = s->resolution - 1; a < b; a++, b--) {
                double t = out[r * (size_t)s->resolution + (size_t)a];
                out[r * (size_t)s->resolution + (size_t)a] = out[r * (size_t)s->resolution + (size_t)b];
                out[r * (size_t)s->resolution + (size_t)b] = t;
            }
    free(eps);
}

/* Reads n samples from g0 and checks every value and label against expected_sample. */
static void check_read(const Spec *s, Reader *r, uint64_t seed, uint64_t g0, int n, int xflip, const DatasetInfo *info) {
    size_t per = (size_t)info->channels * (size_t)info->resolution * (size_t)info->resolution;
    float *x = malloc((size_t)n * per * sizeof *x);
    double *want = malloc(per * sizeof *want);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    Error e;
    CHECK(reader_read(r, g0, n, x, labels, -1, &e) == 0, "%s", e.msg);
    double worst = 0;
    int bad_labels = 0;
    for (int i = 0; i < n; i++) {
        long long row = reader_row_of(r, g0 + (uint64_t)i);
        expected_sample(s, seed, g0 + (uint64_t)i, row, xflip, want);
        for (size_t k = 0; k < per; k++) worst = fmax(worst, fabs(x[(size_t)i * per + k] - want[k]) / fmax(1, fabs(want[k])));
        bad_labels += labels[i] != label_of(s, row);
    }
    CHECK(worst <= (strcmp(s->kind, "moments") ? 0 : 2e-6), "%s: values differ by %g", s->name, worst);
    CHECK(bad_labels == 0, "%s: %d labels wrong", s->name, bad_labels);
    free(x);
    free(want);
    free(labels);
}

static void values_match_an_independent_computation(void) {
    const Spec *specs[] = {&SMALL, &CHUNKY, &LATENTS, &PIXELS};
    for (size_t k = 0; k < ARRAY_LEN(specs); k++) {
        DatasetInfo info;
        Reader *r = open_reader(specs[k], 11, 0, 0, 0, &info);
        CHECK(info.count == specs[k]->count && info.num_classes == specs[k]->classes, "%s: info", specs[k]->name);
        int moments = !strcmp(specs[k]->kind, "moments");
        CHECK(info.channels == (moments ? specs[k]->channels / 2 : specs[k]->channels), "%s: model channels %d",
              specs[k]->name, info.channels);
        check_read(specs[k], r, 11, 0, specs[k]->count, 0, &info);          /* one whole epoch */
        check_read(specs[k], r, 11, (uint64_t)specs[k]->count - 3, 7, 0, &info); /* across an epoch boundary */
        reader_close(r);
    }
}

static void each_epoch_is_a_permutation(void) {
    const Spec *s = &CHUNKY;
    Reader *a = open_reader(s, 5, 0, 0, 0, NULL), *b = open_reader(s, 5, 1, 0, 0, NULL), *c = open_reader(s, 6, 0, 0, 0, NULL);
    int seen[230];
    long long first_epoch[230];
    int same_order = 1, other_seed_differs = 0, epochs_differ = 0, in_order = 1;
    for (int epoch = 0; epoch < 3; epoch++) {
        memset(seen, 0, sizeof seen);
        for (int p = 0; p < s->count; p++) {
            uint64_t g = (uint64_t)epoch * (uint64_t)s->count + (uint64_t)p;
            long long row = reader_row_of(a, g);
            CHECK(row >= 0 && row < s->count, "row %lld", row);
            if (row >= 0 && row < s->count) seen[row]++;
            same_order &= reader_row_of(b, g) == row;
            other_seed_differs |= reader_row_of(c, g) != row;
            if (epoch == 0) first_epoch[p] = row;
            else epochs_differ |= first_epoch[p] != row;
            in_order &= row == p;
        }
        for (int row = 0; row < s->count; row++) CHECK(seen[row] == 1, "epoch %d: row %d seen %d times", epoch, row, seen[row]);
    }
    CHECK(!in_order, "the data must be shuffled");
    CHECK(same_order, "two readers with one seed agree");
    CHECK(other_seed_differs, "another seed gives another order");
    CHECK(epochs_differ, "every epoch has its own permutation");
    reader_close(a);
    reader_close(b);
    reader_close(c);
}

static void slice_covers_the_batch(void) {
    int batches[] = {6, 7, 1, 8};
    for (size_t k = 0; k < ARRAY_LEN(batches); k++)
        for (int world = 1; world <= 4; world++) {
            uint64_t next = 3 * (uint64_t)batches[k];
            for (int rank = 0; rank < world; rank++) {
                uint64_t g0;
                int n;
                reader_rank_slice(3, batches[k], rank, world, &g0, &n);
                CHECK(g0 == next, "B=%d W=%d rank %d starts at %llu", batches[k], world, rank, (unsigned long long)g0);
                CHECK(n >= batches[k] / world && n <= batches[k] / world + 1, "balanced");
                next = g0 + (uint64_t)n;
            }
            CHECK(next == 4 * (uint64_t)batches[k], "B=%d W=%d: the slices cover the global batch", batches[k], world);
        }
}

/* Ranks simulated by one reader each: the concatenation of their slices must be W=1's stream, bit
 * for bit, for W = 1, 2, 4, and over an epoch the ranks' rows are disjoint and cover the dataset. */
static void same_stream_for_any_world_size(void) {
    const Spec *s = &SMALL;
    enum { B = 6, STEPS = 10 };
    size_t per = 4 * 4 * 4;
    float *ref = malloc(B * STEPS * per * sizeof *ref), *x = malloc(B * per * sizeof *x);
    int32_t ref_labels[B * STEPS], labels[B];
    Error e;
    for (int world = 1; world <= 4; world *= 2) {
        Reader *ranks[4];
        for (int r = 0; r < world; r++) ranks[r] = open_reader(s, 99, 1, 1, 0, NULL);
        int owner[23], mismatch = 0;
        for (int step = 0; step < STEPS; step++) {
            if (step * B % s->count < B) memset(owner, -1, sizeof owner); /* first step of an epoch */
            for (int r = 0; r < world; r++) {
                uint64_t g0, g1;
                int n, n1;
                reader_rank_slice((uint64_t)step, B, r, world, &g0, &n);
                reader_rank_slice((uint64_t)step + 1, B, r, world, &g1, &n1);
                CHECK(reader_read(ranks[r], g0, n, x, labels, (int64_t)g1, &e) == 0, "%s", e.msg);
                size_t at = (size_t)(g0 - (uint64_t)step * B);
                if (world == 1) {
                    memcpy(ref + (size_t)step * B * per, x, (size_t)n * per * sizeof *x);
                    memcpy(ref_labels + step * B, labels, (size_t)n * sizeof *labels);
                } else {
                    mismatch += memcmp(ref + ((size_t)step * B + at) * per, x, (size_t)n * per * sizeof *x) != 0;
                    mismatch += memcmp(ref_labels + step * B + at, labels, (size_t)n * sizeof *labels) != 0;
                }
                for (int i = 0; i < n; i++) {
                    uint64_t g = g0 + (uint64_t)i;
                    if (g / (uint64_t)s->count != (uint64_t)step * B / (uint64_t)s->count) continue;
                    long long row = reader_row_of(ranks[r], g);
                    CHECK(owner[row] == -1, "W=%d: row %lld read twice in one epoch", world, row);
                    owner[row] = r;
                }
            }
        }
        CHECK(mismatch == 0, "W=%d: %d slices differ from the single-rank stream", world, mismatch);
        for (int r = 0; r < world; r++) reader_close(ranks[r]);
    }
    free(ref);
    free(x);
}

/* However a range is split into reads (prefetch on or off, in order or not), the samples are
 * the same: resuming from a cursor g reproduces the stream exactly. */
static void resume_from_a_cursor(void) {
    const Spec *s = &CHUNKY;
    enum { B = 48, STEPS = 8 };
    size_t per = 4 * 32 * 32;
    float *a = malloc(B * STEPS * per * sizeof *a), *b = malloc(B * STEPS * per * sizeof *b);
    int32_t la[B * STEPS], lb[B * STEPS];
    Error e;
    Reader *r = open_reader(s, 7, 1, 1, 0, NULL);
    for (int step = 0; step < STEPS; step++)
        CHECK(reader_read(r, (uint64_t)step * B, B, a + (size_t)step * B * per, la + step * B,
                          (int64_t)(step + 1) * B, &e) == 0, "%s", e.msg);
    reader_close(r);
    /* "restart" at step 5: the checkpoint holds g = 5*B */
    Reader *resumed = open_reader(s, 7, 1, 1, 0, NULL);
    for (int step = 5; step < STEPS; step++) {
        CHECK(reader_read(resumed, (uint64_t)step * B, B, b, lb, (int64_t)(step + 1) * B, &e) == 0, "%s", e.msg);
        CHECK(!memcmp(b, a + (size_t)step * B * per, B * per * sizeof *b) && !memcmp(lb, la + step * B, B * sizeof *lb),
              "step %d after resume differs", step);
    }
    reader_close(resumed);
    /* other splits of the same range, without prefetch and with requests that skip around */
    Reader *plain = open_reader(s, 7, 0, 1, 0, NULL), *jumpy = open_reader(s, 7, 1, 1, 0, NULL);
    int cuts[] = {0, 1, 17, 100, 101, 230, 231, 300, B * STEPS};
    for (size_t k = 0; k + 1 < ARRAY_LEN(cuts); k++) {
        int n = cuts[k + 1] - cuts[k];
        CHECK(reader_read(plain, (uint64_t)cuts[k], n, b, lb, -1, &e) == 0, "%s", e.msg);
        CHECK(!memcmp(b, a + (size_t)cuts[k] * per, (size_t)n * per * sizeof *b), "split at %d differs", cuts[k]);
        size_t j = ARRAY_LEN(cuts) - 2 - k; /* backwards, announcing a wrong next read */
        n = cuts[j + 1] - cuts[j];
        CHECK(reader_read(jumpy, (uint64_t)cuts[j], n, b, lb, (int64_t)cuts[j + 1] + 5, &e) == 0, "%s", e.msg);
        CHECK(!memcmp(b, a + (size_t)cuts[j] * per, (size_t)n * per * sizeof *b), "jump to %d differs", cuts[j]);
    }
    reader_close(plain);
    reader_close(jumpy);
    free(a);
    free(b);
}

static void flips_and_fresh_latents(void) {
    const Spec *s = &LATENTS;
    DatasetInfo info;
    Reader *r = open_reader(s, 3, 0, 1, 0, &info);
    check_read(s, r, 3, 0, 40, 1, &info);
    int flips = 0;
    for (uint64_t g = 0; g < 40; g++) flips += flipped(3, g);
    CHECK(flips > 5 && flips < 35, "%d of 40 samples flipped", flips);
    reader_close(r);
    /* moments: the same row read at two stream positions gets two different latents */
    Reader *m = open_reader(&SMALL, 3, 0, 0, 0, NULL);
    float x1[64], x2[64];
    int32_t l1, l2;
    Error e;
    uint64_t g2 = 23;
    while (reader_row_of(m, g2) != reader_row_of(m, 0)) g2++;
    CHECK(reader_read(m, 0, 1, x1, &l1, -1, &e) == 0 && reader_read(m, g2, 1, x2, &l2, -1, &e) == 0, "%s", e.msg);
    CHECK(l1 == l2 && memcmp(x1, x2, sizeof x1), "a fresh latent at every draw");
    reader_close(m);
}

static void resampled_mode(void) {
    const Spec *s = &SMALL;
    DatasetInfo info;
    Reader *a = open_reader(s, 4, 1, 0, 1, &info), *b = open_reader(s, 4, 0, 0, 1, NULL);
    int seen[23] = {0}, repeats = 0, same = 1;
    for (uint64_t g = 0; g < 23; g++) {
        long long row = reader_row_of(a, g);
        CHECK(row >= 0 && row < 23, "row %lld", row);
        if (row >= 0 && row < 23) repeats += seen[row]++ > 0;
        same &= reader_row_of(b, g) == row;
    }
    CHECK(repeats > 0, "draws with replacement repeat rows within %d draws", 23);
    CHECK(same, "deterministic");
    check_read(s, a, 4, 1000000007ULL, 9, 0, &info);
    reader_close(a);
    reader_close(b);
}

/* ---- bad input: every problem named with its file and dataset ---- */

static void expect_open_error(const Spec *s, const char *want, const char *what) {
    if (getenv("SHOW_ERRORS")) printf("    %s\n", what);
    char root[300];
    path_of(s, root, sizeof root);
    ReaderOptions o = {.root = root};
    Error e = {{0}};
    Reader *r = reader_open(&o, NULL, &e);
    CHECK(r == NULL, "%s: opened", what);
    CHECK(strstr(e.msg, want) != NULL, "%s: message '%s' lacks '%s'", what, e.msg, want);
    if (getenv("SHOW_ERRORS")) printf("    -> %s\n", e.msg);
    reader_close(r);
}

static void shard_file(const Spec *s, int shard, char *buf, size_t len) {
    char root[300];
    path_of(s, root, sizeof root);
    dataset_shard_path(root, shard, buf, len);
}

/* A copy of SMALL under another name, to damage. */
static Spec damaged(const char *name) {
    Spec s = SMALL;
    s.name = name;
    make_dataset(&s);
    return s;
}

static void rewrite_attr_int(const char *path, const char *attr, long long v) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0 || h5_write_attr_int64(f, attr, v) < 0) FATAL("cannot rewrite %s", path);
    H5Fclose(f);
}

/* Writes a block [start, start+count) of a dataset of an existing file. */
static void overwrite(const char *path, const char *dset, hid_t mem_type, int rank, const hsize_t *start,
                      const hsize_t *count, const void *data) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, count, NULL);
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dwrite(d, mem_type, ms, fs, H5P_DEFAULT, data) < 0)
        FATAL("cannot overwrite %s in %s", dset, path);
    H5Sclose(fs);
    H5Sclose(ms);
    H5Dclose(d);
    H5Fclose(f);
}

static void missing_files(void) {
    Spec s = damaged("nofiles");
    char path[400];
    shard_file(&s, 2, path, sizeof path);
    unlink(path);
    expect_open_error(&s, "shard-00002.h5: shard file is missing", "missing shard");
    snprintf(path, sizeof path, "%s/nofiles/index.h5", dir);
    unlink(path);
    expect_open_error(&s, "index.h5: missing", "missing index");
    Spec none = SMALL;
    none.name = "does-not-exist";
    expect_open_error(&none, "dataset directory not found: No such file or directory", "missing directory");
    /* a file given as the dataset directory is named as a file */
    Spec file = SMALL;
    file.name = "a-file";
    char fpath[400];
    path_of(&file, fpath, sizeof fpath);
    FILE *f = fopen(fpath, "w");
    if (f) fclose(f);
    expect_open_error(&file, "a-file: is a file, expected a dataset directory", "a file as the directory");
}

/* A shard that cannot be read now (another process holds a lock on it) is not called damaged. */
static void unreadable_shard_is_not_damaged(void) {
    Spec s = damaged("locked");
    char path[400];
    shard_file(&s, 1, path, sizeof path);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0 && flock(fd, LOCK_EX) == 0, "cannot lock %s", path);
    expect_open_error(&s, "shard-00001.h5: another process holds a lock on it", "locked shard");
    close(fd);
    char root[300];
    path_of(&s, root, sizeof root);
    ReaderOptions o = {.root = root};
    Error e = {{0}};
    Reader *r = reader_open(&o, NULL, &e);
    CHECK(r != NULL, "once the lock is gone it opens: %s", e.msg);
    reader_close(r);
}

static void truncated_and_corrupted_shards(void) {
    Spec s = damaged("truncated");
    char path[400];
    shard_file(&s, 1, path, sizeof path);
    struct stat st;
    stat(path, &st);
    CHECK(truncate(path, st.st_size - 100) == 0, "truncate");
    expect_open_error(&s, "shard-00001.h5: cannot open as HDF5: truncated or damaged shard", "truncated shard");
    Spec c = damaged("corrupted");
    shard_file(&c, 0, path, sizeof path);
    FILE *f = fopen(path, "r+b");
    fwrite("garbage!", 1, 8, f);
    fclose(f);
    expect_open_error(&c, "shard-00000.h5: cannot open as HDF5: truncated or damaged shard", "corrupted superblock");
    /* cut short while a reader has it open: the read says so */
    Spec t = damaged("cut-later");
    Reader *r = open_reader(&t, 1, 0, 0, 0, NULL);
    shard_file(&t, 0, path, sizeof path);
    CHECK(truncate(path, 2048) == 0, "truncate");
    float x[23 * 64];
    int32_t labels[23];
    Error e = {{0}};
    CHECK(reader_read(r, 0, 23, x, labels, -1, &e) < 0, "read of a truncated shard succeeded");
    CHECK(strstr(e.msg, "shard-00000.h5: reading dataset latents at row") && strstr(e.msg, "truncated shard?"), "%s", e.msg);
    reader_close(r);
}

static void missing_dataset_and_mismatched_shapes(void) {
    Spec s = damaged("nolabels");
    char path[400];
    shard_file(&s, 3, path, sizeof path);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, DATASET_LABELS, H5P_DEFAULT);
    H5Fclose(f);
    expect_open_error(&s, "shard-00003.h5: dataset labels is missing", "missing labels");

    /* shard 1 of another resolution */
    Spec t = damaged("shapes"), other = SMALL;
    other.name = "shapes-other";
    other.resolution = 5;
    make_dataset(&other);
    char from[400];
    shard_file(&other, 1, from, sizeof from);
    shard_file(&t, 1, path, sizeof path);
    CHECK(rename(from, path) == 0, "swap shard");
    rewrite_attr_int(path, "resolution", 4);
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    h5_write_attr_string(f, "source", "test shapes");
    H5Fclose(f);
    expect_open_error(&t, "shard-00001.h5: dataset latents has shape [7, 8, 5, 5], expected [7, 8, 4, 4]", "shape");

    Spec k = damaged("kinds");
    shard_file(&k, 2, path, sizeof path);
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    h5_write_attr_string(f, "kind", "latents");
    H5Fclose(f);
    expect_open_error(&k, "shard-00002.h5: attribute kind is 'latents', expected 'moments'", "kind attribute");
}

static void label_out_of_range(void) {
    Spec s = damaged("labels");
    char path[400];
    shard_file(&s, 1, path, sizeof path);
    int32_t labels[7] = {0, 1, 2, 12, 4, 0, 1};
    hsize_t start[1] = {0}, count[1] = {7};
    overwrite(path, DATASET_LABELS, H5T_NATIVE_INT32, 1, start, count, labels);
    expect_open_error(&s, "shard-00001.h5: dataset labels: label 12 at row 3 is outside [0, 5)", "label range");
}

static void nan_in_the_data(void) {
    Spec s = damaged("nan");
    char path[400];
    shard_file(&s, 2, path, sizeof path);
    uint16_t row[8 * 16];
    for (int i = 0; i < 8 * 16; i++) row[i] = half_from_float(0.5f);
    row[40] = 0x7e00; /* NaN */
    hsize_t start[4] = {4, 0, 0, 0}, count[4] = {1, 8, 4, 4};
    hid_t t = dataset_file_type("float16");
    overwrite(path, DATASET_LATENTS, t, 4, start, count, row);
    H5Tclose(t);
    Reader *r = open_reader(&s, 1, 1, 0, 0, NULL); /* opening does not read the data */
    float x[23 * 64];
    int32_t labels[23];
    Error e = {{0}};
    CHECK(reader_read(r, 0, 23, x, labels, 23, &e) < 0, "NaN accepted");
    CHECK(strstr(e.msg, "shard-00002.h5: dataset latents: row 4 (sample") && strstr(e.msg, "NaN or Inf"), "%s", e.msg);
    e.msg[0] = 0;
    CHECK(reader_read(r, 23, 23, x, labels, -1, &e) < 0 && strstr(e.msg, "NaN"), "through the prefetch: %s", e.msg);
    reader_close(r);
}

/* The one value rule of kind pixels ([-1, 1], format.h): a stored 1.5 (written by another tool)
 * is refused by the reader as by the writer and by verify, never trained on. */
static void pixels_outside_the_range(void) {
    Spec s = PIXELS;
    s.name = "pixels-range";
    make_dataset(&s);
    char path[400];
    shard_file(&s, 0, path, sizeof path);
    uint16_t row[36];
    for (int i = 0; i < 36; i++) row[i] = half_from_float(0.5f);
    row[7] = half_from_float(1.5f);
    hsize_t start[4] = {3, 0, 0, 0}, count[4] = {1, 1, 6, 6};
    hid_t t = dataset_file_type("float16");
    overwrite(path, DATASET_LATENTS, t, 4, start, count, row);
    H5Tclose(t);
    Reader *r = open_reader(&s, 1, 0, 0, 0, NULL);
    float x[12 * 36];
    int32_t labels[12];
    Error e = {{0}};
    CHECK(reader_read(r, 0, 12, x, labels, 12, &e) < 0, "1.5 accepted as a pixel");
    CHECK(strstr(e.msg, "shard-00000.h5: dataset latents: row 3 (sample") &&
              strstr(e.msg, "holds 1.5, outside [-1, 1] for kind pixels"), "%s", e.msg);
    reader_close(r);
    DatasetInfo info = info_of(&s);
    ShardWriter *w = shard_writer_open(dir, &info, 0, 0, 1, &e);
    float v[36];
    for (int i = 0; i < 36; i++) v[i] = i == 9 ? -1.25f : 1.0f;
    int32_t label = 0;
    CHECK(w && shard_writer_append(w, v, &label, 1, &e) < 0 &&
              strstr(e.msg, "sample 0: value 9 is -1.25 (outside [-1, 1] for kind pixels)"), "writer: %s", e.msg);
    if (w) shard_writer_abort(w);
}

/* h5py-style datasets: contiguous is read; compressed chunks and other dtypes are refused. */
static void layouts_and_types(void) {
    Spec s = damaged("layouts");
    char path[400];
    shard_file(&s, 0, path, sizeof path);
    size_t n = 7 * 8 * 16;
    float *v = malloc(n * sizeof *v);
    uint16_t *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) v[i] = stored(&s, (long long)(i / 128), i % 128);
    half_from_float_n(v, h, n);
    hsize_t dims[4] = {7, 8, 4, 4}, chunk[4] = {2, 8, 4, 4};
    const char *variants[] = {"contiguous", "gzip", "float32"};
    for (int k = 0; k < 3; k++) {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        H5Ldelete(f, DATASET_LATENTS, H5P_DEFAULT);
        hid_t space = H5Screate_simple(4, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (k == 1) {
            H5Pset_chunk(dcpl, 4, chunk);
            H5Pset_deflate(dcpl, 4);
        }
        hid_t t = dataset_file_type(k == 2 ? "float32" : "float16");
        hid_t d = H5Dcreate2(f, DATASET_LATENTS, t, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Dwrite(d, k == 2 ? H5T_NATIVE_FLOAT : t, H5S_ALL, H5S_ALL, H5P_DEFAULT, k == 2 ? (void *)v : (void *)h);
        H5Dclose(d);
        H5Tclose(t);
        H5Pclose(dcpl);
        H5Sclose(space);
        H5Fclose(f);
        if (k == 0) {
            DatasetInfo info;
            Reader *r = open_reader(&s, 2, 0, 0, 0, &info);
            check_read(&s, r, 2, 0, 23, 0, &info);
            reader_close(r);
        } else {
            expect_open_error(&s, k == 1 ? "shard-00000.h5: dataset latents is compressed or filtered"
                                         : "shard-00000.h5: dataset latents is float32, expected float16",
                              variants[k]);
        }
    }
    free(v);
    free(h);
}

static void writer_refuses_bad_samples(void) {
    Spec s = SMALL;
    s.name = "refused";
    char root[300];
    path_of(&s, root, sizeof root);
    mkdir(root, 0777);
    DatasetInfo info = info_of(&s);
    float x[128];
    for (int i = 0; i < 128; i++) x[i] = 0.25f;
    Error e;
    struct { int index; float value; int32_t label; const char *want; } cases[] = {
        {5, NAN, 0, "sample 14: value 5 is nan (NaN/Inf)"},
        {7, 70000.0f, 0, "exceeds the float16 range"},
        {0, 0.25f, 5, "sample 14: label 5 is outside [0, 5)"},
    };
    for (size_t k = 0; k < ARRAY_LEN(cases); k++) {
        ShardWriter *w = shard_writer_open(root, &info, 2, 14, 7, &e);
        x[cases[k].index] = cases[k].value;
        int rc = shard_writer_append(w, x, &cases[k].label, 1, &e);
        x[cases[k].index] = 0.25f;
        CHECK(rc < 0 && strstr(e.msg, cases[k].want), "case %zu: %s", k, e.msg);
        shard_writer_abort(w);
        char tmp[400];
        snprintf(tmp, sizeof tmp, "%s/shard-00002.h5.tmp", root);
        CHECK(access(tmp, F_OK) != 0, "the aborted shard's temporary is removed");
    }
    /* An unfinished shard only exists under its temporary name. */
    ShardWriter *w = shard_writer_open(root, &info, 0, 0, 7, &e);
    int32_t label = 1;
    shard_writer_append(w, x, &label, 1, &e);
    char final[400], tmp[400];
    snprintf(final, sizeof final, "%s/shard-00000.h5", root);
    snprintf(tmp, sizeof tmp, "%s/shard-00000.h5.tmp", root);
    CHECK(access(final, F_OK) != 0 && access(tmp, F_OK) == 0, "half-written shard is not under the final name");
    shard_writer_abort(w);
}

int main(void) {
    scratch_dir(dir, sizeof dir, "reader");
    h5_quiet();
    make_dataset(&SMALL);
    make_dataset(&CHUNKY);
    make_dataset(&LATENTS);
    make_dataset(&PIXELS);
    RUN(values_match_an_independent_computation);
    RUN(each_epoch_is_a_permutation);
    RUN(slice_covers_the_batch);
    RUN(same_stream_for_any_world_size);
    RUN(resume_from_a_cursor);
    RUN(flips_and_fresh_latents);
    RUN(resampled_mode);
    RUN(missing_files);
    RUN(unreadable_shard_is_not_damaged);
    RUN(truncated_and_corrupted_shards);
    RUN(missing_dataset_and_mismatched_shapes);
    RUN(label_out_of_range);
    RUN(nan_in_the_data);
    RUN(pixels_outside_the_range);
    RUN(layouts_and_types);
    RUN(writer_refuses_bad_samples);
    remove_scratch_dir(dir);
    return test_summary();
}
