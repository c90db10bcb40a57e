/* nn_matmul.c: matrix-vector and matrix-matrix products over quantized
 * weight rows, y[t][o] = W[o]·x[t], and whole-tensor quantization spread
 * over the thread pool.
 *
 * Shapes: W is [n_out][n_in] (GGUF ne = {n_in, n_out}), x is [n_tok][n_in],
 * y is [n_tok][n_out]. The activation rows are quantized once to the type
 * paired with W's type; then threads take chunks of output rows from a
 * shared counter (a thread slowed down by another process simply takes
 * fewer chunks) and compute, for each row, its dot product with every token
 * (the weight row stays in L1 across tokens); or, for Q8_0 weights with a
 * batch where the CPU has AVX-512 VNNI (Q4_0, Q5_0, Q4_K and Q6_K too), packs the chunk's rows once and runs
 * the integer GEMM of nn_avx512.c over tiles of tokens; float weights (F32,
 * F16, BF16) with a batch go through an F32 GEMM: at the AVX-512 level a
 * chunk's rows are widened once into 16-row panels (nn_avx512_f32.c) and
 * multiplied by every token, below it 4-row F32 tiles per token tile. Each y value comes from one
 * call of the same kernel on the same bytes, so the result does not depend
 * on the thread count or on which thread took which chunk. */
#include "nn/nn_impl.h"

#include <math.h>
#include <stdlib.h>

void ken_nn_work_free(ken_nn_work *w) {
    if (!w) return;
    free(w->data);
    w->data = NULL;
    w->cap = 0;
}

static ken_status work_reserve(ken_nn_work *w, size_t bytes) {
    if (bytes <= w->cap) return KEN_OK;
    if (bytes > KEN_NN_WORK_MAX) return KEN_ERR_LIMIT;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < bytes) cap *= 2;
    void *p = realloc(w->data, cap);
    if (!p) return KEN_ERR_NOMEM;
    w->data = p;
    w->cap = cap;
    return KEN_OK;
}

typedef struct {
    const ken_nn_mat *w;
    size_t w_row_bytes;
    const float *x;
    const uint8_t *xq;          /* activation rows, x_row_bytes apart */
    size_t x_row_bytes;
    ken_dtype act;
    int64_t n_tok;
    float *y;
    ken_nn_dot_fn dot;
    ken_nn_dotn_fn dotn[KEN_NN_DOTN_MAX + 1];   /* multi-token kernels, may be NULL */
    int64_t chunk;              /* output rows per chunk */
    /* float weight types with a batch: F32 tiles through a blocked GEMM */
    ken_nn_gemm_fn gemm;        /* NULL: dot-product path */
    float *xf;                  /* [n_tok][n_in] activations as F32 */
    float *wt;                  /* [n_threads][GEMM_ROWS][n_in] weight tiles */
    ken_nn_widen_fn widen_w, widen_x;   /* F16/BF16 -> F32 rows */
    ken_nn_f32_gemm pg;         /* packed-panel GEMM (AVX-512), pg.gemm NULL when none */
    /* quantized weights with a batch: integer GEMM over packed rows */
    ken_nn_qgemm_fn qgemm;      /* NULL: dot-product path */
    uint8_t *xp, *wp;           /* packed activations [n_tok], weight rows [n_threads][chunk] */
    size_t ps;                  /* bytes per packed row */
} mm_job;

#define TOKEN_TILE 32
/* Below this many weight bytes × tokens a product runs on the calling
 * thread: waking workers would cost more than they save. */
#define SMALL_WORK_BYTES (32 * 1024)
/* With a batch, a chunk's weight rows are re-read once per token tile:
 * keep them within this many bytes (L2-sized). */
#define CHUNK_BYTES_BATCH (128 * 1024)

/* Float weights with at least this many tokens go through the GEMM. */
#define GEMM_MIN_TOK 4
#define GEMM_ROWS 4        /* weight rows converted to F32 at a time */
#define GEMM_TILE 48       /* tokens per tile (a multiple of the kernel's 3) */

/* Chunk t: activation row t. */
static void quantize_row_chunk(void *ctx, int64_t t, int ith) {
    (void)ith;
    mm_job *j = ctx;
    ken_nn_quantize_act(j->act, j->x + t * j->w->n_in, (uint8_t *)j->xq + t * j->x_row_bytes,
                        j->w->n_in);
}

/* Chunk c: output rows [c·chunk, (c+1)·chunk) for every token. */
static void multiply_chunk(void *ctx, int64_t c, int ith) {
    (void)ith;
    mm_job *j = ctx;
    const int64_t n_out = j->w->n_out, n_in = j->w->n_in;
    const int64_t o0 = c * j->chunk, o1 = o0 + j->chunk < n_out ? o0 + j->chunk : n_out;
    const uint8_t *wd = j->w->data;
    /* tokens in tiles, so a tile of activations and the chunk's weight rows
     * both stay in cache however long the batch */
    for (int64_t t0 = 0; t0 < j->n_tok; t0 += TOKEN_TILE) {
        const int64_t t1 = t0 + TOKEN_TILE < j->n_tok ? t0 + TOKEN_TILE : j->n_tok;
        for (int64_t o = o0; o < o1; o++) {
            const uint8_t *wr = wd + (size_t)o * j->w_row_bytes;
            int64_t t = t0;
            /* up to 4 tokens per call share the decoding of the weight row */
            while (t1 - t >= 2) {
                const int nx = t1 - t >= KEN_NN_DOTN_MAX ? KEN_NN_DOTN_MAX : (int)(t1 - t);
                if (!j->dotn[nx]) break;
                float out[KEN_NN_DOTN_MAX];
                j->dotn[nx](wr, j->xq + (size_t)t * j->x_row_bytes, j->x_row_bytes, n_in, out);
                for (int k = 0; k < nx; k++) j->y[(t + k) * n_out + o] = out[k];
                t += nx;
            }
            for (; t < t1; t++)
                j->y[t * n_out + o] = j->dot(wr, j->xq + (size_t)t * j->x_row_bytes, n_in);
        }
    }
}

/* Chunk t: activation row t (already rounded to the activation type) as
 * F32, exactly. */
static void widen_row_chunk(void *ctx, int64_t t, int ith) {
    (void)ith;
    mm_job *j = ctx;
    j->widen_x(j->xq + (size_t)t * j->x_row_bytes, j->xf + t * j->w->n_in, j->w->n_in);
}

/* Chunk c of the GEMM path: output rows [c·chunk, (c+1)·chunk), GEMM_ROWS
 * at a time converted to F32 (F32 weights are used in place), times every
 * token tile. */
static void gemm_chunk(void *ctx, int64_t c, int ith) {
    mm_job *j = ctx;
    const int64_t n_out = j->w->n_out, n_in = j->w->n_in;
    const int64_t o0 = c * j->chunk, o1 = o0 + j->chunk < n_out ? o0 + j->chunk : n_out;
    const uint8_t *wd = j->w->data;
    float *tile = j->wt + (int64_t)ith * GEMM_ROWS * n_in;
    for (int64_t t0 = 0; t0 < j->n_tok; t0 += GEMM_TILE) {
        const int64_t nt = j->n_tok - t0 < GEMM_TILE ? j->n_tok - t0 : GEMM_TILE;
        for (int64_t o = o0; o < o1; o += GEMM_ROWS) {
            const int64_t nr = o1 - o < GEMM_ROWS ? o1 - o : GEMM_ROWS;
            const float *w = (const float *)(wd + (size_t)o * j->w_row_bytes);
            if (j->w->type != KEN_DT_F32) {
                for (int64_t r = 0; r < nr; r++)
                    j->widen_w(wd + (size_t)(o + r) * j->w_row_bytes, tile + r * n_in, n_in);
                w = tile;
            }
            j->gemm(w, nr, j->xf + t0 * n_in, nt, n_in, j->y + t0 * n_out + o, n_out);
        }
    }
}

#define PGEMM_ROWS 48
#define PGEMM_TOK 16       /* tokens between slices of the next chunk's prefetch */
#define PGEMM_CHUNK_FLOATS (128 * 1024)

/* Chunk t: activation row t rounded to F16 and widened back in one pass. */
static void round_row_chunk(void *ctx, int64_t t, int ith) {
    (void)ith;
    mm_job *j = ctx;
    j->pg.round_f16(j->x + t * j->w->n_in, j->xf + t * j->w->n_in, j->w->n_in);
}

/* Chunk c of the packed-panel GEMM: output rows [c·chunk, (c+1)·chunk)
 * packed (widened) once into this thread's panels, then multiplied by all
 * tokens. */
static void pgemm_chunk(void *ctx, int64_t c, int ith) {
    mm_job *j = ctx;
    const int64_t n_out = j->w->n_out, n_in = j->w->n_in;
    const int64_t o0 = c * j->chunk, o1 = o0 + j->chunk < n_out ? o0 + j->chunk : n_out;
    float *wp = j->wt + (int64_t)ith * ken_nn_f32_panel_floats(j->chunk, n_in);
    const uint8_t *wd = j->w->data;
    j->pg.pack_rows(j->w->type, wd + (size_t)o0 * j->w_row_bytes, j->w_row_bytes, o1 - o0, n_in, wp);
    /* the next chunk's weights come from memory: ask for them (into L2), a
     * slice after each block of tokens, so packing them finds them cached */
    const int64_t o2 = o1 + j->chunk < n_out ? o1 + j->chunk : n_out;
    const size_t next = (size_t)(o2 - o1) * j->w_row_bytes;
    for (int64_t t0 = 0; t0 < j->n_tok; t0 += PGEMM_TOK) {
        const int64_t nt = j->n_tok - t0 < PGEMM_TOK ? j->n_tok - t0 : PGEMM_TOK;
        j->pg.gemm(wp, o1 - o0, j->xf + t0 * n_in, n_in, nt, n_in, j->y + t0 * n_out + o0, n_out);
        const size_t b0 = next * (size_t)t0 / (size_t)j->n_tok, b1 = next * (size_t)(t0 + nt) / (size_t)j->n_tok;
        for (size_t b = b0 / 64 * 64; b < b1; b += 64)
            __builtin_prefetch(wd + (size_t)o1 * j->w_row_bytes + b, 0, 2);
    }
}

/* Quantized weights with at least this many tokens go through the integer
 * GEMM (packing the weight rows costs about one pass over them). */
#define QGEMM_MIN_TOK 4
#define QGEMM_TILE 64      /* tokens per tile: their packed rows stay in L2 */

/* Chunk t: activation row t (already quantized) packed for the GEMM. */
static void pack_act_chunk(void *ctx, int64_t t, int ith) {
    (void)ith;
    mm_job *j = ctx;
    ken_nn_qgemm_pack_x(j->w->type, j->xq + (size_t)t * j->x_row_bytes, j->w->n_in,
                        j->xp + (size_t)t * j->ps);
}

/* Chunk c of the integer GEMM: output rows [c·chunk, (c+1)·chunk) packed
 * into this thread's buffer once, then multiplied by every token tile. */
static void qgemm_chunk(void *ctx, int64_t c, int ith) {
    mm_job *j = ctx;
    const int64_t n_out = j->w->n_out, n_in = j->w->n_in;
    const int64_t o0 = c * j->chunk, o1 = o0 + j->chunk < n_out ? o0 + j->chunk : n_out;
    const uint8_t *wd = j->w->data;
    uint8_t *wp = j->wp + (size_t)ith * (size_t)j->chunk * j->ps;
    for (int64_t o = o0; o < o1; o++)
        ken_nn_qgemm_pack(j->w->type, wd + (size_t)o * j->w_row_bytes, n_in,
                          wp + (size_t)(o - o0) * j->ps);
    for (int64_t t0 = 0; t0 < j->n_tok; t0 += QGEMM_TILE) {
        const int64_t nt = j->n_tok - t0 < QGEMM_TILE ? j->n_tok - t0 : QGEMM_TILE;
        j->qgemm(wp, j->ps, o1 - o0, j->xp + (size_t)t0 * j->ps, j->ps, nt, n_in,
                 j->y + t0 * n_out + o0, n_out);
    }
}

/* The integer GEMM path: activations quantized and packed, weight rows
 * packed per chunk. */
static ken_status matmul_qgemm(ken_pool *pool, mm_job *j, ken_nn_work *work) {
    const int64_t n_tok = j->n_tok, n_out = j->w->n_out;
    const int nth = ken_pool_threads(pool);
    j->ps = ken_nn_qgemm_packed_bytes(j->w->type, j->w->n_in);
    j->chunk = n_out / (8 * nth);
    if (j->chunk * (int64_t)j->w_row_bytes > CHUNK_BYTES_BATCH)
        j->chunk = CHUNK_BYTES_BATCH / (int64_t)j->w_row_bytes;
    j->chunk = (j->chunk + 3) / 4 * 4;
    if (j->chunk < 4) j->chunk = 4;
    const size_t xq_bytes = ((size_t)n_tok * j->x_row_bytes + 63) / 64 * 64;
    const double total = (double)xq_bytes + (double)n_tok * (double)j->ps +
                         (double)nth * (double)j->chunk * (double)j->ps;
    if (total > (double)KEN_NN_WORK_MAX) return KEN_ERR_LIMIT;
    ken_status st = work_reserve(work, (size_t)total);
    if (st != KEN_OK) return st;
    uint8_t *base = work->data;
    j->xq = base;
    j->xp = base + xq_bytes;
    j->wp = j->xp + (size_t)n_tok * j->ps;
    ken_pool_run(pool, n_tok, quantize_row_chunk, j);
    ken_pool_run(pool, n_tok, pack_act_chunk, j);
    ken_pool_run(pool, (n_out + j->chunk - 1) / j->chunk, qgemm_chunk, j);
    return KEN_OK;
}

static bool is_float_type(ken_dtype t) {
    return t == KEN_DT_F32 || t == KEN_DT_F16 || t == KEN_DT_BF16;
}

/* Rows per chunk of the packed-panel GEMM: a multiple of its 48-row tile,
 * about 8 chunks per thread, at most PGEMM_CHUNK_FLOATS packed floats. */

static int64_t pgemm_chunk_rows(int64_t n_out, int64_t n_in, int nth) {
    int64_t rows = n_out / (8 * nth);
    if (rows * n_in > PGEMM_CHUNK_FLOATS) rows = PGEMM_CHUNK_FLOATS / n_in;
    rows = (rows + PGEMM_ROWS - 1) / PGEMM_ROWS * PGEMM_ROWS;
    return rows < PGEMM_ROWS ? PGEMM_ROWS : rows;
}

/* The GEMM path: activations widened to F32, weight rows in F32 tiles
 * (or packed panels). */
static ken_status matmul_gemm(ken_pool *pool, mm_job *j, ken_nn_work *work) {
    const int64_t n_in = j->w->n_in, n_tok = j->n_tok;
    const int nth = ken_pool_threads(pool);
    const size_t xq_bytes = j->act == KEN_DT_F32 ? 0 : ((size_t)n_tok * j->x_row_bytes + 63) / 64 * 64;
    const size_t xf_bytes = j->act == KEN_DT_F32 ? 0 : (size_t)(n_tok * n_in) * sizeof(float);
    if (j->pg.gemm) j->chunk = pgemm_chunk_rows(j->w->n_out, n_in, nth);
    const size_t wt_bytes = (size_t)nth * sizeof(float) *
        (size_t)(j->pg.gemm ? ken_nn_f32_panel_floats(j->chunk, n_in) : GEMM_ROWS * n_in);
    if ((double)xq_bytes + (double)xf_bytes + (double)wt_bytes > (double)KEN_NN_WORK_MAX)
        return KEN_ERR_LIMIT;
    ken_status st = work_reserve(work, xq_bytes + xf_bytes + wt_bytes);
    if (st != KEN_OK) return st;
    uint8_t *base = work->data;
    j->wt = (float *)(base + xq_bytes + xf_bytes);
    if (j->act == KEN_DT_F32) {
        j->xf = (float *)j->x;
    } else if (j->act == KEN_DT_F16 && j->pg.gemm) {
        j->xf = (float *)(base + xq_bytes);
        ken_pool_run(pool, n_tok, round_row_chunk, j);
    } else {
        j->xq = base;
        j->xf = (float *)(base + xq_bytes);
        ken_pool_run(pool, n_tok, quantize_row_chunk, j);
        ken_pool_run(pool, n_tok, widen_row_chunk, j);
    }
    if (j->pg.gemm) {
        ken_pool_run(pool, (j->w->n_out + j->chunk - 1) / j->chunk, pgemm_chunk, j);
        return KEN_OK;
    }
    j->chunk = j->w->n_out / (8 * nth);
    if (j->chunk * (int64_t)j->w_row_bytes > CHUNK_BYTES_BATCH)
        j->chunk = CHUNK_BYTES_BATCH / (int64_t)j->w_row_bytes;
    j->chunk = (j->chunk + GEMM_ROWS - 1) / GEMM_ROWS * GEMM_ROWS;
    if (j->chunk < GEMM_ROWS) j->chunk = GEMM_ROWS;
    ken_pool_run(pool, (j->w->n_out + j->chunk - 1) / j->chunk, gemm_chunk, j);
    return KEN_OK;
}

ken_status ken_nn_matmul(ken_pool *pool, const ken_nn_mat *w, const float *x, int64_t n_tok,
                         float *y, ken_nn_work *work) {
    if (!w || !x || !y || n_tok < 1 || w->n_out < 1 || !w->data) return KEN_ERR_INVALID;
    const size_t wrb = ken_nn_row_bytes(w->type, w->n_in);
    const ken_dtype act = ken_nn_act_type(w->type);
    const size_t xrb = ken_nn_row_bytes(act, w->n_in);
    ken_nn_dot_fn dot = ken_nn_dot_best(w->type);
    if (!wrb || !xrb || !dot) return KEN_ERR_INVALID;
    mm_job j = {.w = w, .w_row_bytes = wrb, .x = x, .x_row_bytes = xrb, .act = act,
                .n_tok = n_tok, .y = y, .dot = dot};
    for (int nx = 2; nx <= KEN_NN_DOTN_MAX; nx++) j.dotn[nx] = ken_nn_dotn_best(w->type, nx);
    if ((double)wrb * (double)w->n_out * (double)n_tok < SMALL_WORK_BYTES) pool = NULL;
    ken_nn_work tmp = {0};
    if (!work) work = &tmp;   /* no scratch given: a temporary one for this call */
    if (n_tok >= GEMM_MIN_TOK && is_float_type(w->type) && ken_nn_simd_get() >= KEN_NN_SIMD_AVX2) {
        j.gemm = ken_nn_gemm_f32_best();
        j.widen_w = ken_nn_widen_best(w->type);
        j.widen_x = ken_nn_widen_best(act);
        if (!ken_nn_f32_gemm_best(&j.pg)) j.pg.gemm = NULL;
        ken_status st = matmul_gemm(pool, &j, work);
        ken_nn_work_free(&tmp);
        return st;
    }
    if (n_tok >= QGEMM_MIN_TOK && (j.qgemm = ken_nn_qgemm_best(w->type))) {
        ken_status st = matmul_qgemm(pool, &j, work);
        ken_nn_work_free(&tmp);
        return st;
    }
    if (act == KEN_DT_F32) {
        j.xq = (const uint8_t *)x;   /* F32 weights take the activations as they are */
    } else {
        if ((uint64_t)n_tok > SIZE_MAX / xrb) return KEN_ERR_LIMIT;
        ken_status st = work_reserve(work, (size_t)n_tok * xrb);
        if (st != KEN_OK) return st;
        j.xq = work->data;
        ken_pool_run(pool, n_tok, quantize_row_chunk, &j);
    }
    /* about 8 chunks per thread: balance without much counter traffic */
    const int nth = ken_pool_threads(pool);
    j.chunk = w->n_out / (8 * nth);
    if (n_tok > TOKEN_TILE && j.chunk * (int64_t)wrb > CHUNK_BYTES_BATCH)
        j.chunk = CHUNK_BYTES_BATCH / (int64_t)wrb;
    if (j.chunk < 1) j.chunk = 1;
    ken_pool_run(pool, (w->n_out + j.chunk - 1) / j.chunk, multiply_chunk, &j);
    ken_nn_work_free(&tmp);
    return KEN_OK;
}

int64_t ken_nn_gemm_f32_scratch(int64_t nr, int64_t n) { return ken_nn_f32_panel_floats(nr, n); }

bool ken_nn_softmax_f32(float *x, int64_t n, float scale) {
    ken_nn_f32_gemm g;
    if (!ken_nn_f32_gemm_best(&g)) return false;
    g.softmax(x, n, scale);
    return true;
}

bool ken_nn_gemm_f32_rows(const float *w, int64_t ws, int64_t nr, const float *x, int64_t xs,
                          int64_t nt, int64_t n, float *y, int64_t ys, float *scratch) {
    ken_nn_f32_gemm g;
    if (!ken_nn_f32_gemm_best(&g)) return false;
    g.pack_rows(KEN_DT_F32, w, (size_t)ws * sizeof(float), nr, n, scratch);
    g.gemm(scratch, nr, x, xs, nt, n, y, ys);
    return true;
}

bool ken_nn_gemm_f32_cols(const float *w, int64_t ws, int64_t nr, const float *x, int64_t xs,
                          int64_t nt, int64_t n, float *y, int64_t ys, float *scratch) {
    ken_nn_f32_gemm g;
    if (!ken_nn_f32_gemm_best(&g)) return false;
    g.pack_cols(w, ws, nr, n, scratch);
    g.gemm(scratch, nr, x, xs, nt, n, y, ys);
    return true;
}

ken_status ken_nn_matvec(ken_pool *pool, const ken_nn_mat *w, const float *x, float *y,
                         ken_nn_work *work) {
    return ken_nn_matmul(pool, w, x, 1, y, work);
}

typedef struct {
    ken_dtype type;
    const float *src;
    uint8_t *dst;
    int64_t n_rows, n_per_row, rows_per_chunk;
    size_t row_bytes;
} quant_job;

static void quantize_chunk(void *ctx, int64_t c, int ith) {
    (void)ith;
    const quant_job *q = ctx;
    const int64_t r0 = c * q->rows_per_chunk;
    const int64_t r1 = r0 + q->rows_per_chunk < q->n_rows ? r0 + q->rows_per_chunk : q->n_rows;
    for (int64_t r = r0; r < r1; r++)
        ken_nn_quantize_row(q->type, q->src + r * q->n_per_row, q->dst + (size_t)r * q->row_bytes,
                            q->n_per_row);
}

ken_status ken_nn_quantize_rows(ken_pool *pool, ken_dtype t, const float *src, int64_t n_rows,
                                int64_t n_per_row, void *dst) {
    const size_t rb = ken_nn_row_bytes(t, n_per_row);
    if (!src || !dst || n_rows < 1 || !rb || !ken_nn_can_quantize(t)) return KEN_ERR_INVALID;
    /* the quantizers convert scaled values to integers: NaN, infinity, or
     * values so large that max - min or Σx² overflow would make that
     * undefined behaviour; no real weight comes near 2^100 */
    for (int64_t i = 0; i < n_rows * n_per_row; i++)
        if (!(fabsf(src[i]) <= 0x1p100f)) return KEN_ERR_FORMAT;
    quant_job q = {t, src, dst, n_rows, n_per_row, 0, rb};
    q.rows_per_chunk = (64 * 1024) / n_per_row;   /* ~64K values per chunk */
    if (q.rows_per_chunk < 1) q.rows_per_chunk = 1;
    ken_pool_run(pool, (n_rows + q.rows_per_chunk - 1) / q.rows_per_chunk, quantize_chunk, &q);
    return KEN_OK;
}
