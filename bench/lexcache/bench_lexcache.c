/* bench_lexcache.c: BM25 search latency of ken_search with the in-memory
 * accelerator (src/store/lexcache.c) against the FTS5 path, in the same run
 * on the same store and queries, alternating query by query so both see the
 * same machine load. Also checks that both give the same chunks and scores,
 * (also in document mode and with RM3 expansion), and reports the
 * accelerator's build time and memory.
 *
 * usage: ken-bench-lexcache DB QUERIES [K=10] [PASSES=3]
 *   DB a ken store (e.g. what bench/serve/run.sh adds), QUERIES one query a
 *   line. The first pass is a warm-up; one line per path with p50, p99 and
 *   mean over the other passes (lex-nosnip: the accelerator without snippets),
 *   then the ratio of the p50s. */
#include "kb/kb.h"
#include "ken.h"
#include "ken_search.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUERIES_MAX 10000

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_d);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += v[i];
    printf("%-10s queries %zu  p50 %8.3f ms  p99 %8.3f ms  mean %8.3f ms\n", name, n,
           v[n / 2] * 1e3, v[(size_t)((double)n * 0.99)] * 1e3, sum / (double)n * 1e3);
}

static ken_kb *open_kb(const char *path, int lexcache) {
    ken_kb_opts o = {.size = sizeof o, .path = path, .lexcache = lexcache};
    ken_kb *kb = NULL;
    if (ken_kb_open(&o, &kb)) {
        fprintf(stderr, "ken-bench-lexcache: %s: %s\n", path, ken_kb_errmsg(kb));
        exit(1);
    }
    return kb;
}

/* One search; returns seconds, and the results for comparison. */
static double timed(ken_kb *kb, const char *q, int k, bool snip, ken_results **out) {
    ken_search_opts so = {.size = sizeof so, .k = (uint32_t)k, .no_snippet = !snip};
    double t0 = ken_now();
    if (ken_search(kb, q, &so, out)) {
        fprintf(stderr, "ken-bench-lexcache: search '%s': %s\n", q, ken_kb_errmsg(kb));
        exit(1);
    }
    return ken_now() - t0;
}

static bool same(const ken_results *a, const ken_results *b);

/* The check pass also compares the document mode and RM3 expansion (weighted
 * expansion terms) of both paths. */
static size_t differ_modes(ken_kb *fts, ken_kb *lex, const char *q, int k) {
    size_t d = 0;
    for (int m = 0; m < 2; m++) {
        ken_search_opts so = {.size = sizeof so, .k = (uint32_t)k, .docs = m == 0, .prf = m == 1};
        ken_results *a = NULL, *b = NULL;
        if (ken_search(fts, q, &so, &a) || ken_search(lex, q, &so, &b)) d++;
        else d += !same(a, b);
        ken_results_free(a);
        ken_results_free(b);
    }
    return d;
}

static bool same(const ken_results *a, const ken_results *b) {
    if (ken_results_count(a) != ken_results_count(b)) return false;
    for (size_t i = 0; i < ken_results_count(a); i++) {
        const ken_result *x = ken_results_get(a, i), *y = ken_results_get(b, i);
        if (x->chunk_id != y->chunk_id || fabs(x->score - y->score) > 1e-9) return false;
    }
    return true;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: ken-bench-lexcache DB QUERIES [K=10] [PASSES=3]\n");
        return 1;
    }
    /* BENCH_LEX_ONLY=1: after the checking pass, the accelerator only (profiling). */
    bool lex_only = getenv("BENCH_LEX_ONLY") != NULL;
    int k = argc > 3 ? atoi(argv[3]) : 10, passes = argc > 4 ? atoi(argv[4]) : 3;
    FILE *f = fopen(argv[2], "r");
    if (!f || k < 1 || passes < 2) { fprintf(stderr, "ken-bench-lexcache: bad arguments\n"); return 1; }
    static char *qs[QUERIES_MAX];
    size_t nq = 0;
    char line[1024];
    while (nq < QUERIES_MAX && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (*line) qs[nq++] = ken_strdup(line);
    }
    fclose(f);
    if (nq == 0) { fprintf(stderr, "ken-bench-lexcache: no queries\n"); return 1; }
    ken_kb *fts = open_kb(argv[1], 0), *lex = open_kb(argv[1], 1);
    ken_results *r = NULL;
    double build = timed(lex, qs[0], k, true, &r);
    ken_results_free(r);
    ken_store_lexcache_stats st;
    ken_store_lexcache_stats_get(lex->store, &st);
    printf("index: %lld chunks, %lld terms, %lld postings, %.1f MB; build %.3f s (first search %.3f s)\n",
           (long long)st.chunks, (long long)st.terms, (long long)st.postings,
           (double)st.bytes / 1048576.0, st.build_s, build);
    size_t n = nq * (size_t)(passes - 1);
    double *tf = calloc(n, sizeof *tf), *tl = calloc(n, sizeof *tl), *tn = calloc(n, sizeof *tn);
    size_t m = 0, differ = 0;
    for (int p = 0; p < passes; p++)
        for (size_t i = 0; i < nq; i++) {
            ken_results *a = NULL, *b = NULL, *c = NULL;
            double x = lex_only && p ? 0 : timed(fts, qs[i], k, true, &a);
            double y = timed(lex, qs[i], k, true, &b);
            double z = timed(lex, qs[i], k, false, &c);
            if (p == 0) differ += !same(a, b) + !same(b, c) + differ_modes(fts, lex, qs[i], k);
            else { tf[m] = x; tl[m] = y; tn[m] = z; m++; }
            ken_results_free(a);
            ken_results_free(b);
            ken_results_free(c);
        }
    report("fts5", tf, m);
    report("lexcache", tl, m);
    report("lex-nosnip", tn, m);
    ken_store_lexcache_stats_get(lex->store, &st);
    printf("ratio p50 fts5/lexcache %.1fx; %zu differences in %zu queries x 4 modes; lexcache answered %lld, "
           "fell back %lld\n", tf[m / 2] / tl[m / 2], differ, nq, (long long)st.answered,
           (long long)st.fallbacks);
    for (size_t i = 0; i < nq; i++) free(qs[i]);
    free(tf);
    free(tl);
    free(tn);
    ken_kb_close(fts);
    ken_kb_close(lex);
    return differ ? 2 : 0;
}
