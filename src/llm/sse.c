/* sse.c: a Server-Sent Events parser (the WHATWG event-stream format) for
 * streamed chat replies: bytes split anywhere go in, each event's data comes
 * out once its blank line arrives. Lines end with LF, CRLF or CR; "data:"
 * lines accumulate (one leading space dropped), comments (":") and the
 * other fields (event, id, retry) are ignored. Lines and events are capped. */
#include "llm/http.h"

#include <string.h>

void sse_init(sse_parser *p, size_t event_max, sse_event_fn fn, void *ud) {
    memset(p, 0, sizeof *p);
    ken_buf_init(&p->line, event_max);
    ken_buf_init(&p->data, event_max);
    p->fn = fn;
    p->ud = ud;
}

void sse_free(sse_parser *p) {
    ken_buf_free(&p->line);
    ken_buf_free(&p->data);
}

void sse_reset(sse_parser *p) {
    ken_buf_reset(&p->line);
    ken_buf_reset(&p->data);
    p->has_data = p->cr = p->too_big = false;
}

static int dispatch(sse_parser *p) {
    if (!p->has_data) return 0;
    p->has_data = false;
    int r = p->fn(p->ud, p->data.data ? p->data.data : "", p->data.len);
    ken_buf_reset(&p->data);
    return r;
}

/* One complete line (without its end). */
static int take_line(sse_parser *p) {
    const char *s = p->line.data ? p->line.data : "";
    size_t n = p->line.len;
    if (n == 0) return dispatch(p);
    if (s[0] == ':') return 0;                      /* a comment (keep-alive) */
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    if (flen != 4 || memcmp(s, "data", 4) != 0) return 0;   /* event, id, retry, unknown */
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = (size_t)(s + n - v);
    if (vlen && *v == ' ') v++, vlen--;
    if (p->has_data && ken_buf_putc(&p->data, '\n')) return -2;
    if (ken_buf_append(&p->data, v, vlen)) return -2;
    p->has_data = true;
    return 0;
}

int sse_feed(sse_parser *p, const char *s, size_t n) {
    if (p->too_big) return -2;
    size_t i = 0;
    while (i < n) {
        if (p->cr && s[i] == '\n') {                /* the LF of a CRLF */
            p->cr = false;
            i++;
            continue;
        }
        p->cr = false;
        size_t j = i;
        while (j < n && s[j] != '\n' && s[j] != '\r') j++;
        if (j > i && ken_buf_append(&p->line, s + i, j - i)) return p->too_big = true, -2;
        if (j == n) break;
        p->cr = s[j] == '\r';
        int r = take_line(p);
        ken_buf_reset(&p->line);
        if (r == -2) p->too_big = true;
        if (r) return r;
        i = j + 1;
    }
    return 0;
}

int sse_finish(sse_parser *p) {
    if (p->too_big) return -2;
    if (p->line.len) {
        int r = take_line(p);
        ken_buf_reset(&p->line);
        if (r) return r;
    }
    return dispatch(p);
}
