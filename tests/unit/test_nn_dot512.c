/* test_nn_dot512.c: the AVX-512 one-token dot products (nn_avx512_dot.c;
 * Q8_0, Q5_0, Q4_0, Q4_K, Q6_K) equal the AVX2 ones bit for bit (so the
 * integer GEMM, which mirrors the AVX2 order, still equals the one-token
 * kernel in use), and the K-quant ones also the scalar reference: odd and
 * even block counts, one block, long rows, quantized normals and raw random
 * bytes (every quant value, -128 included) with scales from 6e-8 to 60000.
 * Rows are allocated at their exact size, so ASan sees any read past them;
 * the dispatch offers the kernels at the AVX-512 level only. */
#include "test.h"

#include "nn/nn.h"
#include "nn/nn_impl.h"

#include <math.h>

static uint64_t rng_state = 4242;

static uint64_t rng_next(void) { return test_rng_next(&rng_state); }
static float rng_normal(void) { return test_rng_normal(&rng_state); }

/* One weight row: quantized normals (kind 0) or raw bytes with finite F16
 * scales of magnitude 0.01..0.1 (1), 60000 (2) or 6e-8 (3). */
static void make_row(ken_dtype wt, int kind, int64_t n, uint8_t *row) {
    const size_t rb = ken_nn_row_bytes(wt, n), bb = ken_nn_block_bytes(wt);
    if (kind == 0) {
        float *f = malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i++) f[i] = rng_normal();
        ken_nn_quantize_row(wt, f, row, n);
        free(f);
        return;
    }
    for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)rng_next();
    for (int64_t i = 0; i < n / ken_nn_block(wt); i++)
        for (int h2 = 0; h2 < (wt == KEN_DT_Q4_K ? 2 : 1); h2++) {
            const float d = kind == 2 ? 60000.0f : kind == 3 ? 6e-8f : 0.01f + (float)(rng_next() % 100) * 1e-3f;
            ken_half h;
            put_half(&h, (rng_next() & 1) ? -d : d);
            memcpy(row + (size_t)i * bb + (wt == KEN_DT_Q6_K ? bb - 2 : 2 * (size_t)h2), &h, 2);
        }
}

static void check_type(ken_dtype wt) {
    ken_nn_dot_fn k512 = ken_nn_dot_kernel(wt, KEN_NN_SIMD_AVX512);
    ken_nn_dot_fn k2 = ken_nn_dot_kernel(wt, KEN_NN_SIMD_AVX2);
    REQUIRE(k512 != NULL && k2 != NULL && k512 != k2);
    const bool kq = ken_nn_block(wt) == QK_K;
    const int64_t ns32[] = {32, 64, 96, 160, 896, 4864, 4896};
    const int64_t nsK[] = {256, 512, 768, 4864 / 256 * 256 + 256};
    const int64_t *ns = kq ? nsK : ns32;
    const size_t nn = kq ? KEN_ARRAY_LEN(nsK) : KEN_ARRAY_LEN(ns32);
    const ken_dtype at = ken_nn_act_type(wt);
    int bad2 = 0, badref = 0, total = 0;
    for (size_t s = 0; s < nn; s++) {
        const int64_t n = ns[s];
        const size_t rb = ken_nn_row_bytes(wt, n), xb = ken_nn_row_bytes(at, n);
        float *xf = malloc(sizeof(float) * (size_t)n);
        for (int kind = 0; kind < 4; kind++)
            for (int rep = 0; rep < 6; rep++) {
                uint8_t *w = malloc(rb), *x = malloc(xb);
                make_row(wt, kind, n, w);
                const float sc = rep % 3 == 1 ? 1e4f : rep % 3 == 2 ? 1e-4f : 1.0f;
                for (int64_t i = 0; i < n; i++) xf[i] = sc * rng_normal();
                ken_nn_quantize_act(at, xf, x, n);
                const float a = k512(w, x, n), b = k2(w, x, n), r = ken_nn_vec_dot_ref(wt, w, x, n);
                bad2 += memcmp(&a, &b, 4) != 0;
                if (kq) badref += memcmp(&a, &r, 4) != 0;
                total++;
                free(w);
                free(x);
            }
        free(xf);
    }
    CHECKF(bad2 == 0 && badref == 0, "%s: %d of %d differ from AVX2, %d from the reference",
           ken_dtype_name(wt), bad2, total, badref);
}

static void test_dot512(void) {
    const ken_nn_simd det = ken_nn_simd_detected();
    if (det < KEN_NN_SIMD_AVX512) {
        fprintf(stderr, "test_nn_dot512: CPU lacks AVX-512 VNNI (%s): kernels not run\n",
                ken_nn_simd_name(det));
        CHECK(ken_nn_dot_kernel(KEN_DT_Q8_0, KEN_NN_SIMD_AVX512) == NULL);
        return;
    }
    const ken_dtype types[] = {KEN_DT_Q8_0, KEN_DT_Q5_0, KEN_DT_Q4_0, KEN_DT_Q4_K, KEN_DT_Q6_K};
    for (size_t k = 0; k < KEN_ARRAY_LEN(types); k++) check_type(types[k]);
    /* the dispatch: in use at this level, AVX2's below it, and the
     * multi-token kernels are offered with it */
    CHECK(ken_nn_dot_best(KEN_DT_Q5_0) == ken_nn_dot_kernel(KEN_DT_Q5_0, KEN_NN_SIMD_AVX512));
    CHECK(ken_nn_dotn_best(KEN_DT_Q5_0, 4) != NULL);
    ken_nn_simd_set(KEN_NN_SIMD_AVX2);
    CHECK(ken_nn_dot_best(KEN_DT_Q5_0) == ken_nn_dot_kernel(KEN_DT_Q5_0, KEN_NN_SIMD_AVX2));
    ken_nn_simd_set(det);
}

TEST_MAIN(test_dot512)
