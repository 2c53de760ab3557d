/* `maskdit-convert lmdb`: the original MaskDiT latent LMDB (extract_latent.py): key "length" = the
 * number of samples (ASCII), "z-<i>" = the VAE moments of sample i as raw float32 [2C, H, W]
 * (mean then log-variance), "y-<i>" = its class index (ASCII). Read with liblmdb, read-only and
 * without the lock file, so that several ranks (and a read-only file system) can share it. */
#include <errno.h>
#include <lmdb.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/util/numtext.h"
#include "convert.h"

typedef struct {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    char path[4096];
    size_t value_bytes;
} Lmdb;

static const char USAGE[] =
    "usage: maskdit-convert lmdb LMDB --out DIR [options]\n"
    "Converts the original MaskDiT latent LMDB (keys z-<i>: float32 moments [2C,H,W], y-<i>: class,\n"
    "length) into HDF5 shards of kind moments. LMDB is the directory holding data.mdb (or the file).\n"
    "  --channels N         stored channels 2C (default 8: the Stable Diffusion VAE's mean + logvar)\n"
    "  --resolution N       latent resolution H = W (default: from the value size)\n";

/* Value of key, or NULL when it is missing. */
static const MDB_val *get(Lmdb *db, const char *key, MDB_val *val, Error *e, int *failed) {
    MDB_val k = {strlen(key), (void *)key};
    int rc = mdb_get(db->txn, db->dbi, &k, val);
    if (rc == MDB_NOTFOUND) return NULL;
    if (rc != 0) {
        *failed = error_set(e, "LMDB %s: reading key %s failed: %s", db->path, key, mdb_strerror(rc));
        return NULL;
    }
    return val;
}

/* An ASCII integer value (the original writes str(int).encode()). */
static int get_integer(Lmdb *db, const char *key, long long *out, Error *e) {
    MDB_val v;
    int failed = 0;
    if (!get(db, key, &v, e, &failed))
        return failed ? -1 : error_set(e, "LMDB %s: key %s is missing", db->path, key);
    char text[32];
    const char *p = v.mv_data;
    size_t n = v.mv_size, start = n && (p[0] == '-' || p[0] == '+');
    int ok = n > start && n < sizeof text;
    for (size_t i = start; ok && i < n; i++) ok = p[i] >= '0' && p[i] <= '9';
    if (!ok) return error_set(e, "LMDB %s: key %s holds '%.*s', expected an integer", db->path, key, (int)MIN(n, 40), p);
    memcpy(text, p, n);
    text[n] = 0;
    *out = strtoll(text, NULL, 10);
    return 0;
}

static int lmdb_read(ConvertSource *src, long long first, long long n, float *x, Error *e) {
    Lmdb *db = src->impl;
    size_t floats = db->value_bytes / sizeof(float);
    for (long long i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "z-%lld", first + i);
        MDB_val v;
        int failed = 0;
        if (!get(db, key, &v, e, &failed))
            return failed ? -1 : error_set(e, "LMDB %s: key %s is missing", db->path, key);
        if (v.mv_size != db->value_bytes)
            return error_set(e, "LMDB %s: key %s holds %zu bytes, expected %zu like z-0", db->path, key, v.mv_size,
                             db->value_bytes);
        memcpy(x + (size_t)i * floats, v.mv_data, db->value_bytes);
    }
    return 0;
}

static void lmdb_close(ConvertSource *src) {
    Lmdb *db = src->impl;
    if (db) {
        if (db->txn) mdb_txn_abort(db->txn);
        if (db->env) mdb_env_close(db->env);
        free(db);
    }
    free(src->labels);
    src->impl = NULL;
    src->labels = NULL;
}

/* Shape from the size of z-0: [channels, r, r] float32 with whichever of the two is not given. */
static int infer_shape(ConvertSource *src, Lmdb *db, long long channels, long long resolution, Error *e) {
    MDB_val v;
    int failed = 0;
    if (!get(db, "z-0", &v, e, &failed)) return failed ? -1 : error_set(e, "LMDB %s: key z-0 is missing", db->path);
    db->value_bytes = v.mv_size;
    size_t floats = v.mv_size / sizeof(float);
    if (v.mv_size % sizeof(float) || !floats)
        return error_set(e, "LMDB %s: key z-0 holds %zu bytes, not a float32 array", db->path, v.mv_size);
    if (resolution > 0 && channels <= 0) channels = (long long)(floats / (size_t)(resolution * resolution));
    if (resolution <= 0) resolution = (long long)llround(sqrt((double)floats / (double)channels));
    if ((size_t)(channels * resolution * resolution) != floats)
        return error_set(e, "LMDB %s: key z-0 holds %zu float32 values, which is not %lld channels x %lld x %lld "
                            "(set --channels / --resolution)", db->path, floats, channels, resolution, resolution);
    src->channels = (int)channels;
    src->resolution = (int)resolution;
    return 0;
}

/* liblmdb maps the data file and reads its pages in place: a page past the end of a truncated file
 * is a bus error (SIGBUS) inside the library. The meta page says how many pages the environment
 * uses; the file must hold them all. */
static int check_file_size(Lmdb *db, Error *e) {
    MDB_envinfo info;
    MDB_stat st;
    mdb_filehandle_t fd;
    struct stat fs;
    int rc = mdb_env_info(db->env, &info);
    if (rc == 0) rc = mdb_env_stat(db->env, &st);
    if (rc == 0) rc = mdb_env_get_fd(db->env, &fd);
    if (rc != 0) return error_set(e, "LMDB %s: cannot read its environment: %s", db->path, mdb_strerror(rc));
    if (fstat(fd, &fs) < 0) return error_set(e, "LMDB %s: cannot stat the data file: %s", db->path, strerror(errno));
    unsigned long long need = ((unsigned long long)info.me_last_pgno + 1) * st.ms_psize;
    if ((unsigned long long)fs.st_size < need)
        return error_set(e, "LMDB %s: the data file is truncated: %lld bytes, but the environment uses %zu pages of "
                            "%u bytes (%llu bytes); copy it again", db->path, (long long)fs.st_size,
                         info.me_last_pgno + 1, st.ms_psize, need);
    return 0;
}

static int lmdb_open(ConvertSource *src, const char *path, long long channels, long long resolution, Error *e) {
    Lmdb *db = xcalloc(1, sizeof *db, "lmdb source");
    src->impl = db;
    src->read = lmdb_read;
    xsnprintf(db->path, sizeof db->path, "%s", path);
    xsnprintf(src->description, sizeof src->description, "lmdb %s", path);
    xsnprintf(src->labels_from, sizeof src->labels_from, "%s", src->description);   /* labels are y-<i> keys */
    struct stat st;
    if (stat(path, &st) != 0) return error_set(e, "LMDB %s: no such file or directory", path);
    unsigned flags = MDB_RDONLY | MDB_NOLOCK | (S_ISDIR(st.st_mode) ? 0 : MDB_NOSUBDIR);
    int rc = mdb_env_create(&db->env);
    if (rc == 0) rc = mdb_env_open(db->env, path, flags, 0664);
    if (rc != 0) return error_set(e, "LMDB %s: cannot open: %s", path, mdb_strerror(rc));
    if (check_file_size(db, e) < 0) return -1;
    rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &db->txn);
    if (rc == 0) rc = mdb_dbi_open(db->txn, NULL, 0, &db->dbi);
    if (rc != 0) return error_set(e, "LMDB %s: cannot open: %s", path, mdb_strerror(rc));
    long long count;
    if (get_integer(db, "length", &count, e) < 0) return -1;
    if (count < 1) return error_set(e, "LMDB %s: key length is %lld, expected a positive count", path, count);
    src->count = count;
    if (infer_shape(src, db, channels, resolution, e) < 0) return -1;
    src->labels = xmalloc((size_t)count * sizeof *src->labels, "labels");
    for (long long i = 0; i < count; i++) {
        char key[32];
        long long y;
        snprintf(key, sizeof key, "y-%lld", i);
        if (get_integer(db, key, &y, e) < 0) return -1;
        if (y < 0 || y > 0x7fffffff) return error_set(e, "LMDB %s: key %s holds the class %lld, expected >= 0", path, key, y);
        src->labels[i] = (int32_t)y;
    }
    return 0;
}

int convert_lmdb_command(int argc, char **argv, const Dist *dist, Error *e) {
    ConvertOptions opt;
    convert_options_default(&opt, "moments");
    const char *input = NULL, *channels_text = NULL, *resolution_text = NULL;
    const ConvertArg args[] = {{"--channels", &channels_text, NULL}, {"--resolution", &resolution_text, NULL},
                               {NULL, &input, NULL}, {NULL, NULL, NULL}};
    int r = convert_parse_args(argc, argv, args, &opt, USAGE, e);
    if (r != 0) return r < 0 ? -1 : 0;
    long long channels = 8, resolution = 0;
    if (!input) return error_set(e, "lmdb: no input LMDB given (see maskdit-convert lmdb --help)");
    if (channels_text && parse_whole("--channels", channels_text, 2, 1 << 16, &channels, e) < 0) return -1;
    if (resolution_text && parse_whole("--resolution", resolution_text, 1, 1 << 16, &resolution, e) < 0) return -1;
    if (resolution_text && !channels_text) channels = 0;
    /* what the conversion reads: the data file, whichever way the LMDB was named */
    struct stat st;
    char data_file[4200];
    xsnprintf(data_file, sizeof data_file, stat(input, &st) == 0 && S_ISDIR(st.st_mode) ? "%s/data.mdb" : "%s", input);
    opt.inputs[0] = data_file;
    ConvertSource src = {0};
    r = lmdb_open(&src, input, channels, resolution, e);
    if (r == 0) r = convert_write_dataset(&src, &opt, dist, e);
    lmdb_close(&src);
    return r;
}
