/* maskdit-convert's subcommands run in process: LMDB (written here in the original key format),
 * IDX (synthetic files, and Fashion-MNIST where installed) and NumPy round trips read back through
 * HDF5; resume after an interruption; verify on good and damaged datasets; every bad input with
 * its message. */
#include <hdf5.h>
#include <lmdb.h>
#include <mpi.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../../data-tools/convert.h"
#include "../../mpi/dist.h"
#include "../../src/data/format.h"
#include "../../src/util/h5util.h"
#include "../../src/util/half.h"
#include "../../src/util/npy.h"
#include "../../src/util/zip.h"
#include "test.h"
#include "test_util.h"

static Dist dist;
static char dir[256];

/* Runs a subcommand given as a space-separated line; returns its status, message in e. */
static int run(int (*cmd)(int, char **, const Dist *, Error *), const char *line, Error *e) {
    char buf[8192], *argv[64];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", line);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && argc < 63; t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    argv[argc] = NULL;
    e->msg[0] = 0;
    return cmd(argc, argv, &dist, e);
}

static void expect_failure(int (*cmd)(int, char **, const Dist *, Error *), const char *line, const char *want) {
    Error e;
    int rc = run(cmd, line, &e);
    CHECK(rc < 0, "'%s' succeeded", line);
    CHECK(strstr(e.msg, want) != NULL, "'%s': message '%s' lacks '%s'", line, e.msg, want);
}

/* Every row of the dataset in root as float (from HDF5, independent of the reader) and labels. */
static long long read_dataset(const char *root, DatasetInfo *info, float **x, int32_t **labels) {
    long long *rows;
    Error e;
    if (dataset_index_read(root, info, &rows, &e) < 0) {
        CHECK(0, "%s", e.msg);
        return -1;
    }
    size_t per = (size_t)info->stored_channels * (size_t)info->resolution * (size_t)info->resolution;
    *x = malloc((size_t)info->count * per * sizeof **x);
    *labels = malloc((size_t)info->count * sizeof **labels);
    long long first = 0;
    for (int s = 0; s < info->num_shards; s++) {
        char path[512];
        dataset_shard_path(root, s, path, sizeof path);
        hid_t f = h5_open_read(path, &e);
        CHECK(f >= 0, "%s", e.msg);
        if (f < 0) break;
        CHECK(h5_read_into(f, path, DATASET_LATENTS, H5T_NATIVE_FLOAT, *x + (size_t)first * per, (size_t)rows[s] * per, &e) == 0, "%s", e.msg);
        CHECK(h5_read_into(f, path, DATASET_LABELS, H5T_NATIVE_INT32, *labels + first, (size_t)rows[s], &e) == 0, "%s", e.msg);
        H5Fclose(f);
        first += rows[s];
    }
    free(rows);
    return info->count;
}

/* Runs a converting subcommand and reads its dataset back; 0 if it holds `count` samples. */
static int convert_and_read(int (*cmd)(int, char **, const Dist *, Error *), const char *line, long long count,
                            const char *root, DatasetInfo *info, float **x, int32_t **labels) {
    Error e;
    if (run(cmd, line, &e) < 0) {
        CHECK(0, "%s: %s", line, e.msg);
        return -1;
    }
    long long n = read_dataset(root, info, x, labels);
    CHECK(n == count, "%s: %lld samples, expected %lld", root, n, count);
    if (n != count && n >= 0) {
        free(*x);
        free(*labels);
    }
    return n == count ? 0 : -1;
}

/* ---------------- LMDB ---------------- */

enum { LMDB_N = 13, LMDB_C = 8, LMDB_R = 4 };

static float lmdb_value(int i, int k) {
    return k >= LMDB_C / 2 * LMDB_R * LMDB_R ? -4.0f + 0.01f * (float)k : sinf((float)(i * 100 + k)) * 3.0f;
}

typedef struct { int skip_length, skip_z, skip_y, bad_y, short_z, nan_z; unsigned flags; } LmdbFaults;

/* An LMDB as extract_latent.py writes it: z-<i> float32 [8, 4, 4], y-<i> ASCII, length. */
static void write_lmdb(const char *path, const LmdbFaults *f) {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    if (!(f->flags & MDB_NOSUBDIR)) mkdir(path, 0777);
    if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 16 << 20) || mdb_env_open(env, path, f->flags, 0664) ||
        mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, NULL, 0, &dbi))
        FATAL("cannot create the test LMDB %s", path);
    float z[LMDB_C * LMDB_R * LMDB_R];
    for (int i = 0; i < LMDB_N; i++) {
        char key[32], label[32];
        for (int k = 0; k < LMDB_C * LMDB_R * LMDB_R; k++) z[k] = lmdb_value(i, k);
        if (i == f->nan_z) z[5] = NAN;
        snprintf(key, sizeof key, "z-%d", i);
        MDB_val kv = {strlen(key), key}, zv = {sizeof z - (i == f->short_z ? 4 : 0), z};
        if (i != f->skip_z && mdb_put(txn, dbi, &kv, &zv, 0)) FATAL("mdb_put");
        snprintf(key, sizeof key, "y-%d", i);
        snprintf(label, sizeof label, i == f->bad_y ? "cat" : "%d", (i * 5) % 7);
        MDB_val ky = {strlen(key), key}, yv = {strlen(label), label};
        if (i != f->skip_y && mdb_put(txn, dbi, &ky, &yv, 0)) FATAL("mdb_put");
    }
    char n[16];
    snprintf(n, sizeof n, "%d", LMDB_N);
    MDB_val kl = {6, "length"}, vl = {strlen(n), n};
    if (!f->skip_length && mdb_put(txn, dbi, &kl, &vl, 0)) FATAL("mdb_put");
    if (mdb_txn_commit(txn)) FATAL("mdb_txn_commit");
    mdb_env_close(env);
}

static const LmdbFaults NO_FAULTS = {0, -1, -1, -1, -1, -1, 0};

static void lmdb_round_trip(void) {
    const char *dtypes[] = {"float32", "float16"};
    for (int k = 0; k < 2; k++) {
        char lmdb[300], out[300], line[1024];
        LmdbFaults f = NO_FAULTS;
        f.flags = k ? MDB_NOSUBDIR : 0; /* a directory, and a single-file LMDB */
        snprintf(lmdb, sizeof lmdb, "%s/latents%d.lmdb", dir, k);
        snprintf(out, sizeof out, "%s/lmdb-%s", dir, dtypes[k]);
        write_lmdb(lmdb, &f);
        snprintf(line, sizeof line, "lmdb %s --out %s --dtype %s --shard-size 5 --no-progress", lmdb, out, dtypes[k]);
        DatasetInfo info;
        float *x;
        int32_t *labels;
        if (convert_and_read(convert_lmdb_command, line, LMDB_N, out, &info, &x, &labels) < 0) continue;
        CHECK(!strcmp(info.kind, "moments") && info.stored_channels == 8 && info.channels == 4 && info.resolution == 4,
              "shape from the value size");
        CHECK(info.num_shards == 3 && info.num_classes == 7 && info.scale_factor == 0.18215 && !strcmp(info.dtype, dtypes[k]),
              "shards %d classes %d", info.num_shards, info.num_classes);
        int bad = 0;
        for (int i = 0; i < LMDB_N; i++) {
            bad += labels[i] != (i * 5) % 7;
            for (int j = 0; j < 128; j++) {
                float want = k ? half_to_float(half_from_float(lmdb_value(i, j))) : lmdb_value(i, j);
                bad += x[i * 128 + j] != want;
            }
        }
        CHECK(bad == 0, "%s: %d values or labels differ", dtypes[k], bad);
        free(x);
        free(labels);
    }
}

static void lmdb_bad_inputs(void) {
    struct { LmdbFaults f; const char *extra, *want; } cases[] = {
        {{1, -1, -1, -1, -1, -1, 0}, "", "key length is missing"},
        {{0, 6, -1, -1, -1, -1, 0}, "", "key z-6 is missing"},
        {{0, -1, 9, -1, -1, -1, 0}, "", "key y-9 is missing"},
        {{0, -1, -1, 3, -1, -1, 0}, "", "key y-3 holds 'cat', expected an integer"},
        {{0, -1, -1, -1, 4, -1, 0}, "", "key z-4 holds 508 bytes, expected 512 like z-0"},
        {{0, -1, -1, -1, -1, 2, 0}, "", "sample 2: value 5 is nan (NaN/Inf)"},
        {{0, -1, -1, -1, -1, -1, 0}, "--channels 6", "128 float32 values, which is not 6 channels"},
        {{0, -1, -1, -1, -1, -1, 0}, "--num-classes 5", "label 5 of sample 1 is outside [0, 5) (--num-classes 5)"},
    };
    for (size_t k = 0; k < ARRAY_LEN(cases); k++) {
        char lmdb[300], line[1024];
        snprintf(lmdb, sizeof lmdb, "%s/bad%zu.lmdb", dir, k);
        write_lmdb(lmdb, &cases[k].f);
        snprintf(line, sizeof line, "lmdb %s --out %s/bad%zu --no-progress %s", lmdb, dir, k, cases[k].extra);
        expect_failure(convert_lmdb_command, line, cases[k].want);
        Error e;
        run(convert_lmdb_command, line, &e);
        const char *named = strstr(e.msg, lmdb);
        CHECK(named && !strstr(named + 1, lmdb), "case %zu: the input is named once: %s", k, e.msg);
        /* nothing that looks complete is left behind */
        char index[400];
        snprintf(index, sizeof index, "%s/bad%zu/index.h5", dir, k);
        CHECK(access(index, F_OK) != 0, "case %zu left an index", k);
    }
    char line[600];
    snprintf(line, sizeof line, "lmdb %s/nowhere.lmdb --out %s/x", dir, dir);
    expect_failure(convert_lmdb_command, line, "nowhere.lmdb: no such file or directory");
    snprintf(line, sizeof line, "lmdb %s/latents0.lmdb", dir);
    expect_failure(convert_lmdb_command, line, "no output directory: give --out DIR");
    char file[300], want[400];
    snprintf(file, sizeof file, "%s/a-file", dir);
    fclose(fopen(file, "w"));
    snprintf(line, sizeof line, "lmdb %s/latents0.lmdb --out %s/sub --no-progress", dir, file);
    snprintf(want, sizeof want, "--out: '%s' exists and is not a directory", file);
    expect_failure(convert_lmdb_command, line, want);
    expect_failure(convert_lmdb_command, "lmdb x --frobnicate 3", "lmdb: unknown option '--frobnicate'");
    expect_failure(convert_lmdb_command, "lmdb x --dtype float64", "--dtype: 'float64' is not float16 or float32");
    expect_failure(convert_lmdb_command, "lmdb x --shard-size", "option --shard-size needs a value");
    expect_failure(convert_lmdb_command, "lmdb x --shard-size=0",
                   "--shard-size: expected a whole number from 1 to 4294967296, got '0'");
}

/* ---------------- resume and verify ---------------- */

static void file_identity(const char *path, struct stat *st) {
    if (stat(path, st) != 0) memset(st, 0, sizeof *st);
}

static void resume_keeps_complete_shards(void) {
    char out[300], line[1024], path[400];
    snprintf(out, sizeof out, "%s/resume", dir);
    snprintf(line, sizeof line, "lmdb %s/latents0.lmdb --out %s --shard-size 5 --no-progress", dir, out);
    Error e;
    CHECK(run(convert_lmdb_command, line, &e) == 0, "%s", e.msg);
    /* simulate an interruption while shard 2 was written: its final file and the index never appeared */
    struct stat before0, after0, after2;
    snprintf(path, sizeof path, "%s/shard-00000.h5", out);
    file_identity(path, &before0);
    snprintf(path, sizeof path, "%s/shard-00002.h5", out);
    unlink(path);
    snprintf(path, sizeof path, "%s/index.h5", out);
    unlink(path);
    snprintf(path, sizeof path, "%s/shard-00002.h5.tmp", out);
    FILE *f = fopen(path, "w");
    fputs("half a shard", f);
    fclose(f);
    /* date shard 0 back by an hour: a rewritten shard would get a new modification time */
    snprintf(path, sizeof path, "%s/shard-00000.h5", out);
    struct timespec old[2] = {{before0.st_atime - 3600, 0}, {before0.st_mtime - 3600, 0}};
    CHECK(utimensat(AT_FDCWD, path, old, 0) == 0, "utimensat");
    file_identity(path, &before0);
    CHECK(run(convert_lmdb_command, line, &e) == 0, "resume: %s", e.msg);
    snprintf(path, sizeof path, "%s/shard-00000.h5", out);
    file_identity(path, &after0);
    CHECK(after0.st_ino == before0.st_ino && after0.st_mtime == before0.st_mtime, "a complete shard was rewritten");
    snprintf(path, sizeof path, "%s/shard-00002.h5", out);
    file_identity(path, &after2);
    CHECK(after2.st_size > 0, "the interrupted shard was redone");
    snprintf(path, sizeof path, "%s/shard-00002.h5.tmp", out);
    CHECK(access(path, F_OK) != 0, "no temporary left");
    snprintf(line, sizeof line, "verify %s", out);
    CHECK(run(convert_verify_command, line, &e) == 0, "%s", e.msg);
    /* the same directory with other settings: refused, nothing overwritten */
    snprintf(line, sizeof line, "lmdb %s/latents0.lmdb --out %s --shard-size 5 --dtype float32 --no-progress", dir, out);
    expect_failure(convert_lmdb_command, line, "an existing shard does not match this conversion");
}

/* Overwrites `len` bytes at byte `at` of the first chunk of a shard's latents. */
static void scribble(const char *root, int shard, long long at, const void *bytes, size_t len) {
    DatasetInfo info;
    long long *rows, first = 0;
    Error e;
    if (dataset_index_read(root, &info, &rows, &e) < 0) FATAL("%s", e.msg);
    for (int s = 0; s < shard; s++) first += rows[s];
    ShardLayout l;
    if (dataset_shard_open(root, &info, shard, first, rows[shard], &l, NULL, NULL, &e) < 0) FATAL("%s", e.msg);
    char path[400];
    dataset_shard_path(root, shard, path, sizeof path);
    FILE *f = fopen(path, "r+b");
    fseeko(f, (off_t)(l.chunk_offset[0] + (uint64_t)at), SEEK_SET);
    fwrite(bytes, 1, len, f);
    fclose(f);
    shard_layout_free(&l);
    free(rows);
}

static void verify_finds_damage(void) {
    char good[300], line[1024];
    snprintf(good, sizeof good, "%s/lmdb-float16", dir);
    snprintf(line, sizeof line, "verify %s", good);
    Error e;
    CHECK(run(convert_verify_command, line, &e) == 0, "%s", e.msg);
    const char *variants[] = {"flipped", "nan", "rows"};
    for (int k = 0; k < 3; k++) {
        char copy[400];
        snprintf(copy, sizeof copy, "%s/damaged-%s", dir, variants[k]);
        snprintf(line, sizeof line, "lmdb %s/latents0.lmdb --out %s --shard-size 5 --no-progress", dir, copy);
        CHECK(run(convert_lmdb_command, line, &e) == 0, "%s", e.msg);
        if (k == 0) {
            scribble(copy, 1, 100, "\x12\x34", 2); /* a plausible value: only the checksum sees it */
        } else if (k == 1) {
            scribble(copy, 1, 300, "\x00\x7c", 2); /* float16 +Inf */
        } else {
            char index[500];
            snprintf(index, sizeof index, "%s/index.h5", copy);
            hid_t f = H5Fopen(index, H5F_ACC_RDWR, H5P_DEFAULT);
            hid_t d = H5Dopen2(f, "shard_rows", H5P_DEFAULT);
            long long rows[3] = {5, 4, 4};
            H5Dwrite(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows);
            H5Dclose(d);
            h5_write_attr_int64(f, "count", 13);
            H5Fclose(f);
        }
        snprintf(line, sizeof line, "verify %s", copy);
        const char *want[] = {"shard-00001.h5: dataset latents: checksum mismatch",
                              "shard-00001.h5: dataset latents: row 1 contains NaN or Inf",
                              "shard-00001.h5: dataset latents has shape [5, 8, 4, 4], expected [4, 8, 4, 4]"};
        expect_failure(convert_verify_command, line, want[k]);
    }
    snprintf(line, sizeof line, "verify %s/nothing-here", dir);
    expect_failure(convert_verify_command, line, "dataset directory not found");
    snprintf(line, sizeof line, "info %s", good);
    CHECK(run(convert_info_command, line, &e) == 0, "%s", e.msg);
}

/* ---------------- IDX ---------------- */

static void write_idx(const char *path, int gz, uint32_t magic, int ndims, const uint32_t *dims, const unsigned char *data,
                      size_t n) {
    unsigned char header[16];
    for (int i = 0; i < 4; i++) header[i] = (unsigned char)(magic >> (24 - 8 * i));
    for (int d = 0; d < ndims; d++)
        for (int i = 0; i < 4; i++) header[4 + 4 * d + i] = (unsigned char)(dims[d] >> (24 - 8 * i));
    gzFile f = gzopen(path, gz ? "wb" : "wbT");
    gzwrite(f, header, (unsigned)(4 + 4 * ndims));
    gzwrite(f, data, (unsigned)n);
    gzclose(f);
}

enum { IDX_N = 7, IDX_ROWS = 3, IDX_COLS = 4 };

static void write_idx_pair(const char *images, const char *labels, int gz) {
    unsigned char pix[IDX_N * IDX_ROWS * IDX_COLS], lab[IDX_N];
    for (int i = 0; i < IDX_N * IDX_ROWS * IDX_COLS; i++) pix[i] = (unsigned char)(i * 37 % 256);
    for (int i = 0; i < IDX_N; i++) lab[i] = (unsigned char)(9 - i);
    uint32_t di[3] = {IDX_N, IDX_ROWS, IDX_COLS}, dl[1] = {IDX_N};
    write_idx(images, gz, 0x803, 3, di, pix, sizeof pix);
    write_idx(labels, gz, 0x801, 1, dl, lab, sizeof lab);
}

static void idx_round_trip(void) {
    for (int gz = 0; gz < 2; gz++) {
        char images[300], labels[300], out[300], line[1200];
        snprintf(images, sizeof images, "%s/images%d.idx%s", dir, gz, gz ? ".gz" : "");
        snprintf(labels, sizeof labels, "%s/labels%d.idx%s", dir, gz, gz ? ".gz" : "");
        snprintf(out, sizeof out, "%s/idx%d", dir, gz);
        write_idx_pair(images, labels, gz);
        snprintf(line, sizeof line, "idx --images %s --labels %s --out %s --resolution 6 --dtype float32 --shard-size 3 --no-progress",
                 images, labels, out);
        DatasetInfo info;
        float *x;
        int32_t *y;
        if (convert_and_read(convert_idx_command, line, IDX_N, out, &info, &x, &y) < 0) continue;
        CHECK(!strcmp(info.kind, "pixels") && info.stored_channels == 1 && info.resolution == 6 && info.num_classes == 10 &&
              info.scale_factor == 1 && info.num_shards == 3, "attributes");
        int bad = 0;
        for (int i = 0; i < IDX_N; i++) {
            bad += y[i] != 9 - i;
            for (int r = 0; r < 6; r++)
                for (int c = 0; c < 6; c++) {
                    /* 3 x 4 image centred on 6 x 6: rows 1..3, columns 1..4 */
                    int inside = r >= 1 && r < 4 && c >= 1 && c < 5;
                    float want = inside ? (float)((i * 12 + (r - 1) * 4 + (c - 1)) * 37 % 256) / 127.5f - 1.0f : -1.0f;
                    bad += x[i * 36 + r * 6 + c] != want;
                }
        }
        CHECK(bad == 0, "gz=%d: %d pixels or labels differ", gz, bad);
        free(x);
        free(y);
    }
}

static void idx_bad_inputs(void) {
    char images[300], labels[300], line[1200];
    snprintf(images, sizeof images, "%s/images0.idx", dir);
    snprintf(labels, sizeof labels, "%s/labels0.idx", dir);
    snprintf(line, sizeof line, "idx --images %s --labels %s --out %s/x --no-progress", labels, labels, dir);
    expect_failure(convert_idx_command, line, "labels0.idx: wrong magic number 0x00000801, expected 0x00000803");
    snprintf(line, sizeof line, "idx --images %s --labels %s --out %s/x --no-progress", images, images, dir);
    expect_failure(convert_idx_command, line, "images0.idx: wrong magic number 0x00000803, expected 0x00000801");
    snprintf(line, sizeof line, "idx --images %s --labels %s --out %s/x --resolution 3 --no-progress", images, labels, dir);
    expect_failure(convert_idx_command, line, "images are 3 x 4, larger than --resolution 3");
    /* 5 labels for 7 images; images cut short */
    char few[300], cut[300];
    snprintf(few, sizeof few, "%s/few-labels.idx", dir);
    snprintf(cut, sizeof cut, "%s/cut-images.idx", dir);
    unsigned char data[IDX_N * 12] = {0};
    uint32_t dl[1] = {5}, di[3] = {IDX_N, 3, 4};
    write_idx(few, 0, 0x801, 1, dl, data, 5);
    write_idx(cut, 0, 0x803, 3, di, data, 5 * 12 + 7);
    snprintf(line, sizeof line, "idx --images %s --labels %s --out %s/x --no-progress", images, few, dir);
    expect_failure(convert_idx_command, line, "few-labels.idx: 5 labels, but the images file has 7 images");
    snprintf(line, sizeof line, "idx --images %s --labels %s --out %s/cut --no-progress", cut, labels, dir);
    expect_failure(convert_idx_command, line, "cut-images.idx: truncated: image 5 of 7 is missing");
    snprintf(line, sizeof line, "idx --images %s --out %s/x", images, dir);
    expect_failure(convert_idx_command, line, "give both --images and --labels");
    /* A damaged .gz: zlib's reason, not "wrong magic number 0x00000000". */
    char gz[300];
    snprintf(gz, sizeof gz, "%s/damaged.gz", dir);
    FILE *f = fopen(gz, "wb");
    fwrite("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xff\xff", 1, 13, f);
    fclose(f);
    snprintf(line, sizeof line, "idx --images %s --labels %s --out %s/x --no-progress", gz, labels, dir);
    expect_failure(convert_idx_command, line, "damaged.gz: invalid block type (not a readable IDX file)");
}

/* Debian's dataset-fashion-mnist: the 10k test set, a quick check of counts, labels and range. */
static void fashion_mnist(void) {
    const char *base = "/usr/share/datasets/fashion-mnist";
    char images[300], labels[300], out[300], line[1200];
    snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte.gz", base);
    snprintf(labels, sizeof labels, "%s/t10k-labels-idx1-ubyte.gz", base);
    /* The package is in the Makefile's DEBIAN_PACKAGES: missing files are a broken setup, not a skip. */
    int installed = access(images, R_OK) == 0 && access(labels, R_OK) == 0;
    CHECK(installed, "%s: Fashion-MNIST is not installed (package dataset-fashion-mnist, make deps)", images);
    if (!installed) return;
    snprintf(out, sizeof out, "%s/fmnist", dir);
    snprintf(line, sizeof line, "idx --images %s --labels %s --out %s --no-progress", images, labels, out);
    DatasetInfo info;
    float *x;
    int32_t *y;
    if (convert_and_read(convert_idx_command, line, 10000, out, &info, &x, &y) < 0) return;
    int per_class[10] = {0}, border = 0;
    float lo = 1, hi = -1;
    for (int i = 0; i < 10000; i++) {
        if (y[i] >= 0 && y[i] < 10) per_class[y[i]]++;
        for (int k = 0; k < 32 * 32; k++) {
            float v = x[i * 1024 + k];
            lo = fminf(lo, v);
            hi = fmaxf(hi, v);
            int r = k / 32, c = k % 32;
            if (r < 2 || r >= 30 || c < 2 || c >= 30) border += v != -1.0f;
        }
    }
    for (int c = 0; c < 10; c++) CHECK(per_class[c] == 1000, "class %d has %d images", c, per_class[c]);
    CHECK(info.num_classes == 10 && info.resolution == 32 && lo == -1.0f && hi == 1.0f, "classes %d range [%g, %g]",
          info.num_classes, lo, hi);
    CHECK(border == 0, "the 2-pixel padding is black (%d pixels are not)", border);
    free(x);
    free(y);
}

/* ---------------- NumPy ---------------- */

static void npy_round_trip(void) {
    enum { N = 9, C = 4, R = 5 };
    long long shape[4] = {N, C, R, R}, lshape[1] = {N};
    size_t n = N * C * R * R;
    float *f32 = malloc(n * sizeof *f32);
    double *f64 = malloc(n * sizeof *f64);
    uint16_t *f16 = malloc(n * sizeof *f16);
    int64_t labels[N];
    for (size_t i = 0; i < n; i++) {
        f32[i] = cosf((float)i * 0.37f) * 2.5f;
        f64[i] = f32[i];
        f16[i] = half_from_float(f32[i]);
    }
    for (int i = 0; i < N; i++) labels[i] = (i * 4) % 11;
    char data[300], lab[300], out[300], line[1200];
    Error e;
    snprintf(lab, sizeof lab, "%s/labels.npy", dir);
    CHECK(npy_save(lab, "<i8", 1, lshape, labels, &e) == 0, "%s", e.msg);
    const char *descr[] = {"<f4", "<f8", "<f2"};
    const void *arrays[] = {f32, f64, f16};
    for (int k = 0; k < 3; k++) {
        snprintf(data, sizeof data, "%s/data%d.npy", dir, k);
        snprintf(out, sizeof out, "%s/npy%d", dir, k);
        CHECK(npy_save(data, descr[k], 4, shape, arrays[k], &e) == 0, "%s", e.msg);
        snprintf(line, sizeof line, "npy --data %s --labels %s --kind latents --out %s --dtype float32 --shard-size 4 --no-progress --source test-array",
                 data, lab, out);
        DatasetInfo info;
        float *x;
        int32_t *y;
        if (convert_and_read(convert_npy_command, line, N, out, &info, &x, &y) < 0) continue;
        int bad = 0;
        for (size_t i = 0; i < n; i++) bad += x[i] != (k == 2 ? half_to_float(f16[i]) : f32[i]);
        for (int i = 0; i < N; i++) bad += y[i] != labels[i];
        CHECK(bad == 0, "%s: %d values differ", descr[k], bad);
        CHECK(!strcmp(info.kind, "latents") && info.num_classes == 11 && info.resolution == R && !strcmp(info.source, "test-array"),
              "attributes");
        free(x);
        free(y);
    }
    /* without labels: unlabelled (num_classes 0, labels 0) */
    snprintf(out, sizeof out, "%s/npy-unlabelled", dir);
    char source[301];
    memset(source, 'a', 300);
    source[300] = 0;
    source[299] = 'z';
    snprintf(line, sizeof line, "npy --data %s/data0.npy --kind moments --out %s --no-progress --source %s", dir, out, source);
    DatasetInfo info;
    float *x;
    int32_t *y;
    if (convert_and_read(convert_npy_command, line, N, out, &info, &x, &y) == 0) {
        CHECK(info.num_classes == 0 && y[0] == 0 && y[N - 1] == 0 && info.channels == 2, "unlabelled moments");
        CHECK(strlen(info.source) == 255 && !strncmp(info.source, "...aaa", 6) && info.source[254] == 'z',
              "a long source keeps its end: %s", info.source);
        free(x);
        free(y);
    }
    free(f32);
    free(f64);
    free(f16);
}

static void npy_bad_inputs(void) {
    char path[300], line[1200];
    Error e;
    long long s3[3] = {2, 3, 3}, s4[4] = {2, 1, 2, 3}, s1[1] = {3}, good[4] = {3, 2, 2, 2};
    float z[24] = {0};
    double fl[3] = {1, 2, 3};
    int32_t neg[3] = {1, -4, 0};
    struct { const char *name, *descr; int ndim; const long long *shape; const void *data; } files[] = {
        {"three-d.npy", "<f4", 3, s3, z}, {"not-square.npy", "<f4", 4, s4, z}, {"float-labels.npy", "<f8", 1, s1, fl},
        {"neg-labels.npy", "<i4", 1, s1, neg}, {"good.npy", "<f4", 4, good, z}};
    for (size_t k = 0; k < ARRAY_LEN(files); k++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[k].name);
        CHECK(npy_save(path, files[k].descr, files[k].ndim, files[k].shape, files[k].data, &e) == 0, "%s", e.msg);
    }
    struct { const char *args, *want; } cases[] = {
        {"--data %s/three-d.npy --kind latents", "three-d.npy: array has shape (2, 3, 3), expected (N, C, H, W) with H == W"},
        {"--data %s/not-square.npy --kind latents", "not-square.npy: array has shape (2, 1, 2, 3)"},
        {"--data %s/good.npy --labels %s/float-labels.npy --kind latents", "float-labels.npy: labels have the float dtype '<f8'"},
        {"--data %s/good.npy --labels %s/neg-labels.npy --kind latents", "neg-labels.npy: label -4 of sample 1 is not a class index"},
        {"--data %s/good.npy --labels %s/good.npy --kind latents", "good.npy: labels must have shape (3,)"},
        {"--data %s/good.npy --out %s/x", "--kind moments, latents or pixels"},
        {"--data %s/good.npy --kind colours", "kind 'colours' is not one of moments, latents, pixels"},
        {"--data %s/missing.npy --kind latents", "missing.npy: cannot open"},
        {"--data %s/cut.npy --kind latents", "cut.npy: truncated: the array data ends before its shape says"},
    };
    /* a .npy whose data stops early */
    snprintf(path, sizeof path, "%s/cut.npy", dir);
    CHECK(npy_save(path, "<f4", 4, good, z, &e) == 0, "%s", e.msg);
    CHECK(truncate(path, 128 + 40) == 0, "truncate");
    for (size_t k = 0; k < ARRAY_LEN(cases); k++) {
        char args[600];
        snprintf(args, sizeof args, cases[k].args, dir, dir);
        snprintf(line, sizeof line, "npy %s --out %s/npy-bad%zu --no-progress", args, dir, k);
        expect_failure(convert_npy_command, line, cases[k].want);
    }
}

/* ---------------- NumPy archives ---------------- */

/* An archive of stored .npy entries, like numpy.savez writes. */
static void write_npz(const char *path, int count, const char *const *names, const char *const *descr,
                      const int *ndim, const long long *const *shape, const void *const *data) {
    Error e;
    ZipWriter *w = zip_writer_open(path, 0, &e);
    if (!w) FATAL("%s", e.msg);
    for (int k = 0; k < count; k++) {
        char header[256];
        long long hb = npy_format_header(header, sizeof header, descr[k], ndim[k], shape[k]), n = 1;
        for (int d = 0; d < ndim[k]; d++) n *= shape[k][d];
        size_t bytes = (size_t)n * (size_t)(descr[k][2] - '0');
        if (zip_writer_begin(w, names[k], (uint64_t)hb + bytes, &e) < 0 || zip_writer_write(w, header, (size_t)hb, &e) < 0 ||
            zip_writer_write(w, data[k], bytes, &e) < 0 || zip_writer_end(w, &e) < 0)
            FATAL("%s", e.msg);
    }
    if (zip_writer_close(w, &e) < 0) FATAL("%s", e.msg);
}

static void npz_round_trip(void) {
    enum { N = 6, C = 2, R = 3 };
    float x[N * C * R * R];
    int32_t y[N];
    for (int i = 0; i < N * C * R * R; i++) x[i] = (float)i / 64 - 0.75f;   /* pixels: within [-1, 1] */
    for (int i = 0; i < N; i++) y[i] = 5 - i;
    long long xs[4] = {N, C, R, R}, ys[1] = {N};
    const char *names[] = {"arr_0.npy", "arr_1.npy"}, *descr[] = {"<f4", "<i4"};
    const int ndim[] = {4, 1};
    const long long *shapes[] = {xs, ys};
    const void *data[] = {x, y};
    char npz[300], out[300], line[1200];
    snprintf(npz, sizeof npz, "%s/savez.npz", dir);
    write_npz(npz, 2, names, descr, ndim, shapes, data);
    snprintf(out, sizeof out, "%s/npz", dir);
    snprintf(line, sizeof line, "npz %s --kind pixels --out %s --dtype float32 --shard-size 4 --no-progress", npz, out);
    DatasetInfo info;
    float *got;
    int32_t *labels;
    if (convert_and_read(convert_npz_command, line, N, out, &info, &got, &labels) < 0) return;
    int bad = 0;
    for (int i = 0; i < N * C * R * R; i++) bad += got[i] != x[i];
    for (int i = 0; i < N; i++) bad += labels[i] != y[i];
    CHECK(bad == 0, "%d values or labels differ (arr_0 data, arr_1 labels by default)", bad);
    CHECK(info.num_classes == 6 && !strcmp(info.kind, "pixels") && strstr(info.source, "savez.npz:arr_0.npy"), "attributes");
    free(got);
    free(labels);
}

static void npz_bad_inputs(void) {
    char npz[300], line[1200];
    snprintf(npz, sizeof npz, "%s/savez.npz", dir);
    snprintf(line, sizeof line, "npz %s --kind latents --data-key moments --out %s/npz-bad", npz, dir);
    expect_failure(convert_npz_command, line, "savez.npz: no array 'moments' (entry moments.npy); the archive holds: arr_0.npy, arr_1.npy");
    snprintf(line, sizeof line, "npz %s --kind latents --labels-key y --out %s/npz-bad", npz, dir);
    expect_failure(convert_npz_command, line, "no array 'y'");
    snprintf(line, sizeof line, "npz %s --kind latents --data-key arr_1 --out %s/npz-bad --no-progress", npz, dir);
    expect_failure(convert_npz_command, line, "savez.npz:arr_1.npy: array has shape (6,), expected (N, C, H, W)");
    char cut[300];
    snprintf(cut, sizeof cut, "%s/cut.npz", dir);
    snprintf(line, sizeof line, "head -c 300 %s > %s", npz, cut);
    CHECK(system(line) == 0, "truncate a copy");
    snprintf(line, sizeof line, "npz %s --kind latents --out %s/npz-bad", cut, dir);
    expect_failure(convert_npz_command, line, "cut.npz");
}

int main(int argc, char **argv) {
    dist_init(&dist, &argc, &argv);
    h5_quiet();
    scratch_dir(dir, sizeof dir, "convert");
    RUN(lmdb_round_trip);
    RUN(lmdb_bad_inputs);
    RUN(resume_keeps_complete_shards);
    RUN(verify_finds_damage);
    RUN(idx_round_trip);
    RUN(idx_bad_inputs);
    RUN(fashion_mnist);
    RUN(npy_round_trip);
    RUN(npy_bad_inputs);
    RUN(npz_round_trip);
    RUN(npz_bad_inputs);
    remove_scratch_dir(dir);
    dist_finalize(&dist);
    return test_summary();
}
