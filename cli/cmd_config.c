/* cmd_config.c: `ken config` (show and change the knowledge base's
 * settings) and `ken embed` (embed the chunks for dense search: a new
 * model, or the gaps an interrupted run left). */
#include "cli.h"
#include "ken.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ config */

static const char config_help[] =
    "usage: ken config [--json]            show every setting\n"
    "       ken config [get] KEY           print one setting\n"
    "       ken config [set] KEY VALUE     change one (\"\" for the default)\n\n"
    "Settings live in the knowledge base. Keys:\n";

static void print_help(FILE *f) {
    fputs(config_help, f);
    const char *help;
    for (size_t i = 0; ken_kb_config_key(i, &help); i++)
        fprintf(f, "  %-22s %s\n", ken_kb_config_key(i, NULL), help);
}

static int show_all(bool json) {
    ken_kb *kb = NULL;
    ken_status st = cli_open_ro(&kb);
    if (st) { int rc = cli_fail(kb, st); ken_kb_close(kb); return rc; }
    if (json) fputs("{\"settings\":{", stdout);
    for (size_t i = 0; ken_kb_config_key(i, NULL); i++) {
        const char *key = ken_kb_config_key(i, NULL);
        char *v = NULL;
        bool set = ken_kb_config_get(kb, key, &v) == KEN_OK;
        if (json) {
            printf("%s", i ? "," : "");
            cli_jstr(key);
            putchar(':');
            cli_jstr(set ? v : NULL);
        } else {
            printf("%-22s %s\n", key, set ? v : "(default)");
        }
        ken_free(v);
    }
    ken_embed_stats es;
    st = ken_kb_embed_status(kb, &es);
    if (json) {
        fputs("},\"embeddings\":", stdout);
        if (st || !es.model_name[0]) fputs("null", stdout);
        else {
            fputs("{\"model\":", stdout);
            cli_jstr(es.model_name);
            printf(",\"sha256\":\"%s\",\"dim\":%u,\"vectors\":%" PRIu64 ",\"missing\":%" PRIu64 "}",
                   es.model_sha256, es.dim, es.vectors, es.missing);
        }
        fputs("}\n", stdout);
    } else if (!st && es.model_name[0]) {
        printf("\nembeddings: %s (dim %u, sha256 %.16s...), %" PRIu64 " vectors, %" PRIu64
               " chunks missing\n", es.model_name, es.dim, es.model_sha256, es.vectors,
               es.missing);
    }
    ken_kb_close(kb);
    return EXIT_OK;
}

int cmd_config(int argc, char **argv) {
    bool json = false;
    const char *w[3];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { print_help(stdout); return EXIT_OK; }
        if (!strcmp(argv[i], "--json")) json = true;
        else if (n < 3) w[n++] = argv[i];
        else return cli_usage_error("config", "unexpected argument '%s'", argv[i]);
    }
    if (n == 0) return show_all(json);
    int first = 0;
    bool set = n >= 2;
    if (!strcmp(w[0], "get") || !strcmp(w[0], "set")) {
        set = w[0][0] == 's';
        first = 1;
    }
    if ((set && n - first != 2) || (!set && n - first != 1)) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    const char *key = w[first];
    ken_kb *kb = NULL;
    ken_status st;
    if (set) {
        ken_kb_opts o = {.size = sizeof o, .path = cli_db_path, .create = 1};
        st = ken_kb_open(&o, &kb);
        if (!st) st = ken_kb_config_set(kb, key, w[first + 1]);
        if (!st) {
            char *v = NULL;
            bool has = ken_kb_config_get(kb, key, &v) == KEN_OK;
            printf("%s = %s\n", key, has ? v : "(default)");
            ken_free(v);
        }
    } else {
        st = cli_open_ro(&kb);
        char *v = NULL;
        if (!st) st = ken_kb_config_get(kb, key, &v);
        if (!st) printf("%s\n", v);
        ken_free(v);
    }
    int rc = st ? cli_fail(kb, st) : EXIT_OK;
    ken_kb_close(kb);
    return rc;
}

/* ------------------------------------------------------------ embed */

static const char embed_help[] =
    "usage: ken embed [--missing] [--model FILE] [options]\n\n"
    "Embeds the chunks that have no vector of the knowledge base's embedding model\n"
    "(config embed.model) and brings the vector index up to date. With --model, the\n"
    "model changes: every chunk is embedded again while search keeps using the old\n"
    "vectors; when all are done the new model takes over in one step. An interrupted\n"
    "run keeps its work: run `ken embed --missing` to finish it.\n\n"
    "options:\n"
    "  --missing          only fill the gaps (the default; kept for clarity)\n"
    "  --model FILE       use this GGUF encoder from now on\n"
    "  --threads N        encoder threads (default: config embed.threads, else 2)\n"
    "  --batch N          chunks per transaction (default 32)\n"
    "  --rebuild-index    rebuild the vector index file even if it is current\n"
    "  --status           print the model and counts, embed nothing\n"
    "  --json             one JSON object on stdout\n"
    "  -q, --quiet        no progress\n";

static volatile int embed_cancel;
static void on_embed_sigint(int sig) { (void)sig; embed_cancel = 1; }

typedef struct { bool tty, quiet, drawn; double t0; } embed_ui;

static void on_embed_progress(void *ud, const ken_progress *p) {
    embed_ui *u = ud;
    if (!u->tty || u->quiet) return;
    fprintf(stderr, "\r\033[Kembedding %" PRIu64 "/%" PRIu64 " chunks", p->items_done,
            p->items_total);
    u->drawn = true;
}

static void print_embed(const ken_embed_stats *s, bool json, bool status) {
    if (json) {
        fputs("{\"model\":", stdout);
        cli_jstr(s->model_name[0] ? s->model_name : NULL);
        printf(",\"sha256\":\"%s\",\"dim\":%u,\"embedded\":%" PRIu64 ",\"vectors\":%" PRIu64
               ",\"missing\":%" PRIu64 ",\"truncated\":%" PRIu64 ",\"switched\":%s,"
               "\"index_built\":%s,\"seconds\":%.3f}\n",
               s->model_sha256, s->dim, s->embedded, s->vectors, s->missing, s->truncated,
               s->switched ? "true" : "false", s->index_built ? "true" : "false", s->seconds);
        return;
    }
    if (!s->model_name[0]) {
        printf("no embedding model (see `ken embed --help`)\n");
        return;
    }
    printf("model %s (dim %u, sha256 %.16s...)\n", s->model_name, s->dim, s->model_sha256);
    if (!status)
        printf("embedded %" PRIu64 " chunks in %.2f s%s%s\n", s->embedded, s->seconds,
               s->switched ? "; the new model is now active" : "",
               s->index_built ? "; vector index rebuilt" : "");
    if (s->truncated) printf("%" PRIu64 " passages were cut to the model's context\n", s->truncated);
    printf("%" PRIu64 " vectors, %" PRIu64 " chunks without one\n", s->vectors, s->missing);
}

int cmd_embed(int argc, char **argv) {
    ken_embed_opts o = {.size = sizeof o};
    bool json = false, status = false;
    embed_ui u = {.tty = isatty(2) != 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (cli_is_help(a)) { fputs(embed_help, stdout); return EXIT_OK; }
        else if (!strcmp(a, "--missing")) continue;
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--status")) status = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) u.quiet = true;
        else if (!strcmp(a, "--rebuild-index")) o.rebuild_index = 1;
        else if (!strcmp(a, "--model") && has) o.model = argv[++i];
        else if (!strcmp(a, "--threads") && has) {
            uint32_t n;
            if (!cli_num_u32(argv[++i], 1, 64, &n))
                return cli_usage_error("embed", "--threads needs 1..64, got '%s'", argv[i]);
            o.n_threads = (int)n;
        } else if (!strcmp(a, "--batch") && has) {
            if (!cli_num_u32(argv[++i], 1, 4096, &o.batch))
                return cli_usage_error("embed", "--batch needs 1..4096, got '%s'", argv[i]);
        } else return cli_usage_error("embed", "unknown option or missing value: '%s'", a);
    }
    ken_kb *kb = NULL;
    ken_embed_stats s;
    ken_status st;
    if (status) {
        st = cli_open_ro(&kb);
        if (!st) st = ken_kb_embed_status(kb, &s);
    } else {
        ken_kb_opts ko = {.size = sizeof ko, .path = cli_db_path};
        st = ken_kb_open(&ko, &kb);
        o.progress = on_embed_progress;
        o.progress_ud = &u;
        o.cancel = &embed_cancel;
        signal(SIGINT, on_embed_sigint);
        if (!st) st = ken_kb_embed(kb, &o, &s);
        if (u.drawn) fputs("\r\033[K", stderr);
    }
    int rc = st ? cli_fail(kb, st) : EXIT_OK;
    if (!st) print_embed(&s, json, status);
    ken_kb_close(kb);
    return rc;
}
