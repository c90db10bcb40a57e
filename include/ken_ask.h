/* ken_ask.h: answers a language model writes from the knowledge base, with
 * verified citations, small-model-first routing, and conversations that are
 * stored and can be resumed (`ken ask --model`, `ken chat`).
 *
 * The flow of one answer: retrieve (ken_search) -> if nothing relevant,
 * answer "I don't know" without calling any model -> a prompt with numbered
 * sources [1]..[n], best first, trimmed to the context budget -> generate
 * (streaming) -> check: every [n] must name a source that was in the prompt,
 * each sentence gets a support score against the sources it cites, uncited
 * or weakly supported claims are flagged, an answer that cites nothing valid
 * is ungrounded. With a larger model configured, an ungrounded, unsure or
 * mostly unsupported answer of the small model (or low retrieval confidence)
 * sends the same prompt to the larger one; every decision is recorded with
 * its reason.
 *
 * Conventions are those of ken.h: options structs start with `size`;
 * handles are freed by their _free/_close call (NULL is a no-op); strings
 * from a handle live as long as the handle; details of a failure are in
 * ken_kb_errmsg(kb). */
#ifndef KEN_ASK_H
#define KEN_ASK_H

#include "ken.h"
#include "ken_llm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One routing decision. */
typedef struct {
    const char *model;          /* ken_llm_name of the model asked */
    const char *backend;        /* "local" or "http" */
    const char *decision;       /* "answer": its answer is the result; "escalate": a
                                   larger model is asked next; "skip": not asked */
    const char *reason;         /* why, in words */
    int grounded, unsure;       /* of its answer (0 when not asked) */
    double support;             /* mean support of its claim sentences */
    const char *text;           /* its answer ("" when not asked) */
    size_t n_prompt, n_generated;
    double ttft_s, total_s, tokens_per_s;
} ken_route_step;

/* A source that was in the prompt as [n]. */
typedef struct {
    int n;
    int64_t doc_id, chunk_id;
    const char *ext_id, *uri, *title, *heading;
    int32_t page;
    int64_t start, end;         /* byte span in the document text of the part the
                                   model saw (the chunk, or its start if cut) */
    double score;               /* retrieval score */
    int cited;                  /* citation markers in the answer naming it */
    const char *text; size_t text_len;   /* what the model saw */
} ken_reply_source;

enum {
    KEN_SENT_UNCITED = 1,       /* a claim with no citation */
    KEN_SENT_INVALID = 2,       /* cites a number that was not a source */
    KEN_SENT_WEAK = 4,          /* its cited sources share too little with it */
};

/* One sentence of the answer and its check. */
typedef struct {
    size_t start, end;          /* bytes of the answer */
    const int *cites; size_t n_cites;   /* source numbers cited, as written */
    int claim;                  /* has enough content words to be checked */
    double support;             /* share of its content words found in its cited sources */
    int best_source;            /* the source containing most of it (0: none) */
    double best_support;
    unsigned flags;             /* KEN_SENT_* */
} ken_reply_sentence;

typedef struct {
    const char *question;
    const char *query;          /* the text retrieval searched for */
    int found;                  /* 0: nothing relevant; the answer says so and no model ran */
    double confidence;          /* retrieval confidence: share of the query's idf weight in
                                   the best sentence (as ken_answer_score) */
    const char *answer; size_t answer_len;
    int grounded;               /* cites at least one source that was in the prompt */
    int unsure;                 /* the answer says it does not know */
    double support;             /* mean sentence support over claims */
    size_t n_claims, n_flagged, n_valid_cites, n_invalid_cites;
    const ken_reply_source *sources; size_t n_sources;
    const ken_reply_sentence *sentences; size_t n_sentences;
    const ken_route_step *route; size_t n_route;
    const char *model, *backend;    /* who wrote the answer (NULL when no model ran) */
    int escalated;
    double retrieval_s;         /* search and the confidence check */
    double generation_s;        /* every model call together */
    double ttft_s, tokens_per_s;    /* of the answering call */
    size_t prompt_tokens, generated_tokens;
    size_t history_kept, history_dropped;   /* earlier messages in the prompt */
    const char *finish;         /* "stop", "length", "cancelled", "" */
} ken_reply_info;

typedef struct ken_reply ken_reply;

typedef struct {
    uint32_t size;
    uint32_t k;                 /* sources retrieved; 0: 8 */
    const char *collection;     /* NULL: all */
    double min_score;           /* "nothing relevant" threshold (ken_ask_opts);
                                   0: the calibrated default; < 0: always ask the model */
    int max_tokens;             /* 0: 512 */
    float temperature;          /* <= 0: greedy */
    uint64_t seed;
    double min_support;         /* sentence support below this is weak; 0: 0.35 */
    double escalate_below;      /* retrieval confidence under which the small model is
                                   skipped for the large one; 0: 0.4; < 0: never */
    const char *history_json;   /* earlier turns, [{role, content}...]; NULL: none */
    const char *query;          /* what to search for; NULL: the question */
    /* Streaming: each piece of text of each model asked (attempt 0, 1);
     * non-zero stops that generation. */
    int (*on_text)(void *ud, int attempt, const char *text, size_t len);
    /* Each routing decision as it is made (before the next model streams). */
    void (*on_route)(void *ud, const ken_route_step *step);
    void *ud;
    const volatile int *cancel;
} ken_ask_gen_opts;

/* Answers question from kb with small (required) and, when small's answer
 * is not good enough, large (may be NULL). */
ken_status ken_ask_generate(ken_kb *kb, ken_llm *small, ken_llm *large, const char *question,
                            const ken_ask_gen_opts *opts, ken_reply **out);
const ken_reply_info *ken_reply_get(const ken_reply *r);
/* The whole reply as one JSON document (the CLI's --json); a string of the
 * handle. */
const char *ken_reply_json(ken_reply *r);
void ken_reply_free(ken_reply *r);

/* ------------------------------------------------------------ chat */

/* A conversation stored in the knowledge base (which must be writable). */
typedef struct ken_session ken_session;

/* Opens the session `name` with its earlier turns; create: make it when
 * missing (else KEN_ERR_NOTFOUND). */
ken_status ken_session_open(ken_kb *kb, const char *name, int create, ken_session **out);
void ken_session_close(ken_session *s);
const char *ken_session_name(const ken_session *s);
/* Stored messages (user and assistant turns). */
size_t ken_session_turns(const ken_session *s);
/* Turn i: role and content (NULL when out of range). */
const char *ken_session_turn(const ken_session *s, size_t i, const char **role);

/* One turn: the question is rewritten from the conversation for retrieval
 * (opts->query is ignored), the kept history goes into the prompt, and
 * the question and answer (with the sources used) are stored. */
ken_status ken_session_ask(ken_session *s, ken_llm *small, ken_llm *large,
                           const char *question, const ken_ask_gen_opts *opts, ken_reply **out);

/* Lists the sessions of kb: name, turns, last update (unix seconds). */
typedef int (*ken_session_fn)(void *ud, const char *name, int64_t turns, int64_t updated);
ken_status ken_session_list(ken_kb *kb, ken_session_fn fn, void *ud);

#ifdef __cplusplus
}
#endif

#endif
