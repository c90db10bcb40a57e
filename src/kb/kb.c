/* kb.c: the ken_kb handle: open/close, reading documents and chunks,
 * removal and statistics, over the store interface. */
#include "kb/kb.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

ken_status ken_kb_store_err(ken_kb *kb, ken_status st, const char *what) {
    ken_err_set(&kb->err, st, "%s: %s", what, kb->store ? ken_store_errmsg(kb->store) : "");
    return st;
}

ken_status ken_kb_open(const ken_kb_opts *opts, ken_kb **out) {
    *out = NULL;
    if (!opts || !opts->path || !*opts->path) return KEN_ERR_INVALID;
    ken_kb *kb = calloc(1, sizeof *kb);
    if (!kb) return KEN_ERR_NOMEM;
    *out = kb;
    kb->readonly = opts->readonly != 0;
    if (!(kb->path = ken_strdup(opts->path)))
        return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    if (!opts->create) {
        struct stat sb;
        if (stat(opts->path, &sb) != 0)
            return ken_err_set(&kb->err, KEN_ERR_NOTFOUND,
                               "no knowledge base at %s (add documents first with `ken add`)",
                               opts->path);
    }
    ken_store_opts so = {.path = opts->path, .create = opts->create != 0,
                         .readonly = opts->readonly != 0};
    if (opts->size >= offsetof(ken_kb_opts, lexcache) + sizeof opts->lexcache)
        so.lexcache = opts->lexcache != 0;
    return ken_store_open(&so, &kb->store, &kb->err);
}

void ken_kb_close(ken_kb *kb) {
    if (!kb) return;
    ken_kb_dense_close(&kb->dense);
    ken_store_close(kb->store);
    free(kb->path);
    free(kb);
}

const char *ken_kb_errmsg(const ken_kb *kb) { return kb ? kb->err.msg : "no handle"; }

/* Store records -> public records. */
static void doc_info(const ken_store_doc *d, ken_doc_info *o) {
    memset(o, 0, sizeof *o);
    o->id = d->id;
    o->ext_id = d->ext_id;
    o->uri = d->uri;
    o->collection = d->collection;
    o->title = d->title;
    o->mime = d->mime;
    o->hash = d->hash;
    o->mtime = d->mtime;
    o->bytes = (int64_t)d->text_len;
    o->n_chunks = d->n_chunks;
    o->meta_json = d->meta_json;
}

static void chunk_info(const ken_store_chunk *c, ken_chunk_info *o) {
    memset(o, 0, sizeof *o);
    o->id = c->id;
    o->doc_id = c->doc_id;
    o->ordinal = c->ordinal;
    o->start = c->start;
    o->end = c->end;
    o->heading = c->heading ? c->heading : "";
    o->page = c->page;
    o->tokens = c->tokens;
    o->text = c->text;
    o->text_len = c->text_len;
}

typedef struct {
    ken_doc_fn fn;
    ken_doc_text_fn tfn;
    ken_chunk_fn cfn;
    void *ud;
    int64_t count;
} bridge;

static int list_cb(void *ud, const ken_store_doc *d) {
    bridge *b = ud;
    ken_doc_info info;
    doc_info(d, &info);
    b->count++;
    return b->fn(b->ud, &info);
}

ken_status ken_kb_list(ken_kb *kb, const ken_list_opts *opts, ken_doc_fn fn, void *ud) {
    ken_store_filter f = {0};
    if (opts) {
        f.collection = opts->collection;
        f.uri_prefix = opts->uri_prefix;
        f.mime = opts->mime;
        f.limit = opts->limit;
        f.offset = opts->offset;
    }
    bridge b = {.fn = fn, .ud = ud};
    ken_status st = kb->store->ops->doc_list(kb->store, &f, list_cb, &b);
    return st ? ken_kb_store_err(kb, st, "listing documents") : KEN_OK;
}

static int doc_cb(void *ud, const ken_store_doc *d) {
    bridge *b = ud;
    ken_doc_info info;
    doc_info(d, &info);
    b->count++;
    return b->tfn(b->ud, &info, d->text, d->text_len);
}

ken_status ken_kb_doc_get(ken_kb *kb, const char *ref, ken_store_doc_fn fn, void *ud) {
    ken_store *s = kb->store;
    ken_status st = s->ops->doc_get(s, ref, fn, ud);
    if (st != KEN_ERR_NOTFOUND) return st;
    char real[PATH_MAX];
    if (!realpath(ref, real) || strcmp(real, ref) == 0) return st;
    ken_status st2 = s->ops->doc_get(s, real, fn, ud);
    return st2 == KEN_ERR_NOTFOUND ? st : st2;
}

ken_status ken_kb_doc(ken_kb *kb, const char *ref, ken_doc_text_fn fn, void *ud) {
    bridge b = {.tfn = fn, .ud = ud};
    ken_status st = ken_kb_doc_get(kb, ref, doc_cb, &b);
    if (st == KEN_ERR_NOTFOUND || (!st && b.count == 0))
        return ken_err_set(&kb->err, KEN_ERR_NOTFOUND, "no document '%s'", ref);
    return st ? ken_kb_store_err(kb, st, "reading a document") : KEN_OK;
}

static int chunk_cb(void *ud, const ken_store_chunk *c) {
    bridge *b = ud;
    ken_chunk_info info;
    chunk_info(c, &info);
    b->count++;
    return b->cfn(b->ud, &info);
}

ken_status ken_kb_doc_chunks(ken_kb *kb, int64_t doc_id, ken_chunk_fn fn, void *ud) {
    bridge b = {.cfn = fn, .ud = ud};
    ken_status st = kb->store->ops->chunk_list(kb->store, doc_id, chunk_cb, &b);
    return st ? ken_kb_store_err(kb, st, "reading chunks") : KEN_OK;
}

ken_status ken_kb_chunk(ken_kb *kb, int64_t chunk_id, ken_chunk_fn fn, void *ud) {
    bridge b = {.cfn = fn, .ud = ud};
    ken_status st = kb->store->ops->chunk_get(kb->store, chunk_id, chunk_cb, &b);
    if (st == KEN_ERR_NOTFOUND || (!st && b.count == 0))
        return ken_err_set(&kb->err, KEN_ERR_NOTFOUND, "no chunk %lld", (long long)chunk_id);
    return st ? ken_kb_store_err(kb, st, "reading a chunk") : KEN_OK;
}

ken_status ken_kb_stat(ken_kb *kb, ken_kb_stats *out) {
    ken_store_stats s;
    memset(out, 0, sizeof *out);
    ken_status st = kb->store->ops->stats(kb->store, &s);
    if (st) return ken_kb_store_err(kb, st, "reading statistics");
    out->sources = s.sources;
    out->documents = s.documents;
    out->chunks = s.chunks;
    out->collections = s.collections;
    out->text_bytes = s.text_bytes;
    out->file_bytes = s.file_bytes;
    out->schema_version = s.schema_version;
    return KEN_OK;
}
