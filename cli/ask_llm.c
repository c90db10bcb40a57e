/* ask_llm.c: the model side of `ken ask` and `ken chat`: model options,
 * opening the backends (a local GGUF or an OpenAI-compatible URL; the key
 * comes from $KEN_API_KEY and is never printed), streaming the answer to
 * stdout, routing decisions on stderr, and the printed check: sources,
 * flagged sentences, which model answered. */
#include "ask_llm.h"
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char ask_llm_help[] =
    "\nmodel options:\n"
    "  (unset: the store's config keys ask.model, ask.backend, ask.backend_model,\n"
    "  ask.escalate_model, ask.escalate_backend, ask.escalate_backend_model; then\n"
    "  $KEN_BACKEND_URL)\n"
    "  --model FILE              a local GGUF model answers\n"
    "  --backend URL             an OpenAI-compatible server answers (e.g.\n"
    "                            http://127.0.0.1:8080/v1); $KEN_BACKEND_URL likewise\n"
    "  --backend-model NAME      its model name ($KEN_BACKEND_MODEL; default: the first\n"
    "                            of its /models); the API key is $KEN_API_KEY\n"
    "  --escalate-model FILE     a larger local model, asked when the first one's answer\n"
    "                            is ungrounded, unsure or mostly unsupported, or when\n"
    "                            retrieval confidence is low\n"
    "  --escalate-backend URL    a larger model behind an OpenAI-compatible server\n"
    "  --escalate-backend-model NAME\n"
    "  --escalate-below X        retrieval confidence under which the first model is\n"
    "                            skipped for the larger one (default 0.4; 0: never)\n"
    "  --max-tokens N            answer tokens at most (default 512)\n"
    "  --ctx N                   context budget in tokens (default: the model's, max 8192;\n"
    "                            4096 over HTTP)\n"
    "  --threads N               threads of a local model (default: all cores)\n"
    "  --temperature T           sampling temperature (default 0: greedy)\n"
    "  --seed N                  sampling seed\n"
    "  --min-support X           sentence support under which a claim is flagged weak\n"
    "                            (share of its words in its cited sources; default 0.35)\n"
    "  --no-stream               print the answer when it is complete\n"
    "  --verbose                 routing decisions and timings on stderr\n";

static bool num_u32(const char *cmd, const char *opt, const char *v, uint32_t lo, uint32_t hi,
                    uint32_t *out) {
    if (cli_num_u32(v, lo, hi, out)) return true;
    fprintf(stderr, "ken %s: %s needs a number from %u to %u, got '%s'\n", cmd, opt, lo, hi, v);
    return false;
}

static bool num_f(const char *cmd, const char *opt, const char *v, double lo, double hi,
                  double *out) {
    if (cli_num_f(v, lo, hi, out)) return true;
    fprintf(stderr, "ken %s: %s needs a number in [%g, %g], got '%s'\n", cmd, opt, lo, hi, v);
    return false;
}

int ask_llm_arg(const char *cmd, int argc, char **argv, int *i, ask_llm_args *a) {
    const char *s = argv[*i];
    if (strcmp(s, "--verbose") == 0) { a->verbose = true; return 1; }
    if (strcmp(s, "--no-stream") == 0) { a->stream = false; return 1; }
    if (*i + 1 >= argc) return 0;
    const char *v = argv[*i + 1];
    const char **str = NULL;
    if (strcmp(s, "--model") == 0) str = &a->model;
    else if (strcmp(s, "--backend") == 0) str = &a->url;
    else if (strcmp(s, "--backend-model") == 0) str = &a->name;
    else if (strcmp(s, "--escalate-model") == 0) str = &a->esc_model;
    else if (strcmp(s, "--escalate-backend") == 0) str = &a->esc_url;
    else if (strcmp(s, "--escalate-backend-model") == 0) str = &a->esc_name;
    if (str) {
        *str = v;
        (*i)++;
        return 1;
    }
    uint32_t u;
    double d;
    bool ok;
    if (strcmp(s, "--max-tokens") == 0) {
        if ((ok = num_u32(cmd, s, v, 1, 65536, &u))) a->gen.max_tokens = (int)u;
    } else if (strcmp(s, "--ctx") == 0) {
        ok = num_u32(cmd, s, v, 128, 1u << 20, &a->ctx);
    } else if (strcmp(s, "--threads") == 0) {
        ok = num_u32(cmd, s, v, 1, 1024, &a->threads);
    } else if (strcmp(s, "--temperature") == 0) {
        if ((ok = num_f(cmd, s, v, 0, 10, &d))) a->gen.temperature = (float)d;
    } else if (strcmp(s, "--seed") == 0) {
        if ((ok = num_u32(cmd, s, v, 0, UINT32_MAX, &u))) a->gen.seed = u;
    } else if (strcmp(s, "--min-support") == 0) {
        if ((ok = num_f(cmd, s, v, 0.001, 1, &d))) a->gen.min_support = d;
    } else if (strcmp(s, "--escalate-below") == 0) {
        if ((ok = num_f(cmd, s, v, 0, 1, &d))) a->gen.escalate_below = d > 0 ? d : -1;
    } else {
        return 0;
    }
    (*i)++;
    return ok ? 1 : -1;
}

static void conf(ken_kb *kb, const char *key, const char **dst, char **slot) {
    char *v = NULL;
    if (*dst || ken_kb_config_get(kb, key, &v) != KEN_OK || !v || !*v) {
        ken_free(v);
        return;
    }
    *slot = v;
    *dst = v;
}

void ask_llm_from_store(ask_llm_args *a, ken_kb *kb) {
    if (!a->model && !a->url) {
        conf(kb, "ask.model", &a->model, &a->owned[0]);
        if (!a->model) conf(kb, "ask.backend", &a->url, &a->owned[1]);
        if (a->url) conf(kb, "ask.backend_model", &a->name, &a->owned[2]);
    }
    if (!a->esc_model && !a->esc_url) {
        conf(kb, "ask.escalate_model", &a->esc_model, &a->owned[3]);
        if (!a->esc_model) conf(kb, "ask.escalate_backend", &a->esc_url, &a->owned[4]);
        if (a->esc_url) conf(kb, "ask.escalate_backend_model", &a->esc_name, &a->owned[5]);
    }
}

void ask_llm_free(ask_llm_args *a) {
    for (size_t i = 0; i < sizeof a->owned / sizeof a->owned[0]; i++) {
        ken_free(a->owned[i]);
        a->owned[i] = NULL;
    }
}

bool ask_llm_wanted(ask_llm_args *a) {
    if (a->model || a->url) return true;
    const char *u = getenv("KEN_BACKEND_URL");
    return u && *u;
}

/* url for a message: user:password@ (if any) left out. */
static void url_shown(const char *url, char *out, size_t cap) {
    const char *s = strstr(url, "://");
    const char *host = s ? s + 3 : url;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    if (at && (!slash || at < slash))
        snprintf(out, cap, "%.*s%s", (int)(host - url), url, at + 1);
    else
        snprintf(out, cap, "%s", url);
}

static int open_one(const char *cmd, const char *path, const char *url, const char *name,
                    const ask_llm_args *a, bool env, ken_llm **out) {
    ken_llm_opts o = {.size = sizeof o, .model_path = path, .url = url, .model_name = name,
                      .threads = (int)a->threads, .n_ctx = (int)a->ctx};
    if (env) ken_llm_opts_from_env(&o);
    char *msg = NULL;
    ken_status st = ken_llm_open(&o, out, &msg);
    if (st == KEN_OK) return EXIT_OK;
    char shown[1024] = "model";
    if (path) snprintf(shown, sizeof shown, "%s", path);
    else if (o.url) url_shown(o.url, shown, sizeof shown);
    fprintf(stderr, "ken %s: %s: %s\n", cmd, shown, msg ? msg : ken_status_str(st));
    ken_free(msg);
    return cli_exit_of(st);
}

int ask_llm_open(const char *cmd, ask_llm_args *a, ken_llm **small, ken_llm **large) {
    *small = *large = NULL;
    if (a->model && a->url) {
        fprintf(stderr, "ken %s: give --model or --backend, not both\n", cmd);
        return EXIT_USAGE;
    }
    if (a->esc_model && a->esc_url) {
        fprintf(stderr, "ken %s: give --escalate-model or --escalate-backend, not both\n", cmd);
        return EXIT_USAGE;
    }
    int rc = open_one(cmd, a->model, a->url, a->name, a, true, small);
    if (rc == EXIT_OK && (a->esc_model || a->esc_url)) {
        /* Only the key comes from the environment for the larger model. */
        rc = open_one(cmd, a->esc_model, a->esc_url, a->esc_name, a, false, large);
        if (rc != EXIT_OK) {
            ken_llm_close(*small);
            *small = NULL;
        }
    }
    return rc;
}

/* ------------------------------------------------------------ streaming */

static int on_text(void *ud, int attempt, const char *text, size_t len) {
    (void)ud; (void)attempt;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static void on_route(void *ud, const ken_route_step *s) {
    const ask_llm_args *a = ud;
    if (a->verbose)
        fprintf(stderr, "ken: route: %s (%s): %s: %s\n", s->model, s->backend, s->decision,
                s->reason);
    if (a->stream && !a->json && strcmp(s->decision, "escalate") == 0)
        printf("\n\n[%s: %s; asking the larger model]\n\n", s->model, s->reason);
    fflush(stdout);
}

void ask_llm_callbacks(ask_llm_args *a) {
    a->gen.ud = a;
    a->gen.on_route = on_route;
    a->gen.on_text = a->stream && !a->json ? on_text : NULL;
}

/* ------------------------------------------------------------ Ctrl-C */

static volatile int interrupted;
static struct sigaction old_sigint;

static void on_sigint(int sig) {
    if (interrupted) {   /* the second one: end as Ctrl-C normally does */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    interrupted = 1;
}

void ask_llm_interrupt(ask_llm_args *a, bool on) {
    if (on) {
        interrupted = 0;
        a->gen.cancel = &interrupted;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_sigint);
    } else {
        sigaction(SIGINT, &old_sigint, NULL);
    }
}

/* ------------------------------------------------------------ printing */

static void print_sources(const ken_reply_info *i) {
    printf("\nSources:\n");
    for (size_t k = 0; k < i->n_sources; k++) {
        const ken_reply_source *c = &i->sources[k];
        printf("[%d]%s %s", c->n, c->cited ? "" : " (not cited)",
               c->title && *c->title ? c->title : c->uri);
        if (c->title && *c->title) printf(" (%s)", c->uri);
        if (c->heading && *c->heading) printf(" > %s", c->heading);
        if (c->page) printf(", page %d", (int)c->page);
        printf(", bytes %lld-%lld\n", (long long)c->start, (long long)c->end);
    }
}

static void print_check(const ken_reply_info *i) {
    if (!i->grounded)
        printf("\nCheck: UNGROUNDED: the answer cites no source it was given");
    else
        printf("\nCheck: grounded; %zu valid citation(s), support %.2f", i->n_valid_cites,
               i->support);
    if (i->n_invalid_cites) printf("; %zu citation(s) of sources not given", i->n_invalid_cites);
    printf("; %zu of %zu claim(s) flagged\n", i->n_flagged, i->n_claims);
    for (size_t k = 0; k < i->n_sentences; k++) {
        const ken_reply_sentence *s = &i->sentences[k];
        if (!s->flags) continue;
        int len = s->end - s->start > 120 ? 120 : (int)(s->end - s->start);
        printf("  ! \"%.*s%s\":", len, i->answer + s->start, s->end - s->start > 120 ? "..." : "");
        if (s->flags & KEN_SENT_UNCITED) printf(" no citation;");
        if (s->flags & KEN_SENT_INVALID) printf(" cites a source that was not given;");
        if (s->flags & KEN_SENT_WEAK) printf(" weak support %.2f;", s->support);
        if (s->best_source) printf(" best match [%d] (%.2f)", s->best_source, s->best_support);
        putchar('\n');
    }
}

void ask_llm_print(ask_llm_args *a, ken_reply *r) {
    const ken_reply_info *i = ken_reply_get(r);
    if (a->json) {
        const char *j = ken_reply_json(r);
        printf("%s\n", j ? j : "{}");
        return;
    }
    if (!i->model) {   /* nothing relevant: no model ran */
        printf("%s\n", i->answer);
        return;
    }
    if (!a->stream) fwrite(i->answer, 1, i->answer_len, stdout);
    putchar('\n');
    if (i->n_sources) print_sources(i);
    print_check(i);
    printf("Answered by %s (%s)%s", i->model, i->backend, i->escalated ? " after escalation" : "");
    if (i->n_route && i->escalated) printf(": %s", i->route[0].reason);
    putchar('\n');
    if (a->verbose)
        fprintf(stderr, "ken: retrieval %.3f s (confidence %.2f), prompt %zu tokens, first token "
                "%.3f s, %.1f tokens/s, %zu generated, finish %s\n", i->retrieval_s,
                i->confidence, i->prompt_tokens, i->ttft_s, i->tokens_per_s,
                i->generated_tokens, i->finish);
}
