/* `maskdit-convert npz`: a NumPy archive (numpy.savez: stored entries; numpy.savez_compressed:
 * deflated ones) holding the data [N, C, H, W] and optionally the labels [N]. A stored data entry
 * is read in place by byte range (its CRC checked first by one whole read); a deflated one is first extracted (by rank 0, CRC-checked) to a
 * temporary .npy in the output directory, removed at the end. Labels are read into memory. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "../mpi/dist.h"
#include "../src/util/fileio.h"
#include "../src/util/zip.h"
#include "convert.h"
#include "numpy_source.h"

static const char USAGE[] =
    "usage: maskdit-convert npz ARCHIVE.npz --kind KIND --out DIR [options]\n"
    "Converts arrays of a NumPy archive (numpy.savez or numpy.savez_compressed) into HDF5 shards.\n"
    "  --data-key NAME      the data array [N, C, H, W] (default arr_0, numpy.savez's first array)\n"
    "  --labels-key NAME    the labels [N] (default arr_1 if the archive has it; else unlabelled)\n"
    "  --kind KIND          moments (VAE mean and logvar in 2C channels), latents, or pixels in [-1, 1]\n";

typedef struct {
    const ZipReader *zip;
    const ZipEntry *entry;
} StoredEntry;

static int stored_read(NumpyArray *a, long long offset, size_t bytes, void *buf, Error *e) {
    StoredEntry *s = a->impl;
    return zip_read_range(s->zip, s->entry, (uint64_t)(a->header.header_bytes + offset), buf, bytes, e);
}

typedef struct {
    unsigned char *bytes;
    size_t len;
} MemoryArray;

static int memory_read(NumpyArray *a, long long offset, size_t bytes, void *buf, Error *e) {
    MemoryArray *m = a->impl;
    if ((size_t)(a->header.header_bytes + offset) + bytes > m->len)
        return error_set(e, "%s: truncated: the array data ends before its shape says", a->name);
    memcpy(buf, m->bytes + a->header.header_bytes + offset, bytes);
    return 0;
}

static void close_memory(NumpyArray *a) {
    MemoryArray *m = a->impl;
    if (m) free(m->bytes);
    free(m);
    a->impl = NULL;
}

static void close_stored(NumpyArray *a) {
    free(a->impl);
    a->impl = NULL;
}

static const ZipEntry *find_entry(const ZipReader *zip, const char *archive, const char *key, Error *e) {
    char name[512];
    xsnprintf(name, sizeof name, "%s.npy", key);
    const ZipEntry *en = zip_find(zip, name);
    if (en) return en;
    char list[512] = "";
    for (int i = 0; i < zip->count; i++) text_append(list, sizeof list, "%s%s", i ? ", " : "", zip->entries[i].name);
    error_set(e, "%s: no array '%s' (entry %s); the archive holds: %s", archive, key, name, list);
    return NULL;
}

/* A whole entry in memory (the labels, or a small data array). */
static int open_in_memory(NumpyArray *a, const ZipReader *zip, const ZipEntry *en, Error *e) {
    MemoryArray *m = xcalloc(1, sizeof *m, "npz entry");
    a->impl = m;
    a->read = memory_read;
    a->close = close_memory;
    void *bytes;
    if (zip_read(zip, en, &bytes, &m->len, e) < 0) return -1;
    m->bytes = bytes;
    return npy_parse_header(m->bytes, m->len, a->name, &a->header, e);
}

/* A stored entry is read in place by byte range, which checks no CRC: rank 0 reads it once whole
 * to check it before any shard is written (a flipped bit would otherwise convert silently). */
static int verify_stored(const ZipReader *zip, const ZipEntry *en, const Dist *dist, Error *e) {
    int rank, rc = 0;
    rank = dist->rank;
    if (rank == 0) rc = zip_verify(zip, en, e);
    return convert_rank0_result(rc, dist, e);
}

static int open_stored(NumpyArray *a, const ZipReader *zip, const ZipEntry *en, Error *e) {
    StoredEntry *s = xcalloc(1, sizeof *s, "npz entry");
    s->zip = zip;
    s->entry = en;
    a->impl = s;
    a->read = stored_read;
    a->close = close_stored;
    unsigned char head[4096];
    size_t n = (size_t)MIN(en->size, sizeof head);
    if (zip_read_range(zip, en, 0, head, n, e) < 0) return -1;
    return npy_parse_header(head, n, a->name, &a->header, e);
}

typedef struct {
    FILE *f;
    const char *path;
} Extract;

static int write_chunk(void *ctx, const void *data, size_t n, Error *e) {
    Extract *x = ctx;
    return fwrite(data, 1, n, x->f) == n ? 0 : error_set(e, "%s: write failed (disk full?)", x->path);
}

/* Rank 0 extracts a deflated entry to `path` (CRC-checked by zip_stream); every rank opens it. */
static int extract(NumpyArray *a, const ZipReader *zip, const ZipEntry *en, const char *path, const Dist *dist,
                   Error *e) {
    int rank, rc = 0;
    rank = dist->rank;
    if (rank == 0) {
        Extract x = {fopen(path, "wb"), path};
        if (!x.f) rc = error_set(e, "%s: cannot create the file", path);
        else rc = zip_stream(zip, en, write_chunk, &x, e);
        if (x.f && fclose(x.f) != 0 && rc == 0) rc = error_set(e, "%s: write failed (disk full?)", path);
    }
    /* Rank 0 reports its own failure; the others only need to know not to go on. */
    int failed = rc < 0;
    failed = dist_any(dist, failed);
    if (failed) return rank == 0 ? -1 : error_set(e, "%s: extraction on rank 0 failed", a->name);
    char name[sizeof a->name];
    memcpy(name, a->name, sizeof name);
    if (numpy_open_file(a, path, e) < 0) return -1;
    memcpy(a->name, name, sizeof name); /* messages keep naming the archive entry */
    return 0;
}

int convert_npz_command(int argc, char **argv, const Dist *dist, Error *e) {
    ConvertOptions opt;
    convert_options_default(&opt, "");
    const char *archive = NULL, *data_key = "arr_0", *labels_key = NULL, *kind = NULL;
    const ConvertArg args[] = {{"--data-key", &data_key, NULL}, {"--labels-key", &labels_key, NULL},
                               {"--kind", &kind, NULL},         {NULL, &archive, NULL},
                               {NULL, NULL, NULL}};
    int r = convert_parse_args(argc, argv, args, &opt, USAGE, e);
    if (r != 0) return r < 0 ? -1 : 0;
    if (!archive) return error_set(e, "npz: no archive given (see maskdit-convert npz --help)");
    if (!opt.out) return error_set(e, "no output directory: give --out DIR");
    opt.inputs[0] = archive;
    ZipReader *zip = zip_open(archive, e);
    if (!zip) return -1;
    NumpyArray data = {0}, labels = {0};
    const ZipEntry *den = find_entry(zip, archive, data_key, e), *len = NULL;
    if (!labels_key && zip_find(zip, "arr_1.npy") && strcmp(data_key, "arr_1")) labels_key = "arr_1";
    if (den && labels_key) len = find_entry(zip, archive, labels_key, e);
    char extracted[4200] = "";
    r = den && (len || !labels_key) ? 0 : -1;
    if (r == 0) {
        snprintf(data.name, sizeof data.name, "%s:%s", archive, den->name);
        if (den->method == ZIP_STORED) {
            r = verify_stored(zip, den, dist, e);
            if (r == 0) r = open_stored(&data, zip, den, e);
        } else {
            xsnprintf(extracted, sizeof extracted, "%s/.%s.extracted.tmp", opt.out, den->name);
            r = convert_claim_out(&opt, dist, e);
            if (r == 0) r = extract(&data, zip, den, extracted, dist, e);
        }
    }
    if (r == 0 && len) {
        snprintf(labels.name, sizeof labels.name, "%s:%s", archive, len->name);
        r = open_in_memory(&labels, zip, len, e);
    }
    if (r == 0) r = numpy_convert(&data, len ? &labels : NULL, kind, &opt, dist, e);
    if (data.close) data.close(&data);
    if (labels.close) labels.close(&labels);
    int rank;
    rank = dist->rank;
    if (extracted[0] && rank == 0) remove(extracted);
    zip_close(zip);
    return r;
}
