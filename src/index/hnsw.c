/* hnsw.c: the HNSW graph: allocation, the id map, insertion (one at a time or
 * by N threads with per-node locks), tombstone deletes, compaction, and
 * searches (graph traversal on int8 vectors, exact F32 re-scoring, filters).
 *
 * Locking: h->rw is read-held by searches and write-held by every mutation,
 * so a search never sees a half-made node. Inside a parallel batch insert the
 * worker threads share the write hold and guard each node's link lists with a
 * striped mutex (a thread holds at most one node lock at a time, so stripes
 * cannot deadlock) and the entry point with entry_lock. */
#include "index/hnsw_int.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NODE_LOCKS 4096          /* stripes; power of two */
#define EXACT_ALLOW_FRACTION 32  /* allow-lists under n/32 ids: exact scan */

static inline pthread_mutex_t *node_lock(ken_hnsw *h, uint32_t i) {
    return &h->node_locks[i & (NODE_LOCKS - 1)];
}

/* ------------------------------------------------------------ allocation */

static size_t block_bytes_for(uint32_t M0, uint32_t dimq) {
    size_t b = 4u * (1u + M0) + sizeof(qhdr) + dimq;
    return (b + 63) & ~(size_t)63;
}

static ken_status grow(ken_hnsw *h, size_t need) {
    if (need <= h->cap) return KEN_OK;
    if (need > KEN_HNSW_COUNT_MAX) return KEN_ERR_LIMIT;
    size_t cap = h->cap ? h->cap : 256;
    if (need > 2 * cap) cap = need;   /* a big batch: exactly its size */
    else while (cap < need) cap *= 2;
    if (cap > KEN_HNSW_COUNT_MAX) cap = KEN_HNSW_COUNT_MAX;
    char *l0 = NULL;
    if (posix_memalign((void **)&l0, 64, cap * h->block_bytes) != 0) return KEN_ERR_NOMEM;
    if (h->n) memcpy(l0, h->l0, h->n * h->block_bytes);
    float *vecs = realloc(h->vecs, cap * h->dim * sizeof(float));
    if (!vecs) { free(l0); return KEN_ERR_NOMEM; }
    h->vecs = vecs;
    uint64_t *ids = realloc(h->ids, cap * sizeof *ids);
    if (!ids) { free(l0); return KEN_ERR_NOMEM; }
    h->ids = ids;
    uint8_t *levels = realloc(h->levels, cap);
    if (!levels) { free(l0); return KEN_ERR_NOMEM; }
    h->levels = levels;
    uint8_t *del = realloc(h->deleted, cap);
    if (!del) { free(l0); return KEN_ERR_NOMEM; }
    h->deleted = del;
    uint32_t **up = realloc(h->upper, cap * sizeof *up);
    if (!up) { free(l0); return KEN_ERR_NOMEM; }
    h->upper = up;
    free(h->l0);
    h->l0 = l0;
    h->cap = cap;
    return KEN_OK;
}

static ken_status map_grow(ken_hnsw *h, size_t need_used) {
    if ((need_used + 1) * 10 <= h->map_cap * 7) return KEN_OK;   /* load <= 0.7 */
    size_t cap = h->map_cap ? h->map_cap : 1024;
    while ((need_used + 1) * 10 > cap * 7) cap *= 2;
    uint64_t *keys = malloc(cap * sizeof *keys);
    uint32_t *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) { free(keys); free(vals); return KEN_ERR_NOMEM; }
    for (size_t i = 0; i < cap; i++) vals[i] = UINT32_MAX;
    for (size_t i = 0; i < h->map_cap; i++) {
        if (h->map_vals[i] == UINT32_MAX) continue;
        size_t j = ken_hash64(&h->map_keys[i], 8) & (cap - 1);
        while (vals[j] != UINT32_MAX) j = (j + 1) & (cap - 1);
        keys[j] = h->map_keys[i];
        vals[j] = h->map_vals[i];
    }
    free(h->map_keys);
    free(h->map_vals);
    h->map_keys = keys;
    h->map_vals = vals;
    h->map_cap = cap;
    return KEN_OK;
}

/* The node id maps to, or UINT32_MAX. */
static uint32_t map_get(const ken_hnsw *h, uint64_t id) {
    if (!h->map_cap) return UINT32_MAX;
    size_t j = ken_hash64(&id, 8) & (h->map_cap - 1);
    while (h->map_vals[j] != UINT32_MAX) {
        if (h->map_keys[j] == id) return h->map_vals[j];
        j = (j + 1) & (h->map_cap - 1);
    }
    return UINT32_MAX;
}

/* Points id at node; an older live node of the same id becomes a tombstone. */
ken_status ken_hnsw_map_put(ken_hnsw *h, uint64_t id, uint32_t node) {
    if (map_grow(h, h->map_used + 1)) return KEN_ERR_NOMEM;
    size_t j = ken_hash64(&id, 8) & (h->map_cap - 1);
    while (h->map_vals[j] != UINT32_MAX) {
        if (h->map_keys[j] == id) {
            uint32_t old = h->map_vals[j];
            if (old != node && !h->deleted[old]) {
                h->deleted[old] = 1;
                h->n_deleted++;
            }
            h->map_vals[j] = node;
            return KEN_OK;
        }
        j = (j + 1) & (h->map_cap - 1);
    }
    h->map_keys[j] = id;
    h->map_vals[j] = node;
    h->map_used++;
    return KEN_OK;
}

static ken_status check_opts(const ken_hnsw_opts *o, ken_err *err) {
    if (!o || o->dim == 0 || o->dim > KEN_HNSW_DIM_MAX)
        return ken_err_set(err, KEN_ERR_INVALID, "hnsw: dimension must be 1..%d", KEN_HNSW_DIM_MAX);
    if (o->metric != KEN_HNSW_IP && o->metric != KEN_HNSW_COSINE && o->metric != KEN_HNSW_L2)
        return ken_err_set(err, KEN_ERR_INVALID, "hnsw: unknown metric %d", (int)o->metric);
    if (o->M == 1 || o->M > KEN_HNSW_M_MAX)
        return ken_err_set(err, KEN_ERR_INVALID, "hnsw: M must be 2..%d", KEN_HNSW_M_MAX);
    if (o->ef_construction > KEN_HNSW_EF_MAX)
        return ken_err_set(err, KEN_ERR_INVALID, "hnsw: ef_construction above %d", KEN_HNSW_EF_MAX);
    return KEN_OK;
}

ken_status ken_hnsw_alloc(const ken_hnsw_opts *o, size_t cap, ken_hnsw **out, ken_err *err) {
    *out = NULL;
    ken_status st = check_opts(o, err);
    if (st) return st;
    ken_hnsw *h = calloc(1, sizeof *h);
    if (!h) return ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory");
    h->dim = o->dim;
    h->dimq = (o->dim + 63) & ~63u;
    h->dot_i8 = ken_hnsw_dot_i8_best();
    h->metric = o->metric;
    h->M = o->M ? o->M : 16;
    h->M0 = 2 * h->M;
    h->ef_construction = o->ef_construction ? o->ef_construction : 200;
    h->level_mult = 1.0 / log((double)h->M);
    h->rng = o->seed ? o->seed : 0x6b656e686e7377ull;
    h->block_bytes = block_bytes_for(h->M0, h->dimq);
    h->max_level = -1;
    h->node_locks = malloc(NODE_LOCKS * sizeof *h->node_locks);
    if (!h->node_locks) { free(h); return ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory"); }
    for (int i = 0; i < NODE_LOCKS; i++) pthread_mutex_init(&h->node_locks[i], NULL);
    pthread_mutex_init(&h->entry_lock, NULL);
    pthread_mutex_init(&h->pool_lock, NULL);
    pthread_rwlock_init(&h->rw, NULL);
    if (cap && (grow(h, cap) || map_grow(h, cap))) {
        ken_hnsw_free(h);
        return ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory for %zu vectors", cap);
    }
    *out = h;
    return KEN_OK;
}

ken_status ken_hnsw_new(const ken_hnsw_opts *opts, ken_hnsw **out, ken_err *err) {
    return ken_hnsw_alloc(opts, 0, out, err);
}

static void visit_free(visit_ctx *v) {
    if (!v) return;
    free(v->mark);
    free(v->cand);
    free(v->res);
    free(v->tmpq);
    free(v->tmpf);
    free(v);
}

static void free_data(ken_hnsw *h) {
    for (size_t i = 0; i < h->n; i++) free(h->upper[i]);
    free(h->upper);
    free(h->l0);
    free(h->vecs);
    free(h->ids);
    free(h->levels);
    free(h->deleted);
    free(h->map_keys);
    free(h->map_vals);
}

void ken_hnsw_free(ken_hnsw *h) {
    if (!h) return;
    free_data(h);
    while (h->pool) {
        visit_ctx *v = h->pool;
        h->pool = v->next;
        visit_free(v);
    }
    for (int i = 0; i < NODE_LOCKS; i++) pthread_mutex_destroy(&h->node_locks[i]);
    free(h->node_locks);
    pthread_mutex_destroy(&h->entry_lock);
    pthread_mutex_destroy(&h->pool_lock);
    pthread_rwlock_destroy(&h->rw);
    free(h);
}

uint32_t ken_hnsw_dim(const ken_hnsw *h) { return h->dim; }
ken_hnsw_metric ken_hnsw_metric_of(const ken_hnsw *h) { return h->metric; }

void ken_hnsw_get_stats(ken_hnsw *h, ken_hnsw_stats *out) {
    pthread_rwlock_rdlock(&h->rw);
    out->count = h->n - h->n_deleted;
    out->deleted = h->n_deleted;
    out->max_level = h->max_level < 0 ? 0 : (uint32_t)h->max_level;
    size_t b = h->cap * (h->block_bytes + h->dim * sizeof(float) + sizeof(uint64_t) + 2 +
                         sizeof(uint32_t *));
    b += h->map_cap * (sizeof(uint64_t) + sizeof(uint32_t));
    for (size_t i = 0; i < h->n; i++)
        b += (size_t)h->levels[i] * (1 + h->M) * sizeof(uint32_t);
    out->memory_bytes = b + NODE_LOCKS * sizeof(pthread_mutex_t) + sizeof *h;
    pthread_rwlock_unlock(&h->rw);
}

bool ken_hnsw_contains(ken_hnsw *h, uint64_t id) {
    pthread_rwlock_rdlock(&h->rw);
    uint32_t i = map_get(h, id);
    bool r = i != UINT32_MAX && !h->deleted[i];
    pthread_rwlock_unlock(&h->rw);
    return r;
}

bool ken_hnsw_get(ken_hnsw *h, uint64_t id, float *out) {
    pthread_rwlock_rdlock(&h->rw);
    uint32_t i = map_get(h, id);
    bool r = i != UINT32_MAX && !h->deleted[i];
    if (r) memcpy(out, h->vecs + (size_t)i * h->dim, h->dim * sizeof *out);
    pthread_rwlock_unlock(&h->rw);
    return r;
}

ken_status ken_hnsw_ids(ken_hnsw *h, uint64_t **ids, size_t *n, ken_err *err) {
    pthread_rwlock_rdlock(&h->rw);
    size_t live = h->n - h->n_deleted, k = 0;
    uint64_t *v = malloc((live ? live : 1) * sizeof *v);
    if (v)
        for (size_t i = 0; i < h->n; i++)
            if (!h->deleted[i]) v[k++] = h->ids[i];
    pthread_rwlock_unlock(&h->rw);
    if (!v) return ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory");
    *ids = v;
    *n = k;
    return KEN_OK;
}

/* ------------------------------------------------------------ scratch */

/* A fresh visited set: bump the tag; on wrap-around clear the array. */
static void next_epoch(visit_ctx *v) {
    if (++v->epoch == 0) {
        memset(v->mark, 0, v->mark_cap * sizeof *v->mark);
        v->epoch = 1;
    }
}

static visit_ctx *visit_get(ken_hnsw *h) {
    pthread_mutex_lock(&h->pool_lock);
    visit_ctx *v = h->pool;
    if (v) h->pool = v->next;
    pthread_mutex_unlock(&h->pool_lock);
    if (!v) {
        v = calloc(1, sizeof *v);
        if (!v) return NULL;
        v->tmpq = aligned_alloc(64, (h->dimq + 63) & ~(size_t)63);
        v->tmpf = malloc(h->dim * sizeof(float));
        if (!v->tmpq || !v->tmpf) { visit_free(v); return NULL; }
    }
    if (v->mark_cap < h->n) {
        free(v->mark);
        v->mark_cap = h->cap;
        v->mark = calloc(v->mark_cap, sizeof *v->mark);
        v->epoch = 0;
        if (!v->mark) { v->mark_cap = 0; visit_free(v); return NULL; }
    }
    next_epoch(v);
    return v;
}

static void visit_put(ken_hnsw *h, visit_ctx *v) {
    pthread_mutex_lock(&h->pool_lock);
    v->next = h->pool;
    h->pool = v;
    pthread_mutex_unlock(&h->pool_lock);
}

static ken_status dn_reserve(struct dn **a, size_t *cap, size_t need) {
    if (need <= *cap) return KEN_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    struct dn *p = realloc(*a, c * sizeof *p);
    if (!p) return KEN_ERR_NOMEM;
    *a = p;
    *cap = c;
    return KEN_OK;
}

/* Binary heaps of (d, id): min-heap for candidates, max-heap for results. */
static void heap_push(struct dn *a, size_t *n, struct dn x, bool max) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (max ? a[p].d >= x.d : a[p].d <= x.d) break;
        a[i] = a[p];
        i = p;
    }
    a[i] = x;
}

static struct dn heap_pop(struct dn *a, size_t *n, bool max) {
    struct dn top = a[0], x = a[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && (max ? a[c + 1].d > a[c].d : a[c + 1].d < a[c].d)) c++;
        if (max ? x.d >= a[c].d : x.d <= a[c].d) break;
        a[i] = a[c];
        i = c;
    }
    if (m) a[i] = x;
    return top;
}

/* ------------------------------------------------------------ distances */

typedef struct {
    const int8_t *q;
    float scale, norm2;
} qctx;

static inline float qdist(const ken_hnsw *h, const qctx *c, uint32_t node) {
    const qhdr *nh = node_qhdr(h, node);
    float dot = c->scale * nh->scale * (float)h->dot_i8(c->q, node_q(h, node), h->dimq);
    if (h->metric == KEN_HNSW_L2) return c->norm2 + nh->norm2 - 2.0f * dot;
    return -dot;
}

static inline qctx node_ctx(const ken_hnsw *h, uint32_t node) {
    const qhdr *nh = node_qhdr(h, node);
    return (qctx){node_q(h, node), nh->scale, nh->norm2};
}

/* Exact distance of the (prepared) query to node: smaller is nearer. */
static inline float exact_dist(const ken_hnsw *h, const float *q, uint32_t node) {
    const float *v = h->vecs + (size_t)node * h->dim;
    if (h->metric == KEN_HNSW_L2) return ken_hnsw_l2_f32(q, v, h->dim);
    return -ken_hnsw_dot_f32(q, v, h->dim);
}

void ken_hnsw_set_quant(ken_hnsw *h, uint32_t node) {
    const float *v = h->vecs + (size_t)node * h->dim;
    qhdr *nh = node_qhdr(h, node);
    nh->scale = ken_hnsw_quantize(v, h->dim, h->dimq, (int8_t *)node_q(h, node));
    nh->norm2 = ken_hnsw_dot_f32_ref(v, v, h->dim);
}

/* ------------------------------------------------------------ graph search */

typedef struct {
    bool skip_deleted;
    ken_hnsw_filter_fn fn;
    void *ud;
    const uint8_t *bitmap;   /* allowed nodes, or NULL */
} filt;

static inline bool allowed(const ken_hnsw *h, const filt *f, uint32_t i) {
    if (!f) return true;
    if (f->skip_deleted && h->deleted[i]) return false;
    if (f->bitmap && !(f->bitmap[i >> 3] & (1u << (i & 7)))) return false;
    if (f->fn && !f->fn(h->ids[i], f->ud)) return false;
    return true;
}

/* Copies node's links at level into buf (under its lock when locked). */
static uint32_t read_links(ken_hnsw *h, uint32_t node, int level, bool locked, uint32_t *buf) {
    if (locked) pthread_mutex_lock(node_lock(h, node));
    const uint32_t *l = node_links(h, node, level);
    uint32_t cnt = l[0];
    memcpy(buf, l + 1, cnt * sizeof(uint32_t));
    if (locked) pthread_mutex_unlock(node_lock(h, node));
    return cnt;
}

/* Greedy descent from *ep through levels top..stop+1 (ef = 1). */
static void descend(ken_hnsw *h, const qctx *c, uint32_t *ep, int top, int stop, bool locked) {
    uint32_t buf[KEN_HNSW_M_MAX * 2];
    float best = qdist(h, c, *ep);
    for (int lev = top; lev > stop; lev--) {
        bool changed = true;
        while (changed) {
            changed = false;
            uint32_t cnt = read_links(h, *ep, lev, locked, buf);
            for (uint32_t j = 0; j < cnt; j++) {
                float d = qdist(h, c, buf[j]);
                if (d < best) {
                    best = d;
                    *ep = buf[j];
                    changed = true;
                }
            }
        }
    }
}

/* Best-first search of one level from ep; leaves up to ef (d, node) pairs in
 * v->res (a max-heap) holding only nodes that pass f. Nodes that fail f still
 * route. Returns the count, or -1 when out of memory. */
static long search_level(ken_hnsw *h, visit_ctx *v, const qctx *c, uint32_t ep, size_t ef,
                         int level, bool locked, const filt *f) {
    uint32_t buf[KEN_HNSW_M_MAX * 2], fresh[KEN_HNSW_M_MAX * 2];
    size_t nc = 0, nr = 0;
    if (dn_reserve(&v->res, &v->res_cap, ef + 1) || dn_reserve(&v->cand, &v->cand_cap, 64))
        return -1;
    float d0 = qdist(h, c, ep);
    v->mark[ep] = v->epoch;
    heap_push(v->cand, &nc, (struct dn){d0, ep}, false);
    if (allowed(h, f, ep)) heap_push(v->res, &nr, (struct dn){d0, ep}, true);
    float lower = nr ? d0 : INFINITY;
    while (nc) {
        struct dn cur = heap_pop(v->cand, &nc, false);
        if (cur.d > lower && nr >= ef) break;
        uint32_t cnt = read_links(h, cur.id, level, locked, buf), nf = 0;
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t nb = buf[j];
            if (v->mark[nb] == v->epoch) continue;
            v->mark[nb] = v->epoch;
            fresh[nf++] = nb;
            __builtin_prefetch(node_q(h, nb));
        }
        if (dn_reserve(&v->cand, &v->cand_cap, nc + nf)) return -1;
        for (uint32_t j = 0; j < nf; j++) {
            uint32_t nb = fresh[j];
            if (j + 1 < nf) __builtin_prefetch(node_q(h, fresh[j + 1]) + 64);
            float d = qdist(h, c, nb);
            if (nr < ef || d < lower) {
                heap_push(v->cand, &nc, (struct dn){d, nb}, false);
                if (allowed(h, f, nb)) {
                    heap_push(v->res, &nr, (struct dn){d, nb}, true);
                    if (nr > ef) heap_pop(v->res, &nr, true);
                }
                if (nr) lower = v->res[0].d;
            }
        }
    }
    return (long)nr;
}

/* ------------------------------------------------------------ insertion */

static int cmp_dn(const void *a, const void *b) {
    float x = ((const struct dn *)a)->d, y = ((const struct dn *)b)->d;
    return x < y ? -1 : x > y;
}

/* The neighbour-selection heuristic (paper's algorithm 4): walk candidates
 * nearest first; keep one unless it is nearer to an already kept neighbour
 * than to the base. Sorts c[0..n) and compacts the kept ones to the front. */
static size_t select_neighbors(ken_hnsw *h, struct dn *c, size_t n, size_t m) {
    qsort(c, n, sizeof *c, cmp_dn);
    if (n <= m) return n;
    size_t kept = 0;
    for (size_t i = 0; i < n && kept < m; i++) {
        qctx cc = node_ctx(h, c[i].id);
        bool good = true;
        for (size_t j = 0; j < kept; j++) {
            if (qdist(h, &cc, c[j].id) < c[i].d) {
                good = false;
                break;
            }
        }
        if (good) c[kept++] = c[i];
    }
    return kept;
}

/* Adds link node -> add at level, pruning node's list with the heuristic
 * when full. scratch holds at least M0 + 1 entries. */
static void link_to(ken_hnsw *h, uint32_t node, uint32_t add, int level, struct dn *scratch) {
    uint32_t mmax = level == 0 ? h->M0 : h->M;
    pthread_mutex_lock(node_lock(h, node));
    uint32_t *l = node_links(h, node, level);
    uint32_t cnt = l[0];
    for (uint32_t j = 0; j < cnt; j++)
        if (l[1 + j] == add) goto out;
    if (cnt < mmax) {
        l[1 + cnt] = add;
        l[0] = cnt + 1;
        goto out;
    }
    qctx nc = node_ctx(h, node);
    for (uint32_t j = 0; j < cnt; j++) scratch[j] = (struct dn){qdist(h, &nc, l[1 + j]), l[1 + j]};
    scratch[cnt] = (struct dn){qdist(h, &nc, add), add};
    size_t kept = select_neighbors(h, scratch, cnt + 1, mmax);
    for (size_t j = 0; j < kept; j++) l[1 + j] = scratch[j].id;
    l[0] = (uint32_t)kept;
out:
    pthread_mutex_unlock(node_lock(h, node));
}

/* Links node (already stored, quantized, with its level) into the graph. */
static ken_status insert_node(ken_hnsw *h, visit_ctx *v, uint32_t node) {
    int L = h->levels[node];
    pthread_mutex_lock(&h->entry_lock);
    int maxl = h->max_level;
    uint32_t ep = h->entry;
    bool hold = L > maxl;   /* a new top level: keep others from racing the entry */
    if (maxl < 0) {
        h->entry = node;
        h->max_level = L;
        pthread_mutex_unlock(&h->entry_lock);
        return KEN_OK;
    }
    if (!hold) pthread_mutex_unlock(&h->entry_lock);
    qctx c = node_ctx(h, node);
    descend(h, &c, &ep, maxl, L, true);
    struct dn scratch[KEN_HNSW_M_MAX * 2 + 1];
    ken_status st = KEN_OK;
    for (int lev = KEN_MIN(L, maxl); lev >= 0; lev--) {
        long nr = search_level(h, v, &c, ep, h->ef_construction, lev, true, NULL);
        if (nr < 0) { st = KEN_ERR_NOMEM; break; }
        next_epoch(v);   /* the next level's search needs a fresh visited set */
        size_t n = (size_t)nr;
        for (size_t i = 0; i < n; i++)
            if (v->res[i].id == node) v->res[i] = v->res[--n], i--;   /* a re-added id */
        size_t kept = select_neighbors(h, v->res, n, h->M);
        pthread_mutex_lock(node_lock(h, node));
        uint32_t *l = node_links(h, node, lev);
        for (size_t j = 0; j < kept; j++) l[1 + j] = v->res[j].id;
        l[0] = (uint32_t)kept;
        pthread_mutex_unlock(node_lock(h, node));
        for (size_t j = 0; j < kept; j++) link_to(h, v->res[j].id, node, lev, scratch);
        if (kept) ep = v->res[0].id;
    }
    if (hold) {
        h->entry = node;
        h->max_level = L;
        pthread_mutex_unlock(&h->entry_lock);
    }
    return st;
}

/* ------------------------------------------------------------ adding */

static int random_level(ken_hnsw *h) {
    uint64_t z = (h->rng += 0x9e3779b97f4a7c15ull);   /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    double u = (double)(z >> 11) * 0x1.0p-53;
    if (u <= 0) u = 0x1.0p-53;
    double l = -log(u) * h->level_mult;
    return l >= HNSW_LEVEL_MAX ? HNSW_LEVEL_MAX : (int)l;
}

static ken_status check_vec(const ken_hnsw *h, const float *v, size_t row, const char *what,
                            ken_err *err) {
    double n2 = 0;
    for (uint32_t j = 0; j < h->dim; j++) {
        if (!isfinite(v[j]))
            return ken_err_set(err, KEN_ERR_INVALID, "hnsw: %s %zu has a non-finite value at %u",
                               what, row, j);
        n2 += (double)v[j] * v[j];
    }
    if (h->metric == KEN_HNSW_COSINE && !(n2 > 0))
        return ken_err_set(err, KEN_ERR_INVALID, "hnsw: %s %zu is a zero vector (cosine)", what, row);
    return KEN_OK;
}

/* The exact vector as stored: normalized for COSINE. */
static void prep_vec(const ken_hnsw *h, const float *in, float *out) {
    if (h->metric != KEN_HNSW_COSINE) {
        if (out != in) memcpy(out, in, h->dim * sizeof(float));
        return;
    }
    double n2 = 0;
    for (uint32_t j = 0; j < h->dim; j++) n2 += (double)in[j] * in[j];
    float inv = (float)(1.0 / sqrt(n2));
    for (uint32_t j = 0; j < h->dim; j++) out[j] = in[j] * inv;
}

/* The caller's flag may be raised from another thread: read it atomically. */
static bool cancelled(volatile int *cancel) {
    return cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED);
}

typedef struct {
    ken_hnsw *h;
    uint32_t base;
    size_t n;
    atomic_size_t next, done;
    volatile int *cancel;
    atomic_int status;
} batch;

static void *batch_worker(void *arg) {
    batch *b = arg;
    visit_ctx *v = visit_get(b->h);
    if (!v) {
        atomic_store(&b->status, KEN_ERR_NOMEM);
        return NULL;
    }
    for (;;) {
        if (cancelled(b->cancel) || atomic_load(&b->status)) break;
        size_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->n) break;
        ken_status st = insert_node(b->h, v, b->base + (uint32_t)i);
        if (st) atomic_store(&b->status, st);
        atomic_fetch_add(&b->done, 1);
    }
    visit_put(b->h, v);
    return NULL;
}

/* Stores n new nodes (all allocation first, so failure changes nothing). */
static ken_status stage_nodes(ken_hnsw *h, const uint64_t *ids, const float *vecs, size_t n,
                              ken_err *err) {
    if (h->n + n > KEN_HNSW_COUNT_MAX)
        return ken_err_set(err, KEN_ERR_LIMIT, "hnsw: more than %u vectors", KEN_HNSW_COUNT_MAX);
    if (grow(h, h->n + n) || map_grow(h, h->map_used + n))
        return ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory for %zu vectors", h->n + n);
    for (size_t i = 0; i < n; i++) {
        int L = random_level(h);
        h->upper[h->n + i] = NULL;
        if (L && !(h->upper[h->n + i] = calloc((size_t)L * (1 + h->M), sizeof(uint32_t)))) {
            for (size_t j = 0; j < i; j++) free(h->upper[h->n + j]);
            return ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory");
        }
        h->levels[h->n + i] = (uint8_t)L;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t node = (uint32_t)(h->n + i);
        prep_vec(h, vecs + i * h->dim, h->vecs + (size_t)node * h->dim);
        ken_hnsw_set_quant(h, node);
        node_links0(h, node)[0] = 0;
        h->ids[node] = ids[i];
        h->deleted[node] = 0;
    }
    uint32_t base = (uint32_t)h->n;
    h->n += n;
    for (size_t i = 0; i < n; i++) ken_hnsw_map_put(h, ids[i], base + (uint32_t)i);   /* reserved */
    return KEN_OK;
}

ken_status ken_hnsw_add_batch(ken_hnsw *h, const uint64_t *ids, const float *vecs, size_t n,
                              int n_threads, ken_hnsw_progress_fn progress, void *progress_ud,
                              volatile int *cancel, ken_err *err) {
    if (!n) return KEN_OK;
    if (!ids || !vecs) return ken_err_set(err, KEN_ERR_INVALID, "hnsw: no ids or vectors");
    for (size_t i = 0; i < n; i++) {
        ken_status st = check_vec(h, vecs + i * h->dim, i, "vector", err);
        if (st) return st;
    }
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 256) n_threads = 256;
    pthread_rwlock_wrlock(&h->rw);
    uint32_t base = (uint32_t)h->n;
    ken_status st = stage_nodes(h, ids, vecs, n, err);
    if (st) goto out;
    batch b = {.h = h, .base = base, .n = n, .cancel = cancel};
    atomic_init(&b.next, 0);
    atomic_init(&b.done, 0);
    atomic_init(&b.status, KEN_OK);
    pthread_t tids[256];
    int started = 0;
    for (int t = 1; t < n_threads && (size_t)t < n; t++)
        if (pthread_create(&tids[started], NULL, batch_worker, &b) == 0) started++;
    /* This thread works too, and reports progress between its inserts. */
    visit_ctx *v = visit_get(h);
    if (!v) atomic_store(&b.status, KEN_ERR_NOMEM);
    size_t report_at = 1024;
    while (v && !cancelled(cancel) && !atomic_load(&b.status)) {
        size_t i = atomic_fetch_add(&b.next, 1);
        if (i >= n) break;
        ken_status s = insert_node(h, v, base + (uint32_t)i);
        if (s) atomic_store(&b.status, s);
        size_t d = atomic_fetch_add(&b.done, 1) + 1;
        if (progress && d >= report_at) {
            progress(d, n, progress_ud);
            report_at = d + 1024;
        }
    }
    if (v) visit_put(h, v);
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
    /* Claimed nodes are all linked; the rest of the batch never joined the
     * graph and becomes tombstones, so their ids read as absent. */
    size_t claimed = KEN_MIN(atomic_load(&b.next), n);
    for (size_t i = claimed; i < n; i++)
        if (!h->deleted[base + i]) { h->deleted[base + i] = 1; h->n_deleted++; }
    if (progress) progress(atomic_load(&b.done), n, progress_ud);
    st = atomic_load(&b.status);
    if (st) ken_err_set(err, st, "hnsw: out of memory while linking");
    else if (claimed < n) st = ken_err_set(err, KEN_ERR_CANCELLED, "hnsw: cancelled after %zu of %zu",
                                           claimed, n);
out:
    pthread_rwlock_unlock(&h->rw);
    return st;
}

ken_status ken_hnsw_add(ken_hnsw *h, uint64_t id, const float *vec, ken_err *err) {
    return ken_hnsw_add_batch(h, &id, vec, 1, 1, NULL, NULL, NULL, err);
}

ken_status ken_hnsw_remove(ken_hnsw *h, uint64_t id, ken_err *err) {
    pthread_rwlock_wrlock(&h->rw);
    uint32_t i = map_get(h, id);
    ken_status st = KEN_OK;
    if (i == UINT32_MAX || h->deleted[i]) {
        st = ken_err_set(err, KEN_ERR_NOTFOUND, "hnsw: id %llu not in the index",
                         (unsigned long long)id);
    } else {
        h->deleted[i] = 1;
        h->n_deleted++;
    }
    pthread_rwlock_unlock(&h->rw);
    return st;
}

/* Moves t's data into h (h's old data is freed); t keeps only its locks. */
static void take_data(ken_hnsw *h, ken_hnsw *t) {
    free_data(h);
    h->n = t->n; h->cap = t->cap; h->n_deleted = t->n_deleted;
    h->l0 = t->l0; h->vecs = t->vecs; h->ids = t->ids; h->levels = t->levels;
    h->deleted = t->deleted; h->upper = t->upper;
    h->entry = t->entry; h->max_level = t->max_level; h->rng = t->rng;
    h->map_keys = t->map_keys; h->map_vals = t->map_vals;
    h->map_cap = t->map_cap; h->map_used = t->map_used;
    t->n = t->cap = 0;
    t->l0 = NULL; t->vecs = NULL; t->ids = NULL; t->levels = NULL; t->deleted = NULL;
    t->upper = NULL; t->map_keys = NULL; t->map_vals = NULL; t->map_cap = 0;
}

ken_status ken_hnsw_compact(ken_hnsw *h, int n_threads, ken_err *err) {
    pthread_rwlock_wrlock(&h->rw);
    ken_hnsw_opts o = {h->dim, h->metric, h->M, h->ef_construction, h->rng};
    size_t live = h->n - h->n_deleted;
    ken_hnsw *t = NULL;
    uint64_t *ids = malloc((live ? live : 1) * sizeof *ids);
    float *vecs = malloc((live ? live : 1) * h->dim * sizeof *vecs);
    ken_status st = KEN_OK;
    if (!ids || !vecs) { st = ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory"); goto out; }
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (h->deleted[i]) continue;
        ids[k] = h->ids[i];
        memcpy(vecs + k * h->dim, h->vecs + i * h->dim, h->dim * sizeof(float));
        k++;
    }
    st = ken_hnsw_alloc(&o, live, &t, err);
    if (!st) st = ken_hnsw_add_batch(t, ids, vecs, live, n_threads, NULL, NULL, NULL, err);
    if (!st) take_data(h, t);
out:
    pthread_rwlock_unlock(&h->rw);
    ken_hnsw_free(t);
    free(ids);
    free(vecs);
    return st;
}

/* ------------------------------------------------------------ searching */

typedef struct {
    const float *qf;     /* prepared exact query */
    size_t k;
    struct dn *top;      /* max-heap of the k best so far */
    size_t n;
} topk;

static void topk_offer(topk *t, float d, uint32_t id) {
    if (t->n < t->k) {
        heap_push(t->top, &t->n, (struct dn){d, id}, true);
    } else if (d < t->top[0].d) {
        heap_pop(t->top, &t->n, true);
        heap_push(t->top, &t->n, (struct dn){d, id}, true);
    }
}

/* Sorts the heap nearest first into out (score = -distance). */
static size_t topk_emit(const ken_hnsw *h, topk *t, ken_hnsw_hit *out) {
    qsort(t->top, t->n, sizeof *t->top, cmp_dn);
    for (size_t i = 0; i < t->n; i++) out[i] = (ken_hnsw_hit){h->ids[t->top[i].id], -t->top[i].d};
    return t->n;
}

/* Exact scan of all nodes, or of the allow-list's nodes when list is set. */
static void scan_exact(ken_hnsw *h, visit_ctx *v, topk *t, const filt *f, const uint64_t *list,
                       size_t n_list) {
    if (!list) {
        for (uint32_t i = 0; i < h->n; i++)
            if (allowed(h, f, i)) topk_offer(t, exact_dist(h, t->qf, i), i);
        return;
    }
    for (size_t j = 0; j < n_list; j++) {
        uint32_t i = map_get(h, list[j]);
        if (i == UINT32_MAX || v->mark[i] == v->epoch) continue;   /* absent or repeated */
        v->mark[i] = v->epoch;
        if (allowed(h, f, i)) topk_offer(t, exact_dist(h, t->qf, i), i);
    }
}

typedef struct {
    const ken_hnsw_search_opts *o;
    size_t k, ef, rescore;
    bool exact;
} sreq;

static ken_status search_locked(ken_hnsw *h, visit_ctx *v, const sreq *r, ken_hnsw_hit *out,
                                size_t *n_out, ken_err *err) {
    const ken_hnsw_search_opts *o = r->o;
    filt f = {.skip_deleted = true, .fn = o ? o->filter : NULL, .ud = o ? o->filter_ud : NULL};
    const uint64_t *list = o && o->allow_ids ? o->allow_ids : NULL;
    size_t n_list = list ? o->n_allow : 0;
    uint8_t *bitmap = NULL;
    if (dn_reserve(&v->res, &v->res_cap, KEN_MAX(r->k, r->ef) + 1))
        return ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory");
    topk t = {v->tmpf, r->k, NULL, 0};
    /* A short allow-list is answered exactly: cheaper than a graph walk that
     * would mostly visit excluded nodes, and always complete. */
    bool exact = r->exact || h->max_level < 0 || (list && n_list * EXACT_ALLOW_FRACTION < h->n);
    if (list && !exact) {
        bitmap = calloc((h->n + 7) / 8, 1);
        if (!bitmap) return ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory");
        for (size_t j = 0; j < n_list; j++) {
            uint32_t i = map_get(h, list[j]);
            if (i != UINT32_MAX) bitmap[i >> 3] |= (uint8_t)(1u << (i & 7));
        }
        f.bitmap = bitmap;
        list = NULL;
    }
    if (!exact) {
        qctx c = {v->tmpq, 0, 0};
        c.scale = ken_hnsw_quantize(v->tmpf, h->dim, h->dimq, v->tmpq);
        c.norm2 = ken_hnsw_dot_f32(v->tmpf, v->tmpf, h->dim);
        uint32_t ep = h->entry;
        descend(h, &c, &ep, h->max_level, 0, false);
        long nr = search_level(h, v, &c, ep, r->ef, 0, false, &f);
        if (nr < 0) { free(bitmap); return ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory"); }
        /* Exact re-scoring of the best int8 candidates: int8 ranks well
         * (recall@10 ~0.99 alone), so the true top k lie among the first
         * few; re-scoring all ef would read ef exact vectors per query. */
        qsort(v->res, (size_t)nr, sizeof *v->res, cmp_dn);
        size_t nres = KEN_MIN((size_t)nr, r->rescore);
        for (size_t i = 0; i < nres; i++) v->res[i].d = exact_dist(h, v->tmpf, v->res[i].id);
        qsort(v->res, nres, sizeof *v->res, cmp_dn);
        t.top = v->res;
        t.n = KEN_MIN(nres, r->k);
        /* Fewer than k: the walk could not reach enough allowed nodes (a
         * selective filter or many tombstones); the exact scan is complete. */
        exact = t.n < r->k && (f.fn || f.bitmap || h->n_deleted);
        if (exact) next_epoch(v);
    }
    if (exact) {
        t.top = v->res;
        t.n = 0;
        scan_exact(h, v, &t, &f, list, n_list);
    }
    *n_out = topk_emit(h, &t, out);
    free(bitmap);
    return KEN_OK;
}

static ken_status search_common(ken_hnsw *h, const float *query, size_t k,
                                const ken_hnsw_search_opts *opts, bool exact, ken_hnsw_hit *out,
                                size_t *n_out, ken_err *err) {
    *n_out = 0;
    if (!query || (k && !out)) return ken_err_set(err, KEN_ERR_INVALID, "hnsw: no query or output");
    if (k > KEN_HNSW_EF_MAX)
        return ken_err_set(err, KEN_ERR_LIMIT, "hnsw: k above %d", KEN_HNSW_EF_MAX);
    ken_status st = check_vec(h, query, 0, "query", err);
    if (st || !k) return st;
    size_t ef = opts && opts->ef ? opts->ef : 64;
    if (ef > KEN_HNSW_EF_MAX) ef = KEN_HNSW_EF_MAX;
    size_t rescore = opts && opts->rescore ? opts->rescore : KEN_MAX(2 * k, k + 16);
    sreq r = {opts, k, KEN_MAX(ef, k), KEN_MAX(rescore, k), exact};
    pthread_rwlock_rdlock(&h->rw);
    visit_ctx *v = h->n ? visit_get(h) : NULL;
    if (!h->n) {
        st = KEN_OK;
    } else if (!v) {
        st = ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory");
    } else {
        prep_vec(h, query, v->tmpf);
        st = search_locked(h, v, &r, out, n_out, err);
        visit_put(h, v);
    }
    pthread_rwlock_unlock(&h->rw);
    return st;
}

ken_status ken_hnsw_search(ken_hnsw *h, const float *query, size_t k,
                           const ken_hnsw_search_opts *opts, ken_hnsw_hit *out, size_t *n_out,
                           ken_err *err) {
    return search_common(h, query, k, opts, false, out, n_out, err);
}

ken_status ken_hnsw_search_exact(ken_hnsw *h, const float *query, size_t k,
                                 const ken_hnsw_search_opts *opts, ken_hnsw_hit *out,
                                 size_t *n_out, ken_err *err) {
    return search_common(h, query, k, opts, true, out, n_out, err);
}
