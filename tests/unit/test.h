/* A minimal unit-test harness. A test program registers cases with RUN(fn); every failed CHECK
 * prints its location and message; each case ends with one line "PASS name" or "FAIL name" that
 * tests/run.sh counts. main() returns test_summary(), non-zero when a case failed. */
#ifndef MASKDIT_TEST_H
#define MASKDIT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_case_failures, test_cases_failed, test_cases_passed;

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            printf("    check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            printf(__VA_ARGS__);                                                  \
            printf("\n");                                                         \
            test_case_failures++;                                                 \
        }                                                                         \
    } while (0)

/* |a - b| <= tol * max(1, |b|) */
#define CHECK_CLOSE(a, b, tol, what)                                                            \
    do {                                                                                        \
        double ca_ = (a), cb_ = (b);                                                            \
        CHECK(fabs(ca_ - cb_) <= (tol) * fmax(1.0, fabs(cb_)), "%s: %.9g vs %.9g (tol %g)", what, \
              ca_, cb_, (double)(tol));                                                         \
    } while (0)

static inline void test_run(const char *name, void (*fn)(void)) {
    test_case_failures = 0;
    fn();
    if (test_case_failures) {
        printf("FAIL %s\n", name);
        test_cases_failed++;
    } else {
        printf("PASS %s\n", name);
        test_cases_passed++;
    }
    fflush(stdout);
}
#define RUN(fn) test_run(#fn, fn)

static inline int test_summary(void) { return test_cases_failed ? 1 : 0; }

#endif
