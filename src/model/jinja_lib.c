/* jinja_lib.c: what templates call: filters, tests, string and dict methods,
 * globals (range, namespace, dict, raise_exception, strftime_now), macro
 * calls and {% call %} blocks, for the Jinja2 subset in jinja_eval.c.
 *
 * Semantics follow Python 3 / Jinja 2 3.1 with transformers' overrides:
 * tojson is json.dumps(ensure_ascii=False, indent=..., default separators),
 * range is limited as in Jinja's sandbox (100000 items). Strings are UTF-8
 * and indexed, sliced and measured by code point; case mappings are
 * utf8proc's simple ones. */
#include "model/jinja.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#define ARGS_MAX 16
#define RANGE_MAX 100000

typedef struct {
    jv pos[ARGS_MAX];
    int npos;
    const char *kwn[ARGS_MAX];
    jv kwv[ARGS_MAX];
    int nkw;
} jargs;

/* ------------------------------------------------------------- UTF-8 */

size_t utf8_count(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* Byte offset of code point cp_index (n when past the end). */
size_t utf8_offset(const char *s, size_t n, size_t cp_index) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (k == cp_index) return i;
            k++;
        }
    }
    return n;
}

/* Decodes the code point at s[*i] (invalid bytes as themselves). */
static int32_t cp_next(const char *s, size_t n, size_t *i) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + *i, (utf8proc_ssize_t)(n - *i), &cp);
    if (k <= 0) {
        cp = (unsigned char)s[*i];
        k = 1;
    }
    *i += (size_t)k;
    return cp;
}

static bool py_space(int32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

static bool put_cp(ken_buf *b, int32_t cp) {
    char u[4];
    utf8proc_ssize_t k = utf8proc_encode_char(cp, (utf8proc_uint8_t *)u);
    return ken_buf_append(b, u, (size_t)(k > 0 ? k : 0)) == KEN_OK;
}

static jv buf_value(jctx *c, ken_buf *b) {
    jcharge(c, b->len);
    jv r = c->st ? JV_UNDEF_INIT : jv_str(c, b->data ? b->data : "", b->len);
    ken_buf_free(b);
    return r;
}

/* mode: 0 lower, 1 upper, 2 capitalize, 3 Python str.title, 4 Jinja's title filter */
static jv str_case(jctx *c, const jv *s, int mode) {
    if (!jcharge(c, s->n * 4)) return JV_UNDEF_INIT;
    ken_buf b;
    ken_buf_init(&b, c->out_max);
    bool start = true;
    for (size_t i = 0; i < s->n;) {
        int32_t cp = cp_next(s->s, s->n, &i);
        int32_t lo = utf8proc_tolower(cp), up = utf8proc_toupper(cp);
        int32_t o = mode == 0 ? lo : mode == 1 ? up : start ? up : lo;
        if (mode == 2) start = false;
        else if (mode == 3) start = !(lo != cp || up != cp || utf8proc_category(cp) <= UTF8PROC_CATEGORY_LO);
        else if (mode == 4) start = py_space(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
        if (!put_cp(&b, o)) {
            jfail(c, NULL, KEN_ERR_LIMIT, "string too long");
            break;
        }
    }
    return buf_value(c, &b);
}

/* strip: which 1 left, 2 right, 3 both; chars NULL = Python whitespace */
static jv str_strip(const jv *s, const jv *chars, int which) {
    /* cost: bounded by the bytes stripped, charged by the caller's copy */
    const char *p = s->s;
    size_t a = 0, e = s->n;
    bool ws = !chars || chars->t != V_STR;
    if (which & 1) {
        while (a < e) {
            size_t i = a;
            int32_t cp = cp_next(p, e, &i);
            bool hit = ws ? py_space(cp) : false;
            if (!ws) {
                for (size_t k = 0; k < chars->n && !hit;) hit = cp_next(chars->s, chars->n, &k) == cp;
            }
            if (!hit) break;
            a = i;
        }
    }
    if (which & 2) {
        while (e > a) {
            size_t st = e - 1;
            while (st > a && ((unsigned char)p[st] & 0xC0) == 0x80) st--;
            size_t i = st;
            int32_t cp = cp_next(p, e, &i);
            bool hit = ws ? py_space(cp) : false;
            if (!ws) {
                for (size_t k = 0; k < chars->n && !hit;) hit = cp_next(chars->s, chars->n, &k) == cp;
            }
            if (!hit) break;
            e = st;
        }
    }
    return jv_strref(p + a, e - a);
}

static const char *memfind(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    for (size_t i = 0; i + nn <= hn; i++) {
        const char *q = memchr(h + i, nd[0], hn - nn - i + 1);
        if (!q) return NULL;
        i = (size_t)(q - h);
        if (memcmp(q, nd, nn) == 0) return q;
    }
    return NULL;
}

static jv str_replace(jctx *c, const jv *s, const jv *old, const jv *nw, int64_t count) {
    ken_buf b;
    ken_buf_init(&b, c->out_max);
    size_t i = 0;
    int64_t done = 0;
    if (old->n == 0) {  /* Python inserts new between every character */
        for (size_t k = 0; k <= s->n; ) {
            if (count < 0 || done < count) ken_buf_append(&b, nw->s, nw->n), done++;
            if (k == s->n) break;
            size_t e = k;
            cp_next(s->s, s->n, &e);
            ken_buf_append(&b, s->s + k, e - k);
            k = e;
        }
        return buf_value(c, &b);
    }
    while (i <= s->n) {
        const char *q = (count < 0 || done < count) ? memfind(s->s + i, s->n - i, old->s, old->n) : NULL;
        if (!q) {
            if (ken_buf_append(&b, s->s + i, s->n - i)) jfail(c, NULL, KEN_ERR_LIMIT, "string too long");
            break;
        }
        size_t at = (size_t)(q - s->s);
        if (ken_buf_append(&b, s->s + i, at - i) || ken_buf_append(&b, nw->s, nw->n)) {
            jfail(c, NULL, KEN_ERR_LIMIT, "string too long");
            break;
        }
        i = at + old->n;
        done++;
    }
    return buf_value(c, &b);
}

static jv str_split(jctx *c, const jv *s, const jv *sep, int64_t maxsplit) {
    jv l = jv_list(c, 0);
    if (c->st || !jcharge(c, s->n)) return l;
    if (sep && sep->t == V_STR) {
        if (sep->n == 0) return jfail(c, NULL, KEN_ERR_FORMAT, "empty separator");
        size_t i = 0;
        int64_t k = 0;
        for (;;) {
            const char *q = (maxsplit < 0 || k < maxsplit) ? memfind(s->s + i, s->n - i, sep->s, sep->n) : NULL;
            if (!q) {
                jlist_push(c, l.l, jv_strref(s->s + i, s->n - i));
                break;
            }
            jlist_push(c, l.l, jv_strref(s->s + i, (size_t)(q - s->s) - i));
            i = (size_t)(q - s->s) + sep->n;
            k++;
            if (c->st) break;
        }
        return l;
    }
    size_t i = 0;
    int64_t k = 0;
    while (i < s->n && !c->st) {
        size_t st = i, e;
        for (;;) {  /* skip whitespace */
            if (st >= s->n) break;
            size_t t2 = st;
            if (!py_space(cp_next(s->s, s->n, &t2))) break;
            st = t2;
        }
        if (st >= s->n) break;
        if (maxsplit >= 0 && k >= maxsplit) {
            size_t end = s->n;
            jlist_push(c, l.l, jv_strref(s->s + st, end - st));
            break;
        }
        e = st;
        while (e < s->n) {
            size_t t2 = e;
            if (py_space(cp_next(s->s, s->n, &t2))) break;
            e = t2;
        }
        jlist_push(c, l.l, jv_strref(s->s + st, e - st));
        k++;
        i = e;
    }
    return l;
}

/* -------------------------------------------------------------- JSON */

static void json_str(ken_buf *b, const char *s, size_t n, bool ascii) {
    ken_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ascii && ch >= 0x80) {  /* ensure_ascii: \uXXXX, surrogate pairs above the BMP */
            size_t at = i;
            int32_t cp = cp_next(s, n, &at);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                ken_buf_printf(b, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                ken_buf_printf(b, "\\u%04x", cp);
            }
            i = at - 1;
            continue;
        }
        switch (ch) {
        case '"': ken_buf_puts(b, "\\\""); break;
        case '\\': ken_buf_puts(b, "\\\\"); break;
        case '\n': ken_buf_puts(b, "\\n"); break;
        case '\r': ken_buf_puts(b, "\\r"); break;
        case '\t': ken_buf_puts(b, "\\t"); break;
        case '\b': ken_buf_puts(b, "\\b"); break;
        case '\f': ken_buf_puts(b, "\\f"); break;
        default:
            if (ch < 0x20) ken_buf_printf(b, "\\u%04x", ch);
            else ken_buf_putc(b, (char)ch);
        }
    }
    ken_buf_putc(b, '"');
}

static void json_nl(ken_buf *b, int indent, int level) {
    ken_buf_putc(b, '\n');
    for (int i = 0; i < indent * level; i++) ken_buf_putc(b, ' ');
}

/* json.dumps separators: between items and between a key and its value */
typedef struct { const char *item, *key; size_t item_n, key_n; bool ascii; } json_seps;

/* json.dumps(v, ensure_ascii=False, indent=indent (<0: None), separators, sort_keys) */
static bool json_dump(jctx *c, ken_buf *b, const jv *v, int indent, int level, bool sort_keys,
                      const json_seps *sp) {
    char num[48];
    if (level > 100) return jfail(c, NULL, KEN_ERR_LIMIT, "value nested too deeply for tojson"), false;
    switch (v->t) {
    case V_NONE: ken_buf_puts(b, "null"); break;
    case V_BOOL: ken_buf_puts(b, v->i ? "true" : "false"); break;
    case V_INT: ken_buf_printf(b, "%lld", (long long)v->i); break;
    case V_FLOAT:
        if (isnan(v->f)) ken_buf_puts(b, "NaN");
        else if (isinf(v->f)) ken_buf_puts(b, v->f < 0 ? "-Infinity" : "Infinity");
        else py_float_repr(v->f, num), ken_buf_puts(b, num);
        break;
    case V_STR: json_str(b, v->s, v->n, sp->ascii); break;
    case V_LIST:
        if (v->l->n == 0) { ken_buf_puts(b, "[]"); break; }
        ken_buf_putc(b, '[');
        for (size_t i = 0; i < v->l->n; i++) {
            if (i) ken_buf_append(b, sp->item, sp->item_n);
            if (indent >= 0) json_nl(b, indent, level + 1);
            if (!json_dump(c, b, &v->l->v[i], indent, level + 1, sort_keys, sp)) return false;
        }
        if (indent >= 0) json_nl(b, indent, level);
        ken_buf_putc(b, ']');
        break;
    case V_DICT: {
        if (v->d->ns || v->d->loop)
            return jfail(c, NULL, KEN_ERR_FORMAT, "Object of type %s is not JSON serializable", jv_type_name(v)), false;
        if (v->d->n == 0) { ken_buf_puts(b, "{}"); break; }
        size_t *ord = jalloc(c, v->d->n * sizeof *ord);
        if (!ord) return false;
        for (size_t i = 0; i < v->d->n; i++) ord[i] = i;
        if (sort_keys)  /* insertion sort: dicts in templates are small */
            for (size_t i = 1; i < v->d->n; i++) {
                bool ok;
                for (size_t j = i; j > 0 && jv_cmp(&v->d->k[ord[j - 1]], &v->d->k[ord[j]], &ok) > 0; j--) {
                    size_t t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t;
                }
            }
        ken_buf_putc(b, '{');
        for (size_t i = 0; i < v->d->n; i++) {
            const jv *k = &v->d->k[ord[i]];
            if (i) ken_buf_append(b, sp->item, sp->item_n);
            if (indent >= 0) json_nl(b, indent, level + 1);
            if (k->t == V_STR) json_str(b, k->s, k->n, sp->ascii);
            else if (k->t == V_INT || k->t == V_BOOL || k->t == V_NONE || k->t == V_FLOAT) {
                ken_buf_putc(b, '"');
                if (!json_dump(c, b, k, -1, level + 1, false, sp)) return false;
                ken_buf_putc(b, '"');
            } else return jfail(c, NULL, KEN_ERR_FORMAT, "keys must be str, int, float, bool or None"), false;
            ken_buf_append(b, sp->key, sp->key_n);
            if (!json_dump(c, b, &v->d->v[ord[i]], indent, level + 1, sort_keys, sp)) return false;
        }
        if (indent >= 0) json_nl(b, indent, level);
        ken_buf_putc(b, '}');
        break;
    }
    default:
        jfail(c, NULL, KEN_ERR_FORMAT, "Object of type %s is not JSON serializable", jv_type_name(v));
        return false;
    }
    return true;
}

static jv to_json(jctx *c, const jv *v, int indent, bool sort_keys, const jv *seps, bool ascii) {
    json_seps sp = {indent >= 0 ? "," : ", ", ": ", indent >= 0 ? 1 : 2, 2, ascii};
    if (seps && seps->t == V_LIST && seps->l->n == 2 && seps->l->v[0].t == V_STR && seps->l->v[1].t == V_STR) {
        sp.item = seps->l->v[0].s, sp.item_n = seps->l->v[0].n;
        sp.key = seps->l->v[1].s, sp.key_n = seps->l->v[1].n;
    } else if (seps && seps->t != V_NONE && seps->t != V_UNDEF) {
        return jfail(c, NULL, KEN_ERR_FORMAT, "tojson separators must be a pair of strings");
    }
    ken_buf b;
    ken_buf_init(&b, c->out_max);
    json_dump(c, &b, v, indent, 0, sort_keys, &sp);
    if (!c->st && b.len >= c->out_max) jfail(c, NULL, KEN_ERR_LIMIT, "tojson output too long");
    return buf_value(c, &b);
}

/* ------------------------------------------------------------ helpers */

static const jv *arg(const jargs *a, int i, const char *name) {
    if (i >= 0 && i < a->npos) return &a->pos[i];
    for (int k = 0; name && k < a->nkw; k++)
        if (strcmp(a->kwn[k], name) == 0) return &a->kwv[k];
    return NULL;
}

static bool arg_true(const jargs *a, int i, const char *name) {
    const jv *v = arg(a, i, name);
    return v && jv_truthy(v);
}

static int64_t arg_int(const jargs *a, int i, const char *name, int64_t def) {
    const jv *v = arg(a, i, name);
    if (!v || (v->t != V_INT && v->t != V_BOOL && v->t != V_FLOAT)) return def;
    return v->t == V_FLOAT ? (int64_t)v->f : v->i;
}

static bool need_str(jctx *c, const jnode *at, const jv *v, const char *what) {
    if (v && v->t == V_STR) return true;
    jfail(c, at, KEN_ERR_FORMAT, "%s expects a string, got %s", what, v ? jv_type_name(v) : "nothing");
    return false;
}

static bool eval_args(jctx *c, const jnode *n, jframe *f, jargs *a, const jv *first) {
    memset(a, 0, sizeof *a);
    if (first) a->pos[a->npos++] = *first;
    for (int i = 0; i < n->nkids && !c->st; i++) {
        if (a->npos >= ARGS_MAX || a->nkw >= ARGS_MAX)
            return jfail(c, n, KEN_ERR_LIMIT, "too many arguments"), false;
        jv v = jeval(c, n->kids[i], f);
        if (n->names && n->names[i]) a->kwn[a->nkw] = n->names[i], a->kwv[a->nkw++] = v;
        else a->pos[a->npos++] = v;
    }
    return !c->st;
}

/* getattr by a dotted attribute path ("a.b", "0") as Jinja's attribute=. */
static jv get_path(jctx *c, const jv *x, const jv *attr) {
    if (attr->t == V_INT) return jv_getitem(c, NULL, x, attr);
    if (attr->t != V_STR) return JV_UNDEF_INIT;
    jv cur = *x;
    size_t i = 0;
    while (i <= attr->n && !c->st) {
        const char *dot = memchr(attr->s + i, '.', attr->n - i);
        size_t e = dot ? (size_t)(dot - attr->s) : attr->n;
        jv key = jv_strref(attr->s + i, e - i);
        bool digits = e > i;
        for (size_t k = i; k < e; k++) digits &= attr->s[k] >= '0' && attr->s[k] <= '9';
        if (digits && cur.t == V_LIST) key = jv_int(strtoll(attr->s + i, NULL, 10));
        if (cur.t == V_UNDEF)  /* Jinja raises on an attribute of an undefined value */
            return jfail(c, NULL, KEN_ERR_FORMAT, "undefined value has no attribute '%.*s'", (int)(e - i), attr->s + i);
        cur = cur.t == V_DICT || digits ? jv_getitem(c, NULL, &cur, &key) : JV_UNDEF_INIT;
        if (!dot) break;
        i = e + 1;
    }
    return cur;
}

static jv to_list(jctx *c, const jnode *at, const jv *x) {
    jlist items;
    if (!jv_iter(c, at, x, &items)) return JV_UNDEF_INIT;
    jv l = jv_list(c, items.n);
    for (size_t i = 0; i < items.n && !c->st; i++) jlist_push(c, l.l, items.v[i]);
    return l;
}

/* A sort key: lower-cased strings unless case-sensitive. */
static jv sort_key(jctx *c, const jv *x, const jv *attr, bool cs) {
    jv k = attr ? get_path(c, x, attr) : *x;
    if (!cs && k.t == V_STR) k = str_case(c, &k, 0);
    return k;
}

/* Stable merge sort of v[0..n) by keys (parallel array). */
static void msort(jctx *c, const jnode *at, jv *v, jv *keys, size_t n, jv *tv, jv *tk, bool rev) {
    if (n < 2 || c->st) return;
    size_t h = n / 2;
    msort(c, at, v, keys, h, tv, tk, rev);
    msort(c, at, v + h, keys + h, n - h, tv, tk, rev);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n && !c->st) {
        bool ok;
        int r = jv_cmp(&keys[j], &keys[i], &ok);
        if (!ok) {
            jfail(c, at, KEN_ERR_FORMAT, "cannot compare '%s' with '%s'", jv_type_name(&keys[j]), jv_type_name(&keys[i]));
            return;
        }
        bool take_right = rev ? r > 0 : r < 0;
        if (take_right) tv[o] = v[j], tk[o++] = keys[j++];
        else tv[o] = v[i], tk[o++] = keys[i++];
    }
    while (i < h) tv[o] = v[i], tk[o++] = keys[i++];
    while (j < n) tv[o] = v[j], tk[o++] = keys[j++];
    memcpy(v, tv, n * sizeof *v);
    memcpy(keys, tk, n * sizeof *keys);
}

static jv sorted(jctx *c, const jnode *at, const jv *x, const jv *attr, bool cs, bool rev, int by_value) {
    jv l = to_list(c, at, x);
    if (c->st || l.l->n < 2) return l;
    size_t n = l.l->n;
    jv *keys = jalloc(c, n * sizeof *keys), *tv = jalloc(c, n * sizeof *tv), *tk = jalloc(c, n * sizeof *tk);
    if (!keys || !tv || !tk) return JV_UNDEF_INIT;
    for (size_t i = 0; i < n && !c->st; i++) {
        jv item = l.l->v[i];
        if (by_value >= 0 && x->t == V_DICT && item.t == V_LIST && item.l->n == 2) item = item.l->v[by_value];
        keys[i] = sort_key(c, &item, attr, cs);
    }
    msort(c, at, l.l->v, keys, n, tv, tk, rev);
    return l;
}

static jv dict_items(jctx *c, const jv *d) {
    jv l = jv_list(c, d->t == V_DICT ? d->d->n : 0);
    for (size_t i = 0; d->t == V_DICT && i < d->d->n && !c->st; i++) {
        jv t = jv_list(c, 2);
        if (c->st) break;
        t.l->tuple = true;
        jlist_push(c, t.l, d->d->k[i]);
        jlist_push(c, t.l, d->d->v[i]);
        jlist_push(c, l.l, t);
    }
    return l;
}

int jv_contains(jctx *c, const jnode *at, const jv *cont, const jv *item) {
    if (!jcharge(c, cont->t == V_STR ? cont->n : cont->t == V_LIST ? cont->l->n * 4 : 0)) return -1;
    switch (cont->t) {
    case V_STR:
        if (item->t != V_STR) {
            jfail(c, at, KEN_ERR_FORMAT, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
            return -1;
        }
        return memfind(cont->s, cont->n, item->s, item->n) != NULL;
    case V_LIST:
        for (size_t i = 0; i < cont->l->n; i++)
            if (jv_eq(&cont->l->v[i], item)) return 1;
        return 0;
    case V_DICT:
        if (cont->d->ns || cont->d->loop) {
            jfail(c, at, KEN_ERR_FORMAT, "argument of type '%s' is not iterable", jv_type_name(cont));
            return -1;
        }
        if (item->t == V_DICT || (item->t == V_LIST && !item->l->tuple)) {
            jfail(c, at, KEN_ERR_FORMAT, "unhashable type: '%s'", jv_type_name(item));
            return -1;
        }
        return jdict_get(cont->d, item) != NULL;
    case V_UNDEF: return 0;
    default:
        jfail(c, at, KEN_ERR_FORMAT, "argument of type '%s' is not iterable", jv_type_name(cont));
        return -1;
    }
}

static jv str_is(jctx *c, const jv *s, const char *name);

/* ------------------------------------------------------------- tests */

static int apply_test(jctx *c, const jnode *at, const char *name, const jv *x, const jargs *a) {
    const jv *y = arg(a, 0, NULL);
    bool ok;
#define IS(s) (strcmp(name, s) == 0)
    if (IS("defined")) return x->t != V_UNDEF;
    if (IS("undefined")) return x->t == V_UNDEF;
    if (IS("none")) return x->t == V_NONE;
    if (IS("string")) return x->t == V_STR;
    bool plain_dict = x->t == V_DICT && !x->d->ns && !x->d->loop;
    if (IS("mapping")) return plain_dict;
    if (IS("sequence")) return x->t == V_STR || x->t == V_LIST || plain_dict || x->t == V_UNDEF;
    if (IS("iterable")) return x->t == V_STR || x->t == V_LIST || plain_dict || x->t == V_UNDEF ||
                               (x->t == V_DICT && x->d->loop);
    if (IS("number")) return x->t == V_INT || x->t == V_FLOAT || x->t == V_BOOL;
    if (IS("integer")) return x->t == V_INT;
    if (IS("float")) return x->t == V_FLOAT;
    if (IS("boolean")) return x->t == V_BOOL;
    if (IS("true")) return x->t == V_BOOL && x->i;
    if (IS("false")) return x->t == V_BOOL && !x->i;
    if (IS("callable")) return x->t == V_FUNC;
    if (IS("escaped")) return 0;
    if (IS("lower") || IS("upper")) {  /* str(value).islower(): needs a cased character */
        jv t = jv_to_str(c, x);
        if (c->st) return -1;
        return jv_truthy((jv[]){str_is(c, &t, IS("lower") ? "islower" : "isupper")});
    }
    if (IS("odd") || IS("even")) {  /* value % 2 == 1 / == 0, floats included */
        if (x->t == V_FLOAT) return fmod(fmod(x->f, 2.0) + 2.0, 2.0) == (IS("odd") ? 1.0 : 0.0);
        if (x->t != V_INT && x->t != V_BOOL) return jfail(c, at, KEN_ERR_FORMAT, "odd/even need a number"), -1;
        return IS("odd") ? (x->i & 1) != 0 : (x->i & 1) == 0;
    }
    if (!y) {
        jfail(c, at, KEN_ERR_FORMAT, "unknown test '%s' or missing argument", name);
        return -1;
    }
    if (IS("equalto") || IS("eq") || IS("==") || IS("sameas")) return jv_eq(x, y);
    if (IS("ne") || IS("!=")) return !jv_eq(x, y);
    if (IS("in")) return jv_contains(c, at, y, x);
    if (IS("divisibleby")) {  /* value % num == 0 */
        bool xn = x->t == V_INT || x->t == V_BOOL || x->t == V_FLOAT, yn = y->t == V_INT || y->t == V_BOOL || y->t == V_FLOAT;
        if (!xn || !yn || (y->t == V_FLOAT ? y->f == 0 : y->i == 0))
            return jfail(c, at, KEN_ERR_FORMAT, "divisibleby needs numbers and a nonzero divisor"), -1;
        if (x->t == V_FLOAT || y->t == V_FLOAT)
            return fmod(x->t == V_FLOAT ? x->f : (double)x->i, y->t == V_FLOAT ? y->f : (double)y->i) == 0;
        return y->i == -1 ? 1 : x->i % y->i == 0;
    }
    int r = 0;
    if (IS("gt") || IS("greaterthan") || IS(">")) r = jv_cmp(x, y, &ok) > 0;
    else if (IS("ge") || IS(">=")) r = jv_cmp(x, y, &ok) >= 0;
    else if (IS("lt") || IS("lessthan") || IS("<")) r = jv_cmp(x, y, &ok) < 0;
    else if (IS("le") || IS("<=")) r = jv_cmp(x, y, &ok) <= 0;
    else return jfail(c, at, KEN_ERR_FORMAT, "no test named '%s'", name), -1;
    if (!ok) return jfail(c, at, KEN_ERR_FORMAT, "cannot compare '%s' with '%s'", jv_type_name(x), jv_type_name(y)), -1;
    return r;
#undef IS
}

int jtest(jctx *c, const jnode *n, jframe *f) {
    jv x = jeval(c, n->a, f);
    jargs a;
    if (c->st || !eval_args(c, n, f, &a, NULL)) return -1;
    return apply_test(c, n, n->s, &x, &a);
}

/* ------------------------------------------------------------ filters */

static jv apply_filter(jctx *c, const jnode *at, const char *name, jargs *a);

/* select/reject/selectattr/rejectattr/map over an iterable. */
static jv filter_seq(jctx *c, const jnode *at, const char *name, jargs *a) {
    bool attr = strstr(name, "attr") != NULL, reject = name[0] == 'r', map = strcmp(name, "map") == 0;
    jlist items = {0};
    /* Jinja: "if value: for item in value": a false input gives nothing */
    if (jv_truthy(&a->pos[0]) && !jv_iter(c, at, &a->pos[0], &items)) return JV_UNDEF_INIT;
    jv out = jv_list(c, items.n);
    const jv *attr_name = map ? arg(a, -1, "attribute") : attr ? arg(a, 1, NULL) : NULL;
    int first_extra = attr ? 2 : 1;
    if (attr && !attr_name) return jfail(c, at, KEN_ERR_FORMAT, "%s needs an attribute name", name);
    for (size_t i = 0; i < items.n && !c->st; i++) {
        jv x = items.v[i];
        jv v = attr_name ? get_path(c, &x, attr_name) : x;
        if (map) {
            if (attr_name) {
                const jv *def = arg(a, -1, "default");
                if (v.t == V_UNDEF && def) v = *def;
            } else {
                const jv *fname = arg(a, 1, NULL);
                if (!fname || fname->t != V_STR) return jfail(c, at, KEN_ERR_FORMAT, "map needs a filter name or attribute=");
                jargs sub = {0};
                sub.pos[sub.npos++] = x;
                for (int k = 2; k < a->npos; k++) sub.pos[sub.npos++] = a->pos[k];
                for (int k = 0; k < a->nkw; k++) sub.kwn[sub.nkw] = a->kwn[k], sub.kwv[sub.nkw++] = a->kwv[k];
                v = apply_filter(c, at, fname->s, &sub);
            }
            jlist_push(c, out.l, v);
            continue;
        }
        int keep;
        const jv *tname = arg(a, first_extra, NULL);
        if (!tname) {
            keep = jv_truthy(&v);
        } else {
            if (!need_str(c, at, tname, "test name")) break;
            jargs sub = {0};
            for (int k = first_extra + 1; k < a->npos; k++) sub.pos[sub.npos++] = a->pos[k];
            keep = apply_test(c, at, tname->s, &v, &sub);
            if (keep < 0) break;
        }
        if (keep != reject) jlist_push(c, out.l, x);
    }
    return out;
}

static jv filter_indent(jctx *c, const jv *s, jargs *a) {
    const jv *w = arg(a, 1, "width");
    jv ind = w && w->t == V_STR ? *w : JV_UNDEF_INIT;
    char spaces[256];
    if (ind.t != V_STR) {
        int64_t k = w ? arg_int(a, 1, "width", 4) : 4;
        if (k < 0) k = 0;
        if (k > 255) k = 255;
        memset(spaces, ' ', (size_t)k);
        ind = jv_strref(spaces, (size_t)k);
    }
    bool first = arg_true(a, 2, "first"), blank = arg_true(a, 3, "blank");
    ken_buf b;
    ken_buf_init(&b, c->out_max);
    if (first) ken_buf_append(&b, ind.s, ind.n);
    size_t i = 0;
    bool line0 = true;
    /* lines of s + "\n" as splitlines() gives them */
    while (i < s->n) {
        const char *nl = memchr(s->s + i, '\n', s->n - i);
        size_t e = nl ? (size_t)(nl - s->s) : s->n;
        if (!line0) {
            ken_buf_putc(&b, '\n');
            if (blank || e > i) ken_buf_append(&b, ind.s, ind.n);
        }
        ken_buf_append(&b, s->s + i, e - i);
        line0 = false;
        i = e + 1;
    }
    if (s->n && s->s[s->n - 1] == '\n') ken_buf_putc(&b, '\n');
    if (b.len >= c->out_max) jfail(c, NULL, KEN_ERR_LIMIT, "indent output too long");
    return buf_value(c, &b);
}

static jv filter_join(jctx *c, const jnode *at, jargs *a) {
    jlist items;
    if (!jv_iter(c, at, &a->pos[0], &items)) return JV_UNDEF_INIT;
    const jv *sep = arg(a, 1, "d"), *attr = arg(a, 2, "attribute");
    jv sv = sep ? jv_to_str(c, sep) : jv_strref("", 0);
    ken_buf b;
    ken_buf_init(&b, c->out_max);
    for (size_t i = 0; i < items.n && !c->st; i++) {
        jv x = attr ? get_path(c, &items.v[i], attr) : items.v[i];
        jv s = jv_to_str(c, &x);
        if (c->st) break;
        if ((i && ken_buf_append(&b, sv.s, sv.n)) || ken_buf_append(&b, s.s, s.n)) {
            jfail(c, at, KEN_ERR_LIMIT, "join output too long");
            break;
        }
    }
    return buf_value(c, &b);
}

static jv filter_unique(jctx *c, const jnode *at, jargs *a) {
    jlist items;
    if (!jv_iter(c, at, &a->pos[0], &items)) return JV_UNDEF_INIT;
    bool cs = arg_true(a, 1, "case_sensitive");
    const jv *attr = arg(a, 2, "attribute");
    jv out = jv_list(c, 0), seen = jv_list(c, 0);
    for (size_t i = 0; i < items.n && !c->st; i++) {
        jv k = sort_key(c, &items.v[i], attr, cs);
        if (jv_contains(c, at, &seen, &k)) continue;
        jlist_push(c, seen.l, k);
        jlist_push(c, out.l, items.v[i]);
    }
    return out;
}

static jv filter_minmax(jctx *c, const jnode *at, jargs *a, bool max) {
    jv l = sorted(c, at, &a->pos[0], arg(a, 2, "attribute"), arg_true(a, 1, "case_sensitive"), false, -1);
    if (c->st || l.l->n == 0) return JV_UNDEF_INIT;
    return max ? l.l->v[l.l->n - 1] : l.l->v[0];
}

static jv filter_round(jctx *c, const jnode *at, jargs *a) {
    const jv *x = &a->pos[0];
    int64_t prec = arg_int(a, 1, "precision", 0);
    const jv *m = arg(a, 2, "method");
    if (x->t != V_INT && x->t != V_FLOAT && x->t != V_BOOL)
        return jfail(c, at, KEN_ERR_FORMAT, "round needs a number");
    double v = x->t == V_FLOAT ? x->f : (double)x->i, s = pow(10.0, (double)prec);
    if (m && m->t == V_STR && strcmp(m->s, "floor") == 0) return jv_float(floor(v * s) / s);
    if (m && m->t == V_STR && strcmp(m->s, "ceil") == 0) return jv_float(ceil(v * s) / s);
    if (x->t != V_FLOAT && !(m && m->t == V_STR && strcmp(m->s, "common") != 0)) return jv_int(x->i);
    return jv_float(nearbyint(v * s) / s);
}

static jv filter_int(jctx *c, jargs *a) {
    const jv *x = &a->pos[0];
    int64_t def = arg_int(a, 1, "default", 0);
    if (x->t == V_INT || x->t == V_BOOL) return jv_int(x->i);
    if (x->t == V_FLOAT) return isfinite(x->f) && fabs(x->f) < 9.2e18 ? jv_int((int64_t)x->f) : jv_int(def);
    if (x->t == V_STR) {
        char *e;
        jv t = str_strip(x, NULL, 3);
        char buf[64];
        if (t.n == 0 || t.n >= sizeof buf) return jv_int(def);
        memcpy(buf, t.s, t.n);
        buf[t.n] = 0;
        long long v = strtoll(buf, &e, 10);
        if (*e == 0) return jv_int(v);
        double d = strtod(buf, &e);
        if (*e == 0 && isfinite(d) && fabs(d) < 9.2e18) return jv_int((int64_t)d);
    }
    (void)c;
    return jv_int(def);
}

static jv filter_float(jargs *a) {
    const jv *x = &a->pos[0];
    const jv *d = arg(a, 1, "default");
    double def = d && (d->t == V_FLOAT || d->t == V_INT) ? (d->t == V_FLOAT ? d->f : (double)d->i) : 0.0;
    if (x->t == V_INT || x->t == V_BOOL) return jv_float((double)x->i);
    if (x->t == V_FLOAT) return *x;
    if (x->t == V_STR && x->n && x->n < 64) {
        char buf[64], *e;
        memcpy(buf, x->s, x->n);
        buf[x->n] = 0;
        double v = strtod(buf, &e);
        if (*e == 0) return jv_float(v);
    }
    return jv_float(def);
}

static jv first_last(jctx *c, const jnode *at, const jv *x, bool last) {
    jlist items;
    if (!jv_iter(c, at, x, &items) || items.n == 0) return JV_UNDEF_INIT;
    return items.v[last ? items.n - 1 : 0];
}

static jv html_escape(jctx *c, const jv *s) {
    ken_buf b;
    ken_buf_init(&b, c->out_max);
    for (size_t i = 0; i < s->n; i++) {
        char ch = s->s[i];
        if (ch == '&') ken_buf_puts(&b, "&amp;");
        else if (ch == '<') ken_buf_puts(&b, "&lt;");
        else if (ch == '>') ken_buf_puts(&b, "&gt;");
        else if (ch == '"') ken_buf_puts(&b, "&#34;");
        else if (ch == '\'') ken_buf_puts(&b, "&#39;");
        else ken_buf_putc(&b, ch);
    }
    return buf_value(c, &b);
}

static jv apply_filter(jctx *c, const jnode *at, const char *name, jargs *a) {
    jv *x = &a->pos[0];
#define IS(s) (strcmp(name, s) == 0)
    if (IS("safe")) return *x;
    if (IS("list")) return to_list(c, at, x);
    if (IS("string")) return jv_to_str(c, x);
    if (IS("length") || IS("count")) {
        if (x->t == V_STR && !jcharge(c, x->n)) return JV_UNDEF_INIT;
        if (x->t == V_STR) return jv_int((int64_t)utf8_count(x->s, x->n));
        if (x->t == V_LIST) return jv_int((int64_t)x->l->n);
        if (x->t == V_DICT && !x->d->ns && !x->d->loop) return jv_int((int64_t)x->d->n);
        if (x->t == V_UNDEF) return jv_int(0);
        return jfail(c, at, KEN_ERR_FORMAT, "object of type '%s' has no len()", jv_type_name(x));
    }
    if (IS("default") || IS("d")) {
        const jv *def = arg(a, 1, "default_value");
        bool boolean = arg_true(a, 2, "boolean");
        if (x->t == V_UNDEF || (boolean && !jv_truthy(x))) return def ? *def : jv_strref("", 0);
        return *x;
    }
    if (IS("tojson")) {
        /* transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) */
        const jv *ind = arg(a, 2, "indent");
        int indent = ind && (ind->t == V_INT) ? (int)KEN_MAX(0, KEN_MIN(ind->i, 64)) : -1;
        return to_json(c, x, indent, arg_true(a, 4, "sort_keys"), arg(a, 3, "separators"),
                       arg_true(a, 1, "ensure_ascii"));
    }
    if (IS("items")) {
        if (x->t == V_UNDEF) return jv_list(c, 0);
        if (x->t != V_DICT) return jfail(c, at, KEN_ERR_FORMAT, "items needs a mapping, got %s", jv_type_name(x));
        return dict_items(c, x);
    }
    if (IS("dictsort")) {
        if (x->t != V_DICT) return jfail(c, at, KEN_ERR_FORMAT, "dictsort needs a mapping, got %s", jv_type_name(x));
        jv items = dict_items(c, x);
        const jv *by = arg(a, 2, "by");
        int which = by && by->t == V_STR && strcmp(by->s, "value") == 0 ? 1 : 0;
        jv l = jv_list(c, 0);
        if (c->st) return l;
        /* sort the (k, v) pairs by element `which` */
        jv *keys = jalloc(c, (items.l->n + 1) * sizeof *keys), *tv = jalloc(c, (items.l->n + 1) * sizeof *tv);
        jv *tk = jalloc(c, (items.l->n + 1) * sizeof *tk);
        if (!keys || !tv || !tk) return JV_UNDEF_INIT;
        bool cs = arg_true(a, 1, "case_sensitive");
        for (size_t i = 0; i < items.l->n; i++) keys[i] = sort_key(c, &items.l->v[i].l->v[which], NULL, cs);
        msort(c, at, items.l->v, keys, items.l->n, tv, tk, arg_true(a, 3, "reverse"));
        return items;
    }
    if (IS("sort")) return sorted(c, at, x, arg(a, 3, "attribute"), arg_true(a, 2, "case_sensitive"), arg_true(a, 1, "reverse"), -1);
    if (IS("reverse")) {
        if (x->t == V_STR) {
            jv l = to_list(c, at, x);
            ken_buf b;
            ken_buf_init(&b, c->out_max);
            for (size_t i = l.l ? l.l->n : 0; i-- > 0;) ken_buf_append(&b, l.l->v[i].s, l.l->v[i].n);
            return buf_value(c, &b);
        }
        jv l = to_list(c, at, x), r = jv_list(c, l.l ? l.l->n : 0);
        for (size_t i = l.l ? l.l->n : 0; i-- > 0 && !c->st;) jlist_push(c, r.l, l.l->v[i]);
        return r;
    }
    if (IS("first") || IS("last")) return first_last(c, at, x, IS("last"));
    if (IS("join")) return filter_join(c, at, a);
    if (IS("unique")) return filter_unique(c, at, a);
    if (IS("map") || IS("select") || IS("reject") || IS("selectattr") || IS("rejectattr")) return filter_seq(c, at, name, a);
    if (IS("max") || IS("min")) return filter_minmax(c, at, a, IS("max"));
    if ((IS("int") || IS("float")) && x->t == V_UNDEF)  /* int(Undefined) raises */
        return jfail(c, at, KEN_ERR_FORMAT, "the value given to %s is undefined", name);
    if (IS("int")) return filter_int(c, a);
    if (IS("float")) return filter_float(a);
    if (IS("round")) return filter_round(c, at, a);
    if (IS("abs")) {
        if (x->t == V_FLOAT) return jv_float(fabs(x->f));
        if ((x->t == V_INT || x->t == V_BOOL) && x->i != INT64_MIN) return jv_int(x->i < 0 ? -x->i : x->i);
        return jfail(c, at, KEN_ERR_FORMAT, "bad operand type for abs()");
    }
    if (IS("attr")) {
        const jv *n = arg(a, 1, NULL);
        return n && x->t == V_DICT ? get_path(c, x, n) : JV_UNDEF_INIT;
    }
    if (IS("sum")) {
        jlist items;
        const jv *attr = arg(a, 1, "attribute"), *start = arg(a, 2, "start");
        if (!jv_iter(c, at, x, &items)) return JV_UNDEF_INIT;
        jv acc = start ? *start : jv_int(0);
        jnode add = {.kind = JN_BIN, .op = JOP_ADD, .line = at ? at->line : 0, .col = at ? at->col : 0};
        for (size_t i = 0; i < items.n && !c->st; i++) {
            jv v = attr ? get_path(c, &items.v[i], attr) : items.v[i];
            if (!(acc.t == V_INT || acc.t == V_BOOL || acc.t == V_FLOAT) || !(v.t == V_INT || v.t == V_BOOL || v.t == V_FLOAT))
                return jfail(c, at, KEN_ERR_FORMAT, "unsupported operand types for +: '%s' and '%s'", jv_type_name(&acc), jv_type_name(&v));
            if (acc.t == V_FLOAT || v.t == V_FLOAT) acc = jv_float((acc.t == V_FLOAT ? acc.f : (double)acc.i) + (v.t == V_FLOAT ? v.f : (double)v.i));
            else if (__builtin_add_overflow(acc.i, v.i, &acc.i)) return jfail(c, &add, KEN_ERR_UNSUPPORTED, "integer overflow");
            else acc.t = V_INT;
        }
        return acc;
    }
    /* string filters: the input is converted with str() */
    jv s = jv_to_str(c, x);
    if (c->st || !jcharge(c, s.n)) return JV_UNDEF_INIT;
    if (IS("trim")) return str_strip(&s, arg(a, 1, "chars"), 3);
    if (IS("upper")) return str_case(c, &s, 1);
    if (IS("lower")) return str_case(c, &s, 0);
    if (IS("capitalize")) return str_case(c, &s, 2);
    if (IS("title")) return str_case(c, &s, 4);
    if (IS("indent")) {  /* Jinja appends "\n" to the value: only strings work */
        if (x->t != V_STR) return jfail(c, at, KEN_ERR_FORMAT, "indent needs a string, got %s", jv_type_name(x));
        return filter_indent(c, &s, a);
    }
    if (IS("e") || IS("escape") || IS("forceescape")) return html_escape(c, &s);
    if (IS("format")) {  /* "fmt"|format(a, b) is fmt % (a, b) */
        jv t = jv_list(c, (size_t)(a->npos > 1 ? a->npos - 1 : 1));
        for (int k = 1; k < a->npos && !c->st; k++) jlist_push(c, t.l, a->pos[k]);
        if (c->st) return t;
        t.l->tuple = true;
        if (a->nkw && a->npos <= 1) {  /* format(name=value): a mapping */
            t = jv_dict(c);
            for (int k = 0; k < a->nkw && !c->st; k++) jdict_setn(c, t.d, a->kwn[k], a->kwv[k]);
        }
        return percent_format(c, at, &s, &t);
    }
    if (IS("wordcount")) {  /* runs of \w (letters, numbers, '_'), as Jinja's regex */
        int64_t words = 0;
        bool in_word = false;
        for (size_t i = 0; i < s.n;) {
            int32_t cp = cp_next(s.s, s.n, &i);
            int cat = utf8proc_category(cp);
            bool w = cp == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
                     (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
            words += w && !in_word;
            in_word = w;
        }
        return jv_int(words);
    }
    if (IS("replace")) {
        const jv *o = arg(a, 1, "old"), *nw = arg(a, 2, "new");
        if (!o || !nw) return jfail(c, at, KEN_ERR_FORMAT, "replace needs old and new");
        jv os = jv_to_str(c, o), ns = jv_to_str(c, nw);
        if (c->st) return os;
        return str_replace(c, &s, &os, &ns, arg_int(a, 3, "count", -1));
    }
    return jfail(c, at, KEN_ERR_UNSUPPORTED, "no filter named '%s'", name);
#undef IS
}

jv jfilter(jctx *c, const jnode *n, jframe *f, const jv *input) {
    jv x;
    if (!n->a) x = input ? *input : JV_UNDEF_INIT;
    else if (input && n->a->kind == JN_FILTER) x = jfilter(c, n->a, f, input);
    else x = jeval(c, n->a, f);
    jargs a;
    if (c->st || !eval_args(c, n, f, &a, &x)) return JV_UNDEF_INIT;
    return apply_filter(c, n, n->s, &a);
}

/* ------------------------------------------------------------ methods */

static const char *const str_methods[] = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "replace", "upper",
    "lower", "title", "capitalize", "find", "rfind", "index", "count", "join", "format", "splitlines",
    "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "removeprefix",
    "removesuffix", NULL};
static const char *const dict_methods[] = {"items", "keys", "values", "get", NULL};

static bool in_list(const char *const *names, const char *s) {
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) return true;
    return false;
}

jv jmethod_bind(jctx *c, const jv *obj, const char *name) {
    bool ok = (obj->t == V_STR && in_list(str_methods, name)) ||
              (obj->t == V_DICT && in_list(dict_methods, name)) ||
              (obj->t == V_DICT && obj->d->loop && strcmp(name, "cycle") == 0);
    if (!ok) return JV_UNDEF_INIT;
    jv fn = {.t = V_FUNC};
    fn.fn = jalloc(c, sizeof *fn.fn);
    if (!fn.fn) return JV_UNDEF_INIT;
    memset(fn.fn, 0, sizeof *fn.fn);
    fn.fn->kind = JF_METHOD;
    fn.fn->name = name;
    fn.fn->self = *obj;
    return fn;
}

static jv affix(const jv *s, const jargs *a, bool end) {
    const jv *p = arg(a, 0, NULL);
    if (!p) return jv_bool(false);
    jlist opts = {0};
    if (p->t == V_LIST) opts = *p->l;
    else opts.v = (jv *)p, opts.n = 1;
    for (size_t i = 0; i < opts.n; i++) {
        const jv *q = &opts.v[i];
        if (q->t != V_STR || q->n > s->n) continue;
        if (memcmp(end ? s->s + s->n - q->n : s->s, q->s, q->n) == 0) return jv_bool(true);
    }
    return jv_bool(false);
}

/* str.format with "{}", "{0}" and "{name}" fields (no format specs). */
/* rsplit(sep, maxsplit) with maxsplit >= 0: the splits taken from the end. */
static jv str_rsplit(jctx *c, const jnode *at, const jv *s, const jv *sep, int64_t maxsplit) {
    if (!sep || sep->t != V_STR)
        return jfail(c, at, KEN_ERR_UNSUPPORTED, "rsplit with maxsplit needs a separator here");
    if (sep->n == 0) return jfail(c, at, KEN_ERR_FORMAT, "empty separator");
    size_t cuts[64], nc = 0, e = s->n;
    while ((int64_t)nc < maxsplit && nc < KEN_ARRAY_LEN(cuts) && e >= sep->n) {
        size_t i = e - sep->n + 1;
        bool found = false;
        while (i-- > 0)
            if (memcmp(s->s + i, sep->s, sep->n) == 0) { found = true; break; }
        if (!found) break;
        cuts[nc++] = i;
        e = i;
    }
    if (nc == KEN_ARRAY_LEN(cuts) && (int64_t)nc < maxsplit)
        return jfail(c, at, KEN_ERR_UNSUPPORTED, "rsplit with more than %zu splits", nc);
    jv l = jv_list(c, nc + 1);
    size_t start = 0;
    for (size_t k = nc; k-- > 0 && !c->st;) {
        jlist_push(c, l.l, jv_strref(s->s + start, cuts[k] - start));
        start = cuts[k] + sep->n;
    }
    if (!c->st) jlist_push(c, l.l, jv_strref(s->s + start, s->n - start));
    return l;
}

static jv str_format(jctx *c, const jnode *at, const jv *s, const jargs *a) {
    ken_buf b;
    ken_buf_init(&b, c->out_max);
    int auto_ix = 0;
    for (size_t i = 0; i < s->n && !c->st; i++) {
        char ch = s->s[i];
        if ((ch == '{' || ch == '}') && i + 1 < s->n && s->s[i + 1] == ch) {
            ken_buf_putc(&b, ch);
            i++;
            continue;
        }
        if (ch != '{') {
            ken_buf_putc(&b, ch);
            continue;
        }
        const char *e = memchr(s->s + i, '}', s->n - i);
        if (!e) return ken_buf_free(&b), jfail(c, at, KEN_ERR_FORMAT, "single '{' in format string");
        size_t fl = (size_t)(e - s->s) - i - 1;
        char field[64];
        snprintf(field, sizeof field, "%.*s", (int)KEN_MIN(fl, 63), s->s + i + 1);
        const jv *v;
        if (fl == 0) v = arg(a, auto_ix++, NULL);
        else if (field[0] >= '0' && field[0] <= '9') v = arg(a, atoi(field), NULL);
        else v = arg(a, -1, field);
        if (!v) return ken_buf_free(&b), jfail(c, at, KEN_ERR_FORMAT, "format field '%s' has no argument", field);
        jv t = jv_to_str(c, v);
        if (!c->st) ken_buf_append(&b, t.s, t.n);
        i = (size_t)(e - s->s);
    }
    return buf_value(c, &b);
}

static jv str_find(const jv *s, const jargs *a, bool rev, bool count) {
    const jv *sub = arg(a, 0, NULL);
    if (!sub || sub->t != V_STR) return jv_int(-1);
    int64_t k = 0;
    const char *last = NULL;
    for (size_t i = 0; i <= s->n;) {
        const char *q = memfind(s->s + i, s->n - i, sub->s, sub->n);
        if (!q) break;
        if (!rev && !count) return jv_int((int64_t)utf8_count(s->s, (size_t)(q - s->s)));
        last = q;
        k++;
        i = (size_t)(q - s->s) + (sub->n ? sub->n : 1);
    }
    if (count) return jv_int(k);
    return jv_int(last ? (int64_t)utf8_count(s->s, (size_t)(last - s->s)) : -1);
}

static jv str_is(jctx *c, const jv *s, const char *name) {
    if (s->n == 0) return jv_bool(false);
    bool cased = false;
    for (size_t i = 0; i < s->n;) {
        int32_t cp = cp_next(s->s, s->n, &i);
        int cat = utf8proc_category(cp);
        bool alpha = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        bool digit = cat == UTF8PROC_CATEGORY_ND;
        if (!strcmp(name, "isdigit") && !digit) return jv_bool(false);
        if (!strcmp(name, "isalpha") && !alpha) return jv_bool(false);
        if (!strcmp(name, "isalnum") && !alpha && !digit) return jv_bool(false);
        if (!strcmp(name, "isspace") && !py_space(cp)) return jv_bool(false);
        if (!strcmp(name, "islower") && utf8proc_toupper(cp) != cp) cased = true;
        if (!strcmp(name, "islower") && utf8proc_tolower(cp) != cp) return jv_bool(false);
        if (!strcmp(name, "isupper") && utf8proc_tolower(cp) != cp) cased = true;
        if (!strcmp(name, "isupper") && utf8proc_toupper(cp) != cp) return jv_bool(false);
    }
    (void)c;
    if (!strcmp(name, "islower") || !strcmp(name, "isupper")) return jv_bool(cased);
    return jv_bool(true);
}

static jv call_str_method(jctx *c, const jnode *at, const jv *s, const char *m, jargs *a) {
    if (!jcharge(c, s->n)) return JV_UNDEF_INIT;  /* every method may scan the string */
#define IS(x) (strcmp(m, x) == 0)
    if (IS("strip") || IS("lstrip") || IS("rstrip")) {
        const jv *ch = arg(a, 0, "chars");
        return str_strip(s, ch && ch->t == V_STR ? ch : NULL, IS("strip") ? 3 : IS("lstrip") ? 1 : 2);
    }
    if (IS("split") || IS("rsplit")) {
        const jv *sep = arg(a, 0, "sep");
        if (IS("rsplit") && arg_int(a, 1, "maxsplit", -1) >= 0)
            return str_rsplit(c, at, s, sep, arg_int(a, 1, "maxsplit", -1));
        return str_split(c, s, sep && sep->t == V_STR ? sep : NULL, arg_int(a, 1, "maxsplit", -1));
    }
    if (IS("startswith") || IS("endswith")) return affix(s, a, IS("endswith"));
    if (IS("removeprefix") || IS("removesuffix")) {
        jargs one = *a;
        bool end = IS("removesuffix");
        const jv *p = arg(a, 0, NULL);
        if (!p || p->t != V_STR) return *s;
        one.npos = 1;
        if (!jv_truthy((jv[]){affix(s, &one, end)})) return *s;
        return end ? jv_strref(s->s, s->n - p->n) : jv_strref(s->s + p->n, s->n - p->n);
    }
    if (IS("replace")) {
        const jv *o = arg(a, 0, NULL), *nw = arg(a, 1, NULL);
        if (!need_str(c, at, o, "replace") || !need_str(c, at, nw, "replace")) return JV_UNDEF_INIT;
        return str_replace(c, s, o, nw, arg_int(a, 2, "count", -1));
    }
    if (IS("upper")) return str_case(c, s, 1);
    if (IS("lower")) return str_case(c, s, 0);
    if (IS("title")) return str_case(c, s, 3);
    if (IS("capitalize")) return str_case(c, s, 2);
    if (IS("find") || IS("index")) {
        jv r = str_find(s, a, false, false);
        if (IS("index") && r.i < 0) return jfail(c, at, KEN_ERR_FORMAT, "substring not found");
        return r;
    }
    if (IS("rfind")) return str_find(s, a, true, false);
    if (IS("count")) return str_find(s, a, false, true);
    if (IS("format")) return str_format(c, at, s, a);
    if (IS("join")) {
        jargs j = {0};
        j.pos[0] = a->npos ? a->pos[0] : JV_UNDEF_INIT;
        j.pos[1] = *s;
        j.npos = 2;
        return filter_join(c, at, &j);
    }
    if (IS("splitlines")) {
        jv sep = jv_strref("\n", 1);
        jv l = str_split(c, s, &sep, -1);
        if (!c->st && l.l->n && s->n && s->s[s->n - 1] == '\n') l.l->n--;
        if (!c->st && s->n == 0) l.l->n = 0;
        return l;
    }
    return str_is(c, s, m);
#undef IS
}

static jv call_method(jctx *c, const jnode *at, jfunc *fn, jargs *a) {
    jv *self = &fn->self;
    if (self->t == V_STR) return call_str_method(c, at, self, fn->name, a);
    if (strcmp(fn->name, "cycle") == 0) {
        jv *ix = jdict_getn(self->d, "index0", 6);
        if (!a->npos || !ix) return JV_UNDEF_INIT;
        return a->pos[ix->i % a->npos];
    }
    if (strcmp(fn->name, "items") == 0) return dict_items(c, self);
    if (strcmp(fn->name, "get") == 0) {
        const jv *k = arg(a, 0, NULL), *d = arg(a, 1, "default");
        jv *v = k ? jdict_get(self->d, k) : NULL;
        return v ? *v : d ? *d : jv_none();
    }
    bool keys = strcmp(fn->name, "keys") == 0;
    jv l = jv_list(c, self->d->n);
    for (size_t i = 0; i < self->d->n && !c->st; i++) jlist_push(c, l.l, keys ? self->d->k[i] : self->d->v[i]);
    return l;
}

/* ------------------------------------------------------------ globals */

static const char *const global_names[] = {"range", "namespace", "dict", "raise_exception",
                                           "strftime_now", NULL};

jv jglobal(jctx *c, const char *name) {
    for (int i = 0; global_names[i]; i++)
        if (strcmp(global_names[i], name) == 0) {
            jv fn = {.t = V_FUNC};
            fn.fn = jalloc(c, sizeof *fn.fn);
            if (!fn.fn) return JV_UNDEF_INIT;
            memset(fn.fn, 0, sizeof *fn.fn);
            fn.fn->kind = JF_GLOBAL;
            fn.fn->name = global_names[i];
            return fn;
        }
    return JV_UNDEF_INIT;
}

static jv call_global(jctx *c, const jnode *at, const char *name, jargs *a) {
    if (strcmp(name, "range") == 0) {
        int64_t lo = 0, hi, st = 1;
        for (int i = 0; i < a->npos; i++)
            if (a->pos[i].t != V_INT && a->pos[i].t != V_BOOL)
                return jfail(c, at, KEN_ERR_FORMAT, "range() needs integers");
        if (a->npos == 1) hi = a->pos[0].i;
        else if (a->npos == 2 || a->npos == 3) lo = a->pos[0].i, hi = a->pos[1].i, st = a->npos == 3 ? a->pos[2].i : 1;
        else return jfail(c, at, KEN_ERR_FORMAT, "range() takes 1 to 3 arguments");
        if (st == 0) return jfail(c, at, KEN_ERR_FORMAT, "range() step must not be zero");
        double cnt = st > 0 ? ceil(((double)hi - (double)lo) / (double)st) : ceil(((double)lo - (double)hi) / (double)-st);
        if (cnt > RANGE_MAX) return jfail(c, at, KEN_ERR_LIMIT, "range too big (more than %d items)", RANGE_MAX);
        jv l = jv_list(c, cnt > 0 ? (size_t)cnt : 0);
        for (int64_t i = lo; (st > 0 ? i < hi : i > hi) && !c->st; i += st) jlist_push(c, l.l, jv_int(i));
        return l;
    }
    if (strcmp(name, "namespace") == 0 || strcmp(name, "dict") == 0) {
        jv d = jv_dict(c);
        if (c->st) return d;
        d.d->ns = name[0] == 'n';
        for (int i = 0; i < a->npos; i++)
            if (a->pos[i].t == V_DICT)
                for (size_t k = 0; k < a->pos[i].d->n; k++) jdict_set(c, d.d, a->pos[i].d->k[k], a->pos[i].d->v[k]);
        for (int k = 0; k < a->nkw; k++) jdict_setn(c, d.d, a->kwn[k], a->kwv[k]);
        return d;
    }
    if (strcmp(name, "raise_exception") == 0) {
        jv m = a->npos ? jv_to_str(c, &a->pos[0]) : jv_strref("", 0);
        if (c->st) return m;
        return jfail(c, at, KEN_ERR_FORMAT, "%s%.*s", KEN_JINJA_RAISE_PREFIX, (int)KEN_MIN(m.n, 600), m.s);
    }
    /* strftime_now(format): local time, as transformers does */
    if (a->npos < 1 || a->pos[0].t != V_STR) return jfail(c, at, KEN_ERR_FORMAT, "strftime_now needs a format string");
    time_t now = time(NULL);
    struct tm tmv;
    char out[256];
    if (!localtime_r(&now, &tmv)) return jfail(c, at, KEN_ERR_INTERNAL, "localtime failed");
    size_t k = a->pos[0].n < 128 ? strftime(out, sizeof out, a->pos[0].s, &tmv) : 0;
    return jv_str(c, out, k);
}

/* ------------------------------------------------------- macro calls */

static jv call_macro(jctx *c, const jnode *at, jfunc *fn, jargs *a, const jv *caller) {
    const jnode *m = fn->node;
    jframe *mf = jalloc(c, sizeof *mf);
    if (!mf) return JV_UNDEF_INIT;
    memset(mf, 0, sizeof *mf);
    mf->parent = fn->scope;
    mf->vars = jv_dict(c);
    if (c->st) return JV_UNDEF_INIT;
    for (int i = 0; i < m->nkids && !c->st; i++) {
        const char *pn = m->names[i];
        const jv *v = i < a->npos ? &a->pos[i] : arg(a, -1, pn);
        jv val = v ? *v : m->kids[i] ? jeval(c, m->kids[i], mf) : JV_UNDEF_INIT;
        jdict_setn(c, mf->vars.d, pn, val);
    }
    jv varargs = jv_list(c, 0), kwargs = jv_dict(c);
    for (int i = m->nkids; i < a->npos && !c->st; i++) jlist_push(c, varargs.l, a->pos[i]);
    for (int k = 0; k < a->nkw && !c->st; k++) {
        bool known = false;
        for (int i = 0; i < m->nkids; i++) known |= strcmp(m->names[i], a->kwn[k]) == 0;
        if (!known) jdict_setn(c, kwargs.d, a->kwn[k], a->kwv[k]);
    }
    if (c->st) return JV_UNDEF_INIT;
    jdict_setn(c, mf->vars.d, "varargs", varargs);
    jdict_setn(c, mf->vars.d, "kwargs", kwargs);
    if (caller) jdict_setn(c, mf->vars.d, "caller", *caller);
    bind_undef(c, m->b, mf);
    if (++c->depth > c->depth_max) {
        c->depth--;
        return jfail(c, at, KEN_ERR_LIMIT, "macro calls nested deeper than %d", c->depth_max);
    }
    int brk = c->brk;
    c->brk = 0;
    jv r = jcapture(c, m->b, mf);
    c->brk = brk;
    c->depth--;
    return r;
}

static jv call_value(jctx *c, const jnode *at, const jv *fv, jargs *a, const jv *caller) {
    if (fv->t != V_FUNC) {
        const char *nm = at->a->kind == JN_NAME ? at->a->s : at->a->kind == JN_ATTR ? at->a->s : "value";
        if (fv->t == V_UNDEF) return jfail(c, at, KEN_ERR_FORMAT, "'%s' is undefined", nm);
        return jfail(c, at, KEN_ERR_FORMAT, "'%s' object is not callable", jv_type_name(fv));
    }
    switch (fv->fn->kind) {
    case JF_MACRO: return call_macro(c, at, fv->fn, a, caller);
    case JF_METHOD: return call_method(c, at, fv->fn, a);
    default: return call_global(c, at, fv->fn->name, a);
    }
}

jv jcall(jctx *c, const jnode *n, jframe *f) {
    jv fv = jeval(c, n->a, f);
    jargs a;
    if (c->st || !eval_args(c, n, f, &a, NULL)) return JV_UNDEF_INIT;
    return call_value(c, n, &fv, &a, NULL);
}

/* {% call(params) m(args) %}body{% endcall %}: m gets caller(), which renders body. */
jv jcall_block(jctx *c, const jnode *n, jframe *f) {
    jv caller = {.t = V_FUNC};
    caller.fn = jalloc(c, sizeof *caller.fn);
    if (!caller.fn) return JV_UNDEF_INIT;
    memset(caller.fn, 0, sizeof *caller.fn);
    caller.fn->kind = JF_MACRO;
    caller.fn->node = n;      /* JN_CALLBLOCK: params in kids/names, body in b */
    caller.fn->name = "caller";
    caller.fn->scope = f;
    const jnode *call = n->a;
    jv fv = jeval(c, call->a, f);
    jargs a;
    if (c->st || !eval_args(c, call, f, &a, NULL)) return JV_UNDEF_INIT;
    return call_value(c, call, &fv, &a, &caller);
}
