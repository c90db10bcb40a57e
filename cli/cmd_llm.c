/* cmd_llm.c: `ken llm chat|embed`: drive the generation and embedding
 * interface (ken_llm.h) from the shell, through a local model file or an
 * OpenAI-compatible server, e.g. to check a backend before pointing `ken
 * ask` at it. Chat streams the reply to stdout; Ctrl-C cancels it. */
#include "cli.h"
#include "ken.h"
#include "ken_llm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLM_STOPS_MAX_CLI 16
#define LLM_INPUT_BYTES_MAX ((size_t)16 << 20)

static const char llm_help[] =
    "usage: ken llm chat [options] [PROMPT...]\n"
    "       ken llm embed [options] TEXT...\n\n"
    "Chat with (or embed texts through) a local GGUF model or an OpenAI-compatible\n"
    "server (llama.cpp's server, vLLM, Ollama, OpenAI, `ken serve`). Without --model\n"
    "and --backend: $KEN_BACKEND_URL and $KEN_BACKEND_MODEL. The API key comes from\n"
    "$KEN_API_KEY and is never printed.\n\n"
    "options:\n"
    "  --model FILE          a local GGUF model\n"
    "  --backend URL         an OpenAI-compatible base URL (http://127.0.0.1:8080/v1)\n"
    "  --backend-model NAME  the server's model (default: the first it lists)\n"
    "  --messages FILE       chat: the conversation, an OpenAI-style JSON array (- = stdin)\n"
    "  --system TEXT         chat: a system message before PROMPT\n"
    "  --max-tokens N        chat: reply length in tokens (default 512)\n"
    "  --temperature X       chat: 0 = greedy (default)\n"
    "  --seed N              chat: sampling seed\n"
    "  --stop TEXT           chat: a stop string (repeatable)\n"
    "  --threads N           local: threads (default all cores)\n"
    "  --timeout S           server: longest wait for the server (default 120)\n"
    "  --retries N           server: retries on connect errors, 429, 5xx (default 3; -1 none)\n"
    "  --json                one JSON document on stdout (chat: text and figures)\n";

static volatile int cancel_flag;
static void on_sigint(int sig) {
    (void)sig;
    cancel_flag = 1;
}

static bool printed;     /* some reply text is on stdout */
static int print_piece(void *ud, const char *t, size_t n) {
    (void)ud;
    printed = true;
    fwrite(t, 1, n, stdout);
    fflush(stdout);
    return 0;
}

/* s as a JSON string into b (cap bytes); false when it does not fit. */
static bool jesc(char *b, size_t cap, size_t *at, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[8];
        const char *e = tmp;
        if (*p == '"') e = "\\\"";
        else if (*p == '\\') e = "\\\\";
        else if (*p == '\n') e = "\\n";
        else if (*p < 0x20) snprintf(tmp, sizeof tmp, "\\u%04x", *p);
        else tmp[0] = (char)*p, tmp[1] = 0;
        size_t n = strlen(e);
        if (*at + n + 1 >= cap) return false;
        memcpy(b + *at, e, n);
        *at += n;
    }
    b[*at] = 0;
    return true;
}

static char *read_all(const char *path) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
        if (n + 1 == cap) {
            char *nb = cap < LLM_INPUT_BYTES_MAX ? realloc(b, cap * 2) : NULL;
            if (!nb) { free(b); b = NULL; break; }
            b = nb, cap *= 2;
        }
    }
    if (b) b[n] = 0;
    if (f != stdin) fclose(f);
    return b;
}

typedef struct {
    ken_llm_opts o;
    const char *messages, *system, *stops[LLM_STOPS_MAX_CLI];
    size_t n_stop;
    uint32_t max_tokens, seed;
    double temperature;
    bool json;
    char **words;
    int n_words;
} llm_args;

static int parse(int argc, char **argv, llm_args *a) {
    const char *cmd = "llm";
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint32_t u = 0;
        double d = 0;
        if (cli_is_help(s)) { fputs(llm_help, stdout); return -1; }
        if (strcmp(s, "--json") == 0) { a->json = true; continue; }
        if (s[0] != '-' || strcmp(s, "-") == 0) { a->words = argv + i; a->n_words = argc - i; break; }
        if (!v) return cli_usage_error(cmd, "%s needs a value", s);
        i++;
        if (strcmp(s, "--model") == 0) a->o.model_path = v;
        else if (strcmp(s, "--backend") == 0) a->o.url = v;
        else if (strcmp(s, "--backend-model") == 0) a->o.model_name = v;
        else if (strcmp(s, "--messages") == 0) a->messages = v;
        else if (strcmp(s, "--system") == 0) a->system = v;
        else if (strcmp(s, "--stop") == 0 && a->n_stop < LLM_STOPS_MAX_CLI) a->stops[a->n_stop++] = v;
        else if (strcmp(s, "--max-tokens") == 0 && cli_num_u32(v, 1, 1u << 20, &u)) a->max_tokens = u;
        else if (strcmp(s, "--seed") == 0 && cli_num_u32(v, 0, UINT32_MAX, &u)) a->seed = u;
        else if (strcmp(s, "--threads") == 0 && cli_num_u32(v, 1, 1024, &u)) a->o.threads = (int)u;
        else if (strcmp(s, "--temperature") == 0 && cli_num_f(v, 0, 5, &d)) a->temperature = d;
        else if (strcmp(s, "--timeout") == 0 && cli_num_f(v, 0.01, 86400, &d)) a->o.timeout_s = d;
        else if (strcmp(s, "--retries") == 0 && strcmp(v, "-1") == 0) a->o.retries = -1;
        else if (strcmp(s, "--retries") == 0 && cli_num_u32(v, 0, 20, &u)) a->o.retries = u ? (int)u : -1;
        else return cli_usage_error(cmd, "bad option or value: %s", s);
    }
    if (a->o.model_path && a->o.url) return cli_usage_error(cmd, "%s", "give --model or --backend, not both");
    if (!a->o.model_path && !a->o.url) ken_llm_opts_from_env(&a->o);
    if (!a->o.model_path && !a->o.url)
        return cli_usage_error(cmd, "%s", "no model: give --model FILE or --backend URL");
    return 0;
}

/* The conversation: --messages, or --system and the prompt words. */
static char *messages_of(const llm_args *a) {
    if (a->messages) return read_all(a->messages);
    char *prompt = cli_join_words(a->words, a->n_words);
    if (!prompt) return NULL;
    size_t cap = 2 * strlen(prompt) + (a->system ? 2 * strlen(a->system) : 0) + 256, at = 0;
    cap += cap / 2;
    char *b = malloc(cap);
    bool ok = b != NULL;
    if (ok && a->system) {
        at = (size_t)snprintf(b, cap, "[{\"role\":\"system\",\"content\":\"");
        ok = jesc(b, cap, &at, a->system);
        at += (size_t)snprintf(b + at, cap - at, "\"},");
    } else if (ok) {
        at = (size_t)snprintf(b, cap, "[");
    }
    if (ok) {
        at += (size_t)snprintf(b + at, cap - at, "{\"role\":\"user\",\"content\":\"");
        ok = jesc(b, cap, &at, prompt) && at + 4 < cap;
        if (ok) memcpy(b + at, "\"}]", 4);
    }
    free(prompt);
    if (!ok) { free(b); return NULL; }
    return b;
}

static int do_chat(ken_llm *l, const llm_args *a) {
    if (!a->messages && a->n_words == 0) return cli_usage_error("llm", "%s", "chat needs a PROMPT or --messages");
    char *msgs = messages_of(a);
    if (!msgs) {
        fprintf(stderr, "ken llm: cannot read the conversation\n");
        return EXIT_INPUT;
    }
    ken_llm_gen_opts g = {.size = sizeof g, .max_tokens = (int)a->max_tokens,
                          .temperature = (float)a->temperature, .seed = a->seed,
                          .stop = a->stops, .n_stop = a->n_stop, .cancel = &cancel_flag,
                          .on_text = a->json ? NULL : print_piece};
    char *text = NULL, *msg = NULL;
    ken_llm_stats st;
    signal(SIGINT, on_sigint);
    ken_status s = ken_llm_chat(l, msgs, &g, &text, NULL, &st, &msg);
    signal(SIGINT, SIG_DFL);
    free(msgs);
    if (s) {
        if (printed) putchar('\n');
        fprintf(stderr, "ken llm: %s\n", msg ? msg : ken_status_str(s));
        ken_free(msg);
        return cli_exit_of(s);
    }
    if (a->json) {
        fputs("{\"text\":", stdout);
        cli_jstr(text);
        fputs(",\"model\":", stdout);
        cli_jstr(ken_llm_name(l));
        printf(",\"backend\":\"%s\",\"finish\":\"%s\",\"prompt_tokens\":%zu,\"completion_tokens\":%zu,"
               "\"retries\":%d,\"ttft_s\":", ken_llm_backend(l), st.finish, st.n_prompt,
               st.n_generated, st.retries);
        cli_jnum(st.ttft_s);
        fputs(",\"total_s\":", stdout);
        cli_jnum(st.total_s);
        fputs("}\n", stdout);
    } else {
        putchar('\n');
    }
    ken_free(text);
    return EXIT_OK;
}

static int do_embed(ken_llm *l, const llm_args *a) {
    if (a->n_words == 0) return cli_usage_error("llm", "%s", "embed needs TEXT...");
    float *v = NULL;
    size_t dim = 0;
    char *msg = NULL;
    ken_status s = ken_llm_embed(l, (const char *const *)a->words, NULL, (size_t)a->n_words, &v,
                                 &dim, &msg);
    if (s) {
        fprintf(stderr, "ken llm: %s\n", msg ? msg : ken_status_str(s));
        ken_free(msg);
        return cli_exit_of(s);
    }
    if (a->json) {
        fputs("{\"model\":", stdout);
        cli_jstr(ken_llm_name(l));
        printf(",\"dim\":%zu,\"embeddings\":[", dim);
    }
    for (int i = 0; i < a->n_words; i++) {   /* text: one vector per line */
        if (a->json) fputs(i ? ",[" : "[", stdout);
        for (size_t k = 0; k < dim; k++)
            printf("%s%.9g", k ? (a->json ? "," : " ") : "", v[(size_t)i * dim + k]);
        fputs(a->json ? "]" : "\n", stdout);
    }
    if (a->json) fputs("]}\n", stdout);
    ken_free(v);
    return EXIT_OK;
}

int cmd_llm(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(llm_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    bool chat = strcmp(argv[1], "chat") == 0;
    if (!chat && strcmp(argv[1], "embed") != 0)
        return cli_usage_error("llm", "unknown action '%s' (chat or embed)", argv[1]);
    llm_args a = {.o = {.size = sizeof a.o}};
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    ken_llm *l = NULL;
    char *msg = NULL;
    ken_status s = ken_llm_open(&a.o, &l, &msg);
    if (s) {
        fprintf(stderr, "ken llm: %s\n", msg ? msg : ken_status_str(s));
        ken_free(msg);
        return cli_exit_of(s);
    }
    rc = chat ? do_chat(l, &a) : do_embed(l, &a);
    ken_llm_close(l);
    return rc;
}
