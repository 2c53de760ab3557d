/* `maskdit-convert wds`: the original MaskDiT's WebDataset shards (lmdb2wds.py's
 * latent_imagenet_512_train-%04d.tar): per sample KEY.latent, a pickled NumPy float32 array of VAE
 * moments [2C, H, W], and KEY.cls, the label as decimal text. Samples are taken in key order over
 * all the tars. Every rank lists the tars' headers and reads the small .cls members when the source
 * is opened; the .latent data is read only by the rank writing the output shard it falls in. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/ckpt/pickle_numpy.h"
#include "../src/util/fileio.h"
#include "../src/util/tar.h"
#include "convert.h"

/* One member that belongs to a sample: KEY.EXT in tar `tar`. */
typedef struct {
    const char *name;   /* the member's path (owned by the tar listing) */
    size_t key_len;     /* KEY = name[0, key_len): up to the first '.' of the last path component */
    int tar;
    uint64_t offset, size;
} WdsMember;

typedef struct {
    int tar;
    const char *name;   /* of the .latent member */
    uint64_t offset, size;
} WdsSample;

typedef struct {
    char **paths;
    int n_tars;
    TarMember **listing;
    size_t *listed;
    WdsSample *samples;
    int fd, fd_tar;                /* the tar open for reading .latent data */
    unsigned char *buf;
    size_t buf_cap;
} Wds;

static const char USAGE[] =
    "usage: maskdit-convert wds SHARD.tar... --out DIR [options]\n"
    "Converts WebDataset tar shards of VAE moments (the original's lmdb2wds.py output: KEY.latent, a pickled\n"
    "NumPy float32 array [2C, H, W], and KEY.cls, the label) into HDF5 shards of kind moments, in key order.\n";

static int member_cmp(const void *a, const void *b) {
    const WdsMember *x = a, *y = b;
    size_t n = MIN(x->key_len, y->key_len);
    int c = memcmp(x->name, y->name, n);
    if (c) return c;
    if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
    if (x->tar != y->tar) return x->tar < y->tar ? -1 : 1;
    return strcmp(x->name + x->key_len, y->name + y->key_len);
}

/* The data of a member, read into w->buf (NUL-terminated). */
static const unsigned char *read_member(Wds *w, int tar, const char *name, uint64_t offset, uint64_t size, Error *e) {
    if (w->fd_tar != tar) {
        if (w->fd >= 0) close(w->fd);
        w->fd = open(w->paths[tar], O_RDONLY);
        w->fd_tar = w->fd >= 0 ? tar : -1;
        if (w->fd < 0) {
            error_set(e, "%s: cannot open: %s", w->paths[tar], strerror(errno));
            return NULL;
        }
    }
    if (size + 1 > w->buf_cap) {
        w->buf_cap = (size_t)size + 1;
        w->buf = xrealloc(w->buf, w->buf_cap, "tar member");
    }
    if (pread_full(w->fd, w->buf, (size_t)size, offset) < 0) {
        error_set(e, "%s: cannot read member %s: %s", w->paths[tar], name,
                  errno ? strerror(errno) : "the file ends inside it (changed since it was listed?)");
        return NULL;
    }
    w->buf[size] = 0;
    return w->buf;
}

/* The label: decimal text, optionally surrounded by white space. */
static int read_label(Wds *w, const WdsMember *m, int32_t *label, Error *e) {
    const unsigned char *d = read_member(w, m->tar, m->name, m->offset, m->size, e);
    if (!d) return -1;
    const char *s = (const char *)d;
    char *end;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    errno = 0;
    long v = strtol(s, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') end++;
    if (end == s || *end || (size_t)(end - (const char *)d) != m->size || errno || v < 0 || v > INT32_MAX)
        return error_set(e, "%s: %s: expected a class index as decimal text", w->paths[m->tar], m->name);
    *label = (int32_t)v;
    return 0;
}

/* Unpickles sample i's .latent; checks it is float32 [C, H, H] (like `shape` when given) and copies
 * it in C order to x when x is not NULL. */
static int load_latent(Wds *w, long long i, int *shape, float *x, Error *e) {
    const WdsSample *s = &w->samples[i];
    const unsigned char *d = read_member(w, s->tar, s->name, s->offset, s->size, e);
    if (!d) return -1;
    char *where;   /* "TAR: MEMBER" in messages; a pax name may be of any length */
    if (asprintf(&where, "%s: %s", w->paths[s->tar], s->name) < 0) FATAL("out of memory");
    PkValue *root;
    Pickle *pk = pickle_load(d, (size_t)s->size, where, &root, e);
    if (!pk) {
        free(where);
        return -1;
    }
    PkNdarray a;
    int r = pk_ndarray(root, where, &a, e);
    if (r == 0 && strcmp(a.dtype, "<f4"))
        r = error_set(e, "%s: array of dtype %s, expected float32 ('<f4') VAE moments", where, a.dtype);
    if (r == 0 && (a.ndim != 3 || a.shape[1] != a.shape[2] || a.shape[0] < 1 || a.shape[1] < 1 ||
                   (shape[0] && (a.shape[0] != shape[0] || a.shape[1] != shape[1])))) {
        char got[160] = "";
        for (int k = 0; k < a.ndim; k++) text_append(got, sizeof got, "%s%lld", k ? ", " : "", a.shape[k]);
        if (shape[0]) r = error_set(e, "%s: array of shape [%s], expected [%d, %d, %d] like the first sample", where, got,
                                    shape[0], shape[1], shape[1]);
        else r = error_set(e, "%s: array of shape [%s], expected VAE moments [2C, H, H]", where, got);
    }
    if (r == 0 && !shape[0]) {
        shape[0] = (int)a.shape[0];
        shape[1] = (int)a.shape[1];
    }
    if (r == 0 && x) {
        size_t c = (size_t)a.shape[0], hw = (size_t)a.shape[1] * (size_t)a.shape[2];
        if (!a.fortran) {
            memcpy(x, a.data, a.nbytes);
        } else {   /* column-major: element [k, y, z] at k + c * (y + h * z) */
            const float *f = (const float *)a.data;
            size_t h = (size_t)a.shape[1];
            for (size_t k = 0; k < c; k++)
                for (size_t p = 0; p < hw; p++) {
                    float v;
                    memcpy(&v, f + k + c * (p / h + h * (p % h)), sizeof v);
                    x[k * hw + p] = v;
                }
        }
    }
    pickle_free(pk);
    free(where);
    return r;
}

static int wds_read(ConvertSource *src, long long first, long long n, float *x, Error *e) {
    Wds *w = src->impl;
    int shape[2] = {src->channels, src->resolution};
    size_t sample = (size_t)src->channels * (size_t)src->resolution * (size_t)src->resolution;
    for (long long i = 0; i < n; i++)
        if (load_latent(w, first + i, shape, x + (size_t)i * sample, e) < 0) return -1;
    return 0;
}

/* Pairs the members of every tar by key: each key needs one .latent and one .cls, in one tar. */
static int collect_samples(ConvertSource *src, Wds *w, WdsMember *m, size_t n, Error *e) {
    qsort(m, n, sizeof *m, member_cmp);
    w->samples = xmalloc((n + 1) * sizeof *w->samples, "samples");
    src->labels = xmalloc((n + 1) * sizeof *src->labels, "labels");
    long long count = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        const WdsMember *latent = NULL, *cls = NULL;
        for (; j < n && m[j].key_len == m[i].key_len && !memcmp(m[j].name, m[i].name, m[i].key_len); j++) {
            if (m[j].tar != m[i].tar)
                return error_set(e, "sample key %.*s is in two tars: %s and %s", (int)m[i].key_len, m[i].name,
                                 w->paths[m[i].tar], w->paths[m[j].tar]);
            const char *ext = m[j].name + m[j].key_len;
            const WdsMember **slot = !strcmp(ext, ".latent") ? &latent : !strcmp(ext, ".cls") ? &cls : NULL;
            if (slot && *slot)
                return error_set(e, "%s: member %s appears twice", w->paths[m[j].tar], m[j].name);
            if (slot) *slot = &m[j];
        }
        if (latent && !cls)
            return error_set(e, "%s: sample %.*s has a .latent but no .cls (its label)", w->paths[m[i].tar],
                             (int)m[i].key_len, m[i].name);
        if (cls && !latent)
            return error_set(e, "%s: sample %.*s has a .cls but no .latent", w->paths[m[i].tar], (int)m[i].key_len,
                             m[i].name);
        if (latent) {
            w->samples[count] = (WdsSample){latent->tar, latent->name, latent->offset, latent->size};
            if (read_label(w, cls, &src->labels[count], e) < 0) return -1;
            count++;
        }
        i = j;
    }
    src->count = count;
    return 0;
}

static int wds_open(ConvertSource *src, char **paths, int n_tars, Error *e) {
    Wds *w = xcalloc(1, sizeof *w, "wds source");
    src->impl = w;
    src->read = wds_read;
    w->fd = w->fd_tar = -1;
    w->paths = paths;
    w->n_tars = n_tars;
    w->listing = xcalloc((size_t)n_tars, sizeof *w->listing, "tar listings");
    w->listed = xcalloc((size_t)n_tars, sizeof *w->listed, "tar listings");
    xsnprintf(src->description, sizeof src->description, "wds %s%s", paths[0], n_tars > 1 ? " ..." : "");
    xsnprintf(src->labels_from, sizeof src->labels_from, "%s", src->description);
    size_t total = 0;
    for (int t = 0; t < n_tars; t++) {
        if (tar_list(paths[t], &w->listing[t], &w->listed[t], e) < 0) return -1;
        total += w->listed[t];
    }
    WdsMember *m = xmalloc((total + 1) * sizeof *m, "tar members");
    size_t n = 0;
    for (int t = 0; t < n_tars; t++)
        for (size_t k = 0; k < w->listed[t]; k++) {
            const TarMember *tm = &w->listing[t][k];
            const char *base = strrchr(tm->name, '/');
            const char *dot = strchr(base ? base + 1 : tm->name, '.');
            if (dot) m[n++] = (WdsMember){tm->name, (size_t)(dot - tm->name), t, tm->offset, tm->size};
        }
    int r = collect_samples(src, w, m, n, e);
    free(m);
    if (r < 0) return -1;
    if (src->count < 1) return error_set(e, "%s: no samples (KEY.latent + KEY.cls members)", src->description);
    int shape[2] = {0, 0};
    if (load_latent(w, 0, shape, NULL, e) < 0) return -1;
    src->channels = shape[0];
    src->resolution = shape[1];
    return 0;
}

static void wds_close(ConvertSource *src) {
    Wds *w = src->impl;
    if (w) {
        for (int t = 0; t < w->n_tars; t++) tar_members_free(w->listing[t], w->listed[t]);
        free(w->listing);
        free(w->listed);
        free(w->samples);
        free(w->buf);
        if (w->fd >= 0) close(w->fd);
        free(w);
    }
    free(src->labels);
    src->impl = NULL;
    src->labels = NULL;
}

int convert_wds_command(int argc, char **argv, const Dist *dist, Error *e) {
    ConvertOptions opt;
    convert_options_default(&opt, "moments");
    ConvertArgList tars = {0};
    const ConvertArg args[] = {{NULL, NULL, NULL}};
    int r = convert_parse_args_list(argc, argv, args, &tars, &opt, USAGE, e);
    if (r == 0 && !tars.n) r = error_set(e, "wds: give the tar shards to convert (see maskdit-convert wds --help)");
    if (r != 0) {
        free(tars.items);
        return r < 0 ? -1 : 0;
    }
    opt.input_list = tars.items;
    opt.n_input_list = tars.n;
    ConvertSource src = {0};
    r = wds_open(&src, tars.items, tars.n, e);
    if (r == 0) r = convert_write_dataset(&src, &opt, dist, e);
    wds_close(&src);
    free(tars.items);
    return r;
}
