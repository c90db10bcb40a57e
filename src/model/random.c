/* random.c: `ken model random`: writes a random-weight model of a supported
 * architecture with a real tokenizer copied from another GGUF, for tests
 * and benchmarks. Weights follow the fixtures' recipe (README of
 * ../shared/fixtures): normal draws scaled by 1/√fan-in (0.5 for the
 * residual projections, 3 for an untied LM head), norms near 1, so
 * attention is not degenerate and logits are not flat. Deterministic: the
 * same options and seed give the same file. */
#include "ken_infer.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
} preset;

static const preset presets[] = {
    {"tiny", 64, 2, 4, 2, 128, 256},
    {"small", 256, 4, 8, 4, 768, 1024},
    {"medium", 768, 12, 12, 4, 2048, 2048},
    {"large", 2048, 16, 32, 8, 8192, 4096},
};

typedef struct {
    uint64_t s;
    bool have;
    float spare;
} nrng;

static double unif(nrng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * 0x1.0p-53;
}

/* Standard normal (Box-Muller). */
static float normal(nrng *r) {
    if (r->have) {
        r->have = false;
        return r->spare;
    }
    double u = unif(r), v = unif(r), m = sqrt(-2.0 * log(u));
    r->spare = (float)(m * sin(2 * M_PI * v));
    r->have = true;
    return (float)(m * cos(2 * M_PI * v));
}

typedef struct {
    ken_gguf_writer *w;
    nrng rng;
    ken_err *err;
} gen;

/* A tensor of ne0 × ne1 (ne1 0: a vector) of base + scale·N(0,1). */
static ken_status put(gen *G, const char *name, int64_t ne0, int64_t ne1, float scale, float base) {
    uint64_t n = (uint64_t)ne0 * (uint64_t)(ne1 ? ne1 : 1);
    float *d = malloc(n * sizeof *d);
    if (!d) return ken_err_set(G->err, KEN_ERR_NOMEM, "out of memory for %s", name);
    for (uint64_t i = 0; i < n; i++) d[i] = base + scale * normal(&G->rng);
    uint64_t ne[2] = {(uint64_t)ne0, (uint64_t)ne1};
    ken_status st = ken_gguf_add_tensor(G->w, name, KEN_DT_F32, ne1 ? 2 : 1, ne, d, n * 4);
    free(d);
    if (st) return ken_err_set(G->err, st, "%s", ken_gguf_writer_errmsg(G->w));
    return KEN_OK;
}

static ken_status put_layer(gen *G, const ken_random_opts *o, int il) {
    const bool bert = !strcmp(o->arch, "bert");
    const int E = o->n_embd, hd = E / o->n_head, nq = o->n_head * hd, nkv = o->n_head_kv * hd;
    const float gi = 1.0f / sqrtf((float)E), gres = bert ? 1.0f : 0.5f;
    char n[96];
    ken_status st = KEN_OK;
#define P(suffix, a, b, sc, base) \
    if (!st) { snprintf(n, sizeof n, "blk.%d." suffix, il); st = put(G, n, a, b, sc, base); }
    P("attn_q.weight", E, nq, gi, 0)
    P("attn_k.weight", E, nkv, gi, 0)
    P("attn_v.weight", E, nkv, gi, 0)
    if (bert || !strcmp(o->arch, "qwen2")) {
        P("attn_q.bias", nq, 0, 0.5f, 0)
        P("attn_k.bias", nkv, 0, 0.5f, 0)
        P("attn_v.bias", nkv, 0, 0.5f, 0)
    }
    P("attn_output.weight", nq, E, gres / sqrtf((float)nq), 0)
    if (bert) {
        P("attn_output.bias", E, 0, 0.1f, 0)
        P("attn_output_norm.weight", E, 0, 0.1f, 1)
        P("attn_output_norm.bias", E, 0, 0.1f, 0)
        P("ffn_up.weight", E, o->n_ff, gi, 0)
        P("ffn_up.bias", o->n_ff, 0, 0.1f, 0)
        P("ffn_down.weight", o->n_ff, E, 1.0f / sqrtf((float)o->n_ff), 0)
        P("ffn_down.bias", E, 0, 0.1f, 0)
        P("layer_output_norm.weight", E, 0, 0.1f, 1)
        P("layer_output_norm.bias", E, 0, 0.1f, 0)
    } else {
        P("attn_norm.weight", E, 0, 0.1f, 1)
        if (!strcmp(o->arch, "qwen3")) {
            P("attn_q_norm.weight", hd, 0, 0.1f, 1)
            P("attn_k_norm.weight", hd, 0, 0.1f, 1)
        }
        P("ffn_norm.weight", E, 0, 0.1f, 1)
        P("ffn_gate.weight", E, o->n_ff, gi, 0)
        P("ffn_up.weight", E, o->n_ff, gi, 0)
        P("ffn_down.weight", o->n_ff, E, 0.5f / sqrtf((float)o->n_ff), 0)
    }
#undef P
    return st;
}

static ken_status put_meta(gen *G, const ken_random_opts *o, const ken_gguf *vocab,
                           int64_t *n_vocab) {
    ken_gguf_writer *w = G->w;
    const char *a = o->arch;
    const bool bert = !strcmp(a, "bert"), qwen = !strncmp(a, "qwen", 4);
    char k[96], name[64];
    snprintf(name, sizeof name, "ken-random-%s", a);
    ken_status st = ken_gguf_set_str(w, "general.architecture", a);
    if (!st) st = ken_gguf_set_str(w, "general.name", name);
    if (!st) st = ken_gguf_set_u32(w, "general.file_type", 0);
#define U(suffix, v) if (!st) { snprintf(k, sizeof k, "%s." suffix, a); st = ken_gguf_set_u32(w, k, (uint32_t)(v)); }
#define F(suffix, v) if (!st) { snprintf(k, sizeof k, "%s." suffix, a); st = ken_gguf_set_f32(w, k, (float)(v)); }
    U("context_length", o->n_ctx)
    U("embedding_length", o->n_embd)
    U("block_count", o->n_layer)
    U("feed_forward_length", o->n_ff)
    U("attention.head_count", o->n_head)
    U("attention.head_count_kv", o->n_head_kv)
    if (bert) {
        F("attention.layer_norm_epsilon", 1e-12)
        U("pooling_type", o->pooling ? o->pooling : 2)
        if (!st) {
            snprintf(k, sizeof k, "%s.attention.causal", a);
            st = ken_gguf_set_bool(w, k, false);
        }
    } else {
        F("attention.layer_norm_rms_epsilon", qwen ? 1e-6 : 1e-5)
        F("rope.freq_base", qwen ? 1000000.0 : 10000.0)
        U("rope.dimension_count", o->n_embd / o->n_head)
    }
#undef U
#undef F
    for (uint64_t i = 0; !st && i < ken_gguf_n_kv(vocab); i++) {
        const ken_gguf_kv *kv = ken_gguf_kv_at(vocab, i);
        if (kv->key.n >= 10 && !memcmp(kv->key.p, "tokenizer.", 10)) st = ken_gguf_set_kv(w, kv);
    }
    if (st) return ken_err_set(G->err, st, "%s", ken_gguf_writer_errmsg(w));
    ken_gguf_type et;
    uint64_t nv = 0;
    if (!ken_gguf_get_arr(vocab, "tokenizer.ggml.tokens", &et, &nv) || et != KEN_GGUF_STRING || !nv)
        return ken_err_set(G->err, KEN_ERR_FORMAT, "the vocabulary file has no tokenizer.ggml.tokens");
    if (!strcmp(a, "llama")) {
        snprintf(k, sizeof k, "%s.vocab_size", a);
        ken_gguf_set_u32(w, k, (uint32_t)nv);
    }
    *n_vocab = (int64_t)nv;
    return KEN_OK;
}

static ken_status check_opts(ken_random_opts *o, ken_err *err) {
    if (!o->arch || (strcmp(o->arch, "llama") && strcmp(o->arch, "qwen2") &&
                     strcmp(o->arch, "qwen3") && strcmp(o->arch, "bert")))
        return ken_err_set(err, KEN_ERR_INVALID, "--arch is llama, qwen2, qwen3 or bert");
    if (!o->vocab) return ken_err_set(err, KEN_ERR_INVALID, "a vocabulary GGUF (--vocab) is required");
    const preset *p = NULL;
    for (size_t i = 0; o->preset && i < KEN_ARRAY_LEN(presets); i++)
        if (!strcmp(o->preset, presets[i].name)) p = &presets[i];
    if (o->preset && !p)
        return ken_err_set(err, KEN_ERR_INVALID, "unknown preset '%s' (tiny, small, medium, large)",
                           o->preset);
    if (!p) p = &presets[0];
#define DEF(f) if (o->f <= 0) o->f = p->f;
    DEF(n_embd) DEF(n_layer) DEF(n_head) DEF(n_head_kv) DEF(n_ff) DEF(n_ctx)
#undef DEF
    if (o->n_embd > 16384 || o->n_layer > 256 || o->n_ff > 65536 || o->n_ctx > (1 << 20) ||
        o->n_head > 256 || o->n_embd % o->n_head || o->n_head % o->n_head_kv ||
        (o->n_embd / o->n_head) % 2)
        return ken_err_set(err, KEN_ERR_INVALID, "inconsistent sizes: n_embd %d, heads %d/%d, "
                           "n_ff %d, layers %d", o->n_embd, o->n_head, o->n_head_kv, o->n_ff,
                           o->n_layer);
    if (!strcmp(o->arch, "bert")) o->n_head_kv = o->n_head;
    return KEN_OK;
}

static ken_status write_f32(ken_random_opts *o, const char *path, ken_err *err) {
    ken_gguf *vocab = NULL;
    ken_status st = ken_gguf_open(o->vocab, &vocab, err);
    if (st) return st;
    gen G = {.w = ken_gguf_writer_new(0), .rng = {.s = o->seed}, .err = err};
    int64_t V = 0;
    if (!G.w) st = ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    if (!st) st = put_meta(&G, o, vocab, &V);
    const bool bert = !strcmp(o->arch, "bert");
    const int E = o->n_embd;
    if (!st) st = put(&G, "token_embd.weight", E, V, o->tied ? 0.1f : 1.0f, 0);
    if (!st && bert) {
        st = put(&G, "token_types.weight", E, 2, 1.0f, 0);
        if (!st) st = put(&G, "position_embd.weight", E, o->n_ctx, 1.0f, 0);
        if (!st) st = put(&G, "token_embd_norm.weight", E, 0, 0.1f, 1);
        if (!st) st = put(&G, "token_embd_norm.bias", E, 0, 0.1f, 0);
    }
    for (int il = 0; !st && il < o->n_layer; il++) st = put_layer(&G, o, il);
    if (!st && !bert) {
        st = put(&G, "output_norm.weight", E, 0, 0.1f, o->tied ? 4.0f : 1.0f);
        if (!st && !o->tied) st = put(&G, "output.weight", E, V, 3.0f / sqrtf((float)E), 0);
    }
    if (!st) st = ken_gguf_write(G.w, path, err);
    ken_gguf_writer_free(G.w);
    ken_gguf_close(vocab);
    return st;
}

ken_status ken_model_random(const ken_random_opts *opts, const char *out, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    ken_err err = {{0}};
    ken_random_opts o = {0};
    if (opts) memcpy(&o, opts, KEN_MIN(sizeof o, opts->size ? opts->size : sizeof o));
    ken_status st = check_opts(&o, &err);
    const bool quant = o.type && strcmp(o.type, "F32");
    char tmp[4096];
    if (!st && quant && snprintf(tmp, sizeof tmp, "%s.f32.tmp", out) >= (int)sizeof tmp)
        st = ken_err_set(&err, KEN_ERR_INVALID, "output path too long");
    if (!st) st = write_f32(&o, quant ? tmp : out, &err);
    if (!st && quant) {
        char *msg = NULL;
        st = ken_model_quantize(tmp, out, o.type, &msg);
        if (st) ken_err_set(&err, st, "%s", msg ? msg : "quantization failed");
        ken_free(msg);
        unlink(tmp);
    }
    if (st && errmsg) *errmsg = ken_strdup(err.msg);
    return st;
}
