/* ugm.c: the Unigram tokenizer (tokenizer.ggml.model = "t5": T5, XLM-RoBERTa
 * embedders and rerankers) as llama.cpp's llm_tokenizer_ugm does it:
 *
 * 1. normalize: the text goes through SentencePiece's precompiled charsmap
 *    (a double-array trie over byte strings whose leaves index NUL-ended
 *    replacements in a string pool), longest match first; a prefix that
 *    follows a path of the user-defined-token trie passes unchanged; an
 *    invalid UTF-8 byte becomes U+FFFD. Spaces become U+2581, runs of them
 *    collapse when remove_extra_whitespaces is set, and add_space_prefix
 *    puts one in front.
 * 2. segment: Viterbi over the normalized bytes. From each code point
 *    boundary every token that starts there (a walk of the token trie) is a
 *    candidate; the best sum of scores (in double, user-defined tokens
 *    score 0) wins, ties keep the earlier candidate. A code point no token
 *    covers by itself is also reachable as the unknown token, scored the
 *    lowest normal score minus 10. Backtracking gives the tokens; runs of
 *    unknowns become one.
 *
 * The charsmap comes from the file, so every index into it is checked: a
 * bad one is KEN_ERR_FORMAT (llama.cpp throws at the same points). */
#include "tok/tok_int.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* The normalized text of one fragment may not grow past this (a charsmap can
 * map one byte to a long string; the Viterbi needs 16 bytes per byte). */
#define UGM_NORM_MAX (2 * TOK_TEXT_MAX)

/* ------------------------------------------------------------ byte trie */

static uint32_t trie_child(const tok_trie *t, uint32_t node, unsigned char c) {
    uint32_t lo = t->first[node], hi = t->first[node + 1];
    while (lo < hi) {                      /* labels are sorted within a node */
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->label[mid] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < t->first[node + 1] && t->label[lo] == c ? t->child[lo] : 0;
}

/* How far s follows a path from the root, token or not (llama.cpp's
 * naive_trie::get_longest_prefix: the depth of the deepest node reached). */
static size_t trie_path_len(const tok_trie *t, const char *s, size_t n) {
    uint32_t node = 0;
    size_t k = 0;
    if (n == 0 || (node = t->root[(unsigned char)s[0]]) == 0) return 0;
    for (k = 1; k < n && (node = trie_child(t, node, (unsigned char)s[k])) != 0;) k++;
    return k;
}

typedef struct { const char *p; uint32_t n; int32_t id; } trie_key;

static int cmp_key(const void *a, const void *b) {
    const trie_key *x = a, *y = b;
    int c = memcmp(x->p, y->p, KEN_MIN(x->n, y->n));
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

void tok_trie_free(tok_trie *t) {
    free(t->first), free(t->value), free(t->label), free(t->child);
    memset(t, 0, sizeof *t);
}

/* Builds the trie of the tokens whose attributes meet mask, breadth first
 * over the sorted texts: a node is a range of keys sharing its depth's
 * prefix, its edges are contiguous and sorted, so node k's edges are
 * [first[k], first[k + 1]). Node 0 is the root; child 0 means none. */
static ken_status trie_build(const ken_vocab *v, uint16_t mask, tok_trie *t) {
    size_t m = 0, bytes = 0;
    for (int32_t id = 0; id < v->n_tokens; id++)
        if (v->attrs[id] & mask) m++, bytes += v->text_off[id + 1] - v->text_off[id];
    size_t cap = bytes + 1;                     /* nodes <= 1 + total key bytes */
    if (cap > UINT32_MAX - 1) return KEN_ERR_LIMIT;
    trie_key *keys = malloc((m + 1) * sizeof *keys);
    uint32_t *range = malloc(cap * 3 * sizeof *range);   /* lo, hi, depth per node */
    t->first = malloc((cap + 1) * sizeof *t->first);
    t->value = malloc(cap * sizeof *t->value);
    t->label = malloc(cap);
    t->child = malloc(cap * sizeof *t->child);
    ken_status st = KEN_OK;
    if (!keys || !range || !t->first || !t->value || !t->label || !t->child) {
        st = KEN_ERR_NOMEM;
        goto out;
    }
    m = 0;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        if (!(v->attrs[id] & mask)) continue;
        size_t n;
        const char *p = tok_text(v, id, &n);
        keys[m++] = (trie_key){ p, (uint32_t)n, id };
    }
    qsort(keys, m, sizeof *keys, cmp_key);
    uint32_t n_nodes = 1, n_edges = 0;
    range[0] = 0, range[1] = (uint32_t)m, range[2] = 0;
    for (uint32_t k = 0; k < n_nodes; k++) {
        uint32_t lo = range[3 * k], hi = range[3 * k + 1], d = range[3 * k + 2];
        t->first[k] = n_edges;
        t->value[k] = -1;
        if (lo < hi && keys[lo].n == d) t->value[k] = keys[lo++].id;   /* the prefix itself */
        while (lo < hi) {
            unsigned char c = (unsigned char)keys[lo].p[d];
            uint32_t j = lo + 1;
            while (j < hi && (unsigned char)keys[j].p[d] == c) j++;
            range[3 * n_nodes] = lo, range[3 * n_nodes + 1] = j, range[3 * n_nodes + 2] = d + 1;
            t->label[n_edges] = c, t->child[n_edges++] = n_nodes++;
            lo = j;
        }
    }
    t->first[n_nodes] = n_edges;
    t->n_nodes = n_nodes;
    for (uint32_t e = t->first[0]; e < t->first[1]; e++) t->root[t->label[e]] = t->child[e];
out:
    free(keys), free(range);
    if (st != KEN_OK) tok_trie_free(t);
    return st;
}

/* ------------------------------------------------------------ loading */

/* The precompiled charsmap: u32 (little-endian) blob size, that many bytes
 * of packed XCDA units, then the replacement string pool (never empty). */
static ken_status load_charsmap(ken_vocab *v, const ken_gguf *g, ken_err *err) {
    const ken_gguf_kv *kv = ken_gguf_find(g, "tokenizer.ggml.precompiled_charsmap");
    if (!kv) return KEN_OK;
    if (kv->val.type != KEN_GGUF_ARRAY ||
        (kv->val.v.arr.elem_type != KEN_GGUF_UINT8 && kv->val.v.arr.elem_type != KEN_GGUF_INT8))
        return ken_err_set(err, KEN_ERR_FORMAT,
                           "tokenizer: tokenizer.ggml.precompiled_charsmap is not a byte array");
    const uint8_t *d = kv->val.v.arr.data;
    uint64_t n = kv->val.v.arr.count;
    if (n < 4)
        return ken_err_set(err, KEN_ERR_FORMAT,
                           "tokenizer: precompiled charsmap of %llu bytes has no size header",
                           (unsigned long long)n);
    uint64_t blob = (uint64_t)d[0] | (uint64_t)d[1] << 8 | (uint64_t)d[2] << 16 |
                    (uint64_t)d[3] << 24;
    if (blob + 4 >= n)
        return ken_err_set(err, KEN_ERR_FORMAT,
                           "tokenizer: precompiled charsmap: trie of %llu bytes does not fit in "
                           "%llu (or leaves no string pool)",
                           (unsigned long long)blob, (unsigned long long)n);
    v->ugm_xcda_n = (size_t)(blob / 4);
    v->ugm_pool_n = (size_t)(n - 4 - blob);
    v->ugm_xcda = malloc((v->ugm_xcda_n + 1) * sizeof *v->ugm_xcda);
    v->ugm_pool = malloc(v->ugm_pool_n);
    if (!v->ugm_xcda || !v->ugm_pool)
        return ken_err_set(err, KEN_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < v->ugm_xcda_n; i++) {
        const uint8_t *u = d + 4 + 4 * i;
        v->ugm_xcda[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
                         (uint32_t)u[3] << 24;
    }
    memcpy(v->ugm_pool, d + 4 + blob, v->ugm_pool_n);
    return KEN_OK;
}

/* Called right after the tokens load, before any attribute changes: like
 * llama.cpp's llm_tokenizer_ugm constructor, the tries and the unknown
 * score use the types as the file gives them. */
ken_status tok_ugm_init(ken_vocab *v, const ken_gguf *g, ken_err *err) {
    ken_status st = load_charsmap(v, g, err);
    if (st != KEN_OK) return st;
    st = trie_build(v, TOK_ATTR_NORMAL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNUSED, &v->ugm_tokens);
    if (st == KEN_OK) st = trie_build(v, TOK_ATTR_USER_DEFINED, &v->ugm_user);
    if (st != KEN_OK)
        return ken_err_set(err, st, "tokenizer: %s building the token trie",
                           st == KEN_ERR_LIMIT ? "token texts too large" : "out of memory");
    float min_score = FLT_MAX;
    for (int32_t id = 0; id < v->n_tokens; id++)
        if ((v->attrs[id] & TOK_ATTR_NORMAL) && v->scores[id] < min_score) min_score = v->scores[id];
    v->ugm_unk_score = min_score - 10.0f;
    return KEN_OK;
}

/* ------------------------------------------------------------ normalization */

/* XCDA unit fields (Kanda 2018, as SentencePiece packs them): BASE in bits
 * 10-30 (shifted left 8 more when bit 9 is set), LEAF bit 8, LCHECK bits 0-7
 * with bit 31 (set on value units, so they never match a byte), VALUE bits
 * 0-30 of the unit a leaf's BASE points to. */
static uint32_t xcda_base(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static uint32_t xcda_lcheck(uint32_t u) { return u & ((1u << 31) | 0xFFu); }

/* The longest charsmap key that prefixes s (stopping at a NUL byte):
 * *len 0 when none, else *off is its replacement's offset in the pool. */
static ken_status charsmap_match(const ken_vocab *v, const unsigned char *s, size_t n,
                                 size_t *len, uint32_t *off) {
    const uint32_t *a = v->ugm_xcda;
    size_t an = v->ugm_xcda_n;
    *len = 0;
    if (an == 0) return KEN_OK;
    uint32_t node = xcda_base(a[0]);
    for (size_t k = 0; k < n && s[k] != 0; k++) {
        node ^= s[k];
        if (node >= an) return KEN_ERR_FORMAT;
        uint32_t u = a[node];
        if (xcda_lcheck(u) != s[k]) break;
        node ^= xcda_base(u);
        if ((u >> 8) & 1) {                        /* leaf: BASE points at the value */
            if (node >= an) return KEN_ERR_FORMAT;
            *len = k + 1;
            *off = a[node] & 0x7FFFFFFFu;
        }
    }
    return KEN_OK;
}

/* The next unit of text at in[0..n): how many input bytes it consumes and
 * the bytes it becomes. */
static ken_status next_unit(const ken_vocab *v, const char *in, size_t n, const char **rep,
                            size_t *rn, size_t *used) {
    size_t k = trie_path_len(&v->ugm_user, in, n);
    if (k > 0) {
        *rep = in, *rn = *used = k;
        return KEN_OK;
    }
    uint32_t off = 0;
    ken_status st = charsmap_match(v, (const unsigned char *)in, n, &k, &off);
    if (st != KEN_OK) return st;
    if (k > 0) {
        if (off >= v->ugm_pool_n) return KEN_ERR_FORMAT;
        const char *r = v->ugm_pool + off, *z = memchr(r, 0, v->ugm_pool_n - off);
        if (!z) return KEN_ERR_FORMAT;                 /* unterminated replacement */
        *rep = r, *rn = (size_t)(z - r), *used = k;
        return KEN_OK;
    }
    size_t i = 0;
    uint32_t cp = tok_utf8_next(in, n, &i);
    if (cp == 0xFFFD && i == 1) *rep = "\xef\xbf\xbd", *rn = 3;   /* invalid byte */
    else *rep = in, *rn = i;
    *used = i;
    return KEN_OK;
}

static ken_status normalize(const ken_vocab *v, const char *in, size_t n, tok_str *out) {
    const char *space = v->escape_whitespaces ? "\xe2\x96\x81" : " ";
    size_t ns = v->escape_whitespaces ? 3 : 1;
    bool prepend = !v->ugm_ws_suffix && v->add_space_prefix;
    bool append = v->ugm_ws_suffix && v->add_space_prefix;
    bool merge = v->remove_extra_ws;
    bool prepended = false, in_word = false;
    out->n = 0;
    for (size_t i = 0; i < n;) {
        const char *r;
        size_t rn, used;
        ken_status st = next_unit(v, in + i, n - i, &r, &rn, &used);
        if (st == KEN_OK) st = tok_str_reserve(out, 3 * rn + 3);
        if (st != KEN_OK) return st;
        for (size_t k = 0; k < rn; k++) {
            if (r[k] != ' ') {
                if (!in_word) {
                    in_word = true;
                    if ((prepend && !prepended) || merge) {
                        memcpy(out->p + out->n, space, ns), out->n += ns;
                        prepended = true;
                    }
                }
                out->p[out->n++] = r[k];
            } else {
                in_word = false;
                if (!merge) memcpy(out->p + out->n, space, ns), out->n += ns;
            }
        }
        if (out->n > UGM_NORM_MAX) return KEN_ERR_LIMIT;
        i += used;
    }
    if (append) {
        ken_status st = tok_str_append(out, space, ns);
        if (st != KEN_OK) return st;
    }
    return KEN_OK;
}

/* ------------------------------------------------------------ Viterbi */

typedef struct { double score; uint32_t from; int32_t id; } best;

/* Fills b[0..n] with the best segmentation ending at each byte. */
static void viterbi(const ken_vocab *v, const char *t, size_t n, int32_t unk, best *b) {
    const tok_trie *tr = &v->ugm_tokens;
    b[0] = (best){ 0.0, 0, unk };
    for (size_t i = 1; i <= n; i++) b[i] = (best){ -DBL_MAX, 0, unk };
    for (size_t i = 0; i < n;) {
        size_t cl = KEN_MIN(tok_utf8_len((unsigned char)t[i]), n - i);
        double base = b[i].score;
        bool single = false;
        uint32_t node = tr->root[(unsigned char)t[i]];
        for (size_t p = i + 1; node != 0; p++) {
            int32_t id = tr->value[node];
            if (id >= 0) {
                if (p - i == cl) single = true;
                double s = base + ((v->attrs[id] & TOK_ATTR_USER_DEFINED) ? 0.0 : (double)v->scores[id]);
                if (s > b[p].score) b[p] = (best){ s, (uint32_t)i, id };
            }
            if (p == n) break;
            node = trie_child(tr, node, (unsigned char)t[p]);
        }
        if (!single) {
            double s = base + (double)v->ugm_unk_score;
            if (s > b[i + cl].score) b[i + cl] = (best){ s, (uint32_t)i, unk };
        }
        i += cl;
    }
}

ken_status tok_ugm_encode(const ken_vocab *v, const char *text, size_t n, tok_ids *out) {
    tok_str norm = { 0 };
    best *b = NULL;
    ken_status st = normalize(v, text, n, &norm);
    if (st != KEN_OK || norm.n == 0) goto out;
    if (!(b = malloc((norm.n + 1) * sizeof *b))) {
        st = KEN_ERR_NOMEM;
        goto out;
    }
    int32_t unk = v->sp.unk < v->n_tokens ? v->sp.unk : -1;
    viterbi(v, norm.p, norm.n, unk, b);
    /* back from the end; a run of unknowns gives one */
    size_t mark = out->n;
    bool prev_unk = false;
    for (size_t at = norm.n;;) {
        const best *x = &b[at];
        bool is_unk = x->id == unk;
        if (!(prev_unk && is_unk) && x->id >= 0 && (st = tok_ids_push(out, x->id)) != KEN_OK)
            goto out;
        if (x->from == 0) break;
        prev_unk = is_unk;
        at = x->from;
    }
    for (size_t i = mark, j = out->n; i + 1 < j; i++, j--) {
        int32_t s = out->v[i];
        out->v[i] = out->v[j - 1], out->v[j - 1] = s;
    }
out:
    free(norm.p), free(b);
    return st;
}
