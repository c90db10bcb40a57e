/* query.c: from the user's text to a safe FTS5 expression. The text is split
 * into terms here, the way the store's FTS5 tokenizer (unicode61,
 * remove_diacritics 2, then porter) splits it: runs of letters, numbers and
 * private-use characters, lower-cased, diacritics removed. Each term is then
 * quoted as an FTS5 string and the strings are OR-ed, so no character of the
 * user's text can act as FTS5 syntax (quotes, *, ^, :, NEAR, AND/OR/NOT,
 * parentheses are separators or quoted words). Also here: the stop-word list
 * and a light stemmer used when matching terms in sentences. */
#include "retrieve/retrieve.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define RAW_TOKEN_BYTES_MAX 400   /* longer runs are not words: skipped unnormalized */

static bool token_char(int32_t cp) {
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return true;
    default:
        return false;
    }
}

/* Lower-cases and strips diacritics of one raw token into out (cap bytes);
 * returns the length, or 0 when the result is empty or does not fit. */
static size_t normalize_token(const char *s, size_t n, char *out, size_t cap) {
    bool ascii = true;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) { ascii = false; break; }
    if (ascii) {
        if (n >= cap) return 0;
        for (size_t i = 0; i < n; i++)
            out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
        out[n] = '\0';
        return n;
    }
    utf8proc_uint8_t *m = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &m,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_STRIPMARK |
                                          UTF8PROC_CASEFOLD);
    size_t len = 0;
    if (r > 0 && (size_t)r < cap) {
        memcpy(out, m, (size_t)r);
        out[r] = '\0';
        len = (size_t)r;
    }
    free(m);
    return len;
}

ken_status ken_retrieve_terms(const char *text, size_t len, ken_retrieve_term_fn fn, void *ud) {
    char term[KEN_RETRIEVE_TERM_BYTES_MAX * 2 + 8];
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        int32_t cp = ken_utf8_next(text, len, &i);
        if (!token_char(cp)) continue;
        size_t end = i;
        while (end < len) {
            size_t j = end;
            if (!token_char(ken_utf8_next(text, len, &j))) break;
            end = j;
        }
        i = end;
        if (end - start > RAW_TOKEN_BYTES_MAX) continue;
        size_t n = normalize_token(text + start, end - start, term, sizeof term);
        if (n == 0 || n > KEN_RETRIEVE_TERM_BYTES_MAX) continue;
        if (fn(ud, term, n, start, end)) break;
    }
    return KEN_OK;
}

/* ------------------------------------------------------------ stop words */

/* Lucene's English stop set plus question and function words: they carry no
 * topic, and OR-ing them would match (and rank) nearly every chunk. Sorted. */
static const char *const stopwords[] = {
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "between", "both", "but", "by",
    "can", "could", "did", "do", "does", "doing", "during", "each", "few", "for", "from",
    "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most",
    "my", "no", "nor", "not", "of", "off", "on", "once", "only", "or", "other", "our",
    "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such",
    "than", "that", "the", "their", "theirs", "them", "then", "there", "these", "they",
    "this", "those", "through", "to", "too", "under", "until", "up", "very", "was",
    "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
    "will", "with", "would", "you", "your", "yours",
};

static int cmp_stop(const void *key, const void *elem) {
    return strcmp((const char *)key, *(const char *const *)elem);
}

bool ken_retrieve_stopword(const char *term, size_t n) {
    char buf[16];
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, term, n);
    buf[n] = '\0';
    return bsearch(buf, stopwords, KEN_ARRAY_LEN(stopwords), sizeof stopwords[0],
                   cmp_stop) != NULL;
}

/* ------------------------------------------------------------ stemming */

static bool is_vowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

static bool has_vowel(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (is_vowel(s[i]) || (i > 0 && s[i] == 'y')) return true;
    return false;
}

static bool ends(const char *s, size_t n, const char *suf) {
    size_t m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

size_t ken_retrieve_stem(const char *term, size_t n, char *out) {
    if (n > KEN_RETRIEVE_TERM_BYTES_MAX) n = KEN_RETRIEVE_TERM_BYTES_MAX;
    memcpy(out, term, n);
    if (n <= 3) return n;
    if (ends(out, n, "sses")) n -= 2;
    else if (ends(out, n, "ies") && n > 4) { n -= 2; out[n - 1] = 'y'; }
    else if (out[n - 1] == 's' && !ends(out, n, "ss") && !ends(out, n, "us") &&
             !ends(out, n, "is")) n -= 1;
    size_t before = n;
    if (ends(out, n, "ing") && n > 5 && has_vowel(out, n - 3)) n -= 3;
    else if (ends(out, n, "ed") && n > 4 && has_vowel(out, n - 2)) n -= 2;
    else if (ends(out, n, "ly") && n > 4) n -= 2;
    if (n != before && n >= 3 && out[n - 1] == out[n - 2] && !is_vowel(out[n - 1]) &&
        out[n - 1] != 'l' && out[n - 1] != 's' && out[n - 1] != 'z')
        n -= 1;   /* running -> runn -> run */
    if (n > 3 && out[n - 1] == 'e') n -= 1;   /* "make"/"mak" from "making" meet */
    return n;
}

/* ------------------------------------------------------------ queries */

ken_status ken_retrieve_query_add(ken_retrieve_query *q, const char *term, size_t n,
                                  double weight) {
    if (n == 0 || n > KEN_RETRIEVE_TERM_BYTES_MAX) return KEN_OK;
    for (size_t i = 0; i < q->n; i++)
        if (strlen(q->term[i]) == n && memcmp(q->term[i], term, n) == 0) return KEN_OK;
    if (q->n >= KEN_ARRAY_LEN(q->term)) return KEN_OK;
    char *t = ken_strndup(term, n);
    if (!t) return KEN_ERR_NOMEM;
    q->term[q->n] = t;
    q->weight[q->n] = weight;
    q->n++;
    return KEN_OK;
}

typedef struct {
    ken_retrieve_query *q;
    ken_retrieve_query stops;     /* kept aside in case nothing else remains */
    ken_status st;
} parse_ctx;

static int on_query_term(void *ud, const char *t, size_t n, size_t start, size_t end) {
    parse_ctx *c = ud;
    (void)start; (void)end;
    bool stop = ken_retrieve_stopword(t, n);
    ken_retrieve_query *dst = stop ? &c->stops : c->q;
    if (dst->n >= KEN_RETRIEVE_TERMS_MAX) {
        if (stop) c->q->n_stop++;
        return 0;
    }
    if (stop) c->q->n_stop++;
    c->st = ken_retrieve_query_add(dst, t, n, 1.0);
    return c->st != KEN_OK;
}

ken_status ken_retrieve_query_parse(const char *text, size_t len, ken_retrieve_query *q,
                                    ken_err *err) {
    memset(q, 0, sizeof *q);
    if (len > KEN_RETRIEVE_QUERY_BYTES_MAX)
        return ken_err_set(err, KEN_ERR_INVALID, "query too long: %zu bytes (at most %d)", len,
                           KEN_RETRIEVE_QUERY_BYTES_MAX);
    parse_ctx c;
    memset(&c, 0, sizeof c);
    c.q = q;
    ken_retrieve_terms(text, len, on_query_term, &c);
    if (c.st == KEN_OK && q->n == 0) {
        /* Only stop words: search them rather than return nothing. */
        for (size_t i = 0; i < c.stops.n && c.st == KEN_OK; i++)
            c.st = ken_retrieve_query_add(q, c.stops.term[i], strlen(c.stops.term[i]), 1.0);
        q->n_stop = 0;
    }
    ken_retrieve_query_free(&c.stops);
    if (c.st != KEN_OK) {
        ken_retrieve_query_free(q);
        return ken_err_set(err, c.st, "out of memory");
    }
    return KEN_OK;
}

void ken_retrieve_query_free(ken_retrieve_query *q) {
    if (!q) return;
    for (size_t i = 0; i < q->n; i++) free(q->term[i]);
    memset(q, 0, sizeof *q);
}

ken_status ken_retrieve_query_fts(const ken_retrieve_query *q, ken_buf *out) {
    ken_status st = KEN_OK;
    for (size_t i = 0; i < q->n && st == KEN_OK; i++) {
        if (i) st = ken_buf_puts(out, " OR ");
        if (st == KEN_OK) st = ken_buf_putc(out, '"');
        for (const char *p = q->term[i]; *p && st == KEN_OK; p++)
            st = *p == '"' ? ken_buf_puts(out, "\"\"") : ken_buf_putc(out, *p);
        if (st == KEN_OK) st = ken_buf_putc(out, '"');
    }
    return st;
}

/* A finite number in plain decimal notation with '.' whatever the locale
 * and no exponent (FTS5's rank parser takes no "1e-05"), trailing zeros cut. */
static ken_status put_num(ken_buf *out, double v) {
    if (!(v == v) || v > 1e9 || v < -1e9) v = 0;
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp, "%.6f", v);
    for (int i = 0; i < n; i++)
        if (tmp[i] == ',') tmp[i] = '.';
    while (n > 1 && tmp[n - 1] == '0') n--;
    if (n > 1 && tmp[n - 1] == '.') n--;
    if (n == 2 && tmp[0] == '-' && tmp[1] == '0') { tmp[0] = '0'; n = 1; }
    return ken_buf_append(out, tmp, (size_t)n);
}

ken_status ken_retrieve_query_rank(const ken_retrieve_query *q, double k1, double b,
                                   ken_buf *out) {
    ken_status st = ken_buf_puts(out, "ken_bm25(");
    if (st == KEN_OK) st = put_num(out, k1);
    if (st == KEN_OK) st = ken_buf_puts(out, ", ");
    if (st == KEN_OK) st = put_num(out, b);
    for (size_t i = 0; i < q->n && st == KEN_OK; i++) {
        st = ken_buf_puts(out, ", ");
        if (st == KEN_OK) st = put_num(out, q->weight[i]);
    }
    if (st == KEN_OK) st = ken_buf_putc(out, ')');
    return st;
}
