/* api.c: the JSON API under /api/v1: documents (add as JSON text, a
 * multipart upload or a raw body; list, show, delete), search (chunks or
 * documents, with feedback and filters), ask (whole or streamed as
 * server-sent events) and stats. Every read and search is limited to the
 * caller's collection when the key has one; uploads go through
 * ken_kb_add_buffer and never touch the file system. */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NAME_BYTES_MAX 255
#define LIST_LIMIT_MAX 1000
#define DOC_TEXT_BYTES_MAX ((size_t)32 << 20)

static bool method_is(srv_req *r, const char *m) { return strcmp(r->method, m) == 0; }

static enum MHD_Result method_not_allowed(srv_req *r) {
    return srv_error(r, 405, "method_not_allowed", "%s is not allowed here", r->method);
}

static enum MHD_Result need_write(srv_req *r) {
    return srv_error(r, 403, "read_only_key", "this needs a key with write scope");
}

static enum MHD_Result kb_error(srv_req *r, ken_kb *kb, ken_status st) {
    const char *m = kb ? ken_kb_errmsg(kb) : "";
    unsigned http = srv_status_http(st);
    return srv_error(r, http, http >= 500 ? "internal" : "bad_request", "%s",
                     http >= 500 ? "internal error" : (m && *m ? m : ken_status_str(st)));
}

static enum MHD_Result busy(srv_req *r) {
    return srv_error(r, 503, "busy", "the server is busy; try again");
}

/* An integer URL argument in [lo, hi]; absent leaves *out. */
static bool arg_int(srv_req *r, const char *name, long lo, long hi, long *out,
                    enum MHD_Result *res) {
    const char *v = srv_arg(r, name);
    if (!v) return true;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) {
        *res = srv_error(r, 400, "out_of_range", "'%s' must be an integer from %ld to %ld",
                         name, lo, hi);
        return false;
    }
    *out = n;
    return true;
}

/* ------------------------------------------------------------ JSON pieces */

static void jw_doc(ken_jw *w, const ken_doc_info *d) {
    ken_jw_key(w, "id"); ken_jw_int(w, d->id);
    ken_jw_key(w, "ext_id"); ken_jw_str(w, d->ext_id);
    ken_jw_key(w, "uri"); ken_jw_str(w, d->uri);
    ken_jw_key(w, "collection"); ken_jw_str(w, d->collection);
    ken_jw_key(w, "title"); ken_jw_str(w, d->title);
    ken_jw_key(w, "mime"); ken_jw_str(w, d->mime);
    ken_jw_key(w, "hash"); ken_jw_str(w, d->hash);
    ken_jw_key(w, "mtime"); ken_jw_int(w, d->mtime);
    ken_jw_key(w, "bytes"); ken_jw_int(w, d->bytes);
    ken_jw_key(w, "chunks"); ken_jw_int(w, d->n_chunks);
}

void srv_jw_citation(ken_jw *w, const ken_citation *c) {
    ken_jw_obj_begin(w);
    ken_jw_key(w, "n"); ken_jw_int(w, c->n);
    ken_jw_key(w, "doc_id"); ken_jw_int(w, c->doc_id);
    ken_jw_key(w, "chunk_id"); ken_jw_int(w, c->chunk_id);
    ken_jw_key(w, "ext_id"); ken_jw_str(w, c->ext_id);
    ken_jw_key(w, "uri"); ken_jw_str(w, c->uri);
    ken_jw_key(w, "title"); ken_jw_str(w, c->title);
    ken_jw_key(w, "heading"); ken_jw_str(w, c->heading);
    ken_jw_key(w, "page"); ken_jw_int(w, c->page);
    ken_jw_key(w, "start"); ken_jw_int(w, c->start);
    ken_jw_key(w, "end"); ken_jw_int(w, c->end);
    ken_jw_key(w, "sentence"); ken_jw_str(w, c->sentence);
    ken_jw_key(w, "score"); ken_jw_num(w, c->score);
    ken_jw_obj_end(w);
}

void srv_jw_answer(ken_jw *w, const ken_answer *a) {
    ken_jw_key(w, "answer"); ken_jw_str(w, ken_answer_text(a));
    ken_jw_key(w, "found"); ken_jw_bool(w, ken_answer_found(a) != 0);
    ken_jw_key(w, "score"); ken_jw_num(w, ken_answer_score(a));
    ken_jw_key(w, "citations");
    ken_jw_arr_begin(w);
    for (size_t i = 0; i < ken_answer_citations(a); i++)
        srv_jw_citation(w, ken_answer_citation(a, i));
    ken_jw_arr_end(w);
}

/* ------------------------------------------------------------ stats */

typedef struct { int64_t docs, chunks, bytes; } tally;

static int tally_cb(void *ud, const ken_doc_info *d) {
    tally *t = ud;
    t->docs++, t->chunks += d->n_chunks, t->bytes += d->bytes;
    return 0;
}

static enum MHD_Result api_stats(srv_req *r) {
    enum MHD_Result res;
    const char *coll = NULL;
    if (!srv_collection(r, srv_arg(r, "collection"), &coll, &res)) return res;
    srv_slot *sl = srv_slot_get(r->s);
    if (!sl) return busy(r);
    ken_kb_stats ks = {0};
    ken_status st;
    if (coll) {   /* counts of one collection only: nothing about the others */
        tally t = {0};
        ken_list_opts lo = {.size = sizeof lo, .collection = coll};
        st = ken_kb_list(sl->kb, &lo, tally_cb, &t);
        ks.documents = t.docs, ks.chunks = t.chunks, ks.text_bytes = t.bytes;
        ks.collections = t.docs > 0;
    } else {
        st = ken_kb_stat(sl->kb, &ks);
    }
    if (st) { res = kb_error(r, sl->kb, st); srv_slot_put(r->s, sl); return res; }
    srv_slot_put(r->s, sl);
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "collection"); ken_jw_str(&w, coll);
    ken_jw_key(&w, "documents"); ken_jw_int(&w, ks.documents);
    ken_jw_key(&w, "chunks"); ken_jw_int(&w, ks.chunks);
    ken_jw_key(&w, "collections"); ken_jw_int(&w, ks.collections);
    ken_jw_key(&w, "text_bytes"); ken_jw_int(&w, ks.text_bytes);
    if (!coll) {
        ken_jw_key(&w, "sources"); ken_jw_int(&w, ks.sources);
        ken_jw_key(&w, "file_bytes"); ken_jw_int(&w, ks.file_bytes);
        ken_jw_key(&w, "schema_version"); ken_jw_int(&w, ks.schema_version);
    }
    ken_jw_key(&w, "model"); ken_jw_str(&w, r->s->model_name);
    ken_jw_key(&w, "embedding_model"); ken_jw_str(&w, r->s->emb_name[0] ? r->s->emb_name : NULL);
    ken_jw_key(&w, "uptime_s"); ken_jw_num(&w, ken_now() - r->s->started);
    ken_jw_key(&w, "version"); ken_jw_str(&w, KEN_VERSION);
    ken_jw_obj_end(&w);
    return srv_reply_json(r, 200, &b);
}

/* ------------------------------------------------------------ documents */

static int list_cb(void *ud, const ken_doc_info *d) {
    ken_jw *w = ud;
    ken_jw_obj_begin(w);
    jw_doc(w, d);
    ken_jw_obj_end(w);
    return ken_jw_status(w) != KEN_OK;
}

static enum MHD_Result docs_list(srv_req *r) {
    enum MHD_Result res;
    const char *coll = NULL;
    long limit = 100, offset = 0;
    if (!srv_collection(r, srv_arg(r, "collection"), &coll, &res)) return res;
    if (!arg_int(r, "limit", 1, LIST_LIMIT_MAX, &limit, &res)) return res;
    if (!arg_int(r, "offset", 0, 1L << 40, &offset, &res)) return res;
    ken_list_opts lo = {.size = sizeof lo, .collection = coll, .limit = limit, .offset = offset,
                        .uri_prefix = srv_arg(r, "uri_prefix"), .mime = srv_arg(r, "mime")};
    srv_slot *sl = srv_slot_get(r->s);
    if (!sl) return busy(r);
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "documents");
    ken_jw_arr_begin(&w);
    ken_status st = ken_kb_list(sl->kb, &lo, list_cb, &w);
    ken_jw_arr_end(&w);
    ken_jw_obj_end(&w);
    if (st) { ken_buf_free(&b); res = kb_error(r, sl->kb, st); }
    else res = srv_reply_json(r, 200, &b);
    srv_slot_put(r->s, sl);
    return res;
}

typedef struct {
    const char *coll;       /* the caller's collection or NULL */
    bool with_text, seen, hidden;
    int64_t id;
    ken_jw *w;
    ken_kb *kb;
    ken_status st;
} show_ctx;

static int chunk_cb(void *ud, const ken_chunk_info *c) {
    ken_jw *w = ud;
    ken_jw_obj_begin(w);
    ken_jw_key(w, "id"); ken_jw_int(w, c->id);
    ken_jw_key(w, "ordinal"); ken_jw_int(w, c->ordinal);
    ken_jw_key(w, "start"); ken_jw_int(w, c->start);
    ken_jw_key(w, "end"); ken_jw_int(w, c->end);
    ken_jw_key(w, "heading"); ken_jw_str(w, c->heading);
    ken_jw_key(w, "page"); ken_jw_int(w, c->page);
    ken_jw_key(w, "tokens"); ken_jw_int(w, c->tokens);
    ken_jw_obj_end(w);
    return 0;
}

static int show_cb(void *ud, const ken_doc_info *d, const char *text, size_t len) {
    show_ctx *x = ud;
    x->seen = true;
    x->id = d->id;
    if (x->coll && strcmp(d->collection, x->coll) != 0) { x->hidden = true; return 1; }
    if (!x->w) return 1;
    ken_jw_obj_begin(x->w);
    jw_doc(x->w, d);
    ken_jw_key(x->w, "meta"); ken_jw_raw(x->w, d->meta_json && *d->meta_json ? d->meta_json : "{}");
    if (x->with_text) {
        ken_jw_key(x->w, "text");
        ken_jw_strn(x->w, text, KEN_MIN(len, DOC_TEXT_BYTES_MAX));
    }
    ken_jw_key(x->w, "chunk_list");
    ken_jw_arr_begin(x->w);
    x->st = ken_kb_doc_chunks(x->kb, d->id, chunk_cb, x->w);
    ken_jw_arr_end(x->w);
    ken_jw_obj_end(x->w);
    return 0;
}

/* The document ref names, if the caller may see it (else 404 either way). */
static enum MHD_Result doc_show_or_delete(srv_req *r, const char *ref) {
    bool del = method_is(r, "DELETE");
    if (!del && !method_is(r, "GET")) return method_not_allowed(r);
    if (del && r->auth.scope < SCOPE_WRITE) return need_write(r);
    if (!*ref || strlen(ref) > 4096 || !ken_utf8_valid(ref, strlen(ref)) ||
        ref[strlen(ref) - 1] == '/')
        return srv_error(r, 404, "no_document", "no such document");
    srv_slot *sl = srv_slot_get(r->s);
    if (!sl) return busy(r);
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    const char *t = srv_arg(r, "text");
    show_ctx x = {.coll = r->auth.collection[0] ? r->auth.collection : NULL,
                  .with_text = t && strcmp(t, "0") != 0 && strcmp(t, "false") != 0,
                  .w = del ? NULL : &w, .kb = sl->kb};
    ken_status st = ken_kb_doc(sl->kb, ref, show_cb, &x);
    enum MHD_Result res;
    if (st == KEN_ERR_NOTFOUND || (st == KEN_OK && (!x.seen || x.hidden))) {
        res = srv_error(r, 404, "no_document", "no such document");
    } else if (st || x.st) {
        res = kb_error(r, sl->kb, st ? st : x.st);
    } else if (del) {
        char id[32];
        snprintf(id, sizeof id, "%" PRId64, x.id);
        ken_add_stats as = {0};
        pthread_mutex_lock(&r->s->write_mu);
        st = ken_kb_remove(sl->kb, id, &as);
        pthread_mutex_unlock(&r->s->write_mu);
        if (st) res = kb_error(r, sl->kb, st);
        else {
            ken_buf_printf(&b, "{\"deleted\":%" PRIu64 ",\"id\":%" PRId64 "}", as.removed, x.id);
            res = srv_reply_json(r, 200, &b);
        }
    } else {
        res = srv_reply_json(r, 200, &b);
    }
    ken_buf_free(&b);
    srv_slot_put(r->s, sl);
    return res;
}

/* A safe document name: the last path component, valid UTF-8, no control
 * characters, not "." or "..". Names are store keys, never file paths. */
static bool clean_name(const char *in, size_t n, char *out, size_t cap) {
    if (n == 0 || n > NAME_BYTES_MAX || !ken_utf8_valid(in, n)) return false;
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i] == '/' || in[i] == '\\') start = i + 1;
    size_t k = n - start;
    if (k == 0 || k >= cap) return false;
    for (size_t i = start; i < n; i++)
        if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f) return false;
    memcpy(out, in + start, k);
    out[k] = 0;
    return strcmp(out, ".") != 0 && strcmp(out, "..") != 0;
}

typedef struct { char msg[512]; int warnings; } add_events;

static void add_event(void *ud, ken_event_kind kind, const char *item, const char *msg) {
    add_events *e = ud;
    if ((kind == KEN_EVENT_SKIPPED || kind == KEN_EVENT_WARNING) && !e->msg[0])
        snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "skipped");
    (void)item;
}

typedef struct { const char *name; int64_t id; } find_ctx;

static int find_cb(void *ud, const ken_doc_info *d) {
    find_ctx *f = ud;
    if (strcmp(d->uri, f->name) == 0) f->id = d->id;
    return 0;
}

/* Adds one document and replies with what happened. */
static enum MHD_Result add_one(srv_req *r, const char *name, const char *data, size_t len,
                               const char *coll) {
    char clean[NAME_BYTES_MAX + 1];
    if (!clean_name(name, strlen(name), clean, sizeof clean))
        return srv_error(r, 400, "bad_name", "a document name of 1 to %d bytes of UTF-8 "
                                             "text is needed", NAME_BYTES_MAX);
    srv_slot *sl = srv_slot_get(r->s);
    if (!sl) return busy(r);
    add_events ev = {{0}, 0};
    ken_add_opts ao = {.size = sizeof ao, .collection = coll, .event = add_event, .event_ud = &ev};
    ken_add_stats as = {0};
    pthread_mutex_lock(&r->s->write_mu);
    ken_status st = ken_kb_add_buffer(sl->kb, clean, data, len, &ao, &as);
    pthread_mutex_unlock(&r->s->write_mu);
    enum MHD_Result res;
    find_ctx f = {clean, 0};
    if (st) {
        res = kb_error(r, sl->kb, st);
    } else if (as.added + as.updated + as.unchanged == 0) {
        res = srv_error(r, 400, "not_ingested", "nothing was added: %s",
                        ev.msg[0] ? ev.msg : "no text found");
    } else {
        ken_list_opts lo = {.size = sizeof lo, .collection = coll ? coll : "default",
                            .uri_prefix = clean};
        ken_kb_list(sl->kb, &lo, find_cb, &f);
        ken_buf b;
        ken_buf_init(&b, 0);
        ken_jw w;
        ken_jw_init(&w, &b, 0);
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "id"); ken_jw_int(&w, f.id);
        ken_jw_key(&w, "name"); ken_jw_str(&w, clean);
        ken_jw_key(&w, "collection"); ken_jw_str(&w, coll ? coll : "default");
        ken_jw_key(&w, "added"); ken_jw_uint(&w, as.added);
        ken_jw_key(&w, "updated"); ken_jw_uint(&w, as.updated);
        ken_jw_key(&w, "unchanged"); ken_jw_uint(&w, as.unchanged);
        ken_jw_key(&w, "chunks"); ken_jw_uint(&w, as.chunks);
        ken_jw_obj_end(&w);
        res = srv_reply_json(r, as.added ? 201 : 200, &b);
    }
    srv_slot_put(r->s, sl);
    return res;
}

/* The value of param (e.g. boundary=) in a header value, copied to out. */
static bool header_param(const char *h, const char *param, char *out, size_t cap) {
    const char *p = strcasestr(h, param);
    if (!p) return false;
    p += strlen(param);
    bool q = *p == '"';
    if (q) p++;
    size_t n = 0;
    while (p[n] && (q ? p[n] != '"' : (p[n] != ';' && p[n] != ' ' && p[n] != '\r'))) n++;
    if (n == 0 || n >= cap) return false;
    memcpy(out, p, n);
    out[n] = 0;
    return true;
}

static const char *memfind(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn == 0 || hn < nn) return NULL;
    for (const char *p = h; (p = memchr(p, n[0], hn - (size_t)(p - h) - nn + 1)); p++)
        if (memcmp(p, n, nn) == 0) return p;
    return NULL;
}

/* multipart/form-data: the first part with a filename is the document; a
 * part named "collection" chooses the collection. */
static enum MHD_Result add_multipart(srv_req *r, const char *ctype, const char *coll_arg) {
    char bnd[128], delim[140];
    if (!header_param(ctype, "boundary=", bnd, sizeof bnd))
        return srv_error(r, 400, "bad_multipart", "multipart without a boundary");
    snprintf(delim, sizeof delim, "\r\n--%s", bnd);
    const char *body = r->body.data ? r->body.data : "";
    size_t n = r->body.len;
    /* the first delimiter has no leading CRLF */
    const char *p = n >= strlen(delim) - 2 && memcmp(body, delim + 2, strlen(delim) - 2) == 0
                        ? body : memfind(body, n, delim, strlen(delim));
    if (!p) return srv_error(r, 400, "bad_multipart", "no parts found");
    const char *fdata = NULL, *fname_at = NULL;
    size_t flen = 0;
    char fname[NAME_BYTES_MAX + 1] = "", coll[COLLECTION_BYTES_MAX] = "";
    p = p == body ? p + strlen(delim) - 2 : p + strlen(delim);
    for (int parts = 0; parts < 64; parts++) {
        size_t left = n - (size_t)(p - body);
        if (left >= 2 && p[0] == '-' && p[1] == '-') break;   /* closing delimiter */
        const char *hend = memfind(p, left, "\r\n\r\n", 4);
        if (!hend) return srv_error(r, 400, "bad_multipart", "truncated part headers");
        const char *data = hend + 4;
        const char *next = memfind(data, n - (size_t)(data - body), delim, strlen(delim));
        if (!next) return srv_error(r, 400, "bad_multipart", "unterminated part");
        char hdr[2048], pname[64] = "";
        size_t hl = KEN_MIN((size_t)(hend - p), sizeof hdr - 1);
        memcpy(hdr, p, hl);
        hdr[hl] = 0;
        header_param(hdr, " name=", pname, sizeof pname);
        if (!fdata && header_param(hdr, "filename=", fname, sizeof fname)) {
            fdata = data, flen = (size_t)(next - data), fname_at = p;
        } else if (strcmp(pname, "collection") == 0) {
            size_t cl = (size_t)(next - data);
            if (cl >= sizeof coll) return srv_error(r, 400, "too_long", "collection too long");
            memcpy(coll, data, cl);
            coll[cl] = 0;
        }
        p = next + strlen(delim);
    }
    if (!fname_at) return srv_error(r, 400, "bad_multipart", "no file part (with a filename)");
    const char *use = NULL;
    enum MHD_Result res;
    if (!srv_collection(r, coll[0] ? coll : coll_arg, &use, &res)) return res;
    return add_one(r, fname, fdata, flen, use);
}

static enum MHD_Result add_json(srv_req *r) {
    enum MHD_Result res;
    ken_json_doc *d = srv_body_json(r, &res);
    if (!d) return res;
    const ken_json *o = ken_json_root(d);
    static const char *const fields[] = {"name", "text", "collection", NULL};
    const char *name = NULL, *text = NULL, *coll = NULL, *use = NULL;
    if (srv_json_fields(r, o, fields, &res) &&
        srv_json_str(r, o, "name", NAME_BYTES_MAX, &name, &res) &&
        srv_json_str(r, o, "text", r->s->o.body_bytes_max, &text, &res) &&
        srv_json_str(r, o, "collection", COLLECTION_BYTES_MAX - 1, &coll, &res) &&
        srv_collection(r, coll, &use, &res)) {
        if (!name || !text)
            res = srv_error(r, 400, "missing_field", "'name' and 'text' are needed");
        else
            res = add_one(r, name, text, ken_json_get(o, "text")->len, use);
    }
    ken_json_free(d);
    return res;
}

static enum MHD_Result docs_add(srv_req *r) {
    if (r->auth.scope < SCOPE_WRITE) return need_write(r);
    const char *ct = srv_header(r, "Content-Type");
    if (ct && strncasecmp(ct, "application/json", 16) == 0) return add_json(r);
    if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0)
        return add_multipart(r, ct, srv_arg(r, "collection"));
    const char *name = srv_arg(r, "name");
    if (!name) return srv_error(r, 400, "missing_name", "a raw upload needs ?name=FILENAME");
    const char *use = NULL;
    enum MHD_Result res;
    if (!srv_collection(r, srv_arg(r, "collection"), &use, &res)) return res;
    return add_one(r, name, r->body.data ? r->body.data : "", r->body.len, use);
}

/* ------------------------------------------------------------ search */

typedef struct {
    const char *query;
    ken_search_opts so;
    bool text;
} search_req;

/* The retrieval mode and fusion named in a request, checked here so that
 * a typo is a 400 rather than the library's error. */
static bool retrieval_ok(srv_req *r, const ken_search_opts *so, enum MHD_Result *res) {
    if (so->mode && strcmp(so->mode, "bm25") != 0 && strcmp(so->mode, "dense") != 0 &&
        strcmp(so->mode, "hybrid") != 0) {
        *res = srv_error(r, 400, "bad_retrieval", "'retrieval' is \"bm25\", \"dense\" or "
                         "\"hybrid\"");
        return false;
    }
    if (so->fusion && strcmp(so->fusion, "rrf") != 0 && strcmp(so->fusion, "weighted") != 0) {
        *res = srv_error(r, 400, "bad_fusion", "'fusion' is \"rrf\" or \"weighted\"");
        return false;
    }
    return true;
}

static bool search_json(srv_req *r, search_req *q, ken_json_doc **dp, enum MHD_Result *res) {
    ken_json_doc *d = srv_body_json(r, res);
    if (!d) return false;
    *dp = d;
    const ken_json *o = ken_json_root(d);
    static const char *const fields[] = {"query", "k", "mode", "prf", "collection",
        "uri_prefix", "mime", "meta_field", "meta_value", "snippets", "text", "k1", "b",
        "retrieval", "fusion", "rerank", NULL};
    const char *mode = NULL, *coll = NULL;
    long k = 10;
    bool prf = false, snip = true, rerank = false;
    size_t qmax = r->s->o.query_bytes_max;
    if (!srv_json_fields(r, o, fields, res) || !srv_json_str(r, o, "query", qmax, &q->query, res) ||
        !srv_json_int(r, o, "k", 1, 1000, &k, res) ||
        !srv_json_str(r, o, "mode", 16, &mode, res) || !srv_json_bool(r, o, "prf", &prf, res) ||
        !srv_json_str(r, o, "collection", COLLECTION_BYTES_MAX - 1, &coll, res) ||
        !srv_json_str(r, o, "uri_prefix", 4096, &q->so.uri_prefix, res) ||
        !srv_json_str(r, o, "mime", 128, &q->so.mime, res) ||
        !srv_json_str(r, o, "meta_field", 256, &q->so.meta_field, res) ||
        !srv_json_str(r, o, "meta_value", 4096, &q->so.meta_value, res) ||
        !srv_json_bool(r, o, "snippets", &snip, res) || !srv_json_bool(r, o, "text", &q->text, res) ||
        !srv_json_num(r, o, "k1", 0.01, 10, &q->so.k1, res) ||
        !srv_json_num(r, o, "b", 0, 1, &q->so.b, res) ||
        !srv_json_str(r, o, "retrieval", 16, &q->so.mode, res) ||
        !srv_json_str(r, o, "fusion", 16, &q->so.fusion, res) ||
        !srv_json_bool(r, o, "rerank", &rerank, res) ||
        !srv_collection(r, coll, &q->so.collection, res) || !retrieval_ok(r, &q->so, res))
        return false;
    if (ken_json_get(o, "rerank")) q->so.rerank = rerank ? 1 : -1;
    if (mode && strcmp(mode, "chunks") != 0 && strcmp(mode, "docs") != 0) {
        *res = srv_error(r, 400, "bad_mode", "'mode' is \"chunks\" or \"docs\"");
        return false;
    }
    q->so.k = (uint32_t)k, q->so.prf = prf, q->so.no_snippet = !snip;
    q->so.docs = mode && strcmp(mode, "docs") == 0;
    return true;
}

static bool search_args(srv_req *r, search_req *q, enum MHD_Result *res) {
    long k = 10;
    q->query = srv_arg(r, "q");
    const char *mode = srv_arg(r, "mode");
    if (!arg_int(r, "k", 1, 1000, &k, res) ||
        !srv_collection(r, srv_arg(r, "collection"), &q->so.collection, res))
        return false;
    if (q->query && strlen(q->query) > r->s->o.query_bytes_max) {
        *res = srv_error(r, 413, "too_long", "the query is longer than %zu bytes",
                         r->s->o.query_bytes_max);
        return false;
    }
    if (mode && strcmp(mode, "chunks") != 0 && strcmp(mode, "docs") != 0) {
        *res = srv_error(r, 400, "bad_mode", "'mode' is \"chunks\" or \"docs\"");
        return false;
    }
    q->so.k = (uint32_t)k;
    q->so.docs = mode && strcmp(mode, "docs") == 0;
    q->so.prf = srv_arg(r, "prf") && strcmp(srv_arg(r, "prf"), "1") == 0;
    q->so.mode = srv_arg(r, "retrieval");
    q->so.fusion = srv_arg(r, "fusion");
    const char *rr = srv_arg(r, "rerank");
    if (rr) q->so.rerank = strcmp(rr, "1") == 0 ? 1 : -1;
    return retrieval_ok(r, &q->so, res);
}

static void jw_results(ken_jw *w, const search_req *q, const ken_results *rs) {
    double k1, b, secs;
    ken_results_params(rs, &k1, &b, &secs);
    ken_jw_obj_begin(w);
    ken_jw_key(w, "query"); ken_jw_str(w, q->query);
    ken_jw_key(w, "mode"); ken_jw_str(w, q->so.docs ? "docs" : "chunks");
    ken_jw_key(w, "retrieval"); ken_jw_str(w, ken_results_mode(rs));
    ken_jw_key(w, "reranked"); ken_jw_bool(w, ken_results_reranked(rs) != 0);
    if (ken_results_notice(rs)) { ken_jw_key(w, "notice"); ken_jw_str(w, ken_results_notice(rs)); }
    ken_jw_key(w, "seconds"); ken_jw_num(w, secs);
    ken_jw_key(w, "terms");
    ken_jw_arr_begin(w);
    for (size_t i = 0; i < ken_results_terms(rs); i++) ken_jw_str(w, ken_results_term(rs, i, NULL));
    ken_jw_arr_end(w);
    ken_jw_key(w, "count"); ken_jw_uint(w, ken_results_count(rs));
    ken_jw_key(w, "results");
    ken_jw_arr_begin(w);
    for (size_t i = 0; i < ken_results_count(rs); i++) {
        const ken_result *x = ken_results_get(rs, i);
        ken_jw_obj_begin(w);
        ken_jw_key(w, "rank"); ken_jw_uint(w, i + 1);
        ken_jw_key(w, "score"); ken_jw_num(w, x->score);
        ken_jw_key(w, "doc_id"); ken_jw_int(w, x->doc_id);
        ken_jw_key(w, "chunk_id"); ken_jw_int(w, x->chunk_id);
        ken_jw_key(w, "ext_id"); ken_jw_str(w, x->ext_id);
        ken_jw_key(w, "uri"); ken_jw_str(w, x->uri);
        ken_jw_key(w, "title"); ken_jw_str(w, x->title);
        ken_jw_key(w, "heading"); ken_jw_str(w, x->heading);
        ken_jw_key(w, "collection"); ken_jw_str(w, x->collection);
        ken_jw_key(w, "mime"); ken_jw_str(w, x->mime);
        ken_jw_key(w, "page"); ken_jw_int(w, x->page);
        ken_jw_key(w, "ordinal"); ken_jw_int(w, x->ordinal);
        ken_jw_key(w, "start"); ken_jw_int(w, x->start);
        ken_jw_key(w, "end"); ken_jw_int(w, x->end);
        ken_jw_key(w, "snippet"); ken_jw_str(w, x->snippet);
        if (q->text) { ken_jw_key(w, "text"); ken_jw_strn(w, x->text, x->text_len); }
        ken_jw_obj_end(w);
    }
    ken_jw_arr_end(w);
    ken_jw_obj_end(w);
}

static enum MHD_Result api_search(srv_req *r) {
    search_req q = {.so = {.size = sizeof q.so}};
    ken_json_doc *d = NULL;
    enum MHD_Result res;
    bool ok = method_is(r, "POST") ? search_json(r, &q, &d, &res)
              : method_is(r, "GET") ? search_args(r, &q, &res)
                                    : (res = method_not_allowed(r), false);
    if (ok && (!q.query || !*q.query)) {
        res = srv_error(r, 400, "missing_query", "a non-empty 'query' is needed");
        ok = false;
    }
    if (ok && !ken_utf8_valid(q.query, strlen(q.query))) {
        res = srv_error(r, 400, "invalid_utf8", "the query is not valid UTF-8");
        ok = false;
    }
    srv_slot *sl = ok ? srv_slot_take(r) : NULL;
    if (ok && !sl) { res = busy(r); ok = false; }
    if (ok) {
        ken_results *rs = NULL;
        ken_status st = ken_search(sl->kb, q.query, &q.so, &rs);
        if (st) {
            res = kb_error(r, sl->kb, st);
        } else {
            ken_buf b;
            ken_buf_init(&b, 0);
            ken_jw w;
            ken_jw_init(&w, &b, 0);
            jw_results(&w, &q, rs);
            res = ken_jw_status(&w) ? (ken_buf_free(&b), srv_error(r, 500, "nomem", "out of memory"))
                                    : srv_reply_json(r, 200, &b);
        }
        ken_results_free(rs);
        srv_slot_put(r->s, sl);
    }
    ken_json_free(d);
    return res;
}

/* ------------------------------------------------------------ ask */

typedef struct {
    char *question;
    ken_ask_opts ao;
    char coll[COLLECTION_BYTES_MAX];
} ask_job;

static void ask_job_free(void *p) {
    ask_job *j = p;
    if (j) free(j->question);
    free(j);
}

/* Sends the answer text in word-sized deltas (so clients render as it
 * comes, the same events a generating model sends), then the citations. */
int srv_stream_answer(srv_stream *st, const ken_answer *a) {
    const char *t = ken_answer_text(a);
    size_t n = strlen(t), i = 0;
    ken_buf b;
    ken_buf_init(&b, 0);
    int stop = 0;
    while (i < n && !stop) {
        size_t j = i;
        while (j < n && t[j] == ' ') j++;
        while (j < n && t[j] != ' ') j++;
        ken_buf_reset(&b);
        ken_buf_puts(&b, "{\"type\":\"delta\",\"text\":\"");
        ken_json_escape(&b, t + i, j - i);
        ken_buf_puts(&b, "\"}");
        stop = srv_stream_event(st, b.data, b.len);
        i = j;
    }
    ken_buf_reset(&b);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "type"); ken_jw_str(&w, "done");
    srv_jw_answer(&w, a);
    ken_jw_obj_end(&w);
    if (!stop && !ken_jw_status(&w)) stop = srv_stream_event(st, b.data, b.len);
    ken_buf_free(&b);
    return stop;
}

static void ask_stream(srv_stream *st, void *p) {
    ask_job *j = p;
    srv *s = srv_stream_srv(st);
    srv_slot *sl = srv_slot_get(s);
    ken_answer *a = NULL;
    ken_status e = sl ? ken_ask(sl->kb, j->question, &j->ao, &a) : KEN_ERR_CANCELLED;
    if (e) {
        char msg[256];
        snprintf(msg, sizeof msg, "{\"type\":\"error\",\"error\":{\"message\":\"ask failed\","
                                  "\"type\":\"server_error\",\"code\":\"%s\"}}",
                 ken_status_str(e));
        srv_stream_event(st, msg, strlen(msg));
    } else {
        srv_stream_answer(st, a);
    }
    ken_answer_free(a);
    srv_slot_put(s, sl);
}

static enum MHD_Result api_ask(srv_req *r) {
    if (!method_is(r, "POST")) return method_not_allowed(r);
    enum MHD_Result res;
    ken_json_doc *d = srv_body_json(r, &res);
    if (!d) return res;
    const ken_json *o = ken_json_root(d);
    static const char *const fields[] = {"question", "k", "max_sentences", "min_score",
                                         "collection", "stream", "extractive", NULL};
    const char *qs = NULL, *coll = NULL, *use = NULL;
    long k = 8, ns = 3;
    double ms = 0;
    bool stream = false, extractive = false;
    if (!srv_json_fields(r, o, fields, &res) ||
        !srv_json_str(r, o, "question", r->s->o.query_bytes_max, &qs, &res) ||
        !srv_json_int(r, o, "k", 1, 100, &k, &res) ||
        !srv_json_int(r, o, "max_sentences", 1, 20, &ns, &res) ||
        !srv_json_num(r, o, "min_score", -1, 1, &ms, &res) ||
        !srv_json_str(r, o, "collection", COLLECTION_BYTES_MAX - 1, &coll, &res) ||
        !srv_json_bool(r, o, "stream", &stream, &res) ||
        !srv_json_bool(r, o, "extractive", &extractive, &res) ||
        !srv_collection(r, coll, &use, &res)) {
        ken_json_free(d);
        return res;
    }
    if (!qs || !*qs) {
        ken_json_free(d);
        return srv_error(r, 400, "missing_question", "a non-empty 'question' is needed");
    }
    if (r->s->model && !extractive) {   /* a decoder is loaded: it writes the answer */
        res = srv_ask_model(r, qs, (uint32_t)k, ms, use, stream);
        ken_json_free(d);
        return res;
    }
    ask_job *j = calloc(1, sizeof *j);
    if (j) j->question = ken_strdup(qs);
    ken_json_free(d);
    if (!j || !j->question) { ask_job_free(j); return srv_error(r, 500, "nomem", "out of memory"); }
    j->ao = (ken_ask_opts){.size = sizeof j->ao, .k = (uint32_t)k, .max_sentences = (uint32_t)ns,
                           .min_score = ms};
    if (use) { snprintf(j->coll, sizeof j->coll, "%s", use); j->ao.collection = j->coll; }
    unsigned g = srv_gen_acquire(r->s);
    if (g) {
        ask_job_free(j);
        return srv_gen_busy(r, g);
    }
    if (stream) return srv_stream_start(r, "text/event-stream", ask_stream, j, ask_job_free, true);
    srv_slot *sl = srv_slot_get(r->s);
    ken_answer *a = NULL;
    ken_status st = sl ? ken_ask(sl->kb, j->question, &j->ao, &a) : KEN_ERR_CANCELLED;
    if (st) {
        res = sl ? kb_error(r, sl->kb, st) : busy(r);
    } else {
        ken_buf b;
        ken_buf_init(&b, 0);
        ken_jw w;
        ken_jw_init(&w, &b, 0);
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "question"); ken_jw_str(&w, j->question);
        srv_jw_answer(&w, a);
        ken_jw_key(&w, "model"); ken_jw_str(&w, "ken-extractive");
        ken_jw_obj_end(&w);
        res = srv_reply_json(r, 200, &b);
    }
    ken_answer_free(a);
    srv_slot_put(r->s, sl);
    srv_gen_release(r->s);
    ask_job_free(j);
    return res;
}

/* ------------------------------------------------------------ routing */

enum MHD_Result srv_api(srv_req *r, const char *path) {
    if (strcmp(path, "/stats") == 0)
        return method_is(r, "GET") ? api_stats(r) : method_not_allowed(r);
    if (strcmp(path, "/documents") == 0) {
        if (method_is(r, "GET")) return docs_list(r);
        if (method_is(r, "POST")) return docs_add(r);
        return method_not_allowed(r);
    }
    if (strncmp(path, "/documents/", 11) == 0) return doc_show_or_delete(r, path + 11);
    if (strcmp(path, "/search") == 0) return api_search(r);
    if (strcmp(path, "/ask") == 0) return api_ask(r);
    if (strcmp(path, "/eval") == 0) return srv_api_eval(r);
    return srv_error(r, 404, "no_route", "no such endpoint");
}
