/* cmd_chat_template.c: `ken model chat-template --model FILE (--messages
 * FILE.json | -) [--add-generation-prompt] [--template FILE.jinja]
 * [--format NAME] [--vars JSON]`: prints the prompt the model's chat
 * template makes of an OpenAI-style message list, exactly (no newline
 * added). A template that cannot be rendered falls back to a built-in format
 * with a warning on stderr; a template that refuses the conversation
 * (raise_exception) is an error (exit 2). */
#include "cli.h"
#include "ken.h"
#include "ken_chat.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_model_chat_template(int argc, char **argv);

#define INPUT_MAX ((size_t)64 << 20)

static void usage(FILE *f) {
    fprintf(f, "usage: ken model chat-template --model FILE (--messages FILE.json | -)\n"
               "                               [--add-generation-prompt] [--template FILE.jinja]\n"
               "                               [--format NAME] [--vars JSON]\n"
               "  Prints the prompt that the model's chat template (tokenizer.chat_template)\n"
               "  renders for the messages, exactly as Hugging Face transformers renders it.\n"
               "  --model FILE              GGUF model or vocabulary (template, BOS/EOS texts)\n"
               "  --messages FILE.json|-    an OpenAI-style JSON array of {role, content}\n"
               "  --add-generation-prompt   end with the assistant turn's opening\n"
               "  --template FILE.jinja     use this template instead of the model's\n"
               "  --format NAME             use a built-in format: %s\n"
               "  --vars JSON               extra template variables (a JSON object)\n",
            ken_chat_formats());
}

/* Reads a whole file ("-": stdin) up to INPUT_MAX; NULL with *msg on failure. */
static char *slurp(const char *path, const char **msg) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        *msg = "cannot open";
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *p = malloc(cap + 1);
    while (p) {
        if (len == cap) {
            if (cap >= INPUT_MAX) {
                free(p);
                p = NULL;
                *msg = "larger than 64 MiB";
                break;
            }
            char *q = realloc(p, cap * 2 + 1);
            if (!q) {
                free(p);
                p = NULL;
                *msg = "out of memory";
                break;
            }
            p = q;
            cap *= 2;
        }
        size_t k = fread(p + len, 1, cap - len, f);
        len += k;
        if (k == 0) {
            if (ferror(f)) {
                free(p);
                p = NULL;
                *msg = "read error";
            }
            break;
        }
    }
    if (p && memchr(p, 0, len)) {
        free(p);
        p = NULL;
        *msg = "contains a NUL byte";
    }
    if (p) p[len] = 0;
    if (f != stdin) fclose(f);
    return p;
}

int cmd_model_chat_template(int argc, char **argv) {
    const char *model = NULL, *messages = NULL, *tmpl_path = NULL;
    ken_chat_opts o = {.size = sizeof o};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--model") == 0 && has_val) model = argv[++i];
        else if (strcmp(a, "--messages") == 0 && has_val) messages = argv[++i];
        else if (strcmp(a, "--template") == 0 && has_val) tmpl_path = argv[++i];
        else if (strcmp(a, "--format") == 0 && has_val) o.format = argv[++i];
        else if (strcmp(a, "--vars") == 0 && has_val) o.extra_json = argv[++i];
        else if (strcmp(a, "--add-generation-prompt") == 0) o.add_generation_prompt = 1;
        else if (strcmp(a, "-") == 0 && !messages) messages = "-";
        else {
            fprintf(stderr, "ken model chat-template: unexpected argument '%s'\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!model || !messages) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *why = NULL;
    char *msgs = slurp(messages, &why), *tmpl = NULL;
    if (!msgs) {
        fprintf(stderr, "ken: messages '%s': %s\n", messages, why);
        return EXIT_INPUT;
    }
    if (tmpl_path && !(tmpl = slurp(tmpl_path, &why))) {
        fprintf(stderr, "ken: template '%s': %s\n", tmpl_path, why);
        free(msgs);
        return EXIT_INPUT;
    }
    o.template_text = tmpl;
    char *out = NULL, *warning = NULL, *err = NULL;
    size_t n = 0;
    ken_status st = ken_chat_render_model(model, &o, msgs, &out, &n, &warning, &err);
    free(msgs);
    free(tmpl);
    if (warning) fprintf(stderr, "ken: warning: %s\n", warning);
    ken_free(warning);
    if (st) {
        fprintf(stderr, "ken: %s\n", err ? err : ken_status_str(st));
        ken_free(err);
        return st == KEN_ERR_NOMEM || st == KEN_ERR_INTERNAL ? EXIT_INTERNAL : EXIT_INPUT;
    }
    int rc = fwrite(out, 1, n, stdout) == n && fflush(stdout) == 0 ? EXIT_OK : EXIT_INTERNAL;
    ken_free(out);
    return rc;
}
