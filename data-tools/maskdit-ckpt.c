/* maskdit-ckpt: inspect checkpoints and convert the official PyTorch .pt files to our HDF5 format.
 *
 *   maskdit-ckpt info FILE                 FILE: .pt or .h5 (see docs/maskdit-ckpt.md)
 *   maskdit-ckpt import X.pt OUT.h5 [--model-type DiT-XL/2] [--input-size N] [--num-heads H]
 *                                   [--decoder-num-heads H]
 *   maskdit-ckpt export --format pt|safetensors [--weights ema|model|all] CKPT OUT
 */
#include <string.h>
#include <sys/stat.h>

#include "../mpi/dist.h"

#include "../src/ckpt/ckpt.h"
#include "../src/ckpt/export.h"
#include "../src/config/config.h"
#include "../src/ckpt/infer_config.h"
#include "../src/ckpt/pt_import.h"
#include "../src/config/config.h"
#include "../src/model/config_json.h"
#include "../src/util/fileio.h"
#include "../src/util/h5util.h"
#include "../src/util/numtext.h"
#include "../src/util/options.h"

static const char *USAGE =
    "usage: maskdit-ckpt info FILE\n"
    "       maskdit-ckpt import X.pt OUT.h5 [--model-type TYPE] [--input-size N] [--num-heads H]\n"
    "                                       [--decoder-num-heads H]\n"
    "       maskdit-ckpt export --format pt|safetensors [--weights ema|model|all] CKPT OUT\n"
    "  info    sections, step, tensors and parameter counts of a .pt or HDF5 checkpoint, and the model\n"
    "          configuration read off the tensor shapes\n"
    "  import  convert an official MaskDiT .pt checkpoint (model, ema and optimizer moments when present)\n"
    "          to a MaskDiT-C HDF5 checkpoint; the model configuration is inferred from the shapes\n"
    "  export  write a checkpoint for PyTorch: .pt in the original's layout (model, ema, opt, args as a\n"
    "          plain dict; torch.load(weights_only=True) reads it) or safetensors with the state_dict\n"
    "          names (model./ema. prefixes with --weights all); --weights defaults to all for pt, ema\n"
    "          for safetensors\n";

static size_t count_params(const TensorMeta *list, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += shape_numel(list[i].ndim, list[i].shape);
    return total;
}

/* ------------------------------------------------------------------ heads */

typedef struct {
    int num_heads, decoder_num_heads;   /* from flags; 0 = not given */
} HeadFlags;

/* The original training script's args may carry a model_config dict (it does in our golden file). */
static int heads_from_args(const PtFile *f, const char *key) {
    long long h;
    const PkValue *mc = f ? pk_dict_get(pt_args(f), "model_config") : NULL;
    return pk_as_int(pk_dict_get(mc, key), &h) == 0 && h > 0 && h < 1 << 20 ? (int)h : 0;
}

/* Fill in the heads (flags, else the file's args, else the DiT family default kept by inference);
 * describe where they came from. */
static void resolve_heads(ModelConfig *c, const PtFile *f, const HeadFlags *flags, char *note, size_t len) {
    int from_args = heads_from_args(f, "num_heads"), dec_from_args = heads_from_args(f, "decoder_num_heads");
    const char *src = "the DiT family default for this width";
    if (flags->num_heads) c->num_heads = flags->num_heads, src = "--num-heads";
    else if (from_args) c->num_heads = from_args, src = "args.model_config";
    if (flags->decoder_num_heads) c->decoder_num_heads = flags->decoder_num_heads;
    else if (dec_from_args) c->decoder_num_heads = dec_from_args;
    if (c->num_heads)
        snprintf(note, len, "num_heads %d from %s (attention heads leave no trace in the tensor shapes)", c->num_heads,
                 src);
    else
        snprintf(note, len, "num_heads unknown: hidden size %d is not a DiT family width and the shapes do not "
                            "record heads; pass --num-heads to import", c->hidden_size);
}

/* ------------------------------------------------------------------ info */

static void print_section(const char *path, const char *section, int list_tensors, const PtStateDict *sd) {
    TensorMeta *list;
    int n;
    Error e;
    if (ckpt_list(path, section, &list, &n, &e) < 0) die("%s", e.msg);
    printf("%-6s %d tensors, %zu parameters", section, n, count_params(list, n));
    if (sd && sd->count) {
        int mixed = 0;
        for (int i = 1; i < sd->count; i++) mixed |= sd->tensors[i].dtype != sd->tensors[0].dtype;
        printf(" (%s)", mixed ? "mixed dtypes" : float_data_name(sd->tensors[0].dtype));
    }
    printf("\n");
    for (int i = 0; list_tensors && i < n; i++) {
        char shape[160];
        shape_str(list[i].ndim, list[i].shape, shape, sizeof shape);
        printf("  %-56s %-18s%s%s\n", list[i].name, shape, sd ? " " : "", sd ? float_data_name(sd->tensors[i].dtype) : "");
    }
    ckpt_list_free(list, n);
}

/* The heads of the run configuration a maskdit-train checkpoint stores (0 when there is none). */
static int stored_heads(const CkptMeta *meta, const char *path, int *decoder_heads) {
    RunConfig rc;
    ModelConfig mc;
    Error e;
    run_config_defaults(&rc);
    *decoder_heads = 0;
    if (!meta->config_text || run_config_apply_text(&rc, meta->config_text, path, 1, &e) < 0 ||
        run_config_model(&rc, &mc, &e) < 0)
        return 0;
    *decoder_heads = mc.decoder_num_heads;
    return mc.num_heads;
}

/* The model configuration read off the shapes of a section of a checkpoint (ends the program when
 * the section cannot be listed). */
static int infer_from_file(const char *path, const char *section, ModelConfig *c, Error *e) {
    TensorMeta *list;
    int n;
    if (ckpt_list(path, section, &list, &n, e) < 0) die("%s", e->msg);
    TensorMeta **ptrs = xmalloc(((size_t)n + 1) * sizeof *ptrs, "tensor list");
    for (int i = 0; i < n; i++) ptrs[i] = &list[i];
    int rc = infer_model_config(ptrs, n, c, e);
    free(ptrs);
    ckpt_list_free(list, n);
    return rc;
}

static void print_inferred(const char *path, const char *section, const PtFile *pf, const CkptMeta *meta) {
    Error e;
    ModelConfig c;
    if (infer_from_file(path, section, &c, &e) < 0) {
        printf("model config: %s\n", e.msg);
    } else {
        char desc[256], note[256];
        HeadFlags none = {0, 0};
        resolve_heads(&c, pf, &none, note, sizeof note);
        int decoder_heads, heads = stored_heads(meta, path, &decoder_heads);
        if (heads) {   /* what the run was configured with beats a family default */
            c.num_heads = heads;
            if (c.use_decoder) c.decoder_num_heads = decoder_heads;
            snprintf(note, sizeof note, "num_heads %d from the stored run configuration", heads);
        } else if (!c.num_heads && meta->model_config_json) {
            snprintf(note, sizeof note, "num_heads is not recorded in the shapes; the stored model_config has it");
        }
        model_config_describe(&c, desc, sizeof desc);
        printf("model config (from the shapes): %s mlp_ratio=%g\n  %s\n", desc, c.mlp_ratio, note);
    }
}

static int cmd_info(int argc, char **argv) {
    const char *path;
    if (option_single_argument(argc, argv, "maskdit-ckpt info", "one file", USAGE, &path)) return 0;
    Error e;
    CkptFileKind kind;
    int sections;
    if (ckpt_file_kind(path, &kind, &e) < 0 || ckpt_sections(path, &sections, &e) < 0) die("%s", e.msg);
    CkptMeta meta;
    CkptTensors none = {0};
    ParamTable empty = {0};
    if (ckpt_load(path, &empty, &none, &meta, 1, &e) < 0) die("%s", e.msg);
    PtFile *pf = kind == CKPT_FILE_PT ? pt_open(path, &e) : NULL;
    if (kind == CKPT_FILE_PT && !pf) die("%s", e.msg);
    char have[512];
    if (pf) pt_sections_str(pf, have, sizeof have);
    else snprintf(have, sizeof have, "%s%s%s", sections & CKPT_MODEL ? "model" : "", sections & CKPT_EMA ? ", ema" : "",
                  sections & CKPT_OPT ? ", opt" : "");
    const char *what = !pf ? "MaskDiT-C HDF5 checkpoint"
                     : strcmp(pt_format(pf), "torch legacy") == 0 ? "PyTorch .pt, legacy format of PyTorch < 1.6"
                                                                          : "PyTorch .pt";
    printf("file: %s (%s)\nsections: %s\nstep: %lld\n", path, what, have, meta.step);
    if (!pf) {
        char good[32];
        if (meta.loss_scale_good_steps >= 0) snprintf(good, sizeof good, "%lld", meta.loss_scale_good_steps);
        else snprintf(good, sizeof good, "not recorded");
        printf("sample_cursor: %lld  seed: %lld  world_size: %d  lr: %g  loss_scale: %g  loss_scale_good_steps: %s  "
               "precision: %s\n", meta.sample_cursor, meta.seed, meta.world_size, meta.lr, meta.loss_scale, good,
               meta.precision);
    }
    const char *weights = sections & CKPT_EMA ? "ema" : "model";
    int listed = 0;
    for (int s = 0; s < 2; s++) {
        const char *name = s ? "ema" : "model";
        if (!(sections & (s ? CKPT_EMA : CKPT_MODEL)) || (pf && pt_is_plain(pf) && s)) continue;
        PtStateDict sd = {0};
        if (pf && pt_state_dict(pf, name, &sd, &e) < 0) die("%s", e.msg);
        print_section(path, name, !listed, pf ? &sd : NULL);
        listed = 1;
        pt_state_dict_free(&sd);
    }
    if (pf && (sections & CKPT_OPT)) {
        PtOptimizer o;
        if (pt_optimizer(pf, &o, &e) < 0) die("%s", e.msg);
        int with_state = 0;
        for (int i = 0; i < o.count; i++) with_state += o.exp_avg[i].storage != NULL;
        printf("opt    %d parameters in param_groups, %d with exp_avg/exp_avg_sq", o.count, with_state);
        if (o.has_step) printf(", step %lld", o.step);
        if (o.has_lr) printf(", lr %g", o.lr);
        printf("\n");
        pt_optimizer_free(&o);
    } else if (sections & CKPT_OPT) {
        printf("opt    exp_avg and exp_avg_sq of the trainable tensors\n");
    }
    print_inferred(path, weights, pf, &meta);
    if (meta.model_config_json) printf("model_config (stored): %s\n", meta.model_config_json);
    if (meta.config_text) printf("config: %zu bytes of YAML stored\n", strlen(meta.config_text));
    if (meta.software) printf("software: %s\n", meta.software);
    const PkValue *args = pf ? pt_args(pf) : NULL;
    if (args) {
        char text[4096];
        pk_repr(args, text, sizeof text);
        printf("args: %s\n", text);
    }
    pt_close(pf);
    ckpt_meta_free(&meta);
    return 0;
}

/* ------------------------------------------------------------------ import */

/* A flag's value: a whole number from 1 to 2^20. */
static int parse_int_flag(const char *flag, const char *value) {
    long long v;
    Error e;
    if (parse_whole(flag, value, 1, 1 << 20, &v, &e)) die("%s", e.msg);
    return (int)v;
}

static int cmd_import(const Dist *d, int argc, char **argv) {
    enum { MODEL_TYPE, INPUT_SIZE, NUM_HEADS, DECODER_NUM_HEADS };
    static const OptionSpec options[] = {
        {"--model-type", OPTION_TAKES_VALUE, MODEL_TYPE}, {"--input-size", OPTION_TAKES_VALUE, INPUT_SIZE},
        {"--num-heads", OPTION_TAKES_VALUE, NUM_HEADS}, {"--decoder-num-heads", OPTION_TAKES_VALUE, DECODER_NUM_HEADS}};
    const char *in = NULL, *out = NULL, *model_type = NULL, *v;
    int input_size = 0;
    HeadFlags heads = {0, 0};
    OptionParser p = option_parser(argc, argv, options, ARRAY_LEN(options), "maskdit-ckpt import", 2);
    Error e;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        switch (id) {
        case OPTION_HELP: fputs(USAGE, stdout); return 0;
        case OPTION_ERROR: die("%s", e.msg);
        case OPTION_POSITIONAL: *(in ? &out : &in) = v; break;
        case MODEL_TYPE: model_type = v; break;
        case INPUT_SIZE: input_size = parse_int_flag(p.option, v); break;
        case NUM_HEADS: heads.num_heads = parse_int_flag(p.option, v); break;
        case DECODER_NUM_HEADS: heads.decoder_num_heads = parse_int_flag(p.option, v); break;
        }
    }
    if (!in || !out) die("import needs X.pt and OUT.h5\n%s", USAGE);
    if (check_not_input(out, in, "the checkpoint to import", &e) < 0) die("%s", e.msg);
    PtFile *pf = pt_open(in, &e);
    if (!pf) die("%s", e.msg);
    int has_ema = pt_has_section(pf, "ema"), has_model = pt_has_section(pf, "model"), has_opt = pt_has_section(pf, "opt");
    if (!has_ema && !has_model) {
        char have[512];
        pt_sections_str(pf, have, sizeof have);
        die("%s: no model or ema weights (the file holds: %s)", in, have);
    }
    PtStateDict sd;
    if (pt_state_dict(pf, has_ema ? "ema" : "model", &sd, &e) < 0) die("%s", e.msg);
    TensorMeta **ptrs = xmalloc(((size_t)sd.count + 1) * sizeof *ptrs, "tensor list");
    for (int i = 0; i < sd.count; i++) ptrs[i] = &sd.tensors[i].meta;
    ModelConfig c;
    if (infer_model_config(ptrs, sd.count, &c, &e) < 0) die("%s: %s", in, e.msg);
    free(ptrs);
    pt_state_dict_free(&sd);
    if (model_type && model_config_apply_type(&c, model_type, &e) < 0) die("%s", e.msg);
    if (input_size) c.input_size = input_size;
    char note[256], desc[256];
    resolve_heads(&c, pf, &heads, note, sizeof note);
    pt_close(pf);
    if (!c.num_heads) die("%s: %s", in, note);
    if (c.use_decoder && !c.decoder_num_heads)
        die("%s: decoder width %d is not the original's 512: pass --decoder-num-heads", in, c.decoder_hidden_size);
    if (model_config_validate(&c, &e) < 0) die("%s: inferred model configuration: %s", in, e.msg);

    ParamTable t;
    param_table_build(&t, &c);
    CkptTensors ts = {
        .model = xmalloc(t.total * sizeof(float), "model weights"),
        .ema = xmalloc(t.total * sizeof(float), "EMA weights"),
        .exp_avg = has_opt ? xmalloc(t.n_trainable * sizeof(float), "exp_avg") : NULL,
        .exp_avg_sq = has_opt ? xmalloc(t.n_trainable * sizeof(float), "exp_avg_sq") : NULL,
    };
    /* A file with one set of weights gives it for both (the EMA of a released model is the model). */
    CkptTensors want = ts;
    if (!has_model) want.model = NULL;
    if (!has_ema) want.ema = NULL;
    CkptMeta meta;
    if (ckpt_load(in, &t, &want, &meta, 1, &e) < 0) die("%s", e.msg);
    if (!has_model) memcpy(ts.model, ts.ema, t.total * sizeof(float));
    if (!has_ema) memcpy(ts.ema, ts.model, t.total * sizeof(float));
    meta.model_config_json = model_config_to_json(&c);
    if (ckpt_save(out, d, &t, &ts, &meta, &e) < 0) die("%s", e.msg);
    model_config_describe(&c, desc, sizeof desc);
    info("imported %s -> %s: %s%s%s, %zu parameters, step %lld\n  model: %s\n  %s", in, out,
         has_model ? "model" : "model (= ema)", has_ema ? ", ema" : ", ema (= model)", has_opt ? ", opt" : "",
         t.n_trainable, meta.step, desc, note);
    ckpt_meta_free(&meta);
    free(ts.model);
    free(ts.ema);
    free(ts.exp_avg);
    free(ts.exp_avg_sq);
    param_table_free(&t);
    return 0;
}

/* ------------------------------------------------------------------ export */

/* The model configuration as JSON for args["model_config"]: the one stored by import, else the one
 * the training configuration describes, else the one read off the shapes (heads from a .pt file's
 * args, as import takes them). */
static char *export_model_config(const char *path, const CkptMeta *m, const ModelConfig *inferred) {
    if (m->model_config_json) return xstrdup(m->model_config_json);
    RunConfig rc;
    ModelConfig c = *inferred;
    Error e;
    CkptFileKind kind;
    PtFile *pf = ckpt_file_kind(path, &kind, &e) == 0 && kind == CKPT_FILE_PT ? pt_open(path, &e) : NULL;
    if (pf) {
        HeadFlags none = {0, 0};
        char note[256];
        resolve_heads(&c, pf, &none, note, sizeof note);
        pt_close(pf);
        return model_config_to_json(&c);
    }
    run_config_defaults(&rc);
    if (m->config_text && (run_config_apply_text(&rc, m->config_text, "the stored config", 1, &e) < 0 ||
                           run_config_model(&rc, &c, &e) < 0)) {
        warn("the checkpoint's stored configuration cannot be read (%s); args.model_config is read off the shapes",
             e.msg);
        c = *inferred;
    }
    return model_config_to_json(&c);
}

/* AdamW's own step count: the run section of the stored configuration, else the checkpoint's step. */
static long long optimizer_step_of(const CkptMeta *m) {
    RunConfig rc;
    Error e;
    run_config_defaults(&rc);
    if (m->config_text && run_config_apply_text(&rc, m->config_text, "the stored config", 1, &e) == 0 &&
        rc.run.optimizer_step >= 0)
        return rc.run.optimizer_step;
    return m->step;
}

static int cmd_export(const Dist *d, int argc, char **argv) {
    enum { FORMAT, WEIGHTS };
    static const OptionSpec options[] = {{"--format", OPTION_TAKES_VALUE, FORMAT},
                                         {"--weights", OPTION_TAKES_VALUE, WEIGHTS}};
    const char *in = NULL, *out = NULL, *format = NULL, *weights = NULL, *v;
    OptionParser p = option_parser(argc, argv, options, ARRAY_LEN(options), "maskdit-ckpt export", 2);
    Error e;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        switch (id) {
        case OPTION_HELP: fputs(USAGE, stdout); return 0;
        case OPTION_ERROR: die("%s", e.msg);
        case OPTION_POSITIONAL: *(in ? &out : &in) = v; break;
        case FORMAT: format = v; break;
        case WEIGHTS: weights = v; break;
        }
    }
    if (!in || !out) die("export needs CKPT and OUT\n%s", USAGE);
    /* one writer per output: several ranks would race for OUT.tmp */
    if (d->world > 1) die("export writes one file from one process; run it without mpirun (it has %d ranks)", d->world);
    if (!format || (strcmp(format, "pt") && strcmp(format, "safetensors")))
        die("--format: expected pt or safetensors, got %s%s%s", format ? "'" : "", format ? format : "none",
            format ? "'" : "");
    int pt = !strcmp(format, "pt");
    if (!weights) weights = pt ? "all" : "ema";
    if (strcmp(weights, "ema") && strcmp(weights, "model") && strcmp(weights, "all"))
        die("--weights: expected ema, model or all, got '%s'", weights);
    struct stat si, so;   /* never write over the input */
    if (stat(in, &si) == 0 && stat(out, &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        die("%s is both the checkpoint and the output; give the export another name", out);
    int sections;
    if (ckpt_sections(in, &sections, &e) < 0) die("%s", e.msg);
    int all = !strcmp(weights, "all"), want_model = all || !strcmp(weights, "model"), want_ema = all || !strcmp(weights, "ema");
    if ((want_model && !(sections & CKPT_MODEL)) || (want_ema && !(sections & CKPT_EMA)))
        die("%s holds no %s weights (--weights %s)", in, want_model && !(sections & CKPT_MODEL) ? "model" : "ema",
            weights);

    /* the tensor table from the shapes: heads do not change a tensor's shape */
    ModelConfig c;
    if (infer_from_file(in, want_ema ? "ema" : "model", &c, &e) < 0) die("%s: %s", in, e.msg);
    ParamTable t;
    param_table_build(&t, &c);

    int with_opt = pt && all && (sections & CKPT_OPT);
    CkptTensors ts = {
        .model = want_model ? xmalloc(t.total * sizeof(float), "model weights") : NULL,
        .ema = want_ema ? xmalloc(t.total * sizeof(float), "EMA weights") : NULL,
        .exp_avg = with_opt ? xmalloc(t.n_trainable * sizeof(float), "exp_avg") : NULL,
        .exp_avg_sq = with_opt ? xmalloc(t.n_trainable * sizeof(float), "exp_avg_sq") : NULL,
    };
    CkptMeta meta;
    if (ckpt_load(in, &t, &ts, &meta, 1, &e) < 0) die("%s", e.msg);
    char *model_config = export_model_config(in, &meta, &c);
    ExportInput x = {.t = &t, .model = ts.model, .ema = ts.ema, .exp_avg = ts.exp_avg, .exp_avg_sq = ts.exp_avg_sq,
                     .step = meta.step, .optimizer_step = optimizer_step_of(&meta), .seed = meta.seed, .lr = meta.lr,
                     .model_config_json = model_config};
    if ((pt ? export_pt(out, &x, &e) : export_safetensors(out, &x, &e)) < 0) die("%s", e.msg);
    info("exported %s -> %s (%s): %s%s%s, %d tensors each, step %lld", in, out, format, want_model ? "model" : "",
         all ? ", ema" : want_ema ? "ema" : "", with_opt ? ", opt" : "", t.count, meta.step);
    free(model_config);
    ckpt_meta_free(&meta);
    free(ts.model), free(ts.ema), free(ts.exp_avg), free(ts.exp_avg_sq);
    param_table_free(&t);
    return 0;
}

int main(int argc, char **argv) {
    Dist d;
    dist_init(&d, &argc, &argv);
    h5_quiet();
    int rc = 0;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (d.rank == 0) fputs(USAGE, argc < 2 ? stderr : stdout);
        rc = argc < 2 ? EXIT_FAILURE_STATUS : 0;   /* no command: a bad command line, as everywhere */
    } else if (strcmp(argv[1], "info") == 0) {
        rc = cmd_info(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "import") == 0) {
        rc = cmd_import(&d, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "export") == 0) {
        rc = cmd_export(&d, argc - 1, argv + 1);
    } else {
        die("unknown command '%s'\n%s", argv[1], USAGE);
    }
    dist_finalize(&d);
    return rc;
}
