/* model_int.h: what the files of src/model share privately: the session
 * struct and the numeric primitives (norms, RoPE, softmax, GELU) written to
 * round the way llama.cpp's CPU backend does. */
#ifndef KEN_MODEL_INT_H
#define KEN_MODEL_INT_H

#include "ken_infer.h"
#include "model/model.h"

typedef struct {
    const ken_lora *l;
    float scale;               /* user scale */
} ken_lora_use;

struct ken_model_ctx {
    const ken_model *m;
    int64_t n_ctx, n_batch, n_past;
    ken_kv_type kv_type;
    void **kc, **vc;           /* per layer [n_ctx][n_head_kv·head_dim] of kv_type */
    int n_threads;
    ken_pool *pool;            /* NULL when single-threaded */
    ken_nn_work work;          /* quantized activation rows */

    /* per-batch scratch, [n_batch][width]; a decoder's FFN runs on blocks
     * of KEN_MODEL_FFN_BLOCK tokens, so its g and u hold one block and y
     * is n_embd wide */
    float *x, *h, *q, *k, *v, *att, *g, *u, *y;
    float *scores;             /* [n_threads][n_ctx] attention rows */
    float *attn_ws;            /* [n_threads][ken_model_attn_ws_floats] (encoders) or
                                  [ken_model_dec_attn_ws_floats] (decoders; may be NULL) */
    float *rope_cs;            /* [n_batch][n_rot] cos/sin pairs */

    /* LoRA */
    ken_lora_use lora[KEN_MODEL_MAX_LORA];
    int n_lora;
    float *lora_ab, *lora_out; /* [n_batch][r_max], [n_batch][w_max] */
    int64_t lora_r_max;

    /* outputs of the last call */
    float *hidden;             /* [hidden_cap][n_embd] */
    int64_t hidden_rows, hidden_cap;
    float *logits;             /* [logits_cap][n_vocab] */
    int64_t logits_rows, logits_cap;
    float *pool_tmp;           /* [n_embd] for the rerank head */
};

/* The public session (ken_infer.h): a model context plus its adapters. */
struct ken_ctx {
    ken_model *m;
    ken_model_ctx *mc;
    ken_lora *lora[KEN_MODEL_MAX_LORA];
    int n_lora;
    ken_err err;
};

/* y[n][w.n_out] = W x[n][w.n_in] with llama.cpp's activation quantization. */
ken_status ken_model_matmul(ken_model_ctx *c, const ken_nn_mat *w, const float *x, int64_t n,
                            float *y);
/* Per-thread scratch of the encoder's attention on the batch GEMM (packed
 * keys or values and a block of score rows) for batches of n_batch. */
int64_t ken_model_attn_ws_floats(const ken_model *m, int64_t n_batch);
int64_t ken_model_dec_attn_ws_floats(const ken_model *m, int64_t n_ctx);
/* Runs fn(ctx, chunk, ith) for every chunk in [0, n_chunks) on the
 * context's threads (ith = the thread's index, for per-thread scratch). */
void ken_model_parallel(ken_model_ctx *c, int64_t n_chunks, void (*fn)(void *, int64_t, int),
                        void *ctx);

/* y = x / sqrt(mean(x²) + eps) · w (w may be NULL), one row of n. */
void ken_model_rmsnorm(const float *x, const float *w, float eps, float *y, int64_t n);
/* y = (x - mean) / sqrt(var + eps) · w + b, one row of n. */
void ken_model_layernorm(const float *x, const float *w, const float *b, float eps, float *y,
                         int64_t n);
/* In place softmax of x[n] (llama.cpp: float max, double sum). */
void ken_model_softmax(float *x, int64_t n);

#endif
