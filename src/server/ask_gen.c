/* ask_gen.c: POST /api/v1/ask when `ken serve` has a decoder (--model): the
 * model writes the answer from numbered sources and its citations are
 * checked (ken_ask_generate, as `ken ask --model`). The reply keeps the
 * extractive route's shape (answer, found, citations: the sources the answer
 * cites) and adds the check ("grounded", per-sentence support) and the
 * model in "reply", the document `ken ask --json` prints. Streamed, the
 * text comes as {"type":"delta"} events and the whole as {"type":"done"}.
 * Each request borrows the process's model with a context of its own. */
#include "server.h"
#include "ken_ask.h"
#include "ken_llm.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *question;
    ken_ask_gen_opts go;
    char coll[COLLECTION_BYTES_MAX];
    srv_stream *st;             /* streaming, else NULL */
    double t_end;
    volatile int cancel;
} gen_job;

static void gen_job_free(void *p) {
    gen_job *j = p;
    if (j) free(j->question);
    free(j);
}

static int on_text(void *ud, int attempt, const char *text, size_t len) {
    (void)attempt;
    gen_job *j = ud;
    if (!j->st) return ken_now() > j->t_end;
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_buf_puts(&b, "{\"type\":\"delta\",\"text\":\"");
    ken_json_escape(&b, text, len);
    ken_buf_puts(&b, "\"}");
    int stop = srv_stream_event(j->st, b.data, b.len) || srv_stream_expired(j->st);
    ken_buf_free(&b);
    return stop;
}

/* {answer, found, citations, grounded, model, reply} (the caller closes
 * the object). */
static void jw_reply(ken_jw *w, ken_reply *rep) {
    const ken_reply_info *in = ken_reply_get(rep);
    ken_jw_key(w, "answer"); ken_jw_strn(w, in->answer ? in->answer : "", in->answer_len);
    ken_jw_key(w, "found"); ken_jw_bool(w, in->found != 0);
    ken_jw_key(w, "grounded"); ken_jw_bool(w, in->grounded != 0);
    ken_jw_key(w, "citations");
    ken_jw_arr_begin(w);
    for (size_t i = 0; i < in->n_sources; i++) {
        const ken_reply_source *s = &in->sources[i];
        if (!s->cited) continue;
        ken_jw_obj_begin(w);
        ken_jw_key(w, "n"); ken_jw_int(w, s->n);
        ken_jw_key(w, "doc_id"); ken_jw_int(w, s->doc_id);
        ken_jw_key(w, "chunk_id"); ken_jw_int(w, s->chunk_id);
        ken_jw_key(w, "ext_id"); ken_jw_str(w, s->ext_id);
        ken_jw_key(w, "uri"); ken_jw_str(w, s->uri);
        ken_jw_key(w, "title"); ken_jw_str(w, s->title);
        ken_jw_key(w, "heading"); ken_jw_str(w, s->heading);
        ken_jw_key(w, "page"); ken_jw_int(w, s->page);
        ken_jw_key(w, "start"); ken_jw_int(w, s->start);
        ken_jw_key(w, "end"); ken_jw_int(w, s->end);
        ken_jw_key(w, "score"); ken_jw_num(w, s->score);
        ken_jw_obj_end(w);
    }
    ken_jw_arr_end(w);
    ken_jw_key(w, "model"); ken_jw_str(w, in->model ? in->model : "ken-extractive");
    ken_jw_key(w, "reply"); ken_jw_raw(w, ken_reply_json(rep));
}

/* Retrieval, generation and the check, on a slot's knowledge base. */
static ken_status run(srv *s, gen_job *j, ken_reply **rep, char *err, size_t cap) {
    srv_slot *sl = srv_slot_get(s);
    if (!sl) return KEN_ERR_CANCELLED;
    ken_llm_opts lo = {.size = sizeof lo, .model_path = s->o.model_path, .threads = 1};
    ken_llm *llm = NULL;
    char *msg = NULL;
    ken_status st = ken_llm_open_model(&lo, s->model, &llm, &msg);
    if (!st) st = ken_ask_generate(sl->kb, llm, NULL, j->question, &j->go, rep);
    if (st) snprintf(err, cap, "%s", msg ? msg : ken_kb_errmsg(sl->kb));
    ken_free(msg);
    ken_llm_close(llm);
    srv_slot_put(s, sl);
    return st;
}

static void gen_stream(srv_stream *st, void *p) {
    gen_job *j = p;
    j->st = st;
    ken_reply *rep = NULL;
    char err[512] = "";
    ken_status e = run(srv_stream_srv(st), j, &rep, err, sizeof err);
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    ken_jw_obj_begin(&w);
    if (e) {
        ken_jw_key(&w, "type"); ken_jw_str(&w, "error");
        ken_jw_key(&w, "error");
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "message"); ken_jw_str(&w, "the answer failed");
        ken_jw_key(&w, "type"); ken_jw_str(&w, "server_error");
        ken_jw_key(&w, "code"); ken_jw_str(&w, ken_status_str(e));
        ken_jw_obj_end(&w);
    } else {
        ken_jw_key(&w, "type"); ken_jw_str(&w, "done");
        jw_reply(&w, rep);
    }
    ken_jw_obj_end(&w);
    if (!ken_jw_status(&w)) srv_stream_event(st, b.data, b.len);
    ken_buf_free(&b);
    ken_reply_free(rep);
}

enum MHD_Result srv_ask_model(srv_req *r, const char *question, uint32_t k, double min_score,
                              const char *collection, bool stream) {
    gen_job *j = calloc(1, sizeof *j);
    if (j) j->question = ken_strdup(question);
    if (!j || !j->question) {
        gen_job_free(j);
        return srv_error(r, 500, "nomem", "out of memory");
    }
    j->go = (ken_ask_gen_opts){.size = sizeof j->go, .k = k, .min_score = min_score,
                               .max_tokens = r->s->o.max_tokens, .on_text = on_text, .ud = j,
                               .cancel = &j->cancel};
    if (collection) {
        snprintf(j->coll, sizeof j->coll, "%s", collection);
        j->go.collection = j->coll;
    }
    j->t_end = ken_now() + r->s->o.timeout_s;
    unsigned g = srv_gen_acquire(r->s);
    if (g) {
        gen_job_free(j);
        return srv_gen_busy(r, g);
    }
    if (stream) return srv_stream_start(r, "text/event-stream", gen_stream, j, gen_job_free, true);
    ken_reply *rep = NULL;
    char err[512] = "";
    ken_status st = run(r->s, j, &rep, err, sizeof err);
    enum MHD_Result res;
    if (st) {
        unsigned http = srv_status_http(st);
        res = srv_error(r, http, http >= 500 ? "internal" : "bad_request", "%s",
                        http >= 500 ? "internal error" : (*err ? err : ken_status_str(st)));
    } else {
        ken_buf b;
        ken_buf_init(&b, 0);
        ken_jw w;
        ken_jw_init(&w, &b, 0);
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "question"); ken_jw_str(&w, j->question);
        jw_reply(&w, rep);
        ken_jw_obj_end(&w);
        res = ken_jw_status(&w) ? (ken_buf_free(&b), srv_error(r, 500, "nomem", "out of memory"))
                                : srv_reply_json(r, 200, &b);
    }
    ken_reply_free(rep);
    srv_gen_release(r->s);
    gen_job_free(j);
    return res;
}
