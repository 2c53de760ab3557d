/* YAML scalars as the original's OmegaConf reads them (YAML 1.1 core types plus OmegaConf's float
 * rule that also takes 1e-4): internal to src/config/. */
#ifndef MASKDIT_CONFIG_SCALAR_H
#define MASKDIT_CONFIG_SCALAR_H

typedef enum { YS_NULL, YS_BOOL, YS_INT, YS_FLOAT, YS_STR } ScalarKind;

typedef struct {
    ScalarKind kind;
    int b;          /* YS_BOOL */
    long long i;    /* YS_INT */
    double f;       /* YS_FLOAT (also set for YS_INT) */
} Scalar;

/* Resolve an unquoted (plain) scalar: null (~, null, empty), bool (true/false/yes/no/on/off in
 * the three YAML 1.1 spellings), int (decimal with _ separators, 0x hex, 0o / leading-0 octal),
 * float (1.5, 1e-4, 2.5e+3, .5, .inf, .nan), else string. An int that does not fit in 64 bits is
 * a string. */
Scalar yaml_resolve_plain(const char *s);

#endif
