/* sqlite_embed.c: the embedding operations of the SQLite backend (schema
 * 3): embedding models, the vectors of chunks (F32 little-endian BLOBs of
 * dim floats), chunks still without a vector, chunk ids under filters (for
 * filtered dense search) and single chunks as hits. The tables are made by
 * migration 3 in sqlite.c. Statements are prepared per call: every caller
 * here does far more work per row (a model forward pass, a graph insert)
 * than a prepare costs. */
#include "store/sqlite_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vectors are stored as little-endian floats; add byte swapping for this target"
#endif

#define EMB_TEXT_SQL \
    "CAST(substr(CAST(d.text AS BLOB), c.start_byte + 1, c.end_byte - c.start_byte) AS TEXT)"
#define HIT_COLS "c.id, c.doc_id, c.ordinal, c.start_byte, c.end_byte, c.heading, c.page," \
                 " d.ext_id, d.uri, d.title, d.collection, d.mime, " EMB_TEXT_SQL

static ken_status prepare(ken_store *s, const char *sql, sqlite3_stmt **st, const char *what) {
    int rc = sqlite3_prepare_v3(ken_sqlite_db(s), sql, -1, 0, st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return ken_sqlite_fail(s, rc, what);
    }
    return KEN_OK;
}

static int bind_text(sqlite3_stmt *st, int i, const char *v) {
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i) {
    const char *v = (const char *)sqlite3_column_text(st, i);
    return v ? v : "";
}

ken_status ken_sqlite_emodel_put(ken_store *s, const ken_store_emodel *m, int64_t *id_out) {
    ken_status r = ken_sqlite_need_rw(s, "recording an embedding model");
    if (r) return r;
    if (!m || !m->sha256 || !m->path || m->dim <= 0 || m->dim > KEN_STORE_EMBED_DIM_MAX)
        return ken_err_set(&s->err, KEN_ERR_INVALID,
                           "store: an embedding model needs a hash, a path and a dimension "
                           "in 1..%d", KEN_STORE_EMBED_DIM_MAX);
    sqlite3_stmt *st = NULL;
    r = prepare(s, "INSERT INTO embed_models(sha256, name, path, query_prefix, passage_prefix,"
                   " dim, file_size, file_mtime, created) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7,"
                   " ?8, ?9) RETURNING id", &st, "recording an embedding model");
    if (r) return r;
    int rc = bind_text(st, 1, m->sha256);
    if (rc == SQLITE_OK) rc = bind_text(st, 2, m->name ? m->name : "");
    if (rc == SQLITE_OK) rc = bind_text(st, 3, m->path);
    if (rc == SQLITE_OK) rc = bind_text(st, 4, m->query_prefix ? m->query_prefix : "");
    if (rc == SQLITE_OK) rc = bind_text(st, 5, m->passage_prefix ? m->passage_prefix : "");
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 6, m->dim);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 7, m->file_size);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 8, m->file_mtime);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 9, (int64_t)time(NULL));
    if (rc == SQLITE_OK) rc = ken_sqlite_step(s, st);
    if (rc == SQLITE_ROW) {
        if (id_out) *id_out = sqlite3_column_int64(st, 0);
        rc = ken_sqlite_step(s, st);
    }
    if (rc != SQLITE_DONE) r = ken_sqlite_fail(s, rc, "recording an embedding model");
    sqlite3_finalize(st);
    return r;
}

ken_status ken_sqlite_emodel_list(ken_store *s, ken_store_emodel_fn fn, void *ud) {
    sqlite3_stmt *st = NULL;
    ken_status r = prepare(s, "SELECT m.id, m.sha256, m.name, m.path, m.query_prefix,"
                              " m.passage_prefix, m.dim, m.file_size, m.file_mtime, m.created,"
                              " m.rev, (SELECT count(*) FROM embeddings e"
                              " WHERE e.model_id = m.id) FROM embed_models m ORDER BY m.id",
                           &st, "listing embedding models");
    if (r) return r;
    int rc;
    while ((rc = ken_sqlite_step(s, st)) == SQLITE_ROW) {
        ken_store_emodel m = {
            .id = sqlite3_column_int64(st, 0), .sha256 = col_text(st, 1),
            .name = col_text(st, 2), .path = col_text(st, 3), .query_prefix = col_text(st, 4),
            .passage_prefix = col_text(st, 5), .dim = sqlite3_column_int(st, 6),
            .file_size = sqlite3_column_int64(st, 7), .file_mtime = sqlite3_column_int64(st, 8),
            .created = sqlite3_column_int64(st, 9), .rev = sqlite3_column_int64(st, 10),
            .n_vectors = sqlite3_column_int64(st, 11)};
        if (fn(ud, &m)) { rc = SQLITE_DONE; break; }
    }
    if (rc != SQLITE_DONE) r = ken_sqlite_fail(s, rc, "listing embedding models");
    sqlite3_finalize(st);
    return r;
}

/* Runs sql (no rows) with up to two integer arguments. */
static ken_status run_ints(ken_store *s, const char *sql, int64_t a, const int64_t *b,
                           const char *what) {
    ken_status r = ken_sqlite_need_rw(s, what);
    if (r) return r;
    sqlite3_stmt *st = NULL;
    if ((r = prepare(s, sql, &st, what))) return r;
    int rc = sqlite3_bind_int64(st, 1, a);
    if (rc == SQLITE_OK && b) rc = sqlite3_bind_int64(st, 2, *b);
    if (rc == SQLITE_OK) rc = ken_sqlite_step(s, st);
    if (rc != SQLITE_DONE) r = ken_sqlite_fail(s, rc, what);
    sqlite3_finalize(st);
    return r;
}

ken_status ken_sqlite_emodel_delete(ken_store *s, int64_t model_id) {
    return run_ints(s, "DELETE FROM embed_models WHERE id = ?1", model_id, NULL,
                    "deleting an embedding model");
}

ken_status ken_sqlite_vec_put(ken_store *s, int64_t model_id, int64_t chunk_id, const float *v,
                              uint32_t dim) {
    ken_status r = ken_sqlite_need_rw(s, "writing a vector");
    if (r) return r;
    if (!v || dim == 0 || dim > KEN_STORE_EMBED_DIM_MAX)
        return ken_err_set(&s->err, KEN_ERR_INVALID, "store: a vector of %u floats", dim);
    sqlite3_stmt *st = NULL;
    if ((r = prepare(s, "INSERT INTO embeddings(model_id, chunk_id, vec) VALUES(?1, ?2, ?3)"
                        " ON CONFLICT(model_id, chunk_id) DO UPDATE SET vec = excluded.vec",
                     &st, "writing a vector")))
        return r;
    int rc = sqlite3_bind_int64(st, 1, model_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, chunk_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_blob(st, 3, v, (int)(dim * sizeof *v), SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = ken_sqlite_step(s, st);
    if (rc != SQLITE_DONE) r = ken_sqlite_fail(s, rc, "writing a vector");
    sqlite3_finalize(st);
    return r;
}

static void hit_from_row(sqlite3_stmt *st, ken_store_hit *h) {
    memset(h, 0, sizeof *h);
    h->chunk_id = sqlite3_column_int64(st, 0);
    h->doc_id = sqlite3_column_int64(st, 1);
    h->ordinal = sqlite3_column_int(st, 2);
    h->start = sqlite3_column_int64(st, 3);
    h->end = sqlite3_column_int64(st, 4);
    h->heading = col_text(st, 5);
    h->page = sqlite3_column_int(st, 6);
    h->ext_id = (const char *)sqlite3_column_text(st, 7);
    h->uri = col_text(st, 8);
    h->title = (const char *)sqlite3_column_text(st, 9);
    h->collection = col_text(st, 10);
    h->mime = (const char *)sqlite3_column_text(st, 11);
    h->text = col_text(st, 12);
    h->text_len = (size_t)sqlite3_column_bytes(st, 12);
}

static ken_status hit_rows(ken_store *s, sqlite3_stmt *st, ken_store_hit_fn fn, void *ud,
                           size_t *n, const char *what) {
    int rc;
    ken_status r = KEN_OK;
    while ((rc = ken_sqlite_step(s, st)) == SQLITE_ROW) {
        ken_store_hit h;
        hit_from_row(st, &h);
        (*n)++;
        if (fn(ud, &h)) { rc = SQLITE_DONE; break; }
    }
    if (rc != SQLITE_DONE) r = ken_sqlite_fail(s, rc, what);
    return r;
}

ken_status ken_sqlite_vec_missing(ken_store *s, int64_t model_id, int64_t after, int64_t limit,
                                  ken_store_hit_fn fn, void *ud) {
    sqlite3_stmt *st = NULL;
    const char *what = "listing chunks without vectors";
    ken_status r = prepare(s, "SELECT " HIT_COLS " FROM chunks c JOIN documents d"
                              " ON d.id = c.doc_id WHERE c.id > ?2 AND NOT EXISTS (SELECT 1"
                              " FROM embeddings e WHERE e.model_id = ?1 AND e.chunk_id = c.id)"
                              " ORDER BY c.id LIMIT ?3", &st, what);
    if (r) return r;
    int rc = sqlite3_bind_int64(st, 1, model_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, after);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
    size_t n = 0;
    r = rc == SQLITE_OK ? hit_rows(s, st, fn, ud, &n, what) : ken_sqlite_fail(s, rc, what);
    sqlite3_finalize(st);
    return r;
}

ken_status ken_sqlite_vec_scan(ken_store *s, int64_t model_id, ken_store_vec_fn fn, void *ud) {
    sqlite3_stmt *st = NULL;
    const char *what = "reading vectors";
    ken_status r = prepare(s, "SELECT e.chunk_id, e.vec, m.dim FROM embeddings e"
                              " JOIN embed_models m ON m.id = e.model_id"
                              " WHERE e.model_id = ?1 ORDER BY e.chunk_id", &st, what);
    if (r) return r;
    int rc = sqlite3_bind_int64(st, 1, model_id);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = ken_sqlite_step(s, st)) != SQLITE_ROW) break;
        int64_t chunk = sqlite3_column_int64(st, 0);
        const void *blob = sqlite3_column_blob(st, 1);
        size_t bytes = (size_t)sqlite3_column_bytes(st, 1);
        int dim = sqlite3_column_int(st, 2);
        if (dim <= 0 || dim > KEN_STORE_EMBED_DIM_MAX || bytes != (size_t)dim * sizeof(float) ||
            !blob) {
            r = ken_err_set(&s->err, KEN_ERR_STORE, "store: the vector of chunk %lld has %zu "
                            "bytes, not %d floats (the store is damaged)", (long long)chunk,
                            bytes, dim);
            break;
        }
        /* SQLite's blob pointer need not be float-aligned: copy. */
        float *v = malloc(bytes);
        if (!v) { r = ken_err_set(&s->err, KEN_ERR_NOMEM, "store: out of memory"); break; }
        memcpy(v, blob, bytes);
        int stop = fn(ud, chunk, v, (uint32_t)dim);
        free(v);
        if (stop) { rc = SQLITE_DONE; break; }
    }
    if (!r && rc != SQLITE_DONE) r = ken_sqlite_fail(s, rc, what);
    sqlite3_finalize(st);
    return r;
}

ken_status ken_sqlite_vec_count(ken_store *s, int64_t model_id, int64_t *n_vectors,
                                int64_t *n_missing) {
    sqlite3_stmt *st = NULL;
    const char *what = "counting vectors";
    ken_status r = prepare(s, "SELECT (SELECT count(*) FROM embeddings WHERE model_id = ?1),"
                              " (SELECT count(*) FROM chunks)", &st, what);
    if (r) return r;
    int rc = sqlite3_bind_int64(st, 1, model_id);
    if (rc == SQLITE_OK) rc = ken_sqlite_step(s, st);
    if (rc == SQLITE_ROW) {
        int64_t nv = sqlite3_column_int64(st, 0), nc = sqlite3_column_int64(st, 1);
        if (n_vectors) *n_vectors = nv;
        if (n_missing) *n_missing = nc > nv ? nc - nv : 0;
    } else {
        r = ken_sqlite_fail(s, rc, what);
    }
    sqlite3_finalize(st);
    return r;
}

ken_status ken_sqlite_chunk_ids(ken_store *s, const ken_store_search_q *q, ken_store_id_fn fn,
                                void *ud) {
    sqlite3_stmt *st = NULL;
    const char *what = "listing chunks under filters";
    ken_status r = prepare(s, "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id"
                              " WHERE (?1 IS NULL OR d.collection = ?1)"
                              " AND (?2 IS NULL OR substr(d.uri, 1, length(?2)) = ?2)"
                              " AND (?3 IS NULL OR d.mime = ?3)"
                              " AND (?4 IS NULL OR CAST(json_extract(d.meta, ?4) AS TEXT) = ?5)"
                              " ORDER BY c.id", &st, what);
    if (r) return r;
    int rc = bind_text(st, 1, q ? q->collection : NULL);
    if (rc == SQLITE_OK) rc = bind_text(st, 2, q ? q->uri_prefix : NULL);
    if (rc == SQLITE_OK) rc = bind_text(st, 3, q ? q->mime : NULL);
    if (rc == SQLITE_OK) rc = bind_text(st, 4, q ? q->meta_path : NULL);
    if (rc == SQLITE_OK) rc = bind_text(st, 5, q ? q->meta_value : NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = ken_sqlite_step(s, st)) != SQLITE_ROW) break;
        if (fn(ud, sqlite3_column_int64(st, 0))) { rc = SQLITE_DONE; break; }
    }
    if (rc != SQLITE_DONE) r = ken_sqlite_fail(s, rc, what);
    sqlite3_finalize(st);
    return r;
}

ken_status ken_sqlite_chunk_hit(ken_store *s, int64_t chunk_id, ken_store_hit_fn fn, void *ud) {
    sqlite3_stmt *st = NULL;
    const char *what = "reading a chunk";
    ken_status r = prepare(s, "SELECT " HIT_COLS " FROM chunks c JOIN documents d"
                              " ON d.id = c.doc_id WHERE c.id = ?1", &st, what);
    if (r) return r;
    int rc = sqlite3_bind_int64(st, 1, chunk_id);
    size_t n = 0;
    r = rc == SQLITE_OK ? hit_rows(s, st, fn, ud, &n, what) : ken_sqlite_fail(s, rc, what);
    sqlite3_finalize(st);
    if (!r && n == 0)
        r = ken_err_set(&s->err, KEN_ERR_NOTFOUND, "store: no chunk %lld", (long long)chunk_id);
    return r;
}
