/* json.h: a strict RFC 8259 JSON parser that builds a read-only DOM in an
 * arena (one allocation list per document, freed at once).
 *
 * - Strict: no comments, no trailing commas, no NaN/Infinity, no leading
 *   zeros, no control characters in strings, nothing after the value.
 *   A leading UTF-8 byte order mark is skipped (RFC 8259 allows ignoring it).
 * - Invalid UTF-8 anywhere is an error. \u escapes are decoded, surrogate
 *   pairs joined; a lone surrogate (\ud800 without its pair) is an ERROR,
 *   so what the DOM holds is always valid UTF-8.
 * - Numbers are kept as double (num; +-HUGE_VAL when out of range) and as
 *   their original text (str, len) so no precision is lost.
 * - Iterative (an explicit stack), so nesting is bounded by depth_max
 *   (default 256), never by the C stack; input size by bytes_max (default
 *   1 GiB); node count by nodes_max.
 * - Errors carry a short reason and the byte offset, line and column. */
#ifndef KEN_JSON_H
#define KEN_JSON_H

#include "base/base.h"

typedef enum {
    KEN_JSON_NULL = 0,
    KEN_JSON_BOOL,
    KEN_JSON_NUMBER,
    KEN_JSON_STRING,
    KEN_JSON_ARRAY,
    KEN_JSON_OBJECT
} ken_json_type;

typedef struct ken_json ken_json;
struct ken_json {
    ken_json_type type;
    bool b;                 /* BOOL */
    double num;             /* NUMBER */
    const char *str;        /* STRING: decoded UTF-8, NUL-terminated (may hold
                               NUL bytes from \u0000: use len); NUMBER: the
                               original text; NULL otherwise */
    size_t len;
    const char *key;        /* member name when inside an object, else NULL */
    size_t key_len;
    ken_json *kids;         /* ARRAY / OBJECT: the n members, in order */
    size_t n;
};

typedef struct {
    int depth_max;          /* 0: 256 */
    size_t bytes_max;       /* 0: 1 GiB */
    size_t nodes_max;       /* 0: unlimited (bytes_max bounds it anyway) */
} ken_json_opts;

/* Where and why parsing failed. */
typedef struct {
    size_t offset;          /* byte offset of the problem */
    size_t line, col;       /* 1-based; col counts bytes within the line */
    const char *what;       /* static: "expected ',' or '}'", ... */
} ken_json_error;

typedef struct ken_json_doc ken_json_doc;

/* Parses s[0..n). On success *out owns the DOM (free with ken_json_free).
 * On failure returns KEN_ERR_FORMAT (syntax, UTF-8), KEN_ERR_LIMIT (depth,
 * size, nodes) or KEN_ERR_NOMEM; *pe (optional) and err (optional) say
 * where: "expected ',' or '}' at line 3, column 7 (byte 41)". */
ken_status ken_json_parse(const char *s, size_t n, const ken_json_opts *opts,
                          ken_json_doc **out, ken_json_error *pe, ken_err *err);
void ken_json_free(ken_json_doc *d);
const ken_json *ken_json_root(const ken_json_doc *d);

/* Object member by name (the last one if a name repeats); NULL when v is
 * not an object or has no such member. */
const ken_json *ken_json_get(const ken_json *v, const char *key);
const ken_json *ken_json_getn(const ken_json *v, const char *key, size_t key_len);
/* Array element (or object member) i; NULL when out of range. */
const ken_json *ken_json_at(const ken_json *v, size_t i);
/* The string of a STRING node, else NULL. */
const char *ken_json_str(const ken_json *v);
/* "null", "boolean", "number", "string", "array", "object". */
const char *ken_json_type_name(ken_json_type t);

#endif
