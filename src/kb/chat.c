/* chat.c (kb): conversations stored in the knowledge base (`ken chat`).
 * A session keeps its user and assistant turns in memory as they are in the
 * store. Each new question is rewritten from the earlier questions for
 * retrieval (a follow-up such as "how do I measure it?" searches with the
 * words of the question it refers to), the earlier turns go into the prompt
 * as far as the context budget allows (ground.c keeps the newest), and the
 * question, the answer and the sources the answer used are stored in one
 * transaction, so a session can be resumed by name. */
#include "ken_ask.h"
#include "kb/kb.h"
#include "retrieve/ground.h"

#include <stdlib.h>
#include <string.h>

#define SESSION_NAME_BYTES_MAX 200
#define SESSION_MESSAGES_MAX 4096      /* kept in memory; older turns stay in the store */
#define HISTORY_PROMPT_MAX 64          /* newest messages offered to the prompt */
#define EARLIER_QUESTIONS 2

typedef struct {
    char *role, *content;
} message;

struct ken_session {
    ken_kb *kb;
    int64_t id;
    char *name;
    message *msg;
    size_t n, cap;
};

static ken_status push(ken_session *s, const char *role, const char *content, size_t len) {
    if (s->n == SESSION_MESSAGES_MAX) {   /* drop the oldest from memory */
        free(s->msg[0].role);
        free(s->msg[0].content);
        memmove(s->msg, s->msg + 1, (s->n - 1) * sizeof *s->msg);
        s->n--;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        message *v = realloc(s->msg, cap * sizeof *v);
        if (!v) return KEN_ERR_NOMEM;
        s->msg = v;
        s->cap = cap;
    }
    message m = {ken_strdup(role), ken_strndup(content, len)};
    if (!m.role || !m.content) {
        free(m.role);
        free(m.content);
        return KEN_ERR_NOMEM;
    }
    s->msg[s->n++] = m;
    return KEN_OK;
}

typedef struct {
    ken_session *s;
    ken_status st;
} load_ctx;

static int on_turn(void *ud, const ken_store_turn *t) {
    load_ctx *c = ud;
    if (strcmp(t->role, "user") && strcmp(t->role, "assistant")) return 0;
    c->st = push(c->s, t->role, t->content ? t->content : "", t->content_len);
    return c->st != KEN_OK;
}

ken_status ken_session_open(ken_kb *kb, const char *name, int create, ken_session **out) {
    if (out) *out = NULL;
    if (!kb || !name || !out) return KEN_ERR_INVALID;
    size_t nl = strlen(name);
    if (nl == 0 || nl > SESSION_NAME_BYTES_MAX || !ken_utf8_valid(name, nl))
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "a session name is 1 to %d bytes of UTF-8",
                           SESSION_NAME_BYTES_MAX);
    if (create && kb->readonly)
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "chat needs a writable knowledge base");
    ken_session *s = calloc(1, sizeof *s);
    if (!s || !(s->name = ken_strdup(name))) {
        free(s);
        return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    }
    s->kb = kb;
    ken_store *st_ = kb->store;
    ken_status st = st_->ops->session_open(st_, name, create != 0, &s->id);
    if (st != KEN_OK) {
        if (st == KEN_ERR_NOTFOUND)
            ken_err_set(&kb->err, st, "no chat session named '%s'", name);
        else
            ken_kb_store_err(kb, st, "opening the chat session");
        ken_session_close(s);
        return st;
    }
    load_ctx c = {s, KEN_OK};
    st = st_->ops->turn_list(st_, s->id, on_turn, &c);
    if (st == KEN_OK) st = c.st;
    if (st != KEN_OK) {
        if (st == KEN_ERR_NOMEM) ken_err_set(&kb->err, st, "out of memory");
        else ken_kb_store_err(kb, st, "reading the chat session");
        ken_session_close(s);
        return st;
    }
    *out = s;
    return KEN_OK;
}

void ken_session_close(ken_session *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->msg[i].role);
        free(s->msg[i].content);
    }
    free(s->msg);
    free(s->name);
    free(s);
}

const char *ken_session_name(const ken_session *s) { return s ? s->name : ""; }
size_t ken_session_turns(const ken_session *s) { return s ? s->n : 0; }

const char *ken_session_turn(const ken_session *s, size_t i, const char **role) {
    if (!s || i >= s->n) return NULL;
    if (role) *role = s->msg[i].role;
    return s->msg[i].content;
}

/* The newest messages as a JSON array for the prompt. */
static char *history_json(const ken_session *s) {
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    ken_jw_arr_begin(&w);
    size_t from = s->n > HISTORY_PROMPT_MAX ? s->n - HISTORY_PROMPT_MAX : 0;
    for (size_t i = from; i < s->n; i++) {
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "role");
        ken_jw_str(&w, s->msg[i].role);
        ken_jw_key(&w, "content");
        ken_jw_str(&w, s->msg[i].content);
        ken_jw_obj_end(&w);
    }
    ken_jw_arr_end(&w);
    if (ken_jw_status(&w) != KEN_OK) {
        ken_buf_free(&b);
        return NULL;
    }
    return ken_buf_take(&b, NULL);
}

/* The sources of an answer, for the stored turn: those in the prompt, with
 * how often the answer cited each. */
static char *sources_json(const ken_reply_info *i) {
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    ken_jw_arr_begin(&w);
    for (size_t k = 0; k < i->n_sources; k++) {
        const ken_reply_source *s = &i->sources[k];
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "n"); ken_jw_int(&w, s->n);
        ken_jw_key(&w, "doc_id"); ken_jw_int(&w, s->doc_id);
        ken_jw_key(&w, "chunk_id"); ken_jw_int(&w, s->chunk_id);
        ken_jw_key(&w, "uri"); ken_jw_str(&w, s->uri);
        ken_jw_key(&w, "page"); ken_jw_int(&w, s->page);
        ken_jw_key(&w, "start"); ken_jw_int(&w, s->start);
        ken_jw_key(&w, "end"); ken_jw_int(&w, s->end);
        ken_jw_key(&w, "cited"); ken_jw_int(&w, s->cited);
        ken_jw_obj_end(&w);
    }
    ken_jw_arr_end(&w);
    if (ken_jw_status(&w) != KEN_OK) {
        ken_buf_free(&b);
        return NULL;
    }
    return ken_buf_take(&b, NULL);
}

/* Stores the question and the answer as two turns, in one transaction. */
static ken_status store_turns(ken_session *s, const char *question, const ken_reply_info *i) {
    ken_store *st_ = s->kb->store;
    char *src = sources_json(i);
    if (!src) return ken_err_set(&s->kb->err, KEN_ERR_NOMEM, "out of memory");
    ken_store_turn u = {.role = "user", .content = question, .content_len = strlen(question)};
    ken_store_turn a = {.role = "assistant", .content = i->answer, .content_len = i->answer_len,
                        .sources_json = src};
    ken_status st = st_->ops->begin(st_);
    if (st == KEN_OK) st = st_->ops->turn_add(st_, s->id, &u, NULL);
    if (st == KEN_OK) st = st_->ops->turn_add(st_, s->id, &a, NULL);
    if (st == KEN_OK) st = st_->ops->commit(st_);
    if (st != KEN_OK) {
        ken_kb_store_err(s->kb, st, "storing the chat turn");
        st_->ops->rollback(st_);
    }
    free(src);
    return st;
}

ken_status ken_session_ask(ken_session *s, ken_llm *small, ken_llm *large,
                           const char *question, const ken_ask_gen_opts *opts, ken_reply **out) {
    if (out) *out = NULL;
    if (!s || !question || !out) return KEN_ERR_INVALID;
    ken_kb *kb = s->kb;
    if (kb->readonly)
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "chat needs a writable knowledge base");
    const char *earlier[EARLIER_QUESTIONS];
    size_t ne = 0;
    for (size_t i = s->n; i > 0 && ne < EARLIER_QUESTIONS; i--)
        if (strcmp(s->msg[i - 1].role, "user") == 0) earlier[ne++] = s->msg[i - 1].content;
    /* ken_ground_rewrite wants the newest last. */
    for (size_t i = 0; i < ne / 2; i++) {
        const char *t = earlier[i];
        earlier[i] = earlier[ne - 1 - i];
        earlier[ne - 1 - i] = t;
    }
    ken_ask_gen_opts o = {.size = sizeof o};
    if (opts) memcpy(&o, opts, KEN_MIN(sizeof o, opts->size ? opts->size : sizeof o));
    char *query = NULL, *hist = NULL;
    ken_status st = ken_ground_rewrite(question, earlier, ne, &query);
    if (st == KEN_OK && !(hist = history_json(s))) st = KEN_ERR_NOMEM;
    if (st != KEN_OK) {
        free(query);
        return ken_err_set(&kb->err, st, "out of memory");
    }
    o.query = query;
    o.history_json = hist;
    ken_reply *r = NULL;
    st = ken_ask_generate(kb, small, large, question, &o, &r);
    if (st == KEN_OK) st = store_turns(s, question, ken_reply_get(r));
    const ken_reply_info *i = ken_reply_get(r);
    if (st == KEN_OK) st = push(s, "user", question, strlen(question));
    if (st == KEN_OK) st = push(s, "assistant", i->answer, i->answer_len);
    if (st == KEN_ERR_NOMEM) ken_err_set(&kb->err, st, "out of memory");
    free(query);
    free(hist);
    if (st != KEN_OK) {
        ken_reply_free(r);
        return st;
    }
    *out = r;
    return KEN_OK;
}

typedef struct {
    ken_session_fn fn;
    void *ud;
} list_ctx;

static int on_session(void *ud, const ken_store_session *s) {
    list_ctx *c = ud;
    return c->fn(c->ud, s->name, s->n_turns, s->updated);
}

ken_status ken_session_list(ken_kb *kb, ken_session_fn fn, void *ud) {
    if (!kb || !fn) return KEN_ERR_INVALID;
    list_ctx c = {fn, ud};
    ken_status st = kb->store->ops->session_list(kb->store, on_session, &c);
    return st == KEN_OK ? KEN_OK : ken_kb_store_err(kb, st, "listing chat sessions");
}
