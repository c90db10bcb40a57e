/* test_tok_pretok.c: the pre-tokenizers that have no fixture vocabulary
 * (qwen35, minicpm5, deepseek-v3, youtu, jais-2, viking, tekken, exaone-moe,
 * chameleon, gpt-4o and its aliases, granite-embed-multi-97m, bailingmoe and
 * its aliases) and the raw-UTF-8 BPE kind (tokenizer model gemma4, pre
 * sarvam-moe / granite-embed-multi-311m, the whitespace model), on small
 * vocabularies written as GGUF files. The merges are chosen so that the ids
 * show where the text was cut. Every expected id list below was produced by
 * llama.cpp (libllama, vocab_only, llama_tokenize) on the very files these
 * builders write, except where a comment says it was derived by hand. */
#include "test.h"
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* -- vocab builders (also used to produce the reference ids) -- */

#define MAX_TOKS 600

typedef struct {
    ken_gguf_str toks[MAX_TOKS];
    char store[MAX_TOKS][24];
    int32_t types[MAX_TOKS];
    float scores[MAX_TOKS];
    ken_gguf_str merges[64];
    char mstore[64][48];
    int n, n_merges;
} spec;

static int add_tok(spec *s, const char *t, size_t n, int type) {
    int i = s->n++;
    memcpy(s->store[i], t, n), s->store[i][n] = 0;
    s->toks[i] = (ken_gguf_str){ s->store[i], n };
    s->types[i] = type, s->scores[i] = -(float)i;
    return i;
}

/* GPT-2 byte images of raw bytes b[0..n) into out (NUL-terminated). */
static size_t images(const char *b, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)tok_utf8_put(tok_byte_to_cpt((uint8_t)b[i]), out + k);
    out[k] = 0;
    return k;
}

/* Merge "l r" and the token l+r; raw: texts as they are, else byte images. */
static void add_merge(spec *s, const char *l, const char *r, bool raw) {
    char li[24], ri[24], cat[48];
    size_t ln = raw ? strlen(l) : images(l, strlen(l), li);
    size_t rn = raw ? strlen(r) : images(r, strlen(r), ri);
    if (raw) memcpy(li, l, ln + 1), memcpy(ri, r, rn + 1);
    char *m = s->mstore[s->n_merges];
    memcpy(m, li, ln), m[ln] = ' ', memcpy(m + ln + 1, ri, rn), m[ln + 1 + rn] = 0;
    s->merges[s->n_merges] = (ken_gguf_str){ m, ln + 1 + rn };
    s->n_merges++;
    memcpy(cat, li, ln), memcpy(cat + ln, ri, rn);
    add_tok(s, cat, ln + rn, 1);
}

static ken_gguf_writer *spec_writer(const spec *s, const char *model, const char *pre) {
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    ken_gguf_set_str(w, "general.architecture", "llama");
    ken_gguf_set_str(w, "tokenizer.ggml.model", model);
    if (pre) ken_gguf_set_str(w, "tokenizer.ggml.pre", pre);
    ken_gguf_set_arr_str(w, "tokenizer.ggml.tokens", s->toks, (uint64_t)s->n);
    ken_gguf_set_arr(w, "tokenizer.ggml.token_type", KEN_GGUF_INT32, s->types, (uint64_t)s->n);
    ken_gguf_set_arr(w, "tokenizer.ggml.scores", KEN_GGUF_FLOAT32, s->scores, (uint64_t)s->n);
    ken_gguf_set_arr_str(w, "tokenizer.ggml.merges", s->merges, (uint64_t)s->n_merges);
    return w;
}

/* Byte-level: ids 0..255 the byte images, 256 "<s>" (control, BOS and EOS),
 * then one token per merge in this order (257 "\xcc\x81", 258 "e\xcc\x81", ...). */
static ken_gguf_writer *split_vocab(const char *pre) {
    static spec s;
    static const char *const m[][2] = {
        { "\xcc", "\x81" }, { "e", "\xcc\x81" }, { "1", "2" }, { "12", "3" }, { "123", "4" },
        { " ", "1" }, { " ", " " }, { "  ", "  " }, { "a", "b" }, { "ab", "c" }, { "A", "b" },
        { "A", "B" }, { " ", "a" }, { " ", "ab" }, { "!", "!" }, { " ", "!" }, { "'", "s" },
        { "\n", "\n" }, { "\xe4", "\xbd" }, { "\xe4\xbd", "\xa0" }, { "/", "\n" },
        { "<", "s" }, { "I", "M" }, { "IM", "G" }, { "IMG", "IMG" }, { " ", "e\xcc\x81" },
    };
    memset(&s, 0, sizeof s);
    for (int b = 0; b < 256; b++) {
        char e[8], c = (char)b;
        add_tok(&s, e, images(&c, 1, e), 1);
    }
    add_tok(&s, "<s>", 3, 3);
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) add_merge(&s, m[i][0], m[i][1], false);
    ken_gguf_writer *w = spec_writer(&s, "gpt2", pre);
    ken_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 256);
    ken_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 256);
    return w;
}

/* Raw UTF-8 (SentencePiece-style): 0 <pad>, 1 <eos>, 2 <bos>, 3 <unk>,
 * 4..259 "<0x00>".."<0xFF>", 260 "\xe2\x96\x81", 261 "a", 262 "b", 263 "\n",
 * 264 "\n\n\n" (no merge makes it), 265 "\xc3\xa9", 266 "A", then the merges
 * 267 "\xe2\x96\x81a", 268 "ab", 269 "\xe2\x96\x81ab", 270 "\n\n". add_bos_token
 * is false in the file (Gemma 4 overrides it). */
static ken_gguf_writer *raw_vocab(const char *model, const char *pre) {
    static spec s;
    static const char hex[] = "0123456789ABCDEF";
    memset(&s, 0, sizeof s);
    add_tok(&s, "<pad>", 5, 3), add_tok(&s, "<eos>", 5, 3), add_tok(&s, "<bos>", 5, 3);
    add_tok(&s, "<unk>", 5, 2);
    for (int b = 0; b < 256; b++) {
        char t[6] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>' };
        add_tok(&s, t, 6, 6);
    }
    add_tok(&s, "\xe2\x96\x81", 3, 1), add_tok(&s, "a", 1, 1), add_tok(&s, "b", 1, 1);
    add_tok(&s, "\n", 1, 1), add_tok(&s, "\n\n\n", 3, 1), add_tok(&s, "\xc3\xa9", 2, 1);
    add_tok(&s, "A", 1, 1);
    add_merge(&s, "\xe2\x96\x81", "a", true), add_merge(&s, "a", "b", true);
    add_merge(&s, "\xe2\x96\x81" "a", "b", true), add_merge(&s, "\n", "\n", true);
    ken_gguf_writer *w = spec_writer(&s, model, pre);
    ken_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 2);
    ken_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 1);
    ken_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 3);
    ken_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    ken_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", false);
    return w;
}

/* -- end vocab builders -- */

static ken_vocab *load(ken_gguf_writer *w) {
    char path[] = "/tmp/ken_test_pretok_XXXXXX";
    int fd = mkstemp(path);
    ken_vocab *v = NULL;
    ken_gguf *g = NULL;
    ken_err err = { 0 };
    CHECK(fd >= 0);
    if (fd < 0) {
        ken_gguf_writer_free(w);
        return NULL;
    }
    close(fd);
    ken_status st = ken_gguf_write(w, path, &err);
    if (st == KEN_OK) st = ken_gguf_open(path, &g, &err);
    if (st == KEN_OK) st = ken_tok_load(g, &v, &err);
    CHECKF(st == KEN_OK, "load: %s", err.msg);
    ken_gguf_close(g);
    ken_gguf_writer_free(w);
    unlink(path);
    return v;
}

typedef struct {
    const char *text;
    int add_special;
    int32_t ids[40];       /* terminated by -1 */
} tcase;

static void run_cases(const char *what, ken_vocab *v, const tcase *c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int32_t *ids = NULL;
        size_t k = 0, want = 0;
        ken_err e;
        ken_status st = ken_tok_tokenize(v, c[i].text, strlen(c[i].text), c[i].add_special != 0,
                                         false, &ids, &k, &e);
        CHECKF(st == KEN_OK, "%s case %zu: %s", what, i, e.msg);
        while (c[i].ids[want] >= 0) want++;
        bool same = k == want && (k == 0 || !memcmp(ids, c[i].ids, k * sizeof *ids));
        CHECKF(same, "%s case %zu: %zu ids, want %zu", what, i, k, want);
        if (!same)
            for (size_t j = 0; j < k; j++) fprintf(stderr, " %d", ids[j]);
        if (!same) fprintf(stderr, "\n");
        free(ids);
    }
}

#define END -1

/* Byte-level pre-tokenizers: the ids of split_vocab(pre) (llama.cpp's). */
static void test_split(void) {
    static const struct { const char *pre; tcase c; } k[] = {
        { "qwen35", { "ab e\xcc\x81 1234 \xcc\x81!", 0, { 265, 282, 32, 49, 50, 51, 52, 32, 257, 33, END } } },
        { "qwen35", { "Ab's 12\n\n", 0, { 267, 273, 32, 49, 50, 274, END } } },
        { "qwen35", { "a\xcc\x81\xcc\x81" "b !!ab", 0, { 97, 257, 257, 98, 32, 271, 265, END } } },
        { "qwen35", { "1\xcc\x81 x", 0, { 49, 257, 32, 120, END } } },
        { "qwen35", { "ab e\xcc\x81 1234 \xcc\x81!", 1, { 265, 282, 32, 49, 50, 51, 52, 32, 257, 33, END } } },
        { "minicpm5", { "1234 12345 ab1234", 0, { 260, 52, 32, 260, 52, 53, 270, 260, 52, END } } },
        { "minicpm5", { "ab's  !!\n\n", 0, { 265, 273, 32, 32, 271, 274, END } } },
        { "minicpm5", { "1234 12345 ab1234", 1, { 260, 52, 32, 260, 52, 53, 270, 260, 52, END } } },
        { "deepseek-v3", { "1234567 ab\xe4\xbd\xa0" "ab !!ab", 0, { 260, 52, 53, 54, 55, 270, 276, 265, 32, 271, 265, END } } },
        { "deepseek-v3", { ".abc e\xcc\x81 ab's", 0, { 46, 266, 282, 270, 273, END } } },
        { "deepseek-v3", { "12\n\n/\n", 0, { 259, 274, 277, END } } },
        { "deepseek-v3", { "1234567 ab\xe4\xbd\xa0" "ab !!ab", 1, { 260, 52, 53, 54, 55, 270, 276, 265, 32, 271, 265, END } } },
        { "youtu", { "AbAB ab's \xe4\xbd\xa0\xe4\xbd\xa0", 0, { 267, 268, 270, 273, 32, 276, 276, END } } },
        { "youtu", { "ab/\n\n 1234", 0, { 265, 47, 274, 32, 49, 50, 51, 52, END } } },
        { "youtu", { "e\xcc\x81" "Ab", 0, { 258, 267, END } } },
        { "youtu", { "AbAB ab's \xe4\xbd\xa0\xe4\xbd\xa0", 1, { 267, 268, 270, 273, 32, 276, 276, END } } },
        { "jais-2", { "ab          ab", 0, { 265, 264, 264, 32, 270, END } } },
        { "jais-2", { "a    \n", 0, { 97, 264, 10, END } } },
        { "jais-2", { "ab     ", 0, { 265, 264, 32, END } } },
        { "jais-2", { "1234 ab", 0, { 260, 52, 270, END } } },
        { "jais-2", { "ab          ab", 1, { 265, 264, 264, 32, 270, END } } },
        { "viking", { "ab, 1234!", 0, { 265, 44, 32, 49, 50, 51, 52, 33, END } } },
        { "viking", { "(ab) ab", 0, { 40, 265, 41, 270, END } } },
        { "viking", { "ab\xe2\x80\xa6" "ab", 0, { 265, 226, 128, 166, 265, END } } },
        { "viking", { "ab, 1234!", 1, { 265, 44, 32, 49, 50, 51, 52, 33, END } } },
        { "tekken", { "AbAB abc ABc", 0, { 267, 268, 32, 266, 32, 268, 99, END } } },
        { "tekken", { "a/\n\nb 1234", 0, { 97, 47, 274, 98, 32, 49, 50, 51, 52, END } } },
        { "tekken", { "IMG!!", 0, { 280, 271, END } } },
        { "tekken", { "AbAB abc ABc", 1, { 256, 267, 268, 32, 266, 32, 268, 99, END } } },
        { "exaone-moe", { "ab ab ab 12 e\xcc\x81 ab", 0, { 265, 270, 270, 32, 49, 50, 282, 270, END } } },
        { "exaone-moe", { "ab/\n\n", 0, { 265, 277, 10, END } } },
        { "exaone-moe", { "Ab  ab\n\nab", 0, { 267, 32, 270, 274, 265, END } } },
        { "exaone-moe", { "ab ab ab 12 e\xcc\x81 ab", 1, { 265, 270, 270, 32, 49, 50, 282, 270, END } } },
        { "chameleon", { "<sentinel:12>IMGIMGABZ  ab\t1234!!", 0, { 60, 115, 101, 110, 116, 105, 110, 101, 108, 58, 49, 50, 62, 281, 268, 90, 263, 265, 9, 49, 50, 51, 52, 33, 33, END } } },
        { "chameleon", { "    ab, ab's", 0, { 264, 265, 44, 270, 39, 115, END } } },
        { "chameleon", { "IMGIMGJZ <s>", 0, { 281, 74, 90, 32, 60, 115, 62, END } } },
        { "chameleon", { "<sentinel:12>IMGIMGABZ  ab\t1234!!", 1, { 256, 60, 115, 101, 110, 116, 105, 110, 101, 108, 58, 49, 50, 62, 281, 268, 90, 263, 265, 9, 49, 50, 51, 52, 33, 33, END } } },
        { "gpt-4o", { "AbAB ab's ABc 1234", 0, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "gpt-4o", { "e\xcc\x81" "Ab/\n\n IMG's", 0, { 101, 257, 267, 47, 274, 32, 280, 273, END } } },
        { "gpt-4o", { "  !!ab\n\n 12345", 0, { 32, 32, 271, 265, 274, 32, 260, 52, 53, END } } },
        { "gpt-4o", { "AbAB ab's ABc 1234", 1, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "llama4", { "AbAB ab's ABc 1234", 0, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "llama4", { "AbAB ab's ABc 1234", 1, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "kanana2", { "AbAB ab's ABc 1234", 0, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "kanana2", { "AbAB ab's ABc 1234", 1, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "talkie", { "AbAB ab's ABc 1234", 0, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "talkie", { "AbAB ab's ABc 1234", 1, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "minimax-m2", { "AbAB ab's ABc 1234", 0, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "minimax-m2", { "AbAB ab's ABc 1234", 1, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "granite-embed-multi-97m", { "AbAB ab's ABc 1234", 0, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "granite-embed-multi-97m", { "e\xcc\x81" "Ab/\n\n IMG's", 0, { 258, 267, 47, 274, 32, 280, 273, END } } },
        { "granite-embed-multi-97m", { "  !!ab\n\n 12345", 0, { 32, 32, 271, 265, 274, 32, 260, 52, 53, END } } },
        { "granite-embed-multi-97m", { "abc e\xcc\x81\xcc\x81" "b Ab's", 0, { 266, 282, 257, 98, 32, 267, 273, END } } },
        { "granite-embed-multi-97m", { "AbAB ab's ABc 1234", 1, { 267, 268, 270, 273, 32, 268, 99, 32, 260, 52, END } } },
        { "bailingmoe", { "ab's AB'S 1234", 0, { 265, 273, 32, 268, 39, 83, 32, 49, 50, 51, 52, END } } },
        { "bailingmoe", { "ab/\n\n\n  !!ab", 0, { 265, 47, 274, 10, 32, 32, 271, 265, END } } },
        { "bailingmoe", { "\xe4\xbd\xa0" "ab e\xcc\x81 \n\n", 0, { 276, 265, 32, 101, 257, 32, 274, END } } },
        { "bailingmoe", { "ab's AB'S 1234", 1, { 265, 273, 32, 268, 39, 83, 32, 49, 50, 51, 52, END } } },
        { "bailingmoe2", { "ab's AB'S 1234", 0, { 265, 273, 32, 268, 39, 83, 32, 49, 50, 51, 52, END } } },
        { "bailingmoe2", { "ab's AB'S 1234", 1, { 265, 273, 32, 268, 39, 83, 32, 49, 50, 51, 52, END } } },
        { "llada-moe", { "ab's AB'S 1234", 0, { 265, 273, 32, 268, 39, 83, 32, 49, 50, 51, 52, END } } },
        { "llada-moe", { "ab's AB'S 1234", 1, { 265, 273, 32, 268, 39, 83, 32, 49, 50, 51, 52, END } } },
    };
    for (size_t i = 0; i < KEN_ARRAY_LEN(k); i++) {
        ken_vocab *v = load(split_vocab(k[i].pre));
        CHECKF(v != NULL, "pre %s", k[i].pre);
        if (v) run_cases(k[i].pre, v, &k[i].c, 1);
        ken_vocab_free(v);
    }
}

/* Raw-UTF-8 BPE: the ids of raw_vocab(model, pre) (llama.cpp's). */
static void test_raw(void) {
    static const struct { const char *model, *pre; tcase c; } k[] = {
        { "gemma4", NULL, { "ab ab\n\n\nab", 0, { 268, 269, 264, 268, END } } },
        { "gemma4", NULL, { " a\n\n b", 0, { 267, 270, 260, 262, END } } },
        { "gemma4", NULL, { "\xc3\xa9\xe2\x82\xac A", 0, { 265, 230, 134, 176, 260, 266, END } } },
        { "gemma4", NULL, { "a  b\n\n\n\n", 0, { 261, 260, 260, 262, 270, 270, END } } },
        { "gemma4", NULL, { "ab ab\n\n\nab", 1, { 2, 268, 269, 264, 268, END } } },
        { "gpt2", "sarvam-moe", { "ab ab\n\n\nab", 0, { 268, 269, 270, 263, 268, END } } },
        { "gpt2", "sarvam-moe", { "\xc3\xa9\xe2\x82\xac A", 0, { 265, 230, 134, 176, 260, 266, END } } },
        { "gpt2", "sarvam-moe", { "ab ab\n\n\nab", 1, { 268, 269, 270, 263, 268, END } } },
        { "gpt2", "granite-embed-multi-311m", { "ab ab\n\n\nab", 0, { 268, 269, 264, 268, END } } },
        { "gpt2", "granite-embed-multi-311m", { "\xc3\xa9\xe2\x82\xac A", 0, { 265, 230, 134, 176, 260, 266, END } } },
        { "gpt2", "granite-embed-multi-311m", { "ab ab\n\n\nab", 1, { 2, 268, 269, 264, 268, END } } },
        { "whitespace", "whitespace", { "ab ab\n\n\nab", 0, { 268, 268, 268, END } } },
        { "whitespace", "whitespace", { "  AB\tab\xc3\xa9\xe2\x82\xac ", 0, { 266, 70, 268, 265, 230, 134, 176, END } } },
        { "whitespace", "whitespace", { "ab ab\n\n\nab", 1, { 268, 268, 268, END } } },
    };
    for (size_t i = 0; i < KEN_ARRAY_LEN(k); i++) {
        ken_vocab *v = load(raw_vocab(k[i].model, k[i].pre));
        CHECKF(v != NULL, "model %s pre %s", k[i].model, k[i].pre ? k[i].pre : "-");
        if (v) run_cases(k[i].model, v, &k[i].c, 1);
        ken_vocab_free(v);
    }
}

/* Derived by hand from llama.cpp's rules: the model "gemma4" implies its
 * pre-tokenizer whatever the file says; pieces turn U+2581 back into spaces
 * and "<0xXX>" into bytes; clean_spaces is on for Gemma 4 (" ." -> ".") and
 * off for Sarvam; the whitespace model lower-cases when the file asks. */
static void test_raw_by_hand(void) {
    ken_vocab *v = load(raw_vocab("gemma4", "nonesuch"));
    REQUIRE(v);
    int32_t ids[] = { 268, 269, 264, 265, 230, 134, 176, 260, 266, 261, 260, 50 };
    char *d = NULL;
    size_t dn = 0;
    ken_err e;
    CHECK(ken_tok_detokenize(v, ids, 9, false, false, &d, &dn, &e) == KEN_OK);
    CHECK_EQ_STR(d, "ab ab\n\n\n\xc3\xa9\xe2\x82\xac A");
    free(d);
    CHECK(ken_tok_detokenize(v, ids + 9, 3, false, false, &d, &dn, &e) == KEN_OK);
    CHECK_EQ_STR(d, "a.");                                   /* "a", " ", "." cleaned */
    free(d);
    int32_t bos[] = { 2, 268 };
    CHECK(ken_tok_detokenize(v, bos, 2, true, false, &d, &dn, &e) == KEN_OK);
    CHECK_EQ_STR(d, "ab");
    free(d);
    ken_vocab_free(v);

    v = load(raw_vocab("gpt2", "sarvam-moe"));
    REQUIRE(v);
    CHECK(ken_tok_detokenize(v, ids + 9, 3, false, false, &d, &dn, &e) == KEN_OK);
    CHECK_EQ_STR(d, "a .");
    free(d);
    ken_vocab_free(v);

    ken_gguf_writer *w = raw_vocab("whitespace", "whitespace");
    ken_gguf_set_bool(w, "tokenizer.ggml.normalizer.lowercase", true);
    v = load(w);
    REQUIRE(v);
    static const tcase lower[] = { { "  AB\tA", 0, { 268, 261, END } } };
    run_cases("whitespace lowercase", v, lower, 1);
    ken_vocab_free(v);
}

TEST_MAIN(test_split, test_raw, test_raw_by_hand)
