/* C API test of the low-rank compressor (alcm_lowrank_*): two ranks simulated in one process
 * recover the mean of two rank-1 matrices within the factors' error bound, with the same bits
 * on both ranks; bad calls get their statuses and change nothing. Built and run by
 * `cargo test --test c_api` and tests/c/run_sanitizers.sh. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alcm_test.h"

#define ROWS 32
#define COLS 24

/* out[i] += decode(frame)[i] for `n` values. */
static int add_frame(const uint8_t *frame, size_t len, float *out, size_t n) {
    float tmp[ROWS * COLS];
    size_t got = 0;
    if (alcm_decompress(frame, len, tmp, n, &got) != ALCM_OK || got != n) return 0;
    for (size_t i = 0; i < n; i++) out[i] += tmp[i];
    return 1;
}

static void test_two_ranks_recover_a_rank_one_mean(void) {
    static float g[2][ROWS * COLS], mean[ROWS * COLS], out[2][ROWS * COLS];
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < COLS; j++) {
            float x = (float)(i - 9) * (float)(j + 1);
            g[0][i * COLS + j] = x;
            g[1][i * COLS + j] = 3.0f * x;
            mean[i * COLS + j] = 2.0f * x;
        }
    uint32_t pays = 7;
    CHECK_STATUS(alcm_lowrank_pays(ROWS, COLS, 1, 2.0, &pays), ALCM_OK);
    CHECK(pays == 1);
    CHECK_STATUS(alcm_lowrank_pays(3, 4, 1, 2.0, &pays), ALCM_OK);
    CHECK(pays == 0);
    alcm_lowrank *lr[2] = {NULL, NULL};
    for (int r = 0; r < 2; r++)
        CHECK_STATUS(alcm_lowrank_new(ROWS, COLS, 1, 0.01, 2.0, 1, 42, &lr[r]), ALCM_OK);
    if (!lr[0] || !lr[1]) return;
    size_t p_len = 0, q_len = 0;
    CHECK_STATUS(alcm_lowrank_sizes(lr[0], &p_len, &q_len), ALCM_OK);
    CHECK(p_len == ROWS && q_len == COLS);
    size_t cap = alcm_compress_bound(ROWS > COLS ? ROWS : COLS);
    uint8_t *frames[2] = {malloc(cap), malloc(cap)};
    size_t lens[2];
    float p_sum[ROWS] = {0}, q_sum[COLS] = {0};
    /* A buffer below the bound is refused before any work. */
    CHECK_STATUS(alcm_lowrank_begin(lr[0], g[0], ROWS * COLS, frames[0], 8, &lens[0]),
                 ALCM_ERR_BUFFER_TOO_SMALL);
    for (int r = 0; r < 2; r++)
        CHECK_STATUS(alcm_lowrank_begin(lr[r], g[r], ROWS * COLS, frames[r], cap, &lens[r]),
                     ALCM_OK);
    for (int r = 0; r < 2; r++) CHECK(add_frame(frames[r], lens[r], p_sum, ROWS));
    for (int r = 0; r < 2; r++)
        CHECK_STATUS(alcm_lowrank_after_p(lr[r], p_sum, ROWS, frames[r], cap, &lens[r]), ALCM_OK);
    for (int r = 0; r < 2; r++) CHECK(add_frame(frames[r], lens[r], q_sum, COLS));
    CHECK_STATUS(alcm_lowrank_finish(lr[0], q_sum, COLS, NAN, out[0], ROWS * COLS),
                 ALCM_ERR_INVALID_ARGUMENT);
    for (int r = 0; r < 2; r++)
        CHECK_STATUS(alcm_lowrank_finish(lr[r], q_sum, COLS, 0.5f, out[r], ROWS * COLS), ALCM_OK);
    CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
    double num = 0, den = 0;
    for (int i = 0; i < ROWS * COLS; i++) {
        num += ((double)out[0][i] - mean[i]) * ((double)out[0][i] - mean[i]);
        den += (double)mean[i] * mean[i];
    }
    CHECK(sqrt(num / den) <= 0.02 + 1e-6);
    /* The residual is what was not sent. */
    float res[ROWS * COLS];
    CHECK_STATUS(alcm_lowrank_get_residual(lr[0], res, ROWS * COLS), ALCM_OK);
    int same = 1;
    for (int i = 0; i < ROWS * COLS; i++) same &= res[i] == g[0][i] - out[0][i];
    CHECK(same);
    float q[COLS];
    CHECK_STATUS(alcm_lowrank_get_q(lr[0], q, COLS), ALCM_OK);
    CHECK(memcmp(q, q_sum, sizeof q) == 0);
    CHECK_STATUS(alcm_lowrank_set_q(lr[1], q, COLS), ALCM_OK);
    CHECK_STATUS(alcm_lowrank_set_residual(lr[1], res, ROWS * COLS), ALCM_OK);
    free(frames[0]);
    free(frames[1]);
    alcm_lowrank_free(lr[0]);
    alcm_lowrank_free(lr[1]);
}

static void test_bad_calls(void) {
    alcm_lowrank *lr = NULL;
    float g[16 * 16] = {0};
    uint8_t dst[4096];
    size_t len = 0;
    CHECK_STATUS(alcm_lowrank_new(3, 4, 1, 0.01, 2.0, 1, 0, &lr), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_lowrank_new(16, 16, 0, 0.01, 2.0, 1, 0, &lr), ALCM_ERR_INVALID_CONFIG);
    CHECK_STATUS(alcm_lowrank_new(16, 16, 1, 1.5, 2.0, 1, 0, &lr), ALCM_ERR_INVALID_CONFIG);
    CHECK_STATUS(alcm_lowrank_new(16, 16, 1, 0.01, 2.0, 1, 0, NULL), ALCM_ERR_NULL_POINTER);
    CHECK(lr == NULL);
    CHECK_STATUS(alcm_lowrank_new(16, 16, 1, 0.01, 2.0, 1, 0, &lr), ALCM_OK);
    CHECK_STATUS(alcm_lowrank_begin(NULL, g, 256, dst, sizeof dst, &len), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_lowrank_begin(lr, NULL, 256, dst, sizeof dst, &len), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_lowrank_begin(lr, g, 255, dst, sizeof dst, &len),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_lowrank_after_p(lr, g, 16, dst, sizeof dst, &len),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_lowrank_finish(lr, g, 16, 1.0f, g, 256), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_lowrank_get_q(lr, g, 15), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_lowrank_sizes(lr, NULL, &len), ALCM_ERR_NULL_POINTER);
    alcm_lowrank_free(lr);
    CHECK_FREE_NULL(alcm_lowrank_free);
}

int main(void) {
    RUN(test_two_ranks_recover_a_rank_one_mean);
    RUN(test_bad_calls);
    return FINISH();
}
