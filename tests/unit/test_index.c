/* test_index.c: the HNSW index: kernels vs their references, recall against
 * exact search for each metric, deletes, filters and bad input. */
#include "test.h"
#include "test_index_util.h"
#include "index/hnsw_int.h"

#include <time.h>

#define N 5000
#define DIM 64
#define NQ 100

static void test_kernels(void) {
    tix_rng = 7;
    int8_t a[512 + 32], b[512 + 32];
    float fa[517], fb[517];
    ken_hnsw_dot_i8_fn ks[8];
    fprintf(stderr, "int8 kernels on this CPU: %zu (ref included)\n", ken_hnsw_dot_i8_kernels(ks, 8));
    for (int t = 0; t < 20; t++) {
        size_t n = 32 * (size_t)(1 + t % 16);
        for (size_t i = 0; i < n; i++) {
            a[i] = (int8_t)(tix_unif() * 255 - 127);
            b[i] = (int8_t)(tix_unif() * 255 - 127);
        }
        a[0] = 127; b[0] = -127; a[1] = -127; b[1] = -127;
        ken_hnsw_dot_i8_fn k[8];
        size_t nk = ken_hnsw_dot_i8_kernels(k, 8);
        CHECK(nk >= 1 && k[0] == ken_hnsw_dot_i8_ref);
        for (size_t j = 1; j < nk; j++)
            CHECKF(k[j](a, b, n) == ken_hnsw_dot_i8_ref(a, b, n), "kernel %zu, n %zu", j, n);
        CHECK_EQ_INT(ken_hnsw_dot_i8(a, b, n), ken_hnsw_dot_i8_ref(a, b, n));
        size_t m = 1 + (size_t)t * 27 % 517;
        for (size_t i = 0; i < m; i++) { fa[i] = tix_gauss(); fb[i] = tix_gauss(); }
        float d = ken_hnsw_dot_f32(fa, fb, m), dr = ken_hnsw_dot_f32_ref(fa, fb, m);
        float l = ken_hnsw_l2_f32(fa, fb, m), lr = ken_hnsw_l2_f32_ref(fa, fb, m);
        CHECKF(fabsf(d - dr) <= 1e-4f * (1 + fabsf(dr)), "dot %g vs %g (n=%zu)", d, dr, m);
        CHECKF(fabsf(l - lr) <= 1e-4f * (1 + fabsf(lr)), "l2 %g vs %g (n=%zu)", l, lr, m);
    }
    /* Quantization: within half a step, and -128 never appears. */
    float x[70];
    int8_t q[96];
    for (int i = 0; i < 70; i++) x[i] = tix_gauss();
    float s = ken_hnsw_quantize(x, 70, 96, q);
    for (int i = 0; i < 70; i++) {
        CHECK(q[i] != -128);
        CHECKF(fabsf(q[i] * s - x[i]) <= 0.5001f * s, "q %d", i);
    }
    for (int i = 70; i < 96; i++) CHECK_EQ_INT(q[i], 0);
}

/* n: 5000 for one metric (the brief's size), fewer for the others to keep
 * the test short under sanitizers. */
static void check_recall(ken_hnsw_metric m, bool normalize, size_t n) {
    float *x = tix_data(n + NQ, DIM, 40, 1.0f, normalize, 11 + (uint64_t)m);
    double t0 = ken_now();
    ken_hnsw *h = tix_build(x, n, DIM, m, 1);
    REQUIRE(h);
    const float *q = x + n * DIM;
    double r64 = tix_recall(h, q, NQ, 10, 64, NULL);
    double r16 = tix_recall(h, q, NQ, 10, 16, NULL);
    fprintf(stderr, "metric %d: recall@10 ef16 %.3f ef64 %.3f (%.2fs)\n", (int)m, r16, r64,
            ken_now() - t0);
    CHECKF(r64 >= 0.95, "metric %d recall %.3f", (int)m, r64);
    CHECK(r64 >= r16);
    /* Re-scoring every candidate or only k of them: still a valid answer. */
    ken_hnsw_search_opts all = {.rescore = 64}, few = {.rescore = 10};
    double ra = tix_recall(h, q, NQ, 10, 64, &all), rf = tix_recall(h, q, NQ, 10, 64, &few);
    CHECKF(ra >= 0.95 && rf >= 0.9, "rescore all %.3f, k only %.3f", ra, rf);
    /* Scores: exact, best first, in the metric's sense. */
    ken_hnsw_hit hits[10];
    size_t nh = 0;
    CHECK_EQ_INT(ken_hnsw_search(h, q, 10, NULL, hits, &nh, NULL), KEN_OK);
    CHECK_EQ_INT(nh, 10);
    for (size_t i = 1; i < nh; i++) CHECK(hits[i - 1].score >= hits[i].score);
    const float *v = x + (hits[0].id - 1000) * DIM;
    float want = m == KEN_HNSW_L2 ? -ken_hnsw_l2_f32_ref(q, v, DIM) : ken_hnsw_dot_f32_ref(q, v, DIM);
    if (m == KEN_HNSW_COSINE) {
        want /= sqrtf(ken_hnsw_dot_f32_ref(q, q, DIM) * ken_hnsw_dot_f32_ref(v, v, DIM));
    }
    CHECKF(fabsf(hits[0].score - want) < 1e-3f * (1 + fabsf(want)), "score %g want %g",
           hits[0].score, want);
    ken_hnsw_free(h);
    free(x);
}

static void test_recall_ip(void) { check_recall(KEN_HNSW_IP, true, N); }
static void test_recall_cosine(void) { check_recall(KEN_HNSW_COSINE, false, 2000); }
static void test_recall_l2(void) { check_recall(KEN_HNSW_L2, false, 2000); }

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
    o.filter_ud = m1000;   /* 5 matching items: all of them, not fewer */
    check_filtered(h, q, &o, 10, 5, 1000, 7);
    o.filter_ud = m2;
    check_filtered(h, q, &o, 10, 10, 2, 1);
    /* Allow-lists: a short one (exact path, with repeats and unknown ids)
     * and a long one (bitmap over the graph walk). */
    uint64_t *allow = malloc(N * sizeof *allow);
    size_t na = 0;
    for (uint64_t id = 1000; id < 1000 + N; id += 250) allow[na++] = id;   /* 20 ids, %10 == 0 */
    allow[na++] = 1000;
    allow[na++] = 77;
    ken_hnsw_search_opts oa = {.ef = 64, .allow_ids = allow, .n_allow = na};
    check_filtered(h, q, &oa, 20, 20, 10, 0);
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

static void test_bad_input(void) {
    ken_hnsw *h = NULL;
    ken_err e;
    ken_hnsw_opts o = {.dim = 0, .metric = KEN_HNSW_COSINE};
    CHECK_EQ_INT(ken_hnsw_new(&o, &h, &e), KEN_ERR_INVALID);
    o.dim = KEN_HNSW_DIM_MAX + 1;
    CHECK_EQ_INT(ken_hnsw_new(&o, &h, &e), KEN_ERR_INVALID);
    o.dim = 8;
    o.metric = (ken_hnsw_metric)7;
    CHECK_EQ_INT(ken_hnsw_new(&o, &h, &e), KEN_ERR_INVALID);
    o.metric = KEN_HNSW_COSINE;
    o.M = 1;
    CHECK_EQ_INT(ken_hnsw_new(&o, &h, &e), KEN_ERR_INVALID);
    o.M = 4;
    REQUIRE(ken_hnsw_new(&o, &h, &e) == KEN_OK);
    ken_hnsw_free(NULL);
    float v[8] = {1, 0, 0, 0, 0, 0, 0, 0}, z[8] = {0};
    ken_hnsw_hit hits[4];
    size_t nh = 9;
    CHECK_EQ_INT(ken_hnsw_search(h, v, 4, NULL, hits, &nh, &e), KEN_OK);   /* empty index */
    CHECK_EQ_INT(nh, 0);
    CHECK_EQ_INT(ken_hnsw_add(h, 1, z, &e), KEN_ERR_INVALID);
    CHECK(strstr(e.msg, "zero") != NULL);
    v[3] = NAN;
    CHECK_EQ_INT(ken_hnsw_add(h, 1, v, &e), KEN_ERR_INVALID);
    CHECK_EQ_INT(ken_hnsw_search(h, v, 4, NULL, hits, &nh, &e), KEN_ERR_INVALID);
    v[3] = 0;
    CHECK_EQ_INT(ken_hnsw_add(h, 1, v, &e), KEN_OK);
    CHECK_EQ_INT(ken_hnsw_search(h, v, KEN_HNSW_EF_MAX + 1, NULL, hits, &nh, &e), KEN_ERR_LIMIT);
    /* k larger than the index; a replaced id returns its new vector only. */
    float w[8] = {0, 1, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(ken_hnsw_add(h, 2, w, &e), KEN_OK);
    CHECK_EQ_INT(ken_hnsw_search(h, v, 4, NULL, hits, &nh, &e), KEN_OK);
    CHECK_EQ_INT(nh, 2);
    CHECK_EQ_INT(hits[0].id, 1);
    CHECK(fabsf(hits[0].score - 1) < 1e-6f);
    CHECK_EQ_INT(ken_hnsw_add(h, 1, w, &e), KEN_OK);   /* id 1 now points along w */
    CHECK_EQ_INT(ken_hnsw_search(h, v, 4, NULL, hits, &nh, &e), KEN_OK);
    CHECK_EQ_INT(nh, 2);
    CHECK(fabsf(hits[0].score) < 1e-6f && fabsf(hits[1].score) < 1e-6f);
    ken_hnsw_stats s;
    ken_hnsw_get_stats(h, &s);
    CHECK_EQ_INT(s.count, 2);
    CHECK_EQ_INT(s.deleted, 1);
    CHECK_EQ_INT(ken_hnsw_search(h, v, 0, NULL, hits, &nh, &e), KEN_OK);
    CHECK_EQ_INT(nh, 0);
    ken_hnsw_free(h);
}

TEST_MAIN(test_kernels, test_recall_ip, test_recall_cosine, test_recall_l2, test_delete,
          test_filter, test_bad_input)
