/* bench_tokenize.c: tokenizer throughput (tokens/s, MB/s) per vocab on a
 * large English text and on C code, median of N runs, one line per result.
 *
 * Corpora are built deterministically from files every Debian system has:
 * English = the licence texts in /usr/share/common-licenses (sorted by name)
 * repeated up to --mb MiB (and its first 256 KiB alone, which repeats
 * nothing); code = /usr/include/sqlite3.h and pcre2.h repeated up to the
 * same size. --text FILE replaces them with one file. Wall and CPU medians
 * are printed; rates use CPU time (the machine may be shared).
 *
 *   bench_tokenize [--runs N] [--mb M] [--text FILE] VOCAB.gguf...
 *   bench_tokenize [--mb M] --write DIR      the corpora as files, for a
 *       same-run comparison (bench/tokenize/anchor.sh): DIR/english.txt,
 *       DIR/english-256k.txt, DIR/code.txt
 *   bench_tokenize --cases FILE VOCAB.gguf   FILE holds strings separated
 *       by "\n__ggml_vocab_test__\n" (llama.cpp's .inp format); prints one
 *       line of ids per string (the .out format), for anchor.sh's diff
 */
#include "ken_tok.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEN_TOK_MIN(a, b) ((a) < (b) ? (a) : (b))

typedef struct { char *p; size_t n, cap; } buf;

static int buf_add(buf *b, const char *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 20;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return -1;
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

static int add_file(buf *b, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_add(b, chunk, r)) break;
    fclose(f);
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Repeats the concatenation of files until target bytes. */
static int corpus(buf *out, const char **files, size_t n_files, size_t target) {
    buf one = { 0 };
    for (size_t i = 0; i < n_files; i++) add_file(&one, files[i]);
    if (one.n == 0) return -1;
    while (out->n < target) buf_add(out, one.p, KEN_TOK_MIN(one.n, target - out->n));
    free(one.p);
    return 0;
}

static int english(buf *out, size_t target) {
    const char *dir = "/usr/share/common-licenses";
    DIR *d = opendir(dir);
    if (!d) return -1;
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        names[n++] = strdup(path);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int rc = corpus(out, (const char **)names, n, target);
    for (size_t i = 0; i < n; i++) free(names[i]);
    return rc;
}

static int write_file(const char *dir, const char *name, const char *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int rc = fwrite(p, 1, n, f) == n ? 0 : -1;
    if (fclose(f)) rc = -1;
    return rc;
}

/* One line of ids per test string, as llama.cpp's .out files. */
static void print_cases(const ken_vocab *v, const buf *text) {
    static const char SEP[] = "\n__ggml_vocab_test__\n";
    const char *p = text->p, *end = text->p + text->n;
    while (p < end) {
        const char *s = strstr(p, SEP);
        if (!s) break;
        int32_t *ids = NULL;
        size_t n = 0;
        if (ken_tokenize(v, p, (size_t)(s - p), 0, 0, &ids, &n) != KEN_OK) {
            printf("ERROR\n");
        } else {
            for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
            printf("\n");
        }
        ken_free(ids);
        p = s + sizeof SEP - 1;
    }
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

static void run(const ken_vocab *v, const char *vname, const char *cname, const buf *text,
                int runs) {
    double t[64], c[64];
    size_t n_tok = 0;
    for (int r = 0; r < runs; r++) {
        int32_t *ids = NULL;
        size_t n = 0;
        double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        ken_status st = ken_tokenize(v, text->p, text->n, 0, 0, &ids, &n);
        t[r] = now_s(CLOCK_MONOTONIC) - t0;
        c[r] = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        ken_free(ids);
        if (st != KEN_OK) {
            printf("%s %s: error %s\n", vname, cname, ken_status_str(st));
            return;
        }
        n_tok = n;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_dbl);
    qsort(c, (size_t)runs, sizeof *c, cmp_dbl);
    double med = t[runs / 2], cpu = c[runs / 2];
    /* the machine may be shared: CPU time is the steadier figure */
    printf("tokenize vocab=%-12s corpus=%-12s bytes=%zu tokens=%zu median_s=%.4f cpu_s=%.4f "
           "MB/s(cpu)=%.2f tokens/s(cpu)=%.0f\n", vname, cname, text->n, n_tok, med, cpu,
           text->n / cpu / 1e6, n_tok / cpu);
    fflush(stdout);
}

int main(int argc, char **argv) {
    int runs = 5;
    size_t mb = 5;
    const char *text_file = NULL, *write_dir = NULL, *cases = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--text") && i + 1 < argc) text_file = argv[++i];
        else if (!strcmp(argv[i], "--write") && i + 1 < argc) write_dir = argv[++i];
        else if (!strcmp(argv[i], "--cases") && i + 1 < argc) text_file = cases = argv[++i];
        else break;
    }
    if ((i >= argc && !write_dir) || runs < 1 || runs > 64 || mb < 1 || mb > 200) {
        fprintf(stderr, "usage: bench_tokenize [--runs N<=64] [--mb M] [--text FILE] VOCAB.gguf...\n"
                        "       bench_tokenize [--mb M] --write DIR\n"
                        "       bench_tokenize --cases FILE VOCAB.gguf...\n");
        return 1;
    }
    buf eng = { 0 }, code = { 0 };
    if (text_file) {
        if (add_file(&eng, text_file) || eng.n == 0) {
            fprintf(stderr, "bench_tokenize: cannot read %s\n", text_file);
            return 2;
        }
    } else {
        const char *cfiles[] = { "/usr/include/sqlite3.h", "/usr/include/pcre2.h" };
        if (english(&eng, mb << 20) || corpus(&code, cfiles, 2, mb << 20)) {
            fprintf(stderr, "bench_tokenize: cannot build the corpora\n");
            return 2;
        }
    }
    if (write_dir) {
        int rc = write_file(write_dir, "english.txt", eng.p, eng.n) ||
                 write_file(write_dir, "english-256k.txt", eng.p,
                            KEN_TOK_MIN(eng.n, (size_t)256 << 10)) ||
                 write_file(write_dir, "code.txt", code.p, code.n);
        if (rc) fprintf(stderr, "bench_tokenize: cannot write the corpora to %s\n", write_dir);
        free(eng.p), free(code.p);
        return rc ? 2 : 0;
    }
    for (; i < argc; i++) {
        ken_vocab *v = NULL;
        char *msg = NULL;
        if (ken_vocab_load(argv[i], &v, &msg) != KEN_OK) {
            fprintf(stderr, "bench_tokenize: %s: %s\n", argv[i], msg ? msg : "?");
            ken_free(msg);
            continue;
        }
        const char *base = strrchr(argv[i], '/');
        char name[64];
        snprintf(name, sizeof name, "%s", base ? base + 1 : argv[i]);
        char *dot = strstr(name, ".gguf");
        if (dot) *dot = 0;
        if (!strncmp(name, "ggml-vocab-", 11)) memmove(name, name + 11, strlen(name + 11) + 1);
        if (cases) {
            print_cases(v, &eng);
            ken_vocab_free(v);
            continue;
        }
        run(v, name, text_file ? "file" : "english", &eng, runs);
        if (!text_file) {
            /* the licences once, no repetition (word caches start cold) */
            buf once = { eng.p, KEN_TOK_MIN(eng.n, (size_t)256 << 10), 0 };
            run(v, name, "english-256k", &once, runs);
        }
        if (code.n) run(v, name, "code", &code, runs);
        ken_vocab_free(v);
    }
    free(eng.p), free(code.p);
    return 0;
}
