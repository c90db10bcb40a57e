/* model.h: the inference engine's internal API: load a decoder (llama,
 * qwen2, qwen3) or an encoder (bert) from an open GGUF file, run it over
 * tokens with a KV cache, apply LoRA adapters, sample.
 *
 * Ownership
 * - ken_model_load borrows the ken_gguf: matrices are used in place in its
 *   mapping (never copied), so the file must stay open while the model
 *   lives. Small 1-D tensors (norm weights, biases) are converted to owned
 *   F32 arrays. ken_model_free releases what the model owns (not the gguf).
 * - A ken_model_ctx (one inference session: KV cache, scratch, logits) is
 *   owned by its creator; it borrows the model (and the adapters attached
 *   to it), which must outlive it. One thread at a time per context; a
 *   model may be shared by several contexts.
 *
 * Tensor shapes: a weight matrix is n_out rows of n_in elements
 * (ken_nn_mat); activations are row-major [n_tokens][width]. */
#ifndef KEN_MODEL_MODEL_H
#define KEN_MODEL_MODEL_H

#include "base/base.h"
#include "gguf/gguf.h"
#include "nn/nn.h"
#include "tok/tok.h"

typedef enum {
    KEN_ARCH_LLAMA = 0, /* llama 2/3, mistral, smollm, tinyllama */
    KEN_ARCH_QWEN2,     /* + q/k/v biases, NEOX rope */
    KEN_ARCH_QWEN3,     /* + per-head q/k RMS norms, NEOX rope */
    KEN_ARCH_BERT       /* encoder: bert, minilm, bge, e5, gte */
} ken_model_arch;

/* llama.cpp's enum llama_pooling_type numbering. */
typedef enum {
    KEN_POOLING_UNSPEC = -1, KEN_POOLING_NONE = 0, KEN_POOLING_MEAN = 1, KEN_POOLING_CLS = 2,
    KEN_POOLING_LAST = 3, KEN_POOLING_RANK = 4
} ken_pooling;

/* A linear layer: W (absent when w.data is NULL) and an optional bias. */
typedef struct {
    ken_nn_mat w;
    float *b;       /* [w.n_out] or NULL; owned */
} ken_model_lin;

typedef struct {
    /* decoder: attn_norm / ffn_norm (RMS). bert: attn_output_norm /
     * layer_output_norm (LayerNorm, with biases). */
    float *norm1, *norm1_b, *norm2, *norm2_b;
    float *q_norm, *k_norm;            /* qwen3: [head_dim] */
    ken_model_lin q, k, v, o, gate, up, down;
} ken_model_layer;

/* A LoRA target: the (A, B) pair for one base matrix. A is [r][n_in]
 * (n_in inputs, r outputs), B is [n_out][r]. */
typedef struct {
    ken_nn_mat a, b;
} ken_lora_pair;

enum { KEN_LORA_Q, KEN_LORA_K, KEN_LORA_V, KEN_LORA_O, KEN_LORA_GATE, KEN_LORA_UP,
       KEN_LORA_DOWN, KEN_LORA_NTARGETS };

/* A LoRA adapter loaded from llama.cpp's adapter GGUF. It owns its gguf. */
typedef struct ken_lora {
    ken_gguf *g;
    float alpha;               /* adapter.lora.alpha (0: use rank, scale 1) */
    int n_layer;
    ken_lora_pair *pairs;      /* [n_layer][KEN_LORA_NTARGETS]; a.data NULL = none */
    int n_pairs;               /* how many are present */
} ken_lora;

typedef struct ken_model {
    ken_model_arch arch;
    const ken_gguf *g;         /* borrowed (ken_model_load) */
    ken_gguf *owned_g;         /* owned (public ken_model_open); closed by ken_model_free */
    ken_vocab *vocab;          /* owned; NULL when the file has no tokenizer */
    char name[128];

    /* hyper-parameters */
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int64_t n_ctx_train, n_rot;
    float rope_base, rope_freq_scale, eps;
    bool rope_neox, causal;
    ken_pooling pooling;       /* bert: from bert.pooling_type */
    int64_t n_cls_out;         /* rerank head outputs (0 when none) */

    /* tensors */
    ken_nn_mat tok_embd;       /* [n_vocab][n_embd] */
    ken_nn_mat pos_embd;       /* bert [n_ctx_train][n_embd] */
    ken_nn_mat type_embd;      /* bert [n_types][n_embd] (data may be NULL) */
    float *embd_norm, *embd_norm_b;          /* bert */
    float *out_norm, *out_norm_b;            /* decoder output_norm */
    ken_nn_mat output;         /* LM head (tok_embd when tied) */
    float *rope_freqs;         /* [n_rot/2] or NULL (llama 3.1 rope_freqs.weight) */
    ken_model_lin cls, cls_out;              /* rerank head (optional) */
    ken_model_layer *layers;   /* [n_layer] */
} ken_model;

/* Loads the model in g (which must stay open). Unsupported architectures,
 * tensor types or shapes and missing tensors give KEN_ERR_UNSUPPORTED or
 * KEN_ERR_FORMAT with a message naming the culprit. */
ken_status ken_model_load(const ken_gguf *g, ken_model **out, ken_err *err);
/* Frees m (and closes m->owned_g when set). */
void ken_model_free(ken_model *m);
bool ken_model_is_encoder(const ken_model *m);
const char *ken_model_arch_name(ken_model_arch a);

/* Loads a LoRA adapter file for model m (checks every pair's shapes against
 * m's matrices). */
ken_status ken_lora_load(const ken_model *m, const char *path, ken_lora **out, ken_err *err);
void ken_lora_free(ken_lora *l);

/* ------------------------------------------------------------ sessions */

typedef enum { KEN_KV_F32 = 0, KEN_KV_F16 = 1 } ken_kv_type;

#define KEN_MODEL_MAX_LORA 8
#define KEN_MODEL_MAX_CTX  (1 << 20)
#define KEN_MODEL_MAX_BATCH 4096
/* Tokens per block of a decoder's feed-forward pass (its gate/up activations
 * are the widest scratch: n_ff floats per token). */
#define KEN_MODEL_FFN_BLOCK 192

typedef struct {
    int64_t n_ctx;             /* 0: the model's context_length (capped at 4096) */
    int64_t n_batch;           /* tokens per forward pass; 0: 512 */
    ken_kv_type kv_type;       /* KV cache element type */
    int n_threads;             /* 0 or 1: single thread */
} ken_model_ctx_params;

typedef struct ken_model_ctx ken_model_ctx;

ken_status ken_model_ctx_new(const ken_model *m, const ken_model_ctx_params *p,
                             ken_model_ctx **out, ken_err *err);
void ken_model_ctx_free(ken_model_ctx *c);
int64_t ken_model_ctx_n_ctx(const ken_model_ctx *c);
int64_t ken_model_ctx_n_past(const ken_model_ctx *c);
/* Forgets the cached tokens (positions restart at 0). */
void ken_model_ctx_reset(ken_model_ctx *c);
/* Attaches an adapter with a user scale (effective scale
 * scale·alpha/rank). At most KEN_MODEL_MAX_LORA; the adapter must outlive
 * the context. Clearing detaches all. */
ken_status ken_model_ctx_add_lora(ken_model_ctx *c, const ken_lora *l, float scale,
                                  ken_err *err);
void ken_model_ctx_clear_lora(ken_model_ctx *c);

/* Decoder: runs tokens[0..n) at positions n_past.. (appending to the KV
 * cache) in batches of n_batch. all_logits: keep the logits of every
 * position of this call, else of the last one only. KEN_ERR_LIMIT when the
 * context would overflow (nothing is changed then); KEN_ERR_INVALID for an
 * id outside the vocabulary. */
ken_status ken_model_decode(ken_model_ctx *c, const int32_t *tokens, int64_t n,
                            bool all_logits, ken_err *err);
/* Logits of the last decode: rows [n_rows][n_vocab] (row r = the r-th kept
 * position), and the final hidden states (after output_norm) of every token
 * of that call [n][n_embd]. Valid until the next decode. */
const float *ken_model_logits(const ken_model_ctx *c, int64_t *n_rows);
const float *ken_model_hidden(const ken_model_ctx *c, int64_t *n_rows);

/* Encoder: runs one sequence tokens[0..n) (non-causal, positions from 0)
 * and returns the final token states [n][n_embd] (valid until the next
 * call). The KV cache is not used. */
ken_status ken_model_encode(ken_model_ctx *c, const int32_t *tokens, int64_t n,
                            const float **states, ken_err *err);
/* Pools states [n][n_embd] into out[n_embd] (NONE is refused; RANK pools
 * the CLS state through the classification head into out[n_cls_out]). */
ken_status ken_model_pool(ken_model_ctx *c, ken_pooling pooling, const float *states,
                          int64_t n, float *out, ken_err *err);
/* x /= ||x||_2 (left alone when the norm is zero). */
void ken_model_l2_normalize(float *x, int64_t n);

/* ------------------------------------------------------------ sampling */

typedef struct {
    float temperature;          /* <= 0: greedy */
    int32_t top_k;              /* <= 0: off */
    float top_p;                /* >= 1: off */
    float min_p;                /* <= 0: off */
    float repeat_penalty;       /* 1: off (llama.cpp's rule: divide positive, multiply negative) */
    float freq_penalty, presence_penalty;    /* 0: off */
    int32_t penalty_last_n;     /* window for penalties; 0: 64, -1: all */
    uint64_t seed;
} ken_sampler_params;

typedef struct ken_sampler ken_sampler;

ken_status ken_sampler_new(const ken_sampler_params *p, int32_t n_vocab, ken_sampler **out);
void ken_sampler_free(ken_sampler *s);
/* Picks a token from logits[n_vocab] (not modified); history is the
 * tokens seen so far (for the penalties). */
int32_t ken_sampler_sample(ken_sampler *s, const float *logits, const int32_t *history,
                           int64_t n_history);
/* Index of the largest value; ties go to the lower index. */
int32_t ken_model_argmax(const float *x, int64_t n);

/* ------------------------------------------------------------ numerics */

/* Exposed for tests: llama.cpp's GELU (tanh form, F16 input and table). */
float ken_model_gelu(float x);
/* The same computed without the table (its definition; tests compare). */
float ken_model_gelu_ref(float x);
/* x[i] = ken_model_gelu(x[i]) for a whole array. */
void ken_model_gelu_rows(float *x, int64_t n);

#endif
