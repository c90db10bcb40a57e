/* sqlite.c: the SQLite backend of the knowledge store (the embedded default).
 *
 * One database file in WAL mode with foreign keys on. The schema is created
 * and moved forward by the migration list below; PRAGMA user_version holds
 * the schema version and PRAGMA application_id marks the file as a ken store
 * (so a foreign SQLite file is refused instead of being written into).
 *
 * Text is stored once: documents.text holds the normalized text, a chunk is
 * only a byte span into it, and the FTS5 index is an external-content table
 * whose content is the view chunks_content (chunk text = a byte slice of the
 * document text). FTS rows are inserted explicitly by doc_put and deleted by
 * a BEFORE DELETE trigger on documents, which sees the old text; so every way
 * of deleting a document (doc_delete, prune, source delete cascading, doc_put
 * replacing) keeps the index in sync in the same transaction. Guard triggers
 * refuse the changes that would silently desynchronize it (deleting chunks
 * without their document, updating a document's text or a chunk in place).
 *
 * Durability: WAL with synchronous=NORMAL. A commit is appended to the WAL
 * with write(); the OS holds it even if the process is killed (kill -9), so
 * committed transactions survive process crashes and a torn transaction is
 * ignored on recovery. Only an OS crash or power loss may lose the last
 * commits (never corrupting the file); the WAL is synced at checkpoints. */
#include "store/store.h"
#include "store/sqlite_int.h"
#include "store/lexcache.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define APP_ID 0x6B656E31            /* "ken1" in PRAGMA application_id */
#define BUSY_TIMEOUT_MS 5000
#define TEXT_BYTES_MAX ((size_t)1 << 30)     /* SQLite's own value limit is ~1e9 */
#define CHUNKS_MAX ((size_t)1 << 24)

/* ------------------------------------------------------------ schema */

#define CHUNK_TEXT_SQL(text, c) \
    "CAST(substr(CAST(" text " AS BLOB), " c ".start_byte + 1, " c ".end_byte - " c \
    ".start_byte) AS TEXT)"

/* Migration i brings the schema from version i to i + 1. Append only: a
 * released migration never changes. Later issues add embeddings, entities,
 * relations, episodes, facts, feedback, runs and artifacts here. */
static const char *const migrations[] = {
    /* 0 -> 1: sources, documents, chunks, config, the FTS5 index. */
    "CREATE TABLE sources("
    "  id         INTEGER PRIMARY KEY,"
    "  collection TEXT NOT NULL,"
    "  uri        TEXT NOT NULL,"
    "  kind       TEXT NOT NULL,"
    "  hash       TEXT,"
    "  mtime      INTEGER NOT NULL DEFAULT 0,"
    "  size       INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (collection, uri));"
    "CREATE TABLE documents("
    "  id         INTEGER PRIMARY KEY,"
    "  source_id  INTEGER REFERENCES sources(id) ON DELETE CASCADE,"
    "  collection TEXT NOT NULL,"
    "  doc_key    TEXT NOT NULL,"              /* ext_id if set, else uri */
    "  ext_id     TEXT,"
    "  uri        TEXT NOT NULL,"
    "  title      TEXT,"
    "  mime       TEXT,"
    "  hash       TEXT,"
    "  mtime      INTEGER NOT NULL DEFAULT 0,"
    "  meta       TEXT CONSTRAINT meta_is_json CHECK (meta IS NULL OR json_valid(meta)),"
    "  seen_gen   INTEGER NOT NULL DEFAULT 0,"
    "  n_chunks   INTEGER NOT NULL DEFAULT 0,"
    "  text_bytes INTEGER NOT NULL DEFAULT 0,"
    "  text       TEXT NOT NULL,"              /* last: large values overflow */
    "  UNIQUE (collection, doc_key));"
    "CREATE INDEX documents_source ON documents(source_id);"
    "CREATE INDEX documents_ext ON documents(ext_id) WHERE ext_id IS NOT NULL;"
    "CREATE INDEX documents_uri ON documents(uri);"
    "CREATE INDEX documents_gen ON documents(seen_gen);"
    "CREATE TABLE chunks("
    "  id         INTEGER PRIMARY KEY,"
    "  doc_id     INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  ordinal    INTEGER NOT NULL,"
    "  start_byte INTEGER NOT NULL,"
    "  end_byte   INTEGER NOT NULL,"
    "  heading    TEXT NOT NULL DEFAULT '',"
    "  page       INTEGER NOT NULL DEFAULT 0,"
    "  tokens     INTEGER NOT NULL DEFAULT 0,"
    "  CHECK (0 <= start_byte AND start_byte <= end_byte));"
    "CREATE INDEX chunks_doc ON chunks(doc_id, ordinal);"
    "CREATE TABLE config(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE VIEW chunks_content(id, text, heading, title) AS"
    "  SELECT c.id, " CHUNK_TEXT_SQL("d.text", "c") ", c.heading, d.title"
    "  FROM chunks c JOIN documents d ON d.id = c.doc_id;"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, heading, title,"
    "  content='chunks_content', content_rowid='id',"
    "  tokenize='porter unicode61 remove_diacritics 2');"
    "CREATE TRIGGER documents_fts_delete BEFORE DELETE ON documents BEGIN"
    "  INSERT INTO chunks_fts(chunks_fts, rowid, text, heading, title)"
    "    SELECT 'delete', c.id, " CHUNK_TEXT_SQL("old.text", "c") ", c.heading, old.title"
    "    FROM chunks c WHERE c.doc_id = old.id;"
    "END;"
    "CREATE TRIGGER documents_no_text_update BEFORE UPDATE OF id, text, title ON documents"
    "  BEGIN SELECT RAISE(ABORT, 'ken: a document is replaced, never edited in place'); END;"
    "CREATE TRIGGER chunks_no_direct_delete BEFORE DELETE ON chunks"
    "  WHEN EXISTS (SELECT 1 FROM documents WHERE id = old.doc_id)"
    "  BEGIN SELECT RAISE(ABORT, 'ken: chunks are deleted with their document'); END;"
    "CREATE TRIGGER chunks_no_update BEFORE UPDATE ON chunks"
    "  BEGIN SELECT RAISE(ABORT, 'ken: chunks are never edited in place'); END;",
    /* 1 -> 2: chat sessions and their turns (ken chat). */
    "CREATE TABLE chat_sessions("
    "  id         INTEGER PRIMARY KEY,"
    "  name       TEXT NOT NULL UNIQUE,"
    "  created    INTEGER NOT NULL,"
    "  updated    INTEGER NOT NULL);"
    "CREATE TABLE chat_turns("
    "  id         INTEGER PRIMARY KEY,"
    "  session_id INTEGER NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,"
    "  ordinal    INTEGER NOT NULL,"
    "  role       TEXT NOT NULL"
    "    CHECK (role IN ('system', 'user', 'assistant', 'tool')),"
    "  content    TEXT NOT NULL,"
    "  sources    TEXT CHECK (sources IS NULL OR json_valid(sources)),"
    "  created    INTEGER NOT NULL,"
    "  UNIQUE (session_id, ordinal));",
    /* 2 -> 3: embedding models and the vectors of chunks (sqlite_embed.c).
     * A vector goes with its chunk (cascade) and with its model. rev counts
     * the changes to a model's vectors: a persisted vector index records
     * (model, rev) and is rebuilt when they differ. */
    "CREATE TABLE embed_models("
    "  id             INTEGER PRIMARY KEY,"
    "  sha256         TEXT NOT NULL,"
    "  name           TEXT NOT NULL,"
    "  path           TEXT NOT NULL,"
    "  query_prefix   TEXT NOT NULL DEFAULT '',"
    "  passage_prefix TEXT NOT NULL DEFAULT '',"
    "  dim            INTEGER NOT NULL CHECK (dim > 0 AND dim <= 8192),"
    "  file_size      INTEGER NOT NULL DEFAULT 0,"
    "  file_mtime     INTEGER NOT NULL DEFAULT 0,"
    "  created        INTEGER NOT NULL,"
    "  rev            INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE embeddings("
    "  id       INTEGER PRIMARY KEY,"
    "  model_id INTEGER NOT NULL REFERENCES embed_models(id) ON DELETE CASCADE,"
    "  chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,"
    "  vec      BLOB NOT NULL,"
    "  UNIQUE (model_id, chunk_id));"
    "CREATE INDEX embeddings_chunk ON embeddings(chunk_id);"
    "CREATE TRIGGER embeddings_rev_ins AFTER INSERT ON embeddings BEGIN"
    "  UPDATE embed_models SET rev = rev + 1 WHERE id = new.model_id; END;"
    "CREATE TRIGGER embeddings_rev_upd AFTER UPDATE ON embeddings BEGIN"
    "  UPDATE embed_models SET rev = rev + 1 WHERE id = new.model_id; END;"
    "CREATE TRIGGER embeddings_rev_del AFTER DELETE ON embeddings BEGIN"
    "  UPDATE embed_models SET rev = rev + 1 WHERE id = old.model_id; END;",
};
#define SCHEMA_MAX ((int)KEN_ARRAY_LEN(migrations))
_Static_assert(KEN_ARRAY_LEN(migrations) == KEN_STORE_SCHEMA_VERSION,
               "KEN_STORE_SCHEMA_VERSION must match the migration list");

/* ------------------------------------------------------------ statements */

#define DOC_COLS "id, source_id, collection, ext_id, uri, title, mime, hash, mtime, meta, " \
                 "n_chunks, text_bytes"
#define SRC_COLS "id, collection, uri, kind, hash, mtime, size," \
    " (SELECT count(*) FROM documents d WHERE d.source_id = sources.id)"
#define CHUNK_COLS "c.id, c.doc_id, c.ordinal, c.start_byte, c.end_byte, c.heading, " \
                   "c.page, c.tokens"

enum {
    Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_JSON_VALID, Q_SOURCE_EXISTS,
    Q_SOURCE_GET, Q_SOURCE_PUT, Q_SOURCE_DEL, Q_SOURCE_LIST,
    Q_DOC_FIND, Q_DOC_KEY_ID, Q_DOC_DEL, Q_DOC_INS, Q_CHUNK_INS, Q_FTS_INS,
    Q_DOC_TOUCH, Q_PRUNE, Q_DOC_BY_ID, Q_DOC_BY_EXT, Q_DOC_BY_URI, Q_DOC_LIST,
    Q_DOC_TEXT, Q_CHUNK_LIST, Q_CHUNK_GET, Q_CONFIG_GET, Q_CONFIG_SET,
    Q_SEARCH, Q_MATCH_COUNT, Q_ROW_COUNT, Q_CHUNK_COUNT, Q_SEARCH_ROW,
    Q_SEARCH_ROW_DOC, Q_SESSION_GET, Q_SESSION_INS, Q_SESSION_LIST, Q_SESSION_DEL,
    Q_SESSION_TOUCH, Q_TURN_INS, Q_TURN_LIST, Q_N
};

static const char *const stmt_sql[Q_N] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_JSON_VALID] = "SELECT json_valid(?1)",
    [Q_SOURCE_EXISTS] = "SELECT 1 FROM sources WHERE id = ?1",
    [Q_SOURCE_GET] = "SELECT " SRC_COLS " FROM sources WHERE collection = ?1 AND uri = ?2",
    [Q_SOURCE_PUT] = "INSERT INTO sources(collection, uri, kind, hash, mtime, size)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(collection, uri) DO UPDATE"
                     " SET kind = excluded.kind, hash = excluded.hash,"
                     " mtime = excluded.mtime, size = excluded.size RETURNING id",
    [Q_SOURCE_DEL] = "DELETE FROM sources WHERE id = ?1",
    [Q_SOURCE_LIST] = "SELECT " SRC_COLS " FROM sources"
                      " WHERE (?1 IS NULL OR collection = ?1)"
                      " AND (?2 IS NULL OR substr(uri, 1, length(?2)) = ?2) ORDER BY id",
    [Q_DOC_FIND] = "SELECT " DOC_COLS " FROM documents WHERE collection = ?1 AND doc_key = ?2",
    [Q_DOC_KEY_ID] = "SELECT id FROM documents WHERE collection = ?1 AND doc_key = ?2",
    [Q_DOC_DEL] = "DELETE FROM documents WHERE id = ?1",
    [Q_DOC_INS] = "INSERT INTO documents(id, source_id, collection, doc_key, ext_id, uri,"
                  " title, mime, hash, mtime, meta, seen_gen, n_chunks, text_bytes, text)"
                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [Q_CHUNK_INS] = "INSERT INTO chunks(doc_id, ordinal, start_byte, end_byte, heading, page,"
                    " tokens) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_FTS_INS] = "INSERT INTO chunks_fts(rowid, text, heading, title) VALUES(?1, ?2, ?3, ?4)",
    [Q_DOC_TOUCH] = "UPDATE documents SET seen_gen = ?2 WHERE id = ?1",
    [Q_PRUNE] = "DELETE FROM documents WHERE source_id = ?1 AND seen_gen <> ?2",
    [Q_DOC_BY_ID] = "SELECT " DOC_COLS ", text FROM documents WHERE id = ?1",
    [Q_DOC_BY_EXT] = "SELECT " DOC_COLS ", text FROM documents WHERE ext_id = ?1"
                     " ORDER BY id LIMIT 1",
    [Q_DOC_BY_URI] = "SELECT " DOC_COLS ", text FROM documents WHERE uri = ?1"
                     " ORDER BY id LIMIT 1",
    [Q_DOC_LIST] = "SELECT " DOC_COLS " FROM documents"
                   " WHERE (?1 IS NULL OR collection = ?1)"
                   " AND (?2 IS NULL OR substr(uri, 1, length(?2)) = ?2)"
                   " AND (?3 IS NULL OR mime = ?3) ORDER BY id LIMIT ?4 OFFSET ?5",
    [Q_DOC_TEXT] = "SELECT text FROM documents WHERE id = ?1",
    [Q_CHUNK_LIST] = "SELECT " CHUNK_COLS " FROM chunks c WHERE c.doc_id = ?1"
                     " ORDER BY c.ordinal, c.id",
    [Q_CHUNK_GET] = "SELECT " CHUNK_COLS ", " CHUNK_TEXT_SQL("d.text", "c")
                    " FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1",
    [Q_CONFIG_GET] = "SELECT value FROM config WHERE key = ?1",
    [Q_CONFIG_SET] = "INSERT INTO config(key, value) VALUES(?1, ?2)"
                     " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    /* FTS5 is the outer loop and consumes ORDER BY rank, so rows stream out
     * best first and snippet() and the chunk text are computed only for the
     * rows actually read (no sorter over all matches). */
    [Q_SEARCH] = "SELECT f.rowid, c.doc_id, c.ordinal, c.start_byte, c.end_byte, c.heading,"
                 " c.page, d.ext_id, d.uri, d.title, d.collection, d.mime, "
                 CHUNK_TEXT_SQL("d.text", "c") ", -f.rank,"
                 " CASE WHEN ?3 IS NULL THEN NULL"
                 "  ELSE snippet(chunks_fts, 0, ?3, coalesce(?4, ?3), 'â¦', 24) END"
                 " FROM chunks_fts f JOIN chunks c ON c.id = f.rowid"
                 " JOIN documents d ON d.id = c.doc_id"
                 " WHERE chunks_fts MATCH ?1 AND f.rank MATCH ?2"
                 " AND (?5 IS NULL OR d.collection = ?5)"
                 " AND (?6 IS NULL OR substr(d.uri, 1, length(?6)) = ?6)"
                 " AND (?7 IS NULL OR d.mime = ?7)"
                 " AND (?8 IS NULL OR CAST(json_extract(d.meta, ?8) AS TEXT) = ?9)"
                 " ORDER BY f.rank LIMIT ?10",
    [Q_MATCH_COUNT] = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?1",
    [Q_ROW_COUNT] = "SELECT ken_rowcount(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1"
                    " LIMIT 1",
    [Q_CHUNK_COUNT] = "SELECT count(*) FROM chunks",
    [Q_SESSION_GET] = "SELECT id FROM chat_sessions WHERE name = ?1",
    [Q_SESSION_INS] = "INSERT INTO chat_sessions(name, created, updated) VALUES(?1, ?2, ?2)"
                      " RETURNING id",
    [Q_SESSION_LIST] = "SELECT s.id, s.name, s.created, s.updated,"
                       " (SELECT count(*) FROM chat_turns t WHERE t.session_id = s.id)"
                       " FROM chat_sessions s ORDER BY s.updated DESC, s.id DESC",
    [Q_SESSION_DEL] = "DELETE FROM chat_sessions WHERE id = ?1",
    [Q_SESSION_TOUCH] = "UPDATE chat_sessions SET updated = ?2 WHERE id = ?1",
    [Q_TURN_INS] = "INSERT INTO chat_turns(session_id, ordinal, role, content, sources, created)"
                   " SELECT ?1, coalesce(max(ordinal), 0) + 1, ?2, ?3, ?4, ?5"
                   " FROM chat_turns WHERE session_id = ?1 RETURNING id",
    [Q_TURN_LIST] = "SELECT id, session_id, ordinal, role, content, sources, created"
                    " FROM chat_turns WHERE session_id = ?1 ORDER BY ordinal",
    /* One row of a top-k search (search_top, step 2). */
    [Q_SEARCH_ROW] = "SELECT c.doc_id, c.ordinal, c.start_byte, c.end_byte, c.heading, c.page,"
                     " d.ext_id, d.uri, d.title, d.collection, d.mime, "
                     CHUNK_TEXT_SQL("d.text", "c") ","
                     " CASE WHEN ?3 IS NULL THEN NULL"
                     "  ELSE snippet(chunks_fts, 0, ?3, coalesce(?4, ?3), '\xe2\x80\xa6', 24) END"
                     " FROM chunks_fts CROSS JOIN chunks c ON c.id = chunks_fts.rowid"
                     " CROSS JOIN documents d ON d.id = c.doc_id"
                     " WHERE chunks_fts MATCH ?1 AND chunks_fts.rowid = ?2",
    /* The same without text or snippet (no FTS5 work, and the document's
     * text is not loaded: hit_text reads the chunk's bytes of it). */
    [Q_SEARCH_ROW_DOC] = "SELECT c.doc_id, c.ordinal, c.start_byte, c.end_byte, c.heading,"
                         " c.page, d.ext_id, d.uri, d.title, d.collection, d.mime"
                         " FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1",
};

typedef struct {
    ken_store base;
    sqlite3 *db;
    sqlite3_stmt *stmt[Q_N];     /* prepared on first use, kept until close */
    bool stmt_busy[Q_N];         /* in use by an outer call (callbacks may re-enter) */
    bool in_tx, readonly;
    int64_t fail_after;          /* test hook: the n-th step from now fails */
    bool injected;
    ken_store_lexcache *lex;     /* BM25 accelerator, when enabled (lexcache.c) */
} sq;

static const ken_store_ops sqlite_ops;

/* ------------------------------------------------------------ for sqlite_embed.c */

static int step(sq *q, sqlite3_stmt *st);
static ken_status db_fail(sq *q, int rc, const char *what);
static ken_status need_rw(sq *q, const char *what);

sqlite3 *ken_sqlite_db(ken_store *s) { return ((sq *)s)->db; }
int ken_sqlite_step(ken_store *s, sqlite3_stmt *st) { return step((sq *)s, st); }
ken_status ken_sqlite_fail(ken_store *s, int rc, const char *what) {
    return db_fail((sq *)s, rc, what);
}
ken_status ken_sqlite_need_rw(ken_store *s, const char *what) { return need_rw((sq *)s, what); }

void ken_store_sqlite_fail_after(ken_store *s, int64_t n) {
    KEN_ASSERT(s && s->ops == &sqlite_ops);
    ((sq *)s)->fail_after = n;
}

static ken_status status_of(int rc) {
    switch (rc & 0xff) {
    case SQLITE_FULL: case SQLITE_IOERR: case SQLITE_CANTOPEN: return KEN_ERR_IO;
    case SQLITE_NOMEM: return KEN_ERR_NOMEM;
    case SQLITE_TOOBIG: return KEN_ERR_LIMIT;
    default: return KEN_ERR_STORE;
    }
}

/* Records a failure of SQLite call rc while doing `what`. When a call fails
 * inside an explicit transaction SQLite may have rolled it back (FULL, IOERR,
 * NOMEM, BUSY); the message says so and the handle forgets the transaction. */
static ken_status db_fail(sq *q, int rc, const char *what) {
    const char *msg = q->injected ? "injected fault (test hook)" : sqlite3_errmsg(q->db);
    q->injected = false;
    bool lost_tx = q->in_tx && sqlite3_get_autocommit(q->db);
    if (lost_tx) q->in_tx = false;
    return ken_err_set(&q->base.err, status_of(rc), "store: %s: %s%s", what, msg,
                       lost_tx ? " (the transaction was rolled back)" : "");
}

static int step(sq *q, sqlite3_stmt *st) {
    if (q->fail_after > 0 && --q->fail_after == 0) {
        q->injected = true;
        return SQLITE_IOERR;
    }
    return sqlite3_step(st);
}

/* A cached statement, or a fresh one when the cached one is in use by an
 * outer call (a callback that calls the store again). */
static ken_status stmt_get(sq *q, int id, sqlite3_stmt **out) {
    *out = NULL;
    if (q->stmt[id] && !q->stmt_busy[id]) {
        q->stmt_busy[id] = true;
        *out = q->stmt[id];
        return KEN_OK;
    }
    bool cache = q->stmt[id] == NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(q->db, stmt_sql[id], -1, cache ? SQLITE_PREPARE_PERSISTENT : 0,
                                &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail(q, rc, "preparing a statement");
    }
    if (cache) {
        q->stmt[id] = st;
        q->stmt_busy[id] = true;
    }
    *out = st;
    return KEN_OK;
}

static void stmt_put(sq *q, int id, sqlite3_stmt *st) {
    if (!st) return;
    if (st == q->stmt[id]) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        q->stmt_busy[id] = false;
    } else {
        sqlite3_finalize(st);
    }
}

static int bind_str(sqlite3_stmt *st, int i, const char *s) {
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* Runs a cached statement that returns no rows. */
static ken_status run(sq *q, int id, const char *what) {
    sqlite3_stmt *st;
    ken_status s = stmt_get(q, id, &st);
    if (s) return s;
    int rc = step(q, st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) s = db_fail(q, rc, what);
    stmt_put(q, id, st);
    return s;
}

static ken_status need_rw(sq *q, const char *what) {
    if (q->readonly)
        return ken_err_set(&q->base.err, KEN_ERR_INVALID, "store: %s: the store is open read-only",
                           what);
    return KEN_OK;
}

static const char *col_str(sqlite3_stmt *st, int i) {
    return (const char *)sqlite3_column_text(st, i);
}

/* ------------------------------------------------------------ transactions */

static ken_status sq_begin(ken_store *s) {
    sq *q = (sq *)s;
    ken_status st = need_rw(q, "begin");
    if (st) return st;
    if (q->in_tx)
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: begin: a transaction is already open");
    st = run(q, Q_BEGIN, "begin");
    if (!st) q->in_tx = true;
    return st;
}

static ken_status sq_commit(ken_store *s) {
    sq *q = (sq *)s;
    if (!q->in_tx)
        return ken_err_set(&s->err, KEN_ERR_INVALID,
                           "store: commit: no transaction is open (an earlier error may have "
                           "rolled it back)");
    ken_status st = run(q, Q_COMMIT, "commit");
    /* A failed COMMIT (e.g. disk full) leaves the transaction open: the caller
     * rolls back. If SQLite already rolled back, db_fail has noted it. */
    if (!st || sqlite3_get_autocommit(q->db)) q->in_tx = false;
    return st;
}

static ken_status sq_rollback(ken_store *s) {
    sq *q = (sq *)s;
    if (!q->in_tx) return KEN_OK;     /* already rolled back (by an error): nothing to do */
    q->in_tx = false;
    if (sqlite3_get_autocommit(q->db)) return KEN_OK;
    return run(q, Q_ROLLBACK, "rollback");
}

/* ------------------------------------------------------------ sources */

static void source_from_row(sqlite3_stmt *st, ken_store_source *src) {
    src->id = sqlite3_column_int64(st, 0);
    src->collection = col_str(st, 1);
    src->uri = col_str(st, 2);
    src->kind = col_str(st, 3);
    src->hash = col_str(st, 4);
    src->mtime = sqlite3_column_int64(st, 5);
    src->size = sqlite3_column_int64(st, 6);
    src->n_docs = sqlite3_column_int64(st, 7);
}

/* Steps a source query, handing each row to fn until it returns non-zero.
 * *n counts the rows handed over. */
static ken_status source_rows(sq *q, sqlite3_stmt *st, ken_store_source_fn fn, void *ud,
                              const char *what, int64_t *n) {
    int rc;
    *n = 0;
    while ((rc = step(q, st)) == SQLITE_ROW) {
        ken_store_source src;
        source_from_row(st, &src);
        (*n)++;
        if (fn(ud, &src)) return KEN_OK;
    }
    return rc == SQLITE_DONE ? KEN_OK : db_fail(q, rc, what);
}

static ken_status sq_source_get(ken_store *s, const char *collection, const char *uri,
                                ken_store_source_fn fn, void *ud) {
    sq *q = (sq *)s;
    if (!collection || !uri)
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: source_get: collection and uri needed");
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_SOURCE_GET, &st);
    if (r) return r;
    int64_t n = 0;
    int rc = bind_str(st, 1, collection);
    if (rc == SQLITE_OK) rc = bind_str(st, 2, uri);
    r = rc != SQLITE_OK ? db_fail(q, rc, "source_get") : source_rows(q, st, fn, ud, "source_get", &n);
    stmt_put(q, Q_SOURCE_GET, st);
    if (!r && n == 0)
        r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no source '%s' in collection '%s'",
                        uri, collection);
    return r;
}

static ken_status sq_source_put(ken_store *s, const ken_store_source *src, int64_t *id_out) {
    sq *q = (sq *)s;
    ken_status r = need_rw(q, "source_put");
    if (r) return r;
    if (!src || !src->collection || !src->uri || !src->kind)
        return ken_err_set(&s->err, KEN_ERR_INVALID,
                           "store: source_put: collection, uri and kind are needed");
    sqlite3_stmt *st;
    if ((r = stmt_get(q, Q_SOURCE_PUT, &st))) return r;
    int rc = bind_str(st, 1, src->collection);
    if (rc == SQLITE_OK) rc = bind_str(st, 2, src->uri);
    if (rc == SQLITE_OK) rc = bind_str(st, 3, src->kind);
    if (rc == SQLITE_OK) rc = bind_str(st, 4, src->hash);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 5, src->mtime);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 6, src->size);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc == SQLITE_ROW) {
        if (id_out) *id_out = sqlite3_column_int64(st, 0);
    } else {
        r = db_fail(q, rc, "source_put");
    }
    stmt_put(q, Q_SOURCE_PUT, st);
    return r;
}

/* Runs a one-row-id statement (delete/update by id); NOTFOUND if no row changed. */
static ken_status run_by_id(sq *q, int id, int64_t row, const int64_t *arg2, const char *what,
                            int64_t *changes) {
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, id, &st);
    if (r) return r;
    int rc = sqlite3_bind_int64(st, 1, row);
    if (rc == SQLITE_OK && arg2) rc = sqlite3_bind_int64(st, 2, *arg2);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc != SQLITE_DONE) r = db_fail(q, rc, what);
    else *changes = sqlite3_changes64(q->db);
    stmt_put(q, id, st);
    return r;
}

static ken_status sq_source_delete(ken_store *s, int64_t source_id) {
    sq *q = (sq *)s;
    ken_status r = need_rw(q, "source_delete");
    int64_t n = 0;
    if (!r) r = run_by_id(q, Q_SOURCE_DEL, source_id, NULL, "source_delete", &n);
    if (!r && n == 0)
        r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no source with id %lld",
                        (long long)source_id);
    return r;
}

static ken_status sq_source_list(ken_store *s, const char *collection, const char *prefix,
                                 ken_store_source_fn fn, void *ud) {
    sq *q = (sq *)s;
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_SOURCE_LIST, &st);
    if (r) return r;
    int64_t n;
    int rc = bind_str(st, 1, collection);
    if (rc == SQLITE_OK) rc = bind_str(st, 2, prefix && *prefix ? prefix : NULL);
    r = rc != SQLITE_OK ? db_fail(q, rc, "source_list")
                        : source_rows(q, st, fn, ud, "source_list", &n);
    stmt_put(q, Q_SOURCE_LIST, st);
    return r;
}

/* ------------------------------------------------------------ documents: read */

/* Fills d from a row of DOC_COLS [, text]. */
static void doc_from_row(sqlite3_stmt *st, ken_store_doc *d, bool with_text) {
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(st, 0);
    d->source_id = sqlite3_column_int64(st, 1);
    d->collection = col_str(st, 2);
    d->ext_id = col_str(st, 3);
    d->uri = col_str(st, 4);
    d->title = col_str(st, 5);
    d->mime = col_str(st, 6);
    d->hash = col_str(st, 7);
    d->mtime = sqlite3_column_int64(st, 8);
    d->meta_json = col_str(st, 9);
    d->n_chunks = sqlite3_column_int64(st, 10);
    d->text_len = (size_t)sqlite3_column_int64(st, 11);
    if (with_text) {
        d->text = col_str(st, 12);
        d->text_len = (size_t)sqlite3_column_bytes(st, 12);
        if (!d->text) d->text = "";
    }
}

static ken_status doc_rows(sq *q, sqlite3_stmt *st, bool with_text, ken_store_doc_fn fn,
                           void *ud, const char *what, int64_t *n) {
    int rc;
    *n = 0;
    while ((rc = step(q, st)) == SQLITE_ROW) {
        ken_store_doc d;
        doc_from_row(st, &d, with_text);
        (*n)++;
        if (fn(ud, &d)) return KEN_OK;
    }
    return rc == SQLITE_DONE ? KEN_OK : db_fail(q, rc, what);
}

/* Runs a document query with up to two text parameters (or one integer). */
static ken_status doc_query(sq *q, int id, const char *a, const char *b, const int64_t *num,
                            bool with_text, ken_store_doc_fn fn, void *ud, int64_t *n) {
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, id, &st);
    if (r) return r;
    int rc = num ? sqlite3_bind_int64(st, 1, *num) : bind_str(st, 1, a);
    if (rc == SQLITE_OK && b) rc = bind_str(st, 2, b);
    r = rc != SQLITE_OK ? db_fail(q, rc, "reading documents")
                        : doc_rows(q, st, with_text, fn, ud, "reading documents", n);
    stmt_put(q, id, st);
    return r;
}

static ken_status sq_doc_find(ken_store *s, const char *collection, const char *key,
                              ken_store_doc_fn fn, void *ud) {
    sq *q = (sq *)s;
    if (!collection || !key)
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: doc_find: collection and key needed");
    int64_t n = 0;
    ken_status r = doc_query(q, Q_DOC_FIND, collection, key, NULL, false, fn, ud, &n);
    if (!r && n == 0)
        r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no document '%s' in collection '%s'",
                        key, collection);
    return r;
}

static ken_status sq_doc_get_id(ken_store *s, int64_t id, ken_store_doc_fn fn, void *ud) {
    int64_t n = 0;
    ken_status r = doc_query((sq *)s, Q_DOC_BY_ID, NULL, NULL, &id, true, fn, ud, &n);
    if (!r && n == 0)
        r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no document with id %lld",
                        (long long)id);
    return r;
}

static bool parse_id(const char *ref, int64_t *id) {
    size_t n = strlen(ref);
    if (n == 0 || n > 18) return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (ref[i] < '0' || ref[i] > '9') return false;
        v = v * 10 + (ref[i] - '0');
    }
    *id = v;
    return true;
}

static ken_status sq_doc_get(ken_store *s, const char *ref, ken_store_doc_fn fn, void *ud) {
    sq *q = (sq *)s;
    if (!ref) return ken_err_set(&s->err, KEN_ERR_INVALID, "store: doc_get: no reference");
    int64_t n = 0, id;
    ken_status r = KEN_OK;
    if (parse_id(ref, &id)) r = doc_query(q, Q_DOC_BY_ID, NULL, NULL, &id, true, fn, ud, &n);
    if (!r && n == 0) r = doc_query(q, Q_DOC_BY_EXT, ref, NULL, NULL, true, fn, ud, &n);
    if (!r && n == 0) r = doc_query(q, Q_DOC_BY_URI, ref, NULL, NULL, true, fn, ud, &n);
    if (!r && n == 0)
        r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no document '%s' (by id, id or uri)",
                        ref);
    return r;
}

static ken_status sq_doc_list(ken_store *s, const ken_store_filter *f, ken_store_doc_fn fn,
                              void *ud) {
    sq *q = (sq *)s;
    ken_store_filter all = {0};
    if (!f) f = &all;
    if (f->limit < 0 || f->offset < 0)
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: doc_list: negative limit or offset");
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_DOC_LIST, &st);
    if (r) return r;
    int64_t n;
    int rc = bind_str(st, 1, f->collection);
    if (rc == SQLITE_OK) rc = bind_str(st, 2, f->uri_prefix && *f->uri_prefix ? f->uri_prefix : NULL);
    if (rc == SQLITE_OK) rc = bind_str(st, 3, f->mime);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 4, f->limit ? f->limit : -1);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 5, f->offset);
    r = rc != SQLITE_OK ? db_fail(q, rc, "doc_list")
                        : doc_rows(q, st, false, fn, ud, "doc_list", &n);
    stmt_put(q, Q_DOC_LIST, st);
    return r;
}

/* ------------------------------------------------------------ documents: write */

static bool utf8_cont(const char *t, size_t len, int64_t at) {
    return (size_t)at < len && ((unsigned char)t[at] & 0xC0) == 0x80;
}

/* Checks what SQLite would not: spans inside the text and on UTF-8 boundaries. */
static ken_status check_doc(sq *q, const ken_store_doc *doc, const ken_store_chunk *chunks,
                            size_t n) {
    ken_err *e = &q->base.err;
    if (!doc || !doc->collection || !doc->uri || !*doc->uri)
        return ken_err_set(e, KEN_ERR_INVALID, "store: doc_put: collection and uri are needed");
    if (n && !chunks) return ken_err_set(e, KEN_ERR_INVALID, "store: doc_put: chunks missing");
    if (doc->text_len && !doc->text)
        return ken_err_set(e, KEN_ERR_INVALID, "store: doc_put: text missing");
    if (doc->text_len > TEXT_BYTES_MAX)
        return ken_err_set(e, KEN_ERR_LIMIT, "store: doc_put: '%s': text of %zu bytes is over "
                           "the limit of %zu", doc->uri, doc->text_len, TEXT_BYTES_MAX);
    if (n > CHUNKS_MAX)
        return ken_err_set(e, KEN_ERR_LIMIT, "store: doc_put: '%s': %zu chunks is over the "
                           "limit of %zu", doc->uri, n, CHUNKS_MAX);
    const char *t = doc->text ? doc->text : "";
    if (!ken_utf8_valid(t, doc->text_len))
        return ken_err_set(e, KEN_ERR_INVALID, "store: doc_put: '%s': text is not valid UTF-8",
                           doc->uri);
    for (size_t i = 0; i < n; i++) {
        const ken_store_chunk *c = &chunks[i];
        if (c->start < 0 || c->start > c->end || (uint64_t)c->end > doc->text_len)
            return ken_err_set(e, KEN_ERR_INVALID, "store: doc_put: '%s': chunk %zu span "
                               "[%lld, %lld) is outside the text (%zu bytes)", doc->uri, i,
                               (long long)c->start, (long long)c->end, doc->text_len);
        if (utf8_cont(t, doc->text_len, c->start) || utf8_cont(t, doc->text_len, c->end))
            return ken_err_set(e, KEN_ERR_INVALID, "store: doc_put: '%s': chunk %zu span "
                               "[%lld, %lld) splits a UTF-8 character", doc->uri, i,
                               (long long)c->start, (long long)c->end);
    }
    return KEN_OK;
}

/* Runs a one-parameter query and tells whether its first column is 1. */
static ken_status query_true(sq *q, int id, const char *text, int64_t num, bool *yes) {
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, id, &st);
    if (r) return r;
    int rc = text ? bind_str(st, 1, text) : sqlite3_bind_int64(st, 1, num);
    if (rc == SQLITE_OK) rc = step(q, st);
    *yes = rc == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) r = db_fail(q, rc, "doc_put: checking the input");
    stmt_put(q, id, st);
    return r;
}

/* What the schema would refuse half-way through a put (which costs the
 * caller's transaction), refused up front instead: invalid meta JSON, an
 * unknown source. */
static ken_status check_doc_refs(sq *q, const ken_store_doc *doc) {
    bool ok = true;
    ken_status r = KEN_OK;
    if (doc->meta_json) {
        if ((r = query_true(q, Q_JSON_VALID, doc->meta_json, 0, &ok))) return r;
        if (!ok)
            return ken_err_set(&q->base.err, KEN_ERR_INVALID, "store: doc_put: '%s': meta_json "
                               "is not valid JSON", doc->uri);
    }
    if (doc->source_id) {
        if ((r = query_true(q, Q_SOURCE_EXISTS, NULL, doc->source_id, &ok))) return r;
        if (!ok)
            return ken_err_set(&q->base.err, KEN_ERR_INVALID, "store: doc_put: '%s': no source "
                               "with id %lld", doc->uri, (long long)doc->source_id);
    }
    return r;
}

/* The id of (collection, key), 0 if absent. */
static ken_status doc_key_id(sq *q, const char *collection, const char *key, int64_t *id) {
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_DOC_KEY_ID, &st);
    if (r) return r;
    *id = 0;
    int rc = bind_str(st, 1, collection);
    if (rc == SQLITE_OK) rc = bind_str(st, 2, key);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE) r = db_fail(q, rc, "doc_put: looking up the old version");
    stmt_put(q, Q_DOC_KEY_ID, st);
    return r;
}

static ken_status doc_insert(sq *q, const ken_store_doc *doc, const char *key, int64_t old_id,
                             size_t n_chunks, int64_t gen, int64_t *id) {
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_DOC_INS, &st);
    if (r) return r;
    int rc = old_id ? sqlite3_bind_int64(st, 1, old_id) : sqlite3_bind_null(st, 1);
    if (rc == SQLITE_OK)
        rc = doc->source_id ? sqlite3_bind_int64(st, 2, doc->source_id) : sqlite3_bind_null(st, 2);
    if (rc == SQLITE_OK) rc = bind_str(st, 3, doc->collection);
    if (rc == SQLITE_OK) rc = bind_str(st, 4, key);
    if (rc == SQLITE_OK) rc = bind_str(st, 5, doc->ext_id && *doc->ext_id ? doc->ext_id : NULL);
    if (rc == SQLITE_OK) rc = bind_str(st, 6, doc->uri);
    if (rc == SQLITE_OK) rc = bind_str(st, 7, doc->title);
    if (rc == SQLITE_OK) rc = bind_str(st, 8, doc->mime);
    if (rc == SQLITE_OK) rc = bind_str(st, 9, doc->hash);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 10, doc->mtime);
    if (rc == SQLITE_OK) rc = bind_str(st, 11, doc->meta_json);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 12, gen);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 13, (int64_t)n_chunks);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 14, (int64_t)doc->text_len);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text64(st, 15, doc->text ? doc->text : "", doc->text_len,
                                 SQLITE_STATIC, SQLITE_UTF8);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc == SQLITE_DONE) *id = sqlite3_last_insert_rowid(q->db);
    else r = db_fail(q, rc, "doc_put: writing the document");
    stmt_put(q, Q_DOC_INS, st);
    return r;
}

/* Inserts the chunk rows and their FTS rows: two inserts per chunk, the
 * chunk text bound in place from the document text (no copy). */
static ken_status chunks_insert(sq *q, const ken_store_doc *doc, int64_t doc_id,
                                const ken_store_chunk *chunks, size_t n) {
    sqlite3_stmt *ci = NULL, *fi = NULL;
    ken_status r = stmt_get(q, Q_CHUNK_INS, &ci);
    if (!r) r = stmt_get(q, Q_FTS_INS, &fi);
    const char *text = doc->text ? doc->text : "";
    for (size_t i = 0; i < n && !r; i++) {
        const ken_store_chunk *c = &chunks[i];
        const char *what = "doc_put: writing a chunk";
        int rc = sqlite3_bind_int64(ci, 1, doc_id);
        if (rc == SQLITE_OK) rc = sqlite3_bind_int(ci, 2, c->ordinal);
        if (rc == SQLITE_OK) rc = sqlite3_bind_int64(ci, 3, c->start);
        if (rc == SQLITE_OK) rc = sqlite3_bind_int64(ci, 4, c->end);
        if (rc == SQLITE_OK) rc = bind_str(ci, 5, c->heading ? c->heading : "");
        if (rc == SQLITE_OK) rc = sqlite3_bind_int(ci, 6, c->page);
        if (rc == SQLITE_OK) rc = sqlite3_bind_int(ci, 7, c->tokens);
        if (rc == SQLITE_OK) rc = step(q, ci);
        if (rc == SQLITE_DONE) {
            rc = sqlite3_reset(ci);
            what = "doc_put: indexing a chunk";
            if (rc == SQLITE_OK) rc = sqlite3_bind_int64(fi, 1, sqlite3_last_insert_rowid(q->db));
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_text64(fi, 2, text + c->start, (uint64_t)(c->end - c->start),
                                         SQLITE_STATIC, SQLITE_UTF8);
            if (rc == SQLITE_OK) rc = bind_str(fi, 3, c->heading ? c->heading : "");
            if (rc == SQLITE_OK) rc = bind_str(fi, 4, doc->title);
            if (rc == SQLITE_OK) rc = step(q, fi);
            if (rc == SQLITE_DONE) rc = sqlite3_reset(fi);
        }
        if (rc != SQLITE_OK && rc != SQLITE_DONE) r = db_fail(q, rc, what);
    }
    stmt_put(q, Q_CHUNK_INS, ci);
    stmt_put(q, Q_FTS_INS, fi);
    return r;
}

/* The body of doc_put, inside a transaction or savepoint. A replaced
 * document keeps its id: the old row is deleted (the trigger drops its FTS
 * rows, the cascade its chunks) and the new one inserted with the same id. */
static ken_status doc_put_body(sq *q, const ken_store_doc *doc, const ken_store_chunk *chunks,
                               size_t n, int64_t gen, int64_t *id, bool *replaced) {
    const char *key = doc->ext_id && *doc->ext_id ? doc->ext_id : doc->uri;
    int64_t old_id = 0, changes = 0;
    ken_status r = doc_key_id(q, doc->collection, key, &old_id);
    if (!r && old_id) r = run_by_id(q, Q_DOC_DEL, old_id, NULL, "doc_put: removing the old "
                                    "version", &changes);
    if (!r) r = doc_insert(q, doc, key, old_id, n, gen, id);
    if (!r) r = chunks_insert(q, doc, *id, chunks, n);
    if (!r) *replaced = old_id != 0;
    return r;
}

/* Transactions and failures: alone, doc_put is its own transaction (BEGIN
 * IMMEDIATE: the write lock up front, no read-to-write upgrade that could
 * fail as busy). Inside the caller's transaction it adds no savepoint: FTS5
 * flushes its pending terms into a new segment at every savepoint, which
 * measured ~35% of ingest time. Instead, invalid input is refused before
 * anything is written (transaction intact), and a failure once writing has
 * begun (I/O, disk full, corruption) rolls back the whole transaction, as
 * SQLite itself does for several of those errors; the message says so. */
static ken_status sq_doc_put(ken_store *s, const ken_store_doc *doc, const ken_store_chunk *chunks,
                             size_t n_chunks, int64_t gen, int64_t *id_out, bool *replaced) {
    sq *q = (sq *)s;
    ken_status r = need_rw(q, "doc_put");
    if (!r) r = check_doc(q, doc, chunks, n_chunks);
    if (!r) r = check_doc_refs(q, doc);
    if (r) return r;
    bool own_tx = !q->in_tx;
    if (own_tx && (r = run(q, Q_BEGIN, "doc_put: starting"))) return r;
    int64_t id = 0;
    bool rep = false;
    r = doc_put_body(q, doc, chunks, n_chunks, gen, &id, &rep);
    if (!r && own_tx) r = run(q, Q_COMMIT, "doc_put: committing");
    if (!r) {
        if (id_out) *id_out = id;
        if (replaced) *replaced = rep;
        return KEN_OK;
    }
    /* Roll back; the first error's message is kept. */
    ken_err keep = s->err;
    if (!sqlite3_get_autocommit(q->db)) run(q, Q_ROLLBACK, "doc_put: rolling back");
    q->in_tx = false;
    s->err = keep;
    if (!own_tx && !strstr(keep.msg, "rolled back"))
        ken_err_set(&s->err, r, "%s (the transaction was rolled back)", keep.msg);
    return r;
}

static ken_status sq_doc_touch(ken_store *s, int64_t doc_id, int64_t gen) {
    sq *q = (sq *)s;
    int64_t n = 0;
    ken_status r = need_rw(q, "doc_touch");
    if (!r) r = run_by_id(q, Q_DOC_TOUCH, doc_id, &gen, "doc_touch", &n);
    if (!r && n == 0)
        r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no document with id %lld",
                        (long long)doc_id);
    return r;
}

static ken_status sq_source_prune(ken_store *s, int64_t source_id, int64_t gen,
                                  int64_t *n_removed) {
    sq *q = (sq *)s;
    int64_t n = 0;
    ken_status r = need_rw(q, "source_prune");
    if (!r) r = run_by_id(q, Q_PRUNE, source_id, &gen, "source_prune", &n);
    if (!r && n_removed) *n_removed = n;
    return r;
}

static ken_status sq_doc_delete(ken_store *s, int64_t doc_id) {
    sq *q = (sq *)s;
    int64_t n = 0;
    ken_status r = need_rw(q, "doc_delete");
    if (!r) r = run_by_id(q, Q_DOC_DEL, doc_id, NULL, "doc_delete", &n);
    if (!r && n == 0)
        r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no document with id %lld",
                        (long long)doc_id);
    return r;
}

/* ------------------------------------------------------------ chunks */

static void chunk_from_row(sqlite3_stmt *st, ken_store_chunk *c) {
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    c->doc_id = sqlite3_column_int64(st, 1);
    c->ordinal = sqlite3_column_int(st, 2);
    c->start = sqlite3_column_int64(st, 3);
    c->end = sqlite3_column_int64(st, 4);
    c->heading = col_str(st, 5);
    c->page = sqlite3_column_int(st, 6);
    c->tokens = sqlite3_column_int(st, 7);
}

/* Hands the chunks of doc_id to fn, slicing their text from the document
 * text, which is read once. */
static ken_status sq_chunk_list(ken_store *s, int64_t doc_id, ken_store_chunk_fn fn, void *ud) {
    sq *q = (sq *)s;
    sqlite3_stmt *dt = NULL, *cl = NULL;
    ken_status r = stmt_get(q, Q_DOC_TEXT, &dt);
    if (!r) r = stmt_get(q, Q_CHUNK_LIST, &cl);
    int rc = SQLITE_OK;
    if (!r) {
        rc = sqlite3_bind_int64(dt, 1, doc_id);
        if (rc == SQLITE_OK) rc = step(q, dt);
        if (rc == SQLITE_DONE)
            r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no document with id %lld",
                            (long long)doc_id);
        else if (rc != SQLITE_ROW)
            r = db_fail(q, rc, "chunk_list: reading the document");
    }
    if (!r) {
        const char *text = col_str(dt, 0);
        size_t len = (size_t)sqlite3_column_bytes(dt, 0);
        if (!text) text = "";
        rc = sqlite3_bind_int64(cl, 1, doc_id);
        while (rc == SQLITE_OK || rc == SQLITE_ROW) {
            if ((rc = step(q, cl)) != SQLITE_ROW) break;
            ken_store_chunk c;
            chunk_from_row(cl, &c);
            if (c.start < 0 || c.end < c.start || (uint64_t)c.end > len) {
                r = ken_err_set(&s->err, KEN_ERR_STORE, "store: chunk %lld of document %lld "
                                "points outside its text (corrupt store)", (long long)c.id,
                                (long long)doc_id);
                break;
            }
            c.text = text + c.start;
            c.text_len = (size_t)(c.end - c.start);
            if (fn(ud, &c)) { rc = SQLITE_DONE; break; }
        }
        if (!r && rc != SQLITE_DONE) r = db_fail(q, rc, "chunk_list");
    }
    stmt_put(q, Q_CHUNK_LIST, cl);
    stmt_put(q, Q_DOC_TEXT, dt);
    return r;
}

static ken_status sq_chunk_get(ken_store *s, int64_t chunk_id, ken_store_chunk_fn fn, void *ud) {
    sq *q = (sq *)s;
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_CHUNK_GET, &st);
    if (r) return r;
    int rc = sqlite3_bind_int64(st, 1, chunk_id);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc == SQLITE_ROW) {
        ken_store_chunk c;
        chunk_from_row(st, &c);
        c.text = col_str(st, 8);
        c.text_len = (size_t)sqlite3_column_bytes(st, 8);
        if (!c.text) c.text = "";
        fn(ud, &c);
    } else if (rc == SQLITE_DONE) {
        r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no chunk with id %lld",
                        (long long)chunk_id);
    } else {
        r = db_fail(q, rc, "chunk_get");
    }
    stmt_put(q, Q_CHUNK_GET, st);
    return r;
}

/* ------------------------------------------------------------ search */

/* ken_bm25(k1, b, w_1, ..., w_n): BM25 over the whole row (all columns),
 * phrase i weighted w_i. The per-query part (idf per phrase, average row
 * length) is computed once and kept as FTS5 aux data. Returns minus the
 * score, as FTS5 ranks ascending. */
typedef struct {
    int n_phrase;
    double avgdl;
    double *idf, *freq;
} bm25_data;

static int count_rows(const Fts5ExtensionApi *api, Fts5Context *fts, void *ud) {
    (void)api; (void)fts;
    (*(sqlite3_int64 *)ud)++;
    return SQLITE_OK;
}

static int bm25_prepare(const Fts5ExtensionApi *api, Fts5Context *fts, bm25_data **out) {
    int np = api->xPhraseCount(fts);
    bm25_data *d = sqlite3_malloc64(sizeof *d + 2 * (size_t)(np > 0 ? np : 1) * sizeof(double));
    if (!d) return SQLITE_NOMEM;
    d->n_phrase = np;
    d->idf = (double *)(d + 1);
    d->freq = d->idf + (np > 0 ? np : 1);
    sqlite3_int64 rows = 0, tokens = 0;
    int rc = api->xRowCount(fts, &rows);
    if (rc == SQLITE_OK) rc = api->xColumnTotalSize(fts, -1, &tokens);
    d->avgdl = rows > 0 && tokens > 0 ? (double)tokens / (double)rows : 1.0;
    for (int i = 0; i < np && rc == SQLITE_OK; i++) {
        sqlite3_int64 hits = 0;
        rc = api->xQueryPhrase(fts, i, &hits, count_rows);
        d->idf[i] = ken_store_bm25_idf((double)rows, (double)hits);
    }
    if (rc == SQLITE_OK) rc = api->xSetAuxdata(fts, d, sqlite3_free);
    else sqlite3_free(d);
    if (rc == SQLITE_OK) *out = d;
    return rc;
}

static void ken_bm25(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
                     int n_val, sqlite3_value **val) {
    double k1 = n_val > 0 ? sqlite3_value_double(val[0]) : 1.2;
    double b = n_val > 1 ? sqlite3_value_double(val[1]) : 0.75;
    if (!(k1 >= 0 && k1 <= 100) || !(b >= 0 && b <= 1)) {
        sqlite3_result_error(ctx, "ken_bm25: k1 must be in [0, 100] and b in [0, 1]", -1);
        return;
    }
    bm25_data *d = api->xGetAuxdata(fts, 0);
    int rc = d ? SQLITE_OK : bm25_prepare(api, fts, &d);
    int n_inst = 0, dl = 0;
    if (rc == SQLITE_OK) rc = api->xInstCount(fts, &n_inst);
    if (rc == SQLITE_OK) rc = api->xColumnSize(fts, -1, &dl);
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    for (int i = 0; i < d->n_phrase; i++) d->freq[i] = 0;
    for (int i = 0; i < n_inst && rc == SQLITE_OK; i++) {
        int phrase, col, off;
        rc = api->xInst(fts, i, &phrase, &col, &off);
        if (rc == SQLITE_OK && phrase >= 0 && phrase < d->n_phrase) d->freq[phrase] += 1;
    }
    /* The arithmetic lives in lexcache.c, shared with the accelerator. */
    double score = 0, norm = ken_store_bm25_norm(k1, b, (double)dl, d->avgdl);
    for (int i = 0; i < d->n_phrase; i++) {
        double w = 2 + i < n_val ? sqlite3_value_double(val[2 + i]) : 1.0;
        double f = d->freq[i];
        if (f > 0 && w == w) score += ken_store_bm25_term(w, d->idf[i], f, k1, norm);
    }
    if (rc != SQLITE_OK) sqlite3_result_error_code(ctx, rc);
    else sqlite3_result_double(ctx, -score);
}

/* ken_rowcount(): the number of rows of the FTS table (for idf). */
static void ken_rowcount(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
                         int n_val, sqlite3_value **val) {
    (void)n_val; (void)val;
    sqlite3_int64 rows = 0;
    int rc = api->xRowCount(fts, &rows);
    if (rc != SQLITE_OK) sqlite3_result_error_code(ctx, rc);
    else sqlite3_result_int64(ctx, rows);
}

static ken_status register_fts_functions(sq *q) {
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(q->db, "SELECT fts5(?1)", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_finalize(st);
    if (rc != SQLITE_OK || !api || api->iVersion < 2)
        return ken_err_set(&q->base.err, KEN_ERR_UNSUPPORTED,
                           "store: this SQLite has no usable FTS5");
    rc = api->xCreateFunction(api, "ken_bm25", NULL, ken_bm25, NULL);
    if (rc == SQLITE_OK) rc = api->xCreateFunction(api, "ken_rowcount", NULL, ken_rowcount, NULL);
    return rc == SQLITE_OK ? KEN_OK : db_fail(q, rc, "registering FTS5 functions");
}

static int bind_search(sqlite3_stmt *st, const ken_store_search_q *sq_) {
    int rc = bind_str(st, 1, sq_->match);
    if (rc == SQLITE_OK) rc = bind_str(st, 2, sq_->rank ? sq_->rank : "ken_bm25(1.2, 0.75)");
    if (rc == SQLITE_OK) rc = bind_str(st, 3, sq_->mark_open);
    if (rc == SQLITE_OK) rc = bind_str(st, 4, sq_->mark_close);
    if (rc == SQLITE_OK) rc = bind_str(st, 5, sq_->collection);
    if (rc == SQLITE_OK)
        rc = bind_str(st, 6, sq_->uri_prefix && *sq_->uri_prefix ? sq_->uri_prefix : NULL);
    if (rc == SQLITE_OK) rc = bind_str(st, 7, sq_->mime);
    if (rc == SQLITE_OK) rc = bind_str(st, 8, sq_->meta_path);
    if (rc == SQLITE_OK) rc = bind_str(st, 9, sq_->meta_value);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 10, sq_->limit > 0 ? sq_->limit : -1);
    return rc;
}

/* A rank is name(number, ...) and nothing else: FTS5 would take more
 * general literals and ignore trailing text; refuse both. Numbers as FTS5's
 * rank parser reads them: no exponent ("1e-05" is a parse error there). */
static bool rank_ok(const char *r) {
    size_t i = 0, n = strlen(r);
    if (n > 4096) return false;
    while (i < n && (isalnum((unsigned char)r[i]) || r[i] == '_')) i++;
    if (i == 0 || i >= n || r[i++] != '(') return false;
    bool need = false;
    for (;;) {
        while (i < n && r[i] == ' ') i++;
        if (i < n && r[i] == ')' && !need) return i + 1 == n;
        /* A number as FTS5 reads it: sign, digits, at most one '.', no exponent. */
        if (i < n && (r[i] == '-' || r[i] == '+')) i++;
        int digits = 0, dots = 0;
        for (; i < n && (isdigit((unsigned char)r[i]) || r[i] == '.'); i++) {
            if (r[i] == '.') dots++;
            else digits++;
        }
        if (digits == 0 || dots > 1) return false;
        while (i < n && r[i] == ' ') i++;
        if (i < n && r[i] == ',') { i++; need = true; continue; }
        need = false;
        if (i < n && r[i] == ')') return i + 1 == n;
        return false;
    }
}

/* Top-k search in two steps (used when a limit is given). The sorted "ORDER
 * BY rank" plan of Q_SEARCH makes FTS5 sort every match before the first
 * row comes out; measured on the 100 MB bench corpus it costs ~1.7x the
 * bare `ORDER BY bm25() LIMIT k` query. Step 1 is that bare shape (SQLite
 * keeps a top-k heap; the join to documents only when a filter needs it),
 * step 2 reads chunk, document and snippet for the k winners by rowid. */
#define TOP_ROWS_MAX 1000000

/* "name(a, b)" (validated by rank_ok) as an SQL call on chunks_fts. */
static ken_status top_sql(const ken_store_search_q *f, ken_buf *sql) {
    const char *rank = f->rank ? f->rank : "ken_bm25(1.2, 0.75)";
    const char *open = strchr(rank, '(');
    const char *p = open + 1;
    while (*p == ' ') p++;
    bool filt = f->collection || (f->uri_prefix && *f->uri_prefix) || f->mime || f->meta_path;
    ken_status r = ken_buf_printf(&sql[0], "SELECT chunks_fts.rowid, %.*s(chunks_fts%s%s AS r",
                                  (int)(open - rank), rank, *p == ')' ? "" : ", ", p);
    if (!r && filt)
        r = ken_buf_puts(sql, " FROM chunks_fts CROSS JOIN chunks c ON c.id = chunks_fts.rowid"
                              " CROSS JOIN documents d ON d.id = c.doc_id"
                              " WHERE chunks_fts MATCH ?1"
                              " AND (?5 IS NULL OR d.collection = ?5)"
                              " AND (?6 IS NULL OR substr(d.uri, 1, length(?6)) = ?6)"
                              " AND (?7 IS NULL OR d.mime = ?7)"
                              " AND (?8 IS NULL OR CAST(json_extract(d.meta, ?8) AS TEXT) = ?9)"
                              " ORDER BY r, chunks_fts.rowid LIMIT ?10");
    else if (!r)
        r = ken_buf_puts(sql, " FROM chunks_fts WHERE chunks_fts MATCH ?1"
                              " ORDER BY r, chunks_fts.rowid LIMIT ?10");
    return r;
}

typedef ken_store_lexrow top_row;   /* chunk id, score */

/* Step 1: rowids and scores of the best `limit` rows. */
static ken_status top_rank(sq *q, const ken_store_search_q *f, top_row **out, size_t *n) {
    *out = NULL;
    *n = 0;
    ken_buf sql;
    ken_buf_init(&sql, 0);
    sqlite3_stmt *st = NULL;
    ken_status r = top_sql(f, &sql);
    if (r) return ken_err_set(&q->base.err, r, "store: search: out of memory");
    int rc = sqlite3_prepare_v2(q->db, sql.data, -1, &st, NULL);
    ken_buf_free(&sql);
    if (rc == SQLITE_OK) rc = bind_search(st, f);
    size_t cap = 0, cnt = 0;
    top_row *v = NULL;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = step(q, st)) != SQLITE_ROW) break;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 64;
            top_row *nv = nc <= TOP_ROWS_MAX ? realloc(v, nc * sizeof *nv) : NULL;
            if (!nv) { rc = SQLITE_NOMEM; break; }
            v = nv;
            cap = nc;
        }
        v[cnt++] = (top_row){sqlite3_column_int64(st, 0), -sqlite3_column_double(st, 1)};
    }
    if (rc != SQLITE_DONE) {
        r = db_fail(q, rc, "search");
        free(v);
        v = NULL;
        cnt = 0;
    }
    sqlite3_finalize(st);
    *out = v;
    *n = cnt;
    return r;
}

/* Step 2 state across the winners of one search: an incremental-blob
 * handle on documents.text (moved from row to row: reading a chunk's bytes
 * touches only its pages, where substr() would load the whole document),
 * and buffers for the text and the snippet. */
typedef struct {
    sqlite3_blob *blob;
    ken_buf text, snip;
} top_state;

static void top_state_close(top_state *ts) {
    sqlite3_blob_close(ts->blob);
    ken_buf_free(&ts->text);
    ken_buf_free(&ts->snip);
}

/* Bytes [start, end) of document doc's text into ts->text (clamped to the
 * text, as substr() would), NUL-terminated. */
static ken_status hit_text(sq *q, top_state *ts, int64_t doc, int64_t start, int64_t end) {
    int rc = ts->blob ? sqlite3_blob_reopen(ts->blob, doc)
                      : sqlite3_blob_open(q->db, "main", "documents", "text", doc, 0, &ts->blob);
    if (rc != SQLITE_OK) {
        sqlite3_blob_close(ts->blob);   /* a failed reopen leaves it unusable */
        ts->blob = NULL;
        return db_fail(q, rc, "search");
    }
    int64_t n = sqlite3_blob_bytes(ts->blob);
    if (start < 0) start = 0;
    if (end > n) end = n;
    if (end < start) end = start;
    ts->text.len = 0;
    if (ken_buf_reserve(&ts->text, (size_t)(end - start) + 1))
        return ken_err_set(&q->base.err, KEN_ERR_NOMEM, "store: search: out of memory");
    if (end > start &&
        (rc = sqlite3_blob_read(ts->blob, ts->text.data, (int)(end - start), (int)start)))
        return db_fail(q, rc, "search");
    ts->text.len = (size_t)(end - start);
    ts->text.data[ts->text.len] = '\0';
    return KEN_OK;
}

/* Step 2 through FTS5 (its snippet() for the winner). */
static ken_status top_hit_fts(sq *q, const ken_store_search_q *f, const top_row *row,
                              ken_store_hit_fn fn, void *ud, int *stop) {
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_SEARCH_ROW, &st);
    if (r) return r;
    int rc = bind_str(st, 1, f->match);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, row->id);
    if (rc == SQLITE_OK) rc = bind_str(st, 3, f->mark_open);
    if (rc == SQLITE_OK) rc = bind_str(st, 4, f->mark_close);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc == SQLITE_ROW) {
        ken_store_hit h = {
            .chunk_id = row->id, .doc_id = sqlite3_column_int64(st, 0),
            .ordinal = sqlite3_column_int(st, 1), .start = sqlite3_column_int64(st, 2),
            .end = sqlite3_column_int64(st, 3), .heading = col_str(st, 4),
            .page = sqlite3_column_int(st, 5), .ext_id = col_str(st, 6), .uri = col_str(st, 7),
            .title = col_str(st, 8), .collection = col_str(st, 9), .mime = col_str(st, 10),
            .text = col_str(st, 11), .text_len = (size_t)sqlite3_column_bytes(st, 11),
            .score = row->score, .snippet = col_str(st, 12),
        };
        if (!h.text) h.text = "";
        *stop = fn(ud, &h);
    } else if (rc != SQLITE_DONE) {
        r = db_fail(q, rc, "search");
    }
    stmt_put(q, Q_SEARCH_ROW, st);
    return r;
}

/* Step 2: one winner's chunk, document and snippet to fn; *stop from fn.
 * The snippet comes from the accelerator when there is one (the same text
 * FTS5 would give, lexcache.c), else from FTS5. */
static ken_status top_hit(sq *q, const ken_store_search_q *f, const top_row *row,
                          top_state *ts, ken_store_hit_fn fn, void *ud, int *stop) {
    if (f->mark_open && !q->lex) return top_hit_fts(q, f, row, fn, ud, stop);
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_SEARCH_ROW_DOC, &st);
    if (r) return r;
    int rc = sqlite3_bind_int64(st, 1, row->id);
    if (rc == SQLITE_OK) rc = step(q, st);
    bool fts = false;
    if (rc == SQLITE_ROW) {
        ken_store_hit h = {
            .chunk_id = row->id, .doc_id = sqlite3_column_int64(st, 0),
            .ordinal = sqlite3_column_int(st, 1), .start = sqlite3_column_int64(st, 2),
            .end = sqlite3_column_int64(st, 3), .heading = col_str(st, 4),
            .page = sqlite3_column_int(st, 5), .ext_id = col_str(st, 6), .uri = col_str(st, 7),
            .title = col_str(st, 8), .collection = col_str(st, 9), .mime = col_str(st, 10),
            .score = row->score,
        };
        r = hit_text(q, ts, h.doc_id, h.start, h.end);
        h.text = ts->text.data;
        h.text_len = ts->text.len;
        if (!r && f->mark_open) {
            ts->snip.len = 0;
            r = ken_store_lexcache_snippet(q->lex, f->match, h.text, h.text_len, f->mark_open,
                                           f->mark_close ? f->mark_close : f->mark_open,
                                           "\xe2\x80\xa6", 24, &ts->snip, &q->base.err);
            if (r == KEN_ERR_UNSUPPORTED) fts = true, r = KEN_OK;
            else if (!r) r = ken_buf_putc(&ts->snip, '\0') ? KEN_ERR_NOMEM : KEN_OK;
            h.snippet = ts->snip.data;
        }
        if (!r && !fts) *stop = fn(ud, &h);
    } else if (rc != SQLITE_DONE) {
        r = db_fail(q, rc, "search");
    }
    stmt_put(q, Q_SEARCH_ROW_DOC, st);
    if (!r && fts) r = top_hit_fts(q, f, row, fn, ud, stop);
    return r;
}

static ken_status search_top(sq *q, const ken_store_search_q *f, ken_store_hit_fn fn, void *ud) {
    top_row *v;
    size_t n;
    /* The in-memory accelerator when enabled and able, else FTS5. */
    ken_status r = q->lex ? ken_store_lexcache_rank(q->lex, f, &v, &n, &q->base.err)
                          : KEN_ERR_UNSUPPORTED;
    if (r == KEN_ERR_UNSUPPORTED) r = top_rank(q, f, &v, &n);
    int stop = 0;
    top_state ts = {0};
    ken_buf_init(&ts.text, TEXT_BYTES_MAX);
    ken_buf_init(&ts.snip, TEXT_BYTES_MAX);
    for (size_t i = 0; i < n && !r && !stop; i++) r = top_hit(q, f, &v[i], &ts, fn, ud, &stop);
    top_state_close(&ts);
    free(v);
    return r;
}

static ken_status sq_search(ken_store *s, const ken_store_search_q *sq_, ken_store_hit_fn fn,
                            void *ud) {
    sq *q = (sq *)s;
    if (!sq_ || !sq_->match || !*sq_->match || !fn)
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: search: no query");
    if (sq_->rank && !rank_ok(sq_->rank))
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: search: rank '%.200s' is not "
                           "name(number, ...)", sq_->rank);
    if (sq_->limit < 0 || (sq_->meta_path && !sq_->meta_value))
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: search: bad limit or meta filter");
    if (sq_->limit > 0) return search_top(q, sq_, fn, ud);
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_SEARCH, &st);
    if (r) return r;
    int rc = bind_search(st, sq_);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = step(q, st)) != SQLITE_ROW) break;
        ken_store_hit h = {
            .chunk_id = sqlite3_column_int64(st, 0), .doc_id = sqlite3_column_int64(st, 1),
            .ordinal = sqlite3_column_int(st, 2), .start = sqlite3_column_int64(st, 3),
            .end = sqlite3_column_int64(st, 4), .heading = col_str(st, 5),
            .page = sqlite3_column_int(st, 6), .ext_id = col_str(st, 7), .uri = col_str(st, 8),
            .title = col_str(st, 9), .collection = col_str(st, 10), .mime = col_str(st, 11),
            .text = col_str(st, 12), .text_len = (size_t)sqlite3_column_bytes(st, 12),
            .score = sqlite3_column_double(st, 13), .snippet = col_str(st, 14),
        };
        if (!h.text) h.text = "";
        if (fn(ud, &h)) { rc = SQLITE_DONE; break; }
    }
    if (rc != SQLITE_DONE) r = db_fail(q, rc, "search");
    stmt_put(q, Q_SEARCH, st);
    return r;
}

/* Runs a one-row query with an optional text parameter; *v = column 0
 * (unchanged when there is no row). */
static ken_status query_one(sq *q, int id, const char *arg, int64_t *v, const char *what) {
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, id, &st);
    if (r) return r;
    int rc = arg ? bind_str(st, 1, arg) : SQLITE_OK;
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc == SQLITE_ROW) *v = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE) r = db_fail(q, rc, what);
    stmt_put(q, id, st);
    return r;
}

static ken_status sq_match_count(ken_store *s, const char *match, int64_t *df, int64_t *n) {
    sq *q = (sq *)s;
    if (!match || !*match || !df || !n)
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: match_count: no query");
    *df = 0;
    *n = -1;
    ken_status r = query_one(q, Q_MATCH_COUNT, match, df, "match_count");
    /* N from FTS5's own row count (cheap) through any matching row; with
     * no match there is none, so count the chunks. */
    if (!r && *df > 0) r = query_one(q, Q_ROW_COUNT, match, n, "match_count");
    if (!r && *n < 0) r = query_one(q, Q_CHUNK_COUNT, NULL, n, "match_count");
    return r;
}

/* ------------------------------------------------------------ stats, config, check */

/* Runs a one-shot query (not cached) and reads up to n integer columns of its
 * first row. */
static ken_status query_ints(sq *q, const char *sql, int64_t *v, int n, const char *what) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc == SQLITE_ROW) {
        for (int i = 0; i < n; i++) v[i] = sqlite3_column_int64(st, i);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        for (int i = 0; i < n; i++) v[i] = 0;
        rc = SQLITE_OK;
    }
    ken_status r = rc == SQLITE_OK ? KEN_OK : db_fail(q, rc, what);
    sqlite3_finalize(st);
    return r;
}

static ken_status sq_stats(ken_store *s, ken_store_stats *out) {
    sq *q = (sq *)s;
    memset(out, 0, sizeof *out);
    int64_t v[3];
    ken_status r = query_ints(q, "SELECT count(*) FROM sources", v, 1, "stats");
    if (r) return r;
    out->sources = v[0];
    r = query_ints(q, "SELECT count(*), coalesce(sum(text_bytes), 0), count(DISTINCT collection)"
                      " FROM documents", v, 3, "stats");
    if (r) return r;
    out->documents = v[0];
    out->text_bytes = v[1];
    out->collections = v[2];
    if ((r = query_ints(q, "SELECT count(*) FROM chunks", v, 1, "stats"))) return r;
    out->chunks = v[0];
    if ((r = query_ints(q, "SELECT page_count * page_size FROM pragma_page_count,"
                           " pragma_page_size", v, 1, "stats")))
        return r;
    out->file_bytes = v[0];
    if ((r = query_ints(q, "PRAGMA user_version", v, 1, "stats"))) return r;
    out->schema_version = (int32_t)v[0];
    return KEN_OK;
}

static ken_status sq_config_get(ken_store *s, const char *key, ken_buf *out) {
    sq *q = (sq *)s;
    if (!key || !out) return ken_err_set(&s->err, KEN_ERR_INVALID, "store: config_get: no key");
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_CONFIG_GET, &st);
    if (r) return r;
    int rc = bind_str(st, 1, key);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc == SQLITE_ROW) {
        const char *v = col_str(st, 0);
        ken_buf_reset(out);
        r = ken_buf_append(out, v ? v : "", (size_t)sqlite3_column_bytes(st, 0));
        if (r) r = ken_err_set(&s->err, r, "store: config_get: '%s': value too large", key);
    } else if (rc == SQLITE_DONE) {
        r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: config key '%s' is not set", key);
    } else {
        r = db_fail(q, rc, "config_get");
    }
    stmt_put(q, Q_CONFIG_GET, st);
    return r;
}

static ken_status sq_config_set(ken_store *s, const char *key, const char *value) {
    sq *q = (sq *)s;
    ken_status r = need_rw(q, "config_set");
    if (r) return r;
    if (!key || !value)
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: config_set: key and value needed");
    sqlite3_stmt *st;
    if ((r = stmt_get(q, Q_CONFIG_SET, &st))) return r;
    int rc = bind_str(st, 1, key);
    if (rc == SQLITE_OK) rc = bind_str(st, 2, value);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc != SQLITE_DONE) r = db_fail(q, rc, "config_set");
    stmt_put(q, Q_CONFIG_SET, st);
    return r;
}

/* Collects the rows of a check query that are not "ok" into the message. */
static ken_status check_query(sq *q, const char *sql, const char *what, bool ok_row) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
    ken_status r = KEN_OK;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = step(q, st)) != SQLITE_ROW) break;
        const char *v = col_str(st, 0);
        if (ok_row && v && strcmp(v, "ok") == 0) continue;
        r = ken_err_set(&q->base.err, KEN_ERR_STORE, "store: %s failed: %s", what,
                        v ? v : "(row)");
        break;
    }
    if (!r && rc != SQLITE_DONE) r = db_fail(q, rc, what);
    sqlite3_finalize(st);
    return r;
}

/* Full consistency check: SQLite's integrity check, foreign keys, and (when
 * writable: FTS5 runs it as an INSERT) the FTS index against the chunks. */
static ken_status sq_check(ken_store *s) {
    sq *q = (sq *)s;
    ken_status r = check_query(q, "PRAGMA integrity_check", "integrity check", true);
    if (!r) r = check_query(q, "PRAGMA foreign_key_check", "foreign key check", false);
    /* What the schema cannot state: spans inside the text, counts right. */
    if (!r)
        r = check_query(q, "SELECT 'chunk ' || c.id || ' lies outside the text of document ' ||"
                           " d.id FROM chunks c JOIN documents d ON d.id = c.doc_id"
                           " WHERE c.end_byte > d.text_bytes LIMIT 1", "span check", false);
    if (!r)
        r = check_query(q, "SELECT 'document ' || id || ' has a wrong text length or chunk"
                           " count' FROM documents d WHERE text_bytes <> length(CAST(text AS BLOB))"
                           " OR n_chunks <> (SELECT count(*) FROM chunks WHERE doc_id = d.id)"
                           " LIMIT 1", "count check", false);
    if (!r && !q->readonly)
        r = check_query(q, "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1)",
                        "FTS index check", false);
    return r;
}

/* ------------------------------------------------------------ chat sessions */

#define SESSION_NAME_MAX 256
#define TURN_BYTES_MAX (16u << 20)

static ken_status sq_session_open(ken_store *s, const char *name, bool create, int64_t *id_out) {
    sq *q = (sq *)s;
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SESSION_NAME_MAX || !ken_utf8_valid(name, n))
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: a session name is 1 to %d bytes "
                           "of valid UTF-8", SESSION_NAME_MAX);
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_SESSION_GET, &st);
    if (r) return r;
    int rc = bind_str(st, 1, name);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc == SQLITE_ROW) *id_out = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE) r = db_fail(q, rc, "session_open");
    stmt_put(q, Q_SESSION_GET, st);
    if (r || rc == SQLITE_ROW) return r;
    if (!create)
        return ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no session named '%s'", name);
    if ((r = need_rw(q, "session_open"))) return r;
    if ((r = stmt_get(q, Q_SESSION_INS, &st))) return r;
    rc = bind_str(st, 1, name);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc == SQLITE_ROW) *id_out = sqlite3_column_int64(st, 0);
    else r = db_fail(q, rc, "creating a session");
    stmt_put(q, Q_SESSION_INS, st);
    return r;
}

static ken_status sq_session_list(ken_store *s, ken_store_session_fn fn, void *ud) {
    sq *q = (sq *)s;
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_SESSION_LIST, &st);
    if (r) return r;
    int rc;
    while ((rc = step(q, st)) == SQLITE_ROW) {
        ken_store_session x = {
            .id = sqlite3_column_int64(st, 0), .name = col_str(st, 1),
            .created = sqlite3_column_int64(st, 2), .updated = sqlite3_column_int64(st, 3),
            .n_turns = sqlite3_column_int64(st, 4)};
        if (fn(ud, &x)) { rc = SQLITE_DONE; break; }
    }
    if (rc != SQLITE_DONE) r = db_fail(q, rc, "session_list");
    stmt_put(q, Q_SESSION_LIST, st);
    return r;
}

static ken_status sq_session_delete(ken_store *s, int64_t session_id) {
    sq *q = (sq *)s;
    ken_status r = need_rw(q, "session_delete");
    if (r) return r;
    sqlite3_stmt *st;
    if ((r = stmt_get(q, Q_SESSION_DEL, &st))) return r;
    int rc = sqlite3_bind_int64(st, 1, session_id);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc != SQLITE_DONE) r = db_fail(q, rc, "session_delete");
    else if (sqlite3_changes(q->db) == 0)
        r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no session %lld", (long long)session_id);
    stmt_put(q, Q_SESSION_DEL, st);
    return r;
}

/* Appends the turn and touches the session, as one transaction of its own
 * unless the caller has one open. */
static ken_status turn_insert(sq *q, int64_t session_id, const ken_store_turn *t, int64_t now,
                              int64_t *id_out) {
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_TURN_INS, &st);
    if (r) return r;
    int rc = sqlite3_bind_int64(st, 1, session_id);
    if (rc == SQLITE_OK) rc = bind_str(st, 2, t->role);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 3, t->content ? t->content : "", (int)t->content_len,
                               SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = bind_str(st, 4, t->sources_json);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 5, now);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc == SQLITE_ROW) {
        if (id_out) *id_out = sqlite3_column_int64(st, 0);
    } else {
        r = db_fail(q, rc, "turn_add");
    }
    stmt_put(q, Q_TURN_INS, st);
    if (r) return r;
    if ((r = stmt_get(q, Q_SESSION_TOUCH, &st))) return r;
    rc = sqlite3_bind_int64(st, 1, session_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, now);
    if (rc == SQLITE_OK) rc = step(q, st);
    if (rc != SQLITE_DONE) r = db_fail(q, rc, "turn_add");
    else if (sqlite3_changes(q->db) == 0)
        r = ken_err_set(&q->base.err, KEN_ERR_NOTFOUND, "store: no session %lld",
                        (long long)session_id);
    stmt_put(q, Q_SESSION_TOUCH, st);
    return r;
}

static ken_status sq_turn_add(ken_store *s, int64_t session_id, const ken_store_turn *t,
                              int64_t *id_out) {
    sq *q = (sq *)s;
    ken_status r = need_rw(q, "turn_add");
    if (r) return r;
    static const char *const roles[] = {"system", "user", "assistant", "tool"};
    bool role_ok = false;
    for (size_t i = 0; t && t->role && i < KEN_ARRAY_LEN(roles); i++)
        role_ok |= strcmp(t->role, roles[i]) == 0;
    if (!role_ok)
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: a turn's role is system, user, "
                           "assistant or tool");
    if (t->content_len > TURN_BYTES_MAX)
        return ken_err_set(&s->err, KEN_ERR_LIMIT, "store: a turn of %zu bytes is over the "
                           "limit of %u", t->content_len, TURN_BYTES_MAX);
    if (!ken_utf8_valid(t->content ? t->content : "", t->content_len))
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: a turn's content is not valid UTF-8");
    bool own = !q->in_tx;
    if (own && (r = sq_begin(s))) return r;
    int64_t now = (int64_t)time(NULL);
    r = turn_insert(q, session_id, t, now, id_out);
    if (own) {
        if (r) sq_rollback(s);
        else r = sq_commit(s);
    }
    return r;
}

static ken_status sq_turn_list(ken_store *s, int64_t session_id, ken_store_turn_fn fn, void *ud) {
    sq *q = (sq *)s;
    sqlite3_stmt *st;
    ken_status r = stmt_get(q, Q_TURN_LIST, &st);
    if (r) return r;
    int rc = sqlite3_bind_int64(st, 1, session_id);
    while (rc == SQLITE_OK && (rc = step(q, st)) == SQLITE_ROW) {
        ken_store_turn x = {
            .id = sqlite3_column_int64(st, 0), .session_id = sqlite3_column_int64(st, 1),
            .ordinal = sqlite3_column_int(st, 2), .role = col_str(st, 3),
            .content = col_str(st, 4), .content_len = (size_t)sqlite3_column_bytes(st, 4),
            .sources_json = col_str(st, 5), .created = sqlite3_column_int64(st, 6)};
        if (fn(ud, &x)) { rc = SQLITE_DONE; break; }
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE) r = db_fail(q, rc, "turn_list");
    stmt_put(q, Q_TURN_LIST, st);
    return r;
}

/* ------------------------------------------------------------ open, migrate, close */

static void sq_close(ken_store *s) {
    sq *q = (sq *)s;
    if (!q) return;
    ken_store_lexcache_close(q->lex);
    for (int i = 0; i < Q_N; i++) sqlite3_finalize(q->stmt[i]);
    sqlite3_close_v2(q->db);    /* rolls back an open transaction */
    free(q);
}

static ken_status exec(sq *q, const char *sql, const char *what) {
    char *msg = NULL;
    int rc = sqlite3_exec(q->db, sql, NULL, NULL, &msg);
    ken_status r = KEN_OK;
    if (rc != SQLITE_OK)
        r = ken_err_set(&q->base.err, status_of(rc), "store: %s: %s", what,
                        msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return r;
}

/* Reads application_id, user_version and the number of schema objects. A
 * file that is not SQLite fails here (the header is read first). */
static ken_status read_identity(sq *q, const char *path, int64_t v[3]) {
    ken_status r = query_ints(q, "SELECT a.application_id, u.user_version,"
                                 " (SELECT count(*) FROM sqlite_schema)"
                                 " FROM pragma_application_id a, pragma_user_version u",
                              v, 3, "reading the schema version");
    if (r && (status_of(sqlite3_errcode(q->db)) == KEN_ERR_STORE))
        return ken_err_set(&q->base.err, KEN_ERR_FORMAT, "store '%s' is not a ken store (not an "
                           "SQLite database, or corrupt): %s", path, sqlite3_errmsg(q->db));
    return r;
}

/* Checks the identity: a ken store of a version we know, or an empty file.
 * *version is 0 for an empty database. */
static ken_status check_identity(sq *q, const char *path, const int64_t v[3], int *version) {
    ken_err *e = &q->base.err;
    if (v[0] != APP_ID) {
        if (v[1] != 0 || v[2] != 0)
            return ken_err_set(e, KEN_ERR_FORMAT, "'%s' is an SQLite database but not a ken "
                               "store", path);
        *version = 0;
        return KEN_OK;
    }
    if (v[1] > SCHEMA_MAX)
        return ken_err_set(e, KEN_ERR_VERSION, "store schema version %lld is newer than this "
                           "ken supports (%d); upgrade ken", (long long)v[1], SCHEMA_MAX);
    if (v[1] < 0)
        return ken_err_set(e, KEN_ERR_FORMAT, "store '%s' has an invalid schema version %lld",
                           path, (long long)v[1]);
    *version = (int)v[1];
    return KEN_OK;
}

/* Applies the missing migrations in one transaction, re-reading the version
 * under the write lock (another process may have migrated meanwhile). */
static ken_status migrate(sq *q, const char *path) {
    ken_status r = exec(q, "BEGIN IMMEDIATE", "migrating the schema");
    if (r) return r;
    int64_t v[3];
    int version = 0;
    r = read_identity(q, path, v);
    if (!r) r = check_identity(q, path, v, &version);
    for (int i = version; !r && i < SCHEMA_MAX; i++) {
        char what[64];
        snprintf(what, sizeof what, "migrating the schema to version %d", i + 1);
        r = exec(q, migrations[i], what);
    }
    if (!r && version < SCHEMA_MAX) {
        char sql[128];
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d",
                 APP_ID, SCHEMA_MAX);
        r = exec(q, sql, "setting the schema version");
    }
    if (!r) return exec(q, "COMMIT", "committing the schema migration");
    ken_err keep = q->base.err;
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    q->base.err = keep;
    return r;
}

/* Switches the file to WAL. While another process creates the same new
 * store, SQLite may answer SQLITE_BUSY at once, without its busy handler
 * (it does so where waiting could deadlock), so the switch is retried here
 * for as long as the busy timeout allows. */
static ken_status enable_wal(sq *q) {
    int rc = SQLITE_OK;
    for (int waited = 0;; waited += 10) {
        rc = sqlite3_exec(q->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if ((rc & 0xFF) != SQLITE_BUSY || waited >= BUSY_TIMEOUT_MS) break;
        sqlite3_sleep(10);
    }
    if (rc == SQLITE_OK) return KEN_OK;
    return ken_err_set(&q->base.err, status_of(rc), "store: enabling WAL: %s",
                       sqlite3_errmsg(q->db));
}

/* Connection settings, the schema check and migration, the generation. */
static ken_status setup(sq *q, const char *path) {
    sqlite3_extended_result_codes(q->db, 1);
    sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
    int64_t v[3];
    int version = 0;
    ken_status r = read_identity(q, path, v);
    if (!r) r = check_identity(q, path, v, &version);
    if (!r) r = register_fts_functions(q);
    if (r) return r;
    if (q->readonly && version == 0)
        return ken_err_set(&q->base.err, KEN_ERR_FORMAT, "store '%s' is empty (never "
                           "initialized); open it read-write first", path);
    if (q->readonly && version < SCHEMA_MAX)
        return ken_err_set(&q->base.err, KEN_ERR_VERSION, "store schema version %d is older "
                           "than this ken's (%d); open it read-write once to migrate it",
                           version, SCHEMA_MAX);
    r = exec(q, "PRAGMA foreign_keys = ON", "enabling foreign keys");
    /* A 64 MiB page cache (SQLite's default is 2 MiB): FTS5 segment merges
     * and the B-tree inserts of a large ingest stay in memory. Pages are
     * allocated as used, so a small store costs nothing. */
    if (!r) r = exec(q, "PRAGMA cache_size = -65536", "setting the cache size");
    if (!r && !q->readonly) {
        /* WAL persists in the file; NORMAL sync is durable against process
         * crashes in WAL mode (see the top of this file). */
        r = enable_wal(q);
        if (!r) r = exec(q, "PRAGMA synchronous = NORMAL", "setting synchronous");
        if (!r && version < SCHEMA_MAX) r = migrate(q, path);
        /* Writes bump the counter the BM25 accelerators watch (lexcache.h). */
        if (!r) r = ken_store_lexcache_triggers(q->db, &q->base.err);
    }
    if (r) return r;
    int64_t gen = 0;
    r = query_ints(q, "SELECT coalesce(max(seen_gen), 0) + 1 FROM documents", &gen, 1,
                   "reading the generation");
    q->base.gen = gen;
    return r;
}

ken_status ken_store_open_sqlite(const ken_store_opts *opts, ken_store **out, ken_err *err) {
    KEN_ASSERT(out);
    *out = NULL;
    if (!opts || !opts->path || !*opts->path)
        return ken_err_set(err, KEN_ERR_INVALID, "store: no path given");
    const char *path = opts->path;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT)
            return ken_err_set(err, KEN_ERR_IO, "store '%s': %s", path, strerror(errno));
        if (!opts->create || opts->readonly)
            return ken_err_set(err, KEN_ERR_NOTFOUND, "store '%s' does not exist", path);
        ken_status r = ken_mkdir_parent(path, err);
        if (r) return r;
    } else if (S_ISDIR(sb.st_mode)) {
        return ken_err_set(err, KEN_ERR_INVALID, "store '%s' is a folder, not a file", path);
    }
    sq *q = calloc(1, sizeof *q);
    if (!q) return ken_err_set(err, KEN_ERR_NOMEM, "store: out of memory");
    q->base.ops = &sqlite_ops;
    q->readonly = opts->readonly;
    int flags = opts->readonly ? SQLITE_OPEN_READONLY
                               : SQLITE_OPEN_READWRITE | (opts->create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &q->db, flags, NULL);
    ken_status r;
    if (rc != SQLITE_OK)
        r = ken_err_set(err, status_of(rc), "store '%s': cannot open: %s", path,
                        q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
    else if ((r = setup(q, path)) || (opts->lexcache && (r = ken_store_lexcache_enable(&q->base))))
        ken_err_set(err, r, "%s", q->base.err.msg);
    if (r) {
        sq_close(&q->base);
        return r;
    }
    *out = &q->base;
    return KEN_OK;
}

ken_status ken_store_lexcache_enable(ken_store *s) {
    KEN_ASSERT(s);
    if (s->ops != &sqlite_ops)
        return ken_err_set(&s->err, KEN_ERR_UNSUPPORTED, "store: the BM25 accelerator needs the "
                           "SQLite backend");
    sq *q = (sq *)s;
    if (q->lex) return KEN_OK;
    const char *path = sqlite3_db_filename(q->db, "main");
    return ken_store_lexcache_open(q->db, path ? path : "", &q->lex, &s->err);
}

bool ken_store_lexcache_stats_get(ken_store *s, ken_store_lexcache_stats *out) {
    if (!s || s->ops != &sqlite_ops || !((sq *)s)->lex) return false;
    ken_store_lexcache_stat(((sq *)s)->lex, out);
    return true;
}

static const ken_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .source_get = sq_source_get,
    .source_put = sq_source_put,
    .source_delete = sq_source_delete,
    .source_list = sq_source_list,
    .doc_find = sq_doc_find,
    .doc_put = sq_doc_put,
    .doc_touch = sq_doc_touch,
    .source_prune = sq_source_prune,
    .doc_delete = sq_doc_delete,
    .doc_get = sq_doc_get,
    .doc_get_id = sq_doc_get_id,
    .doc_list = sq_doc_list,
    .chunk_list = sq_chunk_list,
    .chunk_get = sq_chunk_get,
    .stats = sq_stats,
    .search = sq_search,
    .match_count = sq_match_count,
    .config_get = sq_config_get,
    .config_set = sq_config_set,
    .check = sq_check,
    .session_open = sq_session_open,
    .session_list = sq_session_list,
    .session_delete = sq_session_delete,
    .turn_add = sq_turn_add,
    .turn_list = sq_turn_list,
    .emodel_put = ken_sqlite_emodel_put,
    .emodel_list = ken_sqlite_emodel_list,
    .emodel_delete = ken_sqlite_emodel_delete,
    .vec_put = ken_sqlite_vec_put,
    .vec_missing = ken_sqlite_vec_missing,
    .vec_scan = ken_sqlite_vec_scan,
    .vec_count = ken_sqlite_vec_count,
    .chunk_ids = ken_sqlite_chunk_ids,
    .chunk_hit = ken_sqlite_chunk_hit,
};
