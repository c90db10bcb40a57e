/* test_nn_pool.c: the thread pool and the matrix products: every thread
 * runs exactly once per run, many tiny runs back to back (spinning and
 * sleeping hand-offs), create/destroy without leaks, and matmul results that
 * are bit-identical for 1, 2 and 3 threads, equal to per-row ken_nn_vec_dot,
 * and close to a float product of the dequantized weights. */
#include "test.h"

#include "nn/nn.h"
#include "nn/nn_impl.h"

#include <math.h>
#include <stdatomic.h>
#include <unistd.h>

static uint64_t rng_state = 12345;

static float rng_normal(void) { return test_rng_normal(&rng_state); }

#define MAX_CHUNKS 64

typedef struct {
    atomic_int calls[MAX_CHUNKS];   /* per chunk */
    atomic_int per_thread[8];
    atomic_int total;
    atomic_int bad_ith;
} count_ctx;

static void count_fn(void *ctx, int64_t chunk, int ith) {
    count_ctx *c = ctx;
    atomic_fetch_add(&c->calls[chunk], 1);
    atomic_fetch_add(&c->total, 1);
    if (ith < 0 || ith >= 8) atomic_fetch_add(&c->bad_ith, 1);
    else atomic_fetch_add(&c->per_thread[ith], 1);
}

static void test_pool_runs(void) {
    for (int n = 1; n <= 4; n++) {
        for (int mode = 0; mode < 2; mode++) {
            ken_pool *p = NULL;
            REQUIRE(ken_pool_new(n, &p) == KEN_OK);
            CHECK_EQ_INT(ken_pool_threads(p), n);
            if (mode == 1) ken_pool_set_spin(p, 0);   /* always sleep: the condvar path */
            count_ctx c = {0};
            const int runs = 1000;
            int64_t expect = 0;
            for (int r = 0; r < runs; r++) {
                const int64_t nc = 1 + r % MAX_CHUNKS;   /* 1 chunk runs inline */
                ken_pool_run(p, nc, count_fn, &c);
                expect += nc;
                /* every chunk of this run done exactly once before run returns */
                CHECK(atomic_load(&c.total) == expect);
            }
            ken_pool_run(p, 0, count_fn, &c);   /* no chunks: nothing happens */
            int ok = 1;
            for (int k = 0; k < MAX_CHUNKS; k++) ok &= atomic_load(&c.calls[k]) > 0;
            CHECK(ok);
            CHECK_EQ_INT(atomic_load(&c.bad_ith), 0);
            for (int i = n; i < 8; i++) CHECK_EQ_INT(atomic_load(&c.per_thread[i]), 0);
            /* runs separated by pauses: workers fall asleep between them */
            for (int r = 0; r < 5; r++) {
                usleep(3000);
                ken_pool_run(p, 16, count_fn, &c);
            }
            CHECK_EQ_INT(atomic_load(&c.total), expect + 5 * 16);
            ken_pool_free(p);
        }
    }
    ken_pool *p = NULL;
    CHECK(ken_pool_new(0, &p) == KEN_ERR_INVALID && p == NULL);
    CHECK(ken_pool_new(KEN_POOL_MAX_THREADS + 1, &p) == KEN_ERR_INVALID);
    ken_pool_free(NULL);
    CHECK_EQ_INT(ken_pool_threads(NULL), 1);
    count_ctx c = {0};
    ken_pool_run(NULL, 3, count_fn, &c);
    CHECK_EQ_INT(atomic_load(&c.total), 3);
    CHECK_EQ_INT(atomic_load(&c.per_thread[0]), 3);
    /* create and destroy many pools (leaks show under ASan) */
    for (int i = 0; i < 50; i++) {
        REQUIRE(ken_pool_new(1 + i % 4, &p) == KEN_OK);
        if (i % 2) ken_pool_run(p, 8, count_fn, &c);
        ken_pool_free(p);
    }
    CHECK_EQ_INT(atomic_load(&c.total), 3 + 25 * 8);
}

static void test_split(void) {
    for (int64_t n = 0; n < 50; n++) {
        for (int nth = 1; nth <= 7; nth++) {
            int64_t expect = 0;
            for (int i = 0; i < nth; i++) {
                int64_t b, e;
                ken_pool_split(n, i, nth, &b, &e);
                CHECK(b == expect && e >= b && e - b <= n / nth + 1);
                expect = e;
            }
            CHECK(expect == n);
        }
    }
}

static const ken_dtype types[] = {
    KEN_DT_F32, KEN_DT_F16, KEN_DT_BF16, KEN_DT_Q4_0, KEN_DT_Q4_1, KEN_DT_Q5_0, KEN_DT_Q5_1,
    KEN_DT_Q8_0, KEN_DT_Q2_K, KEN_DT_Q3_K, KEN_DT_Q4_K, KEN_DT_Q5_K, KEN_DT_Q6_K,
};

/* One shape: results for 1, 2, 3 threads identical, equal to per-row
 * ken_nn_vec_dot and to single-token products, close to float products. */
static void check_matmul(int64_t n_in, int64_t n_out, int64_t n_tok, ken_pool *pools[4],
                         ken_nn_work *work) {
    float *wf = malloc(sizeof(float) * n_in * n_out), *x = malloc(sizeof(float) * n_in * n_tok);
    float *y[4], *deq = malloc(sizeof(float) * n_in * n_out), *yv = malloc(sizeof(float) * n_out);
    for (int i = 0; i < 4; i++) y[i] = malloc(sizeof(float) * n_out * n_tok);
    for (int64_t i = 0; i < n_in * n_out; i++) wf[i] = rng_normal();
    for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = rng_normal();
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const ken_dtype t = types[k];
        const size_t rb = ken_nn_row_bytes(t, n_in);
        uint8_t *wq = malloc(rb * n_out);
        for (int64_t o = 0; o < n_out; o++) {
            ken_nn_quantize_row(t, wf + o * n_in, wq + o * rb, n_in);
            ken_nn_dequantize_row(t, wq + o * rb, deq + o * n_in, n_in);
        }
        ken_nn_mat m = {t, n_in, n_out, wq};
        CHECK(ken_nn_matmul(NULL, &m, x, n_tok, y[0], NULL) == KEN_OK);
        for (int th = 1; th <= 3; th++) {
            CHECK(ken_nn_matmul(pools[th], &m, x, n_tok, y[th], work) == KEN_OK);
            CHECKF(memcmp(y[th], y[0], sizeof(float) * n_out * n_tok) == 0,
                   "%s: %d threads differ from 1", ken_dtype_name(t), th);
        }
        uint8_t *xq = malloc(ken_nn_row_bytes(ken_nn_act_type(t), n_in));
        double worst = 0;
        int row_bad = 0, tok_bad = 0;
        for (int64_t tok = 0; tok < n_tok; tok++) {
            ken_nn_quantize_act(ken_nn_act_type(t), x + tok * n_in, xq, n_in);
            CHECK(ken_nn_matvec(pools[2], &m, x + tok * n_in, yv, work) == KEN_OK);
            /* float weights with a batch go through the F32 GEMM: the same
             * products summed in another order, so equal within rounding;
             * quantized types sum integers per block: bit for bit */
            const bool fl = t == KEN_DT_F32 || t == KEN_DT_F16 || t == KEN_DT_BF16;
            bool tok_differs = false;
            for (int64_t o = 0; o < n_out; o++) {
                double sum = 0, mag = 0;
                for (int64_t i = 0; i < n_in; i++) {
                    sum += (double)deq[o * n_in + i] * x[tok * n_in + i];
                    mag += fabs((double)deq[o * n_in + i] * x[tok * n_in + i]);
                }
                const float got = y[0][tok * n_out + o];
                const float dv = ken_nn_vec_dot(t, wq + o * rb, xq, n_in);
                if (fl && n_tok > 1) {
                    row_bad += fabs((double)dv - got) > 1e-6 * mag;
                    tok_differs |= fabs((double)yv[o] - got) > 1e-6 * mag;
                } else {
                    row_bad += dv != got;
                    tok_differs |= yv[o] != got;
                }
                double e = fabs(sum - y[0][tok * n_out + o]) / mag;
                if (e > worst) worst = e;
            }
            tok_bad += tok_differs;
        }
        CHECKF(tok_bad == 0, "%s: %d tokens differ between batch and single products",
               ken_dtype_name(t), tok_bad);
        CHECKF(row_bad == 0, "%s: %d values differ from ken_nn_vec_dot", ken_dtype_name(t), row_bad);
        /* activation quantization: 8-bit costs ~1e-2 of Σ|w·x| at most, F16 ~1e-3 */
        const double tol = t == KEN_DT_F32 ? 1e-6 : t == KEN_DT_F16 ? 1e-3 : t == KEN_DT_BF16 ? 1e-2 : 1.5e-2;
        CHECKF(worst <= tol, "%s: matmul vs float %g > %g", ken_dtype_name(t), worst, tol);
        free(xq);
        free(wq);
    }
    for (int i = 0; i < 4; i++) free(y[i]);
    free(wf);
    free(x);
    free(deq);
    free(yv);
}

static void test_matmul(void) {
    ken_pool *pools[4] = {NULL};
    for (int t = 1; t <= 3; t++) REQUIRE(ken_pool_new(t, &pools[t]) == KEN_OK);
    ken_nn_work work = {0};
    check_matmul(512, 37, 3, pools, &work);     /* small: runs on the caller */
    check_matmul(512, 120, 37, pools, &work);   /* threaded, two token tiles */
    check_matmul(512, 300, 1, pools, &work);    /* one token, more rows */
    /* bad shapes */
    uint8_t dummy[64] = {0};
    float x[64] = {0}, y[4];
    ken_nn_mat bad = {KEN_DT_Q4_0, 33, 1, dummy};
    CHECK(ken_nn_matmul(pools[2], &bad, x, 1, y, &work) == KEN_ERR_INVALID);
    ken_nn_mat bad2 = {KEN_DT_I32, 4, 1, dummy};
    CHECK(ken_nn_matmul(pools[2], &bad2, x, 1, y, &work) == KEN_ERR_INVALID);
    ken_nn_mat ok = {KEN_DT_F32, 4, 1, dummy};
    CHECK(ken_nn_matmul(pools[2], &ok, x, 0, y, &work) == KEN_ERR_INVALID);
    CHECK(ken_nn_matmul(pools[2], &ok, x, 1, y, &work) == KEN_OK);
    ken_nn_work_free(&work);
    ken_nn_work_free(&work);   /* twice is fine */
    for (int t = 1; t <= 3; t++) ken_pool_free(pools[t]);
}

/* The blocked F32 GEMM against its reference, at sizes that leave edges in
 * every direction (rows not a multiple of 4, tokens not of 3, n not of 8),
 * and an F16 matmul whose n_in is not a multiple of 8 (the GEMM's tails). */
static void test_gemm(void) {
    const int64_t shapes[][3] = {{1, 1, 1}, {4, 3, 8}, {7, 5, 13}, {9, 10, 100}, {12, 48, 384}};
    ken_nn_gemm_fn best = ken_nn_gemm_f32_best();
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t nr = shapes[s][0], nt = shapes[s][1], n = shapes[s][2], ys = nr + 3;
        float *w = malloc(sizeof(float) * nr * n), *x = malloc(sizeof(float) * nt * n);
        float *a = calloc((size_t)(nt * ys), sizeof(float)), *b = calloc((size_t)(nt * ys), sizeof(float));
        for (int64_t i = 0; i < nr * n; i++) w[i] = rng_normal();
        for (int64_t i = 0; i < nt * n; i++) x[i] = rng_normal();
        ken_nn_gemm_f32_ref(w, nr, x, nt, n, a, ys);
        best(w, nr, x, nt, n, b, ys);
        int bad = 0;
        for (int64_t t = 0; t < nt; t++)
            for (int64_t r = 0; r < ys; r++) {
                double mag = 0;
                for (int64_t k = 0; r < nr && k < n; k++) mag += fabs((double)w[r * n + k] * x[t * n + k]);
                bad += r < nr ? fabs((double)a[t * ys + r] - b[t * ys + r]) > 1e-6 * mag + 1e-30
                              : a[t * ys + r] != 0.0f || b[t * ys + r] != 0.0f;   /* padding untouched */
            }
        CHECKF(bad == 0, "gemm %lldx%lldx%lld: %d values off", (long long)nr, (long long)nt,
               (long long)n, bad);
        free(w); free(x); free(a); free(b);
    }
    const int64_t n_in = 44, n_out = 9, n_tok = 7;
    float *wf = malloc(sizeof(float) * n_in * n_out), *x = malloc(sizeof(float) * n_in * n_tok);
    float *y = malloc(sizeof(float) * n_out * n_tok);
    uint16_t *wh = malloc(2 * n_in * n_out), *xh = malloc(2 * n_in);
    for (int64_t i = 0; i < n_in * n_out; i++) wf[i] = rng_normal();
    for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = rng_normal();
    ken_nn_quantize_row(KEN_DT_F16, wf, wh, n_in * n_out);
    ken_nn_mat m = {KEN_DT_F16, n_in, n_out, wh};
    CHECK(ken_nn_matmul(NULL, &m, x, n_tok, y, NULL) == KEN_OK);
    int bad = 0;
    for (int64_t t = 0; t < n_tok; t++) {
        ken_nn_quantize_act(KEN_DT_F16, x + t * n_in, xh, n_in);
        for (int64_t o = 0; o < n_out; o++)
            bad += fabsf(ken_nn_vec_dot_ref(KEN_DT_F16, wh + o * n_in, xh, n_in) - y[t * n_out + o]) > 1e-4f;
    }
    CHECK_EQ_INT(bad, 0);
    free(wf); free(x); free(y); free(wh); free(xh);
}

/* Whole-tensor quantization: same bytes as row by row, for any thread count. */
static void test_quantize_rows(void) {
    const int64_t rows = 70, n = 512;
    float *x = malloc(sizeof(float) * rows * n);
    for (int64_t i = 0; i < rows * n; i++) x[i] = rng_normal();
    ken_pool *p;
    REQUIRE(ken_pool_new(3, &p) == KEN_OK);
    const ken_dtype ts[] = {KEN_DT_Q4_0, KEN_DT_Q5_1, KEN_DT_Q3_K, KEN_DT_Q6_K, KEN_DT_F16};
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
        const size_t rb = ken_nn_row_bytes(ts[k], n);
        uint8_t *a = malloc(rb * rows), *b = malloc(rb * rows);
        for (int64_t r = 0; r < rows; r++) ken_nn_quantize_row(ts[k], x + r * n, a + r * rb, n);
        memset(b, 0xAA, rb * rows);
        CHECK(ken_nn_quantize_rows(p, ts[k], x, rows, n, b) == KEN_OK);
        CHECKF(memcmp(a, b, rb * rows) == 0, "%s: pool quantization differs", ken_dtype_name(ts[k]));
        memset(b, 0xAA, rb * rows);
        CHECK(ken_nn_quantize_rows(NULL, ts[k], x, rows, n, b) == KEN_OK);
        CHECK(memcmp(a, b, rb * rows) == 0);
        free(a);
        free(b);
    }
    uint8_t dst[512];
    CHECK(ken_nn_quantize_rows(p, KEN_DT_Q8_K, x, 1, 256, dst) == KEN_ERR_INVALID);   /* not a weight type */
    x[300] = NAN;
    CHECK(ken_nn_quantize_rows(p, KEN_DT_Q4_0, x, 1, 512, dst) == KEN_ERR_FORMAT);
    x[300] = -INFINITY;
    CHECK(ken_nn_quantize_rows(p, KEN_DT_Q6_K, x, 1, 512, dst) == KEN_ERR_FORMAT);
    x[300] = 3e38f;
    CHECK(ken_nn_quantize_rows(p, KEN_DT_Q4_1, x, 1, 512, dst) == KEN_ERR_FORMAT);
    x[300] = 1e29f;   /* large but fine */
    CHECK(ken_nn_quantize_rows(p, KEN_DT_Q4_1, x, 1, 512, dst) == KEN_OK);
    CHECK(ken_nn_quantize_rows(p, KEN_DT_Q4_K, x, 1, 100, dst) == KEN_ERR_INVALID);
    CHECK(ken_nn_quantize_rows(p, KEN_DT_Q4_K, x, 0, 256, dst) == KEN_ERR_INVALID);
    ken_pool_free(p);
    free(x);
}

/* Many small products back to back, as in token generation. */
static void test_many_small(void) {
    const int64_t n_in = 256, n_out = 64;
    float *wf = malloc(sizeof(float) * n_in * n_out), *x = malloc(sizeof(float) * n_in);
    float y1[64], y2[64];
    for (int64_t i = 0; i < n_in * n_out; i++) wf[i] = rng_normal();
    const size_t rb = ken_nn_row_bytes(KEN_DT_Q4_K, n_in);
    uint8_t *wq = malloc(rb * n_out);
    for (int64_t o = 0; o < n_out; o++) ken_nn_quantize_row(KEN_DT_Q4_K, wf + o * n_in, wq + o * rb, n_in);
    ken_nn_mat m = {KEN_DT_Q4_K, n_in, n_out, wq};
    ken_pool *p;
    REQUIRE(ken_pool_new(2, &p) == KEN_OK);
    ken_nn_work work = {0};
    int bad = 0;
    for (int r = 0; r < 2000; r++) {
        for (int64_t i = 0; i < n_in; i++) x[i] = (float)((r * 7 + i) % 13) - 6;
        ken_nn_matvec(NULL, &m, x, y1, &work);
        ken_nn_matvec(p, &m, x, y2, &work);
        bad += memcmp(y1, y2, sizeof y1) != 0;
    }
    CHECK_EQ_INT(bad, 0);
    ken_nn_work_free(&work);
    ken_pool_free(p);
    free(wq);
    free(wf);
    free(x);
}

TEST_MAIN(test_gemm, test_pool_runs, test_split, test_matmul, test_quantize_rows, test_many_small)
