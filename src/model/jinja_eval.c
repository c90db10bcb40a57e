/* jinja_eval.c: values and the evaluator of the Jinja2 subset (AST -> text).
 *
 * Values follow Python's semantics as Jinja exposes them: none, bool, int
 * (64-bit; overflow is an error, not a wrap), float, str (UTF-8, indexed by
 * code point), list (tuples too), dict (insertion-ordered) and callables
 * (macros, bound methods, globals). Undefined behaves like Jinja's default
 * Undefined: prints as "", is false, iterates as empty, and raises when an
 * attribute of it is taken.
 *
 * Every value of a render lives in one arena with a cap; output goes to a
 * ken_buf with a cap; nesting and evaluation steps are counted. Filters,
 * tests, methods and globals are in jinja_lib.c. */
#include "model/jinja.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ errors */

jv jfail(jctx *c, const jnode *at, ken_status st, const char *fmt, ...) {
    if (c->st) return JV_UNDEF_INIT;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!at) at = c->at;
    if (at) c->st = ken_err_set(c->err, st, "template line %d, column %d: %s", at->line, at->col, msg);
    else c->st = ken_err_set(c->err, st, "%s", msg);
    return JV_UNDEF_INIT;
}

void *jalloc(jctx *c, size_t n) {
    void *p = jarena_alloc(&c->ar, n);
    if (!p && !c->st)
        c->st = ken_err_set(c->err, c->ar.failed && c->ar.cap_max ? KEN_ERR_LIMIT : KEN_ERR_NOMEM,
                            "template render: memory limit of %zu bytes reached", c->ar.cap_max);
    return p;
}

bool jcharge(jctx *c, size_t n) {
    c->steps += n / 16;
    if (c->steps > c->steps_max && !c->st)
        jfail(c, NULL, KEN_ERR_LIMIT, "template evaluation exceeded %llu steps",
              (unsigned long long)c->steps_max);
    return !c->st;
}

/* ------------------------------------------------------------ values */

jv jv_str(jctx *c, const char *s, size_t n) {
    jv v = {.t = V_STR};
    char *p = jalloc(c, n + 1);
    if (!p) return JV_UNDEF_INIT;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    v.s = p;
    v.n = n;
    return v;
}

jv jv_strref(const char *s, size_t n) {
    jv v = {.t = V_STR};
    v.s = s;
    v.n = n;
    return v;
}

jv jv_int(int64_t i) { jv v = {.t = V_INT}; v.i = i; return v; }
jv jv_float(double f) { jv v = {.t = V_FLOAT}; v.f = f; return v; }
jv jv_bool(bool b) { jv v = {.t = V_BOOL}; v.i = b; return v; }
jv jv_none(void) { jv v = {.t = V_NONE}; return v; }

jv jv_list(jctx *c, size_t cap) {
    jv v = {.t = V_LIST};
    v.l = jalloc(c, sizeof *v.l);
    if (!v.l) return JV_UNDEF_INIT;
    memset(v.l, 0, sizeof *v.l);
    if (cap) {
        v.l->v = jalloc(c, cap * sizeof *v.l->v);
        if (!v.l->v) return JV_UNDEF_INIT;
        v.l->cap = cap;
    }
    return v;
}

bool jlist_push(jctx *c, jlist *l, jv x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        jv *nv = jalloc(c, cap * sizeof *nv);
        if (!nv) return false;
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return true;
}

jv jv_dict(jctx *c) {
    jv v = {.t = V_DICT};
    v.d = jalloc(c, sizeof *v.d);
    if (!v.d) return JV_UNDEF_INIT;
    memset(v.d, 0, sizeof *v.d);
    return v;
}

static bool str_eq(const jv *a, const char *s, size_t n) {
    return a->t == V_STR && a->n == n && (n == 0 || memcmp(a->s, s, n) == 0);
}

/* Index of key k in d, or -1. */
static long dict_find(const jdict *d, const jv *k) {
    for (size_t i = d->n; i-- > 0;)
        if (jv_eq(&d->k[i], k)) return (long)i;
    return -1;
}

jv *jdict_getn(const jdict *d, const char *key, size_t n) {
    for (size_t i = d->n; i-- > 0;)
        if (str_eq(&d->k[i], key, n)) return &d->v[i];
    return NULL;
}

jv *jdict_get(const jdict *d, const jv *k) {
    long i = dict_find(d, k);
    return i < 0 ? NULL : &d->v[i];
}

bool jdict_set(jctx *c, jdict *d, jv k, jv v) {
    long i = dict_find(d, &k);
    if (i >= 0) {
        d->v[i] = v;
        return true;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        jv *nk = jalloc(c, cap * sizeof *nk), *nv = jalloc(c, cap * sizeof *nv);
        if (!nk || !nv) return false;
        if (d->n) memcpy(nk, d->k, d->n * sizeof *nk), memcpy(nv, d->v, d->n * sizeof *nv);
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
    return true;
}

bool jdict_setn(jctx *c, jdict *d, const char *key, jv v) {
    return jdict_set(c, d, jv_strref(key, strlen(key)), v);
}

bool jv_truthy(const jv *v) {
    switch (v->t) {
    case V_UNDEF: case V_NONE: return false;
    case V_BOOL: case V_INT: return v->i != 0;
    case V_FLOAT: return v->f != 0.0;
    case V_STR: return v->n > 0;
    case V_LIST: return v->l->n > 0;
    case V_DICT: return v->d->n > 0;
    default: return true;
    }
}

static bool is_num(const jv *v) { return v->t == V_INT || v->t == V_BOOL || v->t == V_FLOAT; }
static double num_of(const jv *v) { return v->t == V_FLOAT ? v->f : (double)v->i; }

bool jv_eq(const jv *a, const jv *b) {
    if (is_num(a) && is_num(b)) {
        if (a->t != V_FLOAT && b->t != V_FLOAT) return a->i == b->i;
        return num_of(a) == num_of(b);
    }
    if (a->t != b->t) return false;
    switch (a->t) {
    case V_UNDEF: case V_NONE: return true;
    case V_STR: return a->n == b->n && (a->n == 0 || memcmp(a->s, b->s, a->n) == 0);
    case V_LIST:
        if (a->l == b->l) return true;
        if (a->l->n != b->l->n) return false;
        for (size_t i = 0; i < a->l->n; i++)
            if (!jv_eq(&a->l->v[i], &b->l->v[i])) return false;
        return true;
    case V_DICT:
        if (a->d == b->d) return true;
        if (a->d->n != b->d->n) return false;
        for (size_t i = 0; i < a->d->n; i++) {
            jv *o = jdict_get(b->d, &a->d->k[i]);
            if (!o || !jv_eq(&a->d->v[i], o)) return false;
        }
        return true;
    case V_FUNC: return a->fn == b->fn;
    default: return false;
    }
}

/* Python ordering: numbers, strings (by code point = UTF-8 bytes), lists.
 * *ok false when the types do not order. */
int jv_cmp(const jv *a, const jv *b, bool *ok) {
    *ok = true;
    if (is_num(a) && is_num(b)) {
        if (a->t != V_FLOAT && b->t != V_FLOAT) return (a->i > b->i) - (a->i < b->i);
        double x = num_of(a), y = num_of(b);
        return (x > y) - (x < y);
    }
    if (a->t == V_STR && b->t == V_STR) {
        size_t m = KEN_MIN(a->n, b->n);
        int r = m ? memcmp(a->s, b->s, m) : 0;
        if (r) return r < 0 ? -1 : 1;
        return (a->n > b->n) - (a->n < b->n);
    }
    if (a->t == V_LIST && b->t == V_LIST) {
        size_t m = KEN_MIN(a->l->n, b->l->n);
        for (size_t i = 0; i < m; i++) {
            if (jv_eq(&a->l->v[i], &b->l->v[i])) continue;
            return jv_cmp(&a->l->v[i], &b->l->v[i], ok);
        }
        return (a->l->n > b->l->n) - (a->l->n < b->l->n);
    }
    *ok = false;
    return 0;
}

const char *jv_type_name(const jv *v) {
    static const char *const names[] = {"Undefined", "NoneType", "bool", "int", "float", "str",
                                        "list", "dict", "function"};
    if (v->t == V_LIST && v->l->tuple) return "tuple";
    if (v->t == V_DICT && v->d->ns) return "Namespace";
    if (v->t == V_DICT && v->d->loop) return "LoopContext";
    return v->t < KEN_ARRAY_LEN(names) ? names[v->t] : "?";
}

/* ------------------------------------------------------ text of values */

/* Python's repr of a float: the shortest digits that round-trip, with
 * ".0" for integral values and an exponent outside [1e-4, 1e16). */
void py_float_repr(double f, char out[40]) {
    if (isnan(f)) { strcpy(out, "nan"); return; }
    if (isinf(f)) { strcpy(out, f < 0 ? "-inf" : "inf"); return; }
    char buf[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf = [-]d.ddde[+-]XX: take the digits and the exponent */
    char digits[24];
    int nd = 0, neg = buf[0] == '-';
    const char *q = buf + neg;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[nd++] = *q;
    int exp = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char *o = out;
    if (neg) *o++ = '-';
    if (exp >= 16 || exp < -4) {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        int ae = exp < 0 ? -exp : exp;  /* |exp| <= 324 for doubles */
        snprintf(o, 12, "e%c%02d", exp < 0 ? '-' : '+', ae > 999 ? 999 : ae);
        return;
    }
    if (exp < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -exp - 1; i++) *o++ = '0';
        memcpy(o, digits, (size_t)nd);
        o += nd;
    } else {
        for (int i = 0; i <= exp; i++) *o++ = i < nd ? digits[i] : '0';
        *o++ = '.';
        if (nd > exp + 1) {
            memcpy(o, digits + exp + 1, (size_t)(nd - exp - 1));
            o += nd - exp - 1;
        } else {
            *o++ = '0';
        }
    }
    *o = 0;
}

/* Python repr of a string: single quotes unless it holds ' and no ". */
static void py_str_repr(jctx *c, ken_buf *b, const char *s, size_t n) {
    bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    ken_status st = ken_buf_putc(b, q);
    for (size_t i = 0; i < n && !st; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == (unsigned char)q || ch == '\\') st = ken_buf_putc(b, '\\'), st = st ? st : ken_buf_putc(b, (char)ch);
        else if (ch == '\n') st = ken_buf_puts(b, "\\n");
        else if (ch == '\t') st = ken_buf_puts(b, "\\t");
        else if (ch == '\r') st = ken_buf_puts(b, "\\r");
        else if (ch < 0x20 || ch == 0x7f) st = ken_buf_printf(b, "\\x%02x", ch);
        else st = ken_buf_putc(b, (char)ch);
    }
    if (!st) st = ken_buf_putc(b, q);
    if (st) jfail(c, NULL, st, "template output limit reached");
}

static void put_text(jctx *c, ken_buf *b, const jv *v, bool repr, int depth);

static void put_seq(jctx *c, ken_buf *b, const jv *v, int depth) {
    bool tup = v->l->tuple;
    ken_buf_putc(b, tup ? '(' : '[');
    for (size_t i = 0; i < v->l->n && !c->st; i++) {
        if (i) ken_buf_puts(b, ", ");
        put_text(c, b, &v->l->v[i], true, depth + 1);
    }
    if (tup && v->l->n == 1) ken_buf_putc(b, ',');
    ken_buf_putc(b, tup ? ')' : ']');
}

/* str(v) (repr=false) or repr(v) into b. */
static void put_text(jctx *c, ken_buf *b, const jv *v, bool repr, int depth) {
    char num[48];
    if (depth > 64) {
        jfail(c, NULL, KEN_ERR_LIMIT, "value nested too deeply to print");
        return;
    }
    ken_status st = KEN_OK;
    switch (v->t) {
    case V_UNDEF: if (repr) st = ken_buf_puts(b, "Undefined"); break;
    case V_NONE: st = ken_buf_puts(b, "None"); break;
    case V_BOOL: st = ken_buf_puts(b, v->i ? "True" : "False"); break;
    case V_INT: st = ken_buf_printf(b, "%lld", (long long)v->i); break;
    case V_FLOAT: py_float_repr(v->f, num); st = ken_buf_puts(b, num); break;
    case V_STR:
        if (repr) py_str_repr(c, b, v->s, v->n);
        else st = ken_buf_append(b, v->s, v->n);
        break;
    case V_LIST: put_seq(c, b, v, depth); break;
    case V_DICT: {
        if (v->d->loop) {
            jv *ix = jdict_getn(v->d, "index", 5), *len = jdict_getn(v->d, "length", 6);
            st = ken_buf_printf(b, "<LoopContext %lld/%lld>", ix ? (long long)ix->i : 0,
                                len ? (long long)len->i : 0);
            break;
        }
        if (v->d->ns) ken_buf_puts(b, "<Namespace ");
        bool seen = false;  /* a dict inside itself prints as {...}, as Python */
        for (int k = 0; k < c->printing_n; k++) seen |= c->printing[k] == v->d;
        if (seen || c->printing_n >= (int)KEN_ARRAY_LEN(c->printing)) {
            ken_buf_puts(b, "{...}");
        } else {
            c->printing[c->printing_n++] = v->d;
            ken_buf_putc(b, '{');
            for (size_t i = 0; i < v->d->n && !c->st; i++) {
                if (i) ken_buf_puts(b, ", ");
                put_text(c, b, &v->d->k[i], true, depth + 1);
                ken_buf_puts(b, ": ");
                put_text(c, b, &v->d->v[i], true, depth + 1);
            }
            ken_buf_putc(b, '}');
            c->printing_n--;
        }
        st = v->d->ns ? ken_buf_putc(b, '>') : KEN_OK;
        break;
    }
    case V_FUNC: st = ken_buf_printf(b, "<function %s>", v->fn->name ? v->fn->name : "?"); break;
    default: break;
    }
    if (st) jfail(c, NULL, st, "template output limit of %zu bytes reached", b->cap_max);
}

/* str(v) as a value (strings are returned as they are). */
jv jv_to_str(jctx *c, const jv *v) {
    if (v->t == V_STR) return *v;
    if (v->t == V_UNDEF) return jv_strref("", 0);
    ken_buf b;
    ken_buf_init(&b, c->out_max);
    put_text(c, &b, v, false, 0);
    jcharge(c, b.len);
    jv r = c->st ? JV_UNDEF_INIT : jv_str(c, b.data ? b.data : "", b.len);
    ken_buf_free(&b);
    return r;
}

jv jv_repr(jctx *c, const jv *v) {
    ken_buf b;
    ken_buf_init(&b, c->out_max);
    put_text(c, &b, v, true, 0);
    jv r = c->st ? JV_UNDEF_INIT : jv_str(c, b.data ? b.data : "", b.len);
    ken_buf_free(&b);
    return r;
}

static void emit(jctx *c, const jnode *at, const char *s, size_t n) {
    if (c->st || !n || !jcharge(c, n)) return;
    ken_status st = ken_buf_append(c->out, s, n);
    if (st) jfail(c, at, st == KEN_ERR_NOMEM ? st : KEN_ERR_LIMIT,
                  "template output limit of %zu bytes reached", c->out->cap_max);
}

static void emit_value(jctx *c, const jnode *at, const jv *v) {
    if (v->t == V_STR) {
        emit(c, at, v->s, v->n);
        return;
    }
    size_t before = c->out->len;
    put_text(c, c->out, v, false, 0);
    (void)before;
}

/* ------------------------------------------------------------- scopes */

static jframe *frame_new(jctx *c, jframe *parent) {
    jframe *f = jalloc(c, sizeof *f);
    if (!f) return NULL;
    memset(f, 0, sizeof *f);
    f->parent = parent;
    return f;
}

jv *frame_lookup(jframe *f, const char *name, size_t n) {
    for (; f; f = f->parent) {
        if (f->vars.t != V_DICT) continue;
        jv *v = jdict_getn(f->vars.d, name, n);
        if (v) return v;
    }
    return NULL;
}

static bool frame_set(jctx *c, jframe *f, const char *name, size_t n, jv v) {
    if (f->vars.t != V_DICT) {
        f->vars = jv_dict(c);
        if (c->st) return false;
    }
    return jdict_set(c, f->vars.d, jv_strref(name, n), v);
}

/* Binds the names a scope starts as undefined (see jinja.c's analysis). */
void bind_undef(jctx *c, const jnode *body, jframe *f) {
    for (int i = 0; body && i < body->nundef && !c->st; i++)
        frame_set(c, f, body->undef[i], strlen(body->undef[i]), JV_UNDEF_INIT);
}

/* ---------------------------------------------------------- evaluator */

static bool step(jctx *c, const jnode *at) {
    if (++c->steps > c->steps_max) {
        jfail(c, at, KEN_ERR_LIMIT, "template evaluation exceeded %llu steps",
              (unsigned long long)c->steps_max);
        return false;
    }
    return !c->st;
}

static bool enter(jctx *c, const jnode *at) {
    if (++c->depth > c->depth_max) {
        c->depth--;
        jfail(c, at, KEN_ERR_LIMIT, "template nesting deeper than %d", c->depth_max);
        return false;
    }
    return true;
}

/* Subscript obj[key] with Python semantics; missing -> undefined. */
jv jv_getitem(jctx *c, const jnode *at, const jv *obj, const jv *key) {
    if (obj->t == V_DICT) {
        jv *v = jdict_get(obj->d, key);
        return v ? *v : JV_UNDEF_INIT;
    }
    if ((obj->t == V_LIST || obj->t == V_STR) && (key->t == V_INT || key->t == V_BOOL)) {
        int64_t i = key->i;
        if (obj->t == V_LIST) {
            if (i < 0) i += (int64_t)obj->l->n;
            if (i < 0 || (uint64_t)i >= obj->l->n) return JV_UNDEF_INIT;
            return obj->l->v[i];
        }
        if (!jcharge(c, obj->n)) return JV_UNDEF_INIT;
        size_t ncp = utf8_count(obj->s, obj->n);
        if (i < 0) i += (int64_t)ncp;
        if (i < 0 || (uint64_t)i >= ncp) return JV_UNDEF_INIT;
        size_t a = utf8_offset(obj->s, obj->n, (size_t)i), b = utf8_offset(obj->s, obj->n, (size_t)i + 1);
        return jv_strref(obj->s + a, b - a);
    }
    if (obj->t == V_UNDEF)
        return jfail(c, at, KEN_ERR_FORMAT, "'%s' is undefined (subscript of an undefined value)",
                     at && at->a && at->a->kind == JN_NAME ? at->a->s : "value");
    if (key->t == V_STR && (obj->t == V_LIST || obj->t == V_STR)) return JV_UNDEF_INIT;
    return JV_UNDEF_INIT;  /* Jinja's getitem turns TypeError into undefined */
}

static int64_t slice_idx(const jv *v, int64_t len, int64_t step_, bool lower) {
    if (!v || v->t == V_NONE || v->t == V_UNDEF)
        return step_ > 0 ? (lower ? 0 : len) : (lower ? len - 1 : -1);
    int64_t i = v->i;
    if (i < 0) {
        i += len;
        if (i < 0) i = step_ > 0 ? 0 : -1;
    } else if (i >= len) {
        i = step_ > 0 ? len : len - 1;
    }
    return i;
}

static jv eval_slice(jctx *c, const jnode *n, jframe *f) {
    jv obj = jeval(c, n->a, f);
    jv a = n->b ? jeval(c, n->b, f) : JV_UNDEF_INIT;
    jv b = n->c ? jeval(c, n->c, f) : JV_UNDEF_INIT;
    jv s = n->d ? jeval(c, n->d, f) : JV_UNDEF_INIT;
    if (c->st) return JV_UNDEF_INIT;
    const jv *parts[3] = {&a, &b, &s};
    for (int k = 0; k < 3; k++)
        if (parts[k]->t != V_UNDEF && parts[k]->t != V_NONE && parts[k]->t != V_INT && parts[k]->t != V_BOOL)
            return jfail(c, n, KEN_ERR_FORMAT, "slice indices must be integers or None");
    int64_t st = s.t == V_INT || s.t == V_BOOL ? s.i : 1;
    if (st == 0) return jfail(c, n, KEN_ERR_FORMAT, "slice step cannot be zero");
    if (obj.t != V_LIST && obj.t != V_STR)
        return jfail(c, n, KEN_ERR_FORMAT, "'%s' object cannot be sliced", jv_type_name(&obj));
    if (!jcharge(c, obj.t == V_LIST ? obj.l->n : obj.n)) return JV_UNDEF_INIT;
    int64_t len = obj.t == V_LIST ? (int64_t)obj.l->n : (int64_t)utf8_count(obj.s, obj.n);
    int64_t i = slice_idx(&a, len, st, true), e = slice_idx(&b, len, st, false);
    if (obj.t == V_LIST) {
        jv r = jv_list(c, 0);
        for (; !c->st && (st > 0 ? i < e : i > e); i += st) jlist_push(c, r.l, obj.l->v[i]);
        if (!c->st) r.l->tuple = obj.l->tuple;
        return r;
    }
    if (st == 1) {
        if (e <= i) return jv_strref("", 0);
        size_t x = utf8_offset(obj.s, obj.n, (size_t)i), y = utf8_offset(obj.s, obj.n, (size_t)e);
        return jv_strref(obj.s + x, y - x);
    }
    ken_buf b2;
    ken_buf_init(&b2, c->out_max);
    for (; st > 0 ? i < e : i > e; i += st) {
        size_t x = utf8_offset(obj.s, obj.n, (size_t)i), y = utf8_offset(obj.s, obj.n, (size_t)i + 1);
        if (ken_buf_append(&b2, obj.s + x, y - x)) break;
        if (!step(c, n)) break;
    }
    jv r = c->st ? JV_UNDEF_INIT : jv_str(c, b2.data ? b2.data : "", b2.len);
    ken_buf_free(&b2);
    return r;
}

static jv eval_attr(jctx *c, const jnode *n, jframe *f) {
    jv obj = jeval(c, n->a, f);
    if (c->st) return obj;
    if (obj.t == V_UNDEF)
        return jfail(c, n, KEN_ERR_FORMAT, "'%s' is undefined (has no attribute '%s')",
                     n->a->kind == JN_NAME ? n->a->s : "value", n->s);
    jv m = jmethod_bind(c, &obj, n->s);
    if (m.t != V_UNDEF || c->st) return m;
    if (obj.t == V_DICT) {
        jv *v = jdict_getn(obj.d, n->s, n->n);
        return v ? *v : JV_UNDEF_INIT;
    }
    return JV_UNDEF_INIT;
}

static jv arith(jctx *c, const jnode *n, jv a, jv b);

static jv eval_bin(jctx *c, const jnode *n, jframe *f) {
    jv a = jeval(c, n->a, f);
    jv b = jeval(c, n->b, f);
    if (c->st) return JV_UNDEF_INIT;
    bool ok;
    switch (n->op) {
    case JOP_EQ: return jv_bool(jv_eq(&a, &b));
    case JOP_NE: return jv_bool(!jv_eq(&a, &b));
    case JOP_LT: case JOP_LE: case JOP_GT: case JOP_GE: {
        int r = jv_cmp(&a, &b, &ok);
        if (!ok)
            return jfail(c, n, KEN_ERR_FORMAT, "'%s' not supported between '%s' and '%s'",
                         n->op == JOP_LT ? "<" : n->op == JOP_LE ? "<=" : n->op == JOP_GT ? ">" : ">=",
                         jv_type_name(&a), jv_type_name(&b));
        return jv_bool(n->op == JOP_LT ? r < 0 : n->op == JOP_LE ? r <= 0 : n->op == JOP_GT ? r > 0 : r >= 0);
    }
    case JOP_IN: case JOP_NOTIN: {
        int r = jv_contains(c, n, &b, &a);
        if (r < 0) return JV_UNDEF_INIT;
        return jv_bool(n->op == JOP_IN ? r : !r);
    }
    case JOP_CONCAT: {
        jv x = jv_to_str(c, &a), y = jv_to_str(c, &b);
        if (c->st) return JV_UNDEF_INIT;
        return jv_concat(c, &x, &y);
    }
    default: return arith(c, n, a, b);
    }
}

jv jv_concat(jctx *c, const jv *x, const jv *y) {
    if (!jcharge(c, x->n + y->n)) return JV_UNDEF_INIT;
    if (x->n + y->n > c->out_max) return jfail(c, NULL, KEN_ERR_LIMIT, "string longer than %zu bytes", c->out_max);
    char *p = jalloc(c, x->n + y->n + 1);
    if (!p) return JV_UNDEF_INIT;
    if (x->n) memcpy(p, x->s, x->n);
    if (y->n) memcpy(p + x->n, y->s, y->n);
    p[x->n + y->n] = 0;
    return jv_strref(p, x->n + y->n);
}

static jv arith_int(jctx *c, const jnode *n, int64_t x, int64_t y) {
    int64_t r = 0;
    bool ovf = false;
    switch (n->op) {
    case JOP_ADD: ovf = __builtin_add_overflow(x, y, &r); break;
    case JOP_SUB: ovf = __builtin_sub_overflow(x, y, &r); break;
    case JOP_MUL: ovf = __builtin_mul_overflow(x, y, &r); break;
    case JOP_DIV:
        if (y == 0) return jfail(c, n, KEN_ERR_FORMAT, "division by zero");
        return jv_float((double)x / (double)y);
    case JOP_FLOORDIV: case JOP_MOD:
        if (y == 0) return jfail(c, n, KEN_ERR_FORMAT, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) { ovf = true; break; }
        {
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) q--, m += y;
            r = n->op == JOP_FLOORDIV ? q : m;
        }
        break;
    case JOP_POW:
        if (y < 0) return jv_float(pow((double)x, (double)y));
        r = 1;
        for (int64_t k = 0; k < y && !ovf; k++) {
            ovf = __builtin_mul_overflow(r, x, &r);
            if (r == 0 || r == 1) break;
            if (r == -1) { r = (y - k - 1) % 2 ? -r : r; break; }
        }
        break;
    default: break;
    }
    if (ovf) return jfail(c, n, KEN_ERR_UNSUPPORTED, "integer overflow (beyond 64 bits)");
    return jv_int(r);
}

static jv repeat(jctx *c, const jnode *n, const jv *s, int64_t k) {
    if (k <= 0) return s->t == V_STR ? jv_strref("", 0) : jv_list(c, 0);
    size_t unit = s->t == V_STR ? s->n : s->l->n * sizeof(jv);
    if (unit && (uint64_t)k > c->out_max / unit)
        return jfail(c, n, KEN_ERR_LIMIT, "repetition result too large");
    if (s->t == V_STR) {
        char *p = jalloc(c, s->n * (size_t)k + 1);
        if (!p) return JV_UNDEF_INIT;
        for (int64_t i = 0; i < k; i++) memcpy(p + (size_t)i * s->n, s->s, s->n);
        p[s->n * (size_t)k] = 0;
        return jv_strref(p, s->n * (size_t)k);
    }
    jv r = jv_list(c, s->l->n * (size_t)k);
    for (int64_t i = 0; i < k && !c->st; i++)
        for (size_t j = 0; j < s->l->n; j++) jlist_push(c, r.l, s->l->v[j]);
    return r;
}

/* Python's "fmt % args" for %s %r %d %i %f (with .precision), %(key)s
 * and %%. A tuple gives the arguments; anything else is one argument. */
jv percent_format(jctx *c, const jnode *n, const jv *fmt, const jv *arg) {
    bool tuple = arg->t == V_LIST && arg->l->tuple;
    bool mapping = (arg->t == V_DICT && !arg->d->ns && !arg->d->loop) || arg->t == V_UNDEF ||
                   (arg->t == V_LIST && !tuple);
    const jv *args = tuple ? arg->l->v : arg;
    size_t nargs = tuple ? arg->l->n : 1, used = 0;
    ken_buf b;
    ken_buf_init(&b, c->out_max);
    for (size_t i = 0; i < fmt->n && !c->st; i++) {
        char ch = fmt->s[i];
        if (ch != '%') { ken_buf_putc(&b, ch); continue; }
        if (++i >= fmt->n) { jfail(c, n, KEN_ERR_FORMAT, "incomplete format"); break; }
        if (fmt->s[i] == '%') { ken_buf_putc(&b, '%'); continue; }
        const jv *v = NULL;
        if (fmt->s[i] == '(') {
            const char *e = memchr(fmt->s + i, ')', fmt->n - i);
            if (!e || arg->t != V_DICT) { jfail(c, n, KEN_ERR_FORMAT, "format requires a mapping"); break; }
            v = jdict_getn(arg->d, fmt->s + i + 1, (size_t)(e - fmt->s) - i - 1);
            if (!v) { jfail(c, n, KEN_ERR_FORMAT, "format key not found"); break; }
            i = (size_t)(e - fmt->s) + 1;
        }
        int prec = -1;
        if (i < fmt->n && fmt->s[i] == '.') {
            prec = 0;
            while (++i < fmt->n && fmt->s[i] >= '0' && fmt->s[i] <= '9' && prec < 100) prec = prec * 10 + fmt->s[i] - '0';
        }
        if (i >= fmt->n || !strchr("srdif", fmt->s[i])) { jfail(c, n, KEN_ERR_UNSUPPORTED, "unsupported format character"); break; }
        if (!v) {
            if (used >= nargs) { jfail(c, n, KEN_ERR_FORMAT, "not enough arguments for format string"); break; }
            v = &args[used++];
        }
        char k = fmt->s[i];
        if (k == 's' || k == 'r') {
            jv t = k == 's' ? jv_to_str(c, v) : jv_repr(c, v);
            if (!c->st) ken_buf_append(&b, t.s, t.n);
        } else if (!is_num(v)) {
            jfail(c, n, KEN_ERR_FORMAT, "%%%c format: a real number is required, not %s", k, jv_type_name(v));
        } else if (k == 'f') {
            ken_buf_printf(&b, "%.*f", prec < 0 ? 6 : prec, num_of(v));
        } else {
            ken_buf_printf(&b, "%lld", v->t == V_FLOAT ? (long long)v->f : (long long)v->i);
        }
    }
    if (!c->st && used < nargs && !mapping)
        jfail(c, n, KEN_ERR_FORMAT, "not all arguments converted during string formatting");
    jv r = c->st ? JV_UNDEF_INIT : jv_str(c, b.data ? b.data : "", b.len);
    ken_buf_free(&b);
    return r;
}

static jv arith(jctx *c, const jnode *n, jv a, jv b) {
    if (n->op == JOP_ADD && a.t == V_STR && b.t == V_STR) return jv_concat(c, &a, &b);
    if (n->op == JOP_MOD && a.t == V_STR) return percent_format(c, n, &a, &b);
    if (n->op == JOP_ADD && a.t == V_LIST && b.t == V_LIST) {
        jv r = jv_list(c, a.l->n + b.l->n);
        for (size_t i = 0; i < a.l->n && !c->st; i++) jlist_push(c, r.l, a.l->v[i]);
        for (size_t i = 0; i < b.l->n && !c->st; i++) jlist_push(c, r.l, b.l->v[i]);
        return r;
    }
    if (n->op == JOP_MUL && (a.t == V_STR || a.t == V_LIST) && (b.t == V_INT || b.t == V_BOOL))
        return repeat(c, n, &a, b.i);
    if (n->op == JOP_MUL && (b.t == V_STR || b.t == V_LIST) && (a.t == V_INT || a.t == V_BOOL))
        return repeat(c, n, &b, a.i);
    if (!is_num(&a) || !is_num(&b)) {
        static const char *const ops[] = {"+", "-", "*", "/", "//", "%", "**"};
        return jfail(c, n, KEN_ERR_FORMAT, "unsupported operand types for %s: '%s' and '%s'",
                     n->op < 7 ? ops[n->op] : "?", jv_type_name(&a), jv_type_name(&b));
    }
    if (a.t != V_FLOAT && b.t != V_FLOAT) return arith_int(c, n, a.i, b.i);
    double x = num_of(&a), y = num_of(&b);
    switch (n->op) {
    case JOP_ADD: return jv_float(x + y);
    case JOP_SUB: return jv_float(x - y);
    case JOP_MUL: return jv_float(x * y);
    case JOP_DIV:
        if (y == 0) return jfail(c, n, KEN_ERR_FORMAT, "float division by zero");
        return jv_float(x / y);
    case JOP_FLOORDIV: case JOP_MOD: {
        if (y == 0) return jfail(c, n, KEN_ERR_FORMAT, "float modulo by zero");
        double m = fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return n->op == JOP_MOD ? jv_float(m) : jv_float(floor((x - m) / y + 0.5));
    }
    case JOP_POW: return jv_float(pow(x, y));
    default: return jfail(c, n, KEN_ERR_INTERNAL, "bad operator");
    }
}

static jv eval_seq(jctx *c, const jnode *n, jframe *f) {
    if (n->kind == JN_DICT) {
        jv d = jv_dict(c);
        for (int i = 0; i + 1 < n->nkids && !c->st; i += 2) {
            jv k = jeval(c, n->kids[i], f), v = jeval(c, n->kids[i + 1], f);
            if (!c->st) jdict_set(c, d.d, k, v);
        }
        return d;
    }
    jv l = jv_list(c, (size_t)n->nkids);
    for (int i = 0; i < n->nkids && !c->st; i++) jlist_push(c, l.l, jeval(c, n->kids[i], f));
    if (!c->st) l.l->tuple = n->kind == JN_TUPLE;
    return l;
}

jv jeval(jctx *c, const jnode *n, jframe *f) {
    if (!step(c, n) || !enter(c, n)) return JV_UNDEF_INIT;
    const jnode *saved_at = c->at;
    c->at = n;
    jv r = JV_UNDEF_INIT;
    switch (n->kind) {
    case JN_STR: r = jv_strref(n->s, n->n); break;
    case JN_INT: r = jv_int(n->i); break;
    case JN_FLOAT: r = jv_float(n->f); break;
    case JN_BOOL: r = jv_bool(n->i != 0); break;
    case JN_NONE: r = jv_none(); break;
    case JN_NAME: {
        jv *v = frame_lookup(f, n->s, n->n);
        r = v ? *v : jglobal(c, n->s);
        break;
    }
    case JN_LIST: case JN_TUPLE: case JN_DICT: r = eval_seq(c, n, f); break;
    case JN_ATTR: r = eval_attr(c, n, f); break;
    case JN_SUB: {
        jv o = jeval(c, n->a, f), k = jeval(c, n->b, f);
        if (c->st) break;
        if (o.t == V_DICT || o.t == V_LIST || o.t == V_STR || o.t == V_UNDEF || o.t == V_NONE || k.t != V_STR)
            r = jv_getitem(c, n, &o, &k);
        if (r.t == V_UNDEF && k.t == V_STR && !c->st && o.t != V_UNDEF)
            r = jmethod_bind(c, &o, k.s);  /* obj['attr'] falls back to getattr */
        break;
    }
    case JN_SLICE: r = eval_slice(c, n, f); break;
    case JN_CALL: r = jcall(c, n, f); break;
    case JN_FILTER: r = jfilter(c, n, f, NULL); break;
    case JN_TEST: {
        int t = jtest(c, n, f);
        if (t >= 0) r = jv_bool(n->op ? !t : t);
        break;
    }
    case JN_NEG: case JN_POS: {
        jv a = jeval(c, n->a, f);
        if (c->st) break;
        if (!is_num(&a)) { jfail(c, n, KEN_ERR_FORMAT, "bad operand type for unary %s: '%s'", n->kind == JN_NEG ? "-" : "+", jv_type_name(&a)); break; }
        if (n->kind == JN_POS) r = a.t == V_BOOL ? jv_int(a.i) : a;
        else if (a.t == V_FLOAT) r = jv_float(-a.f);
        else if (a.i == INT64_MIN) jfail(c, n, KEN_ERR_UNSUPPORTED, "integer overflow");
        else r = jv_int(-a.i);
        break;
    }
    case JN_NOT: { jv a = jeval(c, n->a, f); r = jv_bool(!jv_truthy(&a)); break; }
    case JN_AND: {
        jv a = jeval(c, n->a, f);
        r = c->st || !jv_truthy(&a) ? a : jeval(c, n->b, f);
        break;
    }
    case JN_OR: {
        jv a = jeval(c, n->a, f);
        r = c->st || jv_truthy(&a) ? a : jeval(c, n->b, f);
        break;
    }
    case JN_COND: {
        jv cond = jeval(c, n->a, f);
        if (c->st) break;
        r = jv_truthy(&cond) ? jeval(c, n->b, f) : n->c ? jeval(c, n->c, f) : JV_UNDEF_INIT;
        break;
    }
    case JN_BIN: r = eval_bin(c, n, f); break;
    default: jfail(c, n, KEN_ERR_INTERNAL, "not an expression"); break;
    }
    c->at = saved_at;
    c->depth--;
    return c->st ? JV_UNDEF_INIT : r;
}

/* ---------------------------------------------------------- statements */

/* Items of an iterable: list items, dict keys, string characters. */
bool jv_iter(jctx *c, const jnode *at, const jv *v, jlist *out) {
    memset(out, 0, sizeof *out);
    switch (v->t) {
    case V_UNDEF: return true;
    case V_LIST: *out = *v->l; return true;
    case V_DICT:
        if (v->d->ns || v->d->loop) {
            jfail(c, at, KEN_ERR_FORMAT, "'%s' object is not iterable", jv_type_name(v));
            return false;
        }
        out->v = v->d->k;
        out->n = out->cap = v->d->n;
        return true;
    case V_STR: {
        if (!jcharge(c, v->n * 8)) return false;  /* a list of characters: costly */
        size_t ncp = utf8_count(v->s, v->n);
        out->v = jalloc(c, (ncp ? ncp : 1) * sizeof *out->v);
        if (!out->v) return false;
        size_t i = 0;
        for (size_t k = 0; k < ncp; k++) {
            size_t e = i + 1;
            while (e < v->n && ((unsigned char)v->s[e] & 0xC0) == 0x80) e++;
            out->v[k] = jv_strref(v->s + i, e - i);
            i = e;
        }
        out->n = out->cap = ncp;
        return true;
    }
    default:
        jfail(c, at, KEN_ERR_FORMAT, "'%s' object is not iterable", jv_type_name(v));
        return false;
    }
}

static bool assign_target(jctx *c, const jnode *t, jframe *f, jv v) {
    if (t->kind == JN_NAME) return frame_set(c, f, t->s, t->n, v);
    if (t->kind == JN_TUPLE) {
        jlist items;
        if (!jv_iter(c, t, &v, &items)) return false;
        if (v.t == V_UNDEF || items.n != (size_t)t->nkids) {
            jfail(c, t, KEN_ERR_FORMAT, "cannot unpack %zu values into %d names", items.n, t->nkids);
            return false;
        }
        for (int i = 0; i < t->nkids; i++)
            if (!frame_set(c, f, t->kids[i]->s, t->kids[i]->n, items.v[i])) return false;
        return true;
    }
    if (t->kind == JN_ATTR) {  /* ns.attr = v: only namespaces are writable */
        jv *ns = frame_lookup(f, t->a->s, t->a->n);
        if (!ns || ns->t != V_DICT || !ns->d->ns) {
            jfail(c, t, KEN_ERR_FORMAT, "cannot assign attribute on non-namespace object");
            return false;
        }
        return jdict_set(c, ns->d, jv_strref(t->s, t->n), v);
    }
    jfail(c, t, KEN_ERR_FORMAT, "cannot assign to this target");
    return false;
}

static void jexec_scope(jctx *c, const jnode *body, jframe *f);

static void exec_for(jctx *c, const jnode *n, jframe *f) {
    jv it = jeval(c, n->b, f);
    jlist items;
    if (c->st || !jv_iter(c, n->b, &it, &items)) return;
    jframe *lf = frame_new(c, f);
    if (!lf) return;
    if (n->nkids) {  /* "for x in xs if cond": filter first, so loop.length counts the kept */
        jlist kept = {0};
        for (size_t i = 0; i < items.n && !c->st; i++) {
            if (!assign_target(c, n->a, lf, items.v[i])) return;
            jv cond = jeval(c, n->kids[0], lf);
            if (!c->st && jv_truthy(&cond)) jlist_push(c, &kept, items.v[i]);
        }
        items = kept;
    }
    if (c->st) return;
    /* As Jinja compiles it, the else body runs unless some iteration ran
     * to its end: iterations left by continue or break do not count. */
    bool iterated = false;
    jv loop = jv_dict(c);
    if (c->st) return;
    loop.d->loop = true;
    int64_t len = (int64_t)items.n;
    for (int64_t i = 0; i < len && !c->st; i++) {
        if (!step(c, n)) return;
        /* each iteration starts from the outer scope, as Jinja's compiled
         * loop body reloads its names: nothing set in one iteration is seen
         * in the next */
        if (lf->vars.t == V_DICT) lf->vars.d->n = 0;
        bind_undef(c, n->c, lf);
        if (!assign_target(c, n->a, lf, items.v[i])) return;
        loop.d->n = 0;
        jdict_setn(c, loop.d, "index", jv_int(i + 1));
        jdict_setn(c, loop.d, "index0", jv_int(i));
        jdict_setn(c, loop.d, "revindex", jv_int(len - i));
        jdict_setn(c, loop.d, "revindex0", jv_int(len - i - 1));
        jdict_setn(c, loop.d, "first", jv_bool(i == 0));
        jdict_setn(c, loop.d, "last", jv_bool(i == len - 1));
        jdict_setn(c, loop.d, "length", jv_int(len));
        jdict_setn(c, loop.d, "depth", jv_int(1));
        jdict_setn(c, loop.d, "depth0", jv_int(0));
        if (i > 0) jdict_setn(c, loop.d, "previtem", items.v[i - 1]);
        if (i + 1 < len) jdict_setn(c, loop.d, "nextitem", items.v[i + 1]);
        frame_set(c, lf, "loop", 4, loop);
        jexec(c, n->c, lf);
        if (!c->brk) iterated = true;
        if (c->brk == 1) { c->brk = 0; break; }
        c->brk = 0;
    }
    if (!c->st && !iterated && n->d) jexec_scope(c, n->d, f);
}

/* Runs body in a new scope below f (for-else, set and filter blocks). */
static void jexec_scope(jctx *c, const jnode *body, jframe *f) {
    jframe *sf = frame_new(c, f);
    if (!sf) return;
    bind_undef(c, body, sf);
    jexec(c, body, sf);
}

static jv capture_scope(jctx *c, const jnode *body, jframe *f) {
    jframe *sf = frame_new(c, f);
    if (!sf) return JV_UNDEF_INIT;
    bind_undef(c, body, sf);
    return jcapture(c, body, sf);
}

/* Renders body into a fresh buffer and returns it as a string. */
jv jcapture(jctx *c, const jnode *body, jframe *f) {
    ken_buf b, *saved = c->out;
    ken_buf_init(&b, c->out_max);
    c->out = &b;
    jexec(c, body, f);
    c->out = saved;
    jv r = c->st ? JV_UNDEF_INIT : jv_str(c, b.data ? b.data : "", b.len);
    ken_buf_free(&b);
    return r;
}

static void exec_set(jctx *c, const jnode *n, jframe *f) {
    if (n->kind == JN_SET) {
        jv v = jeval(c, n->b, f);
        if (!c->st && n->a) assign_target(c, n->a, f, v);
        return;
    }
    jv v = capture_scope(c, n->b, f);
    if (!c->st && n->c) v = jfilter(c, n->c, f, &v);
    if (!c->st) assign_target(c, n->a, f, v);
}

static void exec_macro(jctx *c, const jnode *n, jframe *f) {
    jv fn = {.t = V_FUNC};
    fn.fn = jalloc(c, sizeof *fn.fn);
    if (!fn.fn) return;
    memset(fn.fn, 0, sizeof *fn.fn);
    fn.fn->kind = JF_MACRO;
    fn.fn->node = n;
    fn.fn->name = n->s;
    fn.fn->scope = f;
    frame_set(c, f, n->s, n->n, fn);
}

void jexec(jctx *c, const jnode *n, jframe *f) {
    if (c->st || !step(c, n) || !enter(c, n)) return;
    switch (n->kind) {
    case JN_TEXT: emit(c, n, n->s, n->n); break;
    case JN_OUT: {
        jv v = jeval(c, n->a, f);
        if (!c->st) emit_value(c, n, &v);
        break;
    }
    case JN_BODY:
        for (int i = 0; i < n->nkids && !c->st && !c->brk; i++) jexec(c, n->kids[i], f);
        break;
    case JN_IF: {
        jv cond = jeval(c, n->a, f);
        if (c->st) break;
        if (jv_truthy(&cond)) jexec(c, n->b, f);
        else if (n->c) jexec(c, n->c, f);
        break;
    }
    case JN_FOR: exec_for(c, n, f); break;
    case JN_SET: case JN_SETBLOCK: exec_set(c, n, f); break;
    case JN_MACRO: exec_macro(c, n, f); break;
    case JN_CALLBLOCK: {
        jv r = jcall_block(c, n, f);
        if (!c->st) emit_value(c, n, &r);
        break;
    }
    case JN_FILTERBLOCK: {
        jv v = capture_scope(c, n->b, f);
        if (!c->st) v = jfilter(c, n->a, f, &v);
        if (!c->st) emit_value(c, n, &v);
        break;
    }
    case JN_BREAK: c->brk = 1; break;
    case JN_CONTINUE: c->brk = 2; break;
    default: jfail(c, n, KEN_ERR_INTERNAL, "not a statement"); break;
    }
    c->depth--;
}

/* ---------------------------------------------------------- from JSON */

jv jv_from_json(jctx *c, const ken_json *j, int depth) {
    if (depth > 256) return jfail(c, NULL, KEN_ERR_LIMIT, "JSON nested too deeply");
    switch (j->type) {
    case KEN_JSON_NULL: return jv_none();
    case KEN_JSON_BOOL: return jv_bool(j->b);
    case KEN_JSON_NUMBER: {
        bool integral = j->str && !strpbrk(j->str, ".eE");
        if (integral && fabs(j->num) < 9.2e18) return jv_int(strtoll(j->str, NULL, 10));
        return jv_float(j->num);
    }
    case KEN_JSON_STRING: return jv_strref(j->str, j->len);
    case KEN_JSON_ARRAY: {
        jv l = jv_list(c, j->n);
        for (size_t i = 0; i < j->n && !c->st; i++) jlist_push(c, l.l, jv_from_json(c, &j->kids[i], depth + 1));
        return l;
    }
    case KEN_JSON_OBJECT: {
        jv d = jv_dict(c);
        for (size_t i = 0; i < j->n && !c->st; i++)
            jdict_set(c, d.d, jv_strref(j->kids[i].key, j->kids[i].key_len),
                      jv_from_json(c, &j->kids[i], depth + 1));
        return d;
    }
    }
    return JV_UNDEF_INIT;
}

ken_status ken_jinja_render(const ken_jinja_tmpl *t, const ken_json *const *vars, size_t nvars,
                            const ken_jinja_limits *lim, ken_buf *out, ken_err *err) {
    jctx c;
    if (!t || !t->root) return ken_err_set(err, KEN_ERR_INVALID, "no template to render");
    memset(&c, 0, sizeof c);
    c.err = err;
    c.out_max = lim && lim->out_max ? lim->out_max : (size_t)16 << 20;
    c.depth_max = lim && lim->depth_max ? lim->depth_max : 500;
    c.steps_max = lim && lim->steps_max ? lim->steps_max : 20000000u;
    jarena_init(&c.ar, lim && lim->mem_max ? lim->mem_max : (size_t)256 << 20);
    ken_buf b;
    ken_buf_init(&b, c.out_max);
    c.out = &b;
    c.root = frame_new(&c, NULL);
    for (size_t i = 0; i < nvars && !c.st; i++) {
        if (!vars[i]) continue;
        if (vars[i]->type != KEN_JSON_OBJECT) {
            jfail(&c, NULL, KEN_ERR_INVALID, "template variables must be a JSON object");
            break;
        }
        for (size_t k = 0; k < vars[i]->n && !c.st; k++) {
            const ken_json *m = &vars[i]->kids[k];
            frame_set(&c, c.root, m->key, m->key_len, jv_from_json(&c, m, 0));
        }
    }
    bind_undef(&c, t->root, c.root);
    if (!c.st) jexec(&c, t->root, c.root);
    ken_status st = c.st;
    if (!st && ken_buf_append(out, b.data ? b.data : "", b.len))
        st = ken_err_set(err, KEN_ERR_LIMIT, "template output does not fit the buffer");
    ken_buf_free(&b);
    jarena_free(&c.ar);
    return st;
}
