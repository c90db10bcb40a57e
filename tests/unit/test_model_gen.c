/* test_model_gen.c: the public inference API (ken_infer.h) end to end on
 * the fixture models: greedy generation reproduces llama.cpp's text, the
 * streaming callback sees exactly the returned text, stop strings, token
 * budgets and seeds behave; embeddings match llama.cpp's; logits with a
 * LoRA adapter match; a cross-encoder (random weights, the bge vocab)
 * reranks through ken_rerank; bad input gives clear errors. */
#include "ken_infer.h"
#include "gguf/gguf.h"
#include "test.h"

#include <math.h>
#include <unistd.h>

static char path_buf[1024];
static const char *fx(const char *rel) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", test_fixtures(), rel);
    return path_buf;
}

/* The "text" of the greedy object of a pN.json (plain ASCII in stories260K). */
static char *greedy_text(const char *run, int p) {
    char rel[256];
    snprintf(rel, sizeof rel, "expected/%s/p%d.json", run, p);
    char *js = test_slurp(fx(rel), NULL);
    if (!js) return NULL;
    const char *g = strstr(js, "\"greedy\"");
    const char *t = g ? strstr(g, "\"text\": \"") : NULL;
    char *out = NULL;
    if (t) {
        t += strlen("\"text\": \"");
        const char *e = strchr(t, '"');
        out = strndup(t, (size_t)(e - t));
    }
    free(js);
    return out;
}

typedef struct {
    char buf[4096];
    size_t len;
    int calls, stop_after;
} sink;

static int on_tok(void *ud, int32_t id, const char *text, size_t len) {
    sink *s = ud;
    (void)id;
    if (s->len + len < sizeof s->buf) {
        memcpy(s->buf + s->len, text, len);
        s->len += len;
        s->buf[s->len] = 0;
    }
    s->calls++;
    return s->stop_after && s->calls >= s->stop_after;
}

static void test_generate(void) {
    ken_model *m = NULL;
    char *msg = NULL;
    REQUIRE(ken_model_open(fx("models/stories260K.gguf"), &m, &msg) == KEN_OK);
    ken_ctx *c = NULL;
    ken_ctx_opts co = {.size = sizeof co, .kv_f32 = 1};
    REQUIRE(ken_ctx_new(m, &co, &c, &msg) == KEN_OK);
    static const char *prompts[3] = {"Once upon a time",
                                     "Lily and Tom went to the park. They saw a big",
                                     "The little dog was sad because"};
    for (int p = 0; p < 3; p++) {
        char *want = greedy_text("stories260K", p);
        REQUIRE(want);
        sink s = {0};
        ken_gen_opts o = {.size = sizeof o, .max_tokens = 32, .ignore_eog = 1, .on_token = on_tok,
                          .ud = &s};
        char *text = NULL;
        size_t tl = 0;
        ken_gen_stats st;
        CHECK(ken_generate(c, prompts[p], strlen(prompts[p]), &o, &text, &tl, &st) == KEN_OK);
        REQUIRE(text);
        /* llama_detokenize drops the leading space of the first piece */
        const char *t = text[0] == ' ' ? text + 1 : text;
        CHECKF(strcmp(t, want) == 0, "p%d: '%s' vs '%s'", p, t, want);
        CHECK_EQ_INT(st.n_generated, 32);
        CHECK_EQ_INT(st.reason, KEN_STOP_MAX_TOKENS);
        CHECK(s.len == tl && memcmp(s.buf, text, tl) == 0);
        ken_free(text);
        free(want);
    }
    /* stop string: "Lily" never reaches the output, not even in part */
    sink s = {0};
    const char *stops[1] = {" named Lily"};
    ken_gen_opts o = {.size = sizeof o, .max_tokens = 32, .stop = stops, .n_stop = 1,
                      .on_token = on_tok, .ud = &s};
    char *text = NULL;
    ken_gen_stats st;
    CHECK(ken_generate(c, "Once upon a time", 16, &o, &text, NULL, &st) == KEN_OK);
    CHECK_EQ_INT(st.reason, KEN_STOP_STRING);
    CHECK_EQ_STR(text, ", there was a little girl");
    CHECK_EQ_STR(s.buf, ", there was a little girl");
    ken_free(text);
    /* the callback stops generation */
    sink s2 = {.stop_after = 3};
    o = (ken_gen_opts){.size = sizeof o, .max_tokens = 32, .on_token = on_tok, .ud = &s2};
    CHECK(ken_generate(c, "Once upon a time", 16, &o, NULL, NULL, &st) == KEN_OK);
    CHECK_EQ_INT(st.reason, KEN_STOP_CALLBACK);
    CHECK_EQ_INT(st.n_generated, 3);
    /* sampling: same seed same text, another seed another text */
    char *a = NULL, *b = NULL, *d = NULL;
    o = (ken_gen_opts){.size = sizeof o, .max_tokens = 40, .temperature = 1.0f, .seed = 11};
    CHECK(ken_generate(c, "Once upon a time", 16, &o, &a, NULL, NULL) == KEN_OK);
    CHECK(ken_generate(c, "Once upon a time", 16, &o, &b, NULL, NULL) == KEN_OK);
    o.seed = 12;
    CHECK(ken_generate(c, "Once upon a time", 16, &o, &d, NULL, NULL) == KEN_OK);
    CHECK(a && b && d && strcmp(a, b) == 0 && strcmp(a, d) != 0);
    ken_free(a);
    ken_free(b);
    ken_free(d);
    /* end of generation: stories ends a story with </s> eventually; a tiny
     * context stops with KEN_STOP_CONTEXT instead of failing */
    ken_ctx *small = NULL;
    ken_ctx_opts so = {.size = sizeof so, .n_ctx = 10};
    REQUIRE(ken_ctx_new(m, &so, &small, &msg) == KEN_OK);
    o = (ken_gen_opts){.size = sizeof o, .max_tokens = 100, .ignore_eog = 1};
    CHECK(ken_generate(small, "Once upon a time", 16, &o, NULL, NULL, &st) == KEN_OK);
    CHECK_EQ_INT(st.reason, KEN_STOP_CONTEXT);
    CHECK_EQ_INT(st.n_prompt + st.n_generated, 11);   /* 10 in the cache + the last sampled */
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    for (size_t i = 0; i + 1 < sizeof longp; i += 2) longp[i] = ' ';
    longp[sizeof longp - 1] = 0;
    CHECK(ken_generate(small, longp, strlen(longp), &o, NULL, NULL, NULL) == KEN_ERR_LIMIT);
    CHECK(strstr(ken_ctx_errmsg(small), "context") != NULL);
    ken_ctx_free(small);
    /* an encoder cannot generate; a decoder has no rerank head */
    float score;
    CHECK(ken_rerank(c, "q", 1, "p", 1, &score) == KEN_ERR_UNSUPPORTED);
    ken_ctx_free(c);
    ken_model_close(m);
}

static void test_embed(void) {
    ken_model *m = NULL;
    char *msg = NULL;
    REQUIRE(ken_model_open(fx("models/tiny-bge-mean-f32.gguf"), &m, &msg) == KEN_OK);
    CHECK(ken_model_is_encoder_model(m));
    CHECK(!ken_model_can_rerank(m));
    ken_ctx *c = NULL;
    REQUIRE(ken_ctx_new(m, NULL, &c, &msg) == KEN_OK);
    size_t n = 0;
    float *want = (float *)test_slurp(fx("expected/tiny-bge-mean/embed.norm.f32"), &n);
    REQUIRE(want && n == 5 * 64 * 4);
    static const char *sent[2] = {"The cat sits on the mat.", "A feline is resting on a rug."};
    for (int k = 0; k < 2; k++) {
        float *v = NULL;
        size_t dim = 0;
        CHECKF(ken_embed(c, sent[k], strlen(sent[k]), KEN_EMBED_POOL_MODEL, 1, &v, &dim) == KEN_OK,
               "%s", ken_ctx_errmsg(c));
        REQUIRE(v && dim == 64);
        double dot = 0;
        for (int i = 0; i < 64; i++) dot += (double)v[i] * want[k * 64 + i];
        CHECKF(dot >= 0.9999, "sentence %d cosine %f", k, dot);
        ken_free(v);
    }
    float *v = NULL;
    size_t dim;
    CHECK(ken_embed(c, "x", 1, 4, 1, &v, &dim) == KEN_ERR_INVALID);   /* rank is not an embedding */
    ken_gen_opts o = {.size = sizeof o};
    CHECK(ken_generate(c, "x", 1, &o, NULL, NULL, NULL) == KEN_ERR_UNSUPPORTED);
    free(want);
    ken_ctx_free(c);
    ken_model_close(m);
    /* missing and non-model files */
    CHECK(ken_model_open("/nonexistent/x.gguf", &m, &msg) != KEN_OK);
    CHECK(msg && *msg);
    ken_free(msg);
    CHECK(ken_model_open(fx("models/tiny-llama3-lora-r4.gguf"), &m, &msg) == KEN_ERR_UNSUPPORTED);
    CHECK(msg && strstr(msg, "adapter"));
    ken_free(msg);
}

static void test_logits_lora(void) {
    ken_model *m = NULL;
    char *msg = NULL;
    REQUIRE(ken_model_open(fx("models/tiny-llama3-f32.gguf"), &m, &msg) == KEN_OK);
    ken_ctx *c = NULL;
    ken_ctx_opts co = {.size = sizeof co, .kv_f32 = 1, .n_threads = 2};
    REQUIRE(ken_ctx_new(m, &co, &c, &msg) == KEN_OK);
    CHECK(ken_ctx_add_lora(c, fx("models/tiny-llama3-lora-r4.gguf"), 1.0f) == KEN_OK);
    CHECK(ken_ctx_add_lora(c, fx("models/stories260K.gguf"), 1.0f) != KEN_OK);
    int32_t toks[5] = {128000, 9906, 11, 1917, 0};
    float *l = NULL;
    CHECK(ken_ctx_logits(c, toks, 5, &l) == KEN_OK);
    size_t n = 0;
    float *want = (float *)test_slurp(fx("expected/tiny-llama3-lora/p0.logits.f32"), &n);
    REQUIRE(l && want && n == (size_t)ken_model_n_vocab(m) * 4);
    double md = 0, mx = 0;
    for (int i = 0; i < ken_model_n_vocab(m); i++) {
        md = fmax(md, fabs(l[4 * ken_model_n_vocab(m) + i] - want[i]));
        mx = fmax(mx, fabs(want[i]));
    }
    CHECKF(md / mx < 1e-3, "LoRA logits rel err %g", md / mx);
    int32_t bad = 1 << 30;
    ken_free(l);
    CHECK(ken_ctx_logits(c, &bad, 1, &l) == KEN_ERR_INVALID);
    free(want);
    ken_ctx_free(c);
    ken_model_close(m);
}

/* A cross-encoder with random weights and the bge vocabulary. */
static void write_reranker(const char *path) {
    ken_err err;
    ken_gguf *vocab = NULL;
    REQUIRE(ken_gguf_open(fx("models/tiny-bge-cls-f32.gguf"), &vocab, &err) == KEN_OK);
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    for (uint64_t i = 0; i < ken_gguf_n_kv(vocab); i++) {
        const ken_gguf_kv *kv = ken_gguf_kv_at(vocab, i);
        if (ken_gguf_str_eq(kv->key, "bert.pooling_type")) continue;
        CHECK(ken_gguf_set_kv(w, kv) == KEN_OK);
    }
    ken_gguf_set_u32(w, "bert.pooling_type", 4);
    for (uint64_t i = 0; i < ken_gguf_n_tensors(vocab); i++)
        CHECK(ken_gguf_copy_tensor(w, ken_gguf_tensor_at(vocab, i)) == KEN_OK);
    static float cls[64 * 64], cls_b[64], out[64], out_b[1];
    uint64_t s = 5;
    for (int i = 0; i < 64 * 64; i++) {
        s = s * 6364136223846793005ull + 1;
        cls[i] = ((float)(s >> 40) / (float)(1 << 24) - 0.5f) * 0.5f;
    }
    for (int i = 0; i < 64; i++) out[i] = (i % 2 ? 0.3f : -0.2f);
    out_b[0] = 0.25f;
    CHECK(ken_gguf_add_tensor(w, "cls.weight", KEN_DT_F32, 2, (uint64_t[]){64, 64}, cls,
                              sizeof cls) == KEN_OK);
    CHECK(ken_gguf_add_tensor(w, "cls.bias", KEN_DT_F32, 1, (uint64_t[]){64}, cls_b,
                              sizeof cls_b) == KEN_OK);
    CHECK(ken_gguf_add_tensor(w, "cls.output.weight", KEN_DT_F32, 2, (uint64_t[]){64, 1}, out,
                              sizeof out) == KEN_OK);
    CHECK(ken_gguf_add_tensor(w, "cls.output.bias", KEN_DT_F32, 1, (uint64_t[]){1}, out_b,
                              sizeof out_b) == KEN_OK);
    CHECK(ken_gguf_write(w, path, &err) == KEN_OK);
    ken_gguf_writer_free(w);
    ken_gguf_close(vocab);
}

static void test_rerank(void) {
    char path[] = "/tmp/ken_test_rerank_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    write_reranker(path);
    ken_model *m = NULL;
    char *msg = NULL;
    ken_status st = ken_model_open(path, &m, &msg);
    CHECKF(st == KEN_OK, "%s", msg ? msg : "");
    ken_free(msg);
    if (st) {
        unlink(path);
        return;
    }
    CHECK(ken_model_can_rerank(m));
    ken_ctx *c = NULL;
    REQUIRE(ken_ctx_new(m, NULL, &c, &msg) == KEN_OK);
    float a = 0, b = 0, a2 = 0;
    CHECK(ken_rerank(c, "what is a cat", 13, "The cat sits on the mat.", 24, &a) == KEN_OK);
    CHECK(ken_rerank(c, "what is a cat", 13, "Quantum chromodynamics.", 23, &b) == KEN_OK);
    CHECK(ken_rerank(c, "what is a cat", 13, "The cat sits on the mat.", 24, &a2) == KEN_OK);
    CHECK(a == a2);          /* deterministic */
    CHECK(a != b);           /* the passage matters */
    CHECK(isfinite(a) && fabsf(a - 0.25f) < 64 * 0.3f);   /* |tanh| <= 1 bounds the head */
    /* the rerank model still embeds (CLS of its states) */
    float *v = NULL;
    size_t dim;
    CHECK(ken_embed(c, "cat", 3, 2, 1, &v, &dim) == KEN_OK && dim == 64);
    ken_free(v);
    ken_ctx_free(c);
    ken_model_close(m);
    unlink(path);
}

TEST_MAIN(test_generate, test_embed, test_logits_lora, test_rerank)
