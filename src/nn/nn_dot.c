/* nn_dot.c: the scalar reference dot products (one weight row · one
 * activation row quantized to the paired type) and the run-time choice of
 * SIMD kernels.
 *
 * The K-quant references sum each super-block exactly in integers and then
 * apply the scales with the very float expression the SIMD kernels use, so
 * those kernels equal the reference bit for bit; the 32-element formats
 * accumulate floats in a different order in SIMD and agree within rounding. */
#include "nn/nn_impl.h"

#include <math.h>
#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* ------------------------------------------------------------ float types */

static float dot_f32_ref(const void *w, const void *x, int64_t n) {
    const float *a = w, *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

static float dot_f16_ref(const void *w, const void *x, int64_t n) {
    const uint8_t *a = w, *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)half_at(a + 2 * i) * half_at(b + 2 * i);
    return (float)s;
}

static float dot_bf16_ref(const void *w, const void *x, int64_t n) {
    const uint8_t *a = w, *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t ha, hb;
        memcpy(&ha, a + 2 * i, 2);
        memcpy(&hb, b + 2 * i, 2);
        s += (double)ken_nn_bf16_to_fp32(ha) * ken_nn_bf16_to_fp32(hb);
    }
    return (float)s;
}

/* ------------------------------------------------------------ 32-element blocks */

static float dot_q4_0_ref(const void *w, const void *x, int64_t n) {
    const blk_q4_0 *a = w;
    const blk_q8_0 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++)
            isum += ((a[i].qs[j] & 0xF) - 8) * b[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        s += (float)isum * (half_at(&a[i].d) * half_at(&b[i].d));
    }
    return s;
}

static float dot_q4_1_ref(const void *w, const void *x, int64_t n) {
    const blk_q4_1 *a = w;
    const blk_q8_1 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++)
            isum += (a[i].qs[j] & 0xF) * b[i].qs[j] + (a[i].qs[j] >> 4) * b[i].qs[j + 16];
        s += (float)isum * (half_at(&a[i].d) * half_at(&b[i].d)) + half_at(&a[i].m) * half_at(&b[i].s);
    }
    return s;
}

static float dot_q5_0_ref(const void *w, const void *x, int64_t n) {
    const blk_q5_0 *a = w;
    const blk_q8_0 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        uint32_t qh;
        memcpy(&qh, a[i].qh, 4);
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int x0 = ((a[i].qs[j] & 0xF) | (int)(((qh >> j) << 4) & 0x10)) - 16;
            int x1 = ((a[i].qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10)) - 16;
            isum += x0 * b[i].qs[j] + x1 * b[i].qs[j + 16];
        }
        s += (float)isum * (half_at(&a[i].d) * half_at(&b[i].d));
    }
    return s;
}

static float dot_q5_1_ref(const void *w, const void *x, int64_t n) {
    const blk_q5_1 *a = w;
    const blk_q8_1 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        uint32_t qh;
        memcpy(&qh, a[i].qh, 4);
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int x0 = (a[i].qs[j] & 0xF) | (int)(((qh >> j) << 4) & 0x10);
            int x1 = (a[i].qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
            isum += x0 * b[i].qs[j] + x1 * b[i].qs[j + 16];
        }
        s += (float)isum * (half_at(&a[i].d) * half_at(&b[i].d)) + half_at(&a[i].m) * half_at(&b[i].s);
    }
    return s;
}

static float dot_q8_0_ref(const void *w, const void *x, int64_t n) {
    const blk_q8_0 *a = w;
    const blk_q8_0 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += a[i].qs[j] * b[i].qs[j];
        s += (float)isum * (half_at(&a[i].d) * half_at(&b[i].d));
    }
    return s;
}

/* ------------------------------------------------------------ K-quants */

/* Per super-block: isum = Σ scale_g · Σ_g q·y over the scale groups and
 * msum = Σ min_g · Σ_g y; the block adds y.d·(d·isum − dmin·msum). */

static float dot_q2_K_ref(const void *w, const void *x, int64_t n) {
    const blk_q2_K *a = w;
    const blk_q8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0, msum = 0;
        for (int g = 0; g < 16; g++) {
            /* group g = values 16g..16g+15: byte l of 32-byte group g/8 at shift 2·((g/2)%4) */
            const uint8_t *q = a[i].qs + 32 * (g / 8) + 16 * (g % 2);
            const int shift = 2 * ((g / 2) % 4);
            int gs = 0;
            for (int l = 0; l < 16; l++) gs += ((q[l] >> shift) & 3) * b[i].qs[16 * g + l];
            isum += (a[i].scales[g] & 0xF) * gs;
            msum += (a[i].scales[g] >> 4) * b[i].bsums[g];
        }
        const float d = ken_nn_fp16_to_fp32(a[i].d), dmin = ken_nn_fp16_to_fp32(a[i].dmin);
        s += b[i].d * (d * (float)isum - dmin * (float)msum);
    }
    return s;
}

static float dot_q3_K_ref(const void *w, const void *x, int64_t n) {
    const blk_q3_K *a = w;
    const blk_q8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            const int off = 32 * (g / 8), half = 16 * (g % 2), shift = 2 * ((g / 2) % 4);
            const int hbit = g / 2;   /* 32-value chunk index = bit of hmask */
            int gs = 0;
            for (int l = half; l < half + 16; l++) {
                int v = ((a[i].qs[off + l] >> shift) & 3) - ((a[i].hmask[l] >> hbit) & 1 ? 0 : 4);
                gs += v * b[i].qs[16 * g + l - half];
            }
            isum += q3k_scale(a[i].scales, g) * gs;
        }
        s += b[i].d * (ken_nn_fp16_to_fp32(a[i].d) * (float)isum);
    }
    return s;
}

static float dot_q45_K_ref(bool five, const void *w, const void *x, int64_t n) {
    const size_t bb = five ? sizeof(blk_q5_K) : sizeof(blk_q4_K);
    const blk_q8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *p = (const uint8_t *)w + i * bb;
        const uint8_t *scales = p + 4, *qh = p + 16, *ql = p + 16 + (five ? 32 : 0);
        int isum = 0, msum = 0;
        for (int g = 0; g < 8; g++) {
            uint8_t sc, m;
            scale_min_k4(g, scales, &sc, &m);
            const uint8_t *q = ql + 32 * (g / 2);
            const int shift = 4 * (g % 2);
            int gs = 0;
            for (int l = 0; l < 32; l++) {
                int v = (q[l] >> shift) & 0xF;
                if (five) v |= ((qh[l] >> g) & 1) << 4;
                gs += v * b[i].qs[32 * g + l];
            }
            isum += sc * gs;
            msum += m * (b[i].bsums[2 * g] + b[i].bsums[2 * g + 1]);
        }
        const float d = half_at(p), dmin = half_at(p + 2);
        s += b[i].d * (d * (float)isum - dmin * (float)msum);
    }
    return s;
}

static float dot_q4_K_ref(const void *w, const void *x, int64_t n) { return dot_q45_K_ref(false, w, x, n); }
static float dot_q5_K_ref(const void *w, const void *x, int64_t n) { return dot_q45_K_ref(true, w, x, n); }

static float dot_q6_K_ref(const void *w, const void *x, int64_t n) {
    const blk_q6_K *a = w;
    const blk_q8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            /* value e = 128h + 32k + l (k = 0..3, l = 0..31): low nibble of
             * ql[64h + l + 32(k%2)] (high nibble when k >= 2), bits 2k of qh[32h + l] */
            const int h = g / 8, k = (g / 2) % 4, l0 = 16 * (g % 2);
            const uint8_t *ql = a[i].ql + 64 * h + 32 * (k % 2), *qh = a[i].qh + 32 * h;
            int gs = 0;
            for (int l = l0; l < l0 + 16; l++) {
                int v = ((k >= 2 ? ql[l] >> 4 : ql[l] & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                gs += v * b[i].qs[16 * g + l - l0];
            }
            isum += a[i].scales[g] * gs;
        }
        s += b[i].d * (ken_nn_fp16_to_fp32(a[i].d) * (float)isum);
    }
    return s;
}

/* ------------------------------------------------------------ dispatch */

const ken_nn_dot_fn ken_nn_dot_ref_table[KEN_NN_NTYPES] = {
    [KEN_DT_F32] = dot_f32_ref,   [KEN_DT_F16] = dot_f16_ref,   [KEN_DT_BF16] = dot_bf16_ref,
    [KEN_DT_Q4_0] = dot_q4_0_ref, [KEN_DT_Q4_1] = dot_q4_1_ref, [KEN_DT_Q5_0] = dot_q5_0_ref,
    [KEN_DT_Q5_1] = dot_q5_1_ref, [KEN_DT_Q8_0] = dot_q8_0_ref, [KEN_DT_Q2_K] = dot_q2_K_ref,
    [KEN_DT_Q3_K] = dot_q3_K_ref, [KEN_DT_Q4_K] = dot_q4_K_ref, [KEN_DT_Q5_K] = dot_q5_K_ref,
    [KEN_DT_Q6_K] = dot_q6_K_ref,
};

static struct {
    ken_nn_simd detected, current;
    unsigned levels;   /* bit l: level l exists on this CPU (x86 and arm64 have their own) */
    ken_nn_dot_fn table[KEN_NN_SIMD_COUNT][KEN_NN_NTYPES];
    ken_nn_dotn_fn tablen[KEN_NN_SIMD_COUNT][KEN_NN_NTYPES][KEN_NN_DOTN_MAX + 1];
} g_simd;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void detect_once(void) {
    ken_nn_simd lvl = KEN_NN_SIMD_NONE;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    /* F16C is not a feature name clang 14 accepts here: read CPUID.1:ECX[29] */
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) {
        lvl = KEN_NN_SIMD_AVX2;
        ken_nn_avx2_kernels(g_simd.table[KEN_NN_SIMD_AVX2], g_simd.tablen[KEN_NN_SIMD_AVX2]);
        /* the AVX-512 level adds batch GEMMs and one-token kernels for some
         * types (the others fall back to AVX2's); its multi-token kernels
         * are AVX2's, which equal its one-token ones bit for bit */
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
            lvl = KEN_NN_SIMD_AVX512;
            ken_nn_avx512_kernels(g_simd.table[KEN_NN_SIMD_AVX512]);
            for (int t = 0; t < KEN_NN_NTYPES; t++)
                if (g_simd.table[KEN_NN_SIMD_AVX512][t])
                    memcpy(g_simd.tablen[KEN_NN_SIMD_AVX512][t], g_simd.tablen[KEN_NN_SIMD_AVX2][t],
                           sizeof g_simd.tablen[0][0]);
        }
    }
    g_simd.levels = (1u << (lvl + 1)) - 1;
#elif defined(__aarch64__)
    /* NEON is part of the arm64 baseline; the dot-product level adds SDOT kernels */
    lvl = KEN_NN_SIMD_NEON;
    ken_nn_neon_kernels(false, g_simd.table[KEN_NN_SIMD_NEON], g_simd.tablen[KEN_NN_SIMD_NEON]);
    g_simd.levels = 1u << KEN_NN_SIMD_NEON;
    if (ken_nn_neon_dot_supported()) {
        lvl = KEN_NN_SIMD_NEON_DOT;
        ken_nn_neon_kernels(true, g_simd.table[lvl], g_simd.tablen[lvl]);
        g_simd.levels |= 1u << lvl;
    }
#endif
    g_simd.levels |= 1u << KEN_NN_SIMD_NONE;
    memcpy(g_simd.table[KEN_NN_SIMD_NONE], ken_nn_dot_ref_table, sizeof ken_nn_dot_ref_table);
    g_simd.detected = g_simd.current = lvl;
}

static void detect(void) { pthread_once(&g_once, detect_once); }

ken_nn_simd ken_nn_simd_detected(void) {
    detect();
    return g_simd.detected;
}

ken_nn_simd ken_nn_simd_set(ken_nn_simd level) {
    detect();
    if ((int)level < 0) level = KEN_NN_SIMD_NONE;
    if (level > g_simd.detected) level = g_simd.detected;
    /* a level of the other architecture: the next one down that this CPU has */
    while (level > KEN_NN_SIMD_NONE && !(g_simd.levels & (1u << level))) level--;
    g_simd.current = level;
    return g_simd.current;
}

ken_nn_simd ken_nn_simd_get(void) {
    detect();
    return g_simd.current;
}

const char *ken_nn_simd_name(ken_nn_simd level) {
    switch (level) {
    case KEN_NN_SIMD_NONE: return "scalar";
    case KEN_NN_SIMD_AVX2: return "avx2";
    case KEN_NN_SIMD_AVX512: return "avx512";
    case KEN_NN_SIMD_NEON: return "neon";
    case KEN_NN_SIMD_NEON_DOT: return "neon-dot";
    default: return "?";
    }
}

ken_nn_dot_fn ken_nn_dot_kernel(ken_dtype wt, ken_nn_simd level) {
    detect();
    if ((unsigned)wt >= KEN_NN_NTYPES || (unsigned)level >= KEN_NN_SIMD_COUNT) return NULL;
    if (level > g_simd.detected) return NULL;
    return g_simd.table[level][wt];
}

ken_nn_dot_fn ken_nn_dot_best(ken_dtype wt) {
    detect();
    if ((unsigned)wt >= KEN_NN_NTYPES) return NULL;
    for (int l = (int)g_simd.current; l >= 0; l--)
        if (g_simd.table[l][wt]) return g_simd.table[l][wt];
    return NULL;
}

ken_nn_dotn_fn ken_nn_dotn_best(ken_dtype wt, int nx) {
    detect();
    if ((unsigned)wt >= KEN_NN_NTYPES || nx < 2 || nx > KEN_NN_DOTN_MAX) return NULL;
    for (int l = (int)g_simd.current; l >= 0; l--)
        if (g_simd.table[l][wt]) return g_simd.tablen[l][wt][nx];   /* same level as dot_best */
    return NULL;
}

void ken_nn_gemm_f32_ref(const float *w, int64_t nr, const float *x, int64_t nt, int64_t n,
                         float *y, int64_t ys) {
    for (int64_t t = 0; t < nt; t++)
        for (int64_t r = 0; r < nr; r++) {
            float s = 0.0f;
            for (int64_t k = 0; k < n; k++) s += w[r * n + k] * x[t * n + k];
            y[t * ys + r] = s;
        }
}

ken_nn_gemm_fn ken_nn_gemm_f32_best(void) {
    detect();
    ken_nn_gemm_fn f = g_simd.current >= KEN_NN_SIMD_NEON   ? ken_nn_neon_gemm()
                       : g_simd.current >= KEN_NN_SIMD_AVX2 ? ken_nn_avx2_gemm()
                                                            : NULL;
    return f ? f : ken_nn_gemm_f32_ref;
}

bool ken_nn_f32_gemm_best(ken_nn_f32_gemm *g) {
    detect();
    return g_simd.current >= KEN_NN_SIMD_AVX512 && ken_nn_avx512_f32_gemm(g);
}

static void axpy_f16_ref(float *y, float a, const uint16_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float p = a * ken_nn_fp16_to_fp32(x[i]);
        y[i] = y[i] + p;
    }
}

void ken_nn_axpy_f16(float *y, float a, const uint16_t *x, int64_t n) {
    detect();
    ken_nn_axpy_fn f = g_simd.current >= KEN_NN_SIMD_NEON   ? ken_nn_neon_axpy_f16()
                       : g_simd.current >= KEN_NN_SIMD_AVX2 ? ken_nn_avx2_axpy_f16()
                                                            : NULL;
    (f ? f : axpy_f16_ref)(y, a, x, n);
}

ken_nn_qgemm_fn ken_nn_qgemm_best(ken_dtype wt) {
    detect();
    return g_simd.current == KEN_NN_SIMD_AVX512 ? ken_nn_avx512_qgemm(wt) : NULL;
}

static void widen_f16_ref(const void *src, float *dst, int64_t n) {
    ken_nn_dequantize_row(KEN_DT_F16, src, dst, n);
}
static void widen_bf16_ref(const void *src, float *dst, int64_t n) {
    ken_nn_dequantize_row(KEN_DT_BF16, src, dst, n);
}

ken_nn_widen_fn ken_nn_widen_best(ken_dtype t) {
    detect();
    ken_nn_widen_fn f = g_simd.current >= KEN_NN_SIMD_NEON   ? ken_nn_neon_widen(t)
                        : g_simd.current >= KEN_NN_SIMD_AVX2 ? ken_nn_avx2_widen(t)
                                                             : NULL;
    if (f) return f;
    return t == KEN_DT_F16 ? widen_f16_ref : t == KEN_DT_BF16 ? widen_bf16_ref : NULL;
}

float ken_nn_vec_dot(ken_dtype wt, const void *w, const void *x, int64_t n) {
    ken_nn_dot_fn f = ken_nn_dot_best(wt);
    KEN_ASSERT(f && ken_nn_row_bytes(wt, n));
    return f(w, x, n);
}

float ken_nn_vec_dot_ref(ken_dtype wt, const void *w, const void *x, int64_t n) {
    KEN_ASSERT((unsigned)wt < KEN_NN_NTYPES && ken_nn_dot_ref_table[wt] && ken_nn_row_bytes(wt, n));
    return ken_nn_dot_ref_table[wt](w, x, n);
}
