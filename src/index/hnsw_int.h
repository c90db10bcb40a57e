/* hnsw_int.h: the index's internal layout, shared by hnsw.c (graph),
 * hnsw_dist.c (distance kernels) and hnsw_io.c (persistence). */
#ifndef KEN_INDEX_HNSW_INT_H
#define KEN_INDEX_HNSW_INT_H

#include "index/hnsw.h"

#include <pthread.h>

#define HNSW_LEVEL_MAX 31

/* Level-0 block of a node, one contiguous record so that a neighbour's links
 * and its int8 vector share cache lines:
 *   uint32 count | uint32 links[M0] | float scale | float norm2 | int8 q[dimq]
 * scale: x ~= q * scale; norm2: squared norm of the exact vector (for L2). */
typedef struct {
    float scale;
    float norm2;
} qhdr;

typedef struct visit_ctx visit_ctx;
typedef int32_t (*ken_hnsw_dot_i8_fn)(const int8_t *a, const int8_t *b, size_t n);

struct ken_hnsw {
    uint32_t dim, dimq;        /* dimq: dim rounded up to 64 (zero padded) */
    ken_hnsw_dot_i8_fn dot_i8; /* the best kernel for this CPU, chosen once */
    ken_hnsw_metric metric;
    uint32_t M, M0, ef_construction;
    double level_mult;
    uint64_t rng;

    size_t n, cap;             /* nodes (live + tombstones) and capacity */
    size_t n_deleted;
    size_t block_bytes;        /* level-0 block size */
    char *l0;                  /* cap blocks */
    float *vecs;               /* cap x dim exact vectors (normalized for COSINE) */
    uint64_t *ids;
    uint8_t *levels;
    uint8_t *deleted;
    uint32_t **upper;          /* per node: levels[i] x (1 + M) links, or NULL */
    pthread_mutex_t *node_locks;

    uint32_t entry;            /* valid when n_live_graph > 0 */
    int max_level;             /* -1: empty graph */
    pthread_mutex_t entry_lock;

    /* id -> node (open addressing, power-of-two size; a removed id keeps its
     * slot pointing at its tombstone, so the table never deletes). */
    uint64_t *map_keys;
    uint32_t *map_vals;
    size_t map_cap, map_used;

    pthread_rwlock_t rw;       /* searches: read; add/remove/save: write */
    pthread_mutex_t pool_lock; /* visited-set pool */
    visit_ctx *pool;
};

/* Per-search scratch: an epoch-tagged visited array and heaps. */
struct visit_ctx {
    visit_ctx *next;
    uint16_t *mark;            /* 16-bit tags: half the cache footprint of 32 */
    size_t mark_cap;
    uint16_t epoch;
    struct dn { float d; uint32_t id; } *cand, *res;
    size_t cand_cap, res_cap;
    int8_t *tmpq;              /* dimq: a quantized query */
    float *tmpf;               /* dim: a normalized query */
};

static inline uint32_t *node_links0(const ken_hnsw *h, uint32_t i) {
    return (uint32_t *)(h->l0 + (size_t)i * h->block_bytes);
}
static inline qhdr *node_qhdr(const ken_hnsw *h, uint32_t i) {
    return (qhdr *)(h->l0 + (size_t)i * h->block_bytes + 4u * (1u + h->M0));
}
static inline const int8_t *node_q(const ken_hnsw *h, uint32_t i) {
    return (const int8_t *)(h->l0 + (size_t)i * h->block_bytes + 4u * (1u + h->M0) + sizeof(qhdr));
}
static inline uint32_t *node_links(const ken_hnsw *h, uint32_t i, int level) {
    return level == 0 ? node_links0(h, i) : h->upper[i] + (size_t)(level - 1) * (1 + h->M);
}

/* hnsw_dist.c */
/* Quantized values lie in [-127, 127] (the kernels rely on it); n % 32 == 0. */
int32_t ken_hnsw_dot_i8(const int8_t *a, const int8_t *b, size_t n);
int32_t ken_hnsw_dot_i8_ref(const int8_t *a, const int8_t *b, size_t n);
/* Every int8 kernel this CPU can run (ref first), for the tests; returns the count. */
size_t ken_hnsw_dot_i8_kernels(ken_hnsw_dot_i8_fn *out, size_t cap);
ken_hnsw_dot_i8_fn ken_hnsw_dot_i8_best(void);
float ken_hnsw_dot_f32(const float *a, const float *b, size_t n);
float ken_hnsw_dot_f32_ref(const float *a, const float *b, size_t n);
float ken_hnsw_l2_f32(const float *a, const float *b, size_t n);
float ken_hnsw_l2_f32_ref(const float *a, const float *b, size_t n);
/* Quantizes x[0..dim) into q[0..dimq) (zero padded); returns the scale. */
float ken_hnsw_quantize(const float *x, uint32_t dim, uint32_t dimq, int8_t *q);

/* hnsw_io.c: the checksum of a whole index file (header with its checksum
 * field, at this offset, taken as zero; then the body), for the tests that
 * craft files whose checksum is right but whose contents are not. */
#define KEN_HNSW_FILE_CHECKSUM_OFFSET 80
#define KEN_HNSW_FILE_HEADER_BYTES 128
uint64_t ken_hnsw_file_checksum(const uint8_t *file, size_t len);

/* hnsw.c, for hnsw_io.c */
ken_status ken_hnsw_alloc(const ken_hnsw_opts *o, size_t cap, ken_hnsw **out, ken_err *err);
ken_status ken_hnsw_map_put(ken_hnsw *h, uint64_t id, uint32_t node);
void ken_hnsw_set_quant(ken_hnsw *h, uint32_t node);

#endif
