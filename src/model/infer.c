/* infer.c: the public inference API (include/ken_infer.h) over the
 * internal model: opening files, sessions with LoRA, logits, generation
 * with sampling, stop strings and streaming, embeddings and reranking. */
#include "ken_infer.h"
#include "model/model_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static void set_errmsg(char **errmsg, const char *msg) {
    if (errmsg) *errmsg = ken_strdup(msg);
}

ken_status ken_model_open(const char *path, ken_model **out, char **errmsg) {
    *out = NULL;
    if (errmsg) *errmsg = NULL;
    ken_err err = {{0}};
    ken_gguf *g = NULL;
    ken_status st = ken_gguf_open(path, &g, &err);
    if (st) {
        set_errmsg(errmsg, err.msg);
        return st;
    }
    ken_model *m = NULL;
    st = ken_model_load(g, &m, &err);
    if (st) {
        ken_gguf_close(g);
        set_errmsg(errmsg, err.msg);
        return st;
    }
    m->owned_g = g;
    *out = m;
    return KEN_OK;
}

void ken_model_close(ken_model *m) { ken_model_free(m); }
const ken_vocab *ken_model_vocab(const ken_model *m) { return m->vocab; }
int ken_model_n_vocab(const ken_model *m) { return (int)m->n_vocab; }
int ken_model_n_embd(const ken_model *m) { return (int)m->n_embd; }
int ken_model_n_ctx_train(const ken_model *m) { return (int)KEN_MIN(m->n_ctx_train, INT32_MAX); }
int ken_model_is_encoder_model(const ken_model *m) { return ken_model_is_encoder(m); }
int ken_model_can_rerank(const ken_model *m) {
    return m->cls.w.data != NULL || m->cls_out.w.data != NULL;
}

ken_status ken_ctx_new(ken_model *m, const ken_ctx_opts *o, ken_ctx **out, char **errmsg) {
    *out = NULL;
    if (errmsg) *errmsg = NULL;
    ken_ctx *c = calloc(1, sizeof *c);
    if (!c) return KEN_ERR_NOMEM;
    c->m = m;
    ken_model_ctx_params p = {0};
    if (o) {
        p.n_threads = o->n_threads;
        p.n_ctx = o->n_ctx;
        p.kv_type = o->kv_f32 ? KEN_KV_F32 : KEN_KV_F16;
    } else {
        p.kv_type = KEN_KV_F16;
    }
    ken_status st = ken_model_ctx_new(m, &p, &c->mc, &c->err);
    if (st) {
        set_errmsg(errmsg, c->err.msg);
        free(c);
        return st;
    }
    *out = c;
    return KEN_OK;
}

void ken_ctx_free(ken_ctx *c) {
    if (!c) return;
    ken_model_ctx_free(c->mc);
    for (int i = 0; i < c->n_lora; i++) ken_lora_free(c->lora[i]);
    free(c);
}

const char *ken_ctx_errmsg(const ken_ctx *c) { return c ? c->err.msg : ""; }

ken_status ken_ctx_add_lora(ken_ctx *c, const char *path, float scale) {
    ken_err_clear(&c->err);
    if (c->n_lora >= KEN_MODEL_MAX_LORA)
        return ken_err_set(&c->err, KEN_ERR_LIMIT, "at most %d adapters", KEN_MODEL_MAX_LORA);
    if (!isfinite(scale)) return ken_err_set(&c->err, KEN_ERR_INVALID, "invalid LoRA scale");
    ken_lora *l = NULL;
    ken_status st = ken_lora_load(c->m, path, &l, &c->err);
    if (st) return st;
    if ((st = ken_model_ctx_add_lora(c->mc, l, scale, &c->err))) {
        ken_lora_free(l);
        return st;
    }
    c->lora[c->n_lora++] = l;
    return KEN_OK;
}

ken_status ken_ctx_logits(ken_ctx *c, const int32_t *tokens, size_t n, float **logits) {
    *logits = NULL;
    ken_err_clear(&c->err);
    ken_model_ctx_reset(c->mc);
    if (n == 0) return ken_err_set(&c->err, KEN_ERR_INVALID, "no tokens");
    ken_status st = ken_model_decode(c->mc, tokens, (int64_t)n, true, &c->err);
    if (st) return st;
    int64_t rows;
    const float *l = ken_model_logits(c->mc, &rows);
    size_t bytes = (size_t)rows * (size_t)c->m->n_vocab * sizeof(float);
    float *out = malloc(bytes);
    if (!out) return ken_err_set(&c->err, KEN_ERR_NOMEM, "out of memory");
    memcpy(out, l, bytes);
    *logits = out;
    return KEN_OK;
}

/* ------------------------------------------------------------ tokenizing */

static ken_status tokenize(ken_ctx *c, const char *text, size_t len, bool add_special,
                           bool parse_special, int32_t **ids, size_t *n) {
    if (!c->m->vocab)
        return ken_err_set(&c->err, KEN_ERR_UNSUPPORTED, "the model file has no tokenizer");
    return ken_tok_tokenize(c->m->vocab, text, len, add_special, parse_special, ids, n, &c->err);
}

/* ------------------------------------------------------------ embeddings */

ken_status ken_embed(ken_ctx *c, const char *text, size_t len, int pooling, int normalize,
                     float **vec, size_t *dim) {
    *vec = NULL;
    *dim = 0;
    ken_err_clear(&c->err);
    const ken_model *m = c->m;
    ken_pooling pool = pooling == KEN_EMBED_POOL_MODEL
                           ? (ken_model_is_encoder(m) ? m->pooling : KEN_POOLING_LAST)
                           : (ken_pooling)pooling;
    if (pool != KEN_POOLING_MEAN && pool != KEN_POOLING_CLS && pool != KEN_POOLING_LAST)
        return ken_err_set(&c->err, KEN_ERR_INVALID, "pooling %d does not give an embedding "
                           "(use mean, cls or last)", (int)pool);
    int32_t *ids = NULL;
    size_t n = 0;
    ken_status st = tokenize(c, text, len, true, false, &ids, &n);
    if (st) return st;
    const float *states = NULL;
    if (n == 0) {
        st = ken_err_set(&c->err, KEN_ERR_INVALID, "the text gives no tokens");
    } else if (ken_model_is_encoder(m)) {
        st = ken_model_encode(c->mc, ids, (int64_t)n, &states, &c->err);
    } else {
        ken_model_ctx_reset(c->mc);
        st = ken_model_decode(c->mc, ids, (int64_t)n, false, &c->err);
        if (!st) states = ken_model_hidden(c->mc, NULL);
    }
    float *out = NULL;
    if (!st && !(out = malloc((size_t)m->n_embd * sizeof *out)))
        st = ken_err_set(&c->err, KEN_ERR_NOMEM, "out of memory");
    if (!st) st = ken_model_pool(c->mc, pool, states, (int64_t)n, out, &c->err);
    free(ids);
    if (st) {
        free(out);
        return st;
    }
    if (normalize) ken_model_l2_normalize(out, m->n_embd);
    *vec = out;
    *dim = (size_t)m->n_embd;
    return KEN_OK;
}

/* [BOS] query [EOS] [SEP] passage [EOS] [SEP], each special token as the
 * vocab's add_* flags say (llama.cpp's rerank input). */
static ken_status rerank_tokens(ken_ctx *c, const char *q, size_t ql, const char *p, size_t pl,
                                int32_t **ids, size_t *n) {
    const ken_vocab *v = c->m->vocab;
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    ken_status st = tokenize(c, q, ql, false, false, &a, &na);
    if (!st) st = tokenize(c, p, pl, false, false, &b, &nb);
    int32_t *out = NULL;
    if (!st && !(out = malloc((na + nb + 6) * sizeof *out)))
        st = ken_err_set(&c->err, KEN_ERR_NOMEM, "out of memory");
    if (!st) {
        const ken_tok_special *sp = ken_vocab_special(v);
        size_t k = 0;
        if (ken_vocab_add_bos(v) && sp->bos >= 0) out[k++] = sp->bos;
        for (size_t i = 0; i < na; i++) out[k++] = a[i];
        for (int pass = 0; pass < 2; pass++) {
            if (ken_vocab_add_eos(v) && sp->eos >= 0) out[k++] = sp->eos;
            if (ken_vocab_add_sep(v) && sp->sep >= 0) out[k++] = sp->sep;
            if (pass == 0)
                for (size_t i = 0; i < nb; i++) out[k++] = b[i];
        }
        *ids = out;
        *n = k;
    }
    free(a);
    free(b);
    return st;
}

ken_status ken_rerank(ken_ctx *c, const char *query, size_t qlen, const char *passage,
                      size_t plen, float *score) {
    *score = 0.0f;
    ken_err_clear(&c->err);
    const ken_model *m = c->m;
    if (!ken_model_is_encoder(m) || !ken_model_can_rerank(m))
        return ken_err_set(&c->err, KEN_ERR_UNSUPPORTED, "the model is not a reranker (it has no "
                           "classification head cls.weight / cls.output.weight)");
    int32_t *ids = NULL;
    size_t n = 0;
    ken_status st = rerank_tokens(c, query, qlen, passage, plen, &ids, &n);
    if (st) return st;
    const float *states = NULL;
    float *out = malloc((size_t)KEN_MAX(m->n_cls_out, 1) * sizeof *out);
    if (!out) st = ken_err_set(&c->err, KEN_ERR_NOMEM, "out of memory");
    if (!st) st = ken_model_encode(c->mc, ids, (int64_t)n, &states, &c->err);
    if (!st) st = ken_model_pool(c->mc, KEN_POOLING_RANK, states, (int64_t)n, out, &c->err);
    if (!st) *score = out[0];
    free(out);
    free(ids);
    return st;
}
