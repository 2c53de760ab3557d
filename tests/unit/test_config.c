/* The YAML config loader: the original schema, strict errors, overrides, the YAML dump. */
#include <string.h>
#include <unistd.h>

#include "../../src/config/config.h"
#include "test.h"

static char tmp_path[256];

/* Write text to a temporary config file; returns its path. */
static const char *write_config(const char *text) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/maskdit-test-config-%d.yaml", (int)getpid());
    FILE *f = fopen(tmp_path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
    return tmp_path;
}

/* Load text with overrides; returns the rc and leaves the message in e. */
static int load_text(RunConfig *c, const char *text, char **sets, int n, Error *e) {
    int rc = run_config_load(c, write_config(text), sets, n, e);
    unlink(tmp_path);
    return rc;
}

#define CHECK_ERR(rc, e, want) CHECK((rc) < 0 && strstr((e).msg, want), "expected error containing '%s', got rc %d: %s", want, rc, (e).msg)

static void original_configs_load(void) {
    const char *files[] = {"configs/train/imagenet256-latent.yaml", "configs/train/imagenet512-latent.yaml",
                           "configs/finetune/imagenet256-latent-const.yaml",
                           "configs/finetune/imagenet256-latent-cos.yaml", "configs/finetune/imagenet512-latent.yaml",
                           "configs/test/maskdit-256.yaml", "configs/test/maskdit-512.yaml", "configs/demo/fmnist.yaml"};
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        RunConfig c;
        Error e = {""};
        int rc = run_config_load(&c, files[i], NULL, 0, &e);
        CHECK(rc == 0, "%s: %s", files[i], e.msg);
        CHECK(rc != 0 || run_config_check_training(&c, &e) == 0, "%s: %s", files[i], e.msg);
    }
    RunConfig c;
    Error e;
    CHECK(run_config_load(&c, "configs/train/imagenet256-latent.yaml", NULL, 0, &e) == 0, "%s", e.msg);
    CHECK(c.log.ckpt_every == 50000, "ckpt_every 50_000 -> %lld", c.log.ckpt_every);
    CHECK(c.train.batchsize == 128 && c.train.amp == 1 && c.train.tf32 == 0, "train section");
    CHECK_CLOSE(c.train.lr, 1e-4, 0, "lr");
    CHECK(!strcmp(c.model.model_type, "DiT-XL/2") && !strcmp(c.data.feat_path, "None"), "strings");
    ModelConfig m;
    CHECK(run_config_model(&c, &m, &e) == 0 && m.hidden_size == 1152 && m.depth == 28 && m.decoder_depth == 8,
          "model from DiT-XL/2");
    CHECK(run_config_load(&c, "configs/finetune/imagenet256-latent-const.yaml", NULL, 0, &e) == 0, "%s", e.msg);
    CHECK(c.eval.n_cfg_scales == 1 && c.eval.cfg_scales[0] == 1.5, "eval.cfg_scales list");
    CHECK(c.model.mask_ratio == 0 && c.train.max_num_steps == 100000, "finetune values");
    CHECK(run_config_load(&c, "configs/demo/fmnist.yaml", NULL, 0, &e) == 0, "%s", e.msg);
    CHECK(run_config_model(&c, &m, &e) == 0 && m.hidden_size == 256 && m.depth == 6 && m.num_heads == 4 &&
              m.decoder_hidden_size == 128 && m.in_channels == 1 && m.num_classes == 10,
          "demo model overrides");
}

static void yaml_scalar_types(void) {
    RunConfig c;
    Error e;
    int rc = load_text(&c,
                       "train:\n  lr: 1e-4\n  amp: no\n  tf32: ON\n  max_num_steps: 2e6\n  epochs: 0x10\n"
                       "log:\n  tag: 123\nmodel:\n  mask_ratio: 0\n  use_decoder: 1\n",
                       NULL, 0, &e);
    CHECK(rc == 0, "%s", e.msg);
    CHECK_CLOSE(c.train.lr, 1e-4, 0, "1e-4 is a float (OmegaConf)");
    CHECK(c.train.amp == 0 && c.train.tf32 == 1, "YAML 1.1 booleans");
    CHECK(c.train.max_num_steps == 2000000 && c.train.epochs == 16, "integral float and hex for ints");
    CHECK(!strcmp(c.log.tag, "123"), "a number in a string key keeps its text: %s", c.log.tag);
    char buf[32];
    run_config_py_value(&c, "model.mask_ratio", buf, sizeof buf);
    CHECK(!strcmp(buf, "0"), "integer literal printed as written: %s", buf);
    CHECK(c.model.use_decoder == 1, "0/1 booleans");
}

static void python_float_repr(void) {
    struct {
        double v;
        const char *want;
    } cases[] = {{0.0001, "0.0001"}, {0.00005, "5e-05"}, {0.5, "0.5"}, {0.0, "0.0"}, {1.0, "1.0"},
                 {0.1, "0.1"},       {2e-4, "0.0002"},  {1e16, "1e+16"}, {123456.0, "123456.0"}, {-2.5, "-2.5"},
                 {1.5e-7, "1.5e-07"}, {0.3, "0.3"}};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char buf[64];
        format_py_float(cases[i].v, buf, sizeof buf);
        CHECK(!strcmp(buf, cases[i].want), "repr(%.17g): got %s want %s", cases[i].v, buf, cases[i].want);
    }
}

static void unknown_key_named_with_file_and_line(void) {
    RunConfig c;
    Error e;
    int rc = load_text(&c, "model:\n  mask_ratio: 0.5\ntrain:\n  lr: 0.1\n  lrr: 0.2\n", NULL, 0, &e);
    CHECK_ERR(rc, e, ":5: unknown key 'train.lrr' (did you mean 'train.lr'?)");
    CHECK(strstr(e.msg, "/tmp/maskdit-test-config-"), "file named: %s", e.msg);
    rc = load_text(&c, "optim:\n  lr: 1\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "unknown section 'optim'");
    rc = load_text(&c, "run:\n  start_step: 5\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "unknown section 'run'");
    rc = load_text(&c, "train:\n  lr: 0.1\n  lr: 0.2\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "key 'train.lr' appears twice");
}

static void wrong_types_refused(void) {
    RunConfig c;
    Error e;
    int rc = load_text(&c, "train:\n  batchsize: 1.5\n", NULL, 0, &e);
    CHECK_ERR(rc, e, ":2: train.batchsize: expected an integer, got '1.5'");
    rc = load_text(&c, "train:\n  lr: '1e-4'\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "train.lr: expected a number, got the quoted string '1e-4'");
    rc = load_text(&c, "train:\n  amp: maybe\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "train.amp: expected a boolean (true/false), got 'maybe'");
    rc = load_text(&c, "model:\n  model_type: [1, 2]\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model.model_type: expected a string, got a list");
    rc = load_text(&c, "eval:\n  cfg_scales: [1.5, x]\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "eval.cfg_scales: item 2: expected a number, got 'x'");
    rc = load_text(&c, "train: 5\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "section 'train' must be a mapping");
    rc = load_text(&c, "train:\n  lr: [0.1\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "YAML syntax error");
    rc = load_text(&c, "", NULL, 0, &e);
    CHECK_ERR(rc, e, "the config is empty");
    rc = run_config_load(&c, "/nonexistent/x.yaml", NULL, 0, &e);
    CHECK_ERR(rc, e, "cannot read config file '/nonexistent/x.yaml'");
    rc = run_config_load(&c, "configs", NULL, 0, &e);
    CHECK_ERR(rc, e, "cannot read config file 'configs': it is a directory (expected a YAML file)");
    rc = load_text(&c, "train:\n  lr: 0.1\n---\ntrain:\n  lr: 0.2\n", NULL, 0, &e);
    CHECK_ERR(rc, e, ":3: a second YAML document begins here; a config is one document");
    rc = load_text(&c, "---\ntrain:\n  lr: 0.1\n...\n---\n", NULL, 0, &e);
    CHECK(rc == 0 && c.train.lr == 0.1, "document markers and an empty second document are fine: %s", e.msg);
}

static void value_checks(void) {
    RunConfig c;
    Error e;
    int rc = load_text(&c, "model:\n  mask_ratio: 1.0\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model.mask_ratio: expected 0 <= value < 1, got 1");
    rc = load_text(&c, "model:\n  mask_ratio_fn: cosine9\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model.mask_ratio_fn: unknown schedule 'cosine9'");
    rc = load_text(&c, "model:\n  model_type: DiT-Q/2\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model.model_type: unknown model_type 'DiT-Q/2'");
    rc = load_text(&c, "model:\n  pad_cls_token: True\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model.pad_cls_token: the extra class token is not supported");
    rc = load_text(&c, "model:\n  precond: vp\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model.precond: 'vp' is not supported");
    rc = load_text(&c, "model:\n  hidden_size: 100\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model: hidden_size 100 must be a positive multiple of num_heads 16");
    rc = load_text(&c, "train:\n  device: tpu\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "train.device: expected cpu, cuda or auto, got 'tpu'");
    /* Values the model cannot run with: refused here rather than a crash or a NaN loss later. */
    rc = load_text(&c, "model:\n  mask_ratio: 0.999\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model.mask_ratio: 0.999 keeps none of the model's 256 patches (expected at most 0.996094)");
    rc = load_text(&c, "model:\n  mask_ratio_fn: cosine2\n  mask_ratio_min: 0.998\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model.mask_ratio_min: 0.998 keeps none of the model's 256 patches");
    rc = load_text(&c, "model:\n  mask_ratio_min: 0.998\n", NULL, 0, &e);
    CHECK(rc == 0, "a constant schedule never uses mask_ratio_min: %s", e.msg);
    rc = load_text(&c, "model:\n  mlp_ratio: 0.001\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model: mlp_ratio 0.001 gives the blocks of width 512 an MLP width of 0 (expected 1 to");
    rc = load_text(&c, "model:\n  P_std: .inf\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model: P_mean and P_std must be finite (got -1.2 and inf)");
    rc = load_text(&c, "model:\n  P_std: -0.5\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model.P_std: expected a number >= 0 (a standard deviation), got -0.5");
    rc = load_text(&c, "model:\n  mask_ratio_fn: linear\n  mask_ratio_min: 0.75\n  mask_ratio: 0.5\n", NULL, 0, &e);
    CHECK_ERR(rc, e, "model.mask_ratio_min 0.75 is above model.mask_ratio 0.5: the schedule runs from mask_ratio_min up");
    rc = load_text(&c, "train:\n  batchsize: 99999999999\n", NULL, 0, &e);
    CHECK_ERR(rc, e, ":2: train.batchsize: 99999999999 is out of range (an integer from -2147483648 to 2147483647)");
}

static void training_checks(void) {
    RunConfig c;
    Error e;
    int rc = load_text(&c, "data:\n  category: lmdb\n  root: /data/in256\n", NULL, 0, &e);
    CHECK(rc == 0, "%s", e.msg);
    rc = run_config_check_training(&c, &e);
    CHECK_ERR(rc, e, "maskdit-convert lmdb /data/in256/train --out /data/in256-hdf5");
    CHECK(strstr(e.msg, "data.root: /data/in256-hdf5"), "says which root to use: %s", e.msg);
    load_text(&c, "data:\n  category: webdataset\n  root: /data/wds\n", NULL, 0, &e);
    CHECK_ERR(run_config_check_training(&c, &e), e, "maskdit-convert lmdb <latent-lmdb>/train --out /data/wds-hdf5");
    load_text(&c, "data:\n  category: zarr\n  root: x\n", NULL, 0, &e);
    CHECK_ERR(run_config_check_training(&c, &e), e, "data.category: unknown dataset category 'zarr'");
    load_text(&c, "data:\n  category: hdf5\n", NULL, 0, &e);
    CHECK_ERR(run_config_check_training(&c, &e), e, "data.root: no dataset directory given");
    load_text(&c, "data:\n  root: d\n  resolution: 64\n", NULL, 0, &e);
    CHECK_ERR(run_config_check_training(&c, &e), e, "data.resolution (64) differs from model.in_size (32)");
    load_text(&c, "data:\n  root: d\n  num_classes: 10\n", NULL, 0, &e);
    CHECK_ERR(run_config_check_training(&c, &e), e, "data.num_classes (10) differs from model.num_classes (1000)");
}

static void overrides(void) {
    RunConfig c;
    Error e;
    char *sets[] = {"train.lr=2e-4", "log.tag=", "eval.cfg_scales=[1.0, 4]", "model.model_type=DiT-S/4"};
    int rc = load_text(&c, "train:\n  lr: 0.1\nlog:\n  tag: x\n", sets, 4, &e);
    CHECK(rc == 0, "%s", e.msg);
    CHECK_CLOSE(c.train.lr, 2e-4, 0, "override lr");
    CHECK(c.log.tag[0] == 0, "empty override = null = empty string");
    CHECK(c.eval.n_cfg_scales == 2 && c.eval.cfg_scales[1] == 4, "list override");
    char *bad1[] = {"train.lrr=1"};
    CHECK_ERR(load_text(&c, "log:\n  tag: x\n", bad1, 1, &e), e, "--set train.lrr=1: unknown key 'train.lrr'");
    char *bad2[] = {"train.lr"};
    CHECK_ERR(load_text(&c, "log:\n  tag: x\n", bad2, 1, &e), e, "--set train.lr: expected section.key=value");
    char *bad3[] = {"train.batchsize=big"};
    CHECK_ERR(load_text(&c, "log:\n  tag: x\n", bad3, 1, &e), e,
              "--set train.batchsize=big: train.batchsize: expected an integer, got 'big'");
    char *bad4[] = {"run.start_step=3"};
    CHECK_ERR(load_text(&c, "log:\n  tag: x\n", bad4, 1, &e), e, "unknown key 'run.start_step'");
}

static void yaml_dump_round_trip(void) {
    RunConfig a, b;
    Error e;
    char *sets[] = {"log.tag=a: \"quoted\" #x", "data.root=/data/with space", "train.lr=5e-05",
                    "eval.cfg_scales=[1.5, 2.25]", "model.mask_ratio=0"};
    CHECK(run_config_load(&a, "configs/finetune/imagenet256-latent-cos.yaml", sets, 5, &e) == 0, "%s", e.msg);
    a.run.start_step = 1234;
    char *text = run_config_to_yaml(&a, 1);
    run_config_defaults(&b);
    CHECK(run_config_apply_text(&b, text, "dump", 1, &e) == 0, "%s\n%s", e.msg, text);
    CHECK(!strcmp(a.log.tag, b.log.tag) && !strcmp(a.data.root, b.data.root), "strings: '%s' '%s'", b.log.tag,
          b.data.root);
    CHECK(a.train.lr == b.train.lr && a.model.mask_ratio == b.model.mask_ratio && b.run.start_step == 1234, "numbers");
    CHECK(b.eval.n_cfg_scales == 2 && b.eval.cfg_scales[1] == 2.25, "list");
    CHECK(!memcmp(&a.data, &b.data, sizeof a.data) && !memcmp(&a.model, &b.model, sizeof a.model) &&
              !memcmp(&a.train, &b.train, sizeof a.train) && !memcmp(&a.log, &b.log, sizeof a.log),
          "every section reads back identical");
    CHECK(!memcmp(a.int_literal, b.int_literal, sizeof a.int_literal), "integer literals survive");
    free(text);
    text = run_config_to_yaml(&a, 0);
    CHECK(!strstr(text, "run:"), "no run section for users");
    free(text);
}

static void key_table_in_docs(void) {
    char *md = run_config_keys_markdown();
    FILE *f = fopen("docs/configs.md", "r");
    CHECK(f != NULL, "docs/configs.md exists");
    if (!f) {
        free(md);
        return;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *doc = calloc((size_t)n + 1, 1);
    CHECK(fread(doc, 1, (size_t)n, f) == (size_t)n, "read docs");
    fclose(f);
    CHECK(strstr(doc, md) != NULL, "docs/configs.md holds the current key table (maskdit-train --config_keys)");
    free(doc);
    free(md);
}

int main(void) {
    RUN(original_configs_load);
    RUN(yaml_scalar_types);
    RUN(python_float_repr);
    RUN(unknown_key_named_with_file_and_line);
    RUN(wrong_types_refused);
    RUN(value_checks);
    RUN(training_checks);
    RUN(overrides);
    RUN(yaml_dump_round_trip);
    RUN(key_table_in_docs);
    return test_summary();
}
