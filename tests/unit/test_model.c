/* test_model.c: the model module on small random-weight GGUF files written
 * here with the GGUF writer (no fixtures needed): batch vs token-by-token
 * decoding, thread-count independence, context overflow, bad ids, clear
 * errors for unsupported files, qwen3 q/k norms, LoRA against a merged
 * model, the bert rerank head; and the numeric primitives and the sampler. */
#include "model/model_int.h"
#include "test.h"

#include <math.h>
#include <unistd.h>

/* ------------------------------------------------------------ writing models */

static uint64_t rng_state = 12345;
static float frand(void) {   /* roughly N(0, 1/3): sum of uniforms */
    float s = 0;
    for (int i = 0; i < 3; i++) {
        rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
        s += (float)((rng_state >> 33) & 0xFFFFFF) / (float)0x1000000 - 0.5f;
    }
    return s;
}

typedef struct {
    const char *arch;
    int E, L, H, HKV, FF, V, ctx;
    bool biases, qk_norm, tied, bert, cls;
    const char *skip;            /* a tensor to leave out */
    const char *bad_shape;       /* a tensor written with a wrong shape */
    const char *bad_type;        /* a tensor written as I32 */
    const char *general_type;
} spec;

/* All tensors are kept so a test can merge LoRA deltas into copies. */
#define MAXT 64
typedef struct {
    char name[64];
    uint64_t ne[2];
    int nd;
    float *data;
} tens;
static tens T[MAXT];
static int nT;

/* Called after the standard metadata (overrides keys: hostile values). */
static void (*meta_hook)(ken_gguf_writer *w);

/* Applied to every tensor's values before writing (LoRA merging). */
static void (*mutate)(const char *name, float *d, uint64_t n0, uint64_t n1);

static float *add_t(const spec *s, ken_gguf_writer *w, const char *name, uint64_t n0, uint64_t n1,
                    float scale, float base) {
    if (s->skip && !strcmp(name, s->skip)) return NULL;
    uint64_t n = n0 * (n1 ? n1 : 1);
    float *d = malloc(n * sizeof *d);
    for (uint64_t i = 0; i < n; i++) d[i] = base + scale * frand();
    uint64_t ne[2] = {n0, n1};
    int nd = n1 ? 2 : 1;
    if (s->bad_shape && !strcmp(name, s->bad_shape)) ne[0] = n0 / 2, ne[1] = n1 ? n1 * 2 : 2, nd = 2;
    if (mutate) mutate(name, d, n0, n1);
    ken_dtype t = s->bad_type && !strcmp(name, s->bad_type) ? KEN_DT_I32 : KEN_DT_F32;
    CHECK(ken_gguf_add_tensor(w, name, t, (uint32_t)nd, ne, d, n * 4) == KEN_OK);
    if (nd == 2 && n1 == 0) ne[1] = 0;
    if (nT >= MAXT) {
        CHECK(0);
        free(d);
        return NULL;
    }
    snprintf(T[nT].name, sizeof T[nT].name, "%s", name);
    T[nT].ne[0] = n0;
    T[nT].ne[1] = n1;
    T[nT].nd = nd;
    T[nT].data = d;
    nT++;
    return d;
}

static void free_tensors(void) {
    for (int i = 0; i < nT; i++) free(T[i].data);
    nT = 0;
}

static float *find_t(const char *name) {
    for (int i = 0; i < nT; i++)
        if (!strcmp(T[i].name, name)) return T[i].data;
    return NULL;
}

static void layer_tensors(const spec *s, ken_gguf_writer *w, int il) {
    char n[64];
    int hd = s->E / s->H, nq = s->H * hd, nkv = s->HKV * hd;
    float g = 1.0f / sqrtf((float)s->E);
#define T2(suffix, a, b, sc) snprintf(n, sizeof n, "blk.%d." suffix, il); add_t(s, w, n, a, b, sc, 0)
#define T1(suffix, a, sc, base) snprintf(n, sizeof n, "blk.%d." suffix, il); add_t(s, w, n, a, 0, sc, base)
    T2("attn_q.weight", s->E, nq, 3 * g);
    T2("attn_k.weight", s->E, nkv, 3 * g);
    T2("attn_v.weight", s->E, nkv, 3 * g);
    T2("attn_output.weight", nq, s->E, 1.5f * g);
    T2("ffn_up.weight", s->E, s->FF, 3 * g);
    T2("ffn_down.weight", s->FF, s->E, 1.5f / sqrtf((float)s->FF));
    if (s->biases || s->bert) {
        T1("attn_q.bias", nq, 0.5f, 0);
        T1("attn_k.bias", nkv, 0.5f, 0);
        T1("attn_v.bias", nkv, 0.5f, 0);
    }
    if (s->bert) {
        T1("attn_output.bias", s->E, 0.1f, 0);
        T1("ffn_up.bias", s->FF, 0.1f, 0);
        T1("ffn_down.bias", s->E, 0.1f, 0);
        T1("attn_output_norm.weight", s->E, 0.1f, 1);
        T1("attn_output_norm.bias", s->E, 0.1f, 0);
        T1("layer_output_norm.weight", s->E, 0.1f, 1);
        T1("layer_output_norm.bias", s->E, 0.1f, 0);
    } else {
        T2("ffn_gate.weight", s->E, s->FF, 3 * g);
        T1("attn_norm.weight", s->E, 0.1f, 1);
        T1("ffn_norm.weight", s->E, 0.1f, 1);
        if (s->qk_norm) {
            T1("attn_q_norm.weight", hd, 0.1f, 1);
            T1("attn_k_norm.weight", hd, 0.1f, 1);
        }
    }
#undef T1
#undef T2
}

static void write_model(const spec *s, const char *path) {
    free_tensors();
    rng_state = 777;
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    char k[96];
    ken_gguf_set_str(w, "general.architecture", s->arch);
    if (s->general_type) ken_gguf_set_str(w, "general.type", s->general_type);
#define KU(suffix, v) snprintf(k, sizeof k, "%s." suffix, s->arch); ken_gguf_set_u32(w, k, (uint32_t)(v))
    KU("context_length", s->ctx);
    KU("embedding_length", s->E);
    KU("block_count", s->L);
    KU("feed_forward_length", s->FF);
    KU("attention.head_count", s->H);
    KU("attention.head_count_kv", s->HKV);
    if (s->bert) {
        KU("pooling_type", s->cls ? 4 : 2);
        snprintf(k, sizeof k, "%s.attention.layer_norm_epsilon", s->arch);
        ken_gguf_set_f32(w, k, 1e-12f);
    } else {
        snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", s->arch);
        ken_gguf_set_f32(w, k, 1e-5f);
        snprintf(k, sizeof k, "%s.rope.freq_base", s->arch);
        ken_gguf_set_f32(w, k, 10000.0f);
    }
#undef KU
    if (meta_hook) meta_hook(w);
    add_t(s, w, "token_embd.weight", s->E, s->V, 1.0f, 0);
    if (s->bert) {
        add_t(s, w, "position_embd.weight", s->E, s->ctx, 0.3f, 0);
        add_t(s, w, "token_types.weight", s->E, 2, 0.3f, 0);
        add_t(s, w, "token_embd_norm.weight", s->E, 0, 0.1f, 1);
        add_t(s, w, "token_embd_norm.bias", s->E, 0, 0.1f, 0);
        if (s->cls) {
            add_t(s, w, "cls.weight", s->E, s->E, 1.0f / sqrtf((float)s->E), 0);
            add_t(s, w, "cls.bias", s->E, 0, 0.1f, 0);
            add_t(s, w, "cls.output.weight", s->E, 1, 1.0f / sqrtf((float)s->E), 0);
            add_t(s, w, "cls.output.bias", 1, 0, 0.1f, 0);
        }
    } else {
        add_t(s, w, "output_norm.weight", s->E, 0, 0.1f, 1);
        if (!s->tied) add_t(s, w, "output.weight", s->E, s->V, 3.0f / sqrtf((float)s->E), 0);
    }
    for (int il = 0; il < s->L; il++) layer_tensors(s, w, il);
    ken_err err;
    CHECK(ken_gguf_write(w, path, &err) == KEN_OK);
    ken_gguf_writer_free(w);
}

static const spec llama_spec = {"llama", 32, 2, 4, 2, 64, 50, 64, false, false, false, false,
                                false, NULL, NULL, NULL, NULL};

static char tmpdir[256];
static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Opens path and loads it; returns the status, *g and *m set on success. */
static ken_status load(const char *path, ken_gguf **g, ken_model **m, ken_err *err) {
    *m = NULL;
    ken_status st = ken_gguf_open(path, g, err);
    if (st) return st;
    st = ken_model_load(*g, m, err);
    if (st) {
        ken_gguf_close(*g);
        *g = NULL;
    }
    return st;
}

static double max_rel(const float *a, const float *b, int64_t n) {
    double md = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return mb > 0 ? md / mb : md;
}

/* ------------------------------------------------------------ decoders */

static void decode_all(ken_model *m, const int32_t *toks, int n, int threads, int batch,
                       float *out /* [n][V] */) {
    ken_err err;
    ken_model_ctx *c = NULL;
    ken_model_ctx_params p = {.n_ctx = 320, .n_batch = batch, .n_threads = threads};
    REQUIRE(ken_model_ctx_new(m, &p, &c, &err) == KEN_OK);
    CHECKF(ken_model_decode(c, toks, n, true, &err) == KEN_OK, "%s", err.msg);
    int64_t rows;
    const float *l = ken_model_logits(c, &rows);
    CHECK_EQ_INT(rows, n);
    memcpy(out, l, (size_t)(n * m->n_vocab) * sizeof(float));
    ken_model_ctx_free(c);
}

static void check_decoder(const spec *s, const char *file) {
    write_model(s, tpath(file));
    ken_err err;
    ken_gguf *g;
    ken_model *m;
    ken_status st = load(tpath(file), &g, &m, &err);
    CHECKF(st == KEN_OK, "%s: %s", file, err.msg);
    if (st) return;
    /* more tokens than a feed-forward block (KEN_MODEL_FFN_BLOCK): one batch
     * runs the FFN in two blocks */
    enum { n = 300 };
    const int V = (int)m->n_vocab;
    int32_t toks[n] = {1, 5, 9, 3, 49, 0, 7, 7, 7, 22, 31, 2};
    for (int t = 12; t < n; t++) toks[t] = (t * 37 + 11) % V;
    float *a = malloc(sizeof(float) * n * V), *b = malloc(sizeof(float) * n * V);
    float *c2 = malloc(sizeof(float) * n * V);
    decode_all(m, toks, n, 1, 0, a);           /* one batch */
    decode_all(m, toks, n, 1, 5, b);           /* batches of 5: 5, 5, 2 */
    decode_all(m, toks, n, 2, 0, c2);          /* two threads */
    CHECKF(max_rel(b, a, n * V) < 1e-5, "%s batch vs whole: %g", file, max_rel(b, a, n * V));
    CHECKF(memcmp(c2, a, sizeof(float) * n * V) == 0, "%s: threads change results", file);
    /* token by token equals the batch */
    ken_model_ctx *c = NULL;
    ken_model_ctx_params p = {.n_ctx = 320};
    REQUIRE(ken_model_ctx_new(m, &p, &c, &err) == KEN_OK);
    double worst = 0;
    for (int t = 0; t < n; t++) {
        CHECK(ken_model_decode(c, &toks[t], 1, false, &err) == KEN_OK);
        double e = max_rel(ken_model_logits(c, NULL), a + t * V, V);
        if (e > worst) worst = e;
    }
    CHECKF(worst < 1e-5, "%s token by token vs batch: %g", file, worst);
    /* logits are not flat: the model computes something */
    double var = 0;
    for (int i = 0; i < V; i++) var += a[i] * a[i];
    CHECK(var / V > 0.1);
    ken_model_ctx_free(c);
    free(a);
    free(b);
    free(c2);
    ken_model_free(m);
    ken_gguf_close(g);
}

static void test_decoders(void) {
    check_decoder(&llama_spec, "llama.gguf");
    spec q2 = llama_spec;
    q2.arch = "qwen2";
    q2.biases = true;
    q2.tied = true;
    check_decoder(&q2, "qwen2.gguf");
    spec q3 = llama_spec;
    q3.arch = "qwen3";
    q3.qk_norm = true;
    check_decoder(&q3, "qwen3.gguf");
}

static void test_context_limit(void) {
    write_model(&llama_spec, tpath("llama.gguf"));
    ken_err err;
    ken_gguf *g;
    ken_model *m;
    REQUIRE(load(tpath("llama.gguf"), &g, &m, &err) == KEN_OK);
    ken_model_ctx *c = NULL;
    ken_model_ctx_params p = {.n_ctx = 8};
    REQUIRE(ken_model_ctx_new(m, &p, &c, &err) == KEN_OK);
    int32_t toks[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK(ken_model_decode(c, toks, 9, false, &err) == KEN_ERR_LIMIT);
    CHECK(strstr(err.msg, "context") != NULL);
    CHECK_EQ_INT(ken_model_ctx_n_past(c), 0);
    CHECK(ken_model_decode(c, toks, 8, false, &err) == KEN_OK);
    CHECK(ken_model_decode(c, toks, 1, false, &err) == KEN_ERR_LIMIT);
    ken_model_ctx_reset(c);
    int32_t bad = 50;
    CHECK(ken_model_decode(c, &bad, 1, false, &err) == KEN_ERR_INVALID);
    bad = -1;
    CHECK(ken_model_decode(c, &bad, 1, false, &err) == KEN_ERR_INVALID);
    CHECK(ken_model_decode(c, toks, 0, false, &err) == KEN_ERR_INVALID);
    const float *st = NULL;
    CHECK(ken_model_encode(c, toks, 2, &st, &err) == KEN_ERR_INVALID);  /* decoder */
    /* a context larger than the model's is the caller's choice; absurd ones are refused */
    ken_model_ctx *c2 = NULL;
    ken_model_ctx_params p2 = {.n_ctx = KEN_MODEL_MAX_CTX + 1};
    CHECK(ken_model_ctx_new(m, &p2, &c2, &err) == KEN_ERR_INVALID);
    ken_model_ctx_free(c);
    ken_model_free(m);
    ken_gguf_close(g);
}

static void expect_fail(const spec *s, ken_status want, const char *needle) {
    write_model(s, tpath("bad.gguf"));
    ken_err err = {{0}};
    ken_gguf *g;
    ken_model *m = NULL;
    ken_status st = load(tpath("bad.gguf"), &g, &m, &err);
    CHECKF(st == want, "got %d (%s), want %d", st, err.msg, want);
    CHECKF(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    if (!st) {
        ken_model_free(m);
        ken_gguf_close(g);
    }
}

static void hook_heads0(ken_gguf_writer *w) { ken_gguf_set_u32(w, "llama.attention.head_count", 0); }
static void hook_heads_arr(ken_gguf_writer *w) {
    uint32_t v[2] = {4, 4};
    ken_gguf_set_arr(w, "llama.attention.head_count", KEN_GGUF_UINT32, v, 2);
}
static void hook_rope_odd(ken_gguf_writer *w) { ken_gguf_set_u32(w, "llama.rope.dimension_count", 7); }
static void hook_yarn(ken_gguf_writer *w) { ken_gguf_set_str(w, "llama.rope.scaling.type", "yarn"); }
static void hook_no_layers(ken_gguf_writer *w) { ken_gguf_set_str(w, "llama.block_count", "two"); }
static void hook_eps(ken_gguf_writer *w) { ken_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", -1.0f); }
static void hook_ctx_huge(ken_gguf_writer *w) { ken_gguf_set_u64(w, "llama.context_length", 1ull << 40); }
static void hook_linear(ken_gguf_writer *w) {
    ken_gguf_set_str(w, "llama.rope.scaling.type", "linear");
    ken_gguf_set_f32(w, "llama.rope.scaling.factor", 4.0f);
}

static void test_bad_metadata(void) {
    struct { void (*hook)(ken_gguf_writer *); ken_status want; const char *needle; } cases[] = {
        {hook_heads0, KEN_ERR_UNSUPPORTED, "head_count"},
        {hook_heads_arr, KEN_ERR_UNSUPPORTED, "per-layer"},
        {hook_rope_odd, KEN_ERR_UNSUPPORTED, "rope.dimension_count"},
        {hook_yarn, KEN_ERR_UNSUPPORTED, "yarn"},
        {hook_no_layers, KEN_ERR_FORMAT, "block_count"},
        {hook_eps, KEN_ERR_FORMAT, "epsilon"},
        {hook_ctx_huge, KEN_ERR_UNSUPPORTED, "context_length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        meta_hook = cases[i].hook;
        expect_fail(&llama_spec, cases[i].want, cases[i].needle);
    }
    /* linear RoPE scaling is read: positions advance 4x slower */
    meta_hook = hook_linear;
    write_model(&llama_spec, tpath("bad.gguf"));
    meta_hook = NULL;
    ken_err err;
    ken_gguf *g;
    ken_model *m;
    REQUIRE(load(tpath("bad.gguf"), &g, &m, &err) == KEN_OK);
    CHECK(fabsf(m->rope_freq_scale - 0.25f) < 1e-7f);
    ken_model_free(m);
    ken_gguf_close(g);
}

static void test_bad_files(void) {
    spec s = llama_spec;
    s.arch = "gpt2";
    expect_fail(&s, KEN_ERR_UNSUPPORTED, "gpt2");
    s = llama_spec;
    s.skip = "blk.1.ffn_gate.weight";
    expect_fail(&s, KEN_ERR_FORMAT, "blk.1.ffn_gate.weight");
    s = llama_spec;
    s.bad_shape = "blk.0.attn_k.weight";
    expect_fail(&s, KEN_ERR_UNSUPPORTED, "blk.0.attn_k.weight");
    s = llama_spec;
    s.bad_type = "blk.0.attn_v.weight";
    expect_fail(&s, KEN_ERR_UNSUPPORTED, "I32");
    s = llama_spec;
    s.general_type = "adapter";
    expect_fail(&s, KEN_ERR_UNSUPPORTED, "adapter");
    s = llama_spec;
    s.arch = "qwen3";
    s.qk_norm = true;
    s.skip = "blk.0.attn_k_norm.weight";
    expect_fail(&s, KEN_ERR_FORMAT, "attn_k_norm");
    s = llama_spec;
    s.HKV = 3;   /* 4 heads do not split into 3 groups */
    expect_fail(&s, KEN_ERR_UNSUPPORTED, "head_count");
}

/* ------------------------------------------------------------ LoRA */

/* An adapter: rank R on (layer, target) pairs; A [R][n_in], B [n_out][R]. */
#define R 2
typedef struct {
    const char *target;    /* "blk.0.attn_q" */
    int n_in, n_out;
    float a[R * 64], b[64 * R];
} lora_t;

static lora_t lora1[2] = {{"blk.0.attn_q", 32, 32, {0}, {0}}, {"blk.1.ffn_down", 64, 32, {0}, {0}}};
static lora_t lora2[1] = {{"blk.1.attn_v", 32, 16, {0}, {0}}};
/* a pair on a weight ken does not adapt (output), beside a valid one */
static lora_t lora3[2] = {{"blk.0.attn_q", 32, 32, {0}, {0}}, {"output", 32, 8, {0}, {0}}};
static float merge_s1, merge_s2;   /* effective scales; 0 = not merged */

static void merge_one(const lora_t *l, int nl, float sc, const char *name, float *d) {
    for (int k = 0; k < nl; k++) {
        char wn[64];
        snprintf(wn, sizeof wn, "%s.weight", l[k].target);
        if (strcmp(wn, name)) continue;
        for (int o = 0; o < l[k].n_out; o++)
            for (int i = 0; i < l[k].n_in; i++) {
                float acc = 0;
                for (int r = 0; r < R; r++) acc += l[k].b[o * R + r] * l[k].a[r * l[k].n_in + i];
                d[o * l[k].n_in + i] += sc * acc;
            }
    }
}

static void merge_mutate(const char *name, float *d, uint64_t n0, uint64_t n1) {
    (void)n0;
    (void)n1;
    if (merge_s1 != 0) merge_one(lora1, 2, merge_s1, name, d);
    if (merge_s2 != 0) merge_one(lora2, 1, merge_s2, name, d);
}

static void write_adapter(lora_t *l, int nl, float alpha, const char *path) {
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    ken_gguf_set_str(w, "general.architecture", "llama");
    ken_gguf_set_str(w, "general.type", "adapter");
    ken_gguf_set_str(w, "adapter.type", "lora");
    ken_gguf_set_f32(w, "adapter.lora.alpha", alpha);
    for (int k = 0; k < nl; k++) {
        for (int i = 0; i < R * l[k].n_in; i++) l[k].a[i] = frand() / sqrtf((float)l[k].n_in) * 2;
        for (int i = 0; i < R * l[k].n_out; i++) l[k].b[i] = frand() * 0.5f;
        char n[96];
        snprintf(n, sizeof n, "%s.weight.lora_a", l[k].target);
        CHECK(ken_gguf_add_tensor(w, n, KEN_DT_F32, 2, (uint64_t[]){(uint64_t)l[k].n_in, R}, l[k].a,
                                  sizeof(float) * R * l[k].n_in) == KEN_OK);
        snprintf(n, sizeof n, "%s.weight.lora_b", l[k].target);
        CHECK(ken_gguf_add_tensor(w, n, KEN_DT_F32, 2, (uint64_t[]){R, (uint64_t)l[k].n_out}, l[k].b,
                                  sizeof(float) * R * l[k].n_out) == KEN_OK);
    }
    ken_err err;
    CHECK(ken_gguf_write(w, path, &err) == KEN_OK);
    ken_gguf_writer_free(w);
}

static void logits_of(const char *model, const ken_lora *const *ls, const float *scales, int nl,
                      float *out) {
    ken_err err;
    ken_gguf *g;
    ken_model *m;
    REQUIRE(load(model, &g, &m, &err) == KEN_OK);
    ken_model_ctx *c = NULL;
    REQUIRE(ken_model_ctx_new(m, NULL, &c, &err) == KEN_OK);
    for (int i = 0; i < nl; i++) CHECK(ken_model_ctx_add_lora(c, ls[i], scales[i], &err) == KEN_OK);
    int32_t toks[6] = {3, 1, 4, 1, 5, 9};
    CHECK(ken_model_decode(c, toks, 6, true, &err) == KEN_OK);
    memcpy(out, ken_model_logits(c, NULL), sizeof(float) * 6 * 50);
    ken_model_ctx_free(c);
    ken_model_free(m);
    ken_gguf_close(g);
}

static void test_lora(void) {
    rng_state = 99;
    write_adapter(lora1, 2, 4.0f, tpath("a1.gguf"));   /* alpha 4, rank 2: ×2 */
    write_adapter(lora2, 1, 0.0f, tpath("a2.gguf"));   /* no alpha: scale as given */
    write_model(&llama_spec, tpath("base.gguf"));
    ken_err err;
    ken_gguf *g;
    ken_model *m;
    REQUIRE(load(tpath("base.gguf"), &g, &m, &err) == KEN_OK);
    ken_lora *l1 = NULL, *l2 = NULL;
    CHECKF(ken_lora_load(m, tpath("a1.gguf"), &l1, &err) == KEN_OK, "%s", err.msg);
    CHECKF(ken_lora_load(m, tpath("a2.gguf"), &l2, &err) == KEN_OK, "%s", err.msg);
    /* a model is not an adapter, and an adapter for other shapes is refused */
    ken_lora *bad = NULL;
    CHECK(ken_lora_load(m, tpath("base.gguf"), &bad, &err) == KEN_ERR_FORMAT);
    /* an adapter tensor ken would not apply is refused, not dropped */
    write_adapter(lora3, 2, 4.0f, tpath("a3.gguf"));
    CHECK(ken_lora_load(m, tpath("a3.gguf"), &bad, &err) == KEN_ERR_UNSUPPORTED && !bad);
    CHECKF(strstr(err.msg, "output.weight.lora_a") != NULL, "%s", err.msg);
    REQUIRE(l1 && l2);
    float base[300], with[300], merged[300];
    const ken_lora *ls[2] = {l1, l2};
    float sc[2] = {0.5f, 1.5f};
    logits_of(tpath("base.gguf"), ls, sc, 2, with);
    logits_of(tpath("base.gguf"), NULL, NULL, 0, base);
    merge_s1 = 0.5f * 4.0f / R;
    merge_s2 = 1.5f;
    mutate = merge_mutate;
    write_model(&llama_spec, tpath("merged.gguf"));
    mutate = NULL;
    merge_s1 = merge_s2 = 0;
    logits_of(tpath("merged.gguf"), NULL, NULL, 0, merged);
    double e = max_rel(with, merged, 300), d = max_rel(with, base, 300);
    CHECKF(e < 1e-4, "runtime LoRA vs merged weights: %g", e);
    CHECKF(d > 1e-2, "the adapters change nothing: %g", d);
    /* user scale 0 gives the base model */
    float zero[2] = {0, 0};
    logits_of(tpath("base.gguf"), ls, zero, 2, with);
    CHECK(max_rel(with, base, 300) < 1e-6);
    ken_lora_free(l1);
    ken_lora_free(l2);
    ken_model_free(m);
    ken_gguf_close(g);
}

/* ------------------------------------------------------------ bert + rerank */

static void test_bert_rank(void) {
    spec s = {"bert", 32, 2, 4, 4, 64, 40, 32, true, false, false, true, true, NULL, NULL, NULL, NULL};
    write_model(&s, tpath("rerank.gguf"));
    ken_err err;
    ken_gguf *g;
    ken_model *m;
    REQUIRE(load(tpath("rerank.gguf"), &g, &m, &err) == KEN_OK);
    CHECK(ken_model_is_encoder(m));
    CHECK_EQ_INT(m->pooling, KEN_POOLING_RANK);
    CHECK_EQ_INT(m->n_cls_out, 1);
    ken_model_ctx *c = NULL;
    REQUIRE(ken_model_ctx_new(m, NULL, &c, &err) == KEN_OK);
    int32_t toks[7] = {1, 20, 21, 2, 30, 31, 2};
    const float *st = NULL;
    REQUIRE(ken_model_encode(c, toks, 7, &st, &err) == KEN_OK);
    /* every final state is a LayerNorm output: mean ~ mean(beta) */
    float score = 0;
    CHECK(ken_model_pool(c, KEN_POOLING_RANK, st, 7, &score, &err) == KEN_OK);
    const float *W = find_t("cls.weight"), *b = find_t("cls.bias");
    const float *Wo = find_t("cls.output.weight"), *bo = find_t("cls.output.bias");
    REQUIRE(W && b && Wo && bo);
    double ref = bo[0];
    for (int o = 0; o < 32; o++) {
        double h = b[o];
        for (int i = 0; i < 32; i++) h += (double)W[o * 32 + i] * st[i];
        ref += Wo[o] * tanh(h);
    }
    CHECKF(fabs(score - ref) < 1e-4, "rank head %g vs %g", score, ref);
    /* non-causal: the first state depends on later tokens */
    float first[32];
    memcpy(first, st, sizeof first);
    toks[6] = 3;
    REQUIRE(ken_model_encode(c, toks, 7, &st, &err) == KEN_OK);
    CHECK(max_rel(st, first, 32) > 1e-4);
    /* too long for the position table */
    int32_t many[40] = {0};
    CHECK(ken_model_encode(c, many, 40, &st, &err) == KEN_ERR_LIMIT);
    CHECK(ken_model_decode(c, toks, 2, false, &err) == KEN_ERR_INVALID);
    ken_model_ctx_free(c);
    ken_model_free(m);
    ken_gguf_close(g);
}

/* ------------------------------------------------------------ numerics */

static void test_ops(void) {
    CHECK(ken_model_gelu(-11.0f) == 0.0f);
    CHECK(ken_model_gelu(12.5f) == 12.5f);
    CHECK(fabsf(ken_model_gelu(1.0f) - 0.8412f) < 1e-3f);
    CHECK(fabsf(ken_model_gelu(-1.0f) + 0.1588f) < 1e-3f);
    CHECK(ken_model_gelu(0.0f) == 0.0f);
    /* the result is an F16 value */
    float gv = ken_model_gelu(0.3333f);
    CHECK(ken_nn_fp16_to_fp32(ken_nn_fp32_to_fp16(gv)) == gv);
    /* the table equals the computed form for every F16 input and for
     * floats between F16 values (rounded first); the row form too */
    int gelu_bad = 0;
    for (uint32_t h = 0; h < (1u << 16); h++) {
        float v = ken_nn_fp16_to_fp32((uint16_t)h);
        if (v != v) continue;
        float vs[3] = {v, v * 1.0003f, v - 0.0001f}, rows[3] = {vs[0], vs[1], vs[2]};
        ken_model_gelu_rows(rows, 3);
        for (int k = 0; k < 3; k++) {
            float want = ken_model_gelu_ref(vs[k]);
            gelu_bad += ken_model_gelu(vs[k]) != want || rows[k] != want;
        }
    }
    CHECK_EQ_INT(gelu_bad, 0);
    float x[4] = {1, 2, 3, 4}, y[4], w[4] = {1, 1, 2, 1};
    ken_model_rmsnorm(x, w, 0.0f, y, 4);
    double r = sqrt((1 + 4 + 9 + 16) / 4.0);
    CHECK(fabs(y[0] - 1 / r) < 1e-6 && fabs(y[2] - 2 * 3 / r) < 1e-6);
    ken_model_layernorm(x, NULL, NULL, 0.0f, y, 4);
    CHECK(fabs(y[0] + y[3]) < 1e-6 && fabs(y[0] + 1.3416408) < 1e-5);
    float s[3] = {1, 1, 1000};
    ken_model_softmax(s, 3);
    CHECK(s[2] > 0.999f && s[0] >= 0 && fabsf(s[0] + s[1] + s[2] - 1) < 1e-6f);
    float v[3] = {3, 4, 0};
    ken_model_l2_normalize(v, 3);
    CHECK(fabsf(v[0] - 0.6f) < 1e-6f && fabsf(v[1] - 0.8f) < 1e-6f);
    float z[2] = {0, 0};
    ken_model_l2_normalize(z, 2);
    CHECK(z[0] == 0 && z[1] == 0);
    float t[4] = {1, 5, 5, 2};
    CHECK_EQ_INT(ken_model_argmax(t, 4), 1);
}

/* ------------------------------------------------------------ sampling */

static void test_sampler(void) {
    float lg[5] = {1.0f, 3.0f, 2.9f, -1.0f, 0.0f};
    ken_sampler *s = NULL;
    ken_sampler_params p = {.temperature = 0, .top_p = 1, .repeat_penalty = 1};
    REQUIRE(ken_sampler_new(&p, 5, &s) == KEN_OK);
    CHECK_EQ_INT(ken_sampler_sample(s, lg, NULL, 0), 1);
    ken_sampler_free(s);
    /* repetition penalty: 3.0/2 = 1.5 < 2.9 */
    p.repeat_penalty = 2.0f;
    REQUIRE(ken_sampler_new(&p, 5, &s) == KEN_OK);
    int32_t hist[3] = {1, 1, 4};
    CHECK_EQ_INT(ken_sampler_sample(s, lg, hist, 3), 2);
    CHECK(lg[1] == 3.0f);   /* the caller's logits are untouched */
    ken_sampler_free(s);
    /* frequency penalty counts occurrences: 3 - 2·0.1 = 2.8 < 2.9; presence: 3 - 0.05 > 2.9 */
    p.repeat_penalty = 1.0f;
    p.freq_penalty = 0.1f;
    REQUIRE(ken_sampler_new(&p, 5, &s) == KEN_OK);
    CHECK_EQ_INT(ken_sampler_sample(s, lg, hist, 3), 2);
    CHECK_EQ_INT(ken_sampler_sample(s, lg, hist, 1), 1);   /* one occurrence: 2.9 vs 2.9 → lower id */
    ken_sampler_free(s);
    p.freq_penalty = 0;
    p.presence_penalty = 0.05f;
    REQUIRE(ken_sampler_new(&p, 5, &s) == KEN_OK);
    CHECK_EQ_INT(ken_sampler_sample(s, lg, hist, 3), 1);
    ken_sampler_free(s);
    /* penalty window: only the last token counts */
    p.presence_penalty = 0;
    p.repeat_penalty = 2.0f;
    p.penalty_last_n = 1;
    REQUIRE(ken_sampler_new(&p, 5, &s) == KEN_OK);
    CHECK_EQ_INT(ken_sampler_sample(s, lg, hist, 3), 1);
    ken_sampler_free(s);

    /* seeded draws: same seed same sequence, other seed another; top-k 1,
     * tiny top-p and min-p 1 are greedy whatever the temperature */
    ken_sampler_params q = {.temperature = 1.0f, .top_p = 1, .repeat_penalty = 1, .seed = 42};
    int32_t a[64], b[64], c[64];
    ken_sampler *s1, *s2, *s3;
    REQUIRE(ken_sampler_new(&q, 5, &s1) == KEN_OK && ken_sampler_new(&q, 5, &s2) == KEN_OK);
    q.seed = 43;
    REQUIRE(ken_sampler_new(&q, 5, &s3) == KEN_OK);
    for (int i = 0; i < 64; i++) {
        a[i] = ken_sampler_sample(s1, lg, NULL, 0);
        b[i] = ken_sampler_sample(s2, lg, NULL, 0);
        c[i] = ken_sampler_sample(s3, lg, NULL, 0);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    ken_sampler_free(s1);
    ken_sampler_free(s2);
    ken_sampler_free(s3);
    ken_sampler_params g3[3] = {{.temperature = 5, .top_k = 1, .top_p = 1, .repeat_penalty = 1},
                                {.temperature = 5, .top_p = 0.01f, .repeat_penalty = 1},
                                {.temperature = 5, .top_p = 1, .min_p = 1.0f, .repeat_penalty = 1}};
    for (int k = 0; k < 3; k++) {
        REQUIRE(ken_sampler_new(&g3[k], 5, &s) == KEN_OK);
        for (int i = 0; i < 50; i++) CHECK_EQ_INT(ken_sampler_sample(s, lg, NULL, 0), 1);
        ken_sampler_free(s);
    }
    /* the distribution follows softmax(logits / T): frequencies within 3% */
    float l3[3] = {0.0f, 1.0f, 2.0f};
    ken_sampler_params d = {.temperature = 2.0f, .top_p = 1, .repeat_penalty = 1, .seed = 7};
    REQUIRE(ken_sampler_new(&d, 3, &s) == KEN_OK);
    int cnt[3] = {0};
    for (int i = 0; i < 20000; i++) cnt[ken_sampler_sample(s, l3, NULL, 0)]++;
    double z = 1 + exp(0.5) + exp(1.0);
    CHECK(fabs(cnt[0] / 20000.0 - 1 / z) < 0.03 && fabs(cnt[2] / 20000.0 - exp(1.0) / z) < 0.03);
    ken_sampler_free(s);
    /* top-k 2 never picks the third */
    d.top_k = 2;
    REQUIRE(ken_sampler_new(&d, 3, &s) == KEN_OK);
    for (int i = 0; i < 500; i++) CHECK(ken_sampler_sample(s, l3, NULL, 0) != 0);
    ken_sampler_free(s);
    ken_sampler_params badp = {.temperature = 1, .top_p = 0, .repeat_penalty = 1};
    CHECK(ken_sampler_new(&badp, 3, &s) == KEN_ERR_INVALID);
}

static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ken_test_model_XXXXXX");
    REQUIRE(mkdtemp(tmpdir) != NULL);
}

static void teardown(void) {
    const char *files[] = {"llama.gguf", "qwen2.gguf", "qwen3.gguf", "bad.gguf", "a1.gguf",
                           "a2.gguf", "base.gguf", "merged.gguf", "rerank.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(tpath(files[i]));
    rmdir(tmpdir);
    free_tensors();
}

TEST_MAIN(setup, test_ops, test_sampler, test_decoders, test_context_limit, test_bad_files, test_bad_metadata,
          test_lora, test_bert_rank, teardown)
