/* llm.c: the front of ken_llm: options from the environment, choosing the
 * backend, the accessors, and argument checks common to both backends. */
#include "llm/llm_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void llm_errmsg(char **errmsg, const char *fmt, ...) {
    if (!errmsg) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ken_free(*errmsg);
    *errmsg = ken_strdup(buf);
}

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void ken_llm_opts_from_env(ken_llm_opts *opts) {
    if (!opts) return;
    if (!opts->model_path && !opts->url) opts->url = env_nonempty("KEN_BACKEND_URL");
    if (!opts->model_name) opts->model_name = env_nonempty("KEN_BACKEND_MODEL");
    if (!opts->api_key) opts->api_key = env_nonempty("KEN_API_KEY");
}

static ken_status open_with(const ken_llm_opts *opts, ken_model *model, ken_llm **out,
                            char **errmsg) {
    if (errmsg) *errmsg = NULL;
    if (!out) return KEN_ERR_INVALID;
    *out = NULL;
    ken_llm_opts o = {0};
    if (opts) memcpy(&o, opts, KEN_MIN(sizeof o, opts->size ? opts->size : sizeof o));
    if (!o.model_path == !o.url) {
        llm_errmsg(errmsg, "%s", o.url ? "give either a model file or a backend URL, not both"
                                        : "no model: give a model file or a backend URL");
        return KEN_ERR_INVALID;
    }
    if (o.n_ctx < 0) {
        llm_errmsg(errmsg, "the context budget must not be negative");
        return KEN_ERR_INVALID;
    }
    if (model && !o.model_path) {
        llm_errmsg(errmsg, "a shared model needs the path of its file");
        return KEN_ERR_INVALID;
    }
    ken_llm *l = calloc(1, sizeof *l);
    if (!l) {
        llm_errmsg(errmsg, "out of memory");
        return KEN_ERR_NOMEM;
    }
    l->model = model;
    l->borrowed = model != NULL;
    ken_status st = o.model_path ? llm_local_open(l, &o, errmsg) : llm_http_open(l, &o, errmsg);
    if (st) {
        ken_llm_close(l);
        return st;
    }
    *out = l;
    return KEN_OK;
}

ken_status ken_llm_open(const ken_llm_opts *opts, ken_llm **out, char **errmsg) {
    return open_with(opts, NULL, out, errmsg);
}

ken_status ken_llm_open_model(const ken_llm_opts *opts, ken_model *model, ken_llm **out,
                              char **errmsg) {
    if (!model) {
        if (errmsg) *errmsg = NULL;
        llm_errmsg(errmsg, "no model");
        if (out) *out = NULL;
        return KEN_ERR_INVALID;
    }
    return open_with(opts, model, out, errmsg);
}

void ken_llm_close(ken_llm *l) {
    if (!l) return;
    if (l->kind == LLM_LOCAL) llm_local_close(l);
    else llm_http_close(l);
    free(l->name);
    free(l);
}

const char *ken_llm_backend(const ken_llm *l) {
    return l->kind == LLM_LOCAL ? "local" : "http";
}

const char *ken_llm_name(const ken_llm *l) { return l->name ? l->name : ""; }

int ken_llm_n_ctx(const ken_llm *l) { return l->n_ctx; }

size_t ken_llm_count_tokens(ken_llm *l, const char *text, size_t len) {
    if (!text || !len) return 0;
    if (l->kind == LLM_LOCAL) return llm_local_count(l, text, len);
    return len / 3 + (len % 3 != 0);
}

static ken_status check_gen(const ken_llm_gen_opts *o, char **errmsg) {
    if (o->max_tokens < 0) {
        llm_errmsg(errmsg, "max_tokens must not be negative");
        return KEN_ERR_INVALID;
    }
    if (o->n_stop > LLM_STOPS_MAX || (o->n_stop && !o->stop)) {
        llm_errmsg(errmsg, "at most %d stop strings", LLM_STOPS_MAX);
        return KEN_ERR_INVALID;
    }
    for (size_t i = 0; i < o->n_stop; i++)
        if (!o->stop[i] || !o->stop[i][0]) {
            llm_errmsg(errmsg, "stop string %zu is empty", i);
            return KEN_ERR_INVALID;
        }
    if (o->temperature != o->temperature || o->top_p != o->top_p) {
        llm_errmsg(errmsg, "temperature and top_p must be numbers");
        return KEN_ERR_INVALID;
    }
    return KEN_OK;
}

ken_status ken_llm_chat(ken_llm *l, const char *messages_json, const ken_llm_gen_opts *opts,
                        char **text, size_t *text_len, ken_llm_stats *stats, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    if (text) *text = NULL;
    if (text_len) *text_len = 0;
    if (stats) memset(stats, 0, sizeof *stats);
    ken_llm_gen_opts o = {0};
    if (opts) memcpy(&o, opts, KEN_MIN(sizeof o, opts->size ? opts->size : sizeof o));
    if (!l || !messages_json) {
        llm_errmsg(errmsg, "no backend or no messages");
        return KEN_ERR_INVALID;
    }
    ken_status st = check_gen(&o, errmsg);
    if (st) return st;
    if (o.max_tokens == 0) o.max_tokens = 512;
    ken_llm_stats S = {0};
    st = l->kind == LLM_LOCAL ? llm_local_chat(l, messages_json, &o, text, text_len, &S, errmsg)
                              : llm_http_chat(l, messages_json, &o, text, text_len, &S, errmsg);
    if (stats) *stats = S;
    return st;
}

ken_status ken_llm_embed(ken_llm *l, const char *const *texts, const size_t *lens, size_t n,
                         float **vecs, size_t *dim, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    if (vecs) *vecs = NULL;
    if (dim) *dim = 0;
    if (!l || !vecs || !dim || (n && !texts)) {
        llm_errmsg(errmsg, "invalid arguments");
        return KEN_ERR_INVALID;
    }
    if (n == 0 || n > LLM_EMBED_N_MAX) {
        llm_errmsg(errmsg, "embed 1 to %d texts at a time (got %zu)", LLM_EMBED_N_MAX, n);
        return KEN_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) {
            llm_errmsg(errmsg, "text %zu is NULL", i);
            return KEN_ERR_INVALID;
        }
    return l->kind == LLM_LOCAL ? llm_local_embed(l, texts, lens, n, vecs, dim, errmsg)
                                : llm_http_embed(l, texts, lens, n, vecs, dim, errmsg);
}
