/* Weight files through src/ckpt/weights.h, against the golden VAE's ldm-layout zip .pth read
 * through pt_import (tests/golden/vae_tiny.pth, README "VAE golden") as the independent
 * baseline:
 *  - every layout (zip .pth; the golden diffusers folder, new attention names, folder and file;
 *    and tests/data/vae_weights/, made by tests/data/make_vae_weights.py: a legacy .pth, an ldm
 *    .ckpt with a state_dict wrapper, an ldm .safetensors with the first_stage_model. prefix and
 *    other models' tensors, a diffusers folder with the old attention names, float16 and bfloat16
 *    files) gives the same ldm names, shapes and values (16-bit files: the baseline rounded);
 *  - values read back by numpy / torch when the files were made (spot_values.txt);
 *  - damaged and foreign input (made here) refused with messages naming the file and the key;
 *  - the JSON reader on its own. */
#include <string.h>
#include <sys/stat.h>

#include "../../src/ckpt/pt_import.h"
#include "../../src/ckpt/weights.h"
#include "../../src/util/half.h"
#include "../../src/util/json.h"
#include "test.h"
#include "test_util.h"

#define DATA "tests/data/vae_weights"

static char golden_pth[512], golden_diffusers[512], dir[256];

/* The baseline: every tensor of the golden zip .pth, read through pt_import. */
static PtFile *base_file;
static PtStateDict base;
static float **base_values;

static int base_index(const char *name) {
    for (int i = 0; i < base.count; i++)
        if (strcmp(base.tensors[i].meta.name, name) == 0) return i;
    return -1;
}

static float round_half(float x) { return half_to_float(half_from_float(x)); }

/* float32 -> bfloat16, round to nearest even (as torch's .bfloat16()), back to float32. */
static float round_bf16(float x) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &b, sizeof x);
    return x;
}

enum { EXACT, HALF, BF16 };

/* Every tensor of w has its baseline name, shape and (rounded) values; `expect` tensors in all. */
static void same_as_baseline(const char *path, WeightFile *w, int expect, int rounding) {
    CHECK(weights_count(w) == expect, "%s: %d tensors, expected %d", path, weights_count(w), expect);
    for (int i = 0; i < weights_count(w); i++) {
        const TensorMeta *m = weights_meta(w, i);
        int b = base_index(m->name);
        CHECK(b >= 0, "%s: %s (file name %s) is not a baseline tensor", path, m->name, weights_file_name(w, i));
        if (b < 0) continue;
        const PtTensor *bt = &base.tensors[b];
        char s1[160], s2[160];
        shape_str(m->ndim, m->shape, s1, sizeof s1);
        shape_str(bt->meta.ndim, bt->meta.shape, s2, sizeof s2);
        CHECK(strcmp(s1, s2) == 0, "%s: %s has shape %s, baseline %s", path, m->name, s1, s2);
        if (strcmp(s1, s2) != 0) continue;
        CHECK(weights_find(w, m->name) == i, "%s: find %s", path, m->name);
        float *v = malloc((bt->numel + 1) * sizeof *v);
        Error e;
        int rc = weights_read(w, i, v, &e);
        CHECK(rc == 0, "%s", e.msg);
        size_t bad = 0;
        for (size_t k = 0; rc == 0 && k < bt->numel; k++) {
            float want = base_values[b][k];
            want = rounding == HALF ? round_half(want) : rounding == BF16 ? round_bf16(want) : want;
            bad += memcmp(&v[k], &want, sizeof want) != 0;
        }
        CHECK(bad == 0, "%s: %s: %zu of %zu values differ from the baseline", path, m->name, bad, bt->numel);
        free(v);
    }
}

static WeightFile *open_vae(const char *path) {
    Error e;
    WeightFile *w = vae_weights_open(path, &e);
    CHECK(w, "%s", e.msg);
    return w;
}

static void check_layout(WeightFile *w, const char *format, const char *layout) {
    CHECK(strcmp(weights_format(w), format) == 0, "format %s, expected %s", weights_format(w), format);
    CHECK(strcmp(weights_layout(w), layout) == 0, "layout %s, expected %s", weights_layout(w), layout);
}

/* ------------------------------------------------------------------ every layout */

static void zip_pth(void) {
    WeightFile *w = open_vae(golden_pth);
    if (!w) return;
    check_layout(w, "torch zip", "ldm");
    same_as_baseline(golden_pth, w, base.count, EXACT);
    double s;
    CHECK(!weights_scaling_factor(w, &s), "a .pth has no scaling factor");
    weights_close(w);
}

static void diffusers_folder_and_file(void) {
    char file[600];
    snprintf(file, sizeof file, "%s/diffusion_pytorch_model.safetensors", golden_diffusers);
    const char *paths[] = {golden_diffusers, file};
    for (int k = 0; k < 2; k++) {
        WeightFile *w = open_vae(paths[k]);
        if (!w) return;
        check_layout(w, "safetensors", "diffusers");
        CHECK(strcmp(weights_path(w), file) == 0 || k == 0, "path %s", weights_path(w));
        CHECK(strstr(weights_path(w), "diffusion_pytorch_model.safetensors"), "path %s", weights_path(w));
        same_as_baseline(paths[k], w, base.count, EXACT);
        double s = 0;
        CHECK(weights_scaling_factor(w, &s) && s == 0.18215, "scaling factor %g from config.json", s);
        weights_close(w);
    }
}

/* The committed files: the 153-tensor subset. */
static void committed_layouts(void) {
    static const struct {
        const char *file, *format, *layout;
        int rounding;
        double scale;   /* 0: none */
    } cases[] = {
        {"legacy.pth", "torch legacy", "ldm", EXACT, 0},
        {"wrapped.ckpt", "torch zip", "ldm", EXACT, 0},
        {"ldm_prefixed.safetensors", "safetensors", "ldm", EXACT, 0},
        {"diffusers_old", "safetensors", "diffusers", EXACT, 0.13025},
        {"diffusers_fp16.safetensors", "safetensors", "diffusers", HALF, 0},
        {"diffusers_bf16.safetensors", "safetensors", "diffusers", BF16, 0},
    };
    for (size_t k = 0; k < ARRAY_LEN(cases); k++) {
        char path[256];
        snprintf(path, sizeof path, DATA "/%s", cases[k].file);
        WeightFile *w = open_vae(path);
        if (!w) continue;
        check_layout(w, cases[k].format, cases[k].layout);
        same_as_baseline(path, w, 153, cases[k].rounding);
        double s = 0;
        int has = weights_scaling_factor(w, &s);
        CHECK(has == (cases[k].scale != 0) && (!has || s == cases[k].scale), "%s: scaling factor %d %g", path, has, s);
        weights_close(w);
    }
}

/* Values that numpy (torch for bfloat16 and the legacy file) read from the files when they were
 * made. */
static void spot_values_read_independently(void) {
    FILE *f = fopen(DATA "/spot_values.txt", "r");
    CHECK(f, "cannot open " DATA "/spot_values.txt");
    if (!f) return;
    char file[128], name[256];
    size_t index;
    float want;
    int n = 0;
    while (fscanf(f, "%127s %255s %zu %g", file, name, &index, &want) == 4) {
        char path[256];
        snprintf(path, sizeof path, DATA "/%s", file);
        WeightFile *w = open_vae(path);
        if (!w) break;
        int i = weights_find(w, name);
        CHECK(i >= 0, "%s: no %s", path, name);
        if (i >= 0) {
            const TensorMeta *m = weights_meta(w, i);
            size_t numel = shape_numel(m->ndim, m->shape);
            float *v = malloc(numel * sizeof *v);
            Error e;
            CHECK(weights_read(w, i, v, &e) == 0, "%s", e.msg);
            CHECK(index < numel && v[index] == want, "%s: %s[%zu] = %.9g, numpy read %.9g", path, name, index,
                  v[index], want);
            free(v);
        }
        weights_close(w);
        n++;
    }
    fclose(f);
    CHECK(n == 30, "%d spot values read, expected 30 (6 in each of 5 files)", n);
}

/* weights_open lists every tensor under its own name; an int64 one is refused when read. */
static void plain_listing(void) {
    Error e;
    WeightFile *w = weights_open(DATA "/wrapped.ckpt", &e);
    CHECK(w, "%s", e.msg);
    if (!w) return;
    CHECK(strcmp(weights_layout(w), "as stored") == 0, "layout %s", weights_layout(w));
    CHECK(weights_count(w) == 157, "%d tensors", weights_count(w));
    int i = weights_find(w, "first_stage_model.decoder.mid.attn_1.q.weight");
    CHECK(i >= 0 && weights_meta(w, i)->ndim == 4, "prefixed name kept");
    i = weights_find(w, "model.diffusion_model.out.2.bias");
    float v[4];
    CHECK(i >= 0 && weights_read(w, i, v, &e) == 0 && v[0] == -1.0f && v[3] == 1.0f, "other model's tensor read");
    i = weights_find(w, "cond_stage_model.transformer.text_model.embeddings.position_ids");
    float *big = malloc(77 * sizeof *big);
    CHECK(i >= 0 && weights_read(w, i, big, &e) < 0 && strstr(e.msg, "wrapped.ckpt") &&
              strstr(e.msg, "position_ids is stored as LongStorage, which cannot be read as floating point"),
          "%s", e.msg);
    free(big);
    weights_close(w);
    w = weights_open(DATA "/ldm_prefixed.safetensors", &e);
    CHECK(w, "%s", e.msg);
    if (!w) return;
    i = weights_find(w, "cond_stage_model.transformer.text_model.embeddings.position_ids");
    big = malloc(77 * sizeof *big);
    CHECK(i >= 0 && weights_read(w, i, big, &e) < 0 && strstr(e.msg, "ldm_prefixed.safetensors") &&
              strstr(e.msg, "position_ids is stored as I64"),
          "%s", e.msg);
    free(big);
    weights_close(w);
}

/* ------------------------------------------------------------------ bad input */

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        printf("cannot write %s\n", path);
        exit(1);
    }
}

/* A safetensors file with the given header and data_len bytes of data. */
static void write_safetensors(const char *path, const char *header, uint64_t header_len, size_t data_len) {
    size_t hl = strlen(header), n = 8 + hl + data_len;
    unsigned char *buf = calloc(1, n);
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)(header_len >> (8 * b));
    memcpy(buf + 8, header, hl);
    for (size_t k = 0; k < data_len; k++) buf[8 + hl + k] = (unsigned char)k;
    write_bytes(path, buf, n);
    free(buf);
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("cannot read %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*n + 1);
    if (fread(buf, 1, *n, f) != *n) exit(1);
    fclose(f);
    return buf;
}

/* vae_weights_open(path) fails with a message holding path and each of the fragments. */
static void refused(const char *path, const char *what, const char *frag1, const char *frag2) {
    Error e;
    WeightFile *w = vae_weights_open(path, &e);
    CHECK(!w, "%s: accepted", what);
    weights_close(w);
    if (w) return;
    CHECK(strstr(e.msg, path) && strstr(e.msg, frag1) && (!frag2 || strstr(e.msg, frag2)), "%s: got '%s'", what, e.msg);
}

#define F32_ENTRY(name, shape, begin, end) \
    "\"" name "\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" #begin "," #end "]}"

/* A safetensors file made of `header` (its length as given, 0: its true length) and data_len bytes
 * of data, refused with the message fragment; NULL: accepted. */
typedef struct {
    const char *what, *header;
    uint64_t header_len;
    size_t data_len;
    const char *fragment;
} HeaderCase;

static void header_cases(const char *path, const HeaderCase *cases, size_t n) {
    for (size_t k = 0; k < n; k++) {
        const HeaderCase *c = &cases[k];
        write_safetensors(path, c->header, c->header_len ? c->header_len : strlen(c->header), c->data_len);
        if (c->fragment) {
            refused(path, c->what, c->fragment, NULL);
            continue;
        }
        Error e;
        WeightFile *w = vae_weights_open(path, &e);
        CHECK(w && weights_count(w) == 1, "%s: %s", c->what, w ? "not one tensor" : e.msg);
        weights_close(w);
    }
}

#define BIAS "decoder.conv_in.bias"

static void damaged_safetensors(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    const HeaderCase cases[] = {
        {"well-formed", "{" F32_ENTRY(BIAS, "[4]", 0, 16) "}", 0, 16, NULL},
        {"header length past the end", "{" F32_ENTRY(BIAS, "[4]", 0, 16) "}", 1u << 20, 16,
         "the header length 1048576 runs past the end of the file"},
        {"offsets past the end", "{" F32_ENTRY(BIAS, "[4]", 0, 16) "}", 0, 8,
         "tensor " BIAS ": data_offsets [0, 16) run past the end of the data (8 bytes; truncated?)"},
        {"unknown dtype", "{\"" BIAS "\":{\"dtype\":\"F17\",\"shape\":[4],\"data_offsets\":[0,16]}}", 0, 16,
         "tensor " BIAS ": unknown dtype \"F17\""},
        {"wrong shape", "{" F32_ENTRY(BIAS, "[5]", 0, 16) "}", 0, 16,
         "tensor " BIAS ": data_offsets [0, 16) hold 16 bytes, but shape (5,) of F32 needs 20"},
        {"negative size", "{" F32_ENTRY(BIAS, "[-4]", 0, 16) "}", 0, 16, "tensor " BIAS ": \"shape\" is not a list"},
        {"end before begin", "{" F32_ENTRY(BIAS, "[4]", 16, 0) "}", 0, 16,
         "tensor " BIAS ": \"data_offsets\" is not a pair"},
        {"a key twice", "{" F32_ENTRY(BIAS, "[4]", 0, 16) "," F32_ENTRY(BIAS, "[4]", 0, 16) "}", 0, 16,
         "tensor " BIAS " appears twice"},
        {"broken JSON", "{\"" BIAS "\": }", 0, 16, "header: invalid JSON at byte 25: expected a value"},
        {"no dtype", "{\"" BIAS "\":{\"shape\":[4],\"data_offsets\":[0,16]}}", 0, 16,
         "tensor " BIAS ": no \"dtype\" string"},
    };
    header_cases(path, cases, ARRAY_LEN(cases));

    /* a real file cut short: in the data, in the header */
    size_t n;
    unsigned char *full = read_all(DATA "/diffusers_fp16.safetensors", &n);
    write_bytes(path, full, n - 100);
    refused(path, "truncated data", "run past the end of the data", "; truncated?)");
    write_bytes(path, full, 500);
    refused(path, "truncated header", "runs past the end of the file", NULL);
    free(full);
}

static void damaged_legacy(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.pth", dir);
    size_t n;
    unsigned char *full = read_all(DATA "/legacy.pth", &n);
    write_bytes(path, full, n - 1000);
    refused(path, "legacy cut in the data", "its storage", "is missing from the file (the file ends before its data: "
                                                           "truncated?)");
    Error e;
    WeightFile *w = weights_open(path, &e);
    CHECK(!w && strstr(e.msg, "model/"), "the message names the tensor: %s", e.msg);
    weights_close(w);
    write_bytes(path, full, 2000);
    refused(path, "legacy cut in the pickle", "the saved object (legacy torch.save file, at byte", "ends");
    write_bytes(path, full, 15);
    refused(path, "legacy cut after the magic number", "protocol version (legacy torch.save file", NULL);
    /* protocol version 1002: the BININT2 after the magic number */
    unsigned char *copy = malloc(n);
    memcpy(copy, full, n);
    CHECK(copy[15] == 0x80 && copy[17] == 'M' && copy[18] == 0xe9 && copy[19] == 0x03, "protocol version pickle");
    copy[18] = 0xea;
    write_bytes(path, copy, n);
    refused(path, "protocol version", "legacy torch.save file with protocol version 1002, expected 1001", NULL);
    free(copy);
    free(full);
}

/* Names that look like the autoencoder's but fit no layout; two names for one tensor; a file of
 * another model; not a weight file; a folder that is not a diffusers model; a bad config.json;
 * diffusers folders with a .bin, with only the fp16 variant. */
static void bad_names_and_files(void) {
    char path[512], sub[512], cfg[600], weights[600];
    snprintf(path, sizeof path, "%s/names.safetensors", dir);
    const HeaderCase cases[] = {
        {"unknown name", "{" F32_ENTRY("encoder.down_blocks.0.foo.weight", "[4]", 0, 16) "}", 0, 16,
         "tensor encoder.down_blocks.0.foo.weight is not a tensor of the autoencoder in the ldm or the diffusers "
         "layout (read as encoder.down.0.foo.weight)"},
        {"unknown ldm name", "{" F32_ENTRY("decoder.up.0.block.0.conv9.weight", "[4]", 0, 16) "}", 0, 16,
         "tensor decoder.up.0.block.0.conv9.weight is not a tensor of the autoencoder"},
        {"two names for one tensor",
         "{" F32_ENTRY("decoder.mid_block.attentions.0.to_q.bias", "[4]", 0, 16) "," F32_ENTRY(
             "decoder.mid_block.attentions.0.query.bias", "[4]", 0, 16) "}", 0, 16,
         "tensors decoder.mid_block.attentions.0.to_q.bias and decoder.mid_block.attentions.0.query.bias are both "
         "the autoencoder's decoder.mid.attn_1.q.bias"},
        {"another model", "{" F32_ENTRY("model.diffusion_model.out.2.bias", "[4]", 0, 16) "}", 0, 16,
         "no tensor of the autoencoder (names starting with encoder., decoder., quant_conv. or post_quant_conv., "
         "possibly after first_stage_model.); the file's first tensor is model.diffusion_model.out.2.bias"},
    };
    header_cases(path, cases, ARRAY_LEN(cases));

    snprintf(path, sizeof path, "%s/text.pth", dir);
    write_bytes(path, "hello\n", 6);
    refused(path, "not a weight file", "neither a PyTorch torch.save file (zip or legacy) nor a safetensors file",
            NULL);
    snprintf(path, sizeof path, "%s/absent.pth", dir);
    refused(path, "absent", "cannot open", NULL);

    snprintf(sub, sizeof sub, "%s/folder", dir);
    mkdir(sub, 0755);
    refused(sub, "empty folder", "not a diffusers model folder", NULL);
    snprintf(weights, sizeof weights, "%s/diffusion_pytorch_model.safetensors", sub);
    const char *ok = "{" F32_ENTRY(BIAS, "[4]", 0, 16) "}";
    write_safetensors(weights, ok, strlen(ok), 16);
    snprintf(cfg, sizeof cfg, "%s/config.json", sub);
    write_bytes(cfg, "{\"scaling_factor\": [1]}", 23);
    Error e;
    WeightFile *w = vae_weights_open(sub, &e);
    CHECK(!w && strstr(e.msg, cfg) && strstr(e.msg, "scaling_factor is an array, expected a positive number"), "%s",
          w ? "accepted" : e.msg);
    weights_close(w);
    write_bytes(cfg, "{\"scaling_factor\": 1,}", 22);
    w = vae_weights_open(weights, &e);
    CHECK(!w && strstr(e.msg, cfg) && strstr(e.msg, "invalid JSON at byte 21"), "%s", w ? "accepted" : e.msg);
    weights_close(w);
    write_bytes(cfg, "{\"scaling_factor\": null}", 24);
    w = vae_weights_open(sub, &e);
    double s;
    CHECK(w && !weights_scaling_factor(w, &s), "null scaling factor: %s", w ? "read as known" : e.msg);
    weights_close(w);

    /* a folder whose weights are a torch .bin (here the legacy .pth) */
    unlink(weights);
    snprintf(weights, sizeof weights, "%s/diffusion_pytorch_model.bin", sub);
    size_t n;
    unsigned char *bin = read_all(DATA "/legacy.pth", &n);
    write_bytes(weights, bin, n);
    free(bin);
    w = vae_weights_open(sub, &e);
    CHECK(w && strcmp(weights_path(w), weights) == 0 && strcmp(weights_format(w), "torch legacy") == 0 &&
              weights_count(w) == 153, "%s", w ? weights_path(w) : e.msg);
    weights_close(w);

    /* only the fp16 variant */
    unlink(weights);
    snprintf(weights, sizeof weights, "%s/diffusion_pytorch_model.fp16.safetensors", sub);
    bin = read_all(DATA "/diffusers_fp16.safetensors", &n);
    write_bytes(weights, bin, n);
    free(bin);
    w = vae_weights_open(sub, &e);
    CHECK(w && strcmp(weights_path(w), weights) == 0 && strcmp(weights_layout(w), "diffusers") == 0 &&
              weights_count(w) == 153, "%s", w ? weights_path(w) : e.msg);
    weights_close(w);
}

/* ------------------------------------------------------------------ JSON */

static void json_reader(void) {
    Error e;
    const char *text = " {\"a\": [1, -2.5e3, true, false, null], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\", "
                       "\"o\": {}, \"a\": 7} ";
    JsonValue *v = json_parse(text, strlen(text), "t", &e);
    CHECK(v && v->kind == JSON_OBJECT && v->n == 4, "%s", v ? "bad tree" : e.msg);
    if (v) {
        const JsonValue *a = &v->items[0], *s = json_get(v, "s");
        CHECK(a->kind == JSON_ARRAY && a->n == 5 && a->items[1].number == -2500 && a->items[2].boolean &&
                  !a->items[3].boolean && a->items[4].kind == JSON_NULL, "array");
        CHECK(s && strcmp(s->string, "x\xc3\xa9\xf0\x9f\x98\x80\n\"") == 0, "escapes: %s", s ? s->string : "");
        uint64_t u;
        CHECK(json_as_u64(json_get(v, "a"), &u) == 0 && u == 7, "the last of a repeated key");
        CHECK(json_as_u64(&a->items[1], &u) < 0, "a negative number is no u64");
        json_free(v);
    }
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"[1,]", "at byte 3: expected a value"},
        {"{\"a\" 1}", "expected ':'"},
        {"\"abc", "a string is not closed"},
        {"\"\\ud800x\"", "a high surrogate without its low surrogate"},
        {"\"\\u0000\"", "a NUL character"},
        {"01", "more text after the value"},
        {"1.", "expected a digit after '.'"},
        {"", "the text ends where a value was expected"},
        {"[1] 2", "more text after the value"},
        {"\"a\tb\"", "a control character"},
    };
    for (size_t k = 0; k < ARRAY_LEN(bad); k++) {
        v = json_parse(bad[k].text, strlen(bad[k].text), "t", &e);
        CHECK(!v && strstr(e.msg, "t: invalid JSON") && strstr(e.msg, bad[k].msg), "'%s': %s", bad[k].text,
              v ? "accepted" : e.msg);
        json_free(v);
    }
    char deep[1000];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    v = json_parse(deep, 600, "t", &e);
    CHECK(!v && strstr(e.msg, "nested deeper than 256 levels"), "%s", v ? "accepted" : e.msg);
    json_free(v);
}

int main(void) {
    const char *g = getenv("MASKDIT_GOLDEN_DIR") ? getenv("MASKDIT_GOLDEN_DIR") : "tests/golden";
    snprintf(golden_pth, sizeof golden_pth, "%s/vae_tiny.pth", g);
    snprintf(golden_diffusers, sizeof golden_diffusers, "%s/vae_tiny_diffusers", g);
    Error e;
    base_file = pt_open(golden_pth, &e);
    if (!base_file || pt_state_dict(base_file, "model", &base, &e) < 0) {
        printf("FAIL golden_file %s\n", e.msg);
        return 1;
    }
    base_values = calloc((size_t)base.count, sizeof *base_values);
    for (int i = 0; i < base.count; i++) {
        base_values[i] = malloc(base.tensors[i].numel * sizeof **base_values);
        if (pt_read_tensor(base_file, &base.tensors[i], base_values[i], &e) < 0) {
            printf("FAIL golden_file %s\n", e.msg);
            return 1;
        }
    }
    scratch_dir(dir, sizeof dir, "test-weights");
    RUN(zip_pth);
    RUN(diffusers_folder_and_file);
    RUN(committed_layouts);
    RUN(spot_values_read_independently);
    RUN(plain_listing);
    RUN(damaged_safetensors);
    RUN(damaged_legacy);
    RUN(bad_names_and_files);
    RUN(json_reader);
    for (int i = 0; i < base.count; i++) free(base_values[i]);
    free(base_values);
    pt_state_dict_free(&base);
    pt_close(base_file);
    remove_scratch_dir(dir);
    return test_summary();
}
