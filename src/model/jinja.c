/* jinja.c: the Jinja2 subset's arena, lexer and parser (template text -> AST).
 *
 * The lexer applies whitespace control while it splits text from tags, as
 * Jinja does with trim_blocks and lstrip_blocks on (transformers' settings):
 * "{%-"/"-%}" strip all whitespace on that side; a block or comment tag
 * alone on its line loses the line's leading blanks (unless "{%+"); the first
 * newline after a block or comment tag is dropped. Newlines are normalized to
 * "\n" and one trailing newline of the template is dropped (Jinja's
 * keep_trailing_newline = False).
 *
 * The parser is recursive descent with Jinja's precedence:
 *   x if c else y < or < and < not < comparisons/in < + - < ~ < * / // % < **
 *   < unary - + < postfix (.attr [sub] (call)) and filters (|f) / tests (is t).
 * Its depth is bounded so hostile nesting is an error, not a stack overflow. */
#include "model/jinja.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- arena */

struct jarena_blk {
    jarena_blk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void jarena_init(jarena *a, size_t cap_max) {
    memset(a, 0, sizeof *a);
    a->cap_max = cap_max;
}

void jarena_free(jarena *a) {
    jarena_blk *b = a->head;
    while (b) {
        jarena_blk *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
    a->used = 0;
}

void *jarena_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    jarena_blk *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (a->cap_max && (a->used + cap > a->cap_max || n > a->cap_max)) {
            a->failed = true;
            return NULL;
        }
        b = malloc(sizeof *b + cap);
        if (!b) {
            a->failed = true;
            return NULL;
        }
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
        a->used += cap;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

char *jarena_strndup(jarena *a, const char *s, size_t n) {
    char *p = jarena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* ------------------------------------------------------------- lexer */

typedef enum {
    T_EOF, T_TEXT, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_STR, T_INT, T_FLOAT, T_OP
} ttype;

typedef struct {
    uint8_t t;
    int line, col;
    const char *s;     /* text, name, decoded string, operator */
    size_t n;
    int64_t i;
    double f;
} tok;

#define TOKENS_MAX ((size_t)1 << 22)
#define PARSE_DEPTH_MAX 200
#define TEMPLATE_BYTES_MAX ((size_t)16 << 20)

typedef struct {
    const char *src;   /* normalized source (in the arena) */
    size_t n, pos;
    int line;
    size_t line_start;
    jarena *ar;
    tok *toks;
    size_t ntoks, cap;
    ken_err *err;
} lexer;

static void lx_adv(lexer *lx, size_t k) {
    for (size_t e = lx->pos + k; lx->pos < e; lx->pos++)
        if (lx->src[lx->pos] == '\n') lx->line++, lx->line_start = lx->pos + 1;
}

static int lx_col(const lexer *lx) { return (int)(lx->pos - lx->line_start) + 1; }

static ken_status lx_fail(lexer *lx, ken_status st, const char *what) {
    return ken_err_set(lx->err, st, "template line %d, column %d: %s", lx->line, lx_col(lx), what);
}

static tok *lx_push(lexer *lx, ttype t) {
    if (lx->ntoks == lx->cap) {
        if (lx->cap >= TOKENS_MAX) return NULL;
        size_t cap = lx->cap ? lx->cap * 2 : 256;
        tok *p = realloc(lx->toks, cap * sizeof *p);
        if (!p) return NULL;
        lx->toks = p;
        lx->cap = cap;
    }
    tok *k = &lx->toks[lx->ntoks++];
    memset(k, 0, sizeof *k);
    k->t = (uint8_t)t;
    k->line = lx->line;
    k->col = lx_col(lx);
    return k;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static void put_utf8(char *out, size_t *o, uint32_t cp) {
    if (cp < 0x80) out[(*o)++] = (char)cp;
    else if (cp < 0x800) {
        out[(*o)++] = (char)(0xC0 | (cp >> 6));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*o)++] = (char)(0xE0 | (cp >> 12));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*o)++] = (char)(0xF0 | (cp >> 18));
        out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes a Python string literal body s[0..n) (escapes as unicode-escape);
 * unknown escapes keep their backslash, as Python does. */
static char *decode_string(jarena *ar, const char *s, size_t n, size_t *out_n) {
    char *out = jarena_alloc(ar, n + 1);  /* escapes never grow the text */
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            out[o++] = s[i];
            continue;
        }
        char e = s[++i];
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        switch (e) {
        case 'n': out[o++] = '\n'; continue;
        case 't': out[o++] = '\t'; continue;
        case 'r': out[o++] = '\r'; continue;
        case 'b': out[o++] = '\b'; continue;
        case 'f': out[o++] = '\f'; continue;
        case 'v': out[o++] = '\v'; continue;
        case 'a': out[o++] = '\a'; continue;
        case '\\': case '\'': case '"': out[o++] = e; continue;
        case '\n': continue;
        default: break;
        }
        if (e >= '0' && e <= '7') {
            uint32_t v = 0;
            int k = 0;
            while (k < 3 && i < n && s[i] >= '0' && s[i] <= '7') v = v * 8 + (uint32_t)(s[i++] - '0'), k++;
            i--;
            put_utf8(out, &o, v);
            continue;
        }
        if (digits && i + (size_t)digits < n) {
            uint32_t v = 0;
            bool ok = true;
            for (int k = 1; ok && k <= digits; k++) {
                int h = hexval(s[i + (size_t)k]);
                if (h < 0) ok = false;
                else v = v * 16 + (uint32_t)h;
            }
            if (ok && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF)) {
                put_utf8(out, &o, v);
                i += (size_t)digits;
                continue;
            }
        }
        out[o++] = '\\';
        out[o++] = e;
    }
    out[o] = 0;
    *out_n = o;
    return out;
}

/* One expression token inside a tag at lx->pos (whitespace skipped). */
static ken_status lex_expr_token(lexer *lx) {
    const char *p = lx->src + lx->pos;
    size_t left = lx->n - lx->pos;
    char c = p[0];
    if (isalpha((unsigned char)c) || c == '_') {
        size_t k = 1;
        while (k < left && (isalnum((unsigned char)p[k]) || p[k] == '_')) k++;
        tok *t = lx_push(lx, T_NAME);
        if (!t) return lx_fail(lx, KEN_ERR_LIMIT, "too many tokens");
        t->s = p;
        t->n = k;
        lx_adv(lx, k);
        return KEN_OK;
    }
    if (isdigit((unsigned char)c)) {
        size_t k = 0;
        bool flt = false;
        char buf[64];
        size_t b = 0;
        while (k < left && (isdigit((unsigned char)p[k]) || (p[k] == '_' && k + 1 < left && isdigit((unsigned char)p[k + 1])))) {
            if (p[k] != '_' && b < sizeof buf - 1) buf[b++] = p[k];
            k++;
        }
        if (k + 1 < left && p[k] == '.' && isdigit((unsigned char)p[k + 1])) {
            flt = true;
            buf[b < sizeof buf - 1 ? b++ : b] = '.';
            k++;
            while (k < left && (isdigit((unsigned char)p[k]) || (p[k] == '_' && k + 1 < left && isdigit((unsigned char)p[k + 1])))) {
                if (p[k] != '_' && b < sizeof buf - 1) buf[b++] = p[k];
                k++;
            }
        }
        if (k < left && (p[k] == 'e' || p[k] == 'E')) {
            size_t k2 = k + 1;
            if (k2 < left && (p[k2] == '+' || p[k2] == '-')) k2++;
            if (k2 < left && isdigit((unsigned char)p[k2])) {
                flt = true;
                while (k < k2 && b < sizeof buf - 1) buf[b++] = p[k++];
                while (k < left && isdigit((unsigned char)p[k])) {
                    if (b < sizeof buf - 1) buf[b++] = p[k];
                    k++;
                }
            }
        }
        buf[b] = 0;
        if (b >= sizeof buf - 1) return lx_fail(lx, KEN_ERR_LIMIT, "number literal too long");
        tok *t = lx_push(lx, flt ? T_FLOAT : T_INT);
        if (!t) return lx_fail(lx, KEN_ERR_LIMIT, "too many tokens");
        errno = 0;
        if (flt) t->f = strtod(buf, NULL);
        else {
            t->i = strtoll(buf, NULL, 10);
            if (errno == ERANGE) return lx_fail(lx, KEN_ERR_UNSUPPORTED, "integer literal out of range");
        }
        lx_adv(lx, k);
        return KEN_OK;
    }
    if (c == '\'' || c == '"') {
        size_t k = 1;
        while (k < left && p[k] != c) k += (p[k] == '\\' && k + 1 < left) ? 2 : 1;
        if (k >= left) return lx_fail(lx, KEN_ERR_FORMAT, "unterminated string literal");
        tok *t = lx_push(lx, T_STR);
        if (!t) return lx_fail(lx, KEN_ERR_LIMIT, "too many tokens");
        t->s = decode_string(lx->ar, p + 1, k - 1, &t->n);
        if (!t->s) return lx_fail(lx, KEN_ERR_NOMEM, "out of memory");
        lx_adv(lx, k + 1);
        return KEN_OK;
    }
    static const char *const ops2[] = {"**", "//", "==", "!=", "<=", ">="};
    for (size_t i = 0; i < KEN_ARRAY_LEN(ops2); i++)
        if (left >= 2 && p[0] == ops2[i][0] && p[1] == ops2[i][1]) {
            tok *t = lx_push(lx, T_OP);
            if (!t) return lx_fail(lx, KEN_ERR_LIMIT, "too many tokens");
            t->s = ops2[i];
            t->n = 2;
            lx_adv(lx, 2);
            return KEN_OK;
        }
    if (strchr("+-*/%~<>=()[]{}.,:|;", c) && c) {
        tok *t = lx_push(lx, T_OP);
        if (!t) return lx_fail(lx, KEN_ERR_LIMIT, "too many tokens");
        t->s = p;
        t->n = 1;
        lx_adv(lx, 1);
        return KEN_OK;
    }
    return lx_fail(lx, KEN_ERR_FORMAT, "unexpected character in expression");
}

/* Lexes a tag's expression tokens up to its end ("}}" or "%}", optionally
 * preceded by '-') at bracket depth 0; *strip says '-' was there. */
static ken_status lex_tag(lexer *lx, char endc, bool *strip) {
    int depth = 0;
    for (;;) {
        while (lx->pos < lx->n && is_ws(lx->src[lx->pos])) lx_adv(lx, 1);
        if (lx->pos >= lx->n) return lx_fail(lx, KEN_ERR_FORMAT, "unclosed tag");
        const char *p = lx->src + lx->pos;
        size_t left = lx->n - lx->pos;
        if (depth == 0) {
            if (left >= 2 && p[0] == endc && p[1] == '}') {
                *strip = false;
                lx_adv(lx, 2);
                return KEN_OK;
            }
            if (left >= 3 && p[0] == '-' && p[1] == endc && p[2] == '}') {
                *strip = true;
                lx_adv(lx, 3);
                return KEN_OK;
            }
        }
        if (*p == '(' || *p == '[' || *p == '{') {
            if (++depth > PARSE_DEPTH_MAX) return lx_fail(lx, KEN_ERR_LIMIT, "brackets nested too deeply");
        } else if ((*p == ')' || *p == ']' || *p == '}') && depth > 0) {
            depth--;
        }
        ken_status st = lex_expr_token(lx);
        if (st) return st;
    }
}

/* Emits text [a, b) unless empty. */
static ken_status emit_text(lexer *lx, size_t a, size_t b, int line, int col) {
    if (b <= a) return KEN_OK;
    tok *t = lx_push(lx, T_TEXT);
    if (!t) return lx_fail(lx, KEN_ERR_LIMIT, "too many tokens");
    t->s = lx->src + a;
    t->n = b - a;
    t->line = line;
    t->col = col;
    return KEN_OK;
}

/* After a tag: '-' strips all whitespace, else trim_blocks drops one newline. */
static void after_tag(lexer *lx, bool strip, bool trim) {
    if (strip) {
        while (lx->pos < lx->n && is_ws(lx->src[lx->pos])) lx_adv(lx, 1);
    } else if (trim && lx->pos < lx->n && lx->src[lx->pos] == '\n') {
        lx_adv(lx, 1);
    }
}

/* "{% raw %}" at q (q points at "{%")? Sets *body_at past its "%}". */
static bool match_word_tag(const char *s, size_t n, size_t q, const char *word, size_t *end,
                           bool *strip_before, bool *strip_after) {
    size_t i = q + 2;
    *strip_before = false;
    if (i < n && (s[i] == '-' || s[i] == '+')) *strip_before = s[i] == '-', i++;
    while (i < n && is_ws(s[i])) i++;
    size_t wl = strlen(word);
    if (i + wl > n || memcmp(s + i, word, wl) != 0) return false;
    i += wl;
    if (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_')) return false;
    while (i < n && is_ws(s[i])) i++;
    *strip_after = false;
    if (i < n && s[i] == '-') *strip_after = true, i++;
    if (i + 2 > n || s[i] != '%' || s[i + 1] != '}') return false;
    *end = i + 2;
    return true;
}

static ken_status lex_raw(lexer *lx, size_t body, bool strip_after) {
    const char *s = lx->src;
    size_t n = lx->n;
    for (size_t q = body; q + 1 < n; q++) {
        size_t end;
        bool sb, sa;
        if (s[q] != '{' || s[q + 1] != '%' || !match_word_tag(s, n, q, "endraw", &end, &sb, &sa))
            continue;
        size_t a = body, b = q;
        if (strip_after) while (a < b && is_ws(s[a])) a++;
        if (sb) while (b > a && is_ws(s[b - 1])) b--;
        lx_adv(lx, body - lx->pos);
        int line = lx->line, col = lx_col(lx);
        ken_status st = emit_text(lx, a, b, line, col);
        if (st) return st;
        lx_adv(lx, end - lx->pos);
        after_tag(lx, sa, true);
        return KEN_OK;
    }
    return lx_fail(lx, KEN_ERR_FORMAT, "missing {% endraw %}");
}

/* Finds the next "{{", "{%" or "{#" at or after from; n when none. */
static size_t next_tag(const char *s, size_t n, size_t from) {
    for (size_t i = from; i + 1 < n; i++) {
        const char *p = memchr(s + i, '{', n - i - 1);
        if (!p) return n;
        i = (size_t)(p - s);
        if (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#') return i;
    }
    return n;
}

static ken_status lex_all(lexer *lx) {
    const char *s = lx->src;
    size_t n = lx->n;
    while (lx->pos < n) {
        size_t q = next_tag(s, n, lx->pos);
        size_t a = lx->pos, b = q;
        int line = lx->line, col = lx_col(lx);
        char kind = q < n ? s[q + 1] : 0, mod = q + 2 < n ? s[q + 2] : 0;
        if (q < n && mod == '-') {
            while (b > a && is_ws(s[b - 1])) b--;
        } else if (q < n && kind != '{' && mod != '+') {
            /* lstrip_blocks: blanks between the line start and the tag */
            size_t l = b;
            while (l > a && (s[l - 1] == ' ' || s[l - 1] == '\t')) l--;
            if ((l > a && s[l - 1] == '\n') || (l == a && (a == 0 || s[a - 1] == '\n'))) b = l;
        }
        ken_status st = emit_text(lx, a, b, line, col);
        if (st) return st;
        if (q >= n) {
            lx_adv(lx, n - lx->pos);
            break;
        }
        lx_adv(lx, q - lx->pos);
        if (kind == '#') {
            const char *e = NULL;
            for (size_t i = q + 2; i + 1 < n; i++)
                if (s[i] == '#' && s[i + 1] == '}') { e = s + i; break; }
            if (!e) return lx_fail(lx, KEN_ERR_FORMAT, "unclosed comment");
            bool strip = e > s + q + 2 && e[-1] == '-';
            lx_adv(lx, (size_t)(e - s) + 2 - lx->pos);
            after_tag(lx, strip, true);
            continue;
        }
        size_t end;
        bool sb, sa;
        if (kind == '%' && match_word_tag(s, n, q, "raw", &end, &sb, &sa)) {
            st = lex_raw(lx, end, sa);
            if (st) return st;
            continue;
        }
        tok *t = lx_push(lx, kind == '%' ? T_BBEGIN : T_VBEGIN);
        if (!t) return lx_fail(lx, KEN_ERR_LIMIT, "too many tokens");
        lx_adv(lx, 2 + (mod == '-' || mod == '+'));
        bool strip = false;
        st = lex_tag(lx, kind == '%' ? '%' : '}', &strip);
        if (st) return st;
        t = lx_push(lx, kind == '%' ? T_BEND : T_VEND);
        if (!t) return lx_fail(lx, KEN_ERR_LIMIT, "too many tokens");
        after_tag(lx, strip, kind == '%');
    }
    tok *t = lx_push(lx, T_EOF);
    if (!t) return lx_fail(lx, KEN_ERR_LIMIT, "too many tokens");
    return KEN_OK;
}

ken_status ken_jinja_analyze_scopes(ken_jinja_tmpl *t, ken_err *err);

/* ------------------------------------------------------------- parser */

typedef struct {
    tok *toks;
    size_t pos, ntoks;
    jarena *ar;
    ken_err *err;
    ken_status st;
    int depth;
} parser;

static tok *cur(parser *p) { return &p->toks[p->pos]; }
static tok *peek(parser *p, size_t k) {
    return p->pos + k < p->ntoks ? &p->toks[p->pos + k] : &p->toks[p->ntoks - 1];
}
static void next(parser *p) { if (p->toks[p->pos].t != T_EOF) p->pos++; }

static void *perr(parser *p, ken_status st, const char *fmt, const char *arg) {
    if (p->st) return NULL;
    tok *t = cur(p);
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    p->st = ken_err_set(p->err, st, "template line %d, column %d: %s", t->line, t->col, msg);
    return NULL;
}

static bool is_op(const tok *t, const char *op) {
    return t->t == T_OP && t->n == strlen(op) && memcmp(t->s, op, t->n) == 0;
}
static bool is_name(const tok *t, const char *name) {
    return t->t == T_NAME && t->n == strlen(name) && memcmp(t->s, name, t->n) == 0;
}
static bool accept_op(parser *p, const char *op) {
    if (!is_op(cur(p), op)) return false;
    next(p);
    return true;
}
static bool accept_name(parser *p, const char *name) {
    if (!is_name(cur(p), name)) return false;
    next(p);
    return true;
}
static bool expect_op(parser *p, const char *op) {
    if (accept_op(p, op)) return true;
    perr(p, KEN_ERR_FORMAT, "expected '%s'", op);
    return false;
}

static jnode *mk(parser *p, jn_kind k, const tok *at) {
    jnode *n = jarena_alloc(p->ar, sizeof *n);
    if (!n) return perr(p, KEN_ERR_NOMEM, "out of memory%s", NULL);
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)k;
    n->line = at->line;
    n->col = at->col;
    return n;
}

/* A growable list of kids (and names) built in malloc memory, then copied
 * into the arena by vec_finish. */
typedef struct {
    jnode **k;
    const char **nm;
    int n, cap;
    bool has_names;
} vec;

static bool vec_push(parser *p, vec *v, jnode *k, const char *nm) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 8;
        if (cap > (1 << 20)) return perr(p, KEN_ERR_LIMIT, "too many items%s", NULL), false;
        jnode **nk = realloc(v->k, (size_t)cap * sizeof *nk);
        if (!nk) return perr(p, KEN_ERR_NOMEM, "out of memory%s", NULL), false;
        v->k = nk;
        const char **nn = realloc(v->nm, (size_t)cap * sizeof *nn);
        if (!nn) return perr(p, KEN_ERR_NOMEM, "out of memory%s", NULL), false;
        v->nm = nn;
        v->cap = cap;
    }
    v->k[v->n] = k;
    v->nm[v->n] = nm;
    if (nm) v->has_names = true;
    v->n++;
    return true;
}

static void vec_finish(parser *p, vec *v, jnode *into) {
    if (into && !p->st && v->n) {
        into->kids = jarena_alloc(p->ar, (size_t)v->n * sizeof *into->kids);
        into->names = v->has_names ? jarena_alloc(p->ar, (size_t)v->n * sizeof *into->names) : NULL;
        if (!into->kids || (v->has_names && !into->names)) {
            perr(p, KEN_ERR_NOMEM, "out of memory%s", NULL);
        } else {
            memcpy(into->kids, v->k, (size_t)v->n * sizeof *into->kids);
            if (into->names) memcpy(into->names, v->nm, (size_t)v->n * sizeof *into->names);
            into->nkids = v->n;
        }
    }
    free(v->k);
    free(v->nm);
    memset(v, 0, sizeof *v);
}

static const char *tok_str(parser *p, const tok *t) {
    const char *s = jarena_strndup(p->ar, t->s, t->n);
    if (!s) perr(p, KEN_ERR_NOMEM, "out of memory%s", NULL);
    return s;
}

static jnode *parse_expr(parser *p);
static jnode *parse_or(parser *p);
static jnode *parse_unary(parser *p, bool with_filter);
static jnode *parse_primary(parser *p);

static bool enter(parser *p) {
    if (++p->depth > PARSE_DEPTH_MAX) {
        perr(p, KEN_ERR_LIMIT, "expression nested too deeply%s", NULL);
        return false;
    }
    return true;
}

/* Call arguments after '(' up to ')': positional and name=value. */
static bool parse_args(parser *p, jnode *into) {
    vec v = {0};
    while (!p->st && !is_op(cur(p), ")")) {
        if (v.n && !expect_op(p, ",")) break;
        if (is_op(cur(p), ")")) break;  /* trailing comma */
        const char *nm = NULL;
        if (cur(p)->t == T_NAME && is_op(peek(p, 1), "=")) {
            nm = tok_str(p, cur(p));
            next(p);
            next(p);
        }
        jnode *e = parse_expr(p);
        if (!e || !vec_push(p, &v, e, nm)) break;
    }
    if (!p->st) expect_op(p, ")");
    vec_finish(p, &v, into);
    return !p->st;
}

static jnode *parse_subscript(parser *p, jnode *obj, const tok *at) {
    jnode *parts[3] = {NULL, NULL, NULL};
    bool slice = false;
    int k = 0;
    for (;;) {
        if (!is_op(cur(p), ":") && !is_op(cur(p), "]")) {
            parts[k] = parse_expr(p);
            if (!parts[k]) return NULL;
        }
        if (k < 2 && accept_op(p, ":")) {
            slice = true;
            k++;
            continue;
        }
        break;
    }
    if (!expect_op(p, "]")) return NULL;
    jnode *n = mk(p, slice ? JN_SLICE : JN_SUB, at);
    if (!n) return NULL;
    n->a = obj;
    n->b = parts[0];
    if (slice) n->c = parts[1], n->d = parts[2];
    else if (!parts[0]) return perr(p, KEN_ERR_FORMAT, "empty subscript%s", NULL);
    return n;
}

static jnode *parse_postfix(parser *p, jnode *e) {
    while (e && !p->st) {
        tok *at = cur(p);
        if (accept_op(p, ".")) {
            tok *t = cur(p);
            if (t->t == T_NAME) {
                jnode *n = mk(p, JN_ATTR, at);
                if (!n) return NULL;
                n->a = e;
                n->s = tok_str(p, t);
                n->n = t->n;
                next(p);
                e = n;
            } else if (t->t == T_INT) {
                jnode *n = mk(p, JN_SUB, at), *ix = mk(p, JN_INT, t);
                if (!n || !ix) return NULL;
                ix->i = t->i;
                n->a = e;
                n->b = ix;
                next(p);
                e = n;
            } else {
                return perr(p, KEN_ERR_FORMAT, "expected an attribute name after '.'%s", NULL);
            }
        } else if (accept_op(p, "[")) {
            e = parse_subscript(p, e, at);
        } else if (accept_op(p, "(")) {
            jnode *n = mk(p, JN_CALL, at);
            if (!n) return NULL;
            n->a = e;
            if (!parse_args(p, n)) return NULL;
            e = n;
        } else {
            break;
        }
    }
    return e;
}

/* A dotted filter or test name. */
static const char *parse_dotted(parser *p, size_t *len) {
    tok *t = cur(p);
    if (t->t != T_NAME) return perr(p, KEN_ERR_FORMAT, "expected a filter or test name%s", NULL);
    size_t start = p->pos;
    const char *s0 = t->s, *end = t->s + t->n;
    next(p);
    while (is_op(cur(p), ".") && peek(p, 1)->t == T_NAME) {
        next(p);
        end = cur(p)->s + cur(p)->n;
        next(p);
    }
    (void)start;
    *len = (size_t)(end - s0);
    const char *s = jarena_strndup(p->ar, s0, *len);
    if (!s) perr(p, KEN_ERR_NOMEM, "out of memory%s", NULL);
    return s;
}

static jnode *parse_filter_expr(parser *p, jnode *e) {
    while (e && !p->st) {
        tok *at = cur(p);
        if (accept_op(p, "|")) {
            jnode *n = mk(p, JN_FILTER, at);
            if (!n) return NULL;
            n->a = e;
            n->s = parse_dotted(p, &n->n);
            if (!n->s) return NULL;
            if (accept_op(p, "(") && !parse_args(p, n)) return NULL;
            e = n;
        } else if (accept_name(p, "is")) {
            jnode *n = mk(p, JN_TEST, at);
            if (!n) return NULL;
            n->a = e;
            n->op = accept_name(p, "not");
            n->s = parse_dotted(p, &n->n);
            if (!n->s) return NULL;
            tok *t = cur(p);
            if (accept_op(p, "(")) {
                if (!parse_args(p, n)) return NULL;
            } else if ((t->t == T_NAME || t->t == T_STR || t->t == T_INT || t->t == T_FLOAT ||
                        is_op(t, "[") || is_op(t, "{")) &&
                       !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and") &&
                       !is_name(t, "if") && !is_name(t, "in") && !is_name(t, "not") &&
                       !is_name(t, "is") && !is_name(t, "recursive")) {
                jnode *arg = parse_postfix(p, parse_primary(p));
                if (!arg) return NULL;
                n->kids = jarena_alloc(p->ar, sizeof *n->kids);
                if (!n->kids) return perr(p, KEN_ERR_NOMEM, "out of memory%s", NULL);
                n->kids[0] = arg;
                n->nkids = 1;
            }
            e = n;
        } else {
            break;
        }
    }
    return e;
}

/* Items of a list, tuple or dict literal up to the closing bracket. */
static jnode *parse_seq_literal(parser *p, jn_kind kind, const char *close, const tok *at, jnode *first) {
    jnode *n = mk(p, kind, at);
    vec v = {0};
    if (first) vec_push(p, &v, first, NULL);
    while (n && !p->st && !is_op(cur(p), close)) {
        if (v.n && !expect_op(p, ",")) break;
        if (is_op(cur(p), close)) break;
        jnode *e = parse_expr(p);
        if (!e || !vec_push(p, &v, e, NULL)) break;
        if (kind == JN_DICT) {
            if (!expect_op(p, ":")) break;
            e = parse_expr(p);
            if (!e || !vec_push(p, &v, e, NULL)) break;
        }
    }
    if (!p->st) expect_op(p, close);
    vec_finish(p, &v, n);
    return p->st ? NULL : n;
}

static jnode *parse_primary(parser *p) {
    tok *t = cur(p);
    jnode *n = NULL;
    if (!enter(p)) return NULL;
    if (t->t == T_NAME) {
        if (is_name(t, "true") || is_name(t, "True") || is_name(t, "false") || is_name(t, "False")) {
            n = mk(p, JN_BOOL, t);
            if (n) n->i = t->s[0] == 't' || t->s[0] == 'T';
        } else if (is_name(t, "none") || is_name(t, "None")) {
            n = mk(p, JN_NONE, t);
        } else {
            n = mk(p, JN_NAME, t);
            if (n) n->s = tok_str(p, t), n->n = t->n;
        }
        next(p);
    } else if (t->t == T_STR) {
        /* adjacent literals concatenate: "a" "b" */
        size_t len = 0, k = 0;
        while (peek(p, k)->t == T_STR) len += peek(p, k)->n, k++;
        char *s = jarena_alloc(p->ar, len + 1);
        n = mk(p, JN_STR, t);
        if (!s) return perr(p, KEN_ERR_NOMEM, "out of memory%s", NULL);
        size_t o = 0;
        while (cur(p)->t == T_STR) {
            memcpy(s + o, cur(p)->s, cur(p)->n);
            o += cur(p)->n;
            next(p);
        }
        s[o] = 0;
        if (n) n->s = s, n->n = o;
    } else if (t->t == T_INT || t->t == T_FLOAT) {
        n = mk(p, t->t == T_INT ? JN_INT : JN_FLOAT, t);
        if (n) n->i = t->i, n->f = t->f;
        next(p);
    } else if (accept_op(p, "(")) {
        if (accept_op(p, ")")) {
            n = mk(p, JN_TUPLE, t);
        } else {
            jnode *e = parse_expr(p);
            if (e && is_op(cur(p), ",")) n = parse_seq_literal(p, JN_TUPLE, ")", t, e);
            else if (e && expect_op(p, ")")) n = e;
        }
    } else if (accept_op(p, "[")) {
        n = parse_seq_literal(p, JN_LIST, "]", t, NULL);
    } else if (accept_op(p, "{")) {
        n = parse_seq_literal(p, JN_DICT, "}", t, NULL);
    } else {
        perr(p, KEN_ERR_FORMAT, "unexpected %s", t->t == T_EOF ? "end of template" :
             t->t == T_BEND || t->t == T_VEND ? "end of tag" : "token");
    }
    p->depth--;
    return p->st ? NULL : n;
}

static jnode *parse_unary(parser *p, bool with_filter) {
    tok *t = cur(p);
    jnode *n;
    if (!enter(p)) return NULL;
    if (accept_op(p, "-") || accept_op(p, "+")) {
        n = mk(p, is_op(t, "-") ? JN_NEG : JN_POS, t);
        if (n) n->a = parse_unary(p, false);
        if (n && !n->a) n = NULL;
    } else {
        n = parse_primary(p);
    }
    n = parse_postfix(p, n);
    if (with_filter) n = parse_filter_expr(p, n);
    p->depth--;
    return p->st ? NULL : n;
}

static jnode *mkbin(parser *p, const tok *at, jn_kind k, int op, jnode *a, jnode *b) {
    if (!a || !b) return NULL;
    jnode *n = mk(p, k, at);
    if (!n) return NULL;
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(parser *p) {
    jnode *e = parse_unary(p, true);
    while (e && is_op(cur(p), "**")) {
        tok *at = cur(p);
        next(p);
        e = mkbin(p, at, JN_BIN, JOP_POW, e, parse_unary(p, true));
    }
    return e;
}

static jnode *parse_math2(parser *p) {
    jnode *e = parse_pow(p);
    for (;;) {
        tok *at = cur(p);
        int op = is_op(at, "*") ? JOP_MUL : is_op(at, "/") ? JOP_DIV : is_op(at, "//") ? JOP_FLOORDIV
               : is_op(at, "%") ? JOP_MOD : -1;
        if (!e || op < 0) return e;
        next(p);
        e = mkbin(p, at, JN_BIN, op, e, parse_pow(p));
    }
}

static jnode *parse_concat(parser *p) {
    jnode *e = parse_math2(p);
    while (e && is_op(cur(p), "~")) {
        tok *at = cur(p);
        next(p);
        e = mkbin(p, at, JN_BIN, JOP_CONCAT, e, parse_math2(p));
    }
    return e;
}

static jnode *parse_math1(parser *p) {
    jnode *e = parse_concat(p);
    for (;;) {
        tok *at = cur(p);
        int op = is_op(at, "+") ? JOP_ADD : is_op(at, "-") ? JOP_SUB : -1;
        if (!e || op < 0) return e;
        next(p);
        e = mkbin(p, at, JN_BIN, op, e, parse_concat(p));
    }
}

static jnode *parse_compare(parser *p) {
    jnode *e = parse_math1(p);
    for (;;) {
        tok *at = cur(p);
        int op = is_op(at, "==") ? JOP_EQ : is_op(at, "!=") ? JOP_NE : is_op(at, "<") ? JOP_LT
               : is_op(at, "<=") ? JOP_LE : is_op(at, ">") ? JOP_GT : is_op(at, ">=") ? JOP_GE
               : is_name(at, "in") ? JOP_IN : -1;
        if (op < 0 && is_name(at, "not") && is_name(peek(p, 1), "in")) {
            next(p);
            op = JOP_NOTIN;
        }
        if (!e || op < 0) return e;
        next(p);
        e = mkbin(p, at, JN_BIN, op, e, parse_math1(p));
    }
}

static jnode *parse_not(parser *p) {
    tok *t = cur(p);
    if (is_name(t, "not")) {
        if (!enter(p)) return NULL;
        next(p);
        jnode *n = mk(p, JN_NOT, t);
        if (n) n->a = parse_not(p);
        p->depth--;
        return n && n->a ? n : NULL;
    }
    return parse_compare(p);
}

static jnode *parse_and(parser *p) {
    jnode *e = parse_not(p);
    while (e && is_name(cur(p), "and")) {
        tok *at = cur(p);
        next(p);
        e = mkbin(p, at, JN_AND, 0, e, parse_not(p));
    }
    return e;
}

static jnode *parse_or(parser *p) {
    jnode *e = parse_and(p);
    while (e && is_name(cur(p), "or")) {
        tok *at = cur(p);
        next(p);
        e = mkbin(p, at, JN_OR, 0, e, parse_and(p));
    }
    return e;
}

/* Full expression with the conditional "x if c else y". */
static jnode *parse_expr(parser *p) {
    if (!enter(p)) return NULL;
    jnode *e = parse_or(p);
    while (e && is_name(cur(p), "if")) {
        tok *at = cur(p);
        next(p);
        jnode *n = mk(p, JN_COND, at);
        if (!n) break;
        n->b = e;
        n->a = parse_or(p);
        if (!n->a) { e = NULL; break; }
        if (accept_name(p, "else")) {
            n->c = parse_expr(p);
            if (!n->c) { e = NULL; break; }
        }
        e = n;
    }
    p->depth--;
    return p->st ? NULL : e;
}

/* expr or an unparenthesized tuple "a, b" (set values, for iterables). */
static jnode *parse_tuple_expr(parser *p, bool condexpr) {
    tok *at = cur(p);
    jnode *e = condexpr ? parse_expr(p) : parse_or(p);
    if (!e || !is_op(cur(p), ",")) return e;
    jnode *n = mk(p, JN_TUPLE, at);
    vec v = {0};
    vec_push(p, &v, e, NULL);
    while (!p->st && accept_op(p, ",")) {
        if (cur(p)->t == T_BEND || is_name(cur(p), "if")) break;
        jnode *x = condexpr ? parse_expr(p) : parse_or(p);
        if (!x || !vec_push(p, &v, x, NULL)) break;
    }
    vec_finish(p, &v, n);
    return p->st ? NULL : n;
}

/* Assignment target: name, ns.attr (set only) or a tuple of names. */
static jnode *parse_target(parser *p, bool allow_attr) {
    tok *at = cur(p);
    bool paren = accept_op(p, "(");
    vec v = {0};
    jnode *single = NULL;
    do {
        tok *t = cur(p);
        if (t->t != T_NAME) {
            vec_finish(p, &v, NULL);
            return perr(p, KEN_ERR_FORMAT, "expected a variable name%s", NULL);
        }
        jnode *n = mk(p, JN_NAME, t);
        if (!n) break;
        n->s = tok_str(p, t);
        n->n = t->n;
        next(p);
        if (allow_attr && !paren && v.n == 0 && is_op(cur(p), ".") && peek(p, 1)->t == T_NAME) {
            next(p);
            jnode *a = mk(p, JN_ATTR, t);
            if (!a) break;
            a->a = n;
            a->s = tok_str(p, cur(p));
            a->n = cur(p)->n;
            next(p);
            vec_finish(p, &v, NULL);
            return p->st ? NULL : a;
        }
        single = n;
        if (!vec_push(p, &v, n, NULL)) break;
    } while (accept_op(p, ","));
    if (paren && !p->st) expect_op(p, ")");
    if (v.n == 1 && !paren) {
        vec_finish(p, &v, NULL);
        return p->st ? NULL : single;
    }
    jnode *tu = mk(p, JN_TUPLE, at);
    vec_finish(p, &v, tu);
    return p->st ? NULL : tu;
}

static jnode *parse_body(parser *p, const char *const *stops);

static bool expect_bend(parser *p) {
    if (cur(p)->t == T_BEND) {
        next(p);
        return true;
    }
    perr(p, KEN_ERR_FORMAT, "expected end of tag%s", NULL);
    return false;
}

/* After parse_body stopped at "{% word": consumes "{% word". */
static bool take_tag(parser *p, const char *word) {
    if (cur(p)->t == T_BBEGIN && is_name(peek(p, 1), word)) {
        next(p);
        next(p);
        return true;
    }
    return false;
}

static bool end_tag(parser *p, const char *word) {
    if (!take_tag(p, word)) {
        perr(p, KEN_ERR_FORMAT, "expected {%% %s %%}", word);
        return false;
    }
    return expect_bend(p);
}

static jnode *parse_if(parser *p, const tok *at) {
    static const char *const stops[] = {"elif", "else", "endif", NULL};
    jnode *n = mk(p, JN_IF, at);
    if (!n || !(n->a = parse_expr(p)) || !expect_bend(p)) return NULL;
    if (!(n->b = parse_body(p, stops))) return NULL;
    tok *t = peek(p, 1);
    if (take_tag(p, "elif")) {
        n->c = parse_if(p, t);
        return n->c ? n : NULL;
    }
    if (take_tag(p, "else")) {
        if (!expect_bend(p)) return NULL;
        static const char *const stops2[] = {"endif", NULL};
        if (!(n->c = parse_body(p, stops2))) return NULL;
    }
    return end_tag(p, "endif") ? n : NULL;
}

static jnode *parse_for(parser *p, const tok *at) {
    static const char *const stops[] = {"else", "endfor", NULL};
    jnode *n = mk(p, JN_FOR, at);
    if (!n || !(n->a = parse_target(p, false))) return NULL;
    if (!accept_name(p, "in")) return perr(p, KEN_ERR_FORMAT, "expected 'in'%s", NULL);
    if (!(n->b = parse_tuple_expr(p, false))) return NULL;
    if (accept_name(p, "if")) {
        n->kids = jarena_alloc(p->ar, sizeof *n->kids);
        if (!n->kids) return perr(p, KEN_ERR_NOMEM, "out of memory%s", NULL);
        if (!(n->kids[0] = parse_expr(p))) return NULL;
        n->nkids = 1;
    }
    if (accept_name(p, "recursive")) n->op = 1;
    if (!expect_bend(p) || !(n->c = parse_body(p, stops))) return NULL;
    if (take_tag(p, "else")) {
        static const char *const stops2[] = {"endfor", NULL};
        if (!expect_bend(p) || !(n->d = parse_body(p, stops2))) return NULL;
    }
    return end_tag(p, "endfor") ? n : NULL;
}

/* A chain of filters "| a(x) | b" for block set / filter blocks, applied to
 * a NULL input that the evaluator fills with the body's output. */
static jnode *parse_filter_chain(parser *p, bool first_bar) {
    jnode *e = NULL;
    bool first = true;
    while (!p->st && (first && !first_bar ? true : accept_op(p, "|"))) {
        tok *at = cur(p);
        first = false;
        jnode *n = mk(p, JN_FILTER, at);
        if (!n) return NULL;
        n->a = e;
        n->s = parse_dotted(p, &n->n);
        if (!n->s) return NULL;
        if (accept_op(p, "(") && !parse_args(p, n)) return NULL;
        e = n;
    }
    return p->st ? NULL : e;
}

static jnode *parse_set(parser *p, const tok *at) {
    jnode *target = parse_target(p, true);
    if (!target) return NULL;
    if (accept_op(p, "=")) {
        jnode *n = mk(p, JN_SET, at);
        if (!n) return NULL;
        n->a = target;
        if (!(n->b = parse_tuple_expr(p, true)) || !expect_bend(p)) return NULL;
        return n;
    }
    jnode *n = mk(p, JN_SETBLOCK, at);
    if (!n) return NULL;
    n->a = target;
    if (is_op(cur(p), "|") && !(n->c = parse_filter_chain(p, true))) return NULL;
    static const char *const stops[] = {"endset", NULL};
    if (!expect_bend(p) || !(n->b = parse_body(p, stops))) return NULL;
    return end_tag(p, "endset") ? n : NULL;
}

/* Macro parameters "(a, b=1)" into names/kids (kids[i] is a default or NULL). */
static bool parse_params(parser *p, jnode *n) {
    vec v = {0};
    if (!expect_op(p, "(")) return false;
    while (!p->st && !is_op(cur(p), ")")) {
        if (v.n && !expect_op(p, ",")) break;
        tok *t = cur(p);
        if (t->t != T_NAME) {
            perr(p, KEN_ERR_FORMAT, "expected a parameter name%s", NULL);
            break;
        }
        const char *nm = tok_str(p, t);
        next(p);
        jnode *def = NULL;
        if (accept_op(p, "=") && !(def = parse_expr(p))) break;
        if (!vec_push(p, &v, def, nm)) break;
    }
    if (!p->st) expect_op(p, ")");
    if (!p->st && v.n && !v.has_names) v.has_names = true;
    vec_finish(p, &v, n);
    return !p->st;
}

static jnode *parse_macro(parser *p, const tok *at) {
    jnode *n = mk(p, JN_MACRO, at);
    tok *t = cur(p);
    if (!n) return NULL;
    if (t->t != T_NAME) return perr(p, KEN_ERR_FORMAT, "expected a macro name%s", NULL);
    n->s = tok_str(p, t);
    n->n = t->n;
    next(p);
    static const char *const stops[] = {"endmacro", NULL};
    if (!parse_params(p, n) || !expect_bend(p) || !(n->b = parse_body(p, stops))) return NULL;
    return end_tag(p, "endmacro") ? n : NULL;
}

static jnode *parse_callblock(parser *p, const tok *at) {
    jnode *n = mk(p, JN_CALLBLOCK, at);
    if (!n) return NULL;
    if (is_op(cur(p), "(") && !parse_params(p, n)) return NULL;
    n->a = parse_expr(p);
    if (!n->a) return NULL;
    if (n->a->kind != JN_CALL) return perr(p, KEN_ERR_FORMAT, "expected a macro call%s", NULL);
    static const char *const stops[] = {"endcall", NULL};
    if (!expect_bend(p) || !(n->b = parse_body(p, stops))) return NULL;
    return end_tag(p, "endcall") ? n : NULL;
}

/* One "{% ... %}" statement; the "{%" is consumed. */
static jnode *parse_stmt(parser *p) {
    tok *t = cur(p);
    if (t->t != T_NAME) return perr(p, KEN_ERR_FORMAT, "expected a statement name%s", NULL);
    next(p);
    if (is_name(t, "if")) return parse_if(p, t);
    if (is_name(t, "for")) return parse_for(p, t);
    if (is_name(t, "set")) return parse_set(p, t);
    if (is_name(t, "macro")) return parse_macro(p, t);
    if (is_name(t, "call")) return parse_callblock(p, t);
    if (is_name(t, "break") || is_name(t, "continue")) {
        jnode *n = mk(p, is_name(t, "break") ? JN_BREAK : JN_CONTINUE, t);
        return n && expect_bend(p) ? n : NULL;
    }
    if (is_name(t, "filter")) {
        jnode *n = mk(p, JN_FILTERBLOCK, t);
        static const char *const stops[] = {"endfilter", NULL};
        if (!n || !(n->a = parse_filter_chain(p, false)) || !expect_bend(p)) return NULL;
        if (!(n->b = parse_body(p, stops))) return NULL;
        return end_tag(p, "endfilter") ? n : NULL;
    }
    if (is_name(t, "generation")) {   /* transformers' AssistantTracker: renders its body */
        static const char *const stops[] = {"endgeneration", NULL};
        jnode *b;
        if (!expect_bend(p) || !(b = parse_body(p, stops))) return NULL;
        return end_tag(p, "endgeneration") ? b : NULL;
    }
    if (is_name(t, "do")) {
        jnode *n = mk(p, JN_SET, t);  /* a SET without target: evaluate, discard */
        if (!n || !(n->b = parse_expr(p)) || !expect_bend(p)) return NULL;
        return n;
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)KEN_MIN(t->n, 40), t->s);
    p->pos--;
    return perr(p, KEN_ERR_UNSUPPORTED, "unknown or unsupported tag '%s'", name);
}

/* Statements until EOF or a "{% stop %}" tag (not consumed). */
static jnode *parse_body(parser *p, const char *const *stops) {
    jnode *body = mk(p, JN_BODY, cur(p));
    vec v = {0};
    if (!enter(p)) return NULL;
    while (body && !p->st) {
        tok *t = cur(p);
        jnode *n = NULL;
        if (t->t == T_EOF) {
            if (stops) {
                int last = 0;
                while (stops[last + 1]) last++;
                perr(p, KEN_ERR_FORMAT, "unexpected end of template: missing {%% %s %%}", stops[last]);
            }
            break;
        }
        if (t->t == T_TEXT) {
            n = mk(p, JN_TEXT, t);
            if (n) n->s = t->s, n->n = t->n;
            next(p);
        } else if (t->t == T_VBEGIN) {
            next(p);
            n = mk(p, JN_OUT, t);
            if (n && !(n->a = parse_expr(p))) n = NULL;
            if (n && cur(p)->t != T_VEND) n = perr(p, KEN_ERR_FORMAT, "expected '}}'%s", NULL);
            next(p);
        } else if (t->t == T_BBEGIN) {
            bool stop = false;
            for (int i = 0; stops && stops[i]; i++) stop |= is_name(peek(p, 1), stops[i]);
            if (stop) break;
            next(p);
            n = parse_stmt(p);
        } else {
            perr(p, KEN_ERR_FORMAT, "unexpected token%s", NULL);
        }
        if (!n || !vec_push(p, &v, n, NULL)) break;
    }
    vec_finish(p, &v, body);
    p->depth--;
    return p->st ? NULL : body;
}

ken_status ken_jinja_parse(const char *src, size_t n, ken_jinja_tmpl **out, ken_err *err) {
    *out = NULL;
    if (n > TEMPLATE_BYTES_MAX)
        return ken_err_set(err, KEN_ERR_LIMIT, "template of %zu bytes is too large", n);
    ken_jinja_tmpl *t = calloc(1, sizeof *t);
    if (!t) return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    jarena_init(&t->arena, 0);
    /* normalize newlines; drop one trailing newline */
    char *s = jarena_alloc(&t->arena, n + 1);
    if (!s) {
        ken_jinja_free(t);
        return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\r') {
            s[m++] = '\n';
            if (i + 1 < n && src[i + 1] == '\n') i++;
        } else {
            s[m++] = src[i];
        }
    }
    if (m && s[m - 1] == '\n') m--;
    s[m] = 0;
    lexer lx = {.src = s, .n = m, .line = 1, .ar = &t->arena, .err = err};
    ken_status st = lex_all(&lx);
    if (st) {
        free(lx.toks);
        ken_jinja_free(t);
        return st;
    }
    parser p = {.toks = lx.toks, .ntoks = lx.ntoks, .ar = &t->arena, .err = err};
    t->root = parse_body(&p, NULL);
    free(lx.toks);
    if (!t->root) {
        st = p.st ? p.st : ken_err_set(err, KEN_ERR_INTERNAL, "parse failed");
        ken_jinja_free(t);
        return st;
    }
    if ((st = ken_jinja_analyze_scopes(t, err))) {
        ken_jinja_free(t);
        return st;
    }
    *out = t;
    return KEN_OK;
}

void ken_jinja_free(ken_jinja_tmpl *t) {
    if (!t) return;
    jarena_free(&t->arena);
    free(t);
}

/* ------------------------------------------------------ scope analysis */

/* Jinja compiles each scope (the template, a loop body, a macro body) with
 * its names resolved at compile time: a name whose first use in the scope
 * is a store, and that no enclosing scope uses, starts out undefined, even
 * when the render's variables hold that name. So in
 *   {% for m in xs %}{{ s }}{% endfor %}{% set s = 1 %}
 * the loop prints nothing for s whatever s was passed as. This pass finds
 * those names per scope; the evaluator binds them to undefined on entry. */

typedef struct {
    const char **name;
    bool *stored_first;
    int n, cap;
    bool failed;
} refset;

static int ref_find(const refset *r, const char *nm) {
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->name[i], nm) == 0) return i;
    return -1;
}

static void ref_add(refset *r, const char *nm, bool store) {
    if (r->failed || ref_find(r, nm) >= 0) return;
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        const char **nn = realloc(r->name, (size_t)cap * sizeof *nn);
        if (nn) r->name = nn;
        bool *ns = nn ? realloc(r->stored_first, (size_t)cap * sizeof *ns) : NULL;
        if (!nn || !ns) {
            r->failed = true;
            return;
        }
        r->stored_first = ns;
        r->cap = cap;
    }
    r->name[r->n] = nm;
    r->stored_first[r->n++] = store;
}

typedef struct scope_job {
    jnode *body;                 /* the scope's JN_BODY */
    const jnode *owner;          /* JN_FOR / JN_MACRO / JN_CALLBLOCK, NULL for the template */
} scope_job;

typedef struct {
    scope_job *jobs;
    int n, cap;
    bool failed;
} joblist;

static void job_add(joblist *j, jnode *body, const jnode *owner) {
    if (j->failed || !body) return;
    if (j->n == j->cap) {
        int cap = j->cap ? j->cap * 2 : 16;
        scope_job *p = realloc(j->jobs, (size_t)cap * sizeof *p);
        if (!p) {
            j->failed = true;
            return;
        }
        j->jobs = p;
        j->cap = cap;
    }
    j->jobs[j->n++] = (scope_job){body, owner};
}

static void scan_expr(const jnode *e, refset *r, int depth) {
    if (!e || depth > 2 * PARSE_DEPTH_MAX) return;
    if (e->kind == JN_NAME) {
        ref_add(r, e->s, false);
        return;
    }
    scan_expr(e->a, r, depth + 1);
    scan_expr(e->b, r, depth + 1);
    scan_expr(e->c, r, depth + 1);
    scan_expr(e->d, r, depth + 1);
    for (int i = 0; i < e->nkids; i++) scan_expr(e->kids[i], r, depth + 1);
}

static void scan_store(const jnode *t, refset *r) {
    if (!t) return;
    if (t->kind == JN_NAME) ref_add(r, t->s, true);
    else if (t->kind == JN_ATTR) scan_expr(t->a, r, 0);      /* ns.x = ...: uses ns */
    else for (int i = 0; i < t->nkids; i++) scan_store(t->kids[i], r);
}

static void scan_stmt(const jnode *s, refset *r, joblist *jobs, int depth);

static bool ref_clone(const refset *from, refset *to) {
    memset(to, 0, sizeof *to);
    for (int i = 0; i < from->n && !to->failed; i++) ref_add(to, from->name[i], from->stored_first[i]);
    return !to->failed;
}

/* An if statement, as Jinja's branch analysis sees it: its branches are the
 * body, the elifs and the else; a name first stored in the branches starts
 * undefined only if every one of the three stores it, else it is looked up
 * outside (a load first in any branch also means looked up). */
static void scan_if(const jnode *s, refset *r, joblist *jobs, int depth) {
    scan_expr(s->a, r, 0);
    refset g[3];
    bool ok = true;
    for (int k = 0; k < 3; k++) ok &= ref_clone(r, &g[k]);
    if (ok) {
        scan_stmt(s->b, &g[0], jobs, depth + 1);
        const jnode *e = s->c;
        for (; e && e->kind == JN_IF; e = e->c) {  /* elifs */
            scan_expr(e->a, &g[1], 0);
            scan_stmt(e->b, &g[1], jobs, depth + 1);
        }
        scan_stmt(e, &g[2], jobs, depth + 1);     /* else body or nothing */
        int base = r->n;
        for (int k = 0; k < 3; k++) {
            for (int i = base; i < g[k].n; i++) {
                const char *nm = g[k].name[i];
                if (ref_find(r, nm) >= 0) continue;
                bool all_store = true;
                for (int q = 0; q < 3; q++) {
                    int at = ref_find(&g[q], nm);
                    all_store &= at >= 0 && g[q].stored_first[at];
                }
                ref_add(r, nm, all_store);
            }
        }
        for (int k = 0; k < 3; k++) r->failed |= g[k].failed;
    } else {
        r->failed = true;
    }
    for (int k = 0; k < 3; k++) {
        free(g[k].name);
        free(g[k].stored_first);
    }
}

/* Statements of one scope in order; child scopes are queued, not entered. */
static void scan_stmt(const jnode *s, refset *r, joblist *jobs, int depth) {
    if (!s || depth > 2 * PARSE_DEPTH_MAX) return;
    switch (s->kind) {
    case JN_OUT: scan_expr(s->a, r, 0); break;
    case JN_BODY:
        for (int i = 0; i < s->nkids; i++) scan_stmt(s->kids[i], r, jobs, depth + 1);
        break;
    case JN_IF: scan_if(s, r, jobs, depth); break;
    case JN_FOR:
        scan_expr(s->b, r, 0);
        job_add(jobs, s->c, s);
        job_add(jobs, s->d, NULL);  /* the else body is a scope of its own too */
        break;
    case JN_SET:
        scan_expr(s->b, r, 0);
        scan_store(s->a, r);
        break;
    case JN_SETBLOCK:
        job_add(jobs, s->b, NULL);
        scan_expr(s->c, r, 0);
        scan_store(s->a, r);
        break;
    case JN_MACRO:
        ref_add(r, s->s, true);
        job_add(jobs, s->b, s);
        break;
    case JN_CALLBLOCK:
        scan_expr(s->a, r, 0);
        job_add(jobs, s->b, s);
        break;
    case JN_FILTERBLOCK:
        scan_expr(s->a, r, 0);
        job_add(jobs, s->b, NULL);
        break;
    default: break;
    }
}

/* Names the scope binds itself on entry (loop targets, macro parameters). */
static void bound_names(const jnode *owner, refset *r) {
    if (!owner) return;
    if (owner->kind == JN_FOR) {
        scan_store(owner->a, r);
        ref_add(r, "loop", true);
        if (owner->nkids) scan_expr(owner->kids[0], r, 0);
        return;
    }
    for (int i = 0; i < owner->nkids; i++) {
        if (owner->names && owner->names[i]) ref_add(r, owner->names[i], true);
        scan_expr(owner->kids[i], r, 0);
    }
    if (owner->kind == JN_MACRO || owner->kind == JN_CALLBLOCK) {
        ref_add(r, "varargs", true);
        ref_add(r, "kwargs", true);
        ref_add(r, "caller", true);
    }
}

/* Analyzes one scope, records its undefined-at-entry names, then its
 * children with this scope's names visible as outer references. */
static bool analyze_scope(jarena *ar, jnode *body, const jnode *owner, const refset *outer, int depth) {
    if (depth > PARSE_DEPTH_MAX) return true;  /* parser depth bounds this already */
    refset r = {0};
    joblist jobs = {0};
    bound_names(owner, &r);
    int nbound = r.n;
    scan_stmt(body, &r, &jobs, 0);
    bool ok = !r.failed && !jobs.failed;
    int nu = 0;
    for (int i = nbound; ok && i < r.n; i++) nu += r.stored_first[i] && (!outer || ref_find(outer, r.name[i]) < 0);
    if (ok && nu) {
        body->undef = jarena_alloc(ar, (size_t)nu * sizeof *body->undef);
        ok = body->undef != NULL;
        for (int i = nbound; ok && i < r.n; i++)
            if (r.stored_first[i] && (!outer || ref_find(outer, r.name[i]) < 0))
                body->undef[body->nundef++] = r.name[i];
    }
    /* children see this scope's names and the outer ones */
    for (int i = 0; ok && outer && i < outer->n; i++) ref_add(&r, outer->name[i], false);
    ok = ok && !r.failed;
    for (int i = 0; ok && i < jobs.n; i++)
        ok = analyze_scope(ar, jobs.jobs[i].body, jobs.jobs[i].owner, &r, depth + 1);
    free(r.name);
    free(r.stored_first);
    free(jobs.jobs);
    return ok;
}

ken_status ken_jinja_analyze_scopes(ken_jinja_tmpl *t, ken_err *err) {
    if (!analyze_scope(&t->arena, t->root, NULL, NULL, 0))
        return ken_err_set(err, KEN_ERR_NOMEM, "out of memory analyzing template scopes");
    return KEN_OK;
}
