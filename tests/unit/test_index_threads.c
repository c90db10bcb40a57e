/* test_index_threads.c: the index under threads: an N-thread build keeps
 * recall, concurrent searches give exactly the single-thread answers, a
 * writer can add while readers search, and a build can be cancelled. */
#include "test.h"
#include "test_index_util.h"

#include <pthread.h>

#define N 3000
#define DIM 64
#define NQ 100
#define K 10

static float *data;
static ken_hnsw *shared;
static uint64_t expect[NQ][K];
static volatile int writer_done;

static void test_parallel_build(void) {
    data = tix_data(N + NQ, DIM, 30, 1.0f, true, 21);
    const float *q = data + (size_t)N * DIM;
    ken_hnsw *h1 = tix_build(data, N, DIM, KEN_HNSW_IP, 1);
    ken_hnsw *h4 = tix_build(data, N, DIM, KEN_HNSW_IP, 4);
    REQUIRE(h1 && h4);
    ken_hnsw_stats s;
    ken_hnsw_get_stats(h4, &s);
    CHECK_EQ_INT(s.count, N);
    for (uint64_t id = 1000; id < 1000 + N; id += 97) CHECK(ken_hnsw_contains(h4, id));
    double r1 = tix_recall(h1, q, NQ, K, 32, NULL), r4 = tix_recall(h4, q, NQ, K, 32, NULL);
    double r4b = tix_recall(h4, q, NQ, K, 64, NULL);
    fprintf(stderr, "recall@10 ef32: 1 thread %.3f, 4 threads %.3f; ef64 4 threads %.3f\n", r1, r4, r4b);
    CHECK(r4b >= 0.95);
    CHECK(r4 >= r1 - 0.03);
    ken_hnsw_free(h1);
    shared = h4;
}

static void *reader(void *arg) {
    long bad = 0;
    const float *q = data + (size_t)N * DIM;
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < NQ; i++) {
            ken_hnsw_hit hits[K];
            size_t nh = 0;
            ken_hnsw_search_opts o = {.ef = 48};
            if (ken_hnsw_search(shared, q + i * DIM, K, &o, hits, &nh, NULL) || nh != K) { bad++; continue; }
            if (arg)   /* exact comparison only while nothing is being written */
                for (size_t j = 0; j < K; j++) bad += hits[j].id != expect[i][j];
            else
                for (size_t j = 0; j < K; j++) bad += hits[j].id < 1000;
        }
    return (void *)bad;
}

static void test_concurrent_search(void) {
    REQUIRE(shared);
    const float *q = data + (size_t)N * DIM;
    for (size_t i = 0; i < NQ; i++) {
        ken_hnsw_hit hits[K];
        size_t nh = 0;
        ken_hnsw_search_opts o = {.ef = 48};
        REQUIRE(ken_hnsw_search(shared, q + i * DIM, K, &o, hits, &nh, NULL) == KEN_OK && nh == K);
        for (size_t j = 0; j < K; j++) expect[i][j] = hits[j].id;
    }
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, reader, (void *)1);
    long bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    CHECK_EQ_INT(bad, 0);
}

static void *writer(void *arg) {
    (void)arg;
    float v[DIM];
    long bad = 0;
    for (uint64_t i = 0; i < 200; i++) {
        for (int j = 0; j < DIM; j++) v[j] = tix_gauss();
        bad += ken_hnsw_add(shared, 100000 + i, v, NULL) != KEN_OK;
        if (i % 3 == 0) bad += ken_hnsw_remove(shared, 1000 + i, NULL) != KEN_OK;
    }
    writer_done = 1;
    return (void *)bad;
}

static void test_search_while_writing(void) {
    REQUIRE(shared);
    pthread_t w, t[3];
    pthread_create(&w, NULL, writer, NULL);
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, reader, NULL);
    long bad = 0;
    void *r;
    pthread_join(w, &r);
    bad += (long)r;
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(writer_done);
    ken_hnsw_stats s;
    ken_hnsw_get_stats(shared, &s);
    CHECK_EQ_INT(s.count, N + 200 - 67);
    ken_hnsw_free(shared);
    shared = NULL;
}

static void raise_cancel(size_t done, size_t total, void *ud) {
    (void)total;
    if (done >= 1024) __atomic_store_n((volatile int *)ud, 1, __ATOMIC_RELAXED);
}

static void test_cancel(void) {
    ken_hnsw_opts o = {.dim = DIM, .metric = KEN_HNSW_IP, .M = 8, .ef_construction = 32};
    ken_hnsw *h = NULL;
    REQUIRE(ken_hnsw_new(&o, &h, NULL) == KEN_OK);
    uint64_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) ids[i] = i;
    volatile int cancel = 0;
    ken_err e;
    CHECK_EQ_INT(ken_hnsw_add_batch(h, ids, data, N, 2, raise_cancel, (void *)&cancel, &cancel, &e),
                 KEN_ERR_CANCELLED);
    ken_hnsw_stats s;
    ken_hnsw_get_stats(h, &s);
    CHECKF(s.count >= 1024 && s.count < N, "count %zu", s.count);
    CHECK(!ken_hnsw_contains(h, N - 1));
    CHECK(ken_hnsw_contains(h, 0));
    ken_hnsw_hit hits[K];
    size_t nh = 0;
    CHECK_EQ_INT(ken_hnsw_search(h, data, K, NULL, hits, &nh, NULL), KEN_OK);
    CHECK_EQ_INT(nh, K);
    for (size_t j = 0; j < nh; j++) CHECK(ken_hnsw_contains(h, hits[j].id));
    free(ids);
    ken_hnsw_free(h);
    free(data);
}

TEST_MAIN(test_parallel_build, test_concurrent_search, test_search_while_writing, test_cancel)
