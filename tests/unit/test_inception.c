/* The FID Inception network (src/eval) against pytorch-fid in float64: tests/golden/inception_parity.npz
 * holds the package's pool features, logits (no bias) and sFID features for three images, for
 * weights and images that tests/golden/make_inception.py and this file compute from the same
 * seeded formula (the 95 MB of weights are not committed). The same weights written by that
 * script as a legacy torch.save file, the real file's format (MASKDIT_INCEPTION_PTH, default
 * ../shared/golden/inception_formula.pth; the case is skipped without it), go through
 * inception_load. Limit: 1e-5 relative
 * (normwise per output) in fp32. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "../../src/backend/backend.h"
#include "../../src/ckpt/safetensors_write.h"
#include "../../src/eval/inception.h"
#include "npz_golden.h"

#define TOL 1e-5

static Backend *be;
static char golden_dir[4096];

/* ---- the formula of make_inception.py ---- */

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001B3ull;
    return h;
}

static uint64_t hash_at(uint64_t key, size_t i) {
    uint64_t z = key + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int formula_tensor(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst, Error *e) {
    (void)ctx;
    size_t n = 1, fan_in = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d], fan_in *= d ? (size_t)shape[d] : 1;
    double lo, hi;
    if (ends_with(name, "conv.weight") || strcmp(name, "fc.weight") == 0) {
        hi = sqrt((ends_with(name, "conv.weight") ? 6.0 : 3.0) / (double)fan_in), lo = -hi;
    } else if (ends_with(name, ".bn.weight") || ends_with(name, ".bn.running_var")) {
        lo = 0.8, hi = 1.2;
    } else if (ends_with(name, ".bn.bias")) {
        lo = -0.2, hi = 0.2;
    } else if (ends_with(name, ".bn.running_mean")) {
        lo = -0.1, hi = 0.1;
    } else {
        return error_set(e, "formula: no range for %s", name);
    }
    const uint64_t key = fnv1a(name);
    for (size_t i = 0; i < n; i++) dst[i] = (float)(lo + (hi - lo) * ((double)(hash_at(key, i) >> 40) / 16777216.0));
    return 0;
}

static uint8_t *formula_image(int k, int H, int W) {
    char name[32];
    snprintf(name, sizeof name, "image%d", k);
    const uint64_t key = fnv1a(name);
    uint8_t *img = malloc((size_t)H * W * 3);
    for (size_t i = 0; i < (size_t)H * W * 3; i++) img[i] = (uint8_t)(hash_at(key, i) >> 56);
    return img;
}

/* ---- the golden outputs ---- */

/* Array `key` of the golden .npz as float64 [rows, cols], or NULL (with a FAIL line). */
static double *golden(const char *key, int rows, int cols) {
    return npz_golden("tests/golden/inception_parity.npz", key, "<f8", (long long)rows * cols);
}

static double rel_error(const float *got, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) num += (got[i] - ref[i]) * (got[i] - ref[i]), den += ref[i] * ref[i];
    return sqrt(num / den);
}

/* Features of the three golden images (two 40x56 in one batch, then one 311x303) against the
 * package's. */
static void check_against_golden(Inception *net, const char *what) {
    enum { N = 3 };
    float *pool = malloc(N * INCEPTION_POOL_DIM * sizeof *pool);
    float *logits = malloc(N * INCEPTION_CLASSES * sizeof *logits);
    float *spatial = malloc(N * INCEPTION_SPATIAL_DIM * sizeof *spatial);
    uint8_t *small = malloc(2 * 40 * 56 * 3);
    for (int k = 0; k < 2; k++) {
        uint8_t *img = formula_image(k, 40, 56);
        memcpy(small + k * 40 * 56 * 3, img, 40 * 56 * 3);
        free(img);
    }
    uint8_t *large = formula_image(2, 311, 303);
    inception_features(net, small, 2, 40, 56, pool, logits, spatial);
    inception_features(net, large, 1, 311, 303, pool + 2 * INCEPTION_POOL_DIM, logits + 2 * INCEPTION_CLASSES,
                       spatial + 2 * INCEPTION_SPATIAL_DIM);
    double *rp = golden("pool", N, INCEPTION_POOL_DIM), *rl = golden("logits", N, INCEPTION_CLASSES),
           *rs = golden("spatial", N, INCEPTION_SPATIAL_DIM);
    for (int n = 0; rp && rl && rs && n < N; n++) {
        const double ep = rel_error(pool + n * INCEPTION_POOL_DIM, rp + n * INCEPTION_POOL_DIM, INCEPTION_POOL_DIM);
        const double el = rel_error(logits + n * INCEPTION_CLASSES, rl + n * INCEPTION_CLASSES, INCEPTION_CLASSES);
        const double es = rel_error(spatial + n * INCEPTION_SPATIAL_DIM, rs + n * INCEPTION_SPATIAL_DIM,
                                    INCEPTION_SPATIAL_DIM);
        CHECK(ep <= TOL && el <= TOL && es <= TOL,
              "%s, image %d: relative error pool %.3g, logits %.3g, spatial %.3g", what, n, ep, el, es);
    }
    /* the features depend on the image: the two small ones differ */
    if (rp)
        CHECK(rel_error(pool, rp + INCEPTION_POOL_DIM, INCEPTION_POOL_DIM) > 0.01, "%s: images 0 and 1 alike", what);
    free(rp), free(rl), free(rs), free(pool), free(logits), free(spatial), free(small), free(large);
}

static void parity_with_pytorch_fid(void) {
    Error e = {{0}};
    Inception *net = inception_from_fn(be, formula_tensor, NULL, &e);
    CHECK(net, "%s", e.msg);
    if (net) check_against_golden(net, "formula weights");
    inception_free(net);
}

/* The legacy .pth of the formula weights: 95 MB, so not committed; MASKDIT_INCEPTION_PTH, else
 * beside the checkout in ../shared/golden/ where make_inception.py --pth puts it. */
static const char *legacy_pth(void) {
    const char *p = getenv("MASKDIT_INCEPTION_PTH");
    return p ? p : "../shared/golden/inception_formula.pth";
}

static void parity_from_legacy_torch_file(void) {
    const char *path = legacy_pth();
    Error e = {{0}};
    Inception *net = inception_load(be, path, &e);
    CHECK(net, "%s (make it with tests/golden/make_inception.py --pth)", e.msg);
    if (net) check_against_golden(net, "legacy .pth");
    inception_free(net);
}

/* An image already 299x299 passes unresampled: exactly 2 * byte / 255 - 1. */
static void input_of_full_size_image_is_only_rescaled(void) {
    enum { S = INCEPTION_SIZE };
    uint8_t *img = formula_image(7, S, S);
    float *x = malloc((size_t)3 * S * S * sizeof *x);
    inception_input(img, S, S, x);
    int bad = 0;
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < S * S; p++) bad += x[(size_t)c * S * S + p] != (float)(2.0 * img[p * 3 + c] / 255.0 - 1);
    CHECK(bad == 0, "%d values differ", bad);
    free(img), free(x);
}

static void other_weights_are_refused_by_name(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/vae_tiny.pth", golden_dir);
    Error e = {{0}};
    Inception *net = inception_load(be, path, &e);
    CHECK(!net && strstr(e.msg, "vae_tiny.pth") && strstr(e.msg, "missing tensor Conv2d_1a_3x3.conv.weight"), "%s",
          e.msg);
    inception_free(net);
}

/* --write-formula PATH: the formula weights as a safetensors file, for tests/cli/fid.sh where the
 * legacy .pth is not at hand: every tensor the loader asks for, collected as it asks. */
typedef struct {
    StTensor *t;
    int n, cap;
} Collected;

static int collect_tensor(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst, Error *e) {
    Collected *c = ctx;
    if (formula_tensor(NULL, name, ndim, shape, dst, e) < 0) return -1;
    if (c->n == c->cap) c->t = realloc(c->t, (size_t)(c->cap = c->cap * 2 + 64) * sizeof *c->t);
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= (size_t)shape[d];
    int64_t *sh = malloc((size_t)ndim * sizeof *sh);
    float *data = malloc(numel * sizeof *data);
    memcpy(sh, shape, (size_t)ndim * sizeof *sh);
    memcpy(data, dst, numel * sizeof *data);
    c->t[c->n++] = (StTensor){.name = strdup(name), .ndim = ndim, .shape = sh, .data = data};
    return 0;
}

static int write_formula(const char *path) {
    Collected c = {0};
    Error e;
    Inception *net = inception_from_fn(be, collect_tensor, &c, &e);
    if (!net || safetensors_write(path, c.t, c.n, NULL, 0, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    inception_free(net);
    for (int i = 0; i < c.n; i++) free((char *)c.t[i].name), free((int64_t *)c.t[i].shape), free((float *)c.t[i].data);
    free(c.t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-formula") == 0) {
        be = backend_cpu_create(0);
        return write_formula(argv[2]);
    }
    const char *dir = getenv("MASKDIT_GOLDEN_DIR");
    snprintf(golden_dir, sizeof golden_dir, "%s", dir ? dir : "tests/golden");
    be = backend_cpu_create(0);
    RUN(input_of_full_size_image_is_only_rescaled);
    RUN(parity_with_pytorch_fid);
    const char *pth = legacy_pth();
    if (access(pth, R_OK) == 0)
        RUN(parity_from_legacy_torch_file);
    else
        printf("SKIP parity_from_legacy_torch_file (%s is missing: python3 tests/golden/make_inception.py --pth %s)\n",
               pth, pth);
    RUN(other_weights_are_refused_by_name);
    be->destroy(be);
    return test_summary();
}
