/* local.c: the local backend of ken_llm: ken's engine over a GGUF file.
 * Messages become a prompt through the model's chat template (or the
 * built-in format it falls back to); generation streams through
 * ken_generate's callback, which only ever hands out final text, so the
 * pieces given to on_text concatenate to exactly the returned reply. */
#include "llm/llm_int.h"
#include "ken_chat.h"
#include "gguf/gguf.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOCAL_CTX_MAX 8192

/* general.name (else the file's name) and the format of the template. */
static ken_status read_meta(ken_llm *l, const char *path, char **errmsg) {
    ken_gguf *g = NULL;
    ken_err err = {{0}};
    ken_status st = ken_gguf_open(path, &g, &err);
    if (st) {
        llm_errmsg(errmsg, "%s", err.msg);
        return st;
    }
    ken_gguf_str s = {0};
    if (ken_gguf_get_str(g, "general.name", &s) && s.n > 0 && s.n < 256) {
        l->name = ken_strndup(s.p, (size_t)s.n);
    } else {
        const char *b = strrchr(path, '/');
        l->name = ken_strdup(b ? b + 1 : path);
    }
    l->format = "chatml";
    if (ken_gguf_get_str(g, "tokenizer.chat_template", &s)) {
        char *t = ken_strndup(s.p, (size_t)s.n);
        if (t) l->format = ken_chat_detect_format(t);
        free(t);
    }
    ken_gguf_close(g);
    if (!l->name) {
        llm_errmsg(errmsg, "out of memory");
        return KEN_ERR_NOMEM;
    }
    return KEN_OK;
}

ken_status llm_local_open(ken_llm *l, const ken_llm_opts *o, char **errmsg) {
    l->kind = LLM_LOCAL;
    if (!(l->model_path = ken_strdup(o->model_path))) {
        llm_errmsg(errmsg, "out of memory");
        return KEN_ERR_NOMEM;
    }
    char *msg = NULL;
    ken_status st = l->model ? KEN_OK : ken_model_open(o->model_path, &l->model, &msg);
    if (st) {
        llm_errmsg(errmsg, "%s", msg ? msg : ken_status_str(st));
        ken_free(msg);
        return st;
    }
    if ((st = read_meta(l, o->model_path, errmsg))) return st;
    int train = ken_model_n_ctx_train(l->model);
    if (train <= 0) train = 2048;
    l->n_ctx = o->n_ctx > 0 ? KEN_MIN(o->n_ctx, train) : KEN_MIN(train, LOCAL_CTX_MAX);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    l->threads = o->threads > 0 ? o->threads : (int)KEN_MAX(1, KEN_MIN(cores, 64));
    return KEN_OK;
}

void llm_local_close(ken_llm *l) {
    ken_ctx_free(l->ctx);
    if (!l->borrowed) ken_model_close(l->model);
    free(l->model_path);
}

static ken_status need_ctx(ken_llm *l, char **errmsg) {
    if (l->ctx) return KEN_OK;
    ken_ctx_opts co = {.size = sizeof co, .n_threads = l->threads, .n_ctx = l->n_ctx};
    char *msg = NULL;
    ken_status st = ken_ctx_new(l->model, &co, &l->ctx, &msg);
    if (st) llm_errmsg(errmsg, "%s", msg ? msg : ken_status_str(st));
    ken_free(msg);
    return st;
}

size_t llm_local_count(ken_llm *l, const char *text, size_t len) {
    const ken_vocab *v = ken_model_vocab(l->model);
    if (!v) return len / 3 + (len % 3 != 0);
    int32_t *ids = NULL;
    size_t n = 0;
    if (ken_tokenize(v, text, len, 0, 0, &ids, &n)) n = len / 3 + (len % 3 != 0);
    ken_free(ids);
    return n;
}

typedef struct {
    const ken_llm_gen_opts *o;
    ken_buf text;           /* what was handed out */
    double t0, ttft;
    bool halted, cancelled;
    ken_status st;
} local_run;

static int take_text(local_run *r, const char *text, size_t len) {
    if (len) {
        if ((r->st = ken_buf_append(&r->text, text, len))) return r->halted = true, 1;
        if (r->o->on_text && r->o->on_text(r->o->ud, text, len)) return r->halted = true, 1;
    }
    if (r->o->cancel && *r->o->cancel) return r->cancelled = r->halted = true, 1;
    return 0;
}

/* Bytes that are not UTF-8 (a model can emit any byte tokens) become
 * U+FFFD each, as a JSON writer (and so a server) would send them. The
 * engine holds back an unfinished sequence at the end of the text, so a
 * piece never ends inside a sequence that a later piece completes. */
static int on_token(void *ud, int32_t id, const char *text, size_t len) {
    local_run *r = ud;
    if (r->halted) return 1;
    if (id >= 0 && r->ttft < 0) r->ttft = ken_now() - r->t0;
    ken_buf fixed;
    ken_buf_init(&fixed, 0);
    if (len && !ken_utf8_valid(text, len)) {
        for (size_t i = 0; i < len && !r->st;) {
            size_t k = i;
            int32_t cp = ken_utf8_next(text, len, &k);
            r->st = cp == 0xFFFD && k == i + 1 ? ken_buf_append(&fixed, "\xEF\xBF\xBD", 3)
                                               : ken_buf_append(&fixed, text + i, k - i);
            i = k;
        }
        if (r->st) return ken_buf_free(&fixed), r->halted = true, 1;
        text = fixed.data, len = fixed.len;
    }
    int rc = take_text(r, text, len);
    ken_buf_free(&fixed);
    return rc;
}

/* The prompt for messages: the model's template, or its fallback (logged once). */
static ken_status render(ken_llm *l, const char *messages_json, char **prompt, size_t *plen,
                         char **errmsg) {
    ken_chat_opts co = {.size = sizeof co, .add_generation_prompt = 1};
    char *warning = NULL, *msg = NULL;
    ken_status st = ken_chat_render_model(l->model_path, &co, messages_json, prompt, plen,
                                          &warning, &msg);
    if (st) llm_errmsg(errmsg, "the chat template: %s", msg ? msg : ken_status_str(st));
    if (warning && !l->warned) {
        ken_log(KEN_LOG_WARN, "%s: %s", l->name, warning);
        l->warned = true;
    }
    ken_free(warning);
    ken_free(msg);
    return st;
}

/* Prompt tokens as ken_generate will count them, to refuse a prompt that
 * leaves no room before the engine spends time on it. */
static ken_status check_room(ken_llm *l, const char *prompt, size_t plen, char **errmsg) {
    const ken_vocab *v = ken_model_vocab(l->model);
    if (!v) {
        llm_errmsg(errmsg, "the model has no tokenizer");
        return KEN_ERR_UNSUPPORTED;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    ken_status st = ken_tokenize(v, prompt, plen, 1, 1, &ids, &n);
    ken_free(ids);
    if (st) {
        llm_errmsg(errmsg, "cannot tokenize the prompt: %s", ken_status_str(st));
        return st;
    }
    if (n >= (size_t)l->n_ctx) {
        llm_errmsg(errmsg, "the prompt is %zu tokens; the context holds %d", n, l->n_ctx);
        return KEN_ERR_LIMIT;
    }
    return KEN_OK;
}

static const char *finish_word(ken_stop_reason r) {
    switch (r) {
    case KEN_STOP_EOG: case KEN_STOP_STRING: return "stop";
    case KEN_STOP_CALLBACK: return "cancelled";
    default: return "length";
    }
}

ken_status llm_local_chat(ken_llm *l, const char *messages_json, const ken_llm_gen_opts *o,
                          char **text, size_t *text_len, ken_llm_stats *stats, char **errmsg) {
    if (ken_model_is_encoder_model(l->model)) {
        llm_errmsg(errmsg, "%s is an embedding model: it cannot generate", l->name);
        return KEN_ERR_UNSUPPORTED;
    }
    double t0 = ken_now();
    char *prompt = NULL;
    size_t plen = 0;
    ken_status st = render(l, messages_json, &prompt, &plen, errmsg);
    if (!st) st = check_room(l, prompt, plen, errmsg);
    if (!st) st = need_ctx(l, errmsg);
    size_t nf = 0;
    const char *const *fs = ken_chat_format_stops(l->format, &nf);
    const char *stops[LLM_STOPS_MAX + 4];
    size_t ns = 0;
    for (size_t i = 0; i < o->n_stop; i++) stops[ns++] = o->stop[i];
    for (size_t i = 0; i < nf; i++) stops[ns++] = fs[i];
    local_run r = {.o = o, .t0 = t0, .ttft = -1};
    ken_buf_init(&r.text, LLM_GEN_BYTES_MAX);
    ken_gen_stats gs = {0};
    if (!st) {
        ken_gen_opts go = {.size = sizeof go, .max_tokens = o->max_tokens,
                           .temperature = o->temperature, .top_p = o->top_p, .seed = o->seed,
                           .stop = stops, .n_stop = ns, .parse_special = 1,
                           .on_token = on_token, .ud = &r};
        if (o->cancel && *o->cancel) r.cancelled = true;
        else st = ken_generate(l->ctx, prompt, plen, &go, NULL, NULL, &gs);
        if (st) llm_errmsg(errmsg, "generation failed: %s", ken_ctx_errmsg(l->ctx));
        else if (r.st) st = r.st, llm_errmsg(errmsg, "the reply is longer than %zu bytes",
                                             (size_t)LLM_GEN_BYTES_MAX);
        else if (r.cancelled) st = KEN_ERR_CANCELLED, llm_errmsg(errmsg, "cancelled");
    }
    free(prompt);
    stats->n_prompt = gs.n_prompt;
    stats->n_generated = gs.n_generated;
    stats->ttft_s = r.ttft >= 0 ? r.ttft : ken_now() - t0;
    stats->total_s = ken_now() - t0;
    snprintf(stats->finish, sizeof stats->finish, "%s",
             r.cancelled || r.halted ? "cancelled" : finish_word(gs.reason));
    if (!st && text) {
        if (!r.text.data) st = ken_buf_puts(&r.text, "");
        if (!st) *text = ken_buf_take(&r.text, text_len);
    } else if (!st && text_len) {
        *text_len = r.text.len;
    }
    ken_buf_free(&r.text);
    return st;
}

ken_status llm_local_embed(ken_llm *l, const char *const *texts, const size_t *lens, size_t n,
                           float **vecs, size_t *dim, char **errmsg) {
    ken_status st = need_ctx(l, errmsg);
    if (st) return st;
    size_t d = (size_t)ken_model_n_embd(l->model);
    float *all = d && n <= SIZE_MAX / sizeof(float) / d ? malloc(n * d * sizeof *all) : NULL;
    if (!all) {
        llm_errmsg(errmsg, "out of memory for %zu embeddings", n);
        return KEN_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        float *v = NULL;
        size_t vd = 0;
        st = ken_embed(l->ctx, texts[i], llm_len(texts, lens, i), KEN_EMBED_POOL_MODEL, 1, &v, &vd);
        if (!st && vd != d) st = KEN_ERR_INTERNAL;
        if (st) {
            llm_errmsg(errmsg, "text %zu: %s", i, ken_ctx_errmsg(l->ctx)[0] ? ken_ctx_errmsg(l->ctx)
                                                                            : ken_status_str(st));
            ken_free(v);
            free(all);
            return st;
        }
        memcpy(all + i * d, v, d * sizeof *v);
        ken_free(v);
    }
    *vecs = all;
    *dim = d;
    return KEN_OK;
}
