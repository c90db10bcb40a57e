/* load.c: builds a ken_model from GGUF metadata and tensors: reads the
 * hyper-parameters, finds every tensor the architecture needs and checks
 * its type and shape, so a forward pass never meets a surprise. */
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ken_gguf *g;
    ken_err *err;
    char arch[32];
} loader;

const char *ken_model_arch_name(ken_model_arch a) {
    switch (a) {
    case KEN_ARCH_LLAMA: return "llama";
    case KEN_ARCH_QWEN2: return "qwen2";
    case KEN_ARCH_QWEN3: return "qwen3";
    case KEN_ARCH_BERT: return "bert";
    }
    return "?";
}

bool ken_model_is_encoder(const ken_model *m) { return m->arch == KEN_ARCH_BERT; }

static bool key_u64(loader *L, const char *suffix, uint64_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->arch, suffix);
    return ken_gguf_get_u64(L->g, key, out);
}

static bool key_f32(loader *L, const char *suffix, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->arch, suffix);
    return ken_gguf_get_f32(L->g, key, out);
}

/* A required positive integer hyper-parameter, at most max. */
static ken_status hparam(loader *L, const char *suffix, int64_t max, int64_t *out) {
    uint64_t v;
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->arch, suffix);
    const ken_gguf_kv *kv = ken_gguf_find(L->g, key);
    if (kv && kv->val.type == KEN_GGUF_ARRAY)
        return ken_err_set(L->err, KEN_ERR_UNSUPPORTED,
                           "%s: per-layer values are not supported", key);
    if (!ken_gguf_get_u64(L->g, key, &v))
        return ken_err_set(L->err, KEN_ERR_FORMAT, "missing or invalid metadata key %s", key);
    if (v == 0 || v > (uint64_t)max)
        return ken_err_set(L->err, KEN_ERR_UNSUPPORTED, "%s = %llu is out of range (1..%lld)",
                           key, (unsigned long long)v, (long long)max);
    *out = (int64_t)v;
    return KEN_OK;
}

/* A matrix [n_out][n_in]: the tensor must be 2-D with ne = {n_in, n_out}
 * (n_out < 0: any) and of a type nn multiplies. */
static ken_status get_mat(loader *L, const char *name, int64_t n_in, int64_t n_out,
                          bool required, ken_nn_mat *out) {
    memset(out, 0, sizeof *out);
    const ken_gguf_tensor *t = ken_gguf_tensor_find(L->g, name);
    if (!t) {
        if (!required) return KEN_OK;
        return ken_err_set(L->err, KEN_ERR_FORMAT, "missing tensor %s", name);
    }
    if (t->n_dims > 2 || t->ne[0] != (uint64_t)n_in || (n_out >= 0 && t->ne[1] != (uint64_t)n_out)
        || t->ne[1] == 0 || t->ne[1] > ((uint64_t)1 << 31))
        return ken_err_set(L->err, KEN_ERR_UNSUPPORTED,
                           "tensor %s has shape [%llu, %llu], expected [%lld, %lld]", name,
                           (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                           (long long)n_in, (long long)n_out);
    if (!ken_nn_type_ok(t->type))
        return ken_err_set(L->err, KEN_ERR_UNSUPPORTED, "tensor %s has unsupported type %s",
                           name, ken_dtype_name(t->type));
    size_t rb = ken_nn_row_bytes(t->type, n_in);
    if (rb == 0 || (uint64_t)rb * t->ne[1] != t->n_bytes)
        return ken_err_set(L->err, KEN_ERR_UNSUPPORTED,
                           "tensor %s: rows of %lld elements do not fit type %s", name,
                           (long long)n_in, ken_dtype_name(t->type));
    out->type = t->type;
    out->n_in = n_in;
    out->n_out = (int64_t)t->ne[1];
    out->data = t->data;
    return KEN_OK;
}

/* A vector of n elements of any supported type, converted to owned F32. */
static ken_status get_vec(loader *L, const char *name, int64_t n, bool required, float **out) {
    *out = NULL;
    const ken_gguf_tensor *t = ken_gguf_tensor_find(L->g, name);
    if (!t) {
        if (!required) return KEN_OK;
        return ken_err_set(L->err, KEN_ERR_FORMAT, "missing tensor %s", name);
    }
    if (t->n_elems != (uint64_t)n || t->ne[0] != (uint64_t)n)
        return ken_err_set(L->err, KEN_ERR_UNSUPPORTED, "tensor %s has %llu elements, expected %lld",
                           name, (unsigned long long)t->n_elems, (long long)n);
    if (!ken_nn_type_ok(t->type) || ken_nn_row_bytes(t->type, n) != t->n_bytes)
        return ken_err_set(L->err, KEN_ERR_UNSUPPORTED, "tensor %s has unsupported type %s",
                           name, ken_dtype_name(t->type));
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return ken_err_set(L->err, KEN_ERR_NOMEM, "out of memory loading %s", name);
    ken_nn_dequantize_row(t->type, t->data, v, n);
    *out = v;
    return KEN_OK;
}

static ken_status get_lin(loader *L, const char *name, int64_t n_in, int64_t n_out,
                          bool required, bool bias, ken_model_lin *out) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s.weight", name);
    ken_status st = get_mat(L, buf, n_in, n_out, required, &out->w);
    if (st || !bias || !out->w.data) return st;
    snprintf(buf, sizeof buf, "%s.bias", name);
    return get_vec(L, buf, out->w.n_out, false, &out->b);
}

static ken_status read_arch(loader *L, ken_model *m) {
    ken_gguf_str s;
    if (ken_gguf_get_str(L->g, "general.type", &s) && ken_gguf_str_eq(s, "adapter"))
        return ken_err_set(L->err, KEN_ERR_UNSUPPORTED,
                           "this GGUF is an adapter (LoRA), not a model: load it with --lora");
    if (!ken_gguf_get_str(L->g, "general.architecture", &s))
        return ken_err_set(L->err, KEN_ERR_FORMAT, "missing general.architecture");
    static const struct { const char *name; ken_model_arch a; } archs[] = {
        {"llama", KEN_ARCH_LLAMA}, {"qwen2", KEN_ARCH_QWEN2}, {"qwen3", KEN_ARCH_QWEN3},
        {"bert", KEN_ARCH_BERT},
    };
    for (size_t i = 0; i < KEN_ARRAY_LEN(archs); i++)
        if (ken_gguf_str_eq(s, archs[i].name)) {
            m->arch = archs[i].a;
            snprintf(L->arch, sizeof L->arch, "%s", archs[i].name);
            return KEN_OK;
        }
    return ken_err_set(L->err, KEN_ERR_UNSUPPORTED,
                       "architecture '%.*s' is not supported (supported: llama, qwen2, qwen3, bert)",
                       (int)KEN_MIN(s.n, 64), s.p);
}

static ken_status read_rope(loader *L, ken_model *m) {
    m->rope_base = 10000.0f;
    m->rope_freq_scale = 1.0f;
    float f;
    if (key_f32(L, "rope.freq_base", &f)) {
        if (!(f > 0.0f) || !isfinite(f))
            return ken_err_set(L->err, KEN_ERR_FORMAT, "invalid rope.freq_base");
        m->rope_base = f;
    }
    char key[128];
    ken_gguf_str s;
    snprintf(key, sizeof key, "%s.rope.scaling.type", L->arch);
    bool has_type = ken_gguf_get_str(L->g, key, &s);
    if (has_type && !ken_gguf_str_eq(s, "none") && !ken_gguf_str_eq(s, "linear"))
        return ken_err_set(L->err, KEN_ERR_UNSUPPORTED,
                           "rope scaling '%.*s' is not supported (none, linear)",
                           (int)KEN_MIN(s.n, 32), s.p);
    if (!has_type || ken_gguf_str_eq(s, "linear")) {
        if (key_f32(L, "rope.scaling.factor", &f) || key_f32(L, "rope.scale_linear", &f)) {
            if (!isfinite(f) || f < 0.0f)
                return ken_err_set(L->err, KEN_ERR_FORMAT, "invalid rope scaling factor");
            if (f > 0.0f) m->rope_freq_scale = 1.0f / f;
        }
    }
    uint64_t v;
    m->n_rot = m->head_dim;
    if (key_u64(L, "rope.dimension_count", &v)) {
        if (v == 0 || v > (uint64_t)m->head_dim || v % 2)
            return ken_err_set(L->err, KEN_ERR_UNSUPPORTED, "rope.dimension_count %llu invalid",
                               (unsigned long long)v);
        m->n_rot = (int64_t)v;
    }
    m->rope_neox = m->arch == KEN_ARCH_QWEN2 || m->arch == KEN_ARCH_QWEN3;
    return KEN_OK;
}

static ken_status read_hparams(loader *L, ken_model *m) {
    ken_status st;
    if ((st = hparam(L, "embedding_length", 1 << 16, &m->n_embd)) ||
        (st = hparam(L, "block_count", 1024, &m->n_layer)) ||
        (st = hparam(L, "feed_forward_length", 1 << 20, &m->n_ff)) ||
        (st = hparam(L, "attention.head_count", 1024, &m->n_head)) ||
        (st = hparam(L, "context_length", KEN_MODEL_MAX_CTX * (int64_t)64, &m->n_ctx_train)))
        return st;
    m->n_head_kv = m->n_head;
    uint64_t v;
    if (key_u64(L, "attention.head_count_kv", &v)) {
        if ((st = hparam(L, "attention.head_count_kv", m->n_head, &m->n_head_kv))) return st;
    }
    if (m->n_head % m->n_head_kv)
        return ken_err_set(L->err, KEN_ERR_UNSUPPORTED, "head_count %lld is not a multiple of "
                           "head_count_kv %lld", (long long)m->n_head, (long long)m->n_head_kv);
    m->head_dim = m->n_embd / m->n_head;
    if (key_u64(L, "attention.key_length", &v)) {
        uint64_t vl = v;
        key_u64(L, "attention.value_length", &vl);
        if (v == 0 || v > 1024 || vl != v)
            return ken_err_set(L->err, KEN_ERR_UNSUPPORTED, "attention key/value length %llu/%llu "
                               "not supported", (unsigned long long)v, (unsigned long long)vl);
        m->head_dim = (int64_t)v;
    } else if (m->n_embd % m->n_head || m->head_dim > 1024) {
        return ken_err_set(L->err, KEN_ERR_UNSUPPORTED, "embedding_length %lld / head_count %lld "
                           "is not a supported head size", (long long)m->n_embd,
                           (long long)m->n_head);
    }
    const char *eps_key = m->arch == KEN_ARCH_BERT ? "attention.layer_norm_epsilon"
                                                   : "attention.layer_norm_rms_epsilon";
    m->eps = m->arch == KEN_ARCH_BERT ? 1e-12f : 1e-5f;
    float f;
    if (key_f32(L, eps_key, &f)) {
        if (!(f >= 0.0f) || !isfinite(f))
            return ken_err_set(L->err, KEN_ERR_FORMAT, "invalid %s", eps_key);
        m->eps = f;
    }
    m->causal = m->arch != KEN_ARCH_BERT;
    bool b;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.causal", L->arch);
    if (ken_gguf_get_bool(L->g, key, &b)) m->causal = b;
    m->pooling = m->arch == KEN_ARCH_BERT ? KEN_POOLING_CLS : KEN_POOLING_NONE;
    if (m->arch == KEN_ARCH_BERT && key_u64(L, "pooling_type", &v)) {
        if (v > KEN_POOLING_RANK)
            return ken_err_set(L->err, KEN_ERR_UNSUPPORTED, "pooling type %llu not supported",
                               (unsigned long long)v);
        m->pooling = (ken_pooling)v;
    }
    if (m->arch == KEN_ARCH_BERT) return KEN_OK;
    return read_rope(L, m);
}

static ken_status load_layer(loader *L, ken_model *m, int64_t il) {
    ken_model_layer *y = &m->layers[il];
    char p[64], n[96];
    snprintf(p, sizeof p, "blk.%lld.", (long long)il);
    int64_t E = m->n_embd, nq = m->n_head * m->head_dim, nkv = m->n_head_kv * m->head_dim;
    bool enc = m->arch == KEN_ARCH_BERT;
    bool qkv_bias = enc || m->arch == KEN_ARCH_QWEN2;
    ken_status st;
#define LIN(field, suffix, nin, nout, bias) \
    snprintf(n, sizeof n, "%s" suffix, p); \
    if ((st = get_lin(L, n, nin, nout, true, bias, &y->field))) return st;
#define VEC(field, suffix, len, req) \
    snprintf(n, sizeof n, "%s" suffix, p); \
    if ((st = get_vec(L, n, len, req, &y->field))) return st;
    LIN(q, "attn_q", E, nq, qkv_bias)
    LIN(k, "attn_k", E, nkv, qkv_bias)
    LIN(v, "attn_v", E, nkv, qkv_bias)
    LIN(o, "attn_output", nq, E, true)
    LIN(up, "ffn_up", E, m->n_ff, true)
    LIN(down, "ffn_down", m->n_ff, E, true)
    if (enc) {
        VEC(norm1, "attn_output_norm.weight", E, true)
        VEC(norm1_b, "attn_output_norm.bias", E, true)
        VEC(norm2, "layer_output_norm.weight", E, true)
        VEC(norm2_b, "layer_output_norm.bias", E, true)
        snprintf(n, sizeof n, "%sffn_gate.weight", p);
        if (ken_gguf_tensor_find(L->g, n))
            return ken_err_set(L->err, KEN_ERR_UNSUPPORTED,
                               "bert with a gated FFN (%s) is not supported", n);
    } else {
        LIN(gate, "ffn_gate", E, m->n_ff, true)
        VEC(norm1, "attn_norm.weight", E, true)
        VEC(norm2, "ffn_norm.weight", E, true)
        if (m->arch == KEN_ARCH_QWEN3) {
            VEC(q_norm, "attn_q_norm.weight", m->head_dim, true)
            VEC(k_norm, "attn_k_norm.weight", m->head_dim, true)
        }
    }
#undef LIN
#undef VEC
    return KEN_OK;
}

static ken_status load_tensors(loader *L, ken_model *m) {
    ken_status st;
    int64_t E = m->n_embd;
    if ((st = get_mat(L, "token_embd.weight", E, -1, true, &m->tok_embd))) return st;
    m->n_vocab = m->tok_embd.n_out;
    if (m->arch == KEN_ARCH_BERT) {
        if ((st = get_mat(L, "position_embd.weight", E, -1, true, &m->pos_embd)) ||
            (st = get_mat(L, "token_types.weight", E, -1, false, &m->type_embd)) ||
            (st = get_vec(L, "token_embd_norm.weight", E, true, &m->embd_norm)) ||
            (st = get_vec(L, "token_embd_norm.bias", E, true, &m->embd_norm_b)))
            return st;
        if (m->pos_embd.n_out < m->n_ctx_train) m->n_ctx_train = m->pos_embd.n_out;
        if ((st = get_lin(L, "cls", E, E, false, true, &m->cls))) return st;
        int64_t in = E;
        if ((st = get_lin(L, "cls.output", in, -1, false, true, &m->cls_out))) return st;
        m->n_cls_out = m->cls_out.w.data ? m->cls_out.w.n_out : (m->cls.w.data ? m->cls.w.n_out : 0);
    } else {
        if ((st = get_vec(L, "output_norm.weight", E, true, &m->out_norm)) ||
            (st = get_mat(L, "output.weight", E, m->n_vocab, false, &m->output)))
            return st;
        if (!m->output.data) m->output = m->tok_embd;
        if ((st = get_vec(L, "rope_freqs.weight", m->n_rot / 2, false, &m->rope_freqs))) return st;
    }
    m->layers = calloc((size_t)m->n_layer, sizeof *m->layers);
    if (!m->layers) return ken_err_set(L->err, KEN_ERR_NOMEM, "out of memory");
    for (int64_t il = 0; il < m->n_layer; il++)
        if ((st = load_layer(L, m, il))) return st;
    return KEN_OK;
}

ken_status ken_model_load(const ken_gguf *g, ken_model **out, ken_err *err) {
    *out = NULL;
    ken_model *m = calloc(1, sizeof *m);
    if (!m) return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    m->g = g;
    loader L = {.g = g, .err = err};
    ken_gguf_str s;
    if (ken_gguf_get_str(g, "general.name", &s))
        snprintf(m->name, sizeof m->name, "%.*s", (int)KEN_MIN(s.n, 127), s.p);
    ken_status st = read_arch(&L, m);
    if (!st) st = read_hparams(&L, m);
    if (!st) st = load_tensors(&L, m);
    if (!st && ken_gguf_find(g, "tokenizer.ggml.model")) st = ken_tok_load(g, &m->vocab, err);
    if (!st && m->vocab && ken_vocab_n_tokens(m->vocab) > m->n_vocab && !ken_model_is_encoder(m))
        st = ken_err_set(err, KEN_ERR_FORMAT, "tokenizer has %d tokens but the model only %lld",
                         ken_vocab_n_tokens(m->vocab), (long long)m->n_vocab);
    if (st) {
        ken_model_free(m);
        return st;
    }
    *out = m;
    return KEN_OK;
}

static void free_lin(ken_model_lin *l) { free(l->b); }

void ken_model_free(ken_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int64_t i = 0; i < m->n_layer; i++) {
            ken_model_layer *y = &m->layers[i];
            free(y->norm1); free(y->norm1_b); free(y->norm2); free(y->norm2_b);
            free(y->q_norm); free(y->k_norm);
            free_lin(&y->q); free_lin(&y->k); free_lin(&y->v); free_lin(&y->o);
            free_lin(&y->gate); free_lin(&y->up); free_lin(&y->down);
        }
        free(m->layers);
    }
    free(m->embd_norm); free(m->embd_norm_b); free(m->out_norm); free(m->out_norm_b);
    free(m->rope_freqs);
    free_lin(&m->cls); free_lin(&m->cls_out);
    ken_vocab_free(m->vocab);
    ken_gguf_close(m->owned_g);
    free(m);
}
