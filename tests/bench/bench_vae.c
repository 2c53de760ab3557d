/* bench_vae: the KL-f8 VAE's decode and encode speed at the real architecture (weights from the
 * formula of vae_synthetic_tensor: the speed does not depend on them), with the share of the
 * backend's own GEMM rate and the peak memory. Prints one line per direction.
 *
 *   bench_vae [--size 256] [--batch 1] [--repeat 3] [--threads N] [--device cpu|cuda] [--precision fp32|bf16|fp16]
 */
#include <stdlib.h>
#include <string.h>

#include "../../mpi/dist.h"
#include "../../src/util/rng.h"
#include "../../src/vae/vae.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of `repeat` calls of one direction (after a warm-up call), and its FLOPs. */
static double time_direction(Vae *v, int decode, float *out, const float *in, int B, int size, int repeat,
                             double *flops) {
    const int h = size / vae_config(v)->factor;
    double *t = xmalloc((size_t)repeat * sizeof *t, "timings");
    for (int r = -1; r < repeat; r++) {
        const double t0 = now_seconds();
        if (decode) vae_decode(v, out, in, B, h, h);
        else vae_encode(v, out, in, B, size, size);
        if (r >= 0) t[r] = now_seconds() - t0;   /* the outputs are on the host: the device is done */
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    const double med = t[repeat / 2];
    *flops = vae_last_flops(v);
    free(t);
    return med;
}

int main(int argc, char **argv) {
    Dist d;
    dist_init(&d, &argc, &argv);
    int size = 256, B = 1, repeat = 3, threads = 0;
    const char *device = "cpu", *precision = "fp32";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--size") && v) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && v) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && v) repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && v) device = argv[++i];
        else if (!strcmp(argv[i], "--precision") && v) precision = argv[++i];
        else die("usage: bench_vae [--size 256] [--batch 1] [--repeat 3] [--threads N] [--device cpu|cuda] "
                 "[--precision fp32|bf16|fp16]");
    }
    if (size < 8 || size % 8 || B < 1 || repeat < 1) die("bench_vae: --size a multiple of 8, --batch and --repeat >= 1");
    Backend *be = backend_create(device, d.local_rank, precision, 0, threads);
    const VaeConfig cfg = {.in_channels = 3, .ch = 128, .levels = 4, .ch_mult = {1, 2, 4, 4}, .num_res_blocks = 2,
                           .z_channels = 4};
    Vae *v = vae_create_synthetic(&cfg, 7, be);
    const int h = size / 8;
    const size_t n_img = (size_t)B * 3 * size * size, n_lat = (size_t)B * 4 * h * h;
    float *images = xmalloc(n_img * sizeof *images, "images"), *latents = xmalloc(n_lat * sizeof *latents, "latents");
    float *moments = xmalloc(2 * n_lat * sizeof *moments, "moments");
    rng_fill_normal(latents, n_lat, 3, RNG_TEST, 0, 0);
    rng_fill_normal(images, n_img, 4, RNG_TEST, 0, 0);
    for (size_t i = 0; i < n_img; i++) images[i] *= 0.5f;
    /* the dominant GEMM of a decode: a 3x3 conv of 256 channels at full resolution, one tile */
    const double gemm = backend_linear_gflops(be, 4096, 9 * 256, 128);
    char mem[32];
    for (int dir = 1; dir >= 0; dir--) {
        double flops, sec = time_direction(v, dir, dir ? images : moments, dir ? latents : images, B, size, repeat,
                                           &flops);
        format_bytes((double)be->peak_memory(be), mem, sizeof mem);
        info("%s %dx%d batch %d on %s/%s: %.1f ms/image, %.3f images/s, %.1f GFLOP/image, %.1f GFLOP/s = %.0f%% of "
             "the backend's GEMM rate (%.1f GFLOP/s); peak memory %s", dir ? "decode" : "encode", size, size, B,
             be->name, dtype_name(be->act_dtype), sec * 1e3 / B, B / sec, flops / B / 1e9, flops / sec / 1e9,
             100.0 * flops / sec / 1e9 / gemm, gemm, mem);
    }
    free(images), free(latents), free(moments);
    vae_free(v);
    be->destroy(be);
    dist_finalize(&d);
    return 0;
}
