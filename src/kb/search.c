/* search.c (kb): the public search, ask and retrieval-eval calls of
 * include/ken_search.h over a ken_kb, on top of src/retrieve and
 * src/improve. Results are copied into handles the caller frees. */
#include "ken_search.h"
#include "improve/improve.h"
#include "kb/kb.h"
#include "retrieve/fuse.h"
#include "retrieve/retrieve.h"

#include <math.h>
#include <pthread.h>

#include <stdlib.h>
#include <string.h>

struct ken_results {
    ken_retrieve_hits hits;
    ken_result *v;
    const char *mode;
    bool reranked;
    char *notice;
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

/* ------------------------------------------------------------ plan */

typedef enum { MODE_BM25, MODE_DENSE, MODE_HYBRID } mode_t_;
static const char *const mode_names[] = {"bm25", "dense", "hybrid"};

#define RERANK_TOP_DEFAULT 50
#define RERANK_TOP_MAX 1000
#define HYBRID_CANDIDATES_MIN 50

/* What a search does, from its options and the store's config. */
typedef struct {
    mode_t_ mode;
    ken_fuse_opts fuse;
    double w[2];
    bool rerank;
    bool rerank_explicit;        /* the caller named the model: failures are errors */
    char rr_path[4096];
    uint32_t top_n;
} plan;

/* The caller's retrieval fields (shared by search and eval options). */
typedef struct {
    const char *mode, *fusion;
    double w_bm25, w_dense;
    int rerank;
    const char *rerank_model;
    uint32_t rerank_top;
} plan_in;

static double conf_num(ken_kb *kb, const char *key, double dflt) {
    ken_buf b;
    ken_buf_init(&b, 256);
    double v = dflt;
    if (ken_kb_conf(kb, key, &b)) {
        char *end;
        double x = strtod(b.data, &end);
        if (end != b.data && *end == '\0' && x >= 0 && x <= 1e6) v = x;
    }
    ken_buf_free(&b);
    return v;
}

static ken_status make_plan(ken_kb *kb, const plan_in *in, plan *p) {
    memset(p, 0, sizeof *p);
    ken_buf b;
    ken_buf_init(&b, 8192);
    const char *m = in->mode;
    if (!m && ken_kb_conf(kb, "search.mode", &b)) m = b.data;
    ken_status st = KEN_OK;
    p->mode = MODE_BM25;
    if (m) {
        size_t i = 0;
        while (i < 3 && strcmp(m, mode_names[i]) != 0) i++;
        if (i == 3) st = ken_err_set(&kb->err, KEN_ERR_INVALID, "search mode '%s': use bm25, "
                                     "dense or hybrid", m);
        else p->mode = (mode_t_)i;
    }
    const char *f = in->fusion;
    if (!st && !f && ken_kb_conf(kb, "search.fusion", &b)) f = b.data;
    if (!st && f && !ken_fuse_method_parse(f, &p->fuse.method))
        st = ken_err_set(&kb->err, KEN_ERR_INVALID, "fusion '%s': use rrf or weighted", f);
    p->fuse.rrf_k = conf_num(kb, "search.rrf_k", KEN_FUSE_RRF_K_DEFAULT);
    p->w[0] = in->w_bm25 > 0 ? in->w_bm25 : conf_num(kb, "search.weight_bm25", 1);
    p->w[1] = in->w_dense > 0 ? in->w_dense : conf_num(kb, "search.weight_dense", 1);
    p->fuse.weights = p->w;
    if (!st && (!isfinite(p->w[0]) || !isfinite(p->w[1]) || p->w[0] > 1e6 || p->w[1] > 1e6))
        st = ken_err_set(&kb->err, KEN_ERR_INVALID, "fusion weights must be finite, >= 0");
    p->rerank = in->rerank > 0 ||
                (in->rerank == 0 && ken_kb_conf(kb, "search.rerank", &b) && !strcmp(b.data, "on"));
    p->rerank_explicit = in->rerank_model != NULL;
    if (in->rerank_model) snprintf(p->rr_path, sizeof p->rr_path, "%s", in->rerank_model);
    else if (ken_kb_conf(kb, "rerank.model", &b)) snprintf(p->rr_path, sizeof p->rr_path, "%s", b.data);
    p->top_n = in->rerank_top ? in->rerank_top
                              : (uint32_t)conf_num(kb, "rerank.top_n", RERANK_TOP_DEFAULT);
    if (p->top_n == 0) p->top_n = RERANK_TOP_DEFAULT;
    if (!st && p->top_n > RERANK_TOP_MAX)
        st = ken_err_set(&kb->err, KEN_ERR_INVALID, "re-rank top %u: at most %d", p->top_n,
                         RERANK_TOP_MAX);
    ken_buf_free(&b);
    return st;
}

static void notice_add(ken_buf *n, const char *fmt, const char *text) {
    if (n->len) ken_buf_puts(n, "; ");
    ken_buf_printf(n, fmt, text);
}

/* ------------------------------------------------------------ re-ranking */

/* Opens the re-ranker of the plan (once per handle and path); false with
 * a reason in why when it cannot be used. */
static bool rerank_ready(ken_kb *kb, const plan *p, ken_buf *why) {
    ken_kb_dense *d = &kb->dense;
    if (!p->rr_path[0]) {
        ken_buf_puts(why, "no re-ranking model (give --rerank-model FILE or `ken config set "
                          "rerank.model FILE`)");
        return false;
    }
    if (d->rr_ctx && d->rr_ctx2 && d->rr_path && strcmp(d->rr_path, p->rr_path) == 0)
        return true;
    ken_ctx_free(d->rr_ctx);
    ken_ctx_free(d->rr_ctx2);
    ken_model_close(d->rr_model);
    free(d->rr_path);
    d->rr_ctx = d->rr_ctx2 = NULL;
    d->rr_model = NULL;
    d->rr_path = NULL;
    char *msg = NULL;
    ken_status st = ken_model_open(p->rr_path, &d->rr_model, &msg);
    if (st) {
        ken_buf_printf(why, "re-ranking model %s: %s", p->rr_path, msg ? msg : ken_status_str(st));
        ken_free(msg);
        return false;
    }
    if (!ken_model_can_rerank(d->rr_model)) {
        ken_buf_printf(why, "%s is not a cross-encoder (no classification head)", p->rr_path);
        ken_model_close(d->rr_model);
        d->rr_model = NULL;
        return false;
    }
    ken_ctx_opts co = {.size = sizeof co, .n_threads = 1};
    if ((st = ken_ctx_new(d->rr_model, &co, &d->rr_ctx, &msg)) ||
        (st = ken_ctx_new(d->rr_model, &co, &d->rr_ctx2, &msg)) ||
        !(d->rr_path = ken_strdup(p->rr_path))) {
        ken_buf_printf(why, "re-ranking session: %s", msg ? msg : ken_status_str(st ? st : KEN_ERR_NOMEM));
        ken_free(msg);
        return false;
    }
    return true;
}

typedef struct {
    ken_ctx *ctx;
    const char *query;
    const ken_retrieve_hits *h;
    size_t first, n;
    float *scores;
    ken_status st;
} rr_worker;

/* Scores every other pair (first, first + 2, ...) with one session. */
static void *rr_work(void *arg) {
    rr_worker *w = arg;
    for (size_t i = w->first; i < w->n && !w->st; i += 2)
        w->st = ken_rerank(w->ctx, w->query, strlen(w->query), w->h->v[i].text,
                           w->h->v[i].text_len, &w->scores[i]);
    return NULL;
}

/* Scores the first min(top_n, n) hits with the cross-encoder, two pairs at
 * a time on two sessions, and re-orders them; the rest keep their order
 * below. */
static ken_status rerank_hits(ken_kb *kb, const plan *p, const char *query,
                              ken_retrieve_hits *h, size_t k) {
    size_t n = KEN_MIN((size_t)p->top_n, h->n);
    float *scores = malloc((n ? n : 1) * sizeof *scores);
    if (!scores) return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    rr_worker w[2] = {{kb->dense.rr_ctx, query, h, 0, n, scores, KEN_OK},
                      {kb->dense.rr_ctx2, query, h, 1, n, scores, KEN_OK}};
    pthread_t th;
    bool threaded = n > 1 && pthread_create(&th, NULL, rr_work, &w[1]) == 0;
    rr_work(&w[0]);
    if (threaded) pthread_join(th, NULL);
    else rr_work(&w[1]);
    ken_status st = KEN_OK;
    for (int i = 0; i < 2 && !st; i++)
        if ((st = w[i].st))
            ken_err_set(&kb->err, st, "re-ranking: %s", ken_ctx_errmsg(w[i].ctx));
    if (!st && (st = ken_fuse_reorder(h, scores, n, k)))
        ken_err_set(&kb->err, st, "re-ranking: out of memory");
    free(scores);
    return st;
}

/* ------------------------------------------------------------ retrieval */

typedef struct {
    const char *mode;
    bool reranked;
} used;

/* One retrieval by the plan: BM25, dense or both fused, then re-ranked;
 * ro->k results. Fallbacks and notes go to notice. */
static ken_status retrieve(ken_kb *kb, const char *query, const ken_retrieve_opts *ro,
                           const plan *p, bool count_missing, ken_retrieve_hits *out,
                           ken_buf *notice, used *u) {
    memset(out, 0, sizeof *out);
    double t0 = ken_now();
    size_t k = ro->k ? ro->k : 10;
    if (k > KEN_RETRIEVE_K_MAX)
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "k = %zu is above the limit %d", k,
                           KEN_RETRIEVE_K_MAX);
    mode_t_ mode = p->mode;
    ken_buf why, note;
    ken_buf_init(&why, 4096);
    ken_buf_init(&note, 4096);
    ken_status st = KEN_OK;
    if (mode != MODE_BM25) {
        bool ok = false;
        st = ken_kb_dense_ready(kb, &ok, &why, &note);
        if (!st && !ok) {
            notice_add(notice, "dense retrieval unavailable: %s; BM25 only", why.data);
            mode = MODE_BM25;
        }
        if (note.len) notice_add(notice, "%s", note.data);
        if (!st && ok && count_missing) {
            int64_t nv = 0, nm = 0;
            if (kb->store->ops->vec_count(kb->store, kb->dense.model_id, &nv, &nm) == KEN_OK &&
                nm > 0) {
                char msg[160];
                snprintf(msg, sizeof msg, "%lld chunks have no vector yet (run `ken embed "
                         "--missing`)", (long long)nm);
                notice_add(notice, "%s", msg);
            }
        }
    }
    ken_buf_reset(&why);
    bool rerank = !st && p->rerank && rerank_ready(kb, p, &why);
    if (!st && p->rerank && !rerank) {
        if (p->rerank_explicit) st = ken_err_set(&kb->err, KEN_ERR_INVALID, "%s", why.data);
        else notice_add(notice, "re-ranking skipped: %s", why.data);
    }
    size_t n = rerank ? KEN_MAX(k, (size_t)p->top_n) : k;
    bool snippets = !ro->no_snippet;
    ken_retrieve_opts r = *ro;
    if (!st && mode == MODE_BM25) {
        r.k = n;
        st = ken_retrieve_search(kb->store, query, strlen(query), &r, out, &kb->err);
    } else if (!st && mode == MODE_DENSE) {
        st = ken_kb_dense_search(kb, query, ro, n, ro->docs, snippets, out);
    } else if (!st) {
        ken_retrieve_hits a = {0}, b = {0};
        r.k = KEN_MIN(KEN_MAX(n, (size_t)HYBRID_CANDIDATES_MIN), (size_t)KEN_RETRIEVE_K_MAX);
        st = ken_retrieve_search(kb->store, query, strlen(query), &r, &a, &kb->err);
        if (!st) st = ken_kb_dense_search(kb, query, ro, r.k, ro->docs, snippets, &b);
        if (!st) st = ken_fuse_hits(&a, &b, &p->fuse, n, ro->docs, out, &kb->err);
        ken_retrieve_hits_free(&a);
        ken_retrieve_hits_free(&b);
    }
    if (!st && rerank) st = rerank_hits(kb, p, query, out, k);
    else if (!st && out->n > k) st = ken_fuse_reorder(out, NULL, 0, k);
    ken_buf_free(&why);
    ken_buf_free(&note);
    if (st) {
        ken_retrieve_hits_free(out);
        return st;
    }
    if (out->k1 == 0) ken_retrieve_bm25_params(kb->store, &out->k1, &out->b);
    out->seconds = ken_now() - t0;
    u->mode = mode_names[mode];
    u->reranked = rerank;
    return KEN_OK;
}

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
    plan_in pi = {o.mode, o.fusion, o.w_bm25, o.w_dense, o.rerank, o.rerank_model, o.rerank_top};
    plan p;
    ken_status st = make_plan(kb, &pi, &p);
    if (st) return st;
    ken_results *r = calloc(1, sizeof *r);
    if (!r) return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    ken_buf notice;
    ken_buf_init(&notice, 16384);
    used u = {0};
    st = retrieve(kb, query, &ro, &p, true, &r->hits, &notice, &u);
    r->mode = u.mode;
    r->reranked = u.reranked;
    if (st == KEN_OK && notice.len && !(r->notice = ken_buf_take(&notice, NULL)))
        st = ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    ken_buf_free(&notice);
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

const char *ken_results_mode(const ken_results *r) { return r && r->mode ? r->mode : "bm25"; }
int ken_results_reranked(const ken_results *r) { return r && r->reranked; }
const char *ken_results_notice(const ken_results *r) { return r ? r->notice : NULL; }

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
    free(r->notice);
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
    /* Dense, hybrid or re-ranked retrieval (option or config) feeds the
     * passages; plain BM25 keeps the answer module's own search. */
    plan_in pi = {.mode = o.mode};
    plan p;
    ken_status st = make_plan(kb, &pi, &p);
    if (st) return st;
    ken_retrieve_hits hits = {0};
    if (p.mode != MODE_BM25 || p.rerank) {
        ken_retrieve_opts ro = {.k = KEN_MIN(o.k ? o.k : 8, 100), .collection = o.collection,
                                .no_snippet = true};
        ken_buf notice;
        ken_buf_init(&notice, 16384);
        used u;
        st = retrieve(kb, question, &ro, &p, false, &hits, &notice, &u);
        ken_buf_free(&notice);
        if (st) return st;
        ao.hits = &hits;
    }
    ken_answer *a = calloc(1, sizeof *a);
    if (!a) {
        ken_retrieve_hits_free(&hits);
        return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    }
    st = ken_retrieve_answer(kb->store, question, strlen(question), &ao, &a->a, &kb->err);
    ken_retrieve_hits_free(&hits);
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
    plan p;
    ken_retrieve_hits hits;       /* of the last query */
    ken_run_entry *run;
    const ken_eval_retrieval_opts *o;
    size_t n_done;
    used first;                   /* what the first query used */
    char notice[256];
} eval_ctx;

static ken_status eval_search(void *ud, const char *query, size_t k, ken_run_entry **run,
                              size_t *n) {
    eval_ctx *c = ud;
    ken_retrieve_hits_free(&c->hits);
    free(c->run);
    c->run = NULL;
    c->ro.k = k;
    ken_buf notice;
    ken_buf_init(&notice, 16384);
    used u = {0};
    ken_status st = retrieve(c->kb, query, &c->ro, &c->p, false, &c->hits, &notice, &u);
    if (st == KEN_OK && c->n_done++ == 0) {
        c->first = u;
        snprintf(c->notice, sizeof c->notice, "%s", notice.data ? notice.data : "");
    }
    ken_buf_free(&notice);
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
    plan_in pi = {o.mode, o.fusion, o.w_bm25, o.w_dense, o.rerank, o.rerank_model, o.rerank_top};
    ken_status st = make_plan(kb, &pi, &c.p);
    if (st) return st;
    st = ken_eval_read_queries(queries_path, &q, &kb->err);
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
        snprintf(out->mode, sizeof out->mode, "%s",
                 c.first.mode ? c.first.mode : mode_names[c.p.mode]);
        out->reranked = c.first.reranked;
        snprintf(out->notice, sizeof out->notice, "%s", c.notice);
    }
    ken_retrieve_hits_free(&c.hits);
    free(c.run);
    ken_buf_free(&trec);
    ken_eval_queries_free(&q);
    ken_eval_qrels_free(&r);
    return st;
}
