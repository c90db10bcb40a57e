/* bench.c: ken_model_bench, throughput in llama-bench's terms: pp (one
 * batch of prompt tokens from an empty cache), tg (tokens decoded one at a
 * time from an empty cache) and, for encoders, embedding throughput over a
 * batch of sequences. Random token ids (a fixed-seed generator), one
 * warm-up run, then reps timed runs; median, min and max of tokens/s. */
#include "ken_infer.h"
#include "model/model_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_REPS 1000

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wall and CPU time of one run. */
typedef struct {
    double wall0, cpu0;
} run_clock;

static run_clock clock_start(void) { return (run_clock){now_s(), cpu_s()}; }

/* tokens/s of n tokens since k; *share = CPU time / (wall × threads). */
static double clock_tps(run_clock k, int64_t n, int nth, double *share) {
    double wall = now_s() - k.wall0, cpu = cpu_s() - k.cpu0;
    if (wall <= 0) wall = 1e-9;
    if (share) *share = cpu / (wall * nth);
    return (double)n / wall;
}

static uint64_t rng_next(uint64_t *s) {   /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void random_tokens(uint64_t *s, int32_t *t, int64_t n, int64_t n_vocab) {
    for (int64_t i = 0; i < n; i++) t[i] = (int32_t)(rng_next(s) % (uint64_t)n_vocab);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* v[0..n) tokens/s, sh[0..n) CPU shares (both reordered). */
static ken_bench_stat stat_of(double *v, double *sh, int n) {
    ken_bench_stat s = {.med = median(v, n), .cpu_share = median(sh, n)};
    s.min = v[0];
    s.max = v[n - 1];
    return s;
}

/* One pp run: n tokens in one batch from an empty cache; tokens/s. */
static ken_status run_pp(ken_model_ctx *c, const int32_t *tok, int64_t n, double *tps,
                         double *share, ken_err *err) {
    ken_model_ctx_reset(c);
    run_clock k = clock_start();
    ken_status st = ken_model_decode(c, tok, n, false, err);
    if (!st) *tps = clock_tps(k, n, c->n_threads, share);
    return st;
}

/* One tg run: n tokens one at a time from an empty cache; tokens/s. */
static ken_status run_tg(ken_model_ctx *c, const int32_t *tok, int64_t n, double *tps,
                         double *share, ken_err *err) {
    ken_model_ctx_reset(c);
    run_clock k = clock_start();
    for (int64_t i = 0; i < n; i++) {
        ken_status st = ken_model_decode(c, tok + i, 1, false, err);
        if (st) return st;
    }
    *tps = clock_tps(k, n, c->n_threads, share);
    return KEN_OK;
}

/* One embedding run: n_seq sequences of len tokens, each encoded and
 * pooled (the model's pooling, CLS when none); tokens/s. */
static ken_status run_embd(ken_model_ctx *c, const int32_t *tok, int64_t len, int64_t n_seq,
                           float *vec, double *tps, double *share, ken_err *err) {
    const ken_model *m = c->m;
    ken_pooling pool = m->pooling == KEN_POOLING_MEAN || m->pooling == KEN_POOLING_LAST
                           ? m->pooling : KEN_POOLING_CLS;
    run_clock k = clock_start();
    for (int64_t s = 0; s < n_seq; s++) {
        const float *states;
        ken_status st = ken_model_encode(c, tok + s * len, len, &states, err);
        if (!st) st = ken_model_pool(c, pool, states, len, vec, err);
        if (st) return st;
        ken_model_l2_normalize(vec, m->n_embd);
    }
    *tps = clock_tps(k, len * n_seq, c->n_threads, share);
    return KEN_OK;
}

/* Defaults and bounds; fills r's echo of the parameters. */
static ken_status bench_params(const ken_model *m, const ken_bench_opts *o, ken_bench_result *r,
                               ken_err *err) {
    memset(r, 0, sizeof *r);
    r->n_threads = o->n_threads > 1 ? o->n_threads : 1;
    r->reps = o->reps ? o->reps : 5;
    r->n_prompt = o->n_prompt ? o->n_prompt : 512;
    r->n_gen = o->n_gen ? o->n_gen : 128;
    r->embd_seq = o->embd_seq ? o->embd_seq : 128;
    r->embd_batch = o->embd_batch ? o->embd_batch : 8;
    r->is_encoder = ken_model_is_encoder(m);
    r->model_bytes = ken_gguf_file_size(m->g);
    if (r->reps < 1 || r->reps > BENCH_MAX_REPS || r->n_threads > KEN_POOL_MAX_THREADS ||
        r->embd_seq < 1 || r->embd_batch < 1 || r->embd_batch > 4096)
        return ken_err_set(err, KEN_ERR_INVALID, "bad bench parameters (reps 1..%d, threads "
                           "1..%d, embedding batch 1..4096)", BENCH_MAX_REPS, KEN_POOL_MAX_THREADS);
    if (r->is_encoder) {
        r->n_prompt = r->n_gen = 0;
        if (r->embd_seq > m->n_ctx_train)
            return ken_err_set(err, KEN_ERR_LIMIT, "sequence of %d tokens exceeds the model's "
                               "context of %lld", r->embd_seq, (long long)m->n_ctx_train);
    } else {
        r->embd_seq = r->embd_batch = 0;
        if (r->n_prompt < 0) r->n_prompt = 0;
        if (r->n_gen < 0) r->n_gen = 0;
        if (r->n_prompt > KEN_MODEL_MAX_BATCH || r->n_gen > KEN_MODEL_MAX_CTX)
            return ken_err_set(err, KEN_ERR_LIMIT, "at most %d prompt tokens and %d generated",
                               KEN_MODEL_MAX_BATCH, KEN_MODEL_MAX_CTX);
        if (r->n_prompt == 0 && r->n_gen == 0)
            return ken_err_set(err, KEN_ERR_INVALID, "nothing to measure (no pp, no tg)");
    }
    return KEN_OK;
}

/* The timed runs of every test that applies; tok holds enough ids, v and
 * sh room for reps values. */
static ken_status bench_runs(ken_model_ctx *c, const int32_t *tok, float *vec, double *v,
                             double *sh, ken_bench_result *r, ken_err *err) {
    ken_status st = KEN_OK;
    double tps;
    if (r->is_encoder) {
        /* warm-up: one sequence */
        if ((st = run_embd(c, tok, r->embd_seq, 1, vec, &tps, NULL, err))) return st;
        for (int i = 0; i < r->reps; i++)
            if ((st = run_embd(c, tok, r->embd_seq, r->embd_batch, vec, &v[i], &sh[i], err)))
                return st;
        r->embd = stat_of(v, sh, r->reps);
        return KEN_OK;
    }
    /* warm-up as llama-bench: a short batch and one generated token
     * (pages the weights in, sizes the scratch) */
    if ((st = run_pp(c, tok, KEN_MIN(r->n_prompt ? r->n_prompt : 1, 32), &tps, NULL, err)) ||
        (st = run_tg(c, tok, 1, &tps, NULL, err)))
        return st;
    if (r->n_prompt) {
        for (int i = 0; i < r->reps; i++)
            if ((st = run_pp(c, tok, r->n_prompt, &v[i], &sh[i], err))) return st;
        r->pp = stat_of(v, sh, r->reps);
    }
    if (r->n_gen) {
        for (int i = 0; i < r->reps; i++)
            if ((st = run_tg(c, tok, r->n_gen, &v[i], &sh[i], err))) return st;
        r->tg = stat_of(v, sh, r->reps);
    }
    return KEN_OK;
}

ken_status ken_model_bench(ken_model *m, const ken_bench_opts *opts, ken_bench_result *out,
                           char **errmsg) {
    if (errmsg) *errmsg = NULL;
    ken_bench_opts def = {.size = sizeof def};
    const ken_bench_opts *o = opts ? opts : &def;
    ken_err err = {{0}};
    ken_model_ctx *c = NULL;
    int32_t *tok = NULL;
    float *vec = NULL;
    double *v = NULL;
    ken_status st = bench_params(m, o, out, &err);
    if (st) goto out;
    const int64_t n_ctx = out->is_encoder ? out->embd_seq
                                          : KEN_MAX(out->n_prompt, KEN_MAX(out->n_gen, 32));
    ken_model_ctx_params p = {.n_ctx = n_ctx, .n_threads = out->n_threads,
                              .kv_type = o->kv_f32 ? KEN_KV_F32 : KEN_KV_F16,
                              .n_batch = out->is_encoder ? 0 : KEN_MAX(out->n_prompt, 32)};
    if ((st = ken_model_ctx_new(m, &p, &c, &err))) goto out;
    if (!out->is_encoder)
        out->kv_bytes = (uint64_t)m->n_layer * 2u * (uint64_t)c->n_ctx *
                        (uint64_t)(m->n_head_kv * m->head_dim) * (o->kv_f32 ? 4u : 2u);
    const int64_t n_tok = out->is_encoder ? (int64_t)out->embd_seq * out->embd_batch : n_ctx;
    tok = malloc((size_t)n_tok * sizeof *tok);
    vec = malloc((size_t)m->n_embd * sizeof *vec);
    v = malloc((size_t)out->reps * 2 * sizeof *v);
    if (!tok || !vec || !v) {
        st = ken_err_set(&err, KEN_ERR_NOMEM, "out of memory");
        goto out;
    }
    uint64_t seed = o->seed ? o->seed : 1234;
    random_tokens(&seed, tok, n_tok, m->n_vocab);
    st = bench_runs(c, tok, vec, v, v + out->reps, out, &err);
out:
    if (st && errmsg) *errmsg = ken_strdup(err.msg[0] ? err.msg : ken_status_str(st));
    ken_model_ctx_free(c);
    free(tok);
    free(vec);
    free(v);
    return st;
}
