/* test_retrieve_sentence.c: sentence splitting with exact byte spans
 * (abbreviations, initials, decimals, blank lines, headings, list items,
 * quotes, over-long sentences, hostile bytes). */
#include "retrieve/retrieve.h"
#include "test.h"

/* Joins the sentences of text with '|'. */
static void check_split(const char *text, const char *want) {
    ken_retrieve_span *sp = NULL;
    size_t n = 0;
    REQUIRE(ken_retrieve_sentences(text, strlen(text), &sp, &n) == KEN_OK);
    ken_buf b;
    ken_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        CHECK(sp[i].start < sp[i].end && sp[i].end <= strlen(text));
        if (i) ken_buf_putc(&b, '|');
        ken_buf_append(&b, text + sp[i].start, sp[i].end - sp[i].start);
    }
    CHECKF(strcmp(b.data ? b.data : "", want) == 0, "\n got '%s'\nwant '%s'",
           b.data ? b.data : "", want);
    ken_buf_free(&b);
    free(sp);
}

static void test_basic(void) {
    check_split("One sentence. Two sentences! Three? Four", "One sentence.|Two sentences!|Three?|Four");
    check_split("Pi is 3.14 today. Next one.", "Pi is 3.14 today.|Next one.");
    check_split("Dr. Smith met J. Doe, e.g. at home. Then left.",
                "Dr. Smith met J. Doe, e.g. at home.|Then left.");
    check_split("lower. case does not split. Upper does.", "lower. case does not split.|Upper does.");
    check_split("He said \"Stop.\" Then he went.", "He said \"Stop.\"|Then he went.");
    check_split("Wait... What?! Yes.", "Wait...|What?!|Yes.");
    check_split("  \n\n  ", "");
    check_split("", "");
}

static void test_blocks(void) {
    check_split("# Title\n\nFirst para line\ncontinues here. Second.\n\nNext para",
                "# Title|First para line\ncontinues here.|Second.|Next para");
    check_split("Intro:\n- item one\n- item two\n1. numbered\nafter",
                "Intro:|- item one|- item two|1. numbered|after");
    check_split("| a | b |\n| 1 | 2 |\ntext", "| a | b ||| 1 | 2 ||text");
}

static void test_long_and_hostile(void) {
    ken_buf b;
    ken_buf_init(&b, 0);
    for (int i = 0; i < 500; i++) ken_buf_puts(&b, "word ");
    ken_retrieve_span *sp = NULL;
    size_t n = 0;
    REQUIRE(ken_retrieve_sentences(b.data, b.len, &sp, &n) == KEN_OK);
    CHECK(n >= 3);
    for (size_t i = 0; i < n; i++) CHECK(sp[i].end - sp[i].start <= 800);
    free(sp);
    /* One huge multi-byte "word": cut at code point boundaries. */
    ken_buf_reset(&b);
    for (int i = 0; i < 1000; i++) ken_buf_puts(&b, "\xc3\xa9");
    REQUIRE(ken_retrieve_sentences(b.data, b.len, &sp, &n) == KEN_OK);
    REQUIRE(n >= 2);
    for (size_t i = 0; i < n; i++) CHECK(ken_utf8_valid(b.data + sp[i].start, sp[i].end - sp[i].start));
    free(sp);
    /* Random bytes: spans stay in bounds. */
    ken_buf_reset(&b);
    unsigned x = 7;
    for (int i = 0; i < 20000; i++) {
        x = x * 1103515245u + 12345u;
        ken_buf_putc(&b, (char)(x >> 16));
    }
    REQUIRE(ken_retrieve_sentences(b.data, b.len, &sp, &n) == KEN_OK);
    for (size_t i = 0; i < n; i++) CHECK(sp[i].start < sp[i].end && sp[i].end <= b.len);
    free(sp);
    ken_buf_free(&b);
}

TEST_MAIN(test_basic, test_blocks, test_long_and_hostile)
