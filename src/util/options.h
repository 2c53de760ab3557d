/* Command-line options of every program, read from one table per program: each option is known
 * by name and by whether it takes a value, so that an unknown option is reported as unknown
 * wherever it stands, a missing value as missing, and "--name VALUE" and "--name=VALUE" mean the
 * same in every program. -h and --help ask for the usage. Messages name the program's --help.
 *
 *   static const OptionSpec OPTIONS[] = {{"--seeds", OPTION_TAKES_VALUE, SEEDS}, {"--npz", OPTION_FLAG, NPZ}};
 *   OptionParser p = option_parser(argc, argv, OPTIONS, ARRAY_LEN(OPTIONS), "maskdit-generate", 0);
 *   for (int id; (id = option_next(&p, &value, &e)) != OPTION_END;) switch (id) { ... }
 */
#ifndef MASKDIT_OPTIONS_H
#define MASKDIT_OPTIONS_H

#include <stddef.h>

#include "common.h"

enum { OPTION_FLAG = 0, OPTION_TAKES_VALUE = 1 };

typedef struct {
    const char *name;   /* "--seeds" */
    int takes_value;    /* OPTION_TAKES_VALUE or OPTION_FLAG */
    int id;             /* what option_next returns for it (>= 0; several names may share one) */
} OptionSpec;

/* What option_next returns besides an option's id. */
enum { OPTION_END = -1, OPTION_HELP = -2, OPTION_POSITIONAL = -3, OPTION_ERROR = -4 };

typedef struct {
    int argc;
    char **argv;
    const OptionSpec *specs;
    size_t n_specs;
    const char *program;    /* "maskdit-generate", "maskdit-convert lmdb": the usage hint */
    int max_positional;     /* plain arguments the program takes (files); more are an error */
    const char *option;     /* the name of the option option_next returned last */
    int next, positional;
} OptionParser;

OptionParser option_parser(int argc, char **argv, const OptionSpec *specs, size_t n_specs, const char *program,
                           int max_positional);

/* The next argument of argv[1..]: an option's id with *value its value (NULL for a flag),
 * OPTION_POSITIONAL with *value the argument, OPTION_HELP for -h/--help, OPTION_END after the
 * last, or OPTION_ERROR with e set (an unknown option, a missing value, a value given to a flag,
 * one plain argument too many). An option's value is the next argument whatever it looks like. */
int option_next(OptionParser *p, const char **value, Error *e);

/* The one plain argument of a command that takes nothing else ("maskdit-ckpt info FILE"): 0 with
 * *arg set; 1 after printing usage for -h/--help; a bad command line ends the program naming
 * `what` (the argument, in words) and showing usage. */
int option_single_argument(int argc, char **argv, const char *program, const char *what, const char *usage,
                           const char **arg);

#endif
