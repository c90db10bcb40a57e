/* ken_llm.h: one interface for chat generation and embeddings, with two
 * backends: ken's own engine over a local GGUF file, and any
 * OpenAI-compatible server (llama.cpp's server, vLLM, Ollama, OpenAI, or
 * `ken serve`) reached over HTTP with libcurl (/chat/completions with SSE
 * streaming, /embeddings).
 *
 * Conventions are those of ken.h: options structs start with `size`; error
 * strings returned through char **errmsg are freed with ken_free. An API key
 * is never printed, logged or put in an error message. */
#ifndef KEN_LLM_H
#define KEN_LLM_H

#include "ken.h"
#include "ken_infer.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ken_llm ken_llm;

typedef struct {
    uint32_t size;
    /* Exactly one of model_path (local engine) and url (HTTP) is set. */
    const char *model_path;     /* a GGUF decoder or encoder */
    const char *url;            /* base URL, e.g. http://127.0.0.1:8080/v1 */
    const char *model_name;     /* HTTP: the "model" field; NULL: the server's first /models entry */
    const char *api_key;        /* HTTP: NULL: $KEN_API_KEY (may be unset) */
    double timeout_s;           /* HTTP: the longest wait for the server (to connect, for the
                                   first byte, between two pieces of a stream); 0: 120 */
    int retries;                /* HTTP: on connect errors, 429 and 5xx, with backoff (never after
                                   streamed text reached the caller, never on a timeout);
                                   -1: none, 0: 3, at most 20 */
    int threads;                /* local: 0: all cores */
    int n_ctx;                  /* context budget in tokens; 0: local = the model's (max 8192;
                                   never more than the model's), HTTP = 4096 */
    double backoff_s;           /* HTTP: first retry delay, doubled each retry (with jitter,
                                   at most 30 s; a server's Retry-After wins, up to 60 s); 0: 0.5 */
    size_t response_bytes_max;  /* HTTP: a response body (or one SSE event) larger than this
                                   fails with KEN_ERR_LIMIT; 0: 64 MiB */
} ken_llm_opts;

/* Fills opts from the environment where the caller left them NULL:
 * KEN_BACKEND_URL (only when model_path is NULL too), KEN_BACKEND_MODEL,
 * KEN_API_KEY. The strings point into the environment. */
void ken_llm_opts_from_env(ken_llm_opts *opts);

/* Opens the backend: locally loads the model; over HTTP checks nothing but
 * the options, except that a NULL model_name asks the server's /models.
 * A ken_llm is used by one thread at a time. */
ken_status ken_llm_open(const ken_llm_opts *opts, ken_llm **out, char **errmsg);
/* The local backend over a model that is already open (a server shares one
 * per process): as ken_llm_open with opts->model_path naming model's file
 * (its chat template and name are read from there), but the model is
 * borrowed and must outlive the handle. Each handle has its own context, so
 * handles over one model may run on different threads at once. */
ken_status ken_llm_open_model(const ken_llm_opts *opts, ken_model *model, ken_llm **out,
                              char **errmsg);
void ken_llm_close(ken_llm *l);

/* "local" or "http". */
const char *ken_llm_backend(const ken_llm *l);
/* The model's name for reports: the GGUF's general.name (else the file
 * name) locally, the model id over HTTP. */
const char *ken_llm_name(const ken_llm *l);
/* The context budget in tokens. */
int ken_llm_n_ctx(const ken_llm *l);
/* Tokens in text: exact locally (the model's tokenizer), an estimate over
 * HTTP (bytes / 3, rounded up). */
size_t ken_llm_count_tokens(ken_llm *l, const char *text, size_t len);

typedef struct {
    uint32_t size;
    int max_tokens;             /* 0: 512 */
    float temperature;          /* <= 0: greedy */
    float top_p;                /* 0 or >= 1: off */
    uint64_t seed;
    const char *const *stop;    /* stop strings */
    size_t n_stop;
    /* Streaming: called with each piece of text as it is generated (the
     * pieces concatenate to exactly the returned text); a non-zero return
     * stops generation: the call returns KEN_OK with the text so far and
     * finish reason "cancelled". */
    int (*on_text)(void *ud, const char *text, size_t len);
    void *ud;
    /* Cancellation from another thread: generation (or an HTTP request,
     * or a wait between retries) stops soon after *cancel becomes non-zero
     * (HTTP: within 0.1 s; locally: at the next token, once the prompt has
     * been read) and the call returns KEN_ERR_CANCELLED. */
    const volatile int *cancel;
} ken_llm_gen_opts;

typedef struct {
    size_t n_prompt, n_generated;   /* tokens (HTTP: as the server reports, else estimated) */
    double ttft_s;                  /* time to first token */
    double total_s;
    char finish[16];                /* "stop", "length", "cancelled" (HTTP: or the server's word) */
    int retries;                    /* HTTP: requests repeated after a failure */
} ken_llm_stats;

/* Generates the assistant's reply to messages_json, an OpenAI-style array
 * of {role, content}. Locally the model's chat template renders the
 * messages (ken_chat_render_model, with its fallback, logged once as a
 * warning), and the turn markers of that format (e.g. <|im_end|>) also stop
 * generation; a prompt that leaves no room in the context fails with
 * KEN_ERR_LIMIT. Over HTTP the stop strings are sent (at most 4) and also
 * applied to the text that comes back. Errors: KEN_ERR_IO (cannot connect,
 * timeout, 5xx after the retries), KEN_ERR_LIMIT (429 after the retries,
 * 413, an answer past response_bytes_max), KEN_ERR_INVALID (other 4xx, with
 * the server's message), KEN_ERR_NOTFOUND (404), KEN_ERR_FORMAT (a
 * malformed answer or stream), KEN_ERR_CANCELLED. *text (optional)
 * receives the whole reply, freed with ken_free (NULL on failure). */
ken_status ken_llm_chat(ken_llm *l, const char *messages_json, const ken_llm_gen_opts *opts,
                        char **text, size_t *text_len, ken_llm_stats *stats, char **errmsg);

/* Embeds n texts (lens NULL: NUL-terminated) into *vecs (n * *dim floats,
 * freed with ken_free), L2-normalized. Locally with the model's own pooling
 * (an encoder's pooling type; the last token for a decoder). */
ken_status ken_llm_embed(ken_llm *l, const char *const *texts, const size_t *lens, size_t n,
                         float **vecs, size_t *dim, char **errmsg);

#ifdef __cplusplus
}
#endif

#endif
