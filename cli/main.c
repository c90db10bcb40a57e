/* main.c: the ken program: global options and subcommand dispatch. */
#include "cli.h"
#include "ken.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_db_path;

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"add", cmd_add, "add files, folders or stdin (-) to the knowledge base"},
    {"sync", cmd_sync, "add new and changed files of a folder, remove vanished ones"},
    {"rm", cmd_rm, "remove documents (by id, external id, uri, or folder/)"},
    {"ls", cmd_ls, "list documents"},
    {"show", cmd_show, "show a document or a chunk"},
    {"stats", cmd_stats, "counts and sizes of the knowledge base"},
    {"config", cmd_config, "show and change the knowledge base's settings"},
    {"embed", cmd_embed, "embed chunks for dense search (--missing after an interruption)"},
    {"search", cmd_search, "BM25 search over the chunks, with filters"},
    {"ask", cmd_ask, "answer a question from the knowledge base, with citations"},
    {"chat", cmd_chat, "a conversation with the knowledge base (a model; stored sessions)"},
    {"eval", cmd_eval, "evaluate retrieval on a BEIR-style test collection"},
    {"serve", cmd_serve, "HTTP API, OpenAI-compatible endpoint and web UI"},
    {"key", cmd_key, "API keys for ken serve: create, list, revoke"},
    {"llm", cmd_llm, "chat or embed through a model file or an OpenAI-compatible server"},
    {"model", NULL, "GGUF models: info, tokenize, generate, embed, rerank, logits, bench, ..."},
};

static const command model_commands[] = {
    {"info", cmd_model_info, "architecture, tensors, vocabulary of a GGUF file"},
    {"tokenize", cmd_model_tokenize, "text to token ids with a model's tokenizer"},
    {"generate", cmd_model_generate, "generate text from a prompt (streamed)"},
    {"embed", cmd_model_embed, "embedding vectors of texts (encoder models)"},
    {"rerank", cmd_model_rerank, "relevance scores of passages for a query (cross-encoders)"},
    {"logits", cmd_model_logits, "write the logits of every position (float32 LE)"},
    {"quantize", cmd_model_quantize, "convert a model's tensors to another type"},
    {"random", cmd_model_random, "write a random-weight model with a real tokenizer"},
    {"chat-template", cmd_model_chat_template, "render a chat template for a conversation"},
    {"bench", cmd_model_bench, "prompt and generation speed (llama-bench terms)"},

};

static void usage(FILE *f) {
    fprintf(f, "usage: ken [--db PATH] COMMAND [ARGS]\n\n"
               "ken is a knowledge engine: it turns documents into a searchable knowledge base.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\noptions:\n"
               "  --db PATH   the store (default: $KEN_DB, else ./.ken/ken.db)\n"
               "  --version   print the version\n"
               "  --help      this help; `ken COMMAND --help` for a command's\n\n"
               "exit codes: 0 ok, 1 usage, 2 bad input or not found, 3 internal error\n");
}

static int run_model(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: ken model SUBCOMMAND [ARGS]\n\nsubcommands:\n");
        for (size_t i = 0; i < sizeof model_commands / sizeof model_commands[0]; i++)
            fprintf(f, "  %-9s %s\n", model_commands[i].name, model_commands[i].help);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (size_t i = 0; i < sizeof model_commands / sizeof model_commands[0]; i++)
        if (strcmp(argv[1], model_commands[i].name) == 0)
            return model_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ken: unknown model subcommand '%s' (see `ken model --help`)\n", argv[1]);
    return EXIT_USAGE;
}

int main(int argc, char **argv) {
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            cli_db_path = argv[++i];
        } else if (strncmp(argv[i], "--db=", 5) == 0) {
            cli_db_path = argv[i] + 5;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("ken %s\n", KEN_VERSION);
            return EXIT_OK;
        } else {
            fprintf(stderr, "ken: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!cli_db_path) cli_db_path = getenv("KEN_DB");
    if (!cli_db_path || !*cli_db_path) cli_db_path = ".ken/ken.db";
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[i], "model") == 0) return run_model(argc - i, argv + i);
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (commands[k].fn && strcmp(argv[i], commands[k].name) == 0)
            return commands[k].fn(argc - i, argv + i);
    fprintf(stderr, "ken: unknown command '%s' (see `ken --help`)\n", argv[i]);
    return EXIT_USAGE;
}
