/* embed.c: embeddings at ingest (ken_kb_embed): the model's identity (file
 * SHA-256, general.name, dimension), the query/passage prefixes of its
 * family, embedding the chunks that lack a vector in batches with one
 * encoder session per thread, and the switch-over to a new model in one
 * transaction once its vectors are complete. Vectors are L2-normalized F32. */
#include "kb/kb.h"

#include "gguf/gguf.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EMBED_BATCH_DEFAULT 32
#define EMBED_BATCH_MAX 4096
#define EMBED_THREADS_MAX 64
#define PASSAGE_BYTES_MAX (32u << 10)   /* more would be cut by any encoder's context */
#define CTX_TOKENS_MAX 4096             /* ken_ctx's own limit */

/* ------------------------------------------------------------ identity */

ken_status ken_kb_model_identity(const char *path, ken_kb_model_id *out, ken_err *err) {
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ken_err_set(err, errno == ENOENT ? KEN_ERR_NOTFOUND : KEN_ERR_IO, "%s: %s", path,
                           strerror(errno));
    out->size = (int64_t)sb.st_size;
    out->mtime = (int64_t)sb.st_mtime;
    FILE *f = fopen(path, "rb");
    if (!f) return ken_err_set(err, KEN_ERR_IO, "%s: %s", path, strerror(errno));
    ken_sha256 h;
    ken_sha256_init(&h);
    char *buf = malloc(1 << 20);
    if (!buf) { fclose(f); return ken_err_set(err, KEN_ERR_NOMEM, "out of memory"); }
    size_t n;
    while ((n = fread(buf, 1, 1 << 20, f)) > 0) ken_sha256_update(&h, buf, n);
    bool bad = ferror(f) != 0;
    fclose(f);
    free(buf);
    if (bad) return ken_err_set(err, KEN_ERR_IO, "%s: read error", path);
    uint8_t md[32];
    ken_sha256_final(&h, md);
    ken_hex(md, 32, out->sha256);
    ken_gguf *g = NULL;
    ken_err gerr = {{0}};
    if (ken_gguf_open(path, &g, &gerr) == KEN_OK) {
        ken_gguf_str s;
        if (ken_gguf_get_str(g, "general.name", &s))
            snprintf(out->name, sizeof out->name, "%.*s", (int)KEN_MIN(s.n, 127), s.p);
        ken_gguf_close(g);
    }
    if (!out->name[0]) {   /* the file name stands in */
        const char *slash = strrchr(path, '/');
        snprintf(out->name, sizeof out->name, "%s", slash ? slash + 1 : path);
    }
    return KEN_OK;
}

static bool contains_ci(const char *hay, const char *needle) {
    if (!hay) return false;
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == needle[i]) i++;
        if (i == n) return true;
    }
    return false;
}

/* The prefixes the model cards ask for (e5: "query: " / "passage: "; bge
 * v1.5 English: an instruction before queries only; nomic-embed:
 * "search_query: " / "search_document: "); others: none. */
void ken_kb_family_prefixes(const char *name, const char *path, const char **query,
                            const char **passage) {
    *query = *passage = "";
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *file = slash ? slash + 1 : path;
    const char *v[] = {name, file};
    for (size_t i = 0; i < 2; i++) {
        if (contains_ci(v[i], "nomic")) {
            *query = "search_query: ";
            *passage = "search_document: ";
            return;
        }
        if (contains_ci(v[i], "e5-") || contains_ci(v[i], "e5_") || contains_ci(v[i], "-e5")) {
            *query = "query: ";
            *passage = "passage: ";
            return;
        }
        if (contains_ci(v[i], "bge") && !contains_ci(v[i], "m3") && !contains_ci(v[i], "rerank")) {
            *query = "Represent this sentence for searching relevant passages: ";
            return;
        }
    }
}

/* ------------------------------------------------------------ one text */

ken_status ken_kb_embed_text(ken_ctx *c, ken_model *m, const char *prefix, const char *title,
                             const char *heading, const char *text, size_t len, float **vec,
                             bool *truncated, ken_err *err) {
    *vec = NULL;
    *truncated = false;
    ken_buf b;
    ken_buf_init(&b, PASSAGE_BYTES_MAX + 4096);
    ken_status st = ken_buf_puts(&b, prefix ? prefix : "");
    if (!st && title && *title) { st = ken_buf_puts(&b, title); if (!st) st = ken_buf_putc(&b, '\n'); }
    if (!st && heading && *heading && (!title || strcmp(heading, title) != 0)) {
        st = ken_buf_puts(&b, heading);
        if (!st) st = ken_buf_putc(&b, '\n');
    }
    if (!st) {
        size_t room = PASSAGE_BYTES_MAX > b.len ? PASSAGE_BYTES_MAX - b.len : 0;
        size_t take = ken_utf8_valid_prefix(text, KEN_MIN(len, room));
        if (take < len) *truncated = true;
        st = ken_buf_append(&b, text, take);
    }
    if (st) {
        ken_buf_free(&b);
        return ken_err_set(err, st, "out of memory");
    }
    /* Cut to the context: count the tokens, shorten in proportion, repeat. */
    const ken_vocab *v = ken_model_vocab(m);
    size_t limit = (size_t)KEN_MIN(KEN_MAX(ken_model_n_ctx_train(m), 8), CTX_TOKENS_MAX);
    for (int round = 0; v && round < 8; round++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (ken_tokenize(v, b.data ? b.data : "", b.len, 1, 0, &ids, &n) != KEN_OK) break;
        ken_free(ids);
        if (n <= limit) break;
        size_t keep = (size_t)((double)b.len * (double)limit / (double)n * 0.9);
        b.len = ken_utf8_valid_prefix(b.data, keep);
        b.data[b.len] = '\0';
        *truncated = true;
    }
    size_t dim = 0;
    st = ken_embed(c, b.data ? b.data : "", b.len, KEN_EMBED_POOL_MODEL, 1, vec, &dim);
    if (st) ken_err_set(err, st, "embedding: %s", ken_ctx_errmsg(c));
    else if (dim != (size_t)ken_model_n_embd(m)) {
        ken_free(*vec);
        *vec = NULL;
        st = ken_err_set(err, KEN_ERR_INTERNAL, "embedding: %zu floats, expected %d", dim,
                         ken_model_n_embd(m));
    }
    ken_buf_free(&b);
    return st;
}

/* ------------------------------------------------------------ batches */

typedef struct {
    int64_t id;
    char *title, *heading, *text;
    size_t len;
    float *vec;
    bool truncated;
} item;

typedef struct {
    item *v;
    size_t n, cap;
    bool oom;
} batch;

static int on_missing(void *ud, const ken_store_hit *h) {
    batch *b = ud;
    if (b->n == b->cap) return 1;
    item *it = &b->v[b->n];
    memset(it, 0, sizeof *it);
    it->id = h->chunk_id;
    it->title = h->title ? ken_strdup(h->title) : NULL;
    it->heading = h->heading ? ken_strdup(h->heading) : NULL;
    it->text = ken_strndup(h->text, h->text_len);
    it->len = h->text_len;
    b->n++;
    if (!it->text || (h->title && !it->title) || (h->heading && !it->heading)) {
        b->oom = true;
        return 1;
    }
    return 0;
}

static void batch_clear(batch *b) {
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].title);
        free(b->v[i].heading);
        free(b->v[i].text);
        ken_free(b->v[i].vec);
    }
    b->n = 0;
}

typedef struct {
    ken_model *m;
    ken_ctx *ctx;
    batch *b;
    size_t first, stride;
    const char *prefix;
    ken_status st;
    ken_err err;
} worker;

static void *work(void *p) {
    worker *w = p;
    for (size_t i = w->first; i < w->b->n && !w->st; i += w->stride) {
        item *it = &w->b->v[i];
        w->st = ken_kb_embed_text(w->ctx, w->m, w->prefix, it->title, it->heading, it->text,
                                  it->len, &it->vec, &it->truncated, &w->err);
        if (w->st) {
            char msg[sizeof w->err.msg];
            snprintf(msg, sizeof msg, "%s", w->err.msg);
            ken_err_set(&w->err, w->st, "chunk %lld: %s", (long long)it->id, msg);
        }
    }
    return NULL;
}

static ken_status run_workers(worker *w, size_t n_workers, ken_err *err) {
    pthread_t th[EMBED_THREADS_MAX];
    size_t started = 0;
    for (size_t i = 1; i < n_workers; i++) {
        if (pthread_create(&th[i], NULL, work, &w[i]) != 0) break;
        started = i;
    }
    work(&w[0]);
    for (size_t i = started + 1; i < n_workers; i++) work(&w[i]);   /* threads refused */
    for (size_t i = 1; i <= started; i++) pthread_join(th[i], NULL);
    for (size_t i = 0; i < n_workers; i++)
        if (w[i].st) return ken_err_set(err, w[i].st, "%s", w[i].err.msg);
    return KEN_OK;
}

/* ------------------------------------------------------------ models */

typedef struct {
    const char *sha256, *passage_prefix;
    uint32_t dim;
    int64_t found, active, active_seen;
    int64_t others[64];
    size_t n_others;
} model_scan;

static int scan_model(void *ud, const ken_store_emodel *m) {
    model_scan *s = ud;
    if (m->id == s->active) s->active_seen = m->id;
    if (!s->found && strcmp(m->sha256, s->sha256) == 0 && (uint32_t)m->dim == s->dim &&
        strcmp(m->passage_prefix, s->passage_prefix) == 0) {
        s->found = m->id;
        return 0;
    }
    if (m->id != s->active && s->n_others < KEN_ARRAY_LEN(s->others))
        s->others[s->n_others++] = m->id;
    return 0;
}

/* The prefix for key: the config's ("none": empty), else the family's. */
static ken_status prefix_of(ken_kb *kb, const char *key, const char *family, ken_buf *out) {
    if (ken_kb_conf(kb, key, out)) {
        if (strcmp(out->data, "none") == 0) ken_buf_reset(out);
        return KEN_OK;
    }
    ken_buf_reset(out);
    return ken_buf_puts(out, family);
}

typedef struct {
    ken_model *m;
    ken_kb_model_id id;
    char *path;
    ken_buf qp, pp;
} target_model;

static void target_free(target_model *t) {
    ken_model_close(t->m);
    free(t->path);
    ken_buf_free(&t->qp);
    ken_buf_free(&t->pp);
}

typedef struct {
    const char *path;
    int64_t size, mtime;
    ken_kb_model_id *out;
    bool found;
} known_file;

static int match_file(void *ud, const ken_store_emodel *m) {
    known_file *k = ud;
    if (strcmp(m->path, k->path) != 0 || m->file_size != k->size || m->file_mtime != k->mtime)
        return 0;
    snprintf(k->out->sha256, sizeof k->out->sha256, "%s", m->sha256);
    snprintf(k->out->name, sizeof k->out->name, "%s", m->name);
    k->out->size = m->file_size;
    k->out->mtime = m->file_mtime;
    k->found = true;
    return 1;
}

/* The model file's identity; a file recorded with the same path, size and
 * mtime is not hashed again (every `ken add` would re-read the model). */
static ken_status identity_cached(ken_kb *kb, target_model *t) {
    struct stat sb;
    if (stat(t->path, &sb) == 0) {
        known_file k = {t->path, (int64_t)sb.st_size, (int64_t)sb.st_mtime, &t->id, false};
        if (kb->store->ops->emodel_list(kb->store, match_file, &k) == KEN_OK && k.found)
            return KEN_OK;
    }
    return ken_kb_model_identity(t->path, &t->id, &kb->err);
}

/* Opens the configured model and finds or records its row. */
static ken_status open_target(ken_kb *kb, target_model *t, int64_t *target, int64_t *active) {
    ken_buf b;
    ken_buf_init(&b, 0);
    if (!ken_kb_conf(kb, "embed.model", &b)) {
        ken_buf_free(&b);
        return ken_err_set(&kb->err, KEN_ERR_NOTFOUND, "no embedding model: give one with `ken "
                           "add --embed-model FILE` or `ken config set embed.model FILE`");
    }
    t->path = ken_buf_take(&b, NULL);
    if (!t->path) return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    char *msg = NULL;
    ken_status st = ken_model_open(t->path, &t->m, &msg);
    if (st) {
        ken_err_set(&kb->err, st, "embedding model %s: %s", t->path, msg ? msg : ken_status_str(st));
        ken_free(msg);
        return st;
    }
    if (!ken_model_is_encoder_model(t->m))
        return ken_err_set(&kb->err, KEN_ERR_UNSUPPORTED, "%s is not an encoder (embedding) "
                           "model", t->path);
    if ((st = identity_cached(kb, t))) return st;
    t->id.dim = (uint32_t)ken_model_n_embd(t->m);
    if (t->id.dim == 0 || t->id.dim > KEN_STORE_EMBED_DIM_MAX)
        return ken_err_set(&kb->err, KEN_ERR_UNSUPPORTED, "%s: embedding dimension %u", t->path,
                           t->id.dim);
    const char *fq, *fp;
    ken_kb_family_prefixes(t->id.name, t->path, &fq, &fp);
    if ((st = prefix_of(kb, "embed.query_prefix", fq, &t->qp)) ||
        (st = prefix_of(kb, "embed.passage_prefix", fp, &t->pp)))
        return ken_err_set(&kb->err, st, "out of memory");
    ken_store *s = kb->store;
    model_scan ms = {.sha256 = t->id.sha256, .passage_prefix = t->pp.data ? t->pp.data : "",
                     .dim = t->id.dim, .active = ken_kb_active_model(kb)};
    if ((st = s->ops->emodel_list(s, scan_model, &ms))) return ken_kb_store_err(kb, st, "models");
    /* Leftovers of abandoned switches go; the active and the target stay. */
    if (!(st = s->ops->begin(s))) {
        for (size_t i = 0; i < ms.n_others && !st; i++)
            if (ms.others[i] != ms.found) st = s->ops->emodel_delete(s, ms.others[i]);
        if (!st && !ms.found) {
            ken_store_emodel row = {.sha256 = t->id.sha256, .name = t->id.name, .path = t->path,
                                    .query_prefix = t->qp.data ? t->qp.data : "",
                                    .passage_prefix = ms.passage_prefix, .dim = (int32_t)t->id.dim,
                                    .file_size = t->id.size, .file_mtime = t->id.mtime};
            st = s->ops->emodel_put(s, &row, &ms.found);
        }
        /* The first model is active at once: a partial index beats none. */
        if (!st && !ms.active_seen) {
            char v[32];
            snprintf(v, sizeof v, "%lld", (long long)ms.found);
            st = s->ops->config_set(s, "embed.active", v);
            ms.active_seen = ms.found;
        }
        if (!st) st = s->ops->commit(s);
        else s->ops->rollback(s);
    }
    if (st) return ken_kb_store_err(kb, st, "recording the embedding model");
    *target = ms.found;
    *active = ms.active_seen;
    return KEN_OK;
}

/* Embeds one batch with the workers and writes it in one transaction. */
static ken_status embed_batch(ken_kb *kb, worker *w, size_t n_workers, batch *b, int64_t model,
                              ken_embed_stats *stats) {
    ken_status st = run_workers(w, n_workers, &kb->err);
    if (st) return st;
    ken_store *s = kb->store;
    if ((st = s->ops->begin(s))) return ken_kb_store_err(kb, st, "writing vectors");
    for (size_t i = 0; i < b->n && !st; i++)
        st = s->ops->vec_put(s, model, b->v[i].id, b->v[i].vec, (uint32_t)ken_model_n_embd(w->m));
    if (st) {
        s->ops->rollback(s);
        return ken_kb_store_err(kb, st, "writing vectors");
    }
    if ((st = s->ops->commit(s))) return ken_kb_store_err(kb, st, "writing vectors");
    for (size_t i = 0; i < b->n; i++) stats->truncated += b->v[i].truncated;
    stats->embedded += b->n;
    return KEN_OK;
}

static ken_status embed_missing(ken_kb *kb, const ken_embed_opts *o, target_model *t,
                                int64_t model, ken_embed_stats *stats) {
    int n_threads = o->n_threads > 0 ? KEN_MIN(o->n_threads, EMBED_THREADS_MAX) : 2;
    size_t cap = o->batch ? KEN_MIN(o->batch, EMBED_BATCH_MAX) : EMBED_BATCH_DEFAULT;
    worker w[EMBED_THREADS_MAX];
    memset(w, 0, sizeof w);
    batch b = {.v = calloc(cap, sizeof(item)), .cap = cap};
    ken_status st = b.v ? KEN_OK : ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    size_t n_workers = 0;
    for (int i = 0; i < n_threads && !st; i++, n_workers++) {
        ken_ctx_opts co = {.size = sizeof co, .n_threads = 1};
        char *msg = NULL;
        w[i] = (worker){.m = t->m, .b = &b, .first = (size_t)i, .stride = (size_t)n_threads,
                        .prefix = t->pp.data ? t->pp.data : ""};
        if ((st = ken_ctx_new(t->m, &co, &w[i].ctx, &msg)))
            ken_err_set(&kb->err, st, "encoder session: %s", msg ? msg : ken_status_str(st));
        ken_free(msg);
    }
    int64_t total = 0, after = 0;
    if (!st && (st = kb->store->ops->vec_count(kb->store, model, NULL, &total)))
        ken_kb_store_err(kb, st, "counting vectors");
    ken_progress p = {.items_total = (uint64_t)total, .current = "embedding"};
    double t_last = 0;
    while (!st) {
        if (o->cancel && *o->cancel) {
            st = ken_err_set(&kb->err, KEN_ERR_CANCELLED, "embedding cancelled (`ken embed "
                             "--missing` resumes it)");
            break;
        }
        batch_clear(&b);
        st = kb->store->ops->vec_missing(kb->store, model, after, (int64_t)cap, on_missing, &b);
        if (st) { ken_kb_store_err(kb, st, "reading chunks"); break; }
        if (b.oom) { st = ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory"); break; }
        if (b.n == 0) break;
        after = b.v[b.n - 1].id;
        for (size_t i = 0; i < n_workers; i++) w[i].st = KEN_OK;
        st = embed_batch(kb, w, n_workers, &b, model, stats);
        p.items_done = stats->embedded;
        if (o->progress && (ken_now() - t_last > 0.1 || b.n < cap)) {
            t_last = ken_now();
            o->progress(o->progress_ud, &p);
        }
    }
    batch_clear(&b);
    free(b.v);
    for (size_t i = 0; i < n_workers; i++) ken_ctx_free(w[i].ctx);
    return st;
}

/* The new model's vectors are complete: it becomes the active one and the
 * old vectors go, in one transaction (search never sees a mix). */
static ken_status switch_over(ken_kb *kb, int64_t target, int64_t active) {
    ken_store *s = kb->store;
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)target);
    ken_status st = s->ops->begin(s);
    if (!st) st = s->ops->config_set(s, "embed.active", v);
    if (!st && active) st = s->ops->emodel_delete(s, active);
    if (!st) st = s->ops->commit(s);
    else s->ops->rollback(s);
    return st ? ken_kb_store_err(kb, st, "switching the embedding model") : KEN_OK;
}

ken_status ken_kb_embed(ken_kb *kb, const ken_embed_opts *opts, ken_embed_stats *stats) {
    ken_embed_stats dummy;
    if (!stats) stats = &dummy;
    memset(stats, 0, sizeof *stats);
    if (!kb) return KEN_ERR_INVALID;
    ken_embed_opts o;
    memset(&o, 0, sizeof o);
    if (opts) memcpy(&o, opts, opts->size && opts->size < sizeof o ? opts->size : sizeof o);
    ken_err_clear(&kb->err);
    if (kb->readonly)
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "the knowledge base is open read-only");
    double t0 = ken_now();
    ken_status st = o.model ? ken_kb_config_set(kb, "embed.model", o.model) : KEN_OK;
    if (st) return st;
    if (o.n_threads == 0) {
        ken_buf b;
        ken_buf_init(&b, 64);
        if (ken_kb_conf(kb, "embed.threads", &b)) o.n_threads = atoi(b.data);
        ken_buf_free(&b);
    }
    target_model t = {0};
    ken_buf_init(&t.qp, KEN_KB_PREFIX_BYTES_MAX + 1);
    ken_buf_init(&t.pp, KEN_KB_PREFIX_BYTES_MAX + 1);
    int64_t target = 0, active = 0;
    st = open_target(kb, &t, &target, &active);
    if (!st) {
        snprintf(stats->model_name, sizeof stats->model_name, "%s", t.id.name);
        snprintf(stats->model_sha256, sizeof stats->model_sha256, "%s", t.id.sha256);
        stats->dim = t.id.dim;
        st = embed_missing(kb, &o, &t, target, stats);
    }
    int64_t nv = 0, nm = 0;
    if (!st && (st = kb->store->ops->vec_count(kb->store, target, &nv, &nm)))
        ken_kb_store_err(kb, st, "counting vectors");
    if (!st && target != active && nm == 0) {
        st = switch_over(kb, target, active);
        stats->switched = st == KEN_OK;
    }
    target_free(&t);
    /* The index follows the active model's vectors (rebuilt when they changed). */
    if (!st) {
        bool ok = false;
        ken_buf why, note;
        ken_buf_init(&why, 4096);
        ken_buf_init(&note, 4096);
        if (o.rebuild_index) st = ken_kb_index_rebuild(kb, &note);
        else st = ken_kb_dense_ready(kb, &ok, &why, &note);
        stats->index_built = note.len > 0;
        ken_buf_free(&why);
        ken_buf_free(&note);
    }
    int64_t act = ken_kb_active_model(kb);
    if (!st && act && kb->store->ops->vec_count(kb->store, act, &nv, &nm) == KEN_OK) {
        stats->vectors = (uint64_t)nv;
        stats->missing = (uint64_t)nm;
    }
    stats->seconds = ken_now() - t0;
    return st;
}

typedef struct { int64_t want; ken_embed_stats *out; } status_ctx;

static int status_row(void *ud, const ken_store_emodel *m) {
    status_ctx *c = ud;
    if (m->id != c->want) return 0;
    snprintf(c->out->model_name, sizeof c->out->model_name, "%s", m->name);
    snprintf(c->out->model_sha256, sizeof c->out->model_sha256, "%s", m->sha256);
    c->out->dim = (uint32_t)m->dim;
    return 1;
}

ken_status ken_kb_embed_status(ken_kb *kb, ken_embed_stats *out) {
    if (!kb || !out) return KEN_ERR_INVALID;
    memset(out, 0, sizeof *out);
    int64_t act = ken_kb_active_model(kb);
    if (!act) return KEN_OK;
    status_ctx c = {act, out};
    ken_status st = kb->store->ops->emodel_list(kb->store, status_row, &c);
    int64_t nv = 0, nm = 0;
    if (!st) st = kb->store->ops->vec_count(kb->store, act, &nv, &nm);
    if (st) return ken_kb_store_err(kb, st, "reading embedding models");
    out->vectors = (uint64_t)nv;
    out->missing = (uint64_t)nm;
    return KEN_OK;
}
