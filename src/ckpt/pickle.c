#include "pickle.h"

#include <stdarg.h>
#include <string.h>

#include "../util/numtext.h"

/* Opcodes (Python's Lib/pickletools.py documents each). */
enum {
    OP_MARK = '(', OP_STOP = '.', OP_POP = '0', OP_POP_MARK = '1', OP_DUP = '2', OP_BINFLOAT = 'G',
    OP_BININT = 'J', OP_BININT1 = 'K', OP_BININT2 = 'M', OP_NONE = 'N', OP_BINPERSID = 'Q', OP_REDUCE = 'R',
    OP_BINSTRING = 'T', OP_SHORT_BINSTRING = 'U', OP_BINUNICODE = 'X', OP_APPEND = 'a', OP_BUILD = 'b',
    OP_GLOBAL = 'c', OP_DICT = 'd', OP_EMPTY_DICT = '}', OP_APPENDS = 'e', OP_BINGET = 'h', OP_LONG_BINGET = 'j',
    OP_LIST = 'l', OP_EMPTY_LIST = ']', OP_BINPUT = 'q', OP_LONG_BINPUT = 'r', OP_SETITEM = 's', OP_TUPLE = 't',
    OP_EMPTY_TUPLE = ')', OP_SETITEMS = 'u', OP_BINBYTES = 'B', OP_SHORT_BINBYTES = 'C',
    OP_PROTO = 0x80, OP_NEWOBJ = 0x81, OP_TUPLE1 = 0x85, OP_TUPLE2 = 0x86, OP_TUPLE3 = 0x87, OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89, OP_LONG1 = 0x8a, OP_LONG4 = 0x8b, OP_SHORT_BINUNICODE = 0x8c, OP_BINUNICODE8 = 0x8d,
    OP_BINBYTES8 = 0x8e, OP_STACK_GLOBAL = 0x93, OP_MEMOIZE = 0x94, OP_FRAME = 0x95, OP_BYTEARRAY8 = 0x96,
    OP_NEXT_BUFFER = 0x97, OP_READONLY_BUFFER = 0x98
};

/* Memo indices beyond this are refused: a damaged LONG_BINPUT must not allocate gigabytes. */
#define MEMO_LIMIT (1u << 24)

struct Pickle {
    PkValue **all;
    size_t n, cap;
};

typedef struct {
    const unsigned char *d;
    size_t len, pos, op_pos;
    int op;
    const char *where;
    Error *e;
    Pickle *pk;
    PkValue **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    PkValue **memo;
    size_t memo_cap;
    size_t memo_defined;   /* distinct memo entries: MEMOIZE's next index, as in Python */
    int ended_early;       /* the data ended inside the pickle */
} Vm;

static void grow(void **p, size_t *cap, size_t need, size_t elem, const char *what) {
    if (need <= *cap) return;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    *p = xrealloc(*p, c * elem, what);
    *cap = c;
}

static PkValue *new_value(Vm *vm, PkKind kind) {
    PkValue *v = xcalloc(1, sizeof *v, "pickle value");
    v->kind = kind;
    grow((void **)&vm->pk->all, &vm->pk->cap, vm->pk->n + 1, sizeof *vm->pk->all, "pickle values");
    vm->pk->all[vm->pk->n++] = v;
    return v;
}

static void add_item(PkValue *c, PkValue *item) {
    grow((void **)&c->items, &c->cap, c->n + 1, sizeof *c->items, "pickle container");
    c->items[c->n++] = item;
}

static int vm_error(Vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vm_error(Vm *vm, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(vm->e, "%s: %s (opcode 0x%02x at offset %zu)", vm->where, msg, vm->op, vm->op_pos);
}

static int need(Vm *vm, size_t n) {
    if (vm->len - vm->pos >= n) return 0;
    vm->ended_early = 1;
    return vm_error(vm, "pickle data ends early (truncated or damaged)");
}

static uint64_t read_le(Vm *vm, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | vm->d[vm->pos + (size_t)i];
    vm->pos += (size_t)bytes;
    return v;
}

static void push(Vm *vm, PkValue *v) {
    grow((void **)&vm->stack, &vm->stack_cap, vm->sp + 1, sizeof *vm->stack, "pickle stack");
    vm->stack[vm->sp++] = v;
}

/* The stack floor: values below the innermost MARK belong to an enclosing construct. */
static size_t floor_of(const Vm *vm) { return vm->n_marks ? vm->marks[vm->n_marks - 1] : 0; }

static PkValue *pop(Vm *vm) {
    if (vm->sp <= floor_of(vm)) {
        vm_error(vm, "pickle stack underflow (damaged data)");
        return NULL;
    }
    return vm->stack[--vm->sp];
}

static PkValue *top(Vm *vm) {
    if (vm->sp <= floor_of(vm)) {
        vm_error(vm, "pickle stack is empty (damaged data)");
        return NULL;
    }
    return vm->stack[vm->sp - 1];
}

/* Pop back to the innermost MARK; the popped values are stack[*first, *first + *count). */
static int pop_mark(Vm *vm, size_t *first, size_t *count) {
    if (!vm->n_marks) return vm_error(vm, "no MARK on the pickle stack (damaged data)");
    *first = vm->marks[--vm->n_marks];
    *count = vm->sp - *first;
    vm->sp = *first;
    return 0;
}

static int push_string(Vm *vm, PkKind kind, size_t len) {
    if (need(vm, len) < 0) return -1;
    PkValue *v = new_value(vm, kind);
    v->s = xmalloc(len + 1, "pickle string");
    memcpy(v->s, vm->d + vm->pos, len);
    v->s[len] = 0;
    v->len = len;
    vm->pos += len;
    push(vm, v);
    return 0;
}

static int push_int(Vm *vm, long long i) {
    PkValue *v = new_value(vm, PK_INT);
    v->i = i;
    push(vm, v);
    return 0;
}

/* LONG1/LONG4: little-endian two's complement of n bytes. */
static int push_long(Vm *vm, size_t n) {
    if (n > 8) return vm_error(vm, "integer of %zu bytes is wider than 64 bits", n);
    if (need(vm, n) < 0) return -1;
    uint64_t u = n ? read_le(vm, (int)n) : 0;
    if (n && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~0ull << (8 * n);   /* sign-extend */
    return push_int(vm, (long long)u);
}

static int push_tuple(Vm *vm, size_t first, size_t count, PkKind kind) {
    PkValue *t = new_value(vm, kind);
    for (size_t i = 0; i < count; i++) add_item(t, vm->stack[first + i]);
    push(vm, t);
    return 0;
}

static int push_small_tuple(Vm *vm, size_t count) {
    if (vm->sp < floor_of(vm) + count) return vm_error(vm, "pickle stack underflow (damaged data)");
    vm->sp -= count;
    return push_tuple(vm, vm->sp, count, PK_TUPLE);
}

static int op_global(Vm *vm, const char *module, size_t mlen, const char *name, size_t nlen) {
    PkValue *g = new_value(vm, PK_GLOBAL);
    g->len = mlen + 1 + nlen;
    g->s = xmalloc(g->len + 1, "pickle global");
    memcpy(g->s, module, mlen);
    g->s[mlen] = '.';
    memcpy(g->s + mlen + 1, name, nlen);
    g->s[g->len] = 0;
    push(vm, g);
    return 0;
}

static int read_line(Vm *vm, const char **start, size_t *n) {
    const unsigned char *nl = memchr(vm->d + vm->pos, '\n', vm->len - vm->pos);
    if (!nl) {
        vm->ended_early = 1;
        return vm_error(vm, "pickle data ends inside a GLOBAL name");
    }
    *start = (const char *)vm->d + vm->pos;
    *n = (size_t)(nl - (vm->d + vm->pos));
    vm->pos += *n + 1;
    return 0;
}

/* _codecs.encode(text, 'latin1'): how protocol 2 writes Python 3 bytes. The text arrives as UTF-8;
 * every code point is < 256 (one byte each) or the call would have failed when pickling. */
static int push_latin1(Vm *vm, const PkValue *text) {
    PkValue *b = new_value(vm, PK_BYTES);
    b->s = xmalloc(text->len + 1, "pickle bytes");
    const unsigned char *u = (const unsigned char *)text->s;
    for (size_t i = 0; i < text->len; i++) {
        unsigned c = u[i];
        if (c >= 0xc2 && c <= 0xc3 && i + 1 < text->len && (u[i + 1] & 0xc0) == 0x80) c = (c & 3) << 6 | (u[++i] & 0x3f);
        else if (c >= 0x80) return vm_error(vm, "_codecs.encode(..., 'latin1') of text that is not Latin-1");
        b->s[b->len++] = (char)c;
    }
    b->s[b->len] = 0;
    push(vm, b);
    return 0;
}

/* A call f(*args): collections.OrderedDict() becomes a dict, _codecs.encode(s, 'latin1') bytes,
 * anything else an object record. */
static int make_call(Vm *vm, PkValue *callable, PkValue *args) {
    if (!callable || !args) return -1;
    if (args->kind != PK_TUPLE) return vm_error(vm, "call arguments are not a tuple");
    if (pk_is_global(callable, "collections.OrderedDict") && args->n == 0) {
        push(vm, new_value(vm, PK_DICT));
        return 0;
    }
    if (pk_is_global(callable, "_codecs.encode") && args->n == 2 && args->items[0]->kind == PK_STR &&
        args->items[1]->kind == PK_STR && (!strcmp(args->items[1]->s, "latin1") || !strcmp(args->items[1]->s, "latin-1")))
        return push_latin1(vm, args->items[0]);
    PkValue *o = new_value(vm, PK_OBJECT);
    o->cls = callable;
    for (size_t i = 0; i < args->n; i++) add_item(o, args->items[i]);
    push(vm, o);
    return 0;
}

static int set_items(Vm *vm, size_t first, size_t count) {
    if (count % 2) return vm_error(vm, "SETITEMS with an odd number of values");
    PkValue *d = top(vm);
    if (!d) return -1;
    if (d->kind != PK_DICT) return vm_error(vm, "SETITEM(S) on something that is not a dict");
    for (size_t i = 0; i < count; i++) add_item(d, vm->stack[first + i]);
    return 0;
}

static int append_items(Vm *vm, size_t first, size_t count) {
    PkValue *l = top(vm);
    if (!l) return -1;
    if (l->kind != PK_LIST) return vm_error(vm, "APPEND(S) on something that is not a list");
    for (size_t i = 0; i < count; i++) add_item(l, vm->stack[first + i]);
    return 0;
}

static int memo_put(Vm *vm, uint64_t index) {
    if (index >= MEMO_LIMIT) return vm_error(vm, "memo index %llu is too large", (unsigned long long)index);
    PkValue *v = top(vm);
    if (!v) return -1;
    size_t old = vm->memo_cap;
    grow((void **)&vm->memo, &vm->memo_cap, (size_t)index + 1, sizeof *vm->memo, "pickle memo");
    memset(vm->memo + old, 0, (vm->memo_cap - old) * sizeof *vm->memo);
    if (!vm->memo[index]) vm->memo_defined++;
    vm->memo[index] = v;
    return 0;
}

static int memo_get(Vm *vm, uint64_t index) {
    if (index >= vm->memo_cap || !vm->memo[index])
        return vm_error(vm, "memo entry %llu is not defined (damaged data)", (unsigned long long)index);
    push(vm, vm->memo[index]);
    return 0;
}

/* Executes one opcode; returns 1 at STOP, 0 to go on, -1 on error. */
static int step(Vm *vm) {
    size_t first = 0, count = 0;
    PkValue *a, *b;
    const char *s1 = NULL, *s2 = NULL;
    size_t n1 = 0, n2 = 0;
    vm->op_pos = vm->pos;
    vm->op = vm->d[vm->pos++];
    switch (vm->op) {
    case OP_PROTO:
        if (need(vm, 1) < 0) return -1;
        if (vm->d[vm->pos] > 5) return vm_error(vm, "pickle protocol %d is not supported", vm->d[vm->pos]);
        vm->pos++;
        return 0;
    case OP_FRAME:
        if (need(vm, 8) < 0) return -1;
        vm->pos += 8;   /* frames only group opcodes for buffered reading */
        return 0;
    case OP_STOP: return 1;
    case OP_MARK:
        grow((void **)&vm->marks, &vm->marks_cap, vm->n_marks + 1, sizeof *vm->marks, "pickle marks");
        vm->marks[vm->n_marks++] = vm->sp;
        return 0;
    case OP_POP: return pop(vm) ? 0 : -1;
    case OP_POP_MARK: return pop_mark(vm, &first, &count);
    case OP_DUP:
        if (!(a = top(vm))) return -1;
        push(vm, a);
        return 0;
    case OP_NONE: push(vm, new_value(vm, PK_NONE)); return 0;
    case OP_NEWTRUE:
    case OP_NEWFALSE:
        a = new_value(vm, PK_BOOL);
        a->i = vm->op == OP_NEWTRUE;
        push(vm, a);
        return 0;
    case OP_BININT: return need(vm, 4) < 0 ? -1 : push_int(vm, (int32_t)(uint32_t)read_le(vm, 4));
    case OP_BININT1: return need(vm, 1) < 0 ? -1 : push_int(vm, (long long)read_le(vm, 1));
    case OP_BININT2: return need(vm, 2) < 0 ? -1 : push_int(vm, (long long)read_le(vm, 2));
    case OP_LONG1: return need(vm, 1) < 0 ? -1 : push_long(vm, (size_t)read_le(vm, 1));
    case OP_LONG4: return need(vm, 4) < 0 ? -1 : push_long(vm, (size_t)read_le(vm, 4));
    case OP_BINFLOAT: {
        if (need(vm, 8) < 0) return -1;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | vm->d[vm->pos + (size_t)i];   /* big-endian */
        vm->pos += 8;
        a = new_value(vm, PK_FLOAT);
        memcpy(&a->f, &u, sizeof a->f);
        push(vm, a);
        return 0;
    }
    case OP_SHORT_BINUNICODE: return need(vm, 1) < 0 ? -1 : push_string(vm, PK_STR, (size_t)read_le(vm, 1));
    case OP_BINUNICODE: return need(vm, 4) < 0 ? -1 : push_string(vm, PK_STR, (size_t)read_le(vm, 4));
    case OP_BINUNICODE8: return need(vm, 8) < 0 ? -1 : push_string(vm, PK_STR, (size_t)read_le(vm, 8));
    case OP_SHORT_BINSTRING: return need(vm, 1) < 0 ? -1 : push_string(vm, PK_STR, (size_t)read_le(vm, 1));
    case OP_BINSTRING: return need(vm, 4) < 0 ? -1 : push_string(vm, PK_STR, (size_t)read_le(vm, 4));
    case OP_SHORT_BINBYTES: return need(vm, 1) < 0 ? -1 : push_string(vm, PK_BYTES, (size_t)read_le(vm, 1));
    case OP_BINBYTES: return need(vm, 4) < 0 ? -1 : push_string(vm, PK_BYTES, (size_t)read_le(vm, 4));
    case OP_BINBYTES8: return need(vm, 8) < 0 ? -1 : push_string(vm, PK_BYTES, (size_t)read_le(vm, 8));
    /* Protocol 5: an in-band PickleBuffer is a bytearray (or bytes when read-only); its data is all
     * that matters here, so both become PK_BYTES and READONLY_BUFFER changes nothing. */
    case OP_BYTEARRAY8: return need(vm, 8) < 0 ? -1 : push_string(vm, PK_BYTES, (size_t)read_le(vm, 8));
    case OP_READONLY_BUFFER: return top(vm) ? 0 : -1;
    case OP_NEXT_BUFFER: return vm_error(vm, "out-of-band buffer (pickled with buffer_callback): its data is not in the stream");
    case OP_EMPTY_TUPLE: return push_tuple(vm, 0, 0, PK_TUPLE);
    case OP_TUPLE1: return push_small_tuple(vm, 1);
    case OP_TUPLE2: return push_small_tuple(vm, 2);
    case OP_TUPLE3: return push_small_tuple(vm, 3);
    case OP_TUPLE: return pop_mark(vm, &first, &count) < 0 ? -1 : push_tuple(vm, first, count, PK_TUPLE);
    case OP_EMPTY_LIST: push(vm, new_value(vm, PK_LIST)); return 0;
    case OP_LIST: return pop_mark(vm, &first, &count) < 0 ? -1 : push_tuple(vm, first, count, PK_LIST);
    case OP_APPEND:
        if (!pop(vm)) return -1;
        return append_items(vm, vm->sp, 1);   /* the value just popped is still at stack[sp] */
    case OP_APPENDS: return pop_mark(vm, &first, &count) < 0 ? -1 : append_items(vm, first, count);
    case OP_EMPTY_DICT: push(vm, new_value(vm, PK_DICT)); return 0;
    case OP_DICT:
        if (pop_mark(vm, &first, &count) < 0) return -1;
        if (count % 2) return vm_error(vm, "DICT with an odd number of values");
        a = new_value(vm, PK_DICT);
        for (size_t i = 0; i < count; i++) add_item(a, vm->stack[first + i]);
        push(vm, a);
        return 0;
    case OP_SETITEM:
        if (vm->sp < floor_of(vm) + 3) return vm_error(vm, "pickle stack underflow (damaged data)");
        vm->sp -= 2;
        return set_items(vm, vm->sp, 2);
    case OP_SETITEMS: return pop_mark(vm, &first, &count) < 0 ? -1 : set_items(vm, first, count);
    case OP_GLOBAL:
        if (read_line(vm, &s1, &n1) < 0 || read_line(vm, &s2, &n2) < 0) return -1;
        return op_global(vm, s1, n1, s2, n2);
    case OP_STACK_GLOBAL:
        if (!(b = pop(vm)) || !(a = pop(vm))) return -1;
        if (a->kind != PK_STR || b->kind != PK_STR) return vm_error(vm, "STACK_GLOBAL needs two strings");
        return op_global(vm, a->s, a->len, b->s, b->len);
    case OP_REDUCE:
        b = pop(vm);
        a = b ? pop(vm) : NULL;
        return make_call(vm, a, b);
    case OP_NEWOBJ:
        b = pop(vm);
        a = b ? pop(vm) : NULL;
        return make_call(vm, a, b);
    case OP_BUILD:
        if (!(b = pop(vm)) || !(a = top(vm))) return -1;
        a->state = b;
        return 0;
    case OP_BINPERSID:
        if (!(a = pop(vm))) return -1;
        b = new_value(vm, PK_PERSID);
        add_item(b, a);
        push(vm, b);
        return 0;
    case OP_BINPUT: return need(vm, 1) < 0 ? -1 : memo_put(vm, read_le(vm, 1));
    case OP_LONG_BINPUT: return need(vm, 4) < 0 ? -1 : memo_put(vm, read_le(vm, 4));
    case OP_MEMOIZE: return memo_put(vm, vm->memo_defined);
    case OP_BINGET: return need(vm, 1) < 0 ? -1 : memo_get(vm, read_le(vm, 1));
    case OP_LONG_BINGET: return need(vm, 4) < 0 ? -1 : memo_get(vm, read_le(vm, 4));
    default: return vm_error(vm, "unknown pickle opcode 0x%02x", vm->op);
    }
}

Pickle *pickle_load_prefix(const unsigned char *data, size_t len, const char *where, PkValue **root, size_t *used,
                           int *ended_early, Error *e) {
    Pickle *pk = xcalloc(1, sizeof *pk, "pickle");
    Vm vm = {.d = data, .len = len, .where = where, .e = e, .pk = pk};
    int r = 0;
    while (r == 0) {
        if (vm.pos >= vm.len) {
            vm.op_pos = vm.pos;
            vm.ended_early = 1;
            r = error_set(e, "%s: pickle data ends without STOP at offset %zu (truncated or damaged)", where, vm.pos);
            break;
        }
        r = step(&vm);
    }
    if (used) *used = vm.pos;
    if (ended_early) *ended_early = vm.ended_early;
    if (r == 1) {
        if (vm.sp != 1 || vm.n_marks) {
            r = error_set(e, "%s: pickle ends with %zu values and %zu marks on the stack (damaged data)", where, vm.sp,
                          vm.n_marks);
        } else {
            *root = vm.stack[0];
            r = 0;
        }
    }
    free(vm.stack);
    free(vm.marks);
    free(vm.memo);
    if (r < 0) {
        pickle_free(pk);
        return NULL;
    }
    return pk;
}

Pickle *pickle_load(const unsigned char *data, size_t len, const char *where, PkValue **root, Error *e) {
    return pickle_load_prefix(data, len, where, root, NULL, NULL, e);
}

size_t pickle_value_count(const Pickle *p) { return p->n; }
const PkValue *pickle_value(const Pickle *p, size_t i) { return p->all[i]; }

void pickle_free(Pickle *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->all[i]->s);
        free(p->all[i]->items);
        free(p->all[i]);
    }
    free(p->all);
    free(p);
}

const PkValue *pk_dict_get(const PkValue *d, const char *key) {
    if (!d || d->kind != PK_DICT) return NULL;
    for (size_t i = pk_dict_len(d); i-- > 0;) {
        const PkValue *k = pk_dict_key(d, i);
        if (k->kind == PK_STR && strcmp(k->s, key) == 0) return pk_dict_value(d, i);
    }
    return NULL;
}

const PkValue *pk_dict_get_int(const PkValue *d, long long key) {
    if (!d || d->kind != PK_DICT) return NULL;
    for (size_t i = pk_dict_len(d); i-- > 0;) {
        const PkValue *k = pk_dict_key(d, i);
        if (k->kind == PK_INT && k->i == key) return pk_dict_value(d, i);
    }
    return NULL;
}

int pk_is_global(const PkValue *v, const char *qualname) {
    if (v && v->kind == PK_OBJECT) v = v->cls;
    return v && v->kind == PK_GLOBAL && strcmp(v->s, qualname) == 0;
}

int pk_as_int(const PkValue *v, long long *out) {
    if (!v || (v->kind != PK_INT && v->kind != PK_BOOL)) return -1;
    *out = v->i;
    return 0;
}

int pk_as_double(const PkValue *v, double *out) {
    if (v && v->kind == PK_FLOAT) *out = v->f;
    else if (v && v->kind == PK_INT) *out = (double)v->i;
    else return -1;
    return 0;
}

typedef struct {
    char *buf;
    size_t len;
} Text;

/* The text is cut at the end of the caller's buffer. */
#define put(t, ...) text_append((t)->buf, (t)->len, __VA_ARGS__)

/* Nesting is cut at a small depth: the memo can make a structure refer to itself. */
static void repr_into(Text *t, const PkValue *v, int depth) {
    if (depth > 6) {
        put(t, "...");
        return;
    }
    switch (v->kind) {
    case PK_NONE: put(t, "None"); break;
    case PK_BOOL: put(t, v->i ? "True" : "False"); break;
    case PK_INT: put(t, "%lld", v->i); break;
    case PK_FLOAT: {
        char num[40];
        format_py_float(v->f, num, sizeof num);
        put(t, "%s", num);
        break;
    }
    case PK_STR: put(t, "'%s'", v->s); break;
    case PK_BYTES: put(t, "b<%zu bytes>", v->len); break;
    case PK_GLOBAL: put(t, "%s", v->s); break;
    case PK_PERSID: put(t, "persistent_id"); break;
    case PK_TUPLE:
    case PK_LIST:
    case PK_OBJECT:
        if (v->kind == PK_OBJECT) repr_into(t, v->cls, depth + 1);
        put(t, v->kind == PK_LIST ? "[" : "(");
        for (size_t i = 0; i < v->n; i++) {
            if (i) put(t, ", ");
            repr_into(t, v->items[i], depth + 1);
        }
        put(t, v->kind == PK_LIST ? "]" : (v->kind == PK_TUPLE && v->n == 1) ? ",)" : ")");
        if (v->kind == PK_OBJECT && v->state) {
            put(t, " with ");
            repr_into(t, v->state, depth + 1);
        }
        break;
    case PK_DICT:
        put(t, "{");
        for (size_t i = 0; i < pk_dict_len(v); i++) {
            if (i) put(t, ", ");
            repr_into(t, pk_dict_key(v, i), depth + 1);
            put(t, ": ");
            repr_into(t, pk_dict_value(v, i), depth + 1);
        }
        put(t, "}");
        break;
    }
}

void pk_repr(const PkValue *v, char *buf, size_t len) {
    Text t = {buf, len};
    if (len) buf[0] = 0;
    repr_into(&t, v, 0);
}
