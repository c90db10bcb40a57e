/* dense.c: dense retrieval over a ken_kb: the active embedding model
 * (opened once per handle and checked against the identity stored with the
 * vectors), the HNSW index persisted next to the store in "<store>.hnsw"
 * (loaded when its generation matches the stored vectors, else rebuilt from
 * them and saved, with a note saying why: the file is a cache, never
 * trusted blindly), and the search itself with filters (an allow-list of
 * the chunks that pass, so a filter still gets k results). */
#include "kb/kb.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_M 16
#define INDEX_EF_CONSTRUCTION 200
#define INDEX_THREADS 2
#define EF_SEARCH_DEFAULT 128
#define QUERY_THREADS 2
#define SNIPPET_BYTES 200
#define DOC_ROUNDS_MAX 6

void ken_kb_dense_close(ken_kb_dense *d) {
    ken_hnsw_free(d->index);
    ken_ctx_free(d->ctx);
    ken_model_close(d->model);
    free(d->path);
    free(d->query_prefix);
    free(d->sha256);
    ken_ctx_free(d->rr_ctx);
    ken_ctx_free(d->rr_ctx2);
    ken_model_close(d->rr_model);
    free(d->rr_path);
    memset(d, 0, sizeof *d);
}

char *ken_kb_index_path(const ken_kb *kb) {
    size_t n = strlen(kb->path);
    char *p = malloc(n + 6);
    if (p) {
        memcpy(p, kb->path, n);
        memcpy(p + n, ".hnsw", 6);
    }
    return p;
}

/* The fingerprint of the vector set an index was built from: the model in
 * the top bits, its vector revision below, so that a stale file of the same
 * model can be brought up to date instead of rebuilt (update_index). Out of
 * that range (never in practice) a hash with the top bit set, which never
 * matches a model id, so such files are always rebuilt. */
#define GEN_REV_BITS 40
#define GEN_REV_MASK (((uint64_t)1 << GEN_REV_BITS) - 1)
static uint64_t generation(int64_t model_id, int64_t rev, uint32_t dim) {
    if (model_id > 0 && model_id < ((int64_t)1 << 23) && rev >= 0 && (uint64_t)rev <= GEN_REV_MASK)
        return (uint64_t)model_id << GEN_REV_BITS | (uint64_t)rev;
    int64_t v[3] = {model_id, rev, (int64_t)dim};
    return ken_hash64(v, sizeof v) | ((uint64_t)1 << 63);
}

typedef struct {
    int64_t want;
    bool found;
    ken_store_emodel m;
    char *sha256, *path, *qp;
} row_find;

static int find_row(void *ud, const ken_store_emodel *m) {
    row_find *f = ud;
    if (m->id != f->want) return 0;
    f->found = true;
    f->m = *m;
    f->sha256 = ken_strdup(m->sha256);
    f->path = ken_strdup(m->path);
    f->qp = ken_strdup(m->query_prefix);
    return 1;
}

static void row_free(row_find *f) {
    free(f->sha256);
    free(f->path);
    free(f->qp);
}

/* Opens the model of row f into d, or says in why that it cannot be used. */
static ken_status open_model(ken_kb *kb, row_find *f, ken_buf *why) {
    ken_kb_dense *d = &kb->dense;
    struct stat sb;
    if (stat(f->path, &sb) != 0)
        return ken_buf_printf(why, "the embedding model file %s is gone (%s); set it again "
                              "with `ken config set embed.model FILE` and run `ken embed`",
                              f->path, strerror(errno));
    if ((int64_t)sb.st_size != f->m.file_size || (int64_t)sb.st_mtime != f->m.file_mtime) {
        ken_kb_model_id id;
        ken_err e = {{0}};
        if (ken_kb_model_identity(f->path, &id, &e) != KEN_OK)
            return ken_buf_printf(why, "the embedding model file %s: %s", f->path, e.msg);
        if (strcmp(id.sha256, f->sha256) != 0)
            return ken_buf_printf(why, "the embedding model file %s changed since the vectors "
                                  "were made (SHA-256 %.12s..., was %.12s...); run `ken embed` "
                                  "to re-embed", f->path, id.sha256, f->sha256);
    }
    char *msg = NULL;
    ken_status st = ken_model_open(f->path, &d->model, &msg);
    if (st) {
        ken_status r = ken_buf_printf(why, "the embedding model %s cannot be opened: %s",
                                      f->path, msg ? msg : ken_status_str(st));
        ken_free(msg);
        return r;
    }
    int n = ken_model_n_embd(d->model);
    if (n != f->m.dim)
        return ken_buf_printf(why, "the embedding model %s gives %d dimensions but the stored "
                              "vectors have %d; run `ken embed` to re-embed", f->path, n,
                              (int)f->m.dim);
    ken_ctx_opts co = {.size = sizeof co, .n_threads = QUERY_THREADS};
    if ((st = ken_ctx_new(d->model, &co, &d->ctx, &msg))) {
        ken_status r = ken_buf_printf(why, "encoder session: %s", msg ? msg : ken_status_str(st));
        ken_free(msg);
        return r;
    }
    /* The query prefix: the config's if set ("none": empty), else the row's. */
    ken_buf qp;
    ken_buf_init(&qp, KEN_KB_PREFIX_BYTES_MAX + 1);
    bool set = ken_kb_conf(kb, "embed.query_prefix", &qp);
    const char *q = set ? (strcmp(qp.data, "none") == 0 ? "" : qp.data) : f->qp;
    d->query_prefix = ken_strdup(q ? q : "");
    ken_buf_free(&qp);
    d->path = ken_strdup(f->path);
    d->sha256 = ken_strdup(f->sha256);
    if (!d->query_prefix || !d->path || !d->sha256) return KEN_ERR_NOMEM;
    d->model_id = f->m.id;
    d->dim = (uint32_t)f->m.dim;
    return KEN_OK;
}

typedef struct {
    uint64_t *ids;
    float *vecs;
    size_t n, cap;
    uint32_t dim;
    ken_status st;
} vec_list;

static int on_vec(void *ud, int64_t chunk, const float *v, uint32_t dim) {
    vec_list *l = ud;
    if (dim != l->dim) { l->st = KEN_ERR_STORE; return 1; }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        if (cap > KEN_HNSW_COUNT_MAX) { l->st = KEN_ERR_LIMIT; return 1; }
        uint64_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (!ids) { l->st = KEN_ERR_NOMEM; return 1; }
        l->ids = ids;
        float *vecs = realloc(l->vecs, cap * dim * sizeof *vecs);
        if (!vecs) { l->st = KEN_ERR_NOMEM; return 1; }
        l->vecs = vecs;
        l->cap = cap;
    }
    l->ids[l->n] = (uint64_t)chunk;
    memcpy(l->vecs + l->n * dim, v, dim * sizeof *v);
    l->n++;
    return 0;
}

/* Builds the index of model_id from the stored vectors and saves it. */
static ken_status rebuild(ken_kb *kb, int64_t model_id, int64_t rev, uint32_t dim,
                          ken_buf *note) {
    ken_kb_dense *d = &kb->dense;
    vec_list l = {.dim = dim};
    ken_status st = kb->store->ops->vec_scan(kb->store, model_id, on_vec, &l);
    if (st) ken_kb_store_err(kb, st, "reading vectors");
    else if (l.st)
        st = ken_err_set(&kb->err, l.st, "reading vectors: %s", l.st == KEN_ERR_STORE
                         ? "a vector of another dimension (the store is damaged)"
                         : ken_status_str(l.st));
    ken_hnsw *h = NULL;
    ken_hnsw_opts ho = {.dim = dim, .metric = KEN_HNSW_COSINE, .M = INDEX_M,
                        .ef_construction = INDEX_EF_CONSTRUCTION};
    if (!st) st = ken_hnsw_new(&ho, &h, &kb->err);
    if (!st && l.n)
        st = ken_hnsw_add_batch(h, l.ids, l.vecs, l.n, INDEX_THREADS, NULL, NULL, NULL, &kb->err);
    free(l.ids);
    free(l.vecs);
    if (st) {
        ken_hnsw_free(h);
        return st;
    }
    char *path = ken_kb_index_path(kb);
    ken_err e = {{0}};
    if (!path || ken_hnsw_save(h, path, generation(model_id, rev, dim), &e) != KEN_OK)
        ken_buf_printf(note, "%s(the vector index could not be saved: %s) ", note->len ? " " : "",
                       path ? e.msg : "out of memory");
    free(path);
    ken_hnsw_free(d->index);
    d->index = h;
    d->rev = rev;
    return KEN_OK;
}

/* ------------------------------------------------------------ incremental */

typedef struct {
    ken_hnsw *h;
    uint32_t dim;
    float *tmp;
    vec_list add;          /* vectors new (or changed) since the file */
    int64_t *seen;         /* every stored id, ascending (vec_scan's order) */
    size_t n_seen, cap_seen;
    ken_status st;
} diff_ctx;

static int on_diff(void *ud, int64_t chunk, const float *v, uint32_t dim) {
    diff_ctx *c = ud;
    if (dim != c->dim) { c->st = KEN_ERR_STORE; return 1; }
    if (c->n_seen == c->cap_seen) {
        size_t cap = c->cap_seen ? c->cap_seen * 2 : 1024;
        int64_t *n = cap <= KEN_HNSW_COUNT_MAX ? realloc(c->seen, cap * sizeof *n) : NULL;
        if (!n) { c->st = KEN_ERR_NOMEM; return 1; }
        c->seen = n;
        c->cap_seen = cap;
    }
    c->seen[c->n_seen++] = chunk;
    /* Present with the same vector: nothing to do. A chunk id SQLite
     * reused for a new chunk has another vector: replaced. */
    if (ken_hnsw_get(c->h, (uint64_t)chunk, c->tmp)) {
        float d = 0;
        for (uint32_t i = 0; i < dim; i++) d = fmaxf(d, fabsf(c->tmp[i] - v[i]));
        if (d < 1e-5f) return 0;
    }
    int stop = on_vec(&c->add, chunk, v, dim);
    if (c->add.st) c->st = c->add.st;
    return stop;
}

static bool seen_has(const diff_ctx *c, int64_t id) {
    size_t lo = 0, hi = c->n_seen;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->seen[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->n_seen && c->seen[lo] == id;
}

/* Brings h (an older index of the same model) up to the stored vectors:
 * adds the new ones, drops the deleted ones, compacts when tombstones pile
 * up. *added / *removed count the changes. */
static ken_status update_index(ken_kb *kb, ken_hnsw *h, int64_t model_id, uint32_t dim,
                               size_t *added, size_t *removed) {
    diff_ctx c = {.h = h, .dim = dim, .tmp = malloc(dim * sizeof(float)), .add = {.dim = dim}};
    ken_status st = c.tmp ? kb->store->ops->vec_scan(kb->store, model_id, on_diff, &c)
                          : KEN_ERR_NOMEM;
    if (st && st != KEN_ERR_NOMEM) ken_kb_store_err(kb, st, "reading vectors");
    else if (!st && c.st) st = ken_err_set(&kb->err, c.st, "reading vectors: %s",
                                           ken_status_str(c.st));
    else if (st) ken_err_set(&kb->err, st, "out of memory");
    uint64_t *ids = NULL;
    size_t n_ids = 0;
    if (!st) st = ken_hnsw_ids(h, &ids, &n_ids, &kb->err);
    *removed = 0;
    for (size_t i = 0; !st && i < n_ids; i++)
        if (!seen_has(&c, (int64_t)ids[i])) {
            st = ken_hnsw_remove(h, ids[i], &kb->err);
            (*removed)++;
        }
    *added = c.add.n;
    if (!st && c.add.n)
        st = ken_hnsw_add_batch(h, c.add.ids, c.add.vecs, c.add.n, INDEX_THREADS, NULL, NULL,
                                NULL, &kb->err);
    ken_hnsw_stats hs;
    ken_hnsw_get_stats(h, &hs);
    if (!st && hs.deleted * 5 > hs.count + hs.deleted)   /* > 20% tombstones */
        st = ken_hnsw_compact(h, INDEX_THREADS, &kb->err);
    free(ids);
    free(c.tmp);
    free(c.seen);
    free(c.add.ids);
    free(c.add.vecs);
    return st;
}

/* A stale file of the same model, loaded and updated; false when the file
 * is of another model or unusable (then the caller rebuilds). */
static bool try_update(ken_kb *kb, const char *path, const ken_store_emodel *m, ken_buf *note,
                       ken_status *st) {
    uint64_t fg = 0;
    ken_err e = {{0}};
    *st = KEN_OK;
    if (ken_hnsw_file_generation(path, &fg, &e) != KEN_OK || (fg >> 63) ||
        (int64_t)(fg >> GEN_REV_BITS) != m->id || (int64_t)(fg & GEN_REV_MASK) >= m->rev)
        return false;
    ken_hnsw *h = NULL;
    if (ken_hnsw_load(path, fg, (uint32_t)m->dim, &h, &e) != KEN_OK) return false;
    size_t added = 0, removed = 0;
    *st = update_index(kb, h, m->id, (uint32_t)m->dim, &added, &removed);
    if (*st) {
        ken_hnsw_free(h);
        return true;
    }
    ken_buf_printf(note, "the vector index was out of date: updated it from the store (%zu "
                   "added, %zu removed)", added, removed);
    if (ken_hnsw_save(h, path, generation(m->id, m->rev, (uint32_t)m->dim), &e) != KEN_OK)
        ken_buf_printf(note, " (it could not be saved: %s)", e.msg);
    ken_hnsw_free(kb->dense.index);
    kb->dense.index = h;
    kb->dense.rev = m->rev;
    return true;
}

/* Loads the index of the active model when its file is current, updates
 * it when it is an older state of the same model's vectors, else rebuilds
 * it; note says which and why. */
static ken_status sync_index(ken_kb *kb, const ken_store_emodel *m, ken_buf *note) {
    ken_kb_dense *d = &kb->dense;
    if (d->index && d->rev == m->rev) return KEN_OK;
    char *path = ken_kb_index_path(kb);
    if (!path) return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    ken_err e = {{0}};
    ken_hnsw *h = NULL;
    ken_status ls = ken_hnsw_load(path, generation(m->id, m->rev, (uint32_t)m->dim),
                                  (uint32_t)m->dim, &h, &e);
    if (ls == KEN_OK) {
        free(path);
        ken_hnsw_free(d->index);
        d->index = h;
        d->rev = m->rev;
        return KEN_OK;
    }
    ken_status us = KEN_OK;
    bool updated = ls == KEN_ERR_VERSION && try_update(kb, path, m, note, &us);
    free(path);
    if (updated) return us;
    if (ls == KEN_ERR_NOTFOUND)
        ken_buf_printf(note, "built the vector index (%lld vectors)", (long long)m->n_vectors);
    else if (ls == KEN_ERR_VERSION && strstr(e.msg, "stale"))
        ken_buf_printf(note, "the vector index was out of date: rebuilt it from the store "
                       "(%lld vectors)", (long long)m->n_vectors);
    else
        ken_buf_printf(note, "the vector index file was not usable (%s): rebuilt it from the "
                       "store (%lld vectors)", e.msg, (long long)m->n_vectors);
    return rebuild(kb, m->id, m->rev, (uint32_t)m->dim, note);
}

ken_status ken_kb_dense_ready(ken_kb *kb, bool *ok, ken_buf *why, ken_buf *note) {
    *ok = false;
    int64_t active = ken_kb_active_model(kb);
    if (!active) {
        ken_buf_printf(why, "the knowledge base has no embedding model (add one with `ken add "
                       "--embed-model FILE` or `ken config set embed.model FILE; ken embed`)");
        return KEN_OK;
    }
    row_find f = {.want = active};
    ken_status st = kb->store->ops->emodel_list(kb->store, find_row, &f);
    if (st) {
        row_free(&f);
        return ken_kb_store_err(kb, st, "reading embedding models");
    }
    if (!f.found || !f.sha256 || !f.path || !f.qp) {
        ken_buf_printf(why, f.found ? "out of memory" : "the active embedding model is not in "
                       "the store; run `ken embed`");
        row_free(&f);
        return KEN_OK;
    }
    if (f.m.n_vectors == 0) {
        ken_buf_printf(why, "no chunk is embedded yet (run `ken embed --missing`)");
        row_free(&f);
        return KEN_OK;
    }
    if (kb->dense.model_id != active || !kb->dense.ctx) {
        ken_kb_dense_close(&kb->dense);
        st = open_model(kb, &f, why);
        if (st == KEN_ERR_NOMEM) st = ken_err_set(&kb->err, st, "out of memory");
        if (st || why->len) {
            ken_kb_dense_close(&kb->dense);
            row_free(&f);
            return st;
        }
    }
    st = sync_index(kb, &f.m, note);
    row_free(&f);
    *ok = st == KEN_OK;
    return st;
}

ken_status ken_kb_index_rebuild(ken_kb *kb, ken_buf *note) {
    ken_hnsw_free(kb->dense.index);
    kb->dense.index = NULL;
    char *path = ken_kb_index_path(kb);
    if (!path) return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    unlink(path);   /* a rebuild is asked for: the file is not even looked at */
    free(path);
    bool ok;
    ken_buf why;
    ken_buf_init(&why, 4096);
    ken_status st = ken_kb_dense_ready(kb, &ok, &why, note);
    if (!st && !ok) st = ken_err_set(&kb->err, KEN_ERR_NOTFOUND, "%s", why.data);
    ken_buf_free(&why);
    return st;
}

/* ------------------------------------------------------------ search */

typedef struct {
    uint64_t *v;
    size_t n, cap;
    bool oom;
} id_list;

static int on_id(void *ud, int64_t id) {
    id_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        uint64_t *v = cap <= KEN_HNSW_COUNT_MAX ? realloc(l->v, cap * sizeof *v) : NULL;
        if (!v) { l->oom = true; return 1; }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (uint64_t)id;
    return 0;
}

typedef struct {
    ken_retrieve_hit *x;
    bool snippets;
    bool oom;
} hydrate_ctx;

/* The start of the text (a dense hit has no matched terms to show). */
static char *lead_snippet(const char *t, size_t n) {
    size_t k = ken_utf8_valid_prefix(t, KEN_MIN(n, (size_t)SNIPPET_BYTES));
    ken_buf b;
    ken_buf_init(&b, 0);
    for (size_t i = 0; i < k; i++) ken_buf_putc(&b, t[i] == '\n' ? ' ' : t[i]);
    if (k < n) ken_buf_puts(&b, "\xe2\x80\xa6");
    if (!b.data) ken_buf_puts(&b, "");
    return ken_buf_take(&b, NULL);
}

static int on_chunk_hit(void *ud, const ken_store_hit *h) {
    hydrate_ctx *c = ud;
    ken_retrieve_hit *x = c->x;
    c->oom = ken_retrieve_hit_copy(x, h) != KEN_OK;
    if (!c->oom && c->snippets && !x->snippet) {
        x->snippet = lead_snippet(h->text, h->text_len);
        c->oom = !x->snippet;
    }
    return 1;
}

/* Turns index hits into result hits (folded into documents when docs). */
static ken_status hydrate(ken_kb *kb, const ken_hnsw_hit *hits, size_t n, size_t k, bool docs,
                          bool snippets, ken_retrieve_hits *out) {
    for (size_t i = 0; i < n && out->n < k; i++) {
        ken_retrieve_hit *x = &out->v[out->n];
        memset(x, 0, sizeof *x);
        hydrate_ctx c = {x, snippets, false};
        ken_status st = kb->store->ops->chunk_hit(kb->store, (int64_t)hits[i].id, on_chunk_hit, &c);
        if (st == KEN_ERR_NOTFOUND) continue;   /* deleted since the index was read */
        if (st) return ken_kb_store_err(kb, st, "reading a chunk");
        if (c.oom) {
            ken_retrieve_hit_clear(x);
            return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
        }
        x->score = hits[i].score;
        bool dup = false;
        for (size_t j = 0; docs && j < out->n && !dup; j++) dup = out->v[j].doc_id == x->doc_id;
        if (dup) ken_retrieve_hit_clear(x);
        else out->n++;
    }
    return KEN_OK;
}

static uint32_t ef_search(ken_kb *kb) {
    ken_buf b;
    ken_buf_init(&b, 64);
    uint32_t ef = EF_SEARCH_DEFAULT;
    if (ken_kb_conf(kb, "search.ef", &b)) {
        long v = strtol(b.data, NULL, 10);
        if (v > 0 && v <= KEN_HNSW_EF_MAX) ef = (uint32_t)v;
    }
    ken_buf_free(&b);
    return ef;
}

/* The allow-list of the filters of o (none when there are none). */
static ken_status allow_list(ken_kb *kb, const ken_retrieve_opts *o, id_list *allow,
                             bool *filtered) {
    *filtered = o->collection || o->uri_prefix || o->mime || o->meta_field;
    if (!*filtered) return KEN_OK;
    ken_buf path;
    ken_buf_init(&path, 0);
    if (o->meta_field && ken_buf_printf(&path, "$.%s", o->meta_field))
        return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    ken_store_search_q q = {.collection = o->collection, .uri_prefix = o->uri_prefix,
                            .mime = o->mime, .meta_path = o->meta_field ? path.data : NULL,
                            .meta_value = o->meta_value};
    ken_status st = kb->store->ops->chunk_ids(kb->store, &q, on_id, allow);
    ken_buf_free(&path);
    if (st) return ken_kb_store_err(kb, st, "filtering chunks");
    if (allow->oom) return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    return KEN_OK;
}

ken_status ken_kb_dense_search(ken_kb *kb, const char *query, const ken_retrieve_opts *o,
                               size_t k, bool docs, bool snippets, ken_retrieve_hits *out) {
    ken_kb_dense *d = &kb->dense;
    memset(out, 0, sizeof *out);
    double t0 = ken_now();
    if (!d->index || !d->ctx) return ken_err_set(&kb->err, KEN_ERR_INTERNAL, "dense: not ready");
    if (k == 0 || k > KEN_RETRIEVE_K_MAX)
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "k = %zu is outside 1..%d", k,
                           KEN_RETRIEVE_K_MAX);
    if (o->meta_field && !ken_retrieve_meta_field_ok(o->meta_field))
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "metadata field '%s': use letters, "
                           "digits, '_' and '-', with '.' between nested names", o->meta_field);
    float *qv = NULL;
    bool cut = false;
    ken_status st = ken_retrieve_query_parse(query, strlen(query), &out->query, &kb->err);
    if (!st) st = ken_kb_embed_text(d->ctx, d->model, d->query_prefix, NULL, NULL, query,
                                    strlen(query), &qv, &cut, &kb->err);
    id_list allow = {0};
    bool filtered = false;
    if (!st) st = allow_list(kb, o, &allow, &filtered);
    ken_hnsw_stats hs;
    ken_hnsw_get_stats(d->index, &hs);
    size_t want = docs ? k * 4 + 16 : k, n_hits = 0;
    ken_hnsw_hit *hits = NULL;
    if (!st && !(out->v = calloc(k, sizeof *out->v)))
        st = ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    for (int round = 0; !st && round < DOC_ROUNDS_MAX && !(filtered && allow.n == 0); round++) {
        want = KEN_MIN(want, KEN_MAX(hs.count, (size_t)1));
        ken_hnsw_hit *nh = realloc(hits, want * sizeof *hits);
        if (!nh) { st = ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory"); break; }
        hits = nh;
        ken_hnsw_search_opts so = {.ef = KEN_MAX(ef_search(kb), (uint32_t)KEN_MIN(want, 100000)),
                                   .allow_ids = filtered ? allow.v : NULL, .n_allow = allow.n};
        st = ken_hnsw_search(d->index, qv, want, &so, hits, &n_hits, &kb->err);
        for (size_t i = 0; i < out->n; i++) ken_retrieve_hit_clear(&out->v[i]);
        out->n = 0;
        if (!st) st = hydrate(kb, hits, n_hits, k, docs, snippets, out);
        /* Fewer than k (documents, or chunks deleted meanwhile) while the
         * index had more to give: ask for more. */
        if (st || out->n >= k || n_hits < want || want >= hs.count) break;
        want *= 4;
    }
    free(hits);
    free(allow.v);
    ken_free(qv);
    if (st) {
        ken_retrieve_hits_free(out);
        return st;
    }
    out->seconds = ken_now() - t0;
    return KEN_OK;
}
