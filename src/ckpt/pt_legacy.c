#include "pt_legacy.h"

#include <errno.h>
#include <string.h>

#include "../util/fileio.h"

/* MAGIC_NUMBER as pickle writes it: LONG1 with 10 little-endian bytes, then STOP. */
static const unsigned char MAGIC_LONG[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                           0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
#define PROTOCOL_VERSION 1001
/* The pickles before the data are small (a state dict of hundreds of tensors: tens of KB); the
 * first read takes this much and doubles while a pickle runs past it, up to a limit that keeps a
 * damaged file (a pickle without its end) from being read whole into memory. */
#define FIRST_READ (64u << 10)
#define PICKLE_LIMIT (256u << 20)

/* Bytes of the magic pickle at head, or 0: PROTO n, an optional FRAME (protocol 4+), the number. */
static size_t magic_len(const unsigned char *head, size_t n) {
    size_t at = 2;
    if (n < 2 || head[0] != 0x80 || head[1] < 2 || head[1] > 5) return 0;
    if (n > at && head[at] == 0x95) at += 9;
    if (n < at + sizeof MAGIC_LONG || memcmp(head + at, MAGIC_LONG, sizeof MAGIC_LONG) != 0) return 0;
    return at + sizeof MAGIC_LONG;
}

int pt_legacy_magic(const unsigned char *head, size_t n) { return magic_len(head, n) > 0; }

typedef struct {
    const unsigned char *buf;
    size_t len, pos;
    const char *path;
    int ended_early;
} Stream;

/* The next pickle of the stream; `what` names it in messages. */
static Pickle *next_pickle(Stream *s, const char *what, PkValue **root, Error *e) {
    char where[1200];
    snprintf(where, sizeof where, "%s: %s (legacy torch.save file, at byte %zu)", s->path, what, s->pos);
    size_t used = 0;
    int early = 0;
    Pickle *p = pickle_load_prefix(s->buf + s->pos, s->len - s->pos, where, root, &used, &early, e);
    if (!p) {
        s->ended_early = early;
        return NULL;
    }
    s->pos += used;
    return p;
}

static int check_header(Stream *s, Error *e) {
    PkValue *v;
    Pickle *p = next_pickle(s, "protocol version", &v, e);
    if (!p) return -1;
    long long version = 0;
    int ok = pk_as_int(v, &version) == 0 && version == PROTOCOL_VERSION;
    pickle_free(p);
    if (!ok) return error_set(e, "%s: legacy torch.save file with protocol version %lld, expected %d", s->path, version,
                              PROTOCOL_VERSION);
    if (!(p = next_pickle(s, "sys_info", &v, e))) return -1;
    const PkValue *little = pk_dict_get(v, "little_endian");
    ok = !little || little->i;
    pickle_free(p);
    if (!ok) return error_set(e, "%s: the tensors were saved big-endian (not supported)", s->path);
    return 0;
}

/* The persistent id ('storage', type, key, location, numel, view_metadata) that names key. */
static const PkValue *storage_id(const Pickle *p, const char *key) {
    for (size_t i = 0; i < pickle_value_count(p); i++) {
        const PkValue *v = pickle_value(p, i);
        const PkValue *id = v->kind == PK_PERSID ? v->items[0] : NULL;
        if (id && id->kind == PK_TUPLE && id->n >= 5 && id->items[2]->kind == PK_STR &&
            strcmp(id->items[2]->s, key) == 0)
            return id;
    }
    return NULL;
}

/* Where each storage's data lies: the list of keys gives their order after the pickles; each
 * starts with its element count. */
static int locate_storages(int fd, uint64_t file_size, const char *path, const PkValue *keys, uint64_t at,
                           PtLegacy *l, Error *e) {
    if (keys->kind != PK_LIST) return error_set(e, "%s: legacy torch.save file without its list of storage keys", path);
    l->storages = xcalloc(keys->n + 1, sizeof *l->storages, "legacy storages");
    for (size_t i = 0; i < keys->n; i++) {
        const PkValue *k = keys->items[i];
        if (k->kind != PK_STR) return error_set(e, "%s: storage key %zu is not a string", path, i);
        const PkValue *id = storage_id(l->pickle, k->s);
        if (!id) return error_set(e, "%s: storage '%s' is listed but no tensor uses it", path, k->s);
        if (id->n > 5 && id->items[5]->kind != PK_NONE)
            return error_set(e, "%s: storage '%s' is a storage view (a file of PyTorch < 0.4; re-save it with a newer "
                                "PyTorch)", path, k->s);
        FloatData dt;
        int es;
        if (id->items[1]->kind != PK_GLOBAL || pt_storage_info(id->items[1]->s, &dt, &es) < 0)
            return error_set(e, "%s: storage '%s' has an unknown storage type", path, k->s);
        unsigned char count_le[8];
        if (at > file_size || file_size - at < 8) {
            l->truncated = 1;
            return 0;
        }
        if (pread_full(fd, count_le, 8, at) < 0)
            return error_set(e, "%s: cannot read storage '%s' at byte %llu: %s", path, k->s, (unsigned long long)at,
                             errno ? strerror(errno) : "the file shrank while read");
        uint64_t count = 0;
        for (int b = 7; b >= 0; b--) count = count << 8 | count_le[b];
        uint64_t bytes = count * (uint64_t)es;
        if (count > file_size || file_size - at - 8 < bytes) {
            l->truncated = 1;
            return 0;
        }
        l->storages[i] = (PtStorage){.key = k->s, .bytes = bytes, .file_offset = at + 8};
        l->count++;
        at += 8 + bytes;
    }
    return 0;
}

/* The pickles from a buffer of the file's first len bytes; *ended_early when one ran past it. */
static int parse_pickles(const unsigned char *buf, size_t len, const char *path, PtLegacy *l, PkValue **keys,
                         size_t *end, int *ended_early, Error *e) {
    Stream s = {.buf = buf, .len = len, .pos = magic_len(buf, len), .path = path};
    if (s.pos == 0) return error_set(e, "%s: not a legacy torch.save file (no magic number)", path);
    int rc = check_header(&s, e);
    if (rc == 0 && !(l->pickle = next_pickle(&s, "the saved object", &l->root, e))) rc = -1;
    if (rc == 0 && !(l->keys_pickle = next_pickle(&s, "storage keys", keys, e))) rc = -1;
    *ended_early = s.ended_early;
    *end = s.pos;
    return rc;
}

int pt_legacy_read(int fd, uint64_t file_size, const char *path, PtLegacy *out, Error *e) {
    memset(out, 0, sizeof *out);
    PkValue *keys = NULL;
    size_t end = 0;
    int rc = -1;
    for (uint64_t want = FIRST_READ;; want *= 2) {
        size_t len = (size_t)MIN(want, file_size);
        unsigned char *buf = xmalloc(len + 1, "legacy torch.save pickles");
        int early = 0;
        if (pread_full(fd, buf, len, 0) < 0) {
            rc = error_set(e, "%s: cannot read: %s", path, errno ? strerror(errno) : "the file shrank while read");
        } else {
            rc = parse_pickles(buf, len, path, out, &keys, &end, &early, e);
        }
        free(buf);
        if (rc == 0 || !early || len == file_size) break;
        if (len >= PICKLE_LIMIT) {
            rc = error_set(e, "%s: the pickles of this legacy torch.save file run past its first %u MiB (damaged?)",
                           path, PICKLE_LIMIT >> 20);
            break;
        }
        pt_legacy_free(out);   /* a pickle ran past the buffer: read more and start again */
    }
    if (rc == 0) rc = locate_storages(fd, file_size, path, keys, end, out, e);
    if (rc < 0) pt_legacy_free(out);
    return rc;
}

void pt_legacy_free(PtLegacy *l) {
    pickle_free(l->pickle);
    pickle_free(l->keys_pickle);
    free(l->storages);
    memset(l, 0, sizeof *l);
}
