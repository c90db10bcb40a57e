/* conf_tok_expected.c: the tokenizer expectations recorded from llama.cpp
 * in fixtures/expected/tokenizer/<vocab>.json: vocab facts (type, size,
 * special ids, add_* flags), and for 40 tricky strings in three modes
 * (raw, add_special, add_special + parse_special) the ids, every piece
 * (token_to_piece with special = true) and the detokenized bytes. Also the
 * round trip detokenize(tokenize(x)) == x where the tokenizer is lossless.
 * The JSON is read by a small parser local to this test. */
#include "test.h"
#include "tok/tok.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ tiny JSON */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;
typedef struct jval {
    jtype t;
    double num;
    char *str;              /* J_STR (decoded, NUL-terminated); J_OBJ keys */
    size_t n;
    struct jval *kids;      /* J_ARR / J_OBJ items */
    char **keys;            /* J_OBJ */
} jval;

typedef struct { const char *p, *end; bool bad; } jin;

static void jskip(jin *in) {
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\n' || *in->p == '\r' || *in->p == '\t'))
        in->p++;
}

static void jput(char **s, size_t *n, size_t *cap, unsigned c) {
    if (*n + 5 > *cap) {
        *cap = *cap ? *cap * 2 : 32;
        *s = realloc(*s, *cap);
    }
    if (c < 0x80) (*s)[(*n)++] = (char)c;
    else if (c < 0x800) (*s)[(*n)++] = (char)(0xC0 | c >> 6), (*s)[(*n)++] = (char)(0x80 | (c & 63));
    else if (c < 0x10000)
        (*s)[(*n)++] = (char)(0xE0 | c >> 12), (*s)[(*n)++] = (char)(0x80 | ((c >> 6) & 63)),
        (*s)[(*n)++] = (char)(0x80 | (c & 63));
    else
        (*s)[(*n)++] = (char)(0xF0 | c >> 18), (*s)[(*n)++] = (char)(0x80 | ((c >> 12) & 63)),
        (*s)[(*n)++] = (char)(0x80 | ((c >> 6) & 63)), (*s)[(*n)++] = (char)(0x80 | (c & 63));
}

static char *jstring(jin *in) {
    size_t n = 0, cap = 0;
    char *s = NULL;
    jput(&s, &n, &cap, 'x'), n = 0;
    in->p++;                                   /* opening quote */
    while (in->p < in->end && *in->p != '"') {
        unsigned c = (unsigned char)*in->p++;
        if (c == '\\' && in->p < in->end) {
            char e = *in->p++;
            if (e == 'u' && in->end - in->p >= 4) {
                c = (unsigned)strtoul((char[5]){ in->p[0], in->p[1], in->p[2], in->p[3], 0 }, NULL, 16);
                in->p += 4;
                if (c >= 0xD800 && c < 0xDC00 && in->end - in->p >= 6 && in->p[0] == '\\') {
                    unsigned lo = (unsigned)strtoul((char[5]){ in->p[2], in->p[3], in->p[4], in->p[5], 0 }, NULL, 16);
                    in->p += 6;
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                }
                jput(&s, &n, &cap, c);
                continue;
            }
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b'
              : e == 'f' ? '\f' : (unsigned char)e;
        }
        if (n + 2 > cap) cap = cap * 2 + 8, s = realloc(s, cap);
        s[n++] = (char)c;
    }
    if (in->p >= in->end) in->bad = true;
    else in->p++;
    s[n] = 0;
    return s;
}

static void jparse(jin *in, jval *v, int depth);

static void jlist(jin *in, jval *v, bool obj, int depth) {
    size_t cap = 0;
    in->p++;
    jskip(in);
    while (in->p < in->end && *in->p != (obj ? '}' : ']') && !in->bad) {
        if (v->n == cap) {
            cap = cap ? cap * 2 : 8;
            v->kids = realloc(v->kids, cap * sizeof *v->kids);
            if (obj) v->keys = realloc(v->keys, cap * sizeof *v->keys);
        }
        if (obj) {
            if (*in->p != '"') { in->bad = true; break; }
            v->keys[v->n] = jstring(in);
            jskip(in);
            if (in->p >= in->end || *in->p != ':') { in->bad = true; break; }
            in->p++;
        }
        jparse(in, &v->kids[v->n++], depth + 1);
        jskip(in);
        if (in->p < in->end && *in->p == ',') in->p++, jskip(in);
    }
    if (in->p >= in->end) in->bad = true;
    else in->p++;
}

static void jparse(jin *in, jval *v, int depth) {
    memset(v, 0, sizeof *v);
    jskip(in);
    if (in->p >= in->end || depth > 64) { in->bad = true; return; }
    char c = *in->p;
    if (c == '{') v->t = J_OBJ, jlist(in, v, true, depth);
    else if (c == '[') v->t = J_ARR, jlist(in, v, false, depth);
    else if (c == '"') v->t = J_STR, v->str = jstring(in);
    else if (!strncmp(in->p, "true", 4)) v->t = J_BOOL, v->num = 1, in->p += 4;
    else if (!strncmp(in->p, "false", 5)) v->t = J_BOOL, in->p += 5;
    else if (!strncmp(in->p, "null", 4)) v->t = J_NULL, in->p += 4;
    else {
        char *e;
        v->t = J_NUM, v->num = strtod(in->p, &e);
        if (e == in->p) in->bad = true;
        in->p = e;
    }
}

static void jfree(jval *v) {
    for (size_t i = 0; i < v->n; i++) {
        jfree(&v->kids[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->kids), free(v->keys), free(v->str);
}

static const jval *jget(const jval *o, const char *key) {
    if (!o || o->t != J_OBJ) return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return &o->kids[i];
    return NULL;
}

static long jint(const jval *o, const char *key) {
    const jval *v = jget(o, key);
    return v ? (long)v->num : -999;
}

/* ------------------------------------------------------------ helpers */

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)sz + 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) free(p), p = NULL;
    fclose(f);
    if (p) p[sz] = 0, *n = (size_t)sz;
    return p;
}

static size_t unhex(const char *h, char *out) {
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        char b[3] = { h[2 * i], h[2 * i + 1], 0 };
        out[i] = (char)strtoul(b, NULL, 16);
    }
    return n;
}

static bool same_bytes(const char *hex, const char *p, size_t n) {
    char buf[8192];
    size_t m = strlen(hex) / 2;
    if (m > sizeof buf) return false;
    return unhex(hex, buf) == n && (n == 0 || !memcmp(buf, p, n));
}

static const char *k_modes[3] = { "raw", "add_special", "add_special_parse_special" };

static int check_mode(const ken_vocab *v, const char *name, long idx, const char *text,
                      size_t tn, int mode, const jval *exp) {
    int add = mode > 0, parse = mode == 2, bad = 0;
    int32_t *ids = NULL;
    size_t n = 0;
    ken_status st = ken_tokenize(v, text, tn, add, parse, &ids, &n);
    const jval *want = jget(exp, "ids"), *pieces = jget(exp, "pieces_hex");
    const jval *dhex = jget(exp, "detok_hex");
    CHECK(st == KEN_OK && want && pieces && dhex);
    if (st != KEN_OK || !want || !pieces || !dhex) return 1;
    bool ids_ok = n == want->n;
    for (size_t i = 0; ids_ok && i < n; i++) ids_ok = ids[i] == (int32_t)want->kids[i].num;
    CHECKF(ids_ok, "%s case %ld mode %s: ids differ (got %zu, want %zu)", name, idx,
           k_modes[mode], n, want->n);
    bad += !ids_ok;
    for (size_t i = 0; ids_ok && i < n; i++) {
        const char *p;
        size_t pl;
        CHECK(ken_token_piece(v, ids[i], 1, &p, &pl) == KEN_OK);
        bool ok = same_bytes(pieces->kids[i].str, p, pl);
        CHECKF(ok, "%s case %ld mode %s: piece %zu of token %d", name, idx, k_modes[mode], i, ids[i]);
        bad += !ok;
    }
    char *d = NULL;
    size_t dn = 0;
    if (ids_ok) {
        CHECK(ken_detokenize(v, ids, n, 0, parse, &d, &dn) == KEN_OK);
        bool ok = d && same_bytes(dhex->str, d, dn);
        CHECKF(ok, "%s case %ld mode %s: detok '%s'", name, idx, k_modes[mode], d ? d : "");
        bad += !ok;
    }
    free(d), free(ids);
    return bad;
}

/* Where the tokenizer loses nothing, detokenize(tokenize(x)) gives x back:
 * SentencePiece always (byte fallback), byte-level BPE up to llama.cpp's
 * clean-up of spaces (so the pieces are compared when that is on). */
static void check_round_trip(const ken_vocab *v, const char *name, long idx, const char *text,
                             size_t tn) {
    ken_tok_type t = ken_vocab_type(v);
    if (t == KEN_TOK_WPM) return;
    int32_t *ids = NULL;
    size_t n = 0;
    REQUIRE(ken_tokenize(v, text, tn, 0, 0, &ids, &n) == KEN_OK);
    char *d = NULL;
    size_t dn = 0;
    CHECK(ken_detokenize(v, ids, n, 0, 0, &d, &dn) == KEN_OK);
    char *cat = malloc(tn * 4 + 16);
    size_t cn = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t pl;
        if (ken_token_piece(v, ids[i], 0, &p, &pl) == KEN_OK && cn + pl <= tn * 4 + 16)
            memcpy(cat + cn, p, pl), cn += pl;
    }
    bool ok = t == KEN_TOK_SPM ? (dn == tn && !memcmp(d, text, tn))
                               : (cn == tn && !memcmp(cat, text, tn));
    CHECKF(ok, "%s case %ld: round trip differs", name, idx);
    free(cat), free(d), free(ids);
}

static void check_file(const char *vocab_name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/expected/tokenizer/%s.json", test_fixtures(), vocab_name);
    size_t len = 0;
    char *js = read_file(path, &len);
    REQUIRE(js);
    jin in = { js, js + len, false };
    jval root;
    jparse(&in, &root, 0);
    CHECK(!in.bad);
    const jval *src = jget(&root, "source_file");
    REQUIRE(src && src->t == J_STR);
    snprintf(path, sizeof path, "%s/%s", test_fixtures(), src->str);
    ken_vocab *v = NULL;
    char *msg = NULL;
    ken_status st = ken_vocab_load(path, &v, &msg);
    CHECKF(st == KEN_OK, "%s: %s", path, msg ? msg : "");
    free(msg);
    if (st == KEN_OK) {
        const ken_tok_special *sp = ken_vocab_special(v);
        CHECK_EQ_INT(ken_vocab_type(v), jint(&root, "vocab_type"));
        CHECK_EQ_INT(ken_vocab_n_tokens(v), jint(&root, "n_tokens"));
        CHECK_EQ_INT(sp->bos, jint(&root, "bos"));
        CHECK_EQ_INT(sp->eos, jint(&root, "eos"));
        CHECK_EQ_INT(sp->eot, jint(&root, "eot"));
        CHECK_EQ_INT(sp->sep, jint(&root, "sep"));
        CHECK_EQ_INT(sp->nl, jint(&root, "nl"));
        CHECK_EQ_INT(sp->pad, jint(&root, "pad"));
        CHECK_EQ_INT(ken_vocab_add_bos(v), jint(&root, "add_bos"));
        CHECK_EQ_INT(ken_vocab_add_eos(v), jint(&root, "add_eos"));
        CHECK_EQ_INT(ken_vocab_add_sep(v), jint(&root, "add_sep"));
        /* end of generation: EOS and EOT are, an ordinary token is not */
        if (sp->eos >= 0) CHECK(ken_vocab_is_eog(v, sp->eos));
        if (sp->eot >= 0) CHECK(ken_vocab_is_eog(v, sp->eot));
        if (sp->nl != sp->pad) CHECK(!ken_vocab_is_eog(v, sp->nl));   /* bert: nl = [PAD], a FIM pad */
        const jval *cases = jget(&root, "cases");
        REQUIRE(cases && cases->t == J_ARR && cases->n >= 40);
        int bad = 0;
        for (size_t c = 0; c < cases->n; c++) {
            const jval *cs = &cases->kids[c];
            const jval *th = jget(cs, "text_hex");
            REQUIRE(th && th->t == J_STR);
            char *text = malloc(strlen(th->str) / 2 + 1);
            size_t tn = unhex(th->str, text);
            for (int m = 0; m < 3; m++)
                bad += check_mode(v, vocab_name, jint(cs, "index"), text, tn, m,
                                  jget(cs, k_modes[m]));
            check_round_trip(v, vocab_name, jint(cs, "index"), text, tn);
            free(text);
        }
        fprintf(stderr, "%s: %zu cases x 3 modes, %d mismatches\n", vocab_name, cases->n, bad);
        ken_vocab_free(v);
    }
    jfree(&root);
    free(js);
}

static void test_llama_bpe(void) { check_file("llama-bpe"); }
static void test_qwen2(void) { check_file("qwen2"); }
static void test_llama_spm(void) { check_file("llama-spm"); }
static void test_bert_bge(void) { check_file("bert-bge"); }
static void test_stories260k(void) { check_file("stories260K"); }

TEST_MAIN(test_llama_bpe, test_qwen2, test_llama_spm, test_bert_bge, test_stories260k)
