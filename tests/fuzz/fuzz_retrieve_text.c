/* fuzz_retrieve_text.c: arbitrary bytes as a user query and as passage text:
 * the query builder yields only quoted, non-empty, bounded terms (no byte of
 * the input can become FTS5 syntax), and the sentence splitter's spans are
 * ordered, in bounds, non-empty and trimmed. */
#include "retrieve/retrieve.h"

#include <stdlib.h>
#include <string.h>

static void check(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    ken_retrieve_query q;
    ken_err err;
    if (ken_retrieve_query_parse(s, size, &q, &err) == KEN_OK) {
        check(q.n <= KEN_RETRIEVE_TERMS_MAX);
        ken_buf b;
        ken_buf_init(&b, 0);
        check(ken_retrieve_query_fts(&q, &b) == KEN_OK);
        for (size_t i = 0; i < q.n; i++) {
            size_t n = strlen(q.term[i]);
            check(n > 0 && n <= KEN_RETRIEVE_TERM_BYTES_MAX);
            check(strchr(q.term[i], '"') == NULL && ken_utf8_valid(q.term[i], n));
        }
        /* The expression is "t" OR "t" ...: quotes balanced, nothing outside them
         * but the OR separators. */
        size_t quotes = 0;
        for (size_t i = 0; i < b.len; i++) quotes += b.data[i] == '"';
        check(quotes == 2 * q.n);
        ken_buf_free(&b);
        ken_retrieve_query_free(&q);
    } else {
        check(size > KEN_RETRIEVE_QUERY_BYTES_MAX);
    }
    ken_retrieve_span *sp;
    size_t n;
    if (ken_retrieve_sentences(s, size, &sp, &n) == KEN_OK) {
        size_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            check(sp[i].start >= prev && sp[i].start < sp[i].end && sp[i].end <= size);
            check(s[sp[i].start] != ' ' && s[sp[i].end - 1] != ' ');
            prev = sp[i].end;
        }
        free(sp);
    }
    return 0;
}
