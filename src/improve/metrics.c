/* metrics.c: ranking metrics with trec_eval's definitions (see improve.h):
 * nDCG@10 with graded gains, Recall@100, MRR@10, MAP@100, and the
 * trec_eval ordering of a run (score descending, docid descending). */
#include "improve/improve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_run(const void *a, const void *b) {
    const ken_run_entry *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    /* trec_eval breaks ties by docno, descending. */
    return strcmp(y->docid, x->docid);
}

void ken_eval_sort_run(ken_run_entry *run, size_t n) {
    if (n > 1) qsort(run, n, sizeof *run, cmp_run);
}

static int cmp_int_desc(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

/* The grade of docid in the judged slice, or 0 when unjudged. */
static int grade_of(const ken_qrel *judged, size_t n_judged, const char *docid) {
    for (size_t i = 0; i < n_judged; i++)
        if (strcmp(judged[i].docid, docid) == 0) return judged[i].grade;
    return 0;
}

/* True when run[i]'s docid appeared earlier in the (sorted) run. */
static bool seen_before(const ken_run_entry *run, size_t i) {
    for (size_t j = 0; j < i; j++)
        if (strcmp(run[j].docid, run[i].docid) == 0) return true;
    return false;
}

static double ideal_dcg10(const ken_qrel *judged, size_t n_judged, ken_status *st) {
    int *g = malloc((n_judged ? n_judged : 1) * sizeof *g);
    if (!g) { *st = KEN_ERR_NOMEM; return 0; }
    for (size_t i = 0; i < n_judged; i++) g[i] = judged[i].grade;
    qsort(g, n_judged, sizeof *g, cmp_int_desc);
    double idcg = 0;
    for (size_t i = 0; i < n_judged && i < 10; i++)
        if (g[i] > 0) idcg += g[i] / log2((double)i + 2.0);
    free(g);
    return idcg;
}

ken_status ken_eval_query_metrics(const ken_qrel *judged, size_t n_judged,
                                  ken_run_entry *run, size_t n, ken_eval_metrics *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n_judged; i++)
        if (judged[i].grade >= 1) out->n_rel++;
    ken_eval_sort_run(run, n);
    ken_status st = KEN_OK;
    double idcg = ideal_dcg10(judged, n_judged, &st);
    if (st != KEN_OK) return st;

    /* Duplicate run entries are skipped: ranks count distinct documents
     * (for long runs this is quadratic; runs are capped by the caller). */
    double dcg = 0, sum_prec = 0;
    int rank = 0, rel_found = 0, rel_100 = 0;
    for (size_t i = 0; i < n; i++) {
        if (seen_before(run, i)) continue;
        rank++;
        int g = grade_of(judged, n_judged, run[i].docid);
        if (rank <= 10 && g > 0) dcg += g / log2((double)rank + 1.0);
        if (g >= 1) {
            rel_found++;
            if (rank <= 10 && out->mrr10 == 0) out->mrr10 = 1.0 / rank;
            if (rank <= 100) {
                rel_100++;
                sum_prec += (double)rel_found / rank;
            }
        }
    }
    out->n_ret = rank;
    out->ndcg10 = idcg > 0 ? dcg / idcg : 0;
    if (out->n_rel > 0) {
        out->recall100 = (double)rel_100 / out->n_rel;
        out->map100 = sum_prec / out->n_rel;
    }
    return KEN_OK;
}

ken_status ken_eval_trec_lines(ken_buf *out, const char *qid, const ken_run_entry *run,
                               size_t n, const char *tag) {
    if (!tag) tag = "ken";
    for (size_t i = 0; i < n; i++) {
        ken_status st = ken_buf_printf(out, "%s Q0 %s %zu %.6f %s\n", qid, run[i].docid,
                                       i + 1, run[i].score, tag);
        if (st != KEN_OK) return st;
    }
    return KEN_OK;
}
