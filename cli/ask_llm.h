/* ask_llm.h: what `ken ask` (cmd_ask.c) and `ken chat` (cmd_chat.c) share
 * for answers written by a model: the model options, opening the small and
 * the large model, streaming, and printing a checked answer. */
#ifndef KEN_CLI_ASK_LLM_H
#define KEN_CLI_ASK_LLM_H

#include "ken.h"
#include "ken_ask.h"
#include "ken_llm.h"

#include <stdbool.h>

typedef struct {
    const char *model, *url, *name;              /* the (small) model */
    const char *esc_model, *esc_url, *esc_name;  /* the larger one, if any */
    uint32_t threads, ctx;
    bool json, verbose;
    bool stream;                                 /* print text as it comes */
    ken_ask_gen_opts gen;
    char *owned[6];                              /* strings read from the store's config */
} ask_llm_args;

/* The options' help text. */
extern const char ask_llm_help[];

/* Parses argv[*i] (and its value) if it is a model option: 1 consumed,
 * 0 not a model option, -1 bad value (printed; exit EXIT_USAGE). */
int ask_llm_arg(const char *cmd, int argc, char **argv, int *i, ask_llm_args *a);
/* Fills the models the options left unset from the store's config (keys
 * ask.model, ask.backend, ask.backend_model and their ask.escalate_*
 * twins): options first, then the store, then $KEN_BACKEND_URL. */
void ask_llm_from_store(ask_llm_args *a, ken_kb *kb);
void ask_llm_free(ask_llm_args *a);
/* Whether a model was given (options, store config or KEN_BACKEND_URL). */
bool ask_llm_wanted(ask_llm_args *a);
/* Opens the models (large may stay NULL); prints the failure and returns
 * the exit code. */
int ask_llm_open(const char *cmd, ask_llm_args *a, ken_llm **small, ken_llm **large);
/* Sets up streaming to stdout and routing messages on stderr in a->gen. */
void ask_llm_callbacks(ask_llm_args *a);
/* While on, the first Ctrl-C stops the generation under way (the call
 * returns KEN_ERR_CANCELLED) and a second one ends the program. */
void ask_llm_interrupt(ask_llm_args *a, bool on);
/* Prints the reply: after a streamed answer only the check and sources,
 * else everything; --json: the reply's JSON document. */
void ask_llm_print(ask_llm_args *a, ken_reply *r);

#endif
