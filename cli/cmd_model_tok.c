/* cmd_model_tok.c: `ken model tokenize --model FILE [--ids] [--no-add-special]
 * [--parse-special] [--json] TEXT|-`: tokenizes TEXT (or stdin, byte for
 * byte) with the model's tokenizer and prints the ids, one line per token
 * with its piece, or one JSON document. */
#include "cli.h"
#include "ken.h"
#include "ken_tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STDIN_MAX ((size_t)64 << 20)     /* the tokenizer's own limit */

static void usage(FILE *f) {
    fputs("usage: ken model tokenize --model FILE [--ids] [--no-add-special] [--parse-special]\n"
          "                          [--json] TEXT|-\n"
          "  Tokenizes TEXT (\"-\": standard input, byte for byte) exactly as llama.cpp does.\n"
          "  --model FILE       GGUF model or vocabulary file\n"
          "  --ids              only the ids, space-separated on one line\n"
          "  --no-add-special   add no BOS/EOS ([CLS]/[SEP])\n"
          "  --parse-special    turn special-token text (\"<s>\", \"<|im_start|>\") into tokens\n"
          "  --json             one JSON document: {\"n_tokens\", \"tokens\": [{\"id\", \"piece\"}]}\n"
          "  Default output: one line per token, the id and its piece in quotes with\n"
          "  \\n, \\t, \\\\, \\\" and \\xNN escapes (bytes that are not valid UTF-8).\n", f);
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[k] & 0xC0) != 0x80) return 0;
    if (len == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F))) return 0;
    if (len == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))) return 0;
    return len;
}

/* Writes s escaped; json selects JSON escapes (\u00XX, invalid bytes as U+FFFD). */
static void put_escaped(FILE *f, const char *s, size_t n, int json) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t l = utf8_seq(u + i, n - i);
        if (c == '\\' || c == '"') fprintf(f, "\\%c", c), i++;
        else if (c == '\n') fputs("\\n", f), i++;
        else if (c == '\t') fputs("\\t", f), i++;
        else if (c == '\r') fputs("\\r", f), i++;
        else if (c < 0x20 || c == 0x7F) fprintf(f, json ? "\\u%04x" : "\\x%02x", c), i++;
        else if (l == 0 && json) fputs("\\ufffd", f), i++;
        else if (l == 0) fprintf(f, "\\x%02x", c), i++;
        else fwrite(u + i, 1, l, f), i += l;
    }
}

static char *read_stdin(size_t *n, int *too_big) {
    size_t cap = 1 << 16, len = 0;
    char *p = malloc(cap);
    *too_big = 0;
    while (p) {
        size_t r = fread(p + len, 1, cap - len, stdin);
        len += r;
        if (len > STDIN_MAX) {
            *too_big = 1;
            free(p);
            return NULL;
        }
        if (r == 0) break;
        if (len == cap) {
            size_t ncap = cap * 2 > STDIN_MAX + 1 ? STDIN_MAX + 1 : cap * 2;
            char *q = realloc(p, ncap);
            if (!q) free(p);
            p = q, cap = ncap;
        }
    }
    if (p && ferror(stdin)) free(p), p = NULL;
    *n = len;
    return p;
}

static int status_exit(ken_status st) {
    return st == KEN_ERR_NOMEM || st == KEN_ERR_INTERNAL ? EXIT_INTERNAL : EXIT_INPUT;
}

static void print_tokens(const ken_vocab *v, const int32_t *ids, size_t n, int ids_only,
                         int json) {
    if (json) printf("{\"n_tokens\": %zu, \"tokens\": [", n);
    for (size_t i = 0; i < n; i++) {
        const char *p = "";
        size_t pl = 0;
        ken_token_piece(v, ids[i], 1, &p, &pl);
        if (ids_only) {
            printf(i ? " %d" : "%d", ids[i]);
        } else if (json) {
            printf("%s{\"id\": %d, \"piece\": \"", i ? ", " : "", ids[i]);
            put_escaped(stdout, p, pl, 1);
            fputs("\"}", stdout);
        } else {
            printf("%d\t\"", ids[i]);
            put_escaped(stdout, p, pl, 0);
            fputs("\"\n", stdout);
        }
    }
    if (json) fputs("]}\n", stdout);
    else if (ids_only) fputc('\n', stdout);
}

int cmd_model_tokenize(int argc, char **argv) {
    const char *model = NULL, *text = NULL;
    int ids_only = 0, add_special = 1, parse_special = 0, json = 0, have_text = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        }
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) {
            if (i + 1 >= argc) {
                fputs("ken: model tokenize: --model needs a FILE\n", stderr);
                return EXIT_USAGE;
            }
            model = argv[++i];
        } else if (!strcmp(a, "--ids")) ids_only = 1;
        else if (!strcmp(a, "--no-add-special")) add_special = 0;
        else if (!strcmp(a, "--parse-special")) parse_special = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (a[0] == '-' && a[1] != 0 && strcmp(a, "--") != 0) {
            fprintf(stderr, "ken: model tokenize: unknown option '%s'\n", a);
            usage(stderr);
            return EXIT_USAGE;
        } else {
            if (!strcmp(a, "--")) {
                if (++i >= argc) break;
                a = argv[i];
            }
            if (have_text) {
                fputs("ken: model tokenize: one TEXT only (quote it)\n", stderr);
                return EXIT_USAGE;
            }
            text = a, have_text = 1;
        }
    }
    if (!model || !have_text) {
        fprintf(stderr, "ken: model tokenize: missing %s\n", !model ? "--model FILE" : "TEXT");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (ids_only && json) {
        fputs("ken: model tokenize: --ids and --json exclude each other\n", stderr);
        return EXIT_USAGE;
    }
    char *buf = NULL;
    size_t len = text ? strlen(text) : 0;
    if (!strcmp(text, "-")) {
        int too_big = 0;
        if (!(buf = read_stdin(&len, &too_big))) {
            fprintf(stderr, "ken: model tokenize: %s\n", too_big ? "standard input exceeds 64 MiB"
                                                                 : "cannot read standard input");
            return too_big ? EXIT_INPUT : EXIT_INTERNAL;
        }
        text = buf;
    }
    ken_vocab *v = NULL;
    char *msg = NULL;
    ken_status st = ken_vocab_load(model, &v, &msg);
    if (st != KEN_OK) {
        fprintf(stderr, "ken: %s\n", msg ? msg : ken_status_str(st));
        ken_free(msg), free(buf);
        return status_exit(st);
    }
    int32_t *ids = NULL;
    size_t n = 0;
    st = ken_tokenize(v, text, len, add_special, parse_special, &ids, &n);
    if (st != KEN_OK) {
        fprintf(stderr, "ken: model tokenize: %s\n", ken_status_str(st));
    } else {
        print_tokens(v, ids, n, ids_only, json);
    }
    ken_free(ids);
    ken_vocab_free(v);
    free(buf);
    if (st != KEN_OK) return status_exit(st);
    if (fflush(stdout) != 0) {
        perror("ken: writing output");
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}
