/* C API tests of the compressed collectives: a lossless 3-rank reduce-scatter + all-gather of a
 * real gradient checked against a double-precision sum, empty shards, the residual store
 * (save, load, a missing name), and NULL / wrong-handle / wrong-size arguments.
 * Built and run by `cargo test --test c_api` (and tests/c/run_sanitizers.sh); needs
 * ALCM_TEST_DATA_DIR = the repository root. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alcm_test.h"

#define RANKS 3

static void test_lossless_step_sums_exactly(void) {
    char path[PATH_BUF];
    npy_tensor g;
    alcm_encoder *enc = NULL;
    alcm_exchange *ex[RANKS] = {NULL};
    uint8_t *frames[RANKS][RANKS];
    size_t lens[RANKS][RANKS];
    uint8_t *reduced[RANKS];
    size_t rlens[RANKS];
    float *grads[RANKS];
    float *out;
    size_t i, r, j;

    if (npy_load(repo_path(path, "tests/data/gradients/grad_step00100_fc1.weight.npy"), &g) != 0) {
        CHECK(0);
        return;
    }
    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_LOSSLESS, 0), ALCM_OK);
    for (r = 0; r < RANKS; ++r) {
        grads[r] = malloc(g.n * sizeof(float));
        for (i = 0; i < g.n; ++i) grads[r][i] = g.data[i] * (float)(r + 1);
        /* shards of at least 4000 values: 256 rows of 64 -> 3 shards, on ranks 1, 2, 0 */
        CHECK_STATUS(alcm_exchange_new(g.rank, g.shape, RANKS, r, 4000, 1, &ex[r]), ALCM_OK);
    }
    for (r = 0; r < RANKS; ++r)
        for (j = 0; j < RANKS; ++j) {
            size_t off = 0, cnt = 0;
            CHECK_STATUS(alcm_exchange_shard(ex[r], j, &off, &cnt), ALCM_OK);
            frames[r][j] = malloc(alcm_compress_bound(cnt));
            CHECK_STATUS(alcm_exchange_compress_shard(ex[r], enc, grads[r], g.n, j, frames[r][j],
                                                      alcm_compress_bound(cnt), &lens[r][j], NULL),
                         ALCM_OK);
        }
    for (j = 0; j < RANKS; ++j) {
        size_t off = 0, cnt = 0;
        float *acc;
        CHECK_STATUS(alcm_exchange_shard(ex[j], j, &off, &cnt), ALCM_OK);
        acc = calloc(cnt ? cnt : 1, sizeof(float));
        for (r = 0; r < RANKS; ++r)
            CHECK_STATUS(alcm_exchange_accumulate(ex[j], frames[r][j], lens[r][j], 1.0f, acc, cnt),
                         ALCM_OK);
        reduced[j] = malloc(alcm_compress_bound(cnt));
        CHECK_STATUS(alcm_exchange_compress_reduced(ex[j], enc, acc, cnt, reduced[j],
                                                    alcm_compress_bound(cnt), &rlens[j], NULL),
                     ALCM_OK);
        free(acc);
    }
    out = malloc(g.n * sizeof(float));
    for (j = 0; j < RANKS; ++j)
        CHECK_STATUS(alcm_exchange_decode_shard(ex[0], reduced[j], rlens[j], j, out, g.n), ALCM_OK);
    {
        int bad = 0;
        for (i = 0; i < g.n; ++i) {
            /* g + 2g + 3g in float32: within 2 roundings of the exact 6g */
            double want = 6.0 * (double)g.data[i];
            if (fabs((double)out[i] - want) > 4.0 * 1.2e-7 * fabs(want)) bad++;
        }
        CHECK(bad == 0);
    }
    /* Errors: wrong sizes, an out-of-range shard, a frame where the shard is empty, NULLs,
     * and a handle of the wrong type. */
    {
        float tmp[4] = {0};
        size_t off, cnt, n = 0;
        CHECK_STATUS(alcm_exchange_shard(ex[0], RANKS, &off, &cnt), ALCM_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(alcm_exchange_accumulate(ex[0], frames[1][0], lens[1][0], 1.0f, tmp, 4),
                     ALCM_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(alcm_exchange_accumulate(ex[0], frames[1][0], lens[1][0], NAN, out, 0),
                     ALCM_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(alcm_exchange_decode_shard(ex[0], reduced[0], rlens[0], 0, out, g.n - 1),
                     ALCM_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(alcm_exchange_compress_shard(ex[0], enc, grads[0], g.n, 0, frames[0][0], 8, &n,
                                                  NULL),
                     ALCM_ERR_BUFFER_TOO_SMALL);
        CHECK_STATUS(alcm_exchange_compress_shard(NULL, enc, grads[0], g.n, 0, frames[0][0], 8, &n,
                                                  NULL),
                     ALCM_ERR_NULL_POINTER);
        CHECK_STATUS(alcm_exchange_shard((const alcm_exchange *)enc, 0, &off, &cnt),
                     ALCM_ERR_INVALID_HANDLE);
        CHECK_STATUS(alcm_exchange_new(2, g.shape, RANKS, RANKS, 0, 0, &ex[0]),
                     ALCM_ERR_INVALID_ARGUMENT);
    }
    /* The allocated variants: no allocation is the plain call; a wrong length is refused. */
    {
        size_t off = 0, cnt = 0, n = 0;
        double alloc[3] = {0.5, 0.5, 0.5};
        uint8_t *m;
        alcm_encoder *ad = NULL; /* the default: adaptive, which takes allocations */
        CHECK_STATUS(alcm_encoder_new(&ad), ALCM_OK);
        j = 0;
        do CHECK_STATUS(alcm_exchange_shard(ex[1], j, &off, &cnt), ALCM_OK);
        while (cnt == 0 && ++j < RANKS);
        m = malloc(alcm_compress_bound(cnt));
        CHECK_STATUS(alcm_exchange_compress_shard_allocated(ex[1], ad, grads[1], g.n, j, NULL, 0, m,
                                                            alcm_compress_bound(cnt), &n, NULL),
                     ALCM_OK);
        CHECK(n > 0);
        CHECK_STATUS(alcm_exchange_compress_shard_allocated(ex[1], ad, grads[1], g.n, j, alloc, 3, m,
                                                            alcm_compress_bound(cnt), &n, NULL),
                     ALCM_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(alcm_exchange_compress_shard_allocated(ex[1], ad, grads[1], g.n, j, NULL, 3, m,
                                                            alcm_compress_bound(cnt), &n, NULL),
                     ALCM_ERR_NULL_POINTER);
        CHECK_STATUS(alcm_exchange_compress_reduced_allocated(ex[1], ad, grads[1], 3, alloc, 3, m,
                                                              alcm_compress_bound(cnt), &n, NULL),
                     ALCM_ERR_INVALID_ARGUMENT);
        free(m);
        alcm_encoder_free(ad);
    }
    /* Messages concatenate and split again with alcm_exchange_message_len. */
    {
        size_t total = 0, pos = 0, m = 0, k = 0, first = 0;
        uint8_t *cat;
        for (j = 0; j < RANKS; ++j) total += rlens[j];
        cat = malloc(total ? total : 1);
        for (j = 0; j < RANKS; ++j) {
            memcpy(cat + pos, reduced[j], rlens[j]);
            pos += rlens[j];
        }
        for (pos = 0, j = 0; j < RANKS; ++j) {
            if (rlens[j] == 0) continue;
            CHECK_STATUS(alcm_exchange_message_len(cat + pos, total - pos, &m), ALCM_OK);
            CHECK(m == rlens[j]);
            pos += m;
            k++;
        }
        CHECK(pos == total && k > 1);
        while (rlens[first] == 0) first++; /* the first message in cat */
        CHECK_STATUS(alcm_exchange_message_len(cat, rlens[first] - 1, &m), ALCM_ERR_TRUNCATED);
        CHECK_STATUS(alcm_exchange_message_len(cat, total, NULL), ALCM_ERR_NULL_POINTER);
        /* A message is not a frame. */
        CHECK(alcm_decompress(cat, rlens[first], out, g.n, &m) != ALCM_OK);
        free(cat);
    }
    free(out);
    for (r = 0; r < RANKS; ++r) {
        for (j = 0; j < RANKS; ++j) free(frames[r][j]);
        free(reduced[r]);
        free(grads[r]);
        alcm_exchange_free(ex[r]);
    }
    alcm_exchange_free(NULL);
    alcm_encoder_free(enc);
    npy_free(&g);
}

static void test_residual_store(void) {
    char dir[PATH_BUF], path[PATH_BUF];
    const size_t shape[2] = {4, 3};
    const float grad[12] = {0.5f, -1.0f, 2.0f, 0.25f, 3.0f, -0.75f, 1.5f, 0.1f, -2.5f, 0.3f, 0.9f, -0.4f};
    alcm_encoder *enc = NULL;
    alcm_exchange *ex = NULL, *back = NULL;
    alcm_residual_store *store = NULL, *loaded = NULL;
    alcm_feedback *fb = NULL, *fb2 = NULL;
    uint8_t frame[1024], frame2[1024];
    size_t n = 0, n2 = 0, count = 0;

    snprintf(dir, sizeof dir, "%s", getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    join_path(path, dir, "alcm_c_test_residuals.bin");
    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    CHECK_STATUS(alcm_encoder_set_mode(enc, ALCM_MODE_RELATIVE_L2, 0.3), ALCM_OK);
    CHECK_STATUS(alcm_exchange_new(2, shape, 2, 0, 0, 0, &ex), ALCM_OK);
    CHECK_STATUS(alcm_exchange_compress_shard(ex, enc, grad, 12, 1, frame, sizeof frame, &n, NULL), ALCM_OK);
    CHECK_STATUS(alcm_feedback_new(2, shape, &fb), ALCM_OK);
    CHECK_STATUS(alcm_feedback_compress(fb, enc, grad, 12, NULL, 0, frame, sizeof frame, &n, NULL), ALCM_OK);
    CHECK_STATUS(alcm_residual_store_new(&store), ALCM_OK);
    CHECK_STATUS(alcm_exchange_save_residuals(ex, "fc.weight", store), ALCM_OK);
    CHECK_STATUS(alcm_residual_store_put(store, "plain", fb), ALCM_OK);
    CHECK_STATUS(alcm_residual_store_len(store, &count), ALCM_OK);
    CHECK(count == 4); /* scatter/0, scatter/1, gather, plain */
    CHECK_STATUS(alcm_residual_store_save(store, path), ALCM_OK);
    CHECK_STATUS(alcm_residual_store_load(path, &loaded), ALCM_OK);
    /* The restored residuals continue exactly: the next frames are identical. */
    CHECK_STATUS(alcm_exchange_new(2, shape, 2, 0, 0, 0, &back), ALCM_OK);
    CHECK_STATUS(alcm_exchange_load_residuals(back, "fc.weight", loaded), ALCM_OK);
    CHECK_STATUS(alcm_exchange_compress_shard(ex, enc, grad, 12, 1, frame, sizeof frame, &n, NULL), ALCM_OK);
    CHECK_STATUS(alcm_exchange_compress_shard(back, enc, grad, 12, 1, frame2, sizeof frame2, &n2, NULL), ALCM_OK);
    CHECK(n == n2 && memcmp(frame, frame2, n) == 0);
    CHECK_STATUS(alcm_residual_store_get(loaded, "plain", &fb2), ALCM_OK);
    CHECK_STATUS(alcm_feedback_compress(fb, enc, grad, 12, NULL, 0, frame, sizeof frame, &n, NULL), ALCM_OK);
    CHECK_STATUS(alcm_feedback_compress(fb2, enc, grad, 12, NULL, 0, frame2, sizeof frame2, &n2, NULL), ALCM_OK);
    CHECK(n == n2 && memcmp(frame, frame2, n) == 0);
    /* A renamed tensor is an error, never a silent reset. */
    CHECK_STATUS(alcm_exchange_load_residuals(back, "renamed", loaded), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_residual_store_get(loaded, "missing", &fb2), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_residual_store_load(repo_path(dir, "README.md"), &store), ALCM_ERR_BAD_MAGIC);
    CHECK_STATUS(alcm_residual_store_save(NULL, path), ALCM_ERR_NULL_POINTER);
    remove(path);
    alcm_feedback_free(fb);
    alcm_feedback_free(fb2);
    alcm_residual_store_free(store);
    alcm_residual_store_free(loaded);
    alcm_residual_store_free(NULL);
    alcm_exchange_free(ex);
    alcm_exchange_free(back);
    alcm_encoder_free(enc);
}

int main(void) {
    RUN(test_lossless_step_sums_exactly);
    RUN(test_residual_store);
    return FINISH();
}
