/* Archives through the C ABI: a writer adds float32, bfloat16, float64 and int32 tensors with
 * their own modes; the reader lists them, reads each whole and a row range, and the bounds are
 * checked here on the decoded values; bad arguments and damaged files give errors.
 * Built and run by `cargo test --test c_api`. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "alcm_test.h"

#define ROWS 40
#define COLS 50

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static double from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static char path[256];
static float w[ROWS * COLS];
static uint16_t h[600];
static double d[100];
static int32_t ints[5] = {1, -2, 3, -4, 5};

static void write_archive(void) {
    for (int i = 0; i < ROWS * COLS; i++) w[i] = (float)(sin(i * 0.37) * 0.02);
    for (int i = 0; i < 600; i++) h[i] = to_bf16((float)cos(i * 0.05));
    for (int i = 0; i < 100; i++) d[i] = i * 0.125 - 3.0 + 1e-12 * i;
    alcm_archive_writer *wr = NULL;
    CHECK_STATUS(alcm_archive_writer_new(path, 1, 500, &wr), ALCM_OK);
    size_t ws[2] = {ROWS, COLS}, hs[2] = {30, 20}, ds[1] = {100}, is[1] = {5};
    CHECK_STATUS(alcm_archive_writer_add(wr, "w", ALCM_DTYPE_F32, w, 2, ws, ALCM_MODE_RELATIVE_L2,
                                         1e-3),
                 ALCM_OK);
    CHECK_STATUS(alcm_archive_writer_add(wr, "h", ALCM_DTYPE_BF16, h, 2, hs, ALCM_MODE_MAX_ABS,
                                         1e-2),
                 ALCM_OK);
    CHECK_STATUS(alcm_archive_writer_add(wr, "d", ALCM_DTYPE_F64, d, 1, ds, ALCM_MODE_LOSSLESS, 0),
                 ALCM_OK);
    /* int32 is archive dtype 18: stored raw whatever the mode. */
    CHECK_STATUS(alcm_archive_writer_add(wr, "i", 18, ints, 1, is, ALCM_MODE_MAX_ABS, 1.0),
                 ALCM_OK);
    /* Refused: a duplicate name, an adaptive mode, an unknown dtype, a bad bound. */
    CHECK_STATUS(alcm_archive_writer_add(wr, "w", ALCM_DTYPE_F32, w, 2, ws, ALCM_MODE_LOSSLESS, 0),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_archive_writer_add(wr, "x", ALCM_DTYPE_F32, w, 2, ws, ALCM_MODE_ADAPTIVE, 0),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_archive_writer_add(wr, "x", 99, w, 2, ws, ALCM_MODE_LOSSLESS, 0),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK(alcm_archive_writer_add(wr, "x", ALCM_DTYPE_F32, w, 2, ws, ALCM_MODE_RELATIVE_L2,
                                  NAN) != ALCM_OK);
    CHECK_STATUS(alcm_archive_writer_add(wr, NULL, ALCM_DTYPE_F32, w, 2, ws, ALCM_MODE_LOSSLESS, 0),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_archive_writer_finish(wr), ALCM_OK);
    CHECK_STATUS(alcm_archive_writer_finish(wr), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_archive_writer_add(wr, "y", ALCM_DTYPE_F32, w, 2, ws, ALCM_MODE_LOSSLESS, 0),
                 ALCM_ERR_INVALID_ARGUMENT);
    alcm_archive_writer_free(wr);
    alcm_archive_writer_free(NULL);
}

static void test_list_and_read(void) {
    alcm_archive *a = NULL;
    CHECK_STATUS(alcm_archive_open(path, 2, &a), ALCM_OK);
    size_t count = 0, len = 0, rank = 0, shape[ALCM_MAX_RANK], n = 0;
    CHECK_STATUS(alcm_archive_count(a, &count), ALCM_OK);
    CHECK(count == 4);
    char name[8];
    CHECK_STATUS(alcm_archive_name(a, 1, NULL, 0, &len), ALCM_OK);
    CHECK(len == 1);
    CHECK_STATUS(alcm_archive_name(a, 1, name, sizeof name, &len), ALCM_OK);
    CHECK(strcmp(name, "h") == 0);
    CHECK_STATUS(alcm_archive_name(a, 4, name, sizeof name, &len), ALCM_ERR_INVALID_ARGUMENT);
    uint32_t dtype = 0, mode = 0;
    double bound = 0, achieved = 0;
    CHECK_STATUS(alcm_archive_info(a, "w", &dtype, &mode, &rank, shape, &bound, &achieved), ALCM_OK);
    CHECK(dtype == ALCM_DTYPE_F32 && mode == ALCM_MODE_RELATIVE_L2 && rank == 2);
    CHECK(shape[0] == ROWS && shape[1] == COLS);
    CHECK_NEAR(bound, 1e-3, 1e-10);
    CHECK(achieved > 0 && achieved <= bound);
    CHECK_STATUS(alcm_archive_info(a, "i", &dtype, &mode, &rank, shape, &bound, &achieved), ALCM_OK);
    CHECK(dtype == 18 && mode == ALCM_MODE_LOSSLESS && rank == 1 && shape[0] == 5);
    CHECK_STATUS(alcm_archive_info(a, "nope", &dtype, &mode, &rank, shape, &bound, &achieved),
                 ALCM_ERR_INVALID_ARGUMENT);

    /* float32, relative L2 computed here. */
    static float wy[ROWS * COLS], rows[ROWS * COLS];
    CHECK_STATUS(alcm_archive_read(a, "w", ALCM_DTYPE_F32, wy, ROWS * COLS, &n), ALCM_OK);
    CHECK(n == ROWS * COLS);
    double e2 = 0, x2 = 0;
    for (int i = 0; i < ROWS * COLS; i++) {
        e2 += (w[i] - (double)wy[i]) * (w[i] - (double)wy[i]);
        x2 += (double)w[i] * w[i];
    }
    CHECK(e2 > 0 && sqrt(e2) <= 1e-3 * sqrt(x2));
    /* A row range crossing blocks (500 values = 10 rows each) equals the slice. */
    CHECK_STATUS(alcm_archive_read_rows(a, "w", ALCM_DTYPE_F32, 7, 23, rows, ROWS * COLS, &n),
                 ALCM_OK);
    CHECK(n == 16 * COLS && memcmp(rows, wy + 7 * COLS, n * sizeof(float)) == 0);
    CHECK_STATUS(alcm_archive_read_rows(a, "w", ALCM_DTYPE_F32, 23, 7, rows, ROWS * COLS, &n),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_archive_read_rows(a, "w", ALCM_DTYPE_F32, 0, ROWS + 1, rows, ROWS * COLS, &n),
                 ALCM_ERR_INVALID_ARGUMENT);

    /* bfloat16, max abs checked on the decoded 16-bit patterns. */
    static uint16_t hy[600];
    CHECK_STATUS(alcm_archive_read(a, "h", ALCM_DTYPE_BF16, hy, 600, &n), ALCM_OK);
    int ok = n == 600;
    for (int i = 0; i < 600; i++) ok &= fabs(from_bf16(h[i]) - from_bf16(hy[i])) <= 1e-2;
    CHECK(ok);
    /* float64 lossless and int32 raw: bit for bit. */
    static double dy[100];
    int32_t iy[5];
    CHECK_STATUS(alcm_archive_read(a, "d", ALCM_DTYPE_F64, dy, 100, &n), ALCM_OK);
    CHECK(n == 100 && memcmp(d, dy, sizeof d) == 0);
    CHECK_STATUS(alcm_archive_read(a, "i", 18, iy, 5, &n), ALCM_OK);
    CHECK(n == 5 && memcmp(ints, iy, sizeof ints) == 0);

    /* Wrong type, small buffer, missing tensor, NULLs. */
    CHECK_STATUS(alcm_archive_read(a, "h", ALCM_DTYPE_F16, hy, 600, &n), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_archive_read(a, "h", ALCM_DTYPE_BF16, hy, 599, &n), ALCM_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(alcm_archive_read(a, "zz", ALCM_DTYPE_F32, wy, 10, &n), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_archive_read(a, "w", ALCM_DTYPE_F32, NULL, ROWS * COLS, &n),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_archive_read(NULL, "w", ALCM_DTYPE_F32, wy, ROWS * COLS, &n),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_archive_count(NULL, &count), ALCM_ERR_NULL_POINTER);
    alcm_archive_free(a);
    alcm_archive_free(NULL);
}

static void test_bad_files(void) {
    alcm_archive *a = NULL;
    CHECK_STATUS(alcm_archive_open("/nonexistent/x.alcm", 1, &a), ALCM_ERR_IO);
    CHECK_STATUS(alcm_archive_open(path, 0, &a), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_archive_open("", 1, &a), ALCM_ERR_INVALID_ARGUMENT);
    CHECK(a == NULL);
    /* Flip a byte of the index (just before the 16-byte footer): refused at open. */
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (!f) return;
    fseek(f, -20, SEEK_END);
    int c = fgetc(f);
    fseek(f, -20, SEEK_END);
    fputc(c ^ 0x40, f);
    fclose(f);
    CHECK_STATUS(alcm_archive_open(path, 1, &a), ALCM_ERR_CHECKSUM);
    CHECK(a == NULL);
}

/* The writer is atomic: until alcm_archive_writer_finish the path keeps its old contents (here
 * the archive written above, still readable), and a writer freed unfinished leaves the path
 * untouched and no temporary file in the directory. */
static void test_atomic_writer(void) {
    alcm_archive_writer *wr = NULL;
    float v[3] = {1.0f, 2.0f, 3.0f};
    size_t s[1] = {3};
    char fresh[300];
    snprintf(fresh, sizeof fresh, "%s.fresh", path);
    for (int finish = 0; finish <= 1; finish++) {
        const char *target = finish ? fresh : path;
        CHECK_STATUS(alcm_archive_writer_new(target, 1, 0, &wr), ALCM_OK);
        CHECK_STATUS(alcm_archive_writer_add(wr, "v", ALCM_DTYPE_F32, v, 1, s, ALCM_MODE_LOSSLESS,
                                             0),
                     ALCM_OK);
        alcm_archive *a = NULL;
        size_t count = 0;
        /* Before finish: the old archive at `path`, nothing at `fresh`. */
        CHECK_STATUS(alcm_archive_open(path, 1, &a), ALCM_OK);
        CHECK_STATUS(alcm_archive_count(a, &count), ALCM_OK);
        CHECK(count == 4);
        alcm_archive_free(a);
        CHECK(access(fresh, F_OK) != 0);
        if (finish) {
            CHECK_STATUS(alcm_archive_writer_finish(wr), ALCM_OK);
            a = NULL;
            CHECK_STATUS(alcm_archive_open(fresh, 1, &a), ALCM_OK);
            CHECK_STATUS(alcm_archive_count(a, &count), ALCM_OK);
            CHECK(count == 1);
            alcm_archive_free(a);
        }
        alcm_archive_writer_free(wr);
    }
    /* The unfinished writer on `path` left the old archive in place. */
    alcm_archive *a = NULL;
    size_t count = 0;
    CHECK_STATUS(alcm_archive_open(path, 1, &a), ALCM_OK);
    CHECK_STATUS(alcm_archive_count(a, &count), ALCM_OK);
    CHECK(count == 4);
    alcm_archive_free(a);
    /* No temporary file is left: "/tmp/.alcm-c-archive-PID.alcm.tmp.*" does not exist. */
    char tmp_prefix[300];
    snprintf(tmp_prefix, sizeof tmp_prefix, ".alcm-c-archive-%ld.alcm", (long)getpid());
    DIR *dir = opendir("/tmp");
    CHECK(dir != NULL);
    int leftovers = 0;
    for (struct dirent *e; dir && (e = readdir(dir)) != NULL;)
        leftovers += strncmp(e->d_name, tmp_prefix, strlen(tmp_prefix)) == 0;
    if (dir) closedir(dir);
    CHECK(leftovers == 0);
    remove(fresh);
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/alcm-c-archive-%ld.alcm", (long)getpid());
    RUN(write_archive);
    RUN(test_list_and_read);
    RUN(test_atomic_writer);
    RUN(test_bad_files);
    remove(path);
    return FINISH();
}
