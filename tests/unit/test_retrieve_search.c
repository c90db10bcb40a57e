/* test_retrieve_search.c: BM25 search through a real SQLite store: result
 * fields and spans, the BM25 score against a hand computation, filters
 * (collection, uri prefix, mime, metadata), document-level ranking, the
 * bm25.k1/bm25.b config, RM3 feedback, and hostile queries (never an error). */
#include "retrieve/retrieve.h"
#include "test.h"

#include <math.h>
#include <unistd.h>

static char tmp_dir[] = "/tmp/ken-test-retrieve-XXXXXX";
static ken_store *S;

static void put(const char *coll, const char *ext, const char *uri, const char *title,
                const char *mime, const char *meta, const char *const *parts, size_t n) {
    ken_buf text;
    ken_buf_init(&text, 0);
    ken_store_chunk ch[8];
    for (size_t i = 0; i < n; i++) {
        if (i) ken_buf_puts(&text, "\n\n");
        ch[i] = (ken_store_chunk){.ordinal = (int32_t)i, .start = (int64_t)text.len,
                                  .heading = i ? "Part" : "", .tokens = 5};
        ken_buf_puts(&text, parts[i]);
        ch[i].end = (int64_t)text.len;
    }
    char hash[65];
    ken_sha256_hex(text.data, text.len, hash);
    ken_store_doc d = {.collection = coll, .ext_id = ext, .uri = uri, .title = title,
                       .mime = mime, .hash = hash, .meta_json = meta, .text = text.data,
                       .text_len = text.len};
    int64_t id;
    CHECKF(S->ops->doc_put(S, &d, ch, n, S->gen, &id, NULL) == KEN_OK, "%s", ken_store_errmsg(S));
    ken_buf_free(&text);
}

static void setup(void) {
    if (!mkdtemp(tmp_dir)) { perror("mkdtemp"); exit(1); }
    char path[256];
    snprintf(path, sizeof path, "%s/kb.db", tmp_dir);
    ken_store_opts o = {.path = path, .create = true};
    ken_err e = {{0}};
    if (ken_store_open(&o, &S, &e) != KEN_OK) { fprintf(stderr, "%s\n", e.msg); exit(1); }
    const char *a[] = {"The quick brown fox jumps over the lazy dog.",
                       "Foxes are small omnivores; a fox hunts at night."};
    const char *b[] = {"Dogs are loyal companions and guard the house."};
    const char *c[] = {"Solar panels convert sunlight into electricity."};
    const char *d[] = {"A fox appears in many fables and stories."};
    put("c1", "A", "/docs/animals/a.md", "Fox facts", "text/markdown",
        "{\"lang\": \"en\", \"year\": 2020, \"tags\": {\"kind\": \"animal\"}}", a, 2);
    put("c1", "B", "/docs/animals/b.md", "Dogs", "text/markdown", "{\"lang\": \"de\"}", b, 1);
    put("c1", "C", "/docs/energy/c.txt", "Solar", "text/plain", NULL, c, 1);
    put("c2", "D", "/other/d.txt", "Fables", "text/plain", "{\"lang\": \"en\"}", d, 1);
}

static void teardown(void) {
    ken_store_close(S);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
}

static size_t search(const char *q, const ken_retrieve_opts *o, ken_retrieve_hits *h) {
    ken_err e = {{0}};
    ken_status st = ken_retrieve_search(S, q, strlen(q), o, h, &e);
    CHECKF(st == KEN_OK, "'%s': %s", q, e.msg);
    return st == KEN_OK ? h->n : 0;
}

static void test_fields(void) {
    ken_retrieve_hits h;
    REQUIRE(search("fox", NULL, &h) == 3);
    /* Chunk 2 of A says fox twice in a short row: it ranks first. */
    CHECK_EQ_STR(h.v[0].ext_id, "A");
    CHECK_EQ_INT(h.v[0].ordinal, 1);
    CHECK_EQ_STR(h.v[0].heading, "Part");
    CHECK_EQ_STR(h.v[0].uri, "/docs/animals/a.md");
    CHECK_EQ_STR(h.v[0].title, "Fox facts");
    CHECK_EQ_STR(h.v[0].mime, "text/markdown");
    CHECK_EQ_STR(h.v[0].collection, "c1");
    CHECK(h.v[0].snippet && strstr(h.v[0].snippet, "**fox**"));
    CHECK(h.v[0].snippet && strstr(h.v[0].snippet, "**Foxes**"));   /* porter: fox = foxes */
    CHECK_EQ_STR(h.v[0].text, "Foxes are small omnivores; a fox hunts at night.");
    CHECK_EQ_INT(h.v[0].start, 46);
    CHECK_EQ_INT(h.v[0].end, 46 + 48);
    for (size_t i = 1; i < h.n; i++) CHECK(h.v[i - 1].score >= h.v[i].score);
    CHECK(h.v[0].score > 0);
    ken_retrieve_hits_free(&h);
}

/* Lucene BM25 by hand: one term, over title + heading + text tokens. */
static void test_bm25_score(void) {
    ken_retrieve_opts o = {.k1 = 1.2, .b = 0.75};
    ken_retrieve_hits h;
    REQUIRE(search("solar", &o, &h) == 1);
    /* Rows (chunks) and their tokens (text + heading + title):
     * A0: 9 + 0 + 2, A1: 9 + 1 + 2, B0: 8 + 0 + 1, C0: 6 + 0 + 1, D0: 8 + 0 + 1. */
    double N = 5, avgdl = (11 + 12 + 9 + 7 + 9) / 5.0, dl = 7, tf = 2, df = 1;
    double idf = log(1 + (N - df + 0.5) / (df + 0.5));
    double want = idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl));
    CHECKF(fabs(h.v[0].score - want) < 1e-9, "score %.12f, want %.12f", h.v[0].score, want);
    CHECK(fabs(h.k1 - 1.2) < 1e-12 && fabs(h.b - 0.75) < 1e-12);
    ken_retrieve_hits_free(&h);
}

static void test_filters(void) {
    ken_retrieve_hits h;
    ken_retrieve_opts o = {.collection = "c2"};
    REQUIRE(search("fox", &o, &h) == 1);
    CHECK_EQ_STR(h.v[0].ext_id, "D");
    ken_retrieve_hits_free(&h);
    o = (ken_retrieve_opts){.uri_prefix = "/docs/animals/"};
    CHECK_EQ_INT(search("fox dogs", &o, &h), 3);
    for (size_t i = 0; i < h.n; i++) CHECK(strncmp(h.v[i].uri, "/docs/animals/", 14) == 0);
    ken_retrieve_hits_free(&h);
    o = (ken_retrieve_opts){.mime = "text/plain"};
    CHECK_EQ_INT(search("fox solar", &o, &h), 2);
    ken_retrieve_hits_free(&h);
    o = (ken_retrieve_opts){.meta_field = "lang", .meta_value = "en"};
    CHECK_EQ_INT(search("fox dogs", &o, &h), 3);   /* A0, A1, D0; B is "de" */
    ken_retrieve_hits_free(&h);
    o = (ken_retrieve_opts){.meta_field = "year", .meta_value = "2020"};
    CHECK_EQ_INT(search("fox", &o, &h), 2);
    ken_retrieve_hits_free(&h);
    o = (ken_retrieve_opts){.meta_field = "tags.kind", .meta_value = "animal"};
    CHECK_EQ_INT(search("fox", &o, &h), 2);
    ken_retrieve_hits_free(&h);
    /* Hostile metadata field names are refused before reaching SQL. */
    const char *bad[] = {"a') OR 1=1 --", "$.x", "a..b", ".a", "a[0]", ""};
    for (size_t i = 0; i < KEN_ARRAY_LEN(bad); i++) {
        ken_err e = {{0}};
        o = (ken_retrieve_opts){.meta_field = bad[i], .meta_value = "x"};
        CHECK(ken_retrieve_search(S, "fox", 3, &o, &h, &e) == KEN_ERR_INVALID);
        CHECK(strstr(e.msg, "metadata") != NULL);
    }
}

static void test_docs_and_k(void) {
    ken_retrieve_hits h;
    ken_retrieve_opts o = {.docs = true};
    search("fox", &o, &h);
    CHECK_EQ_INT(h.n, 2);   /* A (best chunk) and D */
    if (h.n == 2) CHECK(h.v[0].doc_id != h.v[1].doc_id);
    ken_retrieve_hits_free(&h);
    o = (ken_retrieve_opts){.k = 1};
    CHECK_EQ_INT(search("fox", &o, &h), 1);
    ken_retrieve_hits_free(&h);
    ken_err e = {{0}};
    o = (ken_retrieve_opts){.k = KEN_RETRIEVE_K_MAX + 1};
    CHECK(ken_retrieve_search(S, "fox", 3, &o, &h, &e) == KEN_ERR_INVALID);
}

static void test_config(void) {
    double k1, b;
    ken_retrieve_bm25_params(S, &k1, &b);
    CHECK(k1 == KEN_BM25_K1_DEFAULT && b == KEN_BM25_B_DEFAULT);
    REQUIRE(S->ops->config_set(S, "bm25.k1", "1.5") == KEN_OK);
    REQUIRE(S->ops->config_set(S, "bm25.b", "junk") == KEN_OK);
    ken_retrieve_bm25_params(S, &k1, &b);
    CHECK(k1 == 1.5 && b == KEN_BM25_B_DEFAULT);
    ken_retrieve_hits h;
    REQUIRE(search("fox", NULL, &h) == 3);
    CHECK(h.k1 == 1.5);
    ken_retrieve_hits_free(&h);
    REQUIRE(S->ops->config_set(S, "bm25.k1", "0.9") == KEN_OK);
}

static void test_prf(void) {
    ken_retrieve_hits h;
    ken_retrieve_opts o = {.prf = true};
    CHECK(search("fox", &o, &h) >= 2);
    CHECK(h.query.n > 1);                  /* expansion terms were added */
    CHECK_EQ_STR(h.query.term[0], "fox");
    for (size_t i = 0; i < h.query.n; i++) CHECK(h.query.weight[i] > 0 && h.query.weight[i] <= 1);
    ken_retrieve_hits_free(&h);
    /* Feedback passages without a single usable term (stop words, digits,
     * short words): the query stays as it was (found by fuzz_retrieve_search:
     * an empty term list went to qsort as NULL). */
    const char *e[] = {"The of and a; 42 to it."};
    put("c3", "E", "/stop/e.txt", "", "text/plain", NULL, e, 1);
    o.collection = "c3";
    CHECK(search("the of", &o, &h) == 1);
    CHECK_EQ_INT(h.query.n, 2);
    for (size_t i = 0; i < h.query.n; i++) CHECK(h.query.weight[i] == 1);
    ken_retrieve_hits_free(&h);
}

static void test_hostile(void) {
    const char *qs[] = {"\"", "fox*", "NEAR(fox", "AND OR NOT", "^fox:", "(((", "the of and",
                        "\xff\xfe", "'; DROP TABLE chunks; --", "title:fox", "- fox", ""};
    for (size_t i = 0; i < KEN_ARRAY_LEN(qs); i++) {
        ken_retrieve_hits h;
        search(qs[i], NULL, &h);
        ken_retrieve_hits_free(&h);
    }
    ken_buf b;
    ken_buf_init(&b, 0);
    for (int i = 0; i < 10000; i++) ken_buf_putc(&b, (char)("ab\"*()^:- \xc3"[i % 12]));
    ken_retrieve_hits h;
    ken_err e = {{0}};
    CHECK(ken_retrieve_search(S, b.data, b.len, NULL, &h, &e) == KEN_OK);
    ken_retrieve_hits_free(&h);
    ken_buf_free(&b);
    CHECK(S->ops->check(S) == KEN_OK);
}

/* The store's two search paths agree: limit 0 streams FTS5's sorted rank,
 * a limit ranks top-k in the bare shape and reads the winners by rowid. */
typedef struct { int64_t id[16]; double score[16]; char snip[16][256]; int n; } seen;

static int on_store_hit(void *ud, const ken_store_hit *h) {
    seen *s = ud;
    if (s->n >= 16) return 1;
    s->id[s->n] = h->chunk_id;
    s->score[s->n] = h->score;
    snprintf(s->snip[s->n], sizeof s->snip[0], "%s", h->snippet ? h->snippet : "(null)");
    s->n++;
    return 0;
}

static void test_store_paths(void) {
    const char *filters[][2] = {{NULL, NULL}, {"c1", NULL}, {NULL, "/docs/"}};
    for (size_t f = 0; f < KEN_ARRAY_LEN(filters); f++) {
        seen all = {0}, top = {0};
        ken_store_search_q q = {.match = "\"fox\" OR \"dogs\" OR \"solar\"",
                                .rank = "ken_bm25(0.9, 0.4, 1, 0.5, 2)",
                                .collection = filters[f][0], .uri_prefix = filters[f][1],
                                .mark_open = "[", .mark_close = "]"};
        REQUIRE(S->ops->search(S, &q, on_store_hit, &all) == KEN_OK);
        q.limit = 3;
        REQUIRE(S->ops->search(S, &q, on_store_hit, &top) == KEN_OK);
        CHECK(all.n >= 3);
        REQUIRE(top.n == 3);
        for (int i = 0; i < 3; i++) {
            CHECK_EQ_INT(top.id[i], all.id[i]);
            CHECK(fabs(top.score[i] - all.score[i]) < 1e-12);
            CHECK_EQ_STR(top.snip[i], all.snip[i]);
        }
        q.mark_open = q.mark_close = NULL;   /* no snippet: the row is read without FTS5 */
        seen plain = {0};
        REQUIRE(S->ops->search(S, &q, on_store_hit, &plain) == KEN_OK);
        REQUIRE(plain.n == 3);
        for (int i = 0; i < 3; i++) {
            CHECK_EQ_INT(plain.id[i], all.id[i]);
            CHECK_EQ_STR(plain.snip[i], "(null)");
        }
    }
}

TEST_MAIN(setup, test_fields, test_store_paths, test_bm25_score, test_filters, test_docs_and_k, test_config,
          test_prf, test_hostile, teardown)
