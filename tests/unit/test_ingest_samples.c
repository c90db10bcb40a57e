/* test_ingest_samples.c: the whole path on the sample files in
 * tests/data/ingest: walk (its .kenignore) -> read -> detect -> parse ->
 * chunk, with the span invariants checked on every chunk and a few facts
 * checked per file. */
#include "test_ingest_util.h"

typedef struct {
    char files[2048];
    int docs, chunks, warns;
    int seen_configure, seen_store, seen_json;
} run;

static char *chunk_str(const ken_idoc *d, const ken_ichunk *c) {
    return strndup(d->text.data + c->start, (size_t)(c->end - c->start));
}

static void look(run *r, const ken_idoc *d) {
    ken_chunk_opts o = {40, 8, 0};
    ken_ichunk *c;
    size_t n;
    REQUIRE(ken_chunk_doc(d, &o, &c, &n) == KEN_OK);
    CHECK(n > 0);
    CHECK_EQ_INT(ti_check_chunks(d, c, n, 8192), 0);
    r->chunks += (int)n;
    for (size_t i = 0; i < n; i++) {
        char *t = chunk_str(d, &c[i]);
        if (ti_contains(t, "./configure")) {
            r->seen_configure++;
            CHECK_EQ_STR(c[i].heading, "Ken Field Guide > Installation");
        }
        if (ti_contains(t, "single SQLite file")) {
            r->seen_store++;
            CHECK_EQ_STR(c[i].heading, "Ken Field Guide > Configuration > Store");
            CHECKF(strncmp(t, "Configuration\n\nStore\n\nThe store", 31) == 0, "%s", t);
        }
        if (ti_contains(t, "powerhouse")) {
            r->seen_json++;
            CHECK_EQ_STR(c[i].heading, "Mitochondria");
        }
        free(t);
    }
    free(c);
}

static int on_file(void *ud, const char *path) {
    run *r = ud;
    const char *bn = strrchr(path, '/');
    bn = bn ? bn + 1 : path;
    size_t l = strlen(r->files);
    snprintf(r->files + l, sizeof r->files - l, "%s;", bn);
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_err e;
    if (ken_file_read(path, 1 << 20, &b, &e) != KEN_OK) {
        CHECKF(0, "%s: %s", path, e.msg);
        return 0;
    }
    ti_result res;
    ken_status st = ti_parse(path, b.data, b.len, NULL, &res, &e);
    CHECKF(st == KEN_OK, "%s: %s", path, e.msg);
    r->docs += res.n_docs;
    r->warns += res.n_warn;
    for (int i = 0; i < res.n_docs && i < TI_DOCS_MAX; i++) {
        ken_idoc *d = &res.docs[i];
        CHECK(ken_utf8_valid(d->text.data, d->text.len));
        CHECK(!ti_contains(d->text.data, "\r"));
        if (strcmp(bn, "guide.md") == 0) {
            CHECK_EQ_STR(d->title, "Ken Field Guide");
            CHECK(!ti_contains(d->text.data, "```"));
        }
        if (strcmp(bn, "tool.py") == 0) {
            CHECK_EQ_STR(d->mime, "text/x-python");
            CHECK_EQ_STR(d->text.data, b.data);     /* verbatim */
        }
        if (strcmp(bn, "notes.txt") == 0) CHECK(ti_contains(d->text.data, "plan. Mr. Brown"));
        look(r, d);
    }
    ti_free(&res);
    ken_buf_free(&b);
    return 0;
}

static void test_samples(void) {
    const char *src = getenv("KEN_SRC");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/ingest", src ? src : "..");
    run r;
    memset(&r, 0, sizeof r);
    ken_err e;
    REQUIRE(ken_walk(dir, on_file, &r, NULL, NULL, &e) == KEN_OK);
    CHECK_EQ_STR(r.files, "corpus.jsonl;guide.md;notes.txt;page.html;tool.py;");
    CHECK_EQ_INT(r.docs, 5 + 1 + 1 + 1 + 1);          /* doc5 of the corpus is broken */
    CHECK_EQ_INT(r.warns, 1);
    CHECK_EQ_INT(r.seen_configure, 1);
    CHECK_EQ_INT(r.seen_store, 1);
    CHECK_EQ_INT(r.seen_json, 1);
    CHECK(r.chunks >= r.docs);
}

TEST_MAIN(test_samples)
