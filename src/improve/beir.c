/* beir.c: readers for the BEIR test-collection formats: queries.jsonl (one
 * JSON object per line, "_id" and "text") and qrels.tsv (header
 * "query-id corpus-id score", then qid, docid, grade). Only the two string
 * fields are needed, so a small strict JSON scanner lives here: it validates
 * the whole line, decodes the two strings, and skips every other value with a
 * depth limit. */
#include "improve/improve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define JSON_DEPTH_MAX 64

typedef struct {
    const char *p, *end;
    const char *why;      /* first error */
} jscan;

static void skip_ws(jscan *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
        j->p++;
}

static bool fail(jscan *j, const char *why) {
    if (!j->why) j->why = why;
    return false;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(jscan *j, int32_t *cp) {
    if (j->end - j->p < 4) return fail(j, "truncated \\u escape");
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0) return fail(j, "bad \\u escape");
        v = v * 16 + h;
    }
    j->p += 4;
    *cp = v;
    return true;
}

/* Decodes a string at j->p (at the opening quote) into out (when non-NULL). */
static bool scan_string(jscan *j, ken_buf *out) {
    if (j->p >= j->end || *j->p != '"') return fail(j, "expected a string");
    j->p++;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') { j->p++; return true; }
        if (c < 0x20) return fail(j, "control character in a string");
        if (c != '\\') {
            const char *s = j->p;
            while (j->p < j->end && *j->p != '"' && *j->p != '\\' &&
                   (unsigned char)*j->p >= 0x20)
                j->p++;
            if (out && ken_buf_append(out, s, (size_t)(j->p - s)) != KEN_OK)
                return fail(j, "out of memory");
            continue;
        }
        if (++j->p >= j->end) break;
        char e = *j->p++;
        int32_t cp;
        switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (!read_hex4(j, &cp)) return false;
            if (cp >= 0xD800 && cp <= 0xDBFF && j->end - j->p >= 6 && j->p[0] == '\\' &&
                j->p[1] == 'u') {
                int32_t lo;
                j->p += 2;
                if (!read_hex4(j, &lo)) return false;
                cp = (lo >= 0xDC00 && lo <= 0xDFFF)
                         ? 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00) : 0xFFFD;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD;   /* a lone surrogate */
            }
            break;
        default: return fail(j, "bad escape in a string");
        }
        if (out && ken_utf8_put(out, cp) != KEN_OK) return fail(j, "out of memory");
    }
    return fail(j, "unterminated string");
}

static bool scan_value(jscan *j, int depth);

static bool scan_container(jscan *j, int depth, char close) {
    if (depth >= JSON_DEPTH_MAX) return fail(j, "nesting too deep");
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == close) { j->p++; return true; }
    for (;;) {
        skip_ws(j);
        if (close == '}') {
            if (!scan_string(j, NULL)) return false;
            skip_ws(j);
            if (j->p >= j->end || *j->p != ':') return fail(j, "expected ':'");
            j->p++;
        }
        if (!scan_value(j, depth + 1)) return false;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') { j->p++; continue; }
        if (j->p < j->end && *j->p == close) { j->p++; return true; }
        return fail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool scan_literal(jscan *j) {
    static const char *const lits[] = {"true", "false", "null"};
    for (size_t i = 0; i < KEN_ARRAY_LEN(lits); i++) {
        size_t n = strlen(lits[i]);
        if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lits[i], n) == 0) {
            j->p += n;
            return true;
        }
    }
    /* A number: the JSON grammar, checked loosely but never past the end. */
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-') j->p++;
    const char *digits = j->p;
    while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || *j->p == '.' ||
                             *j->p == 'e' || *j->p == 'E' || *j->p == '+' || *j->p == '-'))
        j->p++;
    if (j->p == digits || !(*digits >= '0' && *digits <= '9')) {
        j->p = s;
        return fail(j, "unexpected character");
    }
    return true;
}

static bool scan_value(jscan *j, int depth) {
    skip_ws(j);
    if (j->p >= j->end) return fail(j, "unexpected end of line");
    switch (*j->p) {
    case '{': return scan_container(j, depth, '}');
    case '[': return scan_container(j, depth, ']');
    case '"': return scan_string(j, NULL);
    default: return scan_literal(j);
    }
}

/* Parses one line holding an object; decodes string fields "_id" and
 * "text" into id/text (left empty when absent or not strings). */
static bool parse_query_line(jscan *j, ken_buf *id, ken_buf *text, bool *has_id,
                             bool *has_text) {
    skip_ws(j);
    if (j->p >= j->end || *j->p != '{') return fail(j, "a line must hold a JSON object");
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') { j->p++; goto tail; }
    ken_buf key;
    ken_buf_init(&key, KEN_EVAL_LINE_BYTES_MAX);
    for (;;) {
        skip_ws(j);
        ken_buf_reset(&key);
        if (!scan_string(j, &key)) break;
        skip_ws(j);
        if (j->p >= j->end || *j->p != ':') { fail(j, "expected ':'"); break; }
        j->p++;
        skip_ws(j);
        ken_buf *dst = NULL;
        bool *flag = NULL;
        if (key.data && strcmp(key.data, "_id") == 0) { dst = id; flag = has_id; }
        else if (key.data && strcmp(key.data, "text") == 0) { dst = text; flag = has_text; }
        if (dst && j->p < j->end && *j->p == '"') {
            ken_buf_reset(dst);
            if (!scan_string(j, dst)) break;
            *flag = true;
        } else if (!scan_value(j, 1)) {
            break;
        }
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') { j->p++; continue; }
        if (j->p < j->end && *j->p == '}') { j->p++; ken_buf_free(&key); goto tail; }
        fail(j, "expected ',' or '}'");
        break;
    }
    ken_buf_free(&key);
    return false;
tail:
    skip_ws(j);
    if (j->p != j->end) return fail(j, "text after the object");
    return true;
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

static ken_status add_query(ken_eval_queries *q, ken_buf *id, ken_buf *text) {
    if (q->n >= KEN_EVAL_QUERIES_MAX) return KEN_ERR_LIMIT;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        ken_eval_query *v = realloc(q->v, cap * sizeof *v);
        if (!v) return KEN_ERR_NOMEM;
        q->v = v;
        q->cap = cap;
    }
    char *a = ken_strndup(id->data ? id->data : "", id->len);
    char *b = ken_strndup(text->data ? text->data : "", text->len);
    if (!a || !b) { free(a); free(b); return KEN_ERR_NOMEM; }
    q->v[q->n].id = a;
    q->v[q->n].text = b;
    q->n++;
    return KEN_OK;
}

ken_status ken_eval_parse_queries(const char *data, size_t len, ken_eval_queries *out,
                                  ken_err *err) {
    memset(out, 0, sizeof *out);
    ken_buf id, text;
    ken_buf_init(&id, KEN_EVAL_LINE_BYTES_MAX);
    ken_buf_init(&text, KEN_EVAL_LINE_BYTES_MAX);
    ken_status st = KEN_OK;
    size_t line = 0;
    for (size_t pos = 0; pos < len && st == KEN_OK;) {
        const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (blank(s, n)) continue;
        if (n > KEN_EVAL_LINE_BYTES_MAX) {
            st = ken_err_set(err, KEN_ERR_LIMIT, "queries line %zu: longer than %zu bytes",
                             line, KEN_EVAL_LINE_BYTES_MAX);
            break;
        }
        if (!ken_utf8_valid(s, n)) {
            st = ken_err_set(err, KEN_ERR_FORMAT, "queries line %zu: invalid UTF-8", line);
            break;
        }
        jscan j = {s, s + n, NULL};
        bool has_id = false, has_text = false;
        ken_buf_reset(&id);
        ken_buf_reset(&text);
        if (!parse_query_line(&j, &id, &text, &has_id, &has_text))
            st = ken_err_set(err, KEN_ERR_FORMAT, "queries line %zu: %s", line, j.why);
        else if (!has_id || !has_text || id.len == 0)
            st = ken_err_set(err, KEN_ERR_FORMAT,
                             "queries line %zu: needs string fields \"_id\" and \"text\"", line);
        else if ((st = add_query(out, &id, &text)) != KEN_OK)
            ken_err_set(err, st, "queries line %zu: %s", line,
                        st == KEN_ERR_LIMIT ? "too many queries" : "out of memory");
    }
    ken_buf_free(&id);
    ken_buf_free(&text);
    if (st != KEN_OK) ken_eval_queries_free(out);
    return st;
}

void ken_eval_queries_free(ken_eval_queries *q) {
    if (!q) return;
    for (size_t i = 0; i < q->n; i++) {
        free(q->v[i].id);
        free(q->v[i].text);
    }
    free(q->v);
    memset(q, 0, sizeof *q);
}

static ken_status read_file(const char *path, ken_buf *b, ken_err *err) {
    ken_buf_init(b, KEN_EVAL_FILE_BYTES_MAX);
    return ken_file_read(path, KEN_EVAL_FILE_BYTES_MAX, b, err);
}

ken_status ken_eval_read_queries(const char *path, ken_eval_queries *out, ken_err *err) {
    ken_buf b;
    memset(out, 0, sizeof *out);
    ken_status st = read_file(path, &b, err);
    if (st == KEN_OK) st = ken_eval_parse_queries(b.data ? b.data : "", b.len, out, err);
    ken_buf_free(&b);
    return st;
}

/* ------------------------------------------------------------ qrels */

/* Splits a line into up to 5 whitespace-separated fields (NUL-terminating
 * them in place); returns the number of fields, or 5 for "too many". */
static int split_fields(char *s, char **f) {
    int n = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\r') *s++ = '\0';
        if (!*s) break;
        if (n == 5) return 5;
        f[n++] = s;
        while (*s && *s != ' ' && *s != '\t' && *s != '\r') s++;
    }
    return n;
}

static int cmp_qrel(const void *a, const void *b) {
    const ken_qrel *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    return c ? c : strcmp(x->docid, y->docid);
}

static ken_status add_qrel(ken_qrels *q, const char *qid, const char *docid, int grade) {
    if (q->n >= KEN_EVAL_QRELS_MAX) return KEN_ERR_LIMIT;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 256;
        ken_qrel *v = realloc(q->v, cap * sizeof *v);
        if (!v) return KEN_ERR_NOMEM;
        q->v = v;
        q->cap = cap;
    }
    char *a = ken_strdup(qid), *b = ken_strdup(docid);
    if (!a || !b) { free(a); free(b); return KEN_ERR_NOMEM; }
    q->v[q->n++] = (ken_qrel){a, b, grade};
    return KEN_OK;
}

/* Parses one qrels line (NUL-terminated, modifiable). */
static ken_status qrels_line(ken_qrels *out, char *s, size_t line, ken_err *err) {
    char *f[5];
    int nf = split_fields(s, f);
    if (nf == 0) return KEN_OK;
    if (line == 1 && nf == 3 && strcmp(f[0], "query-id") == 0) return KEN_OK;  /* header */
    if (nf != 3 && nf != 4)
        return ken_err_set(err, KEN_ERR_FORMAT,
                           "qrels line %zu: expected 'query-id corpus-id score'", line);
    const char *qid = f[0], *docid = nf == 3 ? f[1] : f[2], *gs = nf == 3 ? f[2] : f[3];
    char *endp;
    errno = 0;
    long g = strtol(gs, &endp, 10);
    if (*endp == '.') {   /* "1.0": some tools write float grades */
        double d = strtod(gs, &endp);
        /* Range first: converting an out-of-range double is undefined. */
        if (!(d >= -1000.0 && d <= 1000.0)) endp = (char *)gs;
        else {
            g = (long)d;
            if (d != (double)g) endp = (char *)gs;
        }
    }
    if (errno || *endp || endp == gs || g < -1000 || g > 1000)
        return ken_err_set(err, KEN_ERR_FORMAT, "qrels line %zu: bad score '%s'", line, gs);
    ken_status st = add_qrel(out, qid, docid, (int)g);
    if (st != KEN_OK)
        return ken_err_set(err, st, "qrels line %zu: %s", line,
                           st == KEN_ERR_LIMIT ? "too many judgments" : "out of memory");
    return KEN_OK;
}

ken_status ken_eval_parse_qrels(const char *data, size_t len, ken_qrels *out, ken_err *err) {
    memset(out, 0, sizeof *out);
    ken_status st = KEN_OK;
    size_t line = 0;
    char *tmp = NULL;
    for (size_t pos = 0; pos < len && st == KEN_OK;) {
        const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (n > KEN_EVAL_LINE_BYTES_MAX) {
            st = ken_err_set(err, KEN_ERR_LIMIT, "qrels line %zu: too long", line);
            break;
        }
        if (memchr(s, '\0', n) || !ken_utf8_valid(s, n)) {
            st = ken_err_set(err, KEN_ERR_FORMAT, "qrels line %zu: not UTF-8 text", line);
            break;
        }
        free(tmp);
        if (!(tmp = ken_strndup(s, n))) {
            st = ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
            break;
        }
        st = qrels_line(out, tmp, line, err);
    }
    free(tmp);
    if (st != KEN_OK) {
        ken_eval_qrels_free(out);
        return st;
    }
    if (out->n > 1) qsort(out->v, out->n, sizeof *out->v, cmp_qrel);
    /* A repeated (qid, docid) keeps its highest grade (qsort is not stable,
     * so "the last line" would not be well defined). */
    size_t w = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (w > 0 && cmp_qrel(&out->v[w - 1], &out->v[i]) == 0) {
            if (out->v[i].grade > out->v[w - 1].grade) out->v[w - 1].grade = out->v[i].grade;
            free(out->v[i].qid);
            free(out->v[i].docid);
            continue;
        }
        out->v[w++] = out->v[i];
    }
    out->n = w;
    return KEN_OK;
}

void ken_eval_qrels_free(ken_qrels *q) {
    if (!q) return;
    for (size_t i = 0; i < q->n; i++) {
        free(q->v[i].qid);
        free(q->v[i].docid);
    }
    free(q->v);
    memset(q, 0, sizeof *q);
}

ken_status ken_eval_read_qrels(const char *path, ken_qrels *out, ken_err *err) {
    ken_buf b;
    memset(out, 0, sizeof *out);
    ken_status st = read_file(path, &b, err);
    if (st == KEN_OK) st = ken_eval_parse_qrels(b.data ? b.data : "", b.len, out, err);
    ken_buf_free(&b);
    return st;
}

const ken_qrel *ken_eval_qrels_find(const ken_qrels *q, const char *qid, size_t *n_out) {
    size_t lo = 0, hi = q->n;
    while (lo < hi) {   /* first entry with qid >= the key */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(q->v[mid].qid, qid) < 0) lo = mid + 1;
        else hi = mid;
    }
    size_t end = lo;
    while (end < q->n && strcmp(q->v[end].qid, qid) == 0) end++;
    *n_out = end - lo;
    return end > lo ? &q->v[lo] : NULL;
}
