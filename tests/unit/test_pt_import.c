/* Import of PyTorch .pt checkpoints against tests/golden/maskdit_tiny.pt (README §7): model =
 * the golden /params rounded to float32, ema = 0.5 x model (pos embeds unchanged), optimizer
 * moments, step; plain state dicts and half / bfloat16 storages (made here by rewriting the
 * golden archive); the same checkpoint in the legacy torch.save layout (rewritten here); damaged
 * files (each made here from a copy of the golden file) refused with their messages; the pickle
 * machine on its own; model configuration inference. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/ckpt/ckpt.h"
#include "../../src/ckpt/infer_config.h"
#include "../../src/ckpt/pickle.h"
#include "../../src/ckpt/pt_import.h"
#include "../../src/util/h5util.h"
#include "../../src/util/zip.h"
#include "test.h"
#include "test_util.h"

static char golden_pt[512], golden_h5[512], dir[256];
static unsigned char *golden_pkl;
static size_t golden_pkl_len;

static ModelConfig tiny(void) {
    ModelConfig c = model_config_default();
    c.input_size = 8; c.patch_size = 2; c.in_channels = 4; c.hidden_size = 64; c.depth = 2; c.num_heads = 4;
    c.num_classes = 10; c.decoder_hidden_size = 32; c.decoder_depth = 2; c.decoder_num_heads = 4;
    return c;
}

/* The golden /params as float32, in the table's flat layout. */
static float *golden_params(const ParamTable *t) {
    Error e;
    hid_t f = h5_open_read(golden_h5, &e);
    if (f < 0) {
        printf("%s\n", e.msg);
        exit(1);
    }
    float *flat = malloc(t->total * sizeof *flat);
    for (int i = 0; i < t->count; i++) {
        const ParamInfo *p = &t->params[i];
        double *v = malloc(p->numel * sizeof *v);
        char path[256];
        snprintf(path, sizeof path, "/params/%s", p->name);
        if (h5_read_into(f, golden_h5, path, H5T_NATIVE_DOUBLE, v, p->numel, &e) < 0) {
            printf("%s\n", e.msg);
            exit(1);
        }
        for (size_t k = 0; k < p->numel; k++) flat[p->offset + k] = (float)v[k];
        free(v);
    }
    H5Fclose(f);
    return flat;
}

/* ------------------------------------------------------------ rewriting the golden archive */

enum { KEEP, TO_HALF, TO_BFLOAT16 };

/* A copy of the golden archive with data.pkl replaced, one entry left out (drop) and the storages
 * converted to 16-bit floats (half: round to nearest via _Float16; bfloat16: the top 16 bits). */
static void write_pt(const char *dst, const unsigned char *pkl, size_t pkl_len, const char *drop, int convert) {
    Error e;
    ZipReader *z = zip_open(golden_pt, &e);
    ZipWriter *w = zip_writer_open(dst, 0, &e);
    if (!z || !w) {
        printf("%s\n", e.msg);
        exit(1);
    }
    for (int i = 0; i < z->count; i++) {
        const ZipEntry *en = &z->entries[i];
        if (drop && strcmp(en->name, drop) == 0) continue;
        if (strcmp(en->name, "maskdit_tiny/data.pkl") == 0) {
            zip_writer_add(w, en->name, pkl, pkl_len, &e);
            continue;
        }
        void *data;
        size_t len;
        if (zip_read(z, en, &data, &len, &e) < 0) exit(1);
        if (convert != KEEP && strstr(en->name, "/data/")) {
            const float *f32 = data;
            uint16_t *h = malloc(len / 2 + 1);
            for (size_t k = 0; k < len / 4; k++) {
                if (convert == TO_HALF) {
                    _Float16 x = (_Float16)f32[k];
                    memcpy(&h[k], &x, 2);
                } else {
                    uint32_t bits;
                    memcpy(&bits, &f32[k], 4);
                    h[k] = (uint16_t)(bits >> 16);
                }
            }
            zip_writer_add(w, en->name, h, len / 2, &e);
            free(h);
        } else {
            zip_writer_add(w, en->name, data, len, &e);
        }
        free(data);
    }
    if (zip_writer_close(w, &e) < 0) {
        printf("%s\n", e.msg);
        exit(1);
    }
    zip_close(z);
}

static const unsigned char *find_bytes(const unsigned char *hay, size_t n, const void *needle, size_t k) {
    return memmem(hay, n, needle, k);
}

/* The golden pickle with the first occurrence of `find` after `anchor` (NULL: from the start)
 * replaced by `repl`. */
static unsigned char *splice_pickle(const char *anchor, const void *find, size_t flen, const void *repl, size_t rlen,
                             size_t *out_len) {
    size_t from = 0;
    if (anchor) {
        const unsigned char *a = find_bytes(golden_pkl, golden_pkl_len, anchor, strlen(anchor));
        if (!a) exit(1);
        from = (size_t)(a - golden_pkl);
    }
    const unsigned char *at = find_bytes(golden_pkl + from, golden_pkl_len - from, find, flen);
    if (!at) {
        printf("pattern not found in the golden pickle\n");
        exit(1);
    }
    size_t pre = (size_t)(at - golden_pkl);
    unsigned char *out = malloc(golden_pkl_len - flen + rlen);
    memcpy(out, golden_pkl, pre);
    memcpy(out + pre, repl, rlen);
    memcpy(out + pre + rlen, at + flen, golden_pkl_len - pre - flen);
    *out_len = golden_pkl_len - flen + rlen;
    return out;
}

static void tmp_path(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

/* ------------------------------------------------------------ cases */

static void golden_checkpoint_imports_exactly(void) {
    ModelConfig c = tiny();
    ParamTable t;
    param_table_build(&t, &c);
    float *ref = golden_params(&t);
    CkptTensors ts = {malloc(t.total * 4), malloc(t.total * 4), malloc(t.n_trainable * 4), malloc(t.n_trainable * 4)};
    CkptMeta meta;
    Error e;
    CHECK(ckpt_load(golden_pt, &t, &ts, &meta, 1, &e) == 0, "%s", e.msg);
    size_t bad_model = 0, bad_ema = 0, bad_m = 0, bad_v = 0;
    for (int i = 0; i < t.count; i++) {
        const ParamInfo *p = &t.params[i];
        for (size_t k = 0; k < p->numel; k++) {
            size_t o = p->offset + k;
            float w = ref[o];
            bad_model += ts.model[o] != w;
            bad_ema += ts.ema[o] != (p->trainable ? 0.5f * w : w);
            if (p->trainable) {
                bad_m += ts.exp_avg[o] != 0.25f * w;
                bad_v += ts.exp_avg_sq[o] != w * w;
            }
        }
    }
    CHECK(bad_model == 0, "%zu model values differ from the float32-rounded golden params", bad_model);
    CHECK(bad_ema == 0, "%zu ema values differ from 0.5 x params", bad_ema);
    CHECK(bad_m == 0 && bad_v == 0, "%zu exp_avg and %zu exp_avg_sq values differ", bad_m, bad_v);
    CHECK(meta.step == 7 && meta.seed == 0 && meta.sample_cursor == -1, "step %lld seed %lld cursor %lld", meta.step,
          meta.seed, meta.sample_cursor);
    CHECK_CLOSE(meta.lr, 1e-4, 1e-15, "lr");
    int sections;
    CHECK(ckpt_sections(golden_pt, &sections, &e) == 0 && sections == (CKPT_MODEL | CKPT_EMA | CKPT_OPT), "sections %d",
          sections);
    ckpt_meta_free(&meta);
    free(ts.model), free(ts.ema), free(ts.exp_avg), free(ts.exp_avg_sq), free(ref);
    param_table_free(&t);
}

/* The golden checkpoint rewritten in the legacy torch.save layout (src/ckpt/pt_legacy.h): the
 * header pickles, the same object pickle (its persistent ids are the legacy ones without
 * view_metadata), the storage keys, then each storage's element count and data. */
static void write_legacy(const char *dst) {
    static const unsigned char header[] = {
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.',   /* magic */
        0x80, 0x02, 'M', 0xe9, 0x03, '.',                                                          /* 1001 */
        0x80, 0x02, '}', '(', 'X', 13, 0, 0, 0, 'l', 'i', 't', 't', 'l', 'e', '_', 'e', 'n', 'd', 'i', 'a', 'n',
        0x88, 'u', '.'};                                                                           /* sys_info */
    Error e;
    PkValue *root;
    Pickle *p = pickle_load(golden_pkl, golden_pkl_len, "golden", &root, &e);
    ZipReader *z = zip_open(golden_pt, &e);
    FILE *f = fopen(dst, "wb");
    if (!p || !z || !f) exit(1);
    fwrite(header, 1, sizeof header, f);
    fwrite(golden_pkl, 1, golden_pkl_len, f);
    fwrite("\x80\x02](", 1, 4, f);
    const char *dir_prefix = "maskdit_tiny/data/";
    for (int i = 0; i < z->count; i++) {
        const char *key = z->entries[i].name + strlen(dir_prefix);
        if (strncmp(z->entries[i].name, dir_prefix, strlen(dir_prefix)) != 0) continue;
        uint32_t n = (uint32_t)strlen(key);
        fputc('X', f);
        fwrite(&n, 4, 1, f);
        fputs(key, f);
    }
    fwrite("e.", 1, 2, f);
    for (int i = 0; i < z->count; i++) {
        const char *key = z->entries[i].name + strlen(dir_prefix);
        if (strncmp(z->entries[i].name, dir_prefix, strlen(dir_prefix)) != 0) continue;
        int es = 0;
        for (size_t v = 0; v < pickle_value_count(p) && !es; v++) {
            const PkValue *pid = pickle_value(p, v), *id = pid->kind == PK_PERSID ? pid->items[0] : NULL;
            FloatData dt;
            if (id && strcmp(id->items[2]->s, key) == 0 && pt_storage_info(id->items[1]->s, &dt, &es) < 0) exit(1);
        }
        void *data;
        size_t len;
        if (!es || zip_read(z, &z->entries[i], &data, &len, &e) < 0) exit(1);
        uint64_t count = len / (size_t)es;
        fwrite(&count, 8, 1, f);
        fwrite(data, 1, len, f);
        free(data);
    }
    if (fclose(f) != 0) exit(1);
    zip_close(z);
    pickle_free(p);
}

/* Every section of the legacy rewrite loads as the zip original does. */
static void legacy_layout_imports_exactly(void) {
    ModelConfig c = tiny();
    ParamTable t;
    param_table_build(&t, &c);
    char path[512];
    tmp_path(path, sizeof path, "legacy-full.pt");
    write_legacy(path);
    CkptTensors a = {malloc(t.total * 4), malloc(t.total * 4), malloc(t.n_trainable * 4), malloc(t.n_trainable * 4)};
    CkptTensors b = {malloc(t.total * 4), malloc(t.total * 4), malloc(t.n_trainable * 4), malloc(t.n_trainable * 4)};
    CkptMeta ma, mb;
    Error e;
    CHECK(ckpt_load(golden_pt, &t, &a, &ma, 1, &e) == 0, "%s", e.msg);
    CHECK(ckpt_load(path, &t, &b, &mb, 1, &e) == 0, "%s", e.msg);
    CHECK(memcmp(a.model, b.model, t.total * 4) == 0 && memcmp(a.ema, b.ema, t.total * 4) == 0, "model / ema differ");
    CHECK(memcmp(a.exp_avg, b.exp_avg, t.n_trainable * 4) == 0 &&
              memcmp(a.exp_avg_sq, b.exp_avg_sq, t.n_trainable * 4) == 0, "optimizer moments differ");
    CHECK(mb.step == 7 && mb.seed == ma.seed && mb.lr == ma.lr, "step %lld seed %lld lr %g", mb.step, mb.seed, mb.lr);
    PtFile *f = pt_open(path, &e);
    CHECK(f && strcmp(pt_format(f), "torch legacy") == 0, "%s", f ? pt_format(f) : e.msg);
    pt_close(f);
    ckpt_meta_free(&ma);
    ckpt_meta_free(&mb);
    free(a.model), free(a.ema), free(a.exp_avg), free(a.exp_avg_sq);
    free(b.model), free(b.ema), free(b.exp_avg), free(b.exp_avg_sq);
    param_table_free(&t);
}

static void half_and_bfloat16_storages(void) {
    ModelConfig c = tiny();
    ParamTable t;
    param_table_build(&t, &c);
    float *ref = golden_params(&t), *got = malloc(t.total * 4);
    const char *types[2] = {"torch\nHalfStorage\n", "torch\nBFloat16Storage\n"};
    for (int k = 0; k < 2; k++) {
        size_t len;
        const char *from = "torch\nFloatStorage\n";
        unsigned char *pkl = splice_pickle(NULL, from, strlen(from), types[k], strlen(types[k]), &len);
        char path[512];
        tmp_path(path, sizeof path, k ? "bf16.pt" : "half.pt");
        write_pt(path, pkl, len, NULL, k ? TO_BFLOAT16 : TO_HALF);
        free(pkl);
        CkptTensors want = {.ema = got};
        Error e;
        CHECK(ckpt_load(path, &t, &want, NULL, 1, &e) == 0, "%s", e.msg);
        size_t bad = 0;
        for (int i = 0; i < t.count; i++) {
            const ParamInfo *p = &t.params[i];
            for (size_t q = 0; q < p->numel; q++) {
                float w = p->trainable ? 0.5f * ref[p->offset + q] : ref[p->offset + q], expect;
                if (k == 0) {
                    expect = (float)(_Float16)w;
                } else {
                    uint32_t bits;
                    memcpy(&bits, &w, 4);
                    bits &= 0xffff0000u;
                    memcpy(&expect, &bits, 4);
                }
                bad += got[p->offset + q] != expect;
            }
        }
        CHECK(bad == 0, "%s: %zu values differ", types[k] + 6, bad);
    }
    free(ref);
    free(got);
    param_table_free(&t);
}

/* The "model" OrderedDict of the golden pickle is a self-contained expression: wrapped in PROTO
 * and STOP it is a plain state-dict file, as torch.save(model.state_dict()) writes. */
static void plain_state_dict(void) {
    const char *od = "ccollections\nOrderedDict\n";
    const unsigned char *a = find_bytes(golden_pkl, golden_pkl_len, od, strlen(od));
    const unsigned char *b = find_bytes(golden_pkl, golden_pkl_len, "X\x03\x00\x00\x00" "ema", 8);
    CHECK(a && b && b > a, "golden pickle layout");
    if (!a || !b) return;
    size_t n = (size_t)(b - a);
    unsigned char *pkl = malloc(n + 3);
    memcpy(pkl, "\x80\x02", 2);
    memcpy(pkl + 2, a, n);
    pkl[n + 2] = '.';
    char path[512];
    tmp_path(path, sizeof path, "plain.pt");
    write_pt(path, pkl, n + 3, NULL, KEEP);
    free(pkl);
    ModelConfig c = tiny();
    ParamTable t;
    param_table_build(&t, &c);
    float *ref = golden_params(&t);
    CkptTensors ts = {malloc(t.total * 4), malloc(t.total * 4), NULL, NULL};
    Error e;
    CHECK(ckpt_load(path, &t, &ts, NULL, 1, &e) == 0, "%s", e.msg);
    CHECK(memcmp(ts.model, ref, t.total * 4) == 0 && memcmp(ts.ema, ref, t.total * 4) == 0,
          "a plain state dict answers for model and ema");
    int sections;
    CHECK(ckpt_sections(path, &sections, &e) == 0 && sections == (CKPT_MODEL | CKPT_EMA), "sections %d", sections);
    CkptTensors opt = {.exp_avg = ts.model};
    CHECK(ckpt_load(path, &t, &opt, NULL, 1, &e) < 0 && strstr(e.msg, "no 'opt' section"), "%s", e.msg);
    free(ts.model), free(ts.ema), free(ref);
    param_table_free(&t);
}

typedef struct {
    const char *what, *expect;
    const char *anchor;             /* splice: after this text */
    const char *find, *repl;        /* splice these bytes (same length given by len) */
    size_t len;
    const char *drop;               /* leave out this entry */
    long flip_in;                   /* >= 0: flip a byte of storage data/3 at this offset, keeping its CRC */
} Damage;

static void damaged_files_are_refused(void) {
    ModelConfig c = tiny();
    ParamTable t;
    param_table_build(&t, &c);
    float *buf = malloc(t.total * 4);
    Damage cases[] = {
        {"tensor of the wrong shape", "model.mask_token: expected shape (1, 1, 32), found (1, 1, 16)", "model.mask_token",
         "K\x01K\x01K\x20\x87", "K\x01K\x01K\x10\x87", 7, NULL, -1},
        {"missing key", "tensor model.mask_token is missing", NULL, "model.mask_token", "model.mask_tokeX", 16, NULL, -1},
        {"non-contiguous strides", "not contiguous row-major", "model.blocks.0.attn.qkv.weight", "K@K\x01\x86",
         "K\x01K\xc0\x86", 5, NULL, -1},
        {"unknown storage type", "unknown storage type torch.QuatsStorage", NULL, "FloatStorage", "QuatsStorage", 12,
         NULL, -1},
        {"tensor outside its storage", "elements [16, 48) lie outside its storage of 32 elements", "model.mask_token",
         "QK\x00", "QK\x10", 3, NULL, -1},
        {"storage of the wrong size", "holds 128 bytes, expected 64", "model.mask_token", "K\x20t", "K\x10t", 3, NULL,
         -1},
        {"missing storage", "its storage '5' is missing from the file", NULL, NULL, NULL, 0, "maskdit_tiny/data/5", -1},
        {"damaged storage", "CRC-32", NULL, NULL, NULL, 0, NULL, 100},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const Damage *d = &cases[i];
        char path[512];
        tmp_path(path, sizeof path, "damaged.pt");
        size_t len = golden_pkl_len;
        unsigned char *pkl = d->find ? splice_pickle(d->anchor, d->find, d->len, d->repl, d->len, &len) : golden_pkl;
        write_pt(path, pkl, len, d->drop, KEEP);
        if (pkl != golden_pkl) free(pkl);
        if (d->flip_in >= 0) {
            Error e;
            ZipReader *z = zip_open(path, &e);
            uint64_t off = zip_find(z, "maskdit_tiny/data/3")->data_offset + (uint64_t)d->flip_in;
            zip_close(z);
            FILE *f = fopen(path, "r+b");
            fseek(f, (long)off, SEEK_SET);
            int ch = fgetc(f);
            fseek(f, (long)off, SEEK_SET);
            fputc(ch ^ 0x40, f);
            fclose(f);
        }
        CkptTensors want = {.model = buf};
        Error e;
        int rc = ckpt_load(path, &t, &want, NULL, 1, &e);
        CHECK(rc < 0 && strstr(e.msg, d->expect) && strstr(e.msg, path), "%s: got '%s'", d->what,
              rc < 0 ? e.msg : "success");
    }
    param_table_free(&t);
    free(buf);
}

static void missing_key_non_strict(void) {
    ModelConfig c = tiny();
    ParamTable t;
    param_table_build(&t, &c);
    float *ref = golden_params(&t), *buf = malloc(t.total * 4);
    size_t len;
    unsigned char *pkl = splice_pickle(NULL, "model.mask_token", 16, "model.mask_tokeX", 16, &len);
    char path[512];
    tmp_path(path, sizeof path, "renamed.pt");
    write_pt(path, pkl, len, NULL, KEEP);
    free(pkl);
    const ParamInfo *tok = &t.params[t.idx.mask_token];
    for (size_t i = 0; i < t.total; i++) buf[i] = -7.0f;
    CkptTensors want = {.model = buf};
    Error e;
    Capture cap;
    capture_begin(&cap);
    int rc = ckpt_load(path, &t, &want, NULL, 0, &e);
    char *warned = capture_end(&cap);
    CHECK(rc == 0, "non-strict load: %s", e.msg);
    CHECK(strstr(warned, "model.mask_token is missing") && strstr(warned, "ignoring tensor model.mask_tokeX"),
          "warnings: %s", warned);
    CHECK(buf[tok->offset] == -7.0f, "a missing tensor keeps its values");
    CHECK(buf[t.params[t.idx.x_embed_w].offset] == ref[t.params[t.idx.x_embed_w].offset], "the others are loaded");
    free(warned);
    free(ref);
    free(buf);
    param_table_free(&t);
}

static void other_bad_inputs(void) {
    Error e;
    char path[512];
    ModelConfig c = tiny();
    ParamTable t;
    param_table_build(&t, &c);
    float *buf = malloc(t.total * 4);
    CkptTensors want = {.model = buf};

    /* truncated archive: the first half of the golden file */
    FILE *in = fopen(golden_pt, "rb"), *out;
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *bytes = malloc((size_t)size);
    CHECK(fread(bytes, 1, (size_t)size, in) == (size_t)size, "read");
    fclose(in);
    tmp_path(path, sizeof path, "truncated.pt");
    out = fopen(path, "wb");
    fwrite(bytes, 1, (size_t)size / 2, out);
    fclose(out);
    CHECK(ckpt_load(path, &t, &want, NULL, 1, &e) < 0 && strstr(e.msg, "truncated"), "%s", e.msg);
    free(bytes);

    /* unknown pickle opcode */
    tmp_path(path, sizeof path, "opcode.pt");
    write_pt(path, (const unsigned char *)"\x80\x02\xfe", 3, NULL, KEEP);
    CHECK(ckpt_load(path, &t, &want, NULL, 1, &e) < 0 && strstr(e.msg, "unknown pickle opcode 0xfe") &&
              strstr(e.msg, "data.pkl"), "%s", e.msg);

    /* a pickle that is not a dict */
    tmp_path(path, sizeof path, "none.pt");
    write_pt(path, (const unsigned char *)"\x80\x02N.", 4, NULL, KEEP);
    CHECK(ckpt_load(path, &t, &want, NULL, 1, &e) < 0 && strstr(e.msg, "the pickled object is not a dict"), "%s",
          e.msg);

    /* an optimizer dict without its 'state' */
    size_t len;
    unsigned char *pkl = splice_pickle(NULL, "X\x05\x00\x00\x00state", 10, "X\x05\x00\x00\x00stale", 10, &len);
    tmp_path(path, sizeof path, "no-state.pt");
    write_pt(path, pkl, len, NULL, KEEP);
    free(pkl);
    CkptTensors opt = {.exp_avg = buf};
    CHECK(ckpt_load(path, &t, &opt, NULL, 1, &e) < 0 && strstr(e.msg, "'opt' is not an optimizer state_dict"), "%s",
          e.msg);
    CkptMeta meta;
    CHECK(ckpt_load(path, &t, &want, &meta, 1, &e) == 0 && meta.step == 0, "weights and meta still load: %s", e.msg);
    ckpt_meta_free(&meta);

    /* truncated pickle */
    tmp_path(path, sizeof path, "short-pickle.pt");
    write_pt(path, golden_pkl, 1000, NULL, KEEP);
    CHECK(ckpt_load(path, &t, &want, NULL, 1, &e) < 0 && strstr(e.msg, "pickle data ends"), "%s", e.msg);

    /* a zip archive without data.pkl */
    tmp_path(path, sizeof path, "other.zip");
    ZipWriter *w = zip_writer_open(path, 0, &e);
    zip_writer_add(w, "x/y.txt", "hi", 2, &e);
    zip_writer_close(w, &e);
    CHECK(ckpt_load(path, &t, &want, NULL, 1, &e) < 0 && strstr(e.msg, "not a torch.save file"), "%s", e.msg);

    /* a legacy torch.save file cut after its magic number (tests/unit/test_weights.c reads whole ones), and
     * unrelated files */
    tmp_path(path, sizeof path, "legacy.pt");
    out = fopen(path, "wb");
    fwrite("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 1, 15, out);
    fclose(out);
    CHECK(ckpt_load(path, &t, &want, NULL, 1, &e) < 0 && strstr(e.msg, "legacy"), "%s", e.msg);
    tmp_path(path, sizeof path, "text.pt");
    out = fopen(path, "wb");
    fputs("hello\n", out);
    fclose(out);
    CHECK(ckpt_load(path, &t, &want, NULL, 1, &e) < 0 && strstr(e.msg, "neither an HDF5 checkpoint nor a PyTorch"),
          "%s", e.msg);
    tmp_path(path, sizeof path, "absent.pt");
    CHECK(ckpt_load(path, &t, &want, NULL, 1, &e) < 0 && strstr(e.msg, "cannot open"), "%s", e.msg);

    /* a checkpoint of another model */
    param_table_free(&t);
    c.num_classes = 12;
    param_table_build(&t, &c);
    CHECK(ckpt_load(golden_pt, &t, &want, NULL, 0, &e) < 0 &&
              strstr(e.msg, "model.y_embedder.embedding_table.weight: expected shape (64, 12), found (64, 10)"),
          "%s", e.msg);
    param_table_free(&t);
    c = tiny();
    c.depth = 1;
    param_table_build(&t, &c);
    CkptTensors moments = {.exp_avg = buf};
    CHECK(ckpt_load(golden_pt, &t, &moments, NULL, 1, &e) < 0 &&
              strstr(e.msg, "param_groups list 56 parameters, but the configured model has 46 trainable"),
          "%s", e.msg);
    param_table_free(&t);
    free(buf);
}

static void pickle_machine(void) {
    static const unsigned char proto4[] =
        "\x80\x04\x95\x6e\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x01\x61\x94\x5d\x94\x28\x4b\x01\x4a\xfe\xff\xff"
        "\xff\x47\x40\x0c\x00\x00\x00\x00\x00\x00\x4e\x88\x65\x8c\x01\x62\x94\x28\x43\x02\x78\x79\x94\x8c\x02\xc3\xa9"
        "\x94\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80\x74\x94\x8c\x01\x63\x94\x8c\x0b"
        "\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x94\x8c\x0b\x4f\x72\x64\x65\x72\x65\x64\x44\x69\x63\x74\x94\x93"
        "\x94\x29\x52\x94\x8c\x01\x6b\x94\x4b\x01\x73\x75\x2e";
    PkValue *root;
    Error e;
    Pickle *p = pickle_load(proto4, sizeof proto4 - 1, "proto4", &root, &e);
    CHECK(p != NULL, "%s", e.msg);
    if (p) {
        char text[512];
        pk_repr(root, text, sizeof text);
        CHECK(strcmp(text, "{'a': [1, -2, 3.5, None, True], 'b': (b<2 bytes>, '\xc3\xa9', 1099511627776, "
                           "-9223372036854775808), 'c': {'k': 1}}") == 0, "repr: %s", text);
        pickle_free(p);
    }
    struct {
        const char *bytes;
        size_t len;
        const char *expect;
    } bad[] = {
        {"\x80\x06N.", 4, "protocol 6 is not supported"},
        {"\x80\x02X\xff\x00\x00\x00ab", 10, "pickle data ends early"},
        {"\x80\x02h\x05.", 5, "memo entry 5 is not defined"},
        {"\x80\x02N", 3, "ends without STOP"},
        {"\x80\x02NN.", 5, "ends with 2 values"},
        {"\x80\x02R", 3, "stack underflow"},
        {"\x80\x02t", 3, "no MARK"},
        {"\x80\x02](K\x01K\x02u.", 10, "not a dict"},
        {"\x80\x02}(K\x01u.", 8, "odd number"},
        {"\x80\x02}Na.", 6, "not a list"},
        {"\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.", 14, "wider than 64 bits"},
        {"\x80\x02" "cfoo", 6, "inside a GLOBAL name"},
        {"\x80\x02NN\x93.", 6, "STACK_GLOBAL needs two strings"},
        {"\x80\x02NNR.", 6, "call arguments are not a tuple"},
        {"\x80\x02Nr\xff\xff\xff\x7f.", 9, "memo index 2147483647 is too large"},
        {"\x80\x02\xfe", 3, "unknown pickle opcode 0xfe (opcode 0xfe at offset 2)"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        p = pickle_load((const unsigned char *)bad[i].bytes, bad[i].len, "case", &root, &e);
        CHECK(!p && strstr(e.msg, bad[i].expect) && strncmp(e.msg, "case: ", 6) == 0, "case %zu: got '%s'", i,
              p ? "success" : e.msg);
        pickle_free(p);
    }
}

static void model_config_from_shapes(void) {
    TensorMeta *list;
    int n;
    Error e;
    CHECK(ckpt_list(golden_pt, "ema", &list, &n, &e) == 0, "%s", e.msg);
    TensorMeta **ptrs = malloc((size_t)n * sizeof *ptrs);
    for (int i = 0; i < n; i++) ptrs[i] = &list[i];
    ModelConfig c, want = tiny();
    CHECK(infer_model_config(ptrs, n, &c, &e) == 0, "%s", e.msg);
    CHECK(c.input_size == 8 && c.patch_size == 2 && c.in_channels == 4 && c.hidden_size == 64 && c.depth == 2 &&
              c.num_classes == 10 && c.use_decoder && c.decoder_hidden_size == 32 && c.decoder_depth == 2 &&
              c.mlp_ratio == 4.0 && c.frequency_embedding_size == 256 && c.mae_loss_coef == want.mae_loss_coef,
          "inferred fields");
    CHECK(c.num_heads == 0 && c.decoder_num_heads == 0, "64 and 32 are no DiT widths: heads unknown");
    CHECK(dit_default_heads(1152) == 16 && dit_default_heads(768) == 12 && dit_default_heads(384) == 6 &&
              dit_default_heads(512) == 16, "family heads");
    TensorMeta *x = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(list[i].name, "model.final_layer.linear.weight") == 0) x = &list[i];
    x->shape[0] = 32;   /* learned sigma: twice the channels */
    CHECK(infer_model_config(ptrs, n, &c, &e) < 0 && strstr(e.msg, "learned sigma"), "%s", e.msg);
    list[0].shape[1] = 15;   /* model.pos_embed of 15 tokens */
    CHECK(infer_model_config(ptrs, n, &c, &e) < 0 && strstr(e.msg, "model.pos_embed (15 tokens) is not a square grid"),
          "%s", e.msg);
    CHECK(infer_model_config(ptrs + 4, n - 4, &c, &e) < 0 && strstr(e.msg, "model.x_embedder.proj.weight is missing"),
          "%s", e.msg);
    free(ptrs);
    ckpt_list_free(list, n);
}

/* The original names checkpoints after the step and reads the step back from the name. */
static void step_from_file_name(void) {
    CHECK(pt_step_from_file_name("0200000.pt") == 200000, "bare name");
    CHECK(pt_step_from_file_name("results/run/checkpoints/0050000.pt") == 50000, "path");
    CHECK(pt_step_from_file_name("7.pt") == 7, "short");
    CHECK(pt_step_from_file_name("ckpt.pt") == -1, "no digits");
    CHECK(pt_step_from_file_name("0050000") == -1 && pt_step_from_file_name("12ab.pt") == -1, "digits then a dot");
    CHECK(pt_step_from_file_name("0050000/ckpt.pt") == -1, "digits of a directory do not count");
}

int main(void) {
    const char *g = getenv("MASKDIT_GOLDEN_DIR") ? getenv("MASKDIT_GOLDEN_DIR") : "tests/golden";
    snprintf(golden_pt, sizeof golden_pt, "%s/maskdit_tiny.pt", g);
    snprintf(golden_h5, sizeof golden_h5, "%s/maskdit_tiny.h5", g);
    scratch_dir(dir, sizeof dir, "test-pt");
    Error e;
    ZipReader *z = zip_open(golden_pt, &e);
    if (!z || zip_read(z, zip_find(z, "maskdit_tiny/data.pkl"), (void **)&golden_pkl, &golden_pkl_len, &e) < 0) {
        printf("FAIL golden_file %s\n", e.msg);
        return 1;
    }
    zip_close(z);
    RUN(golden_checkpoint_imports_exactly);
    RUN(legacy_layout_imports_exactly);
    RUN(half_and_bfloat16_storages);
    RUN(plain_state_dict);
    RUN(damaged_files_are_refused);
    RUN(missing_key_non_strict);
    RUN(other_bad_inputs);
    RUN(pickle_machine);
    RUN(model_config_from_shapes);
    RUN(step_from_file_name);
    free(golden_pkl);
    remove_scratch_dir(dir);
    return test_summary();
}
