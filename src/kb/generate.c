/* generate.c (kb): answers written by a language model from the knowledge
 * base (include/ken_ask.h): retrieve, refuse without a model when nothing is
 * relevant, prompt with numbered sources (src/retrieve/ground.c), generate
 * with streaming (src/llm), check the citations, and route: a small model
 * first, a larger one when the small one's answer is ungrounded, unsure or
 * mostly unsupported, or when retrieval confidence is too low for it. */
#include "ken_ask.h"
#include "ken_search.h"
#include "kb/generate.h"
#include "kb/kb.h"
#include "retrieve/ground.h"

#include <stdlib.h>
#include <string.h>

#define ROUTE_MAX 3
#define REASON_BYTES 256
#define MAX_TOKENS_DEFAULT 512
#define K_DEFAULT 8
#define ESCALATE_BELOW_DEFAULT 0.4
#define CONTEXT_MARGIN_TOKENS 32      /* the chat template's own tokens */
#define PROMPT_TOKENS_MIN 64

static const char not_found_text[] =
    "I don't know: no relevant passage was found in the knowledge base for this question.";

struct ken_reply {
    ken_reply_info info;
    char *question, *query, *answer;
    ken_results *res;                 /* owns the sources' strings */
    ken_reply_source *src;
    ken_ground_check check;
    ken_reply_sentence *sent;
    ken_route_step route[ROUTE_MAX];
    char *route_model[ROUTE_MAX], *route_text[ROUTE_MAX];
    char route_reason[ROUTE_MAX][REASON_BYTES];
    char finish[16];
    char *model;                      /* copy of the answering model's name */
    char *json;
};

#define READ_OPTS(dst, src) do { \
    memset(&(dst), 0, sizeof(dst)); \
    if (src) { \
        size_t n_ = (src)->size && (src)->size < sizeof(dst) ? (src)->size : sizeof(dst); \
        memcpy(&(dst), (src), n_); \
    } } while (0)

/* ------------------------------------------------------------ retrieval */

/* Searches for the sources and measures how well the best sentence covers
 * the query (the extractive answer's threshold decides "nothing found"). */
static ken_status retrieve(ken_kb *kb, ken_reply *r, const ken_ask_gen_opts *o) {
    double t0 = ken_now();
    ken_search_opts so = {.size = sizeof so, .k = o->k ? o->k : K_DEFAULT,
                          .collection = o->collection};
    ken_status st = ken_search(kb, r->query, &so, &r->res);
    if (st != KEN_OK) return st;
    ken_ask_opts ao = {.size = sizeof ao, .k = so.k, .min_score = o->min_score,
                       .collection = o->collection, .max_sentences = 1};
    ken_answer *a = NULL;
    if ((st = ken_ask(kb, r->query, &ao, &a)) != KEN_OK) return st;
    r->info.found = ken_answer_found(a) && ken_results_count(r->res) > 0;
    r->info.confidence = ken_answer_score(a);
    ken_answer_free(a);
    r->info.retrieval_s = ken_now() - t0;
    return KEN_OK;
}

/* ------------------------------------------------------------ one model */

typedef struct {
    const ken_ask_gen_opts *o;
    int attempt;
} stream_ctx;

static int on_piece(void *ud, const char *text, size_t len) {
    stream_ctx *c = ud;
    return c->o->on_text ? c->o->on_text(c->o->ud, c->attempt, text, len) : 0;
}

static size_t count_tokens(void *ud, const char *text, size_t len) {
    return ken_llm_count_tokens(ud, text, len);
}

/* Records step i for model m (text may be NULL when it was not asked). */
static ken_route_step *step_init(ken_reply *r, ken_llm *m, const char *decision) {
    size_t i = r->info.n_route++;
    KEN_ASSERT(i < ROUTE_MAX);
    ken_route_step *s = &r->route[i];
    r->route_model[i] = ken_strdup(ken_llm_name(m));
    *s = (ken_route_step){.model = r->route_model[i] ? r->route_model[i] : "",
                          .backend = ken_llm_backend(m), .decision = decision,
                          .reason = r->route_reason[i], .text = ""};
    return s;
}

/* Asks model m; on success *text is its answer and check holds the check. */
static ken_status run_model(ken_kb *kb, ken_reply *r, ken_llm *m, int attempt,
                            const ken_ground_prompt *p, const ken_ground_source *srcs,
                            const ken_ask_gen_opts *o, char **text, size_t *len,
                            ken_llm_stats *stats, ken_ground_check *check) {
    stream_ctx sc = {o, attempt};
    ken_llm_gen_opts g = {.size = sizeof g,
                          .max_tokens = o->max_tokens ? o->max_tokens : MAX_TOKENS_DEFAULT,
                          .temperature = o->temperature, .seed = o->seed,
                          .on_text = on_piece, .ud = &sc, .cancel = o->cancel};
    char *msg = NULL;
    memset(stats, 0, sizeof *stats);
    ken_status st = ken_llm_chat(m, p->messages_json, &g, text, len, stats, &msg);
    r->info.generation_s += stats->total_s;
    if (st != KEN_OK) {
        ken_err_set(&kb->err, st, "%s (%s): %s", ken_llm_name(m), ken_llm_backend(m),
                    msg ? msg : ken_status_str(st));
        ken_free(msg);
        return st;
    }
    ken_free(msg);
    if (!*text && !(*text = ken_strdup("")))
        return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    return ken_ground_verify(*text, *len, srcs, p->n_sources, o->min_support, check, &kb->err);
}

/* Why an answer is not good enough (NULL: it is). */
static const char *judge(const ken_ground_check *c, char *why, size_t n) {
    if (c->unsure) {
        snprintf(why, n, "unsure: the answer says it does not know");
    } else if (!c->grounded) {
        if (c->n_invalid)
            snprintf(why, n, "ungrounded: its %zu citation(s) name no source that was in the "
                     "prompt", c->n_invalid);
        else
            snprintf(why, n, "ungrounded: it cites no source");
    } else if (c->n_claims && 2 * c->n_flagged > c->n_claims) {
        snprintf(why, n, "mostly unsupported: %zu of %zu claims flagged", c->n_flagged,
                 c->n_claims);
    } else {
        return NULL;
    }
    return why;
}

static double tokens_per_s(const ken_llm_stats *s) {
    double gen = s->total_s - s->ttft_s;
    return gen > 0 && s->n_generated > 1 ? (double)(s->n_generated - 1) / gen : 0;
}

static void step_fill(ken_route_step *s, char **text_slot, char *text,
                      const ken_ground_check *c, const ken_llm_stats *st) {
    *text_slot = text;
    s->text = text ? text : "";
    s->grounded = c->grounded;
    s->unsure = c->unsure;
    s->support = c->support;
    s->n_prompt = st->n_prompt;
    s->n_generated = st->n_generated;
    s->ttft_s = st->ttft_s;
    s->total_s = st->total_s;
    s->tokens_per_s = tokens_per_s(st);
}

/* ------------------------------------------------------------ result */

static ken_status fill_sources(ken_kb *kb, ken_reply *r, const ken_ground_prompt *p) {
    size_t n = p->n_sources;
    if (!(r->src = calloc(n ? n : 1, sizeof *r->src)))
        return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const ken_result *h = ken_results_get(r->res, i);
        r->src[i] = (ken_reply_source){
            .n = (int)i + 1, .doc_id = h->doc_id, .chunk_id = h->chunk_id, .ext_id = h->ext_id,
            .uri = h->uri, .title = h->title, .heading = h->heading, .page = h->page,
            .start = h->start, .end = h->start + (int64_t)p->used_len[i], .score = h->score,
            .text = h->text, .text_len = p->used_len[i]};
    }
    r->info.sources = r->src;
    r->info.n_sources = n;
    return KEN_OK;
}

/* Publishes the answering attempt's text and check in r->info. */
static ken_status finish_reply(ken_kb *kb, ken_reply *r, char *text, size_t len,
                               ken_ground_check *c, const ken_llm_stats *st, ken_llm *m) {
    r->answer = text;
    r->check = *c;
    memset(c, 0, sizeof *c);
    c = &r->check;
    if (c->n_sent && !(r->sent = calloc(c->n_sent, sizeof *r->sent)))
        return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < c->n_sent; i++) {
        const ken_ground_sentence *s = &c->sent[i];
        r->sent[i] = (ken_reply_sentence){
            .start = s->start, .end = s->end, .cites = s->cites, .n_cites = s->n_cites,
            .claim = s->claim, .support = s->support, .best_source = s->best_source,
            .best_support = s->best_support, .flags = s->flags};
    }
    for (size_t k = 0; k < c->n_cites; k++)
        if (c->cites[k].n >= 1 && (size_t)c->cites[k].n <= r->info.n_sources)
            r->src[c->cites[k].n - 1].cited++;
    snprintf(r->finish, sizeof r->finish, "%s", st->finish);
    r->model = ken_strdup(ken_llm_name(m));
    ken_reply_info *i = &r->info;
    i->answer = text;
    i->answer_len = len;
    i->grounded = c->grounded;
    i->unsure = c->unsure;
    i->support = c->support;
    i->n_claims = c->n_claims;
    i->n_flagged = c->n_flagged;
    i->n_valid_cites = c->n_valid;
    i->n_invalid_cites = c->n_invalid;
    i->sentences = r->sent;
    i->n_sentences = c->n_sent;
    i->model = r->model ? r->model : "";
    i->backend = ken_llm_backend(m);
    i->ttft_s = st->ttft_s;
    i->tokens_per_s = tokens_per_s(st);
    i->prompt_tokens = st->n_prompt;
    i->generated_tokens = st->n_generated;
    i->finish = r->finish;
    return KEN_OK;
}

/* ------------------------------------------------------------ routing */

static void announce(const ken_ask_gen_opts *o, const ken_route_step *s) {
    if (o->on_route) o->on_route(o->ud, s);
}

/* Small first, large when needed; the last model asked gives the answer. */
static ken_status route(ken_kb *kb, ken_reply *r, ken_llm *small, ken_llm *large,
                        const ken_ground_prompt *p, const ken_ground_source *srcs,
                        const ken_ask_gen_opts *o) {
    double below = o->escalate_below ? o->escalate_below : ESCALATE_BELOW_DEFAULT;
    ken_llm *models[2] = {small, large};
    size_t first = 0;
    if (large && below > 0 && r->info.confidence < below) {
        ken_route_step *s = step_init(r, small, "skip");
        snprintf(r->route_reason[r->info.n_route - 1], REASON_BYTES,
                 "low retrieval confidence: %.2f < %.2f", r->info.confidence, below);
        announce(o, s);
        first = 1;
    }
    ken_status st = KEN_OK;
    for (size_t a = first; a < 2 && models[a]; a++) {
        bool last = a == 1 || !large;
        char *text = NULL;
        size_t len = 0;
        ken_llm_stats stats;
        ken_ground_check c = {0};
        st = run_model(kb, r, models[a], (int)a, p, srcs, o, &text, &len, &stats, &c);
        ken_route_step *s = step_init(r, models[a], "answer");
        char *why = r->route_reason[r->info.n_route - 1];
        if (st != KEN_OK) {
            free(text);
            ken_ground_check_free(&c);
            if (last || st == KEN_ERR_CANCELLED) return st;
            s->decision = "escalate";
            snprintf(why, REASON_BYTES, "error: %s", ken_kb_errmsg(kb));
            announce(o, s);
            continue;
        }
        const char *bad = judge(&c, why, REASON_BYTES);
        if (bad && !last) {
            s->decision = "escalate";
            step_fill(s, &r->route_text[r->info.n_route - 1], text, &c, &stats);
            ken_ground_check_free(&c);
            announce(o, s);
            continue;
        }
        if (!bad) snprintf(why, REASON_BYTES, "grounded: %zu valid citation(s), support %.2f",
                           c.n_valid, c.support);
        else if (!large) snprintf(why + strlen(why), REASON_BYTES - strlen(why),
                                  "; no larger model configured");
        else snprintf(why + strlen(why), REASON_BYTES - strlen(why), "; the largest model");
        r->info.escalated = a == 1;
        step_fill(s, &r->route_text[r->info.n_route - 1], NULL, &c, &stats);
        s->text = text;
        st = finish_reply(kb, r, text, len, &c, &stats, models[a]);
        ken_ground_check_free(&c);
        announce(o, s);
        return st;
    }
    return st;
}

ken_status ken_ask_generate(ken_kb *kb, ken_llm *small, ken_llm *large, const char *question,
                            const ken_ask_gen_opts *opts, ken_reply **out) {
    if (out) *out = NULL;
    if (!kb || !small || !question || !out) return KEN_ERR_INVALID;
    ken_ask_gen_opts o;
    READ_OPTS(o, opts);
    if (o.max_tokens < 0 || o.k > 1000)
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "ask: max_tokens >= 0 and k <= 1000");
    ken_reply *r = calloc(1, sizeof *r);
    if (!r) return ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
    r->question = ken_strdup(question);
    r->query = ken_strdup(o.query ? o.query : question);
    r->info.question = r->question;
    r->info.query = r->query;
    r->info.finish = "";
    r->info.answer = "";
    ken_ground_prompt p = {0};
    ken_ground_source *srcs = NULL;
    ken_status st = r->question && r->query ? KEN_OK : KEN_ERR_NOMEM;
    if (st == KEN_OK) st = retrieve(kb, r, &o);
    if (st != KEN_OK || !r->info.found) {
        if (st == KEN_OK && !(r->answer = ken_strdup(not_found_text))) st = KEN_ERR_NOMEM;
        r->info.answer = r->answer ? r->answer : "";
        r->info.answer_len = strlen(r->info.answer);
        r->info.unsure = 1;
        goto out;
    }
    size_t n = KEN_MIN(ken_results_count(r->res), (size_t)KEN_GROUND_SOURCES_MAX);
    if (!(srcs = calloc(n ? n : 1, sizeof *srcs))) { st = KEN_ERR_NOMEM; goto out; }
    for (size_t i = 0; i < n; i++) {
        const ken_result *h = ken_results_get(r->res, i);
        srcs[i] = (ken_ground_source){.title = h->title, .heading = h->heading, .uri = h->uri,
                                      .page = h->page, .text = h->text, .text_len = h->text_len};
    }
    int ctx = ken_llm_n_ctx(small);
    if (large && ken_llm_n_ctx(large) < ctx) ctx = ken_llm_n_ctx(large);
    int max_tokens = o.max_tokens ? o.max_tokens : MAX_TOKENS_DEFAULT;
    if (ctx - max_tokens - CONTEXT_MARGIN_TOKENS < PROMPT_TOKENS_MIN) {
        st = ken_err_set(&kb->err, KEN_ERR_LIMIT, "ask: a context of %d tokens leaves no room "
                         "for sources after %d answer tokens (lower --max-tokens)", ctx, max_tokens);
        goto out;
    }
    ken_ground_prompt_opts po = {.question = question, .history_json = o.history_json,
                                 .budget_tokens = (size_t)(ctx - max_tokens - CONTEXT_MARGIN_TOKENS),
                                 .count = count_tokens, .count_ud = small};
    if ((st = ken_ground_build_prompt(srcs, n, &po, &p, &kb->err)) != KEN_OK) goto out;
    r->info.history_kept = p.n_history;
    r->info.history_dropped = p.n_history_dropped;
    if ((st = fill_sources(kb, r, &p)) != KEN_OK) goto out;
    st = route(kb, r, small, large, &p, srcs, &o);
out:
    r->info.route = r->route;
    free(srcs);
    ken_ground_prompt_free(&p);
    if (st == KEN_ERR_NOMEM) ken_err_set(&kb->err, st, "out of memory");
    if (st != KEN_OK) {
        ken_reply_free(r);
        return st;
    }
    *out = r;
    return KEN_OK;
}

char **ken_kb_reply_json_slot(ken_reply *r) { return &r->json; }

const ken_reply_info *ken_reply_get(const ken_reply *r) { return r ? &r->info : NULL; }

void ken_reply_free(ken_reply *r) {
    if (!r) return;
    for (size_t i = 0; i < ROUTE_MAX; i++) {
        free(r->route_model[i]);
        free(r->route_text[i]);
    }
    free(r->question);
    free(r->query);
    free(r->answer);
    ken_results_free(r->res);
    free(r->src);
    free(r->sent);
    ken_ground_check_free(&r->check);
    free(r->model);
    free(r->json);
    free(r);
}
