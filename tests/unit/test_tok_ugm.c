/* test_tok_ugm.c: the Unigram tokenizer (tokenizer.ggml.model = "t5") on
 * small vocabularies this test writes as GGUF files, with a hand-built
 * precompiled charsmap (a five-key double-array trie): Viterbi choices that
 * greedy matching would get wrong, tie order, the unknown-token score and
 * the merging of unknowns, user-defined tokens (score 0; the prefix
 * pass-through of the normalizer), charsmap replacements and deletions,
 * the whitespace flags, add_special, detokenization, and hostile charsmaps
 * that must fail with KEN_ERR_FORMAT instead of reading out of bounds.
 *
 * The expected ids were worked out by hand from the scores below and then
 * checked against llama.cpp (its llm_tokenizer_ugm, add_special and
 * parse_special off unless a case says otherwise) on the same files:
 * KEN_TEST_UGM_DUMP=PREFIX keeps them as PREFIX-<name>.gguf. */
#include "test.h"
#include "tok/tok_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define U "\xe2\x96\x81"   /* U+2581, the escaped space */

typedef struct {
    ken_gguf_str toks[32];
    int32_t types[32];
    float scores[32];
    int n;
} vocab_spec;

enum { T_NORMAL = 1, T_UNKNOWN = 2, T_CONTROL = 3, T_USER = 4, T_UNUSED = 5 };

static int add_tok(vocab_spec *s, const char *text, int type, float score) {
    int i = s->n++;
    s->toks[i] = (ken_gguf_str){ text, strlen(text) };
    s->types[i] = type, s->scores[i] = score;
    return i;
}

/* The vocabulary (t5 defaults: pad 0, eos 1, unk 2). The lowest normal
 * score is -5, so the unknown token scores -15; "<pad>" (-1000, control)
 * and the unused tokens must not count for that minimum. */
static void base_spec(vocab_spec *s) {
    memset(s, 0, sizeof *s);
    add_tok(s, "<pad>", T_CONTROL, -1000);   /* 0 */
    add_tok(s, "</s>", T_CONTROL, 0);        /* 1 */
    add_tok(s, "<unk>", T_UNKNOWN, 0);       /* 2 */
    add_tok(s, U, T_NORMAL, -2);             /* 3 */
    add_tok(s, U "a", T_NORMAL, -2);         /* 4 */
    add_tok(s, "bc", T_NORMAL, -2);          /* 5 */
    add_tok(s, U "ab", T_NORMAL, -5);        /* 6 */
    add_tok(s, "c", T_NORMAL, -3);           /* 7 */
    add_tok(s, "a", T_NORMAL, -3);           /* 8 */
    add_tok(s, "b", T_NORMAL, -3);           /* 9 */
    add_tok(s, "x", T_NORMAL, -1);           /* 10 */
    add_tok(s, "y", T_NORMAL, -1);           /* 11 */
    add_tok(s, "xy", T_NORMAL, -2);          /* 12 */
    add_tok(s, U "z", T_UNUSED, -18);        /* 13 */
    add_tok(s, "<A>", T_USER, -50);          /* 14 */
    add_tok(s, U "ud", T_USER, -50);         /* 15 */
    add_tok(s, "u", T_NORMAL, -4);           /* 16 */
    add_tok(s, "d", T_NORMAL, -4);           /* 17 */
    add_tok(s, U "w", T_UNUSED, -17);        /* 18 */
    add_tok(s, "zq", T_UNUSED, -40);         /* 19 */
    add_tok(s, "qx", T_NORMAL, -1);          /* 20 */
    add_tok(s, "k", T_UNUSED, -30);          /* 21 */
}

/* ------------------------------------------------------------ a charsmap */

/* SentencePiece's XCDA units: BASE << 10 | LEAF << 8 | LCHECK; value units
 * 1 << 31 | offset into the pool. From a node's unit u at index i, the
 * "offset" o = i ^ BASE(u); its child for byte c sits at o ^ c (with
 * LCHECK c), and, when LEAF is set, its value unit at o. The root is unit 0
 * with offset BASE(unit 0). Keys: "A" -> "a", "AB" -> "xy", "C" -> ""
 * (deleted), "\t" -> " ", and "D" whose value points where the test wants
 * (past the pool, at an unterminated string). */
#define CM_UNITS 256   /* every offset ^ byte stays inside, as in real charsmaps */
static const char CM_POOL[] = "a\0xy\0\0 \0zz";   /* a=0 xy=2 ""=5 " "=6 "zz"=8 (no NUL) */

static uint32_t unit(uint32_t base, int leaf, uint32_t lcheck) {
    return base << 10 | (uint32_t)leaf << 8 | lcheck;
}

static void put_key(uint32_t *a, uint32_t parent_off, unsigned char c, uint32_t off,
                    uint32_t value) {
    uint32_t i = parent_off ^ c;
    a[i] = unit(i ^ off, 1, c);
    a[off] = 1u << 31 | value;
}

/* Serializes the blob: u32 size, the units, the pool. */
static size_t build_charsmap(uint8_t *out, uint32_t root_off, uint32_t d_value) {
    static uint32_t a[CM_UNITS];
    memset(a, 0, sizeof a);
    a[0] = unit(root_off, 0, 0);
    put_key(a, root_off, 'A', 16, 0);            /* A, then AB under it */
    put_key(a, 16, 'B', 24, 2);
    put_key(a, root_off, 'C', 32, 5);
    put_key(a, root_off, '\t', 40, 6);
    put_key(a, root_off, 'D', 48, d_value);
    uint32_t blob = CM_UNITS * 4;
    for (int k = 0; k < 4; k++) out[k] = (uint8_t)(blob >> (8 * k));
    for (size_t i = 0; i < CM_UNITS; i++)
        for (int k = 0; k < 4; k++) out[4 + 4 * i + k] = (uint8_t)(a[i] >> (8 * k));
    memcpy(out + 4 + blob, CM_POOL, sizeof CM_POOL - 1);
    return 4 + blob + sizeof CM_POOL - 1;
}

static uint8_t g_cm[4 + CM_UNITS * 4 + sizeof CM_POOL];

/* ------------------------------------------------------------ files */

typedef struct {
    const uint8_t *cm;         /* NULL: no charsmap key */
    size_t cm_n;
    ken_gguf_type cm_type;
    int space_prefix, extra_ws;   /* -1: key absent */
    int add_bos;
} ugm_opts;

static ken_gguf_writer *writer(const vocab_spec *s, const ugm_opts *o) {
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    ken_gguf_set_str(w, "general.architecture", "t5encoder");
    ken_gguf_set_str(w, "tokenizer.ggml.model", "t5");
    ken_gguf_set_arr_str(w, "tokenizer.ggml.tokens", s->toks, (uint64_t)s->n);
    ken_gguf_set_arr(w, "tokenizer.ggml.token_type", KEN_GGUF_INT32, s->types, (uint64_t)s->n);
    ken_gguf_set_arr(w, "tokenizer.ggml.scores", KEN_GGUF_FLOAT32, s->scores, (uint64_t)s->n);
    if (o->space_prefix >= 0)
        ken_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", o->space_prefix);
    if (o->extra_ws >= 0)
        ken_gguf_set_bool(w, "tokenizer.ggml.remove_extra_whitespaces", o->extra_ws);
    if (o->add_bos) {
        ken_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true);
        ken_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    }
    if (o->cm) {
        if (o->cm_type == KEN_GGUF_STRING)
            ken_gguf_set_str(w, "tokenizer.ggml.precompiled_charsmap", "abcdefgh");
        else
            ken_gguf_set_arr(w, "tokenizer.ggml.precompiled_charsmap", o->cm_type, o->cm, o->cm_n);
    }
    return w;
}

static ken_vocab *load(const char *name, const vocab_spec *s, const ugm_opts *o, ken_status *st,
                       ken_err *err) {
    char path[512] = "/tmp/ken_test_ugm_XXXXXX";
    const char *dump = getenv("KEN_TEST_UGM_DUMP");
    int fd = -1;
    if (dump) snprintf(path, sizeof path, "%s-%s.gguf", dump, name);
    else if ((fd = mkstemp(path)) < 0) return NULL;
    if (fd >= 0) close(fd);
    ken_gguf_writer *w = writer(s, o);
    ken_gguf *g = NULL;
    ken_vocab *v = NULL;
    *st = ken_gguf_write(w, path, err);
    if (*st == KEN_OK) *st = ken_gguf_open(path, &g, err);
    if (*st == KEN_OK) *st = ken_tok_load(g, &v, err);
    ken_gguf_close(g);
    ken_gguf_writer_free(w);
    if (!dump) unlink(path);
    return v;
}

static ken_vocab *load_ok(const char *name, const vocab_spec *s, const ugm_opts *o) {
    ken_status st;
    ken_err err;
    ken_vocab *v = load(name, s, o, &st, &err);
    CHECKF(v != NULL && st == KEN_OK, "%s: %s", name, err.msg);
    return v;
}

static ken_status tok(const ken_vocab *v, const char *t, int add, int parse, int32_t *out,
                      size_t *n) {
    int32_t *ids = NULL;
    ken_err e;
    *n = 0;
    ken_status st = ken_tok_tokenize(v, t, strlen(t), add, parse, &ids, n, &e);
    if (*n <= 32 && *n) memcpy(out, ids, *n * sizeof *ids);
    free(ids);
    return st;
}

#define EXPECT(v, text, add, ...) do { int32_t w_[] = { __VA_ARGS__ }, g_[32]; size_t n_; \
    ken_status s_ = tok(v, text, add, 0, g_, &n_); \
    size_t nw_ = sizeof w_ / sizeof w_[0]; \
    CHECKF(s_ == KEN_OK && n_ == nw_ && !memcmp(g_, w_, sizeof w_), \
           "'%s': status %d, %zu ids (want %zu), first %d", text, s_, n_, nw_, n_ ? g_[0] : -1); \
} while (0)

#define EXPECT_NONE(v, text) do { int32_t g_[32]; size_t n_; \
    CHECK(tok(v, text, 0, 0, g_, &n_) == KEN_OK && n_ == 0); } while (0)

/* ------------------------------------------------------------ tests */

/* The XLM-R flags (space prefix, extra spaces removed), no charsmap. */
static void test_viterbi(void) {
    vocab_spec s;
    base_spec(&s);
    ugm_opts o = { NULL, 0, 0, 1, 1, 0 };
    ken_vocab *v = load_ok("plain", &s, &o);
    REQUIRE(v);
    CHECK_EQ_INT(ken_vocab_type(v), KEN_TOK_UGM);
    /* "_abc": _a + bc (-4) beats the greedy _ab + c (-8) and _ + a + bc (-7) */
    EXPECT(v, "abc", 0, 4, 5);
    /* "_xy": _ + xy and _ + x + y both -4: the first found (xy, from the
     * earlier start) stays */
    EXPECT(v, "xy", 0, 3, 12);
    /* "_z": z has no token: _ + <unk> = -2 + (-5 - 10) = -17 beats the unused
     * _z (-18); the unknown score counts normal tokens only */
    EXPECT(v, "z", 0, 3, 2);
    /* _w (-17) ties _ + <unk>: the token, found first, stays */
    EXPECT(v, "w", 0, 18);
    /* "zq" starts at z but is longer than it: z still gets the <unk>
     * candidate, and _ + <unk> + qx (-18) beats _ + zq + x (-43) */
    EXPECT(v, "zqx", 0, 3, 2, 20);
    /* a code point with a token of its own never becomes <unk>, even when
     * <unk> would score better (k, unused, -30) */
    EXPECT(v, "k", 0, 3, 21);
    /* a run of unknowns is one <unk>; "zé" is two unknown code points */
    EXPECT(v, "zz", 0, 3, 2);
    EXPECT(v, "z\xc3\xa9z", 0, 3, 2);
    EXPECT(v, "zxz", 0, 3, 2, 10, 2);
    /* user-defined tokens score 0 in the Viterbi (_ud at -50 would lose
     * to _ + u + d = -10) */
    EXPECT(v, "ud", 0, 15);
    /* spaces: one escaped space before each word, none at the ends; only
     * ' ' is a space (a tab is one only if the charsmap makes it one) */
    EXPECT(v, "  a   b  ", 0, 4, 3, 9);
    EXPECT(v, "a\tb", 0, 4, 2, 9);
    EXPECT_NONE(v, "");
    EXPECT_NONE(v, "   ");
    /* the user-defined "<A>" is cut out of the text first; each side is a
     * fragment of its own, with its own space prefix */
    EXPECT(v, "x<A>y", 0, 3, 10, 14, 3, 11);
    /* add_special: no BOS, EOS (1) last, as llama.cpp's t5 defaults */
    EXPECT(v, "abc", 1, 4, 5, 1);
    /* invalid UTF-8 becomes U+FFFD (unknown here) */
    EXPECT(v, "\xff" "a", 0, 3, 2, 8);
    /* detokenize: the pieces, U+2581 as a space, add_space_prefix drops
     * the first one; remove_special drops the trailing EOS */
    int32_t ids[] = { 4, 5, 3, 10, 2, 1 };
    char *t = NULL;
    size_t tn = 0;
    ken_err e;
    CHECK(ken_tok_detokenize(v, ids, 6, true, false, &t, &tn, &e) == KEN_OK);
    CHECK_EQ_STR(t, "abc x");
    free(t);
    CHECK(ken_tok_detokenize(v, ids, 6, false, true, &t, &tn, &e) == KEN_OK);
    CHECK_EQ_STR(t, "abc x<unk></s>");
    free(t);
    ken_vocab_free(v);
}

/* No space prefix, extra spaces kept (the flags as T5 files may set them). */
static void test_flags(void) {
    vocab_spec s;
    base_spec(&s);
    ugm_opts o = { NULL, 0, 0, 0, 0, 0 };
    ken_vocab *v = load_ok("flags", &s, &o);
    REQUIRE(v);
    EXPECT(v, "abc", 0, 8, 5);                     /* "abc": a + bc */
    EXPECT(v, "a  b", 0, 8, 3, 3, 9);              /* "a__b" */
    EXPECT(v, " a", 0, 4);                         /* "_a" */
    int32_t ids[] = { 8, 3, 3, 9 };
    char *t = NULL;
    size_t tn = 0;
    ken_err e;
    CHECK(ken_tok_detokenize(v, ids, 4, false, false, &t, &tn, &e) == KEN_OK);
    CHECK_EQ_STR(t, "a  b");
    free(t);
    ken_vocab_free(v);
    /* no flag keys at all: llama.cpp's defaults (no prefix, spaces kept) */
    ugm_opts d = { NULL, 0, 0, -1, -1, 0 };
    v = load_ok("defaults", &s, &d);
    REQUIRE(v);
    EXPECT(v, "a  b", 0, 8, 3, 3, 9);
    ken_vocab_free(v);
    /* add_bos from the file: <s> (here "</s>", id 1) first */
    ugm_opts b = { NULL, 0, 0, 1, 1, 1 };
    v = load_ok("bos", &s, &b);
    REQUIRE(v);
    EXPECT(v, "abc", 1, 1, 4, 5, 1);
    ken_vocab_free(v);
}

static void test_charsmap(void) {
    vocab_spec s;
    base_spec(&s);
    size_t n = build_charsmap(g_cm, 0, 0);
    ugm_opts o = { g_cm, n, KEN_GGUF_UINT8, 1, 1, 0 };
    ken_vocab *v = load_ok("charsmap", &s, &o);
    REQUIRE(v);
    EXPECT(v, "A", 0, 4);              /* "A" -> "a" */
    EXPECT(v, "AB", 0, 3, 12);         /* the longest key: "AB" -> "xy", not "a" + "B" */
    EXPECT(v, "ABC", 0, 3, 12);        /* "C" -> "" */
    EXPECT(v, "ACA", 0, 4, 8);         /* "_aa" */
    EXPECT_NONE(v, "C");
    EXPECT(v, "a\tb", 0, 4, 3, 9);     /* "\t" -> " ", then spaces as usual */
    EXPECT(v, "\tA\t", 0, 4);
    /* a prefix of a user-defined token ("<A" of "<A>") passes through
     * unnormalized: "_<AB" is all unknown; normalized it would be "_<xy" */
    EXPECT(v, "<AB", 0, 3, 2);
    EXPECT(v, "x<A>A", 0, 3, 10, 14, 4);
    ken_vocab_free(v);
    /* INT8 is accepted as well */
    o.cm_type = KEN_GGUF_INT8;
    v = load_ok("charsmap-i8", &s, &o);
    REQUIRE(v);
    EXPECT(v, "AB", 0, 3, 12);
    ken_vocab_free(v);
}

static void load_fails(const char *name, const vocab_spec *s, const ugm_opts *o) {
    ken_status st;
    ken_err err;
    ken_vocab *v = load(name, s, o, &st, &err);
    CHECKF(v == NULL && st == KEN_ERR_FORMAT && err.msg[0], "%s: loaded (status %d)", name, st);
    ken_vocab_free(v);
}

static void test_hostile_charsmap(void) {
    vocab_spec s;
    base_spec(&s);
    size_t n = build_charsmap(g_cm, 0, 0);
    uint8_t small[3] = { 1, 0, 0 };
    ugm_opts o = { small, 3, KEN_GGUF_UINT8, 1, 1, 0 };
    load_fails("short", &s, &o);                 /* no room for the size */
    uint8_t copy[sizeof g_cm];
    memcpy(copy, g_cm, n);
    o.cm = copy, o.cm_n = n;
    copy[0] = 0xFF, copy[1] = 0xFF, copy[2] = 0xFF, copy[3] = 0xFF;
    load_fails("huge-size", &s, &o);             /* trie larger than the blob */
    uint32_t no_pool = (uint32_t)n - 4;
    for (int k = 0; k < 4; k++) copy[k] = (uint8_t)(no_pool >> (8 * k));
    load_fails("no-pool", &s, &o);               /* nothing left for strings */
    o.cm = g_cm, o.cm_type = KEN_GGUF_UINT32;
    o.cm_n = n / 4;
    load_fails("u32", &s, &o);                   /* not a byte array */
    o.cm_type = KEN_GGUF_STRING;
    load_fails("string", &s, &o);
    /* the root's children out of the array: already "\n" (tokenized while
     * loading, as llama.cpp does) walks out of bounds */
    n = build_charsmap(copy, 0, 0);
    copy[4 + 1] = 0x00, copy[4 + 2] = 0x10;      /* unit 0: BASE 1024 */
    o.cm = copy, o.cm_n = n, o.cm_type = KEN_GGUF_UINT8;
    load_fails("root-out", &s, &o);
    /* a key whose replacement lies past the pool, or has no NUL: loading
     * works, tokenizing that key is KEN_ERR_FORMAT, other text is fine */
    uint32_t bad[2] = { (uint32_t)sizeof CM_POOL - 1, 8 };
    for (int k = 0; k < 2; k++) {
        n = build_charsmap(copy, 0, bad[k]);
        o.cm = copy, o.cm_n = n;
        ken_vocab *v = load_ok(k ? "unterminated" : "past-pool", &s, &o);
        REQUIRE(v);
        int32_t ids[32];
        size_t ni;
        CHECK(tok(v, "xD", 0, 0, ids, &ni) == KEN_ERR_FORMAT && ni == 0);
        EXPECT(v, "AB", 0, 3, 12);
        int32_t *p = NULL;
        ken_err e;
        CHECK(ken_tok_tokenize(v, "D", 1, false, false, &p, &ni, &e) == KEN_ERR_FORMAT);
        CHECK(strstr(e.msg, "charsmap") != NULL);
        CHECK(p == NULL);
        ken_vocab_free(v);
    }
    /* a leaf whose value unit is out of the array */
    n = build_charsmap(copy, 0, 0);
    {
        uint32_t i = 0 ^ 'D', u = (uint32_t)(i ^ 5000) << 10 | 1u << 8 | 'D';
        for (int k = 0; k < 4; k++) copy[4 + 4 * i + k] = (uint8_t)(u >> (8 * k));
    }
    ken_vocab *v = load_ok("value-out", &s, &o);
    REQUIRE(v);
    int32_t ids[32];
    size_t ni;
    CHECK(tok(v, "D", 0, 0, ids, &ni) == KEN_ERR_FORMAT);
    ken_vocab_free(v);
}

/* Random bytes through a vocab with the charsmap: no failures, and every
 * id in range (under ASan this also checks the trie and XCDA walks). */
static void test_random_text(void) {
    vocab_spec s;
    base_spec(&s);
    size_t n = build_charsmap(g_cm, 0, 0);
    ugm_opts o = { g_cm, n, KEN_GGUF_UINT8, 1, 1, 0 };
    ken_vocab *v = load_ok("random", &s, &o);
    REQUIRE(v);
    static const char alphabet[] = "abcxyzudABCD<>\t \xc3\xa9\xe2\x96\x81\xff";
    uint64_t rng = 12345;
    char buf[200];
    for (int r = 0; r < 2000; r++) {
        size_t len = (size_t)(test_rng_next(&rng) % sizeof buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = alphabet[test_rng_next(&rng) % (sizeof alphabet - 1)];
        int32_t *ids = NULL;
        size_t ni = 0;
        ken_err e;
        ken_status st = ken_tok_tokenize(v, buf, len, r & 1, r & 2, &ids, &ni, &e);
        CHECKF(st == KEN_OK, "%s", e.msg);
        for (size_t i = 0; i < ni; i++) CHECK(ids[i] >= 0 && ids[i] < s.n);
        free(ids);
    }
    ken_vocab_free(v);
}

TEST_MAIN(test_viterbi, test_flags, test_charsmap, test_hostile_charsmap, test_random_text)
