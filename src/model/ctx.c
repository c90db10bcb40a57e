/* ctx.c: inference sessions: the KV cache, scratch buffers sized once for
 * a batch, the thread pool, and the attached LoRA adapters. */
#include "model/model_int.h"

#include <stdlib.h>
#include <string.h>

static ken_status alloc_f(float **p, int64_t rows, int64_t width) {
    if (rows <= 0 || width <= 0) {
        *p = NULL;
        return KEN_OK;
    }
    if ((uint64_t)rows * (uint64_t)width > ((uint64_t)1 << 33) / sizeof(float))
        return KEN_ERR_LIMIT;
    *p = calloc((size_t)(rows * width), sizeof(float));
    return *p ? KEN_OK : KEN_ERR_NOMEM;
}

/* Whether nn's level in use has the F32 GEMM of the batch attention. */
static bool f32_gemm_available(void) {
    float w = 0, x = 0, y = 0;
    float *scr = malloc((size_t)ken_nn_gemm_f32_scratch(1, 1) * sizeof(float) + 64);
    bool ok = scr && ken_nn_gemm_f32_rows(&w, 1, 1, &x, 1, 1, 1, &y, 1, scr);
    free(scr);
    return ok;
}

static ken_status alloc_scratch(ken_model_ctx *c, ken_err *err) {
    const ken_model *m = c->m;
    int64_t nb = c->n_batch, E = m->n_embd;
    int64_t nq = m->n_head * m->head_dim, nkv = m->n_head_kv * m->head_dim;
    int64_t wide = KEN_MAX(KEN_MAX(E, nq), m->n_ff);
    /* decoders: the FFN's g and u hold one block of tokens, y is E wide;
     * encoders: g holds the batch (no u), y is wide (also the rank head's) */
    const bool enc = ken_model_is_encoder(m);
    const int64_t nf = enc ? nb : KEN_MIN(nb, KEN_MODEL_FFN_BLOCK), yw = enc ? wide : E;
    /* a bound on what a file's hyper-parameters can make us allocate */
    double floats = (double)nb * (double)(2 * E + 2 * nq + 2 * nkv + yw) +
                    (double)nf * (double)(enc ? 1 : 2) * (double)m->n_ff +
                    (double)c->n_threads * (double)c->n_ctx;
    if (floats > (double)(1u << 30))
        return ken_err_set(err, KEN_ERR_LIMIT, "scratch for a batch of %lld tokens would take "
                           "%.1f GiB: lower n_batch", (long long)nb, floats * 4 / (1u << 30));
    ken_status st;
    if ((st = alloc_f(&c->x, nb, E)) || (st = alloc_f(&c->h, nb, E)) ||
        (st = alloc_f(&c->q, nb, nq)) || (st = alloc_f(&c->k, nb, nkv)) ||
        (st = alloc_f(&c->v, nb, nkv)) || (st = alloc_f(&c->att, nb, nq)) ||
        (st = alloc_f(&c->g, nf, m->n_ff)) || (st = alloc_f(&c->u, enc ? 0 : nf, m->n_ff)) ||
        (st = alloc_f(&c->y, nb, yw)) || (st = alloc_f(&c->pool_tmp, 1, wide)) ||
        (st = alloc_f(&c->scores, c->n_threads, c->n_ctx)))
        return ken_err_set(err, st, "cannot allocate scratch for a batch of %lld tokens",
                           (long long)nb);
    if (ken_model_is_encoder(m) &&
        (st = alloc_f(&c->attn_ws, c->n_threads, ken_model_attn_ws_floats(m, nb))))
        return ken_err_set(err, st, "cannot allocate attention scratch");
    /* decoders: the batch attention on the GEMM when nn has one and the
     * context is not huge (else per (token, head), no scratch) */
    if (!ken_model_is_encoder(m) && nb >= 16 && f32_gemm_available()) {
        int64_t w = ken_model_dec_attn_ws_floats(m, c->n_ctx);
        if (w <= ((int64_t)1 << 24) && (st = alloc_f(&c->attn_ws, c->n_threads, w)))
            return ken_err_set(err, st, "cannot allocate attention scratch");
    }
    if (m->n_rot > 0 && (st = alloc_f(&c->rope_cs, nb, m->n_rot)))
        return ken_err_set(err, st, "cannot allocate RoPE scratch");
    return KEN_OK;
}

static ken_status alloc_kv(ken_model_ctx *c, ken_err *err) {
    const ken_model *m = c->m;
    if (ken_model_is_encoder(m)) return KEN_OK;
    size_t el = c->kv_type == KEN_KV_F16 ? 2 : 4;
    uint64_t bytes = (uint64_t)c->n_ctx * (uint64_t)(m->n_head_kv * m->head_dim) * el;
    if (bytes * 2 * (uint64_t)m->n_layer > ((uint64_t)1 << 36))
        return ken_err_set(err, KEN_ERR_LIMIT, "KV cache of %llu bytes is too large: lower n_ctx",
                           (unsigned long long)(bytes * 2 * (uint64_t)m->n_layer));
    c->kc = calloc((size_t)m->n_layer, sizeof *c->kc);
    c->vc = calloc((size_t)m->n_layer, sizeof *c->vc);
    if (!c->kc || !c->vc) return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    for (int64_t il = 0; il < m->n_layer; il++) {
        c->kc[il] = calloc(1, (size_t)bytes);
        c->vc[il] = calloc(1, (size_t)bytes);
        if (!c->kc[il] || !c->vc[il])
            return ken_err_set(err, KEN_ERR_NOMEM, "cannot allocate the KV cache (%llu bytes)",
                               (unsigned long long)(bytes * 2 * (uint64_t)m->n_layer));
    }
    return KEN_OK;
}

ken_status ken_model_ctx_new(const ken_model *m, const ken_model_ctx_params *p,
                             ken_model_ctx **out, ken_err *err) {
    *out = NULL;
    ken_model_ctx_params def = {0};
    if (!p) p = &def;
    if (p->n_ctx < 0 || p->n_ctx > KEN_MODEL_MAX_CTX || p->n_batch < 0 ||
        p->n_batch > KEN_MODEL_MAX_BATCH || p->n_threads < 0 ||
        p->n_threads > KEN_POOL_MAX_THREADS || (p->kv_type != KEN_KV_F32 && p->kv_type != KEN_KV_F16))
        return ken_err_set(err, KEN_ERR_INVALID, "invalid context parameters");
    ken_model_ctx *c = calloc(1, sizeof *c);
    if (!c) return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    c->m = m;
    c->n_ctx = p->n_ctx ? p->n_ctx : KEN_MIN(m->n_ctx_train, 4096);
    if (c->n_ctx > m->n_ctx_train && ken_model_is_encoder(m)) c->n_ctx = m->n_ctx_train;
    c->n_batch = p->n_batch ? p->n_batch : 512;
    if (ken_model_is_encoder(m)) c->n_batch = c->n_ctx;  /* one sequence = one batch */
    c->n_batch = KEN_MIN(c->n_batch, c->n_ctx);
    c->kv_type = p->kv_type;
    c->n_threads = p->n_threads > 1 ? p->n_threads : 1;
    ken_status st = KEN_OK;
    if (c->n_threads > 1 && (st = ken_pool_new(c->n_threads, &c->pool)))
        ken_err_set(err, st, "cannot start %d threads", c->n_threads);
    if (!st) st = alloc_scratch(c, err);
    if (!st) st = alloc_kv(c, err);
    if (st) {
        ken_model_ctx_free(c);
        return st;
    }
    *out = c;
    return KEN_OK;
}

void ken_model_ctx_free(ken_model_ctx *c) {
    if (!c) return;
    if (c->kc || c->vc)
        for (int64_t il = 0; il < c->m->n_layer; il++) {
            if (c->kc) free(c->kc[il]);
            if (c->vc) free(c->vc[il]);
        }
    free(c->kc); free(c->vc);
    ken_pool_free(c->pool);
    ken_nn_work_free(&c->work);
    free(c->x); free(c->h); free(c->q); free(c->k); free(c->v); free(c->att);
    free(c->g); free(c->u); free(c->y); free(c->scores); free(c->attn_ws); free(c->rope_cs);
    free(c->lora_ab); free(c->lora_out);
    free(c->hidden); free(c->logits); free(c->pool_tmp);
    free(c);
}

int64_t ken_model_ctx_n_ctx(const ken_model_ctx *c) { return c->n_ctx; }
int64_t ken_model_ctx_n_past(const ken_model_ctx *c) { return c->n_past; }
void ken_model_ctx_reset(ken_model_ctx *c) { c->n_past = 0; }

ken_status ken_model_ctx_add_lora(ken_model_ctx *c, const ken_lora *l, float scale,
                                  ken_err *err) {
    if (c->n_lora >= KEN_MODEL_MAX_LORA)
        return ken_err_set(err, KEN_ERR_LIMIT, "at most %d adapters at once", KEN_MODEL_MAX_LORA);
    if (l->n_layer != c->m->n_layer)
        return ken_err_set(err, KEN_ERR_INVALID, "adapter has %d layers, model %lld", l->n_layer,
                           (long long)c->m->n_layer);
    int64_t r_max = c->lora_r_max;
    for (int i = 0; i < l->n_layer * KEN_LORA_NTARGETS; i++)
        if (l->pairs[i].a.data) r_max = KEN_MAX(r_max, l->pairs[i].a.n_out);
    if (r_max > c->lora_r_max) {
        float *ab = NULL;
        if (alloc_f(&ab, c->n_batch, r_max)) return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
        free(c->lora_ab);
        c->lora_ab = ab;
        c->lora_r_max = r_max;
    }
    if (!c->lora_out) {
        const ken_model *m = c->m;
        int64_t wide = KEN_MAX(KEN_MAX(m->n_embd, m->n_head * m->head_dim), m->n_ff);
        if (alloc_f(&c->lora_out, c->n_batch, wide))
            return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    }
    c->lora[c->n_lora].l = l;
    c->lora[c->n_lora].scale = scale;
    c->n_lora++;
    return KEN_OK;
}

void ken_model_ctx_clear_lora(ken_model_ctx *c) { c->n_lora = 0; }

const float *ken_model_logits(const ken_model_ctx *c, int64_t *n_rows) {
    if (n_rows) *n_rows = c->logits_rows;
    return c->logits;
}

const float *ken_model_hidden(const ken_model_ctx *c, int64_t *n_rows) {
    if (n_rows) *n_rows = c->hidden_rows;
    return c->hidden;
}

