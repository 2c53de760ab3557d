/* `maskdit-convert info DIR`: what a dataset holds, from its index and labels. */
#include <string.h>
#include <sys/stat.h>

#include "../mpi/dist.h"
#include "../src/data/format.h"
#include "convert.h"

static const char USAGE[] =
    "usage: maskdit-convert info DIR\n"
    "Prints a summary of the dataset in DIR: kind, shape, dtype, samples, shards, classes, source.\n";

/* Smallest and largest number of samples per class. */
static void class_balance(const int32_t *labels, long long n, int classes, char *out, size_t len) {
    long long *per = xcalloc((size_t)classes, sizeof *per, "class counts");
    for (long long i = 0; i < n; i++) per[labels[i]]++;
    int lo = 0, hi = 0;
    for (int c = 1; c < classes; c++) {
        if (per[c] < per[lo]) lo = c;
        if (per[c] > per[hi]) hi = c;
    }
    snprintf(out, len, "samples per class: min %lld (class %d), max %lld (class %d)", per[lo], lo, per[hi], hi);
    free(per);
}

int convert_info_command(int argc, char **argv, const Dist *dist, Error *e) {
    const char *root = NULL;
    const ConvertArg args[] = {{NULL, &root, NULL}, {NULL, NULL, NULL}};
    int r = convert_parse_args(argc, argv, args, NULL, USAGE, e);
    if (r != 0) return r < 0 ? -1 : 0;
    if (!root) return error_set(e, "info: no dataset directory given");
    int rank;
    rank = dist->rank;
    DatasetInfo info;
    long long *rows;
    if (dataset_index_read(root, &info, &rows, e) < 0) return -1;
    int32_t *labels = xmalloc((size_t)info.count * sizeof *labels, "labels");
    double bytes = 0;
    long long first = 0;
    for (int s = 0; r == 0 && s < info.num_shards; first += rows[s], s++) {
        ShardLayout layout;
        char path[4096];
        struct stat st;
        r = dataset_shard_open(root, &info, s, first, rows[s], &layout, labels + first, NULL, e);
        dataset_shard_path(root, s, path, sizeof path);
        if (r == 0 && stat(path, &st) == 0) bytes += (double)st.st_size;
        if (r == 0) shard_layout_free(&layout);
    }
    if (r == 0 && rank == 0) {
        char size[32], balance[160] = "unlabelled";
        if (info.num_classes > 0) class_balance(labels, info.count, info.num_classes, balance, sizeof balance);
        printf("dataset      %s (%s version %d)\n", root, DATASET_FORMAT_NAME, DATASET_FORMAT_VERSION);
        printf("kind         %s: %d stored channels -> %d model channels, %dx%d, %s\n", info.kind,
               info.stored_channels, info.channels, info.resolution, info.resolution, info.dtype);
        printf("samples      %lld in %d shards, %s on disk\n", info.count, info.num_shards,
               format_bytes(bytes, size, sizeof size));
        printf("classes      %d (%s)\n", info.num_classes, balance);
        printf("scale        %g%s\n", info.scale_factor, strcmp(info.kind, "pixels") ? "" : " (not applied to pixels)");
        printf("x-flips      %s\n", info.xflip_included ? "included in the data" : "not included");
        printf("source       %s\n", info.source);
    }
    free(labels);
    free(rows);
    return r;
}
