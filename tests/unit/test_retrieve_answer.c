/* test_retrieve_answer.c: extractive answers over a real store: every
 * citation's span, read back from the stored document text, is the cited
 * sentence verbatim (also with overlapping chunks and multi-byte text);
 * overlapping chunks do not cite one sentence twice; sentences come in
 * document order; unrelated questions get "nothing found"; hostile questions
 * never fail. */
#include "retrieve/retrieve.h"
#include "test.h"

static char tmp_dir[] = "/tmp/ken-test-answer-XXXXXX";
static ken_store *S;

/* Puts a document cut into chunks at the given byte offsets; the chunks
 * overlap by `overlap` bytes (as the ingest chunker's word overlap does). */
static void put(const char *ext, const char *title, const char *text, size_t chunk_bytes,
                size_t overlap) {
    ken_store_chunk ch[32];
    size_t n = 0, len = strlen(text);
    for (size_t s = 0; s < len && n < 32; n++) {
        size_t e = s + chunk_bytes < len ? s + chunk_bytes : len;
        while (e < len && text[e] != ' ') e++;     /* cut between words */
        ch[n] = (ken_store_chunk){.ordinal = (int32_t)n, .start = (int64_t)s, .end = (int64_t)e,
                                  .heading = "Section", .tokens = 10};
        if (e == len) { n++; break; }
        s = e > overlap ? e - overlap : e;
        while (s < e && text[s] != ' ') s++;
        while (s < e && text[s] == ' ') s++;
    }
    char hash[65];
    ken_sha256_hex(text, len, hash);
    ken_store_doc d = {.collection = "default", .ext_id = ext, .uri = ext, .title = title,
                       .mime = "text/plain", .hash = hash, .text = text, .text_len = len};
    CHECKF(S->ops->doc_put(S, &d, ch, n, S->gen, NULL, NULL) == KEN_OK, "%s",
           ken_store_errmsg(S));
}

static int doc_text_cb(void *ud, const ken_store_doc *d) {
    ken_buf *b = ud;
    ken_buf_reset(b);
    return ken_buf_append(b, d->text, d->text_len) != KEN_OK;
}

static void setup(void) {
    if (!mkdtemp(tmp_dir)) { perror("mkdtemp"); exit(1); }
    char path[256];
    snprintf(path, sizeof path, "%s/kb.db", tmp_dir);
    ken_store_opts o = {.path = path, .create = true};
    ken_err e = {{0}};
    if (ken_store_open(&o, &S, &e) != KEN_OK) { fprintf(stderr, "%s\n", e.msg); exit(1); }
    put("volcano", "Volcanoes",
        "A volcano is an opening in the crust where molten rock escapes. Magma that reaches "
        "the surface is called lava. Shield volcanoes erupt fluid basalt lava. Stratovolcanoes "
        "such as Mount St. Helens erupt explosively. Volcanic ash can ground aircraft.", 90, 40);
    put("cafe", "Café culture",
        "Le café crème est servi à Paris. The café au lait is drunk at breakfast in France. "
        "Espresso bars are common in Italy, where coffee is drunk standing at the counter. "
        "Naïve visitors order a cappuccino after lunch.", 80, 30);
    put("tea", "Tea", "Green tea is steamed or pan-fired. Black tea is fully oxidized. "
        "Tea is brewed below boiling for green leaves.", 1000, 0);
}

static void teardown(void) {
    ken_store_close(S);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
}

/* Asks q and checks every citation against the stored document text. */
static void ask_check(const char *q, bool want_found, const char *want_doc) {
    ken_retrieve_ans a;
    ken_err e = {{0}};
    REQUIRE(ken_retrieve_answer(S, q, strlen(q), NULL, &a, &e) == KEN_OK);
    CHECKF(a.found == want_found, "'%s': found %d (score %.3f)", q, a.found, a.best_score);
    REQUIRE(a.text != NULL);
    if (!want_found) {
        CHECK(a.n_cites == 0);
        CHECK(strstr(a.text, "No relevant") != NULL);
    } else {
        CHECK(a.n_cites >= 1 && a.n_cites <= 3);
        if (want_doc && a.n_cites) CHECK_EQ_STR(a.cites[0].ext_id, want_doc);
    }
    ken_buf text;
    ken_buf_init(&text, 0);
    for (size_t i = 0; i < a.n_cites; i++) {
        const ken_retrieve_cite *c = &a.cites[i];
        CHECK_EQ_INT(c->n, (int)i + 1);
        char marker[16];
        snprintf(marker, sizeof marker, "[%d]", c->n);
        CHECK(strstr(a.text, marker) != NULL);
        REQUIRE(S->ops->doc_get_id(S, c->doc_id, doc_text_cb, &text) == KEN_OK);
        REQUIRE(c->start >= 0 && c->end <= (int64_t)text.len && c->start < c->end);
        size_t n = (size_t)(c->end - c->start);
        CHECKF(strlen(c->sentence) == n && memcmp(text.data + c->start, c->sentence, n) == 0,
               "'%s': citation %d is not verbatim: '%s'", q, c->n, c->sentence);
        for (size_t j = 0; j < i; j++) {   /* no sentence cited twice; document order */
            const ken_retrieve_cite *p = &a.cites[j];
            CHECK(!(p->doc_id == c->doc_id && p->start == c->start));
            if (p->doc_id == c->doc_id) CHECK(p->start < c->start);
        }
    }
    ken_buf_free(&text);
    ken_retrieve_answer_free(&a);
}

static void test_citations(void) {
    ask_check("what is lava", true, "volcano");
    ask_check("which volcanoes erupt explosively", true, "volcano");
    ask_check("where is coffee drunk standing", true, "cafe");
    ask_check("café crème à Paris", true, "cafe");
    ask_check("naive visitors cappuccino", true, "cafe");
    ask_check("how is black tea made", true, "tea");
}

static void test_not_found(void) {
    ask_check("who won the football world cup", false, NULL);
    ask_check("symptoms of diabetes", false, NULL);
    ask_check("", false, NULL);
    ask_check("the of and", false, NULL);
    ask_check("\"*^:(NEAR", false, NULL);
    ask_check("\xff\xfe\xfd", false, NULL);
}

static void test_options(void) {
    ken_retrieve_answer_opts o = {.max_sentences = 1};
    ken_retrieve_ans a;
    ken_err e = {{0}};
    REQUIRE(ken_retrieve_answer(S, "volcano lava ash", 16, &o, &a, &e) == KEN_OK);
    CHECK(a.found && a.n_cites == 1);
    ken_retrieve_answer_free(&a);
    /* A threshold above any coverage: nothing found; below zero: always answer. */
    o = (ken_retrieve_answer_opts){.min_score = 1.01};
    REQUIRE(ken_retrieve_answer(S, "volcano lava cheese", 19, &o, &a, &e) == KEN_OK);
    CHECK(!a.found);
    ken_retrieve_answer_free(&a);
    o = (ken_retrieve_answer_opts){.min_score = -1};
    REQUIRE(ken_retrieve_answer(S, "volcano lava cheese", 19, &o, &a, &e) == KEN_OK);
    CHECK(a.found);
    ken_retrieve_answer_free(&a);
}

TEST_MAIN(setup, test_citations, test_not_found, test_options, teardown)
