/* maskdit-generate --config FILE.yaml --ckpt_path CKPT [options]
 *
 * Samples from a MaskDiT checkpoint with the EDM sampler, with the options of the original
 * generate.py / sample.py; `mpirun -np N maskdit-generate ...` splits the images across ranks.
 * Usage in docs/maskdit-generate.md; the work is in src/sample/generate.c. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "../../mpi/dist.h"
#include "../sample/generate.h"
#include "../util/numtext.h"
#include "../util/options.h"

static void usage(void) {
    printf("usage: maskdit-generate --config FILE.yaml --ckpt_path CKPT.pt|CKPT.h5 [options]\n"
           "  --results_dir DIR        output directory (default samples)\n"
           "  --seeds LIST             image seeds, e.g. 0-63,100 (default 100-131)\n"
           "  --class_idx LIST         one class, or several for a grid with one row per class\n"
           "                           (default: a random class per seed)\n"
           "  --cfg_scale S|None       classifier-free guidance scale (default None: no guidance)\n"
           "  --num_steps N            sampler steps (default 40)\n"
           "  --solver heun|euler  --discretization vp|ve|iddpm|edm  --schedule vp|ve|linear\n"
           "  --scaling vp|none        ablation sampler options (default heun, edm, linear, none)\n"
           "  --S_churn X --S_min X --S_max X --S_noise X   stochastic sampling (default S_churn 0)\n"
           "  --sigma_min X --sigma_max X --rho X           noise range (default: the discretization's)\n"
           "  --max_batch_size N       images per rank and batch (default 32)\n"
           "  --weights ema|model      which weights of the checkpoint (default ema)\n"
           "  --device cpu|cuda|auto   (default auto)   --precision fp32|bf16|fp16|auto (default fp32)\n"
           "  --npz                    also write the samples as .npz (ADM evaluator format for images)\n"
           "  --pretrained_path PATH   latent models: the VAE that decodes the samples into PNGs, grid and\n"
           "  --vae PATH               .npz, as a pixel-space model writes them (docs/maskdit-vae.md)\n"
           "  --save_latents           with a VAE: keep latents.h5 too\n"
           "  --fresh                  discard the finished batches of an earlier run in --results_dir\n"
            "                           (default: resume from them)\n"
           "  --stop_after_batches K   stop after K batches per rank, as on SIGUSR1 (exit status 3)\n"
           "  --subdirs, --label_dict, --num_expected, --fid_batch_size, --global_seed,\n"
           "  --num_proc_node, --num_process_per_node, --node_rank, --local_rank, --master_address\n"
           "                           accepted from the original generate.py, no effect (a warning says so)\n"
           "Every finished batch is kept in DIR/.parts until the outputs are written: running the same\n"
           "command again resumes. SIGUSR1/SIGTERM stop the rank that gets one between two sampler steps\n"
           "(its unfinished batch is dropped and sampled again on resume), the others after their batch.\n"
           "Exit status: 0 done, 1 error, 3 stopped with batches left (run it again to carry on).\n");
}

enum {
    CONFIG, CKPT_PATH, RESULTS_DIR, SEEDS, CLASS_IDX, CFG_SCALE, NUM_STEPS, S_CHURN, S_MIN, S_MAX, S_NOISE,
    SIGMA_MIN, SIGMA_MAX, RHO, SOLVER, DISCRETIZATION, SCHEDULE, SCALING, MAX_BATCH_SIZE, STOP_AFTER_BATCHES,
    WEIGHTS, DEVICE, PRECISION, NPZ, FRESH, SUBDIRS, VAE, SAVE_LATENTS, IGNORED
};

static const OptionSpec OPTIONS[] = {
    {"--config", OPTION_TAKES_VALUE, CONFIG}, {"--ckpt_path", OPTION_TAKES_VALUE, CKPT_PATH},
    {"--results_dir", OPTION_TAKES_VALUE, RESULTS_DIR}, {"--seeds", OPTION_TAKES_VALUE, SEEDS},
    {"--class_idx", OPTION_TAKES_VALUE, CLASS_IDX}, {"--cfg_scale", OPTION_TAKES_VALUE, CFG_SCALE},
    {"--num_steps", OPTION_TAKES_VALUE, NUM_STEPS}, {"--S_churn", OPTION_TAKES_VALUE, S_CHURN},
    {"--S_min", OPTION_TAKES_VALUE, S_MIN}, {"--S_max", OPTION_TAKES_VALUE, S_MAX},
    {"--S_noise", OPTION_TAKES_VALUE, S_NOISE}, {"--sigma_min", OPTION_TAKES_VALUE, SIGMA_MIN},
    {"--sigma_max", OPTION_TAKES_VALUE, SIGMA_MAX}, {"--rho", OPTION_TAKES_VALUE, RHO},
    {"--solver", OPTION_TAKES_VALUE, SOLVER}, {"--discretization", OPTION_TAKES_VALUE, DISCRETIZATION},
    {"--schedule", OPTION_TAKES_VALUE, SCHEDULE}, {"--scaling", OPTION_TAKES_VALUE, SCALING},
    {"--max_batch_size", OPTION_TAKES_VALUE, MAX_BATCH_SIZE},
    {"--stop_after_batches", OPTION_TAKES_VALUE, STOP_AFTER_BATCHES}, {"--weights", OPTION_TAKES_VALUE, WEIGHTS},
    {"--device", OPTION_TAKES_VALUE, DEVICE}, {"--precision", OPTION_TAKES_VALUE, PRECISION},
    {"--npz", OPTION_FLAG, NPZ}, {"--fresh", OPTION_FLAG, FRESH}, {"--subdirs", OPTION_FLAG, SUBDIRS},
    {"--pretrained_path", OPTION_TAKES_VALUE, VAE}, {"--vae", OPTION_TAKES_VALUE, VAE},
    {"--save_latents", OPTION_FLAG, SAVE_LATENTS},
    /* Options of the original generate.py that have no effect here (they take a value). */
    {"--label_dict", OPTION_TAKES_VALUE, IGNORED},
    {"--num_expected", OPTION_TAKES_VALUE, IGNORED}, {"--fid_batch_size", OPTION_TAKES_VALUE, IGNORED},
    {"--global_seed", OPTION_TAKES_VALUE, IGNORED}, {"--num_proc_node", OPTION_TAKES_VALUE, IGNORED},
    {"--num_process_per_node", OPTION_TAKES_VALUE, IGNORED}, {"--node_rank", OPTION_TAKES_VALUE, IGNORED},
    {"--local_rank", OPTION_TAKES_VALUE, IGNORED}, {"--master_address", OPTION_TAKES_VALUE, IGNORED},
};

static double parse_double(const char *opt, const char *v) {
    double x;
    Error e;
    if (parse_number(opt, v, &x, &e)) die("%s", e.msg);
    return x;
}

static int parse_int(const char *opt, const char *v) {
    long long x;
    Error e;
    if (parse_whole(opt, v, 0, INT_MAX, &x, &e)) die("%s", e.msg);
    return (int)x;
}

/* Returns 1 when only the usage was asked for. */
static int parse_args(int argc, char **argv, GenerateArgs *a) {
    Error e;
    SamplerOptions *so = &a->sampler;
    OptionParser p = option_parser(argc, argv, OPTIONS, ARRAY_LEN(OPTIONS), "maskdit-generate", 0);
    const char *v;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        switch (id) {
        case OPTION_HELP: usage(); return 1;
        case OPTION_ERROR: die("%s", e.msg);
        case CONFIG: a->config_path = v; break;
        case CKPT_PATH: a->ckpt_path = v; break;
        case RESULTS_DIR: a->results_dir = v; break;
        case SEEDS: a->seeds = v; break;
        case CLASS_IDX: a->class_idx = strcmp(v, "None") ? v : NULL; break;
        case CFG_SCALE: a->cfg_scale = strcmp(v, "None") && strcmp(v, "none") ? parse_double(p.option, v) : NAN; break;
        case NUM_STEPS: so->num_steps = parse_int(p.option, v); break;
        case S_CHURN: so->S_churn = parse_double(p.option, v); break;
        case S_MIN: so->S_min = parse_double(p.option, v); break;
        case S_MAX: so->S_max = parse_double(p.option, v); break;
        case S_NOISE: so->S_noise = parse_double(p.option, v); break;
        case SIGMA_MIN: so->sigma_min = parse_double(p.option, v); break;
        case SIGMA_MAX: so->sigma_max = parse_double(p.option, v); break;
        case RHO: so->rho = parse_double(p.option, v); break;
        case SOLVER: if (sampler_parse_solver(v, &so->solver, &e)) die("%s", e.msg); break;
        case DISCRETIZATION: if (sampler_parse_discretization(v, &so->discretization, &e)) die("%s", e.msg); break;
        case SCHEDULE: if (sampler_parse_schedule(v, &so->schedule, &e)) die("%s", e.msg); break;
        case SCALING: if (sampler_parse_scaling(v, &so->scaling, &e)) die("%s", e.msg); break;
        case MAX_BATCH_SIZE: a->max_batch_size = parse_int(p.option, v); break;
        case STOP_AFTER_BATCHES: a->stop_after_batches = parse_int(p.option, v); break;
        case WEIGHTS: a->weights = v; break;
        case DEVICE: a->device = v; break;
        case PRECISION: a->precision = v; break;
        case NPZ: a->npz = 1; break;
        case FRESH: a->fresh = 1; break;
        case VAE: a->vae = v; break;
        case SAVE_LATENTS: a->save_latents = 1; break;
        case SUBDIRS:
            warn("--subdirs has no effect here (images go to --results_dir, or class_<c>/ for several classes)");
            break;
        case IGNORED: warn("%s has no effect here (ignored)", p.option); break;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    Dist d;
    dist_init(&d, &argc, &argv);
    GenerateArgs a = {
        .results_dir = "samples", .seeds = "100-131", .cfg_scale = NAN, .max_batch_size = 32, .weights = "ema",
        .device = "auto", .precision = "fp32", .sampler = sampler_options_default(),
    };
    a.sampler.num_steps = 40;   /* generate.py's default (sample.py's is 18) */
    int status = parse_args(argc, argv, &a) ? 0 : generate_run(&d, &a);
    dist_finalize(&d);
    return status;
}
