#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../src/data/format.h"
#include "../src/util/numtext.h"
#include "../src/util/options.h"
#include "convert.h"

const char CONVERT_COMMON_USAGE[] =
    "  --out DIR            dataset directory to write (created if missing)\n"
    "  --dtype TYPE         float16 (default) or float32 storage\n"
    "  --shard-size N       samples per shard file (default: about 1 GiB per shard)\n"
    "  --num-classes K      number of classes (default: largest label + 1)\n"
    "  --scale-factor S     latent scale (default 0.18215 for moments/latents, 1 for pixels)\n"
    "  --xflip-included     the input already holds x-flipped copies of its images\n"
    "  --source TEXT        recorded as the dataset's source (default: the input path)\n"
    "  --no-progress        no progress bar\n";

void convert_options_default(ConvertOptions *opt, const char *kind) {
    memset(opt, 0, sizeof *opt);
    snprintf(opt->dtype, sizeof opt->dtype, "float16");
    snprintf(opt->kind, sizeof opt->kind, "%s", kind);
    opt->scale_factor = -1;
    opt->num_classes = -1;
    opt->progress = 1;
}

/* The value of the common option `name` (one of COMMON_OPTIONS that takes a value). */
static int common_value(const char *name, const char *v, ConvertOptions *opt, Error *e) {
    long long n = 0;
    if (!strcmp(name, "--out")) {
        opt->out = v;
    } else if (!strcmp(name, "--dtype")) {
        if (!dataset_dtype_size(v)) return error_set(e, "--dtype: '%s' is not float16 or float32", v);
        snprintf(opt->dtype, sizeof opt->dtype, "%s", v);
    } else if (!strcmp(name, "--shard-size")) {
        if (parse_whole(name, v, 1, 1LL << 32, &n, e) < 0) return -1;
        opt->shard_size = n;
    } else if (!strcmp(name, "--num-classes")) {
        if (parse_whole(name, v, 0, 1 << 30, &n, e) < 0) return -1;
        opt->num_classes = (int)n;
    } else if (!strcmp(name, "--scale-factor")) {
        if (parse_number(name, v, &opt->scale_factor, e) < 0) return -1;
        if (!(opt->scale_factor > 0) || isinf(opt->scale_factor))
            return error_set(e, "--scale-factor: expected a positive number, got '%s'", v);
    } else if (!strcmp(name, "--source")) {
        opt->source = v;
    }
    return 0;
}

/* The common options; their ids follow the subcommand's own (ids 0 .. n-1: index in args). */
enum { COMMON_VALUE, XFLIP_INCLUDED, NO_PROGRESS };
static const OptionSpec COMMON_OPTIONS[] = {
    {"--out", OPTION_TAKES_VALUE, COMMON_VALUE}, {"--dtype", OPTION_TAKES_VALUE, COMMON_VALUE},
    {"--shard-size", OPTION_TAKES_VALUE, COMMON_VALUE}, {"--num-classes", OPTION_TAKES_VALUE, COMMON_VALUE},
    {"--scale-factor", OPTION_TAKES_VALUE, COMMON_VALUE}, {"--source", OPTION_TAKES_VALUE, COMMON_VALUE},
    {"--xflip-included", OPTION_FLAG, XFLIP_INCLUDED}, {"--no-progress", OPTION_FLAG, NO_PROGRESS},
};

int convert_parse_args_list(int argc, char **argv, const ConvertArg *args, ConvertArgList *list,
                            ConvertOptions *common, const char *usage, Error *e) {
    const char *cmd = argv[0];
    int n = 0, n_positional = 0;
    const char **positional = NULL;
    for (; args[n].name || args[n].value || args[n].flag; n++)
        if (!args[n].name) positional = args[n].value, n_positional = 1;
    if (list) {
        n_positional = argc;
        list->n = 0;
        list->items = xmalloc((size_t)argc * sizeof *list->items, "arguments");
    }
    size_t n_common = common ? ARRAY_LEN(COMMON_OPTIONS) : 0, n_specs = 0;
    OptionSpec *specs = xmalloc(((size_t)n + n_common) * sizeof *specs, "option table");
    for (int k = 0; k < n; k++)
        if (args[k].name) specs[n_specs++] = (OptionSpec){args[k].name, args[k].value != NULL, k};
    for (size_t k = 0; k < n_common; k++) {
        specs[n_specs] = COMMON_OPTIONS[k];
        specs[n_specs++].id += n;
    }
    char program[128];
    xsnprintf(program, sizeof program, "maskdit-convert %s", cmd);
    OptionParser p = option_parser(argc, argv, specs, n_specs, program, n_positional);
    const char *v;
    int id, status = 0;
    while (status == 0 && (id = option_next(&p, &v, e)) != OPTION_END) {
        if (id == OPTION_HELP) {
            printf("%s%s", usage, common ? CONVERT_COMMON_USAGE : "");
            status = 1;
        } else if (id == OPTION_ERROR) status = error_prefix(e, "%s", cmd);
        else if (id == OPTION_POSITIONAL && list) list->items[list->n++] = (char *)v;
        else if (id == OPTION_POSITIONAL) *positional = v;
        else if (id < n && v) *args[id].value = v;
        else if (id < n) *args[id].flag = 1;
        else if (id - n == XFLIP_INCLUDED) common->xflip_included = 1;
        else if (id - n == NO_PROGRESS) common->progress = 0;
        else if (common_value(p.option, v, common, e) < 0) status = error_prefix(e, "%s", cmd);
    }
    free(specs);
    return status;
}

int convert_parse_args(int argc, char **argv, const ConvertArg *args, ConvertOptions *common, const char *usage,
                       Error *e) {
    return convert_parse_args_list(argc, argv, args, NULL, common, usage, e);
}
