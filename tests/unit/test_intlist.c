/* --seeds / --class_idx lists: values, order, and every refusal with its message. */
#include <string.h>

#include "../../src/sample/intlist.h"
#include "test.h"

static void parses_values_and_ranges_in_order(void) {
    long long *v = NULL, n = 0;
    Error e;
    CHECK(intlist_parse("--seeds", "5,0-3,100", 0, 1000, 1000, &v, &n, &e) == 0, "%s", e.msg);
    long long want[] = {5, 0, 1, 2, 3, 100};
    CHECK(n == 6, "count %lld", n);
    for (int i = 0; i < 6 && i < n; i++) CHECK(v[i] == want[i], "item %d: %lld", i, v[i]);
    free(v);
    CHECK(intlist_parse("--seeds", "0-49999", 0, 4294967295LL, 1 << 20, &v, &n, &e) == 0, "%s", e.msg);
    CHECK(n == 50000 && v[0] == 0 && v[49999] == 49999, "count %lld", n);
    free(v);
    CHECK(intlist_parse("--seeds", "4294967295", 0, 4294967295LL, 10, &v, &n, &e) == 0 && v[0] == 4294967295LL,
          "%s", e.msg);
    free(v);
}

static void expect_refusal(const char *text, long long hi, long long max_count, const char *want) {
    long long *v = NULL, n = 0;
    Error e = {{0}};
    int rc = intlist_parse("--seeds", text, 0, hi, max_count, &v, &n, &e);
    CHECK(rc == -1, "'%s' accepted", text);
    CHECK(strstr(e.msg, want) != NULL, "'%s': message '%s' lacks '%s'", text, e.msg, want);
}

static void refuses_bad_lists_with_clear_messages(void) {
    expect_refusal("", 100, 100, "--seeds: the list is empty");
    expect_refusal("1,,2", 100, 100, "--seeds '1,,2': bad item '' (expected a number N or a range A-B");
    expect_refusal("0-x", 100, 100, "bad item '0-x'");
    expect_refusal("abc", 100, 100, "bad item 'abc'");
    expect_refusal("-3", 100, 100, "bad item '-3'");
    expect_refusal("3 ,4", 100, 100, "bad item '3 '");
    expect_refusal("9-2", 100, 100, "the range 9-2 runs backwards");
    expect_refusal("5,101", 100, 100, "101 is out of range (expected 0..100)");
    expect_refusal("1-5,3", 100, 100, "3 is listed more than once");
    expect_refusal("0-20", 100, 10, "more than 10 values");
    expect_refusal("99999999999999999999999", 100, 100, "bad item '99999999999999999999999'");
}

int main(void) {
    RUN(parses_values_and_ranges_in_order);
    RUN(refuses_bad_lists_with_clear_messages);
    return test_summary();
}
