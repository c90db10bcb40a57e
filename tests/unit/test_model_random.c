/* test_model_random.c: ken_model_random writes models of every supported
 * architecture that load and run (with the fixtures' vocabularies), the
 * same bytes for the same seed, other bytes for another seed, quantized
 * variants, and clear errors for bad options. */
#include "ken_infer.h"
#include "test.h"

#include <math.h>
#include <unistd.h>

static char out[] = "/tmp/ken_test_random_XXXXXX";
static char spm[1024], wpm[1024];

static void setup(void) {
    int fd = mkstemp(out);
    REQUIRE(fd >= 0);
    close(fd);
    snprintf(spm, sizeof spm, "%s/models/stories260K.gguf", test_fixtures());
    snprintf(wpm, sizeof wpm, "%s/models/tiny-bge-cls-f32.gguf", test_fixtures());
}

static void run_decoder(const char *arch, int tied, const char *type) {
    ken_random_opts o = {.size = sizeof o, .arch = arch, .vocab = spm, .tied = tied, .seed = 3,
                         .type = type};
    char *msg = NULL;
    ken_status st = ken_model_random(&o, out, &msg);
    CHECKF(st == KEN_OK, "%s: %s", arch, msg ? msg : "");
    ken_free(msg);
    if (st) return;
    ken_model *m = NULL;
    st = ken_model_open(out, &m, &msg);
    CHECKF(st == KEN_OK, "%s: %s", arch, msg ? msg : "");
    ken_free(msg);
    if (st) return;
    CHECK_EQ_INT(ken_model_n_vocab(m), 512);
    CHECK_EQ_INT(ken_model_n_embd(m), 64);
    ken_ctx *c = NULL;
    REQUIRE(ken_ctx_new(m, NULL, &c, NULL) == KEN_OK);
    int32_t toks[4] = {1, 100, 200, 300};
    float *l = NULL;
    CHECK(ken_ctx_logits(c, toks, 4, &l) == KEN_OK);
    if (l) {
        double ss = 0;
        for (int i = 0; i < 512; i++) ss += l[3 * 512 + i] * l[3 * 512 + i];
        CHECKF(sqrt(ss / 512) > 0.5 && sqrt(ss / 512) < 50, "%s logit rms %g", arch, sqrt(ss / 512));
    }
    ken_free(l);
    char *text = NULL;
    ken_gen_opts g = {.size = sizeof g, .max_tokens = 5, .ignore_eog = 1};
    CHECK(ken_generate(c, "Once upon a time", 16, &g, &text, NULL, NULL) == KEN_OK);
    ken_free(text);
    ken_ctx_free(c);
    ken_model_close(m);
}

static void test_decoders(void) {
    run_decoder("llama", 0, NULL);
    run_decoder("qwen2", 1, NULL);
    run_decoder("qwen3", 0, NULL);
    run_decoder("llama", 0, "Q8_0");
}

static void test_bert(void) {
    ken_random_opts o = {.size = sizeof o, .arch = "bert", .vocab = wpm, .pooling = 1, .seed = 9};
    char *msg = NULL;
    ken_status st = ken_model_random(&o, out, &msg);
    CHECKF(st == KEN_OK, "%s", msg ? msg : "");
    ken_free(msg);
    ken_model *m = NULL;
    REQUIRE(ken_model_open(out, &m, NULL) == KEN_OK);
    CHECK(ken_model_is_encoder_model(m));
    ken_ctx *c = NULL;
    REQUIRE(ken_ctx_new(m, NULL, &c, NULL) == KEN_OK);
    float *a = NULL, *b = NULL;
    size_t da, db;
    CHECK(ken_embed(c, "The cat sits on the mat.", 24, KEN_EMBED_POOL_MODEL, 1, &a, &da) == KEN_OK);
    CHECK(ken_embed(c, "Quantum chromodynamics.", 23, KEN_EMBED_POOL_MODEL, 1, &b, &db) == KEN_OK);
    if (a && b) {
        double dot = 0;
        for (size_t i = 0; i < da; i++) dot += a[i] * b[i];
        CHECK(dot < 0.9999 && dot > -1.0001);
    }
    ken_free(a);
    ken_free(b);
    ken_ctx_free(c);
    ken_model_close(m);
}

static void test_deterministic(void) {
    ken_random_opts o = {.size = sizeof o, .arch = "llama", .vocab = spm, .seed = 5,
                         .n_embd = 32, .n_head = 4, .n_head_kv = 1};
    size_t n1, n2, n3;
    REQUIRE(ken_model_random(&o, out, NULL) == KEN_OK);
    char *a = test_slurp(out, &n1);
    REQUIRE(ken_model_random(&o, out, NULL) == KEN_OK);
    char *b = test_slurp(out, &n2);
    o.seed = 6;
    REQUIRE(ken_model_random(&o, out, NULL) == KEN_OK);
    char *c = test_slurp(out, &n3);
    CHECK(a && b && c && n1 == n2 && n1 == n3);
    if (a && b && c && n1 == n2 && n1 == n3) {
        CHECK(memcmp(a, b, n1) == 0);
        CHECK(memcmp(a, c, n1) != 0);
    }
    free(a);
    free(b);
    free(c);
}

static void test_errors(void) {
    char *msg = NULL;
    ken_random_opts o = {.size = sizeof o, .arch = "gpt2", .vocab = spm};
    CHECK(ken_model_random(&o, out, &msg) == KEN_ERR_INVALID);
    CHECK(msg && strstr(msg, "arch"));
    ken_free(msg);
    o.arch = "llama";
    o.n_embd = 30;   /* not a multiple of 4 heads */
    CHECK(ken_model_random(&o, out, NULL) == KEN_ERR_INVALID);
    o.n_embd = 0;
    o.preset = "huge";
    CHECK(ken_model_random(&o, out, NULL) == KEN_ERR_INVALID);
    o.preset = NULL;
    o.vocab = "/nonexistent.gguf";
    CHECK(ken_model_random(&o, out, NULL) != KEN_OK);
    o.vocab = NULL;
    CHECK(ken_model_random(&o, out, NULL) == KEN_ERR_INVALID);
    o.vocab = spm;
    o.type = "Q9";
    CHECK(ken_model_random(&o, out, NULL) == KEN_ERR_INVALID);
    unlink(out);
}

TEST_MAIN(setup, test_decoders, test_bert, test_deterministic, test_errors)
