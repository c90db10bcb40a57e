/* server.c: the HTTP plumbing of `ken serve`: libmicrohttpd in
 * thread-per-connection mode (handlers may block; the work itself is bounded
 * by a pool of knowledge-base handles and a generation queue), request
 * bodies with a size cap, routing, auth, JSON replies and errors, the
 * streaming helper and graceful shutdown. */
#include "server.h"
#include "ken_chat.h"
#include "gguf/gguf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNECTIONS_MAX 256
#define IDLE_TIMEOUT_S 30

/* ------------------------------------------------------------ replies */

enum MHD_Result srv_reply(srv_req *r, unsigned status, const char *ctype, ken_buf *body) {
    size_t n = 0;
    char *p = ken_buf_take(body, &n);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(n, p ? p : (char *)"", p ? MHD_RESPMEM_MUST_FREE
                                                                 : MHD_RESPMEM_PERSISTENT);
    if (!resp) { free(p); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(r->c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result srv_reply_json(srv_req *r, unsigned status, ken_buf *json) {
    if (json->data == NULL || ken_buf_putc(json, '\n')) {
        ken_buf_free(json);
        return srv_error(r, 500, "nomem", "out of memory");
    }
    return srv_reply(r, status, "application/json", json);
}

static const char *error_type(unsigned status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 413: return "invalid_request_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

enum MHD_Result srv_error(srv_req *r, unsigned status, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "error");
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "message"); ken_jw_str(&w, msg);
    ken_jw_key(&w, "type"); ken_jw_str(&w, error_type(status));
    ken_jw_key(&w, "code"); ken_jw_str(&w, code);
    ken_jw_obj_end(&w);
    ken_jw_obj_end(&w);
    ken_buf_putc(&b, '\n');
    if (ken_jw_status(&w)) { ken_buf_free(&b); return MHD_NO; }
    return srv_reply(r, status, "application/json", &b);
}

unsigned srv_status_http(ken_status st) {
    switch (st) {
    case KEN_OK: return 200;
    case KEN_ERR_NOTFOUND: return 404;
    case KEN_ERR_FORMAT: case KEN_ERR_INVALID: case KEN_ERR_UNSUPPORTED: return 400;
    case KEN_ERR_LIMIT: return 413;
    case KEN_ERR_CANCELLED: return 503;
    default: return 500;
    }
}

const char *srv_arg(srv_req *r, const char *name) {
    return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, name);
}

const char *srv_header(srv_req *r, const char *name) {
    return MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

/* ------------------------------------------------------------ JSON bodies */

ken_json_doc *srv_body_json(srv_req *r, enum MHD_Result *res) {
    ken_json_opts jo = {.depth_max = r->s->o.json_depth_max,
                        .bytes_max = r->s->o.body_bytes_max, .nodes_max = 1u << 20};
    ken_json_doc *d = NULL;
    ken_json_error pe = {0};
    ken_err err = {{0}};
    if (r->body.len == 0) {
        *res = srv_error(r, 400, "empty_body", "a JSON object body is needed");
        return NULL;
    }
    ken_status st = ken_json_parse(r->body.data, r->body.len, &jo, &d, &pe, &err);
    if (st) {
        *res = srv_error(r, st == KEN_ERR_NOMEM ? 500 : st == KEN_ERR_LIMIT ? 413 : 400,
                         st == KEN_ERR_LIMIT ? "json_limit" : "invalid_json",
                         "invalid JSON body: %s", err.msg[0] ? err.msg : ken_status_str(st));
        return NULL;
    }
    if (ken_json_root(d)->type != KEN_JSON_OBJECT) {
        ken_json_free(d);
        *res = srv_error(r, 400, "invalid_json", "the body must be a JSON object");
        return NULL;
    }
    return d;
}

bool srv_json_fields(srv_req *r, const ken_json *obj, const char *const *allowed,
                     enum MHD_Result *res) {
    for (size_t i = 0; i < obj->n; i++) {
        const ken_json *m = &obj->kids[i];
        bool ok = false;
        for (size_t k = 0; allowed[k] && !ok; k++)
            ok = strlen(allowed[k]) == m->key_len && memcmp(allowed[k], m->key, m->key_len) == 0;
        if (!ok) {
            *res = srv_error(r, 400, "unknown_field", "unknown field '%.*s'",
                             (int)KEN_MIN(m->key_len, 64), m->key);
            return false;
        }
    }
    return true;
}

bool srv_json_str(srv_req *r, const ken_json *obj, const char *key, size_t max_bytes,
                  const char **out, enum MHD_Result *res) {
    const ken_json *v = ken_json_get(obj, key);
    if (!v || v->type == KEN_JSON_NULL) return true;
    if (v->type != KEN_JSON_STRING) {
        *res = srv_error(r, 400, "wrong_type", "'%s' must be a string, not %s", key,
                         ken_json_type_name(v->type));
        return false;
    }
    if (v->len > max_bytes) {
        *res = srv_error(r, 413, "too_long", "'%s' is longer than %zu bytes", key, max_bytes);
        return false;
    }
    if (memchr(v->str, 0, v->len)) {
        *res = srv_error(r, 400, "nul_byte", "'%s' holds a NUL character", key);
        return false;
    }
    *out = v->str;
    return true;
}

bool srv_json_num(srv_req *r, const ken_json *obj, const char *key, double lo, double hi,
                  double *out, enum MHD_Result *res) {
    const ken_json *v = ken_json_get(obj, key);
    if (!v || v->type == KEN_JSON_NULL) return true;
    if (v->type != KEN_JSON_NUMBER) {
        *res = srv_error(r, 400, "wrong_type", "'%s' must be a number, not %s", key,
                         ken_json_type_name(v->type));
        return false;
    }
    if (!isfinite(v->num) || v->num < lo || v->num > hi) {
        *res = srv_error(r, 400, "out_of_range", "'%s' must be from %g to %g", key, lo, hi);
        return false;
    }
    *out = v->num;
    return true;
}

bool srv_json_int(srv_req *r, const ken_json *obj, const char *key, long lo, long hi,
                  long *out, enum MHD_Result *res) {
    double d = NAN;
    if (!srv_json_num(r, obj, key, (double)lo, (double)hi, &d, res)) return false;
    if (isnan(d)) return true;
    if (d != floor(d)) {
        *res = srv_error(r, 400, "wrong_type", "'%s' must be an integer", key);
        return false;
    }
    *out = (long)d;
    return true;
}

bool srv_json_bool(srv_req *r, const ken_json *obj, const char *key, bool *out,
                   enum MHD_Result *res) {
    const ken_json *v = ken_json_get(obj, key);
    if (!v || v->type == KEN_JSON_NULL) return true;
    if (v->type != KEN_JSON_BOOL) {
        *res = srv_error(r, 400, "wrong_type", "'%s' must be true or false, not %s", key,
                         ken_json_type_name(v->type));
        return false;
    }
    *out = v->b;
    return true;
}

bool srv_collection(srv_req *r, const char *requested, const char **out, enum MHD_Result *res) {
    if (requested && strlen(requested) >= COLLECTION_BYTES_MAX) {
        *res = srv_error(r, 400, "too_long", "collection names are at most %d bytes",
                         COLLECTION_BYTES_MAX - 1);
        return false;
    }
    if (r->auth.collection[0]) {
        if (requested && *requested && strcmp(requested, r->auth.collection) != 0) {
            /* Same answer as for a collection that does not exist. */
            *res = srv_error(r, 404, "no_collection", "no such collection");
            return false;
        }
        *out = r->auth.collection;
        return true;
    }
    *out = requested && *requested ? requested : NULL;
    return true;
}

/* ------------------------------------------------------------ pools */

static void deadline(struct timespec *ts, int seconds) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += seconds;
}

/* Slots go to waiting threads first come, first served, handed over
 * directly by srv_slot_put: a thread that arrives while others wait queues
 * behind them instead of taking the slot being freed, so under load every
 * request waits about as long as the others (p99 close to p50), and a put
 * wakes exactly the thread that gets the slot. */
typedef struct srv_waiter {
    pthread_cond_t cv;
    srv_slot *got;
    struct srv_waiter *next;
} srv_waiter;

srv_slot *srv_slot_get(srv *s) {
    struct timespec ts;
    deadline(&ts, s->o.timeout_s);
    pthread_mutex_lock(&s->mu);
    srv_slot *got = NULL;
    for (int i = 0; i < s->n_slots && !got && !s->wait_head; i++)
        if (!s->slots[i].busy) got = &s->slots[i];
    if (got) {
        got->busy = true;
        pthread_mutex_unlock(&s->mu);
        return got;
    }
    srv_waiter w = {.got = NULL, .next = NULL};
    pthread_cond_init(&w.cv, NULL);
    if (s->wait_tail) s->wait_tail->next = &w;
    else s->wait_head = &w;
    s->wait_tail = &w;
    while (!w.got)
        if (pthread_cond_timedwait(&w.cv, &s->mu, &ts) == ETIMEDOUT) break;
    if (!w.got) {   /* timed out: leave the queue */
        srv_waiter **pp = &s->wait_head, *prev = NULL;
        while (*pp != &w) { prev = *pp; pp = &(*pp)->next; }
        *pp = w.next;
        if (s->wait_tail == &w) s->wait_tail = prev;
    }
    got = w.got;
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&w.cv);
    return got;
}

void srv_slot_put(srv *s, srv_slot *sl) {
    if (!sl) return;
    pthread_mutex_lock(&s->mu);
    srv_waiter *w = s->wait_head;
    if (w) {        /* hand it over: it stays busy */
        s->wait_head = w->next;
        if (!s->wait_head) s->wait_tail = NULL;
        w->got = sl;
        pthread_cond_signal(&w->cv);
    } else {
        sl->busy = false;
    }
    pthread_mutex_unlock(&s->mu);
}

srv_slot *srv_slot_take(srv_req *r) {
    srv_slot *sl = r->slot;
    r->slot = NULL;
    return sl ? sl : srv_slot_get(r->s);
}

enum MHD_Result srv_gen_busy(srv_req *r, unsigned status) {
    return srv_error(r, status, status == 429 ? "queue_full" : "timeout",
                     status == 429 ? "too many answers in progress; try again later"
                                   : "timed out waiting for a free slot");
}

unsigned srv_gen_acquire(srv *s) {
    unsigned ret = 0;
    struct timespec ts;
    deadline(&ts, s->o.timeout_s);
    pthread_mutex_lock(&s->mu);
    if (s->gen_active >= s->o.gen_max) {
        if (s->gen_waiting >= s->o.gen_queue_max) {
            ret = 429;
        } else {
            s->gen_waiting++;
            while (s->gen_active >= s->o.gen_max && !ret)
                if (pthread_cond_timedwait(&s->gen_cv, &s->mu, &ts) == ETIMEDOUT) ret = 503;
            s->gen_waiting--;
        }
    }
    if (!ret) s->gen_active++;
    pthread_mutex_unlock(&s->mu);
    return ret;
}

void srv_gen_release(srv *s) {
    pthread_mutex_lock(&s->mu);
    s->gen_active--;
    pthread_cond_signal(&s->gen_cv);
    pthread_mutex_unlock(&s->mu);
}

static void in_flight(srv *s, int delta) {
    pthread_mutex_lock(&s->mu);
    s->in_flight += delta;
    if (s->in_flight == 0) pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------ streams */

struct srv_stream {
    srv *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ken_buf buf;
    size_t off;
    bool done, started;
    volatile int gone;          /* the client went away / response freed */
    bool gen;
    double t_end;
    pthread_t th;
    srv_stream_fn fn;
    void *job;
    void (*job_free)(void *);
};

srv *srv_stream_srv(srv_stream *st) { return st->s; }

bool srv_stream_expired(srv_stream *st) { return st->gone || ken_now() > st->t_end; }

int srv_stream_write(srv_stream *st, const char *data, size_t n) {
    pthread_mutex_lock(&st->mu);
    ken_status e = st->gone ? KEN_ERR_CANCELLED : ken_buf_append(&st->buf, data, n);
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return e != KEN_OK;
}

int srv_stream_event(srv_stream *st, const char *json, size_t n) {
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_status e = ken_buf_puts(&b, "data: ");
    if (!e) e = ken_buf_append(&b, json, n);
    if (!e) e = ken_buf_puts(&b, "\n\n");
    int rc = e ? 1 : srv_stream_write(st, b.data, b.len);
    ken_buf_free(&b);
    return rc;
}

static void *stream_main(void *arg) {
    srv_stream *st = arg;
    st->fn(st, st->job);
    pthread_mutex_lock(&st->mu);
    st->done = true;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max) {
    (void)pos;
    srv_stream *st = cls;
    pthread_mutex_lock(&st->mu);
    while (st->off == st->buf.len && !st->done) pthread_cond_wait(&st->cv, &st->mu);
    ssize_t n;
    if (st->off < st->buf.len) {
        size_t k = KEN_MIN(max, st->buf.len - st->off);
        memcpy(out, st->buf.data + st->off, k);
        st->off += k;
        if (st->off == st->buf.len) { ken_buf_reset(&st->buf); st->off = 0; }
        n = (ssize_t)k;
    } else {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

static void stream_free(void *cls) {
    srv_stream *st = cls;
    st->gone = 1;
    if (st->started) pthread_join(st->th, NULL);
    if (st->gen) srv_gen_release(st->s);
    if (st->job_free) st->job_free(st->job);
    ken_buf_free(&st->buf);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    in_flight(st->s, -1);
    free(st);
}

enum MHD_Result srv_stream_start(srv_req *r, const char *ctype, srv_stream_fn fn, void *job,
                                 void (*job_free)(void *), bool gen) {
    srv_stream *st = calloc(1, sizeof *st);
    if (!st) {
        if (gen) srv_gen_release(r->s);
        if (job_free) job_free(job);
        return srv_error(r, 500, "nomem", "out of memory");
    }
    st->s = r->s;
    st->fn = fn, st->job = job, st->job_free = job_free, st->gen = gen;
    st->t_end = ken_now() + r->s->o.timeout_s;
    ken_buf_init(&st->buf, (size_t)64 << 20);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    in_flight(r->s, 1);   /* until stream_free: shutdown waits for streams too */
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
                                                                  stream_read, st, stream_free);
    if (!resp) { stream_free(st); return MHD_NO; }
    if (pthread_create(&st->th, NULL, stream_main, st) != 0) {
        st->done = true;
    } else {
        st->started = true;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(r->c, 200, resp);
    MHD_destroy_response(resp);   /* freed (stream_free) when MHD is done with it */
    return ret;
}

/* ------------------------------------------------------------ dispatch */

static bool is_health(const char *url) {
    return strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0;
}

static bool is_web(const char *url) {
    return strncmp(url, "/api/", 5) != 0 && strncmp(url, "/v1/", 4) != 0 &&
           strcmp(url, "/v1") != 0 && strcmp(url, "/api") != 0;
}

static enum MHD_Result health(srv_req *r) {
    ken_buf b;
    ken_buf_init(&b, 0);
    if (strcmp(r->url, "/healthz") == 0) {
        ken_buf_puts(&b, "{\"status\":\"ok\"}");
        return srv_reply_json(r, 200, &b);
    }
    srv_slot *sl = srv_slot_get(r->s);
    ken_kb_stats ks;
    ken_status st = sl ? ken_kb_stat(sl->kb, &ks) : KEN_ERR_CANCELLED;
    srv_slot_put(r->s, sl);
    ken_buf_printf(&b, "{\"status\":\"%s\"}", st ? "unavailable" : "ready");
    return srv_reply_json(r, st ? 503 : 200, &b);
}

/* Fills r->auth from the Authorization header. */
static enum MHD_Result authenticate(srv_req *r, bool *ok) {
    *ok = false;
    if (r->s->o.no_auth) {
        r->auth.scope = SCOPE_ADMIN;
        *ok = true;
        return MHD_YES;
    }
    const char *h = srv_header(r, "Authorization");
    if (!h) return srv_error(r, 401, "no_key", "an API key is needed (Authorization: Bearer KEY)");
    srv_slot *sl = srv_slot_get(r->s);
    if (!sl) return srv_error(r, 503, "busy", "the server is busy");
    ken_status st = srv_key_check(sl->store, h, &r->auth);
    /* A search (the most frequent request) keeps the slot: one wait in the
     * queue per request instead of two. route() returns it if unused. */
    if (!st && r->auth.scope != SCOPE_NONE && strcmp(r->url, "/api/v1/search") == 0) r->slot = sl;
    else srv_slot_put(r->s, sl);
    if (st) return srv_error(r, 500, "store", "checking the key failed");
    if (r->auth.scope == SCOPE_NONE) return srv_error(r, 401, "bad_key", "invalid API key");
    *ok = true;
    return MHD_YES;
}

static enum MHD_Result route(srv_req *r) {
    const char *url = r->url;
    if (is_health(url)) return health(r);
    if (r->too_big)
        return srv_error(r, 413, "body_too_large", "the request body is larger than %zu bytes",
                         r->s->o.body_bytes_max);
    if (is_web(url)) return srv_web(r, url);
    bool ok;
    enum MHD_Result res = authenticate(r, &ok);
    if (!ok) return res;
    if (strncmp(url, "/api/v1/", 8) == 0) res = srv_api(r, url + 7);
    else if (strncmp(url, "/v1/", 4) == 0) res = srv_openai(r, url + 3);
    else res = srv_error(r, 404, "no_route", "no such endpoint");
    srv_slot_put(r->s, r->slot);   /* kept by authenticate and not used */
    r->slot = NULL;
    return res;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv *s = cls;
    srv_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->s = s, r->c = c, r->method = method, r->url = url;
        ken_buf_init(&r->body, s->o.body_bytes_max);
        *con_cls = r;
        in_flight(s, 1);
        r->counted = true;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > s->o.body_bytes_max) r->too_big = true;
        }
        if (r->too_big && !is_health(url))   /* refuse before reading the body */
            return srv_error(r, 413, "body_too_large",
                             "the request body is larger than %zu bytes", s->o.body_bytes_max);
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->too_big && ken_buf_append(&r->body, upload, *upload_size)) {
            r->too_big = true;
            ken_buf_free(&r->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return route(r);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
    (void)c, (void)toe;
    srv *s = cls;
    srv_req *r = *con_cls;
    if (!r) return;
    ken_buf_free(&r->body);
    if (r->counted) in_flight(s, -1);
    free(r);
    *con_cls = NULL;
}

/* ------------------------------------------------------------ lifecycle */

static ken_status parse_listen(const char *listen, struct sockaddr_in *sa, ken_err *err) {
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host)
        return ken_err_set(err, KEN_ERR_INVALID, "--listen needs HOST:PORT, got '%s'", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
        return ken_err_set(err, KEN_ERR_INVALID, "bad port in '%s'", listen);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return ken_err_set(err, KEN_ERR_INVALID, "bad IPv4 address '%s' in --listen", host);
    return KEN_OK;
}

static void name_of(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    snprintf(out, n, "%s", b ? b + 1 : path);
}

/* The built-in format the model's chat template looks like (its turn
 * markers end a generation); "chatml" without a template. */
static const char *chat_format_of(const char *path) {
    ken_gguf *g = NULL;
    ken_err e;
    const char *f = "chatml";
    ken_gguf_str t = {0};
    if (ken_gguf_open(path, &g, &e) == KEN_OK && ken_gguf_get_str(g, "tokenizer.chat_template", &t)) {
        char *text = ken_strndup(t.p, (size_t)t.n);
        if (text) f = ken_chat_detect_format(text);
        free(text);
    }
    ken_gguf_close(g);
    return f;
}

static ken_status load_models(srv *s, ken_err *err) {
    char *msg = NULL;
    if (s->o.model_path) {
        ken_status st = ken_model_open(s->o.model_path, &s->model, &msg);
        if (st) {
            ken_err_set(err, st, "--model: %s", msg ? msg : ken_status_str(st));
            ken_free(msg);
            return st;
        }
        if (ken_model_is_encoder_model(s->model)) {   /* an encoder given as --model */
            s->emb = s->model, s->model = NULL;
            name_of(s->o.model_path, s->emb_name, sizeof s->emb_name);
        } else {
            name_of(s->o.model_path, s->model_name, sizeof s->model_name);
            s->chat_format = chat_format_of(s->o.model_path);
        }
    }
    if (s->o.embed_model_path) {
        if (s->emb) return ken_err_set(err, KEN_ERR_INVALID, "two encoder models given");
        ken_status st = ken_model_open(s->o.embed_model_path, &s->emb, &msg);
        if (st) {
            ken_err_set(err, st, "--embed-model: %s", msg ? msg : ken_status_str(st));
            ken_free(msg);
            return st;
        }
        if (!ken_model_is_encoder_model(s->emb))
            return ken_err_set(err, KEN_ERR_INVALID, "--embed-model must be an encoder (bert)");
        name_of(s->o.embed_model_path, s->emb_name, sizeof s->emb_name);
    }
    if (!s->model) snprintf(s->model_name, sizeof s->model_name, "ken-extractive");
    return KEN_OK;
}

static ken_status open_slots(srv *s, ken_err *err) {
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    if (!s->slots) return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->n_slots; i++) {
        /* The in-memory BM25 index (one per file, shared by the slots);
         * KEN_LEXCACHE=0 turns it off (to compare with FTS5). */
        const char *lx = getenv("KEN_LEXCACHE");
        ken_kb_opts ko = {.size = sizeof ko, .path = s->o.db_path, .create = 1,
                          .lexcache = !(lx && strcmp(lx, "0") == 0)};
        ken_status st = ken_kb_open(&ko, &s->slots[i].kb);
        if (st)
            return ken_err_set(err, st, "%s", s->slots[i].kb ? ken_kb_errmsg(s->slots[i].kb)
                                                             : ken_status_str(st));
        ken_store_opts so = {.path = s->o.db_path};
        if ((st = ken_store_open(&so, &s->slots[i].store, err))) return st;
    }
    return KEN_OK;
}

static void close_all(srv *s) {
    for (int i = 0; s->slots && i < s->n_slots; i++) {
        ken_store_close(s->slots[i].store);
        ken_kb_close(s->slots[i].kb);
    }
    free(s->slots);
    ken_model_close(s->model);
    ken_model_close(s->emb);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->write_mu);
    pthread_mutex_destroy(&s->model_mu);
    pthread_cond_destroy(&s->gen_cv);
    pthread_cond_destroy(&s->idle_cv);
}

static void defaults(ken_serve_opts *o) {
    if (!o->listen) o->listen = "127.0.0.1:8080";
    if (o->threads <= 0) o->threads = 4;
    if (o->threads > 64) o->threads = 64;
    if (!o->body_bytes_max) o->body_bytes_max = (size_t)32 << 20;
    if (!o->query_bytes_max) o->query_bytes_max = 8192;
    if (o->json_depth_max <= 0) o->json_depth_max = 32;
    if (o->gen_max <= 0) o->gen_max = 2;
    if (o->gen_queue_max < 0) o->gen_queue_max = 0;
    else if (o->gen_queue_max == 0) o->gen_queue_max = 8;
    if (o->timeout_s <= 0) o->timeout_s = 60;
    if (o->max_tokens <= 0) o->max_tokens = 512;
}

/* Stops accepting, waits for in-flight requests and streams (bounded). */
static void drain(srv *s) {
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    struct timespec ts;
    deadline(&ts, s->o.timeout_s);
    pthread_mutex_lock(&s->mu);
    while (s->in_flight > 0)
        if (pthread_cond_timedwait(&s->idle_cv, &s->mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&s->mu);
    MHD_stop_daemon(s->d);
}

static ken_status serve_run(srv *s, volatile int *stop, ken_err *err) {
    struct sockaddr_in sa;
    ken_status st = parse_listen(s->o.listen, &sa, err);
    if (st) return st;
    bool loopback = (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
    if (s->o.no_auth && !loopback)
        return ken_err_set(err, KEN_ERR_INVALID, "--no-auth is allowed on loopback only");
    if ((st = load_models(s, err))) return st;
    if ((st = open_slots(s, err))) return st;
    srv_web_find(s);
    s->d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
    if (!s->d) return ken_err_set(err, KEN_ERR_IO, "cannot listen on %s: %s", s->o.listen,
                                  strerror(errno ? errno : EADDRINUSE));
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    int port = di ? di->port : ntohs(sa.sin_port);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    s->started = ken_now();
    if (s->o.on_ready) s->o.on_ready(s->o.ud, host, port);
    while (!*stop) usleep(50 * 1000);
    drain(s);
    return KEN_OK;
}

ken_status ken_serve(const ken_serve_opts *opts, volatile int *stop, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    ken_err err = {{0}};
    if (!opts || !opts->db_path || !stop) {
        if (errmsg) *errmsg = ken_strdup("ken_serve: options with db_path and a stop flag needed");
        return KEN_ERR_INVALID;
    }
    srv *s = calloc(1, sizeof *s);
    if (!s) return KEN_ERR_NOMEM;
    memcpy(&s->o, opts, KEN_MIN(opts->size, sizeof s->o));
    defaults(&s->o);
    s->n_slots = s->o.threads;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->model_mu, NULL);
    pthread_cond_init(&s->gen_cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    ken_status st = serve_run(s, stop, &err);
    close_all(s);
    free(s);
    if (st && errmsg) *errmsg = ken_strdup(err.msg[0] ? err.msg : ken_status_str(st));
    return st;
}
