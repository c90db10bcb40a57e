/* test_store_lexcache.c: the in-memory BM25 accelerator (src/store/lexcache.c)
 * against the FTS5 path on a generated corpus: the same chunk ids in the same
 * order and the same scores for many queries (single and many terms, weights,
 * repeated and stemmed terms, unicode and diacritics, stop-word-like terms,
 * absent terms, ties, k from 1 to huge, filters); the fallbacks (phrases,
 * meta filters, other ranks, no limit, open transactions); freshness after
 * writes and deletes through this and other connections and another process;
 * and concurrent searches while a writer commits. */
#include "store/store.h"
#include "test.h"

#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp_dir[256];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmp_dir, name);
    return buf;
}

static ken_store *open_store(const char *path, bool lexcache) {
    ken_store_opts o = {.path = path, .create = true, .lexcache = lexcache};
    ken_store *s = NULL;
    ken_err e = {{0}};
    if (ken_store_open(&o, &s, &e)) fprintf(stderr, "open '%s': %s\n", path, e.msg);
    return s;
}

/* ------------------------------------------------------------ corpus */

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const vocab[] = {
    "the", "and", "of", "search", "index", "running", "runs", "run", "runner", "database",
    "café", "CAFE", "naïve", "résumé", "Ünïcödé", "straße", "日本語", "данные", "ken", "bm25",
    "engine", "engines", "retrieval", "token", "tokens", "42", "x86", "alpha", "beta", "gamma",
    "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "quick", "brown",
};
#define NV (KEN_ARRAY_LEN(vocab))

/* Words with a skewed distribution: common ones nearly everywhere. */
static const char *word(void) {
    uint32_t r = rnd(100);
    if (r < 30) return vocab[rnd(4)];
    if (r < 60) return vocab[4 + rnd(10)];
    return vocab[rnd(NV)];
}

/* Mostly nothing; sentence ends (FTS5's snippet() starts windows at them). */
static const char *const punct[] = {"", "", "", "", "", "", "", "", "", "", "", "", ".", ":",
                                    ",", ". ", ".\n", " :", "!", "...", "(x)", " -"};

static void put_doc(ken_store *s, const char *coll, const char *uri, const char *mime,
                    const char *title, int n_chunks, const char *extra) {
    char text[16384];
    ken_store_chunk ch[16];
    size_t len = 0;
    for (int c = 0; c < n_chunks && c < 16; c++) {
        ch[c] = (ken_store_chunk){.start = (int64_t)len, .ordinal = c,
                                  .heading = c % 3 == 0 ? "Intro" : c % 3 == 1 ? "Run > Café" : ""};
        int nw = 3 + (int)rnd(40);
        for (int w = 0; w < nw; w++)
            len += (size_t)snprintf(text + len, sizeof text - len, "%s%s%s", w ? " " : "",
                                    word(), punct[rnd(KEN_ARRAY_LEN(punct))]);
        if (extra && c == 0) len += (size_t)snprintf(text + len, sizeof text - len, " %s", extra);
        ch[c].end = (int64_t)len;
        len += (size_t)snprintf(text + len, sizeof text - len, "\n");
    }
    ken_store_doc d = {.collection = coll, .uri = uri, .title = title, .mime = mime,
                       .text = text, .text_len = len};
    int64_t id;
    bool rep;
    ken_status st = s->ops->doc_put(s, &d, ch, (size_t)n_chunks, 1, &id, &rep);
    if (st) fprintf(stderr, "doc_put: %s\n", ken_store_errmsg(s));
}

static void make_corpus(ken_store *s, int n_docs) {
    static const char *const colls[] = {"default", "notes", "web"};
    static const char *const mimes[] = {"text/markdown", "text/plain", NULL};
    s->ops->begin(s);
    for (int i = 0; i < n_docs; i++) {
        char uri[64], title[64];
        snprintf(uri, sizeof uri, "/docs/%s/d%03d.md", i % 4 ? "a" : "b", i);
        snprintf(title, sizeof title, "Title %s %d", vocab[i % NV], i);
        put_doc(s, colls[i % 3], uri, mimes[i % 3], i % 5 ? title : NULL, 1 + (int)rnd(8), NULL);
    }
    /* Ties: identical chunks in identical documents. */
    for (int i = 0; i < 4; i++) {
        char uri[64];
        snprintf(uri, sizeof uri, "/docs/tie%d", i);
        ken_store_chunk ch = {.start = 0, .end = 21};
        ken_store_doc d = {.collection = "default", .uri = uri, .title = "same",
                           .text = "tietoken gamma gamma x", .text_len = 22};
        s->ops->doc_put(s, &d, &ch, 1, 1, NULL, NULL);
    }
    s->ops->commit(s);
}

/* ------------------------------------------------------------ comparing */

/* Ids and scores, and every hit's text and snippet one per line in rows. */
typedef struct { int n; int64_t id[2048]; double score[2048]; ken_buf rows; } hits;

static int on_hit(void *ud, const ken_store_hit *h) {
    hits *x = ud;
    if (x->n < 2048) { x->id[x->n] = h->chunk_id; x->score[x->n] = h->score; }
    x->n++;
    ken_buf_printf(&x->rows, "%lld [%.*s] [%s]\n", (long long)h->chunk_id, (int)h->text_len,
                   h->text, h->snippet ? h->snippet : "(null)");
    return 0;
}

static ken_status run_q(ken_store *s, const ken_store_search_q *q, hits *out) {
    ken_buf_free(&out->rows);
    memset(out, 0, sizeof *out);
    ken_buf_init(&out->rows, 0);
    return s->ops->search(s, q, on_hit, out);
}

/* The first line where a and b differ, for the message. */
static void first_diff(const ken_buf *a, const ken_buf *b, const char *what) {
    const char *p = a->data ? a->data : "", *q = b->data ? b->data : "";
    while (*p && *p == *q) {
        const char *ep = strchr(p, '\n'), *eq = strchr(q, '\n');
        if (!ep || !eq || ep - p != eq - q || memcmp(p, q, (size_t)(ep - p)) != 0) break;
        p = ep + 1;
        q = eq + 1;
    }
    const char *ep = strchr(p, '\n'), *eq = strchr(q, '\n');
    CHECKF(0, "%s: rows differ:\n  fast %.*s\n  fts5 %.*s", what, ep ? (int)(ep - p) : 200, p,
           eq ? (int)(eq - q) : 200, q);
}

static int64_t answered(ken_store *s) {
    ken_store_lexcache_stats st;
    return ken_store_lexcache_stats_get(s, &st) ? st.answered : -1;
}

/* Both paths on q: same ids in the same order, same scores; and whether the
 * accelerator answered (expect_fast) or fell back. */
static void compare(ken_store *fast, ken_store *slow, const ken_store_search_q *q,
                    bool expect_fast) {
    static hits a, b;
    int64_t before = answered(fast);
    ken_status sa = run_q(fast, q, &a), sb = run_q(slow, q, &b);
    CHECKF(sa == sb, "status %d vs %d for %s", sa, sb, q->match);
    CHECKF((answered(fast) > before) == expect_fast, "accelerator %s for %s rank %s",
           expect_fast ? "not used" : "used", q->match, q->rank ? q->rank : "-");
    CHECKF(a.n == b.n, "%d vs %d hits for %s", a.n, b.n, q->match);
    int bad = 0;
    for (int i = 0; i < a.n && i < b.n && i < 2048 && bad < 3; i++) {
        bool ok = a.id[i] == b.id[i] && fabs(a.score[i] - b.score[i]) <= 1e-9;
        if (!ok) bad++;
        CHECKF(ok, "%s k=%lld #%d: %lld %.17g vs %lld %.17g", q->match, (long long)q->limit, i,
               (long long)a.id[i], a.score[i], (long long)b.id[i], b.score[i]);
    }
    /* Text and snippet of every hit: read and computed without FTS5 on the
     * fast path, by FTS5 (snippet()) on the other. */
    bool same = a.rows.len == b.rows.len &&
                (a.rows.len == 0 || memcmp(a.rows.data, b.rows.data, a.rows.len) == 0);
    if (!same) first_diff(&a.rows, &b.rows, q->match);
    /* Bit-identical arithmetic: the same code computes both. */
    for (int i = 0; i < a.n && i < b.n && i < 2048 && !bad; i++)
        if (a.score[i] != b.score[i]) { CHECKF(0, "score not bit-identical at %d", i); break; }
}

static void test_equal_to_fts5(void) {
    const char *path = tmp_path("eq.db");
    ken_store *fast = open_store(path, true), *slow = open_store(path, false);
    REQUIRE(fast && slow);
    make_corpus(slow, 160);
    static const char *const matches[] = {
        "\"search\"", "\"the\"", "\"the\" OR \"and\" OR \"of\"", "\"running\" OR \"run\"",
        "\"run\" OR \"run\"", "\"café\" OR \"cafe\"", "\"naive\"", "\"resume\" OR \"ünïcödé\"",
        "\"straße\"", "\"日本語\"", "\"данные\" OR \"engine\"", "\"absentword\"",
        "\"absentword\" OR \"beta\"", "\"tietoken\"", "\"gamma\" OR \"tietoken\"", "\"42\"",
        "\"x86\" OR \"bm25\" OR \"ken\" OR \"index\" OR \"database\" OR \"token\"",
        "\"intro\"", "\"title\" OR \"same\"", "\"search\"\"\" OR \"the\"",
    };
    static const char *const ranks[] = {
        NULL, "ken_bm25(1.2, 0.75)", "ken_bm25(0.9, 0.4, 1, 0.5, 2)", "ken_bm25(2, 1, -1, 0)",
        "ken_bm25(0, 0)", "ken_bm25()", "KEN_BM25(1.5, 0.3, 0.25, 3.5, 1, 1, 1, 1)",
    };
    static const int64_t ks[] = {1, 3, 10, 57, 100000};   /* the last: all of them */
    int n = 0;
    for (size_t m = 0; m < KEN_ARRAY_LEN(matches); m++)
        for (size_t r = 0; r < KEN_ARRAY_LEN(ranks); r++)
            for (size_t k = 0; k < KEN_ARRAY_LEN(ks); k++) {
                if (ks[k] > 1000 && r % 3 != 0) continue;    /* keeps the test short */
                static const char *const marks[][2] = {{NULL, NULL}, {"[", "]"},
                                                       {"<b>", "</b>"}, {"*", NULL}};
                const char *const *mk = marks[(r + k) % 4];
                ken_store_search_q q = {.match = matches[m], .rank = ranks[r], .limit = ks[k],
                                        .mark_open = mk[0], .mark_close = mk[1]};
                compare(fast, slow, &q, true);
                n++;
            }
    /* Filters: collection, uri prefix, mime, and all at once. */
    const char *colls[] = {NULL, "notes", "web", "nope"};
    const char *prefixes[] = {NULL, "", "/docs/b", "/docs/a/d00", "/x"};
    const char *mimes[] = {NULL, "text/plain", "text/markdown"};
    for (size_t c = 0; c < 4; c++)
        for (size_t p = 0; p < 5; p++)
            for (size_t mi = 0; mi < 3; mi++) {
                ken_store_search_q q = {.match = "\"the\" OR \"search\" OR \"café\"",
                                        .collection = colls[c], .uri_prefix = prefixes[p],
                                        .mime = mimes[mi], .limit = c == 2 ? 100000 : 7};
                compare(fast, slow, &q, true);
                n++;
            }
    /* Snippets come from FTS5 for the winners either way. */
    ken_store_search_q sn = {.match = "\"search\"", .limit = 5, .mark_open = "[", .mark_close = "]"};
    compare(fast, slow, &sn, true);
    fprintf(stderr, "%d queries compared\n", n);
    ken_store_lexcache_stats st;
    REQUIRE(ken_store_lexcache_stats_get(fast, &st));
    CHECK(st.builds == 1);
    CHECK(st.chunks > 300 && st.terms > 30 && st.postings > st.chunks && st.bytes > 0);
    CHECK(!ken_store_lexcache_stats_get(slow, &st));
    ken_store_close(fast);
    ken_store_close(slow);
}

static void test_fallbacks(void) {
    const char *path = tmp_path("fb.db");
    ken_store *fast = open_store(path, true), *slow = open_store(path, false);
    REQUIRE(fast && slow);
    make_corpus(slow, 40);
    struct { const char *match, *rank; int64_t limit; const char *meta; } cases[] = {
        {"\"quick brown\"", NULL, 10, NULL},              /* a real phrase: adjacency */
        {"\"search\" OR \"quick brown\"", NULL, 10, NULL},
        {"\"quote\"\"d\" OR \"search\"", NULL, 10, NULL},    /* two tokens */
        {"\"-\" OR \"search\"", NULL, 10, NULL},          /* a phrase of no token */
        {"search", NULL, 10, NULL},                       /* bareword */
        {"\"search\" AND \"the\"", NULL, 10, NULL},
        {"\"search\" NOT \"the\"", NULL, 10, NULL},
        {"\"sea\" *", NULL, 10, NULL},
        {"\"search\"", "bm25(1, 2, 3)", 10, NULL},        /* FTS5's own rank */
        {"\"search\"", "ken_bm25(1.2, 0.75)", 0, NULL},   /* no limit */
        {"\"search\"", NULL, 10, "$.k"},                  /* meta filter */
    };
    for (size_t i = 0; i < KEN_ARRAY_LEN(cases); i++) {
        ken_store_search_q q = {.match = cases[i].match, .rank = cases[i].rank,
                                .limit = cases[i].limit, .meta_path = cases[i].meta,
                                .meta_value = cases[i].meta ? "1" : NULL};
        compare(fast, slow, &q, false);
    }
    /* Out-of-range parameters: FTS5's error, as before. */
    ken_store_search_q bad = {.match = "\"search\"", .rank = "ken_bm25(1.2, 7)", .limit = 5};
    static hits h;
    CHECK(run_q(fast, &bad, &h) != KEN_OK);
    /* A non-UTF-8 uri prefix. */
    ken_store_search_q pre = {.match = "\"the\"", .uri_prefix = "/docs/\xff", .limit = 5};
    compare(fast, slow, &pre, false);
    /* Inside a transaction the handle sees its own writes: FTS5 answers. */
    REQUIRE(fast->ops->begin(fast) == KEN_OK);
    put_doc(fast, "default", "/tx/new", NULL, NULL, 1, "txonlyword");
    ken_store_search_q tq = {.match = "\"txonlyword\"", .limit = 5};
    int64_t before = answered(fast);
    CHECK(run_q(fast, &tq, &h) == KEN_OK && h.n == 1);
    CHECK(answered(fast) == before);
    fast->ops->rollback(fast);
    compare(fast, slow, &tq, true);
    CHECK(run_q(fast, &tq, &h) == KEN_OK && h.n == 0);
    ken_store_close(fast);
    ken_store_close(slow);
}

static int64_t builds(ken_store *s) {
    ken_store_lexcache_stats st;
    return ken_store_lexcache_stats_get(s, &st) ? st.builds : -1;
}

static int on_doc_id(void *ud, const ken_store_doc *d) {
    *(int64_t *)ud = d->id;
    return 1;
}

static int64_t doc_id_of(ken_store *s, const char *uri) {
    int64_t id = 0;
    s->ops->doc_find(s, "default", uri, on_doc_id, &id);
    return id;
}

static void test_fresh_after_writes(void) {
    const char *path = tmp_path("fresh.db");
    ken_store *fast = open_store(path, true), *slow = open_store(path, false);
    ken_store *fast2 = open_store(path, true);
    REQUIRE(fast && slow && fast2);
    make_corpus(slow, 30);
    ken_store_search_q q = {.match = "\"zebrafish\" OR \"search\"", .limit = 5};
    compare(fast, slow, &q, true);
    compare(fast2, slow, &q, true);
    CHECK(builds(fast) + builds(fast2) == 1);      /* one index for the file */
    static hits h;
    /* A write through another handle of this process. */
    put_doc(slow, "default", "/new/1", NULL, NULL, 2, "zebrafish");
    ken_store_search_q z = {.match = "\"zebrafish\"", .limit = 5};
    CHECK(run_q(fast, &z, &h) == KEN_OK && h.n == 1);
    compare(fast, slow, &q, true);
    /* Through an accelerated handle itself. */
    put_doc(fast, "default", "/new/2", NULL, NULL, 1, "zebrafish");
    CHECK(run_q(fast2, &z, &h) == KEN_OK && h.n == 2);
    compare(fast2, slow, &q, true);
    /* A delete takes the document's chunks out. */
    int64_t id = doc_id_of(slow, "/new/1");
    CHECK(id > 0 && slow->ops->doc_delete(slow, id) == KEN_OK);
    CHECK(run_q(fast, &z, &h) == KEN_OK && h.n == 1);
    compare(fast, slow, &q, true);
    /* A replaced document: same key, new text. */
    put_doc(slow, "default", "/new/2", NULL, NULL, 1, "otterfish");
    CHECK(run_q(fast2, &z, &h) == KEN_OK && h.n == 0);
    ken_store_search_q o = {.match = "\"otterfish\"", .limit = 5};
    CHECK(run_q(fast2, &o, &h) == KEN_OK && h.n == 1);
    /* Reads and config writes change nothing: no rebuild. */
    int64_t nb = builds(fast) + builds(fast2);
    CHECK(slow->ops->config_set(slow, "bm25.k1", "1.3") == KEN_OK);
    compare(fast, slow, &q, true);
    compare(fast2, slow, &q, true);
    CHECK(builds(fast) + builds(fast2) == nb);
    /* Another process commits. */
    pid_t pid = fork();
    if (pid == 0) {
        ken_store *c = open_store(path, false);
        if (c) put_doc(c, "default", "/child/1", NULL, NULL, 1, "childword");
        ken_store_close(c);
        _exit(c ? 0 : 1);
    }
    int status = 0;
    REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ken_store_search_q cw = {.match = "\"childword\"", .limit = 5};
    CHECK(run_q(fast, &cw, &h) == KEN_OK && h.n == 1);
    compare(fast, slow, &q, true);
    ken_store_close(fast2);
    ken_store_close(fast);
    ken_store_close(slow);
}

/* ------------------------------------------------------------ threads */

typedef struct {
    const char *path;
    atomic_int *published;      /* last committed unique word, -1 none */
    atomic_bool *done;
    int checks, failures;
    int errors, misordered, stale;   /* the failures, by kind */
} reader_arg;

static void *reader(void *p) {
    reader_arg *a = p;
    ken_store *s = open_store(a->path, true);
    if (!s) { a->failures++; return NULL; }
    static _Thread_local hits h;
    ken_store_lexcache_stats st = {0};
    /* While the writer commits, and then until the accelerator has answered
     * at least once (on a loaded machine every build may have been
     * overtaken by a commit while the writer ran; a quiet store must be
     * answered from the index soon), bounded. */
    for (int after = 0; after < 400; ) {
        bool writing = !atomic_load(a->done);
        if (!writing) {
            ken_store_lexcache_stats_get(s, &st);
            if (st.answered > 0) break;
            after++;
            usleep(10000);
        }
        int n = atomic_load(a->published);
        char m[64];
        snprintf(m, sizeof m, "\"uniq%d\" OR \"search\"", n);
        ken_store_search_q q = {.match = m, .limit = 50};
        if (run_q(s, &q, &h) != KEN_OK) { a->failures++, a->errors++; continue; }
        a->checks++;
        /* The word committed before we looked is found, best first. */
        bool found = n < 0;
        for (int i = 0; i < h.n && i < 2048; i++) {
            if (i && h.score[i] > h.score[i - 1]) a->failures++, a->misordered++;
            found |= h.score[i] > 5;     /* the unique word's idf dominates */
        }
        if (!found) a->failures++, a->stale++;
    }
    ken_store_lexcache_stats_get(s, &st);
    if (st.answered == 0) a->failures++;
    ken_buf_free(&h.rows);
    ken_store_close(s);
    return NULL;
}

static void test_threads(void) {
    const char *path = tmp_path("thr.db");
    ken_store *w = open_store(path, false), *slow = open_store(path, false);
    REQUIRE(w && slow);
    make_corpus(w, 60);
    atomic_int published = -1;
    atomic_bool done = false;
    enum { NR = 3 };
    pthread_t th[NR];
    reader_arg ra[NR];
    for (int i = 0; i < NR; i++) {
        ra[i] = (reader_arg){.path = path, .published = &published, .done = &done};
        REQUIRE(pthread_create(&th[i], NULL, reader, &ra[i]) == 0);
    }
    for (int i = 0; i < 12; i++) {
        char uri[32], extra[32];
        snprintf(uri, sizeof uri, "/w/%d", i);
        snprintf(extra, sizeof extra, "uniq%d uniq%d uniq%d", i, i, i);
        put_doc(w, "default", uri, NULL, NULL, 1, extra);
        atomic_store(&published, i);
        usleep(20000);
    }
    atomic_store(&done, true);
    for (int i = 0; i < NR; i++) {
        pthread_join(th[i], NULL);
        CHECKF(ra[i].failures == 0 && ra[i].checks > 0, "reader %d: %d failures (%d errors, "
               "%d misordered, %d stale), %d searches", i, ra[i].failures, ra[i].errors,
               ra[i].misordered, ra[i].stale, ra[i].checks);
    }
    /* Afterwards an accelerated handle agrees with FTS5 again. */
    ken_store *fast = open_store(path, true);
    REQUIRE(fast);
    ken_store_search_q q = {.match = "\"uniq3\" OR \"search\" OR \"the\"", .limit = 20};
    compare(fast, slow, &q, true);
    ken_store_close(fast);
    ken_store_close(slow);
    ken_store_close(w);
}

static int64_t pruned(ken_store *s) {
    ken_store_lexcache_stats st;
    return ken_store_lexcache_stats_get(s, &st) ? st.pruned : -1;
}

/* Pruned ranking (MaxScore with skips) against the full ranking and FTS5:
 * random queries of 2-7 terms, weights (zero included), k and filters on a
 * corpus large enough for the pruning to engage. */
static void test_pruned_equal(void) {
    const char *path = tmp_path("prune.db");
    ken_store *slow = open_store(path, false);
    REQUIRE(slow);
    make_corpus(slow, 1500);
    ken_store *fast = open_store(path, true);
    setenv("KEN_LEXCACHE_PRUNE", "0", 1);
    ken_store *full = open_store(path, true);
    unsetenv("KEN_LEXCACHE_PRUNE");
    REQUIRE(fast && full);
    static const int64_t ks[] = {1, 2, 3, 5, 10, 50, 256, 257};
    const char *colls[] = {"notes", "web", "nope"};
    char match[512], rank[256];
    int n = 0;
    for (int it = 0; it < 300; it++) {
        int nt = 2 + (int)rnd(6);
        size_t len = 0;
        for (int t = 0; t < nt; t++) {
            const char *w = it % 5 == 0 && t == 0 ? "tietoken" : word();
            len += (size_t)snprintf(match + len, sizeof match - len, "%s\"%s\"",
                                    t ? " OR " : "", w);
        }
        size_t rl = (size_t)snprintf(rank, sizeof rank, "ken_bm25(%g, %g", 0.2 + rnd(20) / 10.0,
                                     rnd(11) / 10.0);
        for (int t = 0; t < nt && it % 3; t++)
            rl += (size_t)snprintf(rank + rl, sizeof rank - rl, ", %g",
                                   rnd(4) == 0 ? 0.0 : rnd(40) / 8.0);
        snprintf(rank + rl, sizeof rank - rl, ")");
        ken_store_search_q q = {.match = match, .rank = rank, .limit = ks[rnd(KEN_ARRAY_LEN(ks))]};
        if (it % 7 == 0) q.collection = colls[rnd(3)];
        if (it % 11 == 0) q.uri_prefix = "/docs/b";
        if (it % 13 == 0) q.mime = "text/plain";
        compare(fast, full, &q, true);
        if (it % 10 == 0) compare(fast, slow, &q, true);   /* and FTS5 itself */
        n++;
    }
    int64_t np = pruned(fast);
    fprintf(stderr, "%d queries, %lld pruned\n", n, (long long)np);
    CHECK(np > n / 2);              /* the pruning did engage */
    CHECK_EQ_INT(pruned(full), 0);
    ken_store_close(fast);
    ken_store_close(full);
    ken_store_close(slow);
}

static void setup_tmp(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/ken_lexcache_XXXXXX");
    REQUIRE(mkdtemp(tmp_dir) != NULL);
}

static void cleanup_tmp(void) {
    nftw(tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    CHECK(1);
}

TEST_MAIN(setup_tmp, test_equal_to_fts5, test_pruned_equal, test_fallbacks, test_fresh_after_writes, test_threads,
          cleanup_tmp)
