/* wpm.c: WordPiece as llama.cpp's llm_tokenizer_wpm_session (BERT): the
 * text is split into words at white space, punctuation, ASCII symbols and
 * CJK ideographs (each of those a word by itself), after llama.cpp's NFD
 * (first code point of the decomposition), dropping controls and combining
 * marks, and lower-casing. Each word, prefixed with U+2581 (the GGUF
 * converter marks word-initial pieces that way and strips "##"), is cut
 * greedily into the longest vocabulary pieces; a word with an unmatched
 * position becomes [UNK]. */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>

static bool is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Greedy longest-match of one word (with its U+2581 prefix). */
static ken_status encode_word(const ken_vocab *v, const char *w, size_t n, tok_ids *out) {
    size_t mark = out->n;
    ken_status st = KEN_OK;
    for (size_t i = 0; i < n && st == KEN_OK; i++) {
        bool match = false;
        for (size_t j = KEN_MIN(n, i + v->max_token_len + 1); j > i; j--) {
            int32_t id = tok_vocab_find(v, w + i, j - i);
            if (id >= 0) {
                st = tok_ids_push(out, id);
                match = true;
                i = j - 1;
                break;
            }
        }
        if (!match) {
            out->n = mark;
            break;
        }
    }
    if (st == KEN_OK && out->n == mark && v->sp.unk >= 0) st = tok_ids_push(out, v->sp.unk);
    return st;
}

/* Ends the current word (the bytes after the 3-byte U+2581 prefix), if any. */
static ken_status flush(const ken_vocab *v, tok_str *word, tok_ids *out) {
    ken_status st = KEN_OK;
    if (word->n > 3) st = encode_word(v, word->p, word->n, out);
    word->n = 3;
    return st;
}

ken_status tok_wpm_encode(const ken_vocab *v, const char *text, size_t n, tok_ids *out) {
    tok_str word = { 0 };
    ken_status st = tok_str_append(&word, "\xe2\x96\x81", 3);
    for (size_t i = 0; i < n && st == KEN_OK;) {
        uint32_t cp = tok_utf8_next(text, n, &i);
        if (v->wpm_strip_accents) cp = tok_cpt_nfd_first(cp);
        uint16_t f = tok_cpt_flags(cp);
        if (f & TOK_CF_SPACE) {
            st = flush(v, &word, out);
            continue;
        }
        if (cp == 0 || cp == 0xFFFD || (f & TOK_CF_CONTROL)) continue;
        if (v->wpm_strip_accents && (f & TOK_CF_MARK)) continue;
        char u[4];
        int nu = tok_utf8_put(v->wpm_lowercase ? tok_cpt_tolower(cp) : cp, u);
        if ((f & TOK_CF_PUNCT) || (cp < 0x7F && (f & TOK_CF_SYMBOL)) || is_chinese(cp)) {
            st = flush(v, &word, out);
            if (st == KEN_OK) st = tok_str_append(&word, u, (size_t)nu);
            if (st == KEN_OK) st = flush(v, &word, out);
        } else {
            st = tok_str_append(&word, u, (size_t)nu);
        }
    }
    if (st == KEN_OK) st = flush(v, &word, out);
    free(word.p);
    return st;
}
