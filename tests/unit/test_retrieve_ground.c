/* test_retrieve_ground.c: the grounded-answer prompt and the citation check
 * (src/retrieve/ground.c) on crafted sources and answers: correct citations
 * pass; a citation to the wrong source, to a source that was not in the
 * prompt, or none at all is flagged. */
#include "base/json.h"
#include "retrieve/ground.h"
#include "test.h"

static const ken_ground_source srcs[] = {
    {.title = "Composting", .heading = "Turning", .uri = "notes/compost.md",
     .text = "Turn the compost heap every two weeks to let oxygen in. A heap that smells of "
             "ammonia has too much green material, so add dry leaves or cardboard.",
     .text_len = 0},
    {.title = "Bicycle maintenance", .uri = "notes/bike.md", .page = 3,
     .text = "Replace a bicycle chain when it has stretched by half a percent. Measure the "
             "stretch with a chain checker tool every thousand kilometres.",
     .text_len = 0},
    {.title = "Sourdough", .uri = "notes/bread.md",
     .text = "Grey liquid on top of a sourdough starter means the starter is hungry and "
             "should be fed with fresh flour and water.",
     .text_len = 0},
};

static ken_ground_source S[3];

static void setup(void) {
    for (int i = 0; i < 3; i++) {
        S[i] = srcs[i];
        S[i].text_len = strlen(S[i].text);
    }
}

static void check_answer(const char *a, ken_ground_check *c) {
    ken_err err = {{0}};
    ken_status st = ken_ground_verify(a, strlen(a), S, 3, 0, c, &err);
    CHECKF(st == KEN_OK, "%s", err.msg);
}

static void test_parse_cites(void) {
    ken_ground_cite *v = NULL;
    size_t n = 0;
    const char *t = "A [1]. B [2, 3] C[4][5] D [6-8] E [9; 10]. Not: `x[11]`, [12](http://a), "
                    "[2024], [], [a], [1-99], [ 13 ].\n```\narr[14] = 0;\n```\nend [15]";
    REQUIRE(ken_ground_parse_cites(t, strlen(t), &v, &n) == KEN_OK);
    int want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 15};
    CHECK_EQ_INT(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n && i < sizeof want / sizeof want[0]; i++) CHECK_EQ_INT(v[i].n, want[i]);
    /* The marker's bytes: "[2, 3]" for both numbers. */
    CHECK_EQ_INT(v[1].start, 9);
    CHECK_EQ_INT(v[1].end, 15);
    CHECK_EQ_INT(v[2].start, 9);
    free(v);
    /* Truncated and hostile input. */
    const char *bad[] = {"[", "[1", "[1,", "[1-", "[1-2", "[99999999999999999]", "``[1]", "]]]["};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE(ken_ground_parse_cites(bad[i], strlen(bad[i]), &v, &n) == KEN_OK);
        CHECKF(n == 0 || i == 6, "%s gave %zu", bad[i], n);
        free(v);
    }
}

static void test_verify_correct(void) {
    setup();
    ken_ground_check c;
    check_answer("Turn the heap every two weeks so oxygen gets in [1]. Replace the chain once "
                 "it has stretched by half a percent [2]. Grey liquid means the starter is "
                 "hungry and needs flour and water.[3]", &c);
    CHECK(c.grounded);
    CHECK(!c.unsure);
    CHECK_EQ_INT(c.n_valid, 3);
    CHECK_EQ_INT(c.n_invalid, 0);
    CHECK_EQ_INT(c.n_sent, 3);
    CHECK_EQ_INT(c.n_claims, 3);
    CHECK_EQ_INT(c.n_flagged, 0);
    for (size_t i = 0; i < c.n_sent; i++) {
        CHECK_EQ_INT(c.sent[i].n_cites, 1);
        CHECK_EQ_INT(c.sent[i].cites[0], (int)i + 1);
        CHECK_EQ_INT(c.sent[i].best_source, (int)i + 1);
        CHECKF(c.sent[i].support >= 0.6, "sentence %zu support %.2f", i, c.sent[i].support);
    }
    /* The marker after the full stop belongs to the sentence before it. */
    const char *a3 = "Grey liquid means the starter is hungry and needs flour and water.[3]";
    CHECK(c.sent[2].end - c.sent[2].start == strlen(a3));
    ken_ground_check_free(&c);
}

static void test_verify_wrong_source(void) {
    setup();
    ken_ground_check c;
    /* The chain claim cites the compost source: flagged weak, with the
     * right source suggested. */
    check_answer("Turn the heap every two weeks so oxygen gets in [1]. Replace the chain once "
                 "it has stretched by half a percent [1].", &c);
    CHECK(c.grounded);
    REQUIRE(c.n_sent == 2);
    CHECK_EQ_INT(c.sent[0].flags, 0);
    CHECK(c.sent[1].flags & KEN_GROUND_WEAK);
    CHECKF(c.sent[1].support < 0.35, "support %.2f", c.sent[1].support);
    CHECK_EQ_INT(c.sent[1].best_source, 2);
    CHECK_EQ_INT(c.n_flagged, 1);
    ken_ground_check_free(&c);
}

static void test_verify_invalid_and_uncited(void) {
    setup();
    ken_ground_check c;
    /* [4] and [0] were never sources: invalid; the answer cites nothing
     * valid, so it is ungrounded. */
    check_answer("Replace the chain once it has stretched by half a percent [4]. Turn the heap "
                 "every two weeks [0].", &c);
    CHECK(!c.grounded);
    CHECK_EQ_INT(c.n_valid, 0);
    CHECK_EQ_INT(c.n_invalid, 2);
    REQUIRE(c.n_sent == 2);
    CHECK(c.sent[0].flags & KEN_GROUND_INVALID);
    CHECK(c.sent[1].flags & KEN_GROUND_INVALID);
    ken_ground_check_free(&c);
    /* A valid citation next to an invalid one: grounded, still flagged. */
    check_answer("Replace the chain once it has stretched by half a percent [2][7].", &c);
    CHECK(c.grounded);
    REQUIRE(c.n_sent == 1);
    CHECK(c.sent[0].flags & KEN_GROUND_INVALID);
    CHECK(!(c.sent[0].flags & KEN_GROUND_WEAK));
    ken_ground_check_free(&c);
    /* No citations at all. */
    check_answer("Chains stretch with use and should be replaced. Compost heaps need air.", &c);
    CHECK(!c.grounded);
    CHECK_EQ_INT(c.n_sent, 2);
    CHECK(c.sent[0].flags & KEN_GROUND_UNCITED);
    CHECK_EQ_INT(c.n_flagged, 2);
    ken_ground_check_free(&c);
    /* A short non-claim sentence needs no citation. */
    check_answer("Yes. Turn the heap every two weeks so oxygen gets in [1].", &c);
    CHECK(c.grounded);
    CHECK_EQ_INT(c.n_claims, 1);
    CHECK_EQ_INT(c.n_flagged, 0);
    ken_ground_check_free(&c);
    /* Citations inside code are not citations. */
    check_answer("Use `chain[2]` to index the chain stretch table in code.", &c);
    CHECK(!c.grounded);
    CHECK_EQ_INT(c.n_cites, 0);
    ken_ground_check_free(&c);
}

/* A long answer (5,000 cited sentences, ~400 KB) is checked whole (its
 * speed is not asserted here: a quadratic check would meet ctest's timeout);
 * over 1 MiB is refused. */
static void test_verify_long(void) {
    setup();
    const char *one = "Turn the compost heap every two weeks so oxygen gets in [1]. ";
    size_t n1 = strlen(one), reps = 5000;
    char *a = malloc(n1 * reps + 1);
    REQUIRE(a);
    for (size_t i = 0; i < reps; i++) memcpy(a + i * n1, one, n1);
    a[n1 * reps] = '\0';
    ken_ground_check c;
    ken_err err = {{0}};
    REQUIRE(ken_ground_verify(a, n1 * reps, S, 3, 0, &c, &err) == KEN_OK);
    CHECK_EQ_INT(c.n_sent, reps);
    CHECK_EQ_INT(c.n_valid, reps);
    CHECK_EQ_INT(c.n_flagged, 0);
    ken_ground_check_free(&c);
    free(a);
    char *big = calloc(KEN_GROUND_ANSWER_BYTES_MAX + 2, 1);
    REQUIRE(big);
    memset(big, 'a', KEN_GROUND_ANSWER_BYTES_MAX + 1);
    CHECK(ken_ground_verify(big, KEN_GROUND_ANSWER_BYTES_MAX + 1, S, 3, 0, &c, &err) ==
          KEN_ERR_LIMIT);
    free(big);
}

static void test_unsure(void) {
    CHECK(ken_ground_unsure("I don't know.", 13));
    CHECK(ken_ground_unsure("I DON\xE2\x80\x99T KNOW", 14));
    CHECK(ken_ground_unsure("The sources do not contain that.", 32));
    CHECK(!ken_ground_unsure("Turn the heap [1].", 18));
    setup();
    ken_ground_check c;
    check_answer("I don't know.", &c);
    CHECK(c.unsure);
    CHECK(!c.grounded);
    CHECK_EQ_INT(c.n_flagged, 0);
    ken_ground_check_free(&c);
}

static size_t count_words(void *ud, const char *t, size_t n) {
    (*(int *)ud)++;
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i] != ' ' && (i == 0 || t[i - 1] == ' ')) w++;
    return w;
}

static const char *content_of(const ken_json *root, size_t i) {
    return ken_json_str(ken_json_get(ken_json_at(root, i), "content"));
}

static void test_prompt(void) {
    setup();
    ken_err err = {{0}};
    int calls = 0;
    ken_ground_prompt p;
    ken_ground_prompt_opts o = {.question = "how often should I turn the heap?",
                                .count = count_words, .count_ud = &calls};
    REQUIRE(ken_ground_build_prompt(S, 3, &o, &p, &err) == KEN_OK);
    CHECK(calls > 0);
    CHECK_EQ_INT(p.n_sources, 3);
    CHECK_EQ_INT(p.used_len[1], S[1].text_len);
    ken_json_doc *d = NULL;
    REQUIRE(ken_json_parse(p.messages_json, strlen(p.messages_json), NULL, &d, NULL, &err) == KEN_OK);
    const ken_json *r = ken_json_root(d);
    REQUIRE(r->type == KEN_JSON_ARRAY && r->n == 2);
    CHECK(strstr(content_of(r, 0), "[2][3]") != NULL);
    const char *u = content_of(r, 1);
    CHECK(strstr(u, "[1] Composting > Turning (notes/compost.md)\nTurn the compost") != NULL);
    CHECK(strstr(u, "[2] Bicycle maintenance (notes/bike.md, page 3)\n") != NULL);
    CHECK(strstr(u, "[3] Sourdough") > strstr(u, "[2] Bicycle"));
    CHECK(strstr(u, "Question: how often should I turn the heap?") != NULL);
    ken_json_free(d);
    ken_ground_prompt_free(&p);

    /* A budget that holds the first source and part of the second: the
     * second is cut at a sentence end, the third left out. */
    o.budget_tokens = 140;
    REQUIRE(ken_ground_build_prompt(S, 3, &o, &p, &err) == KEN_OK);
    CHECK(p.tokens <= 140);
    CHECK_EQ_INT(p.n_sources, 2);
    CHECK_EQ_INT(p.used_len[0], S[0].text_len);
    CHECK(p.used_len[1] < S[1].text_len && p.used_len[1] > 0);
    CHECK(S[1].text[p.used_len[1] - 1] == '.');
    CHECK(strstr(p.messages_json, "[3] Sourdough") == NULL);
    ken_ground_prompt_free(&p);

    /* Too small for the instruction and question. */
    o.budget_tokens = 20;
    CHECK(ken_ground_build_prompt(S, 3, &o, &p, &err) == KEN_ERR_LIMIT);
    CHECK(strstr(err.msg, "budget") != NULL);
    CHECK(p.messages_json == NULL);

    /* No sources: the prompt says so. */
    o.budget_tokens = 0;
    REQUIRE(ken_ground_build_prompt(S, 0, &o, &p, &err) == KEN_OK);
    CHECK(strstr(p.messages_json, "none were found") != NULL);
    ken_ground_prompt_free(&p);
}

static void test_prompt_history(void) {
    setup();
    ken_err err = {{0}};
    int calls = 0;
    ken_ground_prompt p;
    const char *hist =
        "[{\"role\":\"user\",\"content\":\"first question about chains and bicycles here\"},"
        "{\"role\":\"assistant\",\"content\":\"first answer with many words about chains [2]\"},"
        "{\"role\":\"system\",\"content\":\"ignored\"},"
        "{\"role\":\"user\",\"content\":\"second question\"},"
        "{\"role\":\"assistant\",\"content\":\"second answer\"}]";
    ken_ground_prompt_opts o = {.question = "and the heap?", .history_json = hist,
                                .count = count_words, .count_ud = &calls};
    REQUIRE(ken_ground_build_prompt(S, 3, &o, &p, &err) == KEN_OK);
    CHECK_EQ_INT(p.n_history, 4);
    CHECK(strstr(p.messages_json, "ignored") == NULL);
    ken_ground_prompt_free(&p);
    /* A budget whose third for history holds only the newest turn. */
    o.budget_tokens = 200;
    REQUIRE(ken_ground_build_prompt(S, 3, &o, &p, &err) == KEN_OK);
    CHECK_EQ_INT(p.n_history, 2);
    CHECK_EQ_INT(p.n_history_dropped, 2);
    CHECK(strstr(p.messages_json, "second question") != NULL);
    CHECK(strstr(p.messages_json, "first question") == NULL);
    ken_ground_prompt_free(&p);
    /* Malformed history. */
    o.history_json = "[{\"role\":\"user\"}]";
    CHECK(ken_ground_build_prompt(S, 3, &o, &p, &err) == KEN_ERR_FORMAT);
    o.history_json = "[{\"role\":";
    CHECK(ken_ground_build_prompt(S, 3, &o, &p, &err) == KEN_ERR_FORMAT);
    o.history_json = "{}";
    CHECK(ken_ground_build_prompt(S, 3, &o, &p, &err) == KEN_ERR_FORMAT);
}

static void test_containment(void) {
    const char *a = "Turning heaps adds oxygen";
    const char *b = "Turn the compost heap every two weeks to let oxygen in.";
    CHECK(ken_ground_containment(a, strlen(a), b, strlen(b)) > 0.6);
    CHECK(ken_ground_containment(b, strlen(b), "", 0) == 0);
    CHECK(ken_ground_containment("", 0, b, strlen(b)) == 0);
}

static void test_rewrite(void) {
    const char *earlier[] = {"how do I fix a flat tyre", "when should I replace a bicycle chain"};
    char *q = NULL;
    /* Stands alone: unchanged. */
    REQUIRE(ken_ground_rewrite("how often should the compost heap be turned", earlier, 2, &q) == KEN_OK);
    CHECK_EQ_STR(q, "how often should the compost heap be turned");
    free(q);
    /* Refers back: the newest earlier question's new words join. */
    REQUIRE(ken_ground_rewrite("how do I measure it?", earlier, 2, &q) == KEN_OK);
    CHECK_EQ_STR(q, "how do I measure it? replace bicycle chain");
    free(q);
    /* No word twice. */
    REQUIRE(ken_ground_rewrite("and chains?", earlier, 2, &q) == KEN_OK);
    CHECK_EQ_STR(q, "and chains? replace bicycle");
    free(q);
    /* The newest earlier question says nothing either: the one before helps. */
    const char *vague[] = {"how do I fix a flat tyre", "what about it?"};
    REQUIRE(ken_ground_rewrite("and then?", vague, 2, &q) == KEN_OK);
    CHECK_EQ_STR(q, "and then? fix flat tyre");
    free(q);
    /* No history. */
    REQUIRE(ken_ground_rewrite("why?", NULL, 0, &q) == KEN_OK);
    CHECK_EQ_STR(q, "why?");
    free(q);
}

TEST_MAIN(test_rewrite, test_parse_cites, test_verify_correct, test_verify_wrong_source,
          test_verify_invalid_and_uncited, test_verify_long, test_unsure, test_prompt, test_prompt_history,
          test_containment)
