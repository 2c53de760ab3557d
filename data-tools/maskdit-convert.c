/* maskdit-convert: datasets -> HDF5 shards for MaskDiT-C training, and tools to inspect them
 * (docs/maskdit-convert.md). An MPI program: `lmdb`, `idx`, `npy`, `npz` spread the shards over
 * the ranks; run it with one process or with mpirun / srun. */
#include <string.h>

#include "../mpi/dist.h"
#include "../src/util/h5util.h"
#include "convert.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv, const Dist *dist, Error *e);
    const char *summary;
} Command;

static const Command COMMANDS[] = {
    {"lmdb", convert_lmdb_command, "the original MaskDiT latent LMDB (VAE moments) -> shards"},
    {"idx", convert_idx_command, "MNIST-format IDX images + labels (e.g. Fashion-MNIST) -> pixel shards"},
    {"npy", convert_npy_command, "NumPy .npy arrays (moments, latents or pixels; labels) -> shards"},
    {"npz", convert_npz_command, "a NumPy .npz archive (numpy.savez / savez_compressed) -> shards"},
    {"info", convert_info_command, "summary of a dataset"},
    {"verify", convert_verify_command, "check every shard of a dataset"},
    {"bench", convert_bench_command, "measure the training reader on a dataset"},
};

static void usage(FILE *to) {
    fprintf(to, "usage: maskdit-convert COMMAND [options]   (maskdit-convert COMMAND --help for its options)\n");
    for (size_t i = 0; i < ARRAY_LEN(COMMANDS); i++) fprintf(to, "  %-8s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
}

int main(int argc, char **argv) {
    Dist dist;
    dist_init(&dist, &argc, &argv);
    h5_quiet();
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        dist_finalize(&dist);
        return argc < 2 ? EXIT_FAILURE_STATUS : 0;
    }
    const Command *cmd = NULL;
    for (size_t i = 0; i < ARRAY_LEN(COMMANDS); i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) cmd = &COMMANDS[i];
    if (!cmd) {
        usage(stderr);
        die("unknown command '%s'", argv[1]);
    }
    Error e = {{0}};
    if (cmd->run(argc - 1, argv + 1, &dist, &e) < 0) die("%s", e.msg);
    dist_finalize(&dist);
    return 0;
}
