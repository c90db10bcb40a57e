/* test_nn_qgemm.c: the integer GEMM for quantized weights with a batch
 * (nn_avx512.c; Q8_0, Q5_0, Q4_0, Q4_K and Q6_K weights) against the one-token kernels and the scalar reference:
 * bit-identical to the AVX2 one-token kernel at shapes that leave edges in
 * every direction (rows and tokens not multiples of the 4 × 4 tile, one
 * block, odd and even block counts, many blocks), with extreme values (any
 * weight byte, -128 included, huge and tiny scales), and matrix products at
 * the AVX-512 level equal to the AVX2 level's bit for bit for any thread
 * count; and ken_nn_axpy_f16 equal to its scalar expression at every level. */
#include "test.h"

#include "nn/nn.h"
#include "nn/nn_impl.h"

#include <math.h>

static uint64_t rng_state = 777;

static uint64_t rng_next(void) { return test_rng_next(&rng_state); }
static float rng_normal(void) { return test_rng_normal(&rng_state); }

enum { VAL_NORMAL, VAL_BYTES, VAL_HUGE, VAL_TINY, VAL_COUNT };

/* n_out weight rows of type wt (Q8_0, Q5_0, Q4_0) of n_in: quantized
 * normals, or raw random bytes (every quant value, -128 included) with
 * scales of several magnitudes. */
static void make_weights(ken_dtype wt, int kind, int64_t n_in, int64_t n_out, uint8_t *wq) {
    const size_t rb = ken_nn_row_bytes(wt, n_in), bb = ken_nn_block_bytes(wt);
    float *wf = malloc(sizeof(float) * (size_t)n_in);
    for (int64_t o = 0; o < n_out; o++) {
        uint8_t *row = wq + (size_t)o * rb;
        if (kind == VAL_NORMAL) {
            for (int64_t i = 0; i < n_in; i++) wf[i] = rng_normal();
            ken_nn_quantize_row(wt, wf, row, n_in);
            continue;
        }
        for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)rng_next();
        /* the F16 scales: at the start of every block (Q4_K: d, then dmin;
         * Q6_K: d at its end) */
        for (int64_t i = 0; i < n_in / ken_nn_block(wt); i++)
            for (int h2 = 0; h2 < (wt == KEN_DT_Q4_K ? 2 : 1); h2++) {
                const float d = kind == VAL_HUGE ? 60000.0f : kind == VAL_TINY ? 6e-8f
                                                                            : 0.01f + (float)(rng_next() % 100) * 1e-3f;
                ken_half h;
                put_half(&h, (rng_next() & 1) ? -d : d);
                memcpy(row + (size_t)i * bb + (wt == KEN_DT_Q6_K ? bb - 2 : 2 * (size_t)h2), &h, 2);
            }
    }
    free(wf);
}

/* n_tok activation rows: normals, or huge / tiny magnitudes. */
static void make_acts(int kind, int64_t n_in, int64_t n_tok, float *x) {
    const float s = kind == VAL_HUGE ? 1e4f : kind == VAL_TINY ? 1e-4f : 1.0f;
    for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = s * rng_normal();
    if (kind == VAL_BYTES)   /* one dominant value per row: most quants round to 0 */
        for (int64_t t = 0; t < n_tok; t++) x[t * n_in + (t % n_in)] = 1e3f;
}

/* The packed GEMM against the AVX2 one-token kernel (bit for bit) and the
 * scalar reference (within rounding), y padded to check nothing else is
 * written. */
static void check_kernel(ken_nn_qgemm_fn gemm, ken_dtype wt, int kind, int64_t n_in, int64_t n_out,
                         int64_t n_tok) {
    const size_t rb = ken_nn_row_bytes(wt, n_in), xb = ken_nn_row_bytes(KEN_DT_Q8_0, n_in);
    const size_t ps = ken_nn_q8_0_packed_bytes(n_in);
    const int64_t ys = n_out + 2;
    uint8_t *wq = malloc(rb * (size_t)n_out), *xq = malloc(xb * (size_t)n_tok);
    uint8_t *wp = aligned_alloc(64, ps * (size_t)n_out), *xp = aligned_alloc(64, ps * (size_t)n_tok);
    float *x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
    float *y = malloc(sizeof(float) * (size_t)(ys * n_tok));
    float *wf = malloc(sizeof(float) * (size_t)n_in), *xf = malloc(sizeof(float) * (size_t)n_in);
    make_weights(wt, kind, n_in, n_out, wq);
    make_acts(kind, n_in, n_tok, x);
    for (int64_t t = 0; t < n_tok; t++) {
        ken_nn_quantize_act(KEN_DT_Q8_0, x + t * n_in, xq + (size_t)t * xb, n_in);
        ken_nn_q8_0_pack(xq + (size_t)t * xb, n_in, true, xp + (size_t)t * ps);
    }
    for (int64_t o = 0; o < n_out; o++) ken_nn_qgemm_pack_w(wt, wq + (size_t)o * rb, n_in, wp + (size_t)o * ps);
    for (int64_t i = 0; i < ys * n_tok; i++) y[i] = -7.0f;
    gemm(wp, ps, n_out, xp, ps, n_tok, n_in, y, ys);
    ken_nn_dot_fn one = ken_nn_dot_kernel(wt, KEN_NN_SIMD_AVX2);
    REQUIRE(one != NULL);
    int exact_bad = 0, ref_bad = 0, pad_bad = 0;
    for (int64_t t = 0; t < n_tok; t++) {
        const uint8_t *a = xq + (size_t)t * xb;
        ken_nn_dequantize_row(KEN_DT_Q8_0, a, xf, n_in);
        for (int64_t o = 0; o < n_out; o++) {
            const uint8_t *w = wq + (size_t)o * rb;
            const float got = y[t * ys + o], want = one(w, a, n_in);
            exact_bad += memcmp(&got, &want, sizeof got) != 0;
            ken_nn_dequantize_row(wt, w, wf, n_in);
            double mag = 0;
            for (int64_t i = 0; i < n_in; i++) mag += fabs((double)wf[i] * xf[i]);
            const float ref = ken_nn_vec_dot_ref(wt, w, a, n_in);
            ref_bad += fabs((double)got - ref) > 1e-5 * mag + 1e-30;
        }
        pad_bad += y[t * ys + n_out] != -7.0f || y[t * ys + n_out + 1] != -7.0f;
    }
    CHECKF(exact_bad == 0 && ref_bad == 0 && pad_bad == 0,
           "qgemm %s kind %d n_in %lld n_out %lld n_tok %lld: %d differ from the one-token kernel, "
           "%d from the reference, %d padding values written",
           ken_dtype_name(wt), kind, (long long)n_in, (long long)n_out, (long long)n_tok, exact_bad, ref_bad, pad_bad);
    free(wq); free(xq); free(wp); free(xp); free(x); free(y); free(wf); free(xf);
}

static void test_kernel_shapes(void) {
    const ken_nn_simd det = ken_nn_simd_detected();
    ken_nn_qgemm_fn gemm = ken_nn_avx512_qgemm(KEN_DT_Q8_0);
    CHECK(ken_nn_avx512_qgemm(KEN_DT_Q4_1) == NULL);   /* 32-element signed types only */
    if (det != KEN_NN_SIMD_AVX512) {
        /* nothing to run the kernel on: the dispatch must not offer it */
        fprintf(stderr, "test_nn_qgemm: CPU lacks AVX-512 VNNI (%s): kernel not run\n",
                ken_nn_simd_name(det));
        CHECK(ken_nn_qgemm_best(KEN_DT_Q8_0) == NULL);
        return;
    }
    REQUIRE(gemm != NULL);
    const int64_t n_ins[] = {32, 64, 96, 256, 4864, 4896};
    const int64_t n_outs[] = {1, 3, 4, 5, 9};
    const int64_t n_toks[] = {1, 2, 4, 7, 8, 13};
    for (size_t a = 0; a < KEN_ARRAY_LEN(n_ins); a++)
        for (size_t b = 0; b < KEN_ARRAY_LEN(n_outs); b++)
            for (size_t c = 0; c < KEN_ARRAY_LEN(n_toks); c++)
                if (n_ins[a] < 4000 || (b == 4 && c == 5))   /* the long rows once */
                    check_kernel(gemm, KEN_DT_Q8_0, VAL_NORMAL, n_ins[a], n_outs[b], n_toks[c]);
    const ken_dtype types[] = {KEN_DT_Q8_0, KEN_DT_Q5_0, KEN_DT_Q4_0};
    for (size_t k = 0; k < KEN_ARRAY_LEN(types); k++) {
        REQUIRE(ken_nn_avx512_qgemm(types[k]) == gemm);
        for (int kind = VAL_NORMAL; kind < VAL_COUNT; kind++) {
            check_kernel(gemm, types[k], kind, 32, 5, 6);
            check_kernel(gemm, types[k], kind, 160, 9, 11);
            check_kernel(gemm, types[k], kind, 1024, 4, 4);
        }
        check_kernel(gemm, types[k], VAL_NORMAL, 4896, 3, 5);
    }
    /* the dispatch offers it at this level and not below */
    CHECK(ken_nn_qgemm_best(KEN_DT_Q8_0) == gemm);
    ken_nn_simd_set(KEN_NN_SIMD_AVX2);
    CHECK(ken_nn_qgemm_best(KEN_DT_Q8_0) == NULL);
    ken_nn_simd_set(det);
}

/* Whole products: the AVX-512 level (integer GEMM) equals the AVX2 level
 * (multi-token dot products) bit for bit, at 1 and 2 threads, with edges. */
static void test_matmul_levels(void) {
    const ken_nn_simd det = ken_nn_simd_detected();
    ken_pool *pool = NULL;
    REQUIRE(ken_pool_new(2, &pool) == KEN_OK);
    ken_nn_work work = {0};
    const int64_t shapes[][3] = {{32, 7, 5}, {96, 33, 9}, {896, 130, 70}, {4864, 21, 66}, {2048, 6, 4}, {256, 5, 7}};
    const ken_dtype types[] = {KEN_DT_Q8_0, KEN_DT_Q5_0, KEN_DT_Q4_0, KEN_DT_Q4_K, KEN_DT_Q6_K};
    for (size_t s = 0; s < KEN_ARRAY_LEN(shapes) * KEN_ARRAY_LEN(types); s++) {
        const ken_dtype wt = types[s / KEN_ARRAY_LEN(shapes)];
        const int64_t *sh = shapes[s % KEN_ARRAY_LEN(shapes)];
        /* K-quant rows are whole super-blocks of 256 */
        const int64_t n_in = ken_nn_block(wt) == QK_K ? (sh[0] + 255) / 256 * 256 : sh[0];
        const int64_t n_out = sh[1], n_tok = sh[2];
        const size_t rb = ken_nn_row_bytes(wt, n_in);
        uint8_t *wq = malloc(rb * (size_t)n_out);
        float *x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
        float *y[3];
        for (int i = 0; i < 3; i++) y[i] = malloc(sizeof(float) * (size_t)(n_out * n_tok));
        make_weights(wt, s % 2 ? VAL_BYTES : VAL_NORMAL, n_in, n_out, wq);
        make_acts(s % 3 == 2 ? VAL_HUGE : s % 3 == 1 ? VAL_TINY : VAL_NORMAL, n_in, n_tok, x);
        ken_nn_mat m = {wt, n_in, n_out, wq};
        ken_nn_simd_set(KEN_NN_SIMD_AVX2);
        CHECK(ken_nn_matmul(NULL, &m, x, n_tok, y[0], &work) == KEN_OK);
        ken_nn_simd_set(det);
        CHECK(ken_nn_matmul(NULL, &m, x, n_tok, y[1], &work) == KEN_OK);
        CHECK(ken_nn_matmul(pool, &m, x, n_tok, y[2], NULL) == KEN_OK);
        const size_t bytes = sizeof(float) * (size_t)(n_out * n_tok);
        CHECKF(memcmp(y[0], y[1], bytes) == 0 && memcmp(y[1], y[2], bytes) == 0,
               "matmul %s %lldx%lldx%lld: levels or thread counts differ", ken_dtype_name(wt),
               (long long)n_in, (long long)n_out, (long long)n_tok);
        for (int i = 0; i < 3; i++) free(y[i]);
        free(wq);
        free(x);
    }
    ken_nn_work_free(&work);
    ken_pool_free(pool);
}

/* ken_nn_axpy_f16 (attention's value sum): the scalar expression's bits at
 * every level, lengths with and without a tail, any F16 value but NaN. */
static void test_axpy_f16(void) {
    const ken_nn_simd det = ken_nn_simd_detected();
    const int64_t lens[] = {1, 7, 8, 64, 77};
    for (size_t l = 0; l < KEN_ARRAY_LEN(lens); l++) {
        const int64_t n = lens[l];
        uint16_t x[80];
        float y0[80], want[80], got[80];
        for (int rep = 0; rep < 20; rep++) {
            const float a = rep % 5 == 0 ? 0.0f : rng_normal() * (rep % 3 ? 1.0f : 3e4f);
            for (int64_t i = 0; i < n; i++) {
                do x[i] = (uint16_t)rng_next();
                while ((x[i] & 0x7c00) == 0x7c00 && (x[i] & 0x3ff));   /* no NaN */
                y0[i] = rng_normal();
                want[i] = y0[i] + a * ken_nn_fp16_to_fp32(x[i]);
            }
            for (int lvl = 0; lvl <= (int)det; lvl++) {
                memcpy(got, y0, sizeof(float) * (size_t)n);
                ken_nn_simd_set((ken_nn_simd)lvl);
                ken_nn_axpy_f16(got, a, x, n);
                int bad = 0;
                for (int64_t i = 0; i < n; i++)
                    bad += memcmp(&got[i], &want[i], 4) != 0 && !(isnan(got[i]) && isnan(want[i]));
                CHECKF(bad == 0, "axpy_f16 n=%lld level %s: %d values differ", (long long)n,
                       ken_nn_simd_name((ken_nn_simd)lvl), bad);
            }
            ken_nn_simd_set(det);
        }
    }
}

TEST_MAIN(test_kernel_shapes, test_matmul_levels, test_axpy_f16)
