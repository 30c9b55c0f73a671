/* Multi-threaded C API test (pthreads): one predictor shared read-only by 8 threads, one
 * encoder and one error-feedback state per thread, many calls each. Every thread's results
 * (frames and predictions) must equal those of the same work done on one thread, handles are
 * freed on another thread than the one that created them, and the last-error message stays
 * thread-local. Built and run by `cargo test --test c_api` and tests/c/run_sanitizers.sh. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "alcm_test.h"

#define N_THREADS 8
#define N_ITER 12
#define N_TENSORS 4

static const char *const TENSORS[N_TENSORS] = {
    "tests/data/gradients/grad_step00001_fc3.weight.npy",
    "tests/data/gradients/grad_step00010_fc3.weight.npy",
    "tests/data/gradients/grad_step00500_fc3.weight.npy",
    "tests/data/gradients/grad_step01000_fc3.weight.npy",
};

static npy_tensor tensors[N_TENSORS];
static const alcm_predictor *shared_predictor;

typedef struct work {
    int id;               /* selects the tensor and the encoder settings */
    uint64_t hash;        /* FNV-1a over every frame and prediction */
    int errors;           /* calls that did not return the expected status */
    alcm_encoder *enc;    /* created by the worker, freed by the main thread */
    alcm_feedback *fb;    /* created by the worker, freed by the main thread */
} work;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The work of one thread. Uses only its own handles plus the shared const predictor. */
static void *worker(void *arg) {
    work *w = (work *)arg;
    const npy_tensor *t = &tensors[w->id % N_TENSORS];
    size_t cap = alcm_compress_bound(t->n), len = 0, nc = 0, n_out = 0;
    uint8_t *dst = (uint8_t *)malloc(cap);
    float *back = (float *)malloc(t->n * sizeof(float));
    double alloc[64], whole = 0;
    int i;

    w->hash = 1469598103934665603ull;
    w->errors = 0;
    if (alcm_encoder_new(&w->enc) != ALCM_OK) w->errors++;
    if (alcm_encoder_set_threshold(w->enc, 0.01 + 0.005 * (w->id % 3)) != ALCM_OK) w->errors++;
    if (alcm_feedback_new(t->rank, t->shape, &w->fb) != ALCM_OK) w->errors++;

    for (i = 0; i < N_ITER && w->errors == 0; i++) {
        /* Shared read-only predictor. */
        if (alcm_predictor_predict_channels(shared_predictor, t->data, t->rank, t->shape, alloc, 64,
                                            &nc) != ALCM_OK)
            w->errors++;
        if (alcm_predictor_predict(shared_predictor, t->data, t->rank, t->shape, &whole) != ALCM_OK)
            w->errors++;
        w->hash = fnv(w->hash, alloc, nc * sizeof(double));
        w->hash = fnv(w->hash, &whole, sizeof whole);
        /* Own encoder: adaptive with the predicted allocation, then relative L2. */
        if (alcm_encoder_set_mode(w->enc, ALCM_MODE_ADAPTIVE, 0) != ALCM_OK) w->errors++;
        if (alcm_encoder_compress(w->enc, t->data, t->rank, t->shape, alloc, nc, dst, cap, &len,
                                  NULL) != ALCM_OK)
            w->errors++;
        w->hash = fnv(w->hash, dst, len);
        if (alcm_decompress(dst, len, back, t->n, &n_out) != ALCM_OK || n_out != t->n) w->errors++;
        w->hash = fnv(w->hash, back, n_out * sizeof(float));
        if (alcm_encoder_set_mode(w->enc, ALCM_MODE_RELATIVE_L2, 0.02) != ALCM_OK) w->errors++;
        /* Own feedback state: the residual carries over between iterations. */
        if (alcm_feedback_compress(w->fb, w->enc, t->data, t->n, NULL, 0, dst, cap, &len, NULL) !=
            ALCM_OK)
            w->errors++;
        w->hash = fnv(w->hash, dst, len);
        if (alcm_decompress(dst, len, back, t->n, &n_out) != ALCM_OK) w->errors++;
        if (i == N_ITER / 2 && alcm_feedback_reset(w->fb) != ALCM_OK) w->errors++;
        /* A failing call sets this thread's message only. */
        if (alcm_encoder_compress(w->enc, t->data, t->rank, t->shape, NULL, 0, dst, 1, &len,
                                  NULL) != ALCM_ERR_BUFFER_TOO_SMALL)
            w->errors++;
        if (alcm_last_error_message(NULL, 0) == 0) w->errors++;
        if (alcm_caq(2.0, 1.0, &whole) != ALCM_OK || alcm_last_error_message(NULL, 0) != 0)
            w->errors++;
    }
    free(dst);
    free(back);
    return NULL;
}

/* Frees the predictor on a thread that did not create it. */
static void *free_predictor(void *arg) {
    alcm_predictor_free((alcm_predictor *)arg);
    return NULL;
}

static void test_shared_predictor_many_threads(void) {
    alcm_predictor *p = NULL;
    work reference[N_THREADS], parallel[N_THREADS];
    pthread_t threads[N_THREADS], freer;
    double features[6 * 10], targets[10];
    alcm_stats st[10];
    size_t n = 0, k;
    int i;

    for (k = 0; k < N_TENSORS; k++) tensors[k] = load_tensor(TENSORS[k]);
    /* A trained predictor (training needs exclusive access: done before sharing). */
    CHECK_STATUS(alcm_predictor_new(16, 0.2, 0.9, 0.01, 7, &p), ALCM_OK);
    CHECK_STATUS(alcm_channel_stats(tensors[0].data, tensors[0].rank, tensors[0].shape, st, 10, &n),
                 ALCM_OK);
    for (k = 0; k < n; k++) {
        features[6 * k + 0] = st[k].mean;
        features[6 * k + 1] = st[k].var;
        features[6 * k + 2] = st[k].std;
        features[6 * k + 3] = st[k].skew;
        features[6 * k + 4] = st[k].kurtosis;
        features[6 * k + 5] = st[k].sparsity;
        targets[k] = 0.3 + 0.05 * (double)k;
    }
    CHECK_STATUS(alcm_predictor_train(p, features, targets, n, 5, NULL), ALCM_OK);
    shared_predictor = p;

    /* Single-threaded reference, on the main thread. */
    for (i = 0; i < N_THREADS; i++) {
        reference[i].id = i;
        worker(&reference[i]);
        CHECK(reference[i].errors == 0);
        alcm_encoder_free(reference[i].enc);
        alcm_feedback_free(reference[i].fb);
    }
    /* Same work, 8 threads at once. */
    for (i = 0; i < N_THREADS; i++) {
        parallel[i].id = i;
        CHECK(pthread_create(&threads[i], NULL, worker, &parallel[i]) == 0);
    }
    for (i = 0; i < N_THREADS; i++) CHECK(pthread_join(threads[i], NULL) == 0);
    for (i = 0; i < N_THREADS; i++) {
        CHECK(parallel[i].errors == 0);
        CHECK(parallel[i].hash == reference[i].hash);
        /* Created on worker i, freed here on the main thread. */
        alcm_encoder_free(parallel[i].enc);
        alcm_feedback_free(parallel[i].fb);
    }
    /* Different tensors and settings: the hashes do tell work apart. */
    CHECK(reference[0].hash != reference[1].hash);
    /* The main thread's last error was untouched by the workers' failures. */
    {
        double c;
        CHECK_STATUS(alcm_caq(1.0, 0.0, &c), ALCM_OK);
        CHECK(alcm_last_error_message(NULL, 0) == 0);
    }
    /* Created on the main thread, freed on another. */
    shared_predictor = NULL;
    CHECK(pthread_create(&freer, NULL, free_predictor, p) == 0);
    CHECK(pthread_join(freer, NULL) == 0);
    for (k = 0; k < N_TENSORS; k++) npy_free(&tensors[k]);
}

/* An encoder, scheduler and feedback state moved between threads between calls. */
typedef struct moved {
    alcm_scheduler *s;
    double threshold;
    int step;
    int ok;
} moved;

static void *scheduler_step(void *arg) {
    moved *m = (moved *)arg;
    m->ok = alcm_scheduler_update(m->s, 1.0 + (double)m->step, &m->threshold) == ALCM_OK;
    return NULL;
}

static void test_handle_moves_between_threads(void) {
    moved m;
    pthread_t t;
    int k;
    memset(&m, 0, sizeof m);
    CHECK_STATUS(alcm_scheduler_new(0.01, 0.95, 5, 0.001, 0.1, &m.s), ALCM_OK);
    for (k = 0; k < 4; k++) {
        m.step = k;
        CHECK(pthread_create(&t, NULL, scheduler_step, &m) == 0);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(m.ok);
    }
    /* Rising CAQ: 0.01, ×0.95 three times. */
    CHECK_NEAR(m.threshold, 0.01 * 0.95 * 0.95 * 0.95, 1e-15);
    alcm_scheduler_free(m.s);
}

int main(void) {
    RUN(test_shared_predictor_many_threads);
    RUN(test_handle_moves_between_threads);
    return FINISH();
}
