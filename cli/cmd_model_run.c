/* cmd_model_run.c: `ken model generate | embed | rerank | logits`: run a
 * GGUF model with ken's own engine (include/ken_infer.h). */
#include "cli.h"
#include "ken.h"
#include "ken_infer.h"
#include "ken_tok.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Declared in cli.h once the lead adds them; repeated here so the file
 * builds on its own with -Wmissing-prototypes. */
int cmd_model_generate(int argc, char **argv);
int cmd_model_embed(int argc, char **argv);
int cmd_model_rerank(int argc, char **argv);
int cmd_model_logits(int argc, char **argv);
int cmd_model_quantize(int argc, char **argv);
int cmd_model_random(int argc, char **argv);

static int exit_of(ken_status st) {
    switch (st) {
    case KEN_OK: return EXIT_OK;
    case KEN_ERR_NOMEM: case KEN_ERR_INTERNAL: return EXIT_INTERNAL;
    default: return EXIT_INPUT;
    }
}

/* Common options: --model FILE, -t N, --ctx N. */
typedef struct {
    const char *model;
    int threads, n_ctx;
} common_opts;

static int parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "ken model %s: %s needs an integer in %ld..%ld, got '%s'\n", cmd, opt, lo,
                hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_float(const char *cmd, const char *opt, const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || v != v) {
        fprintf(stderr, "ken model %s: %s needs a number, got '%s'\n", cmd, opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Handles a common option at argv[*i]; 1 = consumed, 0 = not common, -1 = error. */
static int common_opt(const char *cmd, int argc, char **argv, int *i, common_opts *c) {
    const char *a = argv[*i];
    long v;
    if (strcmp(a, "--model") && strcmp(a, "-m") && strcmp(a, "-t") && strcmp(a, "--threads") &&
        strcmp(a, "--ctx"))
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "ken model %s: %s needs a value\n", cmd, a);
        return -1;
    }
    const char *val = argv[++*i];
    if (!strcmp(a, "--model") || !strcmp(a, "-m")) {
        c->model = val;
    } else if (!strcmp(a, "--ctx")) {
        if (parse_int(cmd, a, val, 1, 1 << 20, &v)) return -1;
        c->n_ctx = (int)v;
    } else {
        if (parse_int(cmd, a, val, 1, 256, &v)) return -1;
        c->threads = (int)v;
    }
    return 1;
}

static int open_model(const char *cmd, const common_opts *co, int kv_f32, ken_model **m,
                      ken_ctx **c) {
    char *msg = NULL;
    if (!co->model) {
        fprintf(stderr, "ken model %s: --model FILE is required\n", cmd);
        return EXIT_USAGE;
    }
    ken_status st = ken_model_open(co->model, m, &msg);
    if (st) {
        fprintf(stderr, "ken model %s: %s: %s\n", cmd, co->model, msg ? msg : ken_status_str(st));
        ken_free(msg);
        return exit_of(st);
    }
    ken_ctx_opts o = {.size = sizeof o, .n_threads = co->threads, .n_ctx = co->n_ctx,
                      .kv_f32 = kv_f32};
    st = ken_ctx_new(*m, &o, c, &msg);
    if (st) {
        fprintf(stderr, "ken model %s: %s\n", cmd, msg ? msg : ken_status_str(st));
        ken_free(msg);
        ken_model_close(*m);
        *m = NULL;
        return exit_of(st);
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------ generate */

static int stream_token(void *ud, int32_t id, const char *text, size_t len) {
    (void)ud;
    (void)id;
    if (len) fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

#define MAX_STOP 16

static void generate_usage(FILE *f) {
    fprintf(f, "usage: ken model generate --model FILE -p TEXT [-n N] [--temp T] [--seed S]\n"
               "         [-t THREADS] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
               "         [--stop STRING]... [--ctx N] [--ignore-eos] [--stats]\n"
               "Streams a continuation of TEXT to stdout (greedy unless --temp > 0).\n");
}

int cmd_model_generate(int argc, char **argv) {
    common_opts co = {0};
    ken_gen_opts g = {.size = sizeof g, .max_tokens = 128};
    const char *prompt = NULL, *stop[MAX_STOP];
    int show_stats = 0;
    long v;
    for (int i = 1; i < argc; i++) {
        int r = common_opt("generate", argc, argv, &i, &co);
        if (r < 0) return EXIT_USAGE;
        if (r) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            generate_usage(stdout);
            return EXIT_OK;
        }
        if (!strcmp(a, "--ignore-eos")) { g.ignore_eog = 1; continue; }
        if (!strcmp(a, "--stats")) { show_stats = 1; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, "ken model generate: unknown option or missing value '%s'\n", a);
            return EXIT_USAGE;
        }
        const char *val = argv[++i];
        int bad = 0;
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = val;
        else if (!strcmp(a, "-n")) { bad = parse_int("generate", a, val, 1, 1 << 20, &v); g.max_tokens = (int)v; }
        else if (!strcmp(a, "--seed")) { bad = parse_int("generate", a, val, 0, 0x7fffffffL, &v); g.seed = (uint64_t)v; }
        else if (!strcmp(a, "--top-k")) { bad = parse_int("generate", a, val, 0, 1 << 24, &v); g.top_k = (int)v; }
        else if (!strcmp(a, "--temp")) bad = parse_float("generate", a, val, &g.temperature);
        else if (!strcmp(a, "--top-p")) bad = parse_float("generate", a, val, &g.top_p);
        else if (!strcmp(a, "--min-p")) bad = parse_float("generate", a, val, &g.min_p);
        else if (!strcmp(a, "--repeat-penalty")) bad = parse_float("generate", a, val, &g.repeat_penalty);
        else if (!strcmp(a, "--stop")) {
            if (g.n_stop >= MAX_STOP) bad = 1;
            else stop[g.n_stop++] = val;
        } else {
            fprintf(stderr, "ken model generate: unknown option '%s'\n", a);
            return EXIT_USAGE;
        }
        if (bad) return EXIT_USAGE;
    }
    if (!prompt) {
        generate_usage(stderr);
        return EXIT_USAGE;
    }
    g.stop = stop;
    g.on_token = stream_token;
    ken_model *m = NULL;
    ken_ctx *c = NULL;
    int rc = open_model("generate", &co, 0, &m, &c);
    if (rc) return rc;
    ken_gen_stats s;
    ken_status st = ken_generate(c, prompt, strlen(prompt), &g, NULL, NULL, &s);
    printf("\n");
    if (st) fprintf(stderr, "ken model generate: %s\n", ken_ctx_errmsg(c));
    else if (s.reason == KEN_STOP_CONTEXT)
        fprintf(stderr, "ken model generate: stopped after %zu tokens: the context is full "
                "(%zu prompt + %zu generated; --ctx N sets its size)\n", s.n_generated,
                s.n_prompt, s.n_generated);
    if (!st && show_stats)
        fprintf(stderr, "prompt %zu tokens in %.3f s; generated %zu tokens in %.3f s (%.1f tok/s)\n",
                s.n_prompt, s.prompt_s, s.n_generated, s.gen_s,
                s.gen_s > 0 ? (double)s.n_generated / s.gen_s : 0.0);
    ken_ctx_free(c);
    ken_model_close(m);
    return exit_of(st);
}

/* ------------------------------------------------------------ embed */

static void print_json_str(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

int cmd_model_embed(int argc, char **argv) {
    common_opts co = {0};
    int json = 0, normalize = 1, pooling = KEN_EMBED_POOL_MODEL;
    const char **texts = calloc((size_t)argc, sizeof *texts);
    size_t nt = 0;
    if (!texts) return EXIT_INTERNAL;
    int rc = EXIT_OK;
    for (int i = 1; i < argc && !rc; i++) {
        int r = common_opt("embed", argc, argv, &i, &co);
        if (r < 0) rc = EXIT_USAGE;
        if (r) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: ken model embed --model FILE TEXT... [--json] [--pooling mean|cls|last]\n"
                   "         [--no-normalize] [-t THREADS]\n"
                   "Prints one embedding per TEXT (L2-normalized unless --no-normalize).\n");
            free(texts);
            return EXIT_OK;
        }
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-normalize")) normalize = 0;
        else if (!strcmp(a, "--pooling") && i + 1 < argc) {
            const char *p = argv[++i];
            pooling = !strcmp(p, "mean") ? 1 : !strcmp(p, "cls") ? 2 : !strcmp(p, "last") ? 3 : -2;
            if (pooling == -2) {
                fprintf(stderr, "ken model embed: --pooling is mean, cls or last\n");
                rc = EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ken model embed: unknown option '%s'\n", a);
            rc = EXIT_USAGE;
        } else texts[nt++] = a;
    }
    if (!rc && nt == 0) {
        fprintf(stderr, "usage: ken model embed --model FILE TEXT... [--json]\n");
        rc = EXIT_USAGE;
    }
    ken_model *m = NULL;
    ken_ctx *c = NULL;
    if (!rc) rc = open_model("embed", &co, 0, &m, &c);
    if (!rc && json) printf("{\"model\": "), print_json_str(co.model),
                     printf(", \"dim\": %d, \"normalized\": %s, \"embeddings\": [", ken_model_n_embd(m),
                            normalize ? "true" : "false");
    for (size_t k = 0; !rc && k < nt; k++) {
        float *vec = NULL;
        size_t dim = 0;
        ken_status st = ken_embed(c, texts[k], strlen(texts[k]), pooling, normalize, &vec, &dim);
        if (st) {
            fprintf(stderr, "ken model embed: %s\n", ken_ctx_errmsg(c));
            rc = exit_of(st);
            break;
        }
        if (json) printf("%s[", k ? ", " : "");
        for (size_t i = 0; i < dim; i++) printf(json ? "%s%.8g" : "%s%.8g", i ? (json ? ", " : " ") : "", vec[i]);
        printf(json ? "]" : "\n");
        ken_free(vec);
    }
    if (!rc && json) printf("]}\n");
    ken_ctx_free(c);
    ken_model_close(m);
    free(texts);
    return rc;
}

/* ------------------------------------------------------------ rerank */

int cmd_model_rerank(int argc, char **argv) {
    common_opts co = {0};
    const char *query = NULL;
    const char **pass = calloc((size_t)argc, sizeof *pass);
    size_t np = 0;
    int json = 0, rc = EXIT_OK;
    if (!pass) return EXIT_INTERNAL;
    for (int i = 1; i < argc && !rc; i++) {
        int r = common_opt("rerank", argc, argv, &i, &co);
        if (r < 0) rc = EXIT_USAGE;
        if (r) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: ken model rerank --model FILE --query Q PASSAGE... [--json]\n"
                   "Prints a relevance score per passage (a cross-encoder reranker model).\n");
            free(pass);
            return EXIT_OK;
        }
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--query") && i + 1 < argc) query = argv[++i];
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ken model rerank: unknown option '%s'\n", a);
            rc = EXIT_USAGE;
        } else pass[np++] = a;
    }
    if (!rc && (!query || np == 0)) {
        fprintf(stderr, "usage: ken model rerank --model FILE --query Q PASSAGE...\n");
        rc = EXIT_USAGE;
    }
    ken_model *m = NULL;
    ken_ctx *c = NULL;
    if (!rc) rc = open_model("rerank", &co, 0, &m, &c);
    if (!rc && json) printf("{\"query\": "), print_json_str(query), printf(", \"results\": [");
    for (size_t k = 0; !rc && k < np; k++) {
        float score;
        ken_status st = ken_rerank(c, query, strlen(query), pass[k], strlen(pass[k]), &score);
        if (st) {
            fprintf(stderr, "ken model rerank: %s\n", ken_ctx_errmsg(c));
            rc = exit_of(st);
            break;
        }
        if (json) {
            printf("%s{\"index\": %zu, \"score\": %.8g, \"passage\": ", k ? ", " : "", k, score);
            print_json_str(pass[k]);
            printf("}");
        } else {
            printf("%.6f\t%s\n", score, pass[k]);
        }
    }
    if (!rc && json) printf("]}\n");
    ken_ctx_free(c);
    ken_model_close(m);
    free(pass);
    return rc;
}

/* ------------------------------------------------------------ logits */

#define MAX_LORA 8

static int parse_tokens(const char *s, int32_t **out, size_t *n) {
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return -1;
    size_t k = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            free(ids);
            return -1;
        }
        ids[k++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    *out = ids;
    *n = k;
    return k ? 0 : -1;
}

static int write_logits(const char *path, const float *l, size_t count) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(l, sizeof(float), count, f);   /* the host is little-endian (x86, arm64) */
    int bad = fclose(f) != 0 || w != count;
    return bad ? -1 : 0;
}

int cmd_model_logits(int argc, char **argv) {
    common_opts co = {0};
    const char *prompt = NULL, *tokens = NULL, *outp = NULL, *lora[MAX_LORA];
    float lscale[MAX_LORA];
    int nl = 0;
    for (int i = 1; i < argc; i++) {
        int r = common_opt("logits", argc, argv, &i, &co);
        if (r < 0) return EXIT_USAGE;
        if (r) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: ken model logits --model FILE (-p TEXT | --tokens 1,2,3) [--lora FILE\n"
                   "         [--lora-scale S]]... --out FILE\n"
                   "Writes the logits of every position as float32 little-endian [n_tokens][n_vocab]\n"
                   "(F32 KV cache, the whole input in one batch).\n");
            return EXIT_OK;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ken model logits: unknown option or missing value '%s'\n", a);
            return EXIT_USAGE;
        }
        const char *val = argv[++i];
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = val;
        else if (!strcmp(a, "--tokens")) tokens = val;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) outp = val;
        else if (!strcmp(a, "--lora") && nl < MAX_LORA) { lora[nl] = val; lscale[nl++] = 1.0f; }
        else if (!strcmp(a, "--lora-scale") && nl > 0) {
            if (parse_float("logits", a, val, &lscale[nl - 1])) return EXIT_USAGE;
        } else {
            fprintf(stderr, "ken model logits: unknown or misplaced option '%s'\n", a);
            return EXIT_USAGE;
        }
    }
    if (!outp || !!prompt == !!tokens) {
        fprintf(stderr, "usage: ken model logits --model FILE (-p TEXT | --tokens 1,2,3) --out FILE\n");
        return EXIT_USAGE;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (tokens && parse_tokens(tokens, &ids, &n)) {
        fprintf(stderr, "ken model logits: --tokens wants comma-separated ids, got '%s'\n", tokens);
        return EXIT_USAGE;
    }
    ken_model *m = NULL;
    ken_ctx *c = NULL;
    int rc = open_model("logits", &co, 1, &m, &c);
    ken_status st = KEN_OK;
    for (int k = 0; !rc && k < nl; k++)
        if ((st = ken_ctx_add_lora(c, lora[k], lscale[k]))) {
            fprintf(stderr, "ken model logits: %s: %s\n", lora[k], ken_ctx_errmsg(c));
            rc = exit_of(st);
        }
    if (!rc && prompt) {
        const ken_vocab *v = ken_model_vocab(m);
        st = v ? ken_tokenize(v, prompt, strlen(prompt), 1, 0, &ids, &n) : KEN_ERR_UNSUPPORTED;
        if (st) {
            fprintf(stderr, "ken model logits: cannot tokenize the prompt: %s\n", ken_status_str(st));
            rc = exit_of(st);
        }
    }
    float *l = NULL;
    if (!rc && (st = ken_ctx_logits(c, ids, n, &l))) {
        fprintf(stderr, "ken model logits: %s\n", ken_ctx_errmsg(c));
        rc = exit_of(st);
    }
    if (!rc && write_logits(outp, l, n * (size_t)ken_model_n_vocab(m))) {
        fprintf(stderr, "ken model logits: cannot write %s: %s\n", outp, strerror(errno));
        rc = EXIT_INPUT;
    }
    if (!rc) fprintf(stderr, "wrote %zu x %d logits to %s\n", n, ken_model_n_vocab(m), outp);
    ken_free(l);
    ken_free(ids);
    ken_ctx_free(c);
    ken_model_close(m);
    return rc;
}

/* ------------------------------------------------------------ quantize */

int cmd_model_quantize(int argc, char **argv) {
    const char *pos[3];
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ken model quantize IN OUT TYPE\n"
                   "Writes IN with its weights in TYPE (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K\n"
                   "Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K), per-tensor types as\n"
                   "llama-quantize chooses them.\n");
            return EXIT_OK;
        }
        if (np == 3) {
            fprintf(stderr, "usage: ken model quantize IN OUT TYPE\n");
            return EXIT_USAGE;
        }
        pos[np++] = argv[i];
    }
    if (np != 3) {
        fprintf(stderr, "usage: ken model quantize IN OUT TYPE\n");
        return EXIT_USAGE;
    }
    char *msg = NULL;
    ken_status st = ken_model_quantize(pos[0], pos[1], pos[2], &msg);
    if (st) {
        fprintf(stderr, "ken model quantize: %s\n", msg ? msg : ken_status_str(st));
        ken_free(msg);
        return st == KEN_ERR_INVALID ? EXIT_USAGE : exit_of(st);
    }
    fprintf(stderr, "wrote %s (%s)\n", pos[1], pos[2]);
    return EXIT_OK;
}

/* ------------------------------------------------------------ random */

static void random_usage(FILE *f) {
    fprintf(f, "usage: ken model random --arch llama|qwen2|qwen3|bert --vocab GGUF -o FILE\n"
               "         [--preset tiny|small|medium|large] [--n-embd N] [--n-layer N] [--n-head N]\n"
               "         [--n-head-kv N] [--n-ff N] [--ctx N] [--tied] [--pooling mean|cls|last]\n"
               "         [--seed S] [--type TYPE]\n"
               "Writes a random-weight model with the tokenizer of the --vocab GGUF.\n");
}

int cmd_model_random(int argc, char **argv) {
    ken_random_opts o = {.size = sizeof o};
    const char *out = NULL;
    struct { const char *opt; int *dst; } ints[] = {
        {"--n-embd", &o.n_embd}, {"--n-layer", &o.n_layer}, {"--n-head", &o.n_head},
        {"--n-head-kv", &o.n_head_kv}, {"--n-ff", &o.n_ff}, {"--ctx", &o.n_ctx},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            random_usage(stdout);
            return EXIT_OK;
        }
        if (!strcmp(a, "--tied")) { o.tied = 1; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, "ken model random: unknown option or missing value '%s'\n", a);
            return EXIT_USAGE;
        }
        const char *val = argv[++i];
        long v;
        size_t k = 0;
        for (; k < sizeof ints / sizeof ints[0]; k++)
            if (!strcmp(a, ints[k].opt)) break;
        if (k < sizeof ints / sizeof ints[0]) {
            if (parse_int("random", a, val, 1, 1 << 20, &v)) return EXIT_USAGE;
            *ints[k].dst = (int)v;
        } else if (!strcmp(a, "--arch")) o.arch = val;
        else if (!strcmp(a, "--vocab")) o.vocab = val;
        else if (!strcmp(a, "--preset")) o.preset = val;
        else if (!strcmp(a, "--type")) o.type = val;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) out = val;
        else if (!strcmp(a, "--seed")) {
            if (parse_int("random", a, val, 0, 0x7fffffffL, &v)) return EXIT_USAGE;
            o.seed = (uint64_t)v;
        } else if (!strcmp(a, "--pooling")) {
            o.pooling = !strcmp(val, "mean") ? 1 : !strcmp(val, "cls") ? 2 : !strcmp(val, "last") ? 3 : -1;
            if (o.pooling < 0) {
                fprintf(stderr, "ken model random: --pooling is mean, cls or last\n");
                return EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "ken model random: unknown option '%s'\n", a);
            return EXIT_USAGE;
        }
    }
    if (!out || !o.arch || !o.vocab) {
        random_usage(stderr);
        return EXIT_USAGE;
    }
    char *msg = NULL;
    ken_status st = ken_model_random(&o, out, &msg);
    if (st) {
        fprintf(stderr, "ken model random: %s\n", msg ? msg : ken_status_str(st));
        ken_free(msg);
        return st == KEN_ERR_INVALID ? EXIT_USAGE : exit_of(st);
    }
    fprintf(stderr, "wrote %s\n", out);
    return EXIT_OK;
}
