/* vecs.h: reading and writing the fvecs / ivecs formats (each row: int32
 * count, then count float32 or int32 values, little-endian), shared by
 * ken-bench-ann (C) and the hnswlib peer (C++). Header-only and small. */
#ifndef KEN_BENCH_ANN_VECS_H
#define KEN_BENCH_ANN_VECS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a whole .fvecs/.ivecs file (4-byte values) into a malloc'd row-major
 * array; *rows and *dim out. Returns NULL with a message on stderr for a
 * missing file, a ragged or truncated file, or a dimension over 65536. */
static inline void *vecs_read(const char *path, size_t *rows, size_t *dim) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "%s: cannot open\n", path); return NULL; }
    int32_t d = 0;
    if (fread(&d, 4, 1, f) != 1 || d <= 0 || d > 65536) {
        fprintf(stderr, "%s: bad or missing dimension\n", path);
        fclose(f);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t row_bytes = 4 + 4 * (size_t)d;
    if (size <= 0 || (size_t)size % row_bytes) {
        fprintf(stderr, "%s: size %ld is not a multiple of the row size %zu\n", path, size, row_bytes);
        fclose(f);
        return NULL;
    }
    size_t n = (size_t)size / row_bytes;
    char *out = (char *)malloc(n * 4 * (size_t)d);
    if (!out) { fprintf(stderr, "%s: out of memory\n", path); fclose(f); return NULL; }
    for (size_t i = 0; i < n; i++) {
        int32_t di = 0;
        if (fread(&di, 4, 1, f) != 1 || di != d ||
            fread(out + i * 4 * (size_t)d, 4, (size_t)d, f) != (size_t)d) {
            fprintf(stderr, "%s: row %zu is ragged or truncated\n", path, i);
            free(out);
            fclose(f);
            return NULL;
        }
    }
    fclose(f);
    *rows = n;
    *dim = (size_t)d;
    return out;
}

static inline int vecs_write(const char *path, const void *data, size_t rows, size_t dim) {
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "%s: cannot create\n", path); return -1; }
    int32_t d = (int32_t)dim;
    for (size_t i = 0; i < rows; i++) {
        fwrite(&d, 4, 1, f);
        fwrite((const char *)data + i * dim * 4, 4, dim, f);
    }
    if (fclose(f) != 0) { fprintf(stderr, "%s: write failed\n", path); return -1; }
    return 0;
}

/* Recall@k of found (nq x k ids, -1 for none) against truth (nq x tk). */
static inline double vecs_recall(const int64_t *found, size_t nq, size_t k, const int32_t *truth,
                                 size_t tk) {
    size_t hit = 0;
    for (size_t q = 0; q < nq; q++)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k && j < tk; j++)
                if (found[q * k + i] == truth[q * tk + j]) { hit++; break; }
    return (double)hit / (double)(nq * k);
}

/* CPU seconds used by the calling thread: queries/s from it are robust to
 * other processes sharing the cores (wall time is reported beside it). */
#include <time.h>
static inline double vecs_thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static inline double vecs_process_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static inline double vecs_wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Median of v[0..n) (sorts v). */
static int vecs_cmp_double(const void *a, const void *b);
static inline double vecs_median(double *v, size_t n) {
    qsort(v, n, sizeof *v, vecs_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Resident set size in bytes (Linux /proc/self/statm), 0 if unknown. */
static inline size_t vecs_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, rss = 0;
    if (!f) return 0;
    if (fscanf(f, "%lu %lu", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return (size_t)rss * 4096;
}

static int vecs_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Parses "16,32,64" into ef[] (at most cap); returns the count, 0 on error. */
static inline size_t vecs_parse_list(const char *s, int *ef, size_t cap) {
    size_t n = 0;
    while (*s && n < cap) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || v > 100000) return 0;
        ef[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return 0;
    }
    return n;
}
#endif
