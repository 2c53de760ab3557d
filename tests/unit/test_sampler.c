/* The EDM sampler against analytic solutions, for every ablation option.
 *
 * With data distributed N(mu, s0^2) independently per value, the ideal denoiser is
 * D(x; sigma) = mu + (x - mu) s0^2 / (s0^2 + sigma^2), and the probability-flow ODE has the exact
 * solution x(sigma) - mu = (x(sigma_0) - mu) sqrt(s0^2 + sigma^2) / sqrt(s0^2 + sigma_0^2) (in
 * unscaled coordinates; the scaled state is s(t) times it). Every schedule / scaling / solver /
 * discretization must follow it, with the error order of its solver. */
#include <math.h>
#include <string.h>

#include "../../src/sample/sampler.h"
#include "../../src/sample/streams.h"
#include "test.h"

#define MU 0.3
#define S0 0.8
#define DIM 16
#define NIMG 3

typedef struct {
    int calls;
    const SamplerPlan *plan;
    double z[NIMG * DIM];      /* the unit-normal latents */
    double max_err;            /* worst relative error of the trajectory against the exact solution */
} Analytic;

static void gaussian_denoise(void *ctx, const double *x, int n, double sigma, double *D) {
    Analytic *a = ctx;
    a->calls++;
    double f = S0 * S0 / (S0 * S0 + sigma * sigma);
    for (size_t k = 0; k < (size_t)n * DIM; k++) D[k] = MU + (x[k] - MU) * f;
}

/* Exact scaled state at time t from the latents z (unscaled start z * sigma(t_0)). */
static double exact_state(const SamplerPlan *p, double z, double t) {
    double sig0 = sampler_sigma(p, p->t_steps[0]), sig = sampler_sigma(p, t);
    double unscaled = MU + (z * sig0 - MU) * sqrt(S0 * S0 + sig * sig) / sqrt(S0 * S0 + sig0 * sig0);
    return sampler_scale(p, t) * unscaled;
}

static void check_trajectory(void *ctx, int step, const double *x, int n) {
    Analytic *a = ctx;
    if (step >= a->plan->opt.num_steps - 1) return;   /* the final jump to sigma = 0 is checked apart */
    double t = a->plan->t_steps[step + 1];
    for (size_t k = 0; k < (size_t)n * DIM; k++) {
        double want = exact_state(a->plan, a->z[k], t);
        double err = fabs(x[k] - want) / fmax(1.0, fabs(want));
        if (err > a->max_err) a->max_err = err;
    }
}

static void latents(double *z) {
    for (int m = 0; m < NIMG; m++) sample_initial_noise(z + m * DIM, DIM, 1000 + (uint32_t)m);
}

/* Run the sampler on the Gaussian data; returns the trajectory error, and the final samples in out. */
static double run_analytic(const SamplerOptions *o, double *out, int *calls) {
    SamplerPlan p;
    Error e;
    if (sampler_plan(&p, o, &e)) {
        CHECK(0, "plan: %s", e.msg);
        return INFINITY;
    }
    Analytic a = {.plan = &p};
    latents(a.z);
    memcpy(out, a.z, sizeof a.z);
    uint32_t seeds[NIMG] = {1000, 1001, 1002};
    SamplerCallbacks cb = {.denoise = gaussian_denoise, .ctx = &a, .on_step = check_trajectory, .step_ctx = &a};
    sampler_run(&p, &cb, out, NIMG, DIM, seeds);
    if (calls) *calls = a.calls;
    sampler_plan_free(&p);
    return a.max_err;
}

static const char *const SOLVERS[] = {"euler", "heun"};
static const char *const DISCS[] = {"vp", "ve", "iddpm", "edm"};
static const char *const SCHEDULES[] = {"vp", "ve", "linear"};
static const char *const SCALINGS[] = {"vp", "none"};

static SamplerOptions options(const char *solver, const char *disc, const char *sched, const char *scaling, int steps) {
    SamplerOptions o = sampler_options_default();
    Error e;
    CHECK(sampler_parse_solver(solver, &o.solver, &e) == 0, "%s", e.msg);
    CHECK(sampler_parse_discretization(disc, &o.discretization, &e) == 0, "%s", e.msg);
    CHECK(sampler_parse_schedule(sched, &o.schedule, &e) == 0, "%s", e.msg);
    CHECK(sampler_parse_scaling(scaling, &o.scaling, &e) == 0, "%s", e.msg);
    o.num_steps = steps;
    return o;
}

/* Every combination converges to the exact ODE solution with the order of its solver: halving
 * the steps (62 intervals -> 124) divides the trajectory error by ~4 for Heun and ~2 for Euler
 * (a wrong derivative, schedule or scaling would leave an error that does not shrink). */
static void every_ablation_converges_to_the_exact_solution(void) {
    for (int so = 0; so < 2; so++)
        for (int di = 0; di < 4; di++)
            for (int sc = 0; sc < 3; sc++)
                for (int sl = 0; sl < 2; sl++) {
                    int heun = so == 1;
                    double x[NIMG * DIM], err[2];
                    int calls = 0;
                    for (int k = 0; k < 2; k++) {
                        SamplerOptions o = options(SOLVERS[so], DISCS[di], SCHEDULES[sc], SCALINGS[sl], k ? 125 : 63);
                        err[k] = run_analytic(&o, x, &calls);
                    }
                    double ratio = err[0] / err[1];
                    CHECK(heun ? ratio > 3.3 && ratio < 6.0 : ratio > 1.7 && ratio < 2.6,
                          "%s/%s/%s/%s: error %.3g -> %.3g (ratio %.3g)", SOLVERS[so], DISCS[di], SCHEDULES[sc],
                          SCALINGS[sl], err[0], err[1], ratio);
                    CHECK(err[1] < (heun ? 0.6 : 1.0), "%s/%s/%s/%s: error %.3g at 125 steps", SOLVERS[so],
                          DISCS[di], SCHEDULES[sc], SCALINGS[sl], err[1]);
                    CHECK(calls == (heun ? 2 * 125 - 1 : 125), "%s: %d denoiser calls", SOLVERS[so], calls);
                }
}

/* The last step is an Euler step to sigma = 0: for the EDM sampler it lands on
 * D(x; sigma_min): within the Heun error (small at 256 steps) plus O(sigma_min^2) of the exact
 * end point. */
static void final_samples_match_the_exact_end_point(void) {
    SamplerOptions o = sampler_options_default();
    o.num_steps = 256;
    double x[NIMG * DIM], z[NIMG * DIM];
    run_analytic(&o, x, NULL);
    latents(z);
    double worst = 0;
    for (int k = 0; k < NIMG * DIM; k++) {
        double want = MU + (z[k] * 80.0 - MU) * S0 / sqrt(S0 * S0 + 80.0 * 80.0);
        worst = fmax(worst, fabs(x[k] - want));
    }
    CHECK(worst < 1.5e-3, "final samples off the exact end point by %.3g", worst);
}

/* Time steps of each discretization, against values computed independently (numpy, from the
 * formulas of the paper's Table 1) and against their defining properties. */
static void discretizations_give_the_papers_time_steps(void) {
    SamplerPlan p;
    Error e;
    SamplerOptions o = options("heun", "edm", "linear", "none", 4);
    CHECK(sampler_plan(&p, &o, &e) == 0, "%s", e.msg);
    /* golden /sampler t_steps: 80, 3.9942094..., 0.0931..., 0.002, 0 */
    CHECK(p.t_steps[0] == 80.0, "edm t0 %.17g", p.t_steps[0]);
    CHECK_CLOSE(p.t_steps[3], 0.002, 1e-15, "edm t3");
    CHECK(p.t_steps[4] == 0.0, "edm t4 %.17g", p.t_steps[4]);
    double a = pow(80.0, 1 / 7.0), b = pow(0.002, 1 / 7.0);
    CHECK_CLOSE(p.t_steps[1], pow(a + (b - a) / 3, 7), 1e-15, "edm t1");
    sampler_plan_free(&p);

    o = options("heun", "iddpm", "linear", "none", 18);
    CHECK(sampler_plan(&p, &o, &e) == 0, "%s", e.msg);
    CHECK_CLOSE(p.t_steps[0], 80.20370184547417, 1e-12, "iddpm t0");
    CHECK_CLOSE(p.t_steps[5], 1.9883938697889367, 1e-12, "iddpm t5");
    CHECK_CLOSE(p.t_steps[9], 0.913312399037661, 1e-12, "iddpm t9");
    CHECK_CLOSE(p.t_steps[17] * 100, 0.6425412771141183, 1e-12, "iddpm t17");
    sampler_plan_free(&p);

    /* VP: sigma range of the paper's beta_d 19.9, beta_min 0.1, epsilon_s 1e-3; the fitted
     * schedule recovers those betas and runs t from 1 to epsilon_s. */
    o = options("heun", "vp", "vp", "vp", 18);
    CHECK(sampler_plan(&p, &o, &e) == 0, "%s", e.msg);
    CHECK_CLOSE(p.opt.sigma_max, 152.1669702839464, 1e-12, "vp sigma_max");
    CHECK_CLOSE(p.opt.sigma_min * 100, 1.0485992786706403, 1e-12, "vp sigma_min");
    CHECK_CLOSE(p.vp_beta_d, 19.9, 1e-10, "vp beta_d");
    CHECK_CLOSE(p.vp_beta_min, 0.1, 1e-10, "vp beta_min");
    CHECK_CLOSE(p.t_steps[0], 1.0, 1e-12, "vp t0");
    CHECK_CLOSE(p.t_steps[17] * 1000, 1.0, 1e-9, "vp t17");
    CHECK_CLOSE(sampler_sigma(&p, p.t_steps[1]), 86.01016428515723, 1e-12, "vp sigma(t1)");
    sampler_plan_free(&p);

    /* VE: geometric noise levels from 100 to 0.02; with the VE schedule t = sigma^2. */
    o = options("heun", "ve", "ve", "none", 5);
    CHECK(sampler_plan(&p, &o, &e) == 0, "%s", e.msg);
    for (int i = 0; i < 5; i++) {
        double sigma = 100.0 * pow(0.02 / 100.0, i / 4.0);
        CHECK_CLOSE(p.t_steps[i], sigma * sigma, 1e-12, "ve t");
        CHECK_CLOSE(sampler_sigma(&p, p.t_steps[i]), sigma, 1e-12, "ve sigma(t)");
    }
    sampler_plan_free(&p);
}

/* Churn draws each image's noise from its own stream: an image is the same alone or in a batch,
 * different from the deterministic sample, and reproducible. */
static void plan_churn(SamplerPlan *p, int steps, double churn, double s_min, double s_max, double s_noise) {
    SamplerOptions o = sampler_options_default();
    o.num_steps = steps;
    o.S_churn = churn;
    o.S_min = s_min;
    o.S_max = s_max;
    o.S_noise = s_noise;
    Error e;
    CHECK(sampler_plan(p, &o, &e) == 0, "%s", e.msg);
}

static void churn_noise_belongs_to_the_seed(void) {
    SamplerPlan p;
    plan_churn(&p, 12, 30, 0.01, 50, 1.007);
    SamplerOptions o = p.opt;
    Error e;
    Analytic a = {.plan = &p};
    SamplerCallbacks cb = {.denoise = gaussian_denoise, .ctx = &a};
    uint32_t seeds[NIMG] = {7, 8, 9};
    double batch[NIMG * DIM], single[DIM], again[NIMG * DIM];
    for (int m = 0; m < NIMG; m++) sample_initial_noise(batch + m * DIM, DIM, seeds[m]);
    memcpy(again, batch, sizeof batch);
    sampler_run(&p, &cb, batch, NIMG, DIM, seeds);
    sampler_run(&p, &cb, again, NIMG, DIM, seeds);
    CHECK(memcmp(batch, again, sizeof batch) == 0, "two runs differ");
    for (int m = 0; m < NIMG; m++) {
        sample_initial_noise(single, DIM, seeds[m]);
        sampler_run(&p, &cb, single, 1, DIM, &seeds[m]);
        CHECK(memcmp(single, batch + m * DIM, sizeof single) == 0, "seed %u differs alone and in a batch", seeds[m]);
    }
    SamplerPlan det;
    SamplerOptions od = o;
    od.S_churn = 0;
    CHECK(sampler_plan(&det, &od, &e) == 0, "%s", e.msg);
    sample_initial_noise(single, DIM, seeds[0]);
    sampler_run(&det, &cb, single, 1, DIM, NULL);
    double diff = 0;
    for (int k = 0; k < DIM; k++) diff = fmax(diff, fabs(single[k] - batch[k]));
    CHECK(diff > 1e-3, "churn did not change the sample (max diff %.3g)", diff);
    /* A churn window that no noise level falls in is the deterministic sampler. */
    SamplerPlan off;
    SamplerOptions oo = o;
    oo.S_min = 1000;
    oo.S_max = 2000;
    CHECK(sampler_plan(&off, &oo, &e) == 0, "%s", e.msg);
    double y[DIM];
    sample_initial_noise(y, DIM, seeds[0]);
    sampler_run(&off, &cb, y, 1, DIM, seeds);
    CHECK(memcmp(y, single, sizeof y) == 0, "churn outside [S_min, S_max] changed the sample");
    sampler_plan_free(&p);
    sampler_plan_free(&det);
    sampler_plan_free(&off);
}

/* The stochastic sampler also samples the data distribution: over many seeds the samples of the
 * Gaussian data have mean MU and standard deviation S0 (a wrong churn noise scale biases the
 * spread). 4096 values: the tolerances are about 5 standard errors. */
static void churn_sampler_samples_the_data_distribution(void) {
    enum { IMAGES = 256 };
    SamplerPlan p;
    plan_churn(&p, 32, 40, 0.05, 50, 1.0);
    Analytic a = {.plan = &p};
    SamplerCallbacks cb = {.denoise = gaussian_denoise, .ctx = &a};
    double *x = malloc(sizeof(double) * IMAGES * DIM);
    uint32_t seeds[IMAGES];
    for (int m = 0; m < IMAGES; m++) {
        seeds[m] = (uint32_t)m;
        sample_initial_noise(x + m * DIM, DIM, seeds[m]);
    }
    sampler_run(&p, &cb, x, IMAGES, DIM, seeds);
    double sum = 0, sq = 0;
    for (int k = 0; k < IMAGES * DIM; k++) sum += x[k];
    double mean = sum / (IMAGES * DIM);
    for (int k = 0; k < IMAGES * DIM; k++) sq += (x[k] - mean) * (x[k] - mean);
    double sd = sqrt(sq / (IMAGES * DIM - 1));
    CHECK(fabs(mean - MU) < 5 * S0 / 64.0, "mean %.4f vs %.4f", mean, MU);
    CHECK(fabs(sd - S0) < 0.06 * S0, "std %.4f vs %.4f", sd, S0);
    free(x);
    sampler_plan_free(&p);
}

static void bad_options_are_refused(void) {
    Error e;
    SamplerSolver s;
    CHECK(sampler_parse_solver("rk4", &s, &e) == -1, "rk4 accepted");
    CHECK(strstr(e.msg, "--solver: unknown value 'rk4' (expected one of euler, heun)") != NULL, "%s", e.msg);
    SamplerDiscretization d;
    CHECK(sampler_parse_discretization("cosine", &d, &e) == -1 && strstr(e.msg, "vp, ve, iddpm, edm"), "%s", e.msg);
    SamplerSchedule sc;
    CHECK(sampler_parse_schedule("edm", &sc, &e) == -1 && strstr(e.msg, "vp, ve, linear"), "%s", e.msg);
    SamplerScaling sl;
    CHECK(sampler_parse_scaling("ve", &sl, &e) == -1 && strstr(e.msg, "vp, none"), "%s", e.msg);

    SamplerPlan p;
    SamplerOptions o = sampler_options_default();
    o.num_steps = 1;
    CHECK(sampler_plan(&p, &o, &e) == -1 && strstr(e.msg, "--num_steps must be from 2 to 1000000 (got 1)"), "%s", e.msg);
    o.num_steps = 2147483647;   /* its N + 1 time steps overflowed an int into a 16 EiB allocation */
    CHECK(sampler_plan(&p, &o, &e) == -1 && strstr(e.msg, "--num_steps must be from 2 to 1000000 (got 2147483647)"),
          "%s", e.msg);
    o = sampler_options_default();
    o.sigma_min = -1;   /* once said "the noise range [0, 80] is empty": the clamp to the model's range hid it */
    CHECK(sampler_plan(&p, &o, &e) == -1 && strstr(e.msg, "--sigma_min must be a finite noise level > 0 (got -1)"),
          "%s", e.msg);
    o = sampler_options_default();
    o.sigma_max = 0;
    CHECK(sampler_plan(&p, &o, &e) == -1 && strstr(e.msg, "--sigma_max must be a noise level > 0 (got 0)"), "%s", e.msg);
    o = sampler_options_default();
    o.S_churn = -1;
    CHECK(sampler_plan(&p, &o, &e) == -1 && strstr(e.msg, "--S_churn and --S_noise must be >= 0"), "%s", e.msg);
    o = sampler_options_default();
    o.rho = 0;
    CHECK(sampler_plan(&p, &o, &e) == -1 && strstr(e.msg, "--rho must be > 0 (got 0)"), "%s", e.msg);
    o = sampler_options_default();
    o.S_noise = INFINITY;
    CHECK(sampler_plan(&p, &o, &e) == -1 && strstr(e.msg, "--rho and --S_noise must be finite (got 7 and inf)"), "%s",
          e.msg);
    o = sampler_options_default();
    o.rho = INFINITY;
    CHECK(sampler_plan(&p, &o, &e) == -1 && strstr(e.msg, "--rho and --S_noise must be finite (got inf and 1)"), "%s",
          e.msg);
    o = sampler_options_default();
    o.net_sigma_max = 0.001;   /* a network that supports no noise level in the default range */
    CHECK(sampler_plan(&p, &o, &e) == -1 && strstr(e.msg, "noise range [0.002, 0.001] is empty"), "%s", e.msg);
}

/* A stop request abandons the run before the next step: the steps done are returned, no further
 * denoiser call is made, and without a request every step runs. */
typedef struct {
    int steps_seen, stop_before;
} StopAfter;

static void count_step(void *ctx, int step, const double *x, int n) { ((StopAfter *)ctx)->steps_seen = step + 1; }
static int stop_when_due(void *ctx) { return ((StopAfter *)ctx)->steps_seen >= ((StopAfter *)ctx)->stop_before; }

static void stop_request_ends_the_run_between_steps(void) {
    SamplerOptions o = sampler_options_default();
    o.num_steps = 10;
    SamplerPlan p;
    Error e;
    CHECK(sampler_plan(&p, &o, &e) == 0, "%s", e.msg);
    Analytic a = {.plan = &p};
    double x[NIMG * DIM];
    int stops[] = {4, 10, 1000};   /* 10 and beyond: never asked to stop */
    for (size_t k = 0; k < ARRAY_LEN(stops); k++) {
        StopAfter st = {0, stops[k]};
        latents(x);
        a.calls = 0;
        SamplerCallbacks cb = {.denoise = gaussian_denoise, .ctx = &a, .on_step = count_step, .step_ctx = &st,
                               .stop = stop_when_due};
        int want = MIN(stops[k], 10), done = sampler_run(&p, &cb, x, NIMG, DIM, NULL);
        /* Heun: two denoiser calls per step but the last */
        CHECK(done == want && st.steps_seen == want && a.calls == 2 * want - (want == 10),
              "stop after %d: %d steps done, %d seen, %d calls", stops[k], done, st.steps_seen, a.calls);
    }
    sampler_plan_free(&p);
}

int main(void) {
    RUN(discretizations_give_the_papers_time_steps);
    RUN(every_ablation_converges_to_the_exact_solution);
    RUN(final_samples_match_the_exact_end_point);
    RUN(churn_noise_belongs_to_the_seed);
    RUN(churn_sampler_samples_the_data_distribution);
    RUN(bad_options_are_refused);
    RUN(stop_request_ends_the_run_between_steps);
    return test_summary();
}
