/* eval.c: POST /api/v1/eval: a retrieval evaluation run over REST. The body
 * carries a BEIR test collection's queries (JSONL text) and qrels (TSV text)
 * whose corpus is in the store; the reply holds the trec_eval metrics (and
 * per-query figures on request), exactly what `ken eval retrieval` prints.
 * A key bound to a collection evaluates within that collection only. */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    ken_jw *w;
    size_t n;
} per_query;

static int on_query(void *ud, const char *qid, double ndcg, double rec, double mrr, double map) {
    per_query *p = ud;
    ken_jw_obj_begin(p->w);
    ken_jw_key(p->w, "qid"); ken_jw_str(p->w, qid);
    ken_jw_key(p->w, "ndcg@10"); ken_jw_num(p->w, ndcg);
    ken_jw_key(p->w, "recall@100"); ken_jw_num(p->w, rec);
    ken_jw_key(p->w, "mrr@10"); ken_jw_num(p->w, mrr);
    ken_jw_key(p->w, "map@100"); ken_jw_num(p->w, map);
    ken_jw_obj_end(p->w);
    p->n++;
    return 0;
}

/* Writes text to a fresh private temporary file; path receives its name. */
static bool temp_file(const char *text, size_t len, char *path, size_t cap) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/ken-eval-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return false;
    size_t off = 0;
    while (off < len) {
        ssize_t k = write(fd, text + off, len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        off += (size_t)k;
    }
    bool ok = off == len && close(fd) == 0;
    if (!ok) {
        if (off != len) close(fd);
        unlink(path);
    }
    return ok;
}

typedef struct {
    const char *queries, *qrels, *collection;
    size_t queries_len, qrels_len;
    long k;
    bool prf, per_query;
} eval_req;

static bool eval_parse(srv_req *r, const ken_json *o, eval_req *q, enum MHD_Result *res) {
    static const char *const fields[] = {"queries", "qrels", "k", "collection", "prf",
                                         "per_query", NULL};
    const char *coll = NULL;
    size_t max = r->s->o.body_bytes_max;
    if (!srv_json_fields(r, o, fields, res) ||
        !srv_json_str(r, o, "queries", max, &q->queries, res) ||
        !srv_json_str(r, o, "qrels", max, &q->qrels, res) ||
        !srv_json_int(r, o, "k", 1, 1000, &q->k, res) ||
        !srv_json_str(r, o, "collection", COLLECTION_BYTES_MAX - 1, &coll, res) ||
        !srv_json_bool(r, o, "prf", &q->prf, res) ||
        !srv_json_bool(r, o, "per_query", &q->per_query, res) ||
        !srv_collection(r, coll, &q->collection, res))
        return false;
    if (!q->queries || !q->qrels || !*q->queries || !*q->qrels) {
        *res = srv_error(r, 400, "missing_field", "'queries' (BEIR queries.jsonl text) and "
                         "'qrels' (BEIR qrels TSV text) are needed");
        return false;
    }
    q->queries_len = strlen(q->queries);
    q->qrels_len = strlen(q->qrels);
    return true;
}

static enum MHD_Result eval_run(srv_req *r, const eval_req *q, const char *qpath,
                                const char *rpath) {
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    ken_jw_obj_begin(&w);
    per_query pq = {&w, 0};
    ken_eval_retrieval_opts o = {.size = sizeof o, .k = (uint32_t)q->k,
                                 .collection = q->collection, .prf = q->prf};
    if (q->per_query) {
        ken_jw_key(&w, "per_query");
        ken_jw_arr_begin(&w);
        o.per_query = on_query;
        o.per_query_ud = &pq;
    }
    srv_slot *sl = srv_slot_get(r->s);
    if (!sl) {
        ken_buf_free(&b);
        return srv_error(r, 503, "busy", "the server is busy; try again");
    }
    ken_eval_retrieval_report rep;
    ken_status st = ken_eval_retrieval(sl->kb, qpath, rpath, &o, &rep);
    enum MHD_Result res;
    if (st) {
        unsigned http = srv_status_http(st);
        const char *m = ken_kb_errmsg(sl->kb);
        res = srv_error(r, http, http >= 500 ? "internal" : "bad_collection", "%s",
                        http >= 500 ? "internal error" : (m && *m ? m : ken_status_str(st)));
        ken_buf_free(&b);
    } else {
        if (q->per_query) ken_jw_arr_end(&w);
        ken_jw_key(&w, "queries"); ken_jw_uint(&w, rep.queries);
        ken_jw_key(&w, "skipped"); ken_jw_uint(&w, rep.skipped);
        ken_jw_key(&w, "collection"); ken_jw_str(&w, q->collection);
        ken_jw_key(&w, "k"); ken_jw_int(&w, q->k);
        ken_jw_key(&w, "bm25");
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "k1"); ken_jw_num(&w, rep.k1);
        ken_jw_key(&w, "b"); ken_jw_num(&w, rep.b);
        ken_jw_key(&w, "prf"); ken_jw_bool(&w, q->prf);
        ken_jw_obj_end(&w);
        ken_jw_key(&w, "metrics");
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "ndcg@10"); ken_jw_num(&w, rep.ndcg10);
        ken_jw_key(&w, "recall@100"); ken_jw_num(&w, rep.recall100);
        ken_jw_key(&w, "mrr@10"); ken_jw_num(&w, rep.mrr10);
        ken_jw_key(&w, "map@100"); ken_jw_num(&w, rep.map100);
        ken_jw_obj_end(&w);
        ken_jw_key(&w, "seconds"); ken_jw_num(&w, rep.seconds);
        ken_jw_obj_end(&w);
        res = ken_jw_status(&w) ? (ken_buf_free(&b), srv_error(r, 500, "nomem", "out of memory"))
                                : srv_reply_json(r, 200, &b);
    }
    srv_slot_put(r->s, sl);
    return res;
}

enum MHD_Result srv_api_eval(srv_req *r) {
    if (strcmp(r->method, "POST") != 0)
        return srv_error(r, 405, "method_not_allowed", "%s is not allowed here", r->method);
    enum MHD_Result res;
    ken_json_doc *d = srv_body_json(r, &res);
    if (!d) return res;
    eval_req q = {.k = 100};
    if (!eval_parse(r, ken_json_root(d), &q, &res)) {
        ken_json_free(d);
        return res;
    }
    /* An evaluation is heavy: it takes a generation slot, so that the queue
     * limit and its 429 apply to it as to answers. */
    unsigned g = srv_gen_acquire(r->s);
    if (g) {
        ken_json_free(d);
        return srv_gen_busy(r, g);
    }
    char qpath[4096], rpath[4096];
    bool okq = temp_file(q.queries, q.queries_len, qpath, sizeof qpath);
    bool okr = okq && temp_file(q.qrels, q.qrels_len, rpath, sizeof rpath);
    if (!okq || !okr) {
        res = srv_error(r, 500, "internal", "cannot write a temporary file");
    } else {
        res = eval_run(r, &q, qpath, rpath);
    }
    if (okq) unlink(qpath);
    if (okr) unlink(rpath);
    srv_gen_release(r->s);
    ken_json_free(d);
    return res;
}
