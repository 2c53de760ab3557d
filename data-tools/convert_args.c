#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../src/data/format.h"
#include "../src/util/numtext.h"
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

/* The common options, handled after a match of their name. */
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
    } else {
        return 0;
    }
    return 1;
}

int convert_parse_args(int argc, char **argv, const ConvertArg *args, ConvertOptions *common, const char *usage,
                       Error *e) {
    static const char *const common_values[] = {"--out", "--dtype", "--shard-size", "--num-classes",
                                                "--scale-factor", "--source"};
    const char *cmd = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("%s%s", usage, common ? CONVERT_COMMON_USAGE : "");
            return 1;
        }
        if (strncmp(a, "--", 2)) { /* positional */
            const ConvertArg *p = args;
            while ((p->name || p->value || p->flag) && p->name) p++;
            if (!p->value) return error_set(e, "%s: unexpected argument '%s' (see %s --help)", cmd, a, cmd);
            if (*p->value) return error_set(e, "%s: more than one input given ('%s' and '%s')", cmd, *p->value, a);
            *p->value = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        char name[64];
        if (len >= sizeof name) return error_set(e, "%s: unknown option '%s' (see %s --help)", cmd, a, cmd);
        memcpy(name, a, len);
        name[len] = 0;
        const char **value = NULL;
        int *flag = NULL, is_common = 0;
        for (const ConvertArg *p = args; p->name || p->value || p->flag; p++)
            if (p->name && !strcmp(p->name, name)) {
                value = p->value;
                flag = p->flag;
            }
        if (common && !value && !flag) {
            for (size_t k = 0; k < ARRAY_LEN(common_values); k++) is_common |= !strcmp(name, common_values[k]);
            if (!strcmp(name, "--xflip-included")) flag = &common->xflip_included;
            if (!strcmp(name, "--no-progress")) {
                common->progress = 0;
                continue;
            }
        }
        if (flag) {
            if (eq) return error_set(e, "%s: option %s takes no value", cmd, name);
            *flag = 1;
            continue;
        }
        if (!value && !is_common) return error_set(e, "%s: unknown option '%s' (see %s --help)", cmd, name, cmd);
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return error_set(e, "%s: option %s needs a value", cmd, name);
        if (value) *value = v;
        else if (common_value(name, v, common, e) < 0) return error_prefix(e, "%s", cmd);
    }
    return 0;
}
