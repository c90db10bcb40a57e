/* test_index_util.h: data and recall helpers shared by the index tests. */
#ifndef KEN_TEST_INDEX_UTIL_H
#define KEN_TEST_INDEX_UTIL_H
#include "index/hnsw.h"

#include <math.h>
#include <stdlib.h>

static uint64_t tix_rng = 1;
static inline double tix_unif(void) {
    tix_rng ^= tix_rng << 13; tix_rng ^= tix_rng >> 7; tix_rng ^= tix_rng << 17;
    return ((double)(tix_rng >> 11) + 0.5) * 0x1.0p-53;
}
static inline float tix_gauss(void) {
    return (float)(sqrt(-2.0 * log(tix_unif())) * cos(6.283185307179586 * tix_unif()));
}

/* n x dim points around n_clusters Gaussian centres (noise sigma relative to
 * the centres' unit spread), optionally normalized: a crude stand-in for
 * embeddings, which cluster by topic. */
static inline float *tix_data(size_t n, uint32_t dim, int n_clusters, float sigma, bool normalize,
                              uint64_t seed) {
    tix_rng = seed * 2654435761u + 1;
    float *c = malloc((size_t)n_clusters * dim * sizeof *c);
    float *x = malloc(n * dim * sizeof *x);
    for (size_t i = 0; i < (size_t)n_clusters * dim; i++) c[i] = tix_gauss();
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(tix_unif() * n_clusters);
        double n2 = 0;
        for (uint32_t j = 0; j < dim; j++) {
            float v = c[k * dim + j] + sigma * tix_gauss();
            x[i * dim + j] = v;
            n2 += (double)v * v;
        }
        if (normalize)
            for (uint32_t j = 0; j < dim; j++) x[i * dim + j] /= (float)sqrt(n2);
    }
    free(c);
    return x;
}

/* Mean recall@k of ken_hnsw_search against ken_hnsw_search_exact. */
static inline double tix_recall(ken_hnsw *h, const float *q, size_t nq, size_t k, uint32_t ef,
                                const ken_hnsw_search_opts *base) {
    ken_hnsw_search_opts o = base ? *base : (ken_hnsw_search_opts){0};
    o.ef = ef;
    ken_hnsw_hit a[64], b[64];
    size_t hit = 0, tot = 0;
    uint32_t dim = ken_hnsw_dim(h);
    for (size_t i = 0; i < nq; i++) {
        size_t na = 0, nb = 0;
        if (ken_hnsw_search(h, q + i * dim, k, &o, a, &na, NULL) ||
            ken_hnsw_search_exact(h, q + i * dim, k, &o, b, &nb, NULL))
            return -1;
        for (size_t x = 0; x < nb; x++)
            for (size_t y = 0; y < na; y++)
                if (a[y].id == b[x].id) { hit++; break; }
        tot += nb;
    }
    return tot ? (double)hit / (double)tot : 1.0;
}

static inline ken_hnsw *tix_build(const float *x, size_t n, uint32_t dim, ken_hnsw_metric m,
                                  int threads) {
    ken_hnsw_opts o = {.dim = dim, .metric = m, .M = 16, .ef_construction = 64};
    ken_hnsw *h = NULL;
    if (ken_hnsw_new(&o, &h, NULL)) return NULL;
    uint64_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = 1000 + i;
    ken_status st = ken_hnsw_add_batch(h, ids, x, n, threads, NULL, NULL, NULL, NULL);
    free(ids);
    if (st) { ken_hnsw_free(h); return NULL; }
    return h;
}
#endif
