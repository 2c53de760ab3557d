/* CPU backend: AdamW and EMA against the golden /adamw and /ema groups of maskdit_tiny.h5 (two
 * optimizer steps per tensor, thresholds of the golden README §5), AdamW's gradient scale and
 * weight decay against a naive float64 update, its compute-copy output against the plain call
 * and cast(), and scale / sum_squares. */
#include <hdf5.h>

#include "../../src/util/h5util.h"
#include "cpu_op_check.h"

static char golden[512];

/* The names of a "names" JSON list attribute, as a NULL-terminated array of malloc'd strings. */
static char **json_names(const char *json) {
    size_t cap = 8, count = 0;
    char **names = malloc(cap * sizeof *names);
    for (const char *p = strchr(json, '"'); p; p = strchr(p, '"')) {
        const char *end = strchr(p + 1, '"');
        if (!end) break;
        if (count + 2 > cap) names = realloc(names, (cap *= 2) * sizeof *names);
        names[count++] = strndup(p + 1, (size_t)(end - p - 1));
        p = end + 1;
    }
    names[count] = NULL;
    return names;
}

static void free_names(char **names) {
    for (char **n = names; *n; n++) free(*n);
    free(names);
}

/* Reads /group/name as float (inputs: exact float32 values) or double (references). */
static void *read_tensor(hid_t f, const char *group, const char *name, int as_double, size_t *n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", group, name);
    void *buf = NULL;
    Error e;
    int rc = h5_read_all(f, golden, path, as_double ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT,
                         as_double ? sizeof(double) : sizeof(float), -1, &buf, n, &e);
    CHECK(rc == 0, "%s", e.msg);
    return buf;
}

static double attr(hid_t f, const char *obj, const char *name) {
    double v = 0;
    Error e;
    CHECK(h5_attr_double(f, golden, obj, name, &v, &e) == 0, "%s", e.msg);
    return v;
}

static void adamw_matches_golden(void) {
    Error e;
    hid_t f = h5_open_read(golden, &e);
    CHECK(f >= 0, "%s", e.msg);
    if (f < 0) return;
    const double lr = attr(f, "/adamw", "lr"), b1 = attr(f, "/adamw", "beta1"), b2 = attr(f, "/adamw", "beta2");
    const double eps = attr(f, "/adamw", "eps"), wd = attr(f, "/adamw", "weight_decay");
    char *json = NULL;
    CHECK(h5_attr_string(f, golden, "/adamw", "names", &json, &e) == 0, "%s", e.msg);
    char **names = json_names(json ? json : "");
    int tensors = 0;
    double worst_m = 0, worst_v = 0, worst_p = 0;   /* worst p error in units of the allowed |d| */
    for (char **name = names; *name; name++, tensors++) {
        size_t n, n2;
        float *p = read_tensor(f, "/params", *name, 0, &n);
        float *g1 = read_tensor(f, "/grads", *name, 0, &n2);
        float *g2 = read_tensor(f, "/adamw/grads2", *name, 0, &n2);
        float *d_p = dev_from(p, n), *d_g1 = dev_from(g1, n), *d_g2 = dev_from(g2, n);
        float *d_m = be->alloc(be, n * sizeof(float), "m"), *d_v = be->alloc(be, n * sizeof(float), "v");
        be->zero(be, d_m, n * sizeof(float));
        be->zero(be, d_v, n * sizeof(float));
        for (int step = 1; step <= 2; step++) {
            double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);
            be->adamw(be, d_p, NULL, step == 1 ? d_g1 : d_g2, d_m, d_v, n, (float)lr, b1, b2, (float)eps, (float)wd,
                      (float)bc1, (float)bc2, 1.0f);
            char grp[64];
            float *pm = host_of(d_p, n), *m = host_of(d_m, n), *v = host_of(d_v, n);
            snprintf(grp, sizeof grp, "/adamw/exp_avg%d", step);
            double *ref_m = read_tensor(f, grp, *name, 1, &n2);
            snprintf(grp, sizeof grp, "/adamw/exp_avg_sq%d", step);
            double *ref_v = read_tensor(f, grp, *name, 1, &n2);
            snprintf(grp, sizeof grp, "/adamw/params%d", step);
            double *ref_p = read_tensor(f, grp, *name, 1, &n2);
            worst_m = fmax(worst_m, rel_error(m, ref_m, n));
            worst_v = fmax(worst_v, rel_error(v, ref_v, n));
            for (size_t i = 0; i < n; i++) {
                double allowed = ldexp(fabs(ref_p[i]), -22) + 1e-2 * lr;
                worst_p = fmax(worst_p, fabs(pm[i] - ref_p[i]) / allowed);
            }
            free(pm), free(m), free(v), free(ref_m), free(ref_v), free(ref_p);
        }
        free(p), free(g1), free(g2);
        be->free(be, d_p), be->free(be, d_g1), be->free(be, d_g2), be->free(be, d_m), be->free(be, d_v);
    }
    CHECK(tensors == 33, "the golden /adamw group lists %d tensors, expected 33", tensors);
    CHECK(worst_m <= 1e-6, "exp_avg: rel error %g", worst_m);
    CHECK(worst_v <= 1e-6, "exp_avg_sq: rel error %g", worst_v);
    CHECK(worst_p <= 1.0, "params: error %g times the allowed 2^-22 |p| + 1e-2 lr", worst_p);
    free_names(names);
    free(json);
    H5Fclose(f);
}

static void ema_matches_golden(void) {
    Error e;
    hid_t f = h5_open_read(golden, &e);
    CHECK(f >= 0, "%s", e.msg);
    if (f < 0) return;
    const double decay = attr(f, "/ema", "decay");
    char *json = NULL;
    CHECK(h5_attr_string(f, golden, "/ema", "names", &json, &e) == 0, "%s", e.msg);
    char **names = json_names(json ? json : "");
    int tensors = 0;
    double worst = 0;
    for (char **name = names; *name; name++, tensors++) {
        size_t n, n2;
        float *before = read_tensor(f, "/ema/ema_before", *name, 0, &n);
        float *p = read_tensor(f, "/params", *name, 0, &n2);
        double *ref = read_tensor(f, "/ema/ema_after", *name, 1, &n2);
        float *d_ema = dev_from(before, n), *d_p = dev_from(p, n);
        be->ema(be, d_ema, d_p, n, (float)decay);
        float *after = host_of(d_ema, n);
        worst = fmax(worst, rel_error(after, ref, n));
        free(before), free(p), free(ref), free(after);
        be->free(be, d_ema), be->free(be, d_p);
    }
    CHECK(tensors == 33, "the golden /ema group lists %d tensors, expected 33", tensors);
    CHECK(worst <= 1e-6, "ema_after: rel error %g", worst);
    free_names(names);
    free(json);
    H5Fclose(f);
}

/* grad_scale and weight decay (0 in the golden file) against the formula in float64. */
static void adamw_grad_scale_and_weight_decay(void) {
    const size_t n = 1001;
    const double lr = 3e-3, b1 = 0.8, b2 = 0.99, eps = 1e-6, wd = 0.05, bc1 = 0.36, bc2 = 0.0199, gs = 0.25;
    float *p = host_randn(n, 1), *g = host_randn(n, 4), *m = host_randn(n, 0.1), *v = host_randn(n, 0.1);
    for (size_t i = 0; i < n; i++) v[i] = fabsf(v[i]);
    float *d_p = dev_from(p, n), *d_g = dev_from(g, n), *d_m = dev_from(m, n), *d_v = dev_from(v, n);
    be->adamw(be, d_p, NULL, d_g, d_m, d_v, n, (float)lr, b1, b2, (float)eps, (float)wd, (float)bc1, (float)bc2, (float)gs);
    float *p1 = host_of(d_p, n), *m1 = host_of(d_m, n), *v1 = host_of(d_v, n);
    double *ref_m = malloc(n * sizeof *ref_m), *ref_v = malloc(n * sizeof *ref_v), worst_p = 0, e;
    for (size_t i = 0; i < n; i++) {
        double gi = g[i] * gs, mi = b1 * m[i] + (1 - b1) * gi, vi = b2 * v[i] + (1 - b2) * gi * gi;
        double pi = p[i] - lr * ((mi / bc1) / (sqrt(vi / bc2) + eps) + wd * p[i]);
        ref_m[i] = mi;
        ref_v[i] = vi;
        worst_p = fmax(worst_p, fabs(p1[i] - pi) / (ldexp(fabs(pi), -22) + 1e-2 * lr));
    }
    CHECK((e = rel_error(m1, ref_m, n)) <= 1e-6, "exp_avg: rel error %g", e);
    CHECK((e = rel_error(v1, ref_v, n)) <= 1e-6, "exp_avg_sq: rel error %g", e);
    CHECK(worst_p <= 1.0, "params: error %g times the allowed", worst_p);
    free(p), free(g), free(m), free(v), free(p1), free(m1), free(v1), free(ref_m), free(ref_v);
    be->free(be, d_p), be->free(be, d_g), be->free(be, d_m), be->free(be, d_v);
}

/* param_act: the same parameters and moments as the plain call, bit for bit, and in param_act
 * what cast() makes of the updated parameters (the CPU act dtype is f32: their very values). */
static void adamw_compute_copy_output(void) {
    const size_t n = 1003;
    float *p = host_randn(n, 1), *g = host_randn(n, 1e-3), *m = host_randn(n, 1e-3), *v = host_randn(n, 1e-3);
    for (size_t i = 0; i < n; i++) v[i] = v[i] * v[i];
    float *plain[3] = {dev_from(p, n), dev_from(m, n), dev_from(v, n)};
    float *fused[3] = {dev_from(p, n), dev_from(m, n), dev_from(v, n)};
    float *d_g = dev_from(g, n), *copy = dev_randn(n, 1), *cast = dev_randn(n, 1);
    for (int step = 1; step <= 2; step++) {
        float bc1 = (float)(1 - pow(0.9, step)), bc2 = (float)(1 - pow(0.999, step));
        be->adamw(be, plain[0], NULL, d_g, plain[1], plain[2], n, 1e-2f, 0.9, 0.999, 1e-8f, 0.01f, bc1, bc2, 0.5f);
        be->adamw(be, fused[0], copy, d_g, fused[1], fused[2], n, 1e-2f, 0.9, 0.999, 1e-8f, 0.01f, bc1, bc2, 0.5f);
    }
    be->cast(be, cast, be->act_dtype, plain[0], DTYPE_F32, n);
    const char *what[3] = {"params", "exp_avg", "exp_avg_sq"};
    for (int k = 0; k < 3; k++) {
        float *a = host_of(plain[k], n), *b = host_of(fused[k], n);
        CHECK(memcmp(a, b, n * sizeof *a) == 0, "%s differ between the plain and the fused call", what[k]);
        CHECK(k > 0 || memcmp(a, p, n * sizeof *a) != 0, "the step must move the parameters");
        free(a), free(b);
        be->free(be, plain[k]), be->free(be, fused[k]);
    }
    float *hc = host_of(copy, n), *hcast = host_of(cast, n);
    CHECK(memcmp(hc, hcast, n * sizeof *hc) == 0, "param_act differs from cast() of the updated parameters");
    free(p), free(g), free(m), free(v), free(hc), free(hcast);
    be->free(be, d_g), be->free(be, copy), be->free(be, cast);
}

static void scale_and_sum_squares(void) {
    const size_t n = 100003;
    float *x = host_randn(n, 2);
    float *d_x = dev_from(x, n);
    double ref = 0;
    for (size_t i = 0; i < n; i++) ref += (double)x[i] * x[i];
    double got = be->sum_squares(be, d_x, n);
    CHECK(fabs(got - ref) <= 1e-12 * ref, "sum_squares %.17g vs %.17g", got, ref);
    CHECK(be->sum_squares(be, d_x, n) == got, "sum_squares must be reproducible");
    CHECK(be->sum_squares(be, d_x, 0) == 0, "sum_squares of nothing");
    be->scale(be, d_x, n, -0.5f);
    float *y = host_of(d_x, n);
    int exact = 1;
    for (size_t i = 0; i < n; i++) exact &= y[i] == x[i] * -0.5f;
    CHECK(exact, "scale must multiply every element");
    float special[2] = {INFINITY, NAN};
    be->to_device(be, d_x + n / 2, &special[0], sizeof(float));
    CHECK(isinf(be->sum_squares(be, d_x, n)), "Inf must propagate");
    be->to_device(be, d_x + n - 1, &special[1], sizeof(float));
    CHECK(isnan(be->sum_squares(be, d_x, n)), "NaN must propagate");
    free(x), free(y);
    be->free(be, d_x);
}

int main(void) {
    const char *dir = getenv("MASKDIT_GOLDEN_DIR");
    snprintf(golden, sizeof golden, "%s/maskdit_tiny.h5", dir ? dir : "tests/golden");
    h5_quiet();
    check_setup(5);
    RUN(adamw_matches_golden);
    RUN(ema_matches_golden);
    RUN(adamw_grad_scale_and_weight_decay);
    RUN(adamw_compute_copy_output);
    RUN(scale_and_sum_squares);
    be->destroy(be);
    return test_summary();
}
