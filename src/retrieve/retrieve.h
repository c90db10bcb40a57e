/* retrieve.h: lexical retrieval over the store and extractive answers.
 *
 *   query.c     user text -> terms -> a safe FTS5 expression (the user's text
 *               never reaches the FTS5 query parser: every term is quoted)
 *   search.c    BM25 search through the store's search op, chunk or document
 *               level, filters, RM3 pseudo-relevance feedback
 *   sentence.c  sentence splitting with byte spans
 *   answer.c    extractive answers: sentence scoring, MMR, citations
 *
 * Ownership: results and answers are freed by their _free call. */
#ifndef KEN_RETRIEVE_H
#define KEN_RETRIEVE_H

#include "base/base.h"
#include "store/store.h"

/* ------------------------------------------------------------ query */

#define KEN_RETRIEVE_QUERY_BYTES_MAX 65536   /* longer user text is a usage error */
#define KEN_RETRIEVE_TERMS_MAX 64      /* terms kept (first occurrences win) */
#define KEN_RETRIEVE_TERM_BYTES_MAX 100      /* longer "words" are noise: dropped */

typedef struct {
    char *term[KEN_RETRIEVE_TERMS_MAX + 16];   /* + room for PRF expansion terms */
    double weight[KEN_RETRIEVE_TERMS_MAX + 16];
    size_t n;
    size_t n_stop;    /* stop words dropped */
} ken_retrieve_query;

/* Splits text into lowercase terms the way FTS5's unicode61 tokenizer does
 * (letters, numbers and private-use characters; diacritics removed), drops
 * stop words (unless nothing else is left), repeats, empty and over-long
 * terms, and keeps at most KEN_RETRIEVE_TERMS_MAX. Any byte string is accepted;
 * invalid UTF-8 reads as separators. KEN_ERR_INVALID when longer than
 * KEN_RETRIEVE_QUERY_BYTES_MAX. q may end up with no terms. */
ken_status ken_retrieve_query_parse(const char *text, size_t len, ken_retrieve_query *q, ken_err *err);
void ken_retrieve_query_free(ken_retrieve_query *q);
/* Adds a term (copied) with a weight, unless present or full. */
ken_status ken_retrieve_query_add(ken_retrieve_query *q, const char *term, size_t n, double weight);

/* The FTS5 expression: "t1" OR "t2" ... (each a quoted FTS5 string). */
ken_status ken_retrieve_query_fts(const ken_retrieve_query *q, ken_buf *out);
/* The FTS5 rank expression: ken_bm25(k1, b, w1, w2, ...), numbers only. */
ken_status ken_retrieve_query_rank(const ken_retrieve_query *q, double k1, double b, ken_buf *out);

bool ken_retrieve_stopword(const char *term, size_t n);
/* Light English stemming for term matching in sentences and PRF (plural,
 * -ing, -ed, -ly); writes at most n bytes into out, returns the length. */
size_t ken_retrieve_stem(const char *term, size_t n, char *out);

/* Calls fn for every term of text (lowercase, diacritics removed) with the
 * byte span it came from; non-zero from fn stops. */
typedef int (*ken_retrieve_term_fn)(void *ud, const char *term, size_t n, size_t start, size_t end);
ken_status ken_retrieve_terms(const char *text, size_t len, ken_retrieve_term_fn fn, void *ud);

/* ------------------------------------------------------------ search */

#define KEN_RETRIEVE_K_MAX 10000
#define KEN_BM25_K1_DEFAULT 0.9
#define KEN_BM25_B_DEFAULT 0.4

typedef struct {
    size_t k;                      /* results; 0: 10 */
    const char *collection, *uri_prefix, *mime;
    const char *meta_field, *meta_value;
    bool docs;                     /* document-level: the best chunk per document */
    bool prf;                      /* RM3 pseudo-relevance feedback */
    bool no_snippet;
    double k1, b;                  /* 0: the store's config (bm25.k1, bm25.b) or defaults */
} ken_retrieve_opts;

typedef struct {
    int64_t chunk_id, doc_id;
    char *ext_id, *uri, *title, *heading, *collection, *mime;
    int32_t page, ordinal;
    int64_t start, end;            /* byte span in the document text */
    double score;
    char *snippet;                 /* matched terms between ** and ** */
    char *text; size_t text_len;   /* the chunk text */
} ken_retrieve_hit;

typedef struct {
    ken_retrieve_hit *v;
    size_t n;
    ken_retrieve_query query;               /* the terms searched (after PRF) */
    double k1, b;
    double seconds;
} ken_retrieve_hits;

ken_status ken_retrieve_search(ken_store *s, const char *text, size_t len,
                               const ken_retrieve_opts *opts, ken_retrieve_hits *out, ken_err *err);
void ken_retrieve_hits_free(ken_retrieve_hits *h);
/* Fills x from a store hit (score and snippet included), duplicating every
 * string; KEN_ERR_NOMEM leaves x empty. */
ken_status ken_retrieve_hit_copy(ken_retrieve_hit *x, const ken_store_hit *h);
/* Frees x's strings and zeroes it. */
void ken_retrieve_hit_clear(ken_retrieve_hit *x);
/* A metadata filter field: names of letters, digits, '_' and '-' joined by '.'. */
bool ken_retrieve_meta_field_ok(const char *field);
/* Reads bm25.k1 / bm25.b from the store config (defaults when unset). */
void ken_retrieve_bm25_params(ken_store *s, double *k1, double *b);

/* ------------------------------------------------------------ sentences */

typedef struct { size_t start, end; } ken_retrieve_span;
/* Splits text into sentences (spans exclude surrounding white space):
 * ". ! ?" followed by space and an upper-case letter/digit/quote, blank
 * lines and list items end sentences; common abbreviations do not. */
ken_status ken_retrieve_sentences(const char *text, size_t len, ken_retrieve_span **out, size_t *n);

/* ------------------------------------------------------------ answers */

typedef struct {
    size_t k;                  /* chunks retrieved; 0: 8 */
    size_t max_sentences;      /* 0: 3 */
    double min_score;          /* "nothing relevant" threshold on the best sentence's
                                  coverage; 0: the default; < 0: always answer */
    double lambda;             /* MMR trade-off; 0: 0.7 */
    const char *collection;
    /* Passages retrieved by the caller (dense or hybrid; not owned; their
     * query terms score the sentences); NULL: a BM25 search of k chunks. */
    const ken_retrieve_hits *hits;
} ken_retrieve_answer_opts;

typedef struct {
    int n;                     /* citation number, 1-based */
    int64_t doc_id, chunk_id;
    char *ext_id, *uri, *title, *heading;
    int32_t page;
    int64_t start, end;        /* byte span of the sentence in the document text */
    char *sentence;
    double score;
} ken_retrieve_cite;

typedef struct {
    bool found;                /* false: nothing relevant (text says so) */
    char *text;                /* the answer with [n] markers */
    ken_retrieve_cite *cites;
    size_t n_cites;
    double best_score;
} ken_retrieve_ans;

#define KEN_RETRIEVE_MIN_SCORE_DEFAULT 0.30

ken_status ken_retrieve_answer(ken_store *s, const char *question, size_t len,
                               const ken_retrieve_answer_opts *opts, ken_retrieve_ans *out, ken_err *err);
void ken_retrieve_answer_free(ken_retrieve_ans *a);

#endif
