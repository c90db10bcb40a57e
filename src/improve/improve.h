/* improve.h: retrieval evaluation. Reads BEIR test collections (queries.jsonl,
 * qrels.tsv), computes the standard ranking metrics with trec_eval's
 * definitions, writes TREC run files, and runs a whole evaluation through a
 * search callback (src/kb wires it to the retriever).
 *
 * Metric definitions (trec_eval 9.x, relevance level 1):
 *   ordering   a run is re-sorted as trec_eval does: score descending, ties by
 *              document id descending (strcmp), ranks in the input ignored;
 *              a document retrieved twice counts once (its first, best entry).
 *   nDCG@10    ndcg_cut.10: gain = judged grade (grades <= 0 and unjudged
 *              documents gain 0), discount log2(rank + 1) for 1-based rank;
 *              ideal DCG from all judged documents sorted by grade, cut at 10.
 *   Recall@100 recall_100: relevant (grade >= 1) in the top 100 / all relevant.
 *   MRR@10     1 / rank of the first relevant document within the top 10, else
 *              0 (BEIR's MRR@k; trec_eval's recip_rank has no cut).
 *   MAP@100    map_cut.100: sum of precision@r over relevant documents at
 *              ranks r <= 100, divided by the number of relevant documents.
 *   A query with judgments but no relevant document scores 0 everywhere.
 *   Means are over the queries that have judgments in the qrels (as
 *   trec_eval -c: a query with an empty run still counts, with 0).
 *
 * Ownership: every struct filled by a reader is freed by its _free call. */
#ifndef KEN_IMPROVE_H
#define KEN_IMPROVE_H

#include "base/base.h"

#define KEN_EVAL_LINE_BYTES_MAX ((size_t)1 << 20)   /* one JSONL / TSV line */
#define KEN_EVAL_FILE_BYTES_MAX ((size_t)1 << 31)
#define KEN_EVAL_QUERIES_MAX 1000000
#define KEN_EVAL_QRELS_MAX 50000000

typedef struct { char *id, *text; } ken_eval_query;
typedef struct { ken_eval_query *v; size_t n, cap; } ken_eval_queries;

typedef struct { char *qid, *docid; int grade; } ken_qrel;
/* Sorted by (qid, docid) after reading; a repeated pair keeps its highest grade. */
typedef struct { ken_qrel *v; size_t n, cap; } ken_qrels;

/* queries.jsonl: one JSON object per line with string fields "_id" and "text"
 * (other fields ignored; blank lines skipped). A malformed line is an error
 * naming the line. */
ken_status ken_eval_read_queries(const char *path, ken_eval_queries *out, ken_err *err);
ken_status ken_eval_parse_queries(const char *data, size_t len, ken_eval_queries *out,
                                  ken_err *err);
void ken_eval_queries_free(ken_eval_queries *q);

/* qrels.tsv: an optional header line "query-id corpus-id score", then
 * "qid<TAB>docid<TAB>grade" lines (tabs or spaces; the TREC 4-column form
 * "qid 0 docid grade" is accepted too). */
ken_status ken_eval_read_qrels(const char *path, ken_qrels *out, ken_err *err);
ken_status ken_eval_parse_qrels(const char *data, size_t len, ken_qrels *out, ken_err *err);
void ken_eval_qrels_free(ken_qrels *q);
/* The judgments of one query: a slice of q->v (n_out 0 when none). */
const ken_qrel *ken_eval_qrels_find(const ken_qrels *q, const char *qid, size_t *n_out);

/* One retrieved document of a run. */
typedef struct { const char *docid; double score; } ken_run_entry;

typedef struct {
    double ndcg10, recall100, mrr10, map100;
    int n_rel;         /* relevant judged documents (grade >= 1) */
    int n_ret;         /* distinct documents retrieved */
} ken_eval_metrics;

/* Sorts run in place into trec_eval order (see above). */
void ken_eval_sort_run(ken_run_entry *run, size_t n);
/* Metrics of one query: judged = its qrels slice (any order). Sorts run. */
ken_status ken_eval_query_metrics(const ken_qrel *judged, size_t n_judged,
                                  ken_run_entry *run, size_t n, ken_eval_metrics *out);

/* Appends TREC run lines "qid Q0 docid rank score tag" for a sorted run. */
ken_status ken_eval_trec_lines(ken_buf *out, const char *qid, const ken_run_entry *run,
                               size_t n, const char *tag);

/* ------------------------------------------------------------ harness */

/* Searches one query; fills *run (entries owned by the callee until the next
 * call or the end of the evaluation). */
typedef ken_status (*ken_eval_search_fn)(void *ud, const char *query, size_t k,
                                         ken_run_entry **run, size_t *n);

typedef struct {
    size_t k;                  /* documents retrieved per query; 0: 100 */
    ken_buf *trec_out;         /* when set, the run in TREC format is appended */
    const char *tag;           /* run tag; NULL: "ken" */
    volatile int *cancel;
} ken_eval_opts;

typedef struct {
    ken_eval_metrics mean;     /* n_rel/n_ret: sums */
    size_t n_queries;          /* queries evaluated (those with judgments) */
    size_t n_skipped;          /* queries without any judgment */
    double seconds;
} ken_eval_result;

/* Per-query results go to fn when set (non-zero return stops). */
typedef int (*ken_eval_query_fn)(void *ud, const char *qid, const ken_eval_metrics *m);

ken_status ken_eval_run(const ken_eval_queries *queries, const ken_qrels *qrels,
                        ken_eval_search_fn search, void *search_ud, const ken_eval_opts *opts,
                        ken_eval_query_fn per_query, void *pq_ud, ken_eval_result *out,
                        ken_err *err);

#endif
