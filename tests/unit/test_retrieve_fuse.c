/* test_retrieve_fuse.c: rank fusion on known rankings (RRF with its
 * constant, weighted min-max fusion with weights), repeats, empty and
 * one-item lists, bad options; fusing hit lists (ownership moves, by chunk
 * and by document, k); re-ordering by re-ranker scores. */
#include "retrieve/fuse.h"
#include "test.h"

#include <math.h>

static bool near(double a, double b) { return fabs(a - b) < 1e-12; }

static void rrf_known(void) {
    ken_fuse_item a[] = {{1, 9}, {2, 8}, {3, 7}};
    ken_fuse_item b[] = {{3, 0.9}, {1, 0.8}, {5, 0.1}};
    const ken_fuse_item *lists[] = {a, b};
    size_t lens[] = {3, 3};
    ken_fuse_item *out = NULL;
    size_t n = 0;
    ken_err err = {{0}};
    REQUIRE(ken_fuse(lists, lens, 2, NULL, &out, &n, &err) == KEN_OK);
    REQUIRE(n == 4);
    /* 1: 1/61 + 1/62; 3: 1/63 + 1/61; 2: 1/62; 5: 1/63. */
    CHECK_EQ_INT(out[0].id, 1);
    CHECK_EQ_INT(out[1].id, 3);
    CHECK_EQ_INT(out[2].id, 2);
    CHECK_EQ_INT(out[3].id, 5);
    CHECK(near(out[0].score, 1.0 / 61 + 1.0 / 62));
    CHECK(near(out[3].score, 1.0 / 63));
    free(out);
    /* A small constant and a heavy second list: list b's order wins. */
    double w[] = {1, 3};
    ken_fuse_opts o = {.method = KEN_FUSE_RRF, .rrf_k = 1, .weights = w};
    REQUIRE(ken_fuse(lists, lens, 2, &o, &out, &n, &err) == KEN_OK);
    CHECK_EQ_INT(out[0].id, 3);   /* 1/4 + 3/2 */
    CHECK_EQ_INT(out[1].id, 1);   /* 1/2 + 3/3 */
    CHECK_EQ_INT(out[2].id, 5);   /* 3/4 */
    CHECK_EQ_INT(out[3].id, 2);   /* 1/3 */
    CHECK(near(out[0].score, 0.25 + 1.5));
    free(out);
}

static void weighted_known(void) {
    ken_fuse_item a[] = {{1, 10}, {2, 5}, {3, 0}};
    ken_fuse_item b[] = {{3, 0.9}, {4, 0.5}, {1, 0.1}};
    const ken_fuse_item *lists[] = {a, b};
    size_t lens[] = {3, 3};
    ken_fuse_item *out = NULL;
    size_t n = 0;
    ken_err err = {{0}};
    ken_fuse_opts o = {.method = KEN_FUSE_WEIGHTED};
    REQUIRE(ken_fuse(lists, lens, 2, &o, &out, &n, &err) == KEN_OK);
    REQUIRE(n == 4);
    /* norms: a 1, .5, 0; b 1, .5, 0 -> 1: 1, 3: 1, 2: .5, 4: .5 (ties by id) */
    CHECK_EQ_INT(out[0].id, 1);
    CHECK_EQ_INT(out[1].id, 3);
    CHECK_EQ_INT(out[2].id, 2);
    CHECK_EQ_INT(out[3].id, 4);
    CHECK(near(out[0].score, 1.0) && near(out[2].score, 0.5));
    free(out);
    double w[] = {0.3, 0.7};
    o.weights = w;
    REQUIRE(ken_fuse(lists, lens, 2, &o, &out, &n, &err) == KEN_OK);
    CHECK_EQ_INT(out[0].id, 3);   /* .7 */
    CHECK_EQ_INT(out[1].id, 4);   /* .35 */
    CHECK_EQ_INT(out[2].id, 1);   /* .3 */
    CHECK_EQ_INT(out[3].id, 2);   /* .15 */
    CHECK(near(out[1].score, 0.35));
    free(out);
}

static void edges(void) {
    ken_err err = {{0}};
    ken_fuse_item *out = NULL;
    size_t n = 9;
    /* No lists, empty lists. */
    CHECK(ken_fuse(NULL, NULL, 0, NULL, &out, &n, &err) == KEN_OK && n == 0);
    free(out);
    ken_fuse_item one[] = {{7, 3.0}, {7, 99.0}};   /* a repeat is ignored */
    ken_fuse_item none[1];
    const ken_fuse_item *lists[] = {one, none};
    size_t lens[] = {2, 0};
    ken_fuse_opts o = {.method = KEN_FUSE_WEIGHTED};
    REQUIRE(ken_fuse(lists, lens, 2, &o, &out, &n, &err) == KEN_OK);
    CHECK_EQ_INT(n, 1);
    CHECK(n == 1 && out[0].id == 7 && near(out[0].score, 1.0));   /* lone list: norm 1 */
    free(out);
    o.method = KEN_FUSE_RRF;
    REQUIRE(ken_fuse(lists, lens, 2, &o, &out, &n, &err) == KEN_OK);
    CHECK(n == 1 && near(out[0].score, 1.0 / 61));                  /* counted once */
    free(out);
    /* Non-finite scores count as the lowest. */
    ken_fuse_item nan_list[] = {{1, NAN}, {2, 1.0}, {3, 0.0}};
    const ken_fuse_item *l2[] = {nan_list};
    size_t len2[] = {3};
    o.method = KEN_FUSE_WEIGHTED;
    REQUIRE(ken_fuse(l2, len2, 1, &o, &out, &n, &err) == KEN_OK);
    /* 2: 1; then 1 (NaN) and 3 both 0, the smaller id first */
    CHECK(n == 3 && out[0].id == 2 && out[1].id == 1 && near(out[1].score, 0));
    free(out);
    /* Bad options. */
    double bad[] = {1, -1};
    o.weights = bad;
    CHECK(ken_fuse(lists, lens, 2, &o, &out, &n, &err) == KEN_ERR_INVALID);
    CHECK(strstr(err.msg, "weights") != NULL);
    double inf[] = {1, INFINITY};
    o.weights = inf;
    CHECK(ken_fuse(lists, lens, 2, &o, &out, &n, &err) == KEN_ERR_INVALID);
    o.weights = NULL;
    o.rrf_k = NAN;
    CHECK(ken_fuse(lists, lens, 2, &o, &out, &n, &err) == KEN_ERR_INVALID);
    o.rrf_k = 0;
    o.method = (ken_fuse_method)7;
    CHECK(ken_fuse(lists, lens, 2, &o, &out, &n, &err) == KEN_ERR_INVALID);
    const ken_fuse_item *many[KEN_FUSE_LISTS_MAX + 1] = {0};
    size_t many_lens[KEN_FUSE_LISTS_MAX + 1] = {0};
    CHECK(ken_fuse(many, many_lens, KEN_FUSE_LISTS_MAX + 1, NULL, &out, &n, &err) ==
          KEN_ERR_INVALID);
    ken_fuse_method m;
    CHECK(ken_fuse_method_parse("rrf", &m) && m == KEN_FUSE_RRF);
    CHECK(ken_fuse_method_parse("weighted", &m) && m == KEN_FUSE_WEIGHTED);
    CHECK(!ken_fuse_method_parse("RRF ", &m) && !ken_fuse_method_parse(NULL, &m));
}

static void add_hit(ken_retrieve_hits *h, int64_t chunk, int64_t doc, double score,
                    const char *snippet) {
    ken_retrieve_hit *x = &h->v[h->n++];
    memset(x, 0, sizeof *x);
    char buf[32];
    snprintf(buf, sizeof buf, "chunk %lld", (long long)chunk);
    x->chunk_id = chunk;
    x->doc_id = doc;
    x->score = score;
    x->uri = ken_strdup(buf);
    x->text = ken_strdup(buf);
    x->text_len = strlen(buf);
    x->snippet = snippet ? ken_strdup(snippet) : NULL;
}

static void hits_fuse(void) {
    ken_err err = {{0}};
    for (int by_doc = 0; by_doc < 2; by_doc++) {
        ken_retrieve_hits a = {0}, b = {0}, out = {0};
        a.v = calloc(4, sizeof *a.v);
        b.v = calloc(4, sizeof *b.v);
        REQUIRE(a.v && b.v);
        REQUIRE(ken_retrieve_query_parse("alpha beta", 10, &a.query, &err) == KEN_OK);
        /* bm25: chunks 10, 11 (doc 1), 20 (doc 2); dense: 30 (doc 3), 20, 12 (doc 1) */
        add_hit(&a, 10, 1, 5.0, "**alpha**");
        add_hit(&a, 20, 2, 4.0, "**beta**");
        add_hit(&a, 11, 1, 3.0, NULL);
        add_hit(&b, 30, 3, 0.9, NULL);
        add_hit(&b, 20, 2, 0.8, NULL);
        add_hit(&b, 12, 1, 0.7, NULL);
        if (by_doc) { /* document-level lists hold one hit per document */
            ken_retrieve_hit drop = a.v[2];
            free(drop.uri); free(drop.text); free(drop.snippet);
            a.n = 2;
        }
        REQUIRE(ken_fuse_hits(&a, &b, NULL, 3, by_doc, &out, &err) == KEN_OK);
        CHECK_EQ_INT(a.n, 0);
        CHECK_EQ_INT(b.n, 0);
        CHECK_EQ_INT(out.n, 3);
        CHECK_EQ_INT(out.query.n, 2);
        if (!by_doc) {
            /* 20: 1/62 + 1/62; 10: 1/61; 30: 1/61 (10 < 30 first); 11, 12 cut by k */
            CHECK_EQ_INT(out.v[0].chunk_id, 20);
            CHECK_EQ_STR(out.v[0].snippet, "**beta**");   /* BM25's record kept */
            CHECK_EQ_INT(out.v[1].chunk_id, 10);
            CHECK_EQ_INT(out.v[2].chunk_id, 30);
        } else {
            /* docs: 1: 1/61 + 1/63; 2: 2/62; 3: 1/61 */
            CHECK_EQ_INT(out.v[0].doc_id, 1);
            CHECK_EQ_INT(out.v[0].chunk_id, 10);
            CHECK_EQ_INT(out.v[1].doc_id, 2);
            CHECK_EQ_INT(out.v[2].doc_id, 3);
        }
        CHECK(out.v[0].score > out.v[1].score);
        ken_retrieve_hits_free(&a);
        ken_retrieve_hits_free(&b);
        /* Re-rank: reverse the order and keep two. */
        float s[] = {0.1f, 0.5f, 2.0f};
        int64_t last = out.v[2].chunk_id, mid = out.v[1].chunk_id;
        REQUIRE(ken_fuse_reorder(&out, s, 3, 2) == KEN_OK);
        CHECK_EQ_INT(out.n, 2);
        CHECK_EQ_INT(out.v[0].chunk_id, last);
        CHECK_EQ_INT(out.v[1].chunk_id, mid);
        CHECK(near(out.v[0].score, 2.0));
        CHECK(ken_fuse_reorder(&out, s, 3, 0) == KEN_ERR_INVALID);   /* n > hits */
        ken_retrieve_hits_free(&out);
    }
}

static void reorder_partial(void) {
    ken_retrieve_hits h = {0};
    h.v = calloc(4, sizeof *h.v);
    REQUIRE(h.v);
    add_hit(&h, 1, 1, 0, NULL);
    add_hit(&h, 2, 2, 0, NULL);
    add_hit(&h, 3, 3, 0, NULL);
    add_hit(&h, 4, 4, 0, NULL);
    float s[] = {1.0f, NAN, 3.0f};   /* the fourth is not re-scored: stays last */
    REQUIRE(ken_fuse_reorder(&h, s, 3, 0) == KEN_OK);
    CHECK_EQ_INT(h.n, 4);
    CHECK(h.v[0].chunk_id == 3 && h.v[1].chunk_id == 1 && h.v[2].chunk_id == 2 &&
          h.v[3].chunk_id == 4);
    ken_retrieve_hits_free(&h);
}

TEST_MAIN(rrf_known, weighted_known, edges, hits_fuse, reorder_partial)
