/* test_index_ops.c: the HNSW index's deletes (tombstones never returned,
 * recall after deleting 20%, compaction) and filtered search (predicates and
 * allow-lists that still return k matches when k exist). */
#include "test.h"
#include "test_index_util.h"

#define N 3000
#define DIM 64
#define NQ 100

static void test_delete(void) {
    float *x = tix_data(N + NQ, DIM, 40, 1.0f, true, 5);
    ken_hnsw *h = tix_build(x, N, DIM, KEN_HNSW_IP, 1);
    REQUIRE(h);
    ken_err e;
    for (size_t i = 0; i < N; i += 5) CHECK_EQ_INT(ken_hnsw_remove(h, 1000 + i, &e), KEN_OK);
    CHECK_EQ_INT(ken_hnsw_remove(h, 1000, &e), KEN_ERR_NOTFOUND);
    CHECK_EQ_INT(ken_hnsw_remove(h, 99, &e), KEN_ERR_NOTFOUND);
    CHECK(!ken_hnsw_contains(h, 1000));
    CHECK(ken_hnsw_contains(h, 1001));
    ken_hnsw_stats s;
    ken_hnsw_get_stats(h, &s);
    CHECK_EQ_INT(s.count, N - N / 5);
    CHECK_EQ_INT(s.deleted, N / 5);
    const float *q = x + (size_t)N * DIM;
    int bad = 0;
    for (size_t i = 0; i < NQ; i++) {
        ken_hnsw_hit hits[10];
        size_t nh = 0;
        ken_hnsw_search(h, q + i * DIM, 10, NULL, hits, &nh, NULL);
        CHECK_EQ_INT(nh, 10);
        for (size_t j = 0; j < nh; j++) bad += (hits[j].id - 1000) % 5 == 0;
    }
    CHECK_EQ_INT(bad, 0);
    double r = tix_recall(h, q, NQ, 10, 64, NULL);
    fprintf(stderr, "after deleting 20%%: recall@10 ef64 %.3f\n", r);
    CHECK(r >= 0.95);
    /* A deleted node's own vector: the nearest live ones come back, not it. */
    ken_hnsw_hit hits[3];
    size_t nh = 0;
    CHECK_EQ_INT(ken_hnsw_search(h, x + 5 * DIM, 3, NULL, hits, &nh, NULL), KEN_OK);
    for (size_t j = 0; j < nh; j++) CHECK(hits[j].id != 1005);
    /* Compaction drops the tombstones and keeps recall. */
    CHECK_EQ_INT(ken_hnsw_compact(h, 2, &e), KEN_OK);
    ken_hnsw_get_stats(h, &s);
    CHECK_EQ_INT(s.count, N - N / 5);
    CHECK_EQ_INT(s.deleted, 0);
    CHECK(!ken_hnsw_contains(h, 1005));
    CHECK(ken_hnsw_contains(h, 1006));
    r = tix_recall(h, q, NQ, 10, 64, NULL);
    fprintf(stderr, "after compaction: recall@10 ef64 %.3f\n", r);
    CHECK(r >= 0.95);
    /* Delete everything: searches return nothing. */
    for (size_t i = 0; i < N; i++) ken_hnsw_remove(h, 1000 + i, NULL);
    CHECK_EQ_INT(ken_hnsw_search(h, q, 10, NULL, hits, &nh, NULL), KEN_OK);
    CHECK_EQ_INT(nh, 0);
    ken_hnsw_free(h);
    free(x);
}

static bool mod_filter(uint64_t id, void *ud) {
    const uint64_t *m = ud;
    return id % m[0] == m[1];
}

static void check_filtered(ken_hnsw *h, const float *q, const ken_hnsw_search_opts *o, size_t k,
                           size_t want, uint64_t mod, uint64_t rem) {
    ken_hnsw_hit hits[20], ex[20];
    size_t nh = 0, ne = 0;
    CHECK_EQ_INT(ken_hnsw_search(h, q, k, o, hits, &nh, NULL), KEN_OK);
    CHECK_EQ_INT(ken_hnsw_search_exact(h, q, k, o, ex, &ne, NULL), KEN_OK);
    CHECK_EQ_INT(nh, want);
    CHECK_EQ_INT(ne, want);
    for (size_t j = 0; j < nh; j++) CHECKF(hits[j].id % mod == rem, "id %llu", (unsigned long long)hits[j].id);
}

static void test_filter(void) {
    float *x = tix_data(N + NQ, DIM, 40, 1.0f, true, 9);
    ken_hnsw *h = tix_build(x, N, DIM, KEN_HNSW_IP, 1);
    REQUIRE(h);
    const float *q = x + (size_t)N * DIM;
    uint64_t m10[2] = {10, 3}, m1000[2] = {1000, 7}, m2[2] = {2, 1};
    ken_hnsw_search_opts o = {.ef = 64, .filter = mod_filter, .filter_ud = m10};
    for (int i = 0; i < 10; i++) check_filtered(h, q + i * DIM, &o, 10, 10, 10, 3);
    double r = tix_recall(h, q, NQ, 10, 64, &o);
    fprintf(stderr, "filtered (10%%) recall@10 ef64 %.3f\n", r);
    CHECK(r >= 0.9);
    o.filter_ud = m1000;   /* 3 matching items (1007, 2007, 3007): all of them, not fewer */
    check_filtered(h, q, &o, 10, 3, 1000, 7);
    o.filter_ud = m2;
    check_filtered(h, q, &o, 10, 10, 2, 1);
    /* Allow-lists: a short one (exact path, with repeats and unknown ids)
     * and a long one (bitmap over the graph walk). */
    uint64_t *allow = malloc(N * sizeof *allow);
    size_t na = 0;
    for (uint64_t id = 1000; id < 1000 + N; id += 250) allow[na++] = id;   /* 12 ids, %10 == 0 */
    allow[na++] = 1000;
    allow[na++] = 77;
    ken_hnsw_search_opts oa = {.ef = 64, .allow_ids = allow, .n_allow = na};
    check_filtered(h, q, &oa, 20, 12, 10, 0);
    na = 0;
    for (uint64_t id = 1000; id < 1000 + N; id += 3) allow[na++] = id;
    oa.n_allow = na;
    check_filtered(h, q, &oa, 10, 10, 3, 1000 % 3);
    /* Both: allow-list and predicate must hold. */
    oa.filter = mod_filter;
    oa.filter_ud = m2;
    ken_hnsw_hit hits[10];
    size_t nh = 0;
    CHECK_EQ_INT(ken_hnsw_search(h, q, 10, &oa, hits, &nh, NULL), KEN_OK);
    CHECK_EQ_INT(nh, 10);
    for (size_t j = 0; j < nh; j++) CHECK(hits[j].id % 3 == 1000 % 3 && hits[j].id % 2 == 1);
    free(allow);
    ken_hnsw_free(h);
    free(x);
}

TEST_MAIN(test_delete, test_filter)
