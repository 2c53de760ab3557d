#include "tfevents.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct TfEvents {
    char *path;
    int fd;
};

/* ------------------------------------------------------------------ CRC-32C */

uint32_t crc32c(const void *data, size_t n) {
    static uint32_t table[256];
    static int ready;
    if (!ready) {   /* reflected polynomial 0x82F63B78; filled on first use (one thread writes events) */
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    uint32_t c = 0xFFFFFFFFu;
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t crc32c_masked(const void *data, size_t n) {
    uint32_t c = crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ------------------------------------------------------------------ protocol buffer encoding */

typedef struct {
    unsigned char *b;
    size_t n, cap;
} Buf;

static void put(Buf *o, const void *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 64;
        o->b = xrealloc(o->b, o->cap, "TensorBoard event");
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void varint(Buf *o, uint64_t v) {
    unsigned char b[10];
    int k = 0;
    do {
        b[k++] = (unsigned char)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(o, b, (size_t)k);
}

static void le(Buf *o, uint64_t v, int bytes) {
    unsigned char b[8];
    for (int i = 0; i < bytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    put(o, b, (size_t)bytes);
}

/* Field number f with wire type 0 (varint), 1 (64 bit), 2 (length-delimited) or 5 (32 bit). */
static void key(Buf *o, int f, int wire) { varint(o, (uint64_t)(f << 3 | wire)); }
static void field_varint(Buf *o, int f, uint64_t v) { key(o, f, 0), varint(o, v); }
static void field_bytes(Buf *o, int f, const void *p, size_t n) { key(o, f, 2), varint(o, n), put(o, p, n); }

static void field_double(Buf *o, int f, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    key(o, f, 1), le(o, u, 8);
}

static void field_float(Buf *o, int f, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    key(o, f, 5), le(o, u, 4);
}

static double wall_time(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec * 1e-6;
}

/* The Event's wall_time and step, then `body` (file_version or a summary) as the last field. */
static void event(Buf *o, long long step, int body_field, const Buf *body) {
    field_double(o, 1, wall_time());
    field_varint(o, 2, (uint64_t)step);
    field_bytes(o, body_field, body->b, body->n);
}

/* ------------------------------------------------------------------ records */

static int write_all(TfEvents *w, const void *p, size_t n, Error *e) {
    const unsigned char *c = p;
    while (n) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return error_set(e, "cannot write the TensorBoard event file %s: %s", w->path, strerror(errno));
        c += k, n -= (size_t)k;
    }
    return 0;
}

/* One TFRecord: the whole record in one write, so that a reader never sees half a header. */
static int write_record(TfEvents *w, const Buf *data, Error *e) {
    Buf r = {0};
    le(&r, data->n, 8);
    le(&r, crc32c_masked(r.b, 8), 4);
    put(&r, data->b, data->n);
    le(&r, crc32c_masked(data->b, data->n), 4);
    int rc = write_all(w, r.b, r.n, e);
    free(r.b);
    return rc;
}

static int write_event(TfEvents *w, long long step, int body_field, Buf *body, Error *e) {
    Buf ev = {0};
    event(&ev, step, body_field, body);
    int rc = write_record(w, &ev, e);
    free(ev.b);
    free(body->b);
    return rc;
}

TfEvents *tfevents_open(const char *dir, Error *e) {
    char host[256] = "localhost";
    if (gethostname(host, sizeof host) < 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    TfEvents *w = xcalloc(1, sizeof *w, "TensorBoard writer");
    long now = (long)wall_time();
    /* O_EXCL and a counter: a restart within the same second by a process of the same id still
     * gets a file of its own */
    for (int n = 0; n < 1000; n++) {
        size_t len = strlen(dir) + strlen(host) + 96;
        free(w->path);
        w->path = xmalloc(len, "event file name");
        snprintf(w->path, len, "%s/events.out.tfevents.%ld.%s.%d.%d", dir, now, host, (int)getpid(), n);
        w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (w->fd >= 0 || errno != EEXIST) break;
    }
    if (w->fd < 0) {
        error_set(e, "cannot create the TensorBoard event file %s: %s", w->path, strerror(errno));
        free(w->path);
        free(w);
        return NULL;
    }
    Buf version = {0};
    put(&version, "brain.Event:2", 13);
    if (write_event(w, 0, 3, &version, e) < 0) {
        tfevents_close(w);
        return NULL;
    }
    return w;
}

const char *tfevents_path(const TfEvents *w) { return w->path; }

int tfevents_scalars(TfEvents *w, long long step, const char *const *tags, const double *values, int n, Error *e) {
    Buf summary = {0};
    for (int i = 0; i < n; i++) {
        Buf value = {0};
        field_bytes(&value, 1, tags[i], strlen(tags[i]));
        field_float(&value, 2, (float)values[i]);
        field_bytes(&summary, 1, value.b, value.n);
        free(value.b);
    }
    return write_event(w, step, 5, &summary, e);
}

int tfevents_image(TfEvents *w, long long step, const char *tag, const void *png, size_t png_len, int height,
                   int width, int channels, Error *e) {
    Buf image = {0}, value = {0}, summary = {0};
    field_varint(&image, 1, (uint64_t)height);
    field_varint(&image, 2, (uint64_t)width);
    field_varint(&image, 3, (uint64_t)channels);
    field_bytes(&image, 4, png, png_len);
    field_bytes(&value, 1, tag, strlen(tag));
    field_bytes(&value, 4, image.b, image.n);
    field_bytes(&summary, 1, value.b, value.n);
    free(image.b);
    free(value.b);
    return write_event(w, step, 5, &summary, e);
}

void tfevents_close(TfEvents *w) {
    if (!w) return;
    if (w->fd >= 0 && close(w->fd) < 0) warn("closing the TensorBoard event file %s: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
}
