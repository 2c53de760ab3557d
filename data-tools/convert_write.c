/* The conversion driver: plans the shards, spreads them over the ranks, skips the ones an earlier
 * run completed, writes the others with bounded memory, and writes the index last. */
#include <string.h>
#include <sys/stat.h>

#include "../mpi/dist.h"
#include "../src/data/shard_writer.h"
#include "../src/util/dirlock.h"
#include "../src/util/fileio.h"
#include "../src/util/progress.h"
#include "convert.h"

/* Samples per read from the source: about 8 MiB of float32 at a time. */
#define READ_BLOCK_BYTES (8 << 20)
/* Default shard size. */
#define SHARD_TARGET_BYTES (1LL << 30)
/* Seconds between progress lines in a log. */
#define PROGRESS_LOG_INTERVAL 30.0

/* The dataset attributes from the source and the options. */
static int describe(const ConvertSource *src, const ConvertOptions *opt, DatasetInfo *info, Error *e) {
    memset(info, 0, sizeof *info);
    snprintf(info->kind, sizeof info->kind, "%s", opt->kind);
    snprintf(info->dtype, sizeof info->dtype, "%s", opt->dtype);
    dataset_set_source(info, opt->source ? opt->source : src->description);
    info->stored_channels = src->channels;
    info->resolution = src->resolution;
    info->count = src->count;
    info->xflip_included = opt->xflip_included;
    int pixels = !strcmp(opt->kind, "pixels");
    info->scale_factor = opt->scale_factor > 0 ? opt->scale_factor : pixels ? 1.0 : 0.18215;
    int largest = 0;
    for (long long i = 0; i < src->count; i++) {
        if (src->labels[i] < 0)
            return error_set(e, "%s: sample %lld has the negative label %d", src->labels_from, i, src->labels[i]);
        largest = MAX(largest, src->labels[i]);
    }
    info->num_classes = opt->num_classes >= 0 ? opt->num_classes : largest + 1;
    int limit = MAX(info->num_classes, 1);
    for (long long i = 0; largest >= limit && i < src->count; i++)
        if (src->labels[i] >= limit)
            return error_set(e, "%s: label %d of sample %lld is outside [0, %d) (--num-classes %d)", src->labels_from,
                             src->labels[i], i, limit, info->num_classes);
    if (src->count < 1) return error_set(e, "%s: no samples", src->description);
    if (src->count > 0xffffffffLL) return error_set(e, "%s: %lld samples: at most 2^32-1 are supported", src->description, src->count);
    return dataset_info_check(info, opt->out, e);
}

/* The samples of this rank's shards: "lmdb -> float16  [####------]  51.2%  655360/1281167  4210/s
 * ETA 2m29s". Samples of shards kept from an earlier run count as done but not in the rate. */
typedef struct {
    Progress line;
    char what[64];
    long long total, done, skipped;
} ConvertProgress;

static void show_progress(ConvertProgress *c, int final) {
    double elapsed = progress_elapsed(&c->line);
    double rate = elapsed > 0 ? (double)(c->done - c->skipped) / elapsed : 0;
    double frac = c->total ? (double)c->done / (double)c->total : 1;
    char bar[PROGRESS_BAR_WIDTH + 1], when[32];
    progress_bar(frac, bar);
    if (final) format_duration(elapsed, when, sizeof when);
    else progress_eta((double)(c->total - c->done), rate, when, sizeof when);
    progress_print(&c->line, final, "%s  [%s] %5.1f%%  %lld/%lld  %.0f/s  %s %s", c->what, bar, 100 * frac, c->done,
                   c->total, rate, final ? "took" : "ETA", when);
}

static void count_progress(ConvertProgress *c, long long n, int skipped) {
    c->done += n;
    if (skipped) c->skipped += n;
    if (progress_due(&c->line)) show_progress(c, 0);
}

/* An existing final shard from an earlier run must be exactly the one this run would write. */
static int keep_existing(const char *out, const DatasetInfo *info, int shard, long long first, long long rows, Error *e) {
    ShardLayout layout;
    if (dataset_shard_open(out, info, shard, first, rows, &layout, NULL, NULL, e) < 0)
        return error_prefix(e, "an existing shard does not match this conversion (remove it, or write to another "
                               "--out directory)");
    shard_layout_free(&layout);
    return 0;
}

static int write_shard(ConvertSource *src, const char *out, const DatasetInfo *info, int shard, long long first,
                       long long rows, float *block, long long block_rows, ConvertProgress *progress, Error *e) {
    ShardWriter *w = shard_writer_open(out, info, shard, first, rows, e);
    if (!w) return -1;
    for (long long done = 0; done < rows;) {
        long long n = MIN(block_rows, rows - done);
        /* A read error names the input already; a refused value ("sample 2: ... NaN") gets it here. */
        int read_failed = src->read(src, first + done, n, block, e) < 0;
        if (read_failed || shard_writer_append(w, block, src->labels + first + done, n, e) < 0) {
            shard_writer_abort(w);
            return read_failed ? -1 : error_prefix(e, "%s", src->description);
        }
        done += n;
        count_progress(progress, n, 0);
    }
    return shard_writer_finish(w, e);
}

int convert_rank0_result(int rc, const Dist *dist, Error *e) {
    dist_bcast(dist, &rc, sizeof rc, 0);
    if (rc < 0) dist_bcast(dist, e->msg, sizeof e->msg, 0);
    return rc;
}

int convert_claim_out(const ConvertOptions *opt, const Dist *dist, Error *e) {
    if (!opt->out) return error_set(e, "no output directory: give --out DIR");
    int rank, rc = 0;
    rank = dist->rank;
    if (rank == 0 && make_dirs(opt->out, e) < 0) rc = error_prefix(e, "--out");
    else if (rank == 0 && dir_lock(opt->out, "maskdit-convert", "write to another --out directory", e) < 0)
        rc = error_prefix(e, "--out %s", opt->out);
    return convert_rank0_result(rc, dist, e);
}

int convert_write_dataset(ConvertSource *src, const ConvertOptions *opt, const Dist *dist, Error *e) {
    if (!opt->out) return error_set(e, "no output directory: give --out DIR");
    DatasetInfo ds;
    if (describe(src, opt, &ds, e) < 0) return -1;
    if (convert_claim_out(opt, dist, e) < 0 || convert_check_input(opt, dist, e) < 0) return -1;
    int rank, world;
    rank = dist->rank;
    world = dist->world;

    size_t row_bytes = (size_t)ds.stored_channels * (size_t)ds.resolution * (size_t)ds.resolution *
                       (size_t)dataset_dtype_size(ds.dtype);
    long long per_shard = opt->shard_size ? opt->shard_size : MAX(1, SHARD_TARGET_BYTES / (long long)row_bytes);
    ds.num_shards = (int)((ds.count + per_shard - 1) / per_shard);
    long long *shard_rows = xmalloc((size_t)ds.num_shards * sizeof *shard_rows, "shard sizes");
    long long mine = 0;
    for (int s = 0; s < ds.num_shards; s++) {
        shard_rows[s] = MIN(per_shard, ds.count - s * per_shard);
        if (s % world == rank) mine += shard_rows[s];
    }

    size_t sample_floats = row_bytes / (size_t)dataset_dtype_size(ds.dtype);
    long long block_rows = MAX(1, READ_BLOCK_BYTES / (long long)(sample_floats * sizeof(float)));
    float *block = xmalloc((size_t)MIN(block_rows, per_shard) * sample_floats * sizeof *block, "conversion block");
    ConvertProgress progress = {.total = mine};
    snprintf(progress.what, sizeof progress.what, "%s -> %s", opt->kind, ds.dtype);
    progress_start(&progress.line, opt->progress, PROGRESS_LOG_INTERVAL);
    if (rank == 0 && opt->progress)
        info("writing %lld samples in %d shards to %s%s", ds.count, ds.num_shards, opt->out,
             world > 1 ? " (progress: rank 0's shards)" : "");
    int r = 0;
    for (int s = rank; r == 0 && s < ds.num_shards; s += world) {
        char path[4096];
        dataset_shard_path(opt->out, s, path, sizeof path);
        struct stat st;
        if (stat(path, &st) == 0) {
            r = keep_existing(opt->out, &ds, s, s * per_shard, shard_rows[s], e);
            count_progress(&progress, shard_rows[s], 1);
        } else {
            r = write_shard(src, opt->out, &ds, s, s * per_shard, shard_rows[s], block, MIN(block_rows, per_shard),
                            &progress, e);
        }
    }
    free(block);
    if (r == 0) {
        show_progress(&progress, 1);
        /* A rank that failed ends the job (the caller dies, which aborts every rank): the index is
         * only written once every shard of every rank is complete. */
        dist_barrier(dist);
        if (rank == 0) r = dataset_index_write(opt->out, &ds, shard_rows, e);
    }
    free(shard_rows);
    return r;
}
