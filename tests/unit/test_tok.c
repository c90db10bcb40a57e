/* test_tok.c: tokenizer pieces that need no fixtures: the GPT-2 byte map,
 * llama.cpp's lenient UTF-8 decoding, character classes, and small
 * synthetic vocabularies (BPE, SentencePiece, WordPiece) written as GGUF
 * files: exact ids, byte fallback, special-token parsing, detokenization,
 * broken metadata, and hostile text (invalid UTF-8, 1 MB of one character,
 * random bytes, empty input). */
#include "test.h"
#include "tok/tok_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void test_byte_map(void) {
    for (int b = 0; b < 256; b++) CHECK_EQ_INT(tok_cpt_to_byte(tok_byte_to_cpt((uint8_t)b)), b);
    CHECK_EQ_INT(tok_byte_to_cpt(' '), 0x120);
    CHECK_EQ_INT(tok_byte_to_cpt('\n'), 0x10A);
    CHECK_EQ_INT(tok_byte_to_cpt('!'), '!');
    CHECK_EQ_INT(tok_byte_to_cpt(0xAD), 0x143);
    CHECK_EQ_INT(tok_cpt_to_byte('A'), 'A');
    CHECK_EQ_INT(tok_cpt_to_byte(0x20), -1);
    CHECK_EQ_INT(tok_cpt_to_byte(0x144), -1);
    CHECK_EQ_INT(tok_cpt_to_byte(0x1F600), -1);
}

static void test_utf8_lenient(void) {
    size_t i = 0;
    CHECK_EQ_INT(tok_utf8_next("\xC0\x80", 2, &i), 0);      /* overlong accepted */
    CHECK_EQ_INT(i, 2);
    i = 0;
    CHECK_EQ_INT(tok_utf8_next("\x80x", 2, &i), 0xFFFD);
    CHECK_EQ_INT(i, 1);
    i = 0;
    CHECK_EQ_INT(tok_utf8_next("\xE4\xB8", 2, &i), 0xFFFD); /* truncated */
    CHECK_EQ_INT(i, 1);
    i = 0;
    CHECK_EQ_INT(tok_utf8_next("\xF8\x80\x80\x80", 4, &i), 0xFFFD);
    i = 0;
    CHECK_EQ_INT(tok_utf8_next("\xF0\x9F\x98\x80", 4, &i), 0x1F600);
    CHECK_EQ_INT(i, 4);
    char b[4];
    CHECK_EQ_INT(tok_utf8_put(0x110000, b), 3);               /* -> U+FFFD */
    CHECK(!memcmp(b, "\xEF\xBF\xBD", 3));
    CHECK_EQ_INT(tok_utf8_put(0x20AC, b), 3);
    CHECK(!memcmp(b, "\xE2\x82\xAC", 3));
}

static void test_flags(void) {
    CHECK(tok_cpt_flags('a') & TOK_CF_LETTER);
    CHECK(tok_cpt_flags('7') & TOK_CF_NUMBER);
    CHECK(tok_cpt_flags(' ') & TOK_CF_SPACE);
    CHECK(tok_cpt_flags('\t') & TOK_CF_SPACE);
    CHECK(tok_cpt_flags(0x3000) & TOK_CF_SPACE);
    CHECK(!(tok_cpt_flags(0x200B) & TOK_CF_SPACE));           /* zero width space: Cf */
    CHECK(tok_cpt_flags(0x200B) & TOK_CF_CONTROL);
    CHECK(tok_cpt_flags(0x301) & TOK_CF_MARK);
    CHECK(tok_cpt_flags('!') & TOK_CF_PUNCT);
    CHECK(tok_cpt_flags('$') & TOK_CF_SYMBOL);
    CHECK(tok_cpt_flags(0x4E00) & TOK_CF_LETTER);
    CHECK(tok_cpt_flags(0x378) & TOK_CF_UNDEF);
    CHECK(tok_cpt_flags(0x2EBF0) & TOK_CF_LETTER);            /* Unicode 15.1, as llama.cpp */
    CHECK(tok_cpt_flags(0x31EF) & TOK_CF_SYMBOL);
    CHECK(tok_cpt_flags(0x2EE5E) & TOK_CF_UNDEF);
    CHECK(tok_cpt_flags(0x110000) & TOK_CF_UNDEF);
    CHECK_EQ_INT(tok_cpt_tolower('A'), 'a');
    CHECK_EQ_INT(tok_cpt_tolower(0x130), 'i');                /* simple mapping, as llama.cpp */
    CHECK_EQ_INT(tok_cpt_tolower(0x1C5), 0x1C6);
    CHECK_EQ_INT(tok_cpt_nfd_first(0xE9), 'e');
    CHECK_EQ_INT(tok_cpt_nfd_first(0xD55C), 0x1112);          /* Hangul: leading jamo */
}

/* ------------------------------------------------------------ synthetic vocabs */

typedef struct {
    ken_gguf_str toks[512];
    char store[512][16];
    int32_t types[512];
    float scores[512];
    int n;
} vocab_spec;

static int add_tok(vocab_spec *s, const char *text, int type, float score) {
    int i = s->n++;
    snprintf(s->store[i], sizeof s->store[i], "%s", text);
    s->toks[i] = (ken_gguf_str){ s->store[i], strlen(s->store[i]) };
    s->types[i] = type, s->scores[i] = score;
    return i;
}

static ken_vocab *write_and_load(ken_gguf_writer *w, ken_err *err, ken_status *st_out) {
    char path[] = "/tmp/ken_test_tok_XXXXXX";
    int fd = mkstemp(path);
    ken_vocab *v = NULL;
    ken_gguf *g = NULL;
    if (fd < 0) return NULL;
    close(fd);
    ken_status st = ken_gguf_write(w, path, err);
    if (st == KEN_OK) st = ken_gguf_open(path, &g, err);
    if (st == KEN_OK) st = ken_tok_load(g, &v, err);
    ken_gguf_close(g);
    unlink(path);
    if (st_out) *st_out = st;
    return v;
}

static ken_gguf_writer *spec_writer(const vocab_spec *s, const char *model, const char *pre) {
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    ken_gguf_set_str(w, "general.architecture", "llama");
    ken_gguf_set_str(w, "tokenizer.ggml.model", model);
    if (pre) ken_gguf_set_str(w, "tokenizer.ggml.pre", pre);
    ken_gguf_set_arr_str(w, "tokenizer.ggml.tokens", s->toks, (uint64_t)s->n);
    ken_gguf_set_arr(w, "tokenizer.ggml.token_type", KEN_GGUF_INT32, s->types, (uint64_t)s->n);
    ken_gguf_set_arr(w, "tokenizer.ggml.scores", KEN_GGUF_FLOAT32, s->scores, (uint64_t)s->n);
    return w;
}

static void tokenize(const ken_vocab *v, const char *t, size_t n, int add, int parse,
                     int32_t *out, size_t *nout) {
    int32_t *ids = NULL;
    *nout = 0;
    ken_err e;
    ken_status st = ken_tok_tokenize(v, t, n, add, parse, &ids, nout, &e);
    CHECKF(st == KEN_OK, "%s", e.msg);
    if (*nout && *nout <= 64) memcpy(out, ids, *nout * sizeof *ids);
    free(ids);
}

#define EXPECT_IDS(got, ngot, ...) do { int32_t w_[] = { __VA_ARGS__ }; \
    size_t nw_ = sizeof w_ / sizeof w_[0]; \
    CHECKF(ngot == nw_ && !memcmp(got, w_, sizeof w_), "ids differ (%zu vs %zu)", ngot, nw_); \
} while (0)

/* A tiny byte-level BPE vocab: the 256 byte images, then merged tokens. */
static ken_vocab *make_bpe_pre(const char *pre) {
    static vocab_spec s;
    memset(&s, 0, sizeof s);
    for (int b = 0; b < 256; b++) {
        char e[8];
        e[tok_utf8_put(tok_byte_to_cpt((uint8_t)b), e)] = 0;
        add_tok(&s, e, 1, 0);
    }
    add_tok(&s, "he", 1, 0);           /* 256 */
    add_tok(&s, "ll", 1, 0);           /* 257 */
    add_tok(&s, "hell", 1, 0);         /* 258 */
    add_tok(&s, "hello", 1, 0);        /* 259 */
    add_tok(&s, "\xc4\xa0w", 1, 0);    /* 260 "Ġw" */
    add_tok(&s, "<|end|>", 3, 0);      /* 261 control */
    add_tok(&s, "aa", 1, 0);           /* 262 */
    add_tok(&s, "aaaa", 1, 0);         /* 263 */
    static ken_gguf_str merges[7] = {
        { "h e", 3 }, { "l l", 3 }, { "he ll", 5 }, { "hell o", 6 }, { "\xc4\xa0 w", 4 },
        { "a a", 3 }, { "aa aa", 5 } };
    ken_gguf_writer *w = spec_writer(&s, "gpt2", pre);
    ken_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, 7);
    ken_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 261);
    ken_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 261);
    ken_err err;
    ken_vocab *v = write_and_load(w, &err, NULL);
    CHECKF(v != NULL, "%s", err.msg);
    ken_gguf_writer_free(w);
    return v;
}

static ken_vocab *make_bpe(void) { return make_bpe_pre("gpt-2"); }

/* Every pre-tokenizer compiles and splits mixed text (byte-level BPE with
 * all byte tokens present reproduces the text exactly). */
static void test_pretokenizers(void) {
    static const char *const pres[] = { "default", "llama-bpe", "dbrx", "chatglm-bpe",
        "deepseek-llm", "deepseek-coder", "falcon", "starcoder", "command-r", "gpt-2", "mpt",
        "trillion", "jais", "qwen2", "stablelm2", "poro-chat", "bloom", "seed-coder",
        "grok-2", "superbpe", "qwen35", "minicpm5", "deepseek-v3", "youtu", "jais-2", "viking",
        "tekken", "exaone-moe", "chameleon", "hunyuan", "solar-open", "hunyuan-dense", "joyai-llm",
        "granite-docling" };
    const char text[] = "Hello, y'all! 3.14159 \xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c  \t\n"
                        "caf\xc3\xa9 \xd0\x9f\xd1\x80\xd0\xb8 1234567 ...??? \xf0\x9f\xa6\x99\r\n  ";
    for (size_t p = 0; p < KEN_ARRAY_LEN(pres); p++) {
        ken_vocab *v = make_bpe_pre(pres[p]);
        CHECKF(v != NULL, "pre %s", pres[p]);
        if (!v) continue;
        int32_t *ids = NULL;
        size_t n = 0;
        ken_err e;
        CHECKF(ken_tok_tokenize(v, text, sizeof text - 1, false, false, &ids, &n, &e) == KEN_OK,
               "pre %s: %s", pres[p], e.msg);
        tok_str cat = { 0 };
        for (size_t i = 0; i < n; i++) {
            size_t pl;
            const char *pc = ken_tok_piece(v, ids[i], false, &pl);
            if (pc) tok_str_append(&cat, pc, pl);
        }
        CHECKF(cat.n == sizeof text - 1 && !memcmp(cat.p, text, cat.n), "pre %s: pieces", pres[p]);
        free(cat.p), free(ids);
        ken_vocab_free(v);
    }
}

static void test_bpe(void) {
    ken_vocab *v = make_bpe();
    REQUIRE(v);
    int32_t ids[64];
    size_t n;
    tokenize(v, "hello world", 11, 0, 0, ids, &n);
    EXPECT_IDS(ids, n, 259, 260, 'o', 'r', 'l', 'd');
    tokenize(v, "", 0, 1, 1, ids, &n);
    CHECK_EQ_INT(n, 0);
    tokenize(v, "he<|end|>", 9, 0, 1, ids, &n);           /* control token parsed */
    EXPECT_IDS(ids, n, 256, 261);
    tokenize(v, "he<|end|>", 9, 0, 0, ids, &n);           /* ... or not */
    CHECK(n > 2);
    /* invalid UTF-8 becomes U+FFFD (EF BF BD), as in llama.cpp */
    tokenize(v, "\xff", 1, 0, 0, ids, &n);
    EXPECT_IDS(ids, n, (int32_t)tok_vocab_find(v, "\xc3\xaf", 2), (int32_t)tok_vocab_find(v, "\xc2\xbf", 2),
               (int32_t)tok_vocab_find(v, "\xc2\xbd", 2));
    char *d = NULL;
    size_t dn = 0;
    ken_err e;
    int32_t hw[] = { 259, 260, 'o' };
    CHECK(ken_tok_detokenize(v, hw, 3, false, false, &d, &dn, &e) == KEN_OK);
    CHECK_EQ_STR(d, "hello wo");
    free(d);
    int32_t bad[] = { 5, 100000 };
    CHECK(ken_tok_detokenize(v, bad, 2, false, false, &d, &dn, &e) == KEN_ERR_INVALID);
    size_t pl;
    CHECK(ken_tok_piece(v, -1, true, &pl) == NULL);
    CHECK_EQ_STR(ken_tok_piece(v, 261, false, &pl), "");
    ken_vocab_free(v);
}

/* Hostile text: long runs must stay near-linear, any bytes must work. */
static void test_bpe_hostile(void) {
    ken_vocab *v = make_bpe();
    REQUIRE(v);
    size_t n = 1 << 18;
    char *t = malloc(n);
    REQUIRE(t);
    const char *pats[] = { "a", " ", "\n", "he", "'s", "\xc3\xa9", "1" };
    for (size_t p = 0; p <= KEN_ARRAY_LEN(pats); p++) {
        srand(7);
        for (size_t i = 0; i < n; i++)
            t[i] = p < KEN_ARRAY_LEN(pats) ? pats[p][i % strlen(pats[p])] : (char)rand();
        int32_t *ids = NULL;
        size_t nid = 0;
        ken_err e;
        clock_t c0 = clock();
        ken_status st = ken_tok_tokenize(v, t, n, true, true, &ids, &nid, &e);
        double s = (double)(clock() - c0) / CLOCKS_PER_SEC;
        CHECKF(st == KEN_OK && nid > 0, "pattern %zu: %s", p, e.msg);
        CHECKF(s < 20, "pattern %zu took %.1f s", p, s);
        free(ids);
    }
    ken_err e;
    int32_t *ids;
    size_t nid;
    CHECK(ken_tok_tokenize(v, t, TOK_TEXT_MAX + 1, false, false, &ids, &nid, &e) == KEN_ERR_LIMIT);
    free(t);
    /* 1 MB of one letter: one word of 2^20 symbols, merged pairwise twice */
    size_t big = 1 << 20;
    REQUIRE((t = malloc(big)));
    memset(t, 'a', big);
    clock_t c0 = clock();
    CHECK(ken_tok_tokenize(v, t, big, false, false, &ids, &nid, &e) == KEN_OK);
    CHECK((double)(clock() - c0) / CLOCKS_PER_SEC < 20);
    CHECK_EQ_INT(nid, big / 4);
    bool all = nid == big / 4;
    for (size_t i = 0; all && i < nid; i++) all = ids[i] == 263;
    CHECK(all);
    free(ids), free(t);
    ken_vocab_free(v);
}

/* SentencePiece: <unk> <s> </s>, byte tokens, a few scored pieces. */
static ken_vocab *make_spm(void) {
    static vocab_spec s;
    memset(&s, 0, sizeof s);
    add_tok(&s, "<unk>", 2, 0);
    add_tok(&s, "<s>", 3, 0);
    add_tok(&s, "</s>", 3, 0);
    for (int b = 0; b < 256; b++) {
        char e[8];
        snprintf(e, sizeof e, "<0x%02X>", b);
        add_tok(&s, e, 6, 0);
    }
    add_tok(&s, "\xe2\x96\x81", 1, -1);           /* 259 ▁ */
    add_tok(&s, "\xe2\x96\x81h", 1, -3);          /* 260 */
    add_tok(&s, "\xe2\x96\x81he", 1, -2);         /* 261 */
    add_tok(&s, "ll", 1, -2);                     /* 262 */
    add_tok(&s, "llo", 1, -1);                    /* 263 */
    add_tok(&s, "\xe2\x96\x81hello", 1, -0.5f);   /* 264 */
    add_tok(&s, "h", 1, -5);                      /* 265 */
    add_tok(&s, "e", 1, -5);                      /* 266 */
    add_tok(&s, "l", 1, -5);                      /* 267 */
    add_tok(&s, "o", 1, -5);                      /* 268 */
    add_tok(&s, "\xe2\x96\x81hell", 1, -4);       /* 269 */
    ken_gguf_writer *w = spec_writer(&s, "llama", NULL);
    ken_err err;
    ken_vocab *v = write_and_load(w, &err, NULL);
    CHECKF(v != NULL, "%s", err.msg);
    ken_gguf_writer_free(w);
    return v;
}

static void test_spm(void) {
    ken_vocab *v = make_spm();
    REQUIRE(v);
    int32_t ids[64];
    size_t n;
    tokenize(v, "hello", 5, 1, 0, ids, &n);
    EXPECT_IDS(ids, n, 1, 264);
    tokenize(v, "hello h\xc3\xa9", 9, 0, 0, ids, &n);    /* é falls back to bytes */
    EXPECT_IDS(ids, n, 264, 260, 3 + 0xC3, 3 + 0xA9);
    tokenize(v, "<s>hello", 8, 0, 1, ids, &n);           /* parsed BOS, then space prefix */
    EXPECT_IDS(ids, n, 1, 264);
    char *d = NULL;
    size_t dn = 0;
    ken_err e;
    int32_t rt[] = { 264, 260, 3 + 0xC3, 3 + 0xA9 };
    CHECK(ken_tok_detokenize(v, rt, 4, false, false, &d, &dn, &e) == KEN_OK);
    CHECK_EQ_STR(d, "hello h\xc3\xa9");
    free(d);
    int32_t wb[] = { 1, 264 };
    CHECK(ken_tok_detokenize(v, wb, 2, true, false, &d, &dn, &e) == KEN_OK);
    CHECK_EQ_STR(d, " hello");         /* BOS removed: the leading space stays */
    free(d);
    CHECK(ken_tok_detokenize(v, wb, 2, false, true, &d, &dn, &e) == KEN_OK);
    CHECK_EQ_STR(d, "<s> hello");
    free(d);
    size_t big = 1 << 20;
    char *t = malloc(big);
    REQUIRE(t);
    memset(t, 'l', big);
    int32_t *many = NULL;
    size_t nm = 0;
    clock_t c0 = clock();
    CHECK(ken_tok_tokenize(v, t, big, true, false, &many, &nm, &e) == KEN_OK);
    CHECK(nm > big / 3);
    CHECK((double)(clock() - c0) / CLOCKS_PER_SEC < 20);
    free(many), free(t);
    ken_vocab_free(v);
}

static ken_vocab *make_wpm(void) {
    static vocab_spec s;
    memset(&s, 0, sizeof s);
    add_tok(&s, "[PAD]", 3, 0);                  /* 0 */
    add_tok(&s, "[UNK]", 1, 0);                  /* 1 */
    add_tok(&s, "[CLS]", 3, 0);                  /* 2 */
    add_tok(&s, "[SEP]", 3, 0);                  /* 3 */
    add_tok(&s, "\xe2\x96\x81hello", 1, 0);      /* 4 */
    add_tok(&s, "\xe2\x96\x81world", 1, 0);      /* 5 */
    add_tok(&s, "\xe2\x96\x81,", 1, 0);          /* 6 */
    add_tok(&s, "\xe2\x96\x81!", 1, 0);          /* 7 */
    add_tok(&s, "\xe2\x96\x81play", 1, 0);       /* 8 */
    add_tok(&s, "ing", 1, 0);                    /* 9 */
    add_tok(&s, "\xe2\x96\x81\xe4\xb8\x80", 1, 0);  /* 10 "▁一" */
    ken_gguf_writer *w = spec_writer(&s, "bert", NULL);
    ken_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 1);
    ken_gguf_set_u32(w, "tokenizer.ggml.seperator_token_id", 3);
    ken_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    ken_gguf_set_u32(w, "tokenizer.ggml.cls_token_id", 2);
    ken_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 2);
    ken_err err;
    ken_vocab *v = write_and_load(w, &err, NULL);
    CHECKF(v != NULL, "%s", err.msg);
    ken_gguf_writer_free(w);
    return v;
}

static void test_wpm(void) {
    ken_vocab *v = make_wpm();
    REQUIRE(v);
    int32_t ids[64];
    size_t n;
    tokenize(v, "H\xc3\xa9llo, WORLD! playing\xe4\xb8\x80zzz", 28, 1, 0, ids, &n);
    EXPECT_IDS(ids, n, 2, 4, 6, 5, 7, 8, 9, 10, 1, 3);
    tokenize(v, "   \t\n", 5, 0, 0, ids, &n);
    CHECK_EQ_INT(n, 0);
    char *d = NULL;
    size_t dn = 0;
    ken_err e;
    int32_t hw[] = { 4, 6, 5, 7 };
    CHECK(ken_tok_detokenize(v, hw, 4, false, false, &d, &dn, &e) == KEN_OK);
    CHECK_EQ_STR(d, " hello, world!");     /* llama.cpp's clean-up removes " ," and " !" */
    free(d);
    ken_vocab_free(v);
}

static void test_bad_metadata(void) {
    static vocab_spec s;
    memset(&s, 0, sizeof s);
    add_tok(&s, "a", 1, 0);
    add_tok(&s, "b", 1, 0);
    ken_err err;
    ken_status st = KEN_OK;
    /* unknown model */
    ken_gguf_writer *w = spec_writer(&s, "nonesuch", NULL);
    CHECK(write_and_load(w, &err, &st) == NULL && st == KEN_ERR_UNSUPPORTED);
    ken_gguf_writer_free(w);
    /* unknown pre-tokenizer */
    w = spec_writer(&s, "gpt2", "no-such-pre");
    ken_gguf_set_arr_str(w, "tokenizer.ggml.merges", s.toks, 0);
    CHECK(write_and_load(w, &err, &st) == NULL && st == KEN_ERR_UNSUPPORTED);
    ken_gguf_writer_free(w);
    /* BPE without merges */
    w = spec_writer(&s, "gpt2", "gpt-2");
    CHECK(write_and_load(w, &err, &st) == NULL && st == KEN_ERR_FORMAT);
    ken_gguf_writer_free(w);
    /* no tokens */
    w = ken_gguf_writer_new(0);
    ken_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    CHECK(write_and_load(w, &err, &st) == NULL && st == KEN_ERR_FORMAT);
    ken_gguf_writer_free(w);
    /* token_type of the wrong element type; scores too short */
    w = ken_gguf_writer_new(0);
    ken_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    ken_gguf_set_arr_str(w, "tokenizer.ggml.tokens", s.toks, 2);
    ken_gguf_set_arr(w, "tokenizer.ggml.token_type", KEN_GGUF_FLOAT32, s.scores, 2);
    CHECK(write_and_load(w, &err, &st) == NULL && st == KEN_ERR_FORMAT);
    ken_gguf_writer_free(w);
    w = ken_gguf_writer_new(0);
    ken_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    ken_gguf_set_arr_str(w, "tokenizer.ggml.tokens", s.toks, 2);
    ken_gguf_set_arr(w, "tokenizer.ggml.scores", KEN_GGUF_FLOAT32, s.scores, 1);
    CHECK(write_and_load(w, &err, &st) == NULL && st == KEN_ERR_FORMAT);
    ken_gguf_writer_free(w);
    /* duplicate token texts */
    add_tok(&s, "a", 1, 0);
    w = spec_writer(&s, "llama", NULL);
    CHECK(write_and_load(w, &err, &st) == NULL && st == KEN_ERR_FORMAT);
    ken_gguf_writer_free(w);
    /* the public loader on a missing file */
    ken_vocab *v = NULL;
    char *msg = NULL;
    CHECK(ken_vocab_load("/nonexistent/x.gguf", &v, &msg) != KEN_OK && v == NULL && msg);
    free(msg);
}

/* One vocab shared by threads: tokenizing is read-only on it. */
typedef struct { const ken_vocab *v; size_t n; int ok; } thread_arg;

static void *tokenize_thread(void *p) {
    thread_arg *a = p;
    static const char text[] = "hello world, hello again; \xc3\xa9t\xc3\xa9 <|end|> aaaa";
    a->ok = 1;
    for (int r = 0; r < 50; r++) {
        int32_t *ids = NULL;
        size_t n = 0;
        ken_err e;
        if (ken_tok_tokenize(a->v, text, sizeof text - 1, true, true, &ids, &n, &e) != KEN_OK ||
            (a->n && n != a->n))
            a->ok = 0;
        a->n = n;
        free(ids);
    }
    return NULL;
}

static void test_threads(void) {
    ken_vocab *v = make_bpe();
    REQUIRE(v);
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){ v, 0, 0 };
        CHECK(pthread_create(&th[i], NULL, tokenize_thread, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].ok);
        CHECK_EQ_INT(args[i].n, args[0].n);
    }
    ken_vocab_free(v);
}

TEST_MAIN(test_byte_map, test_utf8_lenient, test_flags, test_pretokenizers, test_bpe, test_bpe_hostile, test_spm,
          test_wpm, test_bad_metadata, test_threads)
