#include "npy.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "fileio.h"
#include "half.h"

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* "<f4" -> kind 'f', size 4. Only byte orders we can read without swapping are accepted. */
static int parse_descr(const char *descr, const char *name, NpyHeader *h, Error *e) {
    char order = descr[0];
    char kind = order ? descr[1] : 0;
    char *end = NULL;
    long size = kind ? strtol(descr + 2, &end, 10) : 0;
    int known = (kind == 'f' && (size == 2 || size == 4 || size == 8)) ||
                ((kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
                (kind == 'b' && size == 1);
    if (!known || !end || *end || !strchr("<>|=", order))
        return error_set(e, "%s: unsupported dtype '%s' (expected a bool, integer or float type such as '<f4')", name,
                         descr);
    if (order == '>' && size > 1)
        return error_set(e, "%s: dtype '%s' is big-endian; convert it with numpy's astype('<%c%ld') first", name, descr,
                         kind, size);
    snprintf(h->descr, sizeof h->descr, "%s", descr);
    h->kind = kind;
    h->elem_size = (int)size;
    return 0;
}

/* Value of key in the header dict: points just after "'key':" and any spaces, or NULL. */
static const char *dict_value(const char *dict, const char *key) {
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(dict, quoted);
    if (!p) return NULL;
    p += strlen(quoted);
    while (isspace((unsigned char)*p)) p++;
    if (*p != ':') return NULL;
    p++;
    while (isspace((unsigned char)*p)) p++;
    return p;
}

static int parse_dict(const char *dict, const char *name, NpyHeader *h, Error *e) {
    const char *d = dict_value(dict, "descr");
    if (!d || (*d != '\'' && *d != '"'))
        return error_set(e, "%s: .npy header has no 'descr' string (structured dtypes are not supported): %s", name,
                         dict);
    char descr[16];
    const char *close = strchr(d + 1, *d);
    if (!close || close - d - 1 >= (long)sizeof descr)
        return error_set(e, "%s: .npy header has a malformed 'descr': %s", name, dict);
    memcpy(descr, d + 1, (size_t)(close - d - 1));
    descr[close - d - 1] = 0;
    if (parse_descr(descr, name, h, e) < 0) return -1;

    const char *fo = dict_value(dict, "fortran_order");
    if (!fo || (strncmp(fo, "False", 5) && strncmp(fo, "True", 4)))
        return error_set(e, "%s: .npy header has no 'fortran_order' True/False: %s", name, dict);
    if (!strncmp(fo, "True", 4))
        return error_set(e, "%s: array is stored in Fortran order; save it with numpy.ascontiguousarray first", name);

    const char *s = dict_value(dict, "shape");
    if (!s || *s != '(') return error_set(e, "%s: .npy header has no 'shape' tuple: %s", name, dict);
    s++;
    h->ndim = 0;
    for (;;) {
        while (isspace((unsigned char)*s)) s++;
        if (*s == ')') break;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 0) return error_set(e, "%s: .npy header has a malformed 'shape': %s", name, dict);
        if (h->ndim == NPY_MAX_DIMS) return error_set(e, "%s: array has more than %d dimensions", name, NPY_MAX_DIMS);
        h->shape[h->ndim++] = v;
        s = end;
        while (isspace((unsigned char)*s)) s++;
        if (*s == ',') s++;
        else if (*s != ')') return error_set(e, "%s: .npy header has a malformed 'shape': %s", name, dict);
    }
    return 0;
}

/* Fixed part: magic, version and the header length; returns the bytes before the dict. */
static int parse_preamble(const unsigned char *b, size_t avail, const char *name, long long *dict_len, Error *e) {
    if (avail < 10 || memcmp(b, NPY_MAGIC, sizeof NPY_MAGIC))
        return error_set(e, "%s: not a .npy file (missing the \\x93NUMPY magic)", name);
    int major = b[6];
    if (major == 1) {
        *dict_len = b[8] | (b[9] << 8);
        return 10;
    }
    if (major == 2 || major == 3) {
        if (avail < 12) return error_set(e, "%s: truncated .npy header", name);
        *dict_len = (long long)b[8] | ((long long)b[9] << 8) | ((long long)b[10] << 16) | ((long long)b[11] << 24);
        return 12;
    }
    return error_set(e, "%s: unsupported .npy format version %d.%d", name, major, b[7]);
}

int npy_parse_header(const void *buf, size_t avail, const char *name, NpyHeader *h, Error *e) {
    memset(h, 0, sizeof *h);
    const unsigned char *b = buf;
    long long dict_len;
    int pre = parse_preamble(b, avail, name, &dict_len, e);
    if (pre < 0) return -1;
    if ((size_t)(pre + dict_len) > avail) return error_set(e, "%s: truncated .npy header", name);
    char *dict = xmalloc((size_t)dict_len + 1, "npy header");
    memcpy(dict, b + pre, (size_t)dict_len);
    dict[dict_len] = 0;
    int r = parse_dict(dict, name, h, e);
    free(dict);
    h->header_bytes = pre + dict_len;
    return r;
}

int npy_read_header(FILE *f, const char *name, NpyHeader *h, Error *e) {
    unsigned char pre[12];
    size_t got = fread(pre, 1, sizeof pre, f);
    long long dict_len;
    int n = parse_preamble(pre, got, name, &dict_len, e);
    if (n < 0) return -1;
    size_t total = (size_t)(n + dict_len);
    unsigned char *buf = xmalloc(total, "npy header");
    memcpy(buf, pre, MIN(got, total));
    if (total > got && fread(buf + got, 1, total - got, f) != total - got) {
        free(buf);
        return error_set(e, "%s: truncated .npy header", name);
    }
    int r = npy_parse_header(buf, total, name, h, e);
    free(buf);
    if (r == 0 && fseeko(f, (off_t)h->header_bytes, SEEK_SET) != 0)
        return error_set(e, "%s: cannot seek to the array data", name);
    return r;
}

long long npy_count(const NpyHeader *h) {
    long long n = 1;
    for (int i = 0; i < h->ndim; i++) n *= h->shape[i];
    return n;
}

long long npy_format_header(char *buf, size_t cap, const char *descr, int ndim, const long long *shape) {
    char dict[512], dims[400] = "";
    size_t used = 0;
    for (int i = 0; i < ndim; i++) {
        int w = snprintf(dims + used, sizeof dims - used, "%lld,%s", shape[i], i + 1 < ndim ? " " : "");
        if (w < 0 || (size_t)w >= sizeof dims - used) return -1;
        used += (size_t)w;
    }
    if (ndim > 1) dims[used - 1] = 0; /* "(2, 3)" but "(5,)" for one dimension */
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
    if (len < 0 || (size_t)len >= sizeof dict) return -1;
    /* Version 1.0: the dict (at most a few hundred bytes here) fits its 2-byte length. */
    const int pre = 10;
    long long total = ((pre + len + 1 + 63) / 64) * 64; /* dict + spaces + '\n', data 64-byte aligned */
    if ((size_t)total > cap) return -1;
    memcpy(buf, NPY_MAGIC, sizeof NPY_MAGIC);
    buf[6] = 1;
    buf[7] = 0;
    long long dict_len = total - pre;
    buf[8] = (char)(dict_len & 0xff);
    buf[9] = (char)(dict_len >> 8);
    memcpy(buf + pre, dict, (size_t)len);
    memset(buf + pre + len, ' ', (size_t)(total - pre - len - 1));
    buf[total - 1] = '\n';
    return total;
}

int npy_save(const char *path, const char *descr, int ndim, const long long *shape, const void *data, Error *e) {
    NpyHeader h = {0};
    if (parse_descr(descr, path, &h, e) < 0) return -1;
    char header[1024];
    long long hb = npy_format_header(header, sizeof header, descr, ndim, shape);
    if (hb < 0) return error_set(e, "%s: .npy header too long", path);
    long long count = 1;
    for (int i = 0; i < ndim; i++) count *= shape[i];
    char tmp[4096];
    tmp_name(path, tmp, sizeof tmp);
    FILE *f = fopen(tmp, "wb");
    if (!f) return error_set(e, "%s: cannot create (%s)", tmp, strerror(errno));
    int ok = fwrite(header, 1, (size_t)hb, f) == (size_t)hb &&
             fwrite(data, (size_t)h.elem_size, (size_t)count, f) == (size_t)count;
    ok = (fclose(f) == 0) && ok;
    if (tmp_finish(tmp, path, ok) < 0) return error_set(e, "%s: write failed (disk full or no permission?)", path);
    return 0;
}

/* Little-endian element i of the source as the widest type of its kind. */
#define LOAD(type, src, i) ({ type v_; memcpy(&v_, (const char *)(src) + (i) * sizeof(type), sizeof v_); v_; })

void npy_to_float(const NpyHeader *h, const void *src, size_t n, float *dst) {
    for (size_t i = 0; i < n; i++) {
        switch (h->kind * 16 + h->elem_size) {
        case 'f' * 16 + 2: dst[i] = half_to_float(LOAD(uint16_t, src, i)); break;
        case 'f' * 16 + 4: dst[i] = LOAD(float, src, i); break;
        case 'f' * 16 + 8: dst[i] = (float)LOAD(double, src, i); break;
        case 'i' * 16 + 1: dst[i] = LOAD(int8_t, src, i); break;
        case 'i' * 16 + 2: dst[i] = LOAD(int16_t, src, i); break;
        case 'i' * 16 + 4: dst[i] = (float)LOAD(int32_t, src, i); break;
        case 'i' * 16 + 8: dst[i] = (float)LOAD(int64_t, src, i); break;
        case 'u' * 16 + 2: dst[i] = LOAD(uint16_t, src, i); break;
        case 'u' * 16 + 4: dst[i] = (float)LOAD(uint32_t, src, i); break;
        case 'u' * 16 + 8: dst[i] = (float)LOAD(uint64_t, src, i); break;
        default: dst[i] = LOAD(uint8_t, src, i); break; /* u1, b1 */
        }
    }
}

void npy_to_int64(const NpyHeader *h, const void *src, size_t n, int64_t *dst) {
    for (size_t i = 0; i < n; i++) {
        switch (h->kind * 16 + h->elem_size) {
        case 'i' * 16 + 1: dst[i] = LOAD(int8_t, src, i); break;
        case 'i' * 16 + 2: dst[i] = LOAD(int16_t, src, i); break;
        case 'i' * 16 + 4: dst[i] = LOAD(int32_t, src, i); break;
        case 'i' * 16 + 8: dst[i] = LOAD(int64_t, src, i); break;
        case 'u' * 16 + 2: dst[i] = LOAD(uint16_t, src, i); break;
        case 'u' * 16 + 4: dst[i] = LOAD(uint32_t, src, i); break;
        case 'u' * 16 + 8: dst[i] = (int64_t)LOAD(uint64_t, src, i); break;
        default: dst[i] = LOAD(uint8_t, src, i); break; /* u1, b1 */
        }
    }
}
