/* fuse.h: rank fusion and re-ordering of retrieval results (src/retrieve).
 *
 *   fuse.c   reciprocal rank fusion (RRF) and weighted combination of
 *            min-max normalized scores over any number of rankings; the
 *            same over ken_retrieve_hits lists (BM25 + dense), keyed by
 *            chunk or by document; re-ordering hits by re-ranker scores.
 *
 * The functions are pure (no store, no model): src/kb runs the retrievers
 * and the cross-encoder and hands their outputs here.
 * Ownership: *out arrays are malloc'd and freed by the caller (free());
 * fused hit lists are freed with ken_retrieve_hits_free. */
#ifndef KEN_RETRIEVE_FUSE_H
#define KEN_RETRIEVE_FUSE_H

#include "retrieve/retrieve.h"

#define KEN_FUSE_LISTS_MAX 8
#define KEN_FUSE_RRF_K_DEFAULT 60.0
#define KEN_FUSE_ITEMS_MAX 1000000       /* per list */

typedef enum { KEN_FUSE_RRF = 0, KEN_FUSE_WEIGHTED = 1 } ken_fuse_method;

/* One entry of a ranking: lists are best first; an id appears at most once
 * per list (later repeats are ignored). */
typedef struct {
    int64_t id;
    double score;
} ken_fuse_item;

typedef struct {
    ken_fuse_method method;
    double rrf_k;            /* RRF constant; 0: 60 */
    const double *weights;   /* one per list, >= 0; NULL: 1 each */
} ken_fuse_opts;

/* Fuses rankings into one, best first (ties: the smaller id first).
 *   RRF:      score(d) = sum_i w_i / (rrf_k + rank_i(d)), rank 1-based;
 *   WEIGHTED: score(d) = sum_i w_i * norm_i(d), norm_i = min-max of list i's
 *             scores in [0, 1] (a list whose scores are all equal gives 1),
 *             0 when d is not in list i.
 * *out (n_out items, the union of the lists) is malloc'd; KEN_ERR_INVALID
 * for bad options (too many lists, negative or non-finite weights, a
 * non-finite rrf_k), KEN_ERR_LIMIT for an over-long list. */
ken_status ken_fuse(const ken_fuse_item *const *lists, const size_t *lens, size_t n_lists,
                    const ken_fuse_opts *opts, ken_fuse_item **out, size_t *n_out,
                    ken_err *err);

/* Fuses two hit lists (e.g. BM25 and dense) into out, keeping at most k
 * hits (0: all), keyed by doc_id when by_doc else chunk_id. The hits are
 * moved out of a and b (both are left empty but must still be freed); out's
 * score is the fused score; a hit found in both keeps a's record (its
 * snippet). out->query is moved from a. */
ken_status ken_fuse_hits(ken_retrieve_hits *a, ken_retrieve_hits *b, const ken_fuse_opts *opts,
                         size_t k, bool by_doc, ken_retrieve_hits *out, ken_err *err);

/* Re-orders h->v[0..n) by scores[0..n) (higher first, stable for ties),
 * sets each hit's score to its re-ranker score, then keeps at most k
 * (0: all). n must be <= h->n; hits past n keep their order after them. */
ken_status ken_fuse_reorder(ken_retrieve_hits *h, const float *scores, size_t n, size_t k);

/* Parses "rrf" / "weighted" (case-sensitive); false when neither. */
bool ken_fuse_method_parse(const char *s, ken_fuse_method *out);

#endif
