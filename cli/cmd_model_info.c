/* cmd_model_info.c: `ken model info FILE [--json]`: prints what a GGUF model
 * file holds (ken_model_info does the work). */
#include "cli.h"
#include "ken.h"
#include "ken_model.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fputs("usage: ken model info FILE [--json]\n"
          "  Describes a GGUF model: architecture, parameters, tensor types, context and\n"
          "  embedding length, layers, heads, vocabulary, special tokens, chat template,\n"
          "  file type, GGUF version and alignment.\n"
          "  --json   one JSON document on stdout\n", f);
}

int cmd_model_info(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != 0) {
            fprintf(stderr, "ken: model info: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        } else if (path) {
            fprintf(stderr, "ken: model info: one FILE only ('%s' and '%s')\n", path, argv[i]);
            return EXIT_USAGE;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fputs("ken: model info: missing FILE\n", stderr);
        usage(stderr);
        return EXIT_USAGE;
    }
    char *out = NULL, *msg = NULL;
    ken_status st = ken_model_info(path, json, &out, &msg);
    if (st != KEN_OK) {
        fprintf(stderr, "ken: %s\n", msg ? msg : ken_status_str(st));
        ken_free(msg);
        return st == KEN_ERR_NOMEM || st == KEN_ERR_INTERNAL ? EXIT_INTERNAL : EXIT_INPUT;
    }
    fputs(out, stdout);
    ken_free(out);
    if (fflush(stdout) != 0) {
        perror("ken: writing output");
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}
