/* FID from features (src/eval/fid.c) against tests/golden/fid_cases.npz (tests/golden/make_fid.py):
 * the mean and covariance against NumPy's (1e-12), the distance against pytorch-fid's formula with
 * scipy.linalg.sqrtm on well-conditioned statistics (1e-9 relative) and against float64
 * eigendecompositions on singular ones (1e-6), the messages for bad statistics, statistics files,
 * the Inception Score against ADM's formula in NumPy (1e-12), and precision/recall against ADM's
 * (the same counts). */
#include <math.h>

#include <unistd.h>

#include "../../src/eval/fid.h"
#include "../../src/eval/fid_stats_file.h"
#include "../../src/eval/inception_score.h"
#include "../../src/eval/precision_recall.h"
#include "npz_golden.h"

#define GOLDEN "tests/golden/fid_cases.npz"
#define DIM 48

static double max_rel(const double *got, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs(got[i] - ref[i]));
        den = fmax(den, fabs(ref[i]));
    }
    return num / den;
}

/* Statistics of golden features `key` (rows of them), added in two uneven parts as ranks would. */
static int stats_of(const char *key, long long rows, FidStats *st) {
    float *x = npz_golden(GOLDEN, key, "<f4", rows * DIM);
    if (!x) return -1;
    FidSums s;
    fid_sums_init(&s, DIM);
    fid_sums_add(&s, x, rows / 3);
    fid_sums_add(&s, x + rows / 3 * DIM, rows - rows / 3);
    Error e = {{0}};
    const int rc = fid_stats_from_sums(&s, st, &e);
    CHECK(rc == 0, "%s", e.msg);
    fid_sums_free(&s);
    free(x);
    return rc;
}

static double golden_scalar(const char *key) {
    double *v = npz_golden(GOLDEN, key, "<f8", 1);
    const double out = v ? v[0] : NAN;
    free(v);
    return out;
}

static void mean_and_covariance_match_numpy(void) {
    FidStats a;
    if (stats_of("a", 300, &a) < 0) return;
    double *mu = npz_golden(GOLDEN, "mu_a", "<f8", DIM), *sigma = npz_golden(GOLDEN, "sigma_a", "<f8", DIM * DIM);
    if (mu && sigma) {
        const double em = max_rel(a.mu, mu, DIM), es = max_rel(a.sigma, sigma, DIM * DIM);
        CHECK(em <= 1e-12 && es <= 1e-12, "mu %.3g, sigma %.3g relative", em, es);
    }
    free(mu), free(sigma);
    fid_stats_free(&a);
}

static void check_distance(const char *x, long long nx, const char *y, long long ny, const char *golden_key,
                           double tol) {
    FidStats a, b;
    if (stats_of(x, nx, &a) < 0) return;
    if (stats_of(y, ny, &b) == 0) {
        double fid = NAN;
        Error e = {{0}};
        const double want = golden_scalar(golden_key);
        CHECK(fid_distance(&a, &b, &fid, &e) == 0, "%s", e.msg);
        CHECK(fabs(fid - want) <= tol * want, "%s: FID %.12g, expected %.12g (limit %g relative)", golden_key, fid,
              want, tol);
        fid_stats_free(&b);
    }
    fid_stats_free(&a);
}

static void distance_matches_scipy_sqrtm(void) { check_distance("a", 300, "b", 250, "fid_ab", 1e-9); }

/* 12 and 20 rows in 48 dimensions: both covariances singular. The square roots of the zero
 * eigenvalues, known only to rounding (1e-16 of the largest), make the trace uncertain to ~1e-8
 * relative in any float64 computation (scipy's and numpy's differ by as much): 1e-6, the issue's. */
static void singular_covariances_give_the_finite_distance(void) {
    check_distance("c", 12, "d", 20, "fid_cd", 1e-6);
}

static void identical_statistics_are_at_distance_zero(void) {
    FidStats a;
    if (stats_of("a", 300, &a) < 0) return;
    double fid = NAN, tr = 0;
    Error e = {{0}};
    for (int i = 0; i < DIM; i++) tr += a.sigma[i * DIM + i];
    CHECK(fid_distance(&a, &a, &fid, &e) == 0 && fabs(fid) <= 1e-10 * tr, "FID %.3g (trace %.3g) %s", fid, tr, e.msg);
    fid_stats_free(&a);
}

static void bad_statistics_are_refused(void) {
    FidSums s;
    fid_sums_init(&s, 4);
    const float row[4] = {1, 2, 3, 4};
    fid_sums_add(&s, row, 1);
    FidStats one;
    Error e = {{0}};
    CHECK(fid_stats_from_sums(&s, &one, &e) < 0 && strstr(e.msg, "1 image(s)") && strstr(e.msg, "at least 2"), "%s",
          e.msg);
    fid_sums_free(&s);

    FidStats a, b;
    if (stats_of("a", 300, &a) < 0) return;
    double fid;
    b = (FidStats){.dim = 4, .mu = a.mu, .sigma = a.sigma};
    CHECK(fid_distance(&a, &b, &fid, &e) < 0 && strstr(e.msg, "48 and 4 features"), "%s", e.msg);
    if (stats_of("b", 250, &b) == 0) {
        b.sigma[5] = NAN;
        CHECK(fid_distance(&a, &b, &fid, &e) < 0 && strstr(e.msg, "NaN"), "%s", e.msg);
        fid_stats_free(&b);
    }
    fid_stats_free(&a);
}

/* NumPy's arrays are read as written; what fid_stats_write writes reads back bit for bit, with the
 * sFID pair when given. */
static void stats_files_read_and_write(void) {
    FidStats a, from_numpy, back, back_s;
    if (stats_of("a", 300, &a) < 0) return;
    Error e = {{0}};
    if (fid_stats_read(GOLDEN, "mu_a", "sigma_a", &from_numpy, &e) == 0) {
        CHECK(from_numpy.dim == DIM && max_rel(from_numpy.sigma, a.sigma, DIM * DIM) <= 1e-12, "dim %d",
              from_numpy.dim);
        fid_stats_free(&from_numpy);
    } else {
        CHECK(0, "%s", e.msg);
    }
    char path[] = "/tmp/maskdit-fid-XXXXXX";
    const int fd = mkstemp(path);
    close(fd);
    CHECK(fid_stats_write(path, &a, &a, &e) == 0, "%s", e.msg);
    if (fid_stats_read(path, "mu", "sigma", &back, &e) == 0 &&
        fid_stats_read(path, "mu_s", "sigma_s", &back_s, &e) == 0) {
        CHECK(back.dim == DIM && memcmp(back.mu, a.mu, DIM * sizeof(double)) == 0 &&
                  memcmp(back.sigma, a.sigma, DIM * DIM * sizeof(double)) == 0 &&
                  memcmp(back_s.sigma, a.sigma, DIM * DIM * sizeof(double)) == 0,
              "read back differs");
        fid_stats_free(&back), fid_stats_free(&back_s);
    } else {
        CHECK(0, "%s", e.msg);
    }
    unlink(path);
    fid_stats_free(&a);
}

static void a_file_without_statistics_is_refused(void) {
    FidStats st;
    Error e = {{0}};
    CHECK(fid_stats_read(GOLDEN, "mu", "sigma", &st, &e) < 0 && strstr(e.msg, "fid_cases.npz: no array mu"), "%s",
          e.msg);
    CHECK(fid_stats_read(GOLDEN, "mu_a", "a", &st, &e) < 0 && strstr(e.msg, "a.npy: expected") &&
              strstr(e.msg, "<f4 (300, 48)"),
          "%s", e.msg);
}

/* ADM's compute_inception_score in NumPy on 250 rows of 10 logits: splits of 100 (the last of 50)
 * and one split holding all. */
static void inception_score_matches_adm(void) {
    float *logits = npz_golden(GOLDEN, "logits", "<f4", 250 * 10);
    if (!logits) return;
    const double got_100 = inception_score(logits, 250, 10, 100), want_100 = golden_scalar("is_100");
    const double got_1000 = inception_score(logits, 250, 10, 1000), want_1000 = golden_scalar("is_1000");
    CHECK(fabs(got_100 - want_100) <= 1e-12 * want_100 && fabs(got_1000 - want_1000) <= 1e-12 * want_1000,
          "IS %.15g / %.15g, expected %.15g / %.15g", got_100, got_1000, want_100, want_1000);
    free(logits);
}

/* ADM's improved precision and recall (k = 3) in NumPy on 200 reference and 150 sample features in
 * 16 dimensions: the same counts, so the same fractions. */
static void precision_recall_match_adm(void) {
    float *ref = npz_golden(GOLDEN, "pr_ref", "<f4", 200 * 16);
    float *samples = npz_golden(GOLDEN, "pr_samples", "<f4", 150 * 16);
    if (ref && samples) {
        double precision, recall;
        precision_recall(ref, 200, samples, 150, 16, PR_NEIGHBOURS, &precision, &recall);
        const double want_p = golden_scalar("precision"), want_r = golden_scalar("recall");
        CHECK(precision == want_p && recall == want_r, "precision %.6f recall %.6f, expected %.6f %.6f", precision,
              recall, want_p, want_r);
    }
    free(ref), free(samples);
}

int main(void) {
    RUN(mean_and_covariance_match_numpy);
    RUN(distance_matches_scipy_sqrtm);
    RUN(singular_covariances_give_the_finite_distance);
    RUN(identical_statistics_are_at_distance_zero);
    RUN(bad_statistics_are_refused);
    RUN(stats_files_read_and_write);
    RUN(a_file_without_statistics_is_refused);
    RUN(inception_score_matches_adm);
    RUN(precision_recall_match_adm);
    return test_summary();
}
