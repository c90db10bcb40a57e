/* conf_tok_vectors.c: llama.cpp's own tokenizer test vectors
 * (fixtures/tokenizer/ggml-vocab-*.gguf.inp/.out) for all eight vocabs:
 * every string must tokenize (add_special = false, parse_special = false)
 * to exactly the ids llama.cpp produced. No exceptions list. */
#include "test.h"
#include "tok/tok.h"

#include <stdlib.h>
#include <string.h>

static const char SEP[] = "\n__ggml_vocab_test__\n";

/* detokenize(tokenize(x)) == x where nothing is lost: SentencePiece (byte
 * fallback) through ken_detokenize; byte-level BPE by its pieces (llama.cpp's
 * detokenizer may clean up spaces before punctuation). WordPiece is lossy. */
static bool round_trips(const ken_vocab *v, const char *text, size_t tn, const int32_t *ids,
                        size_t n) {
    if (ken_vocab_type(v) == KEN_TOK_WPM) return true;
    if (ken_vocab_type(v) == KEN_TOK_SPM) {
        char *d = NULL;
        size_t dn = 0;
        bool ok = ken_detokenize(v, ids, n, 0, 0, &d, &dn) == KEN_OK && dn == tn &&
                  !memcmp(d, text, tn);
        free(d);
        return ok;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t pl;
        if (ken_token_piece(v, ids[i], 0, &p, &pl) != KEN_OK || off + pl > tn ||
            memcmp(text + off, p, pl))
            return false;
        off += pl;
    }
    return off == tn;
}

static void check_vocab(const char *name) {
    char path[1024], inp_path[1100], out_path[1100];
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-%s.gguf", test_fixtures(), name);
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);
    ken_vocab *v = NULL;
    char *msg = NULL;
    ken_status st = ken_vocab_load(path, &v, &msg);
    CHECKF(st == KEN_OK, "%s: %s", name, msg ? msg : "?");
    free(msg);
    if (st != KEN_OK) return;
    size_t ni = 0, no = 0;
    char *inp = test_slurp(inp_path, &ni), *out = test_slurp(out_path, &no);
    REQUIRE(inp && out);
    size_t n_cases = 0, n_ok = 0;
    char *ip = inp, *op = out;
    for (;;) {
        char *sep = strstr(ip, SEP);
        if (!sep) break;
        char *eol = strchr(op, '\n');
        REQUIRE(eol);
        *eol = 0;
        int32_t *ids = NULL;
        size_t n = 0;
        st = ken_tokenize(v, ip, (size_t)(sep - ip), 0, 0, &ids, &n);
        /* expected ids */
        int32_t want[4096];
        size_t nw = 0;
        for (char *q = op; *q;) {
            while (*q == ' ') q++;
            if (!*q) break;
            want[nw++] = (int32_t)strtol(q, &q, 10);
        }
        bool ok = st == KEN_OK && n == nw && (n == 0 || !memcmp(ids, want, n * sizeof *ids));
        n_cases++, n_ok += ok;
        if (!ok) {
            fprintf(stderr, "%s case %zu '%.*s'\n  want:", name, n_cases, (int)KEN_MIN(sep - ip, 60), ip);
            for (size_t k = 0; k < nw; k++) fprintf(stderr, " %d", want[k]);
            fprintf(stderr, "\n  got: ");
            for (size_t k = 0; k < n; k++) fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n");
        }
        CHECK(ok);
        CHECKF(!ok || round_trips(v, ip, (size_t)(sep - ip), ids, n), "%s case %zu: round trip",
               name, n_cases);
        free(ids);
        ip = sep + strlen(SEP), op = eol + 1;
    }
    fprintf(stderr, "%s: %zu/%zu\n", name, n_ok, n_cases);
    CHECK(n_cases >= 40);
    free(inp), free(out);
    ken_vocab_free(v);
}

static void test_llama_spm(void) { check_vocab("llama-spm"); }
static void test_llama_bpe(void) { check_vocab("llama-bpe"); }
static void test_qwen2(void) { check_vocab("qwen2"); }
static void test_bert_bge(void) { check_vocab("bert-bge"); }
static void test_gpt2(void) { check_vocab("gpt-2"); }
static void test_phi3(void) { check_vocab("phi-3"); }
static void test_deepseek_llm(void) { check_vocab("deepseek-llm"); }
static void test_command_r(void) { check_vocab("command-r"); }

TEST_MAIN(test_llama_spm, test_llama_bpe, test_qwen2, test_bert_bge, test_gpt2, test_phi3,
          test_deepseek_llm, test_command_r)
