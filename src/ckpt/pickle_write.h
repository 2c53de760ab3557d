/* A pickle emitter (protocol 2) for the objects torch.save writes into checkpoints: dicts, lists,
 * tuples, strings, numbers, booleans, None, globals, calls (REDUCE) and persistent ids (tensor
 * storages). The caller spells the object out in the pickle machine's stack order, e.g. a dict:
 *   pkw_op(w, PKW_EMPTY_DICT); pkw_op(w, PKW_MARK); pkw_str(w, "k"); pkw_int(w, 1); pkw_op(w, PKW_SETITEMS);
 * Only opcodes that torch.load(weights_only=True) accepts are used. The reader is src/ckpt/pickle.c. */
#ifndef MASKDIT_PICKLE_WRITE_H
#define MASKDIT_PICKLE_WRITE_H

#include <stddef.h>

enum {
    PKW_MARK = '(', PKW_STOP = '.', PKW_NONE = 'N', PKW_REDUCE = 'R', PKW_BINPERSID = 'Q', PKW_TUPLE = 't',
    PKW_EMPTY_TUPLE = ')', PKW_EMPTY_LIST = ']', PKW_APPENDS = 'e', PKW_EMPTY_DICT = '}', PKW_SETITEMS = 'u',
    PKW_NEWTRUE = 0x88, PKW_NEWFALSE = 0x89
};

typedef struct {
    unsigned char *b;
    size_t n, cap;
} PkWriter;

/* A new stream (PROTO 2); pkw_end appends STOP. The bytes are w->b[0, w->n); free(w->b). */
void pkw_begin(PkWriter *w);
void pkw_end(PkWriter *w);
void pkw_op(PkWriter *w, int opcode);
void pkw_str(PkWriter *w, const char *s);
void pkw_int(PkWriter *w, long long v);
void pkw_float(PkWriter *w, double v);
void pkw_bool(PkWriter *w, int v);
/* GLOBAL module.name ("collections", "OrderedDict"). */
void pkw_global(PkWriter *w, const char *module, const char *name);

#endif
