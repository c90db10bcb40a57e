/* sqlite_int.h: what the SQLite backend's files share (internal to
 * src/store): the connection of a handle, the statement step that honours
 * the fault-injection hook, failure messages, and the embedding operations
 * of sqlite_embed.c that sqlite.c puts in its table of operations. */
#ifndef KEN_STORE_SQLITE_INT_H
#define KEN_STORE_SQLITE_INT_H

#include "store/store.h"

#include <sqlite3.h>

sqlite3 *ken_sqlite_db(ken_store *s);
int ken_sqlite_step(ken_store *s, sqlite3_stmt *st);
/* Records the failure of SQLite result rc while doing what; returns the status. */
ken_status ken_sqlite_fail(ken_store *s, int rc, const char *what);
/* KEN_ERR_INVALID with a message when the store is open read-only. */
ken_status ken_sqlite_need_rw(ken_store *s, const char *what);

ken_status ken_sqlite_emodel_put(ken_store *s, const ken_store_emodel *m, int64_t *id_out);
ken_status ken_sqlite_emodel_list(ken_store *s, ken_store_emodel_fn fn, void *ud);
ken_status ken_sqlite_emodel_delete(ken_store *s, int64_t model_id);
ken_status ken_sqlite_vec_put(ken_store *s, int64_t model_id, int64_t chunk_id, const float *v,
                              uint32_t dim);
ken_status ken_sqlite_vec_missing(ken_store *s, int64_t model_id, int64_t after, int64_t limit,
                                  ken_store_hit_fn fn, void *ud);
ken_status ken_sqlite_vec_scan(ken_store *s, int64_t model_id, ken_store_vec_fn fn, void *ud);
ken_status ken_sqlite_vec_count(ken_store *s, int64_t model_id, int64_t *n_vectors,
                                int64_t *n_missing);
ken_status ken_sqlite_chunk_ids(ken_store *s, const ken_store_search_q *q, ken_store_id_fn fn,
                                void *ud);
ken_status ken_sqlite_chunk_hit(ken_store *s, int64_t chunk_id, ken_store_hit_fn fn, void *ud);

#endif
