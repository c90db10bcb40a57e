/* nn_neon_body.h: the quantized NEON kernels of one integer level, included
 * by nn_neon.c once per level with SFX(name) (the level's name suffix), TGT
 * (its target attribute) and DOT16(acc, a, b) (acc + Σ a·b over 16 signed
 * bytes, four int32 lanes) defined. Not a header for anything else.
 *
 * Each kernel is written once for nx activation rows sharing the decoding
 * of each weight block and instantiated for nx = 1..4 with nx a constant:
 * the one-row kernel and every row of the multi-row kernels run the same
 * operations in the same order, so they agree bit for bit. */

/* ------------------------------------------------------------ 32-element blocks */

/* Σ q·y over one block of 32: q0 pairs with y[0..15], q1 with y[16..31]. */
TGT static INLINE int SFX(isum32)(int8x16_t q0, int8x16_t q1, const int8_t *y) {
    int32x4_t p = DOT16(vdupq_n_s32(0), q0, vld1q_s8(y));
    p = DOT16(p, q1, vld1q_s8(y + 16));
    return vaddvq_s32(p);
}

/* The block loop of the formats without a min: DECODE(i) sets q0, q1. */
#define BLOCKS_SIGNED(wtype, DECODE)                                               \
    const wtype *a = w;                                                            \
    ACT_ROWS(blk_q8_0, b, x, xs, nx)                                               \
    float s[NX_MAX] = {0};                                                         \
    for (int64_t i = 0; i < n / 32; i++) {                                         \
        int8x16_t q0, q1;                                                          \
        DECODE(i);                                                                 \
        const float da = half_at(&a[i].d);                                         \
        for (int k = 0; k < nx; k++)                                               \
            s[k] += (float)SFX(isum32)(q0, q1, b[k][i].qs) * (da * half_at(&b[k][i].d)); \
    }                                                                              \
    for (int k = 0; k < nx; k++) out[k] = s[k];

/* The same with Q4_1 / Q5_1's min term m·s against Q8_1. */
#define BLOCKS_MIN(wtype, DECODE)                                                  \
    const wtype *a = w;                                                            \
    ACT_ROWS(blk_q8_1, b, x, xs, nx)                                               \
    float s[NX_MAX] = {0};                                                         \
    for (int64_t i = 0; i < n / 32; i++) {                                         \
        int8x16_t q0, q1;                                                          \
        DECODE(i);                                                                 \
        const float da = half_at(&a[i].d), ma = half_at(&a[i].m);                  \
        for (int k = 0; k < nx; k++)                                               \
            s[k] += (float)SFX(isum32)(q0, q1, b[k][i].qs) * (da * half_at(&b[k][i].d)) + \
                    ma * half_at(&b[k][i].s);                                      \
    }                                                                              \
    for (int k = 0; k < nx; k++) out[k] = s[k];

#define DEC_Q4_0(i)                                                                \
    do {                                                                           \
        uint8x16_t lo_, hi_;                                                       \
        nibbles(a[i].qs, &lo_, &hi_);                                              \
        q0 = vsubq_s8(vreinterpretq_s8_u8(lo_), vdupq_n_s8(8));                    \
        q1 = vsubq_s8(vreinterpretq_s8_u8(hi_), vdupq_n_s8(8));                    \
    } while (0)

#define DEC_Q4_1(i)                                                                \
    do {                                                                           \
        uint8x16_t lo_, hi_;                                                       \
        nibbles(a[i].qs, &lo_, &hi_);                                              \
        q0 = vreinterpretq_s8_u8(lo_);                                             \
        q1 = vreinterpretq_s8_u8(hi_);                                             \
    } while (0)

/* Q5: the fifth bit of value j is bit j of qh (values 16..31: bits 16..31). */
#define DEC_Q5(i, bias)                                                            \
    do {                                                                           \
        uint8x16_t lo_, hi_;                                                       \
        uint32_t qh_;                                                              \
        memcpy(&qh_, a[i].qh, 4);                                                  \
        nibbles(a[i].qs, &lo_, &hi_);                                              \
        q0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo_, bit4_of(qh_ & 0xFFFF))), vdupq_n_s8(bias)); \
        q1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(hi_, bit4_of(qh_ >> 16))), vdupq_n_s8(bias)); \
    } while (0)
#define DEC_Q5_0(i) DEC_Q5(i, 16)
#define DEC_Q5_1(i) DEC_Q5(i, 0)

#define DEC_Q8_0(i)                                                                \
    do {                                                                           \
        q0 = vld1q_s8(a[i].qs);                                                    \
        q1 = vld1q_s8(a[i].qs + 16);                                               \
    } while (0)

TGT static INLINE void SFX(q4_0_n)(const void *w, const void *x, size_t xs, int64_t n, int nx,
                                   float *out) {
    BLOCKS_SIGNED(blk_q4_0, DEC_Q4_0)
}
TGT static INLINE void SFX(q5_0_n)(const void *w, const void *x, size_t xs, int64_t n, int nx,
                                   float *out) {
    BLOCKS_SIGNED(blk_q5_0, DEC_Q5_0)
}
TGT static INLINE void SFX(q8_0_n)(const void *w, const void *x, size_t xs, int64_t n, int nx,
                                   float *out) {
    BLOCKS_SIGNED(blk_q8_0, DEC_Q8_0)
}
TGT static INLINE void SFX(q4_1_n)(const void *w, const void *x, size_t xs, int64_t n, int nx,
                                   float *out) {
    BLOCKS_MIN(blk_q4_1, DEC_Q4_1)
}
TGT static INLINE void SFX(q5_1_n)(const void *w, const void *x, size_t xs, int64_t n, int nx,
                                   float *out) {
    BLOCKS_MIN(blk_q5_1, DEC_Q5_1)
}

#undef BLOCKS_SIGNED
#undef BLOCKS_MIN

/* ------------------------------------------------------------ K-quants */

/* acc[k] += scale_lo · Σ q0·y[0..15] + scale_hi · Σ q1·y[16..31] for the 32
 * values of chunk c (y = row k's quants from 32c) of every row. */
#define CHUNK_ROWS(q0, q1, c, scale_lo, scale_hi)                                  \
    for (int k = 0; k < nx; k++) {                                                 \
        const int8_t *y_ = b[k][i].qs + 32 * (c);                                  \
        acc[k] = vmlaq_n_s32(acc[k], DOT16(vdupq_n_s32(0), q0, vld1q_s8(y_)), scale_lo); \
        acc[k] = vmlaq_n_s32(acc[k], DOT16(vdupq_n_s32(0), q1, vld1q_s8(y_ + 16)), scale_hi); \
    }

#define ACC_ZERO                                                                   \
    int32x4_t acc[NX_MAX];                                                         \
    for (int k = 0; k < nx; k++) acc[k] = vdupq_n_s32(0);

/* Σ_g m[g]·bsums[g] over the 16 groups of 16 (m as int16). */
TGT static INLINE int SFX(wsum16)(int16x8_t m0, int16x8_t m1, const int16_t *bs) {
    int32x4_t p = vmull_s16(vget_low_s16(m0), vld1_s16(bs));
    p = vmlal_s16(p, vget_high_s16(m0), vld1_s16(bs + 4));
    p = vmlal_s16(p, vget_low_s16(m1), vld1_s16(bs + 8));
    p = vmlal_s16(p, vget_high_s16(m1), vld1_s16(bs + 12));
    return vaddvq_s32(p);
}

TGT static INLINE void SFX(q2_K_n)(const void *w, const void *x, size_t xs, int64_t n, int nx,
                                   float *out) {
    const blk_q2_K *a = w;
    ACT_ROWS(blk_q8_K, b, x, xs, nx)
    const uint8x16_t m3 = vdupq_n_u8(3);
    float s[NX_MAX] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *sc = a[i].scales;
        const uint8x16_t scv = vld1q_u8(sc);
        const uint8x16_t mnv = vshrq_n_u8(scv, 4);
        const int16x8_t mn0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mnv)));
        const int16x8_t mn1 = vreinterpretq_s16_u16(vmovl_high_u8(mnv));
        ACC_ZERO
        for (int h = 0; h < 2; h++) {
            uint8x16_t v0 = vld1q_u8(a[i].qs + 32 * h), v1 = vld1q_u8(a[i].qs + 32 * h + 16);
            for (int j = 0; j < 4; j++) {   /* chunk c = 4h + j: bits 2j of the 32 bytes */
                const int c = 4 * h + j;
                const int8x16_t q0 = vreinterpretq_s8_u8(vandq_u8(v0, m3));
                const int8x16_t q1 = vreinterpretq_s8_u8(vandq_u8(v1, m3));
                v0 = vshrq_n_u8(v0, 2);
                v1 = vshrq_n_u8(v1, 2);
                CHUNK_ROWS(q0, q1, c, sc[2 * c] & 0xF, sc[2 * c + 1] & 0xF)
            }
        }
        const float d = ken_nn_fp16_to_fp32(a[i].d), dmin = ken_nn_fp16_to_fp32(a[i].dmin);
        for (int k = 0; k < nx; k++) {
            const int isum = vaddvq_s32(acc[k]), msum = SFX(wsum16)(mn0, mn1, b[k][i].bsums);
            s[k] += b[k][i].d * (d * (float)isum - dmin * (float)msum);
        }
    }
    for (int k = 0; k < nx; k++) out[k] = s[k];
}

TGT static INLINE void SFX(q3_K_n)(const void *w, const void *x, size_t xs, int64_t n, int nx,
                                   float *out) {
    const blk_q3_K *a = w;
    ACT_ROWS(blk_q8_K, b, x, xs, nx)
    const uint8x16_t m3 = vdupq_n_u8(3), m1 = vdupq_n_u8(1);
    const int8x16_t four = vdupq_n_s8(4);
    float s[NX_MAX] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        int sc[16];
        q3k_scales(a[i].scales, sc);
        uint8x16_t hm0 = vld1q_u8(a[i].hmask), hm1 = vld1q_u8(a[i].hmask + 16);   /* bit c: chunk c */
        ACC_ZERO
        for (int h = 0; h < 2; h++) {
            uint8x16_t v0 = vld1q_u8(a[i].qs + 32 * h), v1 = vld1q_u8(a[i].qs + 32 * h + 16);
            for (int j = 0; j < 4; j++) {
                const int c = 4 * h + j;
                /* u = low 2 bits + 4·high bit in 0..7; the value is u - 4 */
                const uint8x16_t u0 = vorrq_u8(vandq_u8(v0, m3), vshlq_n_u8(vandq_u8(hm0, m1), 2));
                const uint8x16_t u1 = vorrq_u8(vandq_u8(v1, m3), vshlq_n_u8(vandq_u8(hm1, m1), 2));
                const int8x16_t q0 = vsubq_s8(vreinterpretq_s8_u8(u0), four);
                const int8x16_t q1 = vsubq_s8(vreinterpretq_s8_u8(u1), four);
                v0 = vshrq_n_u8(v0, 2);
                v1 = vshrq_n_u8(v1, 2);
                hm0 = vshrq_n_u8(hm0, 1);
                hm1 = vshrq_n_u8(hm1, 1);
                CHUNK_ROWS(q0, q1, c, sc[2 * c], sc[2 * c + 1])
            }
        }
        const float d = ken_nn_fp16_to_fp32(a[i].d);
        for (int k = 0; k < nx; k++) s[k] += b[k][i].d * (d * (float)vaddvq_s32(acc[k]));
    }
    for (int k = 0; k < nx; k++) out[k] = s[k];
}

TGT static INLINE void SFX(q45_K_n)(bool five, const void *w, const void *x, size_t xs, int64_t n,
                                    int nx, float *out) {
    const size_t bb = five ? sizeof(blk_q5_K) : sizeof(blk_q4_K);
    ACT_ROWS(blk_q8_K, b, x, xs, nx)
    const uint8x16_t m4 = vdupq_n_u8(0xF), m1 = vdupq_n_u8(1);
    float s[NX_MAX] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *p = (const uint8_t *)w + i * bb;
        const uint8_t *ql = p + 16 + (five ? 32 : 0);
        uint8_t sc[8], mn[8];
        for (int g = 0; g < 8; g++) scale_min_k4(g, p + 4, &sc[g], &mn[g]);
        /* Q5_K's fifth bits: bit g of the 32 bytes, shifted 2 per chunk */
        uint8x16_t h0 = vdupq_n_u8(0), h1 = h0;
        if (five) {
            h0 = vld1q_u8(p + 16);
            h1 = vld1q_u8(p + 32);
        }
        ACC_ZERO
        for (int c = 0; c < 4; c++) {   /* 32 bytes: group 2c low nibbles, 2c + 1 high */
            const uint8x16_t v0 = vld1q_u8(ql + 32 * c), v1 = vld1q_u8(ql + 32 * c + 16);
            uint8x16_t lo0 = vandq_u8(v0, m4), lo1 = vandq_u8(v1, m4);
            uint8x16_t hi0 = vshrq_n_u8(v0, 4), hi1 = vshrq_n_u8(v1, 4);
            if (five) {
                lo0 = vorrq_u8(lo0, vshlq_n_u8(vandq_u8(h0, m1), 4));
                lo1 = vorrq_u8(lo1, vshlq_n_u8(vandq_u8(h1, m1), 4));
                hi0 = vorrq_u8(hi0, vshlq_n_u8(vandq_u8(vshrq_n_u8(h0, 1), m1), 4));
                hi1 = vorrq_u8(hi1, vshlq_n_u8(vandq_u8(vshrq_n_u8(h1, 1), m1), 4));
                h0 = vshrq_n_u8(h0, 2);
                h1 = vshrq_n_u8(h1, 2);
            }
            CHUNK_ROWS(vreinterpretq_s8_u8(lo0), vreinterpretq_s8_u8(lo1), 2 * c, sc[2 * c], sc[2 * c])
            CHUNK_ROWS(vreinterpretq_s8_u8(hi0), vreinterpretq_s8_u8(hi1), 2 * c + 1, sc[2 * c + 1],
                       sc[2 * c + 1])
        }
        const float d = half_at(p), dmin = half_at(p + 2);
        for (int k = 0; k < nx; k++) {
            int msum = 0;
            for (int g = 0; g < 8; g++) msum += mn[g] * (b[k][i].bsums[2 * g] + b[k][i].bsums[2 * g + 1]);
            s[k] += b[k][i].d * (d * (float)vaddvq_s32(acc[k]) - dmin * (float)msum);
        }
    }
    for (int k = 0; k < nx; k++) out[k] = s[k];
}

TGT static INLINE void SFX(q4_K_n)(const void *w, const void *x, size_t xs, int64_t n, int nx,
                                   float *out) {
    SFX(q45_K_n)(false, w, x, xs, n, nx, out);
}
TGT static INLINE void SFX(q5_K_n)(const void *w, const void *x, size_t xs, int64_t n, int nx,
                                   float *out) {
    SFX(q45_K_n)(true, w, x, xs, n, nx, out);
}

TGT static INLINE void SFX(q6_K_n)(const void *w, const void *x, size_t xs, int64_t n, int nx,
                                   float *out) {
    const blk_q6_K *a = w;
    ACT_ROWS(blk_q8_K, b, x, xs, nx)
    const uint8x16_t m4 = vdupq_n_u8(0xF), m3 = vdupq_n_u8(3);
    const int8x16_t k32 = vdupq_n_s8(32);
    float s[NX_MAX] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        const int8_t *sc = a[i].scales;
        ACC_ZERO
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = a[i].ql + 64 * h;
            uint8x16_t qh0 = vld1q_u8(a[i].qh + 32 * h), qh1 = vld1q_u8(a[i].qh + 32 * h + 16);
            for (int j = 0; j < 4; j++) {   /* chunk c = 4h + j: values 128h + 32j + l */
                const int c = 4 * h + j;
                const uint8x16_t s0 = vld1q_u8(ql + 32 * (j % 2)), s1 = vld1q_u8(ql + 32 * (j % 2) + 16);
                const uint8x16_t lo0 = j >= 2 ? vshrq_n_u8(s0, 4) : vandq_u8(s0, m4);
                const uint8x16_t lo1 = j >= 2 ? vshrq_n_u8(s1, 4) : vandq_u8(s1, m4);
                const uint8x16_t u0 = vorrq_u8(lo0, vshlq_n_u8(vandq_u8(qh0, m3), 4));
                const uint8x16_t u1 = vorrq_u8(lo1, vshlq_n_u8(vandq_u8(qh1, m3), 4));
                qh0 = vshrq_n_u8(qh0, 2);
                qh1 = vshrq_n_u8(qh1, 2);
                const int8x16_t q0 = vsubq_s8(vreinterpretq_s8_u8(u0), k32);
                const int8x16_t q1 = vsubq_s8(vreinterpretq_s8_u8(u1), k32);
                CHUNK_ROWS(q0, q1, c, sc[2 * c], sc[2 * c + 1])
            }
        }
        const float d = ken_nn_fp16_to_fp32(a[i].d);
        for (int k = 0; k < nx; k++) s[k] += b[k][i].d * (d * (float)vaddvq_s32(acc[k]));
    }
    for (int k = 0; k < nx; k++) out[k] = s[k];
}

#undef CHUNK_ROWS
#undef ACC_ZERO

/* ------------------------------------------------------------ instances */

#define INSTANTIATE(name)                                                          \
    TGT static float SFX(dot_##name)(const void *w, const void *x, int64_t n) {    \
        float out;                                                                 \
        SFX(name##_n)(w, x, 0, n, 1, &out);                                        \
        return out;                                                                \
    }                                                                              \
    TGT static void SFX(dotn2_##name)(const void *w, const void *x, size_t xs, int64_t n, float *o) { \
        SFX(name##_n)(w, x, xs, n, 2, o);                                          \
    }                                                                              \
    TGT static void SFX(dotn3_##name)(const void *w, const void *x, size_t xs, int64_t n, float *o) { \
        SFX(name##_n)(w, x, xs, n, 3, o);                                          \
    }                                                                              \
    TGT static void SFX(dotn4_##name)(const void *w, const void *x, size_t xs, int64_t n, float *o) { \
        SFX(name##_n)(w, x, xs, n, 4, o);                                          \
    }

INSTANTIATE(q4_0)
INSTANTIATE(q4_1)
INSTANTIATE(q5_0)
INSTANTIATE(q5_1)
INSTANTIATE(q8_0)
INSTANTIATE(q2_K)
INSTANTIATE(q3_K)
INSTANTIATE(q4_K)
INSTANTIATE(q5_K)
INSTANTIATE(q6_K)
#undef INSTANTIATE

#define SET_ALL(T, name)                                                           \
    do {                                                                           \
        t[T] = SFX(dot_##name);                                                    \
        tn[T][2] = SFX(dotn2_##name);                                              \
        tn[T][3] = SFX(dotn3_##name);                                              \
        tn[T][4] = SFX(dotn4_##name);                                              \
    } while (0)

static void SFX(fill_kernels)(ken_nn_dot_fn t[KEN_NN_NTYPES],
                              ken_nn_dotn_fn tn[KEN_NN_NTYPES][KEN_NN_DOTN_MAX + 1]) {
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
#undef SET_ALL
