/* bpe.c: byte-level BPE (GPT-2 style) over pre-tokenized words, as
 * llama.cpp's llm_tokenizer_bpe_session: every word starts as its UTF-8
 * characters, then the adjacent pair with the lowest merge rank (ties: the
 * leftmost) is merged until no pair has a rank. A heap of candidate pairs
 * keeps this O(n log n) per word; stale candidates are recognised by size. */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct { uint32_t start, n; int32_t prev, next, id; } sym;
typedef struct { int32_t rank, left, right, result; uint32_t size; } bigram;

typedef struct {
    sym *syms;
    size_t n_syms, cap_syms;
    bigram *heap;
    size_t n_heap, cap_heap;
} bpe_scratch;

static bool bigram_before(const bigram *a, const bigram *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

TOK_HEAP(heap, bigram, bigram_before)

static ken_status add_bigram(const ken_vocab *v, const char *w, bpe_scratch *x, int32_t l,
                             int32_t r) {
    if (l < 0 || r < 0) return KEN_OK;
    const sym *a = &x->syms[l], *b = &x->syms[r];
    int32_t result = -1;
    int32_t rank = tok_bpe_rank(v, a->id, b->id, w + a->start, a->n, w + b->start, b->n, &result);
    if (rank < 0) return KEN_OK;
    return heap_push(&x->heap, &x->n_heap, &x->cap_heap,
                     (bigram){ rank, l, r, result, a->n + b->n });
}

static ken_status emit_symbol(const ken_vocab *v, const char *w, const sym *s, tok_ids *out) {
    if (s->id >= 0) return tok_ids_push(out, s->id);
    /* not a token: its bytes one by one, where a byte is a token by itself
     * (raw-UTF-8 BPE: where "<0xXX>" is a token) */
    for (uint32_t k = 0; k < s->n; k++) {
        int32_t id = v->bpe_raw ? tok_byte_fallback(v, (uint8_t)w[s->start + k])
                                : tok_vocab_find(v, w + s->start + k, 1);
        if (id >= 0) {
            ken_status st = tok_ids_push(out, id);
            if (st != KEN_OK) return st;
        }
    }
    return KEN_OK;
}

/* Whether every byte of w[0..n) is c. */
static bool all_bytes(const char *w, size_t n, char c) {
    for (size_t i = 0; i < n; i++)
        if (w[i] != c) return false;
    return true;
}

static ken_status encode_word(const ken_vocab *v, const char *w, size_t len, bpe_scratch *x,
                              tok_ids *out) {
    if (v->ignore_merges || (v->bpe_nl_words && all_bytes(w, len, '\n'))) {
        int32_t id = tok_vocab_find(v, w, len);
        if (id >= 0) return tok_ids_push(out, id);
    }
    if (len > x->cap_syms) {
        sym *s = realloc(x->syms, len * sizeof *s);
        if (!s) return KEN_ERR_NOMEM;
        x->syms = s, x->cap_syms = len;
    }
    x->n_syms = 0, x->n_heap = 0;
    for (size_t off = 0; off < len;) {
        size_t cl = KEN_MIN(tok_utf8_len((unsigned char)w[off]), len - off);
        int32_t i = (int32_t)x->n_syms++;
        x->syms[i] = (sym){ (uint32_t)off, (uint32_t)cl, i - 1, off + cl == len ? -1 : i + 1,
                            tok_vocab_find(v, w + off, cl) };
        off += cl;
    }
    ken_status st = KEN_OK;
    for (int32_t i = 1; i < (int32_t)x->n_syms && st == KEN_OK; i++) st = add_bigram(v, w, x, i - 1, i);
    while (x->n_heap && st == KEN_OK) {
        bigram b = heap_pop(x->heap, &x->n_heap);
        sym *l = &x->syms[b.left], *r = &x->syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;   /* stale */
        l->n += r->n, r->n = 0;
        l->id = b.result;
        l->next = r->next;
        if (r->next >= 0) x->syms[r->next].prev = b.left;
        st = add_bigram(v, w, x, l->prev, b.left);
        if (st == KEN_OK) st = add_bigram(v, w, x, b.left, l->next);
    }
    for (int32_t i = 0; i != -1 && x->n_syms && st == KEN_OK; i = x->syms[i].next)
        if (x->syms[i].n) st = emit_symbol(v, w, &x->syms[i], out);
    return st;
}

ken_status tok_bpe_encode(const ken_vocab *v, const char *text, size_t n, tok_ids *out) {
    tok_str buf = { 0 };
    tok_u32s words = { 0 };
    bpe_scratch x = { 0 };
    tok_cache c = { 0 };
    ken_status st = tok_pretokenize(v, text, n, &buf, &words);
    bool use_cache = words.n > 64;
    for (size_t k = 0; k + 1 < words.n && st == KEN_OK; k += 2) {
        const char *w = buf.p + words.v[k];
        size_t len = words.v[k + 1] - words.v[k], at = out->n;
        tok_cache_slot *s = use_cache ? tok_cache_lookup(&c, w, len) : NULL;
        if (s && s->len) {
            st = tok_cache_emit(&c, s, out);
            continue;
        }
        st = encode_word(v, w, len, &x, out);
        if (st == KEN_OK && s) st = tok_cache_store(&c, s, w, len, out->v + at, out->n - at);
    }
    free(buf.p), free(words.v), free(x.syms), free(x.heap);
    tok_cache_free(&c);
    return st;
}
