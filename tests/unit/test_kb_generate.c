/* test_kb_generate.c: generated answers and chat sessions through the public
 * API (include/ken_ask.h) with a real local model (stories260K from the
 * fixtures, which writes stories, not cited answers): "nothing relevant"
 * answers without calling the model; otherwise the prompt holds numbered
 * sources, the model streams, the check reports the answer ungrounded, the
 * route names the model, the JSON document has every field; a session
 * stores its turns with their sources and is resumed with them. */
#include "ken.h"
#include "ken_ask.h"
#include "base/json.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static char model[512];

static ken_kb *open_kb(int readonly) {
    char p[512];
    snprintf(p, sizeof p, "%s/kb.db", dir);
    ken_kb_opts o = {.size = sizeof o, .path = p, .create = !readonly, .readonly = readonly};
    ken_kb *kb = NULL;
    ken_status st = ken_kb_open(&o, &kb);
    if (st) {
        fprintf(stderr, "open: %s\n", ken_kb_errmsg(kb));
        ken_kb_close(kb);
        return NULL;
    }
    return kb;
}

static void fill(ken_kb *kb) {
    static const char *docs[][2] = {
        {"compost.md", "# Composting\n\nTurn the compost heap every two weeks to let oxygen "
                       "in. A heap that smells of ammonia has too much green material.\n"},
        {"bike.md", "# Bicycles\n\nReplace a bicycle chain when it has stretched by half a "
                    "percent. Measure the stretch with a chain checker tool.\n"},
    };
    for (size_t i = 0; i < 2; i++) {
        ken_add_stats s;
        ken_add_opts o = {.size = sizeof o};
        CHECK(ken_kb_add_buffer(kb, docs[i][0], docs[i][1], strlen(docs[i][1]), &o, &s) == KEN_OK);
    }
}

typedef struct {
    int pieces;
    size_t bytes;
    int routes;
} stream_ctx;

static int on_text(void *ud, int attempt, const char *t, size_t n) {
    stream_ctx *c = ud;
    (void)t;
    CHECK_EQ_INT(attempt, 0);
    c->pieces++;
    c->bytes += n;
    return 0;
}

static void on_route(void *ud, const ken_route_step *s) {
    stream_ctx *c = ud;
    c->routes++;
    CHECK(s->reason && *s->reason);
}

static ken_llm *open_model(void) {
    ken_llm_opts o = {.size = sizeof o, .model_path = model, .threads = 2, .n_ctx = 1024};
    ken_llm *l = NULL;
    char *msg = NULL;
    ken_status st = ken_llm_open(&o, &l, &msg);
    if (st) fprintf(stderr, "model: %s\n", msg ? msg : "?");
    ken_free(msg);
    return l;
}

static void test_ask(void) {
    ken_kb *kb = open_kb(0);
    REQUIRE(kb);
    fill(kb);
    ken_kb_close(kb);
    REQUIRE((kb = open_kb(1)));
    ken_llm *l = open_model();
    REQUIRE(l);
    stream_ctx sc = {0};
    ken_ask_gen_opts o = {.size = sizeof o, .k = 2, .max_tokens = 12, .on_text = on_text,
                          .on_route = on_route, .ud = &sc};
    ken_reply *r = NULL;
    /* Nothing relevant: no model call. */
    REQUIRE(ken_ask_generate(kb, l, NULL, "how do I tune a guitar", &o, &r) == KEN_OK);
    const ken_reply_info *i = ken_reply_get(r);
    CHECK(!i->found);
    CHECK(i->model == NULL);
    CHECK_EQ_INT(i->n_route, 0);
    CHECK_EQ_INT(sc.pieces, 0);
    CHECK(strstr(i->answer, "don't know") != NULL);
    ken_reply_free(r);
    /* Relevant sources: the model answers (a story, so: ungrounded). */
    REQUIRE(ken_ask_generate(kb, l, NULL, "how often should I turn the compost heap", &o, &r) ==
            KEN_OK);
    i = ken_reply_get(r);
    CHECK(i->found);
    CHECK(i->confidence > 0.3);
    CHECK(i->n_sources >= 1 && i->n_sources <= 2);
    CHECK(strstr(i->sources[0].uri, "compost") != NULL);
    CHECK_EQ_INT(i->sources[0].n, 1);
    CHECK(sc.pieces > 0);
    CHECK_EQ_INT(sc.bytes, i->answer_len);
    CHECK(!i->grounded);
    CHECK_EQ_INT(i->n_route, 1);
    CHECK_EQ_INT(sc.routes, 1);
    CHECK_EQ_STR(i->route[0].decision, "answer");
    CHECK(strstr(i->route[0].reason, "no larger model") != NULL);
    CHECK_EQ_STR(i->model, ken_llm_name(l));
    CHECK_EQ_STR(i->backend, "local");
    CHECK(i->prompt_tokens > 50);
    CHECK(i->generated_tokens > 0 && i->generated_tokens <= 12);
    CHECK(i->ttft_s > 0);
    const char *j = ken_reply_json(r);
    REQUIRE(j);
    ken_json_doc *d = NULL;
    REQUIRE(ken_json_parse(j, strlen(j), NULL, &d, NULL, NULL) == KEN_OK);
    const ken_json *root = ken_json_root(d);
    const char *keys[] = {"answer", "citations", "sentences", "sources", "routing", "timings",
                          "grounded", "ungrounded", "model", "confidence"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        CHECKF(ken_json_get(root, keys[k]) != NULL, "%s", keys[k]);
    CHECK(ken_json_get(root, "ungrounded")->b);
    ken_json_free(d);
    ken_reply_free(r);
    /* A context too small for the answer budget is a clear error. */
    o.max_tokens = 2000;
    CHECK(ken_ask_generate(kb, l, NULL, "compost heap", &o, &r) == KEN_ERR_LIMIT);
    CHECK(strstr(ken_kb_errmsg(kb), "max-tokens") != NULL);
    CHECK(r == NULL);
    /* Chat needs a writable store. */
    ken_session *s = NULL;
    CHECK(ken_session_open(kb, "x", 1, &s) == KEN_ERR_INVALID);
    ken_llm_close(l);
    ken_kb_close(kb);
}

static int count_sessions(void *ud, const char *name, int64_t turns, int64_t updated) {
    (void)updated;
    if (strcmp(name, "garden") == 0) *(int64_t *)ud = turns;
    return 0;
}

static void test_session(void) {
    ken_kb *kb = open_kb(0);
    REQUIRE(kb);
    ken_llm *l = open_model();
    REQUIRE(l);
    ken_session *s = NULL;
    CHECK(ken_session_open(kb, "garden", 0, &s) == KEN_ERR_NOTFOUND);
    CHECK(ken_session_open(kb, "", 1, &s) == KEN_ERR_INVALID);
    REQUIRE(ken_session_open(kb, "garden", 1, &s) == KEN_OK);
    CHECK_EQ_INT(ken_session_turns(s), 0);
    ken_ask_gen_opts o = {.size = sizeof o, .k = 2, .max_tokens = 8};
    ken_reply *r = NULL;
    REQUIRE(ken_session_ask(s, l, NULL, "how often should I turn the compost heap", &o, &r) ==
            KEN_OK);
    ken_reply_free(r);
    /* A follow-up: retrieval searches with the earlier question's words. */
    REQUIRE(ken_session_ask(s, l, NULL, "why does it matter?", &o, &r) == KEN_OK);
    const ken_reply_info *i = ken_reply_get(r);
    CHECK(strstr(i->query, "compost") != NULL);
    CHECK(strstr(i->query, "heap") != NULL);
    CHECK(i->found);
    CHECK_EQ_INT(i->history_kept, 2);
    ken_reply_free(r);
    CHECK_EQ_INT(ken_session_turns(s), 4);
    ken_session_close(s);
    /* Resumed: the turns come back in order. */
    REQUIRE(ken_session_open(kb, "garden", 0, &s) == KEN_OK);
    CHECK_EQ_INT(ken_session_turns(s), 4);
    const char *role = NULL;
    CHECK_EQ_STR(ken_session_turn(s, 2, &role), "why does it matter?");
    CHECK_EQ_STR(role, "user");
    CHECK(ken_session_turn(s, 3, &role) && strcmp(role, "assistant") == 0);
    CHECK(ken_session_turn(s, 4, &role) == NULL);
    ken_session_close(s);
    int64_t turns = -1;
    CHECK(ken_session_list(kb, count_sessions, &turns) == KEN_OK);
    CHECK_EQ_INT(turns, 4);
    ken_llm_close(l);
    ken_kb_close(kb);
}

static void cleanup(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void) {
    snprintf(model, sizeof model, "%s/models/stories260K.gguf", test_fixtures());
    snprintf(dir, sizeof dir, "/tmp/ken-test-gen-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_fn fns[] = {test_ask, test_session, cleanup};
    for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++) fns[k]();
    fprintf(stderr, "%d checks, %d failed\n", test_checks_, test_failures_);
    return test_failures_ || !test_checks_ ? 1 : 0;
}
