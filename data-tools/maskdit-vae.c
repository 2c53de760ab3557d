/* maskdit-vae: the Stable Diffusion KL autoencoder on its own (docs/maskdit-vae.md).
 *
 *   maskdit-vae decode --vae PATH --in LATENTS.h5 [--out OUT.h5] [--png DIR] [--npz FILE]
 *   maskdit-vae encode --vae PATH --in IMAGES.h5 --out OUT.h5
 *   maskdit-vae info PATH
 * The work is in data-tools/vae_run.c; the model in src/vae/. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "../mpi/dist.h"
#include "../src/util/numtext.h"
#include "../src/util/options.h"
#include "vae_run.h"

static const char *USAGE =
    "usage: maskdit-vae decode --vae PATH --in LATENTS.h5 [--out OUT.h5] [--png DIR] [--npz FILE] [options]\n"
    "       maskdit-vae encode --vae PATH --in IMAGES.h5 --out OUT.h5 [options]\n"
    "       maskdit-vae info PATH\n"
    "  decode   latents [N, 4, h, w] float32 in the sampler's space (what maskdit-generate writes) to\n"
    "           images: --out dataset images [N, 3, 8h, 8w] float32 (raw decoder output), --png DIR (one\n"
    "           PNG per row, named by seed), --npz FILE (the ADM evaluator's uint8 [N, H, W, 3])\n"
    "  encode   images [N, 3, H, W] float32 in [-1, 1] to moments [N, 8, H/8, W/8] (means, then\n"
    "           log-variances)\n"
    "  info     the architecture, parameter count and layout of a VAE's weights\n"
    "PATH: the original's autoencoder_kl.pth, an ldm .ckpt/.safetensors (vae-ft-mse-840000-ema-pruned),\n"
    "or a diffusers AutoencoderKL folder (sd-vae-ft-mse). Options:\n"
    "  --vae PATH, --pretrained_path PATH   the weights\n"
    "  --batch N                images per rank and batch (default 4)\n"
    "  --scale_factor S         decode: latents / S (default: the VAE's config.json scaling_factor, else\n"
    "                           the latents file's scale_factor attribute, else 0.18215)\n"
    "  --device cpu|cuda|auto   (default auto)   --precision fp32|bf16|fp16|auto (default fp32)\n"
    "With mpirun, ranks split the rows; rank 0 writes --out and --npz.\n";

enum { VAE, IN, OUT, PNG, NPZ, BATCH, SCALE_FACTOR, DEVICE, PRECISION };

static const OptionSpec OPTIONS[] = {
    {"--vae", OPTION_TAKES_VALUE, VAE}, {"--pretrained_path", OPTION_TAKES_VALUE, VAE},
    {"--in", OPTION_TAKES_VALUE, IN}, {"--out", OPTION_TAKES_VALUE, OUT}, {"--png", OPTION_TAKES_VALUE, PNG},
    {"--npz", OPTION_TAKES_VALUE, NPZ}, {"--batch", OPTION_TAKES_VALUE, BATCH},
    {"--scale_factor", OPTION_TAKES_VALUE, SCALE_FACTOR}, {"--device", OPTION_TAKES_VALUE, DEVICE},
    {"--precision", OPTION_TAKES_VALUE, PRECISION},
};

/* Returns 1 when only the usage was asked for. */
static int parse_args(int argc, char **argv, const char *program, VaeRunArgs *a) {
    OptionParser p = option_parser(argc, argv, OPTIONS, ARRAY_LEN(OPTIONS), program, 0);
    const char *v;
    Error e;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        long long n;
        switch (id) {
        case OPTION_HELP: fputs(USAGE, stdout); return 1;
        case OPTION_ERROR: die("%s", e.msg);
        case VAE: a->vae = v; break;
        case IN: a->in = v; break;
        case OUT: a->out = v; break;
        case PNG: a->png_dir = v; break;
        case NPZ: a->npz = v; break;
        case BATCH:
            if (parse_whole(p.option, v, 1, 1 << 16, &n, &e)) die("%s", e.msg);
            a->batch = (int)n;
            break;
        case SCALE_FACTOR:
            if (parse_number(p.option, v, &a->scale_factor, &e)) die("%s", e.msg);
            if (!(a->scale_factor > 0 && isfinite(a->scale_factor)))
                die("%s %s: expected a positive number", p.option, v);
            break;
        case DEVICE: a->device = v; break;
        case PRECISION: a->precision = v; break;
        }
    }
    if (!a->vae) die("%s: --vae PATH (or --pretrained_path) is required (see --help)", program);
    if (!a->in) die("%s: --in FILE.h5 is required (see --help)", program);
    return 0;
}

static int cmd_info(int argc, char **argv) {
    const char *path;
    if (option_single_argument(argc, argv, "maskdit-vae info", "the weights' PATH", USAGE, &path)) return 0;
    return vae_run_info(path);
}

int main(int argc, char **argv) {
    Dist d;
    dist_init(&d, &argc, &argv);
    VaeRunArgs a = {.device = "auto", .precision = "fp32", .batch = 4};
    int rc = 0;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (d.rank == 0) fputs(USAGE, argc < 2 ? stderr : stdout);
        rc = argc < 2 ? EXIT_FAILURE_STATUS : 0;
    } else if (strcmp(argv[1], "info") == 0) {
        rc = cmd_info(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "decode") == 0) {
        if (!parse_args(argc - 1, argv + 1, "maskdit-vae decode", &a)) rc = vae_run_decode(&d, &a);
    } else if (strcmp(argv[1], "encode") == 0) {
        if (!parse_args(argc - 1, argv + 1, "maskdit-vae encode", &a)) rc = vae_run_encode(&d, &a);
    } else {
        die("unknown command '%s'\n%s", argv[1], USAGE);
    }
    dist_finalize(&d);
    return rc;
}
