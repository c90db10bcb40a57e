/* llama_tok.c: llama.cpp's tokenizer through its C API, the other side of
 * bench/tokenize/anchor.sh. Built by that script against the llama.cpp it
 * builds outside the repository; never part of ken's build or of CI.
 *
 *   llama_tok bench VOCAB.gguf FILE RUNS
 *       tokenizes FILE whole (add_special = false, parse_special = false,
 *       as ken-bench-tokenize does) RUNS times; prints one line in
 *       ken-bench-tokenize's format (median wall and CPU seconds).
 *   llama_tok cases VOCAB.gguf FILE
 *       FILE holds test strings separated by "\n__ggml_vocab_test__\n" (the
 *       .inp format); prints one line of space-separated ids per string
 *       (the .out format).
 */
#define _POSIX_C_SOURCE 200809L
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char SEP[] = "\n__ggml_vocab_test__\n";

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, len = 0;
    char *p = malloc(cap + 1);
    size_t r;
    while (p && (r = fread(p + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            char *q = realloc(p, 2 * cap + 1);
            if (!q) { free(p); p = NULL; break; }
            p = q, cap *= 2;
        }
    }
    fclose(f);
    if (p) p[len] = 0, *n = len;
    return p;
}

static double now_s(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Tokenizes text; returns the count or -1. ids must hold n + 16. */
static int32_t tok(const struct llama_vocab *v, const char *text, size_t n, llama_token *ids) {
    return llama_tokenize(v, text, (int32_t)n, ids, (int32_t)(n + 16), false, false);
}

static void quiet(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[1], "bench") && strcmp(argv[1], "cases")) ||
        (!strcmp(argv[1], "bench") && argc < 5)) {
        fprintf(stderr, "usage: llama_tok bench VOCAB FILE RUNS | llama_tok cases VOCAB FILE\n");
        return 1;
    }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    struct llama_model *m = llama_model_load_from_file(argv[2], mp);
    if (!m) {
        fprintf(stderr, "llama_tok: cannot load %s\n", argv[2]);
        return 2;
    }
    const struct llama_vocab *v = llama_model_get_vocab(m);
    size_t n = 0;
    char *text = slurp(argv[3], &n);
    if (!text || n > 0x7fffff00u) {
        fprintf(stderr, "llama_tok: cannot read %s\n", argv[3]);
        return 2;
    }
    llama_token *ids = malloc((n + 16) * sizeof *ids);
    if (!ids) return 3;
    int rc = 0;
    if (!strcmp(argv[1], "bench")) {
        int runs = atoi(argv[4]);
        if (runs < 1 || runs > 64) runs = 5;
        double t[64], c[64];
        int32_t n_tok = 0;
        for (int r = 0; r < runs; r++) {
            double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
            n_tok = tok(v, text, n, ids);
            t[r] = now_s(CLOCK_MONOTONIC) - t0;
            c[r] = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
            if (n_tok < 0) { fprintf(stderr, "llama_tok: tokenize failed\n"); rc = 3; break; }
        }
        if (!rc) {
            qsort(t, (size_t)runs, sizeof *t, cmp_dbl);
            qsort(c, (size_t)runs, sizeof *c, cmp_dbl);
            printf("tokenize bytes=%zu tokens=%d median_s=%.4f cpu_s=%.4f MB/s(cpu)=%.2f "
                   "tokens/s(cpu)=%.0f\n", n, n_tok, t[runs / 2], c[runs / 2],
                   n / c[runs / 2] / 1e6, n_tok / c[runs / 2]);
        }
    } else {
        char *p = text, *end = text + n;
        while (p < end) {
            char *s = strstr(p, SEP);
            if (!s) break;
            int32_t k = tok(v, p, (size_t)(s - p), ids);
            if (k < 0) { printf("ERROR\n"); } else {
                for (int32_t i = 0; i < k; i++) printf(i ? " %d" : "%d", ids[i]);
                printf("\n");
            }
            p = s + sizeof SEP - 1;
        }
    }
    free(ids);
    free(text);
    llama_model_free(m);
    llama_backend_free();
    return rc;
}
