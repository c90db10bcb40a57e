/* test_server_llm.c: the HTTP backend of ken_llm (libcurl) over loopback:
 * (1) the SSE parser on an event stream split at every byte; (2) a scripted
 * OpenAI-compatible server (libmicrohttpd, in this test) for streamed and
 * whole answers, usage, stop strings, 429 with Retry-After, 5xx until the
 * retries run out, 400 and 401 with the server's message (never the key),
 * a slow server, oversized answers, malformed and truncated streams,
 * cancellation, embeddings and the model list; (3) agreement: ken's own
 * server (ken_serve, in-process) answers through the HTTP backend exactly
 * as the local backend does for the same model with greedy decoding, and
 * the embeddings agree. Named test_server_* so that it links ken_server
 * (and libmicrohttpd). */
#include "ken_llm.h"
#include "ken_server.h"
#include "llm/http.h"
#include "test.h"

#define MIN_(a, b) ((a) < (b) ? (a) : (b))

#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

/* ------------------------------------------------------------ SSE parser */

static const char SSE[] =
    ": keep-alive\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"},"
    "\"finish_reason\":null}]}\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo, w\\u00f6rld\"},"
    "\"finish_reason\":null}]}\n\n"
    "event: message\nid: 3\rdata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"! Bye.\"},"
    "\"finish_reason\":null}]}\r\r"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":5,"
    "\"total_tokens\":16}}\n\n"
    "data: [DONE]\n\n";

typedef struct {
    char all[4096];
    size_t len;
    int n;
} events;

static int collect(void *ud, const char *d, size_t n) {
    events *e = ud;
    if (e->len + n + 1 < sizeof e->all) {
        memcpy(e->all + e->len, d, n);
        e->len += n;
        e->all[e->len++] = '|';
        e->all[e->len] = 0;
    }
    e->n++;
    return 0;
}

static void test_sse_splits(void) {
    size_t n = strlen(SSE);
    events whole = {0};
    sse_parser p;
    sse_init(&p, 4096, collect, &whole);
    CHECK(sse_feed(&p, SSE, n) == 0 && sse_finish(&p) == 0);
    sse_free(&p);
    CHECK_EQ_INT(whole.n, 6);
    CHECK(strstr(whole.all, "|[DONE]|") != NULL);
    CHECK(strncmp(whole.all, "{\"choices\":[{\"index\":0,\"delta\":{\"role\"", 38) == 0);
    int bad = 0;
    for (size_t cut = 0; cut <= n; cut++) {          /* two pieces, cut anywhere */
        events e = {0};
        sse_init(&p, 4096, collect, &e);
        int r = sse_feed(&p, SSE, cut) | sse_feed(&p, SSE + cut, n - cut) | sse_finish(&p);
        sse_free(&p);
        if (r || e.n != whole.n || strcmp(e.all, whole.all) != 0) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    events e = {0};                                   /* one byte at a time */
    sse_init(&p, 4096, collect, &e);
    for (size_t i = 0; i < n; i++) CHECK(sse_feed(&p, SSE + i, 1) == 0);
    CHECK(sse_finish(&p) == 0);
    sse_free(&p);
    CHECK_EQ_STR(e.all, whole.all);
    /* multi-line data joins with '\n'; an unterminated last event still counts */
    events m = {0};
    sse_init(&p, 4096, collect, &m);
    CHECK(sse_feed(&p, "data: a\ndata:b\n\ndata: c", 23) == 0 && sse_finish(&p) == 0);
    sse_free(&p);
    CHECK_EQ_STR(m.all, "a\nb|c|");
    /* a line past the cap */
    events big = {0};
    sse_init(&p, 64, collect, &big);
    char line[200];
    memset(line, 'x', sizeof line);
    CHECK(sse_feed(&p, "data: ", 6) == 0);
    CHECK(sse_feed(&p, line, sizeof line) == -2);
    CHECK(sse_feed(&p, "\n\n", 2) == -2);
    sse_free(&p);
    /* key redaction and URL display */
    char msg[128] = "Incorrect API key provided: sk-tes*****-987654. See the docs.";
    llm_redact(msg, "sk-test-secret-987654");
    CHECK(strstr(msg, "sk-tes") == NULL && strstr(msg, "987654") == NULL);
    CHECK(strstr(msg, "See the docs.") != NULL);
    char u[128];
    llm_url_display("https://user:pw@example.org:8/v1", u, sizeof u);
    CHECK_EQ_STR(u, "https://example.org:8/v1");
}

/* ------------------------------------------------------------ scripted server */

static struct MHD_Daemon *mhd;
static int mhd_port;
static atomic_int hits[32];
static atomic_int quitting;
static char last_body[8192], last_auth[512];
static pthread_mutex_t last_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const SCEN[] = {"sse", "json", "r429", "r500", "e400", "e401", "slow", "big",
                                   "bigsse", "badsse", "trunc", "drip", "emb", "miderr",
                                   "nomodels", "jsonerr", NULL};
enum { S_SSE, S_JSON, S_R429, S_R500, S_E400, S_E401, S_SLOW, S_BIG, S_BIGSSE, S_BADSSE, S_TRUNC,
       S_DRIP, S_EMB, S_MIDERR, S_NOMODELS, S_JSONERR };

typedef struct {
    const char *data;
    size_t len;
    int piece;              /* bytes per call */
    int drip;               /* endless chunks, one per 20 ms */
} feed;

static ssize_t feed_cb(void *cls, uint64_t pos, char *buf, size_t max) {
    feed *f = cls;
    if (f->drip) {
        if (quitting || pos > 200000) return MHD_CONTENT_READER_END_OF_STREAM;
        usleep(20000);
        static const char ev[] = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tick \"},"
                                 "\"finish_reason\":null}]}\n\n";
        size_t n = MIN_(sizeof ev - 1, max);
        memcpy(buf, ev, n);
        return (ssize_t)n;
    }
    if (pos >= f->len) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = f->len - pos;
    if (n > (size_t)f->piece) n = (size_t)f->piece;
    if (n > max) n = max;
    memcpy(buf, f->data + pos, n);
    if (f->piece < 64) usleep(300);     /* let the pieces go out as separate reads */
    return (ssize_t)n;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *ctype,
                             const char *body, size_t len, int piece, int drip,
                             const char *retry_after) {
    feed *f = calloc(1, sizeof *f);
    f->data = body, f->len = len, f->piece = piece ? piece : 1 << 20, f->drip = drip;
    struct MHD_Response *r = MHD_create_response_from_callback(drip ? MHD_SIZE_UNKNOWN : len, 4096,
                                                               feed_cb, f, free);
    MHD_add_response_header(r, "Content-Type", ctype);
    if (retry_after) MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result res = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return res;
}

#define JSON "application/json"
#define EVS "text/event-stream"
static char big_body[200000];

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *up,
                               size_t *up_size, void **con) {
    (void)cls, (void)version;
    if (!*con) {
        *con = calloc(1, 8192 + sizeof(size_t));
        return MHD_YES;
    }
    size_t *blen = *con;
    char *body = (char *)(blen + 1);
    if (*up_size) {
        size_t n = MIN_(*up_size, 8191 - *blen);
        memcpy(body + *blen, up, n);
        *blen += n;
        *up_size = 0;
        return MHD_YES;
    }
    int s = -1;
    for (int i = 0; SCEN[i]; i++) {
        size_t k = strlen(SCEN[i]);
        if (url[0] == '/' && strncmp(url + 1, SCEN[i], k) == 0 && url[k + 1] == '/') s = i;
    }
    if (s < 0) return reply(c, 404, JSON, "{\"error\":{\"message\":\"no such scenario\"}}", 40, 0, 0, NULL);
    int hit = strcmp(method, "POST") == 0 ? ++hits[s] : 0;   /* requests, not the model list */
    pthread_mutex_lock(&last_mu);
    snprintf(last_body, sizeof last_body, "%s", body);
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    snprintf(last_auth, sizeof last_auth, "%s", auth ? auth : "");
    pthread_mutex_unlock(&last_mu);
    if (strstr(url, "/models") && strcmp(method, "GET") == 0) {
        static const char ok[] = "{\"object\":\"list\",\"data\":[{\"id\":\"scripted-model\",\"object\":\"model\"}]}";
        static const char none[] = "{\"object\":\"list\",\"data\":[]}";
        return s == S_NOMODELS ? reply(c, 200, JSON, none, strlen(none), 0, 0, NULL)
                               : reply(c, 200, JSON, ok, strlen(ok), 0, 0, NULL);
    }
    static const char e429[] = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"rate_limit_error\"}}";
    static const char e500[] = "{\"error\":{\"message\":\"the model is overloaded\",\"type\":\"server_error\"}}";
    static const char e400[] = "{\"error\":{\"message\":\"max_tokens is too large for this model\","
                               "\"type\":\"invalid_request_error\",\"code\":null}}";
    static char e401[1024];
    static const char whole[] = "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":\"Whole answer.\"},\"finish_reason\":\"length\"}],"
        "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}";
    static const char badsse[] = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}\n\n"
                                 "data: {oops\n\n";
    static const char trunc[] = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"half\"}}]}\n\n";
    static const char miderr[] = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
                                 "data: {\"error\":{\"message\":\"out of memory on the server\"}}\n\n";
    static const char jsonerr[] = "{\"error\":{\"message\":\"the context is full\"}}";
    static const char emb[] = "{\"object\":\"list\",\"data\":["
        "{\"object\":\"embedding\",\"index\":2,\"embedding\":[0,0,2]},"
        "{\"object\":\"embedding\",\"index\":0,\"embedding\":[3,4,0]},"
        "{\"object\":\"embedding\",\"index\":1,\"embedding\":[1,0,0]}],\"model\":\"m\"}";
    switch (s) {
    case S_JSON: return reply(c, 200, JSON, whole, strlen(whole), 0, 0, NULL);
    case S_R429:
        if (hit == 1) return reply(c, 429, JSON, e429, strlen(e429), 0, 0, "1");
        return reply(c, 200, EVS, SSE, strlen(SSE), 0, 0, NULL);
    case S_R500: return reply(c, 500, JSON, e500, strlen(e500), 0, 0, NULL);
    case S_E400: return reply(c, 400, JSON, e400, strlen(e400), 0, 0, NULL);
    case S_E401:
        snprintf(e401, sizeof e401, "{\"error\":{\"message\":\"Incorrect API key provided: %s. "
                 "You can find your API key at https://example.org.\"}}", auth ? auth + 7 : "");
        return reply(c, 401, JSON, e401, strlen(e401), 0, 0, NULL);
    case S_SLOW:
        /* 20 s: far beyond every bound below, so a bound that holds shows
         * the client gave up (timeout, cancel), not that the server answered */
        for (int i = 0; i < 400 && !quitting; i++) usleep(50000);
        return reply(c, 200, EVS, SSE, strlen(SSE), 0, 0, NULL);
    case S_BIG: return reply(c, 200, JSON, big_body, sizeof big_body, 0, 0, NULL);
    case S_BIGSSE: return reply(c, 200, EVS, big_body, sizeof big_body, 0, 0, NULL);
    case S_BADSSE: return reply(c, 200, EVS, badsse, strlen(badsse), 0, 0, NULL);
    case S_TRUNC: return reply(c, 200, EVS, trunc, strlen(trunc), 0, 0, NULL);
    case S_DRIP: return reply(c, 200, EVS, NULL, 0, 0, 1, NULL);
    case S_EMB: return reply(c, 200, JSON, emb, strlen(emb), 0, 0, NULL);
    case S_MIDERR: return reply(c, 200, EVS, miderr, strlen(miderr), 0, 0, NULL);
    case S_JSONERR: return reply(c, 200, JSON, jsonerr, strlen(jsonerr), 0, 0, NULL);
    default: return reply(c, 200, EVS, SSE, strlen(SSE), 7, 0, NULL);   /* 7-byte pieces */
    }
}

static void done_cb(void *cls, struct MHD_Connection *c, void **con, enum MHD_RequestTerminationCode t) {
    (void)cls, (void)c, (void)t;
    free(*con);
    *con = NULL;
}

static void start_script(void) {
    memset(big_body, 'x', sizeof big_body);
    memcpy(big_body, "data: ", 6);
    mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                           NULL, NULL, handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, done_cb, NULL,
                           MHD_OPTION_END);
    REQUIRE(mhd);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
    mhd_port = di ? di->port : 0;
    REQUIRE(mhd_port > 0);
    unsetenv("KEN_API_KEY");
}

static ken_llm *open_http(const char *scen, const char *key, double timeout, int retries,
                          size_t resp_max, ken_status want, char **msg_out) {
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/%s/v1/", mhd_port, scen);
    ken_llm_opts o = {.size = sizeof o, .url = url, .api_key = key, .timeout_s = timeout,
                      .retries = retries, .backoff_s = 0.01, .response_bytes_max = resp_max};
    ken_llm *l = NULL;
    char *msg = NULL;
    ken_status st = ken_llm_open(&o, &l, &msg);
    CHECKF(st == want, "%s: open: %d %s", scen, st, msg ? msg : "");
    if (msg_out) *msg_out = msg;
    else ken_free(msg);
    return l;
}

typedef struct {
    char buf[8192];
    size_t len;
    int calls, stop_after, cancel_after;
    volatile int *flag;
} sink;

static int on_text(void *ud, const char *t, size_t n) {
    sink *s = ud;
    if (n == 0) s->calls += 1000;
    if (s->len + n < sizeof s->buf) memcpy(s->buf + s->len, t, n), s->len += n, s->buf[s->len] = 0;
    s->calls++;
    if (s->cancel_after && s->calls >= s->cancel_after) *s->flag = 1;
    return s->stop_after && s->calls >= s->stop_after;
}

static const char *MSGS = "[{\"role\":\"user\",\"content\":\"Say hello.\"}]";

/* Runs one chat; returns the status, the text in *text, the message in *msg. */
static ken_status run_chat(ken_llm *l, ken_llm_gen_opts *go, char **text, ken_llm_stats *stats,
                           char **msg) {
    size_t len = 0;
    ken_status st = ken_llm_chat(l, MSGS, go, text, &len, stats, msg);
    if (st == KEN_OK) CHECK(*text && strlen(*text) == len && (!*msg));
    else CHECK(!*text && *msg && **msg);
    return st;
}

static void test_stream(void) {
    ken_llm *l = open_http("sse", "sk-stream-key-123456", 10, 0, 0, KEN_OK, NULL);
    REQUIRE(l);
    CHECK_EQ_STR(ken_llm_backend(l), "http");
    CHECK_EQ_STR(ken_llm_name(l), "scripted-model");     /* from /models */
    CHECK_EQ_INT(ken_llm_n_ctx(l), 4096);
    CHECK_EQ_INT(ken_llm_count_tokens(l, "abcdefg", 7), 3);
    sink s = {0};
    const char *stop[1] = {"</never>"};
    ken_llm_gen_opts go = {.size = sizeof go, .max_tokens = 33, .stop = stop, .n_stop = 1,
                           .seed = 5, .on_text = on_text, .ud = &s};
    ken_llm_stats stats;
    char *t = NULL, *msg = NULL;
    REQUIRE(run_chat(l, &go, &t, &stats, &msg) == KEN_OK);
    CHECK_EQ_STR(t, "Hello, w\xc3\xb6rld! Bye.");
    CHECK_EQ_STR(s.buf, t);
    CHECK(s.calls >= 2 && s.calls < 1000);
    CHECK_EQ_INT(stats.n_prompt, 11);
    CHECK_EQ_INT(stats.n_generated, 5);
    CHECK_EQ_STR(stats.finish, "stop");
    CHECK_EQ_INT(stats.retries, 0);
    pthread_mutex_lock(&last_mu);
    CHECK(strstr(last_body, "\"stream\":true") && strstr(last_body, "\"max_tokens\":33") &&
          strstr(last_body, "\"model\":\"scripted-model\"") && strstr(last_body, "\"seed\":5") &&
          strstr(last_body, "\"stop\":[\"</never>\"]") && strstr(last_body, "Say hello."));
    CHECK_EQ_STR(last_auth, "Bearer sk-stream-key-123456");
    pthread_mutex_unlock(&last_mu);
    ken_free(t);
    /* a stop string across pieces: cut there, nothing of it streamed */
    sink s2 = {0};
    const char *stop2[1] = {"o, w"};
    go.stop = stop2, go.ud = &s2;
    REQUIRE(run_chat(l, &go, &t, &stats, &msg) == KEN_OK);
    CHECK_EQ_STR(t, "Hell");
    CHECK_EQ_STR(s2.buf, "Hell");
    CHECK_EQ_STR(stats.finish, "stop");
    ken_free(t);
    /* the caller stops after the first piece: KEN_OK, that piece, "cancelled" */
    sink s3 = {.stop_after = 1};
    go.n_stop = 0, go.ud = &s3;
    REQUIRE(run_chat(l, &go, &t, &stats, &msg) == KEN_OK);
    CHECK_EQ_STR(t, "Hel");
    CHECK_EQ_STR(stats.finish, "cancelled");
    ken_free(t);
    ken_llm_close(l);
    /* the key from the environment */
    setenv("KEN_API_KEY", "sk-from-env-777777", 1);
    l = open_http("sse", NULL, 10, 0, 0, KEN_OK, NULL);
    unsetenv("KEN_API_KEY");
    REQUIRE(l);
    ken_llm_gen_opts g0 = {.size = sizeof g0};
    REQUIRE(run_chat(l, &g0, &t, &stats, &msg) == KEN_OK);
    pthread_mutex_lock(&last_mu);
    CHECK_EQ_STR(last_auth, "Bearer sk-from-env-777777");
    CHECK(strstr(last_body, "\"max_tokens\":512") != NULL);
    pthread_mutex_unlock(&last_mu);
    ken_free(t);
    ken_llm_close(l);
}

static void test_whole_json(void) {
    ken_llm *l = open_http("json", NULL, 10, 0, 0, KEN_OK, NULL);
    REQUIRE(l);
    sink s = {0};
    ken_llm_gen_opts go = {.size = sizeof go, .on_text = on_text, .ud = &s};
    ken_llm_stats stats;
    char *t = NULL, *msg = NULL;
    REQUIRE(run_chat(l, &go, &t, &stats, &msg) == KEN_OK);
    CHECK_EQ_STR(t, "Whole answer.");
    CHECK_EQ_STR(s.buf, "Whole answer.");
    CHECK_EQ_STR(stats.finish, "length");
    CHECK_EQ_INT(stats.n_prompt, 7);
    CHECK_EQ_INT(stats.n_generated, 3);
    pthread_mutex_lock(&last_mu);
    CHECK_EQ_STR(last_auth, "");      /* no key, no header */
    pthread_mutex_unlock(&last_mu);
    ken_free(t);
    ken_llm_close(l);
}

static void test_retries(void) {
    /* 429 with Retry-After: 1, then 200: one retry, after a second */
    ken_llm *l = open_http("r429", NULL, 10, 3, 0, KEN_OK, NULL);
    REQUIRE(l);
    ken_llm_gen_opts go = {.size = sizeof go};
    ken_llm_stats stats;
    char *t = NULL, *msg = NULL;
    double t0 = ken_now();
    REQUIRE(run_chat(l, &go, &t, &stats, &msg) == KEN_OK);
    double dt = ken_now() - t0;
    CHECK_EQ_STR(t, "Hello, w\xc3\xb6rld! Bye.");
    CHECK_EQ_INT(stats.retries, 1);
    CHECK_EQ_INT(hits[S_R429], 2);
    /* backoff alone would be 0.01 s; no upper bound: a loaded machine is slow */
    CHECKF(dt >= 0.9, "Retry-After 1 s, took %.2f s", dt);
    ken_free(t);
    ken_llm_close(l);
    /* 500 every time: 1 + 2 retries, then a clear error */
    l = open_http("r500", NULL, 10, 2, 0, KEN_OK, NULL);
    REQUIRE(l);
    t0 = ken_now();
    CHECK(run_chat(l, &go, &t, &stats, &msg) == KEN_ERR_IO);
    (void)t0;
    CHECK_EQ_INT(hits[S_R500], 3);
    CHECK_EQ_INT(stats.retries, 2);
    CHECKF(msg && strstr(msg, "500") && strstr(msg, "the model is overloaded") &&
           strstr(msg, "gave up after 3 attempts"), "%s", msg ? msg : "");
    fprintf(stderr, "500 says: %s\n", msg ? msg : "");
    ken_free(msg);
    msg = NULL;
    ken_llm_close(l);
    /* the delays grow: 0.1 s doubled, each with jitter in [50 %, 100 %] */
    l = open_http("r500", NULL, 10, 3, 0, KEN_OK, NULL);
    REQUIRE(l);
    char url5[128];
    snprintf(url5, sizeof url5, "http://127.0.0.1:%d/r500/v1", mhd_port);
    ken_llm_close(l);
    ken_llm_opts o5 = {.size = sizeof o5, .url = url5, .model_name = "m", .retries = 3,
                       .backoff_s = 0.1};
    REQUIRE(ken_llm_open(&o5, &l, &msg) == KEN_OK);
    t0 = ken_now();
    CHECK(run_chat(l, &go, &t, &stats, &msg) == KEN_ERR_IO);
    dt = ken_now() - t0;
    CHECKF(dt >= 0.35, "backoff 0.1+0.2+0.4 with jitter took %.2f s", dt);
    CHECK_EQ_INT(stats.retries, 3);
    ken_free(msg);
    msg = NULL;
    ken_llm_close(l);
    /* retries -1: none */
    int before = hits[S_R500];
    l = open_http("r500", NULL, 10, -1, 0, KEN_OK, NULL);
    REQUIRE(l);
    CHECK(run_chat(l, &go, &t, &stats, &msg) == KEN_ERR_IO);
    CHECK_EQ_INT(hits[S_R500] - before, 1);
    CHECK(msg && !strstr(msg, "gave up"));
    ken_free(msg);
    msg = NULL;
    ken_llm_close(l);
    /* nothing listens: connect errors are retried, then reported */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);     /* the port is free again and nothing listens there */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", ntohs(sa.sin_port));
    ken_llm_opts o = {.size = sizeof o, .url = url, .model_name = "m", .retries = 1, .backoff_s = 0.01};
    REQUIRE(ken_llm_open(&o, &l, &msg) == KEN_OK);
    CHECK(run_chat(l, &go, &t, &stats, &msg) == KEN_ERR_IO);
    CHECKF(msg && strstr(msg, "cannot connect") && strstr(msg, "2 attempts"), "%s", msg ? msg : "");
    CHECK_EQ_INT(stats.retries, 1);
    ken_free(msg);
    ken_llm_close(l);
}

static void test_client_errors(void) {
    ken_llm *l = open_http("e400", NULL, 10, 3, 0, KEN_OK, NULL);
    REQUIRE(l);
    ken_llm_gen_opts go = {.size = sizeof go};
    ken_llm_stats stats;
    char *t = NULL, *msg = NULL;
    CHECK(run_chat(l, &go, &t, &stats, &msg) == KEN_ERR_INVALID);
    CHECKF(msg && strstr(msg, "400") && strstr(msg, "max_tokens is too large for this model"),
           "%s", msg ? msg : "");
    CHECK_EQ_INT(hits[S_E400], 1);          /* a 4xx is not retried */
    ken_free(msg);
    msg = NULL;
    ken_llm_close(l);
    static const char key[] = "sk-proj-Abc123SECRETxyz789";
    l = open_http("e401", key, 10, 3, 0, KEN_OK, NULL);
    REQUIRE(l);
    CHECK(run_chat(l, &go, &t, &stats, &msg) == KEN_ERR_INVALID);
    CHECKF(msg && strstr(msg, "401") && strstr(msg, "Incorrect API key provided") &&
           strstr(msg, "API key"), "%s", msg ? msg : "");
    CHECKF(msg && !strstr(msg, key) && !strstr(msg, "SECRET") && !strstr(msg, "Abc123"), "%s",
           msg ? msg : "");
    fprintf(stderr, "401 says: %s\n", msg ? msg : "");
    pthread_mutex_lock(&last_mu);
    CHECK(strstr(last_auth, key) != NULL);     /* it was sent, just never shown */
    pthread_mutex_unlock(&last_mu);
    ken_free(msg);
    msg = NULL;
    ken_llm_close(l);
    /* no models listed, bad URL, bad messages */
    l = open_http("nomodels", NULL, 10, 0, 0, KEN_ERR_NOTFOUND, &msg);
    CHECK(!l && msg && strstr(msg, "no models"));
    ken_free(msg);
    msg = NULL;
    ken_llm_opts o = {.size = sizeof o, .url = "ftp://127.0.0.1/v1", .model_name = "m"};
    CHECK(ken_llm_open(&o, &l, &msg) == KEN_ERR_INVALID && !l && msg);
    ken_free(msg);
    msg = NULL;
    l = open_http("sse", NULL, 10, 0, 0, KEN_OK, NULL);
    REQUIRE(l);
    CHECK(ken_llm_chat(l, "{\"role\":\"user\"}", &go, &t, NULL, NULL, &msg) == KEN_ERR_INVALID);
    ken_free(msg);
    msg = NULL;
    CHECK(ken_llm_chat(l, "[{\"role\":", &go, &t, NULL, NULL, &msg) == KEN_ERR_FORMAT);
    ken_free(msg);
    ken_llm_close(l);
}

static void test_limits(void) {
    ken_llm_gen_opts go = {.size = sizeof go};
    ken_llm_stats stats;
    char *t = NULL, *msg = NULL;
    /* slow: the timeout, not the server, ends it */
    ken_llm *l = open_http("slow", NULL, 0.5, 3, 0, KEN_OK, NULL);
    REQUIRE(l);
    double t0 = ken_now();
    CHECK(run_chat(l, &go, &t, &stats, &msg) == KEN_ERR_IO);
    CHECKF(ken_now() - t0 < 10, "the 0.5 s timeout did not end a 20 s wait (%.1f s)", ken_now() - t0);
    CHECKF(msg && strstr(msg, "did not answer") && strstr(msg, "0.5 s"), "%s", msg ? msg : "");
    CHECK_EQ_INT(hits[S_SLOW], 1);           /* a timeout is not retried */
    ken_free(msg);
    msg = NULL;
    ken_llm_close(l);
    static const struct { const char *scen; ken_status want; const char *words; } cases[] = {
        {"big", KEN_ERR_LIMIT, "larger than the limit of 65536 bytes"},
        {"bigsse", KEN_ERR_LIMIT, "larger than the limit of 65536 bytes"},
        {"badsse", KEN_ERR_FORMAT, "malformed event"},
        {"trunc", KEN_ERR_IO, "ended the stream"},
        {"miderr", KEN_ERR_IO, "out of memory on the server"},
        {"jsonerr", KEN_ERR_IO, "the context is full"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        l = open_http(cases[i].scen, NULL, 10, 0, 65536, KEN_OK, NULL);
        REQUIRE(l);
        ken_status st = run_chat(l, &go, &t, &stats, &msg);
        CHECKF(st == cases[i].want && msg && strstr(msg, cases[i].words), "%s: %d %s",
               cases[i].scen, st, msg ? msg : "");
        ken_free(msg);
        msg = NULL;
        ken_llm_close(l);
    }
}

static void *raise_later(void *p) {
    usleep(150000);
    *(volatile int *)p = 1;
    return NULL;
}

static void test_cancel(void) {
    ken_llm *l = open_http("drip", NULL, 10, 0, 0, KEN_OK, NULL);
    REQUIRE(l);
    volatile int flag = 0;
    sink s = {.cancel_after = 3, .flag = &flag};
    ken_llm_gen_opts go = {.size = sizeof go, .on_text = on_text, .ud = &s, .cancel = &flag};
    ken_llm_stats stats;
    char *t = NULL, *msg = NULL;
    double t0 = ken_now();
    CHECK(run_chat(l, &go, &t, &stats, &msg) == KEN_ERR_CANCELLED);
    CHECK(ken_now() - t0 < 10);
    CHECK(s.calls >= 3 && s.calls < 6);
    CHECK_EQ_STR(stats.finish, "cancelled");
    ken_free(msg);
    msg = NULL;
    /* from another thread, without any text arriving in between */
    ken_llm_close(l);
    l = open_http("slow", NULL, 10, 0, 0, KEN_OK, NULL);
    REQUIRE(l);
    flag = 0;
    go.on_text = NULL;
    pthread_t th;
    pthread_create(&th, NULL, raise_later, (void *)&flag);
    t0 = ken_now();
    CHECK(run_chat(l, &go, &t, &stats, &msg) == KEN_ERR_CANCELLED);
    CHECKF(ken_now() - t0 < 10, "cancel did not end a 20 s wait (%.2f s)", ken_now() - t0);
    pthread_join(th, NULL);
    ken_free(msg);
    ken_llm_close(l);
}

static void test_embed_scripted(void) {
    ken_llm *l = open_http("emb", NULL, 10, 0, 0, KEN_OK, NULL);
    REQUIRE(l);
    const char *texts[3] = {"one", "two", "three"};
    float *v = NULL;
    size_t dim = 0;
    char *msg = NULL;
    REQUIRE(ken_llm_embed(l, texts, NULL, 3, &v, &dim, &msg) == KEN_OK);
    CHECK_EQ_INT(dim, 3);
    /* put back in input order, L2-normalized */
    static const float want[9] = {0.6f, 0.8f, 0, 1, 0, 0, 0, 0, 1};
    for (int i = 0; i < 9; i++) CHECK(fabsf(v[i] - want[i]) < 1e-6f);
    pthread_mutex_lock(&last_mu);
    CHECK(strstr(last_body, "\"input\":[\"one\",\"two\",\"three\"]") != NULL);
    pthread_mutex_unlock(&last_mu);
    ken_free(v);
    v = NULL;
    /* two texts, three vectors back */
    CHECK(ken_llm_embed(l, texts, NULL, 2, &v, &dim, &msg) == KEN_ERR_FORMAT && !v);
    CHECK(msg && strstr(msg, "3 embeddings for 2 texts"));
    ken_free(msg);
    ken_llm_close(l);
}

static void stop_script(void) {
    quitting = 1;
    MHD_stop_daemon(mhd);
}

/* ------------------------------------------------------------ agreement with ken serve */

static volatile int serve_stop;
static volatile int serve_port;
static char serve_db[256], stories[1024], bge[1024];

static void on_ready(void *ud, const char *host, int p) {
    (void)ud, (void)host;
    serve_port = p;
}

static void *serve_main(void *arg) {
    (void)arg;
    ken_serve_opts o = {.size = sizeof o, .db_path = serve_db, .listen = "127.0.0.1:0",
                        .threads = 1, .no_auth = 1, .model_path = stories,
                        .embed_model_path = bge, .on_ready = on_ready};
    char *msg = NULL;
    ken_status st = ken_serve(&o, &serve_stop, &msg);
    if (st) fprintf(stderr, "ken_serve: %s\n", msg ? msg : "");
    ken_free(msg);
    return NULL;
}

static void test_agreement(void) {
    snprintf(stories, sizeof stories, "%s/models/stories260K.gguf", test_fixtures());
    snprintf(bge, sizeof bge, "%s/models/tiny-bge-cls-f32.gguf", test_fixtures());
    char dir[] = "/tmp/ken_test_llm_srv_XXXXXX";
    REQUIRE(mkdtemp(dir));
    snprintf(serve_db, sizeof serve_db, "%s/kb.db", dir);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, serve_main, NULL) == 0);
    for (int i = 0; i < 400 && !serve_port; i++) usleep(25000);
    CHECK(serve_port > 0);
    if (serve_port > 0) {
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", serve_port);
        ken_llm_opts ho = {.size = sizeof ho, .url = url, .timeout_s = 60};
        ken_llm_opts lo = {.size = sizeof lo, .model_path = stories, .threads = 1};
        ken_llm *h = NULL, *loc = NULL;
        char *msg = NULL;
        CHECKF(ken_llm_open(&ho, &h, &msg) == KEN_OK, "%s", msg ? msg : "");
        ken_free(msg);
        msg = NULL;
        CHECKF(ken_llm_open(&lo, &loc, &msg) == KEN_OK, "%s", msg ? msg : "");
        ken_free(msg);
        msg = NULL;
        static const char *convs[] = {
            "[{\"role\":\"system\",\"content\":\"You tell stories.\"},"
            "{\"role\":\"user\",\"content\":\"Once upon a time\"}]",
            "[{\"role\":\"user\",\"content\":\"Lily went to the park and saw a big dog.\"}]",
            "[{\"role\":\"user\",\"content\":\"Tom had a red ball.\"},{\"role\":\"assistant\","
            "\"content\":\"He liked to play.\"},{\"role\":\"user\",\"content\":\"What happened next?\"}]"};
        for (size_t i = 0; h && loc && i < sizeof convs / sizeof convs[0]; i++) {
            ken_llm_gen_opts go = {.size = sizeof go, .max_tokens = 48};
            sink sh = {0};
            ken_llm_gen_opts gh = go;
            gh.on_text = on_text, gh.ud = &sh;
            char *a = NULL, *b = NULL;
            ken_status s1 = ken_llm_chat(loc, convs[i], &go, &a, NULL, NULL, &msg);
            CHECKF(s1 == KEN_OK, "local: %s", msg ? msg : "");
            ken_free(msg);
            msg = NULL;
            ken_status s2 = ken_llm_chat(h, convs[i], &gh, &b, NULL, NULL, &msg);
            CHECKF(s2 == KEN_OK, "http: %s", msg ? msg : "");
            ken_free(msg);
            msg = NULL;
            CHECKF(a && b && strcmp(a, b) == 0 && strlen(a) > 10, "conversation %zu:\n local '%s'\n http  '%s'",
                   i, a ? a : "", b ? b : "");
            CHECK(b && strcmp(sh.buf, b) == 0);
            fprintf(stderr, "agreement %zu: '%s'\n", i, b ? b : "");
            ken_free(a);
            ken_free(b);
        }
        /* embeddings: the server's encoder against the same file locally */
        ken_llm_opts eo = {.size = sizeof eo, .model_path = bge, .threads = 1};
        ken_llm *le = NULL;
        CHECK(ken_llm_open(&eo, &le, NULL) == KEN_OK);
        const char *texts[3] = {"honeybees dance", "the waggle dance points to flowers",
                                "\xc3\xa9t\xc3\xa9 \xe2\x82\xac"};
        float *va = NULL, *vb = NULL;
        size_t da = 0, db = 0;
        if (le && h) {
            CHECK(ken_llm_embed(le, texts, NULL, 3, &va, &da, NULL) == KEN_OK);
            CHECKF(ken_llm_embed(h, texts, NULL, 3, &vb, &db, &msg) == KEN_OK, "%s", msg ? msg : "");
            ken_free(msg);
            CHECK(da == 64 && da == db);
            double diff = 0;
            for (size_t k = 0; va && vb && da == db && k < 3 * da; k++)
                diff = fmax(diff, fabs(va[k] - vb[k]));
            CHECKF(va && vb && diff < 1e-5, "embeddings differ by %g", diff);
        }
        ken_free(va);
        ken_free(vb);
        va = vb = NULL;
        /* more texts than the server takes at once (256): sent in batches */
        enum { N = 300 };
        static char words[N][32];
        const char *many[N];
        for (int i = 0; i < N; i++) {
            snprintf(words[i], sizeof words[i], "text number %d about bees", i);
            many[i] = words[i];
        }
        if (le && h) {
            CHECK(ken_llm_embed(le, many, NULL, N, &va, &da, NULL) == KEN_OK);
            CHECKF(ken_llm_embed(h, many, NULL, N, &vb, &db, &msg) == KEN_OK, "%s", msg ? msg : "");
            ken_free(msg);
            msg = NULL;
            double diff = 0;
            for (size_t k = 0; va && vb && da == db && k < N * da; k++)
                diff = fmax(diff, fabs(va[k] - vb[k]));
            CHECKF(va && vb && da == db && diff < 1e-5, "300 embeddings differ by %g", diff);
        }
        ken_free(va);
        ken_free(vb);
        ken_llm_close(le);
        ken_llm_close(h);
        ken_llm_close(loc);
    }
    serve_stop = 1;
    pthread_join(th, NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

TEST_MAIN(test_sse_splits, start_script, test_stream, test_whole_json, test_retries,
          test_client_errors, test_limits, test_cancel, test_embed_scripted, stop_script,
          test_agreement)
