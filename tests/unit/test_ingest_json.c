/* test_ingest_json.c: JSON and JSONL documents: BEIR fields, other field
 * names, metadata, arrays, broken lines reported with line numbers, gzip,
 * 100k-deep nesting, files with nothing usable. */
#include "test_ingest_util.h"

#include <zlib.h>

static void test_jsonl_beir(void) {
    const char *s =
        "{\"_id\": \"d1\", \"title\": \"First\", \"text\": \"Alpha text.\", \"year\": 2020, \"ok\": true,"
        " \"metadata\": {\"x\": 1}}\n"
        "\n"
        "{\"_id\": 7, \"text\": \"Beta text.\"}\r\n"
        "{\"_id\": \"d3\", \"text\": \"Gamma\" \"oops\"}\n"
        "not json at all\n"
        "[1, 2]\n"
        "{\"_id\": \"d6\", \"title\": \"no text\"}\n"
        "{\"_id\": \"d7\", \"text\": \"   \"}\n"
        "{\"_id\": \"d8\", \"text\": \"Caf\\u0065\\u0301 last.\"}";
    ti_result r;
    ken_err e;
    CHECK_EQ_INT(ti_parse_str("corpus.jsonl", s, &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 3);
    ken_idoc *d = &r.docs[0];
    CHECK_EQ_STR(d->ext_id, "d1");
    CHECK_EQ_STR(d->title, "First");
    CHECK_EQ_STR(d->text.data, "Alpha text.");
    CHECK_EQ_STR(d->meta_json, "{\"year\":2020,\"ok\":true}");
    CHECK_EQ_STR(d->mime, "application/x-ndjson");
    CHECK_EQ_INT(d->line, 1);
    REQUIRE(d->n_secs == 1);
    CHECK_EQ_STR(d->secs[0].heading, "First");
    CHECK_EQ_STR(r.docs[1].ext_id, "7");
    CHECK(r.docs[1].title == NULL && r.docs[1].meta_json == NULL);
    CHECK_EQ_INT(r.docs[1].line, 3);
    CHECK_EQ_STR(r.docs[2].text.data, "Caf\xC3\xA9 last.");       /* NFC */
    CHECK_EQ_INT(r.docs[2].line, 9);
    CHECK_EQ_INT(r.docs[0].item, 1);
    CHECK_EQ_INT(r.docs[1].item, 2);             /* blank lines do not count */
    CHECK_EQ_INT(r.docs[2].item, 8);
    CHECK_EQ_INT(r.n_warn, 5);
    if (r.n_warn == 5) {
        CHECK_EQ_STR(r.warn[0], "line 4: expected ',' or '}' at column 31");
        CHECK_EQ_STR(r.warn[1], "line 5: invalid literal (expected a value) at column 1");
        CHECK_EQ_STR(r.warn[2], "line 6: array, not an object");
        CHECK_EQ_STR(r.warn[3], "line 7: no \"text\" string field");
        CHECKF(ti_contains(r.warn[4], "line 8") && ti_contains(r.warn[4], "no text"), "%s", r.warn[4]);
    }
    ti_free(&r);
    /* every line broken: an error for the file */
    CHECK_EQ_INT(ti_parse_str("bad.jsonl", "{\n}\n{\"a\":\n", &r, &e), KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "no usable line (3 bad)"), "%s", e.msg);
    CHECK_EQ_INT(r.n_warn, 3);
    ti_free(&r);
    /* the callback can stop the file */
    memset(&r, 0, sizeof r);
    r.stop_after = 1;
    ken_err_clear(&e);
    CHECK_EQ_INT(ken_ingest_parse("c.jsonl", s, strlen(s), NULL, ti_doc_cb, &r, ti_warn_cb, &r, &e),
                 KEN_ERR_CANCELLED);
    CHECK_EQ_INT(r.n_docs, 1);
    ti_free(&r);
}

static void test_fields_and_arrays(void) {
    const char *s = "[{\"id\": \"q1\", \"name\": \"N\", \"body\": \"Body one.\", \"score\": 1.50},"
                    " 42, {\"id\": \"q2\", \"body\": \"Body two.\"}]";
    ken_parse_opts o = {0};
    o.json_id_field = "id";
    o.json_title_field = "name";
    o.json_text_field = "body";
    ti_result r;
    ken_err e;
    CHECK_EQ_INT(ti_parse("q.json", s, strlen(s), &o, &r, &e), KEN_OK);
    REQUIRE(r.n_docs == 2);
    CHECK_EQ_STR(r.docs[0].ext_id, "q1");
    CHECK_EQ_STR(r.docs[0].title, "N");
    CHECK_EQ_STR(r.docs[0].text.data, "Body one.");
    CHECK_EQ_STR(r.docs[0].meta_json, "{\"score\":1.50}");
    CHECK_EQ_STR(r.docs[1].ext_id, "q2");
    CHECK_EQ_INT(r.docs[0].item, 1);
    CHECK_EQ_INT(r.docs[1].item, 3);
    CHECK_EQ_INT(r.n_warn, 1);
    if (r.n_warn) CHECK_EQ_STR(r.warn[0], "item 2: number, not an object");
    ti_free(&r);
    /* a single object */
    CHECK_EQ_INT(ti_parse_str("one.json", "{\"title\": \"T\", \"text\": \"Hello.\"}", &r, &e), KEN_OK);
    CHECK_EQ_INT(r.n_docs, 1);
    ti_free(&r);
    /* a config file: an object without text */
    CHECK_EQ_INT(ti_parse_str("package.json", "{\"name\": \"x\", \"version\": \"1\"}", &r, &e),
                 KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "\"text\""), "%s", e.msg);
    ti_free(&r);
    /* syntax error in a .json file: the whole file fails with the position */
    CHECK_EQ_INT(ti_parse_str("x.json", "[{\"text\": \"a\"},\n {\"text\": \"b\",}]", &r, &e),
                 KEN_ERR_FORMAT);
    CHECK_EQ_STR(e.msg, "JSON: expected a string key at line 2, column 15 (byte 30)");
    CHECK_EQ_INT(r.n_docs, 0);
    ti_free(&r);
    CHECK_EQ_INT(ti_parse_str("s.json", "\"just a string\"", &r, &e), KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "top-level string"), "%s", e.msg);
    ti_free(&r);
    /* invalid UTF-8 in a JSON file */
    CHECK_EQ_INT(ti_parse_str("u.json", "{\"text\": \"bad \xC3\x28\"}", &r, &e), KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "UTF-8"), "%s", e.msg);
    ti_free(&r);
}

static void test_deep_json(void) {
    size_t n = 100000;
    char *s = malloc(2 * n + 64);
    REQUIRE(s);
    memset(s, '[', n);
    memset(s + n, ']', n);
    ti_result r;
    ken_err e;
    CHECK_EQ_INT(ti_parse("deep.json", s, 2 * n, NULL, &r, &e), KEN_ERR_FORMAT);
    CHECKF(ti_contains(e.msg, "deeper than 256"), "%s", e.msg);
    ti_free(&r);
    /* as a JSONL line, between good lines */
    const char *good = "{\"text\": \"ok\"}\n";
    size_t k = 0;
    memcpy(s, good, strlen(good));
    k = strlen(good);
    char *t = malloc(k + 2 * n + 64);
    REQUIRE(t);
    memcpy(t, good, k);
    memset(t + k, '{', 1);
    for (size_t i = 0; i < n; i++) t[k + i] = '[';
    memset(t + k + n, ']', n);
    t[k + 2 * n] = '\n';
    memcpy(t + k + 2 * n + 1, good, k);
    CHECK_EQ_INT(ti_parse("deep.jsonl", t, 2 * k + 2 * n + 1, NULL, &r, &e), KEN_OK);
    CHECK_EQ_INT(r.n_docs, 2);
    CHECK_EQ_INT(r.n_warn, 1);
    if (r.n_warn) CHECK_EQ_STR(r.warn[0], "line 2: nesting too deep at column 257");
    ti_free(&r);
    free(s);
    free(t);
}

static void test_jsonl_gz(void) {
    ken_buf b;
    ken_buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        ken_buf_printf(&b, "{\"_id\": \"%d\", \"text\": \"Document number %d.\"}\n", i, i);
    uLongf cap = compressBound(b.len) + 64;
    unsigned char *gz = malloc(cap);
    REQUIRE(gz);
    z_stream z;
    memset(&z, 0, sizeof z);
    REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = (unsigned char *)b.data;
    z.avail_in = (uInt)b.len;
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    size_t gn = cap - z.avail_out;
    deflateEnd(&z);
    ti_result r;
    ken_err e;
    /* detected by magic bytes even without a .gz name */
    CHECK_EQ_INT(ti_parse("corpus.jsonl", gz, gn, NULL, &r, &e), KEN_OK);
    CHECK_EQ_INT(r.n_docs, 1000);
    if (r.n_docs >= 64) CHECK_EQ_STR(r.docs[63].ext_id, "63");
    ti_free(&r);
    free(gz);
    ken_buf_free(&b);
}

TEST_MAIN(test_jsonl_beir, test_fields_and_arrays, test_deep_json, test_jsonl_gz)
