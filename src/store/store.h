/* store.h: the knowledge store interface. Callers (src/kb, later retrieve,
 * memory, graph, ...) talk to a ken_store through this table of operations,
 * so that the SQLite backend (sqlite.c, the embedded default) and a
 * PostgreSQL backend implement the same thing and callers never change.
 *
 * Data model
 *   source   one ingested input: a file (uri = absolute path), stdin, a buffer.
 *            Holds the hash/mtime/size of the raw bytes for incremental adds.
 *   document one logical document of a source (a file is one document; a
 *            JSONL file holds one per line). Identified within a collection
 *            by its key: the external id if it has one, else its uri. Holds
 *            the normalized text (UTF-8 NFC) that chunk spans point into.
 *   chunk    a span [start, end) of the document text, with heading path,
 *            page, token estimate and its text (= text[start..end)).
 *   An FTS5 index over chunks is kept in sync in the same transaction.
 *
 * Atomicity: doc_put replaces a document and all its chunks inside the
 * current transaction; callers group many documents per transaction with
 * begin/commit for speed, and after a crash the store holds every document
 * either in its old or its new version. Without begin, doc_put is its own
 * transaction. Inside one, invalid input (spans, UTF-8, meta JSON, unknown
 * source, limits) is refused before anything is written and the transaction
 * goes on; a failure after writing began (I/O, disk full, corruption) rolls
 * back the whole transaction (the message says so; commit then fails with
 * KEN_ERR_INVALID, rollback is a no-op). A per-document savepoint would
 * avoid that but costs ~35% of ingest speed (FTS5 flushes at savepoints).
 *
 * Strings handed to callbacks are valid only during the callback. A callback
 * may call the store again (reads, or writes of other rows). A handle is used
 * by one thread at a time.
 *
 * Generations: s->gen is fresh at open (1 + the highest generation any
 * document was seen in); a long-lived handle that syncs again may use
 * s->gen + 1, + 2, ... (also fresh) by incrementing s->gen itself.
 *
 * SQLite layout (for the lexical index and tools that read the file):
 * the FTS5 table is chunks_fts(text, heading, title), rowid = chunks.id,
 * external content (the view chunks_content); bm25(chunks_fts, w_text,
 * w_heading, w_title), snippet() and highlight() work on it. Chunk text is
 * stored once, as a byte span of documents.text. See sqlite.c. */
#ifndef KEN_STORE_H
#define KEN_STORE_H

#include "base/base.h"

#define KEN_STORE_SCHEMA_VERSION 3

typedef struct ken_store ken_store;

typedef struct {
    int64_t id;
    const char *collection, *uri, *kind;    /* kind: "file", "stdin", "buffer" */
    const char *hash;                        /* hex SHA-256 of raw bytes */
    int64_t mtime, size;
    int64_t n_docs;                          /* read side: documents of the source */
} ken_store_source;

/* A document to write (doc_put) or as read back (then id and the counts are
 * set). text is the normalized text; meta_json a JSON object or NULL. */
typedef struct {
    int64_t id, source_id;
    const char *collection;
    const char *ext_id;        /* may be NULL; "" counts as none */
    const char *uri;
    const char *title, *mime;
    const char *hash;          /* hex SHA-256 of the document's content */
    int64_t mtime;
    const char *meta_json;
    const char *text; size_t text_len;   /* read side without text: NULL, length set */
    int64_t n_chunks;          /* read side only */
} ken_store_doc;

typedef struct {
    int64_t id, doc_id;        /* read side only */
    int32_t ordinal;
    int64_t start, end;        /* byte span in the document text */
    const char *heading;       /* " > "-joined heading path, "" if none */
    int32_t page;              /* 1-based page, 0 if not paged */
    int32_t tokens;            /* token estimate */
    const char *text; size_t text_len;   /* read side; on write taken from the doc text */
} ken_store_chunk;

typedef struct {
    const char *collection, *uri_prefix, *mime;   /* NULL: any */
    int64_t limit, offset;                        /* limit 0: all */
} ken_store_filter;

typedef struct {
    int64_t sources, documents, chunks, collections, text_bytes, file_bytes;
    int32_t schema_version;
} ken_store_stats;

/* A conversation (ken chat) and its turns, in order. sources_json is a JSON
 * array describing the sources a turn used (provenance; NULL: none). */
typedef struct {
    int64_t id;
    const char *name;
    int64_t created, updated;    /* unix seconds */
    int64_t n_turns;             /* read side */
} ken_store_session;

typedef struct {
    int64_t id, session_id;      /* read side */
    int32_t ordinal;             /* read side: 1, 2, ... */
    const char *role;            /* "system", "user", "assistant", "tool" */
    const char *content; size_t content_len;
    const char *sources_json;
    int64_t created;             /* read side */
} ken_store_turn;

typedef int (*ken_store_source_fn)(void *ud, const ken_store_source *s);  /* non-zero stops */
typedef int (*ken_store_doc_fn)(void *ud, const ken_store_doc *d);
typedef int (*ken_store_chunk_fn)(void *ud, const ken_store_chunk *c);
/* An embedding model as recorded with its vectors (schema 3): the file's
 * identity (SHA-256, general.name, dimension, size and mtime when hashed)
 * and the prefixes its passages were embedded with (a different passage
 * prefix gives other vectors, so it is part of the identity). rev changes
 * whenever a vector of the model is written or deleted (triggers), so
 * (id, rev) fingerprints the vector set, e.g. for a persisted index. */
typedef struct {
    int64_t id;                          /* read side */
    const char *sha256, *name, *path;
    const char *query_prefix, *passage_prefix;
    int32_t dim;
    int64_t file_size, file_mtime;
    int64_t created;                     /* read side: seconds since the epoch */
    int64_t rev;                         /* read side */
    int64_t n_vectors;                   /* read side */
} ken_store_emodel;
typedef int (*ken_store_emodel_fn)(void *ud, const ken_store_emodel *m);
/* One stored vector (F32, dim floats, valid during the callback). */
typedef int (*ken_store_vec_fn)(void *ud, int64_t chunk_id, const float *v, uint32_t dim);
typedef int (*ken_store_id_fn)(void *ud, int64_t id);

#define KEN_STORE_EMBED_DIM_MAX 8192

typedef int (*ken_store_session_fn)(void *ud, const ken_store_session *s);
typedef int (*ken_store_turn_fn)(void *ud, const ken_store_turn *t);

/* A lexical search (added for src/retrieve). match is an FTS5 query
 * expression (callers build it safely: every term quoted); rank is an FTS5
 * rank function call with literal arguments only, e.g.
 *   ken_bm25(k1, b, w_1, ..., w_n)   BM25 over the whole chunk (text,
 *                                    heading, title), phrase i weighted w_i
 *                                    (missing weights: 1), idf =
 *                                    ln(1 + (N - n_i + 0.5) / (n_i + 0.5))
 *   bm25(w_text, w_heading, w_title) FTS5's own
 * (NULL: "ken_bm25(1.2, 0.75)"). Filters are ANDed, NULL: any. meta_path is
 * a JSON path ("$.author") whose value, as text, must equal meta_value.
 * mark_open/mark_close: snippet markers (NULL: no snippet). limit 0: all. */
typedef struct {
    const char *match, *rank;
    const char *collection, *uri_prefix, *mime;
    const char *meta_path, *meta_value;
    const char *mark_open, *mark_close;
    int64_t limit;
} ken_store_search_q;

/* One hit, best first: score is higher for better (minus FTS5's rank). */
typedef struct {
    int64_t chunk_id, doc_id;
    int32_t ordinal, page;
    int64_t start, end;
    double score;
    const char *ext_id, *uri, *title, *heading, *collection, *mime;
    const char *snippet;                 /* NULL without markers */
    const char *text; size_t text_len;   /* the chunk text */
} ken_store_hit;
typedef int (*ken_store_hit_fn)(void *ud, const ken_store_hit *h);

/* The operations every backend implements. All return KEN_OK or an error
 * with the message in ken_store_errmsg. "Not found" lookups return
 * KEN_ERR_NOTFOUND. */
typedef struct ken_store_ops {
    const char *name;                                   /* "sqlite", "postgres" */
    void (*close)(ken_store *s);
    ken_status (*begin)(ken_store *s);                  /* write transaction */
    ken_status (*commit)(ken_store *s);
    ken_status (*rollback)(ken_store *s);

    /* Sources. source_put upserts by (collection, uri) and returns the id. */
    ken_status (*source_get)(ken_store *s, const char *collection, const char *uri,
                             ken_store_source_fn fn, void *ud);
    ken_status (*source_put)(ken_store *s, const ken_store_source *src, int64_t *id_out);
    /* Deletes a source with all its documents and chunks. */
    ken_status (*source_delete)(ken_store *s, int64_t source_id);
    /* Sources of a collection whose uri starts with prefix (NULL: all). */
    ken_status (*source_list)(ken_store *s, const char *collection, const char *prefix,
                              ken_store_source_fn fn, void *ud);

    /* Documents. doc_find: by (collection, key) where key = ext_id or uri;
     * fn receives the doc without text (text NULL). */
    ken_status (*doc_find)(ken_store *s, const char *collection, const char *key,
                           ken_store_doc_fn fn, void *ud);
    /* Inserts or replaces (same collection + key) the document and its chunks;
     * marks it seen in generation gen (see source_prune). *replaced tells
     * whether an old version existed. */
    ken_status (*doc_put)(ken_store *s, const ken_store_doc *doc,
                          const ken_store_chunk *chunks, size_t n_chunks, int64_t gen,
                          int64_t *id_out, bool *replaced);
    /* Marks an unchanged document seen in generation gen. */
    ken_status (*doc_touch)(ken_store *s, int64_t doc_id, int64_t gen);
    /* Deletes the documents of source_id not seen in generation gen; counts them. */
    ken_status (*source_prune)(ken_store *s, int64_t source_id, int64_t gen,
                               int64_t *n_removed);
    ken_status (*doc_delete)(ken_store *s, int64_t doc_id);
    /* Reading. doc_get by ref: numeric id, external id or uri (first match,
     * in that order), with text. doc_list: documents matching the filter
     * (without text), ordered by id. */
    ken_status (*doc_get)(ken_store *s, const char *ref, ken_store_doc_fn fn, void *ud);
    ken_status (*doc_get_id)(ken_store *s, int64_t id, ken_store_doc_fn fn, void *ud);
    ken_status (*doc_list)(ken_store *s, const ken_store_filter *f, ken_store_doc_fn fn,
                           void *ud);
    ken_status (*chunk_list)(ken_store *s, int64_t doc_id, ken_store_chunk_fn fn, void *ud);
    ken_status (*chunk_get)(ken_store *s, int64_t chunk_id, ken_store_chunk_fn fn, void *ud);
    ken_status (*stats)(ken_store *s, ken_store_stats *out);

    /* Lexical search (see ken_store_search_q); fn returns non-zero to stop. */
    ken_status (*search)(ken_store *s, const ken_store_search_q *q, ken_store_hit_fn fn,
                         void *ud);
    /* For idf: *df = chunks matching the FTS5 expression, *n = all chunks. */
    ken_status (*match_count)(ken_store *s, const char *match, int64_t *df, int64_t *n);

    /* Small key/value settings (BM25 parameters, models, ...). get returns
     * KEN_ERR_NOTFOUND when unset; the value is copied into out. */
    ken_status (*config_get)(ken_store *s, const char *key, ken_buf *out);
    ken_status (*config_set)(ken_store *s, const char *key, const char *value);

    /* Full consistency check (added beyond the first draft): the database's
     * own integrity check, foreign keys, and the FTS index against the
     * chunks (skipped when read-only). KEN_ERR_STORE with the first problem. */
    ken_status (*check)(ken_store *s);

    /* Chat sessions (schema 2). session_open finds the session by name, or
     * creates it when create is set (else KEN_ERR_NOTFOUND). turn_add appends
     * a turn (the next ordinal) and touches the session's updated time.
     * session_delete removes a session with its turns. */
    ken_status (*session_open)(ken_store *s, const char *name, bool create, int64_t *id_out);
    ken_status (*session_list)(ken_store *s, ken_store_session_fn fn, void *ud);
    ken_status (*session_delete)(ken_store *s, int64_t session_id);
    ken_status (*turn_add)(ken_store *s, int64_t session_id, const ken_store_turn *t,
                           int64_t *id_out);
    ken_status (*turn_list)(ken_store *s, int64_t session_id, ken_store_turn_fn fn, void *ud);

    /* Embeddings (schema 3; sqlite_embed.c). emodel_put records a model and
     * returns its id; emodel_list lists them (with n_vectors), oldest first;
     * emodel_delete removes one with all its vectors. vec_put writes (or
     * replaces) the vector of a chunk; a chunk's vectors go with the chunk.
     * vec_missing: chunks without a vector of the model, id > after, by id,
     * at most limit (0: all), as hits without snippet (title, heading, text).
     * vec_scan: every vector of the model. vec_count: vectors of the model
     * and chunks without one. */
    ken_status (*emodel_put)(ken_store *s, const ken_store_emodel *m, int64_t *id_out);
    ken_status (*emodel_list)(ken_store *s, ken_store_emodel_fn fn, void *ud);
    ken_status (*emodel_delete)(ken_store *s, int64_t model_id);
    ken_status (*vec_put)(ken_store *s, int64_t model_id, int64_t chunk_id, const float *v,
                          uint32_t dim);
    ken_status (*vec_missing)(ken_store *s, int64_t model_id, int64_t after, int64_t limit,
                              ken_store_hit_fn fn, void *ud);
    ken_status (*vec_scan)(ken_store *s, int64_t model_id, ken_store_vec_fn fn, void *ud);
    ken_status (*vec_count)(ken_store *s, int64_t model_id, int64_t *n_vectors,
                            int64_t *n_missing);
    /* Chunk ids whose documents pass the filters of q (collection,
     * uri_prefix, mime, meta_path/meta_value; match, rank, marks and limit
     * are ignored), ascending. */
    ken_status (*chunk_ids)(ken_store *s, const ken_store_search_q *q, ken_store_id_fn fn,
                            void *ud);
    /* One chunk as a search hit (score 0, no snippet); KEN_ERR_NOTFOUND. */
    ken_status (*chunk_hit)(ken_store *s, int64_t chunk_id, ken_store_hit_fn fn, void *ud);
} ken_store_ops;

/* Every backend's handle starts with this. */
struct ken_store {
    const ken_store_ops *ops;
    ken_err err;
    int64_t gen;     /* a fresh generation number per open, for doc_touch/prune */
};

typedef struct {
    const char *path;      /* SQLite: the file */
    bool create, readonly;
    bool lexcache;         /* SQLite: BM25 accelerator (ken_store_lexcache_enable) */
} ken_store_opts;

/* Opens the default backend for the path (SQLite). Newer schema -> a
 * KEN_ERR_VERSION with a clear message; older -> migrated forward. On
 * failure *out is NULL and err holds the message. */
ken_status ken_store_open(const ken_store_opts *opts, ken_store **out, ken_err *err);
ken_status ken_store_open_sqlite(const ken_store_opts *opts, ken_store **out, ken_err *err);
/* Test hook (fault injection): makes the n-th statement step from now on
 * fail as an I/O error (once); 0 disables. SQLite backend only. */
void ken_store_sqlite_fail_after(ken_store *s, int64_t n);

/* The in-memory BM25 accelerator (lexcache.c) for long-lived handles (the
 * server): lexical searches with a limit are ranked from an index in
 * memory, shared by the handles of the process on the same file and rebuilt
 * after writes; exact same scores and top-k as FTS5, which stays the path
 * for what it cannot answer. Costs a build (~seconds per 100 MB of text)
 * and memory; one-shot CLI handles leave it off. SQLite backend only. */
typedef struct {
    int64_t version;                  /* change counter of the shared index; -1: none */
    int64_t chunks, terms, postings, bytes;
    double build_s;                   /* the last build of the shared index */
    int64_t builds, answered, fallbacks;   /* by this handle */
    int64_t pruned;                   /* answered with pruning (lexcache.c) */
} ken_store_lexcache_stats;
ken_status ken_store_lexcache_enable(ken_store *s);
/* false when the handle has no accelerator. */
bool ken_store_lexcache_stats_get(ken_store *s, ken_store_lexcache_stats *out);

static inline const char *ken_store_errmsg(const ken_store *s) { return s->err.msg; }
static inline void ken_store_close(ken_store *s) { if (s) s->ops->close(s); }

#endif
