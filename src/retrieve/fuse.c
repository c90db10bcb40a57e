/* fuse.c: rank fusion (RRF, weighted normalized scores) of retrieval
 * results and re-ordering by a re-ranker's scores. See fuse.h. Lists are
 * small (a few hundred entries), so the union is built with a sorted index
 * of ids and binary search: O(n log n), no hash table. */
#include "retrieve/fuse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool ken_fuse_method_parse(const char *s, ken_fuse_method *out) {
    if (!s) return false;
    if (strcmp(s, "rrf") == 0) { *out = KEN_FUSE_RRF; return true; }
    if (strcmp(s, "weighted") == 0) { *out = KEN_FUSE_WEIGHTED; return true; }
    return false;
}

static int cmp_id(const void *a, const void *b) {
    int64_t x = ((const ken_fuse_item *)a)->id, y = ((const ken_fuse_item *)b)->id;
    return (x > y) - (x < y);
}

static int cmp_fused(const void *a, const void *b) {
    const ken_fuse_item *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The union's slot of id (the array is sorted by id and holds every id). */
static size_t slot_of(const ken_fuse_item *u, size_t n, int64_t id) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static ken_status check_opts(const ken_fuse_opts *o, size_t n_lists, const size_t *lens,
                             ken_err *err) {
    if (n_lists > KEN_FUSE_LISTS_MAX)
        return ken_err_set(err, KEN_ERR_INVALID, "fusion: %zu lists (at most %d)", n_lists,
                           KEN_FUSE_LISTS_MAX);
    if (o->method != KEN_FUSE_RRF && o->method != KEN_FUSE_WEIGHTED)
        return ken_err_set(err, KEN_ERR_INVALID, "fusion: unknown method %d", (int)o->method);
    if (!isfinite(o->rrf_k) || o->rrf_k < 0)
        return ken_err_set(err, KEN_ERR_INVALID, "fusion: the RRF constant must be >= 0");
    for (size_t i = 0; i < n_lists; i++) {
        if (lens[i] > KEN_FUSE_ITEMS_MAX)
            return ken_err_set(err, KEN_ERR_LIMIT, "fusion: a list of %zu items (at most %d)",
                               lens[i], KEN_FUSE_ITEMS_MAX);
        if (o->weights && !(o->weights[i] >= 0 && isfinite(o->weights[i])))
            return ken_err_set(err, KEN_ERR_INVALID,
                               "fusion: weights must be finite and >= 0");
    }
    return KEN_OK;
}

ken_status ken_fuse(const ken_fuse_item *const *lists, const size_t *lens, size_t n_lists,
                    const ken_fuse_opts *opts, ken_fuse_item **out, size_t *n_out,
                    ken_err *err) {
    static const ken_fuse_opts defaults = {0};
    const ken_fuse_opts *o = opts ? opts : &defaults;
    *out = NULL;
    *n_out = 0;
    ken_status st = check_opts(o, n_lists, lens, err);
    if (st) return st;
    size_t total = 0;
    for (size_t i = 0; i < n_lists; i++) total += lens[i];
    ken_fuse_item *u = malloc((total ? total : 1) * sizeof *u);
    if (!u) return ken_err_set(err, KEN_ERR_NOMEM, "fusion: out of memory");
    /* The union of ids, sorted and unique, scores zeroed. */
    size_t n = 0;
    for (size_t i = 0; i < n_lists; i++)
        for (size_t j = 0; j < lens[i]; j++) u[n++] = (ken_fuse_item){lists[i][j].id, 0};
    qsort(u, n, sizeof *u, cmp_id);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || u[m - 1].id != u[i].id) u[m++] = u[i];
    /* A per-slot "seen in this list" stamp skips repeats within a list. */
    size_t *seen = malloc((m ? m : 1) * sizeof *seen);
    if (!seen) {
        free(u);
        return ken_err_set(err, KEN_ERR_NOMEM, "fusion: out of memory");
    }
    for (size_t i = 0; i < m; i++) seen[i] = SIZE_MAX;
    double rrf_k = o->rrf_k > 0 ? o->rrf_k : KEN_FUSE_RRF_K_DEFAULT;
    for (size_t i = 0; i < n_lists; i++) {
        double w = o->weights ? o->weights[i] : 1.0;
        /* Two passes, each stamping slots with its own mark: the range of
         * the first occurrences' scores, then the scores. */
        double lo = INFINITY, hi = -INFINITY;
        for (size_t j = 0; j < lens[i]; j++) {
            size_t at = slot_of(u, m, lists[i][j].id);
            if (seen[at] == 2 * i) continue;
            seen[at] = 2 * i;
            double s = lists[i][j].score;
            if (isfinite(s)) { lo = s < lo ? s : lo; hi = s > hi ? s : hi; }
        }
        size_t rank = 0;
        for (size_t j = 0; j < lens[i]; j++) {
            size_t at = slot_of(u, m, lists[i][j].id);
            if (seen[at] == 2 * i + 1) continue;
            seen[at] = 2 * i + 1;
            rank++;
            if (o->method == KEN_FUSE_RRF) {
                u[at].score += w / (rrf_k + (double)rank);
            } else {
                double s = lists[i][j].score;
                double norm = !isfinite(s) ? 0 : hi > lo ? (s - lo) / (hi - lo) : 1.0;
                u[at].score += w * norm;
            }
        }
    }
    free(seen);
    qsort(u, m, sizeof *u, cmp_fused);
    *out = u;
    *n_out = m;
    return KEN_OK;
}

/* ------------------------------------------------------------ hits */

static void hit_release(ken_retrieve_hit *h) {
    free(h->ext_id); free(h->uri); free(h->title); free(h->heading);
    free(h->collection); free(h->mime); free(h->snippet); free(h->text);
    memset(h, 0, sizeof *h);
}

static ken_status items_of(const ken_retrieve_hits *h, bool by_doc, ken_fuse_item **out,
                           ken_err *err) {
    *out = malloc((h->n ? h->n : 1) * sizeof **out);
    if (!*out) return ken_err_set(err, KEN_ERR_NOMEM, "fusion: out of memory");
    for (size_t i = 0; i < h->n; i++)
        (*out)[i] = (ken_fuse_item){by_doc ? h->v[i].doc_id : h->v[i].chunk_id, h->v[i].score};
    return KEN_OK;
}

/* The hit of list h whose key is id, or NULL. */
static ken_retrieve_hit *find_hit(ken_retrieve_hits *h, bool by_doc, int64_t id) {
    for (size_t i = 0; i < h->n; i++)
        if ((by_doc ? h->v[i].doc_id : h->v[i].chunk_id) == id && h->v[i].text)
            return &h->v[i];
    return NULL;
}

ken_status ken_fuse_hits(ken_retrieve_hits *a, ken_retrieve_hits *b, const ken_fuse_opts *opts,
                         size_t k, bool by_doc, ken_retrieve_hits *out, ken_err *err) {
    memset(out, 0, sizeof *out);
    ken_fuse_item *la = NULL, *lb = NULL, *fused = NULL;
    size_t n_fused = 0;
    ken_status st = items_of(a, by_doc, &la, err);
    if (!st) st = items_of(b, by_doc, &lb, err);
    const ken_fuse_item *lists[2] = {la, lb};
    size_t lens[2] = {a->n, b->n};
    if (!st) st = ken_fuse(lists, lens, 2, opts, &fused, &n_fused, err);
    size_t keep = k && k < n_fused ? k : n_fused;
    if (!st && !(out->v = calloc(keep ? keep : 1, sizeof *out->v)))
        st = ken_err_set(err, KEN_ERR_NOMEM, "fusion: out of memory");
    for (size_t i = 0; !st && i < keep; i++) {
        ken_retrieve_hit *h = find_hit(a, by_doc, fused[i].id);
        if (!h) h = find_hit(b, by_doc, fused[i].id);
        if (!h) continue;   /* cannot happen: every fused id came from a or b */
        out->v[out->n] = *h;
        memset(h, 0, sizeof *h);   /* moved: text NULL marks it taken */
        out->v[out->n++].score = fused[i].score;
    }
    if (!st) {
        out->query = a->query;
        memset(&a->query, 0, sizeof a->query);
        out->k1 = a->k1;
        out->b = a->b;
    }
    /* What was not moved is released now; a and b stay valid (empty). */
    for (size_t i = 0; i < a->n; i++) hit_release(&a->v[i]);
    for (size_t i = 0; i < b->n; i++) hit_release(&b->v[i]);
    a->n = b->n = 0;
    free(la);
    free(lb);
    free(fused);
    if (st) ken_retrieve_hits_free(out);
    return st;
}

typedef struct { size_t i; float s; } order_item;

static int cmp_order(const void *x, const void *y) {
    const order_item *a = x, *b = y;
    if (a->s != b->s) return a->s < b->s ? 1 : -1;
    return (a->i > b->i) - (a->i < b->i);
}

ken_status ken_fuse_reorder(ken_retrieve_hits *h, const float *scores, size_t n, size_t k) {
    if (n > h->n) return KEN_ERR_INVALID;
    order_item *o = malloc((n ? n : 1) * sizeof *o);
    ken_retrieve_hit *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!o || !tmp) {
        free(o);
        free(tmp);
        return KEN_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        o[i] = (order_item){i, isfinite(scores[i]) ? scores[i] : -INFINITY};
    qsort(o, n, sizeof *o, cmp_order);
    for (size_t i = 0; i < n; i++) {
        tmp[i] = h->v[o[i].i];
        tmp[i].score = o[i].s;
    }
    memcpy(h->v, tmp, n * sizeof *tmp);
    free(tmp);
    free(o);
    if (k && k < h->n) {
        for (size_t i = k; i < h->n; i++) hit_release(&h->v[i]);
        h->n = k;
    }
    return KEN_OK;
}
