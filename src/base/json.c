/* json.c: the strict JSON DOM parser of json.h. One pass, no recursion:
 * finished values wait on a value stack; when a container closes, its
 * members are copied into one arena array, so a node's kids are contiguous
 * and the DOM costs one arena plus nothing per node. */
#include "base/json.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define JSON_DEPTH_DEFAULT 256
#define JSON_BYTES_DEFAULT ((size_t)1 << 30)
#define ARENA_CHUNK ((size_t)64 << 10)

/* ------------------------------------------------------------ arena */

typedef struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    max_align_t data[];
} arena_blk;

struct ken_json_doc {
    arena_blk *blk;
    ken_json *root;
};

static void *arena_alloc(ken_json_doc *d, size_t n) {
    n = (n + 15) & ~(size_t)15;
    arena_blk *b = d->blk;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->used = 0;
        b->cap = cap;
        /* A big one-off goes behind the current block so the latter keeps filling. */
        if (d->blk && n > ARENA_CHUNK) {
            b->next = d->blk->next;
            d->blk->next = b;
        } else {
            b->next = d->blk;
            d->blk = b;
        }
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

void ken_json_free(ken_json_doc *d) {
    if (!d) return;
    for (arena_blk *b = d->blk, *nx; b; b = nx) {
        nx = b->next;
        free(b);
    }
    free(d);
}

const ken_json *ken_json_root(const ken_json_doc *d) { return d ? d->root : NULL; }

/* ------------------------------------------------------------ parser */

typedef struct {
    ken_json_type type;      /* ARRAY or OBJECT */
    size_t start;            /* index of its first member on the value stack */
    const char *key;         /* OBJECT: the key waiting for its value */
    size_t key_len;
} frame;

typedef struct {
    const char *s;
    size_t n, i;
    ken_json_doc *doc;
    ken_json *vals;
    size_t n_vals, cap_vals;
    frame *frames;
    size_t n_frames, cap_frames;
    size_t depth_max, nodes, nodes_max;
    const char *what;        /* error reason */
    size_t err_at;
    ken_status st;
} parser;

static bool fail(parser *p, ken_status st, const char *what, size_t at) {
    if (!p->st) {
        p->st = st;
        p->what = what;
        p->err_at = at;
    }
    return false;
}

static void skip_ws(parser *p) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->i++;
    }
}

/* Length of the valid UTF-8 sequence at s[i..n) (strict), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t i) {
    unsigned c = s[i];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;          /* overlong */
        if (c == 0xED) hi = 0x9F;          /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;          /* > U+10FFFF */
    } else return 0;
    if (n - i < len) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if ((s[i + k] & 0xC0) != 0x80) return 0;
    return len;
}

static int hex4(const char *s) {
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes one \u escape (and its low surrogate) at s[i] == 'u'. */
static bool unicode_escape(parser *p, size_t *i, char *o, size_t *olen) {
    const char *s = p->s;
    if (p->n - *i < 5) return fail(p, KEN_ERR_FORMAT, "truncated \\u escape", *i - 1);
    int u = hex4(s + *i + 1);
    if (u < 0) return fail(p, KEN_ERR_FORMAT, "bad hex digit in \\u escape", *i - 1);
    size_t at = *i - 1;
    *i += 5;
    uint32_t cp = (uint32_t)u;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(p, KEN_ERR_FORMAT, "lone low surrogate in \\u escape", at);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        int lo = p->n - *i >= 6 && s[*i] == '\\' && s[*i + 1] == 'u' ? hex4(s + *i + 2) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail(p, KEN_ERR_FORMAT, "lone high surrogate in \\u escape", at);
        cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
        *i += 6;
    }
    *olen += put_utf8(o + *olen, cp);
    return true;
}

/* Parses the string at p->i (on the opening quote) into the arena. */
static bool parse_string(parser *p, const char **out, size_t *out_len) {
    const unsigned char *s = (const unsigned char *)p->s;
    size_t start = ++p->i, i = start;
    bool esc = false;
    /* First pass: find the end, validate UTF-8 and control characters. */
    for (;;) {
        if (i >= p->n) return fail(p, KEN_ERR_FORMAT, "unterminated string", start - 1);
        unsigned c = s[i];
        if (c == '"') break;
        if (c == '\\') { esc = true; i += 2; continue; }
        if (c < 0x20) return fail(p, KEN_ERR_FORMAT, "control character in string", i);
        size_t l = utf8_seq(s, p->n, i);
        if (!l) return fail(p, KEN_ERR_FORMAT, "invalid UTF-8 in string", i);
        i += l;
    }
    size_t raw = i - start;
    char *o = arena_alloc(p->doc, raw + 1);
    if (!o) return fail(p, KEN_ERR_NOMEM, "out of memory", start);
    size_t ol = 0;
    if (!esc) {
        memcpy(o, s + start, raw);
        ol = raw;
    } else {
        for (size_t k = start; k < i;) {
            if (s[k] != '\\') { o[ol++] = (char)s[k++]; continue; }
            char e = (char)s[k + 1];
            const char *map = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *hit = e ? strchr(map, e) : NULL;
            if (hit) { o[ol++] = to[hit - map]; k += 2; continue; }
            if (e != 'u') return fail(p, KEN_ERR_FORMAT, "invalid escape in string", k);
            k++;
            if (!unicode_escape(p, &k, o, &ol)) return false;
        }
    }
    o[ol] = 0;
    p->i = i + 1;
    *out = o;
    *out_len = ol;
    return true;
}

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;
static void c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

static bool parse_number(parser *p, ken_json *v) {
    const char *s = p->s;
    size_t i = p->i, n = p->n, st = i;
    if (i < n && s[i] == '-') i++;
    if (i >= n || s[i] < '0' || s[i] > '9') return fail(p, KEN_ERR_FORMAT, "invalid number", st);
    if (s[i] == '0') {
        i++;
        if (i < n && s[i] >= '0' && s[i] <= '9') return fail(p, KEN_ERR_FORMAT, "leading zero in number", st);
    } else {
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return fail(p, KEN_ERR_FORMAT, "digit expected after '.'", i);
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return fail(p, KEN_ERR_FORMAT, "digit expected in exponent", i);
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    char *t = arena_alloc(p->doc, i - st + 1);
    if (!t) return fail(p, KEN_ERR_NOMEM, "out of memory", st);
    memcpy(t, s + st, i - st);
    t[i - st] = 0;
    pthread_once(&c_locale_once, c_locale_init);
    v->type = KEN_JSON_NUMBER;
    v->num = c_locale ? strtod_l(t, NULL, c_locale) : strtod(t, NULL);
    v->str = t;
    v->len = i - st;
    p->i = i;
    return true;
}

static bool literal(parser *p, const char *word, ken_json *v, ken_json_type t, bool b) {
    size_t l = strlen(word);
    if (p->n - p->i < l || memcmp(p->s + p->i, word, l) != 0)
        return fail(p, KEN_ERR_FORMAT, "invalid literal (expected a value)", p->i);
    p->i += l;
    v->type = t;
    v->b = b;
    return true;
}

static bool push_val(parser *p, const ken_json *v) {
    if (p->nodes_max && ++p->nodes > p->nodes_max)
        return fail(p, KEN_ERR_LIMIT, "too many values", p->i);
    if (p->n_vals == p->cap_vals) {
        size_t cap = p->cap_vals ? p->cap_vals * 2 : 64;
        ken_json *nv = realloc(p->vals, cap * sizeof *nv);
        if (!nv) return fail(p, KEN_ERR_NOMEM, "out of memory", p->i);
        p->vals = nv;
        p->cap_vals = cap;
    }
    ken_json *d = &p->vals[p->n_vals++];
    *d = *v;
    if (p->n_frames && p->frames[p->n_frames - 1].type == KEN_JSON_OBJECT) {
        d->key = p->frames[p->n_frames - 1].key;
        d->key_len = p->frames[p->n_frames - 1].key_len;
    }
    return true;
}

static bool open_frame(parser *p, ken_json_type t) {
    if (p->n_frames >= p->depth_max)
        return fail(p, KEN_ERR_LIMIT, "nesting too deep", p->i);
    if (p->n_frames == p->cap_frames) {
        size_t cap = p->cap_frames ? p->cap_frames * 2 : 16;
        frame *nf = realloc(p->frames, cap * sizeof *nf);
        if (!nf) return fail(p, KEN_ERR_NOMEM, "out of memory", p->i);
        p->frames = nf;
        p->cap_frames = cap;
    }
    p->frames[p->n_frames++] = (frame){t, p->n_vals, NULL, 0};
    p->i++;
    return true;
}

/* Closes the innermost container: its members move to the arena. */
static bool close_frame(parser *p, ken_json *v) {
    frame f = p->frames[--p->n_frames];
    size_t n = p->n_vals - f.start;
    memset(v, 0, sizeof *v);
    v->type = f.type;
    v->n = n;
    if (n) {
        v->kids = arena_alloc(p->doc, n * sizeof *v->kids);
        if (!v->kids) return fail(p, KEN_ERR_NOMEM, "out of memory", p->i);
        memcpy(v->kids, p->vals + f.start, n * sizeof *v->kids);
    }
    p->n_vals = f.start;
    p->i++;
    return true;
}

/* Reads a key and its ':' inside an object. */
static bool read_key(parser *p) {
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != '"')
        return fail(p, KEN_ERR_FORMAT, "expected a string key", p->i);
    frame *f = &p->frames[p->n_frames - 1];
    if (!parse_string(p, &f->key, &f->key_len)) return false;
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != ':') return fail(p, KEN_ERR_FORMAT, "expected ':'", p->i);
    p->i++;
    return true;
}

/* The main loop: read a value; after each finished value, read ',' or the
 * closing bracket of the open container. */
static bool run(parser *p, ken_json *root) {
    for (;;) {
        ken_json v;
        memset(&v, 0, sizeof v);
        skip_ws(p);
        if (p->i >= p->n) return fail(p, KEN_ERR_FORMAT, "unexpected end of input (expected a value)", p->i);
        char c = p->s[p->i];
        bool ok, done = false;
        if (c == '{' || c == '[') {
            if (!open_frame(p, c == '{' ? KEN_JSON_OBJECT : KEN_JSON_ARRAY)) return false;
            skip_ws(p);
            if (p->i < p->n && p->s[p->i] == (c == '{' ? '}' : ']')) {
                if (!close_frame(p, &v)) return false;
                done = true;
            } else if (c == '{') {
                if (!read_key(p)) return false;
                continue;
            } else continue;
        }
        if (!done) {
            if (c == '"') { ok = parse_string(p, &v.str, &v.len); v.type = KEN_JSON_STRING; }
            else if (c == 't') ok = literal(p, "true", &v, KEN_JSON_BOOL, true);
            else if (c == 'f') ok = literal(p, "false", &v, KEN_JSON_BOOL, false);
            else if (c == 'n') ok = literal(p, "null", &v, KEN_JSON_NULL, false);
            else if (c == '-' || (c >= '0' && c <= '9')) ok = parse_number(p, &v);
            else ok = fail(p, KEN_ERR_FORMAT, "expected a value", p->i);
            if (!ok) return false;
        }
        /* v is finished: hand it to its container, closing as many as end here. */
        for (;;) {
            if (p->n_frames == 0) { *root = v; return true; }
            if (!push_val(p, &v)) return false;
            frame *f = &p->frames[p->n_frames - 1];
            skip_ws(p);
            char e = p->i < p->n ? p->s[p->i] : 0;
            char close = f->type == KEN_JSON_OBJECT ? '}' : ']';
            if (e == ',') {
                p->i++;
                if (f->type == KEN_JSON_OBJECT && !read_key(p)) return false;
                break;
            }
            if (e != close)
                return fail(p, KEN_ERR_FORMAT, f->type == KEN_JSON_OBJECT ? "expected ',' or '}'"
                                                                          : "expected ',' or ']'", p->i);
            if (!close_frame(p, &v)) return false;
        }
    }
}

static void locate(const char *s, size_t off, size_t *line, size_t *col) {
    size_t l = 1, last = 0;
    for (size_t i = 0; i < off; i++)
        if (s[i] == '\n') { l++; last = i + 1; }
    *line = l;
    *col = off - last + 1;
}

ken_status ken_json_parse(const char *s, size_t n, const ken_json_opts *opts,
                          ken_json_doc **out, ken_json_error *pe, ken_err *err) {
    static const ken_json_opts defaults;
    if (!opts) opts = &defaults;
    *out = NULL;
    if (pe) memset(pe, 0, sizeof *pe);
    size_t bytes_max = opts->bytes_max ? opts->bytes_max : JSON_BYTES_DEFAULT;
    if (n > bytes_max) {
        if (pe) pe->what = "input too large";
        return ken_err_set(err, KEN_ERR_LIMIT, "JSON input of %zu bytes exceeds the limit of %zu",
                           n, bytes_max);
    }
    parser p;
    memset(&p, 0, sizeof p);
    p.s = s ? s : "";
    p.n = s ? n : 0;
    p.depth_max = opts->depth_max > 0 ? (size_t)opts->depth_max : JSON_DEPTH_DEFAULT;
    p.nodes_max = opts->nodes_max;
    p.doc = calloc(1, sizeof *p.doc);
    if (!p.doc) return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    if (p.n >= 3 && memcmp(p.s, "\xEF\xBB\xBF", 3) == 0) p.i = 3;
    ken_json root;
    if (run(&p, &root)) {
        skip_ws(&p);
        if (p.i < p.n) fail(&p, KEN_ERR_FORMAT, "unexpected content after the JSON value", p.i);
    }
    if (!p.st) {
        p.doc->root = arena_alloc(p.doc, sizeof root);
        if (!p.doc->root) fail(&p, KEN_ERR_NOMEM, "out of memory", p.i);
        else *p.doc->root = root;
    }
    free(p.vals);
    free(p.frames);
    if (p.st) {
        size_t line, col;
        locate(p.s, p.err_at, &line, &col);
        if (pe) *pe = (ken_json_error){p.err_at, line, col, p.what};
        if (p.st == KEN_ERR_LIMIT && strcmp(p.what, "nesting too deep") == 0)
            ken_err_set(err, p.st, "nesting deeper than %zu levels at line %zu, column %zu (byte %zu)",
                        p.depth_max, line, col, p.err_at);
        else
            ken_err_set(err, p.st, "%s at line %zu, column %zu (byte %zu)", p.what, line, col, p.err_at);
        ken_json_free(p.doc);
        return p.st;
    }
    *out = p.doc;
    return KEN_OK;
}

/* ------------------------------------------------------------ access */

const ken_json *ken_json_getn(const ken_json *v, const char *key, size_t key_len) {
    if (!v || v->type != KEN_JSON_OBJECT) return NULL;
    for (size_t i = v->n; i-- > 0;) {
        const ken_json *m = &v->kids[i];
        if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0) return m;
    }
    return NULL;
}

const ken_json *ken_json_get(const ken_json *v, const char *key) {
    return key ? ken_json_getn(v, key, strlen(key)) : NULL;
}

const ken_json *ken_json_at(const ken_json *v, size_t i) {
    if (!v || (v->type != KEN_JSON_ARRAY && v->type != KEN_JSON_OBJECT) || i >= v->n) return NULL;
    return &v->kids[i];
}

const char *ken_json_str(const ken_json *v) {
    return v && v->type == KEN_JSON_STRING ? v->str : NULL;
}

const char *ken_json_type_name(ken_json_type t) {
    switch (t) {
    case KEN_JSON_NULL: return "null";
    case KEN_JSON_BOOL: return "boolean";
    case KEN_JSON_NUMBER: return "number";
    case KEN_JSON_STRING: return "string";
    case KEN_JSON_ARRAY: return "array";
    case KEN_JSON_OBJECT: return "object";
    }
    return "?";
}
