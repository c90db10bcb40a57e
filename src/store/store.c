/* store.c: opening a store, choosing the backend from the path. The SQLite
 * file is the default; a postgres:// URL names the PostgreSQL backend, which
 * is not built yet and is refused clearly rather than taken for a file. */
#include "store/store.h"

#include <string.h>

ken_status ken_store_open(const ken_store_opts *opts, ken_store **out, ken_err *err) {
    KEN_ASSERT(out);
    *out = NULL;
    if (!opts || !opts->path || !*opts->path)
        return ken_err_set(err, KEN_ERR_INVALID, "store: no path given");
    if (strncmp(opts->path, "postgres://", 11) == 0 ||
        strncmp(opts->path, "postgresql://", 13) == 0)
        return ken_err_set(err, KEN_ERR_UNSUPPORTED,
                           "store '%s': the PostgreSQL backend is not built in this ken",
                           opts->path);
    return ken_store_open_sqlite(opts, out, err);
}
