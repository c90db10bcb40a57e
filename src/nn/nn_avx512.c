/* nn_avx512.c: AVX-512 VNNI integer GEMM for Q8_0 weights × Q8_0
 * activations (prompt processing, batches), which also serves Q5_0 and Q4_0
 * weights (widened to Q8_0's layout when packed), and K-quant ones for Q4_K
 * and Q6_K weights × Q8_K activations (further down). Compiled with target attributes
 * (no -m flags), installed by nn_dot.c only when CPUID says the CPU has
 * AVX-512 F/BW/VL/VNNI.
 *
 * Bit-identical to the one-token AVX2 kernel (dot_q8_0 in nn_avx2.c): that
 * kernel keeps two 8-lane float accumulators per output, acc0 for even
 * blocks and acc1 for odd ones, adds d·(int32 lane sums of 4 products) with
 * one FMA per block and returns hsum(acc0 + acc1). Here one zmm per output
 * holds both: the low 8 lanes are acc0 and the high 8 are acc1, and each
 * step takes two blocks (block i in the low half, i+1 in the high half), so
 * every lane sees the same integer sum, the same scale product and the same
 * FMA in the same order. The integer sums are exact either way: vpdpbusd
 * adds the same 4 byte products per lane as maddubs + madd do.
 *
 * vpdpbusd multiplies unsigned by signed bytes: the activations are stored
 * as x + 128 (x ^ 0x80) and each lane subtracts 128·Σw over its 4 weights,
 * computed once per weight row and step.
 *
 * Both operands are packed first (ken_nn_q8_0_pack): a row's 32-byte quant
 * groups back to back (n bytes), then its n/32 scales as F32, the row padded
 * to a multiple of 64 bytes. Weights are packed once per chunk of rows and
 * reused for every token; activations once per product. */
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

/* The same reduction as nn_avx2.c's hsum_ps, so the last additions round
 * the same way. */
TGT512 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Scales of blocks i and i+1 (consecutive floats at p) as 8 × s[i], 8 × s[i+1]. */
TGT512 static inline __m512 scale_pair(const float *p) {
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m128 two = _mm_castpd_ps(_mm_load_sd((const double *)(const void *)p));
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(two));
}

/* One NR × NT tile (NR, NT ≤ 4, constants after inlining): y[t·ys + r] for
 * packed weight rows w (ws bytes apart) and packed activation rows x (xs
 * bytes apart), n elements. */
TGT512 static INLINE void tile_q8_0(const uint8_t *w, size_t ws, const uint8_t *x, size_t xs,
                                    int64_t n, float *y, int64_t ys, int NR, int NT) {
    const int64_t nb = n / QK8_0;
    const float *wd[4], *xd[4];
    for (int r = 0; r < NR; r++) wd[r] = (const float *)(const void *)(w + (size_t)r * ws + n);
    for (int t = 0; t < NT; t++) xd[t] = (const float *)(const void *)(x + (size_t)t * xs + n);
    const __m512i k80 = _mm512_set1_epi8((char)0x80);
    __m512 acc[4][4];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i wq[4], corr[4];
        __m512 wsc[4];
        for (int r = 0; r < NR; r++) {
            wq[r] = _mm512_loadu_si512(w + (size_t)r * ws + QK8_0 * i);
            corr[r] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                       _mm512_dpbusd_epi32(_mm512_setzero_si512(), k80, wq[r]));
            wsc[r] = scale_pair(wd[r] + i);
        }
        for (int t = 0; t < NT; t++) {
            const __m512i xq = _mm512_loadu_si512(x + (size_t)t * xs + QK8_0 * i);
            const __m512 xsc = scale_pair(xd[t] + i);
            for (int r = 0; r < NR; r++) {
                const __m512i p = _mm512_dpbusd_epi32(corr[r], xq, wq[r]);
                const __m512 d = _mm512_mul_ps(wsc[r], xsc);
                acc[r][t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[r][t]);
            }
        }
    }
    if (i < nb) {   /* odd block count: the last block goes to the low half (acc0) only */
        for (int r = 0; r < NR; r++) {
            const __m512i wq = _mm512_zextsi256_si512(
                _mm256_loadu_si256((const __m256i *)(const void *)(w + (size_t)r * ws + QK8_0 * i)));
            const __m512i corr = _mm512_sub_epi32(_mm512_setzero_si512(),
                                                  _mm512_dpbusd_epi32(_mm512_setzero_si512(), k80, wq));
            const __m512 wsc = _mm512_set1_ps(wd[r][i]);
            for (int t = 0; t < NT; t++) {
                const __m512i xq = _mm512_zextsi256_si512(
                    _mm256_loadu_si256((const __m256i *)(const void *)(x + (size_t)t * xs + QK8_0 * i)));
                const __m512i p = _mm512_dpbusd_epi32(corr, xq, wq);
                const __m512 d = _mm512_mul_ps(wsc, _mm512_set1_ps(xd[t][i]));
                acc[r][t] = _mm512_mask3_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[r][t], 0x00FF);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) {
            const __m256 lo = _mm512_castps512_ps256(acc[r][t]);
            const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r][t]), 1));
            y[t * ys + r] = hsum8(_mm256_add_ps(lo, hi)) + 0.0f;   /* as dot_q8_0: + 0.0f */
        }
}

#define TILE_FN(R, T)                                                               \
    TGT512 static void tile_##R##x##T(const uint8_t *w, size_t ws, const uint8_t *x, size_t xs, \
                                      int64_t n, float *y, int64_t ys) {            \
        tile_q8_0(w, ws, x, xs, n, y, ys, R, T);                                    \
    }
#define TILE_ROW(R) TILE_FN(R, 1) TILE_FN(R, 2) TILE_FN(R, 3) TILE_FN(R, 4)
TILE_ROW(1)
TILE_ROW(2)
TILE_ROW(3)
TILE_ROW(4)

typedef void (*tile_fn)(const uint8_t *, size_t, const uint8_t *, size_t, int64_t, float *, int64_t);
static const tile_fn tiles[4][4] = {
    {tile_1x1, tile_1x2, tile_1x3, tile_1x4},
    {tile_2x1, tile_2x2, tile_2x3, tile_2x4},
    {tile_3x1, tile_3x2, tile_3x3, tile_3x4},
    {tile_4x1, tile_4x2, tile_4x3, tile_4x4},
};

/* y[t·ys + r] = Σ W[r]·X[t] for r < nr, t < nt over packed rows: for each
 * group of 4 weight rows (kept in L1), every group of 4 tokens. */
static void gemm_q8_0(const uint8_t *w, size_t ws, int64_t nr, const uint8_t *x, size_t xs,
                      int64_t nt, int64_t n, float *y, int64_t ys) {
    for (int64_t r = 0; r < nr; r += 4) {
        const int R = nr - r < 4 ? (int)(nr - r) : 4;
        for (int64_t t = 0; t < nt; t += 4) {
            const int T = nt - t < 4 ? (int)(nt - t) : 4;
            tiles[R - 1][T - 1](w + (size_t)r * ws, ws, x + (size_t)t * xs, xs, n,
                                y + t * ys + r, ys);
        }
    }
}

/* ------------------------------------------------------------ Q4_K × Q8_K */

/* Packed super-block (KSB bytes; weights and activations alike):
 * weights: 256 quants as unsigned bytes (0..15) in element order, the 8
 * sub-block scales as int32, the 8 mins as int16, d and dmin as F32;
 * activations: the 256 quants, the 8 sums of 32 (bsums[2g] + bsums[2g+1])
 * as int16, d as F32. */
#define KSB 320
#define KSB_SC 256
#define KSB_MN 288
#define KSB_D 304
#define KSB_DMIN 308
#define KSB_BP 256
#define KSB_XD 272

/* Four 16-lane int32 sums (one per token) -> their four totals. */
TGT512 static inline __m128i reduce4(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    const __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
    const __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
    const __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
    const __m256i v = _mm256_add_epi32(_mm512_castsi512_si256(u), _mm512_extracti64x4_epi64(u, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

/* NR weight rows × 4 token slots (slots past NT repeat the last token and
 * are not stored). Per super-block: isum = Σ_c sc[c]·Σ q·y and msum =
 * Σ_g mn[g]·bp[g], both exact integers as in the one-token kernel, then the
 * same float expression, s += xd·(d·isum − dmin·msum), in four lanes. */
TGT512 static INLINE void tile_q4_K(const uint8_t *w, size_t ws, const uint8_t *x, size_t xs,
                                    int64_t n, float *y, int64_t ys, int NR, int NT) {
    const uint8_t *xr[4];
    for (int t = 0; t < 4; t++) xr[t] = x + (size_t)(t < NT ? t : NT - 1) * xs;
    __m128 s[4];
    for (int r = 0; r < NR; r++) s[r] = _mm_setzero_ps();
    for (int64_t sb = 0; sb < n / QK_K; sb++) {
        const size_t off = (size_t)sb * KSB;
        __m512i acc[4][4];
        for (int r = 0; r < NR; r++)
            for (int t = 0; t < 4; t++) acc[r][t] = _mm512_setzero_si512();
        for (int c2 = 0; c2 < 4; c2++) {
            const __m512i idx = _mm512_setr_epi32(2 * c2, 2 * c2, 2 * c2, 2 * c2, 2 * c2, 2 * c2, 2 * c2,
                                                  2 * c2, 2 * c2 + 1, 2 * c2 + 1, 2 * c2 + 1, 2 * c2 + 1,
                                                  2 * c2 + 1, 2 * c2 + 1, 2 * c2 + 1, 2 * c2 + 1);
            __m512i wq[4], sc[4];
            for (int r = 0; r < NR; r++) {
                const uint8_t *p = w + (size_t)r * ws + off;
                wq[r] = _mm512_loadu_si512(p + 64 * c2);
                sc[r] = _mm512_permutexvar_epi32(
                    idx, _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(p + KSB_SC))));
            }
            for (int t = 0; t < 4; t++) {
                const __m512i xq = _mm512_loadu_si512(xr[t] + off + 64 * c2);
                for (int r = 0; r < NR; r++) {
                    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[r], xq);
                    acc[r][t] = _mm512_add_epi32(acc[r][t], _mm512_mullo_epi32(p, sc[r]));
                }
            }
        }
        __m128i bp[4];
        float xd[4];
        for (int t = 0; t < 4; t++) {
            bp[t] = _mm_loadu_si128((const __m128i *)(const void *)(xr[t] + off + KSB_BP));
            memcpy(&xd[t], xr[t] + off + KSB_XD, 4);
        }
        const __m128 xdv = _mm_loadu_ps(xd);
        for (int r = 0; r < NR; r++) {
            const uint8_t *p = w + (size_t)r * ws + off;
            const __m128i isum = reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
            const __m128i mn = _mm_loadu_si128((const __m128i *)(const void *)(p + KSB_MN));
            const __m128i msum = _mm_hadd_epi32(
                _mm_hadd_epi32(_mm_madd_epi16(mn, bp[0]), _mm_madd_epi16(mn, bp[1])),
                _mm_hadd_epi32(_mm_madd_epi16(mn, bp[2]), _mm_madd_epi16(mn, bp[3])));
            float d, dmin;
            memcpy(&d, p + KSB_D, 4);
            memcpy(&dmin, p + KSB_DMIN, 4);
            const __m128 f = _mm_sub_ps(_mm_mul_ps(_mm_set1_ps(d), _mm_cvtepi32_ps(isum)),
                                        _mm_mul_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(msum)));
            s[r] = _mm_add_ps(s[r], _mm_mul_ps(xdv, f));
        }
    }
    for (int r = 0; r < NR; r++) {
        float o[4];
        _mm_storeu_ps(o, s[r]);
        for (int t = 0; t < NT; t++) y[t * ys + r] = o[t];
    }
}

#define KTILE_FN(R)                                                                 \
    TGT512 static void ktile_##R(const uint8_t *w, size_t ws, const uint8_t *x, size_t xs, \
                                 int64_t n, float *y, int64_t ys, int nt) {         \
        switch (nt) {                                                               \
        case 1: tile_q4_K(w, ws, x, xs, n, y, ys, R, 1); break;                     \
        case 2: tile_q4_K(w, ws, x, xs, n, y, ys, R, 2); break;                     \
        case 3: tile_q4_K(w, ws, x, xs, n, y, ys, R, 3); break;                     \
        default: tile_q4_K(w, ws, x, xs, n, y, ys, R, 4); break;                    \
        }                                                                           \
    }
KTILE_FN(1)
KTILE_FN(2)
KTILE_FN(3)
KTILE_FN(4)

typedef void (*ktile_fn)(const uint8_t *, size_t, const uint8_t *, size_t, int64_t, float *, int64_t, int);
static const ktile_fn ktiles[4] = {ktile_1, ktile_2, ktile_3, ktile_4};

static void gemm_q4_K(const uint8_t *w, size_t ws, int64_t nr, const uint8_t *x, size_t xs,
                      int64_t nt, int64_t n, float *y, int64_t ys) {
    for (int64_t r = 0; r < nr; r += 4) {
        const int R = nr - r < 4 ? (int)(nr - r) : 4;
        for (int64_t t = 0; t < nt; t += 4) {
            const int T = nt - t < 4 ? (int)(nt - t) : 4;
            ktiles[R - 1](w + (size_t)r * ws, ws, x + (size_t)t * xs, xs, n, y + t * ys + r, ys, T);
        }
    }
}

/* ------------------------------------------------------------ Q6_K × Q8_K */

/* Packed Q6_K super-block (KSB bytes): 256 quants as unsigned bytes 0..63
 * (value + 32) in element order, the 16 scales (int8), d as F32;
 * activations: the 256 quants, the 16 bsums (int16), d as F32. */
#define K6_SC 256
#define K6_D 272
#define K6_BS 256
#define K6_XD 288

/* As tile_q4_K: isum = Σ_g sc[g]·Σ q·y − 32·Σ_g sc[g]·bsums[g] (exact
 * integers, as the one-token kernel), then s += xd·(d·isum). */
TGT512 static INLINE void tile_q6_K(const uint8_t *w, size_t ws, const uint8_t *x, size_t xs,
                                    int64_t n, float *y, int64_t ys, int NR, int NT) {
    const uint8_t *xr[4];
    for (int t = 0; t < 4; t++) xr[t] = x + (size_t)(t < NT ? t : NT - 1) * xs;
    __m128 s[4];
    for (int r = 0; r < NR; r++) s[r] = _mm_setzero_ps();
    for (int64_t sb = 0; sb < n / QK_K; sb++) {
        const size_t off = (size_t)sb * KSB;
        __m512i acc[4][4], sc32[4];
        for (int r = 0; r < NR; r++) {
            sc32[r] = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(w + (size_t)r * ws + off + K6_SC)));
            for (int t = 0; t < 4; t++) acc[r][t] = _mm512_setzero_si512();
        }
        for (int c2 = 0; c2 < 4; c2++) {
            const int g = 4 * c2;
            const __m512i idx = _mm512_setr_epi32(g, g, g, g, g + 1, g + 1, g + 1, g + 1, g + 2, g + 2,
                                                  g + 2, g + 2, g + 3, g + 3, g + 3, g + 3);
            __m512i wq[4], sc[4];
            for (int r = 0; r < NR; r++) {
                wq[r] = _mm512_loadu_si512(w + (size_t)r * ws + off + 64 * c2);
                sc[r] = _mm512_permutexvar_epi32(idx, sc32[r]);
            }
            for (int t = 0; t < 4; t++) {
                const __m512i xq = _mm512_loadu_si512(xr[t] + off + 64 * c2);
                for (int r = 0; r < NR; r++) {
                    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[r], xq);
                    acc[r][t] = _mm512_add_epi32(acc[r][t], _mm512_mullo_epi32(p, sc[r]));
                }
            }
        }
        __m256i bs[4];
        float xd[4];
        for (int t = 0; t < 4; t++) {
            bs[t] = _mm256_loadu_si256((const __m256i *)(const void *)(xr[t] + off + K6_BS));
            memcpy(&xd[t], xr[t] + off + K6_XD, 4);
        }
        const __m128 xdv = _mm_loadu_ps(xd);
        for (int r = 0; r < NR; r++) {
            const uint8_t *p = w + (size_t)r * ws + off;
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p + K6_SC)));
            const __m256i h = _mm256_hadd_epi32(
                _mm256_hadd_epi32(_mm256_madd_epi16(sc16, bs[0]), _mm256_madd_epi16(sc16, bs[1])),
                _mm256_hadd_epi32(_mm256_madd_epi16(sc16, bs[2]), _mm256_madd_epi16(sc16, bs[3])));
            const __m128i msum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
            const __m128i isum = _mm_sub_epi32(reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]),
                                               _mm_slli_epi32(msum, 5));
            float d;
            memcpy(&d, p + K6_D, 4);
            const __m128 f = _mm_mul_ps(_mm_set1_ps(d), _mm_cvtepi32_ps(isum));
            s[r] = _mm_add_ps(s[r], _mm_mul_ps(xdv, f));
        }
    }
    for (int r = 0; r < NR; r++) {
        float o[4];
        _mm_storeu_ps(o, s[r]);
        for (int t = 0; t < NT; t++) y[t * ys + r] = o[t];
    }
}

#define K6TILE_FN(R)                                                                \
    TGT512 static void k6tile_##R(const uint8_t *w, size_t ws, const uint8_t *x, size_t xs, \
                                  int64_t n, float *y, int64_t ys, int nt) {        \
        switch (nt) {                                                               \
        case 1: tile_q6_K(w, ws, x, xs, n, y, ys, R, 1); break;                     \
        case 2: tile_q6_K(w, ws, x, xs, n, y, ys, R, 2); break;                     \
        case 3: tile_q6_K(w, ws, x, xs, n, y, ys, R, 3); break;                     \
        default: tile_q6_K(w, ws, x, xs, n, y, ys, R, 4); break;                    \
        }                                                                           \
    }
K6TILE_FN(1)
K6TILE_FN(2)
K6TILE_FN(3)
K6TILE_FN(4)

static const ktile_fn k6tiles[4] = {k6tile_1, k6tile_2, k6tile_3, k6tile_4};

static void gemm_q6_K(const uint8_t *w, size_t ws, int64_t nr, const uint8_t *x, size_t xs,
                      int64_t nt, int64_t n, float *y, int64_t ys) {
    for (int64_t r = 0; r < nr; r += 4) {
        const int R = nr - r < 4 ? (int)(nr - r) : 4;
        for (int64_t t = 0; t < nt; t += 4) {
            const int T = nt - t < 4 ? (int)(nt - t) : 4;
            k6tiles[R - 1](w + (size_t)r * ws, ws, x + (size_t)t * xs, xs, n, y + t * ys + r, ys, T);
        }
    }
}

/* Q4_0 and Q5_0 weights are widened to Q8_0's layout when packed: their
 * one-token kernels form the same per-block integer sums and the same
 * float operations as Q8_0's, so one GEMM serves the three. */
ken_nn_qgemm_fn ken_nn_avx512_qgemm(ken_dtype wt) {
    if (wt == KEN_DT_Q4_K) return gemm_q4_K;
    if (wt == KEN_DT_Q6_K) return gemm_q6_K;
    return wt == KEN_DT_Q8_0 || wt == KEN_DT_Q5_0 || wt == KEN_DT_Q4_0 ? gemm_q8_0 : NULL;
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high. */
TGT512 static inline __m256i nibbles32(const uint8_t *p) {
    const __m128i t = _mm_loadu_si128((const __m128i *)(const void *)p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0xF));
}

/* Byte i = 0xFF where bit i of bits is set. */
TGT512 static inline __m256i bits_to_bytes(uint32_t bits) {
    return _mm256_movm_epi8(bits);
}

/* Q4_0 / Q5_0 / Q8_0 weight row -> packed: block quants as signed bytes
 * (their values, ggml's element order: low nibbles are elements 0..15,
 * high nibbles 16..31, Q5_0's bit j of qh the fifth bit of element j), then
 * the scales as F32. */
TGT512 static void pack_w(ken_dtype wt, const uint8_t *src, int64_t n, uint8_t *dst) {
    const int64_t nb = n / QK8_0;
    const size_t bb = ken_nn_block_bytes(wt);
    float *d = (float *)(void *)(dst + n);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = src + (size_t)i * bb;
        __m256i q;
        if (wt == KEN_DT_Q8_0) {
            q = _mm256_loadu_si256((const __m256i *)(const void *)(b + 2));
        } else if (wt == KEN_DT_Q4_0) {
            q = _mm256_sub_epi8(nibbles32(b + 2), _mm256_set1_epi8(8));
        } else {   /* Q5_0: nibble - 16 = nibble | 0xF0 where the fifth bit is clear */
            uint32_t qh;
            memcpy(&qh, b + 2, 4);
            const __m256i hi = _mm256_andnot_si256(bits_to_bytes(qh), _mm256_set1_epi8((char)0xF0));
            q = _mm256_or_si256(nibbles32(b + 6), hi);
        }
        _mm256_storeu_si256((__m256i *)(void *)(dst + QK8_0 * i), q);
        d[i] = half_at(b);
    }
    const size_t used = (size_t)n + (size_t)nb * sizeof(float);
    memset(dst + used, 0, ken_nn_q8_0_packed_bytes(n) - used);
}

void ken_nn_qgemm_pack_w(ken_dtype wt, const void *src, int64_t n, uint8_t *dst) {
    pack_w(wt, src, n, dst);
}

#else

/* Q4_0 / Q5_0 block i of src as 32 signed bytes (ggml's element order: low
 * nibbles are elements 0..15, high nibbles 16..31; Q5_0's bit j of qh is
 * the fifth bit of element j) and its scale. */
static float widen_block(ken_dtype wt, const uint8_t *src, int64_t i, uint8_t *q) {
    if (wt == KEN_DT_Q4_0) {
        const blk_q4_0 *b = (const blk_q4_0 *)(const void *)src + i;
        for (int k = 0; k < 16; k++) {
            q[k] = (uint8_t)((b->qs[k] & 0xF) - 8);
            q[k + 16] = (uint8_t)((b->qs[k] >> 4) - 8);
        }
        return half_at(&b->d);
    }
    const blk_q5_0 *b = (const blk_q5_0 *)(const void *)src + i;
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    for (int k = 0; k < 16; k++) {
        q[k] = (uint8_t)(((b->qs[k] & 0xF) | (((qh >> k) & 1) << 4)) - 16);
        q[k + 16] = (uint8_t)(((b->qs[k] >> 4) | (((qh >> (k + 16)) & 1) << 4)) - 16);
    }
    return half_at(&b->d);
}

void ken_nn_qgemm_pack_w(ken_dtype wt, const void *src, int64_t n, uint8_t *dst) {
    if (wt == KEN_DT_Q8_0) {
        ken_nn_q8_0_pack(src, n, false, dst);
        return;
    }
    const int64_t nb = n / QK8_0;
    float *d = (float *)(void *)(dst + n);
    for (int64_t i = 0; i < nb; i++) d[i] = widen_block(wt, src, i, dst + QK8_0 * i);
    const size_t used = (size_t)n + (size_t)nb * sizeof(float);
    memset(dst + used, 0, ken_nn_q8_0_packed_bytes(n) - used);
}

ken_nn_qgemm_fn ken_nn_avx512_qgemm(ken_dtype wt) {
    (void)wt;
    return NULL;
}

#endif

size_t ken_nn_q8_0_packed_bytes(int64_t n) {
    return ((size_t)n + (size_t)(n / QK8_0) * sizeof(float) + 63) / 64 * 64;
}

void ken_nn_q8_0_pack(const void *src, int64_t n, bool act, uint8_t *dst) {
    const blk_q8_0 *b = src;
    const int64_t nb = n / QK8_0;
    float *d = (float *)(void *)(dst + n);
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *q = dst + QK8_0 * i;
        memcpy(q, b[i].qs, QK8_0);
        if (act)
            for (int k = 0; k < QK8_0; k++) q[k] ^= 0x80;   /* x + 128 as an unsigned byte */
        d[i] = half_at(&b[i].d);
    }
    const size_t used = (size_t)n + (size_t)nb * sizeof(float);
    memset(dst + used, 0, ken_nn_q8_0_packed_bytes(n) - used);
}

/* ------------------------------------------------------------ K-quant packing */

size_t ken_nn_qgemm_packed_bytes(ken_dtype wt, int64_t n) {
    return wt == KEN_DT_Q4_K || wt == KEN_DT_Q6_K ? (size_t)(n / QK_K) * 320
                                                  : ken_nn_q8_0_packed_bytes(n);
}

static void pack_q4_K_w(const void *src, int64_t n, uint8_t *dst) {
    const blk_q4_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += 320) {
        memset(dst, 0, 320);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                dst[64 * c + l] = b[i].qs[32 * c + l] & 0xF;
                dst[64 * c + 32 + l] = b[i].qs[32 * c + l] >> 4;
            }
        for (int j = 0; j < 8; j++) {
            uint8_t sc, mn;
            scale_min_k4(j, b[i].scales, &sc, &mn);
            const int32_t sc32 = sc;
            const int16_t mn16 = mn;
            memcpy(dst + 256 + 4 * j, &sc32, 4);
            memcpy(dst + 288 + 2 * j, &mn16, 2);
        }
        const float d = half_at(&b[i].d), dmin = half_at(&b[i].dmin);
        memcpy(dst + 304, &d, 4);
        memcpy(dst + 308, &dmin, 4);
    }
}

/* Q6_K weight row: values + 32 (0..63) in element order (element 128h +
 * 32k + l: nibble of ql[64h + l + 32(k%2)], high one when k >= 2, plus bits
 * 2k of qh[32h + l] as bits 4-5), the 16 scales, d. */
static void pack_q6_K_w(const void *src, int64_t n, uint8_t *dst) {
    const blk_q6_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += 320) {
        memset(dst, 0, 320);
        for (int e = 0; e < QK_K; e++) {
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            const uint8_t ql = b[i].ql[64 * h + l + 32 * (k % 2)];
            const int nib = k >= 2 ? ql >> 4 : ql & 0xF;
            dst[e] = (uint8_t)(nib | (((b[i].qh[32 * h + l] >> (2 * k)) & 3) << 4));
        }
        memcpy(dst + 256, b[i].scales, 16);
        const float d = half_at(&b[i].d);
        memcpy(dst + 272, &d, 4);
    }
}

void ken_nn_qgemm_pack_x(ken_dtype wt, const void *xq, int64_t n, uint8_t *dst) {
    if (wt == KEN_DT_Q6_K) {   /* quants, the 16 bsums, d */
        const blk_q8_K *b = xq;
        for (int64_t i = 0; i < n / QK_K; i++, dst += 320) {
            memset(dst, 0, 320);
            memcpy(dst, b[i].qs, QK_K);
            memcpy(dst + 256, b[i].bsums, 32);
            memcpy(dst + 288, &b[i].d, 4);
        }
        return;
    }
    if (wt != KEN_DT_Q4_K) {
        ken_nn_q8_0_pack(xq, n, true, dst);
        return;
    }
    const blk_q8_K *b = xq;
    for (int64_t i = 0; i < n / QK_K; i++, dst += 320) {
        memset(dst, 0, 320);
        memcpy(dst, b[i].qs, QK_K);
        for (int g = 0; g < 8; g++) {
            const int16_t v = (int16_t)(b[i].bsums[2 * g] + b[i].bsums[2 * g + 1]);
            memcpy(dst + 256 + 2 * g, &v, 2);
        }
        memcpy(dst + 272, &b[i].d, 4);
    }
}

void ken_nn_qgemm_pack(ken_dtype wt, const void *src, int64_t n, uint8_t *dst) {
    if (wt == KEN_DT_Q4_K) pack_q4_K_w(src, n, dst);
    else if (wt == KEN_DT_Q6_K) pack_q6_K_w(src, n, dst);
    else ken_nn_qgemm_pack_w(wt, src, n, dst);
}
