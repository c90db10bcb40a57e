/* eval.c: the retrieval evaluation harness: every query with judgments is
 * searched through a callback, scored with the trec_eval metrics, optionally
 * written as a TREC run, and the means are returned. */
#include "improve/improve.h"

#include <string.h>

#define EVAL_K_MAX 10000

ken_status ken_eval_run(const ken_eval_queries *queries, const ken_qrels *qrels,
                        ken_eval_search_fn search, void *search_ud, const ken_eval_opts *opts,
                        ken_eval_query_fn per_query, void *pq_ud, ken_eval_result *out,
                        ken_err *err) {
    memset(out, 0, sizeof *out);
    size_t k = opts && opts->k ? opts->k : 100;
    if (k > EVAL_K_MAX)
        return ken_err_set(err, KEN_ERR_INVALID, "k = %zu is above the limit %d", k, EVAL_K_MAX);
    double t0 = ken_now();
    for (size_t i = 0; i < queries->n; i++) {
        if (opts && opts->cancel && *opts->cancel)
            return ken_err_set(err, KEN_ERR_CANCELLED, "evaluation cancelled");
        const ken_eval_query *q = &queries->v[i];
        size_t n_judged;
        const ken_qrel *judged = ken_eval_qrels_find(qrels, q->id, &n_judged);
        if (n_judged == 0) {
            out->n_skipped++;
            continue;
        }
        ken_run_entry *run = NULL;
        size_t n = 0;
        ken_status st = search(search_ud, q->text, k, &run, &n);
        if (st != KEN_OK) return st;   /* the callback set err */
        if (n > k) n = k;
        ken_eval_metrics m;
        if ((st = ken_eval_query_metrics(judged, n_judged, run, n, &m)) != KEN_OK)
            return ken_err_set(err, st, "out of memory");
        if (opts && opts->trec_out &&
            (st = ken_eval_trec_lines(opts->trec_out, q->id, run, n, opts->tag)) != KEN_OK)
            return ken_err_set(err, st, "cannot hold the run file");
        out->n_queries++;
        out->mean.ndcg10 += m.ndcg10;
        out->mean.recall100 += m.recall100;
        out->mean.mrr10 += m.mrr10;
        out->mean.map100 += m.map100;
        out->mean.n_rel += m.n_rel;
        out->mean.n_ret += m.n_ret;
        if (per_query && per_query(pq_ud, q->id, &m)) break;
    }
    if (out->n_queries) {
        double n = (double)out->n_queries;
        out->mean.ndcg10 /= n;
        out->mean.recall100 /= n;
        out->mean.mrr10 /= n;
        out->mean.map100 /= n;
    }
    out->seconds = ken_now() - t0;
    return KEN_OK;
}
