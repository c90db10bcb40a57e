/* kb.h: the ken_kb handle (internal view). src/kb composes the modules
 * (ingest -> store, later retrieve, model, ...) behind the public API of
 * include/ken.h; the CLI and the server call only that API. */
#ifndef KEN_KB_H
#define KEN_KB_H

#include "base/base.h"
#include "ingest/ingest.h"
#include "store/store.h"

/* Limits for one input file (raw and decompressed). */
#define KEN_KB_FILE_BYTES_MAX ((size_t)1 << 30)

struct ken_kb {
    ken_store *store;
    ken_err err;
    bool readonly;
};

/* Sets kb->err from the store's message and returns st. */
ken_status ken_kb_store_err(ken_kb *kb, ken_status st, const char *what);

#endif
