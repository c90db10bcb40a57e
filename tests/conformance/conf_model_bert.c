/* conf_model_bert.c: encoder conformance against llama.cpp's embeddings in
 * $KEN_FIXTURES/expected/tiny-bge-{cls,mean}/. Each sentence's token ids
 * (from embed.json) are encoded alone, as llama.cpp did. Checked:
 * - per-token final states: max|ours - expected| / max|expected| per row
 *   <= 2e-3 (llama.cpp's GELU goes through an F16 table; ken emulates it);
 * - the pooled embedding (the model's pooling type, CLS resp. MEAN):
 *   same relative error <= 2e-3;
 * - the L2-normalized embedding: cosine with embed.norm.f32 >= 0.9999.
 * Also: overriding the pooling gives the other fixture's vector from the
 * same states (MEAN of the CLS model equals the mean of its token rows). */
#include "model/model.h"
#include "test.h"

#include <math.h>

static double rel_err(const float *a, const float *b, int64_t n) {
    double md = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return mb > 0 ? md / mb : md;
}

static double cosine(const float *a, const float *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

static void check_run(const char *run, const char *model, ken_pooling want_pool) {
    char path[1024];
    const char *fx = test_fixtures();
    snprintf(path, sizeof path, "%s/models/%s", fx, model);
    ken_err err = {{0}};
    ken_gguf *g = NULL;
    ken_model *m = NULL;
    ken_model_ctx *c = NULL;
    REQUIRE(ken_gguf_open(path, &g, &err) == KEN_OK);
    ken_status st = ken_model_load(g, &m, &err);
    CHECKF(st == KEN_OK, "%s", err.msg);
    if (st) goto out;
    CHECK(ken_model_is_encoder(m));
    CHECK_EQ_INT(m->pooling, want_pool);
    st = ken_model_ctx_new(m, NULL, &c, &err);
    CHECKF(st == KEN_OK, "%s", err.msg);
    if (st) goto out;
    const int64_t E = m->n_embd;
    snprintf(path, sizeof path, "%s/expected/%s/embed.json", fx, run);
    char *js = test_slurp(path, NULL);
    size_t nt_bytes = 0, np_bytes = 0, nn_bytes = 0;
    snprintf(path, sizeof path, "%s/expected/%s/embed.tokens.f32", fx, run);
    float *et = (float *)test_slurp(path, &nt_bytes);
    snprintf(path, sizeof path, "%s/expected/%s/embed.pooled.f32", fx, run);
    float *ep = (float *)test_slurp(path, &np_bytes);
    snprintf(path, sizeof path, "%s/expected/%s/embed.norm.f32", fx, run);
    float *en = (float *)test_slurp(path, &nn_bytes);
    CHECK(js && et && ep && en && np_bytes == (size_t)(5 * E * 4) && nn_bytes == (size_t)(5 * E * 4));
    double max_tok = 0, max_pool = 0, min_cos = 1;
    const char *p = js ? strstr(js, "\"sentences\"") : NULL;
    for (int s = 0; p && et && ep && en && s < 5; s++) {
        p = strstr(p, "\"tokens\": [");
        REQUIRE(p);
        p += strlen("\"tokens\": [");
        int32_t toks[128];
        int nt = 0;
        while (*p && *p != ']' && nt < 128) {
            char *end;
            toks[nt++] = (int32_t)strtol(p, &end, 10);
            p = end;
            while (*p == ',' || *p == ' ') p++;
        }
        const char *off = strstr(p, "\"token_states_row_offset\":");
        REQUIRE(off);
        int row0 = atoi(off + strlen("\"token_states_row_offset\":"));
        REQUIRE((size_t)(row0 + nt) * E * 4 <= nt_bytes);
        const float *states = NULL;
        st = ken_model_encode(c, toks, nt, &states, &err);
        CHECKF(st == KEN_OK, "%s", err.msg);
        if (st) break;
        for (int t = 0; t < nt; t++) {
            double e = rel_err(states + t * E, et + (int64_t)(row0 + t) * E, E);
            if (e > max_tok) max_tok = e;
            CHECKF(e <= 2e-3, "%s sentence %d token %d: rel err %.3g", run, s, t, e);
        }
        float pooled[1024];
        REQUIRE(E <= 1024);
        CHECK(ken_model_pool(c, m->pooling, states, nt, pooled, &err) == KEN_OK);
        double e = rel_err(pooled, ep + s * E, E);
        if (e > max_pool) max_pool = e;
        CHECKF(e <= 2e-3, "%s sentence %d pooled: rel err %.3g", run, s, e);
        ken_model_l2_normalize(pooled, E);
        double cs = cosine(pooled, en + s * E, E);
        if (cs < min_cos) min_cos = cs;
        CHECKF(cs >= 0.9999, "%s sentence %d: cosine %.6f", run, s, cs);
        /* overridden pooling: MEAN / CLS / LAST from the same states */
        float mean[1024], ref[1024];
        CHECK(ken_model_pool(c, KEN_POOLING_MEAN, states, nt, mean, &err) == KEN_OK);
        for (int64_t i = 0; i < E; i++) {
            double sum = 0;
            for (int t = 0; t < nt; t++) sum += states[t * E + i];
            ref[i] = (float)(sum / nt);
        }
        CHECK(rel_err(mean, ref, E) < 1e-5);
        CHECK(ken_model_pool(c, KEN_POOLING_LAST, states, nt, mean, &err) == KEN_OK);
        CHECK(memcmp(mean, states + (nt - 1) * E, (size_t)E * 4) == 0);
        CHECK(ken_model_pool(c, KEN_POOLING_NONE, states, nt, mean, &err) == KEN_ERR_INVALID);
        /* no classification head in these files: rank pooling is refused */
        CHECK(ken_model_pool(c, KEN_POOLING_RANK, states, nt, mean, &err) == KEN_ERR_UNSUPPORTED);
    }
    fprintf(stderr, "%-14s token states %.2e  pooled %.2e  min cosine %.8f\n", run, max_tok,
            max_pool, min_cos);
    free(js);
    free(et);
    free(ep);
    free(en);
out:
    ken_model_ctx_free(c);
    ken_model_free(m);
    ken_gguf_close(g);
}

static void test_bge_cls(void) { check_run("tiny-bge-cls", "tiny-bge-cls-f32.gguf", KEN_POOLING_CLS); }
static void test_bge_mean(void) {
    check_run("tiny-bge-mean", "tiny-bge-mean-f32.gguf", KEN_POOLING_MEAN);
}

TEST_MAIN(test_bge_cls, test_bge_mean)
