/* test_retrieve_query.c: the safe FTS5 query builder. Terms come out as the
 * FTS5 unicode61 tokenizer would cut them; every hostile string (FTS5
 * syntax, stop words only, noise, invalid UTF-8, huge input) gives an
 * expression that a real FTS5 table with the store's tokenizer accepts. */
#include "retrieve/retrieve.h"
#include "test.h"

#include <sqlite3.h>

static void check_terms(const char *text, const char *want) {
    ken_retrieve_query q;
    ken_err err = {{0}};
    REQUIRE(ken_retrieve_query_parse(text, strlen(text), &q, &err) == KEN_OK);
    ken_buf b;
    ken_buf_init(&b, 0);
    for (size_t i = 0; i < q.n; i++) {
        if (i) ken_buf_putc(&b, '|');
        ken_buf_puts(&b, q.term[i]);
    }
    CHECKF(strcmp(b.data ? b.data : "", want) == 0, "'%s' -> '%s', want '%s'", text,
           b.data ? b.data : "", want);
    ken_buf_free(&b);
    ken_retrieve_query_free(&q);
}

static void test_terms(void) {
    check_terms("What is the BM25 ranking function?", "bm25|ranking|function");
    check_terms("Café crème — naïve résumé", "cafe|creme|naive|resume");
    check_terms("ÉCOLE école", "ecole");                   /* repeats dropped */
    check_terms("the of and", "the|of|and");               /* only stop words: kept */
    check_terms("", "");
    check_terms("   \t\n", "");
    check_terms("\"NEAR(a b)\" AND x* OR ^y:z NOT (", "near|b|x|y|z");
    check_terms("3.14 e=mc2", "3|14|e|mc2");
    check_terms("Ελληνικά текст 日本語", "ελληνικα|текст|日本語");
    check_terms("a\xff\xfe" "b \xc3(", "b");   /* invalid bytes are separators; "a" a stop word */
}

static void test_limits(void) {
    /* 100 distinct words: only the first KEN_RETRIEVE_TERMS_MAX stay. */
    ken_buf b;
    ken_buf_init(&b, 0);
    for (int i = 0; i < 100; i++) ken_buf_printf(&b, "w%d ", i);
    ken_retrieve_query q;
    ken_err err = {{0}};
    REQUIRE(ken_retrieve_query_parse(b.data, b.len, &q, &err) == KEN_OK);
    CHECK_EQ_INT(q.n, KEN_RETRIEVE_TERMS_MAX);
    CHECK_EQ_STR(q.term[0], "w0");
    ken_retrieve_query_free(&q);
    /* An over-long word is dropped, the others kept. */
    ken_buf_reset(&b);
    ken_buf_puts(&b, "short ");
    for (int i = 0; i < 500; i++) ken_buf_putc(&b, 'x');
    ken_buf_puts(&b, " word");
    REQUIRE(ken_retrieve_query_parse(b.data, b.len, &q, &err) == KEN_OK);
    CHECK_EQ_INT(q.n, 2);
    ken_retrieve_query_free(&q);
    /* Longer than the limit: a clear usage error. */
    ken_buf_reset(&b);
    for (int i = 0; i < KEN_RETRIEVE_QUERY_BYTES_MAX + 1; i++) ken_buf_putc(&b, 'a');
    CHECK(ken_retrieve_query_parse(b.data, b.len, &q, &err) == KEN_ERR_INVALID);
    CHECK(strstr(err.msg, "too long") != NULL);
    CHECK_EQ_INT(q.n, 0);
    ken_buf_free(&b);
}

static void test_fts_and_rank(void) {
    ken_retrieve_query q;
    ken_err err = {{0}};
    REQUIRE(ken_retrieve_query_parse("alpha beta", 10, &q, &err) == KEN_OK);
    ken_buf b;
    ken_buf_init(&b, 0);
    REQUIRE(ken_retrieve_query_fts(&q, &b) == KEN_OK);
    CHECK_EQ_STR(b.data, "\"alpha\" OR \"beta\"");
    ken_buf_reset(&b);
    q.weight[1] = 0.25;
    REQUIRE(ken_retrieve_query_rank(&q, 0.9, 0.4, &b) == KEN_OK);
    CHECK_EQ_STR(b.data, "ken_bm25(0.9, 0.4, 1, 0.25)");
    ken_buf_reset(&b);
    q.weight[0] = 1e-5;      /* no exponent: FTS5's rank parser refuses it */
    q.weight[1] = 1e-9;
    REQUIRE(ken_retrieve_query_rank(&q, 1.2, 0.75, &b) == KEN_OK);
    CHECK_EQ_STR(b.data, "ken_bm25(1.2, 0.75, 0.00001, 0)");
    ken_buf_free(&b);
    ken_retrieve_query_free(&q);
}

static void test_stem(void) {
    static const char *pairs[][2] = {
        {"running", "run"}, {"runs", "run"}, {"ponies", "pony"}, {"classes", "class"},
        {"making", "mak"}, {"make", "mak"}, {"quickly", "quick"}, {"jumped", "jump"},
        {"bus", "bus"}, {"is", "is"}, {"analysis", "analysis"},
    };
    for (size_t i = 0; i < KEN_ARRAY_LEN(pairs); i++) {
        char out[KEN_RETRIEVE_TERM_BYTES_MAX + 1];
        size_t n = ken_retrieve_stem(pairs[i][0], strlen(pairs[i][0]), out);
        out[n] = '\0';
        CHECK_EQ_STR(out, pairs[i][1]);
    }
}

/* Hostile user text, each run through a real FTS5 table configured like the
 * store's: the built expression must prepare and run without an error. */
static void test_hostile_fts5(void) {
    sqlite3 *db;
    REQUIRE(sqlite3_open(":memory:", &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "CREATE VIRTUAL TABLE t USING fts5(text, heading, title,"
                         " tokenize='porter unicode61 remove_diacritics 2');"
                         "INSERT INTO t VALUES('The quick brown fox near the river', '', 'Fox');"
                         "INSERT INTO t VALUES('and or not the of', 'h', 'Stop');",
                         NULL, NULL, NULL) == SQLITE_OK);
    ken_buf noise;
    ken_buf_init(&noise, 0);
    unsigned x = 12345;
    for (int i = 0; i < 10000; i++) {
        x = x * 1103515245u + 12345u;
        ken_buf_putc(&noise, (char)(x >> 16));   /* every byte value, NULs too */
    }
    struct { const char *s; size_t n; } cases[] = {
        {"\"", 1}, {"\"\"\"", 3}, {"fox*", 4}, {"*", 1}, {"NEAR(fox river)", 15},
        {"NEAR(", 5}, {"AND OR NOT", 10}, {"fox AND", 7}, {"^fox", 4}, {"text:fox", 8},
        {"{text heading}: fox", 19}, {"((fox", 5}, {"fox))", 5}, {"the of and", 10},
        {"-fox +river", 11}, {"fox\0river", 9}, {"\xff\xfe\xfd", 3}, {"\xc3", 1},
        {"'; DROP TABLE t; --", 19}, {"a\"b", 3}, {noise.data, noise.len},
    };
    for (size_t i = 0; i < KEN_ARRAY_LEN(cases); i++) {
        ken_retrieve_query q;
        ken_err err = {{0}};
        REQUIRE(ken_retrieve_query_parse(cases[i].s, cases[i].n, &q, &err) == KEN_OK);
        ken_buf e;
        ken_buf_init(&e, 0);
        REQUIRE(ken_retrieve_query_fts(&q, &e) == KEN_OK);
        if (q.n > 0) {
            sqlite3_stmt *st = NULL;
            int rc = sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY bm25(t)",
                                        -1, &st, NULL);
            REQUIRE(rc == SQLITE_OK);
            sqlite3_bind_text(st, 1, e.data, (int)e.len, SQLITE_STATIC);
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
            CHECKF(rc == SQLITE_DONE, "case %zu: '%s': %s", i, e.data, sqlite3_errmsg(db));
            sqlite3_finalize(st);
        }
        ken_buf_free(&e);
        ken_retrieve_query_free(&q);
    }
    ken_buf_free(&noise);
    sqlite3_close(db);
}

TEST_MAIN(test_terms, test_limits, test_fts_and_rank, test_stem, test_hostile_fts5)
