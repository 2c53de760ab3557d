/* `maskdit-convert verify DIR`: reads every shard through HDF5 (independently of the reader's raw
 * path) and checks what the reader relies on: the index, each shard's attributes, shapes, dtypes and
 * layout, the label range, every value finite (and within [-1, 1] for pixels), the checksums the
 * converter recorded. Shards are spread over the ranks. Every problem is printed with the shard and
 * the dataset it concerns; the command fails if there was any. */
#include <dirent.h>
#include <math.h>
#include <string.h>
#include <zlib.h>

#include "../mpi/dist.h"
#include "../src/data/format.h"
#include "../src/util/h5util.h"
#include "../src/util/half.h"
#include "convert.h"

static const char USAGE[] =
    "usage: maskdit-convert verify DIR\n"
    "Checks every shard of the dataset in DIR (shapes, dtypes, attributes, label range, NaN/Inf,\n"
    "checksums, counts against the index). Exits non-zero naming the shard and dataset on a problem.\n";

/* The crc32 attribute of a dataset, if the converter wrote one (-1 otherwise). */
static long long stored_crc(hid_t file, const char *dset) {
    long long crc = -1;
    if (H5Aexists_by_name(file, dset, DATASET_CRC_ATTR, H5P_DEFAULT) > 0 &&
        h5_attr_int64(file, "", dset, DATASET_CRC_ATTR, &crc, NULL) < 0)
        crc = -1;
    return crc;
}

/* Reads `latents` chunk by chunk and checks the values and the checksum. */
static int check_values(hid_t file, const char *path, const DatasetInfo *info, const ShardLayout *l, Error *e) {
    hid_t d = H5Dopen2(file, DATASET_LATENTS, H5P_DEFAULT);
    if (d < 0) return error_set(e, "%s: cannot open dataset latents", path);
    size_t elems = l->row_bytes / (size_t)dataset_dtype_size(info->dtype);
    long long rows = MAX(1, MIN(l->chunk_rows, 1024));
    unsigned char *raw = xmalloc((size_t)rows * l->row_bytes, "verify block");
    float *x = xmalloc((size_t)rows * elems * sizeof *x, "verify block");
    hid_t type = dataset_file_type(info->dtype), fspace = H5Dget_space(d);
    uLong crc = crc32(0L, Z_NULL, 0);
    int pixels = !strcmp(info->kind, "pixels"), r = 0;
    for (long long first = 0; r == 0 && first < l->rows; first += rows) {
        hsize_t n = (hsize_t)MIN(rows, l->rows - first);
        hsize_t start[4] = {(hsize_t)first, 0, 0, 0};
        hsize_t count[4] = {n, (hsize_t)info->stored_channels, (hsize_t)info->resolution, (hsize_t)info->resolution};
        hid_t mspace = H5Screate_simple(4, count, NULL);
        if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(d, type, mspace, fspace, H5P_DEFAULT, raw) < 0)
            r = error_set(e, "%s: dataset latents: reading rows %lld..%lld failed (damaged file)", path, first,
                          first + (long long)n - 1);
        H5Sclose(mspace);
        if (r) break;
        crc = crc32_z(crc, raw, (size_t)n * l->row_bytes);
        if (dataset_dtype_size(info->dtype) == 2) half_to_float_n((const uint16_t *)raw, x, (size_t)n * elems);
        else memcpy(x, raw, (size_t)n * l->row_bytes);
        size_t i = dataset_first_bad_value(pixels, x, (size_t)n * elems);
        if (i < (size_t)n * elems && !isfinite(x[i]))
            r = error_set(e, "%s: dataset latents: row %lld contains NaN or Inf", path, first + (long long)(i / elems));
        else if (i < (size_t)n * elems)
            r = error_set(e, "%s: dataset latents: row %lld holds %g, " DATASET_PIXEL_RULE, path,
                          first + (long long)(i / elems), x[i]);
    }
    long long want = stored_crc(file, "/" DATASET_LATENTS);
    if (r == 0 && want >= 0 && (uLong)want != crc)
        r = error_set(e, "%s: dataset latents: checksum mismatch (crc32 %08lx, recorded %08llx): the data is corrupted",
                      path, crc, want);
    H5Sclose(fspace);
    H5Tclose(type);
    H5Dclose(d);
    free(raw);
    free(x);
    return r;
}

static int check_shard(const char *root, const DatasetInfo *info, int s, long long first, long long rows, Error *e) {
    char path[4096];
    dataset_shard_path(root, s, path, sizeof path);
    ShardLayout layout;
    hid_t file;
    int32_t *labels = xmalloc((size_t)rows * sizeof *labels, "labels");
    int r = dataset_shard_open(root, info, s, first, rows, &layout, labels, &file, e);
    if (r == 0) {
        r = check_values(file, path, info, &layout, e);
        long long want = stored_crc(file, "/" DATASET_LABELS);
        uLong crc = crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)labels, (size_t)rows * sizeof *labels);
        if (r == 0 && want >= 0 && (uLong)want != crc)
            r = error_set(e, "%s: dataset labels: checksum mismatch: the labels are corrupted", path);
        H5Fclose(file);
        shard_layout_free(&layout);
    }
    free(labels);
    return r;
}

/* Shard files beyond the index and leftovers of an interrupted conversion: worth a warning. */
static void warn_strays(const char *root, int num_shards) {
    DIR *dir = opendir(root);
    if (!dir) return;
    for (struct dirent *ent; (ent = readdir(dir));) {
        int k, end = 0;
        if (sscanf(ent->d_name, "shard-%d.h5%n", &k, &end) == 1 && end && (ent->d_name[end] || k >= num_shards))
            warn("%s/%s is not part of the dataset (left over from an interrupted or other conversion)", root,
                 ent->d_name);
    }
    closedir(dir);
}

int convert_verify_command(int argc, char **argv, const Dist *dist, Error *e) {
    const char *root = NULL;
    const ConvertArg args[] = {{NULL, &root, NULL}, {NULL, NULL, NULL}};
    int r = convert_parse_args(argc, argv, args, NULL, USAGE, e);
    if (r != 0) return r < 0 ? -1 : 0;
    if (!root) return error_set(e, "verify: no dataset directory given");
    int rank, world;
    rank = dist->rank;
    world = dist->world;
    DatasetInfo info;
    long long *rows;
    if (dataset_index_read(root, &info, &rows, e) < 0) return -1;
    if (rank == 0) warn_strays(root, info.num_shards);
    int bad = 0;
    Error first_problem = {{0}}, problem;
    long long first = 0;
    for (int s = 0; s < info.num_shards; s++) {
        if (s % world == rank && check_shard(root, &info, s, first, rows[s], &problem) < 0) {
            fprintf(stderr, "maskdit-convert verify: %s\n", problem.msg);
            if (!bad++) first_problem = problem;
        }
        first += rows[s];
    }
    free(rows);
    int total_bad = bad;
    total_bad = dist_sum_int(dist, bad);
    if (total_bad == 0) {
        if (rank == 0) printf("%s: OK: %lld samples in %d shards\n", root, info.count, info.num_shards);
        return 0;
    }
    if (bad == 1 && total_bad == 1) {
        *e = first_problem;
        return -1;
    }
    return error_set(e, "verify: %d of %d shards of %s have problems%s%s", total_bad, info.num_shards, root,
                     bad ? ", the first: " : " (see the messages above)", bad ? first_problem.msg : "");
}
