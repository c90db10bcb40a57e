/* pdf.c: PDF text with poppler-glib, one section per page (page numbers
 * 1-based) headed by the outline entry in force there, title from the
 * metadata. Corrupt, truncated and encrypted files are refused with a
 * message. poppler-glib sends its diagnostics to g_log in the "Poppler"
 * domain; a handler installed once forwards them to ken_log at debug level
 * so the library never writes to stderr. */
#include "ingest/ingest_int.h"

#include <poppler.h>
#include <pthread.h>
#include <stdlib.h>
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

/* ------------------------------------------------------------ outline */

#define OUTLINE_DEPTH_MAX 16
#define OUTLINE_ITEMS_MAX 10000

typedef struct {
    int page;              /* 1-based */
    int level;             /* 1-based depth */
    size_t order;          /* position in the outline, for a stable sort */
    char *path;            /* "Part > Chapter" */
} toc_item;

typedef struct {
    toc_item *v;
    size_t n, cap;
} toc;

static void toc_free(toc *t) {
    for (size_t i = 0; i < t->n; i++) free(t->v[i].path);
    free(t->v);
}

static int cmp_toc(const void *a, const void *b) {
    const toc_item *x = a, *y = b;
    if (x->page != y->page) return x->page < y->page ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The 1-based page an outline entry points to, 0 if none. */
static int action_page(PopplerDocument *pdf, PopplerAction *a) {
    if (!a || a->type != POPPLER_ACTION_GOTO_DEST || !a->goto_dest.dest) return 0;
    PopplerDest *d = a->goto_dest.dest;
    if (d->type != POPPLER_DEST_NAMED) return d->page_num > 0 ? d->page_num : 0;
    if (!d->named_dest) return 0;
    PopplerDest *nd = poppler_document_find_dest(pdf, d->named_dest);
    int p = nd && nd->page_num > 0 ? nd->page_num : 0;
    if (nd) poppler_dest_free(nd);
    return p;
}

static ken_status toc_add(toc *t, char *const *titles, int depth, int page) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        toc_item *v = realloc(t->v, cap * sizeof *v);
        if (!v) return KEN_ERR_NOMEM;
        t->v = v;
        t->cap = cap;
    }
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_status st = ken_ingest_buf_cstr(&b);
    for (int l = 0; l <= depth && !st; l++) {
        if (!titles[l] || !titles[l][0]) continue;
        if (b.len) st = ken_buf_puts(&b, " > ");
        /* titles are capped like headings, at a character boundary */
        size_t n = strlen(titles[l]);
        if (n > KEN_INGEST_HEADING_MAX) {
            n = KEN_INGEST_HEADING_MAX;
            while (n && ((unsigned char)titles[l][n] & 0xC0) == 0x80) n--;
        }
        if (!st) st = ken_buf_append(&b, titles[l], n);
    }
    if (st) { ken_buf_free(&b); return st; }
    t->v[t->n] = (toc_item){page, depth + 1, t->n, ken_buf_take(&b, NULL)};
    t->n++;
    return KEN_OK;
}

/* Reads the outline (bookmarks) without recursion: an explicit stack of
 * iterators, depth and size capped. */
static ken_status read_outline(PopplerDocument *pdf, toc *t) {
    PopplerIndexIter *stack[OUTLINE_DEPTH_MAX];
    char *titles[OUTLINE_DEPTH_MAX] = {0};
    int depth = 0;
    ken_status st = KEN_OK;
    stack[0] = poppler_index_iter_new(pdf);
    if (!stack[0]) return KEN_OK;
    for (;;) {
        PopplerAction *a = poppler_index_iter_get_action(stack[depth]);
        g_free(titles[depth]);
        titles[depth] = a && a->any.title ? g_strdup(a->any.title) : NULL;
        int page = action_page(pdf, a);
        if (a) poppler_action_free(a);
        if (page > 0 && t->n < OUTLINE_ITEMS_MAX) st = toc_add(t, titles, depth, page);
        if (st) break;
        PopplerIndexIter *child = depth + 1 < OUTLINE_DEPTH_MAX ? poppler_index_iter_get_child(stack[depth]) : NULL;
        if (child) {
            stack[++depth] = child;
            continue;
        }
        while (depth >= 0 && !poppler_index_iter_next(stack[depth])) {
            poppler_index_iter_free(stack[depth]);
            g_free(titles[depth]);
            titles[depth] = NULL;
            depth--;
        }
        if (depth < 0) break;
    }
    for (; depth >= 0; depth--) {          /* after an error */
        poppler_index_iter_free(stack[depth]);
        g_free(titles[depth]);
    }
    if (t->n > 1) qsort(t->v, t->n, sizeof *t->v, cmp_toc);
    return st;
}

/* ------------------------------------------------------------ pages */

/* Appends the text of each page as its own section; the heading of a page
 * is the outline entry in force there (the last one starting on or before
 * it), so chunks of a book carry "Part > Chapter". */
static ken_status read_pages(const ken_ingest_job *j, PopplerDocument *pdf, ken_idoc *d) {
    int n = poppler_document_get_n_pages(pdf);
    if (n <= 0) return ken_err_set(j->err, KEN_ERR_FORMAT, "PDF has no pages");
    if (n > PDF_PAGES_MAX) {
        ken_ingest_warnf(j, "%s: %d pages, only the first %d read", j->name, n, PDF_PAGES_MAX);
        n = PDF_PAGES_MAX;
    }
    toc t = {0};
    ken_status st = read_outline(pdf, &t);
    size_t ti = 0;
    const toc_item *cur = NULL;
    for (int i = 0; i < n && !st; i++) {
        while (ti < t.n && t.v[ti].page <= i + 1) cur = &t.v[ti++];
        PopplerPage *page = poppler_document_get_page(pdf, i);
        if (!page) {
            ken_ingest_warnf(j, "%s: page %d could not be read", j->name, i + 1);
            continue;
        }
        char *txt = poppler_page_get_text(page);
        g_object_unref(page);
        if (!txt) continue;
        size_t len = strlen(txt);
        while (len && (txt[len - 1] == '\n' || txt[len - 1] == ' ' || txt[len - 1] == '\f')) len--;
        int64_t start = (int64_t)d->text.len;
        if (len) {
            st = ken_buf_append(&d->text, txt, len);
            if (!st) st = ken_ingest_add_section(d, start, (int64_t)d->text.len,
                                                 cur ? cur->path : "", i + 1, cur ? cur->level : 0,
                                                 KEN_SEC_PROSE);
            if (!st) st = ken_buf_append(&d->text, "\n\n", 2);
        }
        g_free(txt);
    }
    toc_free(&t);
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
