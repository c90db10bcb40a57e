/* ingest.h: from raw bytes to documents and chunks.
 *
 *   bytes ──► detect type ──► (gunzip) ──► parse ──► normalized text + sections
 *         ──► chunk ──► spans
 *
 * A parsed document (ken_idoc) holds its normalized text (valid UTF-8, NFC,
 * LF line ends) and a list of sections: byte spans of that text with their
 * heading path, page and kind. Chunks are spans of the same text, so a
 * citation can later point at exact bytes. This module knows nothing about
 * the store; src/kb drives it and writes the results.
 *
 * What the parsers make of each format:
 * - text: one KEN_SEC_PROSE section; source code (by extension, or by
 *   libmagic for names without one): one KEN_SEC_CODE section, verbatim.
 * - Markdown / HTML: markup removed, paragraphs separated by blank lines,
 *   list items on their own lines ("- "), table cells joined by " | ".
 *   Each heading is a KEN_SEC_HEADING section (its path includes itself),
 *   followed by the KEN_SEC_PROSE / KEN_SEC_CODE sections under it.
 *   Title: Markdown front matter "title:" or the first H1; HTML <title> or
 *   the first h1.
 * - PDF: one section per page with text (page = 1-based page number),
 *   its heading the path of the outline (bookmark) entry in force on that
 *   page ("Part Two > Details"), "" without an outline; title from the
 *   metadata.
 * - JSON / JSONL: one document per object; ext_id from the id field (a
 *   number's text is kept as written), title from the title field (also
 *   the heading of the one section), other scalar fields in meta_json.
 * - gzip is recognized by its magic bytes; ".gz" is stripped from the name
 *   to find the inner type.
 * Text is decoded (UTF-8, BOM, UTF-16 with BOM, else Latin-1) and NFC-
 * normalized with LF line ends; binary data is refused with KEN_ERR_FORMAT,
 * and so is an empty file or one with no text at all. */
#ifndef KEN_INGEST_H
#define KEN_INGEST_H

#include "base/base.h"

typedef enum {
    KEN_SEC_PROSE = 0,   /* running text: sentence-aware chunking */
    KEN_SEC_CODE,        /* code: split on blank-line blocks, kept verbatim */
    KEN_SEC_HEADING      /* a heading line itself (kept with what follows) */
} ken_sec_kind;

typedef struct {
    int64_t start, end;       /* byte span in ken_idoc.text */
    char *heading;            /* heading path " > "-joined (owned), "" if none */
    int32_t page;             /* 1-based page, 0 if not paged */
    int32_t level;            /* heading depth of this section (0: none) */
    ken_sec_kind kind;
} ken_section;

typedef struct {
    char *ext_id;             /* external id (JSON/JSONL) or NULL */
    char *title;              /* document title or NULL */
    char *meta_json;          /* JSON object text or NULL */
    const char *mime;         /* static string: "text/plain", "text/markdown", ... */
    ken_buf text;             /* normalized text */
    ken_section *secs;
    size_t n_secs, cap_secs;
    int64_t line;             /* JSONL: 1-based line of the object, else 0 */
    int64_t item;             /* JSON array / JSONL: 1-based position of the object
                                 in the file (a stable key when ext_id is NULL);
                                 0 for one-document files */
} ken_idoc;

void ken_idoc_init(ken_idoc *d);
void ken_idoc_free(ken_idoc *d);

typedef struct {
    const char *json_id_field, *json_title_field, *json_text_field; /* NULL: BEIR */
    size_t bytes_max;         /* decompressed size limit; 0: 1 GiB */
    int json_depth_max;       /* 0: 256 */
} ken_parse_opts;

/* Called once per parsed document (a JSONL file yields many). The callee may
 * keep nothing from doc after returning. Non-zero return stops parsing. */
typedef int (*ken_idoc_fn)(void *ud, ken_idoc *doc);
/* Non-fatal problems (a broken JSONL line, an unreadable PDF page, ...). */
typedef void (*ken_warn_fn)(void *ud, const char *msg);

/* Detects the type from the name's extension and the content (libmagic),
 * looking through gzip. Returns a static mime string, or NULL for binary /
 * unsupported data (with the reason in err). */
const char *ken_ingest_detect(const char *name, const void *data, size_t len, ken_err *err);

/* Parses data (gzip-compressed or not) named name. Returns KEN_ERR_FORMAT
 * (message in err) when the whole input is unusable (binary, corrupt PDF,
 * JSON syntax error in a .json file); per-item problems go to warn. */
ken_status ken_ingest_parse(const char *name, const void *data, size_t len,
                            const ken_parse_opts *opts, ken_idoc_fn fn, void *ud,
                            ken_warn_fn warn, void *warn_ud, ken_err *err);

/* ------------------------------------------------------------ chunking */

typedef struct {
    uint32_t target_words;    /* 0: 250 */
    uint32_t overlap_words;   /* 0: none; default set by callers (40) */
    uint32_t max_bytes;       /* hard cap on a chunk's bytes; 0: 8 KiB */
} ken_chunk_opts;

typedef struct {
    int64_t start, end;       /* byte span in the document text */
    const char *heading;      /* points into the doc's section (valid while doc lives) */
    int32_t page;
    int32_t tokens;           /* estimate */
} ken_ichunk;

/* Splits doc into chunks; *out is malloc'd (free with free()). Chunk spans
 * start and end on UTF-8 character boundaries, are trimmed of white space
 * and never cross a section boundary unless the section is tiny (under a
 * fifth of target_words: merged with the following sections under the same
 * parent heading while the total stays within target_words and max_bytes).
 * A heading section always starts the first chunk of the section under it.
 * Prose is cut at sentence starts where possible (abbreviations, initials,
 * decimals, quotes and ellipses understood), else between words; a word
 * longer than max_bytes is cut between characters. Overlap (capped at half
 * of target_words) starts at a sentence start where one lies in the
 * window, else at a word. Code is cut between blank-line blocks, then
 * lines. tokens = max(ceil(words * 1.3), ceil(bytes / 4)). Linear time.
 * Sections must be sorted and disjoint (KEN_ERR_INVALID otherwise). */
ken_status ken_chunk_doc(const ken_idoc *doc, const ken_chunk_opts *opts,
                         ken_ichunk **out, size_t *n_out);

/* ------------------------------------------------------------ walking */

/* Walks files under root (a file or a directory): skips hidden entries
 * (names starting with '.'), honours .kenignore files (gitignore syntax:
 * globs, '**', '!' negation, trailing '/' for directories, leading '/'
 * anchoring) found in root and below, does not follow symlinked
 * directories. fn gets each regular file's path; errors on single entries
 * (unreadable folder, dangling symlink) go to warn and the walk goes on. */
typedef int (*ken_walk_fn)(void *ud, const char *path);
ken_status ken_walk(const char *root, ken_walk_fn fn, void *ud,
                    ken_warn_fn warn, void *warn_ud, ken_err *err);

#endif
