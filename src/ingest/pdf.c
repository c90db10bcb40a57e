/* pdf.c: PDF text with poppler-glib, one section per page (page numbers
 * 1-based), title from the metadata. Corrupt, truncated and encrypted
 * files are refused with a message. poppler-glib sends its diagnostics to
 * g_log in the "Poppler" domain; a handler installed once forwards them to
 * ken_log at debug level so the library never writes to stderr. */
#include "ingest/ingest_int.h"

#include <poppler.h>
#include <pthread.h>
#include <string.h>

#define PDF_PAGES_MAX 100000

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

static void poppler_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer ud) {
    (void)domain; (void)level; (void)ud;
    ken_log(KEN_LOG_DEBUG, "poppler: %s", msg ? msg : "");
}

static void quiet_init(void) {
    g_log_set_handler("Poppler", (GLogLevelFlags)(G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL |
                                                  G_LOG_FLAG_RECURSION), poppler_log, NULL);
}

static ken_status open_error(const ken_ingest_job *j, GError *ge) {
    ken_status st;
    if (ge && ge->domain == POPPLER_ERROR && ge->code == POPPLER_ERROR_ENCRYPTED)
        st = ken_err_set(j->err, KEN_ERR_FORMAT, "PDF is encrypted (a password is needed)");
    else
        st = ken_err_set(j->err, KEN_ERR_FORMAT, "PDF is corrupt or truncated: %s",
                         ge && ge->message ? ge->message : "poppler could not open it");
    if (ge) g_error_free(ge);
    return st;
}

/* Appends the text of each page as its own section. */
static ken_status read_pages(const ken_ingest_job *j, PopplerDocument *pdf, ken_idoc *d) {
    int n = poppler_document_get_n_pages(pdf);
    if (n <= 0) return ken_err_set(j->err, KEN_ERR_FORMAT, "PDF has no pages");
    if (n > PDF_PAGES_MAX) {
        ken_ingest_warnf(j, "%s: %d pages, only the first %d read", j->name, n, PDF_PAGES_MAX);
        n = PDF_PAGES_MAX;
    }
    ken_status st = KEN_OK;
    for (int i = 0; i < n && !st; i++) {
        PopplerPage *page = poppler_document_get_page(pdf, i);
        if (!page) {
            ken_ingest_warnf(j, "%s: page %d could not be read", j->name, i + 1);
            continue;
        }
        char *t = poppler_page_get_text(page);
        g_object_unref(page);
        if (!t) continue;
        size_t len = strlen(t);
        while (len && (t[len - 1] == '\n' || t[len - 1] == ' ' || t[len - 1] == '\f')) len--;
        int64_t start = (int64_t)d->text.len;
        if (len) {
            st = ken_buf_append(&d->text, t, len);
            if (!st) st = ken_ingest_add_section(d, start, (int64_t)d->text.len, "", i + 1, 0,
                                                 KEN_SEC_PROSE);
            if (!st) st = ken_buf_append(&d->text, "\n\n", 2);
        }
        g_free(t);
    }
    if (st == KEN_ERR_LIMIT)
        return ken_err_set(j->err, st, "PDF text exceeds the limit of %zu bytes", j->bytes_max);
    if (st) return ken_err_set(j->err, st, "PDF: %s", ken_status_str(st));
    if (d->n_secs == 0)
        return ken_err_set(j->err, KEN_ERR_FORMAT,
                           "PDF has no text layer (%d page%s of images? OCR is not supported)", n,
                           n == 1 ? "" : "s");
    return KEN_OK;
}

ken_status ken_ingest_pdf(const ken_ingest_job *j) {
    pthread_once(&quiet_once, quiet_init);
    GBytes *bytes = g_bytes_new_static(j->data, j->len);
    GError *ge = NULL;
    PopplerDocument *pdf = poppler_document_new_from_bytes(bytes, NULL, &ge);
    if (!pdf) {
        g_bytes_unref(bytes);
        return open_error(j, ge);
    }
    ken_idoc d;
    ken_idoc_init(&d);
    d.text.cap_max = j->bytes_max;
    ken_status st = KEN_OK;
    char *title = poppler_document_get_title(pdf);
    if (title && *title) st = ken_ingest_set_title(&d, title, strlen(title));
    g_free(title);
    if (st) ken_err_set(j->err, st, "PDF: %s", ken_status_str(st));
    else st = read_pages(j, pdf, &d);
    if (!st) st = ken_ingest_emit(j, &d);
    ken_idoc_free(&d);
    g_object_unref(pdf);
    g_bytes_unref(bytes);
    return st;
}
