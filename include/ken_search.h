/* ken_search.h: search, extractive answers and retrieval evaluation over a
 * knowledge base (the public API of src/retrieve and src/improve, wired in
 * src/kb/search.c). Conventions are those of ken.h: options structs start
 * with `size`, results are opaque handles freed by their _free call (NULL is
 * a no-op), and strings from a handle live as long as the handle.
 *
 * Ranking is Lucene-style BM25 over chunks (title + heading + text), with
 * k1/b from the options, else the store's config keys "bm25.k1"/"bm25.b",
 * else 0.9/0.4. The user's query text is never handed to the FTS5 query
 * parser: any string gives results or an empty list (a query longer than
 * 64 KiB is KEN_ERR_INVALID). */
#ifndef KEN_SEARCH_H
#define KEN_SEARCH_H

#include "ken.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ search */

typedef struct {
    uint32_t size;
    uint32_t k;                /* results; 0: 10; at most 10000 */
    const char *collection;    /* filters; NULL: any */
    const char *uri_prefix;
    const char *mime;
    const char *meta_field;    /* metadata field (nested names joined by '.') ... */
    const char *meta_value;    /* ... equal to this value (compared as text) */
    int docs;                  /* document-level: the best chunk per document */
    int prf;                   /* RM3 pseudo-relevance feedback */
    int no_snippet;
    double k1, b;              /* BM25; 0: the store's config or the defaults */
    /* Dense and hybrid retrieval (see ken_kb_embed). Unset fields come from
     * the store's config (search.mode, search.fusion, search.weight_bm25,
     * search.weight_dense, search.rerank, rerank.model, rerank.top_n), else
     * the defaults: bm25, rrf, weights 1, no re-ranking, top 50. When dense
     * retrieval is not possible (no model, its file gone or changed, another
     * dimension, no vectors yet) the search falls back to BM25 and says so
     * in ken_results_notice. */
    const char *mode;          /* "bm25", "dense" or "hybrid" */
    const char *fusion;        /* "rrf" (reciprocal rank fusion) or "weighted" */
    double w_bm25, w_dense;    /* fusion weights (> 0; RRF weights the ranks) */
    int rerank;                /* 1: re-rank with a cross-encoder; -1: never; 0: config */
    const char *rerank_model;  /* GGUF cross-encoder; NULL: config rerank.model */
    uint32_t rerank_top;       /* fused candidates re-ranked; 0: config or 50 (<= 1000) */
} ken_search_opts;

typedef struct {
    int64_t chunk_id, doc_id;
    const char *ext_id;        /* external id (JSON "_id") or NULL */
    const char *uri, *title, *heading, *collection, *mime;
    int32_t page;              /* 1-based PDF page, 0 when not paged */
    int32_t ordinal;           /* chunk number in its document */
    int64_t start, end;        /* byte span of the chunk in the document text */
    double score;              /* higher is better: BM25, cosine (dense), the fused
                                  score (hybrid) or the re-ranker's score */
    const char *snippet;       /* matched terms marked **like this**; NULL if disabled */
    const char *text; size_t text_len;   /* the chunk text */
} ken_result;

typedef struct ken_results ken_results;

ken_status ken_search(ken_kb *kb, const char *query, const ken_search_opts *opts,
                      ken_results **out);
size_t ken_results_count(const ken_results *r);
const ken_result *ken_results_get(const ken_results *r, size_t i);
/* The terms searched (after stop words and feedback) and their weights. */
size_t ken_results_terms(const ken_results *r);
const char *ken_results_term(const ken_results *r, size_t i, double *weight);
/* The BM25 parameters used and the time taken. */
void ken_results_params(const ken_results *r, double *k1, double *b, double *seconds);
void ken_results_free(ken_results *r);
/* The retrieval actually used: "bm25", "dense" or "hybrid", and whether
 * the results were re-ranked. */
const char *ken_results_mode(const ken_results *r);
int ken_results_reranked(const ken_results *r);
/* Why the search did less than asked (a fallback to BM25, an index rebuilt,
 * chunks not embedded yet), or NULL. */
const char *ken_results_notice(const ken_results *r);

/* Sets the store's BM25 parameters (config keys bm25.k1, bm25.b). */
ken_status ken_search_set_bm25(ken_kb *kb, double k1, double b);

/* ------------------------------------------------------------ ask */

typedef struct {
    uint32_t size;
    uint32_t k;                /* chunks read; 0: 8 */
    uint32_t max_sentences;    /* 0: 3 */
    double min_score;          /* "nothing relevant" threshold (see ken_answer_found);
                                  0: the calibrated default; < 0: always answer */
    const char *collection;
    const char *mode;          /* retrieval as in ken_search_opts.mode; NULL: the
                                  store's search.mode (and search.rerank), else bm25 */
} ken_ask_opts;

typedef struct {
    int n;                     /* the citation number in the answer text: [n] */
    int64_t doc_id, chunk_id;
    const char *ext_id, *uri, *title, *heading;
    int32_t page;
    int64_t start, end;        /* byte span of the sentence in the document text:
                                  text[start..end) is `sentence` verbatim */
    const char *sentence;
    double score;
} ken_citation;

typedef struct ken_answer ken_answer;

/* An extractive answer: sentences of the best passages with [n] citations. */
ken_status ken_ask(ken_kb *kb, const char *question, const ken_ask_opts *opts,
                   ken_answer **out);
/* 0 when nothing relevant was found (the text then says so). */
int ken_answer_found(const ken_answer *a);
const char *ken_answer_text(const ken_answer *a);
/* The share of the question's idf-weighted terms in the best sentence. */
double ken_answer_score(const ken_answer *a);
size_t ken_answer_citations(const ken_answer *a);
const ken_citation *ken_answer_citation(const ken_answer *a, size_t i);
void ken_answer_free(ken_answer *a);

/* ------------------------------------------------------------ eval */

typedef struct {
    uint32_t size;
    uint32_t k;                /* documents per query; 0: 100 */
    const char *run_path;      /* write a TREC run file here; NULL: none */
    const char *run_tag;       /* NULL: "ken" */
    const char *collection;
    int prf;
    double k1, b;              /* 0: the store's config or the defaults */
    /* Per-query metrics when set; non-zero return stops. */
    int (*per_query)(void *ud, const char *qid, double ndcg10, double recall100,
                     double mrr10, double map100);
    void *per_query_ud;
    volatile int *cancel;
    /* Retrieval as in ken_search_opts (NULL / 0: the store's config). */
    const char *mode, *fusion;
    double w_bm25, w_dense;
    int rerank;
    const char *rerank_model;
    uint32_t rerank_top;
} ken_eval_retrieval_opts;

typedef struct {
    double ndcg10, recall100, mrr10, map100;   /* means over judged queries */
    uint64_t queries;          /* queries evaluated (with judgments) */
    uint64_t skipped;          /* queries without judgments */
    double k1, b;
    double seconds;
    char mode[16];             /* retrieval used by the first query ("bm25", ...) */
    int reranked;
    char notice[256];          /* the first query's notice (a fallback), or "" */
} ken_eval_retrieval_report;

/* Evaluates document-level retrieval (BM25, dense or hybrid, see
 * ken_search_opts) on a BEIR test collection whose corpus has
 * been added to the knowledge base (document ids = external ids, else uris).
 * Metrics follow trec_eval (see src/improve/improve.h). */
ken_status ken_eval_retrieval(ken_kb *kb, const char *queries_path, const char *qrels_path,
                              const ken_eval_retrieval_opts *opts,
                              ken_eval_retrieval_report *out);

#ifdef __cplusplus
}
#endif
#endif
