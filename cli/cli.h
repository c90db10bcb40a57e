/* cli.h: the subcommands of the ken program. Each cmd_* parses its own
 * arguments (argv[0] is the subcommand name) and returns the exit code:
 * 0 ok, 1 usage, 2 bad input or not found, 3 internal error. The CLI uses
 * the public headers (include/ken*.h) only. */
#ifndef KEN_CLI_H
#define KEN_CLI_H

#include "ken.h"

#include <stdbool.h>
#include <stdint.h>

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INPUT = 2, EXIT_INTERNAL = 3 };

/* The store path from --db, $KEN_DB or ./.ken/ken.db. */
extern const char *cli_db_path;

/* Exit code of a library status (cli/util.c), and printing a failure with
 * kb's message (kb may be NULL); returns the exit code. */
int cli_exit_of(ken_status st);
int cli_fail(ken_kb *kb, ken_status st);

/* Shared argument and output helpers (cli/util.c). */
#define QUERY_ARG_BYTES_MAX 65536
int cli_usage_error(const char *cmd, const char *fmt, const char *arg);  /* EXIT_USAGE */
bool cli_is_help(const char *a);
bool cli_num_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out);
bool cli_num_f(const char *v, double lo, double hi, double *out);
ken_status cli_open_ro(ken_kb **kb);             /* the store at cli_db_path, read-only */
void cli_jstr(const char *s);                    /* a JSON string on stdout (bad UTF-8 -> U+FFFD) */
void cli_jnum(double v);                         /* a JSON number, null when not finite */
char *cli_join_words(char **w, int n);           /* positional words -> one query (malloc'd) */

int cmd_add(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_config(int argc, char **argv);           /* cli/cmd_config.c */
int cmd_embed(int argc, char **argv);            /* cli/cmd_config.c */
int cmd_search(int argc, char **argv);           /* cli/cmd_search.c */
int cmd_ask(int argc, char **argv);              /* cli/cmd_ask.c */
int cmd_chat(int argc, char **argv);             /* cli/cmd_chat.c */
int cmd_eval(int argc, char **argv);
int cmd_serve(int argc, char **argv);            /* cli/cmd_serve.c */
int cmd_key(int argc, char **argv);
int cmd_llm(int argc, char **argv);              /* cli/cmd_llm.c */
/* ken model SUB ...: argv[0] is the model subcommand ("info", "tokenize"). */
int cmd_model_info(int argc, char **argv);       /* cli/cmd_model_info.c */
int cmd_model_tokenize(int argc, char **argv);   /* cli/cmd_model_tok.c */
int cmd_model_generate(int argc, char **argv);   /* cli/cmd_model_run.c */
int cmd_model_embed(int argc, char **argv);
int cmd_model_rerank(int argc, char **argv);
int cmd_model_logits(int argc, char **argv);
int cmd_model_quantize(int argc, char **argv);
int cmd_model_random(int argc, char **argv);
int cmd_model_chat_template(int argc, char **argv); /* cli/cmd_chat_template.c */
int cmd_model_bench(int argc, char **argv);      /* cli/cmd_model_bench.c */

#endif
