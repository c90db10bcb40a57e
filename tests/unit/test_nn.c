/* test_nn.c: nn's data types and kernels: F16/BF16 conversion, row sizes,
 * quantize -> dequantize error budgets, the reference dot products against
 * float dot products of the dequantized rows, and every SIMD kernel against
 * its scalar reference on random and extreme blocks.
 *
 * Tolerances: K-quant SIMD kernels, and at the NEON levels all quantized
 * ones, must equal the reference bit for bit (same integer sums, same float
 * expression). Kernels that accumulate floats in another order (F32, F16,
 * BF16, and the 32-element formats on x86) must agree
 * within 1e-5 of Σ|w·x| (the size of the terms, so cancellation cannot make
 * the bound meaningless). */
#include "test.h"

#include "nn/nn.h"
#include "nn/nn_impl.h"

#include <math.h>
#include <stdint.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(void) { return (double)(rng_next() >> 11) * 0x1p-53; }

static float rng_normal(void) {
    double u = rng_unit() + 1e-300, v = rng_unit();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

enum { DIST_NORMAL, DIST_ZERO, DIST_HUGE, DIST_TINY, DIST_NEG, DIST_SPIKE, DIST_UNIFORM, DIST_COUNT };

static void fill(float *x, int64_t n, int dist) {
    for (int64_t i = 0; i < n; i++) {
        float v = rng_normal();
        switch (dist) {
        case DIST_ZERO: v = 0; break;
        case DIST_HUGE: v *= 1e4f; break;   /* F16 scales stop at 65504 */
        case DIST_TINY: v *= 1e-30f; break;
        case DIST_NEG: v = -fabsf(v) - 0.5f; break;
        case DIST_SPIKE: v = (i % 97 == 5) ? 50.0f : v * 1e-3f; break;
        case DIST_UNIFORM: v = (float)(rng_unit() * 2 - 1); break;
        default: break;
        }
        x[i] = v;
    }
}

static const ken_dtype weight_types[] = {
    KEN_DT_F32, KEN_DT_F16, KEN_DT_BF16, KEN_DT_Q4_0, KEN_DT_Q4_1, KEN_DT_Q5_0, KEN_DT_Q5_1,
    KEN_DT_Q8_0, KEN_DT_Q2_K, KEN_DT_Q3_K, KEN_DT_Q4_K, KEN_DT_Q5_K, KEN_DT_Q6_K,
};

static bool is_kquant(ken_dtype t) { return ken_nn_block(t) == QK_K; }

/* Kernels that must equal the reference bit for bit: the K-quants at every
 * level, and every quantized type at the NEON levels (they keep the
 * reference's per-block float order). */
static bool exact_at(ken_dtype t, int lvl) {
    return is_kquant(t) || (ken_nn_block(t) > 1 && lvl >= KEN_NN_SIMD_NEON);
}

/* Relative RMS error budget of quantize -> dequantize for normal data. */
static double rms_budget(ken_dtype t) {
    switch (t) {
    case KEN_DT_F32: return 0;
    case KEN_DT_F16: return 1e-3;
    case KEN_DT_BF16: return 8e-3;
    case KEN_DT_Q8_0: return 0.01;
    case KEN_DT_Q6_K: return 0.03;
    case KEN_DT_Q5_0: case KEN_DT_Q5_1: case KEN_DT_Q5_K: return 0.06;
    case KEN_DT_Q4_0: case KEN_DT_Q4_1: case KEN_DT_Q4_K: return 0.12;
    case KEN_DT_Q3_K: return 0.25;
    case KEN_DT_Q2_K: return 0.5;
    default: return 0;
    }
}

static void test_fp16(void) {
    /* every finite half survives half -> float -> half */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;   /* NaN */
        if (ken_nn_fp32_to_fp16(ken_nn_fp16_to_fp32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(ken_nn_fp16_to_fp32(0x3c00) == 1.0f);
    CHECK(ken_nn_fp16_to_fp32(0x0001) == 0x1p-24f);
    CHECK(ken_nn_fp16_to_fp32(0xfbff) == -65504.0f);
    CHECK_EQ_INT(ken_nn_fp32_to_fp16(65519.0f), 0x7bff);
    CHECK_EQ_INT(ken_nn_fp32_to_fp16(65520.0f), 0x7c00);   /* tie rounds to even = inf */
    CHECK_EQ_INT(ken_nn_fp32_to_fp16(1e10f), 0x7c00);
    CHECK_EQ_INT(ken_nn_fp32_to_fp16(-1e-10f), 0x8000);
    CHECK_EQ_INT(ken_nn_fp32_to_fp16(0x1p-25f), 0x0000);  /* tie to even (0) */
    CHECK_EQ_INT(ken_nn_fp32_to_fp16(0x1.8p-24f), 0x0002); /* 1.5 ulp -> 2 */
    CHECK_EQ_INT(ken_nn_fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);   /* tie -> even */
    CHECK_EQ_INT(ken_nn_fp32_to_fp16(1.0f + 0x1.8p-10f), 0x3c02); /* 1.5 ulp -> 2 */
    /* random floats: the result is the nearest half (checked in double) */
    for (int i = 0; i < 100000; i++) {
        float f = rng_normal() * (float)pow(2, (int)(rng_next() % 40) - 26);
        uint16_t h = ken_nn_fp32_to_fp16(f);
        double e = fabs((double)ken_nn_fp16_to_fp32(h) - f);
        double e1 = fabs((double)ken_nn_fp16_to_fp32((uint16_t)(h + 1)) - f);
        double e0 = (h & 0x7fff) ? fabs((double)ken_nn_fp16_to_fp32((uint16_t)(h - 1)) - f) : 1e300;
        if (fabsf(f) < 65504) CHECKF(e <= e1 && e <= e0, "f=%a h=%04x", (double)f, h);
    }
    CHECK(ken_nn_bf16_to_fp32(ken_nn_fp32_to_bf16(1.0f)) == 1.0f);
    CHECK_EQ_INT(ken_nn_fp32_to_bf16(1.0f + 0x1p-8f), 0x3f80);       /* tie -> even */
    CHECK_EQ_INT(ken_nn_fp32_to_bf16(1.0f + 0x1.8p-7f), 0x3f82);
    CHECK_EQ_INT(ken_nn_fp32_to_bf16(NAN) & 0x7fc0, 0x7fc0);
}

static void test_row_bytes(void) {
    CHECK_EQ_INT(ken_nn_row_bytes(KEN_DT_Q4_0, 64), 36);
    CHECK_EQ_INT(ken_nn_row_bytes(KEN_DT_Q4_0, 33), 0);
    CHECK_EQ_INT(ken_nn_row_bytes(KEN_DT_Q6_K, 512), 420);
    CHECK_EQ_INT(ken_nn_row_bytes(KEN_DT_Q6_K, 128), 0);
    CHECK_EQ_INT(ken_nn_row_bytes(KEN_DT_F16, 3), 6);
    CHECK_EQ_INT(ken_nn_row_bytes(KEN_DT_F32, 0), 0);
    CHECK_EQ_INT(ken_nn_row_bytes(KEN_DT_F32, -4), 0);
    CHECK_EQ_INT(ken_nn_row_bytes(KEN_DT_I32, 4), 0);
    CHECK_EQ_INT(ken_nn_row_bytes((ken_dtype)99, 4), 0);
    CHECK_EQ_INT(ken_nn_row_bytes(KEN_DT_F32, INT64_MAX), 0);   /* bytes overflow size_t */
    CHECK(!ken_nn_can_quantize(KEN_DT_Q8_K));
    CHECK(ken_nn_type_ok(KEN_DT_Q8_K));
    CHECK_EQ_INT(ken_nn_act_type(KEN_DT_Q5_1), KEN_DT_Q8_1);
    CHECK_EQ_INT(ken_nn_act_type(KEN_DT_Q3_K), KEN_DT_Q8_K);
    CHECK_EQ_INT(ken_nn_act_type(KEN_DT_Q5_0), KEN_DT_Q8_0);
    CHECK_EQ_INT(ken_nn_act_type(KEN_DT_F16), KEN_DT_F16);
}

static void test_act_quant(void) {
    /* Q8_0: scale 127/amax and ties to even: amax 127 -> id 1 */
    float x[32] = {127, 2.5f, 3.5f, -2.5f, -0.5f, 0.5f, 1.5f};
    blk_q8_0 q;
    ken_nn_quantize_act(KEN_DT_Q8_0, x, &q, 32);
    CHECK_EQ_INT(q.qs[0], 127);
    CHECK_EQ_INT(q.qs[1], 2);
    CHECK_EQ_INT(q.qs[2], 4);
    CHECK_EQ_INT(q.qs[3], -2);
    CHECK_EQ_INT(q.qs[4], 0);
    CHECK_EQ_INT(q.qs[5], 0);
    CHECK_EQ_INT(q.qs[6], 2);
    CHECK(half_at(&q.d) == 1.0f);
    /* the reference weight quantizer rounds half away from zero instead */
    ken_nn_quantize_row(KEN_DT_Q8_0, x, &q, 32);
    CHECK_EQ_INT(q.qs[1], 3);
    CHECK_EQ_INT(q.qs[3], -3);
    /* Q8_1: s = d · Σq */
    blk_q8_1 q1;
    ken_nn_quantize_act(KEN_DT_Q8_1, x, &q1, 32);
    CHECK(half_at(&q1.s) == ken_nn_fp16_to_fp32(ken_nn_fp32_to_fp16(1.0f * (127 + 2 + 4 - 2 + 2))));
    /* Q8_K: iscale = -127/max with max the signed extreme, q capped at 127 */
    float xk[256];
    fill(xk, 256, DIST_NORMAL);
    xk[17] = -9.0f;
    blk_q8_K k;
    ken_nn_quantize_q8_K(xk, &k, 256);
    CHECK_EQ_INT(k.qs[17], -127);   /* the extreme maps to -127 */
    CHECK(k.d == 1 / (-127.f / -9.0f));
    int ok = 1;
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += k.qs[16 * g + l];
        ok &= s == k.bsums[g];
    }
    CHECK(ok);
    memset(xk, 0, sizeof xk);
    ken_nn_quantize_q8_K(xk, &k, 256);
    CHECK(k.d == 0 && k.qs[0] == 0 && k.bsums[3] == 0);
}

/* Σ dequant(w)·dequant(x) in double, and Σ|.| for the tolerance. */
static double float_dot(ken_dtype wt, const void *w, const void *xq, int64_t n, double *mag) {
    float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
    ken_nn_dequantize_row(wt, w, a, n);
    ken_nn_dequantize_row(ken_nn_act_type(wt), xq, b, n);
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)a[i] * b[i];
        m += fabs((double)a[i] * b[i]);
    }
    free(a);
    free(b);
    /* Q8_1 stores s = d·Σq with the unrounded d, rounded to F16, while the
     * quants dequantize with F16(d): the min term m·s of Q4_1 / Q5_1 differs
     * from the dequantized product by up to ~2·2^-11·|m·s| (allow 2^-9) */
    if (ken_nn_act_type(wt) == KEN_DT_Q8_1) {
        const size_t bb = ken_nn_block_bytes(wt);
        const blk_q8_1 *xb = xq;
        for (int64_t i = 0; i < n / 32; i++)
            m += fabs((double)half_at((const uint8_t *)w + i * bb + 2) * half_at(&xb[i].s)) *
                 0x1p-9 / 1e-5;
    }
    *mag = m;
    return s;
}

static void check_type(ken_dtype wt, int64_t n, int dist) {
    const ken_dtype at = ken_nn_act_type(wt);
    float *x = malloc((size_t)n * 4), *a = malloc((size_t)n * 4), *back = malloc((size_t)n * 4);
    void *wq = malloc(ken_nn_row_bytes(wt, n)), *aq = malloc(ken_nn_row_bytes(at, n));
    fill(x, n, dist);
    /* activations: F16-scaled Q8_1 sums overflow past ~2000 per value, as in llama.cpp */
    fill(a, n, dist == DIST_ZERO || dist == DIST_HUGE ? DIST_NORMAL : dist);
    ken_nn_quantize_row(wt, x, wq, n);
    ken_nn_quantize_act(at, a, aq, n);
    ken_nn_dequantize_row(wt, wq, back, n);

    double se = 0, sx = 0;
    int finite = 1;
    for (int64_t i = 0; i < n; i++) {
        se += ((double)back[i] - x[i]) * ((double)back[i] - x[i]);
        sx += (double)x[i] * x[i];
        finite &= isfinite(back[i]) != 0;
    }
    CHECKF(finite, "%s n=%lld dist=%d: non-finite dequantized value", ken_dtype_name(wt),
           (long long)n, dist);
    if (dist == DIST_ZERO) CHECKF(se == 0, "%s: zeros do not round-trip", ken_dtype_name(wt));
    if (dist == DIST_NORMAL || dist == DIST_UNIFORM || dist == DIST_NEG)
        CHECKF(sqrt(se / sx) <= rms_budget(wt), "%s n=%lld dist=%d: rms error %g > %g",
               ken_dtype_name(wt), (long long)n, dist, sqrt(se / sx), rms_budget(wt));

    /* the reference dot product agrees with floats of the dequantized rows */
    double mag, fd = float_dot(wt, wq, aq, n, &mag);
    float ref = ken_nn_vec_dot_ref(wt, wq, aq, n);
    CHECKF(fabs(ref - fd) <= 1e-5 * mag + 1e-30, "%s n=%lld dist=%d: ref %.9g vs float %.9g",
           ken_dtype_name(wt), (long long)n, dist, (double)ref, fd);

    for (int lvl = 1; lvl < KEN_NN_SIMD_COUNT; lvl++) {
        ken_nn_dot_fn f = ken_nn_dot_kernel(wt, (ken_nn_simd)lvl);
        if (!f) continue;
        float v = f(wq, aq, n);
        if (exact_at(wt, lvl))
            CHECKF(v == ref || (isnan(v) && isnan(ref)), "%s/%s n=%lld dist=%d: %.9g != ref %.9g",
                   ken_dtype_name(wt), ken_nn_simd_name((ken_nn_simd)lvl), (long long)n, dist,
                   (double)v, (double)ref);
        else
            CHECKF(fabs((double)v - ref) <= 1e-5 * mag + 1e-30,
                   "%s/%s n=%lld dist=%d: %.9g vs ref %.9g (mag %g)", ken_dtype_name(wt),
                   ken_nn_simd_name((ken_nn_simd)lvl), (long long)n, dist, (double)v, (double)ref,
                   mag);
    }
    free(x);
    free(a);
    free(back);
    free(wq);
    free(aq);
}

static void test_types(void) {
    for (size_t t = 0; t < KEN_ARRAY_LEN(weight_types); t++) {
        const ken_dtype wt = weight_types[t];
        const int64_t bs = ken_nn_block(wt) == 1 ? 32 : ken_nn_block(wt);
        /* one block, a few, an odd count, and for F32/F16 lengths that are not multiples of 8 */
        const int64_t lens[] = {bs, 3 * bs, 7 * bs, 16 * bs};
        for (size_t l = 0; l < KEN_ARRAY_LEN(lens); l++)
            for (int d = 0; d < DIST_COUNT; d++) check_type(wt, lens[l], d);
        if (ken_nn_block(wt) == 1)
            for (int64_t n = 1; n < 40; n += 3) check_type(wt, n, DIST_NORMAL);
    }
    fprintf(stderr, "simd detected: %s\n", ken_nn_simd_name(ken_nn_simd_detected()));
}

/* Random bytes as weights (any bit pattern a file may hold, scales made
 * finite) against random activations: SIMD must still equal the reference. */
static void test_random_bytes(void) {
    for (size_t t = 0; t < KEN_ARRAY_LEN(weight_types); t++) {
        const ken_dtype wt = weight_types[t];
        if (ken_nn_block(wt) == 1) continue;
        const int64_t n = 4 * ken_nn_block(wt);
        const size_t wb = ken_nn_row_bytes(wt, n);
        uint8_t *w = malloc(wb);
        float *a = malloc((size_t)n * 4);
        void *aq = malloc(ken_nn_row_bytes(ken_nn_act_type(wt), n));
        for (int rep = 0; rep < 50; rep++) {
            for (size_t i = 0; i < wb; i++) w[i] = (uint8_t)rng_next();
            /* overwrite the F16 scales with finite values of moderate size */
            float *tmp = malloc((size_t)n * 4);
            ken_nn_dequantize_row(wt, w, tmp, n);
            int finite = 1;
            for (int64_t i = 0; i < n; i++) finite &= isfinite(tmp[i]) && fabsf(tmp[i]) < 1e4f;
            free(tmp);
            if (!finite) continue;
            fill(a, n, DIST_NORMAL);
            ken_nn_quantize_act(ken_nn_act_type(wt), a, aq, n);
            double mag, fd = float_dot(wt, w, aq, n, &mag);
            float ref = ken_nn_vec_dot_ref(wt, w, aq, n);
            CHECKF(fabs(ref - fd) <= 1e-5 * mag + 1e-30, "%s random: ref %.9g vs float %.9g",
                   ken_dtype_name(wt), (double)ref, fd);
            for (int lvl = 1; lvl < KEN_NN_SIMD_COUNT; lvl++) {
                ken_nn_dot_fn f = ken_nn_dot_kernel(wt, (ken_nn_simd)lvl);
                if (!f) continue;
                float v = f(w, aq, n);
                if (exact_at(wt, lvl)) CHECKF(v == ref, "%s/%s random: %.9g != %.9g", ken_dtype_name(wt),
                                              ken_nn_simd_name((ken_nn_simd)lvl), (double)v, (double)ref);
                else CHECKF(fabs((double)v - ref) <= 1e-5 * mag + 1e-30, "%s random: %.9g vs %.9g",
                            ken_dtype_name(wt), (double)v, (double)ref);
            }
        }
        free(w);
        free(a);
        free(aq);
    }
}

/* The multi-row kernels give, row by row, exactly the one-row kernel's result. */
static void test_multi_row(void) {
    for (size_t t = 0; t < KEN_ARRAY_LEN(weight_types); t++) {
        const ken_dtype wt = weight_types[t], at = ken_nn_act_type(wt);
        for (int nblk = 1; nblk <= 5; nblk += 2) {
            const int64_t n = nblk * (ken_nn_block(wt) == 1 ? 32 : ken_nn_block(wt));
            const size_t xrb = ken_nn_row_bytes(at, n);
            float *x = malloc((size_t)n * 4 * KEN_NN_DOTN_MAX);
            void *wq = malloc(ken_nn_row_bytes(wt, n));
            uint8_t *xq = malloc(xrb * KEN_NN_DOTN_MAX);
            fill(x, n, DIST_NORMAL);
            ken_nn_quantize_row(wt, x, wq, n);
            fill(x, n * KEN_NN_DOTN_MAX, DIST_NORMAL);
            for (int k = 0; k < KEN_NN_DOTN_MAX; k++) ken_nn_quantize_act(at, x + k * n, xq + k * xrb, n);
            ken_nn_dot_fn one = ken_nn_dot_best(wt);
            for (int nx = 2; nx <= KEN_NN_DOTN_MAX; nx++) {
                ken_nn_dotn_fn many = ken_nn_dotn_best(wt, nx);
                if (!many) continue;
                float out[KEN_NN_DOTN_MAX];
                many(wq, xq, xrb, n, out);
                for (int k = 0; k < nx; k++)
                    CHECKF(out[k] == one(wq, xq + k * xrb, n), "%s nx=%d row %d: %.9g vs %.9g",
                           ken_dtype_name(wt), nx, k, (double)out[k], (double)one(wq, xq + k * xrb, n));
            }
            free(x);
            free(wq);
            free(xq);
        }
    }
    CHECK(ken_nn_dotn_best(KEN_DT_Q4_0, 1) == NULL);
    CHECK(ken_nn_dotn_best(KEN_DT_Q4_0, KEN_NN_DOTN_MAX + 1) == NULL);
}

static void test_simd_select(void) {
    ken_nn_simd det = ken_nn_simd_detected();
    CHECK(ken_nn_simd_set(KEN_NN_SIMD_NONE) == KEN_NN_SIMD_NONE);
    CHECK(ken_nn_dot_best(KEN_DT_Q4_K) == ken_nn_dot_ref_table[KEN_DT_Q4_K]);
    CHECK(ken_nn_simd_set(KEN_NN_SIMD_COUNT) == det);
    CHECK(ken_nn_dot_kernel(KEN_DT_Q8_K, KEN_NN_SIMD_NONE) == NULL);   /* activation-only type */
    CHECK(ken_nn_dot_kernel(KEN_DT_I8, KEN_NN_SIMD_NONE) == NULL);
    CHECK(ken_nn_dot_best(KEN_DT_Q6_K) != NULL);
}

TEST_MAIN(test_fp16, test_row_bytes, test_act_quant, test_types, test_random_bytes, test_multi_row,
          test_simd_select)
