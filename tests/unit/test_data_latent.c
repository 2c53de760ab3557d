/* The reader's latent draw: z from VAE moments against the golden file's /moments (the original's
 * DiagonalGaussianDistribution.sample() * 0.18215, with its eps), and the fast eps generator
 * against an independent double-precision evaluation of its definition (src/data/latent.h). */
#include <hdf5.h>
#include <string.h>

#include "../../src/data/latent.h"
#include "../../src/util/h5util.h"
#include "../../src/util/rng.h"
#include "test.h"

static char golden[512];

static void moments_match_golden(void) {
    Error e;
    hid_t f = h5_open_read(golden, &e);
    CHECK(f >= 0, "%s", e.msg);
    if (f < 0) return;
    hsize_t dims[H5_MAX_DIMS];
    int rank = h5_dataset_shape(f, golden, "/moments/moments", dims, &e);
    CHECK(rank == 4, "moments rank %d", rank);
    size_t n = dims[0], c2 = dims[1], plane = dims[2] * dims[3], c = c2 / 2, per = c * plane;
    float *m = malloc(n * c2 * plane * sizeof *m), *eps = malloc(n * per * sizeof *eps);
    double *ref = malloc(n * per * sizeof *ref);
    CHECK(h5_read_into(f, golden, "/moments/moments", H5T_NATIVE_FLOAT, m, n * c2 * plane, &e) == 0, "%s", e.msg);
    CHECK(h5_read_into(f, golden, "/moments/eps", H5T_NATIVE_FLOAT, eps, n * per, &e) == 0, "%s", e.msg);
    CHECK(h5_read_into(f, golden, "/moments/z", H5T_NATIVE_DOUBLE, ref, n * per, &e) == 0, "%s", e.msg);
    float *z = malloc(n * per * sizeof *z);
    int clamped = 0;
    for (size_t s = 0; s < n; s++) {
        const float *mean = m + s * c2 * plane, *logvar = mean + per;
        for (size_t i = 0; i < per; i++) clamped += logvar[i] < -30 || logvar[i] > 20;
        latent_from_moments(mean, logvar, eps + s * per, per, 0.18215f, z + s * per);
    }
    double worst = 0, largest = 0;
    for (size_t i = 0; i < n * per; i++) {
        worst = fmax(worst, fabs(z[i] - ref[i]));
        largest = fmax(largest, fabs(ref[i]));
    }
    CHECK(clamped == 2, "the golden file exercises both clamps (%d entries)", clamped);
    CHECK(worst <= 1e-6 * largest, "z differs from golden by %g (rel %g)", worst, worst / largest);
    free(m);
    free(eps);
    free(ref);
    free(z);
    H5Fclose(f);
}

/* Definition of latent.h evaluated in double from the scalar Philox stream. */
static void eps_reference(uint64_t seed, uint64_t g, double *out, size_t n) {
    Rng r = rng_sample_stream(seed, RNG_LATENT_EPS, g);
    for (size_t i = 0; i < n; i += 2) {
        uint32_t w0 = rng_u32(&r), w1 = rng_u32(&r);
        double u = ((w0 >> 8) + 1.0) / 16777216.0, t = (w1 >> 8) / 16777216.0;
        double radius = sqrt(-2 * log(u));
        out[i] = radius * cos(2 * M_PI * t);
        if (i + 1 < n) out[i + 1] = radius * sin(2 * M_PI * t);
    }
}

static void eps_follows_its_definition(void) {
    size_t sizes[] = {4096, 1, 6, 1027, 16384};
    for (size_t k = 0; k < ARRAY_LEN(sizes); k++) {
        size_t n = sizes[k];
        float *eps = malloc((n + 8) * sizeof *eps);
        double *ref = malloc(n * sizeof *ref);
        for (int i = 0; i < 8; i++) eps[n + i] = 42.0f;
        uint64_t g = 0x100000003ULL * (k + 1);   /* both halves of g are used */
        latent_eps_fill(12345, g, eps, n);
        eps_reference(12345, g, ref, n);
        double worst = 0;
        for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(eps[i] - ref[i]));
        CHECK(worst < 2e-6, "n=%zu: worst |eps - ref| %g", n, worst);
        CHECK(eps[n] == 42.0f && eps[n + 7] == 42.0f, "n=%zu: wrote past the end", n);
        free(eps);
        free(ref);
    }
    float a[64], b[64], c[64];
    latent_eps_fill(1, 7, a, 64);
    latent_eps_fill(1, 7, b, 64);
    latent_eps_fill(1, 8, c, 64);
    CHECK(!memcmp(a, b, sizeof a), "same (seed, g) -> same eps");
    CHECK(memcmp(a, c, sizeof a), "another g -> other eps");
}

static void eps_is_standard_normal(void) {
    enum { N = 1 << 20 };
    float *eps = malloc(N * sizeof *eps);
    double sum = 0, sq = 0, quad = 0;
    for (int g = 0; g < N / 4096; g++) latent_eps_fill(3, (uint64_t)g, eps + g * 4096, 4096);
    for (int i = 0; i < N; i++) {
        sum += eps[i];
        sq += (double)eps[i] * eps[i];
        quad += (double)eps[i] * eps[i] * eps[i] * eps[i];
    }
    double mean = sum / N, var = sq / N - mean * mean;
    CHECK(fabs(mean) < 5 * sqrt(1.0 / N), "mean %g", mean);
    CHECK(fabs(var - 1) < 5 * sqrt(2.0 / N), "variance %g", var);
    CHECK(fabs(quad / N - 3) < 5 * sqrt(96.0 / N), "fourth moment %g", quad / N);
    free(eps);
}

int main(void) {
    snprintf(golden, sizeof golden, "%s/maskdit_tiny.h5",
             getenv("MASKDIT_GOLDEN_DIR") ? getenv("MASKDIT_GOLDEN_DIR") : "tests/golden");
    RUN(moments_match_golden);
    RUN(eps_follows_its_definition);
    RUN(eps_is_standard_normal);
    return test_summary();
}
