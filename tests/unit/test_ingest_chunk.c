/* test_ingest_chunk.c: the chunker: exact spans, UTF-8 boundaries, headings
 * kept with their text, sections not crossed, overlap on sentence starts,
 * abbreviations, a 50 MB single line, code blocks. */
#include "test_ingest_util.h"

#include <time.h>

/* Builds a doc from text with one prose section over all of it. */
static void doc_from(ken_idoc *d, const char *s, size_t n, ken_sec_kind kind) {
    ken_idoc_init(d);
    ken_buf_append(&d->text, s, n);
    ken_section sec = {0, (int64_t)n, strdup(""), 0, 0, kind};
    d->secs = malloc(sizeof sec);
    d->secs[0] = sec;
    d->n_secs = d->cap_secs = 1;
}

static char *chunk_text(const ken_idoc *d, const ken_ichunk *c) {
    return strndup(d->text.data + c->start, (size_t)(c->end - c->start));
}

/* Chunks text as one prose section with the given target/overlap and returns
 * the chunks' first words joined, e.g. "A|C|" to see where cuts fell. */
static void starts_of(const char *text, uint32_t target, uint32_t overlap, char *out, size_t cap) {
    ken_idoc d;
    doc_from(&d, text, strlen(text), KEN_SEC_PROSE);
    ken_chunk_opts o = {target, overlap, 0};
    ken_ichunk *c;
    size_t n;
    out[0] = 0;
    if (ken_chunk_doc(&d, &o, &c, &n) == KEN_OK) {
        CHECK_EQ_INT(ti_check_chunks(&d, c, n, 8192), 0);
        for (size_t i = 0; i < n; i++) {
            size_t e = (size_t)c[i].start;
            while (e < d.text.len && d.text.data[e] != ' ') e++;
            size_t l = strlen(out);
            snprintf(out + l, cap - l, "%.*s|", (int)(e - (size_t)c[i].start),
                     d.text.data + c[i].start);
        }
        free(c);
    }
    ken_idoc_free(&d);
}

static void test_sentences(void) {
    char s[512];
    /* Each sentence has 4 words; target 4 -> one chunk per sentence, so the
     * chunk starts show where the splitter saw sentence starts. */
    starts_of("Dr. Smith went home. He met Mr. Jones. They ate some pie.", 4, 0, s, sizeof s);
    CHECK_EQ_STR(s, "Dr.|He|They|");
    starts_of("We use e.g. red paint. The U.S. Army came. J. R. R. Tolkien wrote.", 5, 0, s, sizeof s);
    CHECK_EQ_STR(s, "We|The|J.|");
    starts_of("Pi is 3.14 now. \"Is it?\" she asked. Wow! It is.", 4, 0, s, sizeof s);
    CHECK_EQ_STR(s, "Pi|\"Is|Wow!|");
    starts_of("Wait... what is it. And so... The end came.", 4, 0, s, sizeof s);
    CHECK_EQ_STR(s, "Wait...|And|The|");
}

static void test_cjk(void) {
    /* Japanese without spaces: characters count as words, 。 ends sentences */
    const char *jp = "\xE3\x81\x93\xE3\x82\x8C\xE3\x81\xAF\xE6\x96\x87\xE3\x80\x82"   /* これは文。 */
                     "\xE6\x9D\xB1\xE4\xBA\xAC\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82"   /* 東京です。 */
                     "\xE5\xA4\xA7\xE9\x98\xAA\xEF\xBC\x81";                             /* 大阪！ */
    ken_idoc d;
    doc_from(&d, jp, strlen(jp), KEN_SEC_PROSE);
    ken_chunk_opts o = {6, 0, 0};
    ken_ichunk *c;
    size_t n;
    REQUIRE(ken_chunk_doc(&d, &o, &c, &n) == KEN_OK);
    CHECK_EQ_INT(ti_check_chunks(&d, c, n, 8192), 0);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_INT(c[0].end, 15);            /* after the first 。 */
        CHECK_EQ_INT(c[1].start, 15);
        CHECK_EQ_INT(c[1].end, 30);
    }
    free(c);
    ken_idoc_free(&d);
    /* a long run of ideographs chunks by characters, not by 8 KiB */
    ken_buf b;
    ken_buf_init(&b, 0);
    for (int i = 0; i < 3000; i++) ken_buf_puts(&b, "\xE6\x96\x87");
    doc_from(&d, b.data, b.len, KEN_SEC_PROSE);
    REQUIRE(ken_chunk_doc(&d, NULL, &c, &n) == KEN_OK);
    CHECK_EQ_INT(n, 12);                       /* 250 characters each */
    CHECK_EQ_INT(ti_check_chunks(&d, c, n, 8192), 0);
    free(c);
    ken_idoc_free(&d);
    ken_buf_free(&b);
}

static void test_overlap(void) {
    /* 10 sentences of 5 words; target 20, overlap 6 -> overlap of one sentence */
    char text[1024] = "";
    for (int i = 0; i < 10; i++) {
        char w[64];
        snprintf(w, sizeof w, "S%d has five words here. ", i);
        strcat(text, w);
    }
    char s[512];
    starts_of(text, 20, 6, s, sizeof s);
    CHECK_EQ_STR(s, "S0|S3|S6|");
    starts_of(text, 20, 0, s, sizeof s);
    CHECK_EQ_STR(s, "S0|S4|S8|");
    /* no sentence start in the window: the overlap falls on a word */
    char words[2048] = "";
    for (int i = 0; i < 60; i++) {
        char w[16];
        snprintf(w, sizeof w, "w%d ", i);
        strcat(words, w);
    }
    starts_of(words, 20, 5, s, sizeof s);
    CHECK_EQ_STR(s, "w0|w15|w30|w45|");
}

static void test_markdown_chunks(void) {
    const char *md =
        "# Title\n\nShort intro.\n\n"
        "## Alpha\n\nAlpha one. Alpha two. Alpha three. Alpha four. Alpha five. Alpha six.\n\n"
        "## Beta\n\nBeta text only.\n\n"
        "## Gamma\n\n```c\nint a;\n\nint b;\n```\n";
    ti_result r;
    ken_err e;
    REQUIRE(ti_parse_str("m.md", md, &r, &e) == KEN_OK && r.n_docs == 1);
    ken_idoc *d = &r.docs[0];
    ken_chunk_opts o = {6, 0, 0};
    ken_ichunk *c;
    size_t n;
    REQUIRE(ken_chunk_doc(d, &o, &c, &n) == KEN_OK);
    CHECK_EQ_INT(ti_check_chunks(d, c, n, 8192), 0);
    int alpha_first = 0, gamma = 0;
    for (size_t i = 0; i < n; i++) {
        char *t = chunk_text(d, &c[i]);
        /* no chunk mixes Alpha and Beta text (different sections) */
        CHECKF(!(ti_contains(t, "Alpha") && ti_contains(t, "Beta")), "chunk %zu: %s", i, t);
        if (ti_contains(t, "Alpha one.")) {
            alpha_first++;
            CHECKF(strncmp(t, "Alpha\n\nAlpha one.", 17) == 0, "heading kept: %s", t);
            CHECK_EQ_STR(c[i].heading, "Title > Alpha");
        }
        if (ti_contains(t, "Beta text")) CHECK_EQ_STR(c[i].heading, "Title > Beta");
        if (ti_contains(t, "int a;")) {
            gamma++;
            CHECK_EQ_STR(c[i].heading, "Title > Gamma");
            CHECKF(ti_contains(t, "Gamma\n\nint a;"), "code chunk: %s", t);
        }
        if (ti_contains(t, "Short intro.")) CHECKF(strncmp(t, "Title", 5) == 0, "%s", t);
        free(t);
    }
    CHECK_EQ_INT(alpha_first, 1);
    CHECK_EQ_INT(gamma, 1);
    free(c);
    /* with a large target, tiny sibling sections merge */
    o.target_words = 250;
    REQUIRE(ken_chunk_doc(d, &o, &c, &n) == KEN_OK);
    CHECK_EQ_INT(ti_check_chunks(d, c, n, 8192), 0);
    CHECK(n < 4);
    free(c);
    ti_free(&r);
}

static void test_utf8_and_caps(void) {
    /* Words of multi-byte characters, a byte cap that lands mid-character */
    ken_buf b;
    ken_buf_init(&b, 0);
    for (int i = 0; i < 3000; i++) ken_buf_puts(&b, i % 50 == 49 ? "\xC3\xA9t\xC3\xA9\xE2\x82\xAC. " : "\xC3\xA9t\xC3\xA9\xE2\x82\xAC ");
    ken_idoc d;
    doc_from(&d, b.data, b.len, KEN_SEC_PROSE);
    ken_chunk_opts o = {100, 20, 101};
    ken_ichunk *c;
    size_t n;
    REQUIRE(ken_chunk_doc(&d, &o, &c, &n) == KEN_OK);
    CHECK(n > 100);
    CHECK_EQ_INT(ti_check_chunks(&d, c, n, 101), 0);
    CHECK_EQ_INT(c[0].start, 0);
    CHECK_EQ_INT(c[n - 1].end, (int64_t)b.len - 1);
    free(c);
    ken_idoc_free(&d);
    /* one word longer than the cap, made of 3-byte characters */
    ken_buf_reset(&b);
    for (int i = 0; i < 1000; i++) ken_buf_puts(&b, "\xE2\x82\xAC");
    doc_from(&d, b.data, b.len, KEN_SEC_PROSE);
    o = (ken_chunk_opts){250, 40, 100};
    REQUIRE(ken_chunk_doc(&d, &o, &c, &n) == KEN_OK);
    CHECK_EQ_INT(ti_check_chunks(&d, c, n, 100), 0);
    int64_t covered = 0;
    for (size_t i = 0; i < n; i++) covered += c[i].end - c[i].start;
    CHECK_EQ_INT(covered, 3000);            /* contiguous pieces, no overlap inside a word */
    free(c);
    ken_idoc_free(&d);
    ken_buf_free(&b);
}

static void test_huge_line(void) {
    size_t n = 50u << 20;
    char *s = malloc(n);
    REQUIRE(s);
    for (size_t i = 0; i < n; i++) s[i] = (char)('a' + i % 26);
    ken_idoc d;
    doc_from(&d, s, n, KEN_SEC_PROSE);
    free(s);
    ken_ichunk *c;
    size_t m;
    clock_t t0 = clock();
    REQUIRE(ken_chunk_doc(&d, NULL, &c, &m) == KEN_OK);
    double sec = (double)(clock() - t0) / CLOCKS_PER_SEC;
    fprintf(stderr, "50 MB single line (prose): %zu chunks in %.2f s\n", m, sec);
    CHECK(sec < 10);
    CHECK_EQ_INT(m, (n + 8191) / 8192);
    CHECK_EQ_INT(ti_check_chunks(&d, c, m, 8192), 0);
    CHECK(c[m - 1].end == (int64_t)n);
    free(c);
    d.secs[0].kind = KEN_SEC_CODE;
    t0 = clock();
    REQUIRE(ken_chunk_doc(&d, NULL, &c, &m) == KEN_OK);
    sec = (double)(clock() - t0) / CLOCKS_PER_SEC;
    fprintf(stderr, "50 MB single line (code): %zu chunks in %.2f s\n", m, sec);
    CHECK(sec < 10);
    CHECK_EQ_INT(ti_check_chunks(&d, c, m, 8192), 0);
    free(c);
    ken_idoc_free(&d);
}

static void test_code_blocks(void) {
    ken_buf b;
    ken_buf_init(&b, 0);
    for (int f = 0; f < 30; f++)
        ken_buf_printf(&b, "int f%d(int x) {\n    return x + %d;\n}\n\n", f, f);
    ken_idoc d;
    doc_from(&d, b.data, b.len, KEN_SEC_CODE);
    ken_chunk_opts o = {40, 0, 0};
    ken_ichunk *c;
    size_t n;
    REQUIRE(ken_chunk_doc(&d, &o, &c, &n) == KEN_OK);
    CHECK(n > 3);
    CHECK_EQ_INT(ti_check_chunks(&d, c, n, 8192), 0);
    for (size_t i = 0; i < n; i++) {
        char *t = chunk_text(&d, &c[i]);
        CHECKF(strncmp(t, "int f", 5) == 0 && t[strlen(t) - 1] == '}', "whole functions: %s", t);
        free(t);
    }
    free(c);
    ken_idoc_free(&d);
    ken_buf_free(&b);
}

static void test_empty(void) {
    ken_idoc d;
    ken_idoc_init(&d);
    ken_ichunk *c = (ken_ichunk *)1;
    size_t n = 9;
    CHECK_EQ_INT(ken_chunk_doc(&d, NULL, &c, &n), KEN_OK);
    CHECK_EQ_INT(n, 0);
    free(c);
    ken_idoc_free(&d);
    /* sections out of order or out of bounds are refused, not trusted */
    doc_from(&d, "one two three", 13, KEN_SEC_PROSE);
    d.secs[0].end = 99;
    CHECK_EQ_INT(ken_chunk_doc(&d, NULL, &c, &n), KEN_ERR_INVALID);
    CHECK(c == NULL && n == 0);
    ken_idoc_free(&d);
}

TEST_MAIN(test_sentences, test_cjk, test_overlap, test_markdown_chunks, test_utf8_and_caps, test_huge_line,
          test_code_blocks, test_empty)
