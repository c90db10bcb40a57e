/* nn_quant.c: the type table, F16/BF16 conversion, and the 32-element block
 * formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1): reference quantizers equal to
 * ggml's quantize_row_*_ref, dequantizers, and the activation quantizers
 * llama.cpp's x86 backend applies before a matrix product. Also the public
 * dispatch of ken_nn_quantize_row / ken_nn_dequantize_row. */
#include "nn/nn_impl.h"

#include <float.h>
#include <math.h>

/* Byte identity with llama-quantize needs the float operations exactly as
 * written: no contraction into FMAs, even with -march=native (see
 * nn_kquant.c). */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* ------------------------------------------------------------ type table */

typedef struct {
    uint32_t block, bytes;
    bool quantize;  /* a weight format ken_nn_quantize_row produces */
} type_info;

static type_info info_of(ken_dtype t) {
    switch (t) {
    case KEN_DT_F32: return (type_info){1, 4, true};
    case KEN_DT_F16: return (type_info){1, 2, true};
    case KEN_DT_BF16: return (type_info){1, 2, true};
    case KEN_DT_Q4_0: return (type_info){QK4_0, sizeof(blk_q4_0), true};
    case KEN_DT_Q4_1: return (type_info){QK4_1, sizeof(blk_q4_1), true};
    case KEN_DT_Q5_0: return (type_info){QK5_0, sizeof(blk_q5_0), true};
    case KEN_DT_Q5_1: return (type_info){QK5_1, sizeof(blk_q5_1), true};
    case KEN_DT_Q8_0: return (type_info){QK8_0, sizeof(blk_q8_0), true};
    case KEN_DT_Q8_1: return (type_info){QK8_1, sizeof(blk_q8_1), false};
    case KEN_DT_Q2_K: return (type_info){QK_K, sizeof(blk_q2_K), true};
    case KEN_DT_Q3_K: return (type_info){QK_K, sizeof(blk_q3_K), true};
    case KEN_DT_Q4_K: return (type_info){QK_K, sizeof(blk_q4_K), true};
    case KEN_DT_Q5_K: return (type_info){QK_K, sizeof(blk_q5_K), true};
    case KEN_DT_Q6_K: return (type_info){QK_K, sizeof(blk_q6_K), true};
    case KEN_DT_Q8_K: return (type_info){QK_K, sizeof(blk_q8_K), false};
    default: return (type_info){0, 0, false};
    }
}

bool ken_nn_type_ok(ken_dtype t) { return info_of(t).block != 0; }
bool ken_nn_can_quantize(ken_dtype t) { return info_of(t).quantize; }
int64_t ken_nn_block(ken_dtype t) { return info_of(t).block; }
size_t ken_nn_block_bytes(ken_dtype t) { return info_of(t).bytes; }

size_t ken_nn_row_bytes(ken_dtype t, int64_t n) {
    type_info ti = info_of(t);
    if (!ti.block || n <= 0 || n % ti.block) return 0;
    uint64_t nb = (uint64_t)n / ti.block;
    if (nb > (uint64_t)SIZE_MAX / ti.bytes) return 0;
    return (size_t)(nb * ti.bytes);
}

ken_dtype ken_nn_act_type(ken_dtype w) {
    switch (w) {
    case KEN_DT_Q4_0: case KEN_DT_Q5_0: case KEN_DT_Q8_0: return KEN_DT_Q8_0;
    case KEN_DT_Q4_1: case KEN_DT_Q5_1: return KEN_DT_Q8_1;
    case KEN_DT_Q2_K: case KEN_DT_Q3_K: case KEN_DT_Q4_K: case KEN_DT_Q5_K:
    case KEN_DT_Q6_K: return KEN_DT_Q8_K;
    case KEN_DT_F16: return KEN_DT_F16;
    case KEN_DT_BF16: return KEN_DT_BF16;
    default: return KEN_DT_F32;
    }
}

/* ------------------------------------------------------------ F16 / BF16 */

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float ken_nn_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) {   /* zero or subnormal: m · 2^-24, exact in float */
        float v = (float)m * 0x1p-24f;
        return u2f(f2u(v) | sign);
    }
    if (e == 31) return u2f(sign | 0x7f800000u | (m << 13));
    return u2f(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t ken_nn_fp32_to_fp16(float f) {
    uint32_t x = f2u(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u)   /* inf, or NaN kept quiet with its top payload */
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);   /* >= 65520 rounds to inf */
    if (ax < 0x38800000u) {  /* below 2^-14: a subnormal half; scaling by 2^24 is exact */
        float v = u2f(ax) * 16777216.0f;
        return (uint16_t)(sign | (uint16_t)nearest_int(v));
    }
    uint32_t m = ax - 0x38000000u;                 /* rebias the exponent 127 -> 15 */
    m += 0xfffu + ((m >> 13) & 1);                 /* round to nearest, ties to even */
    return (uint16_t)(sign | (m >> 13));
}

float ken_nn_bf16_to_fp32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t ken_nn_fp32_to_bf16(float f) {
    uint32_t x = f2u(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 64);   /* quiet NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

/* ------------------------------------------------------------ reference quantizers */

/* Signed value of largest magnitude in x[0..n) (the first one on ties). */
static float signed_absmax(const float *x, int n, float *amax_out) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    *amax_out = amax;
    return max;
}

void ken_nn_quantize_q4_0(const float *x, blk_q4_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        float amax;
        const float max = signed_absmax(x, QK4_0, &amax);
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        put_half(&y[i].d, d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            /* truncation toward zero after +8.5 is ggml's rounding here */
            int8_t a = (int8_t)(x[j] * id + 8.5f), b = (int8_t)(x[j + 16] * id + 8.5f);
            uint8_t xi0 = (uint8_t)(a < 15 ? a : 15), xi1 = (uint8_t)(b < 15 ? b : 15);
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

static void minmax(const float *x, int n, float *mn, float *mx) {
    float a = FLT_MAX, b = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < a) a = x[j];
        if (x[j] > b) b = x[j];
    }
    *mn = a;
    *mx = b;
}

void ken_nn_quantize_q4_1(const float *x, blk_q4_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        float min, max;
        minmax(x, QK4_1, &min, &max);
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        put_half(&y[i].d, d);
        put_half(&y[i].m, min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int8_t a = (int8_t)((x[j] - min) * id + 0.5f), b = (int8_t)((x[j + 16] - min) * id + 0.5f);
            uint8_t xi0 = (uint8_t)(a < 15 ? a : 15), xi1 = (uint8_t)(b < 15 ? b : 15);
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

void ken_nn_quantize_q5_0(const float *x, blk_q5_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        float amax;
        const float max = signed_absmax(x, QK5_0, &amax);
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        put_half(&y[i].d, d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int8_t a = (int8_t)(x[j] * id + 16.5f), b = (int8_t)(x[j + 16] * id + 16.5f);
            uint8_t xi0 = (uint8_t)(a < 31 ? a : 31), xi1 = (uint8_t)(b < 31 ? b : 31);
            y[i].qs[j] = (uint8_t)((xi0 & 0xF) | ((xi1 & 0xF) << 4));
            qh |= (uint32_t)((xi0 & 0x10u) >> 4) << j;
            qh |= (uint32_t)((xi1 & 0x10u) >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

void ken_nn_quantize_q5_1(const float *x, blk_q5_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        float min, max;
        minmax(x, QK5_1, &min, &max);
        const float d = (max - min) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        put_half(&y[i].d, d);
        put_half(&y[i].m, min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            /* no clamp to 31 here, as in ggml: (max-min)*id + 0.5 < 32 */
            uint8_t xi0 = (uint8_t)((x[j] - min) * id + 0.5f);
            uint8_t xi1 = (uint8_t)((x[j + 16] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((xi0 & 0xF) | ((xi1 & 0xF) << 4));
            qh |= (uint32_t)((xi0 & 0x10u) >> 4) << j;
            qh |= (uint32_t)((xi1 & 0x10u) >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

void ken_nn_quantize_q8_0(const float *x, blk_q8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        put_half(&y[i].d, d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* ------------------------------------------------------------ activation quantizers */

/* Q8_0 / Q8_1 as llama.cpp's AVX2 path computes them: d = amax/127 stored as
 * F16, q = round-half-even(x · 127/amax); Q8_1 adds s = F16(d · Σq). */
static void quantize_act_q8_0(const float *x, blk_q8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0;
        /* fmaxf without the libm call: NaN is skipped the same way */
        for (int j = 0; j < QK8_0; j++) {
            const float v = fabsf(x[j]);
            amax = v > amax ? v : amax;
        }
        put_half(&y[i].d, amax / 127.f);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)nearest_int(x[j] * id);
    }
}

static void quantize_act_q8_1(const float *x, blk_q8_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        float amax = 0;
        /* fmaxf without the libm call: NaN is skipped the same way */
        for (int j = 0; j < QK8_1; j++) {
            const float v = fabsf(x[j]);
            amax = v > amax ? v : amax;
        }
        const float d = amax / 127.f;
        put_half(&y[i].d, d);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = (int8_t)nearest_int(x[j] * id);
            sum += y[i].qs[j];
        }
        put_half(&y[i].s, d * (float)sum);
    }
}

void ken_nn_quantize_q8_K(const float *x, blk_q8_K *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax;
        const float max = signed_absmax(x, QK_K, &amax);
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int k = 0; k < 16; k++) sum += y[i].qs[16 * j + k];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void ken_nn_quantize_act(ken_dtype act, const float *x, void *dst, int64_t n) {
    KEN_ASSERT(ken_nn_row_bytes(act, n) != 0);
    switch (act) {
    case KEN_DT_Q8_0: quantize_act_q8_0(x, dst, n); break;
    case KEN_DT_Q8_1: quantize_act_q8_1(x, dst, n); break;
    case KEN_DT_Q8_K: ken_nn_quantize_q8_K(x, dst, n); break;
    default: ken_nn_quantize_row(act, x, dst, n); break;
    }
}

/* ------------------------------------------------------------ public dispatch */

void ken_nn_quantize_row(ken_dtype t, const float *x, void *dst, int64_t n) {
    KEN_ASSERT(ken_nn_row_bytes(t, n) != 0);
    switch (t) {
    case KEN_DT_F32: memcpy(dst, x, (size_t)n * 4); break;
    case KEN_DT_F16: {
        ken_nn_f32_gemm g;   /* F16C where the level has it: the same bits */
        if (ken_nn_f32_gemm_best(&g)) {
            g.to_f16(x, dst, n);
            break;
        }
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = ken_nn_fp32_to_fp16(x[i]);
            memcpy((uint8_t *)dst + 2 * i, &h, 2);
        }
        break;
    }
    case KEN_DT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = ken_nn_fp32_to_bf16(x[i]);
            memcpy((uint8_t *)dst + 2 * i, &h, 2);
        }
        break;
    case KEN_DT_Q4_0: ken_nn_quantize_q4_0(x, dst, n); break;
    case KEN_DT_Q4_1: ken_nn_quantize_q4_1(x, dst, n); break;
    case KEN_DT_Q5_0: ken_nn_quantize_q5_0(x, dst, n); break;
    case KEN_DT_Q5_1: ken_nn_quantize_q5_1(x, dst, n); break;
    case KEN_DT_Q8_0: ken_nn_quantize_q8_0(x, dst, n); break;
    case KEN_DT_Q8_1: quantize_act_q8_1(x, dst, n); break;
    case KEN_DT_Q2_K: ken_nn_quantize_q2_K(x, dst, n); break;
    case KEN_DT_Q3_K: ken_nn_quantize_q3_K(x, dst, n); break;
    case KEN_DT_Q4_K: ken_nn_quantize_q4_K(x, dst, n); break;
    case KEN_DT_Q5_K: ken_nn_quantize_q5_K(x, dst, n); break;
    case KEN_DT_Q6_K: ken_nn_quantize_q6_K(x, dst, n); break;
    case KEN_DT_Q8_K: ken_nn_quantize_q8_K(x, dst, n); break;
    default: KEN_ASSERT(!"unsupported type"); break;
    }
}

static void dequant_legacy(ken_dtype t, const void *src, float *y, int64_t n) {
    const uint8_t *p = src;
    const size_t bb = ken_nn_block_bytes(t);
    for (int64_t i = 0; i < n / 32; i++, p += bb, y += 32) {
        const float d = half_at(p);
        switch (t) {
        case KEN_DT_Q4_0: {
            const blk_q4_0 *b = (const void *)p;
            for (int j = 0; j < 16; j++) {
                y[j] = (float)((b->qs[j] & 0xF) - 8) * d;
                y[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
            }
        } break;
        case KEN_DT_Q4_1: {
            const blk_q4_1 *b = (const void *)p;
            const float m = half_at(p + 2);
            for (int j = 0; j < 16; j++) {
                y[j] = (float)(b->qs[j] & 0xF) * d + m;
                y[j + 16] = (float)(b->qs[j] >> 4) * d + m;
            }
        } break;
        case KEN_DT_Q5_0: case KEN_DT_Q5_1: {
            const bool one = t == KEN_DT_Q5_1;
            const uint8_t *qh8 = p + (one ? 4 : 2), *qs = qh8 + 4;
            const float m = one ? half_at(p + 2) : 0.0f;
            uint32_t qh;
            memcpy(&qh, qh8, 4);
            for (int j = 0; j < 16; j++) {
                int x0 = (qs[j] & 0xF) | (int)(((qh >> j) << 4) & 0x10);
                int x1 = (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
                if (one) {
                    y[j] = (float)x0 * d + m;
                    y[j + 16] = (float)x1 * d + m;
                } else {
                    y[j] = (float)(x0 - 16) * d;
                    y[j + 16] = (float)(x1 - 16) * d;
                }
            }
        } break;
        case KEN_DT_Q8_0: case KEN_DT_Q8_1: {
            const int8_t *qs = (const int8_t *)(p + (t == KEN_DT_Q8_1 ? 4 : 2));
            for (int j = 0; j < 32; j++) y[j] = (float)qs[j] * d;
        } break;
        default: KEN_ASSERT(!"not a legacy type"); break;
        }
    }
}

void ken_nn_dequantize_row(ken_dtype t, const void *src, float *dst, int64_t n) {
    KEN_ASSERT(ken_nn_row_bytes(t, n) != 0);
    const uint8_t *p = src;
    switch (t) {
    case KEN_DT_F32: memcpy(dst, src, (size_t)n * 4); break;
    case KEN_DT_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = half_at(p + 2 * i);
        break;
    case KEN_DT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = ken_nn_bf16_to_fp32(h);
        }
        break;
    case KEN_DT_Q4_0: case KEN_DT_Q4_1: case KEN_DT_Q5_0: case KEN_DT_Q5_1:
    case KEN_DT_Q8_0: case KEN_DT_Q8_1:
        dequant_legacy(t, src, dst, n);
        break;
    default: ken_nn_dequantize_kquant(t, src, dst, n); break;
    }
}
