/* server.h: internals of src/server shared by its files: the server state
 * (a pool of knowledge-base handles, the generation queue, models), the
 * per-request state, replies, auth and the streaming (server-sent events)
 * helper. server.c owns the HTTP plumbing, api.c the /api/v1 routes,
 * openai.c the /v1 routes, keys.c the API keys, web.c the static UI,
 * eval.c evaluation runs. */
#ifndef KEN_SERVER_INTERNAL_H
#define KEN_SERVER_INTERNAL_H

#include "base/base.h"
#include "base/json.h"
#include "ken.h"
#include "ken_infer.h"
#include "ken_search.h"
#include "ken_server.h"
#include "store/store.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>

enum { SCOPE_NONE = 0, SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN };
#define COLLECTION_BYTES_MAX 128

typedef struct {
    ken_kb *kb;
    ken_store *store;          /* same file: config (API keys) */
    bool busy;
} srv_slot;

typedef struct srv {
    ken_serve_opts o;
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    pthread_cond_t gen_cv, idle_cv;
    srv_slot *slots;
    int n_slots;
    struct srv_waiter *wait_head, *wait_tail;   /* FIFO of threads waiting for a slot */
    pthread_mutex_t write_mu;   /* one writer at a time (SQLite has one anyway) */
    int gen_active, gen_waiting;
    int in_flight;              /* requests being handled or streamed */
    ken_model *model;           /* decoder (chat) or NULL */
    ken_model *emb;             /* encoder (embeddings) or NULL */
    pthread_mutex_t model_mu;   /* contexts are created per request; the model is shared */
    const char *chat_format;    /* the built-in format the decoder's template looks like */
    char model_name[128];
    char emb_name[128];
    char web_dir[4096];
    double started;
} srv;

/* Who is asking. collection[0] == 0: all collections. */
typedef struct {
    int scope;
    char collection[COLLECTION_BYTES_MAX];
    char id[32];
} srv_auth;

typedef struct {
    srv *s;
    struct MHD_Connection *c;
    const char *method, *url;
    ken_buf body;
    bool too_big;
    bool counted;               /* in s->in_flight */
    srv_auth auth;
    srv_slot *slot;             /* kept from authentication for the handler (srv_slot_take) */
} srv_req;

/* ---- replies (server.c). All return MHD_YES/MHD_NO for the handler. */
enum MHD_Result srv_reply(srv_req *r, unsigned status, const char *ctype, ken_buf *body);
enum MHD_Result srv_reply_json(srv_req *r, unsigned status, ken_buf *json);
/* {"error":{"message","type","code"}}; type from the status (invalid_request_error,
 * authentication_error, permission_error, not_found_error, rate_limit_error, server_error). */
enum MHD_Result srv_error(srv_req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The HTTP status for a ken_status from the library. */
unsigned srv_status_http(ken_status st);
const char *srv_arg(srv_req *r, const char *name);   /* URL query argument or NULL */
const char *srv_header(srv_req *r, const char *name);

/* ---- JSON request bodies (server.c) */
/* Parses the body as a JSON object with the server's limits; on failure
 * replies 400/413 itself and returns NULL (*res holds the MHD result). */
ken_json_doc *srv_body_json(srv_req *r, enum MHD_Result *res);
/* Refuses members not in allowed (NULL-terminated): replies 400, returns false. */
bool srv_json_fields(srv_req *r, const ken_json *obj, const char *const *allowed,
                     enum MHD_Result *res);
/* Typed optional members: false (after replying 400) on a wrong type or range. */
bool srv_json_str(srv_req *r, const ken_json *obj, const char *key, size_t max_bytes,
                  const char **out, enum MHD_Result *res);
bool srv_json_int(srv_req *r, const ken_json *obj, const char *key, long lo, long hi,
                  long *out, enum MHD_Result *res);
bool srv_json_num(srv_req *r, const ken_json *obj, const char *key, double lo, double hi,
                  double *out, enum MHD_Result *res);
bool srv_json_bool(srv_req *r, const ken_json *obj, const char *key, bool *out,
                   enum MHD_Result *res);

/* ---- handles and generation slots (server.c) */
srv_slot *srv_slot_get(srv *s);
void srv_slot_put(srv *s, srv_slot *sl);
/* The slot authentication kept for this request (searches), else
 * srv_slot_get. Either way the caller puts it back. */
srv_slot *srv_slot_take(srv_req *r);
/* 0 ok; 429 queue full; 503 timed out waiting. */
unsigned srv_gen_acquire(srv *s);
/* The reply when srv_gen_acquire refused (status 429 or 503). */
enum MHD_Result srv_gen_busy(srv_req *r, unsigned status);
void srv_gen_release(srv *s);
/* The collection a request may use: the key's (a different one requested ->
 * false after replying 404), else the requested one (may be NULL). */
bool srv_collection(srv_req *r, const char *requested, const char **out, enum MHD_Result *res);

/* ---- streaming: a producer thread writes, MHD reads (server.c) */
typedef struct srv_stream srv_stream;
typedef void (*srv_stream_fn)(srv_stream *st, void *job);
/* Starts fn(st, job) on its own thread and replies 200 with content type
 * ctype whose body is what fn writes; job_free(job) runs after fn, when the
 * response is done. The caller must hold a generation slot when gen is set;
 * the stream releases it at the end. */
enum MHD_Result srv_stream_start(srv_req *r, const char *ctype, srv_stream_fn fn, void *job,
                                 void (*job_free)(void *), bool gen);
/* Appends data; returns non-zero when the client went away (stop). */
int srv_stream_write(srv_stream *st, const char *data, size_t n);
/* One server-sent event "data: <json>\n\n". */
int srv_stream_event(srv_stream *st, const char *json, size_t n);
srv *srv_stream_srv(srv_stream *st);
/* True when the request's time budget is spent or the client went away. */
bool srv_stream_expired(srv_stream *st);

/* ---- routes */
enum MHD_Result srv_api(srv_req *r, const char *path);      /* api.c: path after /api/v1 */
enum MHD_Result srv_api_eval(srv_req *r);                   /* eval.c: POST /api/v1/eval */
/* ask_gen.c: POST /api/v1/ask answered by the loaded decoder */
enum MHD_Result srv_ask_model(srv_req *r, const char *question, uint32_t k, double min_score,
                              const char *collection, bool stream);
enum MHD_Result srv_openai(srv_req *r, const char *path);   /* openai.c: path after /v1 */
enum MHD_Result srv_web(srv_req *r, const char *path);      /* web.c */
void srv_web_find(srv *s);

/* ---- keys (keys.c) */
/* Checks "Bearer KEY" against the store: fills a (scope NONE when absent or wrong). */
ken_status srv_key_check(ken_store *st, const char *header, srv_auth *a);

/* ---- shared JSON pieces (api.c) */
void srv_jw_citation(ken_jw *w, const ken_citation *c);
void srv_jw_answer(ken_jw *w, const ken_answer *a);
/* Writes an extractive answer to a stream as SSE deltas + citations + done. */
int srv_stream_answer(srv_stream *st, const ken_answer *a);

#endif
