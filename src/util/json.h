/* A small JSON reader (RFC 8259) for the headers and configs that other tools write: safetensors
 * headers, diffusers' config.json. The whole text is parsed into a tree of JsonValue; objects
 * keep their keys in file order. Numbers are doubles (exact for the integers below 2^53 that
 * offsets and shapes need); strings are UTF-8 with every escape decoded (embedded NUL refused).
 * Nesting deeper than 256 levels is refused, so damaged input cannot exhaust the stack. */
#ifndef MASKDIT_JSON_H
#define MASKDIT_JSON_H

#include <stddef.h>

#include "common.h"

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonKind;

typedef struct JsonValue JsonValue;
struct JsonValue {
    JsonKind kind;
    int boolean;
    double number;
    char *string;        /* JSON_STRING */
    size_t n;            /* array items / object members */
    JsonValue *items;    /* array items, object member values */
    char **keys;         /* object member names (parallel to items) */
};

/* Parse text[0, len). `where` names the text in messages ("X.safetensors: header"); an error
 * gives the byte offset and what was expected there. Returns a tree to free with json_free. */
JsonValue *json_parse(const char *text, size_t len, const char *where, Error *e);
void json_free(JsonValue *v);

/* Member `key` of an object (the last one when repeated), or NULL (also when v is no object). */
const JsonValue *json_get(const JsonValue *v, const char *key);
/* v is a number that is a whole number in [0, 2^53]: 0 and *out set, else -1. */
int json_as_u64(const JsonValue *v, uint64_t *out);
/* "null", "a boolean", "a number", "a string", "an array", "an object". */
const char *json_kind_name(JsonKind k);

#endif
