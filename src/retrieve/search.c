/* search.c: BM25 search over chunks through the store's search op. Builds
 * the safe FTS5 expression (query.c), picks the BM25 parameters (options,
 * else the store's config keys bm25.k1 / bm25.b, else the defaults), applies
 * filters, folds chunks into documents when asked (the best chunk stands for
 * its document), and expands the query with RM3 pseudo-relevance feedback
 * when asked. */
#include "retrieve/retrieve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* RM3 settings (Anserini's defaults): feedback chunks, expansion terms, and
 * the weight of the original query in the mixture. */
#define PRF_DOCS 10
#define PRF_TERMS 10
#define PRF_ORIG_WEIGHT 0.5
#define PRF_TERM_BYTES_MIN 3

static bool parse_param(ken_store *s, const char *key, double lo, double hi, double *out) {
    ken_buf b;
    ken_buf_init(&b, 256);
    bool ok = false;
    if (s->ops->config_get(s, key, &b) == KEN_OK && b.data) {
        char *end;
        double v = strtod(b.data, &end);
        if (end != b.data && *end == '\0' && v >= lo && v <= hi) {
            *out = v;
            ok = true;
        }
    }
    ken_buf_free(&b);
    return ok;
}

void ken_retrieve_bm25_params(ken_store *s, double *k1, double *b) {
    *k1 = KEN_BM25_K1_DEFAULT;
    *b = KEN_BM25_B_DEFAULT;
    parse_param(s, "bm25.k1", 0, 100, k1);
    parse_param(s, "bm25.b", 0, 1, b);
}

void ken_retrieve_hit_clear(ken_retrieve_hit *h) {
    free(h->ext_id); free(h->uri); free(h->title); free(h->heading);
    free(h->collection); free(h->mime); free(h->snippet); free(h->text);
    memset(h, 0, sizeof *h);
}

void ken_retrieve_hits_free(ken_retrieve_hits *h) {
    if (!h) return;
    for (size_t i = 0; i < h->n; i++) ken_retrieve_hit_clear(&h->v[i]);
    free(h->v);
    ken_retrieve_query_free(&h->query);
    memset(h, 0, sizeof *h);
}

typedef struct {
    ken_retrieve_hits *out;
    size_t k;
    bool docs;
    ken_status st;
    int64_t rows;      /* rows seen, kept or not */
} collect_ctx;

static char *dup_or_null(const char *s) { return s ? ken_strdup(s) : NULL; }

ken_status ken_retrieve_hit_copy(ken_retrieve_hit *x, const ken_store_hit *h) {
    memset(x, 0, sizeof *x);
    x->chunk_id = h->chunk_id;
    x->doc_id = h->doc_id;
    x->page = h->page;
    x->ordinal = h->ordinal;
    x->start = h->start;
    x->end = h->end;
    x->score = h->score;
    x->ext_id = dup_or_null(h->ext_id);
    x->uri = dup_or_null(h->uri);
    x->title = dup_or_null(h->title);
    x->heading = dup_or_null(h->heading);
    x->collection = dup_or_null(h->collection);
    x->mime = dup_or_null(h->mime);
    x->snippet = dup_or_null(h->snippet);
    x->text = ken_strndup(h->text, h->text_len);
    x->text_len = h->text_len;
    if ((h->ext_id && !x->ext_id) || (h->uri && !x->uri) || (h->title && !x->title) ||
        (h->heading && !x->heading) || (h->collection && !x->collection) ||
        (h->mime && !x->mime) || (h->snippet && !x->snippet) || !x->text) {
        ken_retrieve_hit_clear(x);
        return KEN_ERR_NOMEM;
    }
    return KEN_OK;
}

static int on_hit(void *ud, const ken_store_hit *h) {
    collect_ctx *c = ud;
    ken_retrieve_hits *o = c->out;
    c->rows++;
    if (c->docs)
        for (size_t i = 0; i < o->n; i++)
            if (o->v[i].doc_id == h->doc_id) return 0;   /* a better chunk came first */
    if ((c->st = ken_retrieve_hit_copy(&o->v[o->n], h))) return 1;
    o->n++;
    return o->n >= c->k;
}

/* A metadata field: names of letters, digits and '_' joined by '.'. */
bool ken_retrieve_meta_field_ok(const char *f) {
    size_t n = strlen(f);
    if (n == 0 || n > 200 || f[0] == '.' || f[n - 1] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = f[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || (c == '.' && f[i + 1] != '.');
        if (!ok) return false;
    }
    return true;
}

/* One pass through the store with the query as it stands: the top `limit`
 * chunks, folded into documents when docs is set; *rows counts the rows the
 * store handed over. */
static ken_status store_pass(ken_store *s, const ken_retrieve_opts *o, size_t k, int64_t limit,
                             bool docs, bool snippets, const char *match, const char *rank,
                             const char *path, ken_retrieve_hits *out, int64_t *rows,
                             ken_err *err) {
    ken_store_search_q q = {
        .match = match, .rank = rank,
        .collection = o->collection, .uri_prefix = o->uri_prefix, .mime = o->mime,
        .meta_path = o->meta_field ? path : NULL, .meta_value = o->meta_value,
        .mark_open = snippets ? "**" : NULL, .mark_close = snippets ? "**" : NULL,
        .limit = limit,
    };
    collect_ctx c = {out, k, docs, KEN_OK, 0};
    ken_status st = s->ops->search(s, &q, on_hit, &c);
    *rows = c.rows;
    if (st != KEN_OK) return ken_err_set(err, st, "%s", ken_store_errmsg(s));
    if (c.st != KEN_OK) return ken_err_set(err, c.st, "search: out of memory");
    return KEN_OK;
}

#define DOC_ROWS_MAX 1000000

static ken_status run_search(ken_store *s, const ken_retrieve_opts *o, size_t k, bool docs,
                             bool snippets, ken_retrieve_hits *out, ken_err *err) {
    ken_buf match, rank, path;
    ken_buf_init(&match, 0);
    ken_buf_init(&rank, 0);
    ken_buf_init(&path, 0);
    ken_status st = ken_retrieve_query_fts(&out->query, &match);
    if (st == KEN_OK) st = ken_retrieve_query_rank(&out->query, out->k1, out->b, &rank);
    if (st == KEN_OK && o->meta_field) st = ken_buf_printf(&path, "$.%s", o->meta_field);
    if (st == KEN_OK && !(out->v = calloc(k, sizeof *out->v))) st = KEN_ERR_NOMEM;
    if (st != KEN_OK) {
        ken_err_set(err, st, "search: out of memory");
        goto out;
    }
    /* Documents: rank more chunks than k, and more again while a full page
     * of chunks gave too few distinct documents. */
    int64_t limit = docs ? (int64_t)k * 4 + 16 : (int64_t)k;
    for (;;) {
        int64_t rows = 0;
        st = store_pass(s, o, k, limit, docs, snippets, match.data, rank.data, path.data, out,
                        &rows, err);
        if (st != KEN_OK || !docs || out->n >= k || rows < limit || limit >= DOC_ROWS_MAX)
            break;
        for (size_t i = 0; i < out->n; i++) ken_retrieve_hit_clear(&out->v[i]);
        out->n = 0;
        limit = KEN_MIN(limit * 8, (int64_t)DOC_ROWS_MAX);
    }
out:
    ken_buf_free(&match);
    ken_buf_free(&rank);
    ken_buf_free(&path);
    return st;
}

/* ------------------------------------------------------------ RM3 */

typedef struct {
    char term[KEN_RETRIEVE_TERM_BYTES_MAX + 1];
    char stem[KEN_RETRIEVE_TERM_BYTES_MAX + 1];
    double p;       /* P(t | relevance model) */
    double tf;      /* scratch: count in the current chunk */
} prf_term;

typedef struct {
    prf_term *v;
    size_t n, cap;
    size_t doc_len;     /* terms in the current chunk */
    ken_status st;
} prf_ctx;

static int on_prf_term(void *ud, const char *t, size_t n, size_t start, size_t end) {
    prf_ctx *c = ud;
    (void)start; (void)end;
    c->doc_len++;
    if (n < PRF_TERM_BYTES_MIN || ken_retrieve_stopword(t, n)) return 0;
    bool digits = true;
    for (size_t i = 0; i < n; i++)
        if (t[i] < '0' || t[i] > '9') { digits = false; break; }
    if (digits) return 0;
    char stem[KEN_RETRIEVE_TERM_BYTES_MAX + 1];
    size_t sn = ken_retrieve_stem(t, n, stem);
    stem[sn] = '\0';
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].stem, stem) == 0) { c->v[i].tf += 1; return 0; }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        if (cap > 100000) return 0;   /* enough distinct terms */
        prf_term *v = realloc(c->v, cap * sizeof *v);
        if (!v) { c->st = KEN_ERR_NOMEM; return 1; }
        c->v = v;
        c->cap = cap;
    }
    prf_term *x = &c->v[c->n++];
    memcpy(x->term, t, n);
    x->term[n] = '\0';
    memcpy(x->stem, stem, sn + 1);
    x->p = 0;
    x->tf = 1;
    return 0;
}

static int cmp_prf(const void *a, const void *b) {
    const prf_term *x = a, *y = b;
    return (x->p < y->p) - (x->p > y->p);
}

/* Re-weights hits->query with the relevance model estimated from the hits:
 * P(t|R) = sum_d P(d|q) tf(t,d)/|d|, with P(d|q) from softmax-normalized BM25
 * scores; the new weights mix the original query (PRF_ORIG_WEIGHT) with the
 * top PRF_TERMS terms of P(t|R). */
static ken_status rm3_expand(ken_retrieve_hits *h) {
    prf_ctx c = {0};
    double zsum = 0;
    for (size_t i = 0; i < h->n; i++) zsum += exp(h->v[i].score - h->v[0].score);
    for (size_t i = 0; i < h->n && c.st == KEN_OK; i++) {
        double pd = exp(h->v[i].score - h->v[0].score) / zsum;
        for (size_t j = 0; j < c.n; j++) c.v[j].tf = 0;
        c.doc_len = 0;
        ken_retrieve_terms(h->v[i].text, h->v[i].text_len, on_prf_term, &c);
        for (size_t j = 0; j < c.n && c.doc_len; j++)
            c.v[j].p += pd * c.v[j].tf / (double)c.doc_len;
    }
    if (c.st != KEN_OK) { free(c.v); return c.st; }
    if (c.n > 1) qsort(c.v, c.n, sizeof *c.v, cmp_prf);   /* c.v is NULL when no term counted */
    ken_retrieve_query *q = &h->query;
    size_t n_orig = q->n;
    double total = 0;
    for (size_t j = 0; j < c.n && j < PRF_TERMS; j++) total += c.v[j].p;
    for (size_t i = 0; i < n_orig; i++) q->weight[i] = PRF_ORIG_WEIGHT / (double)n_orig;
    ken_status st = KEN_OK;
    for (size_t j = 0; j < c.n && j < PRF_TERMS && total > 0 && st == KEN_OK; j++) {
        double w = (1 - PRF_ORIG_WEIGHT) * c.v[j].p / total;
        bool merged = false;
        for (size_t i = 0; i < n_orig && !merged; i++) {
            char stem[KEN_RETRIEVE_TERM_BYTES_MAX + 1];
            size_t sn = ken_retrieve_stem(q->term[i], strlen(q->term[i]), stem);
            stem[sn] = '\0';
            if (strcmp(stem, c.v[j].stem) == 0) { q->weight[i] += w; merged = true; }
        }
        if (!merged) st = ken_retrieve_query_add(q, c.v[j].term, strlen(c.v[j].term), w);
    }
    /* Scale so the largest weight is 1 (ranking is unchanged by scale). */
    double mx = 0;
    for (size_t i = 0; i < q->n; i++) mx = q->weight[i] > mx ? q->weight[i] : mx;
    for (size_t i = 0; i < q->n && mx > 0; i++) q->weight[i] /= mx;
    free(c.v);
    return st;
}

ken_status ken_retrieve_search(ken_store *s, const char *text, size_t len,
                               const ken_retrieve_opts *opts, ken_retrieve_hits *out,
                               ken_err *err) {
    static const ken_retrieve_opts defaults = {0};
    const ken_retrieve_opts *o = opts ? opts : &defaults;
    memset(out, 0, sizeof *out);
    double t0 = ken_now();
    size_t k = o->k ? o->k : 10;
    if (k > KEN_RETRIEVE_K_MAX)
        return ken_err_set(err, KEN_ERR_INVALID, "k = %zu is above the limit %d", k,
                           KEN_RETRIEVE_K_MAX);
    if ((o->meta_field != NULL) != (o->meta_value != NULL))
        return ken_err_set(err, KEN_ERR_INVALID, "a metadata filter needs FIELD=VALUE");
    if (o->meta_field && !ken_retrieve_meta_field_ok(o->meta_field))
        return ken_err_set(err, KEN_ERR_INVALID, "metadata field '%s': use letters, digits, "
                           "'_' and '-', with '.' between nested names", o->meta_field);
    ken_retrieve_bm25_params(s, &out->k1, &out->b);
    if (o->k1 > 0) out->k1 = o->k1;
    if (o->b > 0) out->b = o->b;
    if (!(out->k1 <= 100) || !(out->b <= 1))
        return ken_err_set(err, KEN_ERR_INVALID, "BM25 k1 must be in (0, 100], b in (0, 1]");
    ken_status st = ken_retrieve_query_parse(text, len, &out->query, err);
    if (st != KEN_OK || out->query.n == 0) goto done;
    if (o->prf) {
        st = run_search(s, o, PRF_DOCS, false, false, out, err);
        if (st == KEN_OK && out->n > 0) st = rm3_expand(out);
        for (size_t i = 0; i < out->n; i++) ken_retrieve_hit_clear(&out->v[i]);
        free(out->v);
        out->v = NULL;
        out->n = 0;
        if (st != KEN_OK) goto done;
    }
    st = run_search(s, o, k, o->docs, !o->no_snippet, out, err);
done:
    if (st != KEN_OK) {
        ken_retrieve_hits_free(out);
        return st;
    }
    out->seconds = ken_now() - t0;
    return KEN_OK;
}
