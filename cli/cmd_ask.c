/* cmd_ask.c: `ken ask`: parse the arguments, call the public API, print
 * the answer with its citations as text or one JSON document. Without a
 * model the answer is extractive (ken_search.h); with one (--model, --backend
 * or $KEN_BACKEND_URL) a model writes it from numbered sources, streamed to
 * the terminal, and its citations are checked (ken_ask.h), with an optional
 * larger model to escalate to. The model options and printing are shared
 * with `ken chat` (ask_llm.h). */
#include "ask_llm.h"
#include "cli.h"
#include "ken.h"
#include "ken_search.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ ask */

static const char ask_help[] =
    "usage: ken ask QUESTION... [options]\n\n"
    "Without a model: an extractive answer, the sentences of the best passages that\n"
    "answer the question, each with a numbered citation [n] to the document, heading,\n"
    "page and byte span it came from. With a model (--model, --backend or\n"
    "$KEN_BACKEND_URL): the model answers from the numbered passages, streamed, and\n"
    "every [n] is checked against the sources it was given (flags: uncited, invalid\n"
    "citation, weak support; an answer citing nothing valid is ungrounded). When\n"
    "nothing relevant is found, it says so without asking any model.\n\n"
    "options:\n"
    "  -k N               passages to read (default 8)\n"
    "  -n N               sentences in an extractive answer at most (default 3)\n"
    "  --collection C     only documents of collection C\n"
    "  --min-score X      'nothing found' threshold in [0, 1] (share of the question's\n"
    "                     weighted terms in the best sentence; default calibrated)\n"
    "  --json             one JSON document on stdout\n";

static void print_answer_json(const char *q, const ken_answer *a) {
    fputs("{\"question\":", stdout);
    cli_jstr(q);
    printf(",\"found\":%s,\"score\":", ken_answer_found(a) ? "true" : "false");
    cli_jnum(ken_answer_score(a));
    fputs(",\"answer\":", stdout);
    cli_jstr(ken_answer_text(a));
    fputs(",\"citations\":[", stdout);
    for (size_t i = 0; i < ken_answer_citations(a); i++) {
        const ken_citation *c = ken_answer_citation(a, i);
        printf("%s{\"n\":%d,\"doc_id\":%" PRId64 ",\"chunk_id\":%" PRId64 ",\"ext_id\":",
               i ? "," : "", c->n, c->doc_id, c->chunk_id);
        cli_jstr(c->ext_id);
        fputs(",\"uri\":", stdout);
        cli_jstr(c->uri);
        fputs(",\"title\":", stdout);
        cli_jstr(c->title);
        fputs(",\"heading\":", stdout);
        cli_jstr(c->heading);
        printf(",\"page\":%d,\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"score\":",
               (int)c->page, c->start, c->end);
        cli_jnum(c->score);
        fputs(",\"sentence\":", stdout);
        cli_jstr(c->sentence);
        putchar('}');
    }
    fputs("]}\n", stdout);
}

static void print_answer(const ken_answer *a) {
    printf("%s\n", ken_answer_text(a));
    if (!ken_answer_citations(a)) return;
    printf("\nSources:\n");
    for (size_t i = 0; i < ken_answer_citations(a); i++) {
        const ken_citation *c = ken_answer_citation(a, i);
        printf("[%d] %s", c->n, c->title && *c->title ? c->title : c->uri);
        if (c->title && *c->title) printf(" (%s)", c->uri);
        if (c->heading && *c->heading) printf(" > %s", c->heading);
        if (c->page) printf(", page %d", (int)c->page);
        printf(", bytes %" PRId64 "-%" PRId64 "\n", c->start, c->end);
    }
}

static int ask_generated(ken_kb *kb, const char *q, ask_llm_args *a) {
    ken_llm *small = NULL, *large = NULL;
    int rc = ask_llm_open("ask", a, &small, &large);
    if (rc != EXIT_OK) return rc;
    ken_reply *r = NULL;
    ask_llm_callbacks(a);
    ask_llm_interrupt(a, true);
    ken_status st = ken_ask_generate(kb, small, large, q, &a->gen, &r);
    ask_llm_interrupt(a, false);
    if (st == KEN_ERR_CANCELLED) {
        fprintf(stderr, "\nken: cancelled\n");
        rc = cli_exit_of(st);
    } else if (st != KEN_OK) rc = cli_fail(kb, st);
    else ask_llm_print(a, r);
    ken_reply_free(r);
    ken_llm_close(large);
    ken_llm_close(small);
    return rc;
}

int cmd_ask(int argc, char **argv) {
    ken_ask_opts o = {.size = sizeof o};
    ask_llm_args la = {.stream = true, .gen = {.size = sizeof la.gen}};
    bool json = false;
    char **words = argv + 1;
    int nw = 0;
    bool rest = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool has = i + 1 < argc;
        if (rest || s[0] != '-' || s[1] == '\0') { words[nw++] = argv[i]; continue; }
        int m = ask_llm_arg("ask", argc, argv, &i, &la);
        if (m < 0) return EXIT_USAGE;
        if (m > 0) continue;
        if (strcmp(s, "--") == 0) rest = true;
        else if (cli_is_help(s)) { printf("%s%s", ask_help, ask_llm_help); return EXIT_OK; }
        else if (strcmp(s, "--json") == 0) json = true;
        else if (strcmp(s, "-k") == 0 && has) {
            if (!cli_num_u32(argv[++i], 1, 100, &o.k))
                return cli_usage_error("ask", "-k needs a number from 1 to 100, got '%s'", argv[i]);
        } else if (strcmp(s, "-n") == 0 && has) {
            if (!cli_num_u32(argv[++i], 1, 20, &o.max_sentences))
                return cli_usage_error("ask", "-n needs a number from 1 to 20, got '%s'", argv[i]);
        } else if (strcmp(s, "--min-score") == 0 && has) {
            if (!cli_num_f(argv[++i], 0, 1, &o.min_score))
                return cli_usage_error("ask", "--min-score needs a number in [0, 1], got '%s'", argv[i]);
            if (o.min_score == 0) o.min_score = -1;   /* 0 means: always answer */
        } else if (strcmp(s, "--collection") == 0 && has) o.collection = argv[++i];
        else return cli_usage_error("ask", "unknown option or missing value: '%s'", s);
    }
    if (nw == 0) return cli_usage_error("ask", "%s", "a QUESTION is needed");
    char *q = cli_join_words(words, nw);
    if (!q) return cli_usage_error("ask", "%s", "the question is too long (at most 64 KiB)");
    bool esc_flag = la.esc_model || la.esc_url;
    ken_kb *kb = NULL;
    ken_answer *a = NULL;
    int rc = EXIT_OK;
    ken_status st = cli_open_ro(&kb);
    if (st == KEN_OK) ask_llm_from_store(&la, kb);
    if (st != KEN_OK) {
        rc = cli_fail(kb, st);
    } else if (ask_llm_wanted(&la)) {
        la.json = json;
        la.gen.k = o.k;
        la.gen.collection = o.collection;
        la.gen.min_score = o.min_score;
        rc = ask_generated(kb, q, &la);
    } else if (esc_flag) {
        rc = cli_usage_error("ask", "%s", "--escalate-* needs a first model (--model, "
                             "--backend or the store's ask.model / ask.backend)");
    } else {
        if ((st = ken_ask(kb, q, &o, &a)) != KEN_OK) rc = cli_fail(kb, st);
        else if (json) print_answer_json(q, a);
        else print_answer(a);
    }
    ken_answer_free(a);
    ken_kb_close(kb);
    ask_llm_free(&la);
    free(q);
    return rc;
}
