/* http.c: the transport of the HTTP backend: one request to an
 * OpenAI-compatible server through libcurl, driven by a poll loop so that
 * cancellation and the idle timeout act within a tenth of a second;
 * retries with exponential backoff and jitter (a server's Retry-After
 * wins) on connect failures, 429 and 5xx, as long as no streamed text has
 * reached the caller; a cap on the body; errors that carry the server's
 * own message (from the OpenAI error JSON) and never the API key. */
#include "llm/http.h"
#include "base/json.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MAX_S 30.0
#define RETRY_AFTER_MAX_S 60.0
#define STREAM_BYTES_FACTOR 16      /* a stream may carry this many times resp_max in all */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

void llm_url_display(const char *url, char *out, size_t cap) {
    const char *s = strstr(url, "://");
    const char *host = s ? s + 3 : url;
    const char *end = host + strcspn(host, "/?#");
    const char *at = NULL;
    for (const char *q = host; q < end; q++)
        if (*q == '@') at = q;
    if (at) snprintf(out, cap, "%.*s%s", (int)(host - url), url, at + 1);
    else snprintf(out, cap, "%s", url);
}

void llm_redact(char *msg, const char *key) {
    size_t kl = key ? strlen(key) : 0;
    if (kl < 6) {
        if (kl && strstr(msg, key)) snprintf(msg, 12, "%s", "[redacted]");
        return;
    }
    size_t n = strlen(msg);
    for (size_t i = 0; i + 6 <= n; i++) {
        /* the longest run at i that occurs in the key */
        size_t best = 0;
        for (size_t k = 0; k + 6 <= kl; k++) {
            size_t m = 0;
            while (i + m < n && k + m < kl && msg[i + m] == key[k + m]) m++;
            if (m > best) best = m;
        }
        if (best >= 6) {
            static const char mark[] = "[redacted]";
            size_t ml = sizeof mark - 1;
            if (ml <= best) {
                memcpy(msg + i, mark, ml);
                memmove(msg + i + ml, msg + i + best, n - i - best + 1);
                n -= best - ml;
            } else {        /* never lengthen: star out the run */
                memset(msg + i, '*', best);
            }
            i += KEN_MIN(ml, best) - 1;
        }
    }
}

typedef struct {
    ken_llm *l;
    CURL *h;
    http_stream *stream;
    http_resp *resp;
    bool decided, to_stream, too_big, sink_stop, sink_fail;
    size_t streamed_bytes;
    double last;            /* time of the last byte (idle timeout) */
    const volatile int *cancel;
} attempt;

static size_t on_write(char *p, size_t sz, size_t nm, void *ud) {
    attempt *a = ud;
    size_t n = sz * nm;
    a->last = ken_now();
    if (!a->decided) {
        long code = 0;
        char *ct = NULL;
        curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(a->h, CURLINFO_CONTENT_TYPE, &ct);
        a->to_stream = a->stream && code / 100 == 2 && ct &&
                       strncasecmp(ct, "text/event-stream", 17) == 0;
        a->resp->streamed = a->to_stream;
        a->decided = true;
    }
    if (a->to_stream) {
        a->streamed_bytes += n;
        if (a->streamed_bytes / STREAM_BYTES_FACTOR > a->l->resp_max) return a->too_big = true, 0;
        int r = a->stream->on_data(a->stream->ud, p, n);
        if (r > 0) return a->sink_stop = true, 0;
        if (r < 0) return a->sink_fail = true, 0;
        return n;
    }
    if (ken_buf_append(&a->resp->body, p, n)) return a->too_big = true, 0;
    return n;
}

static int on_xfer(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt, (void)dn, (void)ut, (void)un;
    attempt *a = ud;
    return a->cancel && *a->cancel;
}

typedef enum { RUN_DONE, RUN_CANCELLED, RUN_TIMEOUT, RUN_CURL } run_end;

/* Drives one transfer to its end, polling at most 100 ms at a time. */
static run_end run(attempt *a, CURLcode *rc) {
    CURLM *m = curl_multi_init();
    if (!m) return *rc = CURLE_OUT_OF_MEMORY, RUN_CURL;
    curl_multi_add_handle(m, a->h);
    run_end end = RUN_CURL;
    *rc = CURLE_OK;
    for (;;) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc != CURLM_OK) { *rc = CURLE_FAILED_INIT; break; }
        if (!running) {
            int left = 0;
            CURLMsg *msg;
            while ((msg = curl_multi_info_read(m, &left)))
                if (msg->msg == CURLMSG_DONE) *rc = msg->data.result;
            end = *rc == CURLE_OK ? RUN_DONE : RUN_CURL;
            break;
        }
        if (a->cancel && *a->cancel) { end = RUN_CANCELLED; break; }
        if (ken_now() - a->last > a->l->timeout_s) { end = RUN_TIMEOUT; break; }
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    if (end == RUN_CURL && *rc == CURLE_ABORTED_BY_CALLBACK) end = RUN_CANCELLED;
    if (end == RUN_CURL && *rc == CURLE_OPERATION_TIMEDOUT) end = RUN_TIMEOUT;
    curl_multi_remove_handle(m, a->h);
    curl_multi_cleanup(m);
    return end;
}

static struct curl_slist *headers(ken_llm *l, bool json_body, bool stream) {
    struct curl_slist *hs = NULL, *t;
    const char *lines[3] = {json_body ? "Content-Type: application/json" : NULL,
                            stream ? "Accept: text/event-stream, application/json"
                                   : "Accept: application/json",
                            "Expect:"};
    for (int i = 0; i < 3; i++) {
        if (!lines[i]) continue;
        if (!(t = curl_slist_append(hs, lines[i]))) goto fail;
        hs = t;
    }
    if (l->api_key) {
        ken_buf b;
        ken_buf_init(&b, 0);
        ken_buf_printf(&b, "Authorization: Bearer %s", l->api_key);
        t = b.data ? curl_slist_append(hs, b.data) : NULL;
        if (b.data) memset(b.data, 0, b.len);       /* do not leave the key around */
        ken_buf_free(&b);
        if (!t) goto fail;
        hs = t;
    }
    return hs;
fail:
    curl_slist_free_all(hs);
    return NULL;
}

static bool setup(attempt *a, const char *url, const char *method, const char *body,
                  size_t body_len, struct curl_slist *hs, char *ebuf) {
    CURL *h = a->h;
    bool ok = curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_WRITEDATA, a) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xfer) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_XFERINFODATA, a) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
    long cto = (long)(KEN_MIN(a->l->timeout_s, 30.0) * 1000) + 1;
    ok &= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cto) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_USERAGENT, "ken/" KEN_VERSION) == CURLE_OK;
    if (strcmp(method, "POST") == 0) {
        ok &= curl_easy_setopt(h, CURLOPT_POST, 1L) == CURLE_OK;
        ok &= curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "") == CURLE_OK;
        ok &= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) == CURLE_OK;
    }
    return ok;
}

/* The server's own words from an error body: OpenAI's {"error":{"message"}},
 * or {"error":"..."}, {"message":"..."}, {"detail":"..."}; else the start of
 * the body when it is text. */
static void server_message(const ken_buf *body, char *out, size_t cap) {
    out[0] = 0;
    if (!body->len) return;
    ken_json_doc *d = NULL;
    ken_json_opts jo = {.depth_max = 32};
    if (ken_json_parse(body->data, body->len, &jo, &d, NULL, NULL) == KEN_OK) {
        const ken_json *r = ken_json_root(d), *e = ken_json_get(r, "error");
        const char *m = ken_json_str(ken_json_get(e, "message"));
        if (!m) m = ken_json_str(e);
        if (!m) m = ken_json_str(ken_json_get(r, "message"));
        if (!m) m = ken_json_str(ken_json_get(r, "detail"));
        if (m) snprintf(out, cap, "%s", m);
        ken_json_free(d);
        if (m) goto clean;
    }
    snprintf(out, cap, "%.*s", (int)KEN_MIN(body->len, 200), body->data);
clean:
    /* one line of printable text, valid UTF-8 */
    out[ken_utf8_valid_prefix(out, strlen(out))] = 0;
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
}

static ken_status status_of(long code) {
    if (code == 404) return KEN_ERR_NOTFOUND;
    if (code == 413 || code == 429) return KEN_ERR_LIMIT;
    if (code >= 500) return KEN_ERR_IO;
    return KEN_ERR_INVALID;
}

static bool retryable_curl(CURLcode rc) {
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_PARTIAL_FILE;
}

/* Sleeps d seconds in short steps; false when cancelled meanwhile. */
static bool wait_s(double d, const volatile int *cancel) {
    double end = ken_now() + d;
    for (;;) {
        if (cancel && *cancel) return false;
        double left = end - ken_now();
        if (left <= 0) return true;
        double step = KEN_MIN(left, 0.05);
        struct timespec ts = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static double backoff(ken_llm *l, int k, CURL *h) {
    curl_off_t ra = -1;
    /* 0 also means "no header": the server's word counts when it names a wait */
    if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0) {
        /* the server says when; never sooner than our own first delay */
        return KEN_MIN(KEN_MAX((double)ra, l->backoff_s), RETRY_AFTER_MAX_S);
    }
    double d = l->backoff_s;
    for (int i = 0; i < k && d < BACKOFF_MAX_S; i++) d *= 2;
    d = KEN_MIN(d, BACKOFF_MAX_S);
    /* jitter: spread the herd (a cheap hash of the clock is random enough) */
    uint64_t x = (uint64_t)(ken_now() * 1e9) * 0x9E3779B97F4A7C15ull;
    return d * (0.5 + 0.5 * (double)(x >> 11) / (double)(1ull << 53));
}

typedef struct {
    ken_status st;
    bool retry;
    char msg[1200];
} verdict;

/* What one finished attempt means. */
static verdict judge(attempt *a, run_end end, CURLcode rc, const char *ebuf, const char *where,
                     const char *method, const char *path) {
    verdict v = {KEN_OK, false, ""};
    http_resp *r = a->resp;
    ken_llm *l = a->l;
    if (end == RUN_CANCELLED) {
        v.st = KEN_ERR_CANCELLED;
        snprintf(v.msg, sizeof v.msg, "cancelled");
    } else if (a->too_big) {
        v.st = KEN_ERR_LIMIT;
        snprintf(v.msg, sizeof v.msg, "the answer of %s to %s %s is larger than the limit of "
                 "%zu bytes", where, method, path, l->resp_max);
    } else if (a->sink_fail) {
        v.st = a->stream->st ? a->stream->st : KEN_ERR_FORMAT;
        snprintf(v.msg, sizeof v.msg, "%s: %s", where, a->stream->msg);
    } else if (a->sink_stop) {
        curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &r->status);
    } else if (end == RUN_TIMEOUT) {
        v.st = KEN_ERR_IO;
        snprintf(v.msg, sizeof v.msg, "%s did not answer %s %s within %g s", where, method, path,
                 l->timeout_s);
    } else if (end == RUN_CURL) {
        v.st = KEN_ERR_IO;
        v.retry = retryable_curl(rc);
        const char *why = ebuf[0] ? ebuf : curl_easy_strerror(rc);
        if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
            snprintf(v.msg, sizeof v.msg, "cannot connect to %s: %s", where, why);
        else
            snprintf(v.msg, sizeof v.msg, "%s %s%s failed: %s", method, where, path, why);
    } else {
        curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &r->status);
        if (r->status / 100 != 2) {
            char sm[400];
            server_message(&r->body, sm, sizeof sm);
            v.st = status_of(r->status);
            v.retry = r->status == 429 || r->status >= 500;
            snprintf(v.msg, sizeof v.msg, "%s answered %s %s with HTTP %ld%s%s%s", where, method,
                     path, r->status, sm[0] ? ": " : "", sm,
                     r->status == 401 || r->status == 403 ? " (check the API key: KEN_API_KEY)" : "");
        }
    }
    if (a->stream && a->stream->delivered) v.retry = false;     /* text reached the caller */
    llm_redact(v.msg, l->api_key);
    return v;
}

ken_status llm_http_do(ken_llm *l, const char *method, const char *path, const char *body,
                       size_t body_len, http_stream *stream, const volatile int *cancel,
                       http_resp *resp, char **errmsg) {
    pthread_once(&curl_once, curl_init);
    memset(resp, 0, sizeof *resp);
    ken_buf_init(&resp->body, l->resp_max);
    if (curl_init_rc != CURLE_OK) {
        llm_errmsg(errmsg, "libcurl cannot start: %s", curl_easy_strerror(curl_init_rc));
        return KEN_ERR_INTERNAL;
    }
    char where[256], url[4096];
    llm_url_display(l->url, where, sizeof where);
    if ((size_t)snprintf(url, sizeof url, "%s%s", l->url, path) >= sizeof url) {
        llm_errmsg(errmsg, "the URL is too long");
        return KEN_ERR_INVALID;
    }
    struct curl_slist *hs = headers(l, body != NULL, stream != NULL);
    if (!hs) {
        llm_errmsg(errmsg, "out of memory");
        return KEN_ERR_NOMEM;
    }
    verdict v = {KEN_OK, false, ""};
    for (int k = 0;; k++) {
        attempt a = {.l = l, .stream = stream, .resp = resp, .cancel = cancel, .last = ken_now()};
        char ebuf[CURL_ERROR_SIZE] = "";
        ken_buf_reset(&resp->body);
        resp->streamed = false;
        if (stream) {
            stream->st = KEN_OK, stream->msg[0] = 0;
            if (stream->reset) stream->reset(stream->ud);
        }
        if (!(a.h = curl_easy_init()) || !setup(&a, url, method, body, body_len, hs, ebuf)) {
            curl_easy_cleanup(a.h);
            v = (verdict){KEN_ERR_INTERNAL, false, "libcurl cannot set up the request"};
            break;
        }
        CURLcode rc;
        run_end end = run(&a, &rc);
        v = judge(&a, end, rc, ebuf, where, method, path);
        double d = v.retry && k < l->retries ? backoff(l, k, a.h) : -1;
        curl_easy_cleanup(a.h);
        if (d < 0) break;
        if (!wait_s(d, cancel)) {
            v = (verdict){KEN_ERR_CANCELLED, false, "cancelled"};
            break;
        }
        resp->retries++;
    }
    curl_slist_free_all(hs);
    if (v.st && resp->retries && v.st != KEN_ERR_CANCELLED) {
        size_t n = strlen(v.msg);
        snprintf(v.msg + n, sizeof v.msg - n, " (gave up after %d %s)", resp->retries + 1,
                 "attempts");
    }
    if (v.st) llm_errmsg(errmsg, "%s", v.msg);
    return v.st;
}
