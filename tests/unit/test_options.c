/* The command-line option table (src/util/options.h): ids and values in both spellings, flags,
 * plain arguments, and every refusal with its message, wherever on the line it stands. */
#include <string.h>

#include "../../src/util/options.h"
#include "test.h"

enum { SEEDS, NPZ, OUT };
static const OptionSpec SPECS[] = {
    {"--seeds", OPTION_TAKES_VALUE, SEEDS}, {"--npz", OPTION_FLAG, NPZ}, {"--out", OPTION_TAKES_VALUE, OUT},
    {"--output", OPTION_TAKES_VALUE, OUT}};

/* A parser of program "maskdit-x" over text split at spaces (into line and argv, argv[0] the program). */
static OptionParser parser_of(const char *text, int max_positional, char line[256], char *argv[16]) {
    snprintf(line, 256, "%s", text);
    int argc = 0;
    argv[argc++] = "maskdit-x";
    for (char *t = strtok(line, " "); t && argc < 16; t = strtok(NULL, " ")) argv[argc++] = t;
    return option_parser(argc, argv, SPECS, ARRAY_LEN(SPECS), "maskdit-x", max_positional);
}

/* Parses line, expecting the results ids[] with values vals[] (NULL: none), then OPTION_END. */
static void expect_sequence(const char *text, int max_positional, const int *ids, const char *const *vals, int n) {
    char line[256], *argv[16];
    OptionParser p = parser_of(text, max_positional, line, argv);
    Error e = {{0}};
    const char *v;
    for (int k = 0; k <= n; k++) {
        int id = option_next(&p, &v, &e), want = k < n ? ids[k] : OPTION_END;
        CHECK(id == want, "'%s' item %d: got %d (%s), expected %d", text, k, id, e.msg, want);
        const char *want_v = k < n ? vals[k] : NULL;
        CHECK(want_v ? v && !strcmp(v, want_v) : !v, "'%s' item %d: value '%s', expected '%s'", text, k,
              v ? v : "(none)", want_v ? want_v : "(none)");
    }
}

static void values_flags_and_plain_arguments(void) {
    expect_sequence("--seeds 0-3 --npz --out=a=b", 0, (int[]){SEEDS, NPZ, OUT}, (const char *[]){"0-3", NULL, "a=b"}, 3);
    /* a value is the next argument whatever it looks like; an empty "=" value is a value */
    expect_sequence("--seeds --npz --output= -", 1, (int[]){SEEDS, OUT, OPTION_POSITIONAL},
                    (const char *[]){"--npz", "", "-"}, 3);
    expect_sequence("a --help b", 2, (int[]){OPTION_POSITIONAL, OPTION_HELP, OPTION_POSITIONAL},
                    (const char *[]){"a", NULL, "b"}, 3);
}

/* The first error of line must say want. */
static void expect_error(const char *text, int max_positional, const char *want) {
    char line[256], *argv[16];
    OptionParser p = parser_of(text, max_positional, line, argv);
    Error e = {{0}};
    const char *v;
    int id;
    while ((id = option_next(&p, &v, &e)) != OPTION_END && id != OPTION_ERROR) continue;
    CHECK(id == OPTION_ERROR, "'%s' accepted", text);
    CHECK(strstr(e.msg, want) != NULL, "'%s': message '%s' lacks '%s'", text, e.msg, want);
}

static void refusals_say_what_is_wrong(void) {
    /* an unknown option last is unknown, not short of a value */
    expect_error("--seeds 1 --bogus", 0, "unknown option '--bogus' (see maskdit-x --help)");
    expect_error("--bogus --seeds 1", 0, "unknown option '--bogus' (see maskdit-x --help)");
    expect_error("--bogus=3", 0, "unknown option '--bogus' (see maskdit-x --help)");
    expect_error("-x", 0, "unknown option '-x' (see maskdit-x --help)");
    expect_error("--npz --seeds", 0, "option --seeds needs a value (see maskdit-x --help)");
    expect_error("--npz=1", 0, "option --npz takes no value (see maskdit-x --help)");
    expect_error("--seeds 1 extra", 0, "unexpected argument 'extra' (see maskdit-x --help)");
    expect_error("a b c", 2, "unexpected argument 'c' (see maskdit-x --help)");
}

int main(void) {
    RUN(values_flags_and_plain_arguments);
    RUN(refusals_say_what_is_wrong);
    return test_summary();
}
