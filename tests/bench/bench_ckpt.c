/* Checkpoint write throughput (GB/s) of ckpt_save under mpirun, next to a baseline measured in the
 * same run: every rank writing its share of the same number of bytes to its own file with plain
 * write() + fsync (what the disk gives without HDF5 or MPI-IO). Also the read throughput of
 * ckpt_load (rank 0 reading everything, as a resume does).
 *
 *   mpirun -np 2 bin/bench/bench_ckpt [--model-type DiT-XL/2] [--dir DIR] [--repeat N]
 *
 * The default DiT-B/2 (130M parameters, 2.1 GB per checkpoint) suits a workstation; DiT-XL/2
 * (730M parameters: model + ema + two moments = 11.7 GB) is the size of the original's runs. To
 * keep memory low, model/ema and the two moments share their buffers (the writer does not care). */
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>

#include "../../mpi/dist.h"
#include <string.h>
#include <unistd.h>

#include "../../src/ckpt/ckpt.h"
#include "../../src/util/h5util.h"

static Dist dist;
static int rank, world;

static double timed_barrier(void) {
    MPI_Barrier(MPI_COMM_WORLD);
    return now_seconds();
}

/* The baseline: each rank writes bytes/world to its own file in 8 MiB pieces, then fsync. */
static double raw_write_seconds(const char *dir, size_t bytes, const void *src, size_t src_len) {
    char path[600];
    snprintf(path, sizeof path, "%s/bench-raw.%d", dir, rank);
    size_t mine = bytes / (size_t)world, piece = 8u << 20;
    double t0 = timed_barrier();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("%s: %s", path, strerror(errno));
    for (size_t done = 0; done < mine;) {
        size_t n = MIN(piece, mine - done);
        ssize_t w = write(fd, (const char *)src + done % (src_len - piece), n);
        if (w <= 0) die("%s: write failed: %s", path, strerror(errno));
        done += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) die("%s: fsync failed: %s", path, strerror(errno));
    double t1 = timed_barrier();
    unlink(path);
    return t1 - t0;
}

int main(int argc, char **argv) {
    dist_init(&dist, &argc, &argv);
    rank = dist.rank;
    world = dist.world;
    h5_quiet();
    const char *type = "DiT-B/2", *dir = "/tmp";
    int repeat = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model-type") == 0 && i + 1 < argc) type = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) dir = argv[++i];
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else die("usage: bench_ckpt [--model-type DiT-XL/2] [--dir DIR] [--repeat N]");
    }
    ModelConfig c = model_config_default();
    Error e;
    if (model_config_apply_type(&c, type, &e) < 0) die("%s", e.msg);
    ParamTable t;
    param_table_build(&t, &c);
    float *weights = xmalloc(t.total * sizeof(float), "weights");
    for (size_t i = 0; i < t.total; i++) weights[i] = (float)(i % 1000) * 1e-3f;
    CkptTensors ts = {weights, weights, weights, weights};
    CkptMeta meta = {.step = 1000, .sample_cursor = 256000, .loss_scale = 1, .lr = 1e-4, .precision = "fp32"};
    size_t bytes = (2 * t.total + 2 * t.n_trainable) * sizeof(float);
    char path[600], gb[32];
    snprintf(path, sizeof path, "%s/bench-ckpt.h5", dir);
    if (rank == 0)
        printf("checkpoint of %s: %zu parameters, %s per file (model, ema, exp_avg, exp_avg_sq), %d ranks, in %s\n",
               type, t.n_trainable, format_bytes((double)bytes, gb, sizeof gb), world, dir);
    double best_raw = 1e30, best_save = 1e30, best_load = 1e30;
    for (int r = 0; r < repeat; r++) {
        double raw = raw_write_seconds(dir, bytes, weights, t.total * sizeof(float));
        best_raw = MIN(best_raw, raw);
        double t0 = timed_barrier();
        if (ckpt_save(path, &dist, &t, &ts, &meta, &e) < 0) die("%s", e.msg);
        double t1 = timed_barrier();
        best_save = MIN(best_save, t1 - t0);
        if (rank == 0) {
            CkptTensors back = {weights, NULL, NULL, NULL};
            double l0 = now_seconds();
            if (ckpt_load(path, &t, &back, NULL, 1, &e) < 0) die("%s", e.msg);
            best_load = MIN(best_load, now_seconds() - l0);
        }
        if (rank == 0)
            printf("  round %d: raw write %.2f s, ckpt_save %.2f s\n", r + 1, raw, t1 - t0);
    }
    if (rank == 0) {
        double g = (double)bytes / 1e9;
        printf("raw write+fsync   %6.2f GB/s  (baseline: %d ranks, one file each)\n", g / best_raw, world);
        printf("ckpt_save         %6.2f GB/s  = %.2f x baseline (parallel HDF5, fsync, read-back check, rename)\n",
               g / best_save, best_raw / best_save);
        printf("ckpt_load (model) %6.2f GB/s  (rank 0, one section of %.2f GB)\n",
               (double)t.total * 4 / 1e9 / best_load, (double)t.total * 4 / 1e9);
        unlink(path);
    }
    free(weights);
    param_table_free(&t);
    dist_finalize(&dist);
    return 0;
}
