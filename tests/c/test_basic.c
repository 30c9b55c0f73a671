/* Basic C API tests: status strings, versions, last-error semantics, statistics, NULL checks.
 * Built and run by `cargo test --test c_api` (and tests/c/run_sanitizers.sh). */
#include <pthread.h>
#include <stdint.h>

#include "alcm_test.h"

#ifdef ALCM_TEST_PANIC
/* Test-only export, present when the library is built with the cargo feature `test-panic`. */
alcm_status alcm_debug_trigger_panic(void);
#endif

static void test_status_strings(void) {
    CHECK(strcmp(alcm_status_string(ALCM_ERR_CHECKSUM), "ALCM_ERR_CHECKSUM: checksum mismatch") == 0);
    CHECK(strncmp(alcm_status_string(ALCM_OK), "ALCM_OK", 7) == 0);
    CHECK(strncmp(alcm_status_string(ALCM_ERR_PANIC), "ALCM_ERR_PANIC:", 15) == 0);
    CHECK(strcmp(alcm_status_string(12345), "unknown status") == 0);
    CHECK(strcmp(alcm_status_string(8), "unknown status") == 0);
    /* The documented numbers. */
    CHECK(ALCM_OK == 0 && ALCM_ERR_NULL_POINTER == 1 && ALCM_ERR_INVALID_UTF8 == 7);
    CHECK(ALCM_ERR_TRUNCATED == 100 && ALCM_ERR_TOO_LARGE == 105);
    CHECK(ALCM_ERR_IO == 200 && ALCM_ERR_TIMEOUT == 202);
    CHECK(ALCM_ERR_PANIC == 900 && ALCM_ERR_INTERNAL == 901);
    CHECK(sizeof(alcm_status) == 4);
}

static void test_versions(void) {
    char macro_string[32];
    CHECK(alcm_version_number() == ALCM_VERSION_NUMBER);
    CHECK(ALCM_VERSION_NUMBER ==
          ALCM_VERSION_MAJOR * 10000 + ALCM_VERSION_MINOR * 100 + ALCM_VERSION_PATCH);
    CHECK(strcmp(alcm_version_string(), ALCM_VERSION_STRING) == 0);
    snprintf(macro_string, sizeof macro_string, "%d.%d.%d", ALCM_VERSION_MAJOR,
             ALCM_VERSION_MINOR, ALCM_VERSION_PATCH);
    CHECK(strncmp(alcm_version_string(), macro_string, strlen(macro_string)) == 0);
    CHECK(alcm_format_version() == ALCM_FORMAT_VERSION);
    CHECK(ALCM_FORMAT_VERSION == 7);
}

static void test_last_error(void) {
    const float data[4] = {1, 2, 3, 4};
    const size_t shape[1] = {4};
    alcm_stats s;
    char small[5];
    size_t full;

    CHECK_STATUS(alcm_tensor_stats(data, 1, shape, NULL), ALCM_ERR_NULL_POINTER);
    full = alcm_last_error_message(NULL, 0);
    CHECK(full > 0);
    CHECK(strstr(last_error(), "alcm_tensor_stats") != NULL);
    CHECK(strstr(last_error(), "out is NULL") != NULL);
    CHECK(strlen(last_error()) == full);
    /* Truncation: 4 bytes + NUL, the full length is still returned. */
    memset(small, 'x', sizeof small);
    CHECK(alcm_last_error_message(small, sizeof small) == full);
    CHECK(small[4] == '\0' && strncmp(small, "alcm", 4) == 0);
    /* buf_len 1: only the NUL. */
    CHECK(alcm_last_error_message(small, 1) == full && small[0] == '\0');
    /* Infallible getters leave it alone. */
    (void)alcm_status_string(ALCM_OK);
    (void)alcm_version_number();
    CHECK(alcm_last_error_message(NULL, 0) == full);
    /* A successful fallible call clears it. */
    CHECK_STATUS(alcm_tensor_stats(data, 1, shape, &s), ALCM_OK);
    CHECK(alcm_last_error_message(NULL, 0) == 0);
    CHECK(alcm_last_error_message(small, sizeof small) == 0 && small[0] == '\0');
}

static void *fail_on_other_thread(void *arg) {
    const float data[1] = {1};
    size_t n;
    (void)arg;
    n = (size_t)alcm_tensor_stats(data, 1, NULL, NULL);
    return (void *)(uintptr_t)(n == ALCM_ERR_NULL_POINTER && alcm_last_error_message(NULL, 0) > 0);
}

static void test_last_error_is_thread_local(void) {
    pthread_t t;
    void *ok = NULL;
    const float data[1] = {1};
    const size_t shape[1] = {1};
    alcm_stats s;
    CHECK_STATUS(alcm_tensor_stats(data, 1, shape, &s), ALCM_OK);
    CHECK(pthread_create(&t, NULL, fail_on_other_thread, NULL) == 0);
    CHECK(pthread_join(t, &ok) == 0);
    CHECK(ok != NULL);
    CHECK(alcm_last_error_message(NULL, 0) == 0); /* untouched by the other thread */
}

static void test_stats_hand_computed(void) {
    const float data[4] = {1, 2, 3, 4};
    const size_t shape[1] = {4};
    const size_t shape2[2] = {2, 2};
    alcm_stats s;
    CHECK_STATUS(alcm_tensor_stats(data, 1, shape, &s), ALCM_OK);
    CHECK_NEAR(s.mean, 2.5, 1e-12);
    CHECK_NEAR(s.var, 1.25, 1e-12);
    CHECK_NEAR(s.std, sqrt(1.25), 1e-12);
    CHECK_NEAR(s.skew, 0.0, 1e-12);
    CHECK_NEAR(s.kurtosis, 1.64, 1e-12);
    CHECK_NEAR(s.sparsity, 0.0, 0.0);
    CHECK(s.count == 4);
    /* Shape does not change whole-tensor statistics. */
    CHECK_STATUS(alcm_tensor_stats(data, 2, shape2, &s), ALCM_OK);
    CHECK_NEAR(s.kurtosis, 1.64, 1e-12);
    /* Scalar: rank 0, shape may be NULL. */
    CHECK_STATUS(alcm_tensor_stats(data, 0, NULL, &s), ALCM_OK);
    CHECK(s.count == 1 && s.mean == 1.0 && s.std == 1e-8);
}

static void test_empty_tensor(void) {
    const size_t shape[2] = {3, 0};
    size_t n = 99;
    alcm_stats s;
    CHECK_STATUS(alcm_tensor_stats(NULL, 2, shape, &s), ALCM_OK);
    CHECK(s.count == 0 && s.mean == 0.0 && s.std == 1e-8);
    CHECK_STATUS(alcm_channel_stats(NULL, 2, shape, NULL, 0, &n), ALCM_OK);
    CHECK(n == 0);
}

static void test_null_and_invalid_arguments(void) {
    const float data[4] = {1, 2, 3, 4};
    const size_t shape[1] = {4};
    const size_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 4};
    const size_t overflow[2] = {SIZE_MAX, 2};
    const size_t huge[2] = {(size_t)1 << 31, (size_t)1 << 31};
    alcm_stats s, sentinel;
    memset(&sentinel, 0xAB, sizeof sentinel);
    s = sentinel;

    CHECK_STATUS(alcm_tensor_stats(NULL, 1, shape, &s), ALCM_ERR_NULL_POINTER);
    CHECK(strstr(last_error(), "data is NULL") != NULL);
    CHECK_STATUS(alcm_tensor_stats(data, 1, NULL, &s), ALCM_ERR_NULL_POINTER);
    CHECK(strstr(last_error(), "shape is NULL") != NULL);
    CHECK_STATUS(alcm_tensor_stats(data, 9, nine, &s), ALCM_ERR_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), "ALCM_MAX_RANK") != NULL);
    CHECK_STATUS(alcm_tensor_stats(data, 2, overflow, &s), ALCM_ERR_TOO_LARGE);
    CHECK_STATUS(alcm_tensor_stats(data, 2, huge, &s), ALCM_ERR_TOO_LARGE);
    CHECK_STATUS(alcm_tensor_stats((const float *)((const char *)data + 1), 1, shape, &s),
                 ALCM_ERR_INVALID_ARGUMENT);
    /* Out-parameters are not written on failure. */
    CHECK(memcmp(&s, &sentinel, sizeof s) == 0);
    CHECK(ALCM_MAX_RANK == 8);
}

static void test_channel_stats(void) {
    const float data[6] = {0, 0, 1, 3, 5, 5};
    const size_t shape[2] = {3, 2};
    alcm_stats out[4];
    size_t n = 0;
    CHECK_STATUS(alcm_channel_count(2, shape, &n), ALCM_OK);
    CHECK(n == 3);
    /* Size query: NULL buffer, length 0 -> BUFFER_TOO_SMALL with the count. */
    n = 0;
    CHECK_STATUS(alcm_channel_stats(data, 2, shape, NULL, 0, &n), ALCM_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 3);
    CHECK_STATUS(alcm_channel_stats(data, 2, shape, out, 2, &n), ALCM_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(alcm_channel_stats(data, 2, shape, NULL, 4, &n), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_channel_stats(data, 2, shape, out, 4, NULL), ALCM_ERR_NULL_POINTER);
    n = 0;
    CHECK_STATUS(alcm_channel_stats(data, 2, shape, out, 4, &n), ALCM_OK);
    CHECK(n == 3);
    CHECK(out[0].sparsity == 1.0 && out[0].count == 2);
    CHECK_NEAR(out[1].mean, 2.0, 1e-12);
    CHECK_NEAR(out[1].var, 1.0, 1e-12);
    CHECK(out[2].var == 0.0 && out[2].std == 1e-8);
    /* A vector is one channel. */
    CHECK_STATUS(alcm_channel_stats(data, 1, &shape[1], out, 4, &n), ALCM_OK);
    CHECK(n == 1 && out[0].count == 2);
}

static void test_panic_becomes_status(void) {
#ifdef ALCM_TEST_PANIC
    const float data[1] = {1};
    const size_t shape[1] = {1};
    alcm_stats s;
    CHECK_STATUS(alcm_debug_trigger_panic(), ALCM_ERR_PANIC);
    CHECK(strstr(last_error(), "panic") != NULL);
    /* The process survived and the library still works. */
    CHECK_STATUS(alcm_tensor_stats(data, 1, shape, &s), ALCM_OK);
    CHECK_STATUS(alcm_debug_trigger_panic(), ALCM_ERR_PANIC);
#endif
}

int main(void) {
    RUN(test_status_strings);
    RUN(test_versions);
    RUN(test_last_error);
    RUN(test_last_error_is_thread_local);
    RUN(test_stats_hand_computed);
    RUN(test_empty_tensor);
    RUN(test_null_and_invalid_arguments);
    RUN(test_channel_stats);
    RUN(test_panic_becomes_status);
    return FINISH();
}
