#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "../util/fileio.h"
#include "../util/h5util.h"
#include "../util/half.h"
#include "../util/rng.h"
#include "format.h"
#include "latent.h"
#include "prefetch.h"

typedef struct {
    ShardLayout layout;
    int fd;
    char path[4096];
} Shard;

/* Working memory of one reading thread (the caller's and the prefetch worker's). */
typedef struct {
    int cap;
    long long *rows;          /* dataset row of each requested sample */
    int *order;               /* request indices sorted by row */
    unsigned char *raw;       /* stored bytes of the rows, in sorted order */
    float *decoded;           /* one sample's stored values as float */
    float *eps;               /* one sample's latent noise */
} Scratch;

typedef struct {
    long long epoch;          /* -1: empty */
    uint32_t *perm;
} Permutation;

struct Reader {
    ReaderOptions opt;
    char *root;
    DatasetInfo info;
    Shard *shards;
    int32_t *labels;          /* of every dataset row */
    size_t stored_elems;      /* values per stored sample (stored_channels*H*W) */
    size_t sample_floats;     /* values per delivered sample (channels*H*W) */
    pthread_mutex_t perm_lock;
    Permutation perms[2];     /* the epochs in use: a batch may straddle two */
    Scratch caller, background;
    Prefetcher *prefetcher;
};

static void close_shards(Reader *r) {
    for (int s = 0; s < r->info.num_shards; s++) {
        if (r->shards[s].fd >= 0) close(r->shards[s].fd);
        shard_layout_free(&r->shards[s].layout);
    }
}

static void free_scratch(Scratch *s) {
    free(s->rows);
    free(s->order);
    free(s->raw);
    free(s->decoded);
    free(s->eps);
}

static void free_reader(Reader *r) {
    if (r->shards) close_shards(r);
    free(r->shards);
    free(r->labels);
    for (int i = 0; i < 2; i++) free(r->perms[i].perm);
    free_scratch(&r->caller);
    free_scratch(&r->background);
    free(r->root);
    free(r);
}

/* Opens and checks every shard: attributes, shapes, layout, labels; keeps a file descriptor. */
static int open_shards(Reader *r, const long long *shard_rows, Error *e) {
    r->shards = xcalloc((size_t)r->info.num_shards, sizeof *r->shards, "reader shards");
    for (int s = 0; s < r->info.num_shards; s++) r->shards[s].fd = -1;
    r->labels = xmalloc((size_t)r->info.count * sizeof *r->labels, "dataset labels");
    long long first = 0;
    for (int s = 0; s < r->info.num_shards; s++) {
        Shard *sh = &r->shards[s];
        if (dataset_shard_open(r->root, &r->info, s, first, shard_rows[s], &sh->layout, r->labels + first, NULL, e) < 0)
            return -1;
        dataset_shard_path(r->root, s, sh->path, sizeof sh->path);
        sh->fd = open(sh->path, O_RDONLY | O_CLOEXEC);
        if (sh->fd < 0) return error_set(e, "%s: cannot open: %s", sh->path, strerror(errno));
        first += shard_rows[s];
    }
    return 0;
}

static int fetch(void *ctx, void *scratch, uint64_t g0, int n, float *x, int32_t *labels, Error *e);

Reader *reader_open(const ReaderOptions *opt, DatasetInfo *info, Error *e) {
    Reader *r = xcalloc(1, sizeof *r, "reader");
    r->opt = *opt;
    r->root = xstrdup(opt->root);
    r->opt.root = r->root;
    for (int i = 0; i < 2; i++) r->perms[i].epoch = -1;
    h5_quiet();
    long long *shard_rows = NULL;
    if (dataset_index_read(r->root, &r->info, &shard_rows, e) < 0 || open_shards(r, shard_rows, e) < 0) {
        free(shard_rows);
        free_reader(r);
        return NULL;
    }
    free(shard_rows);
    size_t plane = (size_t)r->info.resolution * (size_t)r->info.resolution;
    r->stored_elems = (size_t)r->info.stored_channels * plane;
    r->sample_floats = (size_t)r->info.channels * plane;
    if (pthread_mutex_init(&r->perm_lock, NULL)) FATAL("pthread_mutex_init failed");
    if (opt->prefetch) r->prefetcher = prefetch_start(fetch, r, &r->background, r->sample_floats);
    if (info) *info = r->info;
    return r;
}

void reader_close(Reader *r) {
    if (!r) return;
    if (r->prefetcher) prefetch_stop(r->prefetcher);
    pthread_mutex_destroy(&r->perm_lock);
    free_reader(r);
}

void reader_rank_slice(uint64_t step, int global_batch, int rank, int world, uint64_t *g0, int *n) {
    int base = global_batch / world, extra = global_batch % world;
    *n = base + (rank < extra);
    *g0 = step * (uint64_t)global_batch + (uint64_t)rank * (uint64_t)base + (uint64_t)MIN(rank, extra);
}

/* The permutation of epoch e: Fisher-Yates driven by the stream (seed, RNG_SHUFFLE, e). */
static void build_permutation(const Reader *r, long long epoch, uint32_t *perm) {
    uint32_t count = (uint32_t)r->info.count;
    for (uint32_t i = 0; i < count; i++) perm[i] = i;
    Rng rng = rng_stream(r->opt.seed, RNG_SHUFFLE, (uint32_t)epoch, (uint32_t)((uint64_t)epoch >> 32));
    for (uint32_t i = count - 1; i > 0; i--) {
        uint32_t j = rng_below(&rng, i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* Called with perm_lock held. */
static const uint32_t *permutation(Reader *r, long long epoch) {
    for (int i = 0; i < 2; i++)
        if (r->perms[i].epoch == epoch) return r->perms[i].perm;
    /* Replace the older of the two: readers move forward, a batch straddles at most two epochs. */
    Permutation *p = r->perms[0].epoch <= r->perms[1].epoch ? &r->perms[0] : &r->perms[1];
    if (!p->perm) p->perm = xmalloc((size_t)r->info.count * sizeof *p->perm, "epoch permutation");
    build_permutation(r, epoch, p->perm);
    p->epoch = epoch;
    return p->perm;
}

static void rows_of(Reader *r, uint64_t g0, int n, long long *rows) {
    uint64_t count = (uint64_t)r->info.count;
    if (r->opt.resampled) {
        /* With replacement: one uniform draw per sample (no permutations in this mode). */
        for (int i = 0; i < n; i++) {
            Rng rng = rng_sample_stream(r->opt.seed, RNG_SHUFFLE, g0 + (uint64_t)i);
            rows[i] = rng_below(&rng, (uint32_t)count);
        }
        return;
    }
    pthread_mutex_lock(&r->perm_lock);
    for (int i = 0; i < n; i++) {
        uint64_t g = g0 + (uint64_t)i;
        rows[i] = permutation(r, (long long)(g / count))[g % count];
    }
    pthread_mutex_unlock(&r->perm_lock);
}

long long reader_row_of(Reader *r, uint64_t g) {
    long long row;
    rows_of(r, g, 1, &row);
    return row;
}

static void reserve(Scratch *s, int n, size_t row_bytes, size_t stored_elems) {
    if (!s->decoded) {
        s->decoded = xmalloc(stored_elems * sizeof *s->decoded, "reader decode buffer");
        s->eps = xmalloc(stored_elems * sizeof *s->eps, "reader eps buffer");
    }
    if (s->cap >= n) return;
    s->rows = xrealloc(s->rows, (size_t)n * sizeof *s->rows, "reader rows");
    s->order = xrealloc(s->order, (size_t)n * sizeof *s->order, "reader order");
    s->raw = xrealloc(s->raw, (size_t)n * row_bytes, "reader raw rows");
    s->cap = n;
}

static int by_row(const void *a, const void *b, void *rows) {
    const long long *row = rows;
    long long ra = row[*(const int *)a], rb = row[*(const int *)b];
    return (ra > rb) - (ra < rb);
}

/* Shard holding dataset row `row` (binary search over the first rows). */
static int shard_of(const Reader *r, long long row) {
    int lo = 0, hi = r->info.num_shards - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (r->shards[mid].layout.first_row <= row) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static int read_fully(const Shard *sh, void *buf, size_t bytes, uint64_t offset, long long local_row, Error *e) {
    if (pread_full(sh->fd, buf, bytes, offset) == 0) return 0;
    return error_set(e, "%s: reading dataset latents at row %lld failed: %s", sh->path, local_row,
                     errno ? strerror(errno) : "unexpected end of file (truncated shard?)");
}

/* Raw stored bytes of the sorted rows; consecutive rows of one chunk are read with one pread. */
static int read_raw(const Reader *r, Scratch *s, int n, size_t row_bytes, Error *e) {
    for (int k = 0; k < n;) {
        long long row = s->rows[s->order[k]];
        const Shard *sh = &r->shards[shard_of(r, row)];
        const ShardLayout *l = &sh->layout;
        long long local = row - l->first_row, chunk = local / l->chunk_rows, in_chunk = local % l->chunk_rows;
        int run = 1;
        while (k + run < n && s->rows[s->order[k + run]] == row + run && in_chunk + run < l->chunk_rows &&
               local + run < l->rows)
            run++;
        uint64_t offset = l->chunk_offset[chunk] + (uint64_t)in_chunk * row_bytes;
        if (read_fully(sh, s->raw + (size_t)k * row_bytes, (size_t)run * row_bytes, offset, local, e) < 0) return -1;
        k += run;
    }
    return 0;
}

/* Mirrors each of the `rows` image rows of width `width`. */
static void flip_rows(float *x, size_t rows, int width) {
    for (size_t row = 0; row < rows; row++) {
        float *p = x + row * (size_t)width;
        for (int i = 0, j = width - 1; i < j; i++, j--) {
            float t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
    }
}

/* One sample from its stored bytes: decode, check, latent draw or scaling, flip. */
static int decode(const Reader *r, Scratch *s, const unsigned char *raw, uint64_t g, long long row, float *out,
                  Error *e) {
    const DatasetInfo *info = &r->info;
    int moments = !strcmp(info->kind, "moments");
    float *values = moments ? s->decoded : out;
    if (dataset_dtype_size(info->dtype) == 2)
        half_to_float_n((const uint16_t *)raw, values, r->stored_elems);
    else
        memcpy(values, raw, r->stored_elems * sizeof *values);
    size_t bad = dataset_first_bad_value(!strcmp(info->kind, "pixels"), values, r->stored_elems);
    if (bad < r->stored_elems) {
        const Shard *sh = &r->shards[shard_of(r, row)];
        char what[80];
        if (isfinite(values[bad])) snprintf(what, sizeof what, "holds %g, " DATASET_PIXEL_RULE, values[bad]);
        else snprintf(what, sizeof what, "contains NaN or Inf");
        return error_set(e, "%s: dataset latents: row %lld (sample %llu of the stream) %s", sh->path,
                         row - sh->layout.first_row, (unsigned long long)g, what);
    }
    float scale = (float)info->scale_factor;
    if (moments) {
        latent_eps_fill(r->opt.seed, g, s->eps, r->sample_floats);
        latent_from_moments(values, values + r->sample_floats, s->eps, r->sample_floats, scale, out);
    } else if (!strcmp(info->kind, "latents")) {
        for (size_t i = 0; i < r->sample_floats; i++) out[i] *= scale;
    }
    if (r->opt.xflip) {
        Rng rng = rng_sample_stream(r->opt.seed, RNG_FLIP, g);
        if (rng_u32(&rng) >> 31) flip_rows(out, (size_t)info->channels * (size_t)info->resolution, info->resolution);
    }
    return 0;
}

static int fetch(void *ctx, void *scratch, uint64_t g0, int n, float *x, int32_t *labels, Error *e) {
    Reader *r = ctx;
    Scratch *s = scratch;
    size_t row_bytes = r->stored_elems * (size_t)dataset_dtype_size(r->info.dtype);
    reserve(s, n, row_bytes, r->stored_elems);
    rows_of(r, g0, n, s->rows);
    for (int i = 0; i < n; i++) s->order[i] = i;
    qsort_r(s->order, (size_t)n, sizeof *s->order, by_row, s->rows);
    if (read_raw(r, s, n, row_bytes, e) < 0) return -1;
    for (int k = 0; k < n; k++) {
        int i = s->order[k];
        if (decode(r, s, s->raw + (size_t)k * row_bytes, g0 + (uint64_t)i, s->rows[i], x + (size_t)i * r->sample_floats,
                   e) < 0)
            return -1;
        labels[i] = r->labels[s->rows[i]];
    }
    return 0;
}

int reader_read(Reader *r, uint64_t g0, int n, float *x, int32_t *labels, int64_t next_g0, Error *e) {
    if (n < 1) FATAL("reader_read of %d samples", n);
    if (r->prefetcher) {
        int got = prefetch_take(r->prefetcher, g0, n, next_g0, x, labels, e);
        if (got != 0) return got < 0 ? -1 : 0;
        if (next_g0 >= 0) prefetch_request(r->prefetcher, (uint64_t)next_g0, n);
    }
    return fetch(r, &r->caller, g0, n, x, labels, e);
}
