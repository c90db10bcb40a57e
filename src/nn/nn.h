/* nn.h: tensor data types, quantization, dot-product kernels, matrix products
 * and the thread pool of ken's inference engine.
 *
 * Types are ggml's (ken_dtype from gguf/gguf.h) with ggml's exact block
 * layouts, so GGUF tensors are used in place (mmap'd, never converted).
 *
 * Ownership: nothing here allocates behind the caller's back except
 * ken_pool_new (freed by ken_pool_free) and ken_nn_work (scratch the caller
 * owns, released with ken_nn_work_free). Every pointer argument is borrowed
 * for the duration of the call. Row functions take n = number of elements,
 * which must be a multiple of the type's block size (checked with asserts;
 * use ken_nn_row_bytes to validate sizes coming from files: it returns 0 for
 * bad combinations). Quantized rows must be 2-byte aligned (blocks hold F16
 * fields; GGUF tensor data always is), Q8_K rows 4-byte aligned.
 *
 * Numerics follow llama.cpp's CPU backend:
 *  - ken_nn_quantize_row is the reference quantizer (ggml's
 *    quantize_row_*_ref; no importance matrix): byte-identical to
 *    llama-quantize's output.
 *  - a matrix product quantizes the activation row first, to the type
 *    ken_nn_act_type(weight type) returns (Q8_0, Q8_1, Q8_K, F16, BF16 or
 *    F32), exactly as llama.cpp's x86 code does (ken_nn_quantize_act), then
 *    computes integer dot products per block and scales them.
 *  - every kernel has a scalar reference (the _ref functions, the definition
 *    of correctness) and SIMD variants picked at run time by CPU feature
 *    detection; tests compare them. */
#ifndef KEN_NN_H
#define KEN_NN_H

#include "gguf/gguf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ types */

/* True for the types nn can dequantize and multiply: F32, F16, BF16, Q4_0,
 * Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K..Q6_K, Q8_K. */
bool ken_nn_type_ok(ken_dtype t);
/* True for the weight types ken_nn_quantize_row can produce (all of the
 * above except the activation-only Q8_1 and Q8_K). */
bool ken_nn_can_quantize(ken_dtype t);
int64_t ken_nn_block(ken_dtype t);            /* elements per block; 0 if unsupported */
size_t ken_nn_block_bytes(ken_dtype t);       /* bytes per block; 0 if unsupported */
/* Bytes of a row of n elements; 0 when t is unsupported, n <= 0, n is not a
 * multiple of the block size, or the size would overflow. */
size_t ken_nn_row_bytes(ken_dtype t, int64_t n);
/* The activation type llama.cpp pairs with weight type w in a matrix
 * product: Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for K-quants,
 * F16 for F16, BF16 for BF16, F32 for F32. */
ken_dtype ken_nn_act_type(ken_dtype w);

/* Scalar conversions (round to nearest even, like F16C / ggml). */
float ken_nn_fp16_to_fp32(uint16_t h);
uint16_t ken_nn_fp32_to_fp16(float f);
float ken_nn_bf16_to_fp32(uint16_t h);
uint16_t ken_nn_fp32_to_bf16(float f);

/* ------------------------------------------------------------ rows */

/* src[n] of type t -> dst[n] floats (exact, as ggml's dequantize_row_*). */
void ken_nn_dequantize_row(ken_dtype t, const void *src, float *dst, int64_t n);
/* Reference quantizer for model files: src[n] floats -> dst
 * (ken_nn_row_bytes(t, n) bytes). t must satisfy ken_nn_can_quantize. */
void ken_nn_quantize_row(ken_dtype t, const float *src, void *dst, int64_t n);
/* Quantizes a whole tensor: n_rows rows of n_per_row floats (row-major) to
 * type t into dst (n_rows · ken_nn_row_bytes(t, n_per_row) bytes), rows
 * shared out over the pool's threads (pool may be NULL); the bytes do not
 * depend on the thread count. KEN_ERR_INVALID for a type that cannot be
 * quantized or a bad shape, KEN_ERR_FORMAT when src holds NaN, infinity or
 * a magnitude above 2^100 (ken_nn_quantize_row itself requires such sane
 * input: its float-to-integer conversions would overflow). */
typedef struct ken_pool ken_pool;
ken_status ken_nn_quantize_rows(ken_pool *pool, ken_dtype t, const float *src, int64_t n_rows,
                                int64_t n_per_row, void *dst);
/* Activation quantizer used by the matrix products (act = Q8_0, Q8_1, Q8_K,
 * F16, BF16 or F32): Q8_0/Q8_1 as llama.cpp's x86 path (scale 127/amax,
 * round half to even), Q8_K as ggml's reference. */
void ken_nn_quantize_act(ken_dtype act, const float *x, void *dst, int64_t n);

/* ------------------------------------------------------------ dot products */

/* w: one row of weight type wt; x: the activation row already quantized to
 * ken_nn_act_type(wt); n elements. Returns Σ w·x. */
typedef float (*ken_nn_dot_fn)(const void *w, const void *x, int64_t n);

typedef enum {
    KEN_NN_SIMD_NONE = 0,   /* scalar reference */
    KEN_NN_SIMD_AVX2 = 1,   /* AVX2 + FMA + F16C */
    KEN_NN_SIMD_AVX512 = 2, /* AVX-512 F/BW/VL + VNNI (where a kernel exists) */
    KEN_NN_SIMD_NEON = 3,   /* arm64: ARMv8.0 NEON */
    KEN_NN_SIMD_NEON_DOT = 4, /* arm64: NEON + the ARMv8.2 dot product (SDOT) */
    KEN_NN_SIMD_COUNT
} ken_nn_simd;

/* The best level this CPU supports (detected once). */
ken_nn_simd ken_nn_simd_detected(void);
/* The level used by ken_nn_vec_dot and the matrix products: the detected
 * one unless lowered with ken_nn_simd_set (tests, benchmarks); returns the
 * level in effect (never above what the CPU supports; a level of the other
 * architecture gives the next lower level this CPU has). Not thread-safe:
 * call before starting work. */
ken_nn_simd ken_nn_simd_set(ken_nn_simd level);
ken_nn_simd ken_nn_simd_get(void);
const char *ken_nn_simd_name(ken_nn_simd level);

/* The kernel for weight type wt at exactly this level, or NULL when that
 * level has no kernel of its own for wt (or the CPU lacks it). Level NONE
 * always returns the reference for supported types. */
ken_nn_dot_fn ken_nn_dot_kernel(ken_dtype wt, ken_nn_simd level);
/* The kernel in use: the highest level <= ken_nn_simd_get() that has one. */
ken_nn_dot_fn ken_nn_dot_best(ken_dtype wt);

float ken_nn_vec_dot(ken_dtype wt, const void *w, const void *x, int64_t n);
float ken_nn_vec_dot_ref(ken_dtype wt, const void *w, const void *x, int64_t n);

/* y[i] += a · x[i] for i < n, x in F16 (attention's weighted sum of value
 * rows): each element is the scalar expression y[i] + a · (float)x[i],
 * rounded after the product and after the sum (no FMA), at every SIMD
 * level, so results do not depend on the level. */
void ken_nn_axpy_f16(float *y, float a, const uint16_t *x, int64_t n);

/* F32 products between activation matrices (attention over a batch), on
 * the packed-panel GEMM where the level in use has one (AVX-512):
 *   rows form: y[t·ys + r] = Σ_k w[r·ws + k] · x[t·xs + k]   (scores = K·qᵀ)
 *   cols form: y[t·ys + r] = Σ_k w[k·ws + r] · x[t·xs + k]   (out = p·V)
 * for r < nr, t < nt, k < n; one FMA per product, k in order. scratch holds
 * ken_nn_gemm_f32_scratch(nr, n) floats (the packed w). Return false, doing
 * nothing, when there is no such GEMM: the caller then loops itself. */
int64_t ken_nn_gemm_f32_scratch(int64_t nr, int64_t n);
/* x[i] = e^(s_i − max) / Σ_j e^(s_j − max), s_i = scale·x[i] (attention's
 * softmax) with SIMD at the same level: the max, products, differences,
 * double sum and reciprocal as the scalar softmax, e^ within 2 ulp of expf.
 * False, doing nothing, when the level has none. */
bool ken_nn_softmax_f32(float *x, int64_t n, float scale);
bool ken_nn_gemm_f32_rows(const float *w, int64_t ws, int64_t nr, const float *x, int64_t xs,
                          int64_t nt, int64_t n, float *y, int64_t ys, float *scratch);
bool ken_nn_gemm_f32_cols(const float *w, int64_t ws, int64_t nr, const float *x, int64_t xs,
                          int64_t nt, int64_t n, float *y, int64_t ys, float *scratch);

/* ------------------------------------------------------------ thread pool */

/* A fixed set of worker threads that share out the chunks of a job.
 * ken_pool_run(p, n_chunks, fn, ctx) calls fn(ctx, chunk, ith) exactly once
 * for every chunk in [0, n_chunks), on whichever threads get there first
 * (ith = index of the calling thread, 0 = the caller, for per-thread
 * scratch), and returns as soon as every chunk is done. A worker that is
 * slow to wake (another process holds its core) just takes fewer chunks;
 * the caller never waits for a thread that has no chunk. fn must give the
 * same result whichever thread runs a chunk.
 * Idle workers poll briefly, then sleep on a condition variable, so an idle
 * pool costs nothing when another process needs the cores. One run at a time
 * per pool (concurrent runs on one pool are a programmer error, asserted). */
typedef void (*ken_pool_fn)(void *ctx, int64_t chunk, int ith);

#define KEN_POOL_MAX_THREADS 256
/* n_threads in 1..KEN_POOL_MAX_THREADS (1 = no workers, runs inline). */
ken_status ken_pool_new(int n_threads, ken_pool **out);
void ken_pool_free(ken_pool *p);                  /* NULL is a no-op */
int ken_pool_threads(const ken_pool *p);          /* 1 for NULL */
/* p may be NULL: then the chunks run in order on the caller. */
void ken_pool_run(ken_pool *p, int64_t n_chunks, ken_pool_fn fn, void *ctx);
/* How long idle threads poll before sleeping, in pause iterations
 * (default KEN_POOL_SPIN_DEFAULT; 0 = sleep at once). */
#define KEN_POOL_SPIN_DEFAULT 2048u
void ken_pool_set_spin(ken_pool *p, uint32_t spin_iters);
/* Splits [0, n) into nth nearly equal contiguous ranges; range ith. */
void ken_pool_split(int64_t n, int ith, int nth, int64_t *begin, int64_t *end);

/* ------------------------------------------------------------ products */

/* Scratch memory for the quantized activations; grows as needed (capped by
 * KEN_NN_WORK_MAX). Zero-initialize, release with ken_nn_work_free. */
typedef struct {
    void *data;
    size_t cap;
} ken_nn_work;
#define KEN_NN_WORK_MAX ((size_t)1 << 32)
void ken_nn_work_free(ken_nn_work *w);

/* A weight matrix of n_out rows of n_in elements of type type (row i =
 * output feature i), rows packed at ken_nn_row_bytes(type, n_in) bytes. */
typedef struct {
    ken_dtype type;
    int64_t n_in, n_out;
    const void *data;
} ken_nn_mat;

/* y[t][o] = Σ_i W[o][i] · x[t][i] for t < n_tok, o < n_out.
 * x is [n_tok][n_in] floats, y is [n_tok][n_out] floats (must not overlap x).
 * The activation rows are quantized once, then output rows are split across
 * the pool's threads: each output value is computed by exactly one thread in
 * the same order whatever the thread count, so results do not depend on it.
 * Quantized weights: a batch gives the one-token results bit for bit (Q8_0,
 * Q5_0, Q4_0, Q4_K and Q6_K with 4 or more tokens on AVX-512 VNNI CPUs goes through an integer GEMM
 * built to give those same bits). Float
 * weights (F32, F16, BF16) with 4 or more tokens go through a blocked F32
 * GEMM (weight rows widened to F32 once per tile of 48 tokens): the same
 * products, summed in another order than the one-token kernel.
 * pool may be NULL (single thread); work may be NULL (scratch allocated and
 * freed within the call). Errors: KEN_ERR_INVALID (bad type or
 * shape), KEN_ERR_NOMEM / KEN_ERR_LIMIT (scratch). */
ken_status ken_nn_matmul(ken_pool *pool, const ken_nn_mat *w, const float *x, int64_t n_tok,
                         float *y, ken_nn_work *work);
/* The same for one token. */
ken_status ken_nn_matvec(ken_pool *pool, const ken_nn_mat *w, const float *x, float *y,
                         ken_nn_work *work);

#endif
