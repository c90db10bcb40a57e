/* http.h: the transport of the HTTP backend (http.c): one JSON request to
 * an OpenAI-compatible server over libcurl with retries and backoff,
 * timeouts, cancellation, a size limit on what comes back, and errors that
 * say what the server said (never the API key); and the Server-Sent Events
 * parser (sse.c) the streamed replies go through. */
#ifndef KEN_LLM_HTTP_H
#define KEN_LLM_HTTP_H

#include "llm/llm_int.h"

/* Where a streamed (2xx text/event-stream) body goes. */
typedef struct {
    void (*reset)(void *ud);                        /* before each attempt */
    /* bytes as they come; 0: go on, 1: enough (the request succeeded), -1:
     * failure (the sink keeps its status and message) */
    int (*on_data)(void *ud, const char *p, size_t n);
    void *ud;
    bool delivered;         /* set by the sink once text reached the caller: no retry */
    ken_status st;          /* the sink's failure */
    char msg[512];
} http_stream;

typedef struct {
    long status;            /* the HTTP status of the last attempt */
    bool streamed;          /* the body went to the stream sink */
    ken_buf body;           /* else the body (at most l->resp_max bytes), freed by the caller */
    int retries;
} http_resp;

/* Sends method path (appended to l->url) with an optional JSON body.
 * KEN_OK when a 2xx answer came in full (or the sink said enough); else
 * an error with a message. resp->body must be freed (ken_buf_free) in
 * every case. */
ken_status llm_http_do(ken_llm *l, const char *method, const char *path, const char *body,
                       size_t body_len, http_stream *stream, const volatile int *cancel,
                       http_resp *resp, char **errmsg);

/* The URL for messages, without any user:password@ part. */
void llm_url_display(const char *url, char *out, size_t cap);

/* Removes from msg every run of 6 or more bytes that also occurs in key
 * (a server may echo all or part of the key in its error message). */
void llm_redact(char *msg, const char *key);

/* ---- Server-Sent Events (sse.c) */

/* Called with the data of each event (data: lines joined with '\n');
 * return 0 to go on, 1 to stop, -1 on failure. */
typedef int (*sse_event_fn)(void *ud, const char *data, size_t len);

typedef struct {
    ken_buf line;           /* the line being read (capped) */
    ken_buf data;           /* the event's data so far (capped) */
    bool has_data;
    bool cr;                /* the last byte was '\r' (a following '\n' is part of it) */
    bool too_big;
    sse_event_fn fn;
    void *ud;
} sse_parser;

/* event_max bounds one line and one event's data. */
void sse_init(sse_parser *p, size_t event_max, sse_event_fn fn, void *ud);
void sse_free(sse_parser *p);
void sse_reset(sse_parser *p);
/* Feeds bytes split anywhere. Returns 0, 1 (the callback said stop), -1
 * (the callback failed) or -2 (a line or event is past event_max). */
int sse_feed(sse_parser *p, const char *s, size_t n);
/* End of the stream: an event not closed by a blank line is dispatched. */
int sse_finish(sse_parser *p);

#endif
