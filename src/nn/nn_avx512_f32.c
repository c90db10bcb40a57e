/* nn_avx512_f32.c: AVX-512 F32 GEMM over packed weight panels, for float
 * weights (F32, F16, BF16) with a batch of tokens (the encoder's products,
 * prompt processing of F16 models) and for the encoder's attention.
 *
 * Layout: the weight rows of a product are packed, a chunk at a time, into
 * panels of 16 rows stored k-major, panel[k·16 + i] = W[16p + i][k], F16 and
 * BF16 widened exactly to F32 on the way (rows past the end are zero). The
 * microkernel keeps an MP × NT tile of zmm accumulators (MP ≤ 3 panels = 48
 * rows, NT ≤ 8 tokens): per k it loads MP 16-row weight vectors, broadcasts
 * NT activations and issues MP·NT FMAs, so the 24-accumulator tile does 24
 * FMAs per 3 vector loads + 8 broadcasts. Each accumulator is 16 consecutive
 * outputs of one token, stored straight into y[t·ys + r ..].
 *
 * Sums run over k in order, one FMA per product (no intermediate rounding
 * of products): the values match ken_nn_gemm_f32_ref up to that rounding
 * difference, not bit for bit. Compiled with target attributes; nn_dot.c
 * offers it only at the AVX-512 level. */
#include "nn/nn_impl.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <math.h>

#define TGT __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))
#define INLINE __attribute__((always_inline)) inline

#define PANEL 16     /* rows per panel: one zmm */
#define MP_MAX 3     /* panels per microkernel tile */
#define NT_MAX 8     /* tokens per microkernel tile */

/* ------------------------------------------------------------ packing */

/* Lanes [0, m) of row r's elements k0.. as F32 (the rest zero). */
TGT static INLINE __m512 load_row16(ken_dtype t, const uint8_t *row, int64_t k0, __mmask16 m) {
    if (t == KEN_DT_F16)
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * k0));
    if (t == KEN_DT_BF16)
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, row + 2 * k0)), 16));
    return _mm512_maskz_loadu_ps(m, row + 4 * k0);
}

/* In-register transpose of a 16 × 16 block: r[i] lane j -> r[j] lane i. */
TGT static INLINE void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* t[2i] = a0 b0 a1 b1 | ..., t[2i+1] = a2 b2 a3 b3 | ... (per 128-bit lane) */
    for (int i = 0; i < 4; i++) {
        r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    /* r[4i + c], 128-bit lane L: column 4L + c of rows 4i..4i+3 */
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 4; c++) {
            t[8 * i + c] = _mm512_shuffle_f32x4(r[8 * i + c], r[8 * i + 4 + c], 0x88);
            t[8 * i + 4 + c] = _mm512_shuffle_f32x4(r[8 * i + c], r[8 * i + 4 + c], 0xDD);
        }
    /* t[8i + c]: columns c, 8+c (rows 8i..8i+7 in 4-lane groups), t[8i+4+c]: 4+c, 12+c;
     * then r[j] = column j */
    for (int c = 0; c < 8; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
    }
}

/* Panel of rows [r0, r0 + nr) (nr ≤ 16) into dst (n × 16 floats). */
TGT static void pack_panel(ken_dtype t, const uint8_t *w, size_t rb, int64_t nr, int64_t n,
                           float *dst) {
    __m512 r[16];
    for (int64_t k0 = 0; k0 < n; k0 += 16) {
        const int64_t kn = n - k0 < 16 ? n - k0 : 16;
        const __mmask16 m = (__mmask16)((1u << kn) - 1);
        for (int i = 0; i < 16; i++)
            r[i] = i < nr ? load_row16(t, w + (size_t)i * rb, k0, m) : _mm512_setzero_ps();
        transpose16(r);
        /* constant trip counts keep r in registers (an index known only at
         * run time would put the array in memory) */
        if (kn == 16)
            for (int j = 0; j < 16; j++) _mm512_storeu_ps(dst + (k0 + j) * PANEL, r[j]);
        else
            for (int j = 0; j < 16; j++)
                if (j < kn) _mm512_storeu_ps(dst + (k0 + j) * PANEL, r[j]);
    }
}

/* Rows [0, nr) of a weight matrix of type t (rows rb bytes apart, n
 * elements each) as ceil(nr/16) panels, panel p at dst + p·n·16. */
TGT static void pack_rows(ken_dtype t, const void *w, size_t rb, int64_t nr, int64_t n, float *dst) {
    const uint8_t *src = w;
    for (int64_t p = 0; p * PANEL < nr; p++) {
        const int64_t pr = nr - p * PANEL < PANEL ? nr - p * PANEL : PANEL;
        /* the weights come from memory (each product reads them once): the
         * panel's 16 row streams are too many for the hardware prefetcher,
         * so fetch the next panel's bytes (contiguous) while this one packs */
        const int64_t nx = nr - (p + 1) * PANEL < PANEL ? nr - (p + 1) * PANEL : PANEL;
        const uint8_t *next = src + (size_t)((p + 1) * PANEL) * rb;
        for (size_t b = 0; nx > 0 && b < (size_t)nx * rb; b += 64)
            _mm_prefetch((const char *)(next + b), _MM_HINT_T0);
        pack_panel(t, src + (size_t)(p * PANEL) * rb, rb, pr, n, dst + p * n * PANEL);
    }
}

/* The transposed form: W[r][k] = src[k·ss + r] (e.g. the attention values,
 * V[j][d] as W[d][j]): panels are plain row copies. */
TGT static void pack_cols(const float *src, int64_t ss, int64_t nr, int64_t n, float *dst) {
    for (int64_t p = 0; p * PANEL < nr; p++) {
        const int64_t pr = nr - p * PANEL < PANEL ? nr - p * PANEL : PANEL;
        const __mmask16 m = (__mmask16)((1u << pr) - 1);
        float *d = dst + p * n * PANEL;
        for (int64_t k = 0; k < n; k++)
            _mm512_storeu_ps(d + k * PANEL, _mm512_maskz_loadu_ps(m, src + k * ss + p * PANEL));
    }
}

/* ------------------------------------------------------------ microkernel */

/* MP panels (ps floats apart) × NT tokens (rows of x, xs floats apart), n
 * terms; the last panel's lanes limited to mask. MP and NT are constants
 * after inlining, so the accumulators live in registers. */
TGT static INLINE void tile(const float *wp, int64_t ps, const float *x, int64_t xs, int64_t n,
                            float *y, int64_t ys, __mmask16 mask, const int MP, const int NT) {
    __m512 acc[MP_MAX][NT_MAX];
    for (int p = 0; p < MP; p++)
        for (int t = 0; t < NT; t++) acc[p][t] = _mm512_setzero_ps();
    const float *xr[NT_MAX];
    for (int t = 0; t < NT; t++) xr[t] = x + t * xs;
    for (int64_t k = 0; k < n; k++) {
        __m512 w[MP_MAX];
        for (int p = 0; p < MP; p++) w[p] = _mm512_loadu_ps(wp + p * ps + k * PANEL);
        for (int t = 0; t < NT; t++) {
            const __m512 b = _mm512_set1_ps(xr[t][k]);
            for (int p = 0; p < MP; p++) acc[p][t] = _mm512_fmadd_ps(w[p], b, acc[p][t]);
        }
    }
    for (int t = 0; t < NT; t++)
        for (int p = 0; p < MP; p++)
            _mm512_mask_storeu_ps(y + t * ys + p * PANEL, p == MP - 1 ? mask : 0xFFFF, acc[p][t]);
}

#define TILE_NT(MP)                                                                      \
    switch (nt) {                                                                        \
    case 1: tile(wp, ps, x, xs, n, y, ys, mask, MP, 1); break;                           \
    case 2: tile(wp, ps, x, xs, n, y, ys, mask, MP, 2); break;                           \
    case 3: tile(wp, ps, x, xs, n, y, ys, mask, MP, 3); break;                           \
    case 4: tile(wp, ps, x, xs, n, y, ys, mask, MP, 4); break;                           \
    case 5: tile(wp, ps, x, xs, n, y, ys, mask, MP, 5); break;                           \
    case 6: tile(wp, ps, x, xs, n, y, ys, mask, MP, 6); break;                           \
    case 7: tile(wp, ps, x, xs, n, y, ys, mask, MP, 7); break;                           \
    default: tile(wp, ps, x, xs, n, y, ys, mask, MP, 8); break;                          \
    }

TGT static void tile_any(const float *wp, int64_t ps, int mp, const float *x, int64_t xs, int nt,
                         int64_t n, float *y, int64_t ys, __mmask16 mask) {
    if (mp == 3) {
        TILE_NT(3)
    } else if (mp == 2) {
        TILE_NT(2)
    } else {
        TILE_NT(1)
    }
}

/* y[t·ys + r] = Σ_k W[r][k] · x[t·xs + k] for r < nr, t < nt, W packed by
 * pack_rows / pack_cols (ceil(nr/16) panels of n × 16). Panel groups of
 * MP_MAX outermost: their ≤ 48·n floats stay in L2 while every token
 * passes. */
TGT static void gemm_packed(const float *wp, int64_t nr, const float *x, int64_t xs, int64_t nt,
                            int64_t n, float *y, int64_t ys) {
    const int64_t np = (nr + PANEL - 1) / PANEL, ps = n * PANEL;
    for (int64_t p0 = 0; p0 < np; p0 += MP_MAX) {
        const int mp = np - p0 < MP_MAX ? (int)(np - p0) : MP_MAX;
        const int64_t last = nr - (p0 + mp - 1) * PANEL;   /* rows in the last panel */
        const __mmask16 mask = (__mmask16)(last >= PANEL ? 0xFFFF : (1u << last) - 1);
        for (int64_t t0 = 0; t0 < nt; t0 += NT_MAX) {
            const int tn = nt - t0 < NT_MAX ? (int)(nt - t0) : NT_MAX;
            tile_any(wp + p0 * ps, ps, mp, x + t0 * xs, xs, tn, n, y + t0 * ys + p0 * PANEL, ys,
                     mask);
        }
    }
}

/* F16C rounds to nearest even, overflows to infinity, keeps subnormals and
 * quiets NaNs keeping their top payload bits: ken_nn_fp32_to_fp16's rules. */
#define RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
TGT static void round_f16(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), RNE)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), RNE));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

/* e^x for x <= 0 (softmax's inputs; larger x are not clamped above): x =
 * n·ln2 + r with |r| <= ln2/2 (ln2 split in two so n·ln2 is exact enough),
 * e^r by its Taylor series to r^7 (truncation < 1e-8 relative), times 2^n
 * with scalef (which gives subnormals and 0 below the range). Within 2 ulp
 * of expf; NaN stays NaN; -inf gives 0 (the clamp at -104, where e^x is
 * below the smallest subnormal, also keeps r finite). */
TGT static INLINE __m512 exp_le0(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);   /* NaN: max returns x */
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* ken_model_softmax on scale·x, with exp_le0 for expf: the same max (NaN
 * ignored), the same products and differences, the sum in double, the same
 * reciprocal. */
TGT static void softmax(float *x, int64_t n, float scale) {
    const __m512 sv = _mm512_set1_ps(scale);
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), sv), mx);
    float max = _mm512_reduce_max_ps(mx);
    for (int64_t k = i; k < n; k++) max = x[k] * scale > max ? x[k] * scale : max;
    const __m512 mv = _mm512_set1_ps(max);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
        const __m512 e = exp_le0(_mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv), mv));
        _mm512_mask_storeu_ps(x + i, m, e);
        const __m512 ez = _mm512_maskz_mov_ps(m, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(ez)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(ez), 1))));
    }
    const __m512 inv = _mm512_set1_ps((float)(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(s0, s1))));
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

TGT static void to_f16(const float *x, void *y, int64_t n) {
    uint8_t *d = y;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(d + 2 * i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), RNE));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(d + 2 * i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), RNE));
    }
}

bool ken_nn_avx512_f32_gemm(ken_nn_f32_gemm *g) {
    g->to_f16 = to_f16;
    g->softmax = softmax;
    g->round_f16 = round_f16;
    g->pack_rows = pack_rows;
    g->pack_cols = pack_cols;
    g->gemm = gemm_packed;
    return true;
}

#else

bool ken_nn_avx512_f32_gemm(ken_nn_f32_gemm *g) {
    (void)g;
    return false;
}

#endif
