/* nn_neon.c: arm64 NEON kernels: the dot products of every weight type (one
 * activation row and, for the quantized types, 2..4 rows sharing the weight
 * decoding), the F32 GEMM of the float batch path, F16/BF16 widening and the
 * F16 axpy. Two integer levels: plain ARMv8.0 NEON (widening multiplies)
 * and the ARMv8.2 dot-product instruction (SDOT), the latter compiled with a
 * target attribute and installed by nn_dot.c only when the kernel reports
 * it (getauxval HWCAP_ASIMDDP). The level-specific bodies live in
 * nn_neon_body.h, included once per level.
 *
 * Every quantized kernel forms the reference's exact integer sum for each
 * block (32 values) or super-block (256) and then evaluates the reference's
 * float expression in the reference's order, so it equals its _ref twin in
 * nn_dot.c bit for bit, at both levels; F32/F16/BF16 keep four float lanes
 * and differ from the (double-accumulating) references by rounding only.
 * On other architectures only the NULL-returning hooks are compiled. */
#include "nn/nn_impl.h"

#if defined(__aarch64__)

#include <arm_neon.h>
#include <sys/auxv.h>

/* The scalar float expressions must round like nn_dot.c's references: no
 * FMA contraction (GCC in ISO mode does none; clang would). */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

/* SDOT through its intrinsic needs the feature on the function: GCC's
 * arm_neon.h declares it under arch=armv8.2-a+dotprod, clang >= 16 under
 * target("dotprod"); clang 14/15 declare it only when the whole file is
 * built for it (then the plain level is the only one, unless -march has it). */
#if defined(__clang__)
#if __clang_major__ >= 16
#define HAVE_DOTPROD 1
#define TGT_DOT __attribute__((target("dotprod")))
#elif defined(__ARM_FEATURE_DOTPROD)
#define HAVE_DOTPROD 1
#define TGT_DOT
#else
#define HAVE_DOTPROD 0
#endif
#else
#define HAVE_DOTPROD 1
#define TGT_DOT __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

#define INLINE __attribute__((always_inline)) inline
#define NX_MAX 4

/* ------------------------------------------------------------ shared helpers */

/* Σ a·b over 16 signed bytes into 4 int32 lanes, ARMv8.0: exact for any
 * bytes (a product fits int16 even for -128·-128; pairs widen to int32). */
static INLINE int32x4_t dot16_plain(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

/* 16 bytes of packed nibbles -> low nibbles, high nibbles. */
static INLINE void nibbles(const uint8_t *p, uint8x16_t *lo, uint8x16_t *hi) {
    const uint8x16_t v = vld1q_u8(p);
    *lo = vandq_u8(v, vdupq_n_u8(0xF));
    *hi = vshrq_n_u8(v, 4);
}

/* Byte j = 0x10 where bit j of the 16 bits is set (Q5's fifth bit). */
static INLINE uint8x16_t bit4_of(uint32_t bits16) {
    static const uint8_t sel[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t v = vcombine_u8(vdup_n_u8((uint8_t)bits16), vdup_n_u8((uint8_t)(bits16 >> 8)));
    return vandq_u8(vtstq_u8(v, vld1q_u8(sel)), vdupq_n_u8(0x10));
}

/* Row k of the nx activation rows, xs bytes apart. */
#define ACT_ROWS(type, b, x, xs, nx)                                               \
    const type *b[NX_MAX];                                                         \
    for (int k_ = 0; k_ < (nx); k_++) b[k_] = (const type *)((const uint8_t *)(x) + (size_t)k_ * (xs));

/* Q3_K's 16 scales (-32..31), as q3k_scale gives them. */
static INLINE void q3k_scales(const uint8_t *s, int sc[16]) {
    for (int g = 0; g < 16; g++) sc[g] = q3k_scale(s, g);
}

/* ------------------------------------------------------------ float types */

static inline float16x4_t ld_h4(const uint8_t *p) {
    return vreinterpret_f16_u8(vld1_u8(p));   /* byte load: no alignment assumed */
}

static inline float32x4_t ld_f16(const uint8_t *p) { return vcvt_f32_f16(ld_h4(p)); }

static inline float32x4_t ld_bf16(const uint8_t *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vreinterpret_u16_u8(vld1_u8(p)), 16));
}

static float dot_f32(const void *w, const void *x, int64_t n) {
    const float *a = w, *b = x;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* F16 and BF16 (ld = ld_f16 or ld_bf16, one = the scalar conversion). */
#define DOT_HALF(name, ld, one)                                                    \
    static float name(const void *w, const void *x, int64_t n) {                   \
        const uint8_t *a = w, *b = x;                                              \
        float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;                \
        int64_t i = 0;                                                             \
        for (; i + 16 <= n; i += 16) {                                             \
            s0 = vfmaq_f32(s0, ld(a + 2 * i), ld(b + 2 * i));                      \
            s1 = vfmaq_f32(s1, ld(a + 2 * i + 8), ld(b + 2 * i + 8));              \
            s2 = vfmaq_f32(s2, ld(a + 2 * i + 16), ld(b + 2 * i + 16));            \
            s3 = vfmaq_f32(s3, ld(a + 2 * i + 24), ld(b + 2 * i + 24));            \
        }                                                                          \
        for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, ld(a + 2 * i), ld(b + 2 * i)); \
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));     \
        for (; i < n; i++) s += one(a + 2 * i) * one(b + 2 * i);                   \
        return s;                                                                  \
    }

static inline float bf16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return ken_nn_bf16_to_fp32(h);
}

DOT_HALF(dot_f16, ld_f16, half_at)
DOT_HALF(dot_bf16, ld_bf16, bf16_at)

/* ------------------------------------------------------------ F32 GEMM */

/* 4 weight rows × 4 tokens per step: 16 accumulators + 4 activation
 * vectors + 1 weight vector of the 32 NEON registers. */
static void gemm_4x4(const float *w, const float *x, int64_t n, float *y, int64_t ys) {
    float32x4_t a[4][4];
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 4; t++) a[r][t] = vdupq_n_f32(0);
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        const float32x4_t x0 = vld1q_f32(x + k), x1 = vld1q_f32(x + n + k),
                          x2 = vld1q_f32(x + 2 * n + k), x3 = vld1q_f32(x + 3 * n + k);
        for (int r = 0; r < 4; r++) {
            const float32x4_t wv = vld1q_f32(w + r * n + k);
            a[r][0] = vfmaq_f32(a[r][0], wv, x0);
            a[r][1] = vfmaq_f32(a[r][1], wv, x1);
            a[r][2] = vfmaq_f32(a[r][2], wv, x2);
            a[r][3] = vfmaq_f32(a[r][3], wv, x3);
        }
    }
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 4; t++) {
            float s = vaddvq_f32(a[r][t]);
            for (int64_t kk = k; kk < n; kk++) s += w[r * n + kk] * x[t * n + kk];
            y[t * ys + r] = s;
        }
}

/* One weight row × one token (the edges of the tile). */
static float gemm_1x1(const float *w, const float *x, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(w + k), vld1q_f32(x + k));
        s1 = vfmaq_f32(s1, vld1q_f32(w + k + 4), vld1q_f32(x + k + 4));
    }
    for (; k + 4 <= n; k += 4) s0 = vfmaq_f32(s0, vld1q_f32(w + k), vld1q_f32(x + k));
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; k < n; k++) s += w[k] * x[k];
    return s;
}

static void gemm_f32(const float *w, int64_t nr, const float *x, int64_t nt, int64_t n, float *y,
                     int64_t ys) {
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4) {
        int64_t t = 0;
        for (; t + 4 <= nt; t += 4) gemm_4x4(w + r * n, x + t * n, n, y + t * ys + r, ys);
        for (; t < nt; t++)
            for (int64_t rr = r; rr < r + 4; rr++) y[t * ys + rr] = gemm_1x1(w + rr * n, x + t * n, n);
    }
    for (; r < nr; r++)
        for (int64_t t = 0; t < nt; t++) y[t * ys + r] = gemm_1x1(w + r * n, x + t * n, n);
}

static void widen_f16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, ld_f16(p + 2 * i));
    for (; i < n; i++) dst[i] = half_at(p + 2 * i);
}

static void widen_bf16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, ld_bf16(p + 2 * i));
    for (; i < n; i++) dst[i] = bf16_at(p + 2 * i);
}

/* Product rounded, then sum rounded: the scalar expression's two roundings. */
static void axpy_f16(float *y, float a, const uint16_t *x, int64_t n) {
    const float32x4_t av = vdupq_n_f32(a);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t p = vmulq_f32(av, ld_f16((const uint8_t *)(x + i)));
        vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), p));
    }
    for (; i < n; i++) {
        const float p = a * ken_nn_fp16_to_fp32(x[i]);
        y[i] = y[i] + p;
    }
}

/* ------------------------------------------------------------ the two integer levels */

#define SFX(name) name##_neon
#define TGT
#define DOT16(acc, a, b) dot16_plain(acc, a, b)
#include "nn/nn_neon_body.h"
#undef SFX
#undef TGT
#undef DOT16

#if HAVE_DOTPROD
#define SFX(name) name##_dot
#define TGT TGT_DOT
#define DOT16(acc, a, b) vdotq_s32(acc, a, b)
#include "nn/nn_neon_body.h"
#undef SFX
#undef TGT
#undef DOT16
#endif

bool ken_nn_neon_dot_supported(void) {
    return HAVE_DOTPROD && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
}

void ken_nn_neon_kernels(bool dot, ken_nn_dot_fn t[KEN_NN_NTYPES],
                         ken_nn_dotn_fn tn[KEN_NN_NTYPES][KEN_NN_DOTN_MAX + 1]) {
#if HAVE_DOTPROD
    if (dot) {
        fill_kernels_dot(t, tn);   /* the integer kernels; float types stay the plain level's */
        return;
    }
#endif
    (void)dot;
    t[KEN_DT_F32] = dot_f32;
    t[KEN_DT_F16] = dot_f16;
    t[KEN_DT_BF16] = dot_bf16;
    fill_kernels_neon(t, tn);
}

ken_nn_gemm_fn ken_nn_neon_gemm(void) { return gemm_f32; }
ken_nn_axpy_fn ken_nn_neon_axpy_f16(void) { return axpy_f16; }
ken_nn_widen_fn ken_nn_neon_widen(ken_dtype t) {
    return t == KEN_DT_F16 ? widen_f16 : t == KEN_DT_BF16 ? widen_bf16 : NULL;
}

#else

bool ken_nn_neon_dot_supported(void) { return false; }
void ken_nn_neon_kernels(bool dot, ken_nn_dot_fn t[KEN_NN_NTYPES],
                         ken_nn_dotn_fn tn[KEN_NN_NTYPES][KEN_NN_DOTN_MAX + 1]) {
    (void)dot;
    (void)t;
    (void)tn;
}
ken_nn_gemm_fn ken_nn_neon_gemm(void) { return NULL; }
ken_nn_axpy_fn ken_nn_neon_axpy_f16(void) { return NULL; }
ken_nn_widen_fn ken_nn_neon_widen(ken_dtype t) {
    (void)t;
    return NULL;
}

#endif
