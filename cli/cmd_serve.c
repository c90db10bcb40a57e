/* cmd_serve.c: `ken serve` (the HTTP server, see include/ken_server.h) and
 * `ken key create` (API keys). Parses arguments, installs SIGINT/SIGTERM
 * handlers that raise the stop flag, and calls the library. */
#include "cli.h"
#include "ken.h"
#include "ken_server.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_serve(int argc, char **argv);
int cmd_key(int argc, char **argv);

static volatile sig_atomic_t stop_signal;
static volatile int stop_flag;

static void on_signal(int sig) {
    (void)sig;
    stop_signal = 1;
    stop_flag = 1;
}

static const char serve_help[] =
    "usage: ken serve [--listen HOST:PORT] [--threads N] [--no-auth] [--model FILE]\n"
    "                 [--embed-model FILE] [--web DIR] [--max-body BYTES]\n"
    "                 [--max-generations N] [--queue N] [--timeout SECONDS] [--max-tokens N]\n\n"
    "Serves the knowledge base over HTTP: the JSON API under /api/v1, OpenAI-compatible\n"
    "endpoints under /v1 (models, chat/completions, embeddings), /healthz, /readyz and\n"
    "the web UI at /. Every endpoint but the health probes needs an API key\n"
    "(`ken key create`) sent as `Authorization: Bearer KEY`.\n\n"
    "options:\n"
    "  --listen HOST:PORT   address (default 127.0.0.1:8080; port 0: any free port)\n"
    "  --threads N          concurrent requests on the store (default 4)\n"
    "  --no-auth            no keys needed (loopback addresses only)\n"
    "  --model FILE         GGUF decoder for chat (default: extractive answers);\n"
    "                       an encoder given here serves /v1/embeddings\n"
    "  --embed-model FILE   GGUF encoder for /v1/embeddings\n"
    "  --web DIR            the web UI's folder (default: web/ next to the binary)\n"
    "  --max-body BYTES     request body limit (default 33554432)\n"
    "  --max-generations N  answers generated at once (default 2)\n"
    "  --queue N            answers waiting beyond that; more get 429 (default 8)\n"
    "  --timeout SECONDS    per request (default 60)\n"
    "  --max-tokens N       tokens a generated answer may have at most (default 512)\n\n"
    "Stops on SIGINT/SIGTERM after in-flight requests finish.\n";

static const char key_help[] =
    "usage: ken key create --scope read|write|admin [--collection NAME]\n"
    "       ken key list [--json]\n"
    "       ken key revoke ID\n\n"
    "create: a new API key for `ken serve`, printed once (only its hash is stored).\n"
    "read: search, ask, list and show; write: also add and delete; admin: everything.\n"
    "--collection limits the key to one collection's documents.\n"
    "list: the keys' ids, scopes and collections (never the keys themselves).\n"
    "revoke: the key with that id (the 12 hex digits after \"ken_\") stops working.\n";

static int key_fail(const char *what, ken_status st, char *msg) {
    fprintf(stderr, "ken key %s: %s\n", what, msg ? msg : ken_status_str(st));
    ken_free(msg);
    return st == KEN_ERR_INVALID ? EXIT_USAGE : st == KEN_ERR_NOTFOUND ? EXIT_INPUT : EXIT_INTERNAL;
}

static int key_list(int argc, char **argv) {
    int json = argc > 2 && strcmp(argv[2], "--json") == 0;
    if (argc > 2 + json) { fputs(key_help, stderr); return EXIT_USAGE; }
    char *out = NULL, *msg = NULL;
    ken_status st = ken_key_list(cli_db_path, &out, &msg);
    if (st) return key_fail("list", st, msg);
    if (json) {
        printf("%s\n", out);
    } else {   /* one line per key: id scope collection revoked (parsed from the JSON) */
        for (const char *p = strstr(out, "\"id\":\""); p; p = strstr(p + 1, "\"id\":\"")) {
            char id[16] = "", scope[16] = "", coll[160] = "-";
            sscanf(p, "\"id\":\"%15[0-9a-f]\",\"scope\":\"%15[a-z]\",\"collection\":\"%159[^\"]", id, scope, coll);
            const char *rv = strstr(p, "\"revoked\":true");
            const char *next = strstr(p + 1, "\"id\":\"");
            printf("%s  %-6s %-20s%s\n", id, scope, coll, rv && (!next || rv < next) ? " revoked" : "");
        }
    }
    ken_free(out);
    return EXIT_OK;
}

static int num_arg(const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) return 0;
    *out = n;
    return 1;
}

static void on_ready(void *ud, const char *host, int port) {
    (void)ud;
    fprintf(stderr, "ken: serving %s on http://%s:%d\n", cli_db_path, host, port);
}

int cmd_serve(int argc, char **argv) {
    ken_serve_opts o = {.size = sizeof o, .on_ready = on_ready};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(serve_help, stdout); return EXIT_OK; }
        if (strcmp(a, "--no-auth") == 0) { o.no_auth = 1; continue; }
        if (!v) { fprintf(stderr, "ken serve: unknown option or missing value '%s'\n", a); return EXIT_USAGE; }
        i++;
        if (strcmp(a, "--listen") == 0) o.listen = v;
        else if (strcmp(a, "--model") == 0) o.model_path = v;
        else if (strcmp(a, "--embed-model") == 0) o.embed_model_path = v;
        else if (strcmp(a, "--web") == 0) o.web_dir = v;
        else if (strcmp(a, "--threads") == 0 && num_arg(v, 1, 64, &n)) o.threads = (int)n;
        else if (strcmp(a, "--max-body") == 0 && num_arg(v, 1024, 1L << 30, &n)) o.body_bytes_max = (size_t)n;
        else if (strcmp(a, "--max-generations") == 0 && num_arg(v, 1, 64, &n)) o.gen_max = (int)n;
        else if (strcmp(a, "--queue") == 0 && num_arg(v, 0, 1024, &n)) o.gen_queue_max = n ? (int)n : -1;
        else if (strcmp(a, "--timeout") == 0 && num_arg(v, 1, 3600, &n)) o.timeout_s = (int)n;
        else if (strcmp(a, "--max-tokens") == 0 && num_arg(v, 1, 1 << 20, &n)) o.max_tokens = (int)n;
        else {
            fprintf(stderr, "ken serve: bad option or value: %s %s (see `ken serve --help`)\n", a, v);
            return EXIT_USAGE;
        }
    }
    o.db_path = cli_db_path;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A server thread allocates and frees the same few hundred KB per
     * request; glibc's defaults give the freed top of each arena back to
     * the kernel (trim at 128 KB) and mmap blocks from 128 KB, so the next
     * request page-faults them in again: ~8% of a search's CPU. Keep up to
     * 32 MB per arena and serve blocks below 8 MB from the heap. */
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    char *msg = NULL;
    ken_status st = ken_serve(&o, &stop_flag, &msg);
    if (st) {
        fprintf(stderr, "ken serve: %s\n", msg ? msg : ken_status_str(st));
        ken_free(msg);
        return st == KEN_ERR_INVALID ? EXIT_USAGE : st == KEN_ERR_IO ? EXIT_INPUT : EXIT_INTERNAL;
    }
    fprintf(stderr, "ken: stopped\n");
    return EXIT_OK;
}

int cmd_key(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(key_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "list") == 0) return key_list(argc, argv);
    if (strcmp(argv[1], "revoke") == 0) {
        if (argc != 3) { fputs(key_help, stderr); return EXIT_USAGE; }
        char *msg = NULL;
        ken_status st = ken_key_revoke(cli_db_path, argv[2], &msg);
        if (st) return key_fail("revoke", st, msg);
        printf("revoked %s\n", argv[2]);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "create") != 0) {
        fprintf(stderr, "ken key: unknown subcommand '%s' (see `ken key --help`)\n", argv[1]);
        return EXIT_USAGE;
    }
    const char *scope = NULL, *coll = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) { fputs(key_help, stdout); return EXIT_OK; }
        if (strcmp(argv[i], "--scope") == 0 && i + 1 < argc) scope = argv[++i];
        else if (strcmp(argv[i], "--collection") == 0 && i + 1 < argc) coll = argv[++i];
        else {
            fprintf(stderr, "ken key create: unknown option or missing value '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!scope) { fputs("ken key create: --scope read|write|admin is needed\n", stderr); return EXIT_USAGE; }
    char *key = NULL, *msg = NULL;
    ken_status st = ken_key_create(cli_db_path, scope, coll, &key, &msg);
    if (st) {
        fprintf(stderr, "ken key create: %s\n", msg ? msg : ken_status_str(st));
        ken_free(msg);
        return st == KEN_ERR_INVALID ? EXIT_USAGE : EXIT_INTERNAL;
    }
    printf("%s\n", key);
    ken_free(key);
    return EXIT_OK;
}
