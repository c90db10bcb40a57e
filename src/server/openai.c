/* openai.c: the OpenAI-compatible endpoints under /v1: models, chat
 * completions (whole or streamed as chat.completion.chunk events) and
 * embeddings. A request with a "ken" object answers from the knowledge base
 * with citations (in the reply's "ken" object); without a loaded decoder
 * every chat is answered extractively and the model is "ken-extractive".
 * A key bound to a collection answers from that collection only. */
#include "server.h"
#include "ken_chat.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MESSAGES_MAX 256
#define EMBED_INPUTS_MAX 256

typedef struct {
    ken_buf msgs;               /* the conversation as a JSON array of {role, content},
                                   rendered with the model's chat template */
    char *question;             /* the last user message */
    bool use_kb, stream;
    long max_tokens, k;
    double temperature, top_p;
    long seed;
    char coll[COLLECTION_BYTES_MAX];
    char id[40];
    int64_t created;
    ken_answer *answer;         /* extractive answer / sources (use_kb or no model) */
} chat_job;

static void chat_job_free(void *p) {
    chat_job *j = p;
    if (!j) return;
    ken_buf_free(&j->msgs);
    free(j->question);
    ken_answer_free(j->answer);
    free(j);
}

static enum MHD_Result api_models(srv_req *r) {
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "object"); ken_jw_str(&w, "list");
    ken_jw_key(&w, "data");
    ken_jw_arr_begin(&w);
    const char *names[2] = {r->s->model_name, r->s->emb_name[0] ? r->s->emb_name : NULL};
    for (int i = 0; i < 2; i++) {
        if (!names[i]) continue;
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "id"); ken_jw_str(&w, names[i]);
        ken_jw_key(&w, "object"); ken_jw_str(&w, "model");
        ken_jw_key(&w, "created"); ken_jw_int(&w, (int64_t)r->s->started);
        ken_jw_key(&w, "owned_by"); ken_jw_str(&w, "ken");
        ken_jw_obj_end(&w);
    }
    ken_jw_arr_end(&w);
    ken_jw_obj_end(&w);
    return srv_reply_json(r, 200, &b);
}

/* The text of a message's content: a string or an array of text parts. */
static bool content_text(const ken_json *c, ken_buf *out) {
    if (c->type == KEN_JSON_STRING) return ken_buf_append(out, c->str, c->len) == KEN_OK;
    if (c->type != KEN_JSON_ARRAY) return false;
    for (size_t i = 0; i < c->n; i++) {
        const ken_json *t = ken_json_get(&c->kids[i], "text");
        if (!t || t->type != KEN_JSON_STRING) return false;
        if (ken_buf_append(out, t->str, t->len)) return false;
    }
    return true;
}

/* Keeps the messages as a JSON array for the chat template (a "developer"
 * message is a system message to a template) and the last user text. */
static bool chat_messages(srv_req *r, const ken_json *msgs, chat_job *j, enum MHD_Result *res) {
    if (!msgs || msgs->type != KEN_JSON_ARRAY || msgs->n == 0 || msgs->n > MESSAGES_MAX) {
        *res = srv_error(r, 400, "bad_messages", "'messages' must be an array of 1 to %d messages",
                         MESSAGES_MAX);
        return false;
    }
    ken_buf text;
    ken_buf_init(&text, r->s->o.body_bytes_max);
    ken_jw w;
    ken_jw_init(&w, &j->msgs, 0);
    ken_jw_arr_begin(&w);
    for (size_t i = 0; i < msgs->n; i++) {
        const ken_json *m = &msgs->kids[i];
        const char *role = ken_json_str(ken_json_get(m, "role"));
        const ken_json *c = ken_json_get(m, "content");
        ken_buf_reset(&text);
        if (m->type != KEN_JSON_OBJECT || !role || !c || !content_text(c, &text) ||
            (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") &&
             strcmp(role, "developer"))) {
            ken_buf_free(&text);
            *res = srv_error(r, 400, "bad_message", "message %zu needs a role (system, user, "
                                                    "assistant) and text content", i);
            return false;
        }
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "role"); ken_jw_str(&w, strcmp(role, "developer") ? role : "system");
        ken_jw_key(&w, "content"); ken_jw_strn(&w, text.data ? text.data : "", text.len);
        ken_jw_obj_end(&w);
        if (strcmp(role, "user") == 0) {
            free(j->question);
            j->question = ken_strndup(text.data ? text.data : "", text.len);
        }
    }
    ken_jw_arr_end(&w);
    ken_buf_free(&text);
    if (ken_jw_status(&w)) {
        *res = srv_error(r, 500, "nomem", "out of memory");
        return false;
    }
    if (!j->question || !*j->question) {
        *res = srv_error(r, 400, "no_user_message", "a user message with text is needed");
        return false;
    }
    if (strlen(j->question) > r->s->o.query_bytes_max) {
        *res = srv_error(r, 413, "too_long", "the question is longer than %zu bytes",
                         r->s->o.query_bytes_max);
        return false;
    }
    return true;
}

static bool chat_ken_ext(srv_req *r, const ken_json *ext, chat_job *j, enum MHD_Result *res) {
    if (ext->type != KEN_JSON_OBJECT) {
        *res = srv_error(r, 400, "wrong_type", "'ken' must be an object");
        return false;
    }
    static const char *const fields[] = {"collection", "k", NULL};
    const char *coll = NULL, *use = NULL;
    if (!srv_json_fields(r, ext, fields, res) ||
        !srv_json_str(r, ext, "collection", COLLECTION_BYTES_MAX - 1, &coll, res) ||
        !srv_json_int(r, ext, "k", 1, 100, &j->k, res) || !srv_collection(r, coll, &use, res))
        return false;
    if (use) snprintf(j->coll, sizeof j->coll, "%s", use);
    j->use_kb = true;
    return true;
}

static bool chat_parse(srv_req *r, const ken_json *o, chat_job *j, enum MHD_Result *res) {
    static const char *const fields[] = {"model", "messages", "stream", "stream_options",
        "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop", "n",
        "user", "frequency_penalty", "presence_penalty", "ken", NULL};
    const char *model = NULL, *user = NULL;
    long n = 1;
    double fp = 0, pp = 0;
    j->max_tokens = r->s->o.max_tokens, j->k = 8, j->top_p = 1, j->temperature = 0;
    if (!srv_json_fields(r, o, fields, res) || !srv_json_str(r, o, "model", 256, &model, res) ||
        !srv_json_str(r, o, "user", 256, &user, res) ||
        !srv_json_bool(r, o, "stream", &j->stream, res) ||
        !srv_json_int(r, o, "max_tokens", 1, 1L << 30, &j->max_tokens, res) ||
        !srv_json_int(r, o, "max_completion_tokens", 1, 1L << 30, &j->max_tokens, res) ||
        !srv_json_num(r, o, "temperature", 0, 2, &j->temperature, res) ||
        !srv_json_num(r, o, "top_p", 0, 1, &j->top_p, res) ||
        !srv_json_int(r, o, "seed", -(1L << 52), 1L << 52, &j->seed, res) ||
        !srv_json_int(r, o, "n", 1, 1, &n, res) ||
        !srv_json_num(r, o, "frequency_penalty", -2, 2, &fp, res) ||
        !srv_json_num(r, o, "presence_penalty", -2, 2, &pp, res))
        return false;
    if (j->max_tokens > r->s->o.max_tokens) j->max_tokens = r->s->o.max_tokens;   /* the server's cap */
    const ken_json *ext = ken_json_get(o, "ken");
    if (ext && ext->type != KEN_JSON_NULL && !chat_ken_ext(r, ext, j, res)) return false;
    if (!j->use_kb && r->auth.collection[0])   /* a bound key never chats past its collection */
        snprintf(j->coll, sizeof j->coll, "%s", r->auth.collection);
    return chat_messages(r, ken_json_get(o, "messages"), j, res);
}

/* The knowledge base's answer (extractive) for the question. */
static ken_status chat_answer(srv *s, chat_job *j) {
    srv_slot *sl = srv_slot_get(s);
    if (!sl) return KEN_ERR_CANCELLED;
    ken_ask_opts ao = {.size = sizeof ao, .k = (uint32_t)j->k,
                       .collection = j->coll[0] ? j->coll : NULL};
    ken_status st = ken_ask(sl->kb, j->question, &ao, &j->answer);
    srv_slot_put(s, sl);
    return st;
}

/* With a decoder and the knowledge base: the conversation becomes the
 * question with the cited sentences as numbered sources. */
static ken_status rag_messages(chat_job *j) {
    ken_buf user;
    ken_buf_init(&user, 0);
    ken_buf_puts(&user, "Sources:\n");
    for (size_t i = 0; i < ken_answer_citations(j->answer); i++) {
        const ken_citation *c = ken_answer_citation(j->answer, i);
        ken_buf_printf(&user, "[%d] %s\n", c->n, c->sentence ? c->sentence : "");
    }
    ken_buf_printf(&user, "\nQuestion: %s", j->question);
    ken_buf_reset(&j->msgs);
    ken_jw w;
    ken_jw_init(&w, &j->msgs, 0);
    ken_jw_arr_begin(&w);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "role"); ken_jw_str(&w, "system");
    ken_jw_key(&w, "content"); ken_jw_str(&w, "Answer from the sources only and cite them as [n].");
    ken_jw_obj_end(&w);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "role"); ken_jw_str(&w, "user");
    ken_jw_key(&w, "content"); ken_jw_strn(&w, user.data ? user.data : "", user.len);
    ken_jw_obj_end(&w);
    ken_jw_arr_end(&w);
    ken_buf_free(&user);
    return ken_jw_status(&w) ? KEN_ERR_NOMEM : KEN_OK;
}

/* ---- one chunk / completion object */

static void jw_head(ken_jw *w, srv *s, chat_job *j, const char *object) {
    ken_jw_key(w, "id"); ken_jw_str(w, j->id);
    ken_jw_key(w, "object"); ken_jw_str(w, object);
    ken_jw_key(w, "created"); ken_jw_int(w, j->created);
    ken_jw_key(w, "model"); ken_jw_str(w, s->model_name);
}

static void jw_ken(ken_jw *w, chat_job *j) {
    if (!j->answer) return;
    ken_jw_key(w, "ken");
    ken_jw_obj_begin(w);
    ken_jw_key(w, "found"); ken_jw_bool(w, ken_answer_found(j->answer) != 0);
    ken_jw_key(w, "citations");
    ken_jw_arr_begin(w);
    for (size_t i = 0; i < ken_answer_citations(j->answer); i++)
        srv_jw_citation(w, ken_answer_citation(j->answer, i));
    ken_jw_arr_end(w);
    ken_jw_obj_end(w);
}

static int chunk_event(srv_stream *st, chat_job *j, const char *text, size_t n, bool last) {
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    ken_jw_obj_begin(&w);
    jw_head(&w, srv_stream_srv(st), j, "chat.completion.chunk");
    ken_jw_key(&w, "choices");
    ken_jw_arr_begin(&w);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "index"); ken_jw_int(&w, 0);
    ken_jw_key(&w, "delta");
    ken_jw_obj_begin(&w);
    if (text) { ken_jw_key(&w, "role"); ken_jw_str(&w, "assistant"); }
    if (text) { ken_jw_key(&w, "content"); ken_jw_strn(&w, text, n); }
    ken_jw_obj_end(&w);
    ken_jw_key(&w, "finish_reason");
    if (last) ken_jw_str(&w, "stop"); else ken_jw_null(&w);
    ken_jw_obj_end(&w);
    ken_jw_arr_end(&w);
    if (last) jw_ken(&w, j);
    ken_jw_obj_end(&w);
    int rc = ken_jw_status(&w) ? 1 : srv_stream_event(st, b.data, b.len);
    ken_buf_free(&b);
    return rc;
}

/* ---- generation */

typedef struct {
    srv_stream *st;             /* streaming, else NULL */
    chat_job *j;
    double t_end;
} gen_cb;

static int on_token(void *ud, int32_t id, const char *text, size_t len) {
    (void)id;
    gen_cb *g = ud;
    if (g->st) {
        if (len && chunk_event(g->st, g->j, text, len, false)) return 1;
        return srv_stream_expired(g->st);
    }
    return ken_now() > g->t_end;
}

/* The prompt: the model's own chat template over the messages (or the
 * built-in format it falls back to, as llama.cpp's server does). */
static ken_status render(srv *s, chat_job *j, char **prompt, size_t *len) {
    ken_chat_opts co = {.size = sizeof co, .add_generation_prompt = 1};
    char *warning = NULL, *msg = NULL;
    ken_status e = ken_chat_render_model(s->o.model_path, &co, j->msgs.data ? j->msgs.data : "[]",
                                         prompt, len, &warning, &msg);
    ken_free(warning);
    ken_free(msg);
    return e;
}

static ken_status generate(srv *s, chat_job *j, srv_stream *st, char **out, size_t *out_len,
                           ken_gen_stats *gs) {
    char *prompt = NULL;
    size_t plen = 0;
    ken_status e = render(s, j, &prompt, &plen);
    if (e) return e;
    ken_ctx_opts co = {.size = sizeof co, .n_threads = 1};
    ken_ctx *ctx = NULL;
    char *msg = NULL;
    e = ken_ctx_new(s->model, &co, &ctx, &msg);
    ken_free(msg);
    if (e) {
        ken_free(prompt);
        return e;
    }
    gen_cb g = {st, j, ken_now() + s->o.timeout_s};
    ken_gen_opts go = {.size = sizeof go, .max_tokens = (int)j->max_tokens,
                       .temperature = (float)j->temperature, .top_p = (float)j->top_p,
                       .seed = (uint64_t)j->seed, .parse_special = 1, .on_token = on_token,
                       .ud = &g};
    go.stop = ken_chat_format_stops(s->chat_format, &go.n_stop);
    e = ken_generate(ctx, prompt, plen, &go, out, out_len, gs);
    ken_ctx_free(ctx);
    ken_free(prompt);
    return e;
}

static void chat_stream(srv_stream *st, void *p) {
    chat_job *j = p;
    srv *s = srv_stream_srv(st);
    ken_status e = KEN_OK;
    if (j->use_kb || !s->model) e = chat_answer(s, j);
    if (!e && s->model) {
        if (j->use_kb) e = rag_messages(j);
        ken_gen_stats gs;
        if (!e) e = generate(s, j, st, NULL, NULL, &gs);
    } else if (!e) {
        const char *t = ken_answer_text(j->answer);
        size_t n = strlen(t), i = 0;
        while (i < n && !e) {   /* word-sized deltas, as a model would send */
            size_t k = i;
            while (k < n && t[k] == ' ') k++;
            while (k < n && t[k] != ' ') k++;
            if (chunk_event(st, j, t + i, k - i, false)) e = KEN_ERR_CANCELLED;
            i = k;
        }
    }
    if (e) {
        const char *m = "{\"error\":{\"message\":\"the answer failed\",\"type\":\"server_error\","
                        "\"code\":\"internal\"}}";
        srv_stream_event(st, m, strlen(m));
    } else {
        chunk_event(st, j, NULL, 0, true);
    }
    srv_stream_write(st, "data: [DONE]\n\n", 14);
}

static enum MHD_Result chat_whole(srv_req *r, chat_job *j) {
    srv *s = r->s;
    char *text = NULL;
    size_t tlen = 0;
    ken_gen_stats gs = {0};
    ken_status e = KEN_OK;
    if (j->use_kb || !s->model) e = chat_answer(s, j);
    if (!e && s->model) {
        if (j->use_kb) e = rag_messages(j);
        if (!e) e = generate(s, j, NULL, &text, &tlen, &gs);
    }
    enum MHD_Result res;
    if (e) {
        res = srv_error(r, srv_status_http(e), "generation_failed", "the answer failed: %s",
                        ken_status_str(e));
    } else {
        const char *content = s->model ? (text ? text : "") : ken_answer_text(j->answer);
        size_t clen = s->model ? tlen : strlen(content);
        ken_buf b;
        ken_buf_init(&b, 0);
        ken_jw w;
        ken_jw_init(&w, &b, 0);
        ken_jw_obj_begin(&w);
        jw_head(&w, s, j, "chat.completion");
        ken_jw_key(&w, "choices");
        ken_jw_arr_begin(&w);
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "index"); ken_jw_int(&w, 0);
        ken_jw_key(&w, "message");
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "role"); ken_jw_str(&w, "assistant");
        ken_jw_key(&w, "content"); ken_jw_strn(&w, content, clen);
        ken_jw_obj_end(&w);
        ken_jw_key(&w, "finish_reason");
        ken_jw_str(&w, s->model && gs.reason == KEN_STOP_MAX_TOKENS ? "length" : "stop");
        ken_jw_obj_end(&w);
        ken_jw_arr_end(&w);
        ken_jw_key(&w, "usage");
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "prompt_tokens"); ken_jw_uint(&w, gs.n_prompt);
        ken_jw_key(&w, "completion_tokens"); ken_jw_uint(&w, gs.n_generated);
        ken_jw_key(&w, "total_tokens"); ken_jw_uint(&w, gs.n_prompt + gs.n_generated);
        ken_jw_obj_end(&w);
        jw_ken(&w, j);
        ken_jw_obj_end(&w);
        res = srv_reply_json(r, 200, &b);
    }
    ken_free(text);
    return res;
}

static enum MHD_Result api_chat(srv_req *r) {
    enum MHD_Result res;
    ken_json_doc *d = srv_body_json(r, &res);
    if (!d) return res;
    chat_job *j = calloc(1, sizeof *j);
    if (!j) { ken_json_free(d); return srv_error(r, 500, "nomem", "out of memory"); }
    ken_buf_init(&j->msgs, r->s->o.body_bytes_max + 4096);
    bool ok = chat_parse(r, ken_json_root(d), j, &res);
    ken_json_free(d);
    if (!ok) { chat_job_free(j); return res; }
    j->created = (int64_t)time(NULL);
    snprintf(j->id, sizeof j->id, "chatcmpl-%" PRIx64, (uint64_t)(ken_now() * 1e6) ^
             (uint64_t)(uintptr_t)j);
    unsigned g = srv_gen_acquire(r->s);
    if (g) {
        chat_job_free(j);
        return srv_gen_busy(r, g);
    }
    if (j->stream) return srv_stream_start(r, "text/event-stream", chat_stream, j, chat_job_free, true);
    res = chat_whole(r, j);
    srv_gen_release(r->s);
    chat_job_free(j);
    return res;
}

/* ---- embeddings */

static void base64(ken_buf *b, const uint8_t *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63],
                     i + 1 < n ? tab[(v >> 6) & 63] : '=', i + 2 < n ? tab[v & 63] : '='};
        ken_buf_append(b, q, 4);
    }
}

static bool embed_inputs(srv_req *r, const ken_json *in, const ken_json **items, size_t *n,
                         enum MHD_Result *res) {
    if (in && in->type == KEN_JSON_STRING) { items[0] = in; *n = 1; }
    else if (in && in->type == KEN_JSON_ARRAY && in->n >= 1 && in->n <= EMBED_INPUTS_MAX) {
        for (size_t i = 0; i < in->n; i++) {
            if (in->kids[i].type != KEN_JSON_STRING) {
                *res = srv_error(r, 400, "wrong_type", "'input' must hold strings (token "
                                                       "arrays are not supported)");
                return false;
            }
            items[i] = &in->kids[i];
        }
        *n = in->n;
    } else {
        *res = srv_error(r, 400, "bad_input", "'input' must be a string or an array of 1 to %d "
                                              "strings", EMBED_INPUTS_MAX);
        return false;
    }
    for (size_t i = 0; i < *n; i++)
        if (items[i]->len == 0 || items[i]->len > r->s->o.query_bytes_max * 8) {
            *res = srv_error(r, 400, "bad_input", "input %zu is empty or too long", i);
            return false;
        }
    return true;
}

static enum MHD_Result embed_run(srv_req *r, const ken_json **items, size_t n, bool b64) {
    ken_ctx_opts co = {.size = sizeof co, .n_threads = 1};
    ken_ctx *ctx = NULL;
    char *msg = NULL;
    ken_status e = ken_ctx_new(r->s->emb, &co, &ctx, &msg);
    ken_free(msg);
    if (e) return srv_error(r, 500, "model", "cannot start the encoder");
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "object"); ken_jw_str(&w, "list");
    ken_jw_key(&w, "model"); ken_jw_str(&w, r->s->emb_name);
    ken_jw_key(&w, "data");
    ken_jw_arr_begin(&w);
    uint64_t toks = 0;
    for (size_t i = 0; i < n && !e; i++) {
        float *vec = NULL;
        size_t dim = 0;
        e = ken_embed(ctx, items[i]->str, items[i]->len, KEN_EMBED_POOL_MODEL, 1, &vec, &dim);
        if (e) break;
        toks += items[i]->len / 4 + 1;
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "object"); ken_jw_str(&w, "embedding");
        ken_jw_key(&w, "index"); ken_jw_uint(&w, i);
        ken_jw_key(&w, "embedding");
        if (b64) {
            ken_buf t;
            ken_buf_init(&t, 0);
            base64(&t, (const uint8_t *)vec, dim * sizeof *vec);   /* float32 little-endian */
            ken_jw_strn(&w, t.data ? t.data : "", t.len);
            ken_buf_free(&t);
        } else {
            ken_jw_arr_begin(&w);
            for (size_t k = 0; k < dim; k++) ken_jw_num(&w, vec[k]);
            ken_jw_arr_end(&w);
        }
        ken_jw_obj_end(&w);
        ken_free(vec);
    }
    ken_jw_arr_end(&w);
    ken_jw_key(&w, "usage");
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "prompt_tokens"); ken_jw_uint(&w, toks);
    ken_jw_key(&w, "total_tokens"); ken_jw_uint(&w, toks);
    ken_jw_obj_end(&w);
    ken_jw_obj_end(&w);
    ken_ctx_free(ctx);
    if (e) {
        ken_buf_free(&b);
        return srv_error(r, srv_status_http(e), "embedding_failed", "embedding failed: %s",
                         ken_status_str(e));
    }
    return srv_reply_json(r, 200, &b);
}

static enum MHD_Result api_embeddings(srv_req *r) {
    enum MHD_Result res;
    ken_json_doc *d = srv_body_json(r, &res);
    if (!d) return res;
    const ken_json *o = ken_json_root(d);
    static const char *const fields[] = {"input", "model", "encoding_format", "dimensions",
                                         "user", NULL};
    const char *model = NULL, *fmt = NULL, *user = NULL;
    long dims = 0;
    const ken_json *items[EMBED_INPUTS_MAX];
    size_t n = 0;
    if (!srv_json_fields(r, o, fields, &res) || !srv_json_str(r, o, "model", 256, &model, &res) ||
        !srv_json_str(r, o, "encoding_format", 16, &fmt, &res) ||
        !srv_json_str(r, o, "user", 256, &user, &res) ||
        !srv_json_int(r, o, "dimensions", 1, 1 << 20, &dims, &res) ||
        !embed_inputs(r, ken_json_get(o, "input"), items, &n, &res)) {
        ken_json_free(d);
        return res;
    }
    if (fmt && strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0)
        res = srv_error(r, 400, "bad_format", "'encoding_format' is float or base64");
    else if (!r->s->emb)
        res = srv_error(r, 400, "no_embedding_model", "no encoder model is loaded (start "
                                                      "`ken serve --embed-model FILE`)");
    else if (dims && dims != ken_model_n_embd(r->s->emb))
        res = srv_error(r, 400, "bad_dimensions", "this model gives %d dimensions",
                        ken_model_n_embd(r->s->emb));
    else
        res = embed_run(r, items, n, fmt && strcmp(fmt, "base64") == 0);
    ken_json_free(d);
    return res;
}

enum MHD_Result srv_openai(srv_req *r, const char *path) {
    bool get = strcmp(r->method, "GET") == 0, post = strcmp(r->method, "POST") == 0;
    if (strcmp(path, "/models") == 0 && get) return api_models(r);
    if (strcmp(path, "/chat/completions") == 0 && post) return api_chat(r);
    if (strcmp(path, "/embeddings") == 0 && post) return api_embeddings(r);
    if (strcmp(path, "/models") == 0 || strcmp(path, "/chat/completions") == 0 ||
        strcmp(path, "/embeddings") == 0)
        return srv_error(r, 405, "method_not_allowed", "%s is not allowed here", r->method);
    return srv_error(r, 404, "no_route", "no such endpoint");
}
