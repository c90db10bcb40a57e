/* vocab.c: loading a tokenizer from GGUF metadata the way llama.cpp's
 * llama_vocab::load does: token texts, scores and types, the model-type
 * defaults (special ids, add_bos/eos/sep, space prefix), BPE merge ranks,
 * the auto-detected end-of-turn / FIM tokens, the list of special tokens
 * the partitioner looks for, and the token -> piece cache. */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>

#define TOK_MAX_TOKENS (1u << 24)
#define TOK_MAX_TEXT_BYTES ((size_t)1 << 30)

uint64_t tok_hash(const char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        h = (h ^ k) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8, n -= 8;
    }
    uint64_t k = 0;
    memcpy(&k, p, n);
    h = (h ^ k) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0x94D049BB133111EBull;
    return h ^ (h >> 31);
}

int32_t tok_vocab_find(const ken_vocab *v, const char *text, size_t n) {
    uint64_t h = tok_hash(text, n), i = h & v->hash_mask;
    uint32_t tag = (uint32_t)(h >> 32);
    for (;;) {
        tok_hslot sl = v->hash_slots[i];
        if (sl.id < 0) return -1;
        if (sl.tag == tag) {
            size_t tn;
            const char *t = tok_text(v, sl.id, &tn);
            if (tn == n && memcmp(t, text, n) == 0) return sl.id;
        }
        i = (i + 1) & v->hash_mask;
    }
}

int32_t tok_byte_fallback(const ken_vocab *v, uint8_t b) {
    static const char hex[] = "0123456789ABCDEF";
    char buf[6] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>' };
    return tok_vocab_find(v, buf, 6);
}

int32_t tok_byte_token(const ken_vocab *v, uint8_t b) {
    if (v->type == KEN_TOK_SPM || v->type == KEN_TOK_UGM) {
        int32_t id = tok_byte_fallback(v, b);
        if (id >= 0) return id;
        return tok_vocab_find(v, (const char *)&b, 1);
    }
    char e[4];
    int n = tok_utf8_put(tok_byte_to_cpt(b), e);
    return tok_vocab_find(v, e, (size_t)n);
}

static uint64_t pow2_at_least(uint64_t n) {
    uint64_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* Token texts, scores and types (the arrays are checked against n). */
ken_status tok_load_tokens(ken_vocab *v, const ken_gguf *g, ken_err *err) {
    const ken_gguf_kv *kv = ken_gguf_find(g, "tokenizer.ggml.tokens");
    if (!kv || kv->val.type != KEN_GGUF_ARRAY || kv->val.v.arr.elem_type != KEN_GGUF_STRING)
        return ken_err_set(err, KEN_ERR_FORMAT, "tokenizer: no tokenizer.ggml.tokens string array");
    uint64_t n = kv->val.v.arr.count;
    if (n == 0 || n > TOK_MAX_TOKENS)
        return ken_err_set(err, KEN_ERR_LIMIT, "tokenizer: %llu tokens", (unsigned long long)n);
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        ken_gguf_str s = ken_gguf_arr_str(&kv->val, i);
        total += s.n ? s.n : 24;
        if (total > TOK_MAX_TEXT_BYTES)
            return ken_err_set(err, KEN_ERR_LIMIT, "tokenizer: token texts too large");
    }
    v->n_tokens = (int32_t)n;
    v->text_arena = malloc(total + 1);
    v->text_off = malloc((n + 1) * sizeof *v->text_off);
    v->scores = calloc(n, sizeof *v->scores);
    v->attrs = malloc(n * sizeof *v->attrs);
    v->hash_mask = pow2_at_least(2 * n) - 1;
    v->hash_slots = malloc((v->hash_mask + 1) * sizeof *v->hash_slots);
    if (!v->text_arena || !v->text_off || !v->scores || !v->attrs || !v->hash_slots)
        return ken_err_set(err, KEN_ERR_NOMEM, "tokenizer: out of memory");
    memset(v->hash_slots, 0xFF, (v->hash_mask + 1) * sizeof *v->hash_slots);
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        ken_gguf_str s = ken_gguf_arr_str(&kv->val, i);
        v->text_off[i] = (uint32_t)off;
        if (s.n) memcpy(v->text_arena + off, s.p, s.n), off += s.n;
        else off += (size_t)snprintf(v->text_arena + off, 24, "[EMPTY_%llu]", (unsigned long long)i);
        size_t len = off - v->text_off[i];
        if (len > v->max_token_len) v->max_token_len = (uint32_t)len;
    }
    v->text_off[n] = (uint32_t)off;
    for (uint64_t i = 0; i < n; i++) {
        size_t len;
        const char *t = tok_text(v, (int32_t)i, &len);
        uint64_t full = tok_hash(t, len), h = full & v->hash_mask;
        uint32_t tag = (uint32_t)(full >> 32);
        for (; v->hash_slots[h].id >= 0; h = (h + 1) & v->hash_mask) {
            tok_hslot sl = v->hash_slots[h];
            size_t on;
            const char *o = sl.tag == tag ? tok_text(v, sl.id, &on) : NULL;
            if (o && on == len && !memcmp(o, t, len))
                return ken_err_set(err, KEN_ERR_FORMAT, "tokenizer: duplicate token %llu (same as %d)",
                                   (unsigned long long)i, sl.id);
        }
        v->hash_slots[h] = (tok_hslot){ (int32_t)i, tag };
    }
    const ken_gguf_kv *sc = ken_gguf_find(g, "tokenizer.ggml.scores");
    if (sc) {
        if (sc->val.type != KEN_GGUF_ARRAY || (sc->val.v.arr.elem_type != KEN_GGUF_FLOAT32 &&
                                               sc->val.v.arr.elem_type != KEN_GGUF_INT32))
            return ken_err_set(err, KEN_ERR_FORMAT, "tokenizer: bad tokenizer.ggml.scores type");
        if (sc->val.v.arr.count < n)
            return ken_err_set(err, KEN_ERR_FORMAT, "tokenizer: fewer scores than tokens");
        for (uint64_t i = 0; i < n; i++) v->scores[i] = (float)ken_gguf_arr_float(&sc->val, i);
    }
    const ken_gguf_kv *tt = ken_gguf_find(g, "tokenizer.ggml.token_type");
    if (tt && (tt->val.type != KEN_GGUF_ARRAY || tt->val.v.arr.elem_type != KEN_GGUF_INT32))
        return ken_err_set(err, KEN_ERR_FORMAT, "tokenizer: bad tokenizer.ggml.token_type type");
    if (tt && tt->val.v.arr.count < n)
        return ken_err_set(err, KEN_ERR_FORMAT, "tokenizer: fewer token types than tokens");
    for (uint64_t i = 0; i < n; i++) {
        static const uint16_t map[7] = { 0, TOK_ATTR_NORMAL, TOK_ATTR_UNKNOWN, TOK_ATTR_CONTROL,
                                         TOK_ATTR_USER_DEFINED, TOK_ATTR_UNUSED, TOK_ATTR_BYTE };
        int64_t t = tt ? ken_gguf_arr_int(&tt->val, i) : 1;
        v->attrs[i] = t >= 0 && t < 7 ? map[t] : 0;
    }
    return KEN_OK;
}

static ken_status merges_put(ken_vocab *v, uint64_t key, int32_t rank, int32_t result) {
    uint64_t i = (key * 0x9E3779B97F4A7C15ull >> 17) & v->merges_mask;
    while (v->merges[i].rank >= 0) {
        if (v->merges[i].key == key) return KEN_OK;        /* the first rank wins */
        i = (i + 1) & v->merges_mask;
    }
    v->merges[i] = (tok_merge_slot){ key, rank, result };
    return KEN_OK;
}

/* BPE merges "left right": ranks by (left id, right id); merges whose parts
 * are not tokens go in the text-keyed table. */
ken_status tok_load_merges(ken_vocab *v, const ken_gguf *g, ken_err *err) {
    const ken_gguf_kv *kv = ken_gguf_find(g, "tokenizer.ggml.merges");
    if (!kv || kv->val.type != KEN_GGUF_ARRAY || kv->val.v.arr.elem_type != KEN_GGUF_STRING)
        return ken_err_set(err, KEN_ERR_FORMAT, "tokenizer: no tokenizer.ggml.merges string array");
    uint64_t n = kv->val.v.arr.count;
    if (n > TOK_MAX_TOKENS * 4ull)
        return ken_err_set(err, KEN_ERR_LIMIT, "tokenizer: too many merges");
    v->merges_mask = pow2_at_least(n + n / 2 + 2) - 1;   /* load <= 2/3 */
    v->merges = malloc((v->merges_mask + 1) * sizeof *v->merges);
    if (!v->merges) return ken_err_set(err, KEN_ERR_NOMEM, "tokenizer: out of memory");
    for (uint64_t i = 0; i <= v->merges_mask; i++) v->merges[i].rank = -1;
    tok_str xa = { 0 };
    tok_u32s xoff = { 0 }, xrank = { 0 };
    ken_status st = KEN_OK;
    for (uint64_t r = 0; r < n && st == KEN_OK; r++) {
        ken_gguf_str s = ken_gguf_arr_str(&kv->val, r);
        const char *sp = s.n > 1 ? memchr(s.p + 1, ' ', s.n - 1) : NULL;
        if (!sp) continue;                       /* ("", "") never matches */
        size_t nl = (size_t)(sp - s.p), nr = s.n - nl - 1;
        int32_t a = tok_vocab_find(v, s.p, nl), b = tok_vocab_find(v, sp + 1, nr);
        if (a >= 0 && b >= 0) {
            char stackbuf[256];
            char *cat = nl + nr <= sizeof stackbuf ? stackbuf : malloc(nl + nr);
            if (!cat) { st = KEN_ERR_NOMEM; break; }
            memcpy(cat, s.p, nl), memcpy(cat + nl, sp + 1, nr);
            int32_t res = tok_vocab_find(v, cat, nl + nr);
            if (cat != stackbuf) free(cat);
            st = merges_put(v, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, (int32_t)r, res);
        } else {
            st = tok_u32s_push(&xoff, (uint32_t)xa.n);
            if (st == KEN_OK) st = tok_u32s_push(&xrank, (uint32_t)r);
            if (st == KEN_OK) st = tok_str_append(&xa, s.p, s.n);
            if (st == KEN_OK) st = tok_str_append(&xa, "", 1);
        }
    }
    v->xmerge_arena = xa.p, v->xmerge_off = xoff.v, v->xmerge_rank = (int32_t *)xrank.v;
    v->n_xmerges = xoff.n;
    if (st != KEN_OK) return ken_err_set(err, st, "tokenizer: out of memory loading merges");
    v->xmerge_mask = pow2_at_least(2 * v->n_xmerges + 2) - 1;
    v->xmerge_slots = malloc((v->xmerge_mask + 1) * sizeof *v->xmerge_slots);
    v->xmerge_len = malloc((v->n_xmerges + 1) * sizeof *v->xmerge_len);
    if (!v->xmerge_slots || !v->xmerge_len)
        return ken_err_set(err, KEN_ERR_NOMEM, "tokenizer: out of memory");
    memset(v->xmerge_slots, 0xFF, (v->xmerge_mask + 1) * sizeof *v->xmerge_slots);
    for (size_t i = 0; i < v->n_xmerges; i++) {
        const char *t = v->xmerge_arena + v->xmerge_off[i];
        size_t len = strlen(t);
        uint64_t h = tok_hash(t, len) & v->xmerge_mask;
        bool dup = false;
        v->xmerge_len[i] = (uint32_t)len;
        while (v->xmerge_slots[h] >= 0) {
            int32_t o = v->xmerge_slots[h];
            if (v->xmerge_len[o] == len && !memcmp(v->xmerge_arena + v->xmerge_off[o], t, len))
                dup = true;
            h = (h + 1) & v->xmerge_mask;
        }
        if (!dup) v->xmerge_slots[h] = (int32_t)i;
    }
    return KEN_OK;
}

int32_t tok_bpe_rank(const ken_vocab *v, int32_t ia, int32_t ib, const char *a, size_t na,
                     const char *b, size_t nb, int32_t *result) {
    if (ia >= 0 && ib >= 0) {
        uint64_t key = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
        uint64_t i = (key * 0x9E3779B97F4A7C15ull >> 17) & v->merges_mask;
        while (v->merges[i].rank >= 0) {
            if (v->merges[i].key == key) return *result = v->merges[i].result, v->merges[i].rank;
            i = (i + 1) & v->merges_mask;
        }
        return -1;
    }
    if (!v->n_xmerges) return -1;
    char stackbuf[256];
    size_t len = na + 1 + nb;
    char *k = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!k) return -1;
    memcpy(k, a, na), k[na] = ' ', memcpy(k + na + 1, b, nb);
    int32_t rank = -1;
    for (uint64_t h = tok_hash(k, len) & v->xmerge_mask; v->xmerge_slots[h] >= 0;
         h = (h + 1) & v->xmerge_mask) {
        int32_t o = v->xmerge_slots[h];
        if (v->xmerge_len[o] == len && !memcmp(v->xmerge_arena + v->xmerge_off[o], k, len)) {
            rank = v->xmerge_rank[o];
            break;
        }
    }
    if (rank >= 0) *result = tok_vocab_find(v, a, na + nb);   /* b follows a */
    if (k != stackbuf) free(k);
    return rank;
}
