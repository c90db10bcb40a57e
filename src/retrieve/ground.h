/* ground.h: grounded generation without the model: the prompt a language
 * model answers from (an instruction and numbered sources [1]..[n], best
 * first, trimmed to a token budget), and the check of its answer (every [n]
 * must name a source that was in the prompt; each sentence is scored by how
 * much of it its cited sources contain; uncited or weakly supported claims
 * are flagged; an answer citing nothing valid is ungrounded).
 *
 * Pure functions: no store, no model. Token counts come from a callback so
 * the caller can use the model's tokenizer (or an estimate). */
#ifndef KEN_RETRIEVE_GROUND_H
#define KEN_RETRIEVE_GROUND_H

#include "base/base.h"

#define KEN_GROUND_SOURCES_MAX 64         /* sources in one prompt */
#define KEN_GROUND_CITE_MAX 999           /* [n] with more digits is not a citation */
#define KEN_GROUND_CITES_PER_SENT 16      /* citations kept per sentence */
#define KEN_GROUND_ANSWER_BYTES_MAX (1u << 20)
#define KEN_GROUND_MIN_SUPPORT_DEFAULT 0.35
#define KEN_GROUND_CLAIM_TERMS_MIN 3      /* fewer content words: no checkable claim */

/* Tokens in text[0..len). */
typedef size_t (*ken_ground_count_fn)(void *ud, const char *text, size_t len);

typedef struct {
    const char *title, *heading, *uri;   /* any may be NULL or "" */
    int32_t page;                        /* 0: not paged */
    const char *text;
    size_t text_len;
} ken_ground_source;

/* ------------------------------------------------------------ prompt */

typedef struct {
    const char *question;                /* required */
    const char *system;                  /* NULL: the built-in instruction */
    const char *history_json;            /* NULL or an array of earlier {role, content} */
    size_t budget_tokens;                /* the whole prompt's budget; 0: unlimited */
    ken_ground_count_fn count;           /* NULL: bytes / 3, rounded up */
    void *count_ud;
} ken_ground_prompt_opts;

typedef struct {
    char *messages_json;                 /* OpenAI-style array of {role, content} */
    size_t n_sources;                    /* src[0..n_sources) are in the prompt as [1].. */
    size_t *used_len;                    /* bytes of each one's text in the prompt */
    size_t n_history;                    /* earlier messages kept (the newest ones) */
    size_t n_history_dropped;
    size_t tokens;                       /* the prompt's tokens as counted */
} ken_ground_prompt;

/* Builds the messages: system instruction, the kept history, then one user
 * message with the sources (best first, each cut at a sentence or word end
 * when it does not fit whole) and the question. KEN_ERR_LIMIT when even the
 * instruction and question do not fit the budget; KEN_ERR_FORMAT for bad
 * history JSON. Free with ken_ground_prompt_free. */
ken_status ken_ground_build_prompt(const ken_ground_source *src, size_t n_src,
                                   const ken_ground_prompt_opts *o, ken_ground_prompt *out,
                                   ken_err *err);
void ken_ground_prompt_free(ken_ground_prompt *p);

/* ------------------------------------------------------------ citations */

typedef struct {
    size_t start, end;                   /* the marker's bytes in the answer, "[1, 2]" */
    int n;                               /* one source number (a marker can give several) */
} ken_ground_cite;

/* Finds citation markers: [1], [1, 2], [1; 3], [1-3] (ranges up to 20 apart),
 * [1][2]. Not citations: markers inside `code` or ``` fences, markdown links
 * "[1](...)", numbers of more than 3 digits (years), empty brackets.
 * KEN_ERR_LIMIT past 2^19 citations (an answer is at most 1 MiB). */
ken_status ken_ground_parse_cites(const char *text, size_t len, ken_ground_cite **out,
                                  size_t *n_out);

/* ------------------------------------------------------------ check */

enum {
    KEN_GROUND_UNCITED = 1,              /* a claim without any citation */
    KEN_GROUND_INVALID = 2,              /* cites a number that was not a source */
    KEN_GROUND_WEAK = 4,                 /* its cited sources share too little with it */
};

typedef struct {
    size_t start, end;                   /* the sentence in the answer (markers included) */
    int cites[KEN_GROUND_CITES_PER_SENT];   /* distinct numbers cited, in order */
    size_t n_cites;
    size_t n_terms;                      /* content words (stemmed, distinct) */
    bool claim;                          /* n_terms >= KEN_GROUND_CLAIM_TERMS_MIN */
    double support;                      /* share of its words in its valid cited sources */
    int best_source;                     /* the source (1-based) that contains most of it; 0: none */
    double best_support;
    unsigned flags;                      /* KEN_GROUND_* */
} ken_ground_sentence;

typedef struct {
    ken_ground_sentence *sent;
    size_t n_sent;
    ken_ground_cite *cites;
    size_t n_cites;
    size_t n_valid, n_invalid;           /* citation markers by validity */
    size_t n_claims, n_flagged;          /* claim sentences; sentences with any flag */
    bool grounded;                       /* at least one valid citation */
    bool unsure;                         /* the answer says it does not know */
    double support;                      /* mean support over claim sentences */
} ken_ground_check;

/* Checks answer[0..len) against the n_src sources that were in the prompt
 * (numbered from 1, with their texts as the prompt held them).
 * min_support <= 0: KEN_GROUND_MIN_SUPPORT_DEFAULT. Free with
 * ken_ground_check_free. */
ken_status ken_ground_verify(const char *answer, size_t len, const ken_ground_source *src,
                             size_t n_src, double min_support, ken_ground_check *out,
                             ken_err *err);
void ken_ground_check_free(ken_ground_check *c);

/* Does the text say it does not know ("I don't know", "not sure", "the
 * sources do not contain", ...)? */
bool ken_ground_unsure(const char *text, size_t len);

/* The retrieval query for a question in a conversation: the question
 * itself when it stands alone; when it refers back (a pronoun such as "it",
 * "they", "that") or has fewer than KEN_GROUND_CLAIM_TERMS_MIN content
 * words, the question followed by the new content words of the most recent
 * earlier questions (earlier[n_earlier - 1] is the newest; two at most).
 * *out is malloc'd. */
ken_status ken_ground_rewrite(const char *question, const char *const *earlier,
                              size_t n_earlier, char **out);

/* Share of the content words of a in b (stemmed, stop words out), in [0, 1];
 * 0 when a has none. */
double ken_ground_containment(const char *a, size_t a_len, const char *b, size_t b_len);

#endif
