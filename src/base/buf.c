/* buf.c: growable byte buffers with a size cap, and string duplication. */
#include "base.h"

#include <stdlib.h>
#include <string.h>

void ken_buf_init(ken_buf *b, size_t cap_max) {
    b->data = NULL;
    b->len = b->cap = 0;
    b->cap_max = cap_max ? cap_max : KEN_BUF_DEFAULT_MAX;
}

void ken_buf_free(ken_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void ken_buf_reset(ken_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

ken_status ken_buf_reserve(ken_buf *b, size_t extra) {
    if (b->cap_max == 0) b->cap_max = KEN_BUF_DEFAULT_MAX;
    if (extra > b->cap_max || b->len > b->cap_max - extra) return KEN_ERR_LIMIT;
    size_t need = b->len + extra + 1;           /* room for the NUL */
    if (need <= b->cap) return KEN_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->cap_max + 1) cap = b->cap_max + 1;
    char *p = realloc(b->data, cap);
    if (!p) return KEN_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return KEN_OK;
}

ken_status ken_buf_append(ken_buf *b, const void *p, size_t n) {
    ken_status st = ken_buf_reserve(b, n);
    if (st) return st;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return KEN_OK;
}

ken_status ken_buf_puts(ken_buf *b, const char *s) { return ken_buf_append(b, s, strlen(s)); }

ken_status ken_buf_putc(ken_buf *b, char c) { return ken_buf_append(b, &c, 1); }

ken_status ken_buf_printf(ken_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return KEN_ERR_INVALID;
    ken_status st = ken_buf_reserve(b, (size_t)n);
    if (st) return st;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KEN_OK;
}

char *ken_buf_take(ken_buf *b, size_t *len_out) {
    char *p = b->data;
    if (!p) p = calloc(1, 1);
    if (len_out) *len_out = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

char *ken_strndup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *ken_strdup(const char *s) { return s ? ken_strndup(s, strlen(s)) : NULL; }
