/* nn_impl.h: nn's private declarations: ggml's block layouts (byte for byte,
 * as GGUF stores them), fp16 helpers, and the per-level kernel tables that
 * nn_dot.c dispatches to. Not for use outside src/nn and its tests. */
#ifndef KEN_NN_IMPL_H
#define KEN_NN_IMPL_H

#include "nn/nn.h"

#include <string.h>

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t ken_half;

typedef struct { ken_half d; uint8_t qs[QK4_0 / 2]; } blk_q4_0;
typedef struct { ken_half d, m; uint8_t qs[QK4_1 / 2]; } blk_q4_1;
typedef struct { ken_half d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } blk_q5_0;
typedef struct { ken_half d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } blk_q5_1;
typedef struct { ken_half d; int8_t qs[QK8_0]; } blk_q8_0;
/* s = d · Σ qs (F16), used by the Q4_1 / Q5_1 dot products for the min. */
typedef struct { ken_half d, s; int8_t qs[QK8_1]; } blk_q8_1;

/* K-quants: super-blocks of 256. */
typedef struct {
    uint8_t scales[QK_K / 16];  /* low nibble: scale, high nibble: min */
    uint8_t qs[QK_K / 4];       /* 2-bit quants */
    ken_half d, dmin;
} blk_q2_K;
typedef struct {
    uint8_t hmask[QK_K / 8];    /* high bit */
    uint8_t qs[QK_K / 4];       /* low 2 bits */
    uint8_t scales[12];         /* 16 scales of 6 bits */
    ken_half d;
} blk_q3_K;
typedef struct {
    ken_half d, dmin;
    uint8_t scales[K_SCALE_SIZE];   /* 8 scales + 8 mins of 6 bits */
    uint8_t qs[QK_K / 2];
} blk_q4_K;
typedef struct {
    ken_half d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} blk_q5_K;
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    ken_half d;
} blk_q6_K;
/* Activations for K-quant products; bsums[j] = Σ qs[16j .. 16j+15]. */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} blk_q8_K;

_Static_assert(sizeof(blk_q4_0) == 18, "q4_0");
_Static_assert(sizeof(blk_q4_1) == 20, "q4_1");
_Static_assert(sizeof(blk_q5_0) == 22, "q5_0");
_Static_assert(sizeof(blk_q5_1) == 24, "q5_1");
_Static_assert(sizeof(blk_q8_0) == 34, "q8_0");
_Static_assert(sizeof(blk_q8_1) == 36, "q8_1");
_Static_assert(sizeof(blk_q2_K) == 84, "q2_K");
_Static_assert(sizeof(blk_q3_K) == 110, "q3_K");
_Static_assert(sizeof(blk_q4_K) == 144, "q4_K");
_Static_assert(sizeof(blk_q5_K) == 176, "q5_K");
_Static_assert(sizeof(blk_q6_K) == 210, "q6_K");
_Static_assert(sizeof(blk_q8_K) == 292, "q8_K");

/* Blocks are read from mmap'd files at arbitrary alignment: everything
 * wider than a byte in them is read with memcpy. */
static inline float half_at(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return ken_nn_fp16_to_fp32(h);
}

static inline void put_half(ken_half *dst, float f) { *dst = ken_nn_fp32_to_fp16(f); }

/* Round to nearest, ties to even, for |f| < 2^22 (ggml's nearest_int). */
static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Scale and min j (0..7) of a Q4_K / Q5_K block's 12 packed bytes. */
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Scale j (0..15) of a Q3_K block, in -32..31. */
static inline int q3k_scale(const uint8_t *s, int j) {
    int lo = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* Quantizers (nn_quant.c, nn_kquant.c). n is a multiple of the block size. */
void ken_nn_quantize_q4_0(const float *x, blk_q4_0 *y, int64_t n);
void ken_nn_quantize_q4_1(const float *x, blk_q4_1 *y, int64_t n);
void ken_nn_quantize_q5_0(const float *x, blk_q5_0 *y, int64_t n);
void ken_nn_quantize_q5_1(const float *x, blk_q5_1 *y, int64_t n);
void ken_nn_quantize_q8_0(const float *x, blk_q8_0 *y, int64_t n);
void ken_nn_quantize_q2_K(const float *x, blk_q2_K *y, int64_t n);
void ken_nn_quantize_q3_K(const float *x, blk_q3_K *y, int64_t n);
void ken_nn_quantize_q4_K(const float *x, blk_q4_K *y, int64_t n);
void ken_nn_quantize_q5_K(const float *x, blk_q5_K *y, int64_t n);
void ken_nn_quantize_q6_K(const float *x, blk_q6_K *y, int64_t n);
void ken_nn_quantize_q8_K(const float *x, blk_q8_K *y, int64_t n);
void ken_nn_dequantize_kquant(ken_dtype t, const void *src, float *dst, int64_t n);

/* Kernel tables, indexed by ken_dtype; NULL where a level has none. */
#define KEN_NN_NTYPES 31
extern const ken_nn_dot_fn ken_nn_dot_ref_table[KEN_NN_NTYPES];
/* Multi-row form: out[k] = Σ w · (row k of x) for k < nx, the rows x_stride
 * bytes apart; each out[k] equals the one-row kernel of the same level on
 * that row, bit for bit (the matrix products rely on it). */
typedef void (*ken_nn_dotn_fn)(const void *w, const void *x, size_t x_stride, int64_t n, float *out);
#define KEN_NN_DOTN_MAX 4
/* Filled by nn_avx2.c (tn[type][nx] for nx = 2..4); nothing on other
 * architectures. */
void ken_nn_avx2_kernels(ken_nn_dot_fn t[KEN_NN_NTYPES],
                         ken_nn_dotn_fn tn[KEN_NN_NTYPES][KEN_NN_DOTN_MAX + 1]);
/* Filled by nn_avx512_dot.c: the one-token kernels of the AVX-512 level
 * (bit-identical to nn_avx2.c's); nothing elsewhere. */
void ken_nn_avx512_kernels(ken_nn_dot_fn t[KEN_NN_NTYPES]);
/* The nx-row kernel matching ken_nn_dot_best(wt), or NULL (then call the
 * one-row kernel per row). */
ken_nn_dotn_fn ken_nn_dotn_best(ken_dtype wt, int nx);

/* A register-blocked F32 product for float weight types with a batch:
 * y[t·ys + r] = Σ_k w[r·n + k] · x[t·n + k] for r < nr, t < nt. The matrix
 * products convert F16/BF16 weight rows (and the F16/BF16-rounded
 * activations, exactly) to F32 tiles and call it; the values match the
 * one-row kernels up to summation order. ken_nn_gemm_f32_ref defines it;
 * ken_nn_gemm_f32_best is the SIMD variant in use (the reference when
 * none). */
typedef void (*ken_nn_gemm_fn)(const float *w, int64_t nr, const float *x, int64_t nt, int64_t n,
                               float *y, int64_t ys);
void ken_nn_gemm_f32_ref(const float *w, int64_t nr, const float *x, int64_t nt, int64_t n,
                         float *y, int64_t ys);
ken_nn_gemm_fn ken_nn_gemm_f32_best(void);
/* Set by nn_avx2.c; NULL on other architectures. */
ken_nn_gemm_fn ken_nn_avx2_gemm(void);
/* F16 or BF16 row -> F32 (exact), SIMD where available: the GEMM widens
 * every weight tile with it. Same values as ken_nn_dequantize_row. */
typedef void (*ken_nn_widen_fn)(const void *src, float *dst, int64_t n);
ken_nn_widen_fn ken_nn_widen_best(ken_dtype t);
ken_nn_widen_fn ken_nn_avx2_widen(ken_dtype t);   /* NULL when none */

/* The arm64 NEON kernels (nn_neon.c): the dot products of the plain ARMv8.0
 * level (dot = false: every type) or of the dot-product level (dot = true:
 * the quantized types; only when ken_nn_neon_dot_supported()), the F32 GEMM,
 * widening and F16 axpy. Nothing / NULL / false on other architectures. */
bool ken_nn_neon_dot_supported(void);
void ken_nn_neon_kernels(bool dot, ken_nn_dot_fn t[KEN_NN_NTYPES],
                         ken_nn_dotn_fn tn[KEN_NN_NTYPES][KEN_NN_DOTN_MAX + 1]);
ken_nn_gemm_fn ken_nn_neon_gemm(void);
ken_nn_widen_fn ken_nn_neon_widen(ken_dtype t);

/* F32 GEMM over packed weight panels (nn_avx512_f32.c): pack_rows packs nr
 * rows of an F32/F16/BF16 matrix (rows rb bytes apart, n elements; widened
 * exactly) into ken_nn_f32_panel_floats(nr, n) floats; pack_cols packs the
 * transposed form W[r][k] = src[k·ss + r] (F32); gemm computes y[t·ys + r] =
 * Σ_k W[r][k]·x[t·xs + k] for r < nr, t < nt (one FMA per product, k in
 * order: ken_nn_gemm_f32_ref's values up to product rounding). */
typedef struct {
    void (*pack_rows)(ken_dtype t, const void *w, size_t rb, int64_t nr, int64_t n, float *dst);
    void (*pack_cols)(const float *src, int64_t ss, int64_t nr, int64_t n, float *dst);
    void (*gemm)(const float *wp, int64_t nr, const float *x, int64_t xs, int64_t nt, int64_t n,
                 float *y, int64_t ys);
    /* y[i] = x[i] rounded to F16 and back: exactly ken_nn_fp16_to_fp32(
     * ken_nn_fp32_to_fp16(x[i])) (the activations of F16 weights) */
    void (*round_f16)(const float *x, float *y, int64_t n);
    /* the halves themselves, ken_nn_fp32_to_fp16 of each (any alignment) */
    void (*to_f16)(const float *x, void *y, int64_t n);
    /* ken_nn_softmax_f32 */
    void (*softmax)(float *x, int64_t n, float scale);
} ken_nn_f32_gemm;
static inline int64_t ken_nn_f32_panel_floats(int64_t nr, int64_t n) { return (nr + 15) / 16 * 16 * n; }
/* Fills g at the level in use (AVX-512); false when there is none. */
bool ken_nn_f32_gemm_best(ken_nn_f32_gemm *g);
bool ken_nn_avx512_f32_gemm(ken_nn_f32_gemm *g);   /* false on other architectures */

/* ken_nn_axpy_f16 with AVX2 + F16C (nn_avx2.c); NULL elsewhere. */
typedef void (*ken_nn_axpy_fn)(float *y, float a, const uint16_t *x, int64_t n);
ken_nn_axpy_fn ken_nn_avx2_axpy_f16(void);
ken_nn_axpy_fn ken_nn_neon_axpy_f16(void);   /* nn_neon.c; NULL elsewhere */

/* Integer GEMM for quantized weights with a batch (nn_avx512.c): y[t·ys + r]
 * = Σ W[r]·X[t] for r < nr, t < nt, over rows packed by ken_nn_q8_0_pack
 * (weights ws bytes apart, activations xs bytes apart; n elements). Each
 * value equals the one-token kernel ken_nn_dot_best gives at the same level
 * on the unpacked rows, bit for bit. */
typedef void (*ken_nn_qgemm_fn)(const uint8_t *w, size_t ws, int64_t nr, const uint8_t *x,
                                size_t xs, int64_t nt, int64_t n, float *y, int64_t ys);
/* The GEMM for weight type wt at the level in use, or NULL (then the
 * multi-token dot products). */
ken_nn_qgemm_fn ken_nn_qgemm_best(ken_dtype wt);
ken_nn_qgemm_fn ken_nn_avx512_qgemm(ken_dtype wt);   /* NULL when none */
/* Packed Q8_0 row of n elements: the quants of its blocks back to back (as
 * unsigned x + 128 when act), then the n/32 scales as F32, zero-padded to
 * ken_nn_q8_0_packed_bytes(n) (a multiple of 64). dst 4-byte aligned. */
size_t ken_nn_q8_0_packed_bytes(int64_t n);
void ken_nn_q8_0_pack(const void *src, int64_t n, bool act, uint8_t *dst);
/* A weight row of type wt (Q8_0, Q5_0 or Q4_0) packed in that layout: Q4_0
 * and Q5_0 quants widened to signed bytes (their values), same scales. */
void ken_nn_qgemm_pack_w(ken_dtype wt, const void *src, int64_t n, uint8_t *dst);
/* Any GEMM weight type (the above, or Q4_K: its own super-block layout) and
 * its activations (already quantized to ken_nn_act_type(wt)): packed rows
 * of ken_nn_qgemm_packed_bytes(wt, n) bytes. */
size_t ken_nn_qgemm_packed_bytes(ken_dtype wt, int64_t n);
void ken_nn_qgemm_pack(ken_dtype wt, const void *src, int64_t n, uint8_t *dst);
void ken_nn_qgemm_pack_x(ken_dtype wt, const void *xq, int64_t n, uint8_t *dst);

#endif
