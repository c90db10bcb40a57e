/* add.c: the ingest pipeline behind ken_kb_add / _add_buffer / _sync /
 * _remove: walk -> read -> hash -> (unchanged? stop) -> parse -> chunk ->
 * store, many documents per transaction, each document atomic. */
#include "kb/kb.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Commit after this many files (default; ken_add_opts.batch_files) or
 * bytes: big enough to amortize the commit, small enough that an
 * interrupted ingest keeps most of its work. */
#define BATCH_FILES 256
#define BATCH_BYTES ((uint64_t)64 << 20)
#define STDIN_BYTES_MAX ((size_t)1 << 30)

typedef struct {
    ken_kb *kb;
    const ken_add_opts *o;
    ken_add_stats *st;
    ken_parse_opts popts;
    ken_chunk_opts copts;
    const char *collection;
    ken_progress prog;
    double t_last_progress;
    uint32_t batch_files, batch_files_max;
    uint64_t batch_bytes;
    /* per file */
    const char *item;
    int64_t source_id;
    const char *uri;
    const char *file_hash;    /* hex SHA-256 of the source bytes */
    int64_t mtime;
    ken_status fail;          /* a store failure inside a callback */
} add_ctx;

static void event(add_ctx *c, ken_event_kind k, const char *item, const char *msg) {
    if (c->o && c->o->event) c->o->event(c->o->event_ud, k, item, msg);
}

static void progress(add_ctx *c, bool force) {
    if (!c->o || !c->o->progress) return;
    double now = ken_now();
    if (!force && now - c->t_last_progress < 0.1) return;
    c->t_last_progress = now;
    c->o->progress(c->o->progress_ud, &c->prog);
}

static void warn_cb(void *ud, const char *msg) {
    add_ctx *c = ud;
    event(c, KEN_EVENT_WARNING, c->item, msg);
}

static bool cancelled(add_ctx *c) { return c->o && c->o->cancel && *c->o->cancel; }

/* The content hash of a document. A document that is a whole file is
 * determined by the file's bytes, whose hash is already known, so only a
 * document cut out of a larger file (JSON/JSONL) hashes its own text: this
 * saves a second SHA-256 pass over every file. */
static void doc_hash(const ken_idoc *d, const char *file_hash, char out[65]) {
    ken_sha256 s;
    uint8_t md[32];
    ken_sha256_init(&s);
    const char *parts[] = {d->mime, d->title, d->meta_json, d->ext_id};
    for (size_t i = 0; i < KEN_ARRAY_LEN(parts); i++) {
        if (parts[i]) ken_sha256_update(&s, parts[i], strlen(parts[i]));
        ken_sha256_update(&s, "\0", 1);
    }
    if (!d->ext_id && file_hash) ken_sha256_update(&s, file_hash, strlen(file_hash));
    else ken_sha256_update(&s, d->text.data ? d->text.data : "", d->text.len);
    ken_sha256_final(&s, md);
    ken_hex(md, 32, out);
}

typedef struct { bool found; int64_t id; char hash[65]; } found_doc;

static int find_cb(void *ud, const ken_store_doc *d) {
    found_doc *f = ud;
    f->found = true;
    f->id = d->id;
    snprintf(f->hash, sizeof f->hash, "%s", d->hash ? d->hash : "");
    return 1;
}

/* One parsed document: unchanged -> touch; else chunk and put. */
static int on_doc(void *ud, ken_idoc *d) {
    add_ctx *c = ud;
    ken_store *s = c->kb->store;
    char hash[65];
    doc_hash(d, c->file_hash, hash);
    /* A record of a JSON/JSONL file without an external id is known by its
     * position in the file: its uri (and so its key) is "path#N". */
    char uri_item[PATH_MAX + 32];
    const char *uri = c->uri;
    bool has_ext = d->ext_id && *d->ext_id;
    if (!has_ext && d->item > 0) {
        snprintf(uri_item, sizeof uri_item, "%s#%lld", c->uri, (long long)d->item);
        uri = uri_item;
    }
    const char *key = has_ext ? d->ext_id : uri;
    found_doc f = {0};
    ken_status st = s->ops->doc_find(s, c->collection, key, find_cb, &f);
    if (st && st != KEN_ERR_NOTFOUND) goto fail;
    if (f.found && strcmp(f.hash, hash) == 0) {
        st = s->ops->doc_touch(s, f.id, s->gen);
        if (st) goto fail;
        c->st->unchanged++;
        return 0;
    }
    ken_ichunk *ich = NULL;
    size_t n = 0;
    st = ken_chunk_doc(d, &c->copts, &ich, &n);
    if (st) {
        char msg[128];
        snprintf(msg, sizeof msg, "chunking failed: %s", ken_status_str(st));
        event(c, KEN_EVENT_WARNING, c->item, msg);
        return 0;
    }
    ken_store_chunk *ch = calloc(n ? n : 1, sizeof *ch);
    if (!ch) {
        free(ich);
        st = KEN_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        ch[i].ordinal = (int32_t)i;
        ch[i].start = ich[i].start;
        ch[i].end = ich[i].end;
        ch[i].heading = ich[i].heading ? ich[i].heading : "";
        ch[i].page = ich[i].page;
        ch[i].tokens = ich[i].tokens;
    }
    ken_store_doc sd = {
        .source_id = c->source_id, .collection = c->collection, .ext_id = d->ext_id,
        .uri = uri, .title = d->title, .mime = d->mime, .hash = hash, .mtime = c->mtime,
        .meta_json = d->meta_json, .text = d->text.data ? d->text.data : "",
        .text_len = d->text.len};
    int64_t id;
    bool replaced = false;
    st = s->ops->doc_put(s, &sd, ch, n, s->gen, &id, &replaced);
    free(ch);
    free(ich);
    if (st == KEN_ERR_INVALID || st == KEN_ERR_LIMIT) {
        /* The store refused this document before writing anything (see
         * store.h): report it and go on with the rest. */
        c->st->skipped++;
        event(c, KEN_EVENT_WARNING, c->item, ken_store_errmsg(s));
        return 0;
    }
    if (st) goto fail;
    if (replaced) c->st->updated++;
    else c->st->added++;
    c->st->chunks += n;
    return 0;
fail:
    c->fail = ken_kb_store_err(c->kb, st, "writing to the store");
    return 1;
}

typedef struct { bool found; int64_t id, n_docs; char hash[65]; } found_src;

static int src_cb(void *ud, const ken_store_source *s) {
    found_src *f = ud;
    f->found = true;
    f->id = s->id;
    f->n_docs = s->n_docs;
    snprintf(f->hash, sizeof f->hash, "%s", s->hash ? s->hash : "");
    return 0;
}

static ken_status batch_step(add_ctx *c, uint64_t bytes) {
    ken_store *s = c->kb->store;
    c->batch_files++;
    c->batch_bytes += bytes;
    if (c->batch_files < c->batch_files_max && c->batch_bytes < BATCH_BYTES) return KEN_OK;
    ken_status st = s->ops->commit(s);
    if (!st) st = s->ops->begin(s);
    c->batch_files = 0;
    c->batch_bytes = 0;
    return st ? ken_kb_store_err(c->kb, st, "committing") : KEN_OK;
}

/* Ingests one input whose bytes are in data. Returns only store failures;
 * problems with the input itself are events and count as skipped. */
static ken_status ingest_bytes(add_ctx *c, const char *item, const char *uri,
                               const char *kind, int64_t mtime, const void *data,
                               size_t len) {
    ken_store *s = c->kb->store;
    char hash[65];
    ken_sha256_hex(data, len, hash);
    found_src f = {0};
    ken_status st = s->ops->source_get(s, c->collection, uri, src_cb, &f);
    if (st && st != KEN_ERR_NOTFOUND) return ken_kb_store_err(c->kb, st, "reading sources");
    if (f.found && strcmp(f.hash, hash) == 0) {
        c->st->unchanged += f.n_docs ? (uint64_t)f.n_docs : 1;
        event(c, KEN_EVENT_UNCHANGED, item, NULL);
        return KEN_OK;
    }
    ken_err perr = {{0}};
    if (len == 0) {
        c->st->skipped++;
        event(c, KEN_EVENT_SKIPPED, item, "empty file");
        return KEN_OK;
    }
    if (!ken_ingest_detect(item, data, len, &perr)) {
        c->st->skipped++;
        event(c, KEN_EVENT_SKIPPED, item, perr.msg);
        return KEN_OK;
    }
    ken_store_source src = {.collection = c->collection, .uri = uri, .kind = kind,
                            .hash = hash, .mtime = mtime, .size = (int64_t)len};
    st = s->ops->source_put(s, &src, &c->source_id);
    if (st) return ken_kb_store_err(c->kb, st, "writing a source");
    c->item = item;
    c->uri = uri;
    c->file_hash = hash;
    c->mtime = mtime;
    c->fail = KEN_OK;
    uint64_t before = c->st->added + c->st->updated;
    st = ken_ingest_parse(item, data, len, &c->popts, on_doc, c, warn_cb, c, &perr);
    if (c->fail) return c->fail;
    if (st) {
        /* Unusable input: keep whatever version was there, but forget the
         * new hash so that a fixed file is picked up again. */
        c->st->skipped++;
        event(c, KEN_EVENT_SKIPPED, item, perr.msg[0] ? perr.msg : ken_status_str(st));
        src.hash = f.found ? f.hash : "";
        st = s->ops->source_put(s, &src, &c->source_id);
        return st ? ken_kb_store_err(c->kb, st, "writing a source") : KEN_OK;
    }
    int64_t removed = 0;
    st = s->ops->source_prune(s, c->source_id, s->gen, &removed);
    if (st) return ken_kb_store_err(c->kb, st, "pruning documents");
    c->st->removed += (uint64_t)removed;
    bool changed = c->st->added + c->st->updated > before;
    event(c, f.found ? KEN_EVENT_UPDATED : KEN_EVENT_ADDED, item, changed ? NULL : "no change");
    return batch_step(c, len);
}

static ken_status ingest_file(add_ctx *c, const char *path) {
    char real[PATH_MAX];
    struct stat sb;
    c->prog.current = path;
    if (!realpath(path, real) || stat(real, &sb) != 0) {
        c->st->skipped++;
        event(c, KEN_EVENT_SKIPPED, path, strerror(errno));
        return KEN_OK;
    }
    ken_buf data;
    ken_err err = {{0}};
    ken_buf_init(&data, 0);
    ken_status st = ken_file_read(real, KEN_KB_FILE_BYTES_MAX, &data, &err);
    if (st) {
        c->st->skipped++;
        event(c, KEN_EVENT_SKIPPED, path, err.msg);
        ken_buf_free(&data);
        return KEN_OK;
    }
    c->st->bytes += data.len;
    st = ingest_bytes(c, path, real, "file", (int64_t)sb.st_mtime, data.data ? data.data : "",
                      data.len);
    ken_buf_free(&data);
    c->prog.items_done++;
    c->prog.bytes_done += (uint64_t)sb.st_size;
    progress(c, false);
    return st;
}

typedef struct { char **v; size_t n, cap; ken_status st; uint64_t bytes; } path_list;

static int collect_cb(void *ud, const char *path) {
    path_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) { l->st = KEN_ERR_NOMEM; return 1; }
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = ken_strdup(path))) { l->st = KEN_ERR_NOMEM; return 1; }
    l->n++;
    struct stat sb;
    if (stat(path, &sb) == 0) l->bytes += (uint64_t)sb.st_size;
    return 0;
}

static void walk_warn(void *ud, const char *msg) {
    add_ctx *c = ud;
    c->st->skipped++;
    event(c, KEN_EVENT_SKIPPED, NULL, msg);
}

static void ctx_init(add_ctx *c, ken_kb *kb, const ken_add_opts *o, ken_add_stats *st) {
    memset(c, 0, sizeof *c);
    c->kb = kb;
    c->o = o;
    c->st = st;
    c->collection = o && o->collection && *o->collection ? o->collection : "default";
    c->batch_files_max = o && o->batch_files ? o->batch_files : BATCH_FILES;
    if (o) {
        c->popts.json_id_field = o->json_id_field;
        c->popts.json_title_field = o->json_title_field;
        c->popts.json_text_field = o->json_text_field;
        c->copts.target_words = o->chunk_words;
        c->copts.overlap_words = o->overlap_words == UINT32_MAX ? 0
                                 : o->overlap_words ? o->overlap_words : 40;
    } else {
        c->copts.overlap_words = 40;
    }
    c->popts.bytes_max = KEN_KB_FILE_BYTES_MAX;
    memset(st, 0, sizeof *st);
    /* A fresh generation per operation: documents of a re-read source that
     * are not seen again in it are pruned (see store.h). */
    kb->store->gen++;
}

static ken_status read_stdin(ken_buf *b, ken_err *err) {
    for (;;) {
        if (ken_buf_reserve(b, 1 << 16))
            return ken_err_set(err, KEN_ERR_LIMIT, "stdin: over %zu bytes", STDIN_BYTES_MAX);
        ssize_t r = read(0, b->data + b->len, b->cap - b->len - 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            return ken_err_set(err, KEN_ERR_IO, "stdin: %s", strerror(errno));
        }
        if (r == 0) break;
        b->len += (size_t)r;
    }
    if (b->data) b->data[b->len] = 0;
    return KEN_OK;
}

static ken_status add_stdin(add_ctx *c) {
    const char *name = c->o && c->o->stdin_name ? c->o->stdin_name : "stdin";
    ken_buf data;
    ken_err err = {{0}};
    ken_buf_init(&data, STDIN_BYTES_MAX);
    ken_status st = read_stdin(&data, &err);
    if (st) {
        ken_buf_free(&data);
        return ken_err_set(&c->kb->err, st, "%s", err.msg);
    }
    c->st->bytes += data.len;
    char uri[PATH_MAX];
    snprintf(uri, sizeof uri, "stdin:%s", name);
    st = ingest_bytes(c, name, uri, "stdin", 0, data.data ? data.data : "", data.len);
    ken_buf_free(&data);
    return st;
}

static ken_status run_paths(add_ctx *c, const char *const *paths, size_t n_paths) {
    ken_store *s = c->kb->store;
    path_list l = {0};
    ken_status st = KEN_OK;
    bool use_stdin = false;
    for (size_t i = 0; i < n_paths && !st; i++) {
        if (strcmp(paths[i], "-") == 0) {
            use_stdin = true;
            continue;
        }
        ken_err err = {{0}};
        st = ken_walk(paths[i], collect_cb, &l, walk_warn, c, &err);
        if (st == KEN_ERR_NOTFOUND || st == KEN_ERR_IO) {
            c->st->skipped++;
            event(c, KEN_EVENT_SKIPPED, paths[i], err.msg);
            st = KEN_OK;
        } else if (st) {
            ken_err_set(&c->kb->err, st, "%s", err.msg[0] ? err.msg : ken_status_str(st));
        }
        if (!st && l.st) st = ken_err_set(&c->kb->err, l.st, "out of memory listing files");
    }
    c->prog.items_total = l.n;
    c->prog.bytes_total = l.bytes;
    if (!st) st = s->ops->begin(s);
    if (st) {
        if (!c->kb->err.msg[0]) ken_kb_store_err(c->kb, st, "starting a transaction");
        goto out_free;
    }
    if (use_stdin) st = add_stdin(c);
    for (size_t i = 0; i < l.n && !st; i++) {
        if (cancelled(c)) {
            st = ken_err_set(&c->kb->err, KEN_ERR_CANCELLED, "cancelled");
            break;
        }
        st = ingest_file(c, l.v[i]);
    }
    /* What was done stays done, even when cancelled: each document is whole. */
    if (st && st != KEN_ERR_CANCELLED) s->ops->rollback(s);
    else {
        ken_status cs = s->ops->commit(s);
        if (cs) st = ken_kb_store_err(c->kb, cs, "committing");
    }
    progress(c, true);
out_free:
    for (size_t i = 0; i < l.n; i++) free(l.v[i]);
    free(l.v);
    return st;
}

static ken_status check_writable(ken_kb *kb) {
    if (kb->readonly)
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "the knowledge base is open read-only");
    return KEN_OK;
}

/* After ingest: embeds the chunks without a vector when the store has an
 * embedding model (or opts names one), unless asked not to. */
static ken_status embed_after(ken_kb *kb, const ken_add_opts *o) {
    if (o && o->no_embed) return KEN_OK;
    if (!(o && o->embed_model)) {
        ken_buf b;
        ken_buf_init(&b, 0);
        bool set = ken_kb_conf(kb, "embed.model", &b);
        ken_buf_free(&b);
        if (!set) return KEN_OK;
    }
    ken_embed_opts eo = {.size = sizeof eo, .model = o ? o->embed_model : NULL,
                         .n_threads = o ? o->embed_threads : 0,
                         .progress = o ? o->embed_progress : NULL,
                         .progress_ud = o ? o->embed_progress_ud : NULL,
                         .cancel = o ? o->cancel : NULL};
    ken_status st = ken_kb_embed(kb, &eo, NULL);
    if (st) {
        char msg[sizeof kb->err.msg];
        snprintf(msg, sizeof msg, "%s", kb->err.msg);
        ken_err_set(&kb->err, st, "the documents were stored, but embedding failed: %s (add "
                    "with --no-embed to skip embedding)", msg);
    }
    return st;
}

ken_status ken_kb_add(ken_kb *kb, const char *const *paths, size_t n_paths,
                      const ken_add_opts *opts, ken_add_stats *stats) {
    ken_add_stats dummy;
    add_ctx c;
    ctx_init(&c, kb, opts, stats ? stats : &dummy);
    ken_err_clear(&kb->err);
    ken_status st = check_writable(kb);
    if (!st) st = run_paths(&c, paths, n_paths);
    return st ? st : embed_after(kb, opts);
}

ken_status ken_kb_add_buffer(ken_kb *kb, const char *name, const void *data, size_t len,
                             const ken_add_opts *opts, ken_add_stats *stats) {
    ken_add_stats dummy;
    add_ctx c;
    ctx_init(&c, kb, opts, stats ? stats : &dummy);
    ken_err_clear(&kb->err);
    ken_status st = check_writable(kb);
    if (st) return st;
    ken_store *s = kb->store;
    if ((st = s->ops->begin(s))) return ken_kb_store_err(kb, st, "starting a transaction");
    c.st->bytes += len;
    st = ingest_bytes(&c, name, name, "buffer", 0, data, len);
    if (st) s->ops->rollback(s);
    else if ((st = s->ops->commit(s))) ken_kb_store_err(kb, st, "committing");
    return st ? st : embed_after(kb, opts);
}

/* ---------------------------------------------------------------- sync */

typedef struct { int64_t *ids, *n_docs; size_t n, cap; char **uris; bool oom, only_gone; } gone_list;

static int gone_cb(void *ud, const ken_store_source *s) {
    gone_list *g = ud;
    struct stat sb;
    if (g->only_gone && (strcmp(s->kind, "file") != 0 || lstat(s->uri, &sb) == 0)) return 0;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        int64_t *ids = realloc(g->ids, cap * sizeof *ids);
        if (!ids) { g->oom = true; return 1; }
        g->ids = ids;
        char **uris = realloc(g->uris, cap * sizeof *uris);
        if (!uris) { g->oom = true; return 1; }
        g->uris = uris;
        int64_t *nd = realloc(g->n_docs, cap * sizeof *nd);
        if (!nd) { g->oom = true; return 1; }
        g->n_docs = nd;
        g->cap = cap;
    }
    g->uris[g->n] = ken_strdup(s->uri);
    if (!g->uris[g->n]) { g->oom = true; return 1; }
    g->n_docs[g->n] = s->n_docs;
    g->ids[g->n++] = s->id;
    return 0;
}

static ken_status remove_sources(add_ctx *c, const char *prefix, bool only_gone) {
    ken_store *s = c->kb->store;
    gone_list g = {.only_gone = only_gone};
    ken_status st = s->ops->source_list(s, c->collection, prefix, gone_cb, &g);
    if (!st && g.oom) st = KEN_ERR_NOMEM;
    if (!st) st = s->ops->begin(s);
    for (size_t i = 0; i < g.n && !st; i++) {
        st = s->ops->source_delete(s, g.ids[i]);
        if (!st) {
            c->st->removed += (uint64_t)g.n_docs[i];
            event(c, KEN_EVENT_REMOVED, g.uris[i], NULL);
        }
    }
    if (!st) st = s->ops->commit(s);
    else s->ops->rollback(s);
    for (size_t i = 0; i < g.n; i++) free(g.uris[i]);
    free(g.uris);
    free(g.ids);
    free(g.n_docs);
    return st ? ken_kb_store_err(c->kb, st, "removing vanished files") : KEN_OK;
}

ken_status ken_kb_sync(ken_kb *kb, const char *dir, const ken_add_opts *opts,
                       ken_add_stats *stats) {
    ken_add_stats dummy;
    add_ctx c;
    ctx_init(&c, kb, opts, stats ? stats : &dummy);
    ken_err_clear(&kb->err);
    ken_status st = check_writable(kb);
    if (st) return st;
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return ken_err_set(&kb->err, KEN_ERR_NOTFOUND, "%s: %s", dir, strerror(errno));
    const char *paths[] = {real};
    st = run_paths(&c, paths, 1);
    if (st) return st;
    char prefix[PATH_MAX + 1];
    snprintf(prefix, sizeof prefix, "%s%s", real, real[strlen(real) - 1] == '/' ? "" : "/");
    st = remove_sources(&c, prefix, true);
    return st ? st : embed_after(kb, opts);
}

/* ---------------------------------------------------------------- rm */

typedef struct { bool found; int64_t id, source_id; char *uri, *collection; } doc_ref;

static int ref_cb(void *ud, const ken_store_doc *d) {
    doc_ref *r = ud;
    r->found = true;
    r->id = d->id;
    r->source_id = d->source_id;
    r->uri = ken_strdup(d->uri);
    r->collection = ken_strdup(d->collection);
    return 1;
}

static ken_status remove_doc(ken_kb *kb, const char *ref, ken_add_stats *stats) {
    ken_store *s = kb->store;
    doc_ref r = {0};
    ken_status st = ken_kb_doc_get(kb, ref, ref_cb, &r);
    if (st == KEN_ERR_NOTFOUND || (!st && !r.found)) {
        st = ken_err_set(&kb->err, KEN_ERR_NOTFOUND, "no document '%s'", ref);
        goto out;
    }
    if (!r.uri || !r.collection) st = KEN_ERR_NOMEM;
    if (!st) st = s->ops->begin(s);
    if (!st) st = s->ops->doc_delete(s, r.id);
    /* A source with no document left goes too, so that adding the file
     * again brings the document back. */
    found_src f = {0};
    if (!st) st = s->ops->source_get(s, r.collection, r.uri, src_cb, &f);
    if (st == KEN_ERR_NOTFOUND) st = KEN_OK;
    if (!st && f.found && f.id == r.source_id && f.n_docs == 0)
        st = s->ops->source_delete(s, r.source_id);
    if (!st) st = s->ops->commit(s);
    else s->ops->rollback(s);
    if (st) ken_kb_store_err(kb, st, "removing a document");
    else stats->removed++;
out:
    free(r.uri);
    free(r.collection);
    return st;
}

ken_status ken_kb_remove(ken_kb *kb, const char *ref, ken_add_stats *stats) {
    ken_add_stats dummy;
    if (!stats) stats = &dummy;
    memset(stats, 0, sizeof *stats);
    ken_err_clear(&kb->err);
    ken_status st = check_writable(kb);
    if (st) return st;
    size_t n = strlen(ref);
    if (n == 0) return ken_err_set(&kb->err, KEN_ERR_INVALID, "empty document reference");
    if (ref[n - 1] != '/') return remove_doc(kb, ref, stats);
    /* A folder: every file source under it, in every collection. */
    char real[PATH_MAX + 1];
    if (!realpath(ref, real)) snprintf(real, sizeof real, "%s", ref);
    n = strlen(real);
    if (n && real[n - 1] != '/' && n + 1 < sizeof real) strcat(real, "/");
    add_ctx c;
    ctx_init(&c, kb, NULL, stats);
    c.collection = NULL;
    st = remove_sources(&c, real, false);
    if (!st && stats->removed == 0)
        st = ken_err_set(&kb->err, KEN_ERR_NOTFOUND, "no documents under '%s'", ref);
    return st;
}
