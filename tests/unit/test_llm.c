/* test_llm.c: the local backend of ken_llm (ken's engine) on the real tiny
 * model of the fixtures (stories260K) and a random-weight decoder written by
 * the test: streaming pieces concatenate to the reply, greedy is repeatable,
 * stop strings, token budgets, cancellation (callback and flag), exact token
 * counts, embeddings equal to ken_embed's, and clear errors. */
#include "ken_llm.h"
#include "ken_infer.h"
#include "base/base.h"
#include "gguf/gguf.h"
#include "test.h"

#include <math.h>
#include <unistd.h>

static char stories[1024], bge[1024];
static char rnd[] = "/tmp/ken_test_llm_XXXXXX";

static const char *MSGS = "[{\"role\":\"system\",\"content\":\"You tell stories.\"},"
                          "{\"role\":\"user\",\"content\":\"Once upon a time\"}]";

static void setup(void) {
    snprintf(stories, sizeof stories, "%s/models/stories260K.gguf", test_fixtures());
    snprintf(bge, sizeof bge, "%s/models/tiny-bge-cls-f32.gguf", test_fixtures());
    int fd = mkstemp(rnd);
    REQUIRE(fd >= 0);
    close(fd);
    ken_random_opts ro = {.size = sizeof ro, .arch = "llama", .vocab = stories, .seed = 7};
    char *msg = NULL;
    ken_status st = ken_model_random(&ro, rnd, &msg);
    CHECKF(st == KEN_OK, "%s", msg ? msg : "");
    ken_free(msg);
}

static ken_llm *open_local(const char *path) {
    ken_llm_opts o = {.size = sizeof o, .model_path = path, .threads = 1};
    ken_llm *l = NULL;
    char *msg = NULL;
    ken_status st = ken_llm_open(&o, &l, &msg);
    CHECKF(st == KEN_OK, "%s: %s", path, msg ? msg : "");
    ken_free(msg);
    return l;
}

typedef struct {
    char buf[65536];
    size_t len;
    int calls, stop_after;      /* on_text returns 1 at call stop_after */
    int cancel_after;           /* raise *flag at call cancel_after */
    volatile int *flag;
} sink;

static int on_text(void *ud, const char *t, size_t n) {
    sink *s = ud;
    if (n == 0) s->calls += 1000;   /* never called with nothing */
    if (s->len + n < sizeof s->buf) {
        memcpy(s->buf + s->len, t, n);
        s->len += n;
        s->buf[s->len] = 0;
    }
    s->calls++;
    if (s->cancel_after && s->calls >= s->cancel_after) *s->flag = 1;
    return s->stop_after && s->calls >= s->stop_after;
}

static char *chat(ken_llm *l, const ken_llm_gen_opts *go, ken_llm_stats *stats, ken_status *st) {
    char *text = NULL, *msg = NULL;
    size_t len = 0;
    *st = ken_llm_chat(l, MSGS, go, &text, &len, stats, &msg);
    if (*st == KEN_OK) CHECK(text && strlen(text) == len);
    else CHECK(text == NULL && msg && *msg);
    ken_free(msg);
    return text;
}

static void test_stream_and_greedy(void) {
    ken_llm *l = open_local(stories);
    REQUIRE(l);
    CHECK_EQ_STR(ken_llm_backend(l), "local");
    CHECK(ken_llm_name(l)[0] != 0);
    CHECK_EQ_INT(ken_llm_n_ctx(l), 2048);
    sink s = {0};
    ken_llm_gen_opts go = {.size = sizeof go, .max_tokens = 40, .on_text = on_text, .ud = &s};
    ken_llm_stats stats;
    ken_status st;
    char *a = chat(l, &go, &stats, &st);
    REQUIRE(st == KEN_OK);
    CHECK(strlen(a) > 20);
    CHECK_EQ_STR(s.buf, a);           /* the pieces are the reply */
    CHECK(s.calls > 3 && s.calls < 1000);
    CHECK(stats.n_prompt > 10);
    CHECK(stats.n_generated > 0 && stats.n_generated <= 40);
    CHECK(strcmp(stats.finish, "length") == 0 || strcmp(stats.finish, "stop") == 0);
    CHECK(stats.total_s >= stats.ttft_s && stats.ttft_s >= 0);
    /* greedy: the same again, without streaming */
    ken_llm_gen_opts g2 = {.size = sizeof g2, .max_tokens = 40};
    char *b = chat(l, &g2, &stats, &st);
    CHECK(st == KEN_OK && b && strcmp(a, b) == 0);
    /* a budget of 5 tokens ends with "length" */
    g2.max_tokens = 5;
    char *c = chat(l, &g2, &stats, &st);
    CHECK(st == KEN_OK && stats.n_generated <= 5);
    if (stats.n_generated == 5) CHECK_EQ_STR(stats.finish, "length");
    CHECK(c && strncmp(a, c, strlen(c)) == 0);
    ken_free(a);
    ken_free(b);
    ken_free(c);
    ken_llm_close(l);
}

static void test_stop_string(void) {
    ken_llm *l = open_local(stories);
    REQUIRE(l);
    ken_llm_gen_opts go = {.size = sizeof go, .max_tokens = 60};
    ken_llm_stats stats;
    ken_status st;
    char *full = chat(l, &go, &stats, &st);
    REQUIRE(st == KEN_OK && strlen(full) > 30);
    /* stop at a word from the middle of the reply: the reply ends before it */
    char word[16] = {0};
    const char *p = full + strlen(full) / 2;
    while (*p && *p != ' ') p++;
    REQUIRE(*p == ' ');
    size_t k = 0;
    while (p[k + 1] && p[k + 1] != ' ' && k < 8) k++;
    memcpy(word, p, k + 1);             /* " word" */
    const char *stop[1] = {word};
    sink s = {0};
    ken_llm_gen_opts gs = {.size = sizeof gs, .max_tokens = 60, .stop = stop, .n_stop = 1,
                           .on_text = on_text, .ud = &s};
    char *cut = chat(l, &gs, &stats, &st);
    REQUIRE(st == KEN_OK && cut);
    size_t at = (size_t)(strstr(full, word) - full);
    CHECKF(strlen(cut) == at && strncmp(full, cut, at) == 0, "stop '%s': '%s' vs '%s'", word, cut, full);
    CHECK_EQ_STR(s.buf, cut);           /* nothing of the stop string was streamed */
    CHECK_EQ_STR(stats.finish, "stop");
    ken_free(full);
    ken_free(cut);
    ken_llm_close(l);
}

static void test_cancel(void) {
    ken_llm *l = open_local(rnd);
    REQUIRE(l);
    /* the callback says stop: KEN_OK, the text so far, "cancelled" */
    sink s = {.stop_after = 3};
    ken_llm_gen_opts go = {.size = sizeof go, .max_tokens = 100, .on_text = on_text, .ud = &s};
    ken_llm_stats stats;
    ken_status st;
    char *t = chat(l, &go, &stats, &st);
    CHECK(st == KEN_OK);
    CHECK_EQ_INT(s.calls, 3);
    CHECK(t && strcmp(t, s.buf) == 0);
    CHECK_EQ_STR(stats.finish, "cancelled");
    CHECK(stats.n_generated < 100);
    ken_free(t);
    /* the flag: KEN_ERR_CANCELLED soon after it is raised */
    volatile int flag = 0;
    sink s2 = {.cancel_after = 2, .flag = &flag};
    go.ud = &s2;
    go.cancel = &flag;
    t = chat(l, &go, &stats, &st);
    CHECK(st == KEN_ERR_CANCELLED);
    CHECK_EQ_INT(s2.calls, 2);
    CHECK_EQ_STR(stats.finish, "cancelled");
    /* raised before the call: nothing runs */
    sink s3 = {0};
    go.ud = &s3;
    t = chat(l, &go, &stats, &st);
    CHECK(st == KEN_ERR_CANCELLED && s3.calls == 0);
    ken_llm_close(l);
}

/* Whatever bytes the model emits, the reply is UTF-8 (invalid bytes become
 * U+FFFD, as a server's JSON would carry them). */
static void test_utf8(void) {
    ken_llm *l = open_local(rnd);
    REQUIRE(l);
    int invalid = 0, fffd = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        sink s = {0};
        ken_llm_gen_opts go = {.size = sizeof go, .max_tokens = 120, .temperature = 1.5f,
                               .seed = seed, .on_text = on_text, .ud = &s};
        ken_llm_stats stats;
        ken_status st;
        char *t = chat(l, &go, &stats, &st);
        CHECK(st == KEN_OK && t && strcmp(t, s.buf) == 0);
        if (t && !ken_utf8_valid(t, strlen(t))) invalid++;
        if (t && strstr(t, "\xEF\xBF\xBD")) fffd++;
        ken_free(t);
    }
    CHECK_EQ_INT(invalid, 0);
    fprintf(stderr, "utf8: %d of 6 replies needed U+FFFD\n", fffd);
    ken_llm_close(l);
}

/* A copy of src with tokenizer.chat_template = tmpl. */
static bool with_template(const char *src, const char *dst, const char *tmpl) {
    ken_gguf *g = NULL;
    ken_err err = {{0}};
    if (ken_gguf_open(src, &g, &err)) return false;
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    bool ok = w != NULL;
    for (uint64_t i = 0; ok && i < ken_gguf_n_kv(g); i++) {
        const ken_gguf_kv *kv = ken_gguf_kv_at(g, i);
        if (!ken_gguf_str_eq(kv->key, "tokenizer.chat_template")) ok = ken_gguf_set_kv(w, kv) == KEN_OK;
    }
    ok = ok && ken_gguf_set_str(w, "tokenizer.chat_template", tmpl) == KEN_OK;
    for (uint64_t i = 0; ok && i < ken_gguf_n_tensors(g); i++)
        ok = ken_gguf_copy_tensor(w, ken_gguf_tensor_at(g, i)) == KEN_OK;
    ok = ok && ken_gguf_write(w, dst, &err) == KEN_OK;
    ken_gguf_writer_free(w);
    ken_gguf_close(g);
    return ok;
}

static int warnings;
static void on_log(void *ud, ken_log_level level, const char *msg) {
    (void)ud;
    if (level == KEN_LOG_WARN && strstr(msg, "cannot be rendered")) warnings++;
}

static size_t count_prompt(const char *prompt) {
    ken_model *m = NULL;
    if (ken_model_open(rnd, &m, NULL)) return 0;
    int32_t *ids = NULL;
    size_t n = 0;
    ken_tokenize(ken_model_vocab(m), prompt, strlen(prompt), 1, 1, &ids, &n);
    ken_free(ids);
    ken_model_close(m);
    return n;
}

/* The model's own template makes the prompt; one that raises fails with
 * its message; one that cannot be parsed falls back (warned once). */
static void test_template(void) {
    char path[] = "/tmp/ken_test_llm_tmpl_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    REQUIRE(with_template(rnd, path, "{% for m in messages %}<start_of_turn>{{ m.role }}\n"
                          "{{ m.content | trim }}<end_of_turn>\n{% endfor %}"
                          "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"));
    ken_llm *l = open_local(path);
    REQUIRE(l);
    ken_llm_gen_opts go = {.size = sizeof go, .max_tokens = 4};
    ken_llm_stats stats;
    ken_status st;
    char *t = chat(l, &go, &stats, &st);
    CHECK(st == KEN_OK);
    size_t want = count_prompt("<start_of_turn>system\nYou tell stories.<end_of_turn>\n"
                               "<start_of_turn>user\nOnce upon a time<end_of_turn>\n"
                               "<start_of_turn>model\n");
    size_t chatml = count_prompt("<|im_start|>system\nYou tell stories.<|im_end|>\n"
                                 "<|im_start|>user\nOnce upon a time<|im_end|>\n"
                                 "<|im_start|>assistant\n");
    CHECK(want != chatml);
    CHECK_EQ_INT(stats.n_prompt, want);
    ken_free(t);
    ken_llm_close(l);
    REQUIRE(with_template(rnd, path, "{{ raise_exception('only user and assistant roles') }}"));
    l = open_local(path);
    REQUIRE(l);
    char *msg = NULL;
    t = NULL;
    CHECK(ken_llm_chat(l, MSGS, &go, &t, NULL, NULL, &msg) == KEN_ERR_FORMAT && !t);
    CHECKF(msg && strstr(msg, "only user and assistant roles"), "%s", msg ? msg : "");
    ken_free(msg);
    ken_llm_close(l);
    REQUIRE(with_template(rnd, path, "{% for %}<|start_header_id|>"));
    l = open_local(path);
    REQUIRE(l);
    ken_set_log(on_log, NULL);
    for (int i = 0; i < 2; i++) {
        t = chat(l, &go, &stats, &st);
        CHECK(st == KEN_OK);
        ken_free(t);
    }
    ken_set_log(NULL, NULL);
    CHECK_EQ_INT(warnings, 1);
    ken_llm_close(l);
    unlink(path);
}

static void test_count_tokens(void) {
    ken_llm *l = open_local(stories);
    REQUIRE(l);
    ken_model *m = NULL;
    REQUIRE(ken_model_open(stories, &m, NULL) == KEN_OK);
    static const char *texts[] = {"Once upon a time, there was a little girl.", "a", "",
                                  "\xc3\xa9t\xc3\xa9 \xe2\x82\xac 12345 ???"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        REQUIRE(ken_tokenize(ken_model_vocab(m), texts[i], strlen(texts[i]), 0, 0, &ids, &n) == KEN_OK);
        CHECK_EQ_INT(ken_llm_count_tokens(l, texts[i], strlen(texts[i])), n);
        ken_free(ids);
    }
    CHECK(ken_llm_count_tokens(l, "Once upon a time", 16) >= 3);
    ken_model_close(m);
    ken_llm_close(l);
}

static void test_embed(void) {
    ken_llm *l = open_local(bge);
    REQUIRE(l);
    const char *texts[2] = {"honeybees dance", "the waggle dance points to flowers"};
    float *v = NULL;
    size_t dim = 0;
    char *msg = NULL;
    REQUIRE(ken_llm_embed(l, texts, NULL, 2, &v, &dim, &msg) == KEN_OK);
    CHECK_EQ_INT(dim, 64);
    ken_model *m = NULL;
    ken_ctx *c = NULL;
    REQUIRE(ken_model_open(bge, &m, NULL) == KEN_OK);
    REQUIRE(ken_ctx_new(m, NULL, &c, NULL) == KEN_OK);
    for (int i = 0; i < 2; i++) {
        float *r = NULL;
        size_t rd = 0;
        REQUIRE(ken_embed(c, texts[i], strlen(texts[i]), KEN_EMBED_POOL_MODEL, 1, &r, &rd) == KEN_OK);
        double ss = 0, diff = 0;
        for (size_t k = 0; k < dim; k++) {
            ss += (double)v[i * dim + k] * v[i * dim + k];
            diff = fmax(diff, fabs(v[i * dim + k] - r[k]));
        }
        CHECK(fabs(ss - 1) < 1e-4);
        CHECK(diff < 1e-6);
        ken_free(r);
    }
    ken_free(v);
    /* an encoder cannot chat */
    ken_llm_gen_opts go = {.size = sizeof go};
    char *t = NULL;
    CHECK(ken_llm_chat(l, MSGS, &go, &t, NULL, NULL, &msg) == KEN_ERR_UNSUPPORTED);
    CHECK(msg && strstr(msg, "embedding model"));
    ken_free(msg);
    ken_ctx_free(c);
    ken_model_close(m);
    ken_llm_close(l);
}

static void test_errors(void) {
    ken_llm *l = NULL;
    char *msg = NULL;
    ken_llm_opts o = {.size = sizeof o};
    CHECK(ken_llm_open(&o, &l, &msg) == KEN_ERR_INVALID && !l && msg);
    ken_free(msg);
    o.model_path = stories, o.url = "http://127.0.0.1:1/v1";
    CHECK(ken_llm_open(&o, &l, &msg) == KEN_ERR_INVALID && !l && msg && strstr(msg, "not both"));
    ken_free(msg);
    o.url = NULL, o.model_path = "/nonexistent/model.gguf";
    CHECK(ken_llm_open(&o, &l, &msg) != KEN_OK && !l && msg && *msg);
    ken_free(msg);
    o.model_path = rnd, o.n_ctx = 32;
    REQUIRE(ken_llm_open(&o, &l, &msg) == KEN_OK);
    CHECK_EQ_INT(ken_llm_n_ctx(l), 32);
    ken_llm_gen_opts go = {.size = sizeof go, .max_tokens = 4};
    char *t = NULL;
    /* malformed messages */
    CHECK(ken_llm_chat(l, "[{\"role\":", &go, &t, NULL, NULL, &msg) != KEN_OK && !t && msg);
    ken_free(msg);
    /* a prompt past the context */
    char big[2048];
    snprintf(big, sizeof big, "[{\"role\":\"user\",\"content\":\"%s\"}]",
             "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
             "fifteen sixteen seventeen eighteen nineteen twenty");
    CHECK(ken_llm_chat(l, big, &go, &t, NULL, NULL, &msg) == KEN_ERR_LIMIT);
    CHECK(msg && strstr(msg, "context"));
    ken_free(msg);
    /* bad options */
    const char *stop[1] = {""};
    go.stop = stop, go.n_stop = 1;
    CHECK(ken_llm_chat(l, MSGS, &go, &t, NULL, NULL, &msg) == KEN_ERR_INVALID);
    ken_free(msg);
    go.n_stop = 0, go.max_tokens = -1;
    CHECK(ken_llm_chat(l, MSGS, &go, &t, NULL, NULL, &msg) == KEN_ERR_INVALID);
    ken_free(msg);
    float *v = NULL;
    size_t dim = 0;
    CHECK(ken_llm_embed(l, NULL, NULL, 0, &v, &dim, &msg) == KEN_ERR_INVALID && !v);
    ken_free(msg);
    ken_llm_close(l);
}

static void test_env(void) {
    setenv("KEN_BACKEND_URL", "http://127.0.0.1:9/v1", 1);
    setenv("KEN_BACKEND_MODEL", "m1", 1);
    setenv("KEN_API_KEY", "sk-secret", 1);
    ken_llm_opts o = {.size = sizeof o};
    ken_llm_opts_from_env(&o);
    CHECK_EQ_STR(o.url, "http://127.0.0.1:9/v1");
    CHECK_EQ_STR(o.model_name, "m1");
    CHECK_EQ_STR(o.api_key, "sk-secret");
    ken_llm_opts p = {.size = sizeof p, .model_path = "x.gguf", .model_name = "mine"};
    ken_llm_opts_from_env(&p);
    CHECK(p.url == NULL);              /* a model file wins over the environment's URL */
    CHECK_EQ_STR(p.model_name, "mine");
    unsetenv("KEN_BACKEND_URL");
    unsetenv("KEN_BACKEND_MODEL");
    unsetenv("KEN_API_KEY");
}

static void cleanup(void) { unlink(rnd); }

TEST_MAIN(setup, test_stream_and_greedy, test_stop_string, test_cancel, test_utf8, test_template, test_count_tokens,
          test_embed, test_errors, test_env, cleanup)
