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

static void usage(void) {
    fprintf(stderr,
            "usage: maskdit-generate --config FILE.yaml --ckpt_path CKPT.pt|CKPT.h5 [options]\n"
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
            "  --fresh                  discard the finished batches of an earlier run in --results_dir\n"
            "                           (default: resume from them)\n"
            "  --stop_after_batches K   stop after K batches per rank, as on SIGUSR1 (exit status 3)\n"
            "Every finished batch is kept in DIR/.parts until the outputs are written: running the same\n"
            "command again resumes. SIGUSR1/SIGTERM stop every rank after its current batch.\n"
            "Exit status: 0 done, 1 error, 3 stopped with batches left (run it again to carry on).\n");
}

/* Options of the original generate.py that have no effect here (they take a value). */
static const char *const IGNORED[] = {"--label_dict", "--pretrained_path", "--num_expected", "--fid_batch_size",
                                      "--global_seed", "--num_proc_node", "--num_process_per_node", "--node_rank",
                                      "--local_rank", "--master_address"};

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
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage();
            return 1;
        }
        if (!strcmp(arg, "--npz")) {
            a->npz = 1;
            continue;
        }
        if (!strcmp(arg, "--fresh")) {
            a->fresh = 1;
            continue;
        }
        if (!strcmp(arg, "--subdirs")) {
            warn("--subdirs has no effect here (images go to --results_dir, or class_<c>/ for several classes)");
            continue;
        }
        if (strncmp(arg, "--", 2)) die("unexpected argument '%s' (see --help)", arg);
        /* --name value or --name=value */
        char name[64];
        const char *eq = strchr(arg, '='), *v;
        if (eq) {
            xsnprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
            v = eq + 1;
        } else {
            xsnprintf(name, sizeof name, "%s", arg);
            if (i + 1 >= argc) die("%s needs a value (see --help)", name);
            v = argv[++i];
        }
        SamplerOptions *so = &a->sampler;
        if (!strcmp(name, "--config")) a->config_path = v;
        else if (!strcmp(name, "--ckpt_path")) a->ckpt_path = v;
        else if (!strcmp(name, "--results_dir")) a->results_dir = v;
        else if (!strcmp(name, "--seeds")) a->seeds = v;
        else if (!strcmp(name, "--class_idx")) a->class_idx = strcmp(v, "None") ? v : NULL;
        else if (!strcmp(name, "--cfg_scale")) a->cfg_scale = strcmp(v, "None") && strcmp(v, "none") ? parse_double(name, v) : NAN;
        else if (!strcmp(name, "--num_steps")) so->num_steps = parse_int(name, v);
        else if (!strcmp(name, "--S_churn")) so->S_churn = parse_double(name, v);
        else if (!strcmp(name, "--S_min")) so->S_min = parse_double(name, v);
        else if (!strcmp(name, "--S_max")) so->S_max = parse_double(name, v);
        else if (!strcmp(name, "--S_noise")) so->S_noise = parse_double(name, v);
        else if (!strcmp(name, "--sigma_min")) so->sigma_min = parse_double(name, v);
        else if (!strcmp(name, "--sigma_max")) so->sigma_max = parse_double(name, v);
        else if (!strcmp(name, "--rho")) so->rho = parse_double(name, v);
        else if (!strcmp(name, "--solver")) { if (sampler_parse_solver(v, &so->solver, &e)) die("%s", e.msg); }
        else if (!strcmp(name, "--discretization")) { if (sampler_parse_discretization(v, &so->discretization, &e)) die("%s", e.msg); }
        else if (!strcmp(name, "--schedule")) { if (sampler_parse_schedule(v, &so->schedule, &e)) die("%s", e.msg); }
        else if (!strcmp(name, "--scaling")) { if (sampler_parse_scaling(v, &so->scaling, &e)) die("%s", e.msg); }
        else if (!strcmp(name, "--max_batch_size")) a->max_batch_size = parse_int(name, v);
        else if (!strcmp(name, "--stop_after_batches")) a->stop_after_batches = parse_int(name, v);
        else if (!strcmp(name, "--weights")) a->weights = v;
        else if (!strcmp(name, "--device")) a->device = v;
        else if (!strcmp(name, "--precision")) a->precision = v;
        else {
            int ignored = 0;
            for (size_t k = 0; k < ARRAY_LEN(IGNORED); k++) ignored |= !strcmp(name, IGNORED[k]);
            if (!ignored) die("unknown option '%s' (see --help)", name);
            warn("%s has no effect here (ignored)", name);
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
