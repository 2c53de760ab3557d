/* `maskdit-convert bench DIR`: how fast the training reader delivers this dataset on this node:
 * every rank reads its slices of consecutive global batches (random global order, fresh latents,
 * prefetch as in training) for a few seconds and reports samples/s and MB/s of stored data read. */
#include <string.h>
#include <time.h>

#include "../mpi/dist.h"
#include "../src/data/format.h"
#include "../src/util/numtext.h"
#include "convert.h"

static const char USAGE[] =
    "usage: maskdit-convert bench DIR [options]\n"
    "Measures the training reader on the dataset in DIR (every rank reads its share of each batch).\n"
    "  --batch N            samples per rank and step (default 256)\n"
    "  --seconds S          how long to measure (default 3)\n"
    "  --seed N             shuffle / latent seed (default 0)\n"
    "  --xflip              random x-flips\n"
    "  --resampled          draw with replacement instead of epoch permutations\n"
    "  --no-prefetch        read in the calling thread only\n";

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int convert_bench_command(int argc, char **argv, const Dist *dist, Error *e) {
    const char *root = NULL, *batch_text = NULL, *seconds_text = NULL, *seed_text = NULL;
    int xflip = 0, resampled = 0, no_prefetch = 0;
    const ConvertArg args[] = {{"--batch", &batch_text, NULL}, {"--seconds", &seconds_text, NULL},
                               {"--seed", &seed_text, NULL},   {"--xflip", NULL, &xflip},
                               {"--resampled", NULL, &resampled}, {"--no-prefetch", NULL, &no_prefetch},
                               {NULL, &root, NULL},           {NULL, NULL, NULL}};
    int r = convert_parse_args(argc, argv, args, NULL, USAGE, e);
    if (r != 0) return r < 0 ? -1 : 0;
    long long batch = 256, seconds = 3, seed = 0;
    if (!root) return error_set(e, "bench: no dataset directory given");
    if ((batch_text && parse_whole("--batch", batch_text, 1, 1 << 20, &batch, e) < 0) ||
        (seconds_text && parse_whole("--seconds", seconds_text, 1, 3600, &seconds, e) < 0) ||
        (seed_text && parse_whole("--seed", seed_text, 0, 1LL << 62, &seed, e) < 0))
        return -1;
    int rank, world;
    rank = dist->rank;
    world = dist->world;
    ReaderOptions ro = {.root = root, .seed = (uint64_t)seed, .xflip = xflip, .resampled = resampled,
                        .prefetch = !no_prefetch};
    DatasetInfo info;
    Reader *reader = reader_open(&ro, &info, e);
    if (!reader) return -1;
    size_t sample = (size_t)info.channels * (size_t)info.resolution * (size_t)info.resolution;
    double row_bytes = (double)(sample * (size_t)(strcmp(info.kind, "moments") ? 1 : 2)) * dataset_dtype_size(info.dtype);
    float *x = xmalloc((size_t)batch * sample * sizeof *x, "batch");
    int32_t *labels = xmalloc((size_t)batch * sizeof *labels, "labels");
    int global = (int)batch * world;
    long long step = 0, samples = 0;
    double start = 0, cpu_start = 0;
    for (int done = 0; r == 0 && !done; step++) {
        uint64_t g0, next;
        int n, next_n;
        reader_rank_slice((uint64_t)step, global, rank, world, &g0, &n);
        reader_rank_slice((uint64_t)step + 1, global, rank, world, &next, &next_n);
        r = reader_read(reader, g0, n, x, labels, (int64_t)next, e);
        if (step == 0) { /* the first batch fills the pipeline */
            start = now_seconds();
            cpu_start = cpu_seconds();
        }
        else samples += n;
        done = step > 0 && now_seconds() - start >= (double)seconds;
    }
    double elapsed = now_seconds() - start, cpu = cpu_seconds() - cpu_start;
    reader_close(reader);
    free(x);
    free(labels);
    if (r < 0) return -1;
    double rate = (double)samples / elapsed, slowest = rate;
    slowest = dist_min_double(dist, rate);
    /* CPU time per sample is the steadier number on a shared machine. */
    printf("reader %s: rank %d: %.0f samples/s, %.1f MB/s read, %.1f us CPU per sample (%s %dx%dx%d %s, batch %lld, "
           "prefetch %s%s)\n", root, rank, rate, rate * row_bytes / 1e6, 1e6 * cpu / (double)samples, info.kind,
           info.stored_channels, info.resolution, info.resolution, info.dtype, batch, no_prefetch ? "off" : "on",
           xflip ? ", xflip" : "");
    fflush(stdout);
    if (rank == 0 && world > 1) printf("reader %s: slowest rank %.0f samples/s\n", root, slowest);
    return 0;
}
