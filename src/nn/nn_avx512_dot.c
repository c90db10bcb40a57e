/* nn_avx512_dot.c: one-token dot products (token generation) with AVX-512
 * BW/VL + VNNI for the weight types a generated token spends its time in:
 * Q8_0, Q5_0, Q4_0 (× Q8_0 activations) and Q4_K, Q6_K (× Q8_K). Installed by nn_dot.c at the
 * AVX-512 level only when CPUID reports the features; compiled with target
 * attributes (no -m flags).
 *
 * Bit-identical to nn_avx2.c's one-token kernels, hence to the integer GEMM
 * of nn_avx512.c (which mirrors those): the AVX2 kernel keeps two 8-lane
 * float accumulators, acc0 for even blocks and acc1 for odd ones, adds
 * d·(int32 sum of 4 byte products per lane) with one FMA per block, adds the
 * last odd block to acc0 and returns hsum(acc0 + acc1). Here one zmm holds
 * acc0 (low half) and acc1 (high half) and each step takes blocks i and i+1,
 * so every lane sees the same exact integer sum (vpdpbusd adds the same four
 * products a lane of maddubs + madd adds), the same scale product d_w·d_x
 * and the same FMA in the same order. What changes is the work per block:
 * one vpdpbusd instead of maddubs + madd + sign, the Q5_0 fifth bits as a
 * mask register instead of a shuffle/compare, both blocks' F16 scales
 * converted with one vpermw + vcvtph2ps instead of four scalar conversions. */
#include "nn/nn_impl.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define TGT512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define INLINE __attribute__((always_inline)) inline

/* nn_avx2.c's hsum_ps, so the last additions round the same way. */
TGT512 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The F16 scales at p and p + bb (bb even, bb ≤ 62: the first bytes of two
 * consecutive blocks) as F32: 8 × d(p), then 8 × d(p + bb). Only the words
 * up to p + bb + 1 are read (a masked load does not touch the others). */
TGT512 static INLINE __m512 scales2(const uint8_t *p, int bb) {
    const __mmask32 m = bb + 2 >= 64 ? 0xFFFFFFFFu : (1u << (bb / 2 + 1)) - 1;
    const __m512i v = _mm512_maskz_loadu_epi16(m, p);
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, (bb / 2) * 0x10001, (bb / 2) * 0x10001,
                                          (bb / 2) * 0x10001, (bb / 2) * 0x10001, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idx, v)));
}

/* 32 bytes at p0 (low half) and at p1 (high half). */
TGT512 static INLINE __m512i load2x32(const void *p0, const void *p1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p0)),
                              _mm256_loadu_si256((const __m256i *)p1), 1);
}

/* Packed nibbles, 16 bytes at p0 and at p1, as 64 bytes: p0's low nibbles,
 * its high nibbles, then p1's (nn_avx2.c's nibbles32 order per block). */
TGT512 static INLINE __m512i nibbles2(const uint8_t *p0, const uint8_t *p1) {
    __m512i z = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p0));
    z = _mm512_mask_broadcast_i32x4(z, 0xFF00, _mm_loadu_si128((const __m128i *)p1));
    const __m512i sh = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
    return _mm512_and_si512(_mm512_srlv_epi64(z, sh), _mm512_set1_epi8(0xF));
}

/* Lane sums of 4 products of signed weights w and signed activations x:
 * |w| times x carrying w's sign (what the AVX2 kernel's sign trick does;
 * |−128| = 128 is exact as an unsigned byte). */
TGT512 static INLINE __m512i dot_ss(__m512i w, __m512i x) {
    const __m512i xs = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), xs);
}
TGT512 static INLINE __m256i dot_ss8(__m256i w, __m256i x) {
    const __m256i xs = _mm256_mask_sub_epi8(x, _mm256_movepi8_mask(w), _mm256_setzero_si256(), x);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), xs);
}

/* Lane sums of (u − off)·x for unsigned weights u: Σu·x − off·Σx. */
TGT512 static INLINE __m512i dot_us(__m512i u, __m512i x, char off) {
    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, x);
    return _mm512_sub_epi32(p, _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(off), x));
}

/* The signed weight values of block i as 32 bytes (the odd last block). */
TGT512 static INLINE __m256i q8_0_one(const blk_q8_0 *a) {
    return _mm256_loadu_si256((const __m256i *)a->qs);
}
TGT512 static INLINE __m256i q4_0_one(const blk_q4_0 *a) {
    const __m128i t = _mm_loadu_si128((const __m128i *)a->qs);
    const __m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0xF));
    return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
}
TGT512 static INLINE __m256i q5_0_one(const blk_q5_0 *a) {
    const __m128i t = _mm_loadu_si128((const __m128i *)a->qs);
    const __m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0xF));
    uint32_t qh;
    memcpy(&qh, a->qh, 4);
    return _mm256_mask_sub_epi8(v, (__mmask32)~qh, v, _mm256_set1_epi8(16));   /* bit clear: nibble − 16 */
}

/* The shared loop: P(i) gives the int32 lane sums of blocks i (low half) and
 * i+1 (high half), ONE(i) the signed values of block i alone. */
#define PAIR_LOOP(T, bb, P, ONE)                                                   \
    const T *a = w;                                                                \
    const blk_q8_0 *b = x;                                                         \
    const int64_t nb = n / 32;                                                     \
    __m512 acc = _mm512_setzero_ps();                                              \
    int64_t i = 0;                                                                 \
    for (; i + 1 < nb; i += 2) {                                                   \
        const __m512 d = _mm512_mul_ps(scales2((const uint8_t *)(a + i), bb),      \
                                       scales2((const uint8_t *)(b + i), sizeof(blk_q8_0))); \
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(P(i)), acc);                   \
    }                                                                              \
    __m256 lo = _mm512_castps512_ps256(acc);                                       \
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)); \
    if (i < nb) {                                                                  \
        const __m256i p_ = dot_ss8(ONE(a + i), _mm256_loadu_si256((const __m256i *)b[i].qs)); \
        const __m256 d_ = _mm256_set1_ps(_cvtsh_ss(a[i].d) * _cvtsh_ss(b[i].d));   \
        lo = _mm256_fmadd_ps(d_, _mm256_cvtepi32_ps(p_), lo);                      \
    }                                                                              \
    return hsum8(_mm256_add_ps(lo, hi));

#define Q8_0_PAIR(i) dot_ss(load2x32(a[i].qs, a[(i) + 1].qs), load2x32(b[i].qs, b[(i) + 1].qs))

TGT512 static float dot_q8_0(const void *w, const void *x, int64_t n) {
    PAIR_LOOP(blk_q8_0, (int)sizeof(blk_q8_0), Q8_0_PAIR, q8_0_one)
}

#define Q4_0_PAIR(i) dot_us(nibbles2(a[i].qs, a[(i) + 1].qs), load2x32(b[i].qs, b[(i) + 1].qs), 8)

TGT512 static float dot_q4_0(const void *w, const void *x, int64_t n) {
    PAIR_LOOP(blk_q4_0, (int)sizeof(blk_q4_0), Q4_0_PAIR, q4_0_one)
}

/* Q5_0: the fifth bits of both blocks are one 64-bit mask, byte j of block
 * i+1 at bit 32 + j. The value is the nibble where the bit is set and
 * nibble − 16 (negative) where it is clear, so the clear bits are the sign
 * mask: |value| = 16 − nibble there, and x is negated there. */
TGT512 static INLINE __m512i q5_0_pair(const blk_q5_0 *a, const blk_q8_0 *b) {
    uint32_t h0, h1;
    memcpy(&h0, a[0].qh, 4);
    memcpy(&h1, a[1].qh, 4);
    const __mmask64 neg = _cvtu64_mask64(~((uint64_t)h0 | (uint64_t)h1 << 32));
    const __m512i nib = nibbles2(a[0].qs, a[1].qs);
    const __m512i mag = _mm512_mask_sub_epi8(nib, neg, _mm512_set1_epi8(16), nib);
    const __m512i x = load2x32(b[0].qs, b[1].qs);
    const __m512i xs = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), mag, xs);
}

#define Q5_0_PAIR(i) q5_0_pair(a + (i), b + (i))

TGT512 static float dot_q5_0(const void *w, const void *x, int64_t n) {
    PAIR_LOOP(blk_q5_0, (int)sizeof(blk_q5_0), Q5_0_PAIR, q5_0_one)
}

/* ------------------------------------------------------------ K-quants */

/* The K-quant kernels form each super-block's exact integer sums (so any
 * order is the same) and then the very float expression of nn_dot.c's
 * references and nn_avx2.c: bit-identical to both. 64 quants per step:
 * maddubs (q < 64, so no int16 saturation) then vpdpwssd with the group
 * scales spread as int16, one accumulator per super-block. */

/* nn_avx2.c's unpack_k4: Q4_K scales and mins as bytes sc[0..7], mn[0..7]. */
static inline void unpack_k4(const uint8_t *q, uint32_t sc[2], uint32_t mn[2]) {
    uint32_t u[3];
    memcpy(u, q, 12);
    sc[0] = u[0] & 0x3f3f3f3fu;
    mn[0] = u[1] & 0x3f3f3f3fu;
    sc[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    mn[1] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
}

/* vpermw indices spreading int16 scales over the 32 words of maddubs
 * products: 16 words of scale g, then 16 of g + 1 (Q4_K: one scale per 32
 * quants), or 8 words each of g .. g + 3 (Q6_K: one per 16). */
TGT512 static INLINE __m512i spread32(int g) {
    const int lo = g * 0x10001, hi = (g + 1) * 0x10001;
    return _mm512_setr_epi32(lo, lo, lo, lo, lo, lo, lo, lo, hi, hi, hi, hi, hi, hi, hi, hi);
}
TGT512 static INLINE __m512i spread16(int g) {
    const int a = g * 0x10001, b = (g + 1) * 0x10001, c = (g + 2) * 0x10001, d = (g + 3) * 0x10001;
    return _mm512_setr_epi32(a, a, a, a, b, b, b, b, c, c, c, c, d, d, d, d);
}

TGT512 static float dot_q4_K(const void *w, const void *x, int64_t n) {
    const blk_q4_K *a = w;
    const blk_q8_K *b = x;
    const __m512i m4 = _mm512_set1_epi8(0xF), sh = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint32_t sc4[2], mn4[2];
        unpack_k4(a[i].scales, sc4, mn4);
        const __m512i sc16 = _mm512_castsi128_si512(
            _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)sc4[1], (int)sc4[0])));
        const __m128i mn16 = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)mn4[1], (int)mn4[0]));
        __m512i acc = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            /* 32 bytes: low nibbles = group 2c, high = group 2c + 1 */
            const __m512i z = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * c)));
            const __m512i q = _mm512_and_si512(_mm512_srlv_epi64(z, sh), m4);
            const __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(b[i].qs + 64 * c));
            acc = _mm512_dpwssd_epi32(acc, p, _mm512_permutexvar_epi16(spread32(2 * c), sc16));
        }
        const int isum = _mm512_reduce_add_epi32(acc);
        /* Σ_g mn[g]·(bsums[2g] + bsums[2g+1]) */
        __m128i bp = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)b[i].bsums),
                                    _mm_loadu_si128((const __m128i *)(b[i].bsums + 8)));
        bp = _mm_madd_epi16(bp, mn16);
        bp = _mm_add_epi32(bp, _mm_shuffle_epi32(bp, _MM_SHUFFLE(1, 0, 3, 2)));
        bp = _mm_add_epi32(bp, _mm_shuffle_epi32(bp, _MM_SHUFFLE(2, 3, 0, 1)));
        const int msum = _mm_cvtsi128_si32(bp);
        const float d = _cvtsh_ss(a[i].d), dmin = _cvtsh_ss(a[i].dmin);
        s += b[i].d * (d * (float)isum - dmin * (float)msum);
    }
    return s;
}

TGT512 static float dot_q6_K(const void *w, const void *x, int64_t n) {
    const blk_q6_K *a = w;
    const blk_q8_K *b = x;
    const __m512i m4 = _mm512_set1_epi8(0xF), m3 = _mm512_set1_epi8(3);
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m256i sc16y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
        const __m512i sc16 = _mm512_castsi256_si512(sc16y);
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            /* values 128h + 64j + (0..63): ql[64h ..] nibble j (k = 2j, 2j+1
             * in the two 32-byte halves), qh[32h + l] bits 2k, 2k+1 */
            const __m512i ql = _mm512_loadu_si512(a[i].ql + 64 * h);
            const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h)));
            for (int j = 0; j < 2; j++) {
                const __m512i lo = _mm512_and_si512(j ? _mm512_srli_epi16(ql, 4) : ql, m4);
                const __m512i sh = _mm512_setr_epi64(4 * j, 4 * j, 4 * j, 4 * j, 4 * j + 2, 4 * j + 2,
                                                     4 * j + 2, 4 * j + 2);
                const __m512i hb = _mm512_and_si512(_mm512_srlv_epi64(qh, sh), m3);
                const __m512i q = _mm512_or_si512(lo, _mm512_slli_epi16(hb, 4));   /* 0..63 */
                const __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(b[i].qs + 128 * h + 64 * j));
                acc = _mm512_dpwssd_epi32(acc, p, _mm512_permutexvar_epi16(spread16(8 * h + 4 * j), sc16));
            }
        }
        /* Σ sc·(q − 32)·y = Σ sc·q·y − 32·Σ_g sc[g]·bsums[g] */
        __m256i g = _mm256_madd_epi16(sc16y, _mm256_loadu_si256((const __m256i *)b[i].bsums));
        __m128i g4 = _mm_add_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1));
        g4 = _mm_add_epi32(g4, _mm_shuffle_epi32(g4, _MM_SHUFFLE(1, 0, 3, 2)));
        g4 = _mm_add_epi32(g4, _mm_shuffle_epi32(g4, _MM_SHUFFLE(2, 3, 0, 1)));
        const int isum = _mm512_reduce_add_epi32(acc) - 32 * _mm_cvtsi128_si32(g4);
        s += b[i].d * (_cvtsh_ss(a[i].d) * (float)isum);
    }
    return s;
}

void ken_nn_avx512_kernels(ken_nn_dot_fn t[KEN_NN_NTYPES]) {
    t[KEN_DT_Q4_K] = dot_q4_K;
    t[KEN_DT_Q6_K] = dot_q6_K;
    t[KEN_DT_Q8_0] = dot_q8_0;
    t[KEN_DT_Q4_0] = dot_q4_0;
    t[KEN_DT_Q5_0] = dot_q5_0;
}

#else

void ken_nn_avx512_kernels(ken_nn_dot_fn t[KEN_NN_NTYPES]) { (void)t; }

#endif
