/* The table of configuration keys (internal to src/config/). */
#ifndef MASKDIT_CONFIG_SCHEMA_H
#define MASKDIT_CONFIG_SCHEMA_H

#include <stddef.h>

#include "config.h"

typedef enum { CT_STR, CT_INT, CT_I64, CT_FLOAT, CT_BOOL, CT_FLOAT_LIST } ConfigType;

enum {
    CK_ORIGINAL = 0,   /* a key of the original configs, with its original meaning */
    CK_EXTENSION = 1,  /* added by this implementation */
    CK_IGNORED = 2,    /* accepted for compatibility, no effect here (notice when given) */
    CK_INTERNAL = 4    /* written by maskdit-train into checkpoints; refused in user files */
};

typedef struct {
    const char *key;        /* "section.name" */
    ConfigType type;
    size_t offset;          /* of the field in RunConfig */
    size_t size;            /* bytes of a string field; capacity (elements) of a list */
    size_t count_offset;    /* list: offset of its int element count */
    const char *def;        /* default, as YAML text (parsed by the same code as a file) */
    int flags;
    const char *doc;
} ConfigKey;

extern const ConfigKey CONFIG_KEYS[];
extern const int CONFIG_NKEYS;

/* Sections in the order of the original files. */
extern const char *const CONFIG_SECTIONS[];
extern const int CONFIG_NSECTIONS;

/* Index of "section.name" in CONFIG_KEYS, or -1. */
int config_key_find(const char *key);

/* The closest key name (edit distance) for "did you mean", or NULL when nothing is close. */
const char *config_key_suggest(const char *key);

const char *config_type_name(ConfigType t);

#endif
