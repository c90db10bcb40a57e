/* config.c: the store's settings behind ken_kb_config_get/_set: the keys
 * ken reads, each checked on set (a typo or a bad value is refused, never
 * stored to be ignored later), model paths made absolute. */
#include "kb/kb.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum { K_PATH, K_TEXT, K_ENUM, K_NUM, K_INT, K_BOOL, K_INTERNAL } kind;

typedef struct {
    const char *key;
    kind k;
    const char *values;   /* K_ENUM: '|'-separated */
    double lo, hi;        /* K_NUM, K_INT */
    const char *help;
} key_def;

static const key_def keys[] = {
    {"embed.model", K_PATH, NULL, 0, 0,
     "GGUF encoder whose vectors dense search uses (changing it re-embeds: `ken embed`)"},
    {"embed.query_prefix", K_TEXT, NULL, 0, 0,
     "text put before queries (default by model family: e5 'query: ', bge's instruction, "
     "nomic 'search_query: '; 'none' for none)"},
    {"embed.passage_prefix", K_TEXT, NULL, 0, 0,
     "text put before passages (e5 'passage: ', nomic 'search_document: '; 'none' for none); "
     "changing it re-embeds"},
    {"embed.threads", K_INT, NULL, 1, 64, "encoder threads when embedding (default 2)"},
    {"embed.active", K_INTERNAL, NULL, 0, 0,
     "the model whose vectors search uses (set by `ken embed` when a model is complete)"},
    {"search.mode", K_ENUM, "bm25|dense|hybrid", 0, 0, "default retrieval (default bm25)"},
    {"search.fusion", K_ENUM, "rrf|weighted", 0, 0,
     "hybrid fusion: reciprocal rank fusion or weighted min-max scores (default rrf)"},
    {"search.rrf_k", K_NUM, NULL, 0.001, 1e6, "the RRF constant (default 60)"},
    {"search.weight_bm25", K_NUM, NULL, 0, 1000, "weight of BM25 in fusion (default 1)"},
    {"search.weight_dense", K_NUM, NULL, 0, 1000, "weight of dense retrieval in fusion (default 1)"},
    {"search.rerank", K_BOOL, NULL, 0, 0, "re-rank with rerank.model by default (on/off)"},
    {"search.ef", K_INT, NULL, 1, 100000, "HNSW candidate list size at search (default 128)"},
    {"rerank.model", K_PATH, NULL, 0, 0, "GGUF cross-encoder for re-ranking"},
    {"rerank.top_n", K_INT, NULL, 1, 1000, "fused candidates re-ranked (default 50)"},
    {"ask.model", K_PATH, NULL, 0, 0, "GGUF model that writes `ken ask`/`ken chat` answers"},
    {"ask.backend", K_TEXT, NULL, 0, 0, "OpenAI-compatible server URL for answers"},
    {"ask.backend_model", K_TEXT, NULL, 0, 0, "the model name to ask that server for"},
    {"ask.escalate_model", K_PATH, NULL, 0, 0, "a larger GGUF model for hard questions"},
    {"ask.escalate_backend", K_TEXT, NULL, 0, 0, "a larger model's server URL"},
    {"ask.escalate_backend_model", K_TEXT, NULL, 0, 0, "the model name on that server"},
    {"bm25.k1", K_NUM, NULL, 0.001, 100, "BM25 k1 (default 0.9)"},
    {"bm25.b", K_NUM, NULL, 0, 1, "BM25 b (default 0.4)"},
};

const char *ken_kb_config_key(size_t i, const char **help) {
    if (i >= KEN_ARRAY_LEN(keys)) return NULL;
    if (help) *help = keys[i].help;
    return keys[i].key;
}

bool ken_kb_conf(ken_kb *kb, const char *key, ken_buf *out) {
    ken_buf_reset(out);
    ken_status st = kb->store->ops->config_get(kb->store, key, out);
    return st == KEN_OK && out->data && out->len > 0;
}

int64_t ken_kb_active_model(ken_kb *kb) {
    ken_buf b;
    ken_buf_init(&b, 64);
    int64_t id = 0;
    if (ken_kb_conf(kb, "embed.active", &b)) {
        char *end;
        long long v = strtoll(b.data, &end, 10);
        if (*end == '\0' && v > 0) id = v;
    }
    ken_buf_free(&b);
    return id;
}

ken_status ken_kb_config_get(ken_kb *kb, const char *key, char **value) {
    *value = NULL;
    if (!kb || !key) return KEN_ERR_INVALID;
    ken_buf b;
    ken_buf_init(&b, 1 << 20);
    if (!ken_kb_conf(kb, key, &b)) {
        ken_buf_free(&b);
        return ken_err_set(&kb->err, KEN_ERR_NOTFOUND, "'%s' is not set", key);
    }
    *value = ken_buf_take(&b, NULL);
    return *value ? KEN_OK : ken_err_set(&kb->err, KEN_ERR_NOMEM, "out of memory");
}

static bool in_list(const char *v, const char *list) {
    size_t n = strlen(v);
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t m = bar ? (size_t)(bar - p) : strlen(p);
        if (m == n && strncmp(p, v, n) == 0) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

/* Checks value for def; may rewrite it into norm (absolute paths, on/off). */
static ken_status check_value(ken_kb *kb, const key_def *d, const char *v, char *norm,
                              size_t norm_len) {
    snprintf(norm, norm_len, "%s", v);
    if (!*v) return KEN_OK;   /* back to the default */
    switch (d->k) {
    case K_PATH: {
        struct stat sb;
        char real[PATH_MAX];
        errno = 0;
        if (stat(v, &sb) != 0 || !S_ISREG(sb.st_mode) || !realpath(v, real))
            return ken_err_set(&kb->err, KEN_ERR_NOTFOUND, "%s: %s: %s", d->key, v,
                               errno ? strerror(errno) : "not a file");
        snprintf(norm, norm_len, "%s", real);
        return KEN_OK;
    }
    case K_TEXT:
        if (strlen(v) > KEN_KB_PREFIX_BYTES_MAX || !ken_utf8_valid(v, strlen(v)))
            return ken_err_set(&kb->err, KEN_ERR_INVALID, "%s: at most %d bytes of UTF-8",
                               d->key, KEN_KB_PREFIX_BYTES_MAX);
        return KEN_OK;
    case K_ENUM:
        if (!in_list(v, d->values))
            return ken_err_set(&kb->err, KEN_ERR_INVALID, "%s: '%s' is not one of %s", d->key,
                               v, d->values);
        return KEN_OK;
    case K_NUM: case K_INT: {
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (errno || end == v || *end || !(x >= d->lo && x <= d->hi) ||
            (d->k == K_INT && x != (double)(long long)x))
            return ken_err_set(&kb->err, KEN_ERR_INVALID, "%s: '%s' is not a%s number in "
                               "[%g, %g]", d->key, v, d->k == K_INT ? "n integer" : "", d->lo,
                               d->hi);
        return KEN_OK;
    }
    case K_BOOL:
        if (in_list(v, "on|1|true|yes")) snprintf(norm, norm_len, "on");
        else if (in_list(v, "off|0|false|no")) snprintf(norm, norm_len, "off");
        else return ken_err_set(&kb->err, KEN_ERR_INVALID, "%s: use on or off", d->key);
        return KEN_OK;
    case K_INTERNAL:
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "%s is managed by ken (see `ken embed`)",
                           d->key);
    }
    return KEN_ERR_INTERNAL;
}

ken_status ken_kb_config_set(ken_kb *kb, const char *key, const char *value) {
    if (!kb || !key || !value) return KEN_ERR_INVALID;
    ken_err_clear(&kb->err);
    const key_def *d = NULL;
    for (size_t i = 0; i < KEN_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].key, key) == 0) d = &keys[i];
    if (!d) return ken_err_set(&kb->err, KEN_ERR_INVALID, "unknown config key '%s' (see `ken "
                               "config` for the keys)", key);
    if (kb->readonly)
        return ken_err_set(&kb->err, KEN_ERR_INVALID, "the knowledge base is open read-only");
    char norm[PATH_MAX + 64];
    ken_status st = check_value(kb, d, value, norm, sizeof norm);
    if (st) return st;
    st = kb->store->ops->config_set(kb->store, key, norm);
    return st ? ken_kb_store_err(kb, st, "setting a config key") : KEN_OK;
}
