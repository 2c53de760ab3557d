/* maskdit-fid: FID statistics of images and the Fréchet distance between statistics
 * (docs/evaluation.md).
 *
 *   maskdit-fid stats --inception W.pth --npz IMAGES.npz --out STATS.npz [--num N] [--batch B]
 *   maskdit-fid compare A.npz B.npz
 * The network and the statistics are in src/eval/. With mpirun, ranks split the images and add
 * their float64 sums; rank 0 writes the statistics. */
#include <string.h>

#include "../mpi/dist.h"
#include "../src/eval/fid_stats_file.h"
#include "../src/eval/image_npz.h"
#include "../src/eval/inception.h"
#include "../src/util/numtext.h"
#include "../src/util/options.h"

static const char *USAGE =
    "usage: maskdit-fid stats --inception W.pth --npz IMAGES.npz --out STATS.npz [options]\n"
    "       maskdit-fid compare A.npz B.npz\n"
    "  stats    Inception features of the images of an ADM sample batch (arr_0, uint8 [N, H, W, 3], or\n"
    "           grayscale [N, H, W], repeated to 3 channels) to\n"
    "           statistics: mu [2048] and sigma [2048, 2048] (float64, unbiased), and sFID's mu_s and\n"
    "           sigma_s [2023]\n"
    "  compare  prints \"FID <value>\" between two statistics files (mu, sigma: EDM/ADM reference files\n"
    "           or what stats writes), and \"sFID <value>\" when both hold mu_s and sigma_s\n"
    "W.pth: pytorch-fid's pt_inception-2015-12-05-6726825d.pth. Options of stats:\n"
    "  --num N                  only the first N images (default all)\n"
    "  --batch B                images per rank and batch (default 16)\n"
    "  --device cpu|cuda|auto   (default auto)   --precision fp32|bf16|fp16|auto (default fp32)\n"
    "With mpirun, ranks split the images; rank 0 writes --out.\n";

enum { INCEPTION, NPZ, OUT, NUM, BATCH, DEVICE, PRECISION };

static const OptionSpec OPTIONS[] = {
    {"--inception", OPTION_TAKES_VALUE, INCEPTION}, {"--npz", OPTION_TAKES_VALUE, NPZ},
    {"--out", OPTION_TAKES_VALUE, OUT},             {"--num", OPTION_TAKES_VALUE, NUM},
    {"--batch", OPTION_TAKES_VALUE, BATCH},         {"--device", OPTION_TAKES_VALUE, DEVICE},
    {"--precision", OPTION_TAKES_VALUE, PRECISION},
};

typedef struct {
    const char *inception, *npz, *out, *device, *precision;
    long long num;
    int batch;
} StatsArgs;

/* Returns 1 when only the usage was asked for. */
static int parse_stats_args(int argc, char **argv, StatsArgs *a) {
    OptionParser p = option_parser(argc, argv, OPTIONS, ARRAY_LEN(OPTIONS), "maskdit-fid stats", 0);
    const char *v;
    Error e;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        long long n;
        switch (id) {
        case OPTION_HELP: fputs(USAGE, stdout); return 1;
        case OPTION_ERROR: die("%s", e.msg);
        case INCEPTION: a->inception = v; break;
        case NPZ: a->npz = v; break;
        case OUT: a->out = v; break;
        case NUM:
            if (parse_whole(p.option, v, 2, (long long)1 << 40, &a->num, &e)) die("%s", e.msg);
            break;
        case BATCH:
            if (parse_whole(p.option, v, 1, 1 << 12, &n, &e)) die("%s", e.msg);
            a->batch = (int)n;
            break;
        case DEVICE: a->device = v; break;
        case PRECISION: a->precision = v; break;
        }
    }
    if (!a->inception) die("maskdit-fid stats: --inception W.pth is required (see --help)");
    if (!a->npz) die("maskdit-fid stats: --npz IMAGES.npz is required (see --help)");
    if (!a->out) die("maskdit-fid stats: --out STATS.npz is required (see --help)");
    return 0;
}

/* The sums of every rank added on every rank. */
static void reduce_sums(const Dist *d, FidSums *s) {
    double count = (double)s->count;
    dist_allreduce_sum_double(d, &count, 1);
    s->count = (long long)count;
    dist_allreduce_sum_double(d, s->sum, s->dim);
    dist_allreduce_sum_double(d, s->outer, s->dim * s->dim);
}

static int cmd_stats(const Dist *d, const StatsArgs *a) {
    Error e;
    ImageNpz in;
    if (image_npz_open(&in, a->npz, &e) < 0) die("%s", e.msg);
    if (a->num > in.count) die("--num %lld: %s holds only %lld images", a->num, a->npz, in.count);
    const long long total = a->num ? a->num : in.count;
    if (total < 2) die("%s: %lld image(s); FID statistics need at least 2", a->npz, total);
    Backend *be = backend_create(a->device, d->local_rank, a->precision, 0, 0);
    Inception *net = inception_load(be, a->inception, &e);
    if (!net) die("%s", e.msg);
    info("Inception features of %lld images of %dx%d from %s on %d rank(s), %s", total, in.H, in.W, a->npz,
         d->world, be->device_name(be));
    FidSums pool, spatial;
    fid_sums_init(&pool, INCEPTION_POOL_DIM);
    fid_sums_init(&spatial, INCEPTION_SPATIAL_DIM);
    const size_t image = (size_t)in.H * in.W * 3;
    uint8_t *images = xmalloc(a->batch * image, "images");
    float *pf = xmalloc((size_t)a->batch * INCEPTION_POOL_DIM * sizeof *pf, "pool features");
    float *sf = xmalloc((size_t)a->batch * INCEPTION_SPATIAL_DIM * sizeof *sf, "spatial features");
    const long long lo = total * d->rank / d->world, hi = total * (d->rank + 1) / d->world;
    for (long long i = lo; i < hi; i += a->batch) {
        const int n = (int)(hi - i < a->batch ? hi - i : a->batch);
        if (image_npz_read(&in, i, n, images, &e) < 0) die("%s", e.msg);
        inception_features(net, images, n, in.H, in.W, pf, NULL, sf);
        fid_sums_add(&pool, pf, n);
        fid_sums_add(&spatial, sf, n);
    }
    free(images), free(pf), free(sf);
    reduce_sums(d, &pool);
    reduce_sums(d, &spatial);
    if (d->rank == 0) {
        FidStats sp, ss;
        if (fid_stats_from_sums(&pool, &sp, &e) < 0 || fid_stats_from_sums(&spatial, &ss, &e) < 0)
            die("%s: %s", a->npz, e.msg);
        if (fid_stats_write(a->out, &sp, &ss, &e) < 0) die("%s", e.msg);
        info("statistics of %lld images written to %s", pool.count, a->out);
        fid_stats_free(&sp), fid_stats_free(&ss);
    }
    fid_sums_free(&pool), fid_sums_free(&spatial);
    inception_free(net);
    be->destroy(be);
    image_npz_close(&in);
    return 0;
}

/* Reads mu_key/sigma_key of both files; 0 when either lacks them and `optional`. */
static int distance(const char *a, const char *b, const char *mu_key, const char *sigma_key, int optional,
                    double *out) {
    FidStats sa, sb;
    Error e;
    if (fid_stats_read(a, mu_key, sigma_key, &sa, &e) < 0) {
        if (optional) return 0;
        die("%s", e.msg);
    }
    if (fid_stats_read(b, mu_key, sigma_key, &sb, &e) < 0) {
        fid_stats_free(&sa);
        if (optional) return 0;
        die("%s", e.msg);
    }
    if (fid_distance(&sa, &sb, out, &e) < 0) die("%s and %s (%s, %s): %s", a, b, mu_key, sigma_key, e.msg);
    fid_stats_free(&sa), fid_stats_free(&sb);
    return 1;
}

static int cmd_compare(int argc, char **argv) {
    OptionParser p = option_parser(argc, argv, NULL, 0, "maskdit-fid compare", 2);
    const char *files[2] = {NULL, NULL}, *v;
    int n = 0;
    Error e;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        if (id == OPTION_HELP) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (id == OPTION_ERROR) die("%s", e.msg);
        files[n++] = v;
    }
    if (n < 2) die("maskdit-fid compare needs two statistics files\n%s", USAGE);
    double fid, sfid;
    distance(files[0], files[1], "mu", "sigma", 0, &fid);
    printf("FID %.6f\n", fid);
    if (distance(files[0], files[1], "mu_s", "sigma_s", 1, &sfid)) printf("sFID %.6f\n", sfid);
    return 0;
}

int main(int argc, char **argv) {
    Dist d;
    dist_init(&d, &argc, &argv);
    int rc = 0;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (d.rank == 0) fputs(USAGE, argc < 2 ? stderr : stdout);
        rc = argc < 2 ? EXIT_FAILURE_STATUS : 0;
    } else if (strcmp(argv[1], "stats") == 0) {
        StatsArgs a = {.device = "auto", .precision = "fp32", .batch = 16};
        if (!parse_stats_args(argc - 1, argv + 1, &a)) rc = cmd_stats(&d, &a);
    } else if (strcmp(argv[1], "compare") == 0) {
        rc = d.rank == 0 ? cmd_compare(argc - 1, argv + 1) : 0;
    } else {
        die("unknown command '%s'\n%s", argv[1], USAGE);
    }
    dist_finalize(&d);
    return rc;
}
