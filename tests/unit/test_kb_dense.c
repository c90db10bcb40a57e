/* test_kb_dense.c: embeddings and dense/hybrid retrieval through the public
 * API, with random-weight encoders written by ken_model_random (and a
 * cross-encoder made from one by adding a classification head):
 * embedding at ingest, the answer known by construction (a query that is a
 * passage's exact text is that passage's nearest neighbour and BM25's best
 * match), fusion scores, filters that still give k results, deletes,
 * k > corpus, the index file persisted, damaged and rebuilt, an empty store,
 * a model file gone or changed (BM25 fallback, said so), chunks added without
 * embedding and `--missing`, a model switch interrupted and finished (the
 * old vectors serve until the new ones are complete), re-ranking, config. */
#include "gguf/gguf.h"
#include "ken.h"
#include "ken_infer.h"
#include "ken_search.h"
#include "test.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/ken-test-kb-dense-XXXXXX";
static char db[256], enc_a[256], enc_b[256], reranker[256], vocab[512];

static const char *const texts[] = {
    "The cat sat on the warm mat near the kitchen window.",
    "Rockets reach orbit by burning liquid fuel in staged engines.",
    "Bread is baked in a hot oven from flour, water and yeast.",
    "Glaciers carve deep valleys as they slowly move downhill.",
    "A violin has four strings tuned in perfect fifths.",
    "Bees collect nectar and turn it into honey inside the hive.",
};
#define N_TEXTS 6

static ken_kb *open_kb(bool create) {
    ken_kb_opts o = {.size = sizeof o, .path = db, .create = create};
    ken_kb *kb = NULL;
    ken_status st = ken_kb_open(&o, &kb);
    if (st) fprintf(stderr, "open: %s\n", ken_kb_errmsg(kb));
    return kb;
}

static void make_model(const char *path, int n_embd, uint64_t seed) {
    ken_random_opts o = {.size = sizeof o, .arch = "bert", .vocab = vocab, .n_embd = n_embd,
                         .seed = seed, .pooling = 1};
    char *msg = NULL;
    ken_status st = ken_model_random(&o, path, &msg);
    CHECKF(st == KEN_OK, "%s", msg ? msg : "");
    ken_free(msg);
}

/* A cross-encoder: model A's tensors plus a one-output classification head. */
static void make_reranker(void) {
    ken_gguf *g = NULL;
    ken_err e = {{0}};
    REQUIRE(ken_gguf_open(enc_a, &g, &e) == KEN_OK);
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    REQUIRE(w);
    for (uint64_t i = 0; i < ken_gguf_n_kv(g); i++) CHECK(ken_gguf_set_kv(w, ken_gguf_kv_at(g, i)) == KEN_OK);
    for (uint64_t i = 0; i < ken_gguf_n_tensors(g); i++)
        CHECK(ken_gguf_copy_tensor(w, ken_gguf_tensor_at(g, i)) == KEN_OK);
    float head[64], bias[1] = {0.1f};
    for (int i = 0; i < 64; i++) head[i] = (float)sin(i * 0.7) * 0.3f;
    uint64_t ne[2] = {64, 1}, nb[1] = {1};
    CHECK(ken_gguf_add_tensor(w, "cls.output.weight", KEN_DT_F32, 2, ne, head, sizeof head) == KEN_OK);
    CHECK(ken_gguf_add_tensor(w, "cls.output.bias", KEN_DT_F32, 1, nb, bias, sizeof bias) == KEN_OK);
    CHECKF(ken_gguf_write(w, reranker, &e) == KEN_OK, "%s", e.msg);
    ken_gguf_writer_free(w);
    ken_gguf_close(g);
}

static void add_texts(ken_kb *kb, const char *collection, int from, int to, const char *model,
                      int no_embed) {
    for (int i = from; i < to; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s-%d.txt", collection, i);
        ken_add_opts o = {.size = sizeof o, .collection = collection, .embed_model = model,
                          .no_embed = no_embed};
        ken_add_stats s;
        ken_status st = ken_kb_add_buffer(kb, name, texts[i], strlen(texts[i]), &o, &s);
        CHECKF(st == KEN_OK, "%s", ken_kb_errmsg(kb));
    }
}

typedef struct {
    const char *mode, *fusion, *collection, *rerank_model;
    uint32_t k;
    int rerank;
} q_opts;

static ken_results *search(ken_kb *kb, const char *q, q_opts qo) {
    ken_search_opts o = {.size = sizeof o, .k = qo.k ? qo.k : 3, .mode = qo.mode,
                         .fusion = qo.fusion, .collection = qo.collection,
                         .rerank = qo.rerank, .rerank_model = qo.rerank_model};
    ken_results *r = NULL;
    ken_status st = ken_search(kb, q, &o, &r);
    CHECKF(st == KEN_OK, "%s: %s", q, ken_kb_errmsg(kb));
    return r;
}

static const char *top_uri(const ken_results *r) {
    const ken_result *x = ken_results_get(r, 0);
    return x ? x->uri : "(none)";
}

static bool notice_has(const ken_results *r, const char *what) {
    const char *n = ken_results_notice(r);
    return n && strstr(n, what);
}

static void test_ingest_and_known_answers(void) {
    ken_kb *kb = open_kb(true);
    REQUIRE(kb);
    add_texts(kb, "a", 0, 3, enc_a, 0);
    add_texts(kb, "b", 3, N_TEXTS, NULL, 0);   /* the store remembers the model */
    ken_embed_stats es;
    REQUIRE(ken_kb_embed_status(kb, &es) == KEN_OK);
    CHECK_EQ_INT(es.dim, 64);
    CHECK_EQ_INT(es.vectors, N_TEXTS);
    CHECK_EQ_INT(es.missing, 0);
    CHECK(strlen(es.model_sha256) == 64);
    char idx[300];
    snprintf(idx, sizeof idx, "%s.hnsw", db);
    struct stat sb;
    CHECK(stat(idx, &sb) == 0);
    /* Dense: a passage's own text is its nearest neighbour (cosine ~1). */
    for (int i = 0; i < N_TEXTS; i++) {
        ken_results *r = search(kb, texts[i], (q_opts){.mode = "dense"});
        REQUIRE(r);
        CHECK_EQ_STR(ken_results_mode(r), "dense");
        char want[64];
        snprintf(want, sizeof want, "%s-%d.txt", i < 3 ? "a" : "b", i);
        CHECKF(strcmp(top_uri(r), want) == 0, "%d: %s", i, top_uri(r));
        CHECK(fabs(ken_results_get(r, 0)->score - 1.0) < 1e-3);
        CHECK(ken_results_get(r, 0)->snippet != NULL);
        ken_results_free(r);
    }
    /* Hybrid (RRF): first in both lists -> 2/61; weighted: 1 + 1. */
    ken_results *r = search(kb, texts[2], (q_opts){.mode = "hybrid"});
    CHECK_EQ_STR(top_uri(r), "a-2.txt");
    CHECK(fabs(ken_results_get(r, 0)->score - 2.0 / 61) < 1e-9);
    CHECK(ken_results_notice(r) == NULL);
    ken_results_free(r);
    r = search(kb, texts[2], (q_opts){.mode = "hybrid", .fusion = "weighted"});
    CHECK_EQ_STR(top_uri(r), "a-2.txt");
    CHECK(fabs(ken_results_get(r, 0)->score - 2.0) < 1e-9);
    ken_results_free(r);
    /* A filter still gets k results: collection b only, asked with an a text. */
    r = search(kb, texts[0], (q_opts){.mode = "dense", .collection = "b"});
    CHECK_EQ_INT(ken_results_count(r), 3);
    for (size_t i = 0; i < ken_results_count(r); i++)
        CHECK_EQ_STR(ken_results_get(r, i)->collection, "b");
    ken_results_free(r);
    /* k larger than the corpus: all of it, no error. */
    r = search(kb, "honey", (q_opts){.mode = "dense", .k = 100});
    CHECK_EQ_INT(ken_results_count(r), N_TEXTS);
    ken_results_free(r);
    r = search(kb, "honey", (q_opts){.mode = "hybrid", .k = 100});
    CHECK_EQ_INT(ken_results_count(r), N_TEXTS);
    CHECK_EQ_STR(top_uri(r), "b-5.txt");   /* the only BM25 match, and in the dense list */
    ken_results_free(r);
    /* Bad options are refused. */
    ken_search_opts bad = {.size = sizeof bad, .mode = "semantic"};
    ken_results *none = NULL;
    CHECK(ken_search(kb, "x", &bad, &none) == KEN_ERR_INVALID && !none);
    bad.mode = "hybrid";
    bad.fusion = "max";
    CHECK(ken_search(kb, "x", &bad, &none) == KEN_ERR_INVALID);
    ken_kb_close(kb);
}

/* Extractive answers take their passages from the configured retrieval. */
static void test_ask_modes(void) {
    ken_kb *kb = open_kb(false);
    REQUIRE(kb);
    const char *modes[] = {"hybrid", "dense", NULL};
    for (int i = 0; i < 3; i++) {
        ken_ask_opts o = {.size = sizeof o, .mode = modes[i], .min_score = -1};
        ken_answer *a = NULL;
        CHECKF(ken_ask(kb, "where do bees turn nectar into honey", &o, &a) == KEN_OK, "%s",
               ken_kb_errmsg(kb));
        REQUIRE(a);
        CHECK(ken_answer_found(a));
        CHECK(ken_answer_citations(a) >= 1);
        bool cited = false;
        for (size_t j = 0; j < ken_answer_citations(a); j++)
            cited |= strcmp(ken_answer_citation(a, j)->uri, "b-5.txt") == 0;
        CHECKF(cited, "mode %s", modes[i] ? modes[i] : "bm25");
        ken_answer_free(a);
    }
    ken_ask_opts bad = {.size = sizeof bad, .mode = "vector"};
    ken_answer *a = NULL;
    CHECK(ken_ask(kb, "honey", &bad, &a) == KEN_ERR_INVALID && !a);
    ken_kb_close(kb);
}

static void test_persistence_and_damage(void) {
    ken_kb *kb = open_kb(false);
    REQUIRE(kb);
    ken_results *r = search(kb, texts[4], (q_opts){.mode = "dense"});
    CHECK(ken_results_notice(r) == NULL);   /* the saved index was current: loaded */
    CHECK_EQ_STR(top_uri(r), "b-4.txt");
    ken_results_free(r);
    ken_kb_close(kb);
    /* Truncated mid-write (as a crash would leave it): rebuilt, said so. */
    char idx[300];
    snprintf(idx, sizeof idx, "%s.hnsw", db);
    struct stat sb;
    REQUIRE(stat(idx, &sb) == 0);
    REQUIRE(truncate(idx, sb.st_size / 2) == 0);
    kb = open_kb(false);
    r = search(kb, texts[4], (q_opts){.mode = "dense"});
    CHECK(notice_has(r, "not usable"));
    CHECK_EQ_STR(top_uri(r), "b-4.txt");
    ken_results_free(r);
    ken_kb_close(kb);
    CHECK(stat(idx, &sb) == 0 && sb.st_size > 0);
    /* Garbage of the right size: the checksum catches it. */
    FILE *f = fopen(idx, "r+b");
    REQUIRE(f);
    fseek(f, sb.st_size / 2, SEEK_SET);
    fputs("garbage", f);
    fclose(f);
    kb = open_kb(false);
    r = search(kb, texts[1], (q_opts){.mode = "dense"});
    CHECK(notice_has(r, "not usable"));
    CHECK_EQ_STR(top_uri(r), "a-1.txt");
    ken_results_free(r);
    ken_kb_close(kb);
}

static void test_deletes(void) {
    ken_kb *kb = open_kb(false);
    REQUIRE(kb);
    ken_add_stats s;
    CHECK(ken_kb_remove(kb, "a-1.txt", &s) == KEN_OK);
    ken_results *r = search(kb, texts[1], (q_opts){.mode = "dense", .k = 10});
    CHECK(notice_has(r, "out of date"));   /* the vectors changed: updated */
    CHECK(notice_has(r, "0 added, 1 removed"));
    CHECK_EQ_INT(ken_results_count(r), N_TEXTS - 1);
    for (size_t i = 0; i < ken_results_count(r); i++)
        CHECK(strcmp(ken_results_get(r, i)->uri, "a-1.txt") != 0);
    ken_results_free(r);
    ken_embed_stats es;
    CHECK(ken_kb_embed_status(kb, &es) == KEN_OK && es.vectors == N_TEXTS - 1);
    ken_kb_close(kb);
}

static void test_missing(void) {
    ken_kb *kb = open_kb(false);
    REQUIRE(kb);
    add_texts(kb, "a", 1, 2, NULL, 1);   /* back, without embedding */
    ken_results *r = search(kb, texts[1], (q_opts){.mode = "dense"});
    CHECK(notice_has(r, "no vector yet"));
    ken_results_free(r);
    ken_embed_opts eo = {.size = sizeof eo};
    ken_embed_stats es;
    CHECKF(ken_kb_embed(kb, &eo, &es) == KEN_OK, "%s", ken_kb_errmsg(kb));
    CHECK_EQ_INT(es.embedded, 1);
    CHECK_EQ_INT(es.missing, 0);
    CHECK(!es.switched);
    r = search(kb, texts[1], (q_opts){.mode = "dense"});
    CHECK_EQ_STR(top_uri(r), "a-1.txt");
    ken_results_free(r);
    ken_kb_close(kb);
}

/* SQLite gives a new chunk the id of a deleted last chunk: the index must
 * not keep the old vector under that id. */
static void test_id_reuse(void) {
    ken_kb *kb = open_kb(false);
    REQUIRE(kb);
    /* a-1 was added last (test_missing): its chunk has the highest id. */
    ken_results *r = search(kb, texts[1], (q_opts){.mode = "dense"});
    REQUIRE(r && ken_results_count(r) > 0);
    int64_t old_id = ken_results_get(r, 0)->chunk_id;
    ken_results_free(r);
    ken_add_stats s;
    CHECK(ken_kb_remove(kb, "a-1.txt", &s) == KEN_OK);
    const char *fresh = "Submarines dive by flooding their ballast tanks with seawater.";
    ken_add_opts o = {.size = sizeof o, .collection = "c"};
    CHECKF(ken_kb_add_buffer(kb, "c-new.txt", fresh, strlen(fresh), &o, &s) == KEN_OK, "%s",
           ken_kb_errmsg(kb));
    r = search(kb, fresh, (q_opts){.mode = "dense"});
    CHECK_EQ_STR(top_uri(r), "c-new.txt");
    CHECK_EQ_INT(ken_results_get(r, 0)->chunk_id, old_id);   /* the id was reused */
    CHECK(fabs(ken_results_get(r, 0)->score - 1.0) < 1e-3);
    ken_results_free(r);
    r = search(kb, texts[1], (q_opts){.mode = "dense", .k = 10});
    for (size_t i = 0; i < ken_results_count(r); i++) {
        const ken_result *x = ken_results_get(r, i);
        CHECK(strcmp(x->uri, "a-1.txt") != 0);
        CHECK(fabs(x->score - 1.0) > 1e-3);   /* nothing holds a-1's vector any more */
    }
    ken_results_free(r);
    CHECK(ken_kb_remove(kb, "c-new.txt", &s) == KEN_OK);
    add_texts(kb, "a", 1, 2, NULL, 0);
    r = search(kb, texts[1], (q_opts){.mode = "dense"});
    CHECK_EQ_STR(top_uri(r), "a-1.txt");
    ken_results_free(r);
    ken_kb_close(kb);
}

static int cancel_flag;
static void cancel_after_first(void *ud, const ken_progress *p) {
    (void)ud;
    if (p->items_done >= 2) cancel_flag = 1;
}

static void test_switch(void) {
    ken_kb *kb = open_kb(false);
    REQUIRE(kb);
    /* Interrupted: the new model has some vectors, search keeps the old. */
    cancel_flag = 0;
    ken_embed_opts eo = {.size = sizeof eo, .model = enc_b, .batch = 2, .n_threads = 2,
                         .progress = cancel_after_first, .cancel = &cancel_flag};
    ken_embed_stats es;
    CHECK(ken_kb_embed(kb, &eo, &es) == KEN_ERR_CANCELLED);
    CHECK(es.embedded >= 2 && es.embedded < N_TEXTS);
    CHECK(ken_kb_embed_status(kb, &es) == KEN_OK);
    CHECK_EQ_INT(es.dim, 64);               /* still model A */
    CHECK_EQ_INT(es.vectors, N_TEXTS);
    ken_results *r = search(kb, texts[3], (q_opts){.mode = "dense"});
    CHECK_EQ_STR(ken_results_mode(r), "dense");
    CHECK_EQ_STR(top_uri(r), "b-3.txt");
    ken_results_free(r);
    /* Resumed (`ken embed --missing`): complete, switched in one step. */
    ken_embed_opts resume = {.size = sizeof resume};
    CHECKF(ken_kb_embed(kb, &resume, &es) == KEN_OK, "%s", ken_kb_errmsg(kb));
    CHECK(es.switched);
    CHECK(es.embedded > 0 && es.embedded <= N_TEXTS - 2);
    CHECK_EQ_INT(es.dim, 32);
    CHECK_EQ_INT(es.vectors, N_TEXTS);
    CHECK(ken_kb_embed_status(kb, &es) == KEN_OK && es.dim == 32);
    r = search(kb, texts[3], (q_opts){.mode = "dense"});
    CHECK_EQ_STR(top_uri(r), "b-3.txt");
    CHECK(fabs(ken_results_get(r, 0)->score - 1.0) < 1e-3);
    ken_results_free(r);
    ken_kb_close(kb);
}

static void test_model_gone_and_changed(void) {
    char moved[300];
    snprintf(moved, sizeof moved, "%s.moved", enc_b);
    REQUIRE(rename(enc_b, moved) == 0);
    ken_kb *kb = open_kb(false);
    REQUIRE(kb);
    ken_results *r = search(kb, "honey bees", (q_opts){.mode = "hybrid"});
    CHECK_EQ_STR(ken_results_mode(r), "bm25");
    CHECK(notice_has(r, "is gone") && notice_has(r, "BM25 only"));
    CHECK_EQ_STR(top_uri(r), "b-5.txt");
    ken_results_free(r);
    ken_kb_close(kb);
    /* Another file under the same name (here: another dimension). */
    make_model(enc_b, 48, 77);
    kb = open_kb(false);
    r = search(kb, "honey bees", (q_opts){.mode = "dense"});
    CHECK_EQ_STR(ken_results_mode(r), "bm25");
    CHECK(notice_has(r, "changed since the vectors were made"));
    ken_results_free(r);
    ken_kb_close(kb);
    REQUIRE(rename(moved, enc_b) == 0);
}

static void test_rerank(void) {
    make_reranker();
    ken_kb *kb = open_kb(false);
    REQUIRE(kb);
    ken_results *r = search(kb, "honey and bread", (q_opts){.mode = "hybrid", .k = 4,
                                                            .rerank_model = reranker, .rerank = 1});
    REQUIRE(r);
    CHECK(ken_results_reranked(r));
    CHECK_EQ_INT(ken_results_count(r), 4);
    /* Scores are the cross-encoder's, best first. */
    ken_model *m = NULL;
    REQUIRE(ken_model_open(reranker, &m, NULL) == KEN_OK);
    ken_ctx *c = NULL;
    REQUIRE(ken_ctx_new(m, NULL, &c, NULL) == KEN_OK);
    for (size_t i = 0; i < ken_results_count(r); i++) {
        const ken_result *x = ken_results_get(r, i);
        float s = 0;
        CHECK(ken_rerank(c, "honey and bread", 15, x->text, x->text_len, &s) == KEN_OK);
        CHECK(fabs(s - x->score) < 1e-4);
        if (i) CHECK(ken_results_get(r, i - 1)->score >= x->score);
    }
    ken_ctx_free(c);
    ken_model_close(m);
    ken_results_free(r);
    /* A named model that is not a cross-encoder is an error; a configured
     * one is skipped with a note. */
    ken_search_opts o = {.size = sizeof o, .rerank = 1, .rerank_model = enc_a};
    ken_results *none = NULL;
    CHECK(ken_search(kb, "honey", &o, &none) == KEN_ERR_INVALID);
    CHECK(strstr(ken_kb_errmsg(kb), "cross-encoder") != NULL);
    CHECK(ken_kb_config_set(kb, "rerank.model", enc_a) == KEN_OK);
    r = search(kb, "honey", (q_opts){.rerank = 1});
    CHECK(!ken_results_reranked(r) && notice_has(r, "re-ranking skipped"));
    ken_results_free(r);
    ken_kb_close(kb);
}

static void test_config(void) {
    ken_kb *kb = open_kb(false);
    REQUIRE(kb);
    CHECK(ken_kb_config_set(kb, "search.mode", "dense") == KEN_OK);
    ken_results *r = search(kb, texts[5], (q_opts){0});
    CHECK_EQ_STR(ken_results_mode(r), "dense");   /* the store's default mode */
    ken_results_free(r);
    CHECK(ken_kb_config_set(kb, "search.mode", "fuzzy") == KEN_ERR_INVALID);
    CHECK(ken_kb_config_set(kb, "search.mdoe", "dense") == KEN_ERR_INVALID);
    CHECK(ken_kb_config_set(kb, "embed.active", "3") == KEN_ERR_INVALID);
    CHECK(ken_kb_config_set(kb, "embed.model", "/no/such/model.gguf") == KEN_ERR_NOTFOUND);
    CHECK(ken_kb_config_set(kb, "rerank.top_n", "2.5") == KEN_ERR_INVALID);
    CHECK(ken_kb_config_set(kb, "search.rerank", "maybe") == KEN_ERR_INVALID);
    CHECK(ken_kb_config_set(kb, "search.rerank", "yes") == KEN_OK);
    char *v = NULL;
    CHECK(ken_kb_config_get(kb, "search.rerank", &v) == KEN_OK);
    CHECK_EQ_STR(v, "on");
    ken_free(v);
    CHECK(ken_kb_config_set(kb, "search.rerank", "") == KEN_OK);
    CHECK(ken_kb_config_get(kb, "search.rerank", &v) == KEN_ERR_NOTFOUND);
    CHECK(ken_kb_config_set(kb, "search.mode", "") == KEN_OK);
    CHECK(ken_kb_config_set(kb, "ask.backend", "http://127.0.0.1:9/v1") == KEN_OK);
    CHECK(ken_kb_config_set(kb, "ask.model", "/no/such/model.gguf") == KEN_ERR_NOTFOUND);
    CHECK(ken_kb_config_set(kb, "ask.backend", "") == KEN_OK);
    const char *help = NULL;
    CHECK(ken_kb_config_key(0, &help) != NULL && help != NULL);
    CHECK(ken_kb_config_key(1000, NULL) == NULL);
    ken_kb_close(kb);
}

static void test_empty_store(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/empty.db", dir);
    ken_kb_opts o = {.size = sizeof o, .path = path, .create = 1};
    ken_kb *kb = NULL;
    REQUIRE(ken_kb_open(&o, &kb) == KEN_OK);
    ken_results *r = search(kb, "anything", (q_opts){.mode = "dense", .k = 50});
    CHECK_EQ_INT(ken_results_count(r), 0);
    CHECK(notice_has(r, "no embedding model"));
    ken_results_free(r);
    ken_embed_opts eo = {.size = sizeof eo};
    CHECK(ken_kb_embed(kb, &eo, NULL) == KEN_ERR_NOTFOUND);
    CHECK(strstr(ken_kb_errmsg(kb), "--embed-model") != NULL);
    /* A model but no chunks: nothing to search, no crash. */
    eo.model = enc_a;
    CHECKF(ken_kb_embed(kb, &eo, NULL) == KEN_OK, "%s", ken_kb_errmsg(kb));
    r = search(kb, "anything", (q_opts){.mode = "hybrid"});
    CHECK_EQ_INT(ken_results_count(r), 0);
    CHECK(notice_has(r, "no chunk is embedded"));
    ken_results_free(r);
    /* A decoder is not an embedding model. */
    char dec[600];
    snprintf(dec, sizeof dec, "%s/models/stories260K.gguf", test_fixtures());
    eo.model = dec;
    CHECK(ken_kb_embed(kb, &eo, NULL) == KEN_ERR_UNSUPPORTED);
    ken_kb_close(kb);
}

static void setup(void) {
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(1); }
    snprintf(db, sizeof db, "%s/kb.db", dir);
    snprintf(enc_a, sizeof enc_a, "%s/enc-a.gguf", dir);
    snprintf(enc_b, sizeof enc_b, "%s/enc-b.gguf", dir);
    snprintf(reranker, sizeof reranker, "%s/rerank.gguf", dir);
    snprintf(vocab, sizeof vocab, "%s/tokenizer/ggml-vocab-bert-bge.gguf", test_fixtures());
    make_model(enc_a, 64, 1);
    make_model(enc_b, 32, 2);
}

static void cleanup(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

TEST_MAIN(setup, test_ingest_and_known_answers, test_ask_modes, test_persistence_and_damage, test_deletes,
          test_missing, test_id_reuse, test_switch, test_model_gone_and_changed, test_rerank, test_config,
          test_empty_store, cleanup)
