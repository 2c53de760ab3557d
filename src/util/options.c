/* The option parser of options.h: a linear search of the program's table per argument (tables are
 * a few dozen entries, read once). */
#include "options.h"

#include <stdio.h>
#include <string.h>

OptionParser option_parser(int argc, char **argv, const OptionSpec *specs, size_t n_specs, const char *program,
                           int max_positional) {
    return (OptionParser){.argc = argc, .argv = argv, .specs = specs, .n_specs = n_specs, .program = program,
                          .max_positional = max_positional, .next = 1};
}

static const OptionSpec *find_spec(const OptionParser *p, const char *name, size_t len) {
    for (size_t k = 0; k < p->n_specs; k++)
        if (strlen(p->specs[k].name) == len && !strncmp(p->specs[k].name, name, len)) return &p->specs[k];
    return NULL;
}

int option_next(OptionParser *p, const char **value, Error *e) {
    *value = NULL;
    if (p->next >= p->argc) return OPTION_END;
    const char *arg = p->argv[p->next++];
    /* "-" alone is a plain argument (conventionally standard input), as is everything not "-x...". */
    if (arg[0] != '-' || !arg[1]) {
        if (p->positional++ >= p->max_positional) {
            error_set(e, "unexpected argument '%s' (see %s --help)", arg, p->program);
            return OPTION_ERROR;
        }
        *value = arg;
        return OPTION_POSITIONAL;
    }
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) return OPTION_HELP;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const OptionSpec *spec = find_spec(p, arg, len);
    if (!spec) {
        error_set(e, "unknown option '%.*s' (see %s --help)", (int)len, arg, p->program);
        return OPTION_ERROR;
    }
    p->option = spec->name;
    if (!spec->takes_value) {
        if (!eq) return spec->id;
        error_set(e, "option %s takes no value (see %s --help)", spec->name, p->program);
        return OPTION_ERROR;
    }
    if (eq) *value = eq + 1;
    else if (p->next < p->argc) *value = p->argv[p->next++];
    else {
        error_set(e, "option %s needs a value (see %s --help)", spec->name, p->program);
        return OPTION_ERROR;
    }
    return spec->id;
}

int option_single_argument(int argc, char **argv, const char *program, const char *what, const char *usage,
                           const char **arg) {
    OptionParser p = option_parser(argc, argv, NULL, 0, program, 1);
    const char *v;
    Error e;
    *arg = NULL;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        if (id == OPTION_HELP) {
            fputs(usage, stdout);
            return 1;
        }
        if (id == OPTION_ERROR) die("%s", e.msg);
        *arg = v;
    }
    if (!*arg) die("%s takes %s\n%s", program, what, usage);
    return 0;
}
