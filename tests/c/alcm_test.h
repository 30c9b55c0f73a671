/* Minimal test harness shared by the C tests in tests/c/ (no dependencies).
 *
 * A test file defines test functions, lists them in main() with RUN(test_fn), and ends main()
 * with `return FINISH();`, which prints "N passed, M failed" and returns nonzero on failure.
 * New files named tests/c/test_*.c are picked up by tests/c_api.rs and run_sanitizers.sh. */
#ifndef ALCM_TEST_H
#define ALCM_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alcm.h"

static int alcm_test_passed = 0;
static int alcm_test_failed = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            alcm_test_passed++;                                                      \
        } else {                                                                     \
            alcm_test_failed++;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* Checks a status and prints both names (and the last error message) on mismatch. */
#define CHECK_STATUS(call, expected)                                                      \
    do {                                                                                  \
        alcm_status got_ = (call);                                                        \
        if (got_ == (alcm_status)(expected)) {                                            \
            alcm_test_passed++;                                                           \
        } else {                                                                          \
            char msg_[256];                                                               \
            alcm_last_error_message(msg_, sizeof msg_);                                   \
            alcm_test_failed++;                                                           \
            fprintf(stderr, "%s:%d: %s\n  returned %s\n  expected %s\n  last error: %s\n", \
                    __FILE__, __LINE__, #call, alcm_status_string(got_),                  \
                    alcm_status_string((uint32_t)(expected)), msg_);                      \
        }                                                                                 \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                             \
    do {                                                                                  \
        double a_ = (a), b_ = (b);                                                        \
        if (fabs(a_ - b_) <= (tol)) {                                                     \
            alcm_test_passed++;                                                           \
        } else {                                                                          \
            alcm_test_failed++;                                                           \
            fprintf(stderr, "%s:%d: %s = %.17g, expected %.17g\n", __FILE__, __LINE__, #a, \
                    a_, b_);                                                              \
        }                                                                                 \
    } while (0)

/* For handle types: freeing NULL must be a harmless no-op. */
#define CHECK_FREE_NULL(free_fn) \
    do {                         \
        free_fn(NULL);           \
        alcm_test_passed++;      \
    } while (0)

#define RUN(test_fn)                                    \
    do {                                                \
        int failed_before_ = alcm_test_failed;          \
        test_fn();                                      \
        fprintf(stderr, "%s %s\n",                      \
                alcm_test_failed == failed_before_ ? "ok  " : "FAIL", #test_fn); \
    } while (0)

#define FINISH() \
    (printf("%d passed, %d failed\n", alcm_test_passed, alcm_test_failed), alcm_test_failed != 0)

/* The calling thread's last error message (static buffer; tests are single-threaded except
 * where they say otherwise). */
static const char *last_error(void) {
    static char buf[512];
    alcm_last_error_message(buf, sizeof buf);
    return buf;
}

#endif /* ALCM_TEST_H */
