/* cli.h: the subcommands of the ken program. Each cmd_* parses its own
 * arguments (argv[0] is the subcommand name) and returns the exit code:
 * 0 ok, 1 usage, 2 bad input or not found, 3 internal error. The CLI uses
 * the public headers (include/ken*.h) only. */
#ifndef KEN_CLI_H
#define KEN_CLI_H

#include "ken.h"

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INPUT = 2, EXIT_INTERNAL = 3 };

/* The store path from --db, $KEN_DB or ./.ken/ken.db. */
extern const char *cli_db_path;

/* Exit code of a library status (cli/util.c), and printing a failure with
 * kb's message (kb may be NULL); returns the exit code. */
int cli_exit_of(ken_status st);
int cli_fail(ken_kb *kb, ken_status st);

int cmd_add(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_search(int argc, char **argv);           /* cli/cmd_search.c */
int cmd_ask(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_serve(int argc, char **argv);            /* cli/cmd_serve.c */
int cmd_key(int argc, char **argv);
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
