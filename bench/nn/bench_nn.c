/* bench_nn.c: how fast the matrix-vector product streams weights, per type,
 * at 1 and 2 threads, against a plain memory-read loop measured in the same
 * run (the roofline: a matvec cannot read weights faster than memory).
 *
 * Each weight matrix is ~64 MiB (far larger than the caches) of n_in = 4096
 * rows; 64 distinct rows quantized with the reference quantizer are tiled
 * over it (values matter only for NaN/denormal slow paths, which real
 * weights do not have). Fixed seed; median of --reps runs; one line per
 * result: type, threads, GB/s of weight bytes (median run and best run),
 * best-run ratio to the best memory-read run at the same thread count, µs
 * per matvec (median), and cpu = CPU time / (wall time × threads) over the
 * timed runs: well below 1 means other processes held the cores, and then
 * the best run is the better estimate of what the code can do.
 *
 * With --batch N (N > 1) the product is a matrix-matrix one over N tokens
 * (prompt processing); GB/s then counts weight bytes × N per second (the
 * rate at which weights are applied, not streamed), and us/matvec is the
 * time of the whole product.
 *
 * --kernels instead times the dot-product kernels alone, single thread, in
 * cache (64 rows of 4096), by thread CPU time (so a busy machine does not
 * distort it much): ns per row and GB/s for the scalar reference and each
 * SIMD level, and the speed-up over the reference.
 *
 *   bench_nn [--mib N] [--reps N] [--batch N] [--types Q4_0,Q4_K,...] [--simd scalar|avx2]
 *   bench_nn --kernels [--types ...] */
#include "nn/nn.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static float rnd(void) {
    double s = 0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        s += (double)(rng >> 11) * 0x1p-53;
    }
    return (float)((s - 2) * 1.7);
}

/* ------------------------------------------------------------ memory roofline */

typedef struct {
    const uint64_t *buf;
    int64_t words_per_chunk;
    uint64_t sums[64];
} read_job;

static void read_chunk(void *ctx, int64_t c, int ith) {
    read_job *j = ctx;
    const uint64_t *p = j->buf + c * j->words_per_chunk;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int64_t i = 0; i < j->words_per_chunk; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    j->sums[ith] += s0 ^ s1 ^ s2 ^ s3;   /* keeps the loads alive */
}

static double mem_read_gbs(ken_pool *pool, const void *buf, size_t bytes, int reps) {
    read_job j = {.buf = buf};
    const int64_t n_chunks = 64;
    j.words_per_chunk = (int64_t)(bytes / 8 / (size_t)n_chunks) & ~(int64_t)3;
    double *t = malloc(sizeof(double) * (size_t)reps);
    ken_pool_run(pool, n_chunks, read_chunk, &j);   /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        ken_pool_run(pool, n_chunks, read_chunk, &j);
        t[r] = now_s() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);   /* best run: the least disturbed */
    double gbs = (double)(j.words_per_chunk * 8 * n_chunks) / t[0] / 1e9;
    free(t);
    if (j.sums[0] == 42) fputc(' ', stderr);
    return gbs;
}

/* ------------------------------------------------------------ kernels */

static const ken_dtype all_types[] = {
    KEN_DT_F32, KEN_DT_F16, KEN_DT_BF16, KEN_DT_Q8_0, KEN_DT_Q4_0, KEN_DT_Q4_1, KEN_DT_Q5_0,
    KEN_DT_Q5_1, KEN_DT_Q2_K, KEN_DT_Q3_K, KEN_DT_Q4_K, KEN_DT_Q5_K, KEN_DT_Q6_K,
};


static double thread_cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Best-of-reps thread CPU time of one dot product of a 4096-row, in cache. */
static double time_kernel(ken_nn_dot_fn f, const uint8_t *w, size_t rb, const void *xq, int reps) {
    const int rows = 64, iters = 20;
    double best = 1e30;
    volatile float sink = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = thread_cpu_s();
        for (int it = 0; it < iters; it++)
            for (int k = 0; k < rows; k++) sink += f(w + (size_t)k * rb, xq, 4096);
        double t = thread_cpu_s() - t0;
        if (t < best) best = t;
    }
    (void)sink;
    return best / (rows * iters);
}

static bool type_selected(const char *types, const char *name);

static void bench_kernels(const char *types, int reps) {
    const int64_t n = 4096;
    float *rows = malloc(sizeof(float) * 64 * (size_t)n);
    for (int64_t i = 0; i < 64 * n; i++) rows[i] = rnd() * 0.05f;
    printf("# bench_nn --kernels: one dot product of n=4096, in cache, thread CPU time, best of %d\n", reps);
    printf("# %-6s %-7s %9s %9s %8s\n", "type", "simd", "ns/row", "GB/s", "speedup");
    for (size_t k = 0; k < sizeof all_types / sizeof all_types[0]; k++) {
        const ken_dtype type = all_types[k];
        if (!type_selected(types, ken_dtype_name(type))) continue;
        const size_t rb = ken_nn_row_bytes(type, n);
        const ken_dtype at = ken_nn_act_type(type);
        uint8_t *w = malloc(rb * 64), *xq = malloc(ken_nn_row_bytes(at, n));
        for (int r = 0; r < 64; r++) ken_nn_quantize_row(type, rows + r * n, w + (size_t)r * rb, n);
        ken_nn_quantize_act(at, rows, xq, n);
        double ref = 0;
        for (int lvl = 0; lvl <= (int)ken_nn_simd_detected(); lvl++) {
            ken_nn_dot_fn f = ken_nn_dot_kernel(type, (ken_nn_simd)lvl);
            if (!f) continue;
            const double t = time_kernel(f, w, rb, xq, reps);
            if (lvl == 0) ref = t;
            printf("  %-6s %-7s %9.1f %9.2f %8.2f\n", ken_dtype_name(type),
                   ken_nn_simd_name((ken_nn_simd)lvl), t * 1e9, (double)rb / t / 1e9, ref / t);
        }
        free(w);
        free(xq);
    }
    free(rows);
}

/* ------------------------------------------------------------ matvec */


/* True when types (comma-separated names, NULL = all) lists name. */
static bool type_selected(const char *types, const char *name) {
    if (!types) return true;
    const size_t n = strlen(name);
    for (const char *p = strstr(types, name); p; p = strstr(p + 1, name))
        if ((p == types || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return true;
    return false;
}

int main(int argc, char **argv) {
    size_t mib = 64;
    int reps = 15, batch = 1;
    bool kernels = false;
    const char *types = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc) mib = (size_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kernels")) kernels = true;
        else if (!strcmp(argv[i], "--types") && i + 1 < argc) types = argv[++i];
        else if (!strcmp(argv[i], "--simd") && i + 1 < argc) {
            ++i;
            ken_nn_simd_set(!strcmp(argv[i], "scalar") ? KEN_NN_SIMD_NONE : KEN_NN_SIMD_AVX2);
        } else {
            fprintf(stderr, "usage: bench_nn [--mib N] [--reps N] [--batch N] [--types T,T] "
                            "[--simd scalar|avx2] [--kernels]\n");
            return 1;
        }
    }
    if (mib < 1 || reps < 1 || batch < 1 || batch > 4096) return 1;
    if (kernels) {
        bench_kernels(types, reps);
        return 0;
    }
    const int64_t n_in = 4096;
    const size_t bytes = mib << 20;
    uint8_t *buf = malloc(bytes);
    float *x = malloc(sizeof(float) * (size_t)n_in * (size_t)batch);
    float *rows = malloc(sizeof(float) * 64 * (size_t)n_in);
    float *y = malloc(sizeof(float) * (bytes / 64 + 1) * (size_t)batch);   /* >= n_out rows */
    if (!buf || !x || !rows || !y) return 3;
    for (int64_t i = 0; i < n_in * batch; i++) x[i] = rnd();
    for (int64_t i = 0; i < 64 * n_in; i++) rows[i] = rnd() * 0.05f;
    memset(buf, 1, bytes);

    printf("# bench_nn: %s n_in=%lld, %zu MiB of weights per type, batch %d, median of %d, simd=%s\n",
           batch > 1 ? "matmul" : "matvec", (long long)n_in, mib, batch, reps,
           ken_nn_simd_name(ken_nn_simd_get()));
    printf("# %-6s %7s %9s %9s %9s %10s %5s\n", "type", "threads", "GB/s_med", "GB/s_best", "vs_read",
           "us/matvec", "cpu");
    ken_pool *pools[3] = {NULL};
    double read_gbs[3];
    for (int th = 1; th <= 2; th++) {
        if (ken_pool_new(th, &pools[th]) != KEN_OK) return 3;
        read_gbs[th] = mem_read_gbs(pools[th], buf, bytes, reps);
        printf("  %-6s %7d %9s %9.2f %9.2f %10s %5s\n", "memread", th, "-", read_gbs[th], 1.0, "-", "-");
    }
    ken_nn_work work = {0};
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (size_t k = 0; k < sizeof all_types / sizeof all_types[0]; k++) {
        const ken_dtype type = all_types[k];
        const char *name = ken_dtype_name(type);
        if (!type_selected(types, name)) continue;
        const size_t rb = ken_nn_row_bytes(type, n_in);
        const int64_t n_out = (int64_t)(bytes / rb);
        for (int64_t r = 0; r < 64 && r < n_out; r++)
            ken_nn_quantize_row(type, rows + r * n_in, buf + (size_t)r * rb, n_in);
        for (int64_t r = 64; r < n_out; r++)
            memcpy(buf + (size_t)r * rb, buf + (size_t)(r % 64) * rb, rb);
        ken_nn_mat m = {type, n_in, n_out, buf};
        for (int th = 1; th <= 2; th++) {
            ken_nn_matmul(pools[th], &m, x, batch, y, &work);   /* warm-up */
            double wall = 0, c0 = cpu_s();
            for (int r = 0; r < reps; r++) {
                double t0 = now_s();
                ken_nn_matmul(pools[th], &m, x, batch, y, &work);
                t[r] = now_s() - t0;
                wall += t[r];
            }
            const double util = (cpu_s() - c0) / (wall * th);
            const double bytes_applied = (double)rb * (double)n_out * batch;
            const double s = median(t, reps), best = t[0];   /* median() sorted t */
            printf("  %-6s %7d %9.2f %9.2f %9.2f %10.0f %5.2f\n", name, th, bytes_applied / s / 1e9,
                   bytes_applied / best / 1e9, bytes_applied / best / 1e9 / read_gbs[th], s * 1e6, util);
            fflush(stdout);
        }
    }
    free(t);
    ken_nn_work_free(&work);
    for (int th = 1; th <= 2; th++) ken_pool_free(pools[th]);
    free(buf);
    free(x);
    free(rows);
    free(y);
    return 0;
}
