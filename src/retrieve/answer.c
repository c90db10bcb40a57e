/* answer.c: extractive answers without a model. The question's best chunks
 * are split into sentences; each sentence is scored against the question
 * (idf-weighted coverage of the question's terms, their proximity, the
 * sentence's position and its chunk's rank); MMR picks a few that are
 * relevant and not redundant; they are put back in document order and each
 * gets a numbered citation whose byte span points into the stored document
 * text, so text[start..end) is the sentence verbatim. When the best sentence
 * covers too little of the question, the answer says nothing was found. */
#include "retrieve/retrieve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CANDIDATES_MAX 2000
#define SENT_TERMS_MAX 256
#define IDF_TERMS_MAX 32       /* df look-ups per question */

typedef struct {
    size_t hit;                 /* index into hits */
    size_t s_start, s_end;      /* span in the chunk text */
    size_t idx;                 /* sentence index in its chunk */
    double coverage, rel;
    uint64_t *stems;            /* distinct stem hashes */
    size_t n_stems;
    bool taken;
} cand;

typedef struct {
    const ken_retrieve_query *q;
    uint64_t qstem[KEN_ARRAY_LEN(((ken_retrieve_query *)0)->term)];
    double idf[KEN_ARRAY_LEN(((ken_retrieve_query *)0)->term)];
    double idf_sum;
} qinfo;

static uint64_t stem_hash(const char *t, size_t n) {
    char s[KEN_RETRIEVE_TERM_BYTES_MAX + 1];
    size_t sn = ken_retrieve_stem(t, n, s);
    return ken_hash64(s, sn);
}

/* idf per question term from the store's document frequencies. */
static ken_status question_idf(ken_store *s, const ken_retrieve_query *q, qinfo *qi,
                               ken_err *err) {
    memset(qi, 0, sizeof *qi);
    qi->q = q;
    for (size_t i = 0; i < q->n; i++) {
        qi->qstem[i] = stem_hash(q->term[i], strlen(q->term[i]));
        qi->idf[i] = 1.0;
        if (i >= IDF_TERMS_MAX) continue;
        ken_buf m;
        ken_buf_init(&m, 0);
        ken_retrieve_query one = {.n = 1};
        one.term[0] = q->term[i];
        ken_status st = ken_retrieve_query_fts(&one, &m);
        int64_t df = 0, n = 0;
        if (st == KEN_OK) st = s->ops->match_count(s, m.data, &df, &n);
        ken_buf_free(&m);
        if (st != KEN_OK) return ken_err_set(err, st, "%s", ken_store_errmsg(s));
        qi->idf[i] = log(1.0 + ((double)n - (double)df + 0.5) / ((double)df + 0.5));
    }
    for (size_t i = 0; i < q->n; i++) qi->idf_sum += qi->idf[i];
    return KEN_OK;
}

typedef struct {
    const qinfo *qi;
    bool matched[KEN_ARRAY_LEN(((ken_retrieve_query *)0)->term)];
    size_t n_tokens, first_match, last_match, n_match_tokens;
    uint64_t stems[SENT_TERMS_MAX];
    size_t n_stems;
} sent_ctx;

static int on_sent_term(void *ud, const char *t, size_t n, size_t start, size_t end) {
    sent_ctx *c = ud;
    (void)start; (void)end;
    size_t pos = c->n_tokens++;
    if (ken_retrieve_stopword(t, n)) return 0;
    uint64_t h = stem_hash(t, n);
    bool seen = false;
    for (size_t i = 0; i < c->n_stems && !seen; i++) seen = c->stems[i] == h;
    if (!seen && c->n_stems < SENT_TERMS_MAX) c->stems[c->n_stems++] = h;
    for (size_t i = 0; i < c->qi->q->n; i++) {
        if (c->qi->qstem[i] != h) continue;
        c->matched[i] = true;
        if (c->n_match_tokens++ == 0) c->first_match = pos;
        c->last_match = pos;
    }
    return 0;
}

/* Scores the sentence text[s..e) of hit h (rank r, score ratio sr). */
static ken_status score_sentence(const qinfo *qi, const char *text, size_t s, size_t e,
                                 size_t idx, double sr, cand *out) {
    sent_ctx c;
    memset(&c, 0, sizeof c);
    c.qi = qi;
    ken_retrieve_terms(text + s, e - s, on_sent_term, &c);
    double cov = 0;
    size_t distinct = 0;
    for (size_t i = 0; i < qi->q->n; i++)
        if (c.matched[i]) { cov += qi->idf[i]; distinct++; }
    cov = qi->idf_sum > 0 ? cov / qi->idf_sum : 0;
    double prox = 0;
    if (distinct >= 2)
        prox = KEN_MIN(1.0, (double)distinct / (double)(c.last_match - c.first_match + 1));
    double rel = cov * (0.7 + 0.15 * prox + 0.1 / (1.0 + (double)idx) + 0.05 * sr);
    if (c.n_tokens < 4) rel *= 0.5;              /* fragments, headings */
    else if (c.n_tokens > 80) rel *= 0.8;        /* run-ons read badly */
    out->coverage = cov;
    out->rel = rel;
    out->n_stems = c.n_stems;
    out->stems = NULL;
    if (c.n_stems) {
        out->stems = malloc(c.n_stems * sizeof *out->stems);
        if (!out->stems) return KEN_ERR_NOMEM;
        memcpy(out->stems, c.stems, c.n_stems * sizeof *out->stems);
    }
    return KEN_OK;
}

static double jaccard(const cand *a, const cand *b) {
    if (!a->n_stems || !b->n_stems) return 0;
    size_t common = 0;
    for (size_t i = 0; i < a->n_stems; i++)
        for (size_t j = 0; j < b->n_stems; j++)
            if (a->stems[i] == b->stems[j]) { common++; break; }
    return (double)common / (double)(a->n_stems + b->n_stems - common);
}

/* A line that is only markup (heading marks, table bars) is no answer. */
static bool markup_line(const char *t, size_t s, size_t e) {
    return e > s && (t[s] == '#' || t[s] == '|');
}

static ken_status gather(const ken_retrieve_hits *h, const qinfo *qi, cand **out, size_t *n_out) {
    cand *v = NULL;
    size_t n = 0, cap = 0;
    ken_status st = KEN_OK;
    for (size_t i = 0; i < h->n && st == KEN_OK; i++) {
        ken_retrieve_span *sp = NULL;
        size_t ns = 0;
        if ((st = ken_retrieve_sentences(h->v[i].text, h->v[i].text_len, &sp, &ns)) != KEN_OK)
            break;
        double sr = h->v[0].score > 0 ? h->v[i].score / h->v[0].score : 0;
        for (size_t j = 0; j < ns && st == KEN_OK && n < CANDIDATES_MAX; j++) {
            if (markup_line(h->v[i].text, sp[j].start, sp[j].end)) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                cand *nv = realloc(v, cap * sizeof *nv);
                if (!nv) { st = KEN_ERR_NOMEM; break; }
                v = nv;
            }
            cand *c = &v[n];
            memset(c, 0, sizeof *c);
            c->hit = i;
            c->s_start = sp[j].start;
            c->s_end = sp[j].end;
            c->idx = j;
            st = score_sentence(qi, h->v[i].text, sp[j].start, sp[j].end, j, sr, c);
            if (st == KEN_OK && c->coverage > 0) n++;
            else free(c->stems);
        }
        free(sp);
    }
    *out = v;
    *n_out = n;
    return st;
}

static int64_t doc_start(const ken_retrieve_hits *h, const cand *c) {
    return h->v[c->hit].start + (int64_t)c->s_start;
}

/* True when an already chosen sentence is the same document span (chunks
 * overlap, so one sentence can come from two chunks). */
static bool duplicate(const ken_retrieve_hits *h, const cand *v, const size_t *sel, size_t n_sel,
                      const cand *c) {
    for (size_t i = 0; i < n_sel; i++) {
        const cand *o = &v[sel[i]];
        if (h->v[o->hit].doc_id == h->v[c->hit].doc_id && doc_start(h, o) == doc_start(h, c))
            return true;
    }
    return false;
}

/* MMR: relevance against redundancy with the sentences already chosen. */
static size_t mmr_select(const ken_retrieve_hits *h, cand *v, size_t n, size_t max,
                         double lambda, size_t *sel) {
    size_t n_sel = 0;
    double best_rel = 0;
    for (size_t i = 0; i < n; i++) best_rel = v[i].rel > best_rel ? v[i].rel : best_rel;
    while (n_sel < max) {
        double best = -1e300;
        size_t pick = n;
        for (size_t i = 0; i < n; i++) {
            if (v[i].taken || v[i].rel < 0.5 * best_rel) continue;
            if (duplicate(h, v, sel, n_sel, &v[i])) { v[i].taken = true; continue; }
            double red = 0;
            for (size_t j = 0; j < n_sel; j++) red = KEN_MAX(red, jaccard(&v[i], &v[sel[j]]));
            double m = lambda * v[i].rel - (1 - lambda) * red * best_rel;
            if (m > best) { best = m; pick = i; }
        }
        if (pick == n) break;
        v[pick].taken = true;
        sel[n_sel++] = pick;
    }
    return n_sel;
}

/* Position of a sentence's document among the hits (the rank of its best hit). */
static size_t doc_rank(const ken_retrieve_hits *h, const cand *c) {
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].doc_id == h->v[c->hit].doc_id) return i;
    return c->hit;
}

static bool before(const ken_retrieve_hits *h, const cand *x, const cand *y) {
    size_t dx = doc_rank(h, x), dy = doc_rank(h, y);
    if (dx != dy) return dx < dy;
    return doc_start(h, x) < doc_start(h, y);
}

/* Documents in the order of their best hit, sentences in text order
 * (insertion sort: a handful of sentences). */
static void order_readably(const ken_retrieve_hits *h, const cand *v, size_t *sel, size_t n) {
    for (size_t i = 1; i < n; i++) {
        size_t x = sel[i], j = i;
        while (j > 0 && before(h, &v[x], &v[sel[j - 1]])) {
            sel[j] = sel[j - 1];
            j--;
        }
        sel[j] = x;
    }
}

static char *dup_or_null(const char *s) { return s ? ken_strdup(s) : NULL; }

/* Appends s[0..n) with runs of white space folded into one space. */
static ken_status put_folded(ken_buf *b, const char *s, size_t n) {
    ken_status st = KEN_OK;
    bool space = false;
    for (size_t i = 0; i < n && st == KEN_OK; i++) {
        char c = s[i];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') { space = true; continue; }
        if (space) st = ken_buf_putc(b, ' ');
        space = false;
        if (st == KEN_OK) st = ken_buf_putc(b, c);
    }
    return st;
}

static ken_status make_citations(const ken_retrieve_hits *h, const cand *v, const size_t *sel,
                                 size_t n, ken_retrieve_ans *a) {
    a->cites = calloc(n ? n : 1, sizeof *a->cites);
    if (!a->cites) return KEN_ERR_NOMEM;
    ken_buf text;
    ken_buf_init(&text, 0);
    ken_status st = KEN_OK;
    for (size_t i = 0; i < n && st == KEN_OK; i++) {
        const cand *c = &v[sel[i]];
        const ken_retrieve_hit *x = &h->v[c->hit];
        ken_retrieve_cite *ct = &a->cites[a->n_cites++];
        ct->n = (int)i + 1;
        ct->doc_id = x->doc_id;
        ct->chunk_id = x->chunk_id;
        ct->page = x->page;
        ct->start = x->start + (int64_t)c->s_start;
        ct->end = x->start + (int64_t)c->s_end;
        ct->score = c->rel;
        ct->ext_id = dup_or_null(x->ext_id);
        ct->uri = dup_or_null(x->uri);
        ct->title = dup_or_null(x->title);
        ct->heading = dup_or_null(x->heading);
        ct->sentence = ken_strndup(x->text + c->s_start, c->s_end - c->s_start);
        if (!ct->sentence || (x->uri && !ct->uri) || (x->ext_id && !ct->ext_id) ||
            (x->title && !ct->title) || (x->heading && !ct->heading)) {
            st = KEN_ERR_NOMEM;
            break;
        }
        if (i) st = ken_buf_putc(&text, ' ');
        if (st == KEN_OK) st = put_folded(&text, ct->sentence, strlen(ct->sentence));
        if (st == KEN_OK) st = ken_buf_printf(&text, " [%d]", ct->n);
    }
    if (st == KEN_OK && !(a->text = ken_buf_take(&text, NULL))) st = KEN_ERR_NOMEM;
    ken_buf_free(&text);
    return st;
}

static ken_status not_found(ken_retrieve_ans *a) {
    a->found = false;
    a->text = ken_strdup("No relevant passage was found for this question.");
    return a->text ? KEN_OK : KEN_ERR_NOMEM;
}

ken_status ken_retrieve_answer(ken_store *s, const char *question, size_t len,
                               const ken_retrieve_answer_opts *opts, ken_retrieve_ans *out,
                               ken_err *err) {
    static const ken_retrieve_answer_opts defaults = {0};
    const ken_retrieve_answer_opts *o = opts ? opts : &defaults;
    memset(out, 0, sizeof *out);
    size_t max = o->max_sentences ? o->max_sentences : 3;
    if (max > 20) max = 20;
    double min_score = o->min_score == 0 ? KEN_RETRIEVE_MIN_SCORE_DEFAULT
                       : o->min_score < 0 ? 0 : o->min_score;
    double lambda = o->lambda > 0 && o->lambda <= 1 ? o->lambda : 0.7;
    ken_retrieve_opts so = {.k = o->k ? o->k : 8, .collection = o->collection, .no_snippet = true};
    if (so.k > 100) so.k = 100;
    ken_retrieve_hits own = {0};
    const ken_retrieve_hits *hp = o->hits;
    ken_status st = KEN_OK;
    if (!hp) {
        if ((st = ken_retrieve_search(s, question, len, &so, &own, err)) != KEN_OK) return st;
        hp = &own;
    }
    const ken_retrieve_hits h = *hp;   /* read only */
    cand *v = NULL;
    size_t n = 0, sel[20];
    qinfo qi;
    if (h.n == 0 || h.query.n == 0) { st = not_found(out); goto done; }
    if ((st = question_idf(s, &h.query, &qi, err)) != KEN_OK) goto done;
    if ((st = gather(&h, &qi, &v, &n)) != KEN_OK) {
        ken_err_set(err, st, "answer: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        out->best_score = KEN_MAX(out->best_score, v[i].coverage);
    if (n == 0 || out->best_score < min_score) { st = not_found(out); goto done; }
    size_t n_sel = mmr_select(&h, v, n, max, lambda, sel);
    order_readably(&h, v, sel, n_sel);
    out->found = true;
    if ((st = make_citations(&h, v, sel, n_sel, out)) != KEN_OK)
        ken_err_set(err, st, "answer: out of memory");
done:
    for (size_t i = 0; i < n; i++) free(v[i].stems);
    free(v);
    ken_retrieve_hits_free(&own);
    if (st != KEN_OK) ken_retrieve_answer_free(out);
    return st;
}

void ken_retrieve_answer_free(ken_retrieve_ans *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n_cites; i++) {
        ken_retrieve_cite *c = &a->cites[i];
        free(c->ext_id); free(c->uri); free(c->title); free(c->heading); free(c->sentence);
    }
    free(a->cites);
    free(a->text);
    memset(a, 0, sizeof *a);
}
