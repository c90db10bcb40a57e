/* ken_infer.h: local inference with GGUF models: text generation with
 * llama-family decoders, embeddings and reranking with bert-family
 * encoders, raw logits for conformance checks, LoRA adapters.
 *
 * A ken_model (weights mmap'd from the file, read-only) may be shared by
 * threads; a ken_ctx (one session: KV cache, scratch, sampler state) is used
 * by one thread at a time. Memory handed to the caller (logits, vectors,
 * text, error messages) is released with ken_free. */
#ifndef KEN_INFER_H
#define KEN_INFER_H

#include "ken.h"
#include "ken_tok.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ken_model ken_model;
typedef struct ken_ctx ken_ctx;

/* Opens and checks a GGUF model (llama, qwen2, qwen3, bert). On failure
 * *errmsg (when errmsg is not NULL) is a message the caller frees with
 * ken_free. KEN_ERR_UNSUPPORTED for architectures, tensor types or shapes
 * ken does not run. */
ken_status ken_model_open(const char *path, ken_model **out, char **errmsg);
void ken_model_close(ken_model *m);

/* The model's tokenizer (NULL when the file has none); owned by m. */
const ken_vocab *ken_model_vocab(const ken_model *m);
int ken_model_n_vocab(const ken_model *m);
int ken_model_n_embd(const ken_model *m);
int ken_model_n_ctx_train(const ken_model *m);
/* 1 for encoders (embeddings, reranking), 0 for decoders (generation). */
int ken_model_is_encoder_model(const ken_model *m);
/* 1 when the model has a classification head (a cross-encoder reranker). */
int ken_model_can_rerank(const ken_model *m);

typedef struct {
    uint32_t size;
    int n_threads;       /* 0 or 1: one thread */
    int n_ctx;           /* context length; 0: the model's (at most 4096) */
    int kv_f32;          /* keep the KV cache in F32 (default F16) */
} ken_ctx_opts;

ken_status ken_ctx_new(ken_model *m, const ken_ctx_opts *opts, ken_ctx **out, char **errmsg);
void ken_ctx_free(ken_ctx *c);
/* The message of the last failure on c ("" if none). */
const char *ken_ctx_errmsg(const ken_ctx *c);

/* Applies a LoRA adapter (llama.cpp's adapter GGUF) on top of the model's
 * weights with a user scale: y = W·x + scale·alpha/rank·B(A·x). Several may
 * be added (at most 8); the base weights are not modified. */
ken_status ken_ctx_add_lora(ken_ctx *c, const char *path, float scale);

/* Runs tokens[0..n) from an empty cache and returns the logits of every
 * position: *logits is [n][n_vocab] floats, freed with ken_free. */
ken_status ken_ctx_logits(ken_ctx *c, const int32_t *tokens, size_t n, float **logits);

/* Generation. A zeroed struct (with size set) is greedy, 256 tokens,
 * stopping at end-of-generation tokens. */
typedef struct {
    uint32_t size;
    int max_tokens;              /* 0: 256 */
    float temperature;           /* <= 0: greedy */
    int top_k;                   /* <= 0: off */
    float top_p;                 /* 0 or >= 1: off */
    float min_p;                 /* 0: off */
    float repeat_penalty;        /* 0 or 1: off */
    float freq_penalty, presence_penalty;
    int penalty_last_n;          /* 0: 64, -1: all */
    uint64_t seed;               /* same seed, same output */
    const char *const *stop;     /* stop strings (not included in the output) */
    size_t n_stop;
    int ignore_eog;              /* keep going past end-of-generation tokens */
    int parse_special;           /* prompt: turn special-token text into tokens */
    /* Called once per generated token with the text that became final (it
     * may be empty: text that could start a stop string or an incomplete
     * UTF-8 sequence is held back); after the last token, held-back text
     * that turned out final comes in one more call with id -1. Non-zero
     * return stops generation. */
    int (*on_token)(void *ud, int32_t id, const char *text, size_t len);
    void *ud;
} ken_gen_opts;

typedef enum {
    KEN_STOP_MAX_TOKENS = 0, KEN_STOP_EOG, KEN_STOP_STRING, KEN_STOP_CALLBACK, KEN_STOP_CONTEXT
} ken_stop_reason;

typedef struct {
    size_t n_prompt, n_generated;
    ken_stop_reason reason;
    double prompt_s, gen_s;      /* wall time of prompt processing / generation */
} ken_gen_stats;

/* Generates a continuation of prompt (tokenized as the model's metadata
 * says: BOS when add_bos). *text (optional) receives the whole output,
 * freed with ken_free. The cache is reset first. */
ken_status ken_generate(ken_ctx *c, const char *prompt, size_t len, const ken_gen_opts *opts,
                        char **text, size_t *text_len, ken_gen_stats *stats);

/* Pooling for ken_embed: -1 = the model's own (bert.pooling_type; LAST for
 * decoders), else 1 = mean, 2 = CLS, 3 = last. */
#define KEN_EMBED_POOL_MODEL (-1)
/* Embeds text (add_special as the vocab says, e.g. [CLS] … [SEP]) into
 * *vec[*dim] floats (freed with ken_free), L2-normalized when normalize. */
ken_status ken_embed(ken_ctx *c, const char *text, size_t len, int pooling, int normalize,
                     float **vec, size_t *dim);
/* Relevance of passage to query with a cross-encoder (rank pooling: the
 * classification head over [CLS] query [SEP] passage [SEP]). */
ken_status ken_rerank(ken_ctx *c, const char *query, size_t qlen, const char *passage,
                      size_t plen, float *score);

/* Writes the model at in to out with its weight matrices converted to type
 * ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K",
 * "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M",
 * "Q6_K"), choosing each tensor's type by llama-quantize's rules (without
 * an importance matrix): the same tensor types and bytes as llama-quantize.
 * Norms, biases and position embeddings are copied. Quantized inputs are
 * dequantized first. The file is written atomically. */
ken_status ken_model_quantize(const char *in, const char *out, const char *type, char **errmsg);

/* A random-weight model (tests, benchmarks) with the tokenizer of another
 * GGUF. Sizes left at 0 come from the preset ("tiny" by default: n_embd 64,
 * 2 layers, 4/2 heads, n_ff 128, context 256; "small", "medium", "large").
 * Deterministic for a given seed. type: NULL/"F32" or a ken_model_quantize
 * type. */
typedef struct {
    uint32_t size;
    const char *arch;        /* "llama", "qwen2", "qwen3", "bert" */
    const char *vocab;       /* GGUF whose tokenizer.* keys are copied */
    const char *preset;      /* NULL: "tiny" */
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    int tied;                /* decoders: no output.weight (LM head = token_embd) */
    int pooling;             /* bert: 1 mean, 2 CLS (default), 3 last */
    uint64_t seed;
    const char *type;
} ken_random_opts;
ken_status ken_model_random(const ken_random_opts *opts, const char *out, char **errmsg);

/* Throughput benchmark in llama-bench's terms. Decoders: pp = one batch of
 * n_prompt random tokens from an empty cache (tokens/s of that batch), tg =
 * n_gen random tokens decoded one at a time from an empty cache. Encoders:
 * embd = embd_batch sequences of embd_seq random tokens encoded and pooled
 * (tokens/s over the batch). Each is repeated reps times after one warm-up
 * run (which also pages the mapped weights in); the median, min and max
 * are reported. A zeroed struct (with size set) is pp512 / tg128 / 5 reps /
 * 1 thread; embeddings 8 sequences of 128 tokens. */
typedef struct {
    uint32_t size;
    int n_threads;       /* 0 or 1: one thread */
    int n_prompt;        /* 0: 512; < 0: no pp test */
    int n_gen;           /* 0: 128; < 0: no tg test */
    int reps;            /* 0: 5 (at most 1000) */
    int embd_seq;        /* encoders: tokens per sequence; 0: 128 (at most the context) */
    int embd_batch;      /* encoders: sequences per repetition; 0: 8 */
    int kv_f32;          /* F32 KV cache (default F16, as llama-bench) */
    uint64_t seed;       /* random token ids */
} ken_bench_opts;

typedef struct {
    double med, min, max;    /* tokens/s; all 0 when the test did not run */
    /* median of process CPU time / (wall time × threads) over the runs:
     * near 1 when the threads had their cores, lower when other processes
     * took them (then med / cpu_share estimates the unshared figure) */
    double cpu_share;
} ken_bench_stat;

typedef struct {
    int n_threads, reps, n_prompt, n_gen, embd_seq, embd_batch;
    int is_encoder;
    ken_bench_stat pp, tg, embd;
    uint64_t model_bytes;    /* the GGUF file's size */
    uint64_t kv_bytes;       /* KV cache of the session used (decoders) */
} ken_bench_result;

ken_status ken_model_bench(ken_model *m, const ken_bench_opts *opts, ken_bench_result *out,
                           char **errmsg);

#ifdef __cplusplus
}
#endif
#endif
