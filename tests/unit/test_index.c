/* test_index.c: the HNSW index: kernels vs their references, recall against
 * exact search for each metric, and bad input. Deletes and filters are in
 * test_index_ops.c. */
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

TEST_MAIN(test_kernels, test_recall_ip, test_recall_cosine, test_recall_l2, test_bad_input)
