/* test_ingest_html.c: HTML to text: a real page (tests/data/ingest/page.html)
 * with furniture to drop, headings as sections, <pre> as code, entities,
 * legacy charsets, broken markup and 100k levels of nesting. */
#include "test_ingest_util.h"

static char *slurp(const char *rel, size_t *n) {
    const char *src = getenv("KEN_SRC");
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", src ? src : "..", rel);
    char *buf = test_slurp(p, n);
    if (!buf) fprintf(stderr, "cannot open %s\n", p);
    return buf;
}

static void test_page(void) {
    size_t n;
    char *s = slurp("tests/data/ingest/page.html", &n);
    REQUIRE(s);
    ti_result r;
    ken_err e;
    CHECK_EQ_INT(ti_parse("page.html", s, n, NULL, &r, &e), KEN_OK);
    free(s);
    REQUIRE(r.n_docs == 1);
    ken_idoc *d = &r.docs[0];
    const char *t = d->text.data;
    CHECK_EQ_STR(d->title, "The Sample Page");
    CHECK_EQ_STR(d->mime, "text/html");
    const char *gone[] = {"secret", "color", "Site logo", "Site banner", "Menu A", "Menu B",
                          "hidden text", "invisible", "Enable JavaScript", "template text",
                          "svg text", "comment", "Related", "Copyright", "The Sample"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        CHECKF(!ti_contains(t, gone[i]), "'%s' should be dropped: %s", gone[i], t);
    CHECKF(ti_contains(t, "Main & Only Title\n\nFirst paragraph with bold and a link, spread over "
                          "several lines \xE2\x80\x94 and an entity \xC3\xA9t\xC3\xA9.\n\n"
                          "Second paragraph.\nAfter a break.\n\nLists\n\n- one\n- two italic\n\n"
                          "Table\n\nName | Value\npi | 3.14\n\nCode\n\nint main(void) {\n"
                          "    return 0;\n}\n"), "text: [%s]", t);
    int code = 0, table = 0;
    for (size_t i = 0; i < d->n_secs; i++) {
        char *x = ti_sec(d, i);
        if (d->secs[i].kind == KEN_SEC_CODE) {
            code++;
            CHECK_EQ_STR(d->secs[i].heading, "Main & Only Title > Code");
            CHECK_EQ_STR(x, "int main(void) {\n    return 0;\n}");
        }
        if (ti_contains(x, "pi | 3.14")) {
            table++;
            CHECK_EQ_STR(d->secs[i].heading, "Main & Only Title > Lists > Table");
            CHECK_EQ_INT(d->secs[i].level, 3);
        }
        free(x);
    }
    CHECK_EQ_INT(code, 1);
    CHECK_EQ_INT(table, 1);
    /* chunks carry the heading path and the heading line */
    ken_ichunk *c;
    size_t nc;
    ken_chunk_opts o = {8, 0, 0};
    REQUIRE(ken_chunk_doc(d, &o, &c, &nc) == KEN_OK);
    CHECK_EQ_INT(ti_check_chunks(d, c, nc, 8192), 0);
    int saw = 0;
    for (size_t i = 0; i < nc; i++)
        if (strncmp(t + c[i].start, "Table\n\nName | Value", 19) == 0) {
            saw++;
            CHECK_EQ_STR(c[i].heading, "Main & Only Title > Lists > Table");
        }
    CHECK_EQ_INT(saw, 1);
    free(c);
    ti_free(&r);
}

static void test_charsets_and_titles(void) {
    ti_result r;
    ken_err e;
    /* Latin-1 declared in a meta tag; no <title>: the first h1 is the title */
    const char *l1 = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; "
                     "charset=iso-8859-1\"></head><body><h1>Caf\xE9</h1><p>cr\xE8me</p></body></html>";
    CHECK_EQ_INT(ti_parse_str("l1.html", l1, &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 1);
    CHECK_EQ_STR(r.docs[0].title, "Caf\xC3\xA9");
    CHECKF(ti_contains(r.docs[0].text.data, "cr\xC3\xA8me"), "%s", r.docs[0].text.data);
    ti_free(&r);
    /* damaged UTF-8 (a stray byte), with and without a meta charset: still
     * UTF-8 (libxml2 alone would read the rest of the page as Latin-1) */
    const char *bad[] = {"<html><body><h1>K\xC3\xB6ln</h1><p>sch\xC3\xB6n \xFF caf\xC3\xA9</p></body></html>",
                         "<html><head><meta charset=\"utf-8\"></head><body><h1>K\xC3\xB6ln</h1>"
                         "<p>sch\xC3\xB6n \xFF caf\xC3\xA9</p></body></html>"};
    for (size_t k = 0; k < 2; k++) {
        CHECK_EQ_INT(ti_parse_str("bad.html", bad[k], &r, &e), KEN_OK);
        REQUIRE(r.n_docs == 1);
        CHECK_EQ_STR(r.docs[0].text.data, "K\xC3\xB6ln\n\nsch\xC3\xB6n \xEF\xBF\xBD caf\xC3\xA9\n");
        CHECK_EQ_INT(r.n_warn, 1);
        if (r.n_warn) CHECKF(ti_contains(r.warn[0], "invalid UTF-8: 1 byte(s)"), "%s", r.warn[0]);
        ti_free(&r);
    }
    /* broken markup: unclosed tags, stray closers, a fragment without html/body */
    CHECK_EQ_INT(ti_parse_str("frag.htm", "<p>one<p>two</b></i><div>three", &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 1);
    CHECK_EQ_STR(r.docs[0].text.data, "one\n\ntwo\n\nthree\n");
    CHECK(r.docs[0].title == NULL);
    ti_free(&r);
    /* only furniture: no text */
    CHECK_EQ_INT(ti_parse_str("empty.html", "<html><script>x()</script><nav>menu</nav></html>", &r, &e),
                 KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "no text"), "%s", e.msg);
    ti_free(&r);
}

static void test_deep_html(void) {
    size_t depth = 100000;
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_buf_puts(&b, "<html><body><p>before</p>");
    for (size_t i = 0; i < depth; i++) ken_buf_puts(&b, i % 2 ? "<div>" : "<span>");
    ken_buf_puts(&b, "deep text");
    for (size_t i = depth; i-- > 0;) ken_buf_puts(&b, i % 2 ? "</div>" : "</span>");
    ken_buf_puts(&b, "<p>after</p></body></html>");
    ti_result r;
    ken_err e;
    /* read whole, iteratively: the deepest text and what follows are there */
    CHECKF(ti_parse("deep.html", b.data, b.len, NULL, &r, &e) == KEN_OK, "%s", e.msg);
    CHECK_EQ_INT(r.n_docs, 1);
    if (r.n_docs == 1)
        CHECKF(ti_contains(r.docs[0].text.data, "before\n\ndeep text\n\nafter\n"), "%.200s",
               r.docs[0].text.data);
    CHECK_EQ_INT(r.n_warn, 0);
    ti_free(&r);
    /* unclosed nesting to the end of the file */
    ken_buf_reset(&b);
    for (size_t i = 0; i < depth; i++) ken_buf_puts(&b, "<div><b>");
    ken_buf_puts(&b, "x");
    CHECK_EQ_INT(ti_parse("open.html", b.data, b.len, NULL, &r, &e), KEN_OK);
    CHECK(r.n_docs == 1 && strcmp(r.docs[0].text.data, "x\n") == 0);
    ti_free(&r);
    ken_buf_free(&b);
}

TEST_MAIN(test_page, test_charsets_and_titles, test_deep_html)
