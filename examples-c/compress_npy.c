/* Compresses a real float32 tensor (.npy, '<f4', C order) with alcm in a few modes, decompresses
 * it and prints the ratio, bits per value and error (relative L2, max abs) of each.
 *
 *   compress_npy [file.npy]
 *
 * Default file: tests/data/gradients/grad_step00100_fc1.weight.npy under the alcm repository
 * (ALCM_EXAMPLES_REPO_DIR, set by CMakeLists.txt). Exits with 1 if a mode misses its bound. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <alcm.h>

#ifndef ALCM_EXAMPLES_REPO_DIR
#define ALCM_EXAMPLES_REPO_DIR "."
#endif
#define DEFAULT_TENSOR "tests/data/gradients/grad_step00100_fc1.weight.npy"

/* Minimal .npy reader: format 1.0, dtype '<f4', C order. Returns the data (malloc'ed) or NULL. */
static float *load_npy(const char *path, size_t *rank, size_t shape[ALCM_MAX_RANK], size_t *n) {
    unsigned char pre[10];
    char header[4096];
    const char *p;
    float *data = NULL;
    size_t hlen;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1) goto out;
    hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    if (hlen >= sizeof header || fread(header, 1, hlen, f) != hlen) goto out;
    header[hlen] = '\0';
    if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False")) goto out;
    if (!(p = strstr(header, "'shape': ("))) goto out;
    p += strlen("'shape': (");
    *rank = 0;
    *n = 1;
    for (;;) {
        char *end;
        unsigned long long d;
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        d = strtoull(p, &end, 10);
        if (end == p || *rank == ALCM_MAX_RANK) goto out;
        shape[(*rank)++] = (size_t)d;
        *n *= (size_t)d;
        p = end;
    }
    data = (float *)malloc(*n ? *n * sizeof(float) : 1);
    if (data && fread(data, sizeof(float), *n, f) != *n) {
        free(data);
        data = NULL;
    }
out:
    fclose(f);
    return data;
}

static void die(const char *what, alcm_status st) {
    char msg[512];
    alcm_last_error_message(msg, sizeof msg);
    fprintf(stderr, "%s: %s (%s)\n", what, alcm_status_string(st), msg);
    exit(1);
}

int main(int argc, char **argv) {
    char default_path[1024];
    const char *path = argc > 1 ? argv[1] : default_path;
    size_t rank = 0, shape[ALCM_MAX_RANK], n = 0, cap, len = 0, n_out = 0, i;
    float *data, *back;
    uint8_t *frame;
    alcm_encoder *enc = NULL;
    alcm_status st;
    int failures = 0;
    struct {
        const char *name;
        alcm_mode mode;
        double target;
    } modes[] = {
        {"lossless", ALCM_MODE_LOSSLESS, 0},
        {"relative_l2", ALCM_MODE_RELATIVE_L2, 1e-2},
        {"relative_l2", ALCM_MODE_RELATIVE_L2, 1e-3},
        {"max_abs", ALCM_MODE_MAX_ABS, 1e-4},
        {"adaptive", ALCM_MODE_ADAPTIVE, 0},
    };

    snprintf(default_path, sizeof default_path, "%s/%s", ALCM_EXAMPLES_REPO_DIR, DEFAULT_TENSOR);
    data = load_npy(path, &rank, shape, &n);
    if (!data) {
        fprintf(stderr, "cannot read %s as a '<f4' C-order .npy file\n", path);
        return 1;
    }
    printf("alcm %s: %s, shape", alcm_version_string(), path);
    for (i = 0; i < rank; i++) printf("%s%zu", i ? "x" : " ", shape[i]);
    printf(", %zu values\n", n);

    cap = alcm_compress_bound(n); /* caller-allocated output, zstd style */
    frame = (uint8_t *)malloc(cap);
    back = (float *)malloc(n ? n * sizeof(float) : 1);
    if ((st = alcm_encoder_new(&enc)) != ALCM_OK) die("alcm_encoder_new", st);

    for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        alcm_report rep;
        alcm_metrics m;
        const char *verdict = "";
        if ((st = alcm_encoder_set_mode(enc, modes[i].mode, modes[i].target)) != ALCM_OK)
            die("alcm_encoder_set_mode", st);
        st = alcm_encoder_compress(enc, data, rank, shape, NULL, 0, frame, cap, &len, &rep);
        if (st != ALCM_OK) die("alcm_encoder_compress", st);
        st = alcm_decompress(frame, len, back, n, &n_out);
        if (st != ALCM_OK || n_out != n) die("alcm_decompress", st);
        if ((st = alcm_error_metrics(data, back, n, &m)) != ALCM_OK) die("alcm_error_metrics", st);

        if (modes[i].mode == ALCM_MODE_LOSSLESS)
            verdict = memcmp(data, back, n * sizeof(float)) == 0 ? "bound ok (bit-exact)" : "BOUND FAILED";
        else if (modes[i].mode == ALCM_MODE_RELATIVE_L2)
            verdict = m.rel_l2 <= modes[i].target ? "bound ok" : "BOUND FAILED";
        else if (modes[i].mode == ALCM_MODE_MAX_ABS)
            verdict = m.max_abs <= modes[i].target ? "bound ok" : "BOUND FAILED";
        else
            verdict = "(no bound: adaptive)";
        if (strcmp(verdict, "BOUND FAILED") == 0) failures++;
        printf("%-11s target %-7g ratio %6.2fx  %6.3f bits/value  rel L2 %.3e  max abs %.3e  %s\n",
               modes[i].name, modes[i].target, rep.ratio, rep.bits_per_value, m.rel_l2, m.max_abs,
               verdict);
    }

    alcm_encoder_free(enc);
    free(frame);
    free(back);
    free(data);
    return failures ? 1 : 0;
}
