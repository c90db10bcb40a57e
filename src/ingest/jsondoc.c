/* jsondoc.c: JSON and JSONL documents (in progress). */
#include "ingest/ingest_int.h"

ken_status ken_ingest_json(const ken_ingest_job *j, bool lines) {
    (void)lines;
    return ken_err_set(j->err, KEN_ERR_UNSUPPORTED, "JSON is not supported yet");
}
