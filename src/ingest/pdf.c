/* pdf.c: PDF text per page with poppler-glib (in progress). */
#include "ingest/ingest_int.h"

ken_status ken_ingest_pdf(const ken_ingest_job *j) {
    return ken_err_set(j->err, KEN_ERR_UNSUPPORTED, "PDF is not supported yet");
}
