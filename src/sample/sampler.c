#include "sampler.h"

#include <math.h>
#include <string.h>

#include "streams.h"

/* Constants of the paper's Table 1: the VP schedule (beta_d, beta_min, epsilon_s) and the iDDPM
 * discretization (C_1, C_2, M). */
#define VP_BETA_D 19.9
#define VP_BETA_MIN 0.1
#define VP_EPSILON_S 1e-3
#define IDDPM_C1 0.001
#define IDDPM_C2 0.008
#define IDDPM_M 1000

static const char *const SOLVER_NAMES[] = {"euler", "heun"};
static const char *const DISCRETIZATION_NAMES[] = {"vp", "ve", "iddpm", "edm"};
static const char *const SCHEDULE_NAMES[] = {"vp", "ve", "linear"};
static const char *const SCALING_NAMES[] = {"vp", "none"};

SamplerOptions sampler_options_default(void) {
    SamplerOptions o = {
        .num_steps = 18, .sigma_min = NAN, .sigma_max = NAN, .rho = 7.0,
        .solver = SOLVER_HEUN, .discretization = DISCRETIZATION_EDM, .schedule = SCHEDULE_LINEAR,
        .scaling = SCALING_NONE, .S_churn = 0.0, .S_min = 0.0, .S_max = INFINITY, .S_noise = 1.0,
        .net_sigma_min = 0.0, .net_sigma_max = INFINITY,
    };
    return o;
}

/* Index of s in names[], or -1 with a message listing the names. */
static int parse_name(const char *option, const char *s, const char *const *names, int count, Error *e) {
    for (int i = 0; i < count; i++)
        if (strcmp(s, names[i]) == 0) return i;
    char list[128] = "";
    for (int i = 0; i < count; i++) text_append(list, sizeof list, "%s%s", i ? ", " : "", names[i]);
    return error_set(e, "%s: unknown value '%s' (expected one of %s)", option, s, list);
}

int sampler_parse_solver(const char *s, SamplerSolver *out, Error *e) {
    int v = parse_name("--solver", s, SOLVER_NAMES, (int)ARRAY_LEN(SOLVER_NAMES), e);
    if (v < 0) return -1;
    *out = (SamplerSolver)v;
    return 0;
}

int sampler_parse_discretization(const char *s, SamplerDiscretization *out, Error *e) {
    int v = parse_name("--discretization", s, DISCRETIZATION_NAMES, (int)ARRAY_LEN(DISCRETIZATION_NAMES), e);
    if (v < 0) return -1;
    *out = (SamplerDiscretization)v;
    return 0;
}

int sampler_parse_schedule(const char *s, SamplerSchedule *out, Error *e) {
    int v = parse_name("--schedule", s, SCHEDULE_NAMES, (int)ARRAY_LEN(SCHEDULE_NAMES), e);
    if (v < 0) return -1;
    *out = (SamplerSchedule)v;
    return 0;
}

int sampler_parse_scaling(const char *s, SamplerScaling *out, Error *e) {
    int v = parse_name("--scaling", s, SCALING_NAMES, (int)ARRAY_LEN(SCALING_NAMES), e);
    if (v < 0) return -1;
    *out = (SamplerScaling)v;
    return 0;
}

void sampler_describe(const SamplerOptions *o, char *buf, size_t len) {
    snprintf(buf, len, "%s, %s discretization, %s schedule, %s scaling, %d steps, sigma %g..%g, S_churn %g",
             SOLVER_NAMES[o->solver], DISCRETIZATION_NAMES[o->discretization], SCHEDULE_NAMES[o->schedule],
             SCALING_NAMES[o->scaling], o->num_steps, o->sigma_min, o->sigma_max, o->S_churn);
}

/* ---- noise schedules sigma(t), their derivatives and inverses (Table 1) ---- */

static double vp_sigma(double beta_d, double beta_min, double t) {
    return sqrt(expm1(0.5 * beta_d * t * t + beta_min * t));
}

double sampler_sigma(const SamplerPlan *p, double t) {
    switch (p->opt.schedule) {
    case SCHEDULE_VP: return vp_sigma(p->vp_beta_d, p->vp_beta_min, t);
    case SCHEDULE_VE: return sqrt(t);
    case SCHEDULE_LINEAR: break;
    }
    return t;
}

static double sigma_deriv(const SamplerPlan *p, double t) {
    switch (p->opt.schedule) {
    case SCHEDULE_VP: {
        double s = sampler_sigma(p, t);
        return 0.5 * (p->vp_beta_min + p->vp_beta_d * t) * (s + 1.0 / s);
    }
    case SCHEDULE_VE: return 0.5 / sqrt(t);
    case SCHEDULE_LINEAR: break;
    }
    return 1.0;
}

static double sigma_inv(const SamplerPlan *p, double sigma) {
    switch (p->opt.schedule) {
    case SCHEDULE_VP:
        return (sqrt(p->vp_beta_min * p->vp_beta_min + 2.0 * p->vp_beta_d * log1p(sigma * sigma)) - p->vp_beta_min) /
               p->vp_beta_d;
    case SCHEDULE_VE: return sigma * sigma;
    case SCHEDULE_LINEAR: break;
    }
    return sigma;
}

/* ---- signal scaling s(t) and its derivative ---- */

double sampler_scale(const SamplerPlan *p, double t) {
    if (p->opt.scaling == SCALING_NONE) return 1.0;
    double s = sampler_sigma(p, t);
    return 1.0 / sqrt(1.0 + s * s);
}

static double scale_deriv(const SamplerPlan *p, double t) {
    if (p->opt.scaling == SCALING_NONE) return 0.0;
    double s = sampler_scale(p, t);
    return -sampler_sigma(p, t) * sigma_deriv(p, t) * s * s * s;
}

/* ---- time-step discretizations: the noise levels sigma_0 > ... > sigma_{N-1} ---- */

/* iDDPM: the M+1 noise levels u_j of the cosine schedule, u_M = 0, then N of those inside
 * [sigma_min, sigma_max] picked at evenly spaced (rounded half to even) positions. */
static int iddpm_sigma_steps(double *out, int N, double sigma_min, double sigma_max, Error *e) {
    double u[IDDPM_M + 1];
    u[IDDPM_M] = 0.0;
    for (int j = IDDPM_M; j >= 1; j--) {
        double a_prev = sin(0.5 * M_PI * (j - 1) / IDDPM_M / (IDDPM_C2 + 1.0));
        double a_cur = sin(0.5 * M_PI * j / IDDPM_M / (IDDPM_C2 + 1.0));
        double ratio = (a_prev * a_prev) / (a_cur * a_cur);
        u[j - 1] = sqrt((u[j] * u[j] + 1.0) / fmax(ratio, IDDPM_C1) - 1.0);
    }
    double kept[IDDPM_M + 1];
    int count = 0;
    for (int j = 0; j <= IDDPM_M; j++)
        if (u[j] >= sigma_min && u[j] <= sigma_max) kept[count++] = u[j];
    if (count < 1)
        return error_set(e, "--discretization iddpm: no noise level of the schedule lies in [%g, %g] (--sigma_min, "
                            "--sigma_max)", sigma_min, sigma_max);
    for (int i = 0; i < N; i++) out[i] = kept[(int)nearbyint((double)(count - 1) / (N - 1) * i)];
    return 0;
}

static int sigma_steps(const SamplerPlan *p, double *out, Error *e) {
    const SamplerOptions *o = &p->opt;
    int N = o->num_steps;
    for (int i = 0; i < N; i++) {
        double f = (double)i / (N - 1);
        switch (o->discretization) {
        case DISCRETIZATION_VP: out[i] = vp_sigma(p->vp_beta_d, p->vp_beta_min, 1.0 + f * (VP_EPSILON_S - 1.0)); break;
        case DISCRETIZATION_VE:
            out[i] = sqrt(o->sigma_max * o->sigma_max * pow(o->sigma_min * o->sigma_min / (o->sigma_max * o->sigma_max), f));
            break;
        case DISCRETIZATION_EDM: {
            double a = pow(o->sigma_max, 1.0 / o->rho), b = pow(o->sigma_min, 1.0 / o->rho);
            out[i] = pow(a + f * (b - a), o->rho);
            break;
        }
        case DISCRETIZATION_IDDPM: return iddpm_sigma_steps(out, N, o->sigma_min, o->sigma_max, e);
        }
    }
    return 0;
}

int sampler_plan(SamplerPlan *p, const SamplerOptions *o, Error *e) {
    memset(p, 0, sizeof *p);
    p->opt = *o;
    SamplerOptions *q = &p->opt;
    if (q->num_steps < 2 || q->num_steps > SAMPLER_MAX_STEPS)
        return error_set(e, "--num_steps must be from 2 to %d (got %d)", SAMPLER_MAX_STEPS, q->num_steps);
    if (!(q->rho > 0)) return error_set(e, "--rho must be > 0 (got %g)", q->rho);
    if (!(q->S_churn >= 0) || !(q->S_noise >= 0))
        return error_set(e, "--S_churn and --S_noise must be >= 0 (got %g and %g)", q->S_churn, q->S_noise);
    /* Both are powers / factors of every noise level: infinite ones give NaN images. (S_churn is
     * capped by the sampler, S_max may be inf: both are fine.) */
    if (isinf(q->rho) || isinf(q->S_noise))
        return error_set(e, "--rho and --S_noise must be finite (got %g and %g)", q->rho, q->S_noise);
    /* NaN: the discretization's default. A given value is checked as given, before the clamp to
     * the model's range below would hide it ("[0, 80] is empty" for --sigma_min -1). */
    if (!isnan(q->sigma_min) && !(q->sigma_min > 0 && isfinite(q->sigma_min)))
        return error_set(e, "--sigma_min must be a finite noise level > 0 (got %g)", q->sigma_min);
    if (!isnan(q->sigma_max) && !(q->sigma_max > 0))
        return error_set(e, "--sigma_max must be a noise level > 0 (got %g)", q->sigma_max);
    if (isnan(q->sigma_min)) {
        double vp_min = vp_sigma(VP_BETA_D, VP_BETA_MIN, VP_EPSILON_S);
        const double defaults[] = {[DISCRETIZATION_VP] = vp_min, [DISCRETIZATION_VE] = 0.02,
                                   [DISCRETIZATION_IDDPM] = 0.002, [DISCRETIZATION_EDM] = 0.002};
        q->sigma_min = defaults[q->discretization];
    }
    if (isnan(q->sigma_max)) {
        double vp_max = vp_sigma(VP_BETA_D, VP_BETA_MIN, 1.0);
        const double defaults[] = {[DISCRETIZATION_VP] = vp_max, [DISCRETIZATION_VE] = 100.0,
                                   [DISCRETIZATION_IDDPM] = 81.0, [DISCRETIZATION_EDM] = 80.0};
        q->sigma_max = defaults[q->discretization];
    }
    q->sigma_min = fmax(q->sigma_min, q->net_sigma_min);
    q->sigma_max = fmin(q->sigma_max, q->net_sigma_max);
    if (!(q->sigma_min > 0) || !(q->sigma_max > q->sigma_min) || isinf(q->sigma_max))
        return error_set(e, "--sigma_min, --sigma_max: the noise range [%g, %g] is empty or unbounded (the model "
                            "supports [%g, %g])", q->sigma_min, q->sigma_max, q->net_sigma_min, q->net_sigma_max);
    /* The VP schedule whose sigma(1) = sigma_max and sigma(epsilon_s) = sigma_min. */
    double lmax = log1p(q->sigma_max * q->sigma_max), lmin = log1p(q->sigma_min * q->sigma_min);
    p->vp_beta_d = 2.0 * (lmin / VP_EPSILON_S - lmax) / (VP_EPSILON_S - 1.0);
    p->vp_beta_min = lmax - 0.5 * p->vp_beta_d;

    int N = q->num_steps;
    p->t_steps = xmalloc((size_t)(N + 1) * sizeof *p->t_steps, "sampler time steps");
    if (sigma_steps(p, p->t_steps, e)) {
        sampler_plan_free(p);
        return -1;
    }
    for (int i = 0; i < N; i++) p->t_steps[i] = sigma_inv(p, p->t_steps[i]);
    p->t_steps[N] = 0.0;
    return 0;
}

void sampler_plan_free(SamplerPlan *p) {
    free(p->t_steps);
    p->t_steps = NULL;
}

/* dx/dt at time t from x and the denoised D(x / s(t); sigma(t)):
 * (sigma'/sigma + s'/s) x - sigma' s / sigma D  =  sigma'/sigma (x - s D) + (s'/s) x.
 * With sigma(t) = t and s = 1 this evaluates to exactly the EDM sampler's (x - D) / t (the other
 * factors are 1 and 0). */
static void derivative(const SamplerPlan *p, double t, const double *x, const double *D, double *d, size_t n) {
    double sig = sampler_sigma(p, t), sd = sigma_deriv(p, t), s = sampler_scale(p, t);
    double ss = scale_deriv(p, t) / s;
    for (size_t k = 0; k < n; k++) d[k] = (x[k] - s * D[k]) / sig * sd + ss * x[k];
}

/* Denoise the scaled state x at time t: D(x / s(t); sigma(t)). */
static void denoise_at(const SamplerPlan *p, const SamplerCallbacks *cb, double t, const double *x, double *tmp,
                       double *D, int n, size_t total) {
    double s = sampler_scale(p, t);
    const double *in = x;
    if (s != 1.0) {
        for (size_t k = 0; k < total; k++) tmp[k] = x[k] / s;
        in = tmp;
    }
    cb->denoise(cb->ctx, in, n, sampler_sigma(p, t), D);
}

int sampler_run(const SamplerPlan *p, const SamplerCallbacks *cb, double *x, int n, size_t dim,
                 const uint32_t *seeds) {
    const SamplerOptions *o = &p->opt;
    int N = o->num_steps;
    size_t total = (size_t)n * dim;
    double *D = xmalloc(total * sizeof *D, "sampler denoised");
    double *d_cur = xmalloc(total * sizeof *d_cur, "sampler derivative");
    double *d_prime = xmalloc(total * sizeof *d_prime, "sampler derivative");
    double *x_prime = xmalloc(total * sizeof *x_prime, "sampler state");
    double *tmp = xmalloc(total * sizeof *tmp, "sampler scaled state");

    double scale0 = sampler_sigma(p, p->t_steps[0]) * sampler_scale(p, p->t_steps[0]);
    for (size_t k = 0; k < total; k++) x[k] *= scale0;

    int done = 0;
    for (int i = 0; i < N; i++) {
        if (cb->stop && cb->stop(cb->step_ctx)) break;
        double t_cur = p->t_steps[i], t_next = p->t_steps[i + 1];
        double sig_cur = sampler_sigma(p, t_cur);
        double gamma = (o->S_min <= sig_cur && sig_cur <= o->S_max) ? fmin(o->S_churn / N, M_SQRT2 - 1.0) : 0.0;
        /* Churn: raise the noise level to sigma_hat = (1 + gamma) sigma and add the missing noise,
         * each image from its own stream. Without churn t_hat is t_cur exactly. */
        double t_hat = t_cur;
        if (gamma > 0) {
            t_hat = sigma_inv(p, sig_cur + gamma * sig_cur);
            double s_hat = sampler_scale(p, t_hat), s_cur = sampler_scale(p, t_cur);
            double sig_hat = sampler_sigma(p, t_hat);
            double amount = sqrt(fmax(sig_hat * sig_hat - sig_cur * sig_cur, 0.0)) * s_hat * o->S_noise;
            for (int m = 0; m < n; m++) {
                double *xm = x + (size_t)m * dim, *eps = tmp + (size_t)m * dim;
                sample_churn_noise(eps, dim, seeds[m], i);
                for (size_t k = 0; k < dim; k++) xm[k] = s_hat / s_cur * xm[k] + amount * eps[k];
            }
        }
        double h = t_next - t_hat;
        denoise_at(p, cb, t_hat, x, tmp, D, n, total);
        derivative(p, t_hat, x, D, d_cur, total);
        if (o->solver == SOLVER_EULER || i == N - 1) {
            for (size_t k = 0; k < total; k++) x[k] += h * d_cur[k];
        } else {
            /* Heun: the second evaluation is at t_next itself. */
            for (size_t k = 0; k < total; k++) x_prime[k] = x[k] + h * d_cur[k];
            denoise_at(p, cb, t_next, x_prime, tmp, D, n, total);
            derivative(p, t_next, x_prime, D, d_prime, total);
            for (size_t k = 0; k < total; k++) x[k] += h * (0.5 * d_cur[k] + 0.5 * d_prime[k]);
        }
        if (cb->on_step) cb->on_step(cb->step_ctx, i, x, n);
        done = i + 1;
    }
    free(D);
    free(d_cur);
    free(d_prime);
    free(x_prime);
    free(tmp);
    return done;
}
