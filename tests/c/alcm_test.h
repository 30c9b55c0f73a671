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

/* Helpers below are static and may be unused by a given test file. */
#if defined(__GNUC__) || defined(__clang__)
#define TEST_HELPER static __attribute__((unused))
#else
#define TEST_HELPER static
#endif

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
TEST_HELPER const char *last_error(void) {
    static char buf[512];
    alcm_last_error_message(buf, sizeof buf);
    return buf;
}

/* ---- Test data and temporary files ------------------------------------------------------ */

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* The repository root (tests/data, configs): $ALCM_TEST_DATA_DIR (set by tests/c_api.rs and
 * run_sanitizers.sh), else the current directory. */
TEST_HELPER const char *repo_dir(void) {
    const char *d = getenv("ALCM_TEST_DATA_DIR");
    return (d && *d) ? d : ".";
}

/* Writes "<repo>/<rel>" into buf (static-size buffers of PATH_BUF bytes). */
#define PATH_BUF 1024
static const char *join_path(char *buf, const char *dir, const char *name);
TEST_HELPER const char *repo_path(char *buf, const char *rel) {
    return join_path(buf, repo_dir(), rel);
}

/* Writes "<dir>/<name>" into buf (PATH_BUF bytes); exits if it does not fit. */
TEST_HELPER const char *join_path(char *buf, const char *dir, const char *name) {
    int n = snprintf(buf, PATH_BUF, "%s/%s", dir, name);
    if (n < 0 || n >= PATH_BUF) {
        fprintf(stderr, "path too long: %s/%s\n", dir, name);
        exit(2);
    }
    return buf;
}

/* A float32 tensor loaded from a .npy file (owned; free with npy_free). */
typedef struct npy_tensor {
    float *data;
    size_t rank;
    size_t shape[ALCM_MAX_RANK];
    size_t n;
} npy_tensor;

/* Loads a NumPy format 1.0 '<f4' C-order .npy file. Returns 0 on success, -1 (with a message
 * on stderr) otherwise. Only what alcm's test data uses is supported. */
TEST_HELPER int npy_load(const char *path, npy_tensor *t) {
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    char header[4096];
    size_t hlen;
    const char *p;
    memset(t, 0, sizeof *t);
    if (!f) {
        fprintf(stderr, "npy_load: cannot open %s\n", path);
        return -1;
    }
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1) {
        fprintf(stderr, "npy_load: %s is not a version 1.0 .npy file\n", path);
        fclose(f);
        return -1;
    }
    hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    if (hlen >= sizeof header || fread(header, 1, hlen, f) != hlen) {
        fprintf(stderr, "npy_load: %s: bad header\n", path);
        fclose(f);
        return -1;
    }
    header[hlen] = '\0';
    if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False") ||
        !(p = strstr(header, "'shape': ("))) {
        fprintf(stderr, "npy_load: %s: not a C-order <f4 array: %s\n", path, header);
        fclose(f);
        return -1;
    }
    p += strlen("'shape': (");
    t->n = 1;
    while (*p && *p != ')') {
        char *end;
        unsigned long long d;
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        d = strtoull(p, &end, 10);
        if (end == p || t->rank == ALCM_MAX_RANK) {
            fprintf(stderr, "npy_load: %s: bad shape\n", path);
            fclose(f);
            return -1;
        }
        t->shape[t->rank++] = (size_t)d;
        t->n *= (size_t)d;
        p = end;
    }
    t->data = (float *)malloc(t->n ? t->n * sizeof(float) : 1);
    if (!t->data || fread(t->data, sizeof(float), t->n, f) != t->n) {
        fprintf(stderr, "npy_load: %s: short data\n", path);
        free(t->data);
        t->data = NULL;
        fclose(f);
        return -1;
    }
    /* '<f4' is little-endian, as are the hosts the tests run on. */
    fclose(f);
    return 0;
}

TEST_HELPER void npy_free(npy_tensor *t) {
    free(t->data);
    t->data = NULL;
}

/* Loads <repo>/<rel>; aborts the test program if the file is missing (a broken checkout). */
TEST_HELPER npy_tensor load_tensor(const char *rel) {
    char path[PATH_BUF];
    npy_tensor t;
    if (npy_load(repo_path(path, rel), &t) != 0) {
        fprintf(stderr, "cannot load %s (set ALCM_TEST_DATA_DIR to the repository root)\n", path);
        exit(2);
    }
    return t;
}

/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp); remove with temp_dir_remove. */
TEST_HELPER char *temp_dir_create(char *buf) {
    const char *base = getenv("TMPDIR");
    snprintf(buf, PATH_BUF, "%s/alcm_c_test_XXXXXX", (base && *base) ? base : "/tmp");
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(2);
    }
    return buf;
}

/* Removes the files directly inside `dir`, then `dir`. */
TEST_HELPER void temp_dir_remove(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_BUF];
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        join_path(path, dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Relative L2 error and max abs error computed independently of the library. */
TEST_HELPER double rel_l2_error(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)a[i] * (double)a[i];
    }
    return den == 0 ? sqrt(num) : sqrt(num / den);
}

TEST_HELPER double max_abs_error(const float *a, const float *b, size_t n) {
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m) m = d;
    }
    return m;
}

#endif /* ALCM_TEST_H */
