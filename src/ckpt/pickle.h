/* A safe, generic unpickler for the subset of the pickle format (protocols 2-5) that torch.save
 * writes for checkpoints: dicts and OrderedDicts, lists, tuples, strings, numbers, globals,
 * class instances (argparse.Namespace), persistent ids (tensor storages) and the memo.
 *
 * Nothing is executed: a call (REDUCE, NEWOBJ) becomes a PK_OBJECT that records the callable and
 * its arguments, to be interpreted by the caller (src/ckpt/pt_import.c turns
 * torch._utils._rebuild_tensor_v2 objects into tensors; src/ckpt/pickle_numpy.c NumPy arrays). The
 * only calls evaluated here are collections.OrderedDict(), which becomes a plain PK_DICT (keys keep
 * their order), and _codecs.encode(text, 'latin1'), protocol 2's spelling of bytes, which becomes
 * PK_BYTES. Protocol 5's in-band buffers (BYTEARRAY8) are PK_BYTES too; out-of-band ones are refused. */
#ifndef MASKDIT_PICKLE_H
#define MASKDIT_PICKLE_H

#include <stddef.h>

#include "../util/common.h"

typedef enum {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_BYTES, PK_TUPLE, PK_LIST, PK_DICT,
    PK_GLOBAL,   /* s = "module.name" */
    PK_OBJECT,   /* result of a call: cls = the callable, items = the arguments */
    PK_PERSID    /* persistent id: items[0] = the id object (torch: a tuple describing a storage) */
} PkKind;

typedef struct PkValue PkValue;
struct PkValue {
    PkKind kind;
    long long i;        /* PK_BOOL, PK_INT */
    double f;           /* PK_FLOAT */
    char *s;            /* PK_STR, PK_BYTES (len bytes, NUL-terminated), PK_GLOBAL */
    size_t len;
    PkValue **items;    /* tuple/list items; dict: key0, value0, key1, value1, ...; object arguments */
    size_t n;           /* entries used in items */
    size_t cap;
    PkValue *cls;       /* PK_OBJECT: the callable (usually a PK_GLOBAL) */
    PkValue *state;     /* set by BUILD (object attributes, OrderedDict _metadata), else NULL */
};

typedef struct Pickle Pickle;   /* owns every value of one unpickled stream */

/* Unpickle data[0, len). `where` names the stream in messages (e.g. "X.pt: X/data.pkl").
 * Returns the owner (free with pickle_free) and the root value in *root, or NULL with a message
 * naming the offset and the opcode that could not be handled. */
Pickle *pickle_load(const unsigned char *data, size_t len, const char *where, PkValue **root, Error *e);
/* The same for a pickle followed by other data (legacy torch.save files hold several in a row):
 * *used = the bytes up to and including its STOP. On failure *ended_early tells whether the data
 * ended inside the pickle (more data may complete it) rather than being wrong. used and
 * ended_early may be NULL. */
Pickle *pickle_load_prefix(const unsigned char *data, size_t len, const char *where, PkValue **root, size_t *used,
                           int *ended_early, Error *e);
void pickle_free(Pickle *p);
/* Every value the stream made, in creation order (e.g. to find all persistent ids). */
size_t pickle_value_count(const Pickle *p);
const PkValue *pickle_value(const Pickle *p, size_t i);

/* Dict lookups (the last assignment of a key wins, as in Python); NULL when absent or when d is
 * not a dict. */
const PkValue *pk_dict_get(const PkValue *d, const char *key);
const PkValue *pk_dict_get_int(const PkValue *d, long long key);
/* Entries of a dict. */
static inline size_t pk_dict_len(const PkValue *d) { return d->n / 2; }
static inline const PkValue *pk_dict_key(const PkValue *d, size_t i) { return d->items[2 * i]; }
static inline const PkValue *pk_dict_value(const PkValue *d, size_t i) { return d->items[2 * i + 1]; }

/* v is a PK_GLOBAL named qualname, or a PK_OBJECT whose callable is. */
int pk_is_global(const PkValue *v, const char *qualname);
/* PK_INT or PK_BOOL as an integer / PK_INT or PK_FLOAT as a double: 0 on success. */
int pk_as_int(const PkValue *v, long long *out);
int pk_as_double(const PkValue *v, double *out);

/* Short Python-like text of a value ("{'lr': 0.0001, ...}"), cut at len. */
void pk_repr(const PkValue *v, char *buf, size_t len);

#endif
