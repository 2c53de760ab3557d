#include "pickle_write.h"

#include <stdint.h>
#include <string.h>

#include "../util/common.h"

static void put(PkWriter *w, const void *p, size_t n) {
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 256;
        w->b = xrealloc(w->b, w->cap, "pickle stream");
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void le(PkWriter *w, uint64_t v, int bytes) {
    unsigned char b[8];
    for (int i = 0; i < bytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, (size_t)bytes);
}

void pkw_op(PkWriter *w, int opcode) {
    unsigned char c = (unsigned char)opcode;
    put(w, &c, 1);
}

void pkw_begin(PkWriter *w) {
    *w = (PkWriter){0};
    pkw_op(w, 0x80);   /* PROTO */
    pkw_op(w, 2);
}

void pkw_end(PkWriter *w) { pkw_op(w, PKW_STOP); }

void pkw_str(PkWriter *w, const char *s) {
    size_t n = strlen(s);
    pkw_op(w, 'X');   /* BINUNICODE: u32 length, UTF-8 */
    le(w, n, 4);
    put(w, s, n);
}

void pkw_int(PkWriter *w, long long v) {
    if (v >= 0 && v < 256) {
        pkw_op(w, 'K');   /* BININT1 */
        le(w, (uint64_t)v, 1);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        pkw_op(w, 'J');   /* BININT: signed 32 bit */
        le(w, (uint64_t)(uint32_t)(int32_t)v, 4);
    } else {
        pkw_op(w, 0x8a);   /* LONG1: 8 bytes, two's complement */
        pkw_op(w, 8);
        le(w, (uint64_t)v, 8);
    }
}

void pkw_float(PkWriter *w, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    pkw_op(w, 'G');   /* BINFLOAT: big-endian double */
    for (int i = 7; i >= 0; i--) pkw_op(w, (int)(u >> (8 * i)) & 0xFF);
}

void pkw_bool(PkWriter *w, int v) { pkw_op(w, v ? PKW_NEWTRUE : PKW_NEWFALSE); }

void pkw_global(PkWriter *w, const char *module, const char *name) {
    pkw_op(w, 'c');   /* GLOBAL "module\nname\n" */
    put(w, module, strlen(module));
    put(w, "\n", 1);
    put(w, name, strlen(name));
    put(w, "\n", 1);
}
