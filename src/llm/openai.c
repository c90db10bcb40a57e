/* openai.c: the HTTP backend of ken_llm over the OpenAI API: chat
 * completions streamed as Server-Sent Events (or answered whole when the
 * server sends application/json), embeddings, and the model list. Stop
 * strings are also applied here (not every server honours them, and
 * OpenAI takes at most four): text that could begin a stop string is held
 * back, so the pieces given to on_text always concatenate to the reply. */
#include "llm/http.h"
#include "base/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EMBED_BATCH 256
#define EMBED_DIM_MAX (1 << 20)
#define SERVER_STOPS_MAX 4

ken_status llm_http_open(ken_llm *l, const ken_llm_opts *o, char **errmsg);

static ken_status fail(char **errmsg, ken_status st, const char *fmt, const char *arg) {
    llm_errmsg(errmsg, fmt, arg);
    return st;
}

static ken_status parse_body(const ken_llm *l, const ken_buf *b, ken_json_doc **d, const char *what,
                             char **errmsg) {
    ken_json_opts jo = {.bytes_max = l->resp_max};
    ken_err err = {{0}};
    if (ken_json_parse(b->data ? b->data : "", b->len, &jo, d, NULL, &err) == KEN_OK) return KEN_OK;
    llm_errmsg(errmsg, "the server's %s is not valid JSON: %s", what, err.msg);
    return KEN_ERR_FORMAT;
}

/* ------------------------------------------------------------ open */

static ken_status first_model(ken_llm *l, char **errmsg) {
    http_resp r;
    ken_status st = llm_http_do(l, "GET", "/models", NULL, 0, NULL, NULL, &r, errmsg);
    ken_json_doc *d = NULL;
    if (!st) st = parse_body(l, &r.body, &d, "model list", errmsg);
    if (!st) {
        const ken_json *data = ken_json_get(ken_json_root(d), "data");
        const char *id = ken_json_str(ken_json_get(ken_json_at(data, 0), "id"));
        if (!id || !*id)
            st = fail(errmsg, KEN_ERR_NOTFOUND, "%s", "the server lists no models; name one "
                      "(--backend-model or KEN_BACKEND_MODEL)");
        else if (!(l->name = ken_strdup(id)))
            st = KEN_ERR_NOMEM;
    }
    ken_json_free(d);
    ken_buf_free(&r.body);
    return st;
}

ken_status llm_http_open(ken_llm *l, const ken_llm_opts *o, char **errmsg) {
    l->kind = LLM_HTTP;
    if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0)
        return fail(errmsg, KEN_ERR_INVALID, "%s", "the backend URL must start with http:// or "
                    "https:// (e.g. http://127.0.0.1:8080/v1)");
    size_t n = strlen(o->url);
    while (n && o->url[n - 1] == '/') n--;
    if (n > 2048 || strpbrk(o->url, " \r\n\t"))
        return fail(errmsg, KEN_ERR_INVALID, "%s", "the backend URL is too long or has spaces");
    const char *key = o->api_key;
    if (!key) {
        key = getenv("KEN_API_KEY");
        if (key && !*key) key = NULL;
    }
    if (key && (strpbrk(key, "\r\n") || strlen(key) > 4096))
        return fail(errmsg, KEN_ERR_INVALID, "%s", "the API key has a line break or is too long");
    if (o->retries < -1 || o->retries > 20 || o->timeout_s < 0 || o->backoff_s < 0 ||
        o->timeout_s != o->timeout_s || o->backoff_s != o->backoff_s)
        return fail(errmsg, KEN_ERR_INVALID, "%s", "retries must be -1 to 20, timeout and "
                    "backoff not negative");
    l->url = ken_strndup(o->url, n);
    l->api_key = key ? ken_strdup(key) : NULL;
    if (!l->url || (key && !l->api_key)) return fail(errmsg, KEN_ERR_NOMEM, "%s", "out of memory");
    l->timeout_s = o->timeout_s > 0 ? o->timeout_s : 120;
    l->retries = o->retries == -1 ? 0 : o->retries == 0 ? 3 : o->retries;
    l->backoff_s = o->backoff_s > 0 ? o->backoff_s : 0.5;
    l->resp_max = o->response_bytes_max ? o->response_bytes_max : LLM_GEN_BYTES_MAX;
    l->n_ctx = o->n_ctx > 0 ? o->n_ctx : 4096;
    if (o->model_name) {
        if (!*o->model_name || strlen(o->model_name) > 512)
            return fail(errmsg, KEN_ERR_INVALID, "%s", "the model name is empty or too long");
        return (l->name = ken_strdup(o->model_name)) ? KEN_OK
                                                     : fail(errmsg, KEN_ERR_NOMEM, "%s", "out of memory");
    }
    return first_model(l, errmsg);
}

void llm_http_close(ken_llm *l) {
    if (l->api_key) memset(l->api_key, 0, strlen(l->api_key));
    free(l->api_key);
    free(l->url);
}

/* ------------------------------------------------------------ chat */

typedef struct {
    ken_llm *l;
    const ken_llm_gen_opts *o;
    http_stream hs;
    sse_parser sse;
    ken_buf text;               /* the reply so far (stop strings cut) */
    size_t emitted, max_stop;
    bool done, stopped, halted;
    char finish[16];
    bool usage;
    double n_prompt, n_completion;
    double t0, ttft;
} chat_run;

static size_t find_stop(const chat_run *c, size_t from) {
    const char *t = c->text.data;
    size_t n = c->text.len, first = n;
    for (size_t i = 0; i < c->o->n_stop; i++) {
        size_t sl = strlen(c->o->stop[i]);
        for (size_t p = from; p + sl <= n && p < first; p++)
            if (memcmp(t + p, c->o->stop[i], sl) == 0) {
                first = p;
                break;
            }
    }
    return first;
}

/* The longest end of the text that is a proper prefix of a stop string. */
static size_t stop_overlap(const chat_run *c) {
    size_t best = 0, n = c->text.len;
    for (size_t i = 0; i < c->o->n_stop; i++) {
        size_t sl = strlen(c->o->stop[i]);
        for (size_t k = KEN_MIN(sl - 1, n); k > best; k--)
            if (memcmp(c->text.data + n - k, c->o->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Hands text[emitted..upto) to the caller. 1 when the caller said stop. */
static int emit(chat_run *c, size_t upto) {
    if (upto <= c->emitted) return 0;
    const char *p = c->text.data + c->emitted;
    size_t n = upto - c->emitted;
    c->emitted = upto;
    c->hs.delivered = true;
    if (c->o->on_text && c->o->on_text(c->o->ud, p, n)) return c->halted = true, 1;
    return 0;
}

/* New reply text: 0 go on, 1 stop (a stop string or the caller), -1 failure. */
static int add_text(chat_run *c, const char *s, size_t n) {
    if (!n || c->stopped || c->halted) return c->stopped || c->halted;
    if (c->ttft < 0) c->ttft = ken_now() - c->t0;
    size_t before = c->text.len;
    if (ken_buf_append(&c->text, s, n)) {
        c->hs.st = KEN_ERR_LIMIT;
        snprintf(c->hs.msg, sizeof c->hs.msg, "the reply is longer than %zu bytes", LLM_GEN_BYTES_MAX);
        return -1;
    }
    size_t from = before + 1 > c->max_stop ? before + 1 - c->max_stop : 0;
    size_t at = find_stop(c, from);
    if (at < c->text.len) {
        c->text.len = at;
        c->text.data[at] = 0;
        c->stopped = true;
        emit(c, at);
        return 1;
    }
    return emit(c, c->text.len - stop_overlap(c));
}

static void take_usage(chat_run *c, const ken_json *u) {
    const ken_json *p = ken_json_get(u, "prompt_tokens"), *g = ken_json_get(u, "completion_tokens");
    if (p && p->type == KEN_JSON_NUMBER && g && g->type == KEN_JSON_NUMBER && p->num >= 0 &&
        g->num >= 0 && p->num < 1e15 && g->num < 1e15) {
        c->usage = true;
        c->n_prompt = p->num;
        c->n_completion = g->num;
    }
}

/* One chat.completion(.chunk) object: its text, finish reason and usage. */
static int take_choice(chat_run *c, const ken_json *root, const char *msg_field) {
    const ken_json *err = ken_json_get(root, "error");
    if (err && err->type != KEN_JSON_NULL) {
        const char *m = ken_json_str(ken_json_get(err, "message"));
        if (!m) m = ken_json_str(err);
        c->hs.st = KEN_ERR_IO;
        snprintf(c->hs.msg, sizeof c->hs.msg, "the server failed mid-answer: %.300s",
                 m ? m : "(no message)");
        return -1;
    }
    take_usage(c, ken_json_get(root, "usage"));
    const ken_json *choices = ken_json_get(root, "choices");
    if (choices && choices->type != KEN_JSON_ARRAY) {
        c->hs.st = KEN_ERR_FORMAT;
        snprintf(c->hs.msg, sizeof c->hs.msg, "'choices' in the server's answer is not an array");
        return -1;
    }
    const ken_json *ch = ken_json_at(choices, 0);
    if (!ch) return 0;          /* e.g. the usage-only chunk */
    const char *fin = ken_json_str(ken_json_get(ch, "finish_reason"));
    if (fin && *fin) snprintf(c->finish, sizeof c->finish, "%s", fin);
    const ken_json *content = ken_json_get(ken_json_get(ch, msg_field), "content");
    if (content && content->type == KEN_JSON_STRING) return add_text(c, content->str, content->len);
    if (content && content->type != KEN_JSON_NULL) {
        c->hs.st = KEN_ERR_FORMAT;
        snprintf(c->hs.msg, sizeof c->hs.msg, "the reply's content is a %s, not text",
                 ken_json_type_name(content->type));
        return -1;
    }
    return 0;
}

static int on_event(void *ud, const char *data, size_t len) {
    chat_run *c = ud;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) return c->done = true, 1;
    ken_json_doc *d = NULL;
    ken_json_opts jo = {.bytes_max = c->l->resp_max, .depth_max = 64};
    ken_err err = {{0}};
    if (ken_json_parse(data, len, &jo, &d, NULL, &err)) {
        c->hs.st = KEN_ERR_FORMAT;
        char head[48];
        snprintf(head, sizeof head, "%.*s", (int)KEN_MIN(len, 40), data);
        head[ken_utf8_valid_prefix(head, strlen(head))] = 0;
        for (char *p = head; *p; p++)
            if ((unsigned char)*p < 0x20) *p = ' ';
        snprintf(c->hs.msg, sizeof c->hs.msg, "a malformed event in the stream (%.300s): '%s'",
                 err.msg, head);
        return -1;
    }
    int r = take_choice(c, ken_json_root(d), "delta");
    ken_json_free(d);
    return r;
}

static int on_data(void *ud, const char *p, size_t n) {
    chat_run *c = ud;
    int r = sse_feed(&c->sse, p, n);
    if (r == -2) {
        c->hs.st = KEN_ERR_LIMIT;
        snprintf(c->hs.msg, sizeof c->hs.msg, "an event of the stream is larger than the limit "
                 "of %zu bytes", c->l->resp_max);
        return -1;
    }
    return r;
}

static void on_reset(void *ud) {
    chat_run *c = ud;
    sse_reset(&c->sse);
    ken_buf_reset(&c->text);
    c->emitted = 0;
    c->done = c->stopped = c->halted = c->usage = false;
    c->finish[0] = 0;
    c->ttft = -1;
}

static ken_status chat_body(ken_llm *l, const char *messages_json, const ken_llm_gen_opts *o,
                            ken_buf *b, char **errmsg) {
    ken_json_doc *d = NULL;
    ken_err err = {{0}};
    ken_json_opts jo = {.depth_max = 64};
    if (ken_json_parse(messages_json, strlen(messages_json), &jo, &d, NULL, &err))
        return fail(errmsg, KEN_ERR_FORMAT, "the messages are not valid JSON: %s", err.msg);
    const ken_json *m = ken_json_root(d);
    bool ok = m->type == KEN_JSON_ARRAY && m->n > 0;
    ken_json_free(d);
    if (!ok) return fail(errmsg, KEN_ERR_INVALID, "%s", "the messages must be a non-empty JSON array");
    ken_jw w;
    ken_jw_init(&w, b, 0);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "model"); ken_jw_str(&w, l->name);
    ken_jw_key(&w, "messages"); ken_jw_raw(&w, messages_json);
    ken_jw_key(&w, "stream"); ken_jw_bool(&w, true);
    ken_jw_key(&w, "stream_options");
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "include_usage"); ken_jw_bool(&w, true);
    ken_jw_obj_end(&w);
    ken_jw_key(&w, "max_tokens"); ken_jw_int(&w, o->max_tokens);
    ken_jw_key(&w, "temperature"); ken_jw_num(&w, o->temperature > 0 ? o->temperature : 0);
    if (o->top_p > 0 && o->top_p < 1) { ken_jw_key(&w, "top_p"); ken_jw_num(&w, o->top_p); }
    if (o->seed) { ken_jw_key(&w, "seed"); ken_jw_int(&w, (int64_t)(o->seed & ((1ull << 52) - 1))); }
    if (o->n_stop) {
        ken_jw_key(&w, "stop");
        ken_jw_arr_begin(&w);
        for (size_t i = 0; i < o->n_stop && i < SERVER_STOPS_MAX; i++) ken_jw_str(&w, o->stop[i]);
        ken_jw_arr_end(&w);
    }
    ken_jw_obj_end(&w);
    return ken_jw_status(&w) ? fail(errmsg, KEN_ERR_NOMEM, "%s", "out of memory") : KEN_OK;
}

/* After a complete transfer: the rest of the stream, or the whole answer. */
static ken_status chat_finish(chat_run *c, http_resp *r, char **errmsg) {
    int rc = 0;
    if (r->streamed) {
        if (!c->done && !c->stopped && !c->halted) rc = sse_finish(&c->sse);
        if (rc < 0) return fail(errmsg, c->hs.st ? c->hs.st : KEN_ERR_FORMAT, "%s", c->hs.msg);
        if (!c->done && !c->stopped && !c->halted && !c->finish[0])
            return fail(errmsg, KEN_ERR_IO, "%s", "the server ended the stream before the reply "
                        "was complete (no finish reason, no [DONE])");
    } else {
        ken_json_doc *d = NULL;
        ken_status st = parse_body(c->l, &r->body, &d, "answer", errmsg);
        if (st) return st;
        const ken_json *root = ken_json_root(d);
        if (!ken_json_get(root, "choices") && !ken_json_get(root, "error")) {
            ken_json_free(d);
            return fail(errmsg, KEN_ERR_FORMAT, "%s", "the server's answer has no 'choices'");
        }
        rc = take_choice(c, ken_json_root(d), "message");
        ken_json_free(d);
        if (rc < 0) return fail(errmsg, c->hs.st ? c->hs.st : KEN_ERR_FORMAT, "%s", c->hs.msg);
    }
    if (!c->stopped && !c->halted) emit(c, c->text.len);   /* held back, now final */
    return KEN_OK;
}

ken_status llm_http_chat(ken_llm *l, const char *messages_json, const ken_llm_gen_opts *o,
                         char **text, size_t *text_len, ken_llm_stats *stats, char **errmsg) {
    if (o->cancel && *o->cancel) return fail(errmsg, KEN_ERR_CANCELLED, "%s", "cancelled");
    ken_buf body;
    ken_buf_init(&body, 0);
    ken_status st = chat_body(l, messages_json, o, &body, errmsg);
    chat_run c = {.l = l, .o = o, .t0 = ken_now(), .ttft = -1};
    c.hs = (http_stream){.reset = on_reset, .on_data = on_data, .ud = &c};
    sse_init(&c.sse, l->resp_max, on_event, &c);
    ken_buf_init(&c.text, LLM_GEN_BYTES_MAX);
    for (size_t i = 0; i < o->n_stop; i++) c.max_stop = KEN_MAX(c.max_stop, strlen(o->stop[i]));
    http_resp r = {0};
    if (!st) st = llm_http_do(l, "POST", "/chat/completions", body.data, body.len, &c.hs,
                              o->cancel, &r, errmsg);
    if (!st) st = chat_finish(&c, &r, errmsg);
    stats->retries = r.retries;
    stats->n_prompt = c.usage ? (size_t)c.n_prompt : ken_llm_count_tokens(l, messages_json,
                                                                          strlen(messages_json));
    stats->n_generated = c.usage ? (size_t)c.n_completion : ken_llm_count_tokens(l, c.text.data,
                                                                                 c.text.len);
    stats->total_s = ken_now() - c.t0;
    stats->ttft_s = c.ttft >= 0 ? c.ttft : stats->total_s;
    snprintf(stats->finish, sizeof stats->finish, "%s", c.halted ? "cancelled" : c.stopped ? "stop"
             : st == KEN_ERR_CANCELLED ? "cancelled" : c.finish[0] ? c.finish : "stop");
    if (!st && text) {
        if (!c.text.data) st = ken_buf_puts(&c.text, "");
        if (!st) *text = ken_buf_take(&c.text, text_len);
    } else if (!st && text_len) {
        *text_len = c.text.len;
    }
    ken_buf_free(&c.text);
    ken_buf_free(&r.body);
    ken_buf_free(&body);
    sse_free(&c.sse);
    return st;
}

/* ------------------------------------------------------------ embeddings */

/* Puts the vectors of one answer at out[(first + index) * dim]. */
static ken_status take_vectors(const ken_json *root, size_t first, size_t n, float *out,
                               size_t *dim, bool *seen, char **errmsg) {
    const ken_json *data = ken_json_get(root, "data");
    if (!data || data->type != KEN_JSON_ARRAY || data->n != n) {
        llm_errmsg(errmsg, "the server gave %zu embeddings for %zu texts",
                   data && data->type == KEN_JSON_ARRAY ? data->n : 0, n);
        return KEN_ERR_FORMAT;
    }
    for (size_t i = 0; i < n; i++) {
        const ken_json *e = &data->kids[i], *ix = ken_json_get(e, "index");
        const ken_json *v = ken_json_get(e, "embedding");
        size_t at = i;
        if (ix && ix->type == KEN_JSON_NUMBER) {
            if (!(ix->num >= 0 && ix->num < (double)n && ix->num == floor(ix->num)))
                return fail(errmsg, KEN_ERR_FORMAT, "%s", "an embedding's index is out of range");
            at = (size_t)ix->num;
        }
        if (!v || v->type != KEN_JSON_ARRAY || v->n == 0 || v->n > EMBED_DIM_MAX)
            return fail(errmsg, KEN_ERR_FORMAT, "%s", "an embedding is not an array of numbers");
        if (*dim == 0) *dim = v->n;
        if (v->n != *dim || seen[first + at]) {
            llm_errmsg(errmsg, "the embeddings disagree in size (%zu and %zu) or repeat an index",
                       *dim, v->n);
            return KEN_ERR_FORMAT;
        }
        seen[first + at] = true;
        float *dst = out + (first + at) * *dim;
        double ss = 0;
        for (size_t k = 0; k < v->n; k++) {
            if (v->kids[k].type != KEN_JSON_NUMBER || !isfinite((float)v->kids[k].num))
                return fail(errmsg, KEN_ERR_FORMAT, "%s", "an embedding holds a non-number");
            dst[k] = (float)v->kids[k].num;
            ss += (double)dst[k] * dst[k];
        }
        if (ss > 0 && fabs(ss - 1) > 1e-6)
            for (size_t k = 0; k < v->n; k++) dst[k] = (float)(dst[k] / sqrt(ss));
    }
    return KEN_OK;
}

static ken_status embed_batch(ken_llm *l, const char *const *texts, const size_t *lens,
                              size_t first, size_t n, float **all, size_t *dim, bool *seen,
                              size_t total, char **errmsg) {
    ken_buf body;
    ken_buf_init(&body, 0);
    ken_jw w;
    ken_jw_init(&w, &body, 0);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "model"); ken_jw_str(&w, l->name);
    ken_jw_key(&w, "encoding_format"); ken_jw_str(&w, "float");
    ken_jw_key(&w, "input");
    ken_jw_arr_begin(&w);
    for (size_t i = first; i < first + n; i++) ken_jw_strn(&w, texts[i], llm_len(texts, lens, i));
    ken_jw_arr_end(&w);
    ken_jw_obj_end(&w);
    ken_status st = ken_jw_status(&w) ? fail(errmsg, KEN_ERR_NOMEM, "%s", "out of memory") : KEN_OK;
    http_resp r = {0};
    if (!st) st = llm_http_do(l, "POST", "/embeddings", body.data, body.len, NULL, NULL, &r, errmsg);
    ken_json_doc *d = NULL;
    if (!st) st = parse_body(l, &r.body, &d, "embeddings", errmsg);
    if (!st && !*all) {     /* the size is known once the first vector is seen */
        const ken_json *v = ken_json_get(ken_json_at(ken_json_get(ken_json_root(d), "data"), 0),
                                         "embedding");
        size_t dd = v && v->type == KEN_JSON_ARRAY ? v->n : 0;
        if (dd == 0 || dd > EMBED_DIM_MAX)
            st = fail(errmsg, KEN_ERR_FORMAT, "%s", "the server's embeddings are not arrays of numbers");
        else if (total > SIZE_MAX / sizeof(float) / dd || !(*all = malloc(total * dd * sizeof **all)))
            st = fail(errmsg, KEN_ERR_NOMEM, "%s", "out of memory for the embeddings");
    }
    if (!st) st = take_vectors(ken_json_root(d), first, n, *all, dim, seen, errmsg);
    ken_json_free(d);
    ken_buf_free(&r.body);
    ken_buf_free(&body);
    return st;
}

ken_status llm_http_embed(ken_llm *l, const char *const *texts, const size_t *lens, size_t n,
                          float **vecs, size_t *dim, char **errmsg) {
    bool *seen = calloc(n, sizeof *seen);
    if (!seen) return fail(errmsg, KEN_ERR_NOMEM, "%s", "out of memory");
    float *all = NULL;
    size_t d = 0;
    ken_status st = KEN_OK;
    for (size_t i = 0; i < n && !st; i += EMBED_BATCH)
        st = embed_batch(l, texts, lens, i, KEN_MIN(EMBED_BATCH, n - i), &all, &d, seen, n, errmsg);
    free(seen);
    if (st) {
        free(all);
        return st;
    }
    *vecs = all;
    *dim = d;
    return KEN_OK;
}
