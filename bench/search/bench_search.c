/* bench_search.c: query latency and throughput of ken_search against the
 * floor of this design: a bare FTS5 `MATCH ... ORDER BY bm25() LIMIT k` over
 * the same passages (title, heading, text; same tokenizer), in the same run.
 *
 * usage: ken-bench-search --dir DIR [--queries N] [-k K] [--seed S]
 *   DIR holds ken.db from `ken-bench-ingest --dir DIR` (the ingest benchmark's
 *   corpus). The passages of that store are copied once into DIR/search_bare.db.
 *   N queries (default 1000) of 1 to 4 words drawn deterministically from the
 *   passages themselves are run through: ken_search (BM25 with snippets, the
 *   product path), ken_search without snippets, and the bare FTS5 query with
 *   the very expression ken builds (the OR of the quoted terms). Each pass runs
 *   twice and the second is measured (warm cache). One line per result:
 *   p50, p99, mean and queries/s; then the ratio of the p50s. */
#include "ken.h"
#include "ken_search.h"

#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
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

static uint64_t rng_state;
static uint64_t rng(void) {   /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "ken-bench-search: %s: %s\n", what, msg);
    exit(1);
}

/* Copies the passages of the ken store (chunk text, heading, title) into a
 * plain FTS5 table with the store's tokenizer, unless already there. */
static void make_bare(const char *ken_db, const char *bare_db, sqlite3 **out) {
    struct stat sb;
    bool have = stat(bare_db, &sb) == 0;
    if (sqlite3_open(bare_db, out) != SQLITE_OK) die(bare_db, sqlite3_errmsg(*out));
    sqlite3 *db = *out;
    if (have) return;
    char sql[8192];
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=WAL; ATTACH '%s' AS k;"
             "CREATE VIRTUAL TABLE t USING fts5(text, heading, title,"
             " tokenize='porter unicode61 remove_diacritics 2');"
             "INSERT INTO t(rowid, text, heading, title)"
             " SELECT c.id, CAST(substr(CAST(d.text AS BLOB), c.start_byte + 1,"
             "  c.end_byte - c.start_byte) AS TEXT), c.heading, d.title"
             " FROM k.chunks c JOIN k.documents d ON d.id = c.doc_id;"
             "DETACH k;", ken_db);
    char *err = NULL;
    double t0 = now();
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) die("building the bare table", err);
    printf("bare FTS5 table built in %.1f s\n", now() - t0);
}

/* N queries of 1-4 words taken from random passages (so they match). */
static char **make_queries(sqlite3 *db, int n) {
    sqlite3_int64 rows = 0;
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT max(rowid) FROM t", -1, &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW) rows = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rows <= 0) die("queries", "the store has no passages");
    sqlite3_prepare_v2(db, "SELECT text FROM t WHERE rowid >= ?1 LIMIT 1", -1, &st, NULL);
    char **q = calloc((size_t)n, sizeof *q);
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, 1 + (sqlite3_int64)(rng() % (uint64_t)rows));
        const char *text = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "";
        char words[4][64];
        int nw = 0, want = 1 + (int)(rng() % 4);
        size_t len = strlen(text);
        for (int tries = 0; nw < want && tries < 50 && len > 0; tries++) {
            size_t at = rng() % len;
            while (at > 0 && text[at - 1] != ' ') at--;
            size_t e = at;
            while (e < len && ((text[e] >= 'a' && text[e] <= 'z') || (text[e] >= 'A' && text[e] <= 'Z'))) e++;
            if (e - at >= 3 && e - at < 60) {
                memcpy(words[nw], text + at, e - at);
                words[nw++][e - at] = '\0';
            }
        }
        sqlite3_reset(st);
        char buf[300] = "";
        for (int w = 0; w < nw; w++) {
            if (w) strcat(buf, " ");
            strcat(buf, words[w]);
        }
        q[i] = strdup(nw ? buf : "word");
    }
    sqlite3_finalize(st);
    return q;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct { double p50, p99, mean, qps; } stats;

static stats summarize(const char *name, double *t, int n, double total, size_t hits) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    stats s = {t[n / 2], t[(int)((n - 1) * 0.99)], total / n, n / total};
    printf("%-28s p50 %7.3f ms  p99 %7.3f ms  mean %7.3f ms  %7.1f q/s  (%zu hits)\n", name,
           s.p50 * 1e3, s.p99 * 1e3, s.mean * 1e3, s.qps, hits);
    return s;
}

/* The FTS5 expression ken searched: the OR of its quoted terms. */
static char *expr_of(const ken_results *r) {
    size_t cap = 64;
    for (size_t i = 0; i < ken_results_terms(r); i++) cap += strlen(ken_results_term(r, i, NULL)) + 8;
    char *e = malloc(cap);
    e[0] = '\0';
    for (size_t i = 0; i < ken_results_terms(r); i++) {
        if (i) strcat(e, " OR ");
        strcat(e, "\"");
        strcat(e, ken_results_term(r, i, NULL));
        strcat(e, "\"");
    }
    return e;
}

typedef struct {
    ken_kb *kb;
    sqlite3_stmt *bare;
    int k;
    size_t hits[3];
} runner;

/* One query through the three paths; t[0..2] get the times. The order of
 * the paths rotates per query so the machine's load falls on all alike. */
static void run_one(runner *r, const char *q, char **expr, int i, double t[3]) {
    for (int j = 0; j < 3; j++) {
        int path = (i + j) % 3;
        double t0 = now();
        if (path < 2) {
            ken_search_opts o = {.size = sizeof o, .k = (uint32_t)r->k, .no_snippet = path == 1};
            ken_results *res = NULL;
            if (ken_search(r->kb, q, &o, &res) != KEN_OK) die("ken_search", ken_kb_errmsg(r->kb));
            t[path] = now() - t0;
            r->hits[path] += ken_results_count(res);
            if (!*expr) *expr = expr_of(res);
            ken_results_free(res);
        } else if (*expr && **expr) {
            sqlite3_bind_text(r->bare, 1, *expr, -1, SQLITE_STATIC);
            sqlite3_bind_int(r->bare, 2, r->k);
            int rc;
            while ((rc = sqlite3_step(r->bare)) == SQLITE_ROW) r->hits[2]++;
            if (rc != SQLITE_DONE) die("bare", sqlite3_errmsg(sqlite3_db_handle(r->bare)));
            sqlite3_reset(r->bare);
            t[2] = now() - t0;
        } else {
            t[2] = 0;   /* first pass: ken has not built the expression yet */
        }
    }
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int n = 1000, k = 10;
    rng_state = 0x5EED5EED12345ull;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-k") && i + 1 < argc) k = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) rng_state = strtoull(argv[++i], NULL, 10) | 1;
        else dir = NULL, i = argc;
    }
    if (!dir || n < 10 || n > 1000000 || k < 1 || k > 1000) {
        fprintf(stderr, "usage: ken-bench-search --dir DIR [--queries N] [-k K] [--seed S]\n"
                        "  DIR: a folder made by `ken-bench-ingest --dir DIR` (holds ken.db)\n");
        return 1;
    }
    char ken_db[4096], bare_db[4200];
    snprintf(ken_db, sizeof ken_db, "%s/ken.db", dir);
    snprintf(bare_db, sizeof bare_db, "%s/search_bare.db", dir);
    ken_kb *kb = NULL;
    ken_kb_opts o = {.size = sizeof o, .path = ken_db, .readonly = 1};
    if (ken_kb_open(&o, &kb) != KEN_OK) die(ken_db, ken_kb_errmsg(kb));
    ken_kb_stats ks;
    if (ken_kb_stat(kb, &ks) != KEN_OK) die("stats", ken_kb_errmsg(kb));
    printf("corpus: %lld documents, %lld passages, %.1f MB of text\n", (long long)ks.documents,
           (long long)ks.chunks, (double)ks.text_bytes / 1e6);
    sqlite3 *db;
    make_bare(ken_db, bare_db, &db);
    char **q = make_queries(db, n);
    char **exprs = calloc((size_t)n, sizeof *exprs);
    printf("%d queries, k = %d (second of two passes measured, paths interleaved)\n", n, k);
    runner r = {.kb = kb, .k = k};
    if (sqlite3_prepare_v2(db, "SELECT rowid, bm25(t) FROM t WHERE t MATCH ?1 ORDER BY bm25(t)"
                               " LIMIT ?2", -1, &r.bare, NULL) != SQLITE_OK)
        die("bare", sqlite3_errmsg(db));
    double *t[3];
    for (int p = 0; p < 3; p++) t[p] = calloc((size_t)n, sizeof(double));
    double total[3] = {0};
    for (int pass = 0; pass < 2; pass++) {
        memset(r.hits, 0, sizeof r.hits);
        memset(total, 0, sizeof total);
        for (int i = 0; i < n; i++) {
            double ti[3];
            run_one(&r, q[i], &exprs[i], i, ti);
            for (int p = 0; p < 3; p++) { t[p][i] = ti[p]; total[p] += ti[p]; }
        }
    }
    double *ratio = calloc((size_t)n, sizeof *ratio);
    for (int i = 0; i < n; i++) ratio[i] = t[2][i] > 0 ? t[1][i] / t[2][i] : 1;
    stats ks1 = summarize("ken_search", t[0], n, total[0], r.hits[0]);
    stats ks2 = summarize("ken_search --no-snippet", t[1], n, total[1], r.hits[1]);
    stats bs = summarize("bare FTS5 bm25()", t[2], n, total[2], r.hits[2]);
    qsort(ratio, (size_t)n, sizeof *ratio, cmp_d);
    printf("ratio p50: ken/bare = %.2f (snippets), %.2f (no snippets); median per-query ratio "
           "%.2f; target <= 1.20\n", ks1.p50 / bs.p50, ks2.p50 / bs.p50, ratio[n / 2]);
    free(ratio);
    for (int p = 0; p < 3; p++) free(t[p]);
    sqlite3_finalize(r.bare);
    for (int i = 0; i < n; i++) { free(q[i]); free(exprs[i]); }
    free(q);
    free(exprs);
    sqlite3_close(db);
    ken_kb_close(kb);
    return 0;
}
