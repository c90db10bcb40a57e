/* html.c: HTML to text with libxml2 (in progress). */
#include "ingest/ingest_int.h"

ken_status ken_ingest_html(const ken_ingest_job *j) {
    return ken_err_set(j->err, KEN_ERR_UNSUPPORTED, "HTML is not supported yet");
}
