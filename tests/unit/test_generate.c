/* maskdit-generate's outputs, read back: the tiny pixel-space model of tests/data (tiny_pixel.pt)
 * sampled for a class grid, once as a pixel model (PNGs, grid, npz) and once configured as a
 * latent model (HDF5 + npz of the raw samples). Checked: every file decodes (own PNG reader, zip
 * reader + npy header), shapes and names, npz == PNGs, grid tiles == PNGs in class rows, PNG ==
 * the 8-bit conversion of the float samples, the float samples == the sampler run directly on
 * the same weights, and --weights model differs from ema. Multi-rank identity and the refusals
 * are in tests/cli/generate.sh. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "../../src/ckpt/ckpt.h"
#include "../../src/sample/generate_internal.h"
#include "../../src/sample/guided.h"
#include "../../src/util/images.h"
#include "../../src/sample/streams.h"
#include "../../src/util/h5util.h"
#include "../../src/util/npy.h"
#include "../../src/util/zip.h"
#include "png_read.h"
#include "test.h"
#include "test_util.h"

#define H 8
#define NSEEDS 3
#define NCLASSES 3
#define STEPS 6
#define CFG 1.5

static const long long SEEDS[NSEEDS] = {4, 9, 31};
static char dir[256], pixel_dir[300], latent_dir[300], model_dir[300], latent_cfg[300];
static Dist dist;

static GenerateArgs args(const char *config, const char *results_dir, const char *weights) {
    GenerateArgs a = {
        .config_path = config, .ckpt_path = "tests/data/tiny_pixel.pt", .results_dir = results_dir,
        .seeds = "4,9,31", .class_idx = "2,0,1", .cfg_scale = CFG, .max_batch_size = 2, .weights = weights,
        .device = "cpu", .precision = "fp32", .npz = 1, .sampler = sampler_options_default(),
    };
    a.sampler.num_steps = STEPS;
    return a;
}

/* The npz's arr_0: header fields and the data (malloc'ed). */
static void *read_npz(const char *path, NpyHeader *h) {
    Error e;
    ZipReader *z = zip_open(path, &e);
    CHECK(z != NULL, "%s", e.msg);
    if (!z) return NULL;
    CHECK(z->count == 1, "%s: %d entries", path, z->count);
    const ZipEntry *en = zip_find(z, "arr_0.npy");
    CHECK(en != NULL, "%s: no arr_0.npy", path);
    void *buf = NULL;
    size_t len = 0;
    if (en && zip_read(z, en, &buf, &len, &e)) CHECK(0, "%s", e.msg);
    zip_close(z);
    if (!buf) return NULL;
    CHECK(npy_parse_header(buf, len, path, h, &e) == 0, "%s", e.msg);
    CHECK(len == (size_t)h->header_bytes + (size_t)npy_count(h) * h->elem_size, "%s: %zu bytes", path, len);
    memmove(buf, (char *)buf + h->header_bytes, len - (size_t)h->header_bytes);
    return buf;
}

static uint8_t *read_png(const char *path, int w, int h) {
    int rw = 0, rh = 0, rc = 0;
    char why[256] = "";
    uint8_t *px = png_read_test(path, &rw, &rh, &rc, why, sizeof why);
    CHECK(px != NULL, "%s: %s", path, why);
    if (px) CHECK(rw == w && rh == h && rc == 1, "%s: %dx%dx%d", path, rw, rh, rc);
    return px;
}

/* Image i of the class grid: row i / NSEEDS is the i-th class given ("2,0,1"). */
static const int CLASSES[NCLASSES] = {2, 0, 1};

static void pixel_outputs_agree(void) {
    GenerateArgs a = args("tests/data/tiny_pixel.yaml", pixel_dir, "ema");
    generate_run(&dist, &a);
    NpyHeader h;
    char path[512];
    snprintf(path, sizeof path, "%s/samples_9x8x8x1.npz", pixel_dir);
    uint8_t *arr = read_npz(path, &h);
    if (!arr) return;
    CHECK(!strcmp(h.descr, "|u1") && h.ndim == 4 && h.shape[0] == 9 && h.shape[1] == H && h.shape[2] == H &&
          h.shape[3] == 1, "arr_0 %s (%lld, %lld, %lld, %lld)", h.descr, h.shape[0], h.shape[1], h.shape[2], h.shape[3]);
    int gw = NSEEDS * (H + GRID_PAD) + GRID_PAD, gh = NCLASSES * (H + GRID_PAD) + GRID_PAD;
    snprintf(path, sizeof path, "%s/grid.png", pixel_dir);
    uint8_t *grid = read_png(path, gw, gh);
    int distinct = 0;
    for (int i = 0; i < NCLASSES * NSEEDS; i++) {
        int r = i / NSEEDS, c = i % NSEEDS;
        snprintf(path, sizeof path, "%s/class_%d/%06lld.png", pixel_dir, CLASSES[r], SEEDS[c]);
        uint8_t *px = read_png(path, H, H);
        if (!px) continue;
        CHECK(memcmp(px, arr + (size_t)i * H * H, H * H) == 0, "%s differs from arr_0[%d]", path, i);
        for (int y = 0; grid && y < H; y++)
            CHECK(memcmp(grid + (size_t)(GRID_PAD + r * (H + GRID_PAD) + y) * gw + GRID_PAD + c * (H + GRID_PAD),
                         px + y * H, H) == 0, "grid tile (%d, %d) row %d differs from %s", r, c, y, path);
        if (i && memcmp(px, arr, H * H)) distinct++;
        free(px);
    }
    CHECK(distinct == NCLASSES * NSEEDS - 1, "only %d of the images differ from the first", distinct);
    for (int y = 0; grid && y < gh; y++) CHECK(grid[(size_t)y * gw] == 0 && grid[(size_t)y * gw + 1] == 0, "grid border");
    free(grid);
    free(arr);
}

/* The float samples: latents.h5 and its npz agree, PNG == their 8-bit conversion, and one sample
 * recomputed here with the sampler and the guided denoiser on the checkpoint's EMA weights. */
static void latent_outputs_agree_with_pixels_and_the_sampler(void) {
    FILE *f = fopen(latent_cfg, "w");
    FILE *src = fopen("tests/data/tiny_pixel.yaml", "r");
    char line[256];
    while (src && fgets(line, sizeof line, src))
        fputs(strstr(line, "dataset: tiny-pixels") ? "  dataset: tiny-latents\n" : line, f);
    if (src) fclose(src);
    fclose(f);
    GenerateArgs a = args(latent_cfg, latent_dir, "ema");
    generate_run(&dist, &a);

    char path[512];
    snprintf(path, sizeof path, "%s/latents.h5", latent_dir);
    Error e;
    hid_t h5 = h5_open_read(path, &e);
    CHECK(h5 >= 0, "%s", e.msg);
    if (h5 < 0) return;
    size_t n = 9 * H * H;
    float *z = xmalloc(n * sizeof *z, "z");
    long long seeds[9], labels[9], needs = 0;
    CHECK(h5_read_into(h5, path, "/latents", H5T_NATIVE_FLOAT, z, n, &e) == 0, "%s", e.msg);
    CHECK(h5_read_into(h5, path, "/seeds", H5T_NATIVE_LLONG, seeds, 9, &e) == 0, "%s", e.msg);
    CHECK(h5_read_into(h5, path, "/labels", H5T_NATIVE_LLONG, labels, 9, &e) == 0, "%s", e.msg);
    CHECK(h5_attr_int64(h5, path, "/", "needs_vae_decoder", &needs, &e) == 0 && needs == 1, "needs_vae_decoder");
    H5Fclose(h5);
    for (int i = 0; i < 9; i++)
        CHECK(seeds[i] == SEEDS[i % NSEEDS] && labels[i] == CLASSES[i / NSEEDS], "row %d: seed %lld label %lld", i,
              seeds[i], labels[i]);
    NpyHeader nh;
    snprintf(path, sizeof path, "%s/latents_9x1x8x8.npz", latent_dir);
    float *arr = read_npz(path, &nh);
    CHECK(arr && !strcmp(nh.descr, "<f4") && nh.shape[0] == 9 && nh.shape[1] == 1, "latents npz %s", nh.descr);
    if (arr) CHECK(memcmp(arr, z, n * sizeof *z) == 0, "latents npz differs from latents.h5");
    free(arr);

    for (int i = 0; i < 9; i++) {
        double x[H * H];
        for (int k = 0; k < H * H; k++) x[k] = z[(size_t)i * H * H + k];
        uint8_t want[H * H];
        image_to_u8(want, x, 1, H, H);
        snprintf(path, sizeof path, "%s/class_%d/%06lld.png", pixel_dir, CLASSES[i / NSEEDS], SEEDS[i % NSEEDS]);
        uint8_t *px = read_png(path, H, H);
        if (px) CHECK(memcmp(px, want, sizeof want) == 0, "%s is not the 8-bit conversion of latents[%d]", path, i);
        free(px);
    }

    /* Image 4 (class 0, seed 9) alone, straight through the sampler: equal to float32 rounding
     * (the run sampled it in a batch of 2, where GEMM blocking may round differently). */
    RunConfig rc;
    ModelConfig mc;
    CHECK(run_config_load(&rc, "tests/data/tiny_pixel.yaml", NULL, 0, &e) == 0 && run_config_model(&rc, &mc, &e) == 0,
          "%s", e.msg);
    Backend *be = backend_cpu_create(0);
    Model *m = model_create(&mc, be, 2, model_num_patches(&mc));
    float *flat = xcalloc(m->table.total, sizeof *flat, "weights");
    CkptTensors want = {.ema = flat};
    CHECK(ckpt_load("tests/data/tiny_pixel.pt", &m->table, &want, NULL, 1, &e) == 0, "%s", e.msg);
    model_upload_params(m, flat);
    GuidedDenoiser gd;
    guided_init(&gd, m, 1, CFG);
    int cls = 0;
    guided_set_classes(&gd, &cls, 1);
    SamplerOptions so = sampler_options_default();
    so.num_steps = STEPS;
    SamplerPlan plan;
    CHECK(sampler_plan(&plan, &so, &e) == 0, "%s", e.msg);
    double x[H * H];
    uint32_t seed = 9;
    sample_initial_noise(x, H * H, seed);
    SamplerCallbacks cb = {.denoise = guided_denoise, .ctx = &gd};
    sampler_run(&plan, &cb, x, 1, H * H, &seed);
    double worst = 0;
    for (int k = 0; k < H * H; k++) worst = fmax(worst, fabs(x[k] - z[4 * H * H + k]));
    CHECK(worst < 1e-4, "latents[4] differs from the sampler run here by %.3g", worst);
    CHECK(gd.calls == 2 * STEPS - 1, "%lld denoiser calls", gd.calls);
    sampler_plan_free(&plan);
    guided_free(&gd);
    free(flat);
    model_destroy(m);
    be->destroy(be);
    free(z);
}

static void model_weights_differ_from_ema(void) {
    GenerateArgs a = args("tests/data/tiny_pixel.yaml", model_dir, "model");
    a.npz = 0;
    generate_run(&dist, &a);
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/grid.png", pixel_dir);
    snprintf(p2, sizeof p2, "%s/grid.png", model_dir);
    int gw = NSEEDS * (H + GRID_PAD) + GRID_PAD, gh = NCLASSES * (H + GRID_PAD) + GRID_PAD;
    uint8_t *g1 = read_png(p1, gw, gh), *g2 = read_png(p2, gw, gh);
    if (g1 && g2) CHECK(memcmp(g1, g2, (size_t)gw * gh) != 0, "--weights model gave the EMA samples");
    snprintf(p2, sizeof p2, "%s/samples_9x8x8x1.npz", model_dir);
    CHECK(access(p2, F_OK) != 0, "npz written without --npz");
    free(g1);
    free(g2);
}

/* More images than memory holds stop before the model is loaded, with how many fit: 10^9 pixel
 * images of 64 B on one rank need 2 x 64 GB (the rank's share and rank 0's grid copy). */
static void too_many_images_for_memory(void) {
    GenerateSetup s;
    memset(&s, 0, sizeof s);
    s.pixels = 1;
    s.dim = s.out_bytes = s.img_bytes = 64;
    s.work.count = 1000000000LL;
    Error e = {""};
    double avail = 16.0 * (1 << 30);
    CHECK(generate_check_memory(&s, 0, 1, 0, s.work.count, avail, &e) < 0 &&
              strstr(e.msg, "1000000000 images of 64 B are kept in memory until the outputs are written: 119.2 GiB on "
                            "this machine, but only 16.0 GiB is available: about 134217728 images fit in one run on 1 rank"),
          "%s", e.msg);
    /* two ranks: rank 1 holds half, rank 0 half plus the grid copy */
    CHECK(generate_check_memory(&s, 1, 2, s.work.count / 2, s.work.count, avail, &e) < 0 &&
              strstr(e.msg, "29.8 GiB on this rank") && strstr(e.msg, "about 178956970 images fit in one run on 2 ranks"),
          "%s", e.msg);
    s.work.count = 100000;
    CHECK(generate_check_memory(&s, 0, 1, 0, s.work.count, avail, &e) == 0, "100000 images refused: %s", e.msg);
}

int main(int argc, char **argv) {
    dist_init(&dist, &argc, &argv);
    scratch_dir(dir, sizeof dir, "test-generate");
    snprintf(pixel_dir, sizeof pixel_dir, "%s/pixels", dir);
    snprintf(latent_dir, sizeof latent_dir, "%s/latents", dir);
    snprintf(model_dir, sizeof model_dir, "%s/model-weights", dir);
    snprintf(latent_cfg, sizeof latent_cfg, "%s/tiny_latent.yaml", dir);
    RUN(too_many_images_for_memory);
    RUN(pixel_outputs_agree);
    RUN(latent_outputs_agree_with_pixels_and_the_sampler);
    RUN(model_weights_differ_from_ema);
    remove_scratch_dir(dir);
    dist_finalize(&dist);
    return test_summary();
}
