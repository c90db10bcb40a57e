/* search.c (kb): the public search, ask and retrieval-eval calls of
 * include/ken_search.h over a ken_kb, on top of src/retrieve and
 * src/improve. Results are copied into handles the caller frees. */
#include "ken_search.h"
#include "improve/improve.h"
#include "kb/kb.h"
#include "retrieve/retrieve.h"

#include <stdlib.h>
#include <string.h>

struct ken_results {
    ken_retrieve_hits hits;
    ken_result *v;
};

struct ken_answer {
    ken_retrieve_ans a;
    ken_citation *v;
};

/* Reads an options struct of the caller's size into a zeroed full-size one,
 * so old callers with a smaller struct keep working. */
#define READ_OPTS(dst, src) do { \
    memset(&(dst), 0, sizeof(dst)); \
    if (src) { \
        size_t n_ = (src)->size && (src)->size < sizeof(dst) ? (src)->size : sizeof(dst); \
        memcpy(&(dst), (src), n_); \
    } } while (0)

ken_status ken_search(ken_kb *kb, const char *query, const ken_search_opts *opts,
                      ken_results **out) {
    *out = NULL;
    if (!kb || !query) return KEN_ERR_INVALID;
    ken_search_opts o;
    READ_OPTS(o, opts);
    ken_retrieve_opts ro = {
        .k = o.k, .collection = o.collection, .uri_prefix = o.uri_prefix, .mime = o.mime,
        .meta_field = o.meta_field, .meta_value = o.meta_value, .docs = o.docs != 0,
        .prf = o.prf != 0, .no_snippet = o.no_snippet != 0, .k1 = o.k1, .b = o.b,
    };
    ken_results *r = calloc(1, sizeof *r);
    if (!r) return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    ken_status st = ken_retrieve_search(kb->store, query, strlen(query), &ro, &r->hits, &kb->err);
    if (st == KEN_OK && !(r->v = calloc(r->hits.n ? r->hits.n : 1, sizeof *r->v)))
        st = ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    if (st != KEN_OK) {
        ken_results_free(r);
        return st;
    }
    for (size_t i = 0; i < r->hits.n; i++) {
        const ken_retrieve_hit *h = &r->hits.v[i];
        r->v[i] = (ken_result){
            .chunk_id = h->chunk_id, .doc_id = h->doc_id, .ext_id = h->ext_id, .uri = h->uri,
            .title = h->title, .heading = h->heading ? h->heading : "",
            .collection = h->collection, .mime = h->mime, .page = h->page,
            .ordinal = h->ordinal, .start = h->start, .end = h->end, .score = h->score,
            .snippet = h->snippet, .text = h->text, .text_len = h->text_len,
        };
    }
    *out = r;
    return KEN_OK;
}

size_t ken_results_count(const ken_results *r) { return r ? r->hits.n : 0; }

const ken_result *ken_results_get(const ken_results *r, size_t i) {
    return r && i < r->hits.n ? &r->v[i] : NULL;
}

size_t ken_results_terms(const ken_results *r) { return r ? r->hits.query.n : 0; }

const char *ken_results_term(const ken_results *r, size_t i, double *weight) {
    if (!r || i >= r->hits.query.n) return NULL;
    if (weight) *weight = r->hits.query.weight[i];
    return r->hits.query.term[i];
}

void ken_results_params(const ken_results *r, double *k1, double *b, double *seconds) {
    if (k1) *k1 = r ? r->hits.k1 : 0;
    if (b) *b = r ? r->hits.b : 0;
    if (seconds) *seconds = r ? r->hits.seconds : 0;
}

void ken_results_free(ken_results *r) {
    if (!r) return;
    ken_retrieve_hits_free(&r->hits);
    free(r->v);
    free(r);
}

ken_status ken_search_set_bm25(ken_kb *kb, double k1, double b) {
    if (!kb) return KEN_ERR_INVALID;
    if (!(k1 > 0 && k1 <= 100) || !(b >= 0 && b <= 1))
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "BM25 k1 must be in (0, 100], b in [0, 1]");
    char v[64];
    snprintf(v, sizeof v, "%.9g", k1);
    ken_status st = kb->store->ops->config_set(kb->store, "bm25.k1", v);
    if (st == KEN_OK) {
        snprintf(v, sizeof v, "%.9g", b);
        st = kb->store->ops->config_set(kb->store, "bm25.b", v);
    }
    return st == KEN_OK ? KEN_OK : ken_kb_store_err(kb, st, "setting BM25 parameters");
}

/* ------------------------------------------------------------ ask */

ken_status ken_ask(ken_kb *kb, const char *question, const ken_ask_opts *opts,
                   ken_answer **out) {
    *out = NULL;
    if (!kb || !question) return KEN_ERR_INVALID;
    ken_ask_opts o;
    READ_OPTS(o, opts);
    ken_retrieve_answer_opts ao = {.k = o.k, .max_sentences = o.max_sentences,
                                   .min_score = o.min_score, .collection = o.collection};
    ken_answer *a = calloc(1, sizeof *a);
    if (!a) return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    ken_status st = ken_retrieve_answer(kb->store, question, strlen(question), &ao, &a->a,
                                        &kb->err);
    if (st == KEN_OK && !(a->v = calloc(a->a.n_cites ? a->a.n_cites : 1, sizeof *a->v)))
        st = ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    if (st != KEN_OK) {
        ken_answer_free(a);
        return st;
    }
    for (size_t i = 0; i < a->a.n_cites; i++) {
        const ken_retrieve_cite *c = &a->a.cites[i];
        a->v[i] = (ken_citation){
            .n = c->n, .doc_id = c->doc_id, .chunk_id = c->chunk_id, .ext_id = c->ext_id,
            .uri = c->uri, .title = c->title, .heading = c->heading ? c->heading : "",
            .page = c->page, .start = c->start, .end = c->end, .sentence = c->sentence,
            .score = c->score,
        };
    }
    *out = a;
    return KEN_OK;
}

int ken_answer_found(const ken_answer *a) { return a && a->a.found; }
const char *ken_answer_text(const ken_answer *a) { return a && a->a.text ? a->a.text : ""; }
double ken_answer_score(const ken_answer *a) { return a ? a->a.best_score : 0; }
size_t ken_answer_citations(const ken_answer *a) { return a ? a->a.n_cites : 0; }

const ken_citation *ken_answer_citation(const ken_answer *a, size_t i) {
    return a && i < a->a.n_cites ? &a->v[i] : NULL;
}

void ken_answer_free(ken_answer *a) {
    if (!a) return;
    ken_retrieve_answer_free(&a->a);
    free(a->v);
    free(a);
}

/* ------------------------------------------------------------ eval */

typedef struct {
    ken_kb *kb;
    ken_retrieve_opts ro;
    ken_retrieve_hits hits;       /* of the last query */
    ken_run_entry *run;
    const ken_eval_retrieval_opts *o;
} eval_ctx;

static ken_status eval_search(void *ud, const char *query, size_t k, ken_run_entry **run,
                              size_t *n) {
    eval_ctx *c = ud;
    ken_retrieve_hits_free(&c->hits);
    free(c->run);
    c->run = NULL;
    c->ro.k = k;
    ken_status st = ken_retrieve_search(c->kb->store, query, strlen(query), &c->ro, &c->hits,
                                        &c->kb->err);
    if (st != KEN_OK) return st;
    if (!(c->run = calloc(c->hits.n ? c->hits.n : 1, sizeof *c->run)))
        return ken_err_set(&c->kb->err, KEN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < c->hits.n; i++)
        c->run[i] = (ken_run_entry){c->hits.v[i].ext_id ? c->hits.v[i].ext_id : c->hits.v[i].uri,
                                    c->hits.v[i].score};
    *run = c->run;
    *n = c->hits.n;
    return KEN_OK;
}

static int eval_per_query(void *ud, const char *qid, const ken_eval_metrics *m) {
    const ken_eval_retrieval_opts *o = ud;
    return o->per_query(o->per_query_ud, qid, m->ndcg10, m->recall100, m->mrr10, m->map100);
}

ken_status ken_eval_retrieval(ken_kb *kb, const char *queries_path, const char *qrels_path,
                              const ken_eval_retrieval_opts *opts,
                              ken_eval_retrieval_report *out) {
    if (!kb || !queries_path || !qrels_path || !out) return KEN_ERR_INVALID;
    memset(out, 0, sizeof *out);
    ken_eval_retrieval_opts o;
    READ_OPTS(o, opts);
    ken_eval_queries q = {0};
    ken_qrels r = {0};
    ken_buf trec;
    ken_buf_init(&trec, 0);
    eval_ctx c = {.kb = kb, .o = &o,
                  .ro = {.docs = true, .prf = o.prf != 0, .no_snippet = true,
                         .collection = o.collection, .k1 = o.k1, .b = o.b}};
    ken_status st = ken_eval_read_queries(queries_path, &q, &kb->err);
    if (st == KEN_OK) st = ken_eval_read_qrels(qrels_path, &r, &kb->err);
    if (st == KEN_OK && r.n == 0)
        st = ken_err_set(&kb->err, KEN_ERR_FORMAT, "%s: no judgments", qrels_path);
    ken_eval_opts eo = {.k = o.k ? o.k : 100, .trec_out = o.run_path ? &trec : NULL,
                        .tag = o.run_tag, .cancel = o.cancel};
    ken_eval_result res;
    if (st == KEN_OK)
        st = ken_eval_run(&q, &r, eval_search, &c, &eo, o.per_query ? eval_per_query : NULL,
                          &o, &res, &kb->err);
    if (st == KEN_OK && o.run_path)
        st = ken_file_write_atomic(o.run_path, trec.data ? trec.data : "", trec.len, &kb->err);
    if (st == KEN_OK) {
        *out = (ken_eval_retrieval_report){
            .ndcg10 = res.mean.ndcg10, .recall100 = res.mean.recall100,
            .mrr10 = res.mean.mrr10, .map100 = res.mean.map100, .queries = res.n_queries,
            .skipped = res.n_skipped, .seconds = res.seconds};
        ken_retrieve_bm25_params(kb->store, &out->k1, &out->b);
        if (o.k1 > 0) out->k1 = o.k1;
        if (o.b > 0) out->b = o.b;
    }
    ken_retrieve_hits_free(&c.hits);
    free(c.run);
    ken_buf_free(&trec);
    ken_eval_queries_free(&q);
    ken_eval_qrels_free(&r);
    return st;
}
