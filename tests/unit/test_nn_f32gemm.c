/* test_nn_f32gemm.c: the packed-panel F32 GEMM (nn_avx512_f32.c) against
 * the scalar reference ken_nn_gemm_f32_ref: packing is exact (F16 and BF16
 * widened to the same F32 as ken_nn_dequantize_row, zero rows past the end,
 * the transposed form a plain copy), and products agree within 1e-6 of
 * Σ|w·x| at shapes that leave edges in every direction (rows 1..50 and not
 * multiples of 16 or 48, tokens 1..17 around the 8-token tile, n of 1, 15,
 * 16, 17, 100, 384), with output stride and padding left untouched; and F16
 * matrix products through it at 1 and 2 threads agree with the AVX2 level. */
#include "test.h"

#include "nn/nn.h"
#include "nn/nn_impl.h"

#include <math.h>

static uint64_t rng_state = 4242;

static uint64_t rng_next(void) { return test_rng_next(&rng_state); }
static float rng_normal(void) { return test_rng_normal(&rng_state); }

/* Packing rows of each float type: panel element (p, k, i) is row 16p+i,
 * element k, widened exactly; rows past nr are zero. */
static void check_pack(const ken_nn_f32_gemm *g, ken_dtype t, int64_t nr, int64_t n) {
    const size_t rb = ken_nn_row_bytes(t, n);
    float *wf = malloc(sizeof(float) * (size_t)(nr * n)), *row = malloc(sizeof(float) * (size_t)n);
    uint8_t *wq = malloc(rb * (size_t)nr);
    float *pk = malloc(sizeof(float) * (size_t)ken_nn_f32_panel_floats(nr, n));
    for (int64_t i = 0; i < nr * n; i++) wf[i] = rng_normal() * 100.0f;
    if (t == KEN_DT_F32) memcpy(wq, wf, rb * (size_t)nr);
    else ken_nn_quantize_row(t, wf, wq, nr * n);
    g->pack_rows(t, wq, rb, nr, n, pk);
    int bad = 0;
    for (int64_t r = 0; r < (nr + 15) / 16 * 16; r++) {
        if (r < nr) ken_nn_dequantize_row(t, wq + (size_t)r * rb, row, n);
        for (int64_t k = 0; k < n; k++) {
            const float v = pk[(r / 16) * n * 16 + k * 16 + r % 16];
            bad += r < nr ? memcmp(&v, &row[k], 4) != 0 : v != 0.0f;
        }
    }
    CHECKF(bad == 0, "pack %s %lldx%lld: %d values off", ken_dtype_name(t), (long long)nr,
           (long long)n, bad);
    free(wf); free(row); free(wq); free(pk);
}

/* One product: W nr × n (packed by rows, and by columns from Wᵀ), x with a
 * row stride larger than n, y with stride ys > nr. */
static void check_gemm(const ken_nn_f32_gemm *g, int64_t nr, int64_t nt, int64_t n) {
    const int64_t xs = n + 5, ys = nr + 3;
    float *w = malloc(sizeof(float) * (size_t)(nr * n)), *wt = malloc(sizeof(float) * (size_t)(nr * n));
    float *x = malloc(sizeof(float) * (size_t)(nt * xs)), *xd = malloc(sizeof(float) * (size_t)(nt * n));
    float *pk = malloc(sizeof(float) * (size_t)ken_nn_f32_panel_floats(nr, n));
    float *a = calloc((size_t)(nt * ys), sizeof(float)), *b = calloc((size_t)(nt * ys), sizeof(float));
    for (int64_t i = 0; i < nr * n; i++) w[i] = rng_normal();
    for (int64_t r = 0; r < nr; r++)
        for (int64_t k = 0; k < n; k++) wt[k * nr + r] = w[r * n + k];
    for (int64_t i = 0; i < nt * xs; i++) x[i] = rng_normal();
    for (int64_t t = 0; t < nt; t++) memcpy(xd + t * n, x + t * xs, sizeof(float) * (size_t)n);
    ken_nn_gemm_f32_ref(w, nr, xd, nt, n, a, ys);
    for (int form = 0; form < 2; form++) {
        for (int64_t i = 0; i < nt * ys; i++) b[i] = 0.0f;
        if (form == 0) g->pack_rows(KEN_DT_F32, w, sizeof(float) * (size_t)n, nr, n, pk);
        else g->pack_cols(wt, nr, nr, n, pk);
        g->gemm(pk, nr, x, xs, nt, n, b, ys);
        int bad = 0;
        for (int64_t t = 0; t < nt; t++)
            for (int64_t r = 0; r < ys; r++) {
                double mag = 0;
                for (int64_t k = 0; r < nr && k < n; k++) mag += fabs((double)w[r * n + k] * xd[t * n + k]);
                bad += r < nr ? fabs((double)a[t * ys + r] - b[t * ys + r]) > 1e-6 * mag + 1e-30
                              : b[t * ys + r] != 0.0f;   /* padding untouched */
            }
        CHECKF(bad == 0, "gemm (%s) %lldx%lldx%lld: %d values off", form ? "cols" : "rows",
               (long long)nr, (long long)nt, (long long)n, bad);
    }
    free(w); free(wt); free(x); free(xd); free(pk); free(a); free(b);
}

/* round_f16 and to_f16 against the scalar conversions, bit for bit: random bit
 * patterns (every exponent: subnormals, NaNs with payloads, infinities),
 * the rounding edges around 65520 and the smallest subnormal half, and
 * lengths that leave a masked tail. */
static void check_round_f16(const ken_nn_f32_gemm *g) {
    enum { N = 4099 };
    static float x[N], y[N];
    static uint16_t h[N + 1];
    const uint32_t special[] = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00001u,
                                0xffa00abcu, 0x477fefffu, 0x477ff000u, 0x33000000u, 0x33000001u,
                                0x387fe000u, 0x38800000u, 0x00000001u, 0x3f800fffu, 0x3f801000u};
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)rng_next();
        if (i < (int)(sizeof special / sizeof special[0])) u = special[i];
        else if (i % 3 == 0) u = (u & 0x807fffffu) | ((uint32_t)(100 + i % 60) << 23);   /* near half range */
        memcpy(&x[i], &u, 4);
    }
    const int64_t lens[] = {N, 1, 15, 16, 17};
    int bad = 0;
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        memset(y, 0, sizeof y);
        g->round_f16(x, y, lens[l]);
        for (int64_t i = 0; i < N; i++) {
            const float want = i < lens[l] ? ken_nn_fp16_to_fp32(ken_nn_fp32_to_fp16(x[i])) : 0.0f;
            bad += memcmp(&want, &y[i], 4) != 0;
        }
        memset(h, 0, sizeof h);
        g->to_f16(x, h + 1, lens[l]);   /* not 32-byte aligned */
        for (int64_t i = 0; i < N; i++)
            bad += h[1 + i] != (i < lens[l] ? ken_nn_fp32_to_fp16(x[i]) : 0);
    }
    CHECKF(bad == 0, "round_f16: %d values differ from the scalar conversion", bad);
}

/* The softmax against the scalar formula with expf: each probability
 * within 4 ulp-sized steps (2 for e^, the rest from the reciprocal's
 * product), lengths around the 16-lane tail, inputs reaching -inf, the
 * clamp at -104 and far below, a NaN-free ordinary range; and e^ itself
 * over [-104, 0] (rows of one element t and one 0: e^t / (1 + e^t)). */
static void check_softmax(const ken_nn_f32_gemm *g) {
    enum { N = 300 };
    float x[N], a[N];
    const int64_t lens[] = {1, 2, 15, 16, 17, 128, 300};
    int bad = 0;
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        const int64_t n = lens[l];
        for (int rep = 0; rep < 20; rep++) {
            for (int64_t i = 0; i < n; i++) x[i] = rng_normal() * (float)(1 + rep * 3);
            if (rep == 5 && n > 3) x[1] = -INFINITY, x[2] = -200.0f;
            const float scale = 0.125f + (float)rep * 0.25f;
            float max = -INFINITY;
            for (int64_t i = 0; i < n; i++) max = x[i] * scale > max ? x[i] * scale : max;
            double sum = 0;
            for (int64_t i = 0; i < n; i++) sum += (double)(a[i] = expf(x[i] * scale - max));
            const float inv = (float)(1.0 / sum);
            g->softmax(x, n, scale);
            for (int64_t i = 0; i < n; i++) {
                const float want = a[i] * inv;
                bad += !(fabsf(x[i] - want) <= 4.0f * 0x1p-24f * want + 1e-44f);
            }
        }
    }
    CHECKF(bad == 0, "softmax: %d probabilities off", bad);
    int ebad = 0;
    for (int i = 0; i <= 104000; i++) {
        float p[2] = {-(float)i * 1e-3f, 0.0f};
        g->softmax(p, 2, 1.0f);
        const float e = expf(-(float)i * 1e-3f);
        const float want = (float)((double)e / (1.0 + (double)e));
        ebad += !(fabsf(p[0] - want) <= 4.0f * 0x1p-24f * want + 1e-44f);
    }
    CHECKF(ebad == 0, "softmax of (t, 0): %d values off", ebad);
}

static void test_kernel(void) {
    ken_nn_f32_gemm g = {0};
    const bool have = ken_nn_f32_gemm_best(&g);
    if (ken_nn_simd_detected() < KEN_NN_SIMD_AVX512) {
        fprintf(stderr, "test_nn_f32gemm: CPU lacks AVX-512 (%s): kernel not run\n",
                ken_nn_simd_name(ken_nn_simd_detected()));
        CHECK(!have);   /* the dispatch must not offer it */
        return;
    }
    REQUIRE(have && g.pack_rows && g.pack_cols && g.gemm && g.round_f16 && g.to_f16 && g.softmax);
    check_round_f16(&g);
    check_softmax(&g);
    const ken_dtype types[] = {KEN_DT_F32, KEN_DT_F16, KEN_DT_BF16};
    const int64_t pack_shapes[][2] = {{1, 1}, {3, 17}, {16, 16}, {17, 33}, {50, 384}};
    for (size_t t = 0; t < 3; t++)
        for (size_t s = 0; s < sizeof pack_shapes / sizeof pack_shapes[0]; s++)
            check_pack(&g, types[t], pack_shapes[s][0], pack_shapes[s][1]);
    const int64_t rows[] = {1, 5, 16, 17, 32, 33, 47, 48, 50, 97};
    const int64_t toks[] = {1, 2, 7, 8, 9, 17};
    const int64_t ns[] = {1, 15, 16, 17, 100};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++)
            for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) check_gemm(&g, rows[r], toks[t], ns[k]);
    check_gemm(&g, 384, 33, 384);
    ken_nn_simd_set(KEN_NN_SIMD_AVX2);
    CHECK(!ken_nn_f32_gemm_best(&g));   /* not below its level */
    ken_nn_simd_set(ken_nn_simd_detected());
}

/* F16 weights through ken_nn_matmul: the AVX-512 level (packed panels,
 * 1 and 2 threads, bit-identical to each other) against the AVX2 level's
 * GEMM within the summation-order tolerance. */
static void test_matmul(void) {
    const int64_t n_in = 100, n_out = 131, n_tok = 19;
    float *wf = malloc(sizeof(float) * n_in * n_out), *x = malloc(sizeof(float) * n_in * n_tok);
    float *y[3];
    for (int i = 0; i < 3; i++) y[i] = malloc(sizeof(float) * n_out * n_tok);
    uint16_t *wh = malloc(2 * n_in * n_out);
    for (int64_t i = 0; i < n_in * n_out; i++) wf[i] = rng_normal();
    for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = rng_normal();
    ken_nn_quantize_row(KEN_DT_F16, wf, wh, n_in * n_out);
    ken_nn_mat m = {KEN_DT_F16, n_in, n_out, wh};
    ken_pool *p2 = NULL;
    REQUIRE(ken_pool_new(2, &p2) == KEN_OK);
    CHECK(ken_nn_matmul(NULL, &m, x, n_tok, y[0], NULL) == KEN_OK);
    CHECK(ken_nn_matmul(p2, &m, x, n_tok, y[1], NULL) == KEN_OK);
    const ken_nn_simd det = ken_nn_simd_detected();
    ken_nn_simd_set(KEN_NN_SIMD_AVX2);
    CHECK(ken_nn_matmul(NULL, &m, x, n_tok, y[2], NULL) == KEN_OK);
    ken_nn_simd_set(det);
    int diff12 = 0, bad = 0;
    for (int64_t i = 0; i < n_out * n_tok; i++) {
        diff12 += memcmp(&y[0][i], &y[1][i], 4) != 0;
        bad += fabsf(y[0][i] - y[2][i]) > 1e-4f * (1.0f + fabsf(y[2][i]));
    }
    CHECKF(diff12 == 0, "1 vs 2 threads: %d values differ", diff12);
    CHECKF(bad == 0, "avx512 vs avx2 level: %d values off", bad);
    ken_pool_free(p2);
    free(wf); free(x); free(wh);
    for (int i = 0; i < 3; i++) free(y[i]);
}

TEST_MAIN(test_kernel, test_matmul)
