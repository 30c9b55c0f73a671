/* C API tests of the codec: compress bound, encoder (new, YAML, setters, compress), peek,
 * decompress (corrupt, truncated, bit-flipped frames), error feedback, metrics, CAQ, variance.
 * Built and run by `cargo test --test c_api` (and tests/c/run_sanitizers.sh); needs
 * ALCM_TEST_DATA_DIR = the repository root. */
#include <stdint.h>
#include <stdlib.h>

#include "alcm_test.h"

#define TENSOR "tests/data/gradients/grad_step00100_fc1.weight.npy"

static const char *const ENCODER_YAML =
    "quantization: {base_precision: 8, min_precision: 4}\n"
    "pruning: {threshold_init: 0.01, max_drop_ratio: 0.25}\n"
    "backend: \"bridge\"\n"
    "timeout_seconds: 300\n";

/* Compresses t with enc into a freshly malloc'ed bound-sized buffer; returns it (NULL on error)
 * and the frame length in *len. */
static uint8_t *compress_tensor(const alcm_encoder *enc, const npy_tensor *t, const double *alloc,
                                size_t alloc_len, size_t *len, alcm_report *rep) {
    size_t cap = alcm_compress_bound(t->n);
    uint8_t *dst = (uint8_t *)malloc(cap);
    alcm_status st = alcm_encoder_compress(enc, t->data, t->rank, t->shape, alloc, alloc_len, dst,
                                           cap, len, rep);
    CHECK_STATUS(st, ALCM_OK);
    if (st != ALCM_OK) {
        free(dst);
        return NULL;
    }
    CHECK(*len <= cap);
    return dst;
}

static void test_compress_bound(void) {
    CHECK(alcm_compress_bound(0) > 0);
    CHECK(alcm_compress_bound(1000) >= 4000 + alcm_compress_bound(0));
    CHECK(alcm_compress_bound(SIZE_MAX) == SIZE_MAX);
    CHECK(alcm_compress_bound(SIZE_MAX / 4 + 1) == SIZE_MAX);
}

static void test_encoder_lifecycle(void) {
    alcm_encoder *enc = NULL;
    alcm_scheduler *sched = NULL;
    CHECK_STATUS(alcm_encoder_new(NULL), ALCM_ERR_NULL_POINTER);
    CHECK(strstr(last_error(), "out") != NULL);
    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    CHECK(enc != NULL);
    /* Wrong-type handle: a scheduler passed as an encoder. */
    CHECK_STATUS(alcm_scheduler_new(0.01, 0.95, 5, 0.001, 0.1, &sched), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_threshold((alcm_encoder *)sched, 0.02), ALCM_ERR_INVALID_HANDLE);
    CHECK(strstr(last_error(), "alcm_encoder") != NULL);
    {
        const float x[2] = {1, 2};
        const size_t shape[1] = {2};
        uint8_t buf[256];
        size_t len;
        CHECK_STATUS(alcm_encoder_compress((const alcm_encoder *)sched, x, 1, shape, NULL, 0, buf,
                                           sizeof buf, &len, NULL),
                     ALCM_ERR_INVALID_HANDLE);
    }
    alcm_scheduler_free(sched);
    alcm_encoder_free(enc);
    CHECK_FREE_NULL(alcm_encoder_free);
    CHECK_FREE_NULL(alcm_feedback_free);
}

static void test_encoder_yaml(void) {
    alcm_encoder *enc = NULL;
    char path[PATH_BUF], dir[PATH_BUF], bad[PATH_BUF];
    FILE *f;
    const char invalid_utf8[] = {'b', 'a', 'c', 'k', (char)0xff, ':', ' ', '1', 0};

    CHECK_STATUS(alcm_encoder_from_yaml_string(ENCODER_YAML, &enc), ALCM_OK);
    alcm_encoder_free(enc);
    enc = NULL;
    CHECK_STATUS(alcm_encoder_from_yaml_string("", &enc), ALCM_OK); /* every key optional */
    alcm_encoder_free(enc);
    enc = NULL;
    CHECK_STATUS(alcm_encoder_from_yaml_string(
                     "mode: {type: relative_l2, target: 0.01}\nnon_finite: keep\nbackend: store\n",
                     &enc),
                 ALCM_OK);
    alcm_encoder_free(enc);
    enc = NULL;

    /* Invalid values: the message names the key. */
    CHECK_STATUS(alcm_encoder_from_yaml_string("quantization: {min_precision: 0}\n", &enc),
                 ALCM_ERR_INVALID_CONFIG);
    CHECK(strstr(last_error(), "quantization.min_precision") != NULL);
    CHECK_STATUS(alcm_encoder_from_yaml_string("pruning: {threshold_init: 1.5}\n", &enc),
                 ALCM_ERR_INVALID_CONFIG);
    CHECK(strstr(last_error(), "pruning.threshold_init") != NULL);
    CHECK_STATUS(alcm_encoder_from_yaml_string("pruning: {treshold_init: 0.01}\n", &enc),
                 ALCM_ERR_INVALID_CONFIG);
    CHECK(strstr(last_error(), "pruning.treshold_init") != NULL);
    CHECK_STATUS(alcm_encoder_from_yaml_string("backend: zstd\n", &enc), ALCM_ERR_INVALID_CONFIG);
    CHECK(strstr(last_error(), "backend") != NULL);
    CHECK_STATUS(alcm_encoder_from_yaml_string("timeout_seconds: -1\n", &enc),
                 ALCM_ERR_INVALID_CONFIG);
    CHECK(strstr(last_error(), "timeout_seconds") != NULL);
    CHECK_STATUS(alcm_encoder_from_yaml_string("quantization: [1, 2\n", &enc),
                 ALCM_ERR_INVALID_CONFIG);
    CHECK(enc == NULL); /* out-parameter untouched on failure */
    CHECK_STATUS(alcm_encoder_from_yaml_string(NULL, &enc), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_from_yaml_string(ENCODER_YAML, NULL), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_from_yaml_string(invalid_utf8, &enc), ALCM_ERR_INVALID_UTF8);
    CHECK(enc == NULL);

    /* Files: the shipped config, a missing file, a file with an invalid value. */
    CHECK_STATUS(alcm_encoder_from_yaml_file(repo_path(path, "configs/encoder_config.yaml"), &enc),
                 ALCM_OK);
    alcm_encoder_free(enc);
    enc = NULL;
    CHECK_STATUS(alcm_encoder_from_yaml_file(repo_path(path, "configs/no_such_file.yaml"), &enc),
                 ALCM_ERR_IO);
    CHECK_STATUS(alcm_encoder_from_yaml_file("", &enc), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_encoder_from_yaml_file(NULL, &enc), ALCM_ERR_NULL_POINTER);
    temp_dir_create(dir);
    join_path(bad, dir, "bad_encoder.yaml");
    f = fopen(bad, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("quantization:\n  base_precision: 17\n", f);
        fclose(f);
        CHECK_STATUS(alcm_encoder_from_yaml_file(bad, &enc), ALCM_ERR_INVALID_CONFIG);
        CHECK(strstr(last_error(), "quantization.base_precision") != NULL);
    }
    CHECK(enc == NULL);
    temp_dir_remove(dir);
}

static void test_encoder_setters(void) {
    alcm_encoder *enc = NULL;
    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_threshold(enc, 0.05), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_threshold(enc, 0.0), ALCM_ERR_INVALID_CONFIG);
    CHECK_STATUS(alcm_encoder_set_threshold(enc, 1.0), ALCM_ERR_INVALID_CONFIG);
    CHECK_STATUS(alcm_encoder_set_threshold(NULL, 0.05), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_RELATIVE_L2, 0.01), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_RELATIVE_L2, 1.5), ALCM_ERR_INVALID_CONFIG);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_MAX_ABS, 1e-4), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_MAX_ABS, -1.0), ALCM_ERR_INVALID_CONFIG);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_LOSSLESS, 0), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_ADAPTIVE, 0), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(enc, 7, 0), ALCM_ERR_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), "mode") != NULL);
    CHECK_STATUS(alcm_encoder_set_mode(NULL, ALCM_MODE_ADAPTIVE, 0), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_set_backend(enc, ALCM_BACKEND_STORE, 0), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_backend(enc, ALCM_BACKEND_DEFLATE, 10), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_backend(enc, ALCM_BACKEND_DEFLATE, 11), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_encoder_set_backend(enc, ALCM_BACKEND_RANS, 6), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_backend(enc, 99, 6), ALCM_ERR_INVALID_ARGUMENT);
    /* As documented in alcm.h: backend 3 is written by the encoder, never selected; the level
     * is validated for every backend; the backend number is checked before the handle. */
    CHECK_STATUS(alcm_encoder_set_backend(enc, ALCM_BACKEND_RANS_MODEL, 6),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_encoder_set_backend(enc, ALCM_BACKEND_STORE, 11), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_encoder_set_backend(NULL, 99, 6), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_encoder_set_backend(NULL, ALCM_BACKEND_STORE, 0), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_set_precision(enc, 2, 12), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_precision(enc, 0, 8), ALCM_ERR_INVALID_CONFIG);
    CHECK_STATUS(alcm_encoder_set_precision(enc, 9, 8), ALCM_ERR_INVALID_CONFIG);
    CHECK_STATUS(alcm_encoder_set_precision(enc, 4, 17), ALCM_ERR_INVALID_CONFIG);
    CHECK_STATUS(alcm_encoder_set_precision(NULL, 4, 8), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_set_max_drop_ratio(enc, 0.0), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_max_drop_ratio(enc, 0.5), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_max_drop_ratio(enc, 1.0), ALCM_ERR_INVALID_CONFIG);
    CHECK_STATUS(alcm_encoder_set_max_drop_ratio(NULL, 0.5), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_set_non_finite(enc, ALCM_NON_FINITE_KEEP), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_non_finite(enc, ALCM_NON_FINITE_REFUSE), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_non_finite(enc, 2), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_encoder_set_non_finite(NULL, ALCM_NON_FINITE_KEEP), ALCM_ERR_NULL_POINTER);
    alcm_encoder_free(enc);
}

/* Round trip of a real tensor in every mode; the bounds are checked here, in C. */
static void test_round_trip_every_mode(void) {
    npy_tensor t = load_tensor(TENSOR);
    alcm_encoder *enc = NULL;
    float *out = (float *)malloc(t.n * sizeof(float));
    double *alloc = NULL;
    size_t n_channels = 0, len = 0, n_out = 0, i;
    uint8_t *frame;
    alcm_report rep;
    alcm_frame_info info;
    alcm_metrics m;

    CHECK(t.rank == 2 && t.shape[0] == 256 && t.shape[1] == 64 && t.n == 16384);
    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);

    /* Lossless: bit-exact, both backends. */
    {
        const alcm_backend backends[3] = {ALCM_BACKEND_STORE, ALCM_BACKEND_DEFLATE, ALCM_BACKEND_RANS};
        int b;
        for (b = 0; b < 3; b++) {
            CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_LOSSLESS, 0), ALCM_OK);
            CHECK_STATUS(alcm_encoder_set_backend(enc, backends[b], 6), ALCM_OK);
            frame = compress_tensor(enc, &t, NULL, 0, &len, &rep);
            if (!frame) continue;
            CHECK(rep.mode == ALCM_MODE_LOSSLESS);
            CHECK(rep.input_bytes == 4 * t.n && rep.output_bytes == len);
            CHECK_STATUS(alcm_peek(frame, len, &info), ALCM_OK);
            /* The default backend's lossless frames carry the float-layout coder. */
            CHECK(info.backend == backends[b] || info.backend == ALCM_BACKEND_STORE ||
                  (backends[b] == ALCM_BACKEND_RANS && info.backend == ALCM_BACKEND_FLOAT));
            CHECK_STATUS(alcm_decompress(frame, len, out, t.n, &n_out), ALCM_OK);
            CHECK(n_out == t.n);
            CHECK(memcmp(out, t.data, t.n * sizeof(float)) == 0);
            free(frame);
        }
        CHECK_STATUS(alcm_encoder_set_backend(enc, ALCM_BACKEND_DEFLATE, 6), ALCM_OK);
    }

    /* The default backend on a rank-2 gradient: the rank-1 model's payload is smaller than
     * plain rANS here, so the frame reports ALCM_BACKEND_RANS_MODEL (the id alcm_peek returns
     * for most default lossy frames), and it decodes within the bound. */
    {
        alcm_encoder *def = NULL;
        double num = 0, den = 0;
        CHECK_STATUS(alcm_encoder_new(&def), ALCM_OK);
        CHECK_STATUS(alcm_encoder_set_mode(def, ALCM_MODE_RELATIVE_L2, 0.01), ALCM_OK);
        frame = compress_tensor(def, &t, NULL, 0, &len, &rep);
        if (frame) {
            CHECK_STATUS(alcm_peek(frame, len, &info), ALCM_OK);
            CHECK(info.backend == ALCM_BACKEND_RANS_MODEL);
            CHECK_STATUS(alcm_decompress(frame, len, out, t.n, &n_out), ALCM_OK);
            for (i = 0; i < t.n; i++) {
                num += ((double)out[i] - t.data[i]) * ((double)out[i] - t.data[i]);
                den += (double)t.data[i] * t.data[i];
            }
            CHECK(num <= 0.01 * 0.01 * den);
            free(frame);
        }
        alcm_encoder_free(def);
    }

    /* Relative L2: ||x - x'|| <= target ||x||. */
    {
        const double targets[3] = {0.1, 0.01, 0.001};
        int k;
        for (k = 0; k < 3; k++) {
            CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_RELATIVE_L2, targets[k]), ALCM_OK);
            frame = compress_tensor(enc, &t, NULL, 0, &len, &rep);
            if (!frame) continue;
            CHECK(rep.mode == ALCM_MODE_RELATIVE_L2);
            CHECK(rep.ratio > 1.0);
            CHECK_NEAR(rep.bits_per_value, 8.0 * (double)len / (double)t.n, 1e-9);
            CHECK_NEAR(rep.ratio, 4.0 * (double)t.n / (double)len, 1e-9);
            CHECK_STATUS(alcm_peek(frame, len, &info), ALCM_OK);
            CHECK(info.mode == ALCM_MODE_RELATIVE_L2 && info.target == targets[k]);
            CHECK_STATUS(alcm_decompress(frame, len, out, t.n, &n_out), ALCM_OK);
            CHECK(n_out == t.n);
            CHECK(rel_l2_error(t.data, out, t.n) <= targets[k]);
            CHECK_STATUS(alcm_error_metrics(t.data, out, t.n, &m), ALCM_OK);
            CHECK(m.rel_l2 <= targets[k]);
            CHECK_NEAR(m.rel_l2, rel_l2_error(t.data, out, t.n), 1e-9);
            free(frame);
        }
    }

    /* Max abs: |x_i - x'_i| <= target for every i. */
    {
        const double targets[3] = {1e-3, 1e-4, 1e-6};
        int k;
        for (k = 0; k < 3; k++) {
            CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_MAX_ABS, targets[k]), ALCM_OK);
            frame = compress_tensor(enc, &t, NULL, 0, &len, &rep);
            if (!frame) continue;
            CHECK_STATUS(alcm_decompress(frame, len, out, t.n, &n_out), ALCM_OK);
            CHECK(max_abs_error(t.data, out, t.n) <= targets[k]);
            CHECK_STATUS(alcm_error_metrics(t.data, out, t.n, &m), ALCM_OK);
            CHECK(m.max_abs <= targets[k]);
            free(frame);
        }
    }

    /* Adaptive: full precision (no allocation), one allocation, one per channel. */
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_ADAPTIVE, 0), ALCM_OK);
    CHECK_STATUS(alcm_channel_count(t.rank, t.shape, &n_channels), ALCM_OK);
    CHECK(n_channels == 256);
    alloc = (double *)malloc(n_channels * sizeof(double));
    for (i = 0; i < n_channels; i++) alloc[i] = 0.2 + 0.7 * (double)(i % 8) / 7.0;
    {
        const double one = 0.5;
        const double *allocs[3] = {NULL, &one, alloc};
        const size_t alloc_lens[3] = {0, 1, n_channels};
        int k;
        for (k = 0; k < 3; k++) {
            frame = compress_tensor(enc, &t, allocs[k], alloc_lens[k], &len, &rep);
            if (!frame) continue;
            CHECK(rep.ratio > 1.0);
            CHECK(rep.dropped_ratio >= 0.0 && rep.dropped_ratio <= 0.25);
            CHECK(rep.cpu_seconds >= 0.0);
            CHECK_NEAR(rep.caq, rep.ratio / (rep.cpu_seconds + 1.0), 1e-12);
            CHECK_STATUS(alcm_peek(frame, len, &info), ALCM_OK);
            CHECK(info.n_values == t.n && info.n_channels == 256 && info.rank == 2);
            CHECK(info.shape[0] == 256 && info.shape[1] == 64 && info.shape[2] == 0);
            CHECK(info.frame_len == len && info.format_version == ALCM_FORMAT_VERSION);
            CHECK_STATUS(alcm_decompress(frame, len, out, t.n, &n_out), ALCM_OK);
            CHECK(n_out == t.n);
            /* Lossy but close: pruning drops at most 25 % of the (small) values. */
            CHECK(rel_l2_error(t.data, out, t.n) < 0.5);
            free(frame);
        }
    }
    /* Allocation length must be 1 or the channel count. */
    {
        size_t cap = alcm_compress_bound(t.n);
        uint8_t *dst = (uint8_t *)malloc(cap);
        CHECK_STATUS(alcm_encoder_compress(enc, t.data, t.rank, t.shape, alloc, 3, dst, cap, &len,
                                           NULL),
                     ALCM_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(alcm_encoder_compress(enc, t.data, t.rank, t.shape, NULL, 3, dst, cap, &len,
                                           NULL),
                     ALCM_ERR_NULL_POINTER);
        free(dst);
    }
    free(alloc);
    free(out);
    alcm_encoder_free(enc);
    npy_free(&t);
}

static void test_compress_errors(void) {
    float x[6] = {1, -2, 3, -4, 5, -6};
    const size_t shape[2] = {2, 3};
    alcm_encoder *enc = NULL;
    uint8_t buf[512];
    size_t len = 12345, cap = alcm_compress_bound(6), n_out;
    alcm_report rep;
    float back[6];
    CHECK(cap <= sizeof buf);
    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    CHECK_STATUS(alcm_encoder_compress(NULL, x, 2, shape, NULL, 0, buf, cap, &len, NULL),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_compress(enc, NULL, 2, shape, NULL, 0, buf, cap, &len, NULL),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_compress(enc, x, 2, NULL, NULL, 0, buf, cap, &len, NULL),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_compress(enc, x, 2, shape, NULL, 0, NULL, cap, &len, NULL),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_compress(enc, x, 2, shape, NULL, 0, buf, cap, NULL, NULL),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_compress(enc, x, 9, shape, NULL, 0, buf, cap, &len, NULL),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK(len == 12345);
    /* Too-small buffers: nothing written to *dst_len. */
    CHECK_STATUS(alcm_encoder_compress(enc, x, 2, shape, NULL, 0, buf, 10, &len, NULL),
                 ALCM_ERR_BUFFER_TOO_SMALL);
    CHECK(strstr(last_error(), "alcm_compress_bound") != NULL);
    CHECK_STATUS(alcm_encoder_compress(enc, x, 2, shape, NULL, 0, buf, 0, &len, NULL),
                 ALCM_ERR_BUFFER_TOO_SMALL);
    CHECK(len == 12345);
    /* NaN and Inf are refused by default, the message names the index. */
    x[4] = NAN;
    CHECK_STATUS(alcm_encoder_compress(enc, x, 2, shape, NULL, 0, buf, cap, &len, NULL),
                 ALCM_ERR_NON_FINITE);
    CHECK(strstr(last_error(), "4") != NULL);
    x[4] = INFINITY;
    CHECK_STATUS(alcm_encoder_compress(enc, x, 2, shape, NULL, 0, buf, cap, &len, NULL),
                 ALCM_ERR_NON_FINITE);
    CHECK(len == 12345);
    /* ... and stored exactly with the keep policy. */
    x[4] = NAN;
    x[1] = -INFINITY;
    CHECK_STATUS(alcm_encoder_set_non_finite(enc, ALCM_NON_FINITE_KEEP), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_MAX_ABS, 1e-3), ALCM_OK);
    CHECK_STATUS(alcm_encoder_compress(enc, x, 2, shape, NULL, 0, buf, cap, &len, &rep), ALCM_OK);
    CHECK(rep.exceptions >= 2);
    CHECK_STATUS(alcm_decompress(buf, len, back, 6, &n_out), ALCM_OK);
    CHECK(n_out == 6 && isnan(back[4]) && isinf(back[1]) && back[1] < 0);
    CHECK(fabs(back[0] - 1) <= 1e-3 && fabs(back[5] + 6) <= 1e-3);
    alcm_encoder_free(enc);
}

/* Decoding damaged frames gives typed errors, never a crash. */
static void test_decompress_errors(void) {
    npy_tensor t = load_tensor("tests/data/gradients/grad_step00100_fc3.weight.npy");
    alcm_encoder *enc = NULL;
    uint8_t *frame, *copy;
    size_t len = 0, n_out = 777, i;
    float *out = (float *)malloc(t.n * sizeof(float));
    alcm_frame_info info, sentinel;
    alcm_status st;
    int typed = 1;

    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_RELATIVE_L2, 0.01), ALCM_OK);
    frame = compress_tensor(enc, &t, NULL, 0, &len, NULL);
    if (!frame) {
        free(out);
        npy_free(&t);
        alcm_encoder_free(enc);
        return;
    }
    copy = (uint8_t *)malloc(len);

    /* NULL arguments. */
    CHECK_STATUS(alcm_peek(NULL, len, &info), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_peek(frame, len, NULL), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_decompress(NULL, len, out, t.n, &n_out), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_decompress(frame, len, NULL, t.n, &n_out), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_decompress(frame, len, out, t.n, NULL), ALCM_ERR_NULL_POINTER);
    /* Too-small destination. */
    CHECK_STATUS(alcm_decompress(frame, len, out, t.n - 1, &n_out), ALCM_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(alcm_decompress(frame, len, out, 0, &n_out), ALCM_ERR_BUFFER_TOO_SMALL);
    CHECK(n_out == 777);

    /* Empty input and bad magic. */
    CHECK_STATUS(alcm_decompress(frame, 0, out, t.n, &n_out), ALCM_ERR_TRUNCATED);
    memcpy(copy, frame, len);
    copy[0] = 'X';
    CHECK_STATUS(alcm_peek(copy, len, &info), ALCM_ERR_BAD_MAGIC);
    CHECK_STATUS(alcm_decompress(copy, len, out, t.n, &n_out), ALCM_ERR_BAD_MAGIC);
    /* A newer format version. */
    memcpy(copy, frame, len);
    copy[4] = (uint8_t)(ALCM_FORMAT_VERSION + 1);
    CHECK_STATUS(alcm_peek(copy, len, &info), ALCM_ERR_FORMAT_VERSION);
    CHECK_STATUS(alcm_decompress(copy, len, out, t.n, &n_out), ALCM_ERR_FORMAT_VERSION);
    /* Truncated: the header alone peeks fine but does not decode; every shorter prefix fails. */
    memset(&sentinel, 0x5A, sizeof sentinel);
    info = sentinel;
    CHECK_STATUS(alcm_peek(frame, 3, &info), ALCM_ERR_TRUNCATED);
    CHECK_STATUS(alcm_peek(frame, 20, &info), ALCM_ERR_TRUNCATED);
    CHECK(memcmp(&info, &sentinel, sizeof info) == 0);
    /* ALCM_FRAME_HEADER_MAX bytes always suffice for peek. */
    CHECK(len > ALCM_FRAME_HEADER_MAX);
    CHECK_STATUS(alcm_peek(frame, ALCM_FRAME_HEADER_MAX, &info), ALCM_OK);
    CHECK(info.n_values == t.n && info.frame_len == len && info.mode == ALCM_MODE_RELATIVE_L2);
    CHECK_STATUS(alcm_decompress(frame, len - 1, out, t.n, &n_out), ALCM_ERR_TRUNCATED);
    CHECK_STATUS(alcm_decompress(frame, len / 2, out, t.n, &n_out), ALCM_ERR_TRUNCATED);
    for (i = 0; i < len; i += 7) {
        st = alcm_decompress(frame, i, out, t.n, &n_out);
        if (st != ALCM_ERR_TRUNCATED && st != ALCM_ERR_CORRUPT && st != ALCM_ERR_BAD_MAGIC) {
            typed = 0;
            fprintf(stderr, "prefix %zu: %s\n", i, alcm_status_string(st));
        }
    }
    CHECK(typed);
    CHECK(n_out == 777);
    /* Trailing garbage: the frame must be exact. */
    {
        uint8_t *longer = (uint8_t *)calloc(len + 8, 1);
        memcpy(longer, frame, len);
        st = alcm_decompress(longer, len + 8, out, t.n, &n_out);
        CHECK(st == ALCM_ERR_CORRUPT || st == ALCM_ERR_CHECKSUM);
        free(longer);
    }
    /* A flipped bit in the payload or the trailer: checksum mismatch. */
    memcpy(copy, frame, len);
    copy[len - 10] ^= 0x10;
    CHECK_STATUS(alcm_decompress(copy, len, out, t.n, &n_out), ALCM_ERR_CHECKSUM);
    memcpy(copy, frame, len);
    copy[len - 1] ^= 0x01;
    CHECK_STATUS(alcm_decompress(copy, len, out, t.n, &n_out), ALCM_ERR_CHECKSUM);
    /* Every single-bit flip anywhere gives a typed data error (or, for a flip in a field the
     * decoder ignores, nothing but the checksum catches it). */
    typed = 1;
    for (i = 0; i < len * 8; i += 13) {
        memcpy(copy, frame, len);
        copy[i / 8] ^= (uint8_t)(1u << (i % 8));
        st = alcm_decompress(copy, len, out, t.n, &n_out);
        if (!(st == ALCM_ERR_CHECKSUM || st == ALCM_ERR_CORRUPT || st == ALCM_ERR_TRUNCATED ||
              st == ALCM_ERR_BAD_MAGIC || st == ALCM_ERR_FORMAT_VERSION ||
              st == ALCM_ERR_TOO_LARGE || st == ALCM_ERR_BUFFER_TOO_SMALL)) {
            typed = 0;
            fprintf(stderr, "bit %zu: %s\n", i, alcm_status_string(st));
        }
    }
    CHECK(typed);
    CHECK(n_out == 777);
    /* The intact frame still decodes. */
    CHECK_STATUS(alcm_decompress(frame, len, out, t.n, &n_out), ALCM_OK);
    CHECK(n_out == t.n && rel_l2_error(t.data, out, t.n) <= 0.01);

    free(copy);
    free(frame);
    free(out);
    alcm_encoder_free(enc);
    npy_free(&t);
}

static void test_empty_and_scalar_tensors(void) {
    const size_t empty_shape[2] = {0, 5};
    const float one = 3.5f;
    alcm_encoder *enc = NULL;
    uint8_t buf[512];
    size_t len = 0, n_out = 99;
    float back[1] = {0};
    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    CHECK_STATUS(alcm_encoder_compress(enc, NULL, 2, empty_shape, NULL, 0, buf,
                                       alcm_compress_bound(0), &len, NULL),
                 ALCM_OK);
    CHECK_STATUS(alcm_decompress(buf, len, NULL, 0, &n_out), ALCM_OK);
    CHECK(n_out == 0);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_LOSSLESS, 0), ALCM_OK);
    CHECK_STATUS(alcm_encoder_compress(enc, &one, 0, NULL, NULL, 0, buf, alcm_compress_bound(1),
                                       &len, NULL),
                 ALCM_OK);
    CHECK_STATUS(alcm_decompress(buf, len, back, 1, &n_out), ALCM_OK);
    CHECK(n_out == 1 && back[0] == 3.5f);
    alcm_encoder_free(enc);
}

/* Error feedback: residual carried between steps, reset, save/load, error paths. */
static void test_feedback(void) {
    npy_tensor t = load_tensor("tests/data/gradients/grad_step00100_fc3.weight.npy");
    alcm_encoder *enc = NULL;
    alcm_feedback *fb = NULL, *loaded = NULL, *sentinel_fb = (alcm_feedback *)(uintptr_t)0x1;
    size_t cap = alcm_compress_bound(t.n), len1 = 0, len2 = 0, len3 = 0, len = 0, n_out = 0;
    uint8_t *first = (uint8_t *)malloc(cap), *second = (uint8_t *)malloc(cap),
            *again = (uint8_t *)malloc(cap), *small = (uint8_t *)malloc(cap);
    float *out = (float *)malloc(t.n * sizeof(float));
    const size_t wrong_shape[1] = {7};
    char dir[PATH_BUF], path[PATH_BUF];
    alcm_report rep;
    FILE *f;

    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_RELATIVE_L2, 0.05), ALCM_OK);
    CHECK_STATUS(alcm_feedback_new(t.rank, t.shape, NULL), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_feedback_new(t.rank, NULL, &fb), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_feedback_new(9, t.shape, &fb), ALCM_ERR_INVALID_ARGUMENT);
    CHECK(fb == NULL);
    CHECK_STATUS(alcm_feedback_new(t.rank, t.shape, &fb), ALCM_OK);

    /* Step 1 (zero residual) equals a plain compression; step 2 differs (residual added). */
    CHECK_STATUS(alcm_feedback_compress(fb, enc, t.data, t.n, NULL, 0, first, cap, &len1, &rep),
                 ALCM_OK);
    {
        size_t plain_len = 0;
        uint8_t *plain = compress_tensor(enc, &t, NULL, 0, &plain_len, NULL);
        CHECK(plain != NULL && plain_len == len1 && memcmp(plain, first, len1) == 0);
        free(plain);
    }
    CHECK_STATUS(alcm_feedback_compress(fb, enc, t.data, t.n, NULL, 0, second, cap, &len2, NULL),
                 ALCM_OK);
    CHECK(len1 != len2 || memcmp(first, second, len1) != 0);
    CHECK_STATUS(alcm_decompress(second, len2, out, t.n, &n_out), ALCM_OK);
    CHECK(n_out == t.n);

    /* Save after step 2, load, and both continue identically. */
    temp_dir_create(dir);
    join_path(path, dir, "feedback.state");
    CHECK_STATUS(alcm_feedback_save(fb, path), ALCM_OK);
    CHECK_STATUS(alcm_feedback_save(NULL, path), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_feedback_save(fb, NULL), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_feedback_load(path, &loaded), ALCM_OK);
    CHECK_STATUS(alcm_feedback_load(path, NULL), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_feedback_load(NULL, &loaded), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_feedback_compress(fb, enc, t.data, t.n, NULL, 0, again, cap, &len3, NULL),
                 ALCM_OK);
    CHECK_STATUS(alcm_feedback_compress(loaded, enc, t.data, t.n, NULL, 0, small, cap, &len, NULL),
                 ALCM_OK);
    CHECK(len == len3 && memcmp(again, small, len) == 0);
    alcm_feedback_free(loaded);
    loaded = NULL;

    /* Damaged state files. */
    {
        char bad[PATH_BUF];
        join_path(bad, dir, "truncated.state");
        f = fopen(bad, "wb");
        if (f) {
            FILE *src = fopen(path, "rb");
            char chunk[16];
            size_t got = src ? fread(chunk, 1, sizeof chunk, src) : 0;
            fwrite(chunk, 1, got, f);
            fclose(f);
            if (src) fclose(src);
        }
        loaded = sentinel_fb;
        {
            alcm_status st = alcm_feedback_load(bad, &loaded);
            CHECK(st == ALCM_ERR_INVALID_MODEL || st == ALCM_ERR_CHECKSUM);
        }
        CHECK(loaded == sentinel_fb);
        join_path(bad, dir, "foreign.state");
        f = fopen(bad, "wb");
        if (f) {
            fputs("this is not an alcm feedback state file, just some text of decent length\n", f);
            fclose(f);
        }
        {
            alcm_status st = alcm_feedback_load(bad, &loaded);
            CHECK(st == ALCM_ERR_INVALID_MODEL || st == ALCM_ERR_CHECKSUM);
        }
        join_path(bad, dir, "missing.state");
        CHECK_STATUS(alcm_feedback_load(bad, &loaded), ALCM_ERR_IO);
        CHECK(loaded == sentinel_fb);
        loaded = NULL;
    }
    temp_dir_remove(dir);

    /* A too-small buffer is refused before the residual is touched. */
    CHECK_STATUS(alcm_feedback_reset(fb), ALCM_OK);
    CHECK_STATUS(alcm_feedback_compress(fb, enc, t.data, t.n, NULL, 0, small, 16, &len, NULL),
                 ALCM_ERR_BUFFER_TOO_SMALL);
    /* Use after reset: the next step equals the very first one. */
    CHECK_STATUS(alcm_feedback_compress(fb, enc, t.data, t.n, NULL, 0, again, cap, &len3, NULL),
                 ALCM_OK);
    CHECK(len3 == len1 && memcmp(again, first, len1) == 0);
    CHECK_STATUS(alcm_feedback_reset(fb), ALCM_OK);
    CHECK_STATUS(alcm_feedback_reset(fb), ALCM_OK); /* idempotent */
    CHECK_STATUS(alcm_feedback_compress(fb, enc, t.data, t.n, NULL, 0, again, cap, &len3, NULL),
                 ALCM_OK);
    CHECK(len3 == len1 && memcmp(again, first, len1) == 0);

    /* Error paths. */
    CHECK_STATUS(alcm_feedback_reset(NULL), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_feedback_reset((alcm_feedback *)enc), ALCM_ERR_INVALID_HANDLE);
    CHECK_STATUS(alcm_feedback_compress(NULL, enc, t.data, t.n, NULL, 0, small, cap, &len, NULL),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_feedback_compress(fb, NULL, t.data, t.n, NULL, 0, small, cap, &len, NULL),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_feedback_compress(fb, enc, NULL, t.n, NULL, 0, small, cap, &len, NULL),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_feedback_compress(fb, enc, t.data, t.n, NULL, 0, small, cap, NULL, NULL),
                 ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_feedback_compress(fb, (const alcm_encoder *)fb, t.data, t.n, NULL, 0, small,
                                        cap, &len, NULL),
                 ALCM_ERR_INVALID_HANDLE);
    CHECK_STATUS(alcm_feedback_compress((alcm_feedback *)enc, enc, t.data, t.n, NULL, 0, small,
                                        cap, &len, NULL),
                 ALCM_ERR_INVALID_HANDLE);
    CHECK_STATUS(alcm_feedback_compress(fb, enc, t.data, t.n - 1, NULL, 0, small, cap, &len, NULL),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_feedback_save((const alcm_feedback *)enc, "unused"), ALCM_ERR_INVALID_HANDLE);
    {
        float *nan_grad = (float *)malloc(t.n * sizeof(float));
        memcpy(nan_grad, t.data, t.n * sizeof(float));
        nan_grad[3] = NAN;
        CHECK_STATUS(alcm_feedback_compress(fb, enc, nan_grad, t.n, NULL, 0, small, cap, &len,
                                            NULL),
                     ALCM_ERR_NON_FINITE);
        free(nan_grad);
    }
    /* Failed calls did not change the residual: continue as from the reset above. */
    CHECK_STATUS(alcm_feedback_compress(fb, enc, t.data, t.n, NULL, 0, again, cap, &len3, NULL),
                 ALCM_OK);
    CHECK(len3 == len2 && memcmp(again, second, len2) == 0);
    alcm_feedback_free(fb);
    fb = NULL;
    CHECK_STATUS(alcm_feedback_new(1, wrong_shape, &fb), ALCM_OK);
    CHECK_STATUS(alcm_feedback_compress(fb, enc, t.data, t.n, NULL, 0, small, cap, &len, NULL),
                 ALCM_ERR_INVALID_ARGUMENT);
    alcm_feedback_free(fb);

    free(first);
    free(second);
    free(again);
    free(small);
    free(out);
    alcm_encoder_free(enc);
    npy_free(&t);
}

static void test_metrics_hand_computed(void) {
    const float a[4] = {1, 2, 3, 4};
    const float b[4] = {1, 2, 3, 5};
    alcm_metrics m, sentinel;
    memset(&sentinel, 0x33, sizeof sentinel);
    CHECK_STATUS(alcm_error_metrics(a, b, 4, &m), ALCM_OK);
    CHECK_NEAR(m.mse, 0.25, 1e-15);
    CHECK_NEAR(m.mae, 0.25, 1e-15);
    CHECK_NEAR(m.rel_l2, 1.0 / sqrt(30.0), 1e-15);
    CHECK_NEAR(m.max_abs, 1.0, 0);
    CHECK_NEAR(m.psnr, 10.0 * log10(9.0 / 0.25), 1e-12);
    CHECK_NEAR(m.snr, 10.0 * log10(30.0 / 1.0), 1e-12);
    CHECK_STATUS(alcm_error_metrics(a, a, 4, &m), ALCM_OK);
    CHECK(m.mse == 0 && m.max_abs == 0 && m.rel_l2 == 0 && isinf(m.psnr) && m.psnr > 0);
    m = sentinel;
    CHECK_STATUS(alcm_error_metrics(NULL, b, 4, &m), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_error_metrics(a, NULL, 4, &m), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_error_metrics(a, b, 4, NULL), ALCM_ERR_NULL_POINTER);
    CHECK(memcmp(&m, &sentinel, sizeof m) == 0);
}

static void test_caq_and_variance(void) {
    double out = -1;
    const double runs[3] = {1.0, 2.0, 3.0};
    const double same[2] = {1.52, 1.52};
    const double zero_mean[2] = {-1.0, 1.0};
    /* CAQ = ratio / (cpu_seconds + 1). */
    CHECK_STATUS(alcm_caq(2.0, 1.0, &out), ALCM_OK);
    CHECK_NEAR(out, 1.0, 1e-15);
    CHECK_STATUS(alcm_caq(1.56, 0.0, &out), ALCM_OK);
    CHECK_NEAR(out, 1.56, 1e-15);
    CHECK_STATUS(alcm_caq(3.0, 0.5, &out), ALCM_OK);
    CHECK_NEAR(out, 2.0, 1e-15);
    out = -1;
    CHECK_STATUS(alcm_caq(0.0, 1.0, &out), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_caq(-1.0, 1.0, &out), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_caq(2.0, -0.1, &out), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_caq(NAN, 1.0, &out), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_caq(2.0, INFINITY, &out), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_caq(2.0, 1.0, NULL), ALCM_ERR_NULL_POINTER);
    CHECK(out == -1);
    /* Variance = (max - min) / mean * 100. */
    CHECK_STATUS(alcm_variance_percent(runs, 3, &out), ALCM_OK);
    CHECK_NEAR(out, 100.0, 1e-12);
    CHECK_STATUS(alcm_variance_percent(same, 2, &out), ALCM_OK);
    CHECK_NEAR(out, 0.0, 0);
    CHECK_STATUS(alcm_variance_percent(runs, 1, &out), ALCM_OK);
    CHECK_NEAR(out, 0.0, 0);
    out = -1;
    CHECK_STATUS(alcm_variance_percent(runs, 0, &out), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_variance_percent(zero_mean, 2, &out), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_variance_percent(NULL, 3, &out), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_variance_percent(runs, 3, NULL), ALCM_ERR_NULL_POINTER);
    CHECK(out == -1);
}

int main(void) {
    RUN(test_compress_bound);
    RUN(test_encoder_lifecycle);
    RUN(test_encoder_yaml);
    RUN(test_encoder_setters);
    RUN(test_round_trip_every_mode);
    RUN(test_compress_errors);
    RUN(test_decompress_errors);
    RUN(test_empty_and_scalar_tensors);
    RUN(test_feedback);
    RUN(test_metrics_hand_computed);
    RUN(test_caq_and_variance);
    return FINISH();
}
