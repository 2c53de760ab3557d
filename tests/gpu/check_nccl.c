/* check_nccl: the NCCL gradient all-reduce (mpi/gradcomm_nccl.c) across ranks, one GPU each:
 *
 *   mpirun -np G bin/gpu/check_nccl
 *
 * Every rank holds (rank + 1) * v for the same random v over n floats; the backward pass is
 * imitated by handing ready() 41 ranges in reverse order (the middle one out of order, which
 * forces a bucket flush), then finish(). Expected everywhere: v * G (G + 1) / 2, to fp32 rounding
 * of a sum of G terms (relative 1e-6). Also prints the time of the timed rounds and the bus
 * bandwidth (2 (G-1)/G bytes / s, NCCL's convention). */
#include <math.h>
#include <string.h>

#include "../../mpi/dist.h"
#include "../../src/util/rng.h"

#define PIECES 41

static void upload_round(Backend *be, float *grads, const float *v, size_t n, int rank, float *scaled) {
    for (size_t i = 0; i < n; i++) scaled[i] = v[i] * (float)(rank + 1);
    be->to_device(be, grads, scaled, n * sizeof(float));
    be->sync(be);
}

/* ready() in reverse order of PIECES ranges, with the middle range moved to the end. */
static void reduce_round(GradComm *gc, size_t n) {
    size_t cut[PIECES + 1];
    for (int k = 0; k <= PIECES; k++) cut[k] = n * k / PIECES;
    int middle = PIECES / 2;
    for (int k = PIECES - 1; k >= 0; k--)
        if (k != middle) gc->ready(gc, cut[k], cut[k + 1] - cut[k]);
    gc->ready(gc, cut[middle], cut[middle + 1] - cut[middle]);
    gc->finish(gc);
}

int main(int argc, char **argv) {
    Dist d;
    dist_init(&d, &argc, &argv);
    size_t n = (size_t)64 * 1024 * 1024 + 3;
    char err[512];
    Backend *be = backend_cuda_create(d.local_rank, DTYPE_BF16, 0, err, sizeof err);
    if (!be) die("rank %d: %s", d.rank, err);
    float *grads = be->alloc(be, n * sizeof(float), "gradients");
    float *v = xmalloc(n * sizeof *v, "values"), *h = xmalloc(n * sizeof *h, "host copy");
    rng_fill_normal(v, n, 5, RNG_TEST, 0, 0);
    GradComm *gc = gradcomm_nccl_create(&d, be, grads, n, (size_t)25 << 20, err, sizeof err);
    if (!gc) die("rank %d: %s", d.rank, err);

    upload_round(be, grads, v, n, d.rank, h);
    reduce_round(gc, n);
    be->to_host(be, h, grads, n * sizeof(float));
    double k = d.world * (d.world + 1) / 2.0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(h[i] - k * v[i]) / fmax(fabs(k * v[i]), 1e-30);
        if (!(e <= worst)) worst = e;
    }
    int ok = worst <= 1e-6;
    int all_ok = !dist_any(&d, !ok);

    double total = 0;
    const int rounds = 5;
    for (int r = 0; r < rounds; r++) {
        upload_round(be, grads, v, n, d.rank, h);
        dist_barrier(&d);
        double t0 = now_seconds();
        reduce_round(gc, n);
        be->sync(be);
        total += now_seconds() - t0;
    }
    double t = total / rounds, bytes = (double)n * sizeof(float);
    info("NCCL all-reduce of %.0f MiB over %d ranks: %.2f ms per round, bus bandwidth %.1f GB/s", bytes / 1048576,
         d.world, t * 1e3, 2.0 * (d.world - 1) / d.world * bytes / t / 1e9);
    if (d.rank == 0) printf("%s nccl/allreduce %d ranks: worst rel error %.2e (limit 1e-06)\n", all_ok ? "PASS" : "FAIL",
                            d.world, worst);
    gc->destroy(gc);
    be->free(be, grads);
    be->destroy(be);
    free(v);
    free(h);
    dist_finalize(&d);
    return all_ok ? 0 : 1;
}
