/* bench_ingest.c: end-to-end ingest throughput of ken (files -> parsed,
 * normalized, chunked, stored, FTS-indexed) against the floor of this design:
 * inserting the same passages into a bare FTS5 table, in the same run.
 *
 * usage: ken-bench-ingest [--mb N] [--reps R] [--dir PATH] [--format txt|md|both]
 * Generates (in a temporary folder, removed at the end; or in --dir, kept) a deterministic corpus of N MB (default 100) of English-like
 * text (Zipf-distributed words, sentences, paragraphs; Markdown files also
 * get headings), then for each repetition ingests it into a fresh store with
 * ken_kb_add and inserts the same chunk texts into a bare FTS5 table with the
 * same tokenizer and the same three columns ken indexes (chunk text, heading
 * path, document title). Prints one line per result, the medians and ratio. */
#include "ken.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this process: on a shared machine wall time measures the
 * neighbours; both sides of the comparison are single-threaded. */
static double cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {   /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

#define VOCAB 20000
static char *vocab[VOCAB];
static double zipf_cdf[VOCAB];

static void make_vocab(void) {
    static const char *syl[] = {"ka", "lo", "mi", "ten", "ra", "su", "ve", "do", "pri", "an",
                                "el", "or", "th", "qu", "ing", "er", "st", "on", "ex", "ul"};
    double sum = 0;
    for (int i = 0; i < VOCAB; i++) {
        char w[32] = "";
        int n = 1 + (int)(rng() % 4);
        for (int k = 0; k < n; k++) strcat(w, syl[rng() % 20]);
        vocab[i] = strdup(w);
        sum += 1.0 / (i + 1);
        zipf_cdf[i] = sum;
    }
    for (int i = 0; i < VOCAB; i++) zipf_cdf[i] /= sum;
}

static const char *word(void) {
    double u = (double)(rng() >> 11) / 9007199254740992.0;
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return vocab[lo];
}

/* One file of about `bytes` bytes. */
static void write_file(const char *path, size_t bytes, int md) {
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(1); }
    size_t n = 0;
    int sec = 0;
    while (n < bytes) {
        if (md && (n == 0 || rng() % 6 == 0))
            n += (size_t)fprintf(f, "%s %s section %d\n\n", n == 0 ? "#" : "##", word(), sec++);
        int sentences = 2 + (int)(rng() % 6);
        for (int s = 0; s < sentences; s++) {
            int words = 5 + (int)(rng() % 20);
            for (int w = 0; w < words; w++) {
                const char *x = word();
                if (w == 0) n += (size_t)fprintf(f, "%c%s", x[0] - 32, x + 1);
                else n += (size_t)fprintf(f, " %s", x);
            }
            n += (size_t)fprintf(f, ". ");
        }
        n += (size_t)fprintf(f, "\n\n");
    }
    fclose(f);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Collects every chunk text of the ken store (the passages), in memory. */
typedef struct { char **text, **heading, **title; size_t *len; size_t n, cap; const char *cur_title; } passages;

static int collect_chunk(void *ud, const ken_chunk_info *c) {
    passages *p = ud;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4096;
        p->text = realloc(p->text, p->cap * sizeof *p->text);
        p->heading = realloc(p->heading, p->cap * sizeof *p->heading);
        p->title = realloc(p->title, p->cap * sizeof *p->title);
        p->len = realloc(p->len, p->cap * sizeof *p->len);
        if (!p->text || !p->len || !p->heading || !p->title) exit(1);
    }
    p->text[p->n] = malloc(c->text_len + 1);
    memcpy(p->text[p->n], c->text, c->text_len);
    p->text[p->n][c->text_len] = 0;
    p->heading[p->n] = strdup(c->heading);
    p->title[p->n] = strdup(p->cur_title ? p->cur_title : "");
    p->len[p->n++] = c->text_len;
    return 0;
}

typedef struct { ken_kb *kb; passages *p; } doc_walk;

static int collect_doc(void *ud, const ken_doc_info *d) {
    doc_walk *w = ud;
    w->p->cur_title = d->title;
    return ken_kb_doc_chunks(w->kb, d->id, collect_chunk, w->p) != KEN_OK;
}

static double bare_fts(const char *path, const passages *p, double *cpu_s) {
    unlink(path);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) exit(1);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;"
                     "CREATE VIRTUAL TABLE t USING fts5(text, heading, title, tokenize='porter unicode61 remove_diacritics 2');",
                 NULL, NULL, NULL);
    sqlite3_stmt *ins;
    sqlite3_prepare_v2(db, "INSERT INTO t(text, heading, title) VALUES (?, ?, ?)", -1, &ins, NULL);
    double t0 = now(), c0 = cpu();
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (size_t i = 0; i < p->n; i++) {
        sqlite3_bind_text(ins, 1, p->text[i], (int)p->len[i], SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, p->heading[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, p->title[i], -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) { fprintf(stderr, "%s\n", sqlite3_errmsg(db)); exit(1); }
        sqlite3_reset(ins);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    double dt = now() - t0;
    *cpu_s = cpu() - c0;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return dt;
}

int main(int argc, char **argv) {
    int mb = 100, reps = 3;
    const char *dir = NULL, *format = "both";
    int keep = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) { dir = argv[++i]; keep = 1; }
        else if (!strcmp(argv[i], "--format") && i + 1 < argc) format = argv[++i];
        else {
            fprintf(stderr, "usage: ken-bench-ingest [--mb N] [--reps R] [--dir PATH] [--format txt|md|both]\n");
            return 1;
        }
    }
    if (mb < 1 || reps < 1 || reps > 50) return 1;
    char tmpl[] = "/tmp/ken-bench-ingest-XXXXXX";
    if (!dir && !(dir = mkdtemp(tmpl))) { perror("mkdtemp"); return 1; }
    char corpus[4096], db[4200], bare[4200];
    snprintf(corpus, sizeof corpus, "%s/corpus", dir);
    snprintf(db, sizeof db, "%s/ken.db", dir);
    snprintf(bare, sizeof bare, "%s/bare.db", dir);
    mkdir(corpus, 0755);
    make_vocab();
    size_t total = (size_t)mb << 20, file_bytes = 64 << 10, n_files = 0;
    for (size_t done = 0; done < total; done += file_bytes, n_files++) {
        int md = !strcmp(format, "md") || (!strcmp(format, "both") && n_files % 2);
        char path[4300];
        snprintf(path, sizeof path, "%s/f%06zu.%s", corpus, n_files, md ? "md" : "txt");
        write_file(path, file_bytes, md);
    }
    /* Let the kernel write the generated corpus back first, so that its
     * writeback does not compete with the first repetitions. */
    sync();
    printf("corpus: %zu files, %d MB, format %s, in %s\n", n_files, mb, format, corpus);
    double *tk = calloc((size_t)reps, sizeof *tk), *tb = calloc((size_t)reps, sizeof *tb);
    double *ck = calloc((size_t)reps, sizeof *ck), *cb = calloc((size_t)reps, sizeof *cb);
    size_t n_chunks = 0;
    for (int r = 0; r < reps; r++) {
        unlink(db);
        char wal[4300];
        snprintf(wal, sizeof wal, "%s-wal", db);
        unlink(wal);
        ken_kb *kb = NULL;
        ken_kb_opts o = {.size = sizeof o, .path = db, .create = 1};
        if (ken_kb_open(&o, &kb)) { fprintf(stderr, "open: %s\n", ken_kb_errmsg(kb)); return 1; }
        const char *paths[] = {corpus};
        ken_add_stats st;
        double t0 = now(), c0 = cpu();
        if (ken_kb_add(kb, paths, 1, NULL, &st)) { fprintf(stderr, "add: %s\n", ken_kb_errmsg(kb)); return 1; }
        tk[r] = now() - t0;
        ck[r] = cpu() - c0;
        passages p = {0};
        doc_walk w = {kb, &p};
        ken_kb_list(kb, NULL, collect_doc, &w);
        ken_kb_close(kb);
        n_chunks = p.n;
        tb[r] = bare_fts(bare, &p, &cb[r]);
        printf("rep %d: ken %.2f s wall, %.2f s cpu (%llu docs, %llu chunks); bare FTS5 insert %.2f s wall, %.2f s cpu\n",
               r + 1, tk[r], ck[r], (unsigned long long)st.added, (unsigned long long)st.chunks,
               tb[r], cb[r]);
        for (size_t i = 0; i < p.n; i++) {
            free(p.text[i]);
            free(p.heading[i]);
            free(p.title[i]);
        }
        free(p.text);
        free(p.heading);
        free(p.title);
        free(p.len);
    }
    qsort(tk, (size_t)reps, sizeof *tk, cmp_double);
    qsort(tb, (size_t)reps, sizeof *tb, cmp_double);
    qsort(ck, (size_t)reps, sizeof *ck, cmp_double);
    qsort(cb, (size_t)reps, sizeof *cb, cmp_double);
    double mk = tk[reps / 2], mbare = tb[reps / 2], mck = ck[reps / 2], mcb = cb[reps / 2];
    printf("median wall: ken %.1f MB/s, %.0f docs/s; bare FTS5 %.1f MB/s (%zu passages); ken/bare = %.2f\n",
           mb / mk, (double)n_files / mk, mb / mbare, n_chunks, mbare / mk);
    printf("median cpu:  ken %.1f MB/s, %.0f docs/s; bare FTS5 %.1f MB/s; ken/bare = %.2f\n",
           mb / mck, (double)n_files / mck, mb / mcb, mcb / mck);
    free(ck);
    free(cb);
    free(tk);
    free(tb);
    if (!keep) {   /* the generated corpus and stores are the benchmark's own */
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}
