/* forward.c: the forward passes. Decoders (llama, qwen2, qwen3) run a batch
 * of tokens through RMSNorm, RoPE, causal grouped-query attention over the
 * KV cache and SwiGLU; the bert encoder runs one sequence through
 * LayerNorm, non-causal attention and GELU. Matrix products go through
 * ken_nn_matmul (activation quantization as llama.cpp); LoRA deltas are
 * added after the base product, biases after that (llama.cpp's order). */
#include "model/model_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ linear */

/* y[n][w.n_out] = W x (+ Σ lora) (+ b). layer < 0: no LoRA target. */
static ken_status linear(ken_model_ctx *c, const ken_model_lin *l, int64_t layer, int target,
                         const float *x, int64_t n, float *y) {
    ken_status st = ken_model_matmul(c, &l->w, x, n, y);
    if (st) return st;
    const int64_t no = l->w.n_out;
    for (int i = 0; i < c->n_lora && layer >= 0; i++) {
        const ken_lora *lo = c->lora[i].l;
        const ken_lora_pair *pr = &lo->pairs[layer * KEN_LORA_NTARGETS + target];
        if (!pr->a.data) continue;
        const float rank = (float)pr->b.n_in;
        const float s = lo->alpha != 0.0f ? c->lora[i].scale * lo->alpha / rank : c->lora[i].scale;
        if ((st = ken_model_matmul(c, &pr->a, x, n, c->lora_ab)) ||
            (st = ken_model_matmul(c, &pr->b, c->lora_ab, n, c->lora_out)))
            return st;
        for (int64_t t = 0; t < n * no; t++) y[t] += c->lora_out[t] * s;
    }
    if (l->b)
        for (int64_t t = 0; t < n; t++)
            for (int64_t o = 0; o < no; o++) y[t * no + o] += l->b[o];
    return KEN_OK;
}

/* ------------------------------------------------------------ RoPE */

/* cos/sin pairs of position pos for every rotated pair (ggml's cache:
 * theta multiplied up in float, divided by the llama 3.1 freq factors). */
static void rope_cache(const ken_model *m, int64_t pos, float *cs) {
    const float theta_scale = powf(m->rope_base, -2.0f / (float)m->n_rot);
    float theta = (float)pos;
    for (int64_t i0 = 0; i0 < m->n_rot; i0 += 2) {
        const float ff = m->rope_freqs ? m->rope_freqs[i0 / 2] : 1.0f;
        const float th = m->rope_freq_scale * (theta / ff);
        cs[i0] = cosf(th);
        cs[i0 + 1] = sinf(th);
        theta *= theta_scale;
    }
}

/* Rotates n_heads heads of head_dim at x with the cache cs. */
static void rope_apply(const ken_model *m, float *x, int64_t n_heads, const float *cs) {
    const int64_t hd = m->head_dim, nr = m->n_rot;
    for (int64_t h = 0; h < n_heads; h++) {
        float *p = x + h * hd;
        for (int64_t i0 = 0; i0 < nr; i0 += 2) {
            const float co = cs[i0], si = cs[i0 + 1];
            int64_t a = m->rope_neox ? i0 / 2 : i0, b = m->rope_neox ? i0 / 2 + nr / 2 : i0 + 1;
            const float x0 = p[a], x1 = p[b];
            p[a] = x0 * co - x1 * si;
            p[b] = x0 * si + x1 * co;
        }
    }
}

/* ------------------------------------------------------------ attention */

typedef struct {
    ken_model_ctx *c;
    int64_t layer, n, pos0;     /* batch of n tokens at positions pos0.. */
    int64_t n_kv;               /* encoder: keys are the batch itself */
    bool encoder;
} attn_job;

/* F16 -> F32 for every half (ggml keeps the same table): the attention
 * loops over an F16 cache convert hd values per key, far too often for a
 * function call each. */
static float f16_table[1 << 16];
static pthread_once_t f16_once = PTHREAD_ONCE_INIT;
static void f16_init(void) {
    for (uint32_t i = 0; i < (1u << 16); i++) f16_table[i] = ken_nn_fp16_to_fp32((uint16_t)i);
}

static float round_f16(float x) { return f16_table[ken_nn_fp32_to_fp16(x)]; }

/* The keys/values of one head as rows of stride nkv: from the batch itself
 * (encoder) or the cache (F32 or F16). */
typedef struct {
    const float *f;
    const uint16_t *h;
} kv_rows;

static kv_rows kv_of(const attn_job *J, bool values, int64_t g) {
    const ken_model_ctx *c = J->c;
    const int64_t off = g * c->m->head_dim;
    if (J->encoder) return (kv_rows){(values ? c->v : c->k) + off, NULL};
    const void *base = values ? c->vc[J->layer] : c->kc[J->layer];
    if (c->kv_type == KEN_KV_F16) return (kv_rows){NULL, (const uint16_t *)base + off};
    return (kv_rows){(const float *)base + off, NULL};
}

/* One (token, head) of attention: att[t][h] = softmax(q·Kᵀ·scale) V.
 * With an F16 cache q and the probabilities are rounded to F16 first, as
 * llama.cpp's F16 matrix products do. */
static void attn_one(const attn_job *J, int64_t t, int64_t h, float *sc) {
    ken_model_ctx *c = J->c;
    const ken_model *m = c->m;
    const int64_t hd = m->head_dim, nkv = m->n_head_kv * hd;
    const int64_t g = h / (m->n_head / m->n_head_kv);
    const float scale = 1.0f / sqrtf((float)hd);
    const float *q = c->q + t * m->n_head * hd + h * hd;
    uint16_t qh[1024];
    const kv_rows K = kv_of(J, false, g), V = kv_of(J, true, g);
    /* keys through nn's dot products (SIMD), F16 keys with q rounded to F16
     * as llama.cpp's ggml_vec_dot_f16 does */
    const ken_nn_dot_fn dotk = ken_nn_dot_best(K.h ? KEN_DT_F16 : KEN_DT_F32);
    if (K.h)
        for (int64_t d = 0; d < hd; d++) qh[d] = ken_nn_fp32_to_fp16(q[d]);
    int64_t n_keys = J->encoder ? J->n_kv : (m->causal ? J->pos0 + t + 1 : J->pos0 + J->n);
    for (int64_t j = 0; j < n_keys; j++) {
        const float s = K.h ? dotk(K.h + j * nkv, qh, hd) : dotk(K.f + j * nkv, q, hd);
        sc[j] = s * scale;
    }
    ken_model_softmax(sc, n_keys);
    float *o = c->att + t * m->n_head * hd + h * hd;
    for (int64_t d = 0; d < hd; d++) o[d] = 0.0f;
    for (int64_t j = 0; j < n_keys; j++) {
        if (V.h) {
            ken_nn_axpy_f16(o, round_f16(sc[j]), V.h + j * nkv, hd);
        } else {
            const float p = sc[j], *vr = V.f + j * nkv;
            for (int64_t d = 0; d < hd; d++) o[d] += p * vr[d];
        }
    }
}

/* chunk = one (token, head) pair */
static void attn_worker(void *ctx, int64_t chunk, int ith) {
    const attn_job *J = ctx;
    const int64_t nh = J->c->m->n_head;
    float *sc = J->c->scores + (int64_t)ith * J->c->n_ctx;
    attn_one(J, chunk / nh, chunk % nh, sc);
}

/* The encoder's attention on the batch GEMM (where nn has one): queries in
 * blocks of ATTN_QB, scores S = q·Kᵀ (keys packed as panels), scaled and
 * softmaxed per row, then out = S·V (values packed). */
#define ATTN_QB 128

int64_t ken_model_attn_ws_floats(const ken_model *m, int64_t n_batch) {
    const int64_t hd = m->head_dim, qb = n_batch < ATTN_QB ? n_batch : ATTN_QB;
    const int64_t a = ken_nn_gemm_f32_scratch(n_batch, hd), b = ken_nn_gemm_f32_scratch(hd, n_batch);
    return (a > b ? a : b) + qb * n_batch;
}

/* chunk = one head, over the whole batch; per (token, head) attn_one when
 * the level in use has no GEMM */
static void attn_head_worker(void *ctx, int64_t h, int ith) {
    const attn_job *J = ctx;
    ken_model_ctx *c = J->c;
    const ken_model *m = c->m;
    const int64_t hd = m->head_dim, n = J->n, nq = m->n_head * hd, nkv = m->n_head_kv * hd;
    const int64_t g = h / (m->n_head / m->n_head_kv);
    const float scale = 1.0f / sqrtf((float)hd);
    float *ws = c->attn_ws + (int64_t)ith * ken_model_attn_ws_floats(m, c->n_batch);
    const int64_t a = ken_nn_gemm_f32_scratch(n, hd), b = ken_nn_gemm_f32_scratch(hd, n);
    float *sc = ws + (a > b ? a : b);
    for (int64_t t0 = 0; t0 < n; t0 += ATTN_QB) {
        const int64_t nt = n - t0 < ATTN_QB ? n - t0 : ATTN_QB;
        if (!ken_nn_gemm_f32_rows(c->k + g * hd, nkv, n, c->q + t0 * nq + h * hd, nq, nt, hd, sc,
                                  n, ws)) {
            for (int64_t t = 0; t < n; t++) attn_one(J, t, h, c->scores + (int64_t)ith * c->n_ctx);
            return;
        }
        for (int64_t t = 0; t < nt; t++) {
            float *row = sc + t * n;
            if (ken_nn_softmax_f32(row, n, scale)) continue;
            for (int64_t j = 0; j < n; j++) row[j] *= scale;
            ken_model_softmax(row, n);
        }
        ken_nn_gemm_f32_cols(c->v + g * hd, nkv, hd, sc, n, nt, n, c->att + t0 * nq + h * hd, nq, ws);
    }
}

/* Writes the batch's k and v rows into the cache at pos0... */
static void kv_store(ken_model_ctx *c, int64_t layer, int64_t n, int64_t pos0) {
    const int64_t w = c->m->n_head_kv * c->m->head_dim;
    for (int64_t t = 0; t < n; t++) {
        const float *kr = c->k + t * w, *vr = c->v + t * w;
        int64_t off = (pos0 + t) * w;
        if (c->kv_type == KEN_KV_F16) {
            uint16_t *kd = (uint16_t *)c->kc[layer] + off, *vd = (uint16_t *)c->vc[layer] + off;
            for (int64_t i = 0; i < w; i++) {
                kd[i] = ken_nn_fp32_to_fp16(kr[i]);
                vd[i] = ken_nn_fp32_to_fp16(vr[i]);
            }
        } else {
            memcpy((float *)c->kc[layer] + off, kr, (size_t)w * sizeof(float));
            memcpy((float *)c->vc[layer] + off, vr, (size_t)w * sizeof(float));
        }
    }
}

/* The decoder's attention over a batch on the same GEMM: per head, the
 * group's keys and values up to the last position widened to F32 (an F16
 * cache: q rounded to F16 and the probabilities too, as attn_one does),
 * queries in blocks of ATTN_QB, causal rows softmaxed over their prefix and
 * zero beyond it. */
int64_t ken_model_dec_attn_ws_floats(const ken_model *m, int64_t n_ctx) {
    const int64_t hd = m->head_dim;
    const int64_t a = ken_nn_gemm_f32_scratch(n_ctx, hd), b = ken_nn_gemm_f32_scratch(hd, n_ctx);
    return (a > b ? a : b) + ATTN_QB * n_ctx + 2 * n_ctx * hd + ATTN_QB * hd;
}

static void dec_attn_head_worker(void *ctx, int64_t h, int ith) {
    const attn_job *J = ctx;
    ken_model_ctx *c = J->c;
    const ken_model *m = c->m;
    const int64_t hd = m->head_dim, n = J->n, nq = m->n_head * hd, nkv = m->n_head_kv * hd;
    const int64_t g = h / (m->n_head / m->n_head_kv), nk = J->pos0 + n;
    const float scale = 1.0f / sqrtf((float)hd);
    const int64_t a = ken_nn_gemm_f32_scratch(c->n_ctx, hd), b = ken_nn_gemm_f32_scratch(hd, c->n_ctx);
    float *ws = c->attn_ws + (int64_t)ith * ken_model_dec_attn_ws_floats(m, c->n_ctx);
    float *sc = ws + (a > b ? a : b), *kf = sc + ATTN_QB * c->n_ctx, *vf = kf + c->n_ctx * hd;
    float *qf = vf + c->n_ctx * hd;
    const kv_rows K = kv_of(J, false, g), V = kv_of(J, true, g);
    for (int64_t j = 0; j < nk; j++)
        for (int64_t d = 0; d < hd; d++) {
            kf[j * hd + d] = K.h ? f16_table[K.h[j * nkv + d]] : K.f[j * nkv + d];
            vf[j * hd + d] = V.h ? f16_table[V.h[j * nkv + d]] : V.f[j * nkv + d];
        }
    for (int64_t t0 = 0; t0 < n; t0 += ATTN_QB) {
        const int64_t nt = n - t0 < ATTN_QB ? n - t0 : ATTN_QB, nkb = J->pos0 + t0 + nt;
        for (int64_t t = 0; t < nt; t++)
            for (int64_t d = 0; d < hd; d++) {
                const float x = c->q[(t0 + t) * nq + h * hd + d];
                qf[t * hd + d] = K.h ? round_f16(x) : x;
            }
        if (!ken_nn_gemm_f32_rows(kf, hd, nkb, qf, hd, nt, hd, sc, nkb, ws)) {
            for (int64_t t = t0; t < n; t++) attn_one(J, t, h, c->scores + (int64_t)ith * c->n_ctx);
            return;
        }
        for (int64_t t = 0; t < nt; t++) {
            float *row = sc + t * nkb;
            const int64_t len = m->causal ? J->pos0 + t0 + t + 1 : nkb;
            if (!ken_nn_softmax_f32(row, len, scale)) {
                for (int64_t j = 0; j < len; j++) row[j] *= scale;
                ken_model_softmax(row, len);
            }
            if (V.h)
                for (int64_t j = 0; j < len; j++) row[j] = round_f16(row[j]);
            for (int64_t j = len; j < nkb; j++) row[j] = 0.0f;
        }
        ken_nn_gemm_f32_cols(vf, hd, hd, sc, nkb, nt, nkb, c->att + t0 * nq + h * hd, nq, ws);
    }
}

/* ------------------------------------------------------------ decoder */

/* The decoder's per-token passes between the products, spread over the
 * threads (each row on its own: the same values for any thread count). */
typedef enum { DEC_NORM1, DEC_QK, DEC_RES_NORM2, DEC_SWIGLU, DEC_RES } dec_pass;

typedef struct {
    ken_model_ctx *c;
    const ken_model_layer *L;
    int64_t t0;                 /* first row of the pass (an FFN block's for SWIGLU) */
    dec_pass which;
} dec_rows_job;

static void dec_rows_worker(void *ctx, int64_t r, int ith) {
    (void)ith;
    const dec_rows_job *J = ctx;
    const int64_t t = J->t0 + r;      /* r: the row within the pass */
    ken_model_ctx *c = J->c;
    const ken_model *m = c->m;
    const ken_model_layer *L = J->L;
    const int64_t E = m->n_embd, hd = m->head_dim, nq = m->n_head * hd, nkv = m->n_head_kv * hd;
    switch (J->which) {
    case DEC_NORM1:
        ken_model_rmsnorm(c->x + t * E, L->norm1, m->eps, c->h + t * E, E);
        break;
    case DEC_QK:
        if (L->q_norm) {
            for (int64_t h = 0; h < m->n_head; h++) {
                float *p = c->q + t * nq + h * hd;
                ken_model_rmsnorm(p, L->q_norm, m->eps, p, hd);
            }
            for (int64_t h = 0; h < m->n_head_kv; h++) {
                float *p = c->k + t * nkv + h * hd;
                ken_model_rmsnorm(p, L->k_norm, m->eps, p, hd);
            }
        }
        rope_apply(m, c->q + t * nq, m->n_head, c->rope_cs + t * m->n_rot);
        rope_apply(m, c->k + t * nkv, m->n_head_kv, c->rope_cs + t * m->n_rot);
        break;
    case DEC_RES_NORM2:
        for (int64_t i = 0; i < E; i++) c->x[t * E + i] += c->y[t * E + i];
        ken_model_rmsnorm(c->x + t * E, L->norm2, m->eps, c->h + t * E, E);
        break;
    case DEC_SWIGLU: {
        float *g = c->g + r * m->n_ff;
        const float *u = c->u + r * m->n_ff;
        for (int64_t i = 0; i < m->n_ff; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
        break;
    }
    case DEC_RES:
        for (int64_t i = 0; i < E; i++) c->x[t * E + i] += c->y[t * E + i];
        break;
    }
}

/* Runs pass `which` on rows [t0, t0 + n). */
static void dec_rows(ken_model_ctx *c, const ken_model_layer *L, dec_pass which, int64_t t0,
                     int64_t n) {
    dec_rows_job J = {.c = c, .L = L, .t0 = t0, .which = which};
    ken_model_parallel(c, n, dec_rows_worker, &J);
}

static ken_status decoder_layer(ken_model_ctx *c, int64_t il, int64_t n, int64_t pos0) {
    const ken_model *m = c->m;
    const ken_model_layer *L = &m->layers[il];
    const int64_t E = m->n_embd;
    ken_status st;
    dec_rows(c, L, DEC_NORM1, 0, n);
    if ((st = linear(c, &L->q, il, KEN_LORA_Q, c->h, n, c->q)) ||
        (st = linear(c, &L->k, il, KEN_LORA_K, c->h, n, c->k)) ||
        (st = linear(c, &L->v, il, KEN_LORA_V, c->h, n, c->v)))
        return st;
    dec_rows(c, L, DEC_QK, 0, n);
    kv_store(c, il, n, pos0);
    pthread_once(&f16_once, f16_init);
    attn_job J = {.c = c, .layer = il, .n = n, .pos0 = pos0};
    if (c->attn_ws && n >= 16)   /* a batch: per head on the GEMM */
        ken_model_parallel(c, m->n_head, dec_attn_head_worker, &J);
    else
        ken_model_parallel(c, n * m->n_head, attn_worker, &J);
    if ((st = linear(c, &L->o, il, KEN_LORA_O, c->att, n, c->y))) return st;
    dec_rows(c, L, DEC_RES_NORM2, 0, n);
    /* the FFN by blocks of tokens: each token's rows are computed on their
     * own, so blocks change no result, and g, u stay one block in size */
    for (int64_t t0 = 0; t0 < n; t0 += KEN_MODEL_FFN_BLOCK) {
        const int64_t nt = KEN_MIN(KEN_MODEL_FFN_BLOCK, n - t0);
        if ((st = linear(c, &L->gate, il, KEN_LORA_GATE, c->h + t0 * E, nt, c->g)) ||
            (st = linear(c, &L->up, il, KEN_LORA_UP, c->h + t0 * E, nt, c->u)))
            return st;
        dec_rows(c, L, DEC_SWIGLU, t0, nt);
        if ((st = linear(c, &L->down, il, KEN_LORA_DOWN, c->g, nt, c->y + t0 * E))) return st;
    }
    dec_rows(c, L, DEC_RES, 0, n);
    return KEN_OK;
}

static void embed_rows(const ken_nn_mat *t, const int32_t *tokens, int64_t n, float *out) {
    const size_t rb = ken_nn_row_bytes(t->type, t->n_in);
    for (int64_t i = 0; i < n; i++)
        ken_nn_dequantize_row(t->type, (const uint8_t *)t->data + (size_t)tokens[i] * rb,
                              out + i * t->n_in, t->n_in);
}

/* One batch: hidden rows go to hid[n][E]; logits of rows [lo, n) to lg. */
static ken_status decode_batch(ken_model_ctx *c, const int32_t *tokens, int64_t n, int64_t pos0,
                               float *hid, int64_t lo, float *lg) {
    const ken_model *m = c->m;
    const int64_t E = m->n_embd;
    embed_rows(&m->tok_embd, tokens, n, c->x);
    for (int64_t t = 0; t < n; t++) rope_cache(m, pos0 + t, c->rope_cs + t * m->n_rot);
    ken_status st;
    for (int64_t il = 0; il < m->n_layer; il++)
        if ((st = decoder_layer(c, il, n, pos0))) return st;
    for (int64_t t = 0; t < n; t++) ken_model_rmsnorm(c->x + t * E, m->out_norm, m->eps, hid + t * E, E);
    if (lo < n && (st = ken_model_matmul(c, &m->output, hid + lo * E, n - lo, lg)))
        return st;
    return KEN_OK;
}

static ken_status grow(float **p, int64_t *cap, int64_t rows, int64_t width) {
    if (rows <= *cap) return KEN_OK;
    if ((uint64_t)rows * (uint64_t)width > ((uint64_t)1 << 30) / sizeof(float) * 2)
        return KEN_ERR_LIMIT;
    float *q = realloc(*p, (size_t)(rows * width) * sizeof(float));
    if (!q) return KEN_ERR_NOMEM;
    *p = q;
    *cap = rows;
    return KEN_OK;
}

ken_status ken_model_decode(ken_model_ctx *c, const int32_t *tokens, int64_t n, bool all_logits,
                            ken_err *err) {
    const ken_model *m = c->m;
    if (ken_model_is_encoder(m))
        return ken_err_set(err, KEN_ERR_INVALID, "%s is an encoder: it embeds, it does not decode",
                           ken_model_arch_name(m->arch));
    if (n <= 0) return ken_err_set(err, KEN_ERR_INVALID, "no tokens to decode");
    if (n > c->n_ctx - c->n_past)
        return ken_err_set(err, KEN_ERR_LIMIT, "context overflow: %lld cached + %lld new tokens "
                           "exceed the context of %lld", (long long)c->n_past, (long long)n,
                           (long long)c->n_ctx);
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab)
            return ken_err_set(err, KEN_ERR_INVALID, "token id %d is outside the vocabulary (%lld)",
                               tokens[i], (long long)m->n_vocab);
    int64_t rows = all_logits ? n : 1;
    ken_status st;
    if ((st = grow(&c->hidden, &c->hidden_cap, n, m->n_embd)) ||
        (st = grow(&c->logits, &c->logits_cap, rows, m->n_vocab)))
        return ken_err_set(err, st, "cannot hold logits of %lld rows × %lld", (long long)rows,
                           (long long)m->n_vocab);
    c->hidden_rows = c->logits_rows = 0;
    for (int64_t b0 = 0; b0 < n; b0 += c->n_batch) {
        int64_t nb = KEN_MIN(c->n_batch, n - b0);
        int64_t lo = all_logits ? 0 : (b0 + nb == n ? nb - 1 : nb);
        float *lg = c->logits + (all_logits ? b0 * m->n_vocab : 0);
        st = decode_batch(c, tokens + b0, nb, c->n_past, c->hidden + b0 * m->n_embd, lo, lg);
        if (st) return ken_err_set(err, st, "forward pass failed: %s", ken_status_str(st));
        c->n_past += nb;
    }
    c->hidden_rows = n;
    c->logits_rows = rows;
    return KEN_OK;
}

/* ------------------------------------------------------------ encoder */

/* The per-token passes after the products, spread over the threads (each
 * row on its own: the same values for any thread count). */
typedef struct {
    ken_model_ctx *c;
    const ken_model_layer *L;
    int which;                  /* 1, 2: residual + norm1 / norm2; 0: GELU */
} enc_rows_job;

static void enc_rows_worker(void *ctx, int64_t t, int ith) {
    (void)ith;
    const enc_rows_job *J = ctx;
    ken_model_ctx *c = J->c;
    const ken_model *m = c->m;
    const int64_t E = m->n_embd;
    if (J->which == 0) {
        ken_model_gelu_rows(c->g + t * m->n_ff, m->n_ff);
        return;
    }
    float *r = c->y + t * E;
    for (int64_t i = 0; i < E; i++) r[i] += c->x[t * E + i];
    if (J->which == 1)
        ken_model_layernorm(r, J->L->norm1, J->L->norm1_b, m->eps, c->x + t * E, E);
    else
        ken_model_layernorm(r, J->L->norm2, J->L->norm2_b, m->eps, c->x + t * E, E);
}

static ken_status encoder_layer(ken_model_ctx *c, int64_t il, int64_t n) {
    const ken_model *m = c->m;
    const ken_model_layer *L = &m->layers[il];
    ken_status st;
    if ((st = linear(c, &L->q, il, KEN_LORA_Q, c->x, n, c->q)) ||
        (st = linear(c, &L->k, il, KEN_LORA_K, c->x, n, c->k)) ||
        (st = linear(c, &L->v, il, KEN_LORA_V, c->x, n, c->v)))
        return st;
    attn_job J = {.c = c, .layer = il, .n = n, .n_kv = n, .encoder = true};
    if (c->attn_ws)
        ken_model_parallel(c, m->n_head, attn_head_worker, &J);
    else
        ken_model_parallel(c, n * m->n_head, attn_worker, &J);
    if ((st = linear(c, &L->o, il, KEN_LORA_O, c->att, n, c->y))) return st;
    enc_rows_job R = {.c = c, .L = L, .which = 1};
    ken_model_parallel(c, n, enc_rows_worker, &R);
    if ((st = linear(c, &L->up, il, KEN_LORA_UP, c->x, n, c->g))) return st;
    R.which = 0;
    ken_model_parallel(c, n, enc_rows_worker, &R);
    if ((st = linear(c, &L->down, il, KEN_LORA_DOWN, c->g, n, c->y))) return st;
    R.which = 2;
    ken_model_parallel(c, n, enc_rows_worker, &R);
    return KEN_OK;
}

ken_status ken_model_encode(ken_model_ctx *c, const int32_t *tokens, int64_t n,
                            const float **states, ken_err *err) {
    const ken_model *m = c->m;
    if (!ken_model_is_encoder(m))
        return ken_err_set(err, KEN_ERR_INVALID, "%s is a decoder: use decode",
                           ken_model_arch_name(m->arch));
    if (n <= 0) return ken_err_set(err, KEN_ERR_INVALID, "no tokens to encode");
    if (n > c->n_batch)
        return ken_err_set(err, KEN_ERR_LIMIT, "sequence of %lld tokens exceeds the context of %lld",
                           (long long)n, (long long)c->n_batch);
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab)
            return ken_err_set(err, KEN_ERR_INVALID, "token id %d is outside the vocabulary (%lld)",
                               tokens[i], (long long)m->n_vocab);
    const int64_t E = m->n_embd;
    ken_status st = grow(&c->hidden, &c->hidden_cap, n, E);
    if (st) return ken_err_set(err, st, "out of memory");
    embed_rows(&m->tok_embd, tokens, n, c->h);
    float *row = c->pool_tmp;
    for (int64_t t = 0; t < n; t++) {
        float *x = c->h + t * E;
        if (m->type_embd.data) {
            ken_nn_dequantize_row(m->type_embd.type, m->type_embd.data, row, E);
            for (int64_t i = 0; i < E; i++) x[i] += row[i];
        }
        const size_t rb = ken_nn_row_bytes(m->pos_embd.type, E);
        ken_nn_dequantize_row(m->pos_embd.type, (const uint8_t *)m->pos_embd.data + (size_t)t * rb,
                              row, E);
        for (int64_t i = 0; i < E; i++) x[i] += row[i];
        ken_model_layernorm(x, m->embd_norm, m->embd_norm_b, m->eps, c->x + t * E, E);
    }
    for (int64_t il = 0; il < m->n_layer; il++)
        if ((st = encoder_layer(c, il, n)))
            return ken_err_set(err, st, "forward pass failed: %s", ken_status_str(st));
    memcpy(c->hidden, c->x, (size_t)(n * E) * sizeof(float));
    c->hidden_rows = n;
    *states = c->hidden;
    return KEN_OK;
}

/* The rerank head on the CLS state: tanh(cls·x + b), then cls.output. */
static ken_status rank_head(ken_model_ctx *c, const float *cls_state, float *out, ken_err *err) {
    const ken_model *m = c->m;
    if (!m->cls.w.data && !m->cls_out.w.data)
        return ken_err_set(err, KEN_ERR_UNSUPPORTED, "the model has no classification head "
                           "(cls.weight / cls.output.weight): it cannot rerank");
    const float *in = cls_state;
    float *tmp = c->y;
    ken_status st;
    if (m->cls.w.data) {
        if ((st = linear(c, &m->cls, -1, 0, in, 1, tmp))) goto fail;
        for (int64_t i = 0; i < m->cls.w.n_out; i++) tmp[i] = tanhf(tmp[i]);
        in = tmp;
        if (!m->cls_out.w.data) {
            memcpy(out, tmp, (size_t)m->cls.w.n_out * sizeof(float));
            return KEN_OK;
        }
    }
    if ((st = linear(c, &m->cls_out, -1, 0, in, 1, out))) goto fail;
    return KEN_OK;
fail:
    return ken_err_set(err, st, "rerank head failed");
}

ken_status ken_model_pool(ken_model_ctx *c, ken_pooling pooling, const float *states,
                          int64_t n, float *out, ken_err *err) {
    const int64_t E = c->m->n_embd;
    if (n <= 0) return ken_err_set(err, KEN_ERR_INVALID, "nothing to pool");
    switch (pooling) {
    case KEN_POOLING_MEAN:
        for (int64_t i = 0; i < E; i++) {
            float s = 0.0f;
            for (int64_t t = 0; t < n; t++) s += states[t * E + i];
            out[i] = s / (float)n;
        }
        return KEN_OK;
    case KEN_POOLING_CLS:
        memcpy(out, states, (size_t)E * sizeof(float));
        return KEN_OK;
    case KEN_POOLING_LAST:
        memcpy(out, states + (n - 1) * E, (size_t)E * sizeof(float));
        return KEN_OK;
    case KEN_POOLING_RANK:
        return rank_head(c, states, out, err);
    default:
        return ken_err_set(err, KEN_ERR_INVALID, "pooling type %d cannot produce one vector",
                           (int)pooling);
    }
}
