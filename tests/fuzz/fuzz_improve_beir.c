/* fuzz_improve_beir.c: arbitrary bytes as a BEIR queries.jsonl and as a
 * qrels.tsv; on success the invariants are checked (non-empty ids, valid
 * UTF-8, qrels sorted and unique, lookups consistent) and the metrics of a
 * run made from the judged documents stay within [0, 1]. */
#include "improve/improve.h"

#include <stdlib.h>
#include <string.h>

static void check(int cond) {
    if (!cond) abort();
}

static void queries(const char *s, size_t n) {
    ken_eval_queries q;
    ken_err err;
    if (ken_eval_parse_queries(s, n, &q, &err) != KEN_OK) {
        check(q.n == 0 && q.v == NULL && err.msg[0]);
        return;
    }
    for (size_t i = 0; i < q.n; i++) {
        check(q.v[i].id[0] != '\0');
        check(ken_utf8_valid(q.v[i].id, strlen(q.v[i].id)));
        check(ken_utf8_valid(q.v[i].text, strlen(q.v[i].text)));
    }
    ken_eval_queries_free(&q);
}

static void qrels(const char *s, size_t n) {
    ken_qrels r;
    ken_err err;
    if (ken_eval_parse_qrels(s, n, &r, &err) != KEN_OK) {
        check(r.n == 0 && r.v == NULL && err.msg[0]);
        return;
    }
    for (size_t i = 1; i < r.n; i++) {
        int c = strcmp(r.v[i - 1].qid, r.v[i].qid);
        check(c < 0 || (c == 0 && strcmp(r.v[i - 1].docid, r.v[i].docid) < 0));
    }
    for (size_t i = 0; i < r.n && i < 8; i++) {
        size_t nj;
        const ken_qrel *j = ken_eval_qrels_find(&r, r.v[i].qid, &nj);
        check(j != NULL && nj >= 1);
        ken_run_entry *run = malloc((nj + 1) * sizeof *run);
        check(run != NULL);
        for (size_t k = 0; k < nj; k++) run[k] = (ken_run_entry){j[k].docid, (double)j[k].grade};
        ken_eval_metrics m;
        check(ken_eval_query_metrics(j, nj, run, nj, &m) == KEN_OK);
        check(m.ndcg10 >= 0 && m.ndcg10 <= 1 + 1e-9 && m.recall100 >= 0 && m.recall100 <= 1);
        check(m.mrr10 >= 0 && m.mrr10 <= 1 && m.map100 >= 0 && m.map100 <= 1 + 1e-9);
        free(run);
    }
    ken_eval_qrels_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    queries((const char *)data, size);
    qrels((const char *)data, size);
    return 0;
}
