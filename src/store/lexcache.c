/* lexcache.c: the in-memory BM25 accelerator of the SQLite store (see
 * lexcache.h for what it answers and how it stays fresh).
 *
 * Index (a snapshot, immutable once built, reference-counted):
 *   chunks   sorted by rowid: rowid, length in tokens (all columns, as
 *            FTS5's xColumnSize(-1)), document index
 *   docs     collection, uri, mime (for exact filters)
 *   terms    open-addressing hash of the token bytes -> term id; per term
 *            the document frequency and its postings
 *   postings per term, in chunk order, varints: (gap << 1 | tf == 1), then
 *            tf when it is not 1 (most are 1: one byte per posting)
 *   skips    per term with more than LEX_SKIP postings, one entry per block of
 *            LEX_SKIP: the block's first chunk, the running chunk number
 *            before it and its byte offset (random access for the pruning)
 * Ranking is term at a time into a per-handle accumulator (phrases in query
 * order, so each chunk's score is summed in the same order as ken_bm25
 * sums it), then a bounded heap keeps the best k that pass the filters.
 * When the query's terms have many postings and k is small, ranking prunes
 * (MaxScore, term at a time; rank_pruned): terms are taken by decreasing
 * upper bound of their contribution, and once the bounds of the terms left
 * cannot lift an unseen chunk above the k-th score so far, the rest only
 * update the chunks that can still enter the top k, found through the skip
 * entries. The finalists are then rescored in query order, so scores and
 * ties are bit for bit those of the full ranking. */
#include "store/lexcache.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define FTS5_MAX_TOKEN_SIZE 32768         /* FTS5 truncates longer tokens to this */
#define LEX_CHUNKS_MAX ((size_t)1 << 28)
#define LEX_TERMS_MAX ((size_t)1 << 28)
#define LEX_PHRASES_MAX 256
#define LEX_RANK_BYTES_MAX 4096
#define LEX_SKIP 64                       /* postings per skip block */
#define LEX_PRUNE_MIN_POSTINGS 4096       /* fewer in all: rank every posting */
#define LEX_PRUNE_K_MAX 256               /* larger k: rank every posting */
#define LEX_PRUNE_EPS 1e-9                /* relative margin over rounding */
#define VERSION_KEY "store.lex_version"

/* ------------------------------------------------------------ BM25 pieces */

double ken_store_bm25_idf(double rows, double hits) {
    return log(1.0 + (rows - hits + 0.5) / (hits + 0.5));
}

double ken_store_bm25_norm(double k1, double b, double dl, double avgdl) {
    return k1 * (1 - b + b * dl / avgdl);
}

double ken_store_bm25_term(double w, double idf, double f, double k1, double norm) {
    return w * idf * f * (k1 + 1) / (f + norm);
}

/* ------------------------------------------------------------ triggers */

#define BUMP "BEGIN INSERT INTO config(key, value) VALUES('" VERSION_KEY "', '1')" \
             " ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1; END;"

ken_status ken_store_lexcache_triggers(sqlite3 *db, ken_err *err) {
    static const char sql[] =
        "CREATE TEMP TRIGGER IF NOT EXISTS ken_lex_ins AFTER INSERT ON main.documents " BUMP
        "CREATE TEMP TRIGGER IF NOT EXISTS ken_lex_del AFTER DELETE ON main.documents " BUMP
        "CREATE TEMP TRIGGER IF NOT EXISTS ken_lex_upd AFTER UPDATE OF collection, uri, mime,"
        " title, text ON main.documents " BUMP;
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ken_status r = KEN_OK;
    if (rc != SQLITE_OK)
        r = ken_err_set(err, KEN_ERR_STORE, "store: installing the change-counter triggers: %s",
                        msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return r;
}

/* ------------------------------------------------------------ snapshot */

typedef struct {
    uint32_t first_x;                /* chunk index of the block's first posting */
    uint32_t c_before;               /* running chunk number (index + 1) before it */
    uint64_t off;                    /* byte offset in the term's postings */
} skip_ent;

typedef struct {
    int refs;                        /* under the entry's mutex */
    int64_t version;
    uint32_t n_chunks, n_docs, n_terms;
    int64_t total_tokens, n_postings;
    double avgdl, build_s;
    size_t bytes;
    int64_t *rowid;                  /* per chunk, ascending */
    uint32_t *dl, *doc;              /* per chunk */
    uint32_t *coll, *uri, *mime;     /* per doc: offsets into strs; mime UINT32_MAX: NULL */
    bool uri_all_utf8;               /* else uri_prefix filters go to FTS5 */
    char *strs;
    uint32_t *term_str, *term_len, *term_df;
    uint64_t *post_off;              /* n_terms + 1 */
    uint8_t *post;
    uint32_t *skip_off;              /* n_terms + 1: each term's first entry in skip */
    skip_ent *skip;
    uint32_t *table, table_mask;     /* term id + 1, 0 = empty */
} snap;

static void snap_free(snap *s) {
    if (!s) return;
    free(s->rowid); free(s->dl); free(s->doc);
    free(s->coll); free(s->uri); free(s->mime);
    free(s->strs);
    free(s->term_str); free(s->term_len); free(s->term_df);
    free(s->post_off); free(s->post); free(s->skip_off); free(s->skip); free(s->table);
    free(s);
}

static uint32_t term_find(const snap *s, const char *t, size_t n) {
    if (!s->table) return UINT32_MAX;
    uint32_t h = (uint32_t)ken_hash64(t, n) & s->table_mask;
    for (;;) {
        uint32_t id = s->table[h];
        if (id == 0) return UINT32_MAX;
        id--;
        if (s->term_len[id] == n && memcmp(s->strs + s->term_str[id], t, n) == 0) return id;
        h = (h + 1) & s->table_mask;
    }
}

/* ------------------------------------------------------------ registry */

typedef struct entry {
    struct entry *next;
    dev_t dev;
    ino_t ino;
    int handles;
    pthread_mutex_t mu;
    snap *cur;
    bool building;
    int64_t failed_version;          /* a build at this version failed: do not retry */
} entry;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static entry *reg_head;

static entry *entry_get(dev_t dev, ino_t ino) {
    pthread_mutex_lock(&reg_mu);
    entry *e = reg_head;
    while (e && !(e->dev == dev && e->ino == ino)) e = e->next;
    if (!e && (e = calloc(1, sizeof *e))) {
        e->dev = dev;
        e->ino = ino;
        e->failed_version = -1;
        pthread_mutex_init(&e->mu, NULL);
        e->next = reg_head;
        reg_head = e;
    }
    if (e) e->handles++;
    pthread_mutex_unlock(&reg_mu);
    return e;
}

static void entry_put(entry *e) {
    pthread_mutex_lock(&reg_mu);
    if (--e->handles > 0) {
        pthread_mutex_unlock(&reg_mu);
        return;
    }
    for (entry **p = &reg_head; *p; p = &(*p)->next)
        if (*p == e) { *p = e->next; break; }
    pthread_mutex_unlock(&reg_mu);
    /* No handle is left, so no search holds a snapshot. */
    snap_free(e->cur);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

static void snap_release(entry *e, snap *s) {
    pthread_mutex_lock(&e->mu);
    bool gone = --s->refs == 0;
    pthread_mutex_unlock(&e->mu);
    if (gone) snap_free(s);
}

/* ------------------------------------------------------------ handle */

struct ken_store_lexcache {
    sqlite3 *db;
    entry *e;
    fts5_tokenizer tk;
    Fts5Tokenizer *tok;
    sqlite3_stmt *st_version;
    /* scratch, per query, sized to the snapshot */
    double *acc, *norm;
    uint32_t *mark, *touched, *cand, epoch, cap;
    uint64_t *bits;                /* a set of chunks, zero between uses */
    bool prune;                    /* KEN_LEXCACHE_PRUNE=0 turns pruning off */
    int64_t norm_version;
    double norm_k1, norm_b;
    /* the last rank string and its values, evaluated by SQLite like FTS5 does */
    char rank[LEX_RANK_BYTES_MAX + 1];
    double rank_val[LEX_PHRASES_MAX + 2];
    int n_rank_val;
    int64_t builds, answered, fallbacks, pruned;
    /* snippets: the last match's tokens and per-chunk scratch (snippet()) */
    struct lex_query *rank_q;      /* the query being ranked (scratch) */
    struct qtok *qt;               /* one query token (scratch, 32 KB) */
    char *snip_match;
    struct lex_query *snip_q;
    struct snip_scratch *snip;
};

static ken_status tokenizer_open(ken_store_lexcache *lc, ken_err *err) {
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(lc->db, "SELECT fts5(?1)", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_finalize(st);
    void *ud = NULL;
    if (rc == SQLITE_OK && api) rc = api->xFindTokenizer(api, "porter", &ud, &lc->tk);
    /* As FTS5 reads tokenize='porter unicode61 remove_diacritics 2'. */
    const char *args[] = {"unicode61", "remove_diacritics", "2"};
    if (rc == SQLITE_OK && api) rc = lc->tk.xCreate(ud, args, 3, &lc->tok);
    if (rc != SQLITE_OK || !api || !lc->tok)
        return ken_err_set(err, KEN_ERR_UNSUPPORTED, "store: lexcache: no FTS5 porter tokenizer");
    return KEN_OK;
}

ken_status ken_store_lexcache_open(sqlite3 *db, const char *path, ken_store_lexcache **out,
                                   ken_err *err) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ken_err_set(err, KEN_ERR_IO, "store: lexcache: cannot stat '%s'", path);
    ken_store_lexcache *lc = calloc(1, sizeof *lc);
    if (!lc) return ken_err_set(err, KEN_ERR_NOMEM, "store: lexcache: out of memory");
    lc->db = db;
    lc->norm_version = -1;
    lc->n_rank_val = -1;     /* no rank string evaluated yet */
    const char *pe = getenv("KEN_LEXCACHE_PRUNE");
    lc->prune = !(pe && strcmp(pe, "0") == 0);
    ken_status r = tokenizer_open(lc, err);
    if (!r && sqlite3_prepare_v3(db, "SELECT CAST(value AS INTEGER) FROM config WHERE key = '"
                                     VERSION_KEY "'", -1, SQLITE_PREPARE_PERSISTENT,
                                 &lc->st_version, NULL) != SQLITE_OK)
        r = ken_err_set(err, KEN_ERR_STORE, "store: lexcache: %s", sqlite3_errmsg(db));
    if (!r && !(lc->e = entry_get(sb.st_dev, sb.st_ino)))
        r = ken_err_set(err, KEN_ERR_NOMEM, "store: lexcache: out of memory");
    if (r) {
        ken_store_lexcache_close(lc);
        return r;
    }
    *out = lc;
    return KEN_OK;
}

static void snip_free(ken_store_lexcache *lc);

void ken_store_lexcache_close(ken_store_lexcache *lc) {
    if (!lc) return;
    if (lc->tok) lc->tk.xDelete(lc->tok);
    sqlite3_finalize(lc->st_version);
    if (lc->e) entry_put(lc->e);
    free(lc->acc); free(lc->norm); free(lc->mark); free(lc->touched); free(lc->cand);
    free(lc->bits);
    snip_free(lc);
    free(lc);
}

void ken_store_lexcache_stat(ken_store_lexcache *lc, ken_store_lexcache_stats *out) {
    memset(out, 0, sizeof *out);
    out->version = -1;
    out->builds = lc->builds;
    out->answered = lc->answered;
    out->fallbacks = lc->fallbacks;
    out->pruned = lc->pruned;
    pthread_mutex_lock(&lc->e->mu);
    const snap *s = lc->e->cur;
    if (s) {
        out->version = s->version;
        out->chunks = s->n_chunks;
        out->terms = s->n_terms;
        out->postings = s->n_postings;
        out->bytes = (int64_t)s->bytes;
        out->build_s = s->build_s;
    }
    pthread_mutex_unlock(&lc->e->mu);
}

/* The change counter as this connection sees it now (0 before any write). */
static ken_status read_version(ken_store_lexcache *lc, int64_t *v, ken_err *err) {
    *v = 0;
    int rc = sqlite3_step(lc->st_version);
    if (rc == SQLITE_ROW) *v = sqlite3_column_int64(lc->st_version, 0);
    sqlite3_reset(lc->st_version);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ken_err_set(err, KEN_ERR_STORE, "store: lexcache: reading the change counter: %s",
                           sqlite3_errmsg(lc->db));
    return KEN_OK;
}

/* ------------------------------------------------------------ build */

typedef struct { uint32_t term, tf; } tl_ent;

/* The index being read: chunks in read order (by document), each with its
 * (term, tf) list in tl; terms interned in a growing hash. */
typedef struct {
    ken_store_lexcache *lc;
    ken_buf strs;                        /* term bytes and document strings */
    uint32_t *term_str, *term_len, *last, *pos, *table, table_mask;
    size_t n_terms, cap_terms;
    int64_t *rowid;
    uint32_t *dl, *doc, *tl_off, *tl_n;
    size_t n_chunks, cap_chunks;
    tl_ent *tl;
    size_t n_tl, cap_tl;
    uint32_t *coll, *uri, *mime;
    size_t n_docs, cap_docs;
    bool uri_all_utf8, nomem;
    uint32_t col_tokens, cur;
    int64_t total;
} builder;

static bool resize(void *pp, size_t n, size_t elem) {
    void **p = pp;
    void *q = realloc(*p, n && elem ? n * elem : 1);
    if (!q) return false;
    *p = q;
    return true;
}

static bool table_grow(builder *b) {
    size_t size = b->table ? (size_t)b->table_mask + 1 : 1024;
    if (b->table && (b->n_terms + 1) * 2 <= size) return true;
    size_t ns = b->table ? size * 2 : size;
    uint32_t *t = calloc(ns, sizeof *t);
    if (!t) return false;
    for (size_t id = 0; id < b->n_terms; id++) {
        uint32_t h = (uint32_t)ken_hash64(b->strs.data + b->term_str[id], b->term_len[id]) &
                     (uint32_t)(ns - 1);
        while (t[h]) h = (h + 1) & (uint32_t)(ns - 1);
        t[h] = (uint32_t)id + 1;
    }
    free(b->table);
    b->table = t;
    b->table_mask = (uint32_t)(ns - 1);
    return true;
}

/* The id of token t[0..n), added when new; UINT32_MAX when out of memory. */
static uint32_t intern(builder *b, const char *t, size_t n) {
    uint32_t hash = (uint32_t)ken_hash64(t, n);
    uint32_t h = hash & b->table_mask;
    for (uint32_t id; (id = b->table[h]) != 0; h = (h + 1) & b->table_mask)
        if (b->term_len[id - 1] == n && memcmp(b->strs.data + b->term_str[id - 1], t, n) == 0)
            return id - 1;
    if (b->n_terms >= LEX_TERMS_MAX || !table_grow(b)) return UINT32_MAX;
    if (b->n_terms == b->cap_terms) {
        size_t nc = b->cap_terms ? b->cap_terms * 2 : 4096;
        if (!resize(&b->term_str, nc, 4) || !resize(&b->term_len, nc, 4) ||
            !resize(&b->last, nc, 4) || !resize(&b->pos, nc, 4))
            return UINT32_MAX;
        b->cap_terms = nc;
    }
    size_t at = b->strs.len;
    if (ken_buf_append(&b->strs, t, n)) return UINT32_MAX;
    uint32_t id = (uint32_t)b->n_terms++;
    b->term_str[id] = (uint32_t)at;
    b->term_len[id] = (uint32_t)n;
    b->last[id] = UINT32_MAX;
    h = hash & b->table_mask;
    while (b->table[h]) h = (h + 1) & b->table_mask;
    b->table[h] = id + 1;
    return id;
}

/* FTS5's tokenizer callback: counts the column's tokens as FTS5 counts them
 * for xColumnSize, and the chunk's occurrences per term. */
static int on_doc_token(void *ctx, int tflags, const char *tok, int n, int start, int end) {
    builder *b = ctx;
    (void)start; (void)end;
    if (!(tflags & FTS5_TOKEN_COLOCATED) || b->col_tokens == 0) b->col_tokens++;
    if (n > FTS5_MAX_TOKEN_SIZE) n = FTS5_MAX_TOKEN_SIZE;
    uint32_t t = intern(b, tok, (size_t)(n > 0 ? n : 0));
    if (t == UINT32_MAX) { b->nomem = true; return SQLITE_NOMEM; }
    if (b->last[t] == b->cur) {
        b->tl[b->pos[t]].tf++;
        return SQLITE_OK;
    }
    if (b->n_tl == b->cap_tl) {
        size_t nc = b->cap_tl ? b->cap_tl * 2 : 65536;
        if (nc > UINT32_MAX || !resize(&b->tl, nc, sizeof *b->tl)) {
            b->nomem = true;
            return SQLITE_NOMEM;
        }
        b->cap_tl = nc;
    }
    b->last[t] = b->cur;
    b->pos[t] = (uint32_t)b->n_tl;
    b->tl[b->n_tl++] = (tl_ent){t, 1};
    return SQLITE_OK;
}

static int tokenize_col(builder *b, const char *text, size_t n, uint32_t *dl) {
    b->col_tokens = 0;
    if (!text || n == 0) return SQLITE_OK;
    if (n > INT32_MAX) return SQLITE_TOOBIG;
    int rc = b->lc->tk.xTokenize(b->lc->tok, b, FTS5_TOKENIZE_DOCUMENT, text, (int)n,
                                 on_doc_token);
    *dl += b->col_tokens;
    return rc;
}

static uint32_t put_str(builder *b, const char *s) {
    if (!s) return UINT32_MAX;
    size_t at = b->strs.len;
    if (ken_buf_append(&b->strs, s, strlen(s) + 1)) { b->nomem = true; return 0; }
    return (uint32_t)at;
}

static int add_chunk(builder *b, int64_t rowid, const char *text, size_t len,
                     const char *heading, const char *title) {
    if (b->n_chunks >= LEX_CHUNKS_MAX) return SQLITE_TOOBIG;
    if (b->n_chunks == b->cap_chunks) {
        size_t nc = b->cap_chunks ? b->cap_chunks * 2 : 4096;
        if (!resize(&b->rowid, nc, 8) || !resize(&b->dl, nc, 4) || !resize(&b->doc, nc, 4) ||
            !resize(&b->tl_off, nc, 4) || !resize(&b->tl_n, nc, 4))
            return SQLITE_NOMEM;
        b->cap_chunks = nc;
    }
    size_t i = b->n_chunks;
    b->cur = (uint32_t)i;
    b->rowid[i] = rowid;
    b->doc[i] = (uint32_t)(b->n_docs - 1);
    b->tl_off[i] = (uint32_t)b->n_tl;
    uint32_t dl = 0;
    /* The FTS5 columns: text, heading, title. */
    int rc = tokenize_col(b, text, len, &dl);
    if (rc == SQLITE_OK) rc = tokenize_col(b, heading, heading ? strlen(heading) : 0, &dl);
    if (rc == SQLITE_OK) rc = tokenize_col(b, title, title ? strlen(title) : 0, &dl);
    b->dl[i] = dl;
    b->tl_n[i] = (uint32_t)(b->n_tl - b->tl_off[i]);
    b->total += dl;
    b->n_chunks++;
    return rc;
}

static int add_doc(builder *b, sqlite3_stmt *d) {
    if (b->n_docs == b->cap_docs) {
        size_t nc = b->cap_docs ? b->cap_docs * 2 : 1024;
        if (nc > LEX_CHUNKS_MAX || !resize(&b->coll, nc, 4) || !resize(&b->uri, nc, 4) ||
            !resize(&b->mime, nc, 4))
            return SQLITE_NOMEM;
        b->cap_docs = nc;
    }
    const char *uri = (const char *)sqlite3_column_text(d, 3);
    size_t i = b->n_docs++;
    b->coll[i] = put_str(b, (const char *)sqlite3_column_text(d, 2));
    b->uri[i] = put_str(b, uri);
    b->mime[i] = put_str(b, (const char *)sqlite3_column_text(d, 4));
    if (uri && !ken_utf8_valid(uri, strlen(uri))) b->uri_all_utf8 = false;
    return b->nomem ? SQLITE_NOMEM : SQLITE_OK;
}

/* Reads every chunk of document row d (its text read once). */
static int read_doc_chunks(builder *b, sqlite3_stmt *d, sqlite3_stmt *c) {
    const char *title = (const char *)sqlite3_column_text(d, 1);
    const char *text = (const char *)sqlite3_column_text(d, 5);
    size_t len = (size_t)sqlite3_column_bytes(d, 5);
    if (!text) text = "";
    int rc = sqlite3_bind_int64(c, 1, sqlite3_column_int64(d, 0));
    while (rc == SQLITE_OK && (rc = sqlite3_step(c)) == SQLITE_ROW) {
        int64_t start = sqlite3_column_int64(c, 1), end = sqlite3_column_int64(c, 2);
        if (start < 0 || end < start || (uint64_t)end > len) { rc = SQLITE_CORRUPT; break; }
        rc = add_chunk(b, sqlite3_column_int64(c, 0), text + start, (size_t)(end - start),
                       (const char *)sqlite3_column_text(c, 3), title);
    }
    sqlite3_reset(c);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Reads the store inside one read transaction: the counter and the chunks
 * of the same snapshot. */
static ken_status read_all(builder *b, int64_t *version, ken_err *err) {
    sqlite3 *db = b->lc->db;
    sqlite3_stmt *d = NULL, *c = NULL;
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    ken_status r = rc == SQLITE_OK ? read_version(b->lc, version, err) : KEN_OK;
    if (rc == SQLITE_OK && !r)
        rc = sqlite3_prepare_v2(db, "SELECT id, title, collection, uri, mime, text FROM documents"
                                    " ORDER BY id", -1, &d, NULL);
    if (rc == SQLITE_OK && !r)
        rc = sqlite3_prepare_v2(db, "SELECT id, start_byte, end_byte, heading FROM chunks"
                                    " WHERE doc_id = ?1", -1, &c, NULL);
    while (rc == SQLITE_OK && !r && (rc = sqlite3_step(d)) == SQLITE_ROW) {
        rc = add_doc(b, d);
        if (rc == SQLITE_OK) rc = read_doc_chunks(b, d, c);
    }
    if (!r && rc != SQLITE_DONE)
        r = ken_err_set(err, rc == SQLITE_NOMEM || b->nomem ? KEN_ERR_NOMEM : KEN_ERR_STORE,
                        "store: lexcache: reading the chunks: %s",
                        b->nomem ? "out of memory" : sqlite3_errstr(rc));
    sqlite3_finalize(d);
    sqlite3_finalize(c);
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return r;
}

static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

static uint8_t *varint_put(uint8_t *p, uint64_t v) {
    while (v >= 0x80) { *p++ = (uint8_t)(v | 0x80); v >>= 7; }
    *p++ = (uint8_t)v;
    return p;
}

typedef struct { int64_t rowid; uint32_t idx; } chunk_ord;

static uint64_t varint_get(const uint8_t **pp) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        uint8_t c = *p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) break;
    }
    *pp = p;
    return v;
}

static int cmp_ord(const void *a, const void *b) {
    int64_t x = ((const chunk_ord *)a)->rowid, y = ((const chunk_ord *)b)->rowid;
    return (x > y) - (x < y);
}

/* Postings in rowid order: a sizing pass, then the writing pass. */
static bool build_postings(builder *b, snap *s, const chunk_ord *ord) {
    uint32_t *prev = calloc(b->n_terms ? b->n_terms : 1, sizeof *prev);
    uint64_t *cur = calloc(b->n_terms + 1, sizeof *cur);
    s->term_df = calloc(b->n_terms ? b->n_terms : 1, sizeof *s->term_df);
    s->post_off = calloc(b->n_terms + 1, sizeof *s->post_off);
    bool ok = prev && cur && s->term_df && s->post_off;
    for (size_t i = 0; ok && i < b->n_chunks; i++) {
        const tl_ent *e = b->tl + b->tl_off[ord[i].idx];
        for (uint32_t j = 0; j < b->tl_n[ord[i].idx]; j++) {
            uint32_t t = e[j].term;
            uint64_t gap = (uint64_t)i + 1 - prev[t];
            prev[t] = (uint32_t)i + 1;
            cur[t + 1] += varint_len(gap << 1 | (e[j].tf == 1)) +
                          (e[j].tf == 1 ? 0 : varint_len(e[j].tf));
            s->term_df[t]++;
        }
    }
    for (size_t t = 0; ok && t < b->n_terms; t++) cur[t + 1] += cur[t];
    if (ok) memcpy(s->post_off, cur, (b->n_terms + 1) * sizeof *cur);
    ok = ok && (s->post = malloc(cur[b->n_terms] ? cur[b->n_terms] : 1));
    if (ok) memset(prev, 0, (b->n_terms ? b->n_terms : 1) * sizeof *prev);
    for (size_t i = 0; ok && i < b->n_chunks; i++) {
        const tl_ent *e = b->tl + b->tl_off[ord[i].idx];
        for (uint32_t j = 0; j < b->tl_n[ord[i].idx]; j++) {
            uint32_t t = e[j].term;
            uint64_t gap = (uint64_t)i + 1 - prev[t];
            prev[t] = (uint32_t)i + 1;
            uint8_t *p = varint_put(s->post + cur[t], gap << 1 | (e[j].tf == 1));
            if (e[j].tf != 1) p = varint_put(p, e[j].tf);
            cur[t] = (uint64_t)(p - s->post);
        }
    }
    if (ok) s->bytes += s->post_off[b->n_terms] + (b->n_terms + 1) * 8 + b->n_terms * 4;
    s->n_postings = (int64_t)b->n_tl;
    free(prev);
    free(cur);
    return ok;
}

/* Skip entries of the terms with more than LEX_SKIP postings. */
static bool build_skips(snap *s) {
    size_t n = 0;
    for (uint32_t t = 0; t < s->n_terms; t++)
        if (s->term_df[t] > LEX_SKIP) n += (s->term_df[t] + LEX_SKIP - 1) / LEX_SKIP;
    if (n >= UINT32_MAX) return false;
    s->skip_off = malloc(((size_t)s->n_terms + 1) * sizeof *s->skip_off);
    s->skip = malloc((n ? n : 1) * sizeof *s->skip);
    if (!s->skip_off || !s->skip) return false;
    uint32_t k = 0;
    for (uint32_t t = 0; t < s->n_terms; t++) {
        s->skip_off[t] = k;
        if (s->term_df[t] <= LEX_SKIP) continue;
        const uint8_t *base = s->post + s->post_off[t], *p = base, *end = s->post + s->post_off[t + 1];
        uint64_t c = 0;
        for (uint32_t j = 0; p < end; j++) {
            const uint8_t *at = p;
            uint64_t v = varint_get(&p);
            if (!(v & 1)) varint_get(&p);
            if (j % LEX_SKIP == 0)
                s->skip[k++] = (skip_ent){(uint32_t)(c + (v >> 1) - 1), (uint32_t)c,
                                          (uint64_t)(at - base)};
            c += v >> 1;
        }
    }
    s->skip_off[s->n_terms] = k;
    s->bytes += n * sizeof *s->skip + ((size_t)s->n_terms + 1) * sizeof *s->skip_off;
    return true;
}

/* Moves the builder's arrays into a snapshot, chunks sorted by rowid. */
static snap *finish(builder *b) {
    snap *s = calloc(1, sizeof *s);
    chunk_ord *ord = calloc(b->n_chunks ? b->n_chunks : 1, sizeof *ord);
    size_t n = b->n_chunks ? b->n_chunks : 1;
    bool ok = s && ord && (s->rowid = malloc(n * 8)) && (s->dl = malloc(n * 4)) &&
              (s->doc = malloc(n * 4));
    for (size_t i = 0; ok && i < b->n_chunks; i++) ord[i] = (chunk_ord){b->rowid[i], (uint32_t)i};
    if (ok) qsort(ord, b->n_chunks, sizeof *ord, cmp_ord);
    for (size_t i = 0; ok && i < b->n_chunks; i++) {
        s->rowid[i] = ord[i].rowid;
        s->dl[i] = b->dl[ord[i].idx];
        s->doc[i] = b->doc[ord[i].idx];
    }
    ok = ok && build_postings(b, s, ord);
    free(ord);
    if (ok) {
        s->n_chunks = (uint32_t)b->n_chunks;
        s->n_docs = (uint32_t)b->n_docs;
        s->n_terms = (uint32_t)b->n_terms;
    }
    ok = ok && build_skips(s);
    if (!ok) { snap_free(s); return NULL; }
    s->total_tokens = b->total;
    /* As ken_bm25 takes it from FTS5's row count and total size. */
    s->avgdl = b->n_chunks > 0 && b->total > 0 ? (double)b->total / (double)b->n_chunks : 1.0;
    s->uri_all_utf8 = b->uri_all_utf8;
    s->coll = b->coll; s->uri = b->uri; s->mime = b->mime;
    b->coll = b->uri = b->mime = NULL;
    s->term_str = b->term_str; s->term_len = b->term_len;
    b->term_str = b->term_len = NULL;
    s->table = b->table; s->table_mask = b->table_mask;
    b->table = NULL;
    s->bytes += b->strs.cap + b->n_chunks * 16 + b->n_docs * 12 + b->cap_terms * 8 +
                ((size_t)s->table_mask + 1) * 4;
    s->strs = ken_buf_take(&b->strs, NULL);
    return s;
}

static void builder_free(builder *b) {
    ken_buf_free(&b->strs);
    free(b->term_str); free(b->term_len); free(b->last); free(b->pos); free(b->table);
    free(b->rowid); free(b->dl); free(b->doc); free(b->tl_off); free(b->tl_n); free(b->tl);
    free(b->coll); free(b->uri); free(b->mime);
}

static ken_status build(ken_store_lexcache *lc, snap **out, ken_err *err) {
    *out = NULL;
    double t0 = ken_now();
    builder b;
    memset(&b, 0, sizeof b);
    b.lc = lc;
    b.uri_all_utf8 = true;
    ken_buf_init(&b.strs, UINT32_MAX);
    int64_t version = 0;
    ken_status r = table_grow(&b) ? read_all(&b, &version, err)
                                  : ken_err_set(err, KEN_ERR_NOMEM, "store: lexcache: out of memory");
    snap *s = r ? NULL : finish(&b);
    if (!r && !s) r = ken_err_set(err, KEN_ERR_NOMEM, "store: lexcache: out of memory");
    builder_free(&b);
    if (r) return r;
    s->version = version;
    s->build_s = ken_now() - t0;
    lc->builds++;
    *out = s;
    return KEN_OK;
}

/* ------------------------------------------------------------ query shape */

/* The phrases of `"a" OR "b" OR ...` (quotes doubled inside), unescaped
 * into buf as NUL-terminated strings; false for any other shape. */
static bool parse_match(const char *m, ken_buf *buf, size_t *off, size_t *n) {
    *n = 0;
    for (;;) {
        if (*m++ != '"' || *n >= LEX_PHRASES_MAX) return false;
        off[(*n)++] = buf->len;
        for (;; m++) {
            if (*m == '\0') return false;
            if (*m == '"') {
                if (m[1] != '"') break;
                m++;
            }
            if (ken_buf_putc(buf, *m)) return false;
        }
        if (ken_buf_putc(buf, '\0')) return false;
        m++;
        if (*m == '\0') return true;
        if (strncmp(m, " OR ", 4) != 0) return false;
        m += 4;
    }
}

typedef struct qtok { int n; size_t len; char tok[FTS5_MAX_TOKEN_SIZE]; } qtok;

static int on_query_token(void *ctx, int tflags, const char *tok, int n, int start, int end) {
    qtok *q = ctx;
    (void)start; (void)end;
    if (tflags & FTS5_TOKEN_COLOCATED) return SQLITE_OK;
    if (q->n++ == 0) {
        q->len = (size_t)(n < 0 ? 0 : n > FTS5_MAX_TOKEN_SIZE ? FTS5_MAX_TOKEN_SIZE : n);
        memcpy(q->tok, tok, q->len);
    }
    return SQLITE_OK;
}

/* The values of the rank's arguments as FTS5 gets them (it runs "SELECT
 * args" too), cached while the rank string repeats. */
static bool rank_values(ken_store_lexcache *lc, const char *rank) {
    if (strcmp(rank, lc->rank) == 0) return lc->n_rank_val >= 0;
    size_t n = strlen(rank);
    if (n > LEX_RANK_BYTES_MAX || n < 10 || strncasecmp(rank, "ken_bm25(", 9) != 0 ||
        rank[n - 1] != ')')
        return false;
    memcpy(lc->rank, rank, n + 1);
    lc->n_rank_val = -1;
    const char *args = rank + 9;
    size_t alen = n - 10;
    bool blank = true;
    for (size_t i = 0; i < alen; i++) blank &= args[i] == ' ';
    if (blank) { lc->n_rank_val = 0; return true; }
    char sql[LEX_RANK_BYTES_MAX + 16];
    snprintf(sql, sizeof sql, "SELECT %.*s", (int)alen, args);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(lc->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_count(st) <= (int)KEN_ARRAY_LEN(lc->rank_val)) {
        lc->n_rank_val = sqlite3_column_count(st);
        for (int i = 0; i < lc->n_rank_val; i++) lc->rank_val[i] = sqlite3_column_double(st, i);
    }
    sqlite3_finalize(st);
    return lc->n_rank_val >= 0;
}

/* A prepared query: k1, b, and per phrase its token and weight. */
typedef struct lex_query {
    double k1, b;
    size_t n;
    double w[LEX_PHRASES_MAX];
    const char *tok[LEX_PHRASES_MAX];
    size_t len[LEX_PHRASES_MAX];
    ken_buf toks;
} lex_query;

/* The tokens of match's phrases into lq (n, tok, len, toks); false when
 * match is not `"a" OR "b" ...` of one token each. */
static bool match_tokens(ken_store_lexcache *lc, const char *match, lex_query *lq, qtok *qt) {
    ken_buf phr;
    ken_buf_init(&phr, 1 << 20);
    size_t off[LEX_PHRASES_MAX], toff[LEX_PHRASES_MAX];
    bool ok = parse_match(match, &phr, off, &lq->n);
    for (size_t i = 0; ok && i < lq->n; i++) {
        const char *p = phr.data + off[i];
        size_t plen = strlen(p);
        qt->n = 0;
        ok = plen <= INT32_MAX &&
             lc->tk.xTokenize(lc->tok, qt, FTS5_TOKENIZE_QUERY, p, (int)plen,
                              on_query_token) == SQLITE_OK &&
             qt->n == 1;   /* 0 tokens or a real phrase (adjacency): FTS5 */
        toff[i] = lq->toks.len;
        lq->len[i] = qt->len;
        if (ok) ok = ken_buf_append(&lq->toks, qt->tok, qt->len) == KEN_OK &&
                     ken_buf_putc(&lq->toks, '\0') == KEN_OK;
    }
    for (size_t i = 0; ok && i < lq->n; i++) lq->tok[i] = lq->toks.data + toff[i];
    ken_buf_free(&phr);
    return ok;
}

/* Whether the accelerator answers q exactly; fills lq. */
static bool query_prepare(ken_store_lexcache *lc, const ken_store_search_q *q, lex_query *lq,
                          qtok *qt) {
    if (q->limit <= 0 || q->meta_path || !q->match) return false;
    if (q->uri_prefix && *q->uri_prefix && !ken_utf8_valid(q->uri_prefix, strlen(q->uri_prefix)))
        return false;
    if (!rank_values(lc, q->rank ? q->rank : "ken_bm25(1.2, 0.75)")) return false;
    const double *v = lc->rank_val;
    int nv = lc->n_rank_val;
    lq->k1 = nv > 0 ? v[0] : 1.2;
    lq->b = nv > 1 ? v[1] : 0.75;
    if (!(lq->k1 >= 0 && lq->k1 <= 100) || !(lq->b >= 0 && lq->b <= 1)) return false;
    if (!match_tokens(lc, q->match, lq, qt)) return false;
    for (size_t i = 0; i < lq->n; i++) lq->w[i] = 2 + (int)i < nv ? v[2 + i] : 1.0;
    return true;
}

/* ------------------------------------------------------------ ranking */

static bool scratch(ken_store_lexcache *lc, uint32_t n) {
    if (lc->cap >= n && lc->acc) return true;
    size_t c = n ? n : 1;
    if (!resize(&lc->acc, c, sizeof(double)) || !resize(&lc->norm, c, sizeof(double)) ||
        !resize(&lc->touched, c, 4) || !resize(&lc->mark, c, 4) || !resize(&lc->cand, c, 4) ||
        !resize(&lc->bits, (c + 63) / 64, 8))
        return false;
    memset(lc->mark, 0, c * 4);
    memset(lc->bits, 0, (c + 63) / 64 * 8);
    lc->epoch = 0;
    lc->cap = (uint32_t)c;
    lc->norm_version = -1;
    return true;
}

/* Contributions of a batch of postings: out[i] = ken_store_bm25_term(w,
 * idf, f[i], k1, norm[x[i]]). The SSE2 form computes each lane with the
 * same operations in the same order as the scalar function (((w·idf)·f)·
 * (k1+1)) / (f + norm): IEEE results, bit for bit (test_store_lexcache
 * checks them against FTS5's ken_bm25), two divisions per instruction. */
static void contrib(double w, double idf, double k1, const double *f, const uint32_t *x,
                    const double *norm, double *out, int m) {
    int i = 0;
#ifdef __SSE2__
    __m128d wi = _mm_set1_pd(w * idf), k1p = _mm_set1_pd(k1 + 1);
    for (; i + 2 <= m; i += 2) {
        __m128d fv = _mm_loadu_pd(f + i);
        __m128d nv = _mm_set_pd(norm[x[i + 1]], norm[x[i]]);
        __m128d num = _mm_mul_pd(_mm_mul_pd(wi, fv), k1p);
        _mm_storeu_pd(out + i, _mm_div_pd(num, _mm_add_pd(fv, nv)));
    }
#endif
    for (; i < m; i++) out[i] = ken_store_bm25_term(w, idf, f[i], k1, norm[x[i]]);
}

/* The length normalizations of every chunk for lq's k1 and b (kept while
 * the snapshot and the parameters stay), and a fresh epoch for mark. */
static void ranking_begin(ken_store_lexcache *lc, const snap *s, const lex_query *lq) {
    if (lc->norm_version != s->version || lc->norm_k1 != lq->k1 || lc->norm_b != lq->b) {
        for (uint32_t i = 0; i < s->n_chunks; i++)
            lc->norm[i] = ken_store_bm25_norm(lq->k1, lq->b, (double)s->dl[i], s->avgdl);
        lc->norm_version = s->version;
        lc->norm_k1 = lq->k1;
        lc->norm_b = lq->b;
    }
    if (++lc->epoch == 0) {
        memset(lc->mark, 0, (size_t)lc->cap * 4);
        lc->epoch = 1;
    }
}

/* Adds every posting of term t (weight w, unused when NaN) to the
 * accumulators, touching new chunks; returns the new number touched.
 * Postings are decoded in batches whose contributions are computed
 * together (contrib). */
static uint32_t add_term(ken_store_lexcache *lc, const snap *s, uint32_t t, double w, double idf,
                         double k1, uint32_t nt) {
    enum { BATCH = 256 };
    uint32_t xs[BATCH], ep = lc->epoch;
    double fs[BATCH], cs[BATCH];
    bool use = w == w;
    const uint8_t *p = s->post + s->post_off[t], *end = s->post + s->post_off[t + 1];
    uint64_t c = 0;
    while (p < end) {
        int m = 0;
        for (; p < end && m < BATCH; m++) {
            uint64_t v = varint_get(&p);
            fs[m] = (double)(v & 1 ? 1 : varint_get(&p));
            c += v >> 1;
            xs[m] = (uint32_t)(c - 1);
        }
        if (use) contrib(w, idf, k1, fs, xs, lc->norm, cs, m);
        for (int j = 0; j < m; j++) {
            uint32_t x = xs[j];
            if (lc->mark[x] != ep) {
                lc->mark[x] = ep;
                lc->acc[x] = 0;
                lc->touched[nt++] = x;
            }
            if (use) lc->acc[x] += cs[j];
        }
    }
    return nt;
}

/* Term at a time: each chunk's score summed phrase by phrase in query
 * order, exactly as ken_bm25 sums it. Returns the number of chunks touched. */
static uint32_t accumulate(ken_store_lexcache *lc, const snap *s, const lex_query *lq) {
    ranking_begin(lc, s, lq);
    uint32_t nt = 0;
    for (size_t i = 0; i < lq->n; i++) {
        uint32_t t = term_find(s, lq->tok[i], lq->len[i]);
        if (t == UINT32_MAX) continue;
        nt = add_term(lc, s, t, lq->w[i], ken_store_bm25_idf((double)s->n_chunks,
                                                              (double)s->term_df[t]), lq->k1, nt);
    }
    return nt;
}

static bool pass(const snap *s, uint32_t x, const ken_store_search_q *q) {
    if (!q->collection && !(q->uri_prefix && *q->uri_prefix) && !q->mime) return true;
    uint32_t d = s->doc[x];
    if (q->collection && strcmp(s->strs + s->coll[d], q->collection) != 0) return false;
    if (q->uri_prefix && *q->uri_prefix &&
        strncmp(s->strs + s->uri[d], q->uri_prefix, strlen(q->uri_prefix)) != 0)
        return false;
    if (q->mime && (s->mime[d] == UINT32_MAX || strcmp(s->strs + s->mime[d], q->mime) != 0))
        return false;
    return true;
}

/* Best first: higher score, then lower chunk id (the FTS5 path's order). */
static bool better(const ken_store_lexrow *a, const ken_store_lexrow *b) {
    return a->score > b->score || (a->score == b->score && a->id < b->id);
}

static int cmp_rows(const void *a, const void *b) {
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* heap[0] is the worst kept row. */
static void sift_down(ken_store_lexrow *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(&h[w], &h[l])) w = l;
        if (r < n && better(&h[w], &h[r])) w = r;
        if (w == i) return;
        ken_store_lexrow t = h[i]; h[i] = h[w]; h[w] = t;
        i = w;
    }
}

static void sift_up(ken_store_lexrow *h, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!better(&h[p], &h[i])) return;
        ken_store_lexrow t = h[i]; h[i] = h[p]; h[p] = t;
        i = p;
    }
}

/* The best k of the chunks xs[0..n) by acc (those failing q's filters
 * skipped when check is set), best first, into a malloc'd array. */
static ken_status top_k(ken_store_lexcache *lc, const snap *s, const uint32_t *xs, uint32_t n,
                        bool check, const ken_store_search_q *q, ken_store_lexrow **rows,
                        size_t *out_n, ken_err *err) {
    size_t k = (uint64_t)q->limit < n ? (size_t)q->limit : n;
    ken_store_lexrow *h = malloc((k ? k : 1) * sizeof *h);
    if (!h) return ken_err_set(err, KEN_ERR_NOMEM, "store: lexcache: out of memory");
    size_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t x = xs[i];
        if (check && !pass(s, x, q)) continue;
        ken_store_lexrow r = {s->rowid[x], lc->acc[x]};
        if (m < k) {
            h[m] = r;
            sift_up(h, m++);
        } else if (k && better(&r, &h[0])) {
            h[0] = r;
            sift_down(h, m, 0);
        }
    }
    qsort(h, m, sizeof *h, cmp_rows);
    *rows = h;
    *out_n = m;
    return KEN_OK;
}

/* ------------------------------------------------------------ pruning */

/* Reads one term's postings at increasing chunk indexes, jumping over
 * blocks through the skip entries. */
typedef struct {
    const uint8_t *base, *p, *end;
    const skip_ent *sk;
    uint32_t n_sk, blk;
    uint64_t c;                      /* running chunk number of the last posting read */
    uint32_t x, f;                   /* the last posting read; x UINT32_MAX past the end */
    bool started;
} cursor;

static void cursor_init(cursor *cu, const snap *s, uint32_t t) {
    memset(cu, 0, sizeof *cu);
    cu->base = cu->p = s->post + s->post_off[t];
    cu->end = s->post + s->post_off[t + 1];
    cu->sk = s->skip + s->skip_off[t];
    cu->n_sk = s->skip_off[t + 1] - s->skip_off[t];
}

/* The term frequency of chunk x (0: not in the postings); x must not
 * decrease from call to call. */
static uint32_t cursor_tf(cursor *cu, uint32_t x) {
    if (cu->started && cu->x >= x) return cu->x == x ? cu->f : 0;
    uint32_t b = cu->blk;
    while (b + 1 < cu->n_sk && cu->sk[b + 1].first_x <= x) b++;
    if (b != cu->blk) {
        cu->blk = b;
        if (!cu->started || cu->sk[b].first_x > cu->x) {   /* the block lies ahead */
            cu->p = cu->base + cu->sk[b].off;
            cu->c = cu->sk[b].c_before;
        }
    }
    cu->started = true;
    while (cu->p < cu->end) {
        uint64_t v = varint_get(&cu->p);
        cu->f = v & 1 ? 1 : (uint32_t)varint_get(&cu->p);
        cu->c += v >> 1;
        cu->x = (uint32_t)(cu->c - 1);
        if (cu->x >= x) return cu->x == x ? cu->f : 0;
    }
    cu->x = UINT32_MAX;
    return 0;
}

/* The k-th largest acc among xs[0..n) (filtered when check), or -1 when
 * fewer than k. k <= LEX_PRUNE_K_MAX. */
static double kth_best(const ken_store_lexcache *lc, const snap *s, const uint32_t *xs,
                       uint32_t n, bool check, const ken_store_search_q *q, size_t k) {
    double h[LEX_PRUNE_K_MAX];       /* min-heap of the k best */
    size_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (check && !pass(s, xs[i], q)) continue;
        double v = lc->acc[xs[i]];
        if (m < k) {
            size_t j = m++;
            for (; j > 0 && h[(j - 1) / 2] > v; j = (j - 1) / 2) h[j] = h[(j - 1) / 2];
            h[j] = v;
        } else if (v > h[0]) {
            size_t j = 0;
            for (;;) {
                size_t l = 2 * j + 1, r = l + 1, w = j;
                double wv = v;
                if (l < m && h[l] < wv) { w = l; wv = h[l]; }
                if (r < m && h[r] < wv) w = r;
                if (w == j) break;
                h[j] = h[w];
                j = w;
            }
            h[j] = v;
        }
    }
    return m == k ? h[0] : -1;
}

/* Whether an upper bound `bound` can still reach score `theta` (both sums
 * of non-negative terms, compared with a margin over their rounding). */
static bool reaches(double bound, double theta) {
    return bound * (1 + LEX_PRUNE_EPS) >= theta * (1 - LEX_PRUNE_EPS);
}

/* Ranks q with pruning when it pays and applies (weights finite and >= 0,
 * k small, many postings); returns false to leave it to the full ranking.
 *
 * Every contribution of term i lies in [0, ub_i], ub_i = w_i·idf_i·(k1+1)
 * (f/(f+norm) < 1). Terms go by decreasing ub. While the bounds of the
 * terms left (R) can still reach the k-th score among the chunks touched
 * (theta; partial sums only grow), a term adds all its postings; after
 * that no untouched chunk can enter the top k, and the terms left only
 * update the touched chunks whose score + R still reaches theta (their
 * postings read through the skip entries), theta rising and the
 * candidates thinning after each. The finalists (score reaching
 * the k-th best) are rescored in query order with the arithmetic of the
 * full ranking, and the top k taken from them: the same rows and the
 * same scores, bit for bit. */
static bool rank_pruned(ken_store_lexcache *lc, const snap *s, const lex_query *lq,
                        const ken_store_search_q *q, ken_store_lexrow **rows, size_t *n,
                        ken_status *st, ken_err *err) {
    if (!lc->prune || q->limit > LEX_PRUNE_K_MAX || lq->n < 2) return false;
    uint32_t tid[LEX_PHRASES_MAX];
    double idf[LEX_PHRASES_MAX], ub[LEX_PHRASES_MAX], rest[LEX_PHRASES_MAX + 1];
    size_t ord[LEX_PHRASES_MAX], m = 0;
    uint64_t postings = 0;
    for (size_t i = 0; i < lq->n; i++) {
        tid[i] = term_find(s, lq->tok[i], lq->len[i]);
        if (tid[i] == UINT32_MAX) continue;
        double w = lq->w[i];
        if (!(w >= 0) || !isfinite(w)) return false;
        idf[i] = ken_store_bm25_idf((double)s->n_chunks, (double)s->term_df[tid[i]]);
        ub[i] = w * idf[i] * (lq->k1 + 1);
        postings += s->term_df[tid[i]];
        /* insertion by decreasing bound (stable) */
        size_t j = m++;
        for (; j > 0 && ub[ord[j - 1]] < ub[i]; j--) ord[j] = ord[j - 1];
        ord[j] = i;
    }
    if (m < 2 || postings < LEX_PRUNE_MIN_POSTINGS) return false;
    rest[m] = 0;
    for (size_t j = m; j-- > 0;) rest[j] = rest[j + 1] + ub[ord[j]];
    const bool check = q->collection || (q->uri_prefix && *q->uri_prefix) || q->mime;
    const size_t k = (size_t)q->limit;
    ranking_begin(lc, s, lq);
    uint32_t nt = 0;
    double theta = -1;
    size_t j = 0;
    for (; j < m; j++) {
        if (theta > 0 && !reaches(rest[j], theta)) break;
        size_t i = ord[j];
        nt = add_term(lc, s, tid[i], lq->w[i], idf[i], lq->k1, nt);
        if (j + 1 < m) theta = kth_best(lc, s, lc->touched, nt, check, q, k);
    }
    /* the candidates: touched, passing, and able to reach theta; in chunk
     * order (through the bit set) for the cursors */
    for (uint32_t i = 0; i < nt; i++) {
        uint32_t x = lc->touched[i];
        if (check && !pass(s, x, q)) continue;
        if (j < m && !reaches(lc->acc[x] + rest[j], theta)) continue;
        lc->bits[x >> 6] |= (uint64_t)1 << (x & 63);
    }
    uint32_t nc = 0;
    for (uint32_t wi = 0; wi < (s->n_chunks + 63) / 64; wi++) {
        uint64_t b = lc->bits[wi];
        if (!b) continue;
        lc->bits[wi] = 0;
        for (; b; b &= b - 1) lc->cand[nc++] = wi * 64 + (uint32_t)__builtin_ctzll(b);
    }
    for (; j < m; j++) {
        size_t i = ord[j];
        cursor cu;
        cursor_init(&cu, s, tid[i]);
        for (uint32_t c = 0; c < nc; c++) {
            uint32_t x = lc->cand[c], f = cursor_tf(&cu, x);
            if (f) lc->acc[x] += ken_store_bm25_term(lq->w[i], idf[i], (double)f, lq->k1, lc->norm[x]);
        }
        /* theta only grows: drop the candidates that can no longer reach it */
        double th = j + 1 < m ? kth_best(lc, s, lc->cand, nc, false, q, k) : -1;
        if (th > 0) {
            uint32_t kept = 0;
            for (uint32_t c = 0; c < nc; c++)
                if (reaches(lc->acc[lc->cand[c]] + rest[j + 1], th)) lc->cand[kept++] = lc->cand[c];
            nc = kept;
        }
    }
    /* the finalists, rescored in query order */
    double kth = kth_best(lc, s, lc->cand, nc, false, q, k);
    uint32_t nf = 0;
    for (uint32_t c = 0; c < nc; c++)
        if (kth < 0 || reaches(lc->acc[lc->cand[c]], kth)) lc->cand[nf++] = lc->cand[c];
    for (uint32_t c = 0; c < nf; c++) lc->acc[lc->cand[c]] = 0;
    for (size_t i = 0; i < lq->n; i++) {
        if (tid[i] == UINT32_MAX) continue;
        cursor cu;
        cursor_init(&cu, s, tid[i]);
        for (uint32_t c = 0; c < nf; c++) {
            uint32_t x = lc->cand[c], f = cursor_tf(&cu, x);
            if (f) lc->acc[x] += ken_store_bm25_term(lq->w[i], idf[i], (double)f, lq->k1, lc->norm[x]);
        }
    }
    *st = top_k(lc, s, lc->cand, nf, false, q, rows, n, err);
    lc->pruned++;
    return true;
}

/* The current snapshot for counter value v, built when missing; NULL when
 * FTS5 should answer (another thread builds, or a build failed). */
static ken_status acquire(ken_store_lexcache *lc, int64_t v, snap **out, ken_err *err) {
    entry *e = lc->e;
    *out = NULL;
    pthread_mutex_lock(&e->mu);
    if (e->cur && e->cur->version == v) {
        e->cur->refs++;
        *out = e->cur;
    }
    bool mine = !*out && !e->building && e->failed_version != v;
    if (mine) e->building = true;
    pthread_mutex_unlock(&e->mu);
    if (!mine) return KEN_OK;
    snap *s = NULL;
    ken_err berr;
    ken_status r = build(lc, &s, &berr);
    snap *old = NULL;
    pthread_mutex_lock(&e->mu);
    e->building = false;
    if (r) {
        e->failed_version = v;
    } else {
        if (e->cur && --e->cur->refs == 0) old = e->cur;
        e->cur = s;
        s->refs = 2;      /* the entry's and ours */
        *out = s;
    }
    pthread_mutex_unlock(&e->mu);
    snap_free(old);
    /* FTS5 can still answer: a failed build is logged, not returned. */
    if (r) ken_log(KEN_LOG_WARN, "%s (searches use FTS5 until the store changes)", berr.msg);
    (void)err;
    return KEN_OK;
}

ken_status ken_store_lexcache_rank(ken_store_lexcache *lc, const ken_store_search_q *q,
                                   ken_store_lexrow **rows, size_t *n, ken_err *err) {
    *rows = NULL;
    *n = 0;
    /* Kept by the handle between queries (no allocation per search). */
    if (!lc->rank_q && (lc->rank_q = calloc(1, sizeof *lc->rank_q)))
        ken_buf_init(&lc->rank_q->toks, 1 << 22);
    if (!lc->qt) lc->qt = malloc(sizeof *lc->qt);
    if (!lc->rank_q || !lc->qt)
        return ken_err_set(err, KEN_ERR_NOMEM, "store: lexcache: out of memory");
    lex_query *lq = lc->rank_q;
    qtok *qt = lc->qt;
    lq->toks.len = 0;
    int64_t v = 0;
    snap *s = NULL;
    ken_status r = KEN_ERR_UNSUPPORTED;
    /* Inside a transaction the handle may see its own uncommitted writes. */
    if (sqlite3_get_autocommit(lc->db) && query_prepare(lc, q, lq, qt)) {
        r = read_version(lc, &v, err);
        if (!r) r = acquire(lc, v, &s, err);
        if (!r && !s) r = KEN_ERR_UNSUPPORTED;
    }
    if (!r && !scratch(lc, s->n_chunks))
        r = ken_err_set(err, KEN_ERR_NOMEM, "store: lexcache: out of memory");
    if (!r && !rank_pruned(lc, s, lq, q, rows, n, &r, err)) {
        uint32_t nt = accumulate(lc, s, lq);
        r = top_k(lc, s, lc->touched, nt, true, q, rows, n, err);
    }
    if (s) snap_release(lc->e, s);
    if (r == KEN_ERR_UNSUPPORTED) lc->fallbacks++;
    else if (!r) lc->answered++;
    return r;
}

/* ------------------------------------------------------------ snippets */

/* FTS5's snippet() recomputed from the chunk text, so that a search the
 * accelerator ranked needs no FTS5 query at all (snippet() makes FTS5 load
 * the doclists of every query term for each winner, and read the chunk's
 * document twice through the content view: ~2/3 of a server search). The
 * algorithm is FTS5's (fts5_aux.c, snippet and highlight), restated for
 * queries of single-token phrases, whose instances never overlap:
 *   - instances: positions of column 0 whose token equals a phrase's token,
 *     ordered by position, then phrase (FTS5's xInst order);
 *   - a window of n tokens starting at p scores 1000 per phrase seen in it
 *     and 1 per repeat; for each instance, the window starting there (its
 *     start then centred on the instances it holds, clamped to the text) and
 *     the window starting at the instance's sentence (+120 for the first
 *     sentence, +100 for another) compete; the first best wins;
 *   - sentences start at token 0 and at a token preceded by whitespace
 *     preceded by '.' or ':';
 *   - the window's text is copied with the marks around each instance, an
 *     ellipsis before when it does not start at token 0 and after when it
 *     does not reach the last token.
 * test_store_lexcache compares the two on every query it runs. */

typedef struct { int pos, phrase; } snip_inst;

typedef struct snip_scratch {
    const struct lex_query *q;
    const char *text;
    int n_tok;
    int *start, *end;               /* per token: byte range */
    size_t cap_tok;
    snip_inst *inst;
    size_t n_inst, cap_inst;
    int *first;                     /* first token of each sentence */
    size_t n_first, cap_first;
    uint8_t seen[LEX_PHRASES_MAX];
} snip_scratch;

static void snip_free(ken_store_lexcache *lc) {
    if (lc->snip) {
        free(lc->snip->start); free(lc->snip->end); free(lc->snip->inst); free(lc->snip->first);
    }
    if (lc->snip_q) ken_buf_free(&lc->snip_q->toks);
    if (lc->rank_q) ken_buf_free(&lc->rank_q->toks);
    free(lc->snip); free(lc->snip_q); free(lc->snip_match); free(lc->rank_q); free(lc->qt);
}

static bool push(void *pp, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t c = *cap ? *cap * 2 : 256;
    if (!resize(pp, c, elem)) return false;
    *cap = c;
    return true;
}

static int on_snip_token(void *ctx, int tflags, const char *tok, int n, int start, int end) {
    snip_scratch *c = ctx;
    if (tflags & FTS5_TOKEN_COLOCATED) return SQLITE_OK;
    int pos = c->n_tok;
    size_t np = (size_t)pos;
    if (pos == INT32_MAX) return SQLITE_TOOBIG;
    if (np == c->cap_tok) {        /* start[] and end[] share one capacity */
        size_t cap = np ? np * 2 : 256;
        if (!resize(&c->start, cap, sizeof(int)) || !resize(&c->end, cap, sizeof(int)))
            return SQLITE_NOMEM;
        c->cap_tok = cap;
    }
    c->start[pos] = start;
    c->end[pos] = end;
    bool sentence = pos == 0;
    if (pos > 0) {
        int i = start - 1;
        while (i >= 0 && (c->text[i] == ' ' || c->text[i] == '\t' || c->text[i] == '\n' ||
                          c->text[i] == '\r'))
            i--;
        sentence = i != start - 1 && i >= 0 && (c->text[i] == '.' || c->text[i] == ':');
    }
    if (sentence) {
        if (!push(&c->first, &c->cap_first, c->n_first, sizeof(int))) return SQLITE_NOMEM;
        c->first[c->n_first++] = pos;
    }
    size_t len = (size_t)(n < 0 ? 0 : n > FTS5_MAX_TOKEN_SIZE ? FTS5_MAX_TOKEN_SIZE : n);
    for (size_t ip = 0; ip < c->q->n; ip++) {
        if (c->q->len[ip] != len || memcmp(c->q->tok[ip], tok, len) != 0) continue;
        if (!push(&c->inst, &c->cap_inst, c->n_inst, sizeof(snip_inst))) return SQLITE_NOMEM;
        c->inst[c->n_inst++] = (snip_inst){pos, (int)ip};
    }
    c->n_tok++;
    return SQLITE_OK;
}

/* Score of the window of ntok tokens starting at ipos; *adj (when given)
 * the start FTS5 moves it to, centred on the instances inside. */
static int snip_score(snip_scratch *c, int ipos, int ntok, int *adj) {
    memset(c->seen, 0, c->q->n);
    size_t lo = 0, hi = c->n_inst;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->inst[mid].pos < ipos) lo = mid + 1;
        else hi = mid;
    }
    int64_t iend = (int64_t)ipos + ntok;
    int score = 0, ifirst = -1, ilast = 0;
    for (size_t i = lo; i < c->n_inst && c->inst[i].pos < iend; i++) {
        score += c->seen[c->inst[i].phrase] ? 1 : 1000;
        c->seen[c->inst[i].phrase] = 1;
        if (ifirst < 0) ifirst = c->inst[i].pos;
        ilast = c->inst[i].pos + 1;
    }
    if (adj) {
        int64_t a = ifirst - (ntok - (ilast - ifirst)) / 2;
        if (a + ntok > c->n_tok) a = (int64_t)c->n_tok - ntok;
        *adj = a < 0 ? 0 : (int)a;
    }
    return score;
}

/* The first token of the best window (FTS5's choice, see above). */
static int snip_best(snip_scratch *c, int ntok) {
    int best = 0, best_start = 0;
    for (size_t ii = 0; ii < c->n_inst; ii++) {
        int io = c->inst[ii].pos, adj;
        int sc = snip_score(c, io, ntok, &adj);
        if (sc > best) { best = sc; best_start = adj; }
        if (c->n_first && c->n_tok > ntok) {
            size_t jj = 0;
            while (jj + 1 < c->n_first && c->first[jj + 1] <= io) jj++;
            if (c->first[jj] < io) {
                sc = snip_score(c, c->first[jj], ntok, NULL) + (c->first[jj] == 0 ? 120 : 100);
                if (sc > best) { best = sc; best_start = c->first[jj]; }
            }
        }
    }
    return best_start;
}

/* Copies the window [from, from + ntok) with marks, as FTS5's highlight
 * callback does token by token. */
static ken_status snip_emit(const snip_scratch *c, size_t len, int from, int ntok,
                            const char *open, const char *close, const char *ellips,
                            ken_buf *out) {
    const char *t = c->text;
    int range_end = from + ntok - 1;
    size_t ii = 0;                           /* next instance at or after from */
    while (ii < c->n_inst && c->inst[ii].pos < from) ii++;
    int it = ii < c->n_inst ? c->inst[ii].pos : -1;   /* coalesced: one position */
    int off = 0;
    bool opened = false;
    ken_status r = from > 0 ? ken_buf_puts(out, ellips) : KEN_OK;
    for (int pos = from; !r && pos <= range_end && pos < c->n_tok; pos++) {
        int so = c->start[pos], eo = c->end[pos];
        if (from && pos == from) off = so;
        if (opened && (pos <= it || it < 0) && so > off) {
            r = ken_buf_puts(out, close);
            opened = false;
        }
        if (!r && pos == it && !opened) {
            r = ken_buf_append(out, t + off, (size_t)(so - off));
            if (!r) r = ken_buf_puts(out, open);
            off = so;
            opened = true;
        }
        if (!r && pos == it) {
            r = ken_buf_append(out, t + off, (size_t)(eo - off));
            off = eo;
            while (ii < c->n_inst && c->inst[ii].pos == pos) ii++;
            it = ii < c->n_inst ? c->inst[ii].pos : -1;
        }
        if (!r && pos == range_end) {
            if (opened) {
                if (it >= 0 && pos >= it) {
                    r = ken_buf_append(out, t + off, (size_t)(eo - off));
                    off = eo;
                }
                if (!r) r = ken_buf_puts(out, close);
                opened = false;
            }
            if (!r && eo > off) r = ken_buf_append(out, t + off, (size_t)(eo - off));
            if (eo > off) off = eo;
        }
    }
    if (!r && opened) r = ken_buf_puts(out, close);
    if (!r && range_end >= c->n_tok - 1) r = ken_buf_append(out, t + off, len - (size_t)off);
    else if (!r) r = ken_buf_puts(out, ellips);
    return r;
}

ken_status ken_store_lexcache_snippet(ken_store_lexcache *lc, const char *match,
                                      const char *text, size_t len, const char *open,
                                      const char *close, const char *ellips, int ntok,
                                      ken_buf *out, ken_err *err) {
    if (!match || len > INT32_MAX || ntok < 1) return KEN_ERR_UNSUPPORTED;
    if (!lc->snip_q && !(lc->snip_q = calloc(1, sizeof *lc->snip_q)))
        return ken_err_set(err, KEN_ERR_NOMEM, "store: snippet: out of memory");
    if (!lc->snip && !(lc->snip = calloc(1, sizeof *lc->snip)))
        return ken_err_set(err, KEN_ERR_NOMEM, "store: snippet: out of memory");
    if (!lc->snip_match || strcmp(lc->snip_match, match) != 0) {
        free(lc->snip_match);
        lc->snip_match = NULL;
        ken_buf_free(&lc->snip_q->toks);
        ken_buf_init(&lc->snip_q->toks, 1 << 22);
        if (!lc->qt && !(lc->qt = malloc(sizeof *lc->qt)))
            return ken_err_set(err, KEN_ERR_NOMEM, "store: snippet: out of memory");
        if (!match_tokens(lc, match, lc->snip_q, lc->qt)) return KEN_ERR_UNSUPPORTED;
        if (!(lc->snip_match = strdup(match)))
            return ken_err_set(err, KEN_ERR_NOMEM, "store: snippet: out of memory");
    }
    snip_scratch *c = lc->snip;
    c->q = lc->snip_q;
    c->text = text;
    c->n_tok = 0;
    c->n_inst = c->n_first = 0;
    int rc = lc->tk.xTokenize(lc->tok, c, FTS5_TOKENIZE_AUX, text, (int)len, on_snip_token);
    if (rc != SQLITE_OK)
        return ken_err_set(err, rc == SQLITE_NOMEM ? KEN_ERR_NOMEM : KEN_ERR_STORE,
                           "store: snippet: %s", sqlite3_errstr(rc));
    int from = snip_best(c, ntok);
    if (snip_emit(c, len, from, ntok, open ? open : "", close ? close : "", ellips ? ellips : "",
                  out))
        return ken_err_set(err, KEN_ERR_NOMEM, "store: snippet: out of memory");
    return KEN_OK;
}
