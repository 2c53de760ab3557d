/* maskdit-train: MaskDiT training on one or many MPI ranks, with the original train.py's flags.
 *
 *   mpirun -np 8 maskdit-train --config configs/train/imagenet256-latent.yaml [--set train.lr=2e-4] ...
 *
 * See docs/maskdit-train.md (flags, experiment directory, resume, signals, exit status) and
 * docs/configs.md (the YAML keys). */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "../../mpi/dist.h"
#include "../config/config.h"
#include "../train/trainer.h"
#include "../util/build_info.h"
#include "../util/numtext.h"
#include "../util/options.h"

static const char USAGE[] =
    "usage: maskdit-train --config FILE.yaml [options]\n"
    "  --config FILE         YAML config in the original schema (docs/configs.md)\n"
    "  --set KEY=VALUE       override a config key, e.g. --set train.lr=2e-4 (repeatable)\n"
    "  --results_dir DIR     where experiment directories are made (default: results)\n"
    "  --ckpt_path PATH      checkpoint (.h5, or an official .pt) to start from (default: auto-resume)\n"
    "  --use_ckpt_path BOOL  true: continue in the checkpoint's experiment directory (default true)\n"
    "  --use_strict_load B   true: restore everything; false: model and EMA weights only (default true)\n"
    "  --global_seed N       seed of the run (train.seed, default 0)\n"
    "  --no_amp              compute in fp32 (on CUDA; the CPU always does)\n"
    "  --tag TAG             appended to the experiment name (log.tag)\n"
    "  --resample            draw samples with replacement (train.resampled)\n"
    "  --pretrained_path P   the VAE that decodes a latent model's sample grids (log.vae; --vae P too)\n"
    "  --device cpu|cuda|auto, --precision auto|fp32|bf16|fp16, --threads N   (train.device, ...)\n"
    "  --num_workers N, --use_wandb   accepted for compatibility, no effect\n"
    "  --print_config        print the resolved configuration as YAML and exit\n"
    "  --config_keys         print the table of config keys (Markdown) and exit\n"
    "  --enable_eval         refused: FID during training is not built in (sample with maskdit-generate)\n"
    "Exit status: 0 done (or train.max_minutes reached), 1 error, 3 stopped by SIGUSR1/SIGTERM after a\n"
    "checkpoint (requeue).\n";

static Dist D;

/* A usage error: every rank sees the same arguments, so rank 0 alone reports it and all exit. */
static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...) {
    if (D.rank == 0) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "maskdit-train: error: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    dist_finalize(&D);
    exit(EXIT_FAILURE_STATUS);
}

/* The original's str2bool: true, 1, yes (any case) are true; anything else false. */
static int str2bool(const char *s) { return !strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes"); }

static long long int_flag(const char *flag, const char *v) {
    long long x;
    Error e;
    if (parse_whole(flag, v, 0, LLONG_MAX, &x, &e)) usage_error("%s", e.msg);
    return x;
}

typedef struct {
    const char *config;
    char **sets;
    int n_sets;
    TrainOptions opt;
    const char *seed, *tag, *device, *precision, *threads, *vae;
    int resample, print_config, config_keys, ignored_flags;
} Args;

enum {
    CONFIG, SET, RESULTS_DIR, CKPT_PATH, USE_CKPT_PATH, USE_STRICT_LOAD, GLOBAL_SEED, TAG, DEVICE, PRECISION, THREADS,
    NUM_WORKERS, NO_AMP, RESAMPLE, USE_WANDB, PRINT_CONFIG, CONFIG_KEYS, ENABLE_EVAL, VAE
};

static const OptionSpec OPTIONS[] = {
    {"--config", OPTION_TAKES_VALUE, CONFIG}, {"--set", OPTION_TAKES_VALUE, SET},
    {"--results_dir", OPTION_TAKES_VALUE, RESULTS_DIR}, {"--ckpt_path", OPTION_TAKES_VALUE, CKPT_PATH},
    {"--use_ckpt_path", OPTION_TAKES_VALUE, USE_CKPT_PATH}, {"--use_strict_load", OPTION_TAKES_VALUE, USE_STRICT_LOAD},
    {"--global_seed", OPTION_TAKES_VALUE, GLOBAL_SEED}, {"--tag", OPTION_TAKES_VALUE, TAG},
    {"--device", OPTION_TAKES_VALUE, DEVICE}, {"--precision", OPTION_TAKES_VALUE, PRECISION},
    {"--threads", OPTION_TAKES_VALUE, THREADS}, {"--num_workers", OPTION_TAKES_VALUE, NUM_WORKERS},
    {"--no_amp", OPTION_FLAG, NO_AMP}, {"--resample", OPTION_FLAG, RESAMPLE}, {"--use_wandb", OPTION_FLAG, USE_WANDB},
    {"--print_config", OPTION_FLAG, PRINT_CONFIG}, {"--config_keys", OPTION_FLAG, CONFIG_KEYS},
    {"--enable_eval", OPTION_FLAG, ENABLE_EVAL}, {"--pretrained_path", OPTION_TAKES_VALUE, VAE},
    {"--vae", OPTION_TAKES_VALUE, VAE},
};

static void parse_args(Args *a, int argc, char **argv) {
    a->opt = (TrainOptions){.results_dir = "results", .use_ckpt_path = 1, .use_strict_load = 1};
    a->sets = xcalloc((size_t)argc, sizeof *a->sets, "overrides");
    OptionParser p = option_parser(argc, argv, OPTIONS, ARRAY_LEN(OPTIONS), "maskdit-train", 0);
    const char *v;
    Error e;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        switch (id) {
        case OPTION_HELP:
            if (D.rank == 0) fputs(USAGE, stdout);
            dist_finalize(&D);
            exit(0);
        case OPTION_ERROR: usage_error("%s", e.msg);
        case CONFIG: a->config = v; break;
        case SET: a->sets[a->n_sets++] = (char *)v; break;
        case RESULTS_DIR: a->opt.results_dir = v; break;
        case CKPT_PATH: a->opt.ckpt_path = strcmp(v, "None") ? v : NULL; break;
        case USE_CKPT_PATH: a->opt.use_ckpt_path = str2bool(v); break;
        case USE_STRICT_LOAD: a->opt.use_strict_load = str2bool(v); break;
        case GLOBAL_SEED: a->seed = v; break;
        case TAG: a->tag = v; break;
        case VAE: a->vae = v; break;
        case DEVICE: a->device = v; break;
        case PRECISION: a->precision = v; break;
        case THREADS: a->threads = v; break;
        case NUM_WORKERS: a->ignored_flags = 1, int_flag(p.option, v); break;
        case NO_AMP: a->opt.no_amp = 1; break;
        case RESAMPLE: a->resample = 1; break;
        case USE_WANDB: a->ignored_flags = 1; break;
        case PRINT_CONFIG: a->print_config = 1; break;
        case CONFIG_KEYS: a->config_keys = 1; break;
        case ENABLE_EVAL:
            usage_error("--enable_eval: FID evaluation during training is not built in; sample a checkpoint with "
                        "maskdit-generate instead");
        }
    }
}

/* The flags that are config keys, applied after the file and --set (as the original's flags win). */
static void apply_flags(const Args *a, RunConfig *c) {
    Error e;
    struct {
        const char *value, *key, *flag;
    } map[] = {{a->seed, "train.seed", "--global_seed"}, {a->tag, "log.tag", "--tag"},
               {a->device, "train.device", "--device"}, {a->precision, "train.precision", "--precision"},
               {a->threads, "train.threads", "--threads"}, {a->resample ? "true" : NULL, "train.resampled", "--resample"},
               {a->vae, "log.vae", "--pretrained_path"}};
    for (size_t i = 0; i < ARRAY_LEN(map); i++) {
        if (!map[i].value) continue;
        char assignment[1200];
        snprintf(assignment, sizeof assignment, "%s=%s", map[i].key, map[i].value);
        if (run_config_set(c, assignment, &e) < 0) usage_error("%s: %s", map[i].flag, e.msg);
    }
    if (run_config_check(c, &e) < 0) usage_error("%s", e.msg);
}

int main(int argc, char **argv) {
    dist_init(&D, &argc, &argv);
    Args a = {0};
    parse_args(&a, argc, argv);
    if (a.config_keys) {
        if (D.rank == 0) {
            char *md = run_config_keys_markdown();
            fputs(md, stdout);
            free(md);
        }
        dist_finalize(&D);
        return 0;
    }
    if (!a.config) usage_error("--config FILE.yaml is required (see --help)");
    RunConfig cfg;
    Error e;
    if (run_config_load(&cfg, a.config, a.sets, a.n_sets, &e) < 0) usage_error("%s", e.msg);
    apply_flags(&a, &cfg);
    if (a.print_config) {
        if (D.rank == 0) {
            char *y = run_config_to_yaml(&cfg, 0), env[2048];
            fputs(y, stdout);
            free(y);
            build_environment_switches(env, sizeof env);
            printf("# environment switches (MASKDIT_*): %s\n", env[0] ? env : "none set");
        }
        dist_finalize(&D);
        return 0;
    }
    if (a.ignored_flags) info("notice: --num_workers and --use_wandb have no effect here");
    int status = train_run(&D, &cfg, &a.opt);
    free(a.sets);
    dist_finalize(&D);
    return status;
}
