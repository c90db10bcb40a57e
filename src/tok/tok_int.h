/* tok_int.h: private to src/tok: the vocab structure, the Unicode helpers
 * that copy llama.cpp's character classes, and the per-algorithm entry
 * points (BPE, SentencePiece BPE, WordPiece, Unigram). Nothing outside src/tok
 * includes this file. */
#ifndef KEN_TOK_INT_H
#define KEN_TOK_INT_H

#include "tok/tok.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t tok_hash(const char *p, size_t n);

/* ------------------------------------------------------------ Unicode */

/* Code point classes as llama.cpp's unicode tables define them: one general
 * category group (Cn -> UNDEF, C* -> CONTROL, ...) plus White_Space. */
enum {
    TOK_CF_UNDEF = 0x001, TOK_CF_NUMBER = 0x002, TOK_CF_LETTER = 0x004,
    TOK_CF_SEPARATOR = 0x008, TOK_CF_MARK = 0x010, TOK_CF_PUNCT = 0x020,
    TOK_CF_SYMBOL = 0x040, TOK_CF_CONTROL = 0x080, TOK_CF_CATS = 0x0FF,
    TOK_CF_SPACE = 0x100
};

/* Flags of cp; code points past U+10FFFF are UNDEF. Thread-safe (the table
 * is built once). */
uint16_t tok_cpt_flags(uint32_t cp);
/* One-to-one lower-case mapping (llama.cpp's unicode_tolower). */
uint32_t tok_cpt_tolower(uint32_t cp);
/* First code point of the canonical decomposition (llama.cpp's NFD table). */
uint32_t tok_cpt_nfd_first(uint32_t cp);
/* Decodes one code point the lenient way llama.cpp does (overlong forms and
 * surrogates accepted; a bad lead or missing continuation byte gives U+FFFD
 * and consumes one byte). */
uint32_t tok_utf8_next(const char *s, size_t n, size_t *i);
/* Encodes cp (values past U+10FFFF become U+FFFD); returns the byte count. */
int tok_utf8_put(uint32_t cp, char out[4]);
/* Length of the UTF-8 sequence announced by lead byte c (1 for 0x00-0xBF). */
static inline size_t tok_utf8_len(unsigned char c) {
    static const unsigned char lut[16] = { 1,1,1,1,1,1,1,1,1,1,1,1,2,2,3,4 };
    return lut[c >> 4];
}
/* GPT-2 byte-level mapping: byte -> code point, and back (-1 if cp is not
 * one of the 256 image code points). */
uint32_t tok_byte_to_cpt(uint8_t b);
int tok_cpt_to_byte(uint32_t cp);
/* The UTF-8 of byte b's image code point (1 or 2 bytes, NUL-terminated). */
const char *tok_byte_image(uint8_t b);

/* ------------------------------------------------------------ growable arrays */

typedef struct { int32_t *v; size_t n, cap; } tok_ids;
ken_status tok_ids_push(tok_ids *a, int32_t id);
typedef struct { uint32_t *v; size_t n, cap; } tok_u32s;
ken_status tok_u32s_push(tok_u32s *a, uint32_t x);
typedef struct { char *p; size_t n, cap; } tok_str;
ken_status tok_str_append(tok_str *s, const void *p, size_t n);
ken_status tok_str_reserve(tok_str *s, size_t extra);

/* Per-call word -> ids cache (cache.c). */
#define TOK_CACHE_SLOTS 65536u
#define TOK_CACHE_WORD_MAX 48u
typedef struct { uint32_t off, len, ids_at, n_ids; } tok_cache_slot;   /* len 0: empty */
typedef struct {
    tok_cache_slot *slots;
    tok_ids ids;
    tok_str words;
    size_t used;
    bool failed;
} tok_cache;
/* The slot of w: filled (len != 0) on a hit, empty on a miss; NULL when w
 * cannot be cached. */
tok_cache_slot *tok_cache_lookup(tok_cache *c, const char *w, size_t len);
ken_status tok_cache_emit(const tok_cache *c, const tok_cache_slot *s, tok_ids *out);
ken_status tok_cache_store(tok_cache *c, tok_cache_slot *s, const char *w, size_t len,
                           const int32_t *ids, size_t n);
void tok_cache_free(tok_cache *c);

/* Caps: a text larger than this is refused (KEN_ERR_LIMIT). */
#define TOK_TEXT_MAX ((size_t)64 << 20)   /* peak memory is ~10-20x the text */

/* ------------------------------------------------------------ vocab */

/* Token attributes (llama.cpp's llama_token_attr bits). */
enum {
    TOK_ATTR_UNKNOWN = 1 << 0, TOK_ATTR_UNUSED = 1 << 1, TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3, TOK_ATTR_USER_DEFINED = 1 << 4, TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_NORMALIZED = 1 << 6, TOK_ATTR_LSTRIP = 1 << 7, TOK_ATTR_RSTRIP = 1 << 8,
    TOK_ATTR_SINGLE_WORD = 1 << 9
};

/* One pre-tokenizer step: a hand-written splitter or a PCRE2 pattern. */
typedef enum { TOK_STEP_GPT2, TOK_STEP_LLAMA3, TOK_STEP_REGEX } tok_step_kind;
typedef struct {
    tok_step_kind kind;
    bool collapsed;            /* pattern runs over the one-byte-per-cpt text */
    uint16_t word;             /* LLAMA3: the word classes (TOK_CF_LETTER [| MARK]) */
    uint8_t digits_max;        /* LLAMA3: digits per number fragment (3 or 1) */
    void *code;                /* pcre2_code_8 * */
} tok_step;
#define TOK_MAX_STEPS 8

typedef struct { uint64_t key; int32_t rank; int32_t result; } tok_merge_slot;
/* text -> id slot; tag = high hash bits, so most misses never touch the text */
typedef struct { int32_t id; uint32_t tag; } tok_hslot;

/* A byte trie (ugm.c): node k's edges are [first[k], first[k + 1]), their
 * labels sorted; value[k] is the token ending at node k or -1; node 0 is
 * the root. */
typedef struct {
    uint32_t *first;           /* n_nodes + 1 */
    int32_t *value;            /* n_nodes */
    uint8_t *label;            /* per edge */
    uint32_t *child;           /* per edge */
    uint32_t n_nodes;
    uint32_t root[256];        /* the root's children by byte (0: none) */
} tok_trie;

struct ken_vocab {
    ken_tok_type type;
    char pre_name[64];
    int32_t n_tokens;
    /* token texts: one arena, offsets; the hash maps text -> id */
    char *text_arena;
    uint32_t *text_off;        /* n_tokens + 1 */
    float *scores;
    uint16_t *attrs;
    tok_hslot *hash_slots;     /* open addressing, id -1 empty */
    uint64_t hash_mask;
    uint32_t max_token_len;
    /* BPE merges: (left id, right id) -> rank and result; merges whose parts
     * are not tokens go in a second table keyed by the merge text */
    tok_merge_slot *merges;
    uint64_t merges_mask;
    char *xmerge_arena;        /* "left right" strings, NUL separated */
    uint32_t *xmerge_off;      /* per extra merge: offset into arena */
    int32_t *xmerge_rank;
    uint32_t *xmerge_len;
    int32_t *xmerge_slots;
    uint64_t xmerge_mask;
    size_t n_xmerges;
    /* pre-tokenizer */
    tok_step steps[TOK_MAX_STEPS];
    int n_steps;
    bool need_collapse;
    /* flags */
    bool add_space_prefix, add_bos, add_eos, add_sep, ignore_merges;
    bool clean_spaces, escape_whitespaces, remove_extra_ws;
    bool wpm_lowercase, wpm_strip_accents;
    /* BPE over raw UTF-8 (Gemma 4 and kin): words are not byte-encoded and
     * bytes fall back to "<0xXX>" tokens; with bpe_nl_words a word of
     * newlines that is a token is taken whole; force_add_bos: BOS is added
     * whatever tokenizer.ggml.add_bos_token says */
    bool bpe_raw, bpe_nl_words, force_add_bos;
    /* tokenizer model "whitespace": white space dropped, the pieces between
     * lower-cased if wpm_lowercase and tokenized one by one */
    bool ws_model;
    /* special ids (-1 = none) */
    ken_tok_special sp;
    /* end-of-generation tokens (llama.cpp's special_eog_ids) */
    int32_t eog[16];
    size_t n_eog;
    /* special tokens (control / user-defined / unknown), longest first */
    int32_t *special_ids;
    size_t n_special;
    int32_t *special_first2;   /* 65536 + 1 bucket starts into special_by2 */
    int32_t *special_by2;      /* special token indexes bucketed by first 2 bytes */
    /* SentencePiece: the adjacent character pairs found inside any token;
     * the text can be cut where a pair is not among them (no merge crosses) */
    uint64_t *spm_pairs;
    uint64_t spm_pairs_mask;
    bool spm_pair_max;         /* the pair UINT64_MAX (the empty marker) occurs */
    /* Unigram: tries of the normal/user-defined/unused tokens and of the
     * user-defined ones, the precompiled charsmap (XCDA units, string pool) */
    tok_trie ugm_tokens, ugm_user;
    uint32_t *ugm_xcda;
    size_t ugm_xcda_n;
    char *ugm_pool;
    size_t ugm_pool_n;
    float ugm_unk_score;       /* lowest normal score - 10 */
    bool ugm_ws_suffix;        /* treat_whitespace_as_suffix (llama.cpp: always false) */
    /* token_to_piece(special = true) cache */
    char *piece_arena;
    uint32_t *piece_off;       /* n_tokens + 1 */
};

ken_status tok_load_merges(ken_vocab *v, const ken_gguf *g, ken_err *err);
ken_status tok_load_tokens(ken_vocab *v, const ken_gguf *g, ken_err *err);
ken_status tok_build_pieces(ken_vocab *v);
ken_status tok_spm_build_pairs(ken_vocab *v);
/* Unigram: the charsmap and the tries (right after tok_load_tokens). */
ken_status tok_ugm_init(ken_vocab *v, const ken_gguf *g, ken_err *err);
void tok_trie_free(tok_trie *t);
/* Token id of text[0..n) or -1. */
int32_t tok_vocab_find(const ken_vocab *v, const char *text, size_t n);
static inline const char *tok_text(const ken_vocab *v, int32_t id, size_t *n) {
    *n = v->text_off[id + 1] - v->text_off[id];
    return v->text_arena + v->text_off[id];
}
/* The "<0xXX>" byte-fallback token of byte b, or -1. */
int32_t tok_byte_fallback(const ken_vocab *v, uint8_t b);
/* Byte-fallback token of byte b (SPM "<0xXX>", else the byte as text); -1. */
int32_t tok_byte_token(const ken_vocab *v, uint8_t b);

/* The algorithms: each appends the tokens of one raw text fragment. */
ken_status tok_spm_encode(const ken_vocab *v, const char *text, size_t n, tok_ids *out);
ken_status tok_bpe_encode(const ken_vocab *v, const char *text, size_t n, tok_ids *out);
ken_status tok_wpm_encode(const ken_vocab *v, const char *text, size_t n, tok_ids *out);
/* KEN_ERR_FORMAT: the vocab's charsmap indexes out of its bounds. */
ken_status tok_ugm_encode(const ken_vocab *v, const char *text, size_t n, tok_ids *out);
/* BPE of one raw fragment as the tokenizer model wants it: spaces escaped
 * (escape_whitespaces), white space dropped (ws_model), then tok_bpe_encode. */
ken_status tok_bpe_fragment(const ken_vocab *v, const char *text, size_t n, tok_ids *out);
/* BPE merge lookup: rank of merging texts a|b (ids ia, ib or -1), or -1;
 * *result gets the id of the merged text (-1 when not a token). b must
 * follow a in memory (b == a + na). */
int32_t tok_bpe_rank(const ken_vocab *v, int32_t ia, int32_t ib, const char *a, size_t na,
                     const char *b, size_t nb, int32_t *result);

/* Pre-tokenization: splits text into words (byte ranges of the re-encoded
 * text in *buf); words[2k], words[2k+1] = start, end. */
ken_status tok_pretokenize(const ken_vocab *v, const char *text, size_t n, tok_str *buf,
                           tok_u32s *words);
/* Sets up v->steps for v->pre_name; KEN_ERR_UNSUPPORTED for unknown names. */
ken_status tok_pretok_init(ken_vocab *v, ken_err *err);
void tok_pretok_free(ken_vocab *v);

/* TOK_HEAP(name, T, before) defines a binary heap of T (the BPE and SPM
 * candidate pairs): before(const T *a, const T *b) is true when a comes out
 * first. name_push(&v, &n, &cap, x) grows v as needed (KEN_ERR_NOMEM when it
 * cannot); name_pop(v, &n) takes the first out (n > 0). A macro rather than
 * a comparator pointer: the heap is in the tokenizers' inner loop. */
#define TOK_HEAP(name, T, before)                                                  \
    static ken_status name##_push(T **v, size_t *n, size_t *cap, T x) {            \
        if (*n == *cap) {                                                         \
            size_t c = *cap ? *cap * 2 : 64;                                      \
            T *h = realloc(*v, c * sizeof *h);                                    \
            if (!h) return KEN_ERR_NOMEM;                                         \
            *v = h, *cap = c;                                                     \
        }                                                                         \
        size_t i = (*n)++;                                                        \
        while (i > 0) {                                                           \
            size_t p = (i - 1) / 2;                                               \
            if (!before(&x, &(*v)[p])) break;                                     \
            (*v)[i] = (*v)[p];                                                    \
            i = p;                                                                \
        }                                                                         \
        (*v)[i] = x;                                                              \
        return KEN_OK;                                                            \
    }                                                                             \
    static T name##_pop(T *v, size_t *n) {                                        \
        T top = v[0], last = v[--(*n)];                                           \
        size_t i = 0, m = *n;                                                     \
        for (;;) {                                                                \
            size_t c = 2 * i + 1;                                                 \
            if (c >= m) break;                                                    \
            if (c + 1 < m && before(&v[c + 1], &v[c])) c++;                       \
            if (!before(&v[c], &last)) break;                                     \
            v[i] = v[c];                                                          \
            i = c;                                                                \
        }                                                                         \
        if (m) v[i] = last;                                                       \
        return top;                                                               \
    }

#endif
