/* spm.c: SentencePiece BPE as llama.cpp's llm_tokenizer_spm_session: the
 * (already space-escaped) text starts as its UTF-8 characters; repeatedly
 * the adjacent pair whose concatenation is a token with the highest score
 * (ties: the leftmost) is merged. A symbol that is not a token at the end
 * is emitted as byte tokens (<0xXX>). Merged symbols are always tokens, so
 * llama.cpp's re-segmentation never applies to them.
 *
 * One heap over a whole long text is slow (cache misses on every pop), so
 * the text is cut where no merge can cross: between two characters that are
 * never adjacent inside any token. Merges on either side of such a cut are
 * independent, so the result is the same as llama.cpp's single pass. */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct { uint32_t start, n; int32_t prev, next, id; } sym;
typedef struct { float score; int32_t left, right, id; uint32_t size; } bigram;

typedef struct {
    sym *syms;
    size_t cap_syms;
    bigram *heap;
    size_t n_heap, cap_heap;
} spm_scratch;

static bool bigram_before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

TOK_HEAP(heap, bigram, bigram_before)

static ken_status try_bigram(const ken_vocab *v, const char *t, spm_scratch *x, int32_t l,
                             int32_t r) {
    if (l < 0 || r < 0) return KEN_OK;
    const sym *a = &x->syms[l], *b = &x->syms[r];
    int32_t id = tok_vocab_find(v, t + a->start, a->n + b->n);   /* b follows a */
    if (id < 0) return KEN_OK;
    return heap_push(&x->heap, &x->n_heap, &x->cap_heap,
                     (bigram){ v->scores[id], l, r, id, a->n + b->n });
}

static ken_status emit_symbol(const ken_vocab *v, const char *t, const sym *s, tok_ids *out) {
    if (s->id >= 0) return tok_ids_push(out, s->id);
    for (uint32_t k = 0; k < s->n; k++) {
        int32_t id = tok_byte_token(v, (uint8_t)t[s->start + k]);
        if (id < 0) id = v->sp.unk;
        if (id < 0) continue;
        ken_status st = tok_ids_push(out, id);
        if (st != KEN_OK) return st;
    }
    return KEN_OK;
}

/* One character (symbol) packed into 32 bits; pairs of them into 64. */
static uint32_t pack_char(const char *t, size_t n) {
    uint32_t c = 0;
    for (size_t k = 0; k < n; k++) c |= (uint32_t)(unsigned char)t[k] << (8 * k);
    return c;
}

#define PAIR_EMPTY UINT64_MAX

static uint64_t pair_slot(uint64_t key, uint64_t mask) {
    return (key * 0x9E3779B97F4A7C15ull >> 20) & mask;
}

static bool pair_known(const ken_vocab *v, uint64_t key) {
    if (key == PAIR_EMPTY) return v->spm_pair_max;
    for (uint64_t i = pair_slot(key, v->spm_pairs_mask);; i = (i + 1) & v->spm_pairs_mask) {
        if (v->spm_pairs[i] == key) return true;
        if (v->spm_pairs[i] == PAIR_EMPTY) return false;
    }
}

static void pair_put(uint64_t *slots, uint64_t mask, uint64_t key) {
    uint64_t i = pair_slot(key, mask);
    while (slots[i] != PAIR_EMPTY && slots[i] != key) i = (i + 1) & mask;
    slots[i] = key;
}

/* Adds key, doubling the table when half full (the distinct pairs are far
 * fewer than the characters of the vocab). */
static ken_status pair_add(ken_vocab *v, size_t *used, uint64_t key) {
    if (key == PAIR_EMPTY) return v->spm_pair_max = true, KEN_OK;
    if (2 * (*used + 1) > v->spm_pairs_mask + 1) {
        uint64_t cap = 2 * (v->spm_pairs_mask + 1);
        uint64_t *t = malloc(cap * sizeof *t);
        if (!t) return KEN_ERR_NOMEM;
        memset(t, 0xFF, cap * sizeof *t);
        for (uint64_t i = 0; i <= v->spm_pairs_mask; i++)
            if (v->spm_pairs[i] != PAIR_EMPTY) pair_put(t, cap - 1, v->spm_pairs[i]);
        free(v->spm_pairs);
        v->spm_pairs = t, v->spm_pairs_mask = cap - 1;
    }
    uint64_t i = pair_slot(key, v->spm_pairs_mask);
    while (v->spm_pairs[i] != PAIR_EMPTY && v->spm_pairs[i] != key) i = (i + 1) & v->spm_pairs_mask;
    if (v->spm_pairs[i] == PAIR_EMPTY) v->spm_pairs[i] = key, (*used)++;
    return KEN_OK;
}

ken_status tok_spm_build_pairs(ken_vocab *v) {
    size_t used = 0;
    v->spm_pairs_mask = 1023;
    v->spm_pairs = malloc(1024 * sizeof *v->spm_pairs);
    if (!v->spm_pairs) return KEN_ERR_NOMEM;
    memset(v->spm_pairs, 0xFF, 1024 * sizeof *v->spm_pairs);
    for (int32_t id = 0; id < v->n_tokens; id++) {
        size_t n;
        const char *t = tok_text(v, id, &n);
        uint32_t prev = 0;
        for (size_t off = 0; off < n;) {
            size_t cl = KEN_MIN(tok_utf8_len((unsigned char)t[off]), n - off);
            uint32_t c = pack_char(t + off, cl);
            if (off) {
                ken_status st = pair_add(v, &used, (uint64_t)prev << 32 | c);
                if (st != KEN_OK) return st;
            }
            prev = c, off += cl;
        }
    }
    return KEN_OK;
}

static ken_status encode_segment(const ken_vocab *v, const char *t, size_t n, spm_scratch *x_,
                                 tok_ids *out);

/* A segment through the cache (segments repeat like words do). */
static ken_status cached_segment(const ken_vocab *v, const char *t, size_t n, spm_scratch *x,
                                 tok_cache *c, tok_ids *out) {
    tok_cache_slot *s = tok_cache_lookup(c, t, n);
    if (s && s->len) return tok_cache_emit(c, s, out);
    size_t at = out->n;
    ken_status st = encode_segment(v, t, n, x, out);
    if (st == KEN_OK && s) st = tok_cache_store(c, s, t, n, out->v + at, out->n - at);
    return st;
}

ken_status tok_spm_encode(const ken_vocab *v, const char *t, size_t n, tok_ids *out) {
    spm_scratch x = { 0 };
    tok_cache cache = { 0 };
    ken_status st = KEN_OK;
    size_t seg = 0;
    uint32_t prev = 0;
    for (size_t off = 0; off < n && st == KEN_OK;) {
        size_t cl = KEN_MIN(tok_utf8_len((unsigned char)t[off]), n - off);
        uint32_t c = pack_char(t + off, cl);
        if (off > seg && !pair_known(v, (uint64_t)prev << 32 | c)) {
            st = cached_segment(v, t + seg, off - seg, &x, &cache, out);
            seg = off;
        }
        prev = c, off += cl;
    }
    if (st == KEN_OK && seg < n) st = cached_segment(v, t + seg, n - seg, &x, &cache, out);
    free(x.syms), free(x.heap);
    tok_cache_free(&cache);
    return st;
}

static ken_status encode_segment(const ken_vocab *v, const char *t, size_t n, spm_scratch *x_,
                                 tok_ids *out) {
#define x (*x_)
    if (n > x.cap_syms) {
        sym *s = realloc(x.syms, n * sizeof *s);
        if (!s) return KEN_ERR_NOMEM;
        x.syms = s, x.cap_syms = n;
    }
    x.n_heap = 0;
    size_t ns = 0;
    for (size_t off = 0; off < n;) {
        size_t cl = KEN_MIN(tok_utf8_len((unsigned char)t[off]), n - off);
        int32_t i = (int32_t)ns++;
        x.syms[i] = (sym){ (uint32_t)off, (uint32_t)cl, i - 1, off + cl == n ? -1 : i + 1,
                           tok_vocab_find(v, t + off, cl) };
        off += cl;
    }
    ken_status st = KEN_OK;
    for (int32_t i = 1; i < (int32_t)ns && st == KEN_OK; i++) st = try_bigram(v, t, &x, i - 1, i);
    while (x.n_heap && st == KEN_OK) {
        bigram b = heap_pop(x.heap, &x.n_heap);
        sym *l = &x.syms[b.left], *r = &x.syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;   /* stale */
        l->n += r->n, r->n = 0;
        l->id = b.id;
        l->next = r->next;
        if (r->next >= 0) x.syms[r->next].prev = b.left;
        st = try_bigram(v, t, &x, l->prev, b.left);
        if (st == KEN_OK) st = try_bigram(v, t, &x, b.left, l->next);
    }
    for (int32_t i = 0; i != -1 && st == KEN_OK; i = x.syms[i].next)
        if (x.syms[i].n) st = emit_symbol(v, t, &x.syms[i], out);
    return st;
#undef x
}
