/* test_ingest.c: type detection, plain text, source code and Markdown
 * parsing, gzip, and bad input (binary named .txt, invalid UTF-8, empty). */
#include "test_ingest_util.h"

#include <pthread.h>
#include <zlib.h>

static void test_detect(void) {
    ken_err e;
    CHECK_EQ_STR(ken_ingest_detect("a.txt", "hello\n", 6, &e), "text/plain");
    CHECK_EQ_STR(ken_ingest_detect("dir/README.MD", "# hi\n", 5, &e), "text/markdown");
    CHECK_EQ_STR(ken_ingest_detect("x.c", "int x;\n", 7, &e), "text/x-c");
    CHECK_EQ_STR(ken_ingest_detect("x.py", "pass\n", 5, &e), "text/x-python");
    CHECK_EQ_STR(ken_ingest_detect("Makefile", "all:\n", 5, &e), "text/x-makefile");
    CHECK_EQ_STR(ken_ingest_detect("c.jsonl", "{}\n", 3, &e), "application/x-ndjson");
    CHECK_EQ_STR(ken_ingest_detect("p.html", "<p>x</p>", 8, &e), "text/html");
    /* unknown extension: content decides */
    const char *html = "<!DOCTYPE html>\n<html><head><title>t</title></head><body>x</body></html>\n";
    CHECK_EQ_STR(ken_ingest_detect("page.unknown", html, strlen(html), &e), "text/html");
    const char *txt = "Just some words in a file without an extension.\n";
    CHECK_EQ_STR(ken_ingest_detect("NOTES", txt, strlen(txt), &e), "text/plain");
    CHECK_EQ_STR(ken_ingest_detect("doc.bin", "%PDF-1.4\n", 9, &e), "application/pdf");
    /* a binary file named .txt is refused, with the reason */
    unsigned char elf[64] = {0x7F, 'E', 'L', 'F', 2, 1, 1, 0};
    ken_err_clear(&e);
    CHECK(ken_ingest_detect("prog.txt", elf, sizeof elf, &e) == NULL);
    CHECKF(ti_contains(e.msg, "binary"), "msg: %s", e.msg);
    ken_err_clear(&e);
    CHECK(ken_ingest_detect("x.pdf", "hello world\n", 12, &e) == NULL);
    CHECKF(ti_contains(e.msg, "not PDF"), "msg: %s", e.msg);
    ken_err_clear(&e);
    CHECK(ken_ingest_detect("empty.txt", "", 0, &e) == NULL);
    CHECKF(ti_contains(e.msg, "empty"), "msg: %s", e.msg);
    ken_err_clear(&e);
    unsigned char zip[32] = {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0};
    CHECK(ken_ingest_detect("archive", zip, sizeof zip, &e) == NULL);
    CHECKF(ti_contains(e.msg, "unsupported"), "msg: %s", e.msg);
}

static void test_plain_text(void) {
    ti_result r;
    ken_err e;
    /* CRLF -> LF, NFD -> NFC (e + combining acute -> é), BOM dropped */
    const char *in = "\xEF\xBB\xBFLine one.\r\nCafe\xCC\x81 two.\r\n";
    CHECK_EQ_INT(ti_parse_str("a.txt", in, &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 1);
    ken_idoc *d = &r.docs[0];
    CHECK_EQ_STR(d->text.data, "Line one.\nCaf\xC3\xA9 two.\n");
    CHECK_EQ_STR(d->mime, "text/plain");
    CHECK_EQ_INT(d->n_secs, 1);
    CHECK_EQ_INT(d->secs[0].kind, KEN_SEC_PROSE);
    ti_free(&r);
    /* Latin-1 bytes (invalid UTF-8) are read as Latin-1, not refused */
    CHECK_EQ_INT(ti_parse_str("l1.txt", "caf\xE9 cr\xE8me\n", &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 1);
    CHECK_EQ_STR(r.docs[0].text.data, "caf\xC3\xA9 cr\xC3\xA8me\n");
    ti_free(&r);
    /* UTF-16LE with BOM */
    const char u16[] = "\xFF\xFEH\0i\0\n\0";
    CHECK_EQ_INT(ti_parse("w.txt", u16, sizeof u16 - 1, NULL, &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 1);
    CHECK_EQ_STR(r.docs[0].text.data, "Hi\n");
    ti_free(&r);
}

static void test_bad_text(void) {
    ti_result r;
    ken_err e;
    CHECK_EQ_INT(ti_parse("empty.txt", "", 0, NULL, &r, &e), KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "empty"), "msg: %s", e.msg);
    CHECK_EQ_INT(r.n_docs, 0);
    unsigned char bin[4096];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (unsigned char)(i * 7);
    CHECK_EQ_INT(ti_parse("data.txt", bin, sizeof bin, NULL, &r, &e), KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "binary"), "msg: %s", e.msg);
    CHECK_EQ_INT(r.n_docs, 0);
    CHECK_EQ_INT(ti_parse_str("blank.txt", "  \n\n \t\n", &r, &e), KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "no text"), "msg: %s", e.msg);
    /* damaged UTF-8 (a stray byte, a cut last character) in text and
     * Markdown: kept as UTF-8 with U+FFFD, and reported */
    const char *names[] = {"cut.txt", "cut.md"};
    for (size_t k = 0; k < 2; k++) {
        CHECK_EQ_INT(ti_parse_str(names[k], "Sch\xC3\xB6n \xFF in K\xC3\xB6ln, caf\xC3\xA9 \xE2\x82", &r,
                                  &e), KEN_OK);
        REQUIRE(r.n_docs == 1);
        const char *want = "Sch\xC3\xB6n \xEF\xBF\xBD in K\xC3\xB6ln, caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD";
        CHECK(strncmp(r.docs[0].text.data, want, strlen(want)) == 0);   /* .md: + "\n" */
        CHECK_EQ_INT(r.n_warn, 1);
        if (r.n_warn) CHECKF(ti_contains(r.warn[0], "invalid UTF-8: 3 byte(s) replaced"), "%s", r.warn[0]);
        ti_free(&r);
    }
    /* a size limit */
    ken_parse_opts o = {0};
    o.bytes_max = 4;
    CHECK_EQ_INT(ti_parse("big.txt", "hello world", 11, &o, &r, &e), KEN_ERR_LIMIT);
    ti_free(&r);
}

static void test_code(void) {
    ti_result r;
    ken_err e;
    const char *src = "#include <stdio.h>\n\nint main(void) {\n    return 0;\n}\n";
    CHECK_EQ_INT(ti_parse_str("m.c", src, &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 1);
    CHECK_EQ_STR(r.docs[0].text.data, src);        /* verbatim */
    CHECK_EQ_STR(r.docs[0].mime, "text/x-c");
    REQUIRE(r.docs[0].n_secs == 1);
    CHECK_EQ_INT(r.docs[0].secs[0].kind, KEN_SEC_CODE);
    ti_free(&r);
}

static const char MD[] =
    "---\ntitle: \"Front Title\"\nauthor: x\n---\n"
    "# Guide\n\nIntro with *emphasis*, a [link](http://x.org) and `code`.\nSecond line &amp; more.\n\n"
    "## Install\n\n- first item\n- second item\n  - nested\n\n1. one\n2. two\n\n"
    "```sh\nmake\nmake install\n```\n\n"
    "## Use\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "<div class=\"note\">\nKept <b>html</b> text.\n<script>\nvar hidden = 1;\n</script>\n"
    "<STYLE>p { color: red }</STYLE>\n</div>\n\n### Deep\n\nDeep text.\n";

static void test_markdown(void) {
    ti_result r;
    ken_err e;
    CHECK_EQ_INT(ti_parse_str("g.md", MD, &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 1);
    ken_idoc *d = &r.docs[0];
    const char *t = d->text.data;
    CHECK_EQ_STR(d->title, "Front Title");
    CHECK_EQ_STR(d->mime, "text/markdown");
    CHECKF(ti_contains(t, "Guide\n\nIntro with emphasis, a link and code. Second line & more.\n\nInstall"),
           "text: %s", t ? t : "(null)");
    CHECKF(ti_contains(t, "- first item\n- second item\n  - nested\n"), "text: %s", t ? t : "(null)");
    CHECKF(ti_contains(t, "1. one\n2. two\n"), "text: %s", t ? t : "(null)");
    CHECKF(ti_contains(t, "make\nmake install\n"), "text: %s", t ? t : "(null)");
    CHECKF(ti_contains(t, "a | b\n1 | 2"), "text: %s", t ? t : "(null)");
    CHECK(!ti_contains(t, "author"));
    CHECKF(ti_contains(t, "Kept html text."), "text: %s", t ? t : "(null)");
    CHECK(!ti_contains(t, "hidden") && !ti_contains(t, "color") && !ti_contains(t, "<"));
    CHECK(!ti_contains(t, "http://"));
    CHECK(!ti_contains(t, "```"));
    /* sections: headings with paths, code as its own kind */
    int saw_code = 0, saw_deep = 0, saw_head = 0;
    for (size_t i = 0; i < d->n_secs; i++) {
        ken_section *s = &d->secs[i];
        char *x = ti_sec(d, i);
        if (s->kind == KEN_SEC_CODE) {
            saw_code++;
            CHECK_EQ_STR(s->heading, "Guide > Install");
            CHECKF(ti_contains(x, "make install"), "code: %s", x);
        }
        if (s->kind == KEN_SEC_HEADING && strcmp(x, "Deep") == 0) {
            saw_head++;
            CHECK_EQ_STR(s->heading, "Guide > Use > Deep");
            CHECK_EQ_INT(s->level, 3);
        }
        if (s->kind == KEN_SEC_PROSE && ti_contains(x, "Deep text.")) {
            saw_deep++;
            CHECK_EQ_STR(s->heading, "Guide > Use > Deep");
        }
        if (i) CHECK(s->start >= d->secs[i - 1].end);
        free(x);
    }
    CHECK_EQ_INT(saw_code, 1);
    CHECK_EQ_INT(saw_deep, 1);
    CHECK_EQ_INT(saw_head, 1);
    ti_free(&r);
    /* without front matter the first H1 is the title */
    CHECK_EQ_INT(ti_parse_str("t.md", "Some text\n\nTitle\n=====\n\nbody\n", &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 1);
    CHECK_EQ_STR(r.docs[0].title, "Title");
    ti_free(&r);
}

static void test_markdown_hostile(void) {
    ti_result r;
    ken_err e;
    /* 100k nested block quotes and list items, and unclosed brackets */
    size_t n = 100000;
    char *s = malloc(3 * n + 16);
    REQUIRE(s);
    memset(s, '>', n);
    memcpy(s + n, " deep\n", 7);
    CHECK_EQ_INT(ti_parse("q.md", s, n + 6, NULL, &r, &e), KEN_OK);
    CHECK_EQ_INT(r.n_docs, 1);
    ti_free(&r);
    for (size_t i = 0; i < n; i++) s[i] = "[*_`"[i % 4];
    CHECK_EQ_INT(ti_parse("b.md", s, n, NULL, &r, &e), KEN_OK);
    ti_free(&r);
    free(s);
}

/* Regression (found by fuzz_ingest): trailing tabs trimmed after a section
 * had been closed made the next section start inside the previous one. */
static void test_markdown_trim_regression(void) {
    static const char s[] =
        "--...itle: T\x0a---\x0a# H1\x0a\x0aIntro *em* [l](u)\x17`c` &amp; &#x41;.\x0a\x0a## H2"
        "\x0a\x0a- a\x0a- b\x0a  1. c\x0a\x0a`&amp; \xab&#x4\x09\x09\x09\x09\x09\x09\x09\x09\x09"
        "\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09"
        "\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x0c\x0c\x0c"
        "\x0c\x0c\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09| 1 "
        "iv>\x0a\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09"
        "\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09"
        "\x09\x09\x09| 1 iv>\x0a";
    ti_result r;
    ken_err e;
    CHECK_EQ_INT(ti_parse("r.md", s, sizeof s - 1, NULL, &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 1);
    ken_idoc *d = &r.docs[0];
    for (size_t i = 0; i < d->n_secs; i++) {
        CHECK(d->secs[i].start < d->secs[i].end && d->secs[i].end <= (int64_t)d->text.len);
        if (i) CHECKF(d->secs[i].start >= d->secs[i - 1].end, "section %zu overlaps", i);
    }
    ti_free(&r);
}

static void test_gzip(void) {
    const char *txt = "# Zipped\n\nInside a gzip stream.\n";
    unsigned char gz[256];
    z_stream z;
    memset(&z, 0, sizeof z);
    REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = (unsigned char *)txt;
    z.avail_in = (uInt)strlen(txt);
    z.next_out = gz;
    z.avail_out = sizeof gz;
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    size_t gn = sizeof gz - z.avail_out;
    deflateEnd(&z);
    ken_err e;
    CHECK_EQ_STR(ken_ingest_detect("notes.md.gz", gz, gn, &e), "text/markdown");
    ti_result r;
    CHECK_EQ_INT(ti_parse("notes.md.gz", gz, gn, NULL, &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 1);
    CHECK_EQ_STR(r.docs[0].title, "Zipped");
    ti_free(&r);
    /* two members, then one stray byte: both members are read, the byte ignored */
    unsigned char two[600];
    REQUIRE(2 * gn + 1 <= sizeof two);
    memcpy(two, gz, gn);
    memcpy(two + gn, gz, gn);
    two[2 * gn] = '\n';
    CHECK_EQ_INT(ti_parse("two.md.gz", two, 2 * gn + 1, NULL, &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 1);
    CHECKF(strstr(strstr(r.docs[0].text.data, "gzip stream.") + 1, "gzip stream.") != NULL, "%s",
           r.docs[0].text.data);
    ti_free(&r);
    /* cut right after the header: detection says so too */
    ken_err_clear(&e);
    CHECK(ken_ingest_detect("notes.md.gz", gz, 10, &e) == NULL);
    CHECKF(ti_contains(e.msg, "truncated"), "msg: %s", e.msg);
    /* truncated stream */
    CHECK_EQ_INT(ti_parse("notes.md.gz", gz, gn - 12, NULL, &r, &e), KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "gzip"), "msg: %s", e.msg);
    ti_free(&r);
    /* a bomb: 64 MiB of zeros compress to ~64 KiB; the limit stops it */
    size_t big = 64u << 20;
    unsigned char *zeros = calloc(1, 1 << 20);
    unsigned char *out = malloc(1 << 20);
    REQUIRE(zeros && out);
    memset(&z, 0, sizeof z);
    REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_out = out;
    z.avail_out = 1 << 20;
    for (size_t done = 0; done < big; done += 1 << 20) {
        memset(zeros, 'a', 1 << 20);
        z.next_in = zeros;
        z.avail_in = 1 << 20;
        REQUIRE(deflate(&z, done + (1 << 20) >= big ? Z_FINISH : Z_NO_FLUSH) != Z_STREAM_ERROR);
    }
    size_t on = (1u << 20) - z.avail_out;
    deflateEnd(&z);
    ken_parse_opts o = {0};
    o.bytes_max = 1 << 20;
    CHECK_EQ_INT(ti_parse("bomb.txt.gz", out, on, &o, &r, &e), KEN_ERR_LIMIT);
    CHECKF(ti_contains(e.msg, "exceeds"), "msg: %s", e.msg);
    ti_free(&r);
    free(zeros);
    free(out);
}

/* Detection (libmagic behind a lock), Markdown and HTML from several threads
 * at once: the one-time initializations and shared handles must hold. */
static void *parse_many(void *arg) {
    long *bad = arg;
    const char *noext = "Some words in a file that has no extension at all.\n";
    const char *html = "<html><head><title>T</title></head><body><h1>A</h1><p>x y z</p></body></html>";
    for (int i = 0; i < 30; i++) {
        ken_err e;
        ti_result r;
        const char *m = ken_ingest_detect("README", noext, strlen(noext), &e);
        if (!m || strcmp(m, "text/plain") != 0) (*bad)++;
        if (ti_parse_str("p.html", html, &r, &e) != KEN_OK || r.n_docs != 1) (*bad)++;
        ti_free(&r);
        if (ti_parse_str("m.md", MD, &r, &e) != KEN_OK || r.n_docs != 1) (*bad)++;
        ti_free(&r);
    }
    return NULL;
}

static void test_threads(void) {
    pthread_t t[4];
    long bad[4] = {0};
    for (int i = 0; i < 4; i++) REQUIRE(pthread_create(&t[i], NULL, parse_many, &bad[i]) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(bad[i], 0);
    }
}

TEST_MAIN(test_detect, test_plain_text, test_bad_text, test_code, test_markdown,
          test_markdown_hostile, test_markdown_trim_regression, test_gzip,
          test_threads)
