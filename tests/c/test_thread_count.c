/* C API tests of thread control: alcm_encoder_set_threads and alcm_decompress_with_threads.
 * The frame bytes and the decoded values must not depend on the thread count (checked here
 * byte for byte), and every invalid argument gives its documented status with the outputs
 * and the encoder left as they were. */
#include <stdint.h>
#include <stdlib.h>

#include "alcm_test.h"

/* 1024 x 512 = 2^19 values: large enough for the block-split payload that threads decode. */
#define ROWS 1024
#define COLS 512
#define N_VALUES ((size_t)ROWS * COLS)

/* A gradient-like tensor: uniform noise times a per-row and per-column scale (LCG, fixed seed). */
static float *synthetic_tensor(void) {
    float *x = (float *)malloc(N_VALUES * sizeof(float));
    uint64_t s = 12345;
    size_t r, c;
    if (!x) return NULL;
    for (r = 0; r < ROWS; r++) {
        for (c = 0; c < COLS; c++) {
            double u;
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            u = (double)(s >> 11) / 9007199254740992.0 - 0.5;
            x[r * COLS + c] = (float)(u * (1.0 + (double)(r % 37)) * (1.0 + (double)(c % 11) / 4.0) * 1e-3);
        }
    }
    return x;
}

/* Compresses x with enc; returns a malloc'ed frame (NULL on error) and its length. */
static uint8_t *compress_with(const alcm_encoder *enc, const float *x, size_t *len) {
    const size_t shape[2] = {ROWS, COLS};
    size_t cap = alcm_compress_bound(N_VALUES);
    uint8_t *dst = (uint8_t *)malloc(cap);
    alcm_status st = alcm_encoder_compress(enc, x, 2, shape, NULL, 0, dst, cap, len, NULL);
    CHECK_STATUS(st, ALCM_OK);
    if (st != ALCM_OK) {
        free(dst);
        return NULL;
    }
    return dst;
}

static void test_set_threads_validation(void) {
    alcm_encoder *enc = NULL;
    alcm_scheduler *sched = NULL;
    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_threads(enc, 1), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_threads(enc, 2), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_threads(enc, ALCM_MAX_THREADS), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_threads(enc, 0), ALCM_ERR_INVALID_CONFIG);
    CHECK(strstr(last_error(), "threads") != NULL);
    CHECK_STATUS(alcm_encoder_set_threads(enc, ALCM_MAX_THREADS + 1), ALCM_ERR_INVALID_CONFIG);
    CHECK(strstr(last_error(), "threads") != NULL);
    CHECK_STATUS(alcm_encoder_set_threads(enc, UINT32_MAX), ALCM_ERR_INVALID_CONFIG);
    CHECK_STATUS(alcm_encoder_set_threads(NULL, 2), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_scheduler_new(0.01, 0.95, 5, 0.001, 0.1, &sched), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_threads((alcm_encoder *)sched, 2), ALCM_ERR_INVALID_HANDLE);
    alcm_scheduler_free(sched);
    /* YAML knows the same setting and the same range. */
    alcm_encoder_free(enc);
    enc = NULL;
    CHECK_STATUS(alcm_encoder_from_yaml_string("threads: 65\n", &enc), ALCM_ERR_INVALID_CONFIG);
    CHECK(enc == NULL);
    CHECK_STATUS(alcm_encoder_from_yaml_string("threads: 4\n", &enc), ALCM_OK);
    alcm_encoder_free(enc);
}

/* Same bytes for 1, 2, 3 and ALCM_MAX_THREADS threads, in every lossy mode and lossless; a
 * failed setter leaves the thread count (and so nothing about the output) changed. */
static void test_bytes_do_not_depend_on_threads(void) {
    float *x = synthetic_tensor();
    alcm_encoder *enc = NULL;
    const alcm_mode modes[4] = {ALCM_MODE_RELATIVE_L2, ALCM_MODE_MAX_ABS, ALCM_MODE_ADAPTIVE,
                                ALCM_MODE_LOSSLESS};
    const double targets[4] = {1e-2, 1e-5, 0, 0};
    const uint32_t threads[3] = {2, 3, ALCM_MAX_THREADS};
    int m, k;
    CHECK(x != NULL);
    if (!x) return;
    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    for (m = 0; m < 4; m++) {
        uint8_t *ref;
        size_t ref_len = 0;
        CHECK_STATUS(alcm_encoder_set_mode(enc, modes[m], targets[m]), ALCM_OK);
        CHECK_STATUS(alcm_encoder_set_threads(enc, 1), ALCM_OK);
        ref = compress_with(enc, x, &ref_len);
        if (!ref) continue;
        for (k = 0; k < 3; k++) {
            uint8_t *frame;
            size_t len = 0;
            CHECK_STATUS(alcm_encoder_set_threads(enc, threads[k]), ALCM_OK);
            CHECK_STATUS(alcm_encoder_set_threads(enc, 0), ALCM_ERR_INVALID_CONFIG);
            frame = compress_with(enc, x, &len);
            if (!frame) continue;
            CHECK(len == ref_len && memcmp(frame, ref, len) == 0);
            free(frame);
        }
        free(ref);
    }
    alcm_encoder_free(enc);
    free(x);
}

static void test_decompress_with_threads(void) {
    float *x = synthetic_tensor();
    float *ref = (float *)malloc(N_VALUES * sizeof(float));
    float *out = (float *)malloc(N_VALUES * sizeof(float));
    alcm_encoder *enc = NULL;
    uint8_t *frame = NULL, *copy = NULL;
    size_t len = 0, n_out = 0, i;
    const uint32_t threads[4] = {1, 2, 3, ALCM_MAX_THREADS};
    int k, untouched;
    CHECK(x && ref && out);
    if (!x || !ref || !out) goto done;
    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_RELATIVE_L2, 1e-2), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_threads(enc, 2), ALCM_OK);
    frame = compress_with(enc, x, &len);
    if (!frame) goto done;
    CHECK_STATUS(alcm_decompress(frame, len, ref, N_VALUES, &n_out), ALCM_OK);
    CHECK(n_out == N_VALUES);
    CHECK(rel_l2_error(x, ref, N_VALUES) <= 1e-2);
    for (k = 0; k < 4; k++) {
        n_out = 0;
        memset(out, 0xA5, N_VALUES * sizeof(float));
        CHECK_STATUS(alcm_decompress_with_threads(frame, len, out, N_VALUES, threads[k], &n_out), ALCM_OK);
        CHECK(n_out == N_VALUES);
        CHECK(memcmp(out, ref, N_VALUES * sizeof(float)) == 0);
    }

    /* Invalid thread counts: refused before anything is read or written. */
    memset(out, 0x5A, N_VALUES * sizeof(float));
    n_out = 777;
    CHECK_STATUS(alcm_decompress_with_threads(frame, len, out, N_VALUES, 0, &n_out), ALCM_ERR_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), "threads") != NULL);
    CHECK_STATUS(alcm_decompress_with_threads(frame, len, out, N_VALUES, ALCM_MAX_THREADS + 1, &n_out),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_decompress_with_threads(NULL, len, out, N_VALUES, 0, &n_out), ALCM_ERR_INVALID_ARGUMENT);
    untouched = 1;
    for (i = 0; i < N_VALUES; i++) {
        uint32_t b;
        memcpy(&b, &out[i], sizeof b);
        if (b != 0x5A5A5A5Au) untouched = 0;
    }
    CHECK(untouched && n_out == 777);

    /* The error paths of alcm_decompress, with threads. */
    CHECK_STATUS(alcm_decompress_with_threads(NULL, len, out, N_VALUES, 2, &n_out), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_decompress_with_threads(frame, len, NULL, N_VALUES, 2, &n_out), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_decompress_with_threads(frame, len, out, N_VALUES, 2, NULL), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_decompress_with_threads(frame, len, out, N_VALUES - 1, 2, &n_out), ALCM_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(alcm_decompress_with_threads(frame, 0, out, N_VALUES, 2, &n_out), ALCM_ERR_TRUNCATED);
    CHECK_STATUS(alcm_decompress_with_threads(frame, len - 1, out, N_VALUES, 2, &n_out), ALCM_ERR_TRUNCATED);
    CHECK(n_out == 777);
    copy = (uint8_t *)malloc(len);
    CHECK(copy != NULL);
    if (copy) {
        memcpy(copy, frame, len);
        copy[0] = 'X';
        CHECK_STATUS(alcm_decompress_with_threads(copy, len, out, N_VALUES, 2, &n_out), ALCM_ERR_BAD_MAGIC);
        memcpy(copy, frame, len);
        copy[4] = (uint8_t)(ALCM_FORMAT_VERSION + 1);
        CHECK_STATUS(alcm_decompress_with_threads(copy, len, out, N_VALUES, 2, &n_out), ALCM_ERR_FORMAT_VERSION);
        /* A flipped bit in the second half of the payload (a block another thread decodes). */
        memcpy(copy, frame, len);
        copy[len - len / 4] ^= 0x10;
        CHECK_STATUS(alcm_decompress_with_threads(copy, len, out, N_VALUES, 2, &n_out), ALCM_ERR_CHECKSUM);
        CHECK(n_out == 777);
    }

done:
    alcm_encoder_free(enc);
    free(copy);
    free(frame);
    free(out);
    free(ref);
    free(x);
}

/* Error feedback with a threaded encoder: same frames, step after step, as with one thread. */
static void test_feedback_with_threads(void) {
    float *x = synthetic_tensor();
    const size_t shape[2] = {ROWS, COLS};
    alcm_encoder *one = NULL, *two = NULL;
    alcm_feedback *fb1 = NULL, *fb2 = NULL;
    size_t cap = alcm_compress_bound(N_VALUES), len1 = 0, len2 = 0;
    uint8_t *a = (uint8_t *)malloc(cap), *b = (uint8_t *)malloc(cap);
    int step;
    CHECK(x && a && b);
    if (!x || !a || !b) goto done;
    CHECK_STATUS(alcm_encoder_new(&one), ALCM_OK);
    CHECK_STATUS(alcm_encoder_new(&two), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(one, ALCM_MODE_RELATIVE_L2, 5e-2), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(two, ALCM_MODE_RELATIVE_L2, 5e-2), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_threads(two, 2), ALCM_OK);
    CHECK_STATUS(alcm_feedback_new(2, shape, &fb1), ALCM_OK);
    CHECK_STATUS(alcm_feedback_new(2, shape, &fb2), ALCM_OK);
    for (step = 0; step < 2; step++) {
        CHECK_STATUS(alcm_feedback_compress(fb1, one, x, N_VALUES, NULL, 0, a, cap, &len1, NULL), ALCM_OK);
        CHECK_STATUS(alcm_feedback_compress(fb2, two, x, N_VALUES, NULL, 0, b, cap, &len2, NULL), ALCM_OK);
        CHECK(len1 == len2 && memcmp(a, b, len1) == 0);
    }
done:
    alcm_feedback_free(fb1);
    alcm_feedback_free(fb2);
    alcm_encoder_free(one);
    alcm_encoder_free(two);
    free(a);
    free(b);
    free(x);
}

int main(void) {
    RUN(test_set_threads_validation);
    RUN(test_bytes_do_not_depend_on_threads);
    RUN(test_decompress_with_threads);
    RUN(test_feedback_with_threads);
    return FINISH();
}
