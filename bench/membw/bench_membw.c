/* bench_membw.c: the machine's memory read bandwidth and, for a model, the
 * roofline of token generation.
 *
 * Generation reads every weight matrix once per token, so tg tokens/s can
 * be no higher than read bandwidth / bytes read per token. This program
 * measures read bandwidth (a buffer well beyond the caches, streamed with
 * SIMD loads by 1 and by N threads; median and best of --reps runs), then,
 * with --model, counts the bytes a generated token reads (every tensor but
 * the token-embedding table, of which one row is read — unless the table is
 * also the LM head), runs ken's tg (ken_model_bench) at the same thread
 * counts, and prints tg as a fraction of the bound.
 *
 *   ken-bench-membw [--mib 512] [--reps 9] [-t N] [--model FILE] [-n 128]
 *
 * One line per result: "membw threads=1 gbps_med=... gbps_best=..." and
 * "roofline threads=1 bytes_per_token=... bound_tps=... tg_tps=... frac=...". */
#include "gguf/gguf.h"
#include "ken_infer.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#define MAX_THREADS 64
#define MAX_REPS 101

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sums a range with 4 independent accumulators (loads, not arithmetic,
 * are the bottleneck); the sum is returned so nothing is optimized away. */
static uint64_t read_range(const uint8_t *p, size_t n) {
#if defined(__x86_64__)
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm_add_epi64(a0, _mm_load_si128((const __m128i *)(p + i)));
        a1 = _mm_add_epi64(a1, _mm_load_si128((const __m128i *)(p + i + 16)));
        a2 = _mm_add_epi64(a2, _mm_load_si128((const __m128i *)(p + i + 32)));
        a3 = _mm_add_epi64(a3, _mm_load_si128((const __m128i *)(p + i + 48)));
    }
    __m128i s = _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3));
    uint64_t out[2];
    _mm_storeu_si128((__m128i *)out, s);
    return out[0] + out[1];
#else
    const uint64_t *q = (const uint64_t *)p;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t i = 0; i + 4 <= n / 8; i += 4) {
        a0 += q[i]; a1 += q[i + 1]; a2 += q[i + 2]; a3 += q[i + 3];
    }
    return a0 + a1 + a2 + a3;
#endif
}

typedef struct {
    const uint8_t *p;
    size_t n;
    pthread_barrier_t *bar;
    uint64_t sum;
} reader;

static void *reader_main(void *arg) {
    reader *r = arg;
    pthread_barrier_wait(r->bar);
    r->sum = read_range(r->p, r->n);
    return NULL;
}

/* One run: nth threads each stream their part of buf; GB/s. */
static double read_once(const uint8_t *buf, size_t bytes, int nth, uint64_t *sink) {
    pthread_t th[MAX_THREADS];
    reader rd[MAX_THREADS];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)nth + 1);
    size_t part = bytes / (size_t)nth / 64 * 64;
    for (int i = 0; i < nth; i++) {
        rd[i] = (reader){buf + (size_t)i * part, part, &bar, 0};
        if (pthread_create(&th[i], NULL, reader_main, &rd[i])) {
            fprintf(stderr, "ken-bench-membw: cannot start threads\n");
            exit(3);
        }
    }
    pthread_barrier_wait(&bar);
    double t0 = now_s();
    for (int i = 0; i < nth; i++) {
        pthread_join(th[i], NULL);
        *sink += rd[i].sum;
    }
    double dt = now_s() - t0;
    pthread_barrier_destroy(&bar);
    return (double)(part * (size_t)nth) / dt / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and best GB/s of reps runs at nth threads. */
static void membw(const uint8_t *buf, size_t bytes, int nth, int reps, double *med, double *best) {
    double v[MAX_REPS];
    uint64_t sink = 0;
    read_once(buf, bytes, nth, &sink);   /* warm-up: pages, frequency */
    for (int i = 0; i < reps; i++) v[i] = read_once(buf, bytes, nth, &sink);
    qsort(v, (size_t)reps, sizeof v[0], cmp_double);
    *med = v[reps / 2];
    *best = v[reps - 1];
    if (sink == 42) fprintf(stderr, " ");   /* keeps the sums alive */
}

/* Bytes one generated token reads: all tensors, except that only one row
 * of token_embd is read when a separate output.weight exists. */
static int bytes_per_token(const char *path, uint64_t *out) {
    ken_err err = {{0}};
    ken_gguf *g = NULL;
    if (ken_gguf_open(path, &g, &err)) {
        fprintf(stderr, "ken-bench-membw: %s: %s\n", path, err.msg);
        return -1;
    }
    const bool tied = ken_gguf_tensor_find(g, "output.weight") == NULL;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < ken_gguf_n_tensors(g); i++) {
        const ken_gguf_tensor *t = ken_gguf_tensor_at(g, i);
        bool embd = t->name.n == 17 && memcmp(t->name.p, "token_embd.weight", 17) == 0;
        if (embd && !tied) sum += t->ne[1] ? t->n_bytes / t->ne[1] : 0;
        else sum += t->n_bytes;
    }
    ken_gguf_close(g);
    *out = sum;
    return 0;
}

static long arg_long(const char *opt, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "ken-bench-membw: %s needs an integer in %ld..%ld\n", opt, lo, hi);
        exit(1);
    }
    return v;
}

/* tg tokens/s of model at nth threads (median of reps), or -1. */
static double model_tg(const char *path, int nth, int n_gen, int reps) {
    ken_model *m = NULL;
    char *msg = NULL;
    if (ken_model_open(path, &m, &msg)) {
        fprintf(stderr, "ken-bench-membw: %s: %s\n", path, msg ? msg : "cannot open");
        ken_free(msg);
        return -1;
    }
    ken_bench_opts o = {.size = sizeof o, .n_threads = nth, .n_prompt = -1, .n_gen = n_gen,
                        .reps = reps};
    ken_bench_result r;
    ken_status st = ken_model_bench(m, &o, &r, &msg);
    ken_model_close(m);
    if (st) {
        fprintf(stderr, "ken-bench-membw: bench: %s\n", msg ? msg : ken_status_str(st));
        ken_free(msg);
        return -1;
    }
    return r.tg.med;
}

int main(int argc, char **argv) {
    long mib = 512, reps = 9, nth = 2, n_gen = 128, tg_reps = 3;
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: ken-bench-membw [--mib N] [--reps N] [-t N] [--model FILE] [-n N] "
                   "[--tg-reps N]\n");
            return 0;
        }
        if (!v) { fprintf(stderr, "ken-bench-membw: bad option '%s'\n", a); return 1; }
        i++;
        if (!strcmp(a, "--mib")) mib = arg_long(a, v, 16, 1 << 16);
        else if (!strcmp(a, "--reps")) reps = arg_long(a, v, 1, MAX_REPS);
        else if (!strcmp(a, "-t")) nth = arg_long(a, v, 1, MAX_THREADS);
        else if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "-n")) n_gen = arg_long(a, v, 1, 4096);
        else if (!strcmp(a, "--tg-reps")) tg_reps = arg_long(a, v, 1, MAX_REPS);
        else { fprintf(stderr, "ken-bench-membw: unknown option '%s'\n", a); return 1; }
    }
    size_t bytes = (size_t)mib << 20;
    uint8_t *buf = aligned_alloc(64, bytes);
    if (!buf) { fprintf(stderr, "ken-bench-membw: out of memory\n"); return 3; }
    for (size_t i = 0; i < bytes; i++) buf[i] = (uint8_t)(i * 131u);
    double med[MAX_THREADS + 1] = {0}, best[MAX_THREADS + 1] = {0};
    for (long t = 1; t <= nth; t = t == nth ? nth + 1 : (t * 2 > nth ? nth : t * 2)) {
        membw(buf, bytes, (int)t, (int)reps, &med[t], &best[t]);
        printf("membw threads=%ld mib=%ld gbps_med=%.2f gbps_best=%.2f\n", t, mib, med[t], best[t]);
    }
    free(buf);
    if (!model) return 0;
    uint64_t bpt;
    if (bytes_per_token(model, &bpt)) return 2;
    for (long t = 1; t <= nth; t = t == nth ? nth + 1 : (t * 2 > nth ? nth : t * 2)) {
        double bound = best[t] * 1e9 / (double)bpt;
        double tg = model_tg(model, (int)t, (int)n_gen, (int)tg_reps);
        if (tg < 0) return 2;
        printf("roofline threads=%ld bytes_per_token=%llu gbps=%.2f bound_tps=%.2f tg_tps=%.2f "
               "frac=%.3f\n", t, (unsigned long long)bpt, best[t], bound, tg, tg / bound);
    }
    return 0;
}
