/* fuzz_retrieve_ground.c: arbitrary bytes as a model's answer (outside input)
 * checked against fixed sources: citation markers lie in bounds and name
 * numbers 0..999, every sentence span is in bounds and ordered, support is in
 * [0, 1], flags agree with the citations, counts add up. The first bytes
 * also pick the history JSON for the prompt builder, which must fail cleanly
 * or produce a prompt within its budget. */
#include "retrieve/ground.h"

#include <stdlib.h>
#include <string.h>

static void check(int cond) {
    if (!cond) abort();
}

static const ken_ground_source src[] = {
    {.title = "Compost", .uri = "c.md", .text = "Turn the compost heap every two weeks.",
     .text_len = 38},
    {.title = "Bike", .uri = "b.md", .page = 2,
     .text = "Replace a chain stretched by half a percent.", .text_len = 44},
};

static void check_answer(const char *s, size_t size) {
    ken_ground_check c;
    ken_err err;
    ken_status st = ken_ground_verify(s, size, src, 2, 0, &c, &err);
    if (st != KEN_OK) {
        check(st == KEN_ERR_LIMIT || st == KEN_ERR_NOMEM);
        return;
    }
    size_t valid = 0;
    for (size_t k = 0; k < c.n_cites; k++) {
        check(c.cites[k].start < c.cites[k].end && c.cites[k].end <= size);
        check(s[c.cites[k].start] == '[' && s[c.cites[k].end - 1] == ']');
        check(c.cites[k].n >= 0 && c.cites[k].n <= KEN_GROUND_CITE_MAX);
        valid += c.cites[k].n >= 1 && c.cites[k].n <= 2;
    }
    check(valid == c.n_valid && c.n_valid + c.n_invalid == c.n_cites);
    check(c.grounded == (c.n_valid > 0));
    size_t flagged = 0, claims = 0, prev_end = 0;
    for (size_t i = 0; i < c.n_sent; i++) {
        const ken_ground_sentence *x = &c.sent[i];
        check(x->start < x->end && x->end <= size && x->start >= prev_end);
        prev_end = x->end;
        check(x->support >= 0 && x->support <= 1 && x->best_support >= 0 && x->best_support <= 1);
        check(x->best_source >= 0 && x->best_source <= 2);
        check(x->n_cites <= KEN_GROUND_CITES_PER_SENT);
        if ((x->flags & KEN_GROUND_UNCITED)) check(x->n_cites == 0 && x->claim);
        flagged += x->flags != 0;
        claims += x->claim;
    }
    check(flagged == c.n_flagged && claims == c.n_claims);
    ken_ground_check_free(&c);
}

static size_t count(void *ud, const char *t, size_t n) {
    (void)ud; (void)t;
    return n / 4 + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_answer(s, size);
    /* The same bytes as history and as the question of a prompt. */
    ken_ground_prompt p;
    ken_err err;
    ken_ground_prompt_opts o = {.question = s, .history_json = s, .budget_tokens = 4096,
                                .count = count};
    if (ken_ground_build_prompt(src, 2, &o, &p, &err) == KEN_OK) {
        check(p.tokens <= 4096 && p.n_sources <= 2 && p.messages_json);
        ken_ground_prompt_free(&p);
    }
    o.history_json = NULL;
    if (ken_ground_build_prompt(src, 2, &o, &p, &err) == KEN_OK) ken_ground_prompt_free(&p);
    char *q = NULL;
    const char *earlier[] = {s};
    if (ken_ground_rewrite(s, earlier, 1, &q) == KEN_OK) check(strncmp(q, s, strlen(s)) == 0);
    free(q);
    free(s);
    return 0;
}
