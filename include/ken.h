/* ken.h: the public C API of libken, the knowledge engine.
 *
 * Everything outside this header is internal. The CLI (cli/) and the server
 * use this header alone.
 *
 * Conventions
 * - Opaque handles are created by ken_*_open and released by ken_*_close;
 *   closing NULL is a no-op.
 * - Every fallible call returns ken_status (KEN_OK = 0); ken_kb_errmsg()
 *   gives the details of the last failure on that handle.
 * - Strings are UTF-8. Strings handed to callbacks are valid only during the
 *   callback. Strings the caller must free say so.
 * - The library never prints and never exits; messages go through the log
 *   callback.
 * - Options structs begin with `size` (set it to sizeof the struct) so they
 *   can grow; a zeroed struct with size set means all defaults. */
#ifndef KEN_H
#define KEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KEN_VERSION "0.1.0"

typedef enum {
    KEN_OK = 0,
    KEN_ERR_NOMEM,       /* allocation failed */
    KEN_ERR_IO,          /* read/write/open failed */
    KEN_ERR_FORMAT,      /* malformed input */
    KEN_ERR_LIMIT,       /* a size or count limit was exceeded */
    KEN_ERR_NOTFOUND,    /* no such document, chunk, key, file */
    KEN_ERR_INVALID,     /* invalid argument (caller error the world can cause) */
    KEN_ERR_VERSION,     /* file made by a newer ken, or unsupported version */
    KEN_ERR_UNSUPPORTED, /* valid but not supported (type, architecture) */
    KEN_ERR_CANCELLED,   /* the cancel flag was raised */
    KEN_ERR_STORE,       /* the store failed (SQL error, busy, corrupt) */
    KEN_ERR_INTERNAL     /* a bug in ken */
} ken_status;

/* A short constant description ("out of memory", ...). */
const char *ken_status_str(ken_status st);

/* Frees memory that a ken_* call handed to the caller. NULL is a no-op. */
void ken_free(void *p);

/* Log levels and the process-wide log callback (default: none). */
typedef enum { KEN_LOG_DEBUG, KEN_LOG_INFO, KEN_LOG_WARN, KEN_LOG_ERROR } ken_log_level;
typedef void (*ken_log_fn)(void *ud, ken_log_level level, const char *msg);
void ken_set_log(ken_log_fn fn, void *ud);

/* ---------------------------------------------------------------- kb */

/* A knowledge base: one store (an SQLite file by default). A handle may be
 * used by one thread at a time. */
typedef struct ken_kb ken_kb;

typedef struct {
    uint32_t size;
    const char *path;   /* store file; required */
    int create;         /* create the file (and its folder) if missing */
    int readonly;
    int lexcache;       /* BM25 searches from an in-memory index (long-lived handles) */
} ken_kb_opts;

/* Opens a knowledge base. On failure *out is still set when a handle could be
 * made, so ken_kb_errmsg(*out) explains; close it either way. */
ken_status ken_kb_open(const ken_kb_opts *opts, ken_kb **out);
void ken_kb_close(ken_kb *kb);
/* The message of the last failure on kb ("" if none). */
const char *ken_kb_errmsg(const ken_kb *kb);

/* ------------------------------------------------------------ ingest */

/* Progress of a long operation: done/total in items and bytes (total 0 when
 * unknown), and the item being worked on. */
typedef struct {
    uint64_t items_done, items_total;
    uint64_t bytes_done, bytes_total;
    const char *current;
} ken_progress;
typedef void (*ken_progress_fn)(void *ud, const ken_progress *p);

/* A per-item event during ingest: a file skipped, a broken JSONL line, ... */
typedef enum {
    KEN_EVENT_ADDED, KEN_EVENT_UPDATED, KEN_EVENT_UNCHANGED,
    KEN_EVENT_SKIPPED, KEN_EVENT_REMOVED, KEN_EVENT_WARNING
} ken_event_kind;
typedef void (*ken_event_fn)(void *ud, ken_event_kind kind, const char *item,
                             const char *msg);

typedef struct {
    uint32_t size;
    const char *collection;      /* default "default" */
    uint32_t chunk_words;        /* target chunk size in words; default 250 */
    uint32_t overlap_words;      /* overlap between chunks; default 40 */
    const char *json_id_field;   /* JSON/JSONL field names; BEIR defaults */
    const char *json_title_field;/* "_id", "title", "text" */
    const char *json_text_field;
    const char *stdin_name;      /* name (and type hint) for "-"; default "stdin" */
    ken_progress_fn progress; void *progress_ud;
    ken_event_fn event; void *event_ud;
    volatile int *cancel;        /* raised (non-zero) -> KEN_ERR_CANCELLED */
    uint32_t batch_files;        /* files per transaction; 0: 256. Smaller loses
                                    less work to a crash, larger is faster */
    /* Embeddings (see ken_kb_embed): after the documents are stored, chunks
     * without a vector are embedded when the store has an embedding model.
     * embed_model sets (or changes) the model first (config embed.model). */
    const char *embed_model;     /* a GGUF encoder file; NULL: the store's */
    int no_embed;                /* leave embedding for later (ken embed --missing) */
    int embed_threads;           /* 0: 2 */
    ken_progress_fn embed_progress; void *embed_progress_ud;  /* chunks embedded */
} ken_add_opts;

typedef struct {
    uint64_t added, updated, unchanged, skipped, removed;
    uint64_t chunks;             /* chunks written */
    uint64_t bytes;              /* source bytes read */
} ken_add_stats;

/* Adds files, directories (recursively; hidden entries skipped, .kenignore
 * honoured) and "-" (stdin). Unchanged documents are left alone; changed
 * ones are replaced atomically. Problems with single items are reported via
 * opts->event and counted as skipped; only store failures stop the batch. */
ken_status ken_kb_add(ken_kb *kb, const char *const *paths, size_t n_paths,
                      const ken_add_opts *opts, ken_add_stats *stats);

/* Adds one in-memory document named `name` (its extension hints the type). */
ken_status ken_kb_add_buffer(ken_kb *kb, const char *name, const void *data, size_t len,
                             const ken_add_opts *opts, ken_add_stats *stats);

/* Like ken_kb_add on a directory, then removes the documents that came from
 * files under dir which no longer exist. */
ken_status ken_kb_sync(ken_kb *kb, const char *dir, const ken_add_opts *opts,
                       ken_add_stats *stats);

/* Removes a document by numeric id, external id or uri, or the path of an
 * added file relative to the working folder (or every document under a
 * path prefix when ref ends with '/'). stats->removed counts them;
 * nothing matched -> KEN_ERR_NOTFOUND. */
ken_status ken_kb_remove(ken_kb *kb, const char *ref, ken_add_stats *stats);

/* ------------------------------------------------------------ embeddings */

/* Dense retrieval needs every chunk embedded with one encoder model. The
 * store's config key embed.model names the GGUF file; the vectors (F32) are
 * stored with the model's identity (file SHA-256, general.name, dimension,
 * passage prefix), and a vector index (HNSW) is kept next to the store in
 * "<store>.hnsw" (rebuilt from the stored vectors when missing, stale or
 * damaged). Changing the model re-embeds everything under the new one while
 * search keeps using the old, complete set; when the new set is complete it
 * becomes the active one and the old vectors are deleted, in one
 * transaction. An interrupted run is resumed by calling ken_kb_embed again
 * (`ken embed --missing`). */
typedef struct {
    uint32_t size;
    const char *model;           /* set embed.model to this file first; NULL: keep */
    int n_threads;               /* encoder threads; 0: 2 (at most 64) */
    uint32_t batch;              /* chunks per transaction; 0: 32 */
    ken_progress_fn progress; void *progress_ud;   /* items = chunks */
    volatile int *cancel;        /* raised -> KEN_ERR_CANCELLED (work done is kept) */
    int rebuild_index;           /* rebuild the vector index even if its file is current */
} ken_embed_opts;

typedef struct {
    uint64_t embedded;           /* chunks embedded by this call */
    uint64_t vectors;            /* vectors of the active model afterwards */
    uint64_t missing;            /* chunks still without one */
    uint64_t truncated;          /* passages cut to the model's context */
    int switched;                /* a new model became the active one */
    int index_built;             /* the vector index was (re)built and saved */
    uint32_t dim;
    char model_name[128];
    char model_sha256[65];
    double seconds;
} ken_embed_stats;

/* Embeds the chunks that have no vector of the configured model (see
 * above). Without a configured model: KEN_ERR_NOTFOUND with a message. */
ken_status ken_kb_embed(ken_kb *kb, const ken_embed_opts *opts, ken_embed_stats *stats);
/* The active model and its counts (model_name "" when there is none);
 * nothing is embedded. */
ken_status ken_kb_embed_status(ken_kb *kb, ken_embed_stats *out);

/* ------------------------------------------------------------ config */

/* The store's settings (key/value text). Known keys are checked on set:
 * see ken_kb_config_key for the list. *value is freed with ken_free;
 * KEN_ERR_NOTFOUND when unset. Setting "" clears a key to its default. */
ken_status ken_kb_config_get(ken_kb *kb, const char *key, char **value);
ken_status ken_kb_config_set(ken_kb *kb, const char *key, const char *value);
/* The i-th known key and its description (NULL past the end). */
const char *ken_kb_config_key(size_t i, const char **help);

/* ------------------------------------------------------------ read */

typedef struct {
    int64_t id;
    const char *ext_id;      /* external id (JSON _id) or NULL */
    const char *uri;         /* file path or name */
    const char *collection;
    const char *title;
    const char *mime;
    const char *hash;        /* hex SHA-256 of the source bytes */
    int64_t mtime;           /* source mtime, seconds since the epoch */
    int64_t bytes;           /* size of the normalized text */
    int64_t n_chunks;
    const char *meta_json;   /* metadata object as JSON text */
} ken_doc_info;

typedef struct {
    int64_t id;
    int64_t doc_id;
    int32_t ordinal;
    int64_t start, end;      /* byte span in the document's normalized text */
    const char *heading;     /* heading path, " > "-joined, may be "" */
    int32_t page;            /* 1-based PDF page, 0 when not paged */
    int32_t tokens;          /* token estimate */
    const char *text; size_t text_len;
} ken_chunk_info;

typedef int (*ken_doc_fn)(void *ud, const ken_doc_info *doc);   /* non-zero stops */
typedef int (*ken_chunk_fn)(void *ud, const ken_chunk_info *ch);

typedef struct {
    uint32_t size;
    const char *collection;  /* NULL: all */
    const char *uri_prefix;  /* NULL: all */
    const char *mime;        /* NULL: all */
    int64_t limit, offset;   /* limit 0: no limit */
} ken_list_opts;

ken_status ken_kb_list(ken_kb *kb, const ken_list_opts *opts, ken_doc_fn fn, void *ud);

/* A document by ref (id, external id or uri, or the path of an added file
 * relative to the working folder); text is its normalized text.
 * The callback form keeps ownership with the library. */
typedef int (*ken_doc_text_fn)(void *ud, const ken_doc_info *doc, const char *text,
                               size_t text_len);
ken_status ken_kb_doc(ken_kb *kb, const char *ref, ken_doc_text_fn fn, void *ud);
ken_status ken_kb_doc_chunks(ken_kb *kb, int64_t doc_id, ken_chunk_fn fn, void *ud);
ken_status ken_kb_chunk(ken_kb *kb, int64_t chunk_id, ken_chunk_fn fn, void *ud);

typedef struct {
    int64_t sources, documents, chunks, collections;
    int64_t text_bytes;      /* normalized text held */
    int64_t file_bytes;      /* size of the store file(s) */
    int32_t schema_version;
} ken_kb_stats;
ken_status ken_kb_stat(ken_kb *kb, ken_kb_stats *out);

#ifdef __cplusplus
}
#endif

/* The model side of the API (GGUF files, tokenizers, inference) lives in
 * ken_model.h and ken_tok.h, which include this header. */
#endif
