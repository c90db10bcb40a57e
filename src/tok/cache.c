/* cache.c: a per-call cache of word -> token ids. In every tokenizer here a
 * word's (or SentencePiece segment's) tokens depend on its bytes alone, and
 * in real text most words repeat, so the merge loops run once per distinct
 * word. Bounded: words up to TOK_CACHE_WORD_MAX bytes, at most half of
 * TOK_CACHE_SLOTS entries; past that, words are simply not cached. */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>

void tok_cache_free(tok_cache *c) {
    free(c->slots), free(c->ids.v), free(c->words.p);
    memset(c, 0, sizeof *c);
}

tok_cache_slot *tok_cache_lookup(tok_cache *c, const char *w, size_t len) {
    if (len == 0 || len > TOK_CACHE_WORD_MAX || c->failed) return NULL;
    if (!c->slots && !(c->slots = calloc(TOK_CACHE_SLOTS, sizeof *c->slots))) {
        c->failed = true;
        return NULL;
    }
    uint64_t i = tok_hash(w, len) & (TOK_CACHE_SLOTS - 1);
    for (;; i = (i + 1) & (TOK_CACHE_SLOTS - 1)) {
        tok_cache_slot *s = &c->slots[i];
        if (s->len == 0) return c->used < TOK_CACHE_SLOTS / 2 ? s : NULL;
        if (s->len == len && !memcmp(c->words.p + s->off, w, len)) return s;
    }
}

ken_status tok_cache_emit(const tok_cache *c, const tok_cache_slot *s, tok_ids *out) {
    for (uint32_t j = 0; j < s->n_ids; j++) {
        ken_status st = tok_ids_push(out, c->ids.v[s->ids_at + j]);
        if (st != KEN_OK) return st;
    }
    return KEN_OK;
}

ken_status tok_cache_store(tok_cache *c, tok_cache_slot *s, const char *w, size_t len,
                           const int32_t *ids, size_t n) {
    if (!s || s->len) return KEN_OK;
    size_t off = c->words.n, at = c->ids.n;
    ken_status st = tok_str_append(&c->words, w, len);
    for (size_t j = 0; j < n && st == KEN_OK; j++) st = tok_ids_push(&c->ids, ids[j]);
    if (st != KEN_OK) return st;
    *s = (tok_cache_slot){ (uint32_t)off, (uint32_t)len, (uint32_t)at, (uint32_t)n };
    c->used++;
    return KEN_OK;
}
