/* nn_avx2.c: AVX2 + FMA + F16C dot-product kernels, one-token and (for the
 * quantized types) multi-token. Compiled with target attributes (not -mavx2)
 * so the default build stays portable; nn_dot.c installs them only after
 * CPU feature detection says the CPU (and OS) support them.
 *
 * Every kernel mirrors its _ref twin in nn_dot.c: the K-quant kernels form the
 * same per-super-block integer sums and then the same float expression (so
 * they are bit-identical to the reference); the 32-element formats keep eight
 * float lanes and differ from the reference only by summation order. */
#include "nn/nn_impl.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

/* The scalar tails and the K-quant block sums must round like nn_dot.c's
 * references: no implicit FMA contraction (GCC in ISO mode does none). */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define TGT __attribute__((target("avx2,fma,f16c")))

TGT static inline float h2f(ken_half h) { return _cvtsh_ss(h); }

TGT static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TGT static inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

TGT static inline __m256i loadu256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles first, then high. */
TGT static inline __m256i nibbles32(const uint8_t *p) {
    __m128i t = _mm_loadu_si128((const __m128i *)p);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0xF));
}

/* Byte i = 0xFF where bit i of bits is set. */
TGT static inline __m256i bits_to_bytes(uint32_t bits) {
    const __m256i shuf = _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL,
                                            0x0303030303030303LL);
    const __m256i m = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, m), m);
}

/* ------------------------------------------------------------ float types */

TGT static float dot_f32(const void *w, const void *x, int64_t n) {
    const float *a = w, *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

TGT static inline __m256 ld_f16(const uint8_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

TGT static float dot_f16(const void *w, const void *x, int64_t n) {
    const uint8_t *a = w, *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(ld_f16(a + 2 * i), ld_f16(b + 2 * i), s0);
        s1 = _mm256_fmadd_ps(ld_f16(a + 2 * i + 16), ld_f16(b + 2 * i + 16), s1);
        s2 = _mm256_fmadd_ps(ld_f16(a + 2 * i + 32), ld_f16(b + 2 * i + 32), s2);
        s3 = _mm256_fmadd_ps(ld_f16(a + 2 * i + 48), ld_f16(b + 2 * i + 48), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(ld_f16(a + 2 * i), ld_f16(b + 2 * i), s0);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += half_at(a + 2 * i) * half_at(b + 2 * i);
    return s;
}

TGT static inline __m256 ld_bf16(const uint8_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

TGT static float dot_bf16(const void *w, const void *x, int64_t n) {
    const uint8_t *a = w, *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(ld_bf16(a + 2 * i), ld_bf16(b + 2 * i), s0);
        s1 = _mm256_fmadd_ps(ld_bf16(a + 2 * i + 16), ld_bf16(b + 2 * i + 16), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(ld_bf16(a + 2 * i), ld_bf16(b + 2 * i), s0);
    float s = hsum_ps(_mm256_add_ps(s0, s1));
    for (; i < n; i++) {
        uint16_t ha, hb;
        memcpy(&ha, a + 2 * i, 2);
        memcpy(&hb, b + 2 * i, 2);
        s += ken_nn_bf16_to_fp32(ha) * ken_nn_bf16_to_fp32(hb);
    }
    return s;
}

/* ------------------------------------------------------------ multi-token form */

/* Every quantized kernel is written once for NX activation rows (x, x + xs,
 * ...; NX <= NX_MAX) sharing the decoding of each weight block, then
 * instantiated for NX = 1..4 with NX a constant, so the one-token kernel and
 * each row of the multi-token kernels run the very same operations in the
 * same order: batched products equal one-token products bit for bit. */
#define NX_MAX 4
#define INLINE __attribute__((always_inline)) inline

#define ACT_ROWS(type, b, x, xs, nx)                                               \
    const type *b[NX_MAX];                                                         \
    for (int k_ = 0; k_ < (nx); k_++) b[k_] = (const type *)((const uint8_t *)(x) + (size_t)k_ * (xs));

#define INSTANTIATE(name)                                                          \
    TGT static float dot_##name(const void *w, const void *x, int64_t n) {         \
        float out;                                                                 \
        name##_n(w, x, 0, n, 1, &out);                                             \
        return out;                                                                \
    }                                                                              \
    TGT static void dotn2_##name(const void *w, const void *x, size_t xs, int64_t n, float *o) { \
        name##_n(w, x, xs, n, 2, o);                                               \
    }                                                                              \
    TGT static void dotn3_##name(const void *w, const void *x, size_t xs, int64_t n, float *o) { \
        name##_n(w, x, xs, n, 3, o);                                               \
    }                                                                              \
    TGT static void dotn4_##name(const void *w, const void *x, size_t xs, int64_t n, float *o) { \
        name##_n(w, x, xs, n, 4, o);                                               \
    }

/* ------------------------------------------------------------ 32-element blocks */

/* Two blocks per step into two accumulators per row, so consecutive FMAs do
 * not wait on each other. STEP(i, acc) adds block i of every row to acc[k]. */
#define TWO_BY_TWO(nb, nx, STEP, out, extra)                                       \
    __m256 acc0[NX_MAX], acc1[NX_MAX];                                             \
    for (int k = 0; k < (nx); k++) acc0[k] = acc1[k] = _mm256_setzero_ps();        \
    int64_t i = 0;                                                                 \
    for (; i + 1 < (nb); i += 2) {                                                 \
        STEP(i, acc0);                                                             \
        STEP(i + 1, acc1);                                                         \
    }                                                                              \
    if (i < (nb)) STEP(i, acc0);                                                   \
    for (int k = 0; k < (nx); k++) out[k] = hsum_ps(_mm256_add_ps(acc0[k], acc1[k])) + extra;

/* signed weights q (|q| < 128) against signed activations: the sign trick
 * feeds maddubs an unsigned |q| and y carrying q's sign */
#define SIGNED_ROWS(q, i, acc, nx)                                                 \
    do {                                                                           \
        const __m256i aq_ = _mm256_sign_epi8(q, q);                                \
        const float da_ = h2f(a[i].d);                                             \
        for (int k = 0; k < (nx); k++) {                                           \
            const __m256 d_ = _mm256_set1_ps(da_ * h2f(b[k][i].d));                \
            __m256i p_ = _mm256_maddubs_epi16(aq_, _mm256_sign_epi8(loadu256(b[k][i].qs), q)); \
            p_ = _mm256_madd_epi16(p_, _mm256_set1_epi16(1));                      \
            acc[k] = _mm256_fmadd_ps(d_, _mm256_cvtepi32_ps(p_), acc[k]);          \
        }                                                                          \
    } while (0)

/* unsigned weights q (< 128) plus the min term m·s of Q8_1 */
#define UNSIGNED_ROWS(q, i, acc, nx)                                               \
    do {                                                                           \
        const float da_ = h2f(a[i].d), ma_ = h2f(a[i].m);                          \
        for (int k = 0; k < (nx); k++) {                                           \
            const __m256 d_ = _mm256_set1_ps(da_ * h2f(b[k][i].d));                \
            summ[k] += ma_ * h2f(b[k][i].s);                                       \
            __m256i p_ = _mm256_maddubs_epi16(q, loadu256(b[k][i].qs));            \
            p_ = _mm256_madd_epi16(p_, _mm256_set1_epi16(1));                      \
            acc[k] = _mm256_fmadd_ps(d_, _mm256_cvtepi32_ps(p_), acc[k]);          \
        }                                                                          \
    } while (0)

#define Q4_0_STEP(i, acc)                                                          \
    do {                                                                           \
        const __m256i q_ = _mm256_sub_epi8(nibbles32(a[i].qs), _mm256_set1_epi8(8)); \
        SIGNED_ROWS(q_, i, acc, nx);                                               \
    } while (0)

TGT static INLINE void q4_0_n(const void *w, const void *x, size_t xs, int64_t n, int nx, float *out) {
    const blk_q4_0 *a = w;
    ACT_ROWS(blk_q8_0, b, x, xs, nx)
    TWO_BY_TWO(n / 32, nx, Q4_0_STEP, out, 0.0f)
}

/* Q5_0: value = nibble - 16 unless the fifth bit is set, i.e. nibble | 0xF0
 * as int8 when the bit is clear. */
#define Q5_0_STEP(i, acc)                                                          \
    do {                                                                           \
        uint32_t qh_;                                                              \
        memcpy(&qh_, a[i].qh, 4);                                                  \
        __m256i hi_ = _mm256_andnot_si256(bits_to_bytes(qh_), _mm256_set1_epi8((char)0xF0)); \
        const __m256i q_ = _mm256_or_si256(nibbles32(a[i].qs), hi_);              \
        SIGNED_ROWS(q_, i, acc, nx);                                               \
    } while (0)

TGT static INLINE void q5_0_n(const void *w, const void *x, size_t xs, int64_t n, int nx, float *out) {
    const blk_q5_0 *a = w;
    ACT_ROWS(blk_q8_0, b, x, xs, nx)
    TWO_BY_TWO(n / 32, nx, Q5_0_STEP, out, 0.0f)
}

#define Q8_0_STEP(i, acc)                                                          \
    do {                                                                           \
        const __m256i q_ = loadu256(a[i].qs);                                      \
        SIGNED_ROWS(q_, i, acc, nx);                                               \
    } while (0)

TGT static INLINE void q8_0_n(const void *w, const void *x, size_t xs, int64_t n, int nx, float *out) {
    const blk_q8_0 *a = w;
    ACT_ROWS(blk_q8_0, b, x, xs, nx)
    TWO_BY_TWO(n / 32, nx, Q8_0_STEP, out, 0.0f)
}

#define Q4_1_STEP(i, acc)                                                          \
    do {                                                                           \
        const __m256i q_ = nibbles32(a[i].qs);                                     \
        UNSIGNED_ROWS(q_, i, acc, nx);                                             \
    } while (0)

TGT static INLINE void q4_1_n(const void *w, const void *x, size_t xs, int64_t n, int nx, float *out) {
    const blk_q4_1 *a = w;
    ACT_ROWS(blk_q8_1, b, x, xs, nx)
    float summ[NX_MAX] = {0};
    TWO_BY_TWO(n / 32, nx, Q4_1_STEP, out, summ[k])
}

#define Q5_1_STEP(i, acc)                                                          \
    do {                                                                           \
        uint32_t qh_;                                                              \
        memcpy(&qh_, a[i].qh, 4);                                                  \
        __m256i hi_ = _mm256_and_si256(bits_to_bytes(qh_), _mm256_set1_epi8(0x10)); \
        const __m256i q_ = _mm256_or_si256(nibbles32(a[i].qs), hi_);              \
        UNSIGNED_ROWS(q_, i, acc, nx);                                             \
    } while (0)

TGT static INLINE void q5_1_n(const void *w, const void *x, size_t xs, int64_t n, int nx, float *out) {
    const blk_q5_1 *a = w;
    ACT_ROWS(blk_q8_1, b, x, xs, nx)
    float summ[NX_MAX] = {0};
    TWO_BY_TWO(n / 32, nx, Q5_1_STEP, out, summ[k])
}

INSTANTIATE(q4_0)
INSTANTIATE(q4_1)
INSTANTIATE(q5_0)
INSTANTIATE(q5_1)
INSTANTIATE(q8_0)

/* ------------------------------------------------------------ K-quants */

/* The int16 scale pair of chunk c (scales 2c, 2c+1 of sc16, which holds 16
 * int16 scales) spread as 8 × scale 2c then 8 × scale 2c+1. */
TGT static inline __m256i scale_pair(__m256i sc16, int c) {
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    return _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(c)), pick);
}

/* Σ q·y over 32 values (q unsigned < 64) weighted by the int16 scales sp:
 * eight int32 partial sums. */
TGT static inline __m256i dot32_scaled(__m256i q, const int8_t *y, __m256i sp) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, loadu256(y)), sp);
}

/* Σ_g sc16[g]·bsums[g] over the 16 groups of 16 (sc16 as int16). */
TGT static inline int group_sum16(__m256i sc16, const int16_t *bsums) {
    return hsum_epi32(_mm256_madd_epi16(sc16, loadu256(bsums)));
}

/* Adds chunk c (32 decoded values q, scales sp) of every row to acc[k]. */
#define CHUNK_ROWS(q, c, sp)                                                       \
    for (int k = 0; k < nx; k++)                                                   \
        acc[k] = _mm256_add_epi32(acc[k], dot32_scaled(q, b[k][i].qs + 32 * (c), sp));

TGT static INLINE void q2_K_n(const void *w, const void *x, size_t xs, int64_t n, int nx, float *out) {
    const blk_q2_K *a = w;
    ACT_ROWS(blk_q8_K, b, x, xs, nx)
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0xF);
    float s[NX_MAX] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m128i scb = _mm_loadu_si128((const __m128i *)a[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(scb, m4));
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(scb, 4), m4));
        __m256i acc[NX_MAX];
        for (int k = 0; k < nx; k++) acc[k] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = loadu256(a[i].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j), m3);
                const __m256i sp = scale_pair(sc16, 4 * h + j);
                CHUNK_ROWS(q, 4 * h + j, sp)
            }
        }
        const float d = h2f(a[i].d), dmin = h2f(a[i].dmin);
        for (int k = 0; k < nx; k++) {
            const int msum = group_sum16(mn16, b[k][i].bsums), isum = hsum_epi32(acc[k]);
            s[k] += b[k][i].d * (d * (float)isum - dmin * (float)msum);
        }
    }
    for (int k = 0; k < nx; k++) out[k] = s[k];
}

/* Q3_K's 16 six-bit scales (minus 32) as int16. */
TGT static inline __m256i unpack_q3k_scales(const uint8_t *s) {
    uint32_t u[3];
    memcpy(u, s, 12);
    const uint32_t m2 = 0x0f0f0f0fu, m1 = 0x03030303u;
    const uint32_t v0 = (u[0] & m2) | (((u[2] >> 0) & m1) << 4);          /* scales 0..3 */
    const uint32_t v1 = (u[1] & m2) | (((u[2] >> 2) & m1) << 4);          /* 4..7 */
    const uint32_t v2 = ((u[0] >> 4) & m2) | (((u[2] >> 4) & m1) << 4);   /* 8..11 */
    const uint32_t v3 = ((u[1] >> 4) & m2) | (((u[2] >> 6) & m1) << 4);   /* 12..15 */
    __m128i b8 = _mm_set_epi32((int)v3, (int)v2, (int)v1, (int)v0);
    return _mm256_sub_epi16(_mm256_cvtepu8_epi16(b8), _mm256_set1_epi16(32));
}

TGT static INLINE void q3_K_n(const void *w, const void *x, size_t xs, int64_t n, int nx, float *out) {
    const blk_q3_K *a = w;
    ACT_ROWS(blk_q8_K, b, x, xs, nx)
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    float s[NX_MAX] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m256i sc16 = unpack_q3k_scales(a[i].scales);
        __m256i hm = loadu256(a[i].hmask);   /* shifted 1 per chunk */
        __m256i acc[NX_MAX];
        for (int k = 0; k < nx; k++) acc[k] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = loadu256(a[i].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                /* u = low 2 bits + 4·high bit in 0..7; the value is u - 4 */
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j), m3);
                q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(hm, m1), 2));
                hm = _mm256_srli_epi16(hm, 1);
                const __m256i sp = scale_pair(sc16, 4 * h + j);
                CHUNK_ROWS(q, 4 * h + j, sp)
            }
        }
        const float d = h2f(a[i].d);
        for (int k = 0; k < nx; k++) {
            const int isum = hsum_epi32(acc[k]) - 4 * group_sum16(sc16, b[k][i].bsums);
            s[k] += b[k][i].d * (d * (float)isum);
        }
    }
    for (int k = 0; k < nx; k++) out[k] = s[k];
}

/* Q4_K / Q5_K scales and mins (6 bits each, packed in 12 bytes) as bytes:
 * sc[0..7], mn[0..7]; the same values as scale_min_k4, without branches. */
static inline void unpack_k4(const uint8_t *q, uint32_t sc[2], uint32_t mn[2]) {
    uint32_t u[3];
    memcpy(u, q, 12);
    sc[0] = u[0] & 0x3f3f3f3fu;
    mn[0] = u[1] & 0x3f3f3f3fu;
    sc[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    mn[1] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
}

/* Σ_g mn[g]·(bsums[2g] + bsums[2g+1]) over the 8 groups of 32. */
TGT static inline int min_sum_k4(__m128i mn16, const int16_t *bsums) {
    __m128i b = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bsums),
                               _mm_loadu_si128((const __m128i *)(bsums + 8)));
    __m128i p = _mm_madd_epi16(b, mn16);
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(1, 0, 3, 2)));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(p);
}

TGT static INLINE void q45_K_n(bool five, const void *w, const void *x, size_t xs, int64_t n, int nx,
                               float *out) {
    const size_t bb = five ? sizeof(blk_q5_K) : sizeof(blk_q4_K);
    ACT_ROWS(blk_q8_K, b, x, xs, nx)
    const __m256i m4 = _mm256_set1_epi8(0xF), m1 = _mm256_set1_epi8(1);
    float s[NX_MAX] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *p = (const uint8_t *)w + i * bb;
        const uint8_t *ql = p + 16 + (five ? 32 : 0);
        uint32_t sc4[2], mn4[2];
        unpack_k4(p + 4, sc4, mn4);
        const uint8_t *sc = (const uint8_t *)sc4;
        const __m128i mn16 = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)mn4[1], (int)mn4[0]));
        __m256i hv = five ? loadu256(p + 16) : _mm256_setzero_si256();   /* shifted 2 per chunk */
        __m256i acc[NX_MAX];
        for (int k = 0; k < nx; k++) acc[k] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i qv = loadu256(ql + 32 * c);
            __m256i lo = _mm256_and_si256(qv, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            if (five) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hv, m1), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 1), m1), 4));
                hv = _mm256_srli_epi16(hv, 2);
            }
            const __m256i slo = _mm256_set1_epi16(sc[2 * c]), shi = _mm256_set1_epi16(sc[2 * c + 1]);
            CHUNK_ROWS(lo, 2 * c, slo)
            CHUNK_ROWS(hi, 2 * c + 1, shi)
        }
        const float d = half_at(p), dmin = half_at(p + 2);
        for (int k = 0; k < nx; k++) {
            const int msum = min_sum_k4(mn16, b[k][i].bsums), isum = hsum_epi32(acc[k]);
            s[k] += b[k][i].d * (d * (float)isum - dmin * (float)msum);
        }
    }
    for (int k = 0; k < nx; k++) out[k] = s[k];
}

TGT static INLINE void q4_K_n(const void *w, const void *x, size_t xs, int64_t n, int nx, float *out) {
    q45_K_n(false, w, x, xs, n, nx, out);
}
TGT static INLINE void q5_K_n(const void *w, const void *x, size_t xs, int64_t n, int nx, float *out) {
    q45_K_n(true, w, x, xs, n, nx, out);
}

TGT static INLINE void q6_K_n(const void *w, const void *x, size_t xs, int64_t n, int nx, float *out) {
    const blk_q6_K *a = w;
    ACT_ROWS(blk_q8_K, b, x, xs, nx)
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    float s[NX_MAX] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
        __m256i acc[NX_MAX];
        for (int k = 0; k < nx; k++) acc[k] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = loadu256(a[i].ql + 64 * h), l1 = loadu256(a[i].ql + 64 * h + 32);
            const __m256i qh = loadu256(a[i].qh + 32 * h);
            for (int j = 0; j < 4; j++) {
                const __m256i src = j % 2 ? l1 : l0;
                __m256i lo = j >= 2 ? _mm256_and_si256(_mm256_srli_epi16(src, 4), m4)
                                    : _mm256_and_si256(src, m4);
                __m256i hb = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), m3);
                const __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hb, 4));   /* 0..63 */
                const __m256i sp = scale_pair(sc16, 4 * h + j);
                CHUNK_ROWS(q, 4 * h + j, sp)
            }
        }
        const float d = h2f(a[i].d);
        for (int k = 0; k < nx; k++) {
            const int isum = hsum_epi32(acc[k]) - 32 * group_sum16(sc16, b[k][i].bsums);
            s[k] += b[k][i].d * (d * (float)isum);
        }
    }
    for (int k = 0; k < nx; k++) out[k] = s[k];
}

INSTANTIATE(q2_K)
INSTANTIATE(q3_K)
INSTANTIATE(q4_K)
INSTANTIATE(q5_K)
INSTANTIATE(q6_K)


/* ------------------------------------------------------------ F32 GEMM */

/* 4 weight rows × 3 tokens per step: 12 accumulators + 3 activation
 * vectors + 1 weight vector = the 16 ymm registers; 7 loads per 12 FMAs. */
TGT static void gemm_4x3(const float *w, const float *x, int64_t n, float *y, int64_t ys) {
    __m256 a[4][3];
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 3; t++) a[r][t] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        const __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + n + k),
                     x2 = _mm256_loadu_ps(x + 2 * n + k);
        for (int r = 0; r < 4; r++) {
            const __m256 wv = _mm256_loadu_ps(w + r * n + k);
            a[r][0] = _mm256_fmadd_ps(wv, x0, a[r][0]);
            a[r][1] = _mm256_fmadd_ps(wv, x1, a[r][1]);
            a[r][2] = _mm256_fmadd_ps(wv, x2, a[r][2]);
        }
    }
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 3; t++) {
            float s = hsum_ps(a[r][t]);
            for (int64_t kk = k; kk < n; kk++) s += w[r * n + kk] * x[t * n + kk];
            y[t * ys + r] = s;
        }
}

/* One weight row × one token (the edges of the tile). */
TGT static float gemm_1x1(const float *w, const float *x, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 8), _mm256_loadu_ps(x + k + 8), s1);
    }
    for (; k + 8 <= n; k += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), s0);
    float s = hsum_ps(_mm256_add_ps(s0, s1));
    for (; k < n; k++) s += w[k] * x[k];
    return s;
}

TGT static void gemm_f32(const float *w, int64_t nr, const float *x, int64_t nt, int64_t n,
                         float *y, int64_t ys) {
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4) {
        int64_t t = 0;
        for (; t + 3 <= nt; t += 3) gemm_4x3(w + r * n, x + t * n, n, y + t * ys + r, ys);
        for (; t < nt; t++)
            for (int64_t rr = r; rr < r + 4; rr++) y[t * ys + rr] = gemm_1x1(w + rr * n, x + t * n, n);
    }
    for (; r < nr; r++)
        for (int64_t t = 0; t < nt; t++) y[t * ys + r] = gemm_1x1(w + r * n, x + t * n, n);
}

ken_nn_gemm_fn ken_nn_avx2_gemm(void) { return gemm_f32; }

TGT static void widen_f16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ld_f16(p + 2 * i));
    for (; i < n; i++) dst[i] = half_at(p + 2 * i);
}

TGT static void widen_bf16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ld_bf16(p + 2 * i));
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = ken_nn_bf16_to_fp32(h);
    }
}

/* Product rounded, then sum rounded: the scalar expression's two roundings. */
TGT static void axpy_f16(float *y, float a, const uint16_t *x, int64_t n) {
    const __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 p = _mm256_mul_ps(av, ld_f16((const uint8_t *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), p));
    }
    for (; i < n; i++) {
        const float p = a * h2f(x[i]);
        y[i] = y[i] + p;
    }
}

ken_nn_axpy_fn ken_nn_avx2_axpy_f16(void) { return axpy_f16; }

ken_nn_widen_fn ken_nn_avx2_widen(ken_dtype t) {
    return t == KEN_DT_F16 ? widen_f16 : t == KEN_DT_BF16 ? widen_bf16 : NULL;
}

#define SET_ALL(T, name)                                                           \
    do {                                                                           \
        t[T] = dot_##name;                                                         \
        tn[T][2] = dotn2_##name;                                                   \
        tn[T][3] = dotn3_##name;                                                   \
        tn[T][4] = dotn4_##name;                                                   \
    } while (0)

void ken_nn_avx2_kernels(ken_nn_dot_fn t[KEN_NN_NTYPES], ken_nn_dotn_fn tn[KEN_NN_NTYPES][KEN_NN_DOTN_MAX + 1]) {
    t[KEN_DT_F32] = dot_f32;
    t[KEN_DT_F16] = dot_f16;
    t[KEN_DT_BF16] = dot_bf16;
    SET_ALL(KEN_DT_Q4_0, q4_0);
    SET_ALL(KEN_DT_Q4_1, q4_1);
    SET_ALL(KEN_DT_Q5_0, q5_0);
    SET_ALL(KEN_DT_Q5_1, q5_1);
    SET_ALL(KEN_DT_Q8_0, q8_0);
    SET_ALL(KEN_DT_Q2_K, q2_K);
    SET_ALL(KEN_DT_Q3_K, q3_K);
    SET_ALL(KEN_DT_Q4_K, q4_K);
    SET_ALL(KEN_DT_Q5_K, q5_K);
    SET_ALL(KEN_DT_Q6_K, q6_K);
}

#else

ken_nn_axpy_fn ken_nn_avx2_axpy_f16(void) { return NULL; }
ken_nn_gemm_fn ken_nn_avx2_gemm(void) { return NULL; }
ken_nn_widen_fn ken_nn_avx2_widen(ken_dtype t) {
    (void)t;
    return NULL;
}

void ken_nn_avx2_kernels(ken_nn_dot_fn t[KEN_NN_NTYPES], ken_nn_dotn_fn tn[KEN_NN_NTYPES][KEN_NN_DOTN_MAX + 1]) {
    (void)t;
    (void)tn;
}

#endif
