/* The EDM sampler (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative
 * Models"): the deterministic Heun sampler with optional stochastic churn (Algorithm 2), and the
 * generalised sampler of the paper's ablations (Table 1): solver, time-step discretization, noise
 * schedule sigma(t) and signal scaling s(t). The default options are exactly the original
 * edm_sampler (Heun, EDM discretization, sigma(t) = t, s(t) = 1).
 *
 * The state is float64 throughout. The sampler does not know about networks or labels: it calls a
 * denoiser D(x; sigma) through a callback, so it runs the same against the MaskDiT model
 * (src/sample/guided.h) and against analytic denoisers in the tests. */
#ifndef MASKDIT_SAMPLER_H
#define MASKDIT_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "../util/common.h"

typedef enum { SOLVER_EULER, SOLVER_HEUN } SamplerSolver;
typedef enum { DISCRETIZATION_VP, DISCRETIZATION_VE, DISCRETIZATION_IDDPM, DISCRETIZATION_EDM } SamplerDiscretization;
typedef enum { SCHEDULE_VP, SCHEDULE_VE, SCHEDULE_LINEAR } SamplerSchedule;
typedef enum { SCALING_VP, SCALING_NONE } SamplerScaling;

/* More steps than any sampler uses (EDM: 18 to 256); bounds what a plan allocates. */
#define SAMPLER_MAX_STEPS 1000000

typedef struct {
    int num_steps;                    /* N in [2, SAMPLER_MAX_STEPS] noise levels before the final step to sigma = 0 */
    double sigma_min, sigma_max;      /* NAN: the discretization's default range */
    double rho;                       /* EDM discretization exponent */
    SamplerSolver solver;
    SamplerDiscretization discretization;
    SamplerSchedule schedule;
    SamplerScaling scaling;
    double S_churn, S_min, S_max, S_noise;   /* stochastic churn (S_churn 0 = deterministic) */
    double net_sigma_min, net_sigma_max;     /* the range the network supports (ModelConfig) */
} SamplerOptions;

/* The original edm_sampler: 18 steps, sigma 0.002..80, rho 7, Heun, EDM discretization, linear
 * schedule, no scaling, no churn (S_min 0, S_max inf, S_noise 1), network range [0, inf). */
SamplerOptions sampler_options_default(void);

/* Option names as the command line spells them ("heun", "edm", "linear", "none"). Parsing returns
 * -1 with a message listing the valid names. */
int sampler_parse_solver(const char *s, SamplerSolver *out, Error *e);
int sampler_parse_discretization(const char *s, SamplerDiscretization *out, Error *e);
int sampler_parse_schedule(const char *s, SamplerSchedule *out, Error *e);
int sampler_parse_scaling(const char *s, SamplerScaling *out, Error *e);
/* One line, e.g. "heun, edm discretization, linear schedule, no scaling, 18 steps, sigma 0.002..80". */
void sampler_describe(const SamplerOptions *o, char *buf, size_t len);

/* Everything that does not depend on the images: the time steps and the schedule constants. */
typedef struct {
    SamplerOptions opt;               /* with sigma_min/max resolved and clamped to the network range */
    double *t_steps;                  /* num_steps + 1 times; t_steps[num_steps] = 0 */
    double vp_beta_d, vp_beta_min;    /* VP schedule constants fitted to [sigma_min, sigma_max] */
} SamplerPlan;

/* Returns -1 with a message for unusable options (fewer than 2 steps, an empty or inverted noise
 * range, negative churn settings, ...). */
int sampler_plan(SamplerPlan *p, const SamplerOptions *o, Error *e);
void sampler_plan_free(SamplerPlan *p);

/* Noise level sigma(t) and scaling s(t) of the plan's schedule. */
double sampler_sigma(const SamplerPlan *p, double t);
double sampler_scale(const SamplerPlan *p, double t);

typedef struct {
    /* D(x; sigma) for n images of dim values each (x, D_out: [n*dim] float64). */
    void (*denoise)(void *ctx, const double *x, int n, double sigma, double *D_out);
    void *ctx;
    /* Optional: called after step i (0-based) with the state x_{i+1}. */
    void (*on_step)(void *step_ctx, int step, const double *x, int n);
    void *step_ctx;
    /* Optional: asked before every step (with step_ctx); nonzero abandons the run there. */
    int (*stop)(void *step_ctx);
} SamplerCallbacks;

/* Sample n images of dim values. x: in, the unit-normal latents of each image; out, the samples.
 * seeds[n] key each image's churn noise (streams.h), so an image does not depend on the others in
 * its batch; NULL is allowed when S_churn is 0. Returns the steps done: num_steps, or fewer when
 * cb->stop asked to stop (x then holds an intermediate state, no sample). */
int sampler_run(const SamplerPlan *p, const SamplerCallbacks *cb, double *x, int n, size_t dim,
                 const uint32_t *seeds);

#endif
