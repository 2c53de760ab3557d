/* HDF5 checkpoints: collective save / load round trip, strict and non-strict loads, failed saves
 * that leave the previous file intact (the .tmp path blocked; a file size limit below the
 * checkpoint size; with --disk-full DIR, a file system that fills up in the middle of the write),
 * ckpt_find_latest skipping damaged files with a warning, ckpt_validate's messages, and the fp16
 * loss scaler's state through a checkpoint (resume equals an uninterrupted run; corrupt counts).
 *
 * An MPI program for any number of ranks: tests/run.sh runs it as one process, tests/cli/ckpt.sh
 * with mpirun -np 2 and 3 (and --disk-full on a small tmpfs where it can mount one). Every rank
 * checks; rank 0 prints one PASS/FAIL line per case for all. */
#include <errno.h>
#include <math.h>
#include <mpi.h>

#include "../../mpi/dist.h"
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../../src/ckpt/ckpt.h"
#include "../../src/train/loss_scale.h"
#include "../../src/util/h5util.h"
#include "test.h"
#include "test_util.h"

static Dist dist;
static int rank, world;
static char dir[256], golden_h5[512];

static void mpi_run(const char *name, void (*fn)(void)) {
    test_case_failures = 0;
    fn();
    int failures;
    MPI_Allreduce(&test_case_failures, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (failures) test_cases_failed++;
    else test_cases_passed++;
    if (rank == 0) printf("%s %s\n", failures ? "FAIL" : "PASS", name);
    fflush(stdout);
}
#define MPI_RUN(fn) mpi_run(#fn, fn)

static ModelConfig tiny(void) {
    ModelConfig c = model_config_default();
    c.input_size = 8; c.patch_size = 2; c.in_channels = 4; c.hidden_size = 64; c.depth = 2; c.num_heads = 4;
    c.num_classes = 10; c.decoder_hidden_size = 32; c.decoder_depth = 2; c.decoder_num_heads = 4;
    return c;
}

typedef struct {
    ParamTable t;
    CkptTensors ts;
    CkptMeta meta;
} Fixture;

/* Distinct, exactly representable values per section and element (same on every rank). */
static void fixture(Fixture *f, const ModelConfig *c, int with_opt) {
    param_table_build(&f->t, c);
    f->ts.model = malloc(f->t.total * 4);
    f->ts.ema = malloc(f->t.total * 4);
    f->ts.exp_avg = with_opt ? malloc(f->t.n_trainable * 4) : NULL;
    f->ts.exp_avg_sq = with_opt ? malloc(f->t.n_trainable * 4) : NULL;
    for (size_t i = 0; i < f->t.total; i++) {
        f->ts.model[i] = (float)((int)(i % 1999) - 999) / 1024.0f;
        f->ts.ema[i] = (float)((int)(i % 997) - 500) / 512.0f;
        if (with_opt && i < f->t.n_trainable) {
            f->ts.exp_avg[i] = (float)i;
            f->ts.exp_avg_sq[i] = (float)(i % 4093) * 0x1p-30f;
        }
    }
    memset(&f->meta, 0, sizeof f->meta);
    f->meta.step = 1234567;
    f->meta.sample_cursor = 1234567LL * 256;
    f->meta.seed = 42;
    f->meta.world_size = world;
    f->meta.loss_scale = 8192.0;
    f->meta.loss_scale_good_steps = 1234;
    f->meta.lr = 1e-4;
    snprintf(f->meta.precision, sizeof f->meta.precision, "bf16");
    /* A long YAML text: more than the 64 KiB that an attribute in a compact object header can hold. */
    size_t n = 100000;
    f->meta.config_text = malloc(n + 1);
    for (size_t i = 0; i < n; i++) f->meta.config_text[i] = "train:\n  lr: 0.0001\n"[i % 20];
    f->meta.config_text[n] = 0;
    f->meta.model_config_json = strdup("{\"hidden_size\": 64}");
}

static void fixture_free(Fixture *f) {
    free(f->ts.model), free(f->ts.ema), free(f->ts.exp_avg), free(f->ts.exp_avg_sq);
    ckpt_meta_free(&f->meta);
    param_table_free(&f->t);
}

static void path_of(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

/* The tiny model's fixture, to be saved as `name` in the scratch directory (path: its full name). */
static void tiny_fixture_named(Fixture *f, int with_opt, const char *name, char *path, size_t len) {
    ModelConfig c = tiny();
    fixture(f, &c, with_opt);
    path_of(path, len, name);
}

static int same_file_bytes(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        same = x == y;
        if (x == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void copy_file(const char *from, const char *to, long max_bytes) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    long n = 0;
    for (int ch; (max_bytes < 0 || n < max_bytes) && (ch = fgetc(a)) != EOF; n++) fputc(ch, b);
    fclose(a);
    fclose(b);
}

/* Load everything back and compare bit for bit. */
static void check_loads_back(const char *path, const Fixture *f) {
    const ParamTable *t = &f->t;
    CkptTensors got = {malloc(t->total * 4), malloc(t->total * 4), f->ts.exp_avg ? malloc(t->n_trainable * 4) : NULL,
                       f->ts.exp_avg_sq ? malloc(t->n_trainable * 4) : NULL};
    CkptMeta m;
    Error e;
    CHECK(ckpt_load(path, t, &got, &m, 1, &e) == 0, "%s", e.msg);
    CHECK(memcmp(got.model, f->ts.model, t->total * 4) == 0, "model differs");
    CHECK(memcmp(got.ema, f->ts.ema, t->total * 4) == 0, "ema differs");
    if (got.exp_avg) CHECK(memcmp(got.exp_avg, f->ts.exp_avg, t->n_trainable * 4) == 0, "exp_avg differs");
    if (got.exp_avg_sq) CHECK(memcmp(got.exp_avg_sq, f->ts.exp_avg_sq, t->n_trainable * 4) == 0, "exp_avg_sq differs");
    CHECK(m.step == f->meta.step && m.sample_cursor == f->meta.sample_cursor && m.seed == 42 && m.world_size == world,
          "meta numbers: step %lld cursor %lld seed %lld world %d", m.step, m.sample_cursor, m.seed, m.world_size);
    CHECK(m.loss_scale == 8192.0 && m.lr == 1e-4 && strcmp(m.precision, "bf16") == 0, "meta scale/lr/precision");
    CHECK(m.loss_scale_good_steps == 1234, "loss_scale_good_steps %lld", m.loss_scale_good_steps);
    CHECK(m.config_text && strcmp(m.config_text, f->meta.config_text) == 0, "config text");
    CHECK(m.model_config_json && strcmp(m.model_config_json, f->meta.model_config_json) == 0, "model_config");
    ckpt_meta_free(&m);
    free(got.model), free(got.ema), free(got.exp_avg), free(got.exp_avg_sq);
}

static void save_load_round_trip(void) {
    ModelConfig c = tiny();
    Fixture f;
    char path[512];
    tiny_fixture_named(&f, 1, "0000100.h5", path, sizeof path);
    Error e;
    CHECK(ckpt_save(path, &dist, &f.t, &f.ts, &f.meta, &e) == 0, "%s", e.msg);
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0, "no .tmp left");
    check_loads_back(path, &f);
    int sections;
    CHECK(ckpt_sections(path, &sections, &e) == 0 && sections == (CKPT_MODEL | CKPT_EMA | CKPT_OPT), "sections %d",
          sections);
    CHECK(ckpt_validate(path, &f.t, &e) == 0, "%s", e.msg);
    /* Weights only (an imported release checkpoint): no /opt. */
    Fixture g;
    fixture(&g, &c, 0);
    path_of(path, sizeof path, "weights.h5");
    CHECK(ckpt_save(path, &dist, &g.t, &g.ts, &g.meta, &e) == 0, "%s", e.msg);
    check_loads_back(path, &g);
    CHECK(ckpt_sections(path, &sections, &e) == 0 && sections == (CKPT_MODEL | CKPT_EMA), "sections %d", sections);
    CHECK(ckpt_validate(path, &g.t, &e) == 0, "%s", e.msg);
    CkptTensors opt = {.exp_avg = g.ts.model};
    CHECK(ckpt_load(path, &g.t, &opt, NULL, 1, &e) < 0 && strstr(e.msg, "no /opt/exp_avg section"), "%s", e.msg);
    /* A non-finite value is damage, named with its section and tensor. */
    const ParamInfo *p = &g.t.params[3];
    g.ts.ema[p->offset + 5] = NAN;
    path_of(path, sizeof path, "nan.h5");
    CHECK(ckpt_save(path, &dist, &g.t, &g.ts, &g.meta, &e) == 0, "%s", e.msg);
    CkptTensors both = {.model = g.ts.model, .ema = g.ts.ema};
    char want[300];
    snprintf(want, sizeof want, "nan.h5: ema: %s holds NaN at element 5 (a damaged checkpoint", p->name);
    CHECK(ckpt_load(path, &g.t, &both, NULL, 1, &e) < 0 && strstr(e.msg, want), "%s", e.msg);
    fixture_free(&g);
    fixture_free(&f);
}

static void strict_and_non_strict(void) {
    ModelConfig c = tiny();
    Fixture f;
    fixture(&f, &c, 0);
    char path[512];
    path_of(path, sizeof path, "0000100.h5");   /* written by save_load_round_trip */
    ModelConfig u = c;
    u.num_classes = 0;                           /* unconditional: no label table */
    ParamTable t;
    param_table_build(&t, &u);
    float *buf = malloc(t.total * 4);
    CkptTensors want = {.ema = buf};
    Error e;
    CHECK(ckpt_load(path, &t, &want, NULL, 1, &e) < 0 &&
              strstr(e.msg, "unexpected tensor model.y_embedder.embedding_table.weight"), "%s", e.msg);
    Capture cap;
    capture_begin(&cap);
    int rc = ckpt_load(path, &t, &want, NULL, 0, &e);
    char *warned = capture_end(&cap);
    CHECK(rc == 0, "%s", e.msg);
    CHECK(strstr(warned, "ignoring tensor model.y_embedder.embedding_table.weight"), "warning: %s", warned);
    const ParamInfo *qkv = &t.params[t.idx.blocks[1].qkv_w];
    const ParamInfo *qkv_f = &f.t.params[f.t.idx.blocks[1].qkv_w];
    CHECK(memcmp(buf + qkv->offset, f.ts.ema + qkv_f->offset, qkv->numel * 4) == 0, "matching tensors loaded");
    free(warned);
    param_table_free(&t);
    u = c;
    u.num_classes = 12;
    param_table_build(&t, &u);
    CHECK(ckpt_load(path, &t, &want, NULL, 0, &e) < 0 &&
              strstr(e.msg, "ema: model.y_embedder.embedding_table.weight: expected shape (64, 12), found (64, 10)"),
          "%s", e.msg);
    param_table_free(&t);
    free(buf);
    fixture_free(&f);
}

static void failed_save_keeps_previous(void) {
    ModelConfig c = tiny();
    Fixture f;
    fixture(&f, &c, 1);
    char path[512], tmp[520], keep[520];
    path_of(path, sizeof path, "0000200.h5");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(keep, sizeof keep, "%.500s.reference", path);
    Error e;
    CHECK(ckpt_save(path, &dist, &f.t, &f.ts, &f.meta, &e) == 0, "%s", e.msg);
    if (rank == 0) copy_file(path, keep, -1);
    for (size_t i = 0; i < f.t.total; i++) f.ts.model[i] += 1.0f;   /* a newer state */

    /* 1. The temporary name is blocked (a directory): the file cannot even be created. */
    if (rank == 0) mkdir(tmp, 0755);
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(ckpt_save(path, &dist, &f.t, &f.ts, &f.meta, &e) < 0 &&
              strstr(e.msg, "checkpoint not saved") && strstr(e.msg, "cannot create the file"), "%s", e.msg);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) rmdir(tmp);

    /* 2. The file size limit (ulimit -f) is below the size of the tensors: refused before writing. */
    struct rlimit old, small = {256 << 10, 0};
    getrlimit(RLIMIT_FSIZE, &old);
    small.rlim_max = old.rlim_max;
    setrlimit(RLIMIT_FSIZE, &small);
    int rc = ckpt_save(path, &dist, &f.t, &f.ts, &f.meta, &e);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(rc < 0 && strstr(e.msg, "checkpoint not saved") && strstr(e.msg, tmp) &&
              strstr(e.msg, "the file size limit (ulimit -f) is 256.0 KiB"), "%s", rc < 0 ? e.msg : "saved");
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(access(tmp, F_OK) != 0, "the partial .tmp file is removed");
    CHECK(same_file_bytes(path, keep), "the previous checkpoint is untouched");
    CHECK(ckpt_validate(path, &f.t, &e) == 0, "%s", e.msg);
    fixture_free(&f);
}

/* DIR is a small file system of our own: after a first checkpoint, fill it so that the tensors of
 * the next one just fit but HDF5's metadata does not. */
static void disk_full_mid_write(void) {
    ModelConfig c = tiny();
    Fixture f;
    fixture(&f, &c, 1);
    char path[512], tmp[520], keep[520], filler[512];
    path_of(path, sizeof path, "0000300.h5");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    path_of(filler, sizeof filler, "filler");
    Error e;
    CHECK(ckpt_save(path, &dist, &f.t, &f.ts, &f.meta, &e) == 0, "%s", e.msg);
    snprintf(keep, sizeof keep, "/tmp/maskdit-disk-full-reference.%d", (int)getpid());
    MPI_Bcast(keep, sizeof keep, MPI_CHAR, 0, MPI_COMM_WORLD);   /* rank 0's name */
    if (rank == 0) {
        copy_file(path, keep, -1);
        struct statvfs fs;
        statvfs(dir, &fs);
        size_t data = (2 * f.t.total + 2 * f.t.n_trainable) * sizeof(float);
        size_t fill = (size_t)fs.f_bavail * fs.f_frsize - data - 8192;
        FILE *out = fopen(filler, "wb");
        char zero[4096] = {0};
        for (size_t n = 0; n < fill; n += sizeof zero) fwrite(zero, 1, MIN(sizeof zero, fill - n), out);
        fclose(out);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    for (size_t i = 0; i < f.t.total; i++) f.ts.ema[i] *= 2.0f;
    int rc = ckpt_save(path, &dist, &f.t, &f.ts, &f.meta, &e);
    CHECK(rc < 0 && strstr(e.msg, "checkpoint not saved") && strstr(e.msg, tmp), "%s", rc < 0 ? e.msg : "saved");
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(access(tmp, F_OK) != 0, "the partial .tmp file is removed");
    CHECK(same_file_bytes(path, keep), "the previous checkpoint is untouched");
    CHECK(ckpt_validate(path, &f.t, &e) == 0, "%s", e.msg);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        unlink(keep);
        unlink(filler);
    }
    fixture_free(&f);
}

/* How often text holds part (a message should name a file once). */
static int occurrences(const char *text, const char *part) {
    int n = 0;
    for (const char *p = strstr(text, part); p; p = strstr(p + 1, part)) n++;
    return n;
}

static void find_latest_skips_damaged(void) {
    char sub[300], path[512], name[600], out[600];
    snprintf(sub, sizeof sub, "%s/run", dir);
    if (rank == 0) mkdir(sub, 0755);
    MPI_Barrier(MPI_COMM_WORLD);
    ModelConfig c = tiny();
    Fixture f;
    fixture(&f, &c, 1);
    Error e;
    snprintf(path, sizeof path, "%s/0000010.h5", sub);
    CHECK(ckpt_save(path, &dist, &f.t, &f.ts, &f.meta, &e) == 0, "%s", e.msg);
    if (rank == 0) {
        snprintf(name, sizeof name, "%s/0000005.h5", sub);
        copy_file(path, name, -1);
        snprintf(name, sizeof name, "%s/0000020.h5", sub);
        copy_file(path, name, 100000);   /* truncated: the job died while writing */
        snprintf(name, sizeof name, "%s/0000030.h5", sub);
        copy_file(golden_h5, name, -1);   /* an HDF5 file that is not a checkpoint */
        snprintf(name, sizeof name, "%s/0000040.h5.tmp", sub);
        copy_file(path, name, 5000);
        snprintf(name, sizeof name, "%s/12.h5", sub);
        copy_file(path, name, -1);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    Capture cap;
    capture_begin(&cap);
    int rc = ckpt_find_latest(sub, &f.t, out, sizeof out, &e);
    char *warned = capture_end(&cap);
    CHECK(rc == 1 && strcmp(out, path) == 0, "found %s", rc == 1 ? out : "nothing");
    CHECK(strstr(warned, "skipping damaged checkpoint") && strstr(warned, "0000020.h5") && strstr(warned, "0000030.h5"),
          "warnings: %s", warned);
    snprintf(name, sizeof name, "%s/0000020.h5", sub);
    CHECK(occurrences(warned, name) == 1, "the damaged file named once: %s", warned);
    CHECK(!strstr(warned, "0000040") && !strstr(warned, "12.h5") && !strstr(warned, "0000005"),
          "only checkpoint names newer than the answer are tried: %s", warned);
    free(warned);
    char empty[320];
    snprintf(empty, sizeof empty, "%s/none", dir);
    CHECK(ckpt_find_latest(empty, &f.t, out, sizeof out, &e) == 0, "no directory, no checkpoint");
    fixture_free(&f);
}

static void validate_messages(void) {
    ModelConfig c = tiny();
    Fixture f;
    fixture(&f, &c, 0);
    Error e;
    CHECK(ckpt_validate(golden_h5, &f.t, &e) < 0 &&
              strstr(e.msg, "format is 'maskdit-golden-v1', expected 'maskdit-checkpoint-v1'"), "%s", e.msg);
    char plain[512];
    path_of(plain, sizeof plain, "plain.h5");
    if (rank == 0) {
        hid_t h = H5Fcreate(plain, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        H5Gclose(H5Gcreate2(h, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        H5Fclose(h);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(ckpt_validate(plain, &f.t, &e) < 0 && strstr(e.msg, "not a MaskDiT checkpoint (attribute format of / is missing)") &&
              occurrences(e.msg, plain) == 1, "%s", e.msg);
    ModelConfig shallow = c;
    shallow.depth = 1;
    Fixture s;
    fixture(&s, &shallow, 0);
    char path[512];
    path_of(path, sizeof path, "shallow.h5");
    CHECK(ckpt_save(path, &dist, &s.t, &s.ts, &s.meta, &e) == 0, "%s", e.msg);
    CHECK(ckpt_validate(path, &f.t, &e) == CKPT_OTHER_MODEL &&
              strstr(e.msg, "model: tensor model.blocks.1.attn.qkv.weight is missing"), "%s", e.msg);
    /* A run directory holding it is not resumed, nor started afresh over its checkpoints. */
    char run[320], named[400], out[600];
    path_of(run, sizeof run, "other-model");
    xsnprintf(named, sizeof named, "%s/0000007.h5", run);
    if (rank == 0) {
        mkdir(run, 0755);
        copy_file(path, named, -1);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(ckpt_find_latest(run, &f.t, out, sizeof out, &e) == -1 && occurrences(e.msg, named) == 1 &&
              strstr(e.msg, "a checkpoint of another model") && strstr(e.msg, "another --results_dir or --tag"),
          "%s", e.msg);
    fixture_free(&s);
    fixture_free(&f);
}

/* Steps whose gradients overflow in the fp16 runs below: the scale halves there. */
static int overflows_at(int step) { return step == 700 || step == 4000 || step == 4001; }

/* fp16 dynamic loss scaling over `steps` steps as the trainer does it; when save_at > 0, the run
 * stops after step save_at, goes through a checkpoint (written with or without the counter) and a
 * fresh scaler continues from what it loads. Records the scale and count after every step. */
static void scaler_run(int steps, int save_at, int record_count, double *scale, int *good, char *warned, size_t len) {
    LossScale s;
    loss_scale_init(&s, 1, 65536.0);
    for (int step = 1; step <= steps; step++) {
        loss_scale_update(&s, !overflows_at(step));
        scale[step - 1] = s.scale;
        good[step - 1] = s.good_steps;
        if (step != save_at) continue;
        Fixture f;
        char path[512];
        tiny_fixture_named(&f, 0, "scaler.h5", path, sizeof path);
        f.meta.loss_scale = s.scale;
        f.meta.loss_scale_good_steps = record_count ? s.good_steps : -1;
        Error e;
        CHECK(ckpt_save(path, &dist, &f.t, &f.ts, &f.meta, &e) == 0, "%s", e.msg);
        CkptMeta m;
        CkptTensors none = {0};
        CHECK(ckpt_load(path, &f.t, &none, &m, 1, &e) == 0, "%s", e.msg);
        loss_scale_init(&s, 1, 65536.0);
        Capture cap;
        capture_begin(&cap);
        CHECK(loss_scale_restore(&s, m.loss_scale, m.loss_scale_good_steps, path, &e) == 0, "%s", e.msg);
        char *text = capture_end(&cap);
        snprintf(warned, len, "%s", text);
        free(text);
        ckpt_meta_free(&m);
        fixture_free(&f);
    }
}

/* The scale doubles after 2000 finite steps in a row: a run stopped at step 1500 (count 800 since
 * the overflow at 700) and resumed must double at step 2700 as the uninterrupted run does. */
static void loss_scale_resumes_exactly(void) {
    enum { STEPS = 5000, SAVE_AT = 1500 };
    static double scale_ref[STEPS], scale_split[STEPS];
    static int good_ref[STEPS], good_split[STEPS];
    char warned[1024] = "";
    scaler_run(STEPS, 0, 1, scale_ref, good_ref, warned, sizeof warned);
    CHECK(scale_ref[699] == 32768.0 && scale_ref[2698] == 32768.0 && scale_ref[2699] == 65536.0 &&
              good_ref[SAVE_AT - 1] == 800, "reference trajectory: %g %g %g, count %d at the save", scale_ref[699],
          scale_ref[2698], scale_ref[2699], good_ref[SAVE_AT - 1]);
    scaler_run(STEPS, SAVE_AT, 1, scale_split, good_split, warned, sizeof warned);
    int first_diff = -1;
    for (int i = 0; i < STEPS && first_diff < 0; i++)
        if (scale_ref[i] != scale_split[i] || good_ref[i] != good_split[i]) first_diff = i + 1;
    CHECK(first_diff < 0, "resumed trajectory differs from step %d", first_diff);
    CHECK(warned[0] == 0, "no warning when the count is recorded: %s", warned);

    /* A checkpoint without the counter (written before it was saved) restarts the count at 0: the
     * doubling moves from step 2700 to 3500, with a warning that says so. */
    scaler_run(STEPS, SAVE_AT, 0, scale_split, good_split, warned, sizeof warned);
    CHECK(scale_split[2699] == 32768.0 && scale_split[3499] == 65536.0, "unrecorded count: %g at 2700, %g at 3500",
          scale_split[2699], scale_split[3499]);
    CHECK(strstr(warned, "scaler.h5 records no loss_scale_good_steps") && strstr(warned, "restarts at 0"), "warning: %s",
          warned);
}

/* A count outside [0, growth_interval) is a corrupt checkpoint: refused with the file and the key. */
static void loss_scale_good_steps_checked(void) {
    Fixture f;
    char path[512];
    tiny_fixture_named(&f, 0, "counter.h5", path, sizeof path);
    Error e;
    f.meta.loss_scale_good_steps = -1;   /* not recorded: no attribute, read back as -1 */
    CHECK(ckpt_save(path, &dist, &f.t, &f.ts, &f.meta, &e) == 0, "%s", e.msg);
    CkptMeta m;
    CkptTensors none = {0};
    int rc = ckpt_load(path, &f.t, &none, &m, 1, &e);
    CHECK(rc == 0 && m.loss_scale_good_steps == -1, "absent: rc %d, %lld (%s)", rc, rc == 0 ? m.loss_scale_good_steps : 0,
          rc == 0 ? "" : e.msg);
    if (rc == 0) ckpt_meta_free(&m);
    /* every rank has closed the file before rank 0 opens it for writing (HDF5 locks it) */
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        CHECK(h >= 0 && H5Aexists_by_name(h, "/", "loss_scale_good_steps", H5P_DEFAULT) == 0, "attribute written");
        CHECK(h5_write_attr_int64(h, "loss_scale_good_steps", -3) == 0, "cannot set the attribute");
        H5Fclose(h);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    char want[700];
    snprintf(want, sizeof want, "%s: attribute loss_scale_good_steps is -3, expected a count of steps >= 0", path);
    CHECK(ckpt_load(path, &f.t, &none, &m, 1, &e) < 0 && strstr(e.msg, want), "%s", e.msg);

    LossScale s, off;
    loss_scale_init(&s, 1, 65536.0);
    loss_scale_init(&off, 0, 65536.0);
    snprintf(want, sizeof want, "%s: loss_scale_good_steps is 2000, expected 0 to 1999", path);
    CHECK(loss_scale_restore(&s, 1024.0, 2000, path, &e) < 0 && strstr(e.msg, want), "%s", e.msg);
    CHECK(loss_scale_restore(&off, 1.0, 2000, path, &e) < 0 && strstr(e.msg, want), "scaler off: %s", e.msg);
    CHECK(loss_scale_restore(&s, 1024.0, 1999, path, &e) == 0 && s.scale == 1024.0 && s.good_steps == 1999,
          "largest count: %g %d", s.scale, s.good_steps);
    CHECK(loss_scale_restore(&off, 1024.0, 5, path, &e) == 0 && off.scale == 1.0 && off.good_steps == 0,
          "a disabled scaler stays at 1: %g %d", off.scale, off.good_steps);
    fixture_free(&f);
}

int main(int argc, char **argv) {
    dist_init(&dist, &argc, &argv);
    rank = dist.rank;
    world = dist.world;
    h5_quiet();
    snprintf(golden_h5, sizeof golden_h5, "%s/maskdit_tiny.h5",
             getenv("MASKDIT_GOLDEN_DIR") ? getenv("MASKDIT_GOLDEN_DIR") : "../shared/golden");
    if (argc == 3 && strcmp(argv[1], "--disk-full") == 0) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        MPI_RUN(disk_full_mid_write);
    } else {
        if (rank == 0) {
            scratch_dir(dir, sizeof dir, "test-ckpt");
        }
        MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
        MPI_RUN(save_load_round_trip);
        MPI_RUN(strict_and_non_strict);
        MPI_RUN(failed_save_keeps_previous);
        MPI_RUN(find_latest_skips_damaged);
        MPI_RUN(validate_messages);
        MPI_RUN(loss_scale_resumes_exactly);
        MPI_RUN(loss_scale_good_steps_checked);
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0) {
            remove_scratch_dir(dir);
        }
    }
    int rc = test_summary();
    dist_finalize(&dist);
    return rc;
}
