#include "format.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/fileio.h"
#include "../util/h5util.h"

static const char *const KINDS[] = {"moments", "latents", "pixels"};

void dataset_shard_path(const char *root, int shard, char *buf, size_t len) {
    xsnprintf(buf, len, "%s/shard-%05d.h5", root, shard);
}

void dataset_index_path(const char *root, char *buf, size_t len) {
    xsnprintf(buf, len, "%s/%s", root, DATASET_INDEX_FILE);
}

int dataset_dtype_size(const char *dtype) {
    if (!strcmp(dtype, "float16")) return 2;
    if (!strcmp(dtype, "float32")) return 4;
    return 0;
}

hid_t dataset_file_type(const char *dtype) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) FATAL("H5Tcopy failed");
    if (dataset_dtype_size(dtype) == 2) {
        /* binary16: sign bit 15, exponent bits 10..14 (bias 15), mantissa bits 0..9. The order of
         * the calls matters: fields must fit the precision, which must fit the size. */
        if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_precision(t, 16) < 0 || H5Tset_size(t, 2) < 0 ||
            H5Tset_ebias(t, 15) < 0)
            FATAL("cannot build the HDF5 float16 type");
    }
    return t;
}

/* "float16" / "float32" when the HDF5 type is exactly one of the two little-endian IEEE types,
 * otherwise a description of what it is (for messages). */
static const char *type_dtype(hid_t t) {
    if (H5Tget_class(t) != H5T_FLOAT) return H5Tget_class(t) == H5T_INTEGER ? "an integer type" : "not a float type";
    if (H5Tget_order(t) != H5T_ORDER_LE) return "big-endian float";
    size_t size = H5Tget_size(t), spos, epos, esize, mpos, msize;
    if (H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize) < 0) return "an unknown float type";
    if (size == 4 && H5Tequal(t, H5T_IEEE_F32LE) > 0) return "float32";
    if (size == 2 && spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10 && H5Tget_ebias(t) == 15)
        return "float16";
    if (size == 8) return "float64";
    return "an unusual float type";
}

int dataset_info_check(DatasetInfo *info, const char *where, Error *e) {
    int kind_ok = 0;
    for (size_t i = 0; i < ARRAY_LEN(KINDS); i++) kind_ok |= !strcmp(info->kind, KINDS[i]);
    if (!kind_ok) return error_set(e, "%s: kind '%s' is not one of moments, latents, pixels", where, info->kind);
    if (!dataset_dtype_size(info->dtype))
        return error_set(e, "%s: dtype '%s' is not float16 or float32", where, info->dtype);
    if (info->stored_channels < 1 || info->resolution < 1 || info->num_classes < 0)
        return error_set(e, "%s: channels %d, resolution %d, num_classes %d: expected positive sizes", where,
                         info->stored_channels, info->resolution, info->num_classes);
    int moments = !strcmp(info->kind, "moments");
    if (moments && info->stored_channels % 2)
        return error_set(e, "%s: kind moments needs an even channel count (mean and logvar), got %d", where,
                         info->stored_channels);
    if (!(info->scale_factor > 0) || !isfinite(info->scale_factor))
        return error_set(e, "%s: scale_factor %g must be a positive number", where, info->scale_factor);
    if (info->xflip_included != 0 && info->xflip_included != 1)
        return error_set(e, "%s: xflip_included must be 0 or 1, got %d", where, info->xflip_included);
    info->channels = moments ? info->stored_channels / 2 : info->stored_channels;
    return 0;
}

size_t dataset_first_bad_value(int pixels, const float *x, size_t n) {
    /* One branch-free pass (the reader runs it on every sample); the index only on failure. A NaN
     * fails the pixel test too, since every comparison with it is false. */
    int bad = 0;
    if (pixels) {
        for (size_t i = 0; i < n; i++) bad |= !(fabsf(x[i]) <= 1.0f);
    } else {
        for (size_t i = 0; i < n; i++) {
            uint32_t b;
            memcpy(&b, &x[i], sizeof b);
            bad |= (b & 0x7f800000u) == 0x7f800000u;
        }
    }
    if (!bad) return n;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || (pixels && fabsf(x[i]) > 1.0f)) return i;
    return n;
}

int dataset_write_attrs(hid_t loc, const DatasetInfo *info, int shard_index, long long first_row) {
    int r = h5_write_attr_string(loc, "format", DATASET_FORMAT_NAME);
    r |= h5_write_attr_int64(loc, "format_version", DATASET_FORMAT_VERSION);
    r |= h5_write_attr_string(loc, "kind", info->kind);
    r |= h5_write_attr_string(loc, "dtype", info->dtype);
    r |= h5_write_attr_int64(loc, "channels", info->stored_channels);
    r |= h5_write_attr_int64(loc, "resolution", info->resolution);
    r |= h5_write_attr_int64(loc, "num_classes", info->num_classes);
    r |= h5_write_attr_double(loc, "scale_factor", info->scale_factor);
    r |= h5_write_attr_string(loc, "source", info->source);
    r |= h5_write_attr_int64(loc, "xflip_included", info->xflip_included);
    if (shard_index >= 0) {
        r |= h5_write_attr_int64(loc, "shard_index", shard_index);
        r |= h5_write_attr_int64(loc, "first_row", first_row);
    } else {
        r |= h5_write_attr_int64(loc, "count", info->count);
        r |= h5_write_attr_int64(loc, "num_shards", info->num_shards);
    }
    return r ? -1 : 0;
}

void dataset_set_source(DatasetInfo *info, const char *source) {
    size_t len = strlen(source), cap = sizeof info->source;
    if (len < cap) memcpy(info->source, source, len + 1);
    else snprintf(info->source, cap, "...%s", source + len - (cap - 4));
}

/* A string attribute into out[cap]; a longer one is an error. */
static int read_string(hid_t f, const char *file_name, const char *attr, char *out, size_t cap, Error *e) {
    char *s = NULL;
    if (h5_attr_string(f, file_name, "/", attr, &s, e) < 0) return -1;
    int fits = strlen(s) < cap;
    if (fits) strcpy(out, s);
    free(s);
    return fits ? 0 : error_set(e, "%s: attribute %s is longer than %zu characters", file_name, attr, cap - 1);
}

/* The source attribute, cut as the writer cuts it. */
static int read_source(hid_t f, const char *file_name, DatasetInfo *info, Error *e) {
    char *s = NULL;
    if (h5_attr_string(f, file_name, "/", "source", &s, e) < 0) return -1;
    dataset_set_source(info, s);
    free(s);
    return 0;
}

static int read_int(hid_t f, const char *file_name, const char *attr, int *out, Error *e) {
    long long v;
    if (h5_attr_int64(f, file_name, "/", attr, &v, e) < 0) return -1;
    if (v < -2147483647LL || v > 2147483647LL) return error_set(e, "%s: attribute %s = %lld is out of range", file_name, attr, v);
    *out = (int)v;
    return 0;
}

int dataset_read_attrs(hid_t file, const char *file_name, DatasetInfo *info, Error *e) {
    memset(info, 0, sizeof *info);
    char format[64];
    long long version;
    if (read_string(file, file_name, "format", format, sizeof format, e) < 0) return -1;
    if (strcmp(format, DATASET_FORMAT_NAME))
        return error_set(e, "%s: attribute format is '%s', expected '%s' (not a maskdit-convert dataset)", file_name,
                         format, DATASET_FORMAT_NAME);
    if (h5_attr_int64(file, file_name, "/", "format_version", &version, e) < 0) return -1;
    if (version != DATASET_FORMAT_VERSION)
        return error_set(e, "%s: format_version %lld is not supported (this build reads version %d)", file_name,
                         version, DATASET_FORMAT_VERSION);
    if (read_string(file, file_name, "kind", info->kind, sizeof info->kind, e) < 0 ||
        read_string(file, file_name, "dtype", info->dtype, sizeof info->dtype, e) < 0 ||
        read_source(file, file_name, info, e) < 0 ||
        read_int(file, file_name, "channels", &info->stored_channels, e) < 0 ||
        read_int(file, file_name, "resolution", &info->resolution, e) < 0 ||
        read_int(file, file_name, "num_classes", &info->num_classes, e) < 0 ||
        read_int(file, file_name, "xflip_included", &info->xflip_included, e) < 0 ||
        h5_attr_double(file, file_name, "/", "scale_factor", &info->scale_factor, e) < 0)
        return -1;
    return dataset_info_check(info, file_name, e);
}

int dataset_attrs_match(const DatasetInfo *have, const DatasetInfo *want, const char *file_name, Error *e) {
#define TEXT(f) if (strcmp(have->f, want->f)) return error_set(e, "%s: attribute " #f " is '%s', expected '%s'", file_name, have->f, want->f)
#define NUM(f, name) if (have->f != want->f) return error_set(e, "%s: attribute " name " is %g, expected %g", file_name, (double)have->f, (double)want->f)
    TEXT(kind);
    TEXT(dtype);
    NUM(stored_channels, "channels");
    NUM(resolution, "resolution");
    NUM(num_classes, "num_classes");
    NUM(scale_factor, "scale_factor");
    NUM(xflip_included, "xflip_included");
    TEXT(source);
#undef TEXT
#undef NUM
    return 0;
}

hid_t dataset_create_file(const char *path) {
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl < 0 || H5Pset_obj_track_times(fcpl, 0) < 0) FATAL("HDF5 file creation property list");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    return f;
}

hid_t dataset_create_plist(void) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0 || H5Pset_obj_track_times(dcpl, 0) < 0) FATAL("HDF5 dataset creation property list");
    return dcpl;
}

int dataset_index_write(const char *root, const DatasetInfo *info, const long long *shard_rows, Error *e) {
    char path[4096], tmp[4200];
    dataset_index_path(root, path, sizeof path);
    tmp_name(path, tmp, sizeof tmp);
    hid_t f = dataset_create_file(tmp);
    if (f < 0) return error_set(e, "%s: cannot create the file", tmp);
    hsize_t n = (hsize_t)info->num_shards;
    hid_t s = H5Screate_simple(1, &n, NULL), dcpl = dataset_create_plist();
    hid_t d = H5Dcreate2(f, "shard_rows", H5T_STD_I64LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    int ok = d >= 0 && H5Dwrite(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, shard_rows) >= 0;
    ok = dataset_write_attrs(f, info, -1, 0) == 0 && ok;
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    ok = H5Fclose(f) >= 0 && ok;
    if (tmp_finish(tmp, path, ok) < 0)
        return error_set(e, "%s: cannot write the index (disk full or no permission?)", path);
    return 0;
}

int dataset_index_read(const char *root, DatasetInfo *info, long long **shard_rows, Error *e) {
    char path[4096];
    dataset_index_path(root, path, sizeof path);
    struct stat st;
    if (stat(root, &st) != 0) return error_set(e, "%s: dataset directory not found: %s", root, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return error_set(e, "%s: is a file, expected a dataset directory (made by maskdit-convert)", root);
    if (stat(path, &st) != 0)
        return error_set(e, "%s: missing (not a dataset directory, or its conversion has not finished)", path);
    hid_t f = h5_open_read(path, e);
    if (f < 0) return -1;
    long long count = 0, num_shards = 0;
    long long *rows = NULL;
    int r = dataset_read_attrs(f, path, info, e);
    if (r == 0) r = h5_attr_int64(f, path, "/", "count", &count, e);
    if (r == 0) r = h5_attr_int64(f, path, "/", "num_shards", &num_shards, e);
    if (r == 0 && (num_shards < 1 || num_shards > 1000000 || count < 1))
        r = error_set(e, "%s: count %lld and num_shards %lld must be positive", path, count, num_shards);
    if (r == 0) r = h5_read_all(f, path, "shard_rows", H5T_NATIVE_LLONG, sizeof *rows, num_shards, (void **)&rows, NULL, e);
    H5Fclose(f);
    if (r < 0) return -1;
    long long sum = 0;
    for (long long s = 0; s < num_shards; s++) {
        if (rows[s] < 1) {
            free(rows);
            return error_set(e, "%s: shard_rows[%lld] = %lld, expected a positive count", path, s, rows[s]);
        }
        sum += rows[s];
    }
    if (sum != count) {
        free(rows);
        return error_set(e, "%s: shard_rows add up to %lld but count is %lld", path, sum, count);
    }
    if (count > 0xffffffffLL) {
        free(rows);
        return error_set(e, "%s: %lld samples: at most 2^32-1 are supported", path, count);
    }
    info->count = count;
    info->num_shards = (int)num_shards;
    *shard_rows = rows;
    return 0;
}

static int check_attr_int(hid_t f, const char *path, const char *attr, long long want, Error *e) {
    long long v;
    if (h5_attr_int64(f, path, "/", attr, &v, e) < 0) return -1;
    if (v != want) return error_set(e, "%s: attribute %s is %lld, expected %lld (file from another dataset?)", path, attr, v, want);
    return 0;
}

/* Byte offsets of the raw chunks of an open `latents` dataset. */
static int locate_rows(hid_t d, const char *path, const hsize_t dims[4], ShardLayout *l, off_t file_size, Error *e) {
    hid_t dcpl = H5Dget_create_plist(d);
    if (dcpl < 0) FATAL("%s: H5Dget_create_plist failed", path);
    H5D_layout_t kind = H5Pget_layout(dcpl);
    int r = 0;
    if (kind == H5D_CONTIGUOUS) {
        l->chunk_rows = l->rows;
        l->n_chunks = 1;
        l->chunk_offset = xmalloc(sizeof *l->chunk_offset, "chunk offsets");
        haddr_t a = H5Dget_offset(d);
        if (a == HADDR_UNDEF) r = error_set(e, "%s: dataset latents has no data written", path);
        l->chunk_offset[0] = a;
    } else if (kind == H5D_CHUNKED) {
        hsize_t cdims[4];
        int nf = H5Pget_nfilters(dcpl);
        if (nf != 0)
            r = error_set(e, "%s: dataset latents is compressed or filtered (%d filters); the reader needs raw chunks: "
                          "rewrite it uncompressed (e.g. h5repack -f NONE)", path, nf);
        else if (H5Pget_chunk(dcpl, 4, cdims) != 4 || cdims[0] < 1 || cdims[1] != dims[1] || cdims[2] != dims[2] ||
                 cdims[3] != dims[3])
            r = error_set(e, "%s: dataset latents must be chunked along N only (each chunk whole samples)", path);
        if (r == 0) {
            l->chunk_rows = (long long)cdims[0];
            l->n_chunks = (l->rows + l->chunk_rows - 1) / l->chunk_rows;
            l->chunk_offset = xmalloc((size_t)l->n_chunks * sizeof *l->chunk_offset, "chunk offsets");
        }
        for (long long c = 0; r == 0 && c < l->n_chunks; c++) {
            hsize_t at[4] = {(hsize_t)(c * l->chunk_rows), 0, 0, 0};
            unsigned mask = 0;
            haddr_t a = HADDR_UNDEF;
            hsize_t size = 0;
            if (H5Dget_chunk_info_by_coord(d, at, &mask, &a, &size) < 0 || a == HADDR_UNDEF)
                r = error_set(e, "%s: dataset latents: the chunk at row %lld was never written (incomplete shard)",
                              path, c * l->chunk_rows);
            else if (size != (hsize_t)l->chunk_rows * l->row_bytes)
                r = error_set(e, "%s: dataset latents: the chunk at row %lld holds %llu bytes, expected %llu", path,
                              c * l->chunk_rows, (unsigned long long)size,
                              (unsigned long long)((hsize_t)l->chunk_rows * l->row_bytes));
            else
                l->chunk_offset[c] = a;
        }
    } else {
        r = error_set(e, "%s: dataset latents has a compact or virtual layout; expected chunked or contiguous", path);
    }
    H5Pclose(dcpl);
    for (long long c = 0; r == 0 && c < l->n_chunks; c++) {
        uint64_t end = l->chunk_offset[c] + (uint64_t)l->chunk_rows * l->row_bytes;
        if (end > (uint64_t)file_size)
            r = error_set(e, "%s: dataset latents: data at row %lld lies beyond the end of the file (%lld bytes): "
                          "truncated shard", path, c * l->chunk_rows, (long long)file_size);
    }
    return r;
}

static int check_latents(hid_t f, const char *path, const DatasetInfo *info, ShardLayout *l, off_t file_size,
                         Error *e) {
    hsize_t dims[H5_MAX_DIMS];
    int rank = h5_dataset_shape(f, path, DATASET_LATENTS, dims, e);
    if (rank < 0) return -1;
    long long want[4] = {l->rows, info->stored_channels, info->resolution, info->resolution};
    int same = rank == 4;
    for (int i = 0; same && i < 4; i++) same = (long long)dims[i] == want[i];
    if (!same) {
        char got[128] = "";
        for (int i = 0; i < rank; i++) text_append(got, sizeof got, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
        return error_set(e, "%s: dataset latents has shape [%s], expected [%lld, %lld, %lld, %lld] (from the index)",
                         path, got, want[0], want[1], want[2], want[3]);
    }
    hid_t d = H5Dopen2(f, DATASET_LATENTS, H5P_DEFAULT);
    if (d < 0) return error_set(e, "%s: cannot open dataset latents", path);
    hid_t t = H5Dget_type(d);
    const char *dtype = t >= 0 ? type_dtype(t) : "unreadable";
    if (t >= 0) H5Tclose(t);
    int r = 0;
    if (strcmp(dtype, info->dtype))
        r = error_set(e, "%s: dataset latents is %s, expected %s (little-endian IEEE)", path, dtype, info->dtype);
    l->row_bytes = (size_t)info->stored_channels * (size_t)info->resolution * (size_t)info->resolution *
                   (size_t)dataset_dtype_size(info->dtype);
    if (r == 0) r = locate_rows(d, path, dims, l, file_size, e);
    H5Dclose(d);
    return r;
}

static int check_labels(hid_t f, const char *path, const DatasetInfo *info, long long rows, int32_t *labels, Error *e) {
    hsize_t dims[H5_MAX_DIMS];
    int rank = h5_dataset_shape(f, path, DATASET_LABELS, dims, e);
    if (rank < 0) return -1;
    if (rank != 1 || (long long)dims[0] != rows)
        return error_set(e, "%s: dataset labels must have shape [%lld] (one per sample)", path, rows);
    hid_t d = H5Dopen2(f, DATASET_LABELS, H5P_DEFAULT);
    hid_t t = d >= 0 ? H5Dget_type(d) : -1;
    int integer = t >= 0 && H5Tget_class(t) == H5T_INTEGER;
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    if (!integer) return error_set(e, "%s: dataset labels is not an integer dataset", path);
    if (!labels) return 0;
    if (h5_read_into(f, path, DATASET_LABELS, H5T_NATIVE_INT32, labels, (size_t)rows, e) < 0) return -1;
    int limit = MAX(info->num_classes, 1);
    for (long long i = 0; i < rows; i++)
        if (labels[i] < 0 || labels[i] >= limit)
            return error_set(e, "%s: dataset labels: label %d at row %lld is outside [0, %d)%s", path, labels[i], i, limit,
                             info->num_classes ? "" : " (num_classes 0: unlabelled data must have label 0)");
    return 0;
}

int dataset_shard_open(const char *root, const DatasetInfo *info, int shard, long long first_row, long long rows,
                       ShardLayout *layout, int32_t *labels, hid_t *file, Error *e) {
    char path[4096];
    dataset_shard_path(root, shard, path, sizeof path);
    memset(layout, 0, sizeof *layout);
    layout->rows = rows;
    layout->first_row = first_row;
    struct stat st;
    if (stat(path, &st) != 0) return error_set(e, "%s: shard file is missing (the index lists %d shards)", path, info->num_shards);
    hid_t f = h5_open_read(path, e);
    if (f == H5_UNREADABLE) return -1;   /* the message says why: permissions, a lock, an I/O error */
    if (f < 0)
        return error_set(e, "%s: cannot open as HDF5: truncated or damaged shard (%lld bytes)", path,
                         (long long)st.st_size);
    DatasetInfo have;
    int r = dataset_read_attrs(f, path, &have, e);
    if (r == 0) r = dataset_attrs_match(&have, info, path, e);
    if (r == 0) r = check_attr_int(f, path, "shard_index", shard, e);
    if (r == 0) r = check_attr_int(f, path, "first_row", first_row, e);
    if (r == 0) r = check_latents(f, path, info, layout, st.st_size, e);
    if (r == 0) r = check_labels(f, path, info, rows, labels, e);
    if (r < 0 || !file) {
        H5Fclose(f);
    } else {
        *file = f;
    }
    if (r < 0) shard_layout_free(layout);
    return r;
}

void shard_layout_free(ShardLayout *l) {
    free(l->chunk_offset);
    l->chunk_offset = NULL;
}
