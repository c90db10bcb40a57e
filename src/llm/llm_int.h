/* llm_int.h: the ken_llm handle shared by the front (llm.c) and the two
 * backends (local.c: ken's engine; http.c + openai.c: an OpenAI-compatible
 * server over libcurl). */
#ifndef KEN_LLM_INT_H
#define KEN_LLM_INT_H

#include "ken_llm.h"
#include "ken_infer.h"
#include "base/base.h"

#include <stdbool.h>
#include <string.h>

#define LLM_GEN_BYTES_MAX ((size_t)64 << 20)   /* a reply's text */
#define LLM_EMBED_N_MAX 65536                  /* texts in one ken_llm_embed call */
#define LLM_STOPS_MAX 64                       /* stop strings in one call */

typedef enum { LLM_LOCAL, LLM_HTTP } llm_kind;

struct ken_llm {
    llm_kind kind;
    char *name;             /* general.name / file name, or the model id */
    int n_ctx;
    /* local */
    ken_model *model;
    bool borrowed;          /* model belongs to the caller (ken_llm_open_model) */
    ken_ctx *ctx;           /* made on first use (embedding-only users of a decoder pay nothing) */
    char *model_path;
    const char *format;     /* the built-in format the chat template looks like (its stop strings) */
    int threads;
    bool warned;            /* the template fallback warning was logged once */
    /* http */
    char *url;              /* without a trailing '/' */
    char *api_key;          /* NULL: none; never printed */
    double timeout_s, backoff_s;
    int retries;
    size_t resp_max;
};

/* The length of text i: lens[i], or strlen when lens is NULL. */
static inline size_t llm_len(const char *const *texts, const size_t *lens, size_t i) {
    return lens ? lens[i] : strlen(texts[i]);
}

/* Formats a message into a fresh string for *errmsg (when errmsg is not NULL). */
void llm_errmsg(char **errmsg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

ken_status llm_local_open(ken_llm *l, const ken_llm_opts *o, char **errmsg);
void llm_local_close(ken_llm *l);
size_t llm_local_count(ken_llm *l, const char *text, size_t len);
ken_status llm_local_chat(ken_llm *l, const char *messages_json, const ken_llm_gen_opts *o,
                          char **text, size_t *text_len, ken_llm_stats *stats, char **errmsg);
ken_status llm_local_embed(ken_llm *l, const char *const *texts, const size_t *lens, size_t n,
                           float **vecs, size_t *dim, char **errmsg);

ken_status llm_http_open(ken_llm *l, const ken_llm_opts *o, char **errmsg);
void llm_http_close(ken_llm *l);
ken_status llm_http_chat(ken_llm *l, const char *messages_json, const ken_llm_gen_opts *o,
                         char **text, size_t *text_len, ken_llm_stats *stats, char **errmsg);
ken_status llm_http_embed(ken_llm *l, const char *const *texts, const size_t *lens, size_t n,
                          float **vecs, size_t *dim, char **errmsg);

#endif
