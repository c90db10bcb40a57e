/* lexcache.h: the in-memory BM25 accelerator of the SQLite store (internal
 * to src/store). FTS5 evaluates our rank function ken_bm25 row by row
 * through its auxiliary-function API, which costs tens of milliseconds when
 * common terms match most chunks. The accelerator keeps its own inverted
 * index (postings of chunk, term frequency over text + heading + title;
 * chunk lengths; N and the average length) built with FTS5's own tokenizer,
 * so it gives the same scores (same arithmetic, the functions below are the
 * one copy both use) and the same top-k (ties: lower chunk id first, as the
 * FTS5 path orders them too).
 *
 * Sharing: one index per database file per process (by device and inode),
 * reference-counted, used by every handle that enabled the accelerator.
 *
 * Freshness: every writable connection of ken installs TEMP triggers that
 * bump the config key "store.lex_version" in the same transaction as any
 * insert, delete or relevant update of a document (a chunk only changes
 * with its document). The counter is global to the file and transactional
 * (WAL readers see the value of their snapshot), unlike PRAGMA
 * data_version, which is per connection and blind to its own commits. An
 * index built at version V answers only while the counter reads V; else it
 * is rebuilt (others fall back to FTS5 meanwhile). Writers that do not run
 * ken's triggers (another program editing the file) are not seen.
 *
 * Queries it answers: a match of quoted single-token phrases joined by " OR "
 * (what src/retrieve builds), rank ken_bm25(...), limit > 0, filters on
 * collection, uri prefix and mime. Anything else returns KEN_ERR_UNSUPPORTED
 * and the caller uses FTS5. */
#ifndef KEN_STORE_LEXCACHE_H
#define KEN_STORE_LEXCACHE_H

#include "store/store.h"

#include <sqlite3.h>

/* The BM25 pieces shared with ken_bm25 (sqlite.c): out of line on purpose,
 * so both paths run the same machine code and agree to the last bit
 * whatever the compiler contracts or vectorizes. */
double ken_store_bm25_idf(double rows, double hits);
double ken_store_bm25_norm(double k1, double b, double dl, double avgdl);
double ken_store_bm25_term(double w, double idf, double f, double k1, double norm);

typedef struct { int64_t id; double score; } ken_store_lexrow;
typedef struct ken_store_lexcache ken_store_lexcache;

/* Installs the change-counter triggers on a writable connection. */
ken_status ken_store_lexcache_triggers(sqlite3 *db, ken_err *err);

/* A per-handle accelerator on db (the store's connection, used by the same
 * thread as the handle); path names the file for sharing. */
ken_status ken_store_lexcache_open(sqlite3 *db, const char *path, ken_store_lexcache **out,
                                   ken_err *err);
void ken_store_lexcache_close(ken_store_lexcache *lc);

/* The best q->limit rows (score, then id) into *rows (malloc'd, caller
 * frees). KEN_ERR_UNSUPPORTED (nothing set, no message) when FTS5 must
 * answer: query shape, a transaction open on db, an index being rebuilt by
 * another thread, a failed build. */
ken_status ken_store_lexcache_rank(ken_store_lexcache *lc, const ken_store_search_q *q,
                                   ken_store_lexrow **rows, size_t *n, ken_err *err);

/* FTS5's snippet(chunks_fts, 0, open, close, ellips, ntok) of a row whose
 * text column holds text, for match (the same query shape as above),
 * appended to out without asking FTS5: equal to what FTS5 returns.
 * KEN_ERR_UNSUPPORTED (nothing set) for another query shape. */
ken_status ken_store_lexcache_snippet(ken_store_lexcache *lc, const char *match,
                                      const char *text, size_t len, const char *open,
                                      const char *close, const char *ellips, int ntok,
                                      ken_buf *out, ken_err *err);

void ken_store_lexcache_stat(ken_store_lexcache *lc, ken_store_lexcache_stats *out);

#endif
