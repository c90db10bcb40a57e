/* kb.h: the ken_kb handle (internal view). src/kb composes the modules
 * (ingest -> store, model -> embeddings, index -> dense search, retrieve)
 * behind the public API of include/ken.h; the CLI and the server call only
 * that API.
 *
 *   kb.c      open/close, reading, statistics
 *   add.c     ingest (then embed.c when the store has an embedding model)
 *   embed.c   embedding models: identity, prefixes, embedding missing
 *             chunks with threads, switching models over
 *   dense.c   the vector index next to the store (load, check, rebuild,
 *             save) and dense search with filters
 *   config.c  the store's settings (known keys, checks)
 *   search.c  ken_search / ken_ask / ken_eval_retrieval: modes, fusion,
 *             re-ranking */
#ifndef KEN_KB_H
#define KEN_KB_H

#include "base/base.h"
#include "index/hnsw.h"
#include "ingest/ingest.h"
#include "ken_infer.h"
#include "retrieve/retrieve.h"
#include "store/store.h"

/* Limits for one input file (raw and decompressed). */
#define KEN_KB_FILE_BYTES_MAX ((size_t)1 << 30)
#define KEN_KB_PREFIX_BYTES_MAX 512

/* The dense side of a handle: the active embedding model (opened once),
 * its vector index (loaded or rebuilt once per store revision), and the
 * re-ranker. */
typedef struct {
    int64_t model_id;          /* the active model's row; 0: none loaded */
    int64_t rev;               /* its vector revision the index matches */
    uint32_t dim;
    char *path, *query_prefix, *sha256;
    ken_model *model;
    ken_ctx *ctx;
    ken_hnsw *index;
    char *rr_path;             /* the re-ranker */
    ken_model *rr_model;
    ken_ctx *rr_ctx, *rr_ctx2;  /* two sessions: pairs are scored on two threads */
} ken_kb_dense;

struct ken_kb {
    ken_store *store;
    ken_err err;
    bool readonly;
    char *path;                /* the store file */
    ken_kb_dense dense;
};

/* Sets kb->err from the store's message and returns st. */
ken_status ken_kb_store_err(ken_kb *kb, ken_status st, const char *what);

/* The store's doc_get (id, external id, uri); when nothing matches and ref
 * names an existing file by another path ("notes/a.md", "./a.md"), the
 * file's absolute path, which is its uri. */
ken_status ken_kb_doc_get(ken_kb *kb, const char *ref, ken_store_doc_fn fn, void *ud);

/* config.c: a config value (empty counts as unset) into out; false when unset. */
bool ken_kb_conf(ken_kb *kb, const char *key, ken_buf *out);
/* The active embedding model id (config embed.active), 0 when none. */
int64_t ken_kb_active_model(ken_kb *kb);

/* embed.c */
typedef struct {
    char sha256[65];
    char name[128];
    uint32_t dim;
    int64_t size, mtime;
} ken_kb_model_id;
/* Identity of a model file (hashes the file). */
ken_status ken_kb_model_identity(const char *path, ken_kb_model_id *out, ken_err *err);
/* The default query/passage prefixes of a model family (e5, bge, nomic). */
void ken_kb_family_prefixes(const char *name, const char *path, const char **query,
                            const char **passage);
/* Embeds prefix + text with c, cutting the text to the model's context;
 * *truncated is set when it had to be cut. *vec (dim floats) is malloc'd. */
ken_status ken_kb_embed_text(ken_ctx *c, ken_model *m, const char *prefix, const char *title,
                             const char *heading, const char *text, size_t len, float **vec,
                             bool *truncated, ken_err *err);

/* dense.c */
void ken_kb_dense_close(ken_kb_dense *d);
/* The index file of a store: "<path>.hnsw" (malloc'd). */
char *ken_kb_index_path(const ken_kb *kb);
/* Brings kb->dense up to date with the active model: opens the model,
 * checks it, loads or rebuilds the index. KEN_OK with *why set (a reason
 * for the notice) when dense search is not possible; a note about a
 * rebuild goes to *note. Errors only for store failures. */
ken_status ken_kb_dense_ready(ken_kb *kb, bool *ok, ken_buf *why, ken_buf *note);
/* Rebuilds and saves the index of the active model (after embedding). */
ken_status ken_kb_index_rebuild(ken_kb *kb, ken_buf *note);
/* Dense search: the k nearest chunks (or documents when docs) that pass
 * the filters of o, as hits (snippet: the chunk's start when snippets). */
ken_status ken_kb_dense_search(ken_kb *kb, const char *query, const ken_retrieve_opts *o,
                               size_t k, bool docs, bool snippets, ken_retrieve_hits *out);

#endif
