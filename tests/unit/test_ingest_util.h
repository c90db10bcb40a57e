/* test_ingest_util.h: helpers the ingest tests share: parse a buffer and
 * keep copies of the documents and warnings it produced. */
#ifndef TEST_INGEST_UTIL_H
#define TEST_INGEST_UTIL_H

#include "ingest/ingest.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define TI_DOCS_MAX 64
#define TI_WARN_MAX 64

typedef struct {
    int n_docs;
    ken_idoc docs[TI_DOCS_MAX];     /* moved out of the callback */
    int n_warn;
    char *warn[TI_WARN_MAX];
    int stop_after;                  /* > 0: return non-zero after that many docs */
} ti_result;

static inline int ti_doc_cb(void *ud, ken_idoc *d) {
    ti_result *r = ud;
    if (r->n_docs < TI_DOCS_MAX) {
        r->docs[r->n_docs] = *d;      /* take ownership: the parser frees an emptied doc */
        ken_idoc_init(d);
    }
    r->n_docs++;
    return r->stop_after && r->n_docs >= r->stop_after;
}

static inline void ti_warn_cb(void *ud, const char *msg) {
    ti_result *r = ud;
    if (r->n_warn < TI_WARN_MAX) r->warn[r->n_warn] = strdup(msg);
    r->n_warn++;
}

static inline void ti_free(ti_result *r) {
    for (int i = 0; i < r->n_docs && i < TI_DOCS_MAX; i++) ken_idoc_free(&r->docs[i]);
    for (int i = 0; i < r->n_warn && i < TI_WARN_MAX; i++) free(r->warn[i]);
    memset(r, 0, sizeof *r);
}

static inline ken_status ti_parse(const char *name, const void *data, size_t len, const ken_parse_opts *o,
                           ti_result *r, ken_err *err) {
    memset(r, 0, sizeof *r);
    ken_err_clear(err);
    return ken_ingest_parse(name, data, len, o, ti_doc_cb, r, ti_warn_cb, r, err);
}

static inline ken_status ti_parse_str(const char *name, const char *s, ti_result *r, ken_err *err) {
    return ti_parse(name, s, strlen(s), NULL, r, err);
}

/* The text of section i as a fresh string. */
static inline char *ti_sec(const ken_idoc *d, size_t i) {
    const ken_section *s = &d->secs[i];
    return strndup(d->text.data + s->start, (size_t)(s->end - s->start));
}

static inline int ti_contains(const char *hay, const char *needle) {
    return hay && needle && strstr(hay, needle) != NULL;
}

/* Checks every chunk: exact span inside the text, on UTF-8 boundaries, not
 * empty, under the byte cap. Returns the number of problems. */
static inline int ti_check_chunks(const ken_idoc *d, const ken_ichunk *c, size_t n, uint32_t max_bytes) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const ken_ichunk *k = &c[i];
        if (k->start < 0 || k->end > (int64_t)d->text.len || k->start >= k->end) { bad++; continue; }
        unsigned char a = (unsigned char)d->text.data[k->start];
        unsigned char z = k->end < (int64_t)d->text.len ? (unsigned char)d->text.data[k->end] : 0;
        if ((a & 0xC0) == 0x80 || (z & 0xC0) == 0x80) bad++;
        if (max_bytes && k->end - k->start > (int64_t)max_bytes) bad++;
        if (!ken_utf8_valid(d->text.data + k->start, (size_t)(k->end - k->start))) bad++;
        if (i && k->start < c[i - 1].start) bad++;
        if (!k->heading || k->tokens <= 0) bad++;
    }
    return bad;
}

#endif
