/* test_ingest_pdf.c: PDF through poppler on PDFs written here by hand (with
 * a correct xref table): pages as sections, title from the metadata; then
 * truncated, corrupt, encrypted and text-less files, all refused with a
 * message and without a word on stderr. */
#include "test_ingest_util.h"

#include <fcntl.h>
#include <unistd.h>

/* Writes a PDF with n pages (text per page; "" for an empty page), an Info
 * title, and optionally a Standard /Encrypt dictionary whose password is
 * not empty. */
static void make_pdf(ken_buf *b, const char *const *pages, int n, const char *title, bool encrypt,
                     bool outline) {
    long off[64];
    int obj = 0;
    ken_buf_reset(b);
    ken_buf_puts(b, "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
    off[++obj] = (long)b->len;
    int ol = 5 + 2 * n;              /* outline objects follow the Info object */
    if (outline)
        ken_buf_printf(b, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R /Outlines %d 0 R >>\nendobj\n", ol);
    else
        ken_buf_printf(b, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    off[++obj] = (long)b->len;
    ken_buf_puts(b, "2 0 obj\n<< /Type /Pages /Kids [");
    for (int i = 0; i < n; i++) ken_buf_printf(b, "%d 0 R ", 4 + 2 * i);
    ken_buf_printf(b, "] /Count %d >>\nendobj\n", n);
    off[++obj] = (long)b->len;
    ken_buf_puts(b, "3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                    "/Encoding /WinAnsiEncoding >>\nendobj\n");
    for (int i = 0; i < n; i++) {
        off[++obj] = (long)b->len;
        ken_buf_printf(b, "%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                          "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>\nendobj\n",
                       obj, obj + 1);
        ken_buf content;
        ken_buf_init(&content, 0);
        ken_buf_puts(&content, "BT /F1 12 Tf 14 TL 72 720 Td");
        /* one Tj per line of the page text */
        const char *s = pages[i];
        while (*s) {
            const char *nl = strchr(s, '\n');
            size_t l = nl ? (size_t)(nl - s) : strlen(s);
            ken_buf_printf(&content, " (%.*s) Tj T*", (int)l, s);
            s += l + (nl ? 1 : 0);
        }
        ken_buf_puts(&content, " ET\n");
        off[++obj] = (long)b->len;
        ken_buf_printf(b, "%d 0 obj\n<< /Length %zu >>\nstream\n%sendstream\nendobj\n", obj,
                       content.len, content.data);
        ken_buf_free(&content);
    }
    off[++obj] = (long)b->len;
    int info = obj;
    ken_buf_printf(b, "%d 0 obj\n<< /Title (%s) /Producer (ken test) >>\nendobj\n", info, title);
    if (outline) {
        /* Intro -> page 1; Part Two -> page 3, with child Details -> page 3 */
        int p1 = 4, p3 = 4 + 2 * (n - 1);
        off[++obj] = (long)b->len;
        ken_buf_printf(b, "%d 0 obj\n<< /Type /Outlines /First %d 0 R /Last %d 0 R /Count 3 >>\nendobj\n",
                       ol, ol + 1, ol + 2);
        off[++obj] = (long)b->len;
        ken_buf_printf(b, "%d 0 obj\n<< /Title (Intro) /Parent %d 0 R /Next %d 0 R /Dest [%d 0 R /Fit] >>"
                          "\nendobj\n", ol + 1, ol, ol + 2, p1);
        off[++obj] = (long)b->len;
        ken_buf_printf(b, "%d 0 obj\n<< /Title (Part Two) /Parent %d 0 R /Prev %d 0 R /First %d 0 R "
                          "/Last %d 0 R /Count 1 /Dest [%d 0 R /Fit] >>\nendobj\n",
                       ol + 2, ol, ol + 1, ol + 3, ol + 3, p3);
        off[++obj] = (long)b->len;
        ken_buf_printf(b, "%d 0 obj\n<< /Title (Details) /Parent %d 0 R /Dest [%d 0 R /Fit] >>\nendobj\n",
                       ol + 3, ol + 2, p3);
    }
    int enc = 0;
    if (encrypt) {
        off[++obj] = (long)b->len;
        enc = obj;
        ken_buf_printf(b, "%d 0 obj\n<< /Filter /Standard /V 1 /R 2 /P -44 "
                          "/O <%s> /U <%s> >>\nendobj\n", enc,
                       "6c3e2ad5a1f7c40b9d8e2f10a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6",
                       "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9");
    }
    long xref = (long)b->len;
    ken_buf_printf(b, "xref\n0 %d\n0000000000 65535 f \n", obj + 1);
    for (int i = 1; i <= obj; i++) ken_buf_printf(b, "%010ld 00000 n \n", off[i]);
    ken_buf_printf(b, "trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R", obj + 1, info);
    if (encrypt)
        ken_buf_printf(b, " /Encrypt %d 0 R /ID [<00112233445566778899aabbccddeeff>"
                          "<00112233445566778899aabbccddeeff>]", enc);
    ken_buf_printf(b, " >>\nstartxref\n%ld\n%%%%EOF\n", xref);
}

/* Runs a parse with stderr captured; returns how many bytes were written. */
static long parse_quiet(const char *name, const ken_buf *b, size_t len, ti_result *r, ken_err *e,
                        ken_status *st) {
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    if (saved < 0 || !tmp) {
        *st = ti_parse(name, b->data, len, NULL, r, e);
        return 0;
    }
    dup2(fileno(tmp), 2);
    *st = ti_parse(name, b->data, len, NULL, r, e);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(tmp);
    fseek(tmp, 0, SEEK_END);
    n = ftell(tmp);
    fclose(tmp);
    return n;
}

static void test_pages(void) {
    ken_buf b;
    ken_buf_init(&b, 0);
    const char *pages[] = {"Hello from page one.\nIt has two lines.", "",
                           "Page three talks about poppler."};
    make_pdf(&b, pages, 3, "Hand Made PDF", false, false);
    ken_err e;
    CHECK_EQ_STR(ken_ingest_detect("doc.pdf", b.data, b.len, &e), "application/pdf");
    ti_result r;
    ken_status st;
    long noise = parse_quiet("doc.pdf", &b, b.len, &r, &e, &st);
    CHECKF(st == KEN_OK, "%s", e.msg);
    CHECK_EQ_INT(noise, 0);
    REQUIRE(r.n_docs == 1);
    ken_idoc *d = &r.docs[0];
    CHECK_EQ_STR(d->title, "Hand Made PDF");
    CHECK_EQ_STR(d->mime, "application/pdf");
    REQUIRE(d->n_secs == 2);                      /* the empty page has no section */
    CHECK_EQ_INT(d->secs[0].page, 1);
    CHECK_EQ_INT(d->secs[1].page, 3);
    char *p1 = ti_sec(d, 0), *p3 = ti_sec(d, 1);
    CHECK_EQ_STR(p1, "Hello from page one.\nIt has two lines.");
    CHECK_EQ_STR(p3, "Page three talks about poppler.");
    free(p1);
    free(p3);
    ken_ichunk *c;
    size_t nc;
    ken_chunk_opts o = {4, 0, 0};
    REQUIRE(ken_chunk_doc(d, &o, &c, &nc) == KEN_OK);
    CHECK_EQ_INT(ti_check_chunks(d, c, nc, 8192), 0);
    CHECK(nc >= 3);
    CHECK_EQ_INT(c[0].page, 1);
    CHECK_EQ_INT(c[nc - 1].page, 3);
    free(c);
    ti_free(&r);
    ken_buf_free(&b);
}

static void test_bad_pdfs(void) {
    ken_buf b;
    ken_buf_init(&b, 0);
    const char *pages[] = {"Some words on the only page."};
    make_pdf(&b, pages, 1, "T", false, false);
    ti_result r;
    ken_err e;
    ken_status st;
    /* truncated at many points: refused or partly read, never a crash, never stderr */
    int refused = 0;
    for (size_t cut = 9; cut < b.len; cut += 13) {
        long noise = parse_quiet("t.pdf", &b, cut, &r, &e, &st);
        CHECKF(st == KEN_OK || st == KEN_ERR_FORMAT, "cut %zu: %d", cut, st);
        CHECKF(noise == 0, "cut %zu: %ld bytes on stderr", cut, noise);
        if (st) {
            refused++;
            CHECKF(ti_contains(e.msg, "PDF"), "cut %zu: %s", cut, e.msg);
        }
        ti_free(&r);
    }
    CHECK(refused > 0);
    /* the header alone */
    ken_buf_reset(&b);
    ken_buf_puts(&b, "%PDF-1.7\n");
    CHECK(parse_quiet("h.pdf", &b, b.len, &r, &e, &st) == 0);
    CHECK_EQ_INT(st, KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "corrupt or truncated"), "%s", e.msg);
    ti_free(&r);
    /* corrupt: garbage after a header */
    ken_buf_reset(&b);
    ken_buf_puts(&b, "%PDF-1.4\n");
    for (int i = 0; i < 2000; i++) ken_buf_putc(&b, (char)(i * 131 + 7));
    CHECK(parse_quiet("c.pdf", &b, b.len, &r, &e, &st) == 0);
    CHECK_EQ_INT(st, KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "PDF"), "%s", e.msg);
    ti_free(&r);
    /* encrypted with a password */
    make_pdf(&b, pages, 1, "Secret", true, false);
    CHECK(parse_quiet("e.pdf", &b, b.len, &r, &e, &st) == 0);
    CHECK_EQ_INT(st, KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "encrypted"), "%s", e.msg);
    ti_free(&r);
    /* pages without text */
    const char *blank[] = {"", ""};
    make_pdf(&b, blank, 2, "Scan", false, false);
    CHECK(parse_quiet("s.pdf", &b, b.len, &r, &e, &st) == 0);
    CHECK_EQ_INT(st, KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "no text layer"), "%s", e.msg);
    ti_free(&r);
    ken_buf_free(&b);
}

static void test_outline(void) {
    ken_buf b;
    ken_buf_init(&b, 0);
    const char *pages[] = {"Intro page.", "Still the intro.", "The second part, in detail."};
    make_pdf(&b, pages, 3, "Book", false, true);
    ti_result r;
    ken_err e;
    ken_status st;
    CHECK(parse_quiet("book.pdf", &b, b.len, &r, &e, &st) == 0);
    CHECKF(st == KEN_OK, "%s", e.msg);
    REQUIRE(r.n_docs == 1 && r.docs[0].n_secs == 3);
    ken_section *s = r.docs[0].secs;
    CHECK_EQ_STR(s[0].heading, "Intro");
    CHECK_EQ_STR(s[1].heading, "Intro");
    CHECK_EQ_STR(s[2].heading, "Part Two > Details");
    CHECK_EQ_INT(s[2].level, 2);
    CHECK_EQ_INT(s[2].page, 3);
    ti_free(&r);
    ken_buf_free(&b);
}

/* Regression (found by fuzz_ingest): an outline without a usable entry made
 * qsort see a NULL array (undefined behaviour; UBSan stops the test). */
static void test_outline_regression(void) {
    const char *src = getenv("KEN_SRC");
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/fuzz/corpus/fuzz_ingest/regress_pdf_empty_outline", src ? src : "..");
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_err e;
    REQUIRE(ken_file_read(p, 1 << 20, &b, &e) == KEN_OK && b.len > 1);
    memmove(b.data, b.data + 1, b.len - 1);      /* the fuzzer's first byte picks the name */
    b.len--;
    ti_result r;
    ken_status st;
    CHECK(parse_quiet("r.pdf", &b, b.len, &r, &e, &st) == 0);
    CHECKF(st == KEN_OK || st == KEN_ERR_FORMAT, "%d %s", st, e.msg);
    ti_free(&r);
    ken_buf_free(&b);
}

TEST_MAIN(test_pages, test_bad_pdfs, test_outline, test_outline_regression)
