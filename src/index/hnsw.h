/* hnsw.h: ken's approximate nearest-neighbour index (HNSW, Malkov & Yashunin).
 *
 * What it owns: a graph over F32 vectors identified by caller ids (uint64,
 * e.g. chunk ids). Traversal uses int8 copies of the vectors (per-vector
 * scale); the final candidates are re-scored with the exact F32 vectors, so
 * returned scores are exact. Who frees what: ken_hnsw_free releases the
 * handle; search results go into caller memory.
 *
 * Scores: higher is better. IP: the dot product; COSINE: cosine similarity
 * (vectors are normalized on insert; zero vectors are refused); L2: minus the
 * squared Euclidean distance.
 *
 * Threads: any number of concurrent searches; writers (add, remove, save)
 * take the handle's write lock, so they wait for searches and vice versa.
 * ken_hnsw_add_batch inserts with n_threads threads (per-node locks).
 *
 * Deletes are tombstones: a removed id is never returned, its node still
 * routes searches. When ken_hnsw_stats says many are deleted (say > 20%),
 * ken_hnsw_compact rebuilds the graph without them.
 *
 * Persistence: ken_hnsw_save writes a versioned, checksummed file atomically
 * (temp + rename); ken_hnsw_load refuses a missing, truncated, corrupt,
 * other-version or stale (generation mismatch) file with a clear status and
 * message, and the caller rebuilds from its store. */
#ifndef KEN_INDEX_HNSW_H
#define KEN_INDEX_HNSW_H

#include "base/base.h"

typedef enum { KEN_HNSW_IP = 0, KEN_HNSW_COSINE = 1, KEN_HNSW_L2 = 2 } ken_hnsw_metric;

#define KEN_HNSW_DIM_MAX 8192
#define KEN_HNSW_M_MAX 128
#define KEN_HNSW_COUNT_MAX (1u << 30)   /* nodes, including tombstones */
#define KEN_HNSW_EF_MAX 100000

typedef struct {
    uint32_t dim;              /* 1..KEN_HNSW_DIM_MAX */
    ken_hnsw_metric metric;
    uint32_t M;                /* links per node above level 0 (2M at level 0); 0 -> 16 */
    uint32_t ef_construction;  /* 0 -> 200 */
    uint64_t seed;             /* level generator; 0 -> a fixed default */
} ken_hnsw_opts;

typedef struct ken_hnsw ken_hnsw;

typedef struct {
    uint64_t id;
    float score;
} ken_hnsw_hit;

/* A filter: return true when id may be returned. Called from the searching
 * thread; must be thread-safe if searches run concurrently. */
typedef bool (*ken_hnsw_filter_fn)(uint64_t id, void *ud);

typedef struct {
    uint32_t ef;                  /* candidate list size; 0 -> 64; raised to k */
    uint32_t rescore;             /* best int8 candidates re-scored exactly; 0 -> max(2k, k + 16) */
    ken_hnsw_filter_fn filter;    /* optional predicate */
    void *filter_ud;
    const uint64_t *allow_ids;    /* optional allow-list (ids not in the index are ignored) */
    size_t n_allow;
} ken_hnsw_search_opts;

typedef struct {
    size_t count;          /* live vectors */
    size_t deleted;        /* tombstones */
    size_t memory_bytes;   /* heap held by the index */
    uint32_t max_level;
} ken_hnsw_stats;

typedef void (*ken_hnsw_progress_fn)(size_t done, size_t total, void *ud);

ken_status ken_hnsw_new(const ken_hnsw_opts *opts, ken_hnsw **out, ken_err *err);
void ken_hnsw_free(ken_hnsw *h);   /* NULL: no-op */

uint32_t ken_hnsw_dim(const ken_hnsw *h);
ken_hnsw_metric ken_hnsw_metric_of(const ken_hnsw *h);
void ken_hnsw_get_stats(ken_hnsw *h, ken_hnsw_stats *out);
bool ken_hnsw_contains(ken_hnsw *h, uint64_t id);

/* Inserts one vector (dim floats). An id already present is replaced (the old
 * node becomes a tombstone). Non-finite values -> KEN_ERR_INVALID. */
ken_status ken_hnsw_add(ken_hnsw *h, uint64_t id, const float *vec, ken_err *err);
/* Inserts n vectors (row-major n x dim) with n_threads threads (0 -> 1).
 * progress may be NULL; cancel (may be NULL) raised -> KEN_ERR_CANCELLED, the
 * vectors inserted so far stay searchable. */
ken_status ken_hnsw_add_batch(ken_hnsw *h, const uint64_t *ids, const float *vecs, size_t n,
                              int n_threads, ken_hnsw_progress_fn progress, void *progress_ud,
                              volatile int *cancel, ken_err *err);
/* Tombstones id; KEN_ERR_NOTFOUND if it is not (or no longer) present. */
ken_status ken_hnsw_remove(ken_hnsw *h, uint64_t id, ken_err *err);
/* Rebuilds the graph from the live vectors (drops tombstones). */
ken_status ken_hnsw_compact(ken_hnsw *h, int n_threads, ken_err *err);

/* The k best live ids that pass the filter and the allow-list (both when
 * given), best first, into out[0..k); *n_out is how many (fewer only when
 * fewer than k items match). opts may be NULL. Safe from many threads. */
ken_status ken_hnsw_search(ken_hnsw *h, const float *query, size_t k,
                           const ken_hnsw_search_opts *opts, ken_hnsw_hit *out,
                           size_t *n_out, ken_err *err);
/* Exact search over all live vectors (the reference for recall). */
ken_status ken_hnsw_search_exact(ken_hnsw *h, const float *query, size_t k,
                                 const ken_hnsw_search_opts *opts, ken_hnsw_hit *out,
                                 size_t *n_out, ken_err *err);

/* Copies the stored vector of a live id into out (dim floats; normalized
 * for COSINE); false when id is not present. */
bool ken_hnsw_get(ken_hnsw *h, uint64_t id, float *out);
/* The live ids (*ids malloc'd, *n of them), in node order. */
ken_status ken_hnsw_ids(ken_hnsw *h, uint64_t **ids, size_t *n, ken_err *err);

/* The generation stamped in an index file's header (read without checking
 * the rest: ken_hnsw_load still verifies everything). KEN_ERR_NOTFOUND,
 * KEN_ERR_IO, KEN_ERR_FORMAT (not an index), KEN_ERR_VERSION. */
ken_status ken_hnsw_file_generation(const char *path, uint64_t *generation, ken_err *err);

/* Writes the index to path atomically, stamped with generation (the caller's
 * fingerprint of the data it was built from, e.g. a store revision). */
ken_status ken_hnsw_save(ken_hnsw *h, const char *path, uint64_t generation, ken_err *err);
/* Loads an index. Refusals, each with a message in err:
 *   KEN_ERR_NOTFOUND  no such file
 *   KEN_ERR_FORMAT    not an index, truncated, checksum mismatch, bad contents
 *   KEN_ERR_VERSION   another format version, or stale: the file's generation
 *                     is not expected_generation
 *   KEN_ERR_INVALID   expected_dim (when non-zero) differs from the file's */
ken_status ken_hnsw_load(const char *path, uint64_t expected_generation, uint32_t expected_dim,
                         ken_hnsw **out, ken_err *err);

#endif
