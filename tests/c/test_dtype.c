/* Element types through the C ABI: bfloat16, float16 and float64 tensors in every mode, the
 * frame's type from alcm_peek_dtype, bounds checked on the decoded values, bit-exact lossless,
 * float32 typed frames identical to alcm_encoder_compress's, wrong types refused.
 * Built and run by `cargo test --test c_api`. */
#include <stdint.h>
#include <stdlib.h>

#include "alcm_test.h"

#define N 512

/* bfloat16 by hand: the upper 16 bits of the float32, rounded to nearest even (finite input). */
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

/* float16 (finite, normal or subnormal) to double by the IEEE definition. */
static double from_f16(uint16_t h) {
    int e = (h >> 10) & 0x1F, m = h & 0x3FF;
    double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
    return (h & 0x8000) ? -v : v;
}

static void test_bit_layouts(void) {
    CHECK(to_bf16(1.0f) == 0x3F80 && to_bf16(-2.0f) == 0xC000);
    CHECK(from_f16(0x3C00) == 1.0 && from_f16(0x0001) == ldexp(1.0, -24));
    CHECK(from_f16(0x7BFF) == 65504.0);
    CHECK(ALCM_DTYPE_F32 == 1 && ALCM_DTYPE_BF16 == 2 && ALCM_DTYPE_F16 == 3 && ALCM_DTYPE_F64 == 4);
    CHECK(alcm_compress_bound_typed(10, ALCM_DTYPE_BF16) == alcm_compress_bound(10) - 20);
    CHECK(alcm_compress_bound_typed(10, ALCM_DTYPE_F64) == alcm_compress_bound(10) + 40);
    CHECK(alcm_compress_bound_typed(10, 9) == 0);
}

static void test_modes(void) {
    static uint16_t bf[N], bf_out[N], f16[N], f16_out[N];
    static double f64[N], f64_out[N];
    static float f32[N], f32_out[N];
    size_t shape[2] = {16, 32}, cap = alcm_compress_bound_typed(N, ALCM_DTYPE_F64), len = 0, n = 0;
    uint8_t *frame = malloc(cap), *frame2 = malloc(cap);
    uint32_t dt = 0;
    for (int i = 0; i < N; i++) {
        double x = sin(i * 0.37) * (1.0 + (i % 7));
        f32[i] = (float)x;
        bf[i] = to_bf16((float)x);
        f64[i] = x;
        /* float16 of a small value by its fields: 1.m × 2^-3, sign alternating. */
        f16[i] = (uint16_t)(((i & 1) << 15) | (12 << 10) | ((i * 37) & 0x3FF));
    }
    alcm_encoder *enc = NULL;
    CHECK_STATUS(alcm_encoder_new(&enc), ALCM_OK);
    const uint32_t modes[3] = {ALCM_MODE_MAX_ABS, ALCM_MODE_RELATIVE_L2, ALCM_MODE_LOSSLESS};
    for (int m = 0; m < 3; m++) {
        double target = modes[m] == ALCM_MODE_MAX_ABS ? 1e-2 : 1e-2;
        CHECK_STATUS(alcm_encoder_set_mode(enc, modes[m], modes[m] == ALCM_MODE_LOSSLESS ? 0 : target), ALCM_OK);
        /* bfloat16 */
        CHECK_STATUS(alcm_encoder_compress_typed(enc, bf, ALCM_DTYPE_BF16, 2, shape, NULL, 0, frame,
                                                 cap, &len, NULL), ALCM_OK);
        CHECK_STATUS(alcm_peek_dtype(frame, len, &dt), ALCM_OK);
        CHECK(dt == ALCM_DTYPE_BF16);
        CHECK_STATUS(alcm_decompress_typed(frame, len, ALCM_DTYPE_BF16, bf_out, N, 1, &n), ALCM_OK);
        CHECK(n == N);
        /* The float32 decoder and another type refuse the frame. */
        CHECK_STATUS(alcm_decompress(frame, len, f32_out, N, &n), ALCM_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(alcm_decompress_typed(frame, len, ALCM_DTYPE_F16, f16_out, N, 1, &n),
                     ALCM_ERR_INVALID_ARGUMENT);
        double err = 0, norm = 0, worst = 0;
        for (int i = 0; i < N; i++) {
            double d = from_bf16(bf[i]) - from_bf16(bf_out[i]);
            err += d * d;
            norm += from_bf16(bf[i]) * from_bf16(bf[i]);
            worst = fmax(worst, fabs(d));
        }
        if (modes[m] == ALCM_MODE_MAX_ABS) CHECK(worst <= target);
        if (modes[m] == ALCM_MODE_RELATIVE_L2) CHECK(sqrt(err) <= target * sqrt(norm));
        if (modes[m] == ALCM_MODE_LOSSLESS) CHECK(memcmp(bf, bf_out, sizeof bf) == 0);
        /* float16 */
        CHECK_STATUS(alcm_encoder_compress_typed(enc, f16, ALCM_DTYPE_F16, 2, shape, NULL, 0, frame,
                                                 cap, &len, NULL), ALCM_OK);
        CHECK_STATUS(alcm_decompress_typed(frame, len, ALCM_DTYPE_F16, f16_out, N, 2, &n), ALCM_OK);
        err = norm = worst = 0;
        for (int i = 0; i < N; i++) {
            double d = from_f16(f16[i]) - from_f16(f16_out[i]);
            err += d * d;
            norm += from_f16(f16[i]) * from_f16(f16[i]);
            worst = fmax(worst, fabs(d));
        }
        if (modes[m] == ALCM_MODE_MAX_ABS) CHECK(worst <= target);
        if (modes[m] == ALCM_MODE_RELATIVE_L2) CHECK(sqrt(err) <= target * sqrt(norm));
        if (modes[m] == ALCM_MODE_LOSSLESS) CHECK(memcmp(f16, f16_out, sizeof f16) == 0);
        /* float64 */
        CHECK_STATUS(alcm_encoder_compress_typed(enc, f64, ALCM_DTYPE_F64, 2, shape, NULL, 0, frame,
                                                 cap, &len, NULL), ALCM_OK);
        CHECK_STATUS(alcm_decompress_typed(frame, len, ALCM_DTYPE_F64, f64_out, N, 1, &n), ALCM_OK);
        err = norm = worst = 0;
        for (int i = 0; i < N; i++) {
            double d = f64[i] - f64_out[i];
            err += d * d;
            norm += f64[i] * f64[i];
            worst = fmax(worst, fabs(d));
        }
        if (modes[m] == ALCM_MODE_MAX_ABS) CHECK(worst <= target);
        if (modes[m] == ALCM_MODE_RELATIVE_L2) CHECK(sqrt(err) <= target * sqrt(norm));
        if (modes[m] == ALCM_MODE_LOSSLESS) CHECK(memcmp(f64, f64_out, sizeof f64) == 0);
        /* float32 through the typed entry: the same frame as the float32 call. */
        size_t len2 = 0;
        CHECK_STATUS(alcm_encoder_compress_typed(enc, f32, ALCM_DTYPE_F32, 2, shape, NULL, 0, frame,
                                                 cap, &len, NULL), ALCM_OK);
        CHECK_STATUS(alcm_encoder_compress(enc, f32, 2, shape, NULL, 0, frame2, cap, &len2, NULL),
                     ALCM_OK);
        CHECK(len == len2 && memcmp(frame, frame2, len) == 0);
    }
    /* Bad arguments. */
    CHECK_STATUS(alcm_encoder_compress_typed(enc, bf, 0, 2, shape, NULL, 0, frame, cap, &len, NULL),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_encoder_compress_typed(enc, (const uint8_t *)f64 + 1, ALCM_DTYPE_F64, 2, shape,
                                             NULL, 0, frame, cap, &len, NULL),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_encoder_compress_typed(enc, NULL, ALCM_DTYPE_BF16, 2, shape, NULL, 0, frame,
                                             cap, &len, NULL), ALCM_ERR_NULL_POINTER);
    CHECK_STATUS(alcm_encoder_compress_typed(enc, bf, ALCM_DTYPE_BF16, 2, shape, NULL, 0, frame,
                                             cap, &len, NULL), ALCM_OK);
    CHECK_STATUS(alcm_decompress_typed(frame, len, ALCM_DTYPE_BF16, bf_out, N - 1, 1, &n),
                 ALCM_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(alcm_decompress_typed(frame, len, ALCM_DTYPE_BF16, bf_out, N, 0, &n),
                 ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_decompress_typed(frame, len, 7, bf_out, N, 1, &n), ALCM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(alcm_peek_dtype(frame, len, NULL), ALCM_ERR_NULL_POINTER);
    frame[8] = 9; /* an unknown dtype id (the header is checked before the CRC) */
    CHECK_STATUS(alcm_peek_dtype(frame, len, &dt), ALCM_ERR_CORRUPT);
    alcm_encoder_free(enc);
    free(frame);
    free(frame2);
}

int main(void) {
    RUN(test_bit_layouts);
    RUN(test_modes);
    return FINISH();
}
