/* ingest_int.h: what the files of the ingest module share (private).
 *
 * Parsers build a ken_idoc through a small text builder (ken_ingest_b_*)
 * that places block separators, tracks the heading path and opens/closes
 * sections; ken_ingest_finalize then normalizes the text to NFC piece by
 * piece so section spans stay exact. */
#ifndef KEN_INGEST_INT_H
#define KEN_INGEST_INT_H

#include "ingest/ingest.h"

#include <stdbool.h>

#define KEN_INGEST_BYTES_MAX_DEFAULT ((size_t)1 << 30)  /* 1 GiB */
#define KEN_INGEST_HEADING_MAX 256      /* bytes kept per heading level */
#define KEN_INGEST_SECS_MAX 4000000     /* sections per document */

/* The kind of parser a detected type goes to. */
typedef enum {
    KEN_FMT_NONE = 0, KEN_FMT_TEXT, KEN_FMT_CODE, KEN_FMT_MARKDOWN, KEN_FMT_HTML,
    KEN_FMT_PDF, KEN_FMT_JSON, KEN_FMT_JSONL
} ken_ingest_fmt;

ken_ingest_fmt ken_ingest_fmt_of(const char *mime);

/* ------------------------------------------------------------ builder */

typedef struct {
    ken_idoc *doc;
    char *heads[7];           /* heading text per level 1..6 (owned) */
    int level;                /* level of the current heading (0: none) */
    int64_t sec_start;        /* start of the open section, -1: none */
    ken_sec_kind sec_kind;
    int64_t head_start;       /* start of the heading being read, -1: none */
    int head_level;
    int64_t floor;            /* end of the last closed section: text below it
                                 is never trimmed again */
    int pending_nl;           /* newlines wanted before the next text */
    bool pending_space;       /* collapse mode: a space is owed */
    bool collapse_ws;         /* HTML: runs of white space become one space */
    ken_status st;            /* sticky */
} ken_ingest_b;

void ken_ingest_b_init(ken_ingest_b *b, ken_idoc *doc, bool collapse_ws);
/* Frees the heading stack; closes the open section. Returns the sticky status. */
ken_status ken_ingest_b_finish(ken_ingest_b *b);
/* Asks for at least nl newlines before the next text (1: line, 2: paragraph). */
void ken_ingest_b_break(ken_ingest_b *b, int nl);
/* Appends text (white space collapsed in collapse mode). */
void ken_ingest_b_text(ken_ingest_b *b, const char *s, size_t n);
/* Appends text verbatim (code, pre). */
void ken_ingest_b_raw(ken_ingest_b *b, const char *s, size_t n);
void ken_ingest_b_heading_begin(ken_ingest_b *b, int level);
/* Ends the heading; returns its text (owned by the builder) or NULL. */
const char *ken_ingest_b_heading_end(ken_ingest_b *b);
void ken_ingest_b_code_begin(ken_ingest_b *b);
void ken_ingest_b_code_end(ken_ingest_b *b);
/* True if nothing but white space has been written since the last newline. */
bool ken_ingest_b_at_line_start(const ken_ingest_b *b);

/* Makes sure b->data is a NUL-terminated string even when empty. */
static inline ken_status ken_ingest_buf_cstr(ken_buf *b) {
    ken_status st = ken_buf_reserve(b, 0);
    if (!st) b->data[b->len] = 0;
    return st;
}

/* ------------------------------------------------------------ documents */

ken_status ken_ingest_add_section(ken_idoc *d, int64_t start, int64_t end, const char *heading,
                                  int32_t page, int32_t level, ken_sec_kind kind);
/* Makes doc->text valid NFC UTF-8 (invalid bytes become U+FFFD, CRLF -> LF),
 * normalizing between section boundaries so every span is remapped exactly;
 * drops sections that hold only white space. */
ken_status ken_ingest_finalize(ken_idoc *d);
/* Sets d->title from s[0..n): white space collapsed, trimmed, capped. */
ken_status ken_ingest_set_title(ken_idoc *d, const char *s, size_t n);

/* ------------------------------------------------------------ parsers */

/* Every parser fills one or more documents and hands each to fn after
 * ken_ingest_finalize. `data` is the (decompressed) input. */
typedef struct {
    const char *name;
    const void *data;
    size_t len;
    const ken_parse_opts *opts;
    size_t bytes_max;
    const char *mime;
    ken_idoc_fn fn;
    void *ud;
    ken_warn_fn warn;
    void *warn_ud;
    ken_err *err;
} ken_ingest_job;

ken_status ken_ingest_text(const ken_ingest_job *j, bool code);
ken_status ken_ingest_markdown(const ken_ingest_job *j);
ken_status ken_ingest_html(const ken_ingest_job *j);
ken_status ken_ingest_pdf(const ken_ingest_job *j);
ken_status ken_ingest_json(const ken_ingest_job *j, bool lines);

/* Calls the warn callback with a formatted message (if there is one). */
void ken_ingest_warnf(const ken_ingest_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Finalizes d, sets its mime and hands it to the job's callback. Returns
 * KEN_ERR_CANCELLED when the callback asked to stop. */
ken_status ken_ingest_emit(const ken_ingest_job *j, ken_idoc *d);

/* Decodes raw bytes to UTF-8 text (BOM, UTF-16, Latin-1 fallback) and
 * normalizes it; binary data -> KEN_ERR_FORMAT naming the file. */
ken_status ken_ingest_decode_text(const ken_ingest_job *j, ken_buf *out);

#endif
