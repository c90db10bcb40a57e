/* cmd_chat.c: `ken chat`: a conversation with the knowledge base. Each
 * question is answered by a model from retrieved sources with checked
 * citations (ken_ask.h), with the conversation in mind: follow-ups are
 * rewritten for retrieval and the earlier turns go into the prompt as far as
 * the context allows. Turns are stored in the store under the session's
 * name, so `ken chat --session NAME` resumes it. On a terminal the line
 * editor is libedit; otherwise stdin is read line by line (one question a
 * line), so scripts and tests can drive it. */
#include "ask_llm.h"
#include "cli.h"
#include "ken.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <editline/readline.h>

#define LINE_BYTES_MAX 65536

static const char chat_help[] =
    "usage: ken chat [--session NAME] (--model FILE | --backend URL) [options]\n\n"
    "A conversation with the knowledge base: every answer is written by the model from\n"
    "numbered sources and its citations are checked, as with `ken ask --model`. Follow-up\n"
    "questions are searched with the words of the questions they refer to, and earlier\n"
    "turns are kept in the prompt within the context budget. The session (questions,\n"
    "answers and the sources each answer used) is stored in the knowledge base; give\n"
    "the same --session NAME to resume it. On a terminal, lines are edited with libedit;\n"
    "otherwise each line of stdin is one question. /quit (or end of input) ends.\n\n"
    "The model comes from the options, else the store's config (ask.model, ask.backend,\n"
    "ask.backend_model, ask.escalate_*), else $KEN_BACKEND_URL.\n\n"
    "options:\n"
    "  --session NAME     resume or start this session (default: a new one named by\n"
    "                     the time, chat-YYYYMMDD-HHMMSS)\n"
    "  --list             list the stored sessions and exit\n"
    "  --history          print the session's stored turns before the first question\n"
    "  -k N               passages to read per question (default 8)\n"
    "  --collection C     only documents of collection C\n"
    "  --json             one JSON document per answer, one per line\n";

static int print_session(void *ud, const char *name, int64_t turns, int64_t updated) {
    (void)ud;
    char when[32] = "";
    time_t t = (time_t)updated;
    struct tm tm;
    if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    printf("%-32s %5lld turns  %s UTC\n", name, (long long)turns, when);
    return 0;
}

/* Reads one line (without its newline) into buf; false at end of input.
 * Longer lines are cut (the rest is read and dropped). */
static bool read_line(bool tty, char *buf, size_t cap) {
    if (tty) {
        char *l = readline("you> ");
        if (!l) return false;
        snprintf(buf, cap, "%s", l);
        if (*l) add_history(l);
        free(l);
        return true;
    }
    if (!fgets(buf, (int)cap, stdin)) return false;
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n') buf[--n] = '\0';
    else if (n == cap - 1) {   /* drop the rest of an over-long line */
        int c;
        while ((c = getchar()) != EOF && c != '\n') {}
    }
    if (n && buf[n - 1] == '\r') buf[--n] = '\0';
    return true;
}

static void print_history(const ken_session *s) {
    for (size_t i = 0; i < ken_session_turns(s); i++) {
        const char *role = NULL;
        const char *c = ken_session_turn(s, i, &role);
        printf("%s> %s\n", strcmp(role, "user") == 0 ? "you" : "ken", c);
    }
}

/* The conversation loop; returns the exit code. */
static int converse(ken_kb *kb, ken_session *s, ask_llm_args *a, bool show_history) {
    ken_llm *small = NULL, *large = NULL;
    int rc = ask_llm_open("chat", a, &small, &large);
    if (rc != EXIT_OK) return rc;
    bool tty = isatty(STDIN_FILENO) != 0;
    if (ken_session_turns(s))
        fprintf(stderr, "ken: resumed session '%s' (%zu messages)\n", ken_session_name(s),
                ken_session_turns(s));
    else
        fprintf(stderr, "ken: session '%s'\n", ken_session_name(s));
    if (show_history) print_history(s);
    char *line = malloc(LINE_BYTES_MAX);
    if (!line) rc = cli_fail(NULL, KEN_ERR_NOMEM);
    ask_llm_callbacks(a);
    while (line && read_line(tty, line, LINE_BYTES_MAX)) {
        char *q = line;
        while (*q == ' ' || *q == '\t') q++;
        if (!*q) continue;
        if (strcmp(q, "/quit") == 0 || strcmp(q, "/exit") == 0) break;
        if (!a->json && a->stream) fputs("ken> ", stdout);
        fflush(stdout);
        ken_reply *r = NULL;
        ask_llm_interrupt(a, true);
        ken_status st = ken_session_ask(s, small, large, q, &a->gen, &r);
        ask_llm_interrupt(a, false);
        if (st == KEN_ERR_CANCELLED) {   /* Ctrl-C: this answer only */
            fprintf(stderr, "\nken: cancelled (not stored)\n");
            continue;
        }
        if (st != KEN_OK) {
            rc = cli_fail(kb, st);
            ken_reply_free(r);
            if (st != KEN_ERR_LIMIT && st != KEN_ERR_IO && st != KEN_ERR_FORMAT) break;
            continue;   /* a failed turn (e.g. a server error) is not the end */
        }
        ask_llm_print(a, r);
        if (!a->json) putchar('\n');
        fflush(stdout);
        ken_reply_free(r);
    }
    free(line);
    ken_llm_close(large);
    ken_llm_close(small);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    ask_llm_args a = {.stream = true, .gen = {.size = sizeof a.gen}};
    const char *name = NULL;
    bool list = false, history = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool has = i + 1 < argc;
        int m = ask_llm_arg("chat", argc, argv, &i, &a);
        if (m < 0) return EXIT_USAGE;
        if (m > 0) continue;
        if (cli_is_help(s)) { printf("%s%s", chat_help, ask_llm_help); return EXIT_OK; }
        else if (strcmp(s, "--json") == 0) a.json = true;
        else if (strcmp(s, "--list") == 0) list = true;
        else if (strcmp(s, "--history") == 0) history = true;
        else if (strcmp(s, "--session") == 0 && has) name = argv[++i];
        else if (strcmp(s, "--collection") == 0 && has) a.gen.collection = argv[++i];
        else if (strcmp(s, "-k") == 0 && has) {
            if (!cli_num_u32(argv[++i], 1, 100, &a.gen.k))
                return cli_usage_error("chat", "-k needs a number from 1 to 100, got '%s'",
                                       argv[i]);
        } else return cli_usage_error("chat", "unknown option or missing value: '%s'", s);
    }
    char auto_name[64];
    if (!name) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(auto_name, sizeof auto_name, "chat-%Y%m%d-%H%M%S", &tm);
        name = auto_name;
    }
    ken_kb_opts ko = {.size = sizeof ko, .path = cli_db_path, .readonly = list};
    ken_kb *kb = NULL;
    ken_session *s = NULL;
    int rc = EXIT_OK;
    ken_status st = ken_kb_open(&ko, &kb);
    if (st == KEN_OK) ask_llm_from_store(&a, kb);
    if (st == KEN_OK && !list && !ask_llm_wanted(&a)) {
        rc = cli_usage_error("chat", "%s", "a model is needed: --model FILE, --backend URL "
                             "or the store's ask.model / ask.backend");
    } else {
        if (st == KEN_OK && list) st = ken_session_list(kb, print_session, NULL);
        else if (st == KEN_OK) st = ken_session_open(kb, name, 1, &s);
        if (st != KEN_OK) rc = cli_fail(kb, st);
        else if (!list) rc = converse(kb, s, &a, history);
    }
    ken_session_close(s);
    ken_kb_close(kb);
    ask_llm_free(&a);
    return rc;
}
