/* test_base_json.c: the strict JSON parser: values, escapes, surrogates,
 * numbers kept as text, member lookup, and every kind of bad input with
 * its position (line, column, byte), limits (100k-deep nesting, size). */
#include "base/json.h"
#include "test.h"

#include <math.h>

static ken_status parse(const char *s, ken_json_doc **d, ken_json_error *pe, ken_err *e) {
    return ken_json_parse(s, strlen(s), NULL, d, pe, e);
}

static void test_values(void) {
    ken_json_doc *d;
    ken_err e;
    const char *s = " {\"a\": [1, -2.5e3, 0, true, false, null], \"b\": {\"c\": \"x\"},"
                    " \"n\": 12345678901234567890123, \"a\": \"dup\", \"e\": {}, \"f\": []}\n";
    REQUIRE(parse(s, &d, NULL, &e) == KEN_OK);
    const ken_json *r = ken_json_root(d);
    CHECK_EQ_INT(r->type, KEN_JSON_OBJECT);
    CHECK_EQ_INT(r->n, 6);
    const ken_json *a = ken_json_at(r, 0);
    REQUIRE(a && a->type == KEN_JSON_ARRAY && a->n == 6);
    CHECK_EQ_STR(a->key, "a");
    CHECK(a->kids[0].num == 1);
    CHECK(a->kids[1].num == -2500);
    CHECK_EQ_STR(a->kids[1].str, "-2.5e3");
    CHECK(a->kids[3].type == KEN_JSON_BOOL && a->kids[3].b);
    CHECK(a->kids[4].type == KEN_JSON_BOOL && !a->kids[4].b);
    CHECK(a->kids[5].type == KEN_JSON_NULL);
    CHECK_EQ_STR(ken_json_str(ken_json_get(ken_json_get(r, "b"), "c")), "x");
    CHECK_EQ_STR(ken_json_str(ken_json_get(r, "a")), "dup");        /* last one wins */
    const ken_json *n = ken_json_get(r, "n");
    CHECK_EQ_STR(n->str, "12345678901234567890123");              /* exact text kept */
    CHECK(fabs(n->num - 1.2345678901234568e22) < 1e7);
    CHECK(ken_json_get(r, "e")->n == 0 && ken_json_get(r, "e")->type == KEN_JSON_OBJECT);
    CHECK(ken_json_get(r, "f")->n == 0 && ken_json_get(r, "f")->type == KEN_JSON_ARRAY);
    CHECK(ken_json_get(r, "zz") == NULL);
    CHECK(ken_json_get(a, "x") == NULL);
    CHECK(ken_json_at(a, 6) == NULL);
    CHECK_EQ_STR(ken_json_type_name(r->type), "object");
    ken_json_free(d);
    /* scalars at the top, a BOM */
    REQUIRE(parse("\xEF\xBB\xBF\"hi\"", &d, NULL, &e) == KEN_OK);
    CHECK_EQ_STR(ken_json_root(d)->str, "hi");
    ken_json_free(d);
    REQUIRE(parse("-0", &d, NULL, &e) == KEN_OK);
    CHECK(ken_json_root(d)->num == 0);
    ken_json_free(d);
    REQUIRE(parse("1e400", &d, NULL, &e) == KEN_OK);
    CHECK(isinf(ken_json_root(d)->num));
    ken_json_free(d);
    ken_json_free(NULL);
}

static void test_strings(void) {
    ken_json_doc *d;
    ken_err e;
    ken_json_error pe;
    REQUIRE(parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\\u0000z\"", &d, &pe, &e) == KEN_OK);
    const ken_json *r = ken_json_root(d);
    const char want[] = "a\"b\\c/d\b\f\n\r\t\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\0z";
    CHECK_EQ_INT(r->len, sizeof want - 1);
    CHECK(memcmp(r->str, want, sizeof want - 1) == 0);
    ken_json_free(d);
    REQUIRE(parse("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"", &d, &pe, &e) == KEN_OK);
    CHECK_EQ_STR(ken_json_root(d)->str, "caf\xC3\xA9 \xF0\x9F\x98\x80");
    ken_json_free(d);
    /* lone surrogates are errors */
    CHECK_EQ_INT(parse("\"\\ud800\"", &d, &pe, &e), KEN_ERR_FORMAT);
    CHECKF(strstr(e.msg, "surrogate") != NULL, "%s", e.msg);
    CHECK_EQ_INT(parse("\"\\udc00x\"", &d, &pe, &e), KEN_ERR_FORMAT);
    CHECK_EQ_INT(parse("\"\\ud800\\u0041\"", &d, &pe, &e), KEN_ERR_FORMAT);
    CHECK_EQ_INT(parse("\"\\ud800", &d, &pe, &e), KEN_ERR_FORMAT);
    /* invalid UTF-8: stray continuation, overlong, encoded surrogate, > U+10FFFF, truncated */
    const char *bad[] = {"\"\x80\"", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"",
                         "\"\xE2\x82\"", "\"\xFF\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(parse(bad[i], &d, &pe, &e), KEN_ERR_FORMAT);
        CHECKF(strstr(e.msg, "UTF-8") != NULL, "case %zu: %s", i, e.msg);
        CHECK_EQ_INT(pe.offset, 1);
    }
    CHECK_EQ_INT(parse("\"a\tb\"", &d, &pe, &e), KEN_ERR_FORMAT);   /* raw control char */
    CHECK_EQ_INT(parse("\"\\x\"", &d, &pe, &e), KEN_ERR_FORMAT);
    CHECK_EQ_INT(parse("\"\\u12G4\"", &d, &pe, &e), KEN_ERR_FORMAT);
    CHECK_EQ_INT(parse("\"abc", &d, &pe, &e), KEN_ERR_FORMAT);
    CHECKF(strstr(e.msg, "unterminated") != NULL, "%s", e.msg);
    CHECK_EQ_INT(parse("\"abc\\", &d, &pe, &e), KEN_ERR_FORMAT);
    CHECK(d == NULL);
}

static void test_syntax_errors(void) {
    ken_json_doc *d;
    ken_err e;
    ken_json_error pe;
    struct { const char *in; const char *what; size_t line, col; } cases[] = {
        {"{\"a\": 1,}", "expected a string key", 1, 9},
        {"[1, 2,]", "expected a value", 1, 7},
        {"{\"a\" 1}", "expected ':'", 1, 6},
        {"{\n  \"a\": 1\n  \"b\": 2\n}", "expected ',' or '}'", 3, 3},
        {"[1 2]", "expected ',' or ']'", 1, 4},
        {"01", "leading zero in number", 1, 1},
        {"1.", "digit expected after '.'", 1, 3},
        {"1e+", "digit expected in exponent", 1, 4},
        {"-", "invalid number", 1, 1},
        {"+1", "expected a value", 1, 1},
        {"NaN", "expected a value", 1, 1},
        {"tru", "invalid literal (expected a value)", 1, 1},
        {"nul", "invalid literal (expected a value)", 1, 1},
        {"{} {}", "unexpected content after the JSON value", 1, 4},
        {"", "unexpected end of input (expected a value)", 1, 1},
        {"   ", "unexpected end of input (expected a value)", 1, 4},
        {"[1, 2", "expected ',' or ']'", 1, 6},
        {"// c\n1", "expected a value", 1, 1},
        {"{'a': 1}", "expected a string key", 1, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECKF(parse(cases[i].in, &d, &pe, &e) == KEN_ERR_FORMAT, "case %zu", i);
        CHECKF(pe.what && strcmp(pe.what, cases[i].what) == 0, "case %zu: what = %s", i, pe.what);
        CHECKF(pe.line == cases[i].line && pe.col == cases[i].col, "case %zu: line %zu col %zu", i,
               pe.line, pe.col);
    }
    parse("{\n  \"a\": 1\n  \"b\": 2\n}", &d, &pe, &e);
    CHECK_EQ_STR(e.msg, "expected ',' or '}' at line 3, column 3 (byte 13)");
}

static void test_limits(void) {
    ken_json_doc *d;
    ken_err e;
    ken_json_error pe;
    /* 100k-deep arrays: refused at the default depth, no stack overflow */
    size_t n = 100000;
    char *s = malloc(2 * n + 1);
    REQUIRE(s);
    memset(s, '[', n);
    memset(s + n, ']', n);
    CHECK_EQ_INT(ken_json_parse(s, 2 * n, NULL, &d, &pe, &e), KEN_ERR_LIMIT);
    CHECKF(strstr(e.msg, "deeper than 256") != NULL, "%s", e.msg);
    CHECK_EQ_INT(pe.offset, 256);
    /* with the limit raised, the same input parses (iteratively) */
    ken_json_opts o = {0};
    o.depth_max = 200000;
    REQUIRE(ken_json_parse(s, 2 * n, &o, &d, &pe, &e) == KEN_OK);
    const ken_json *v = ken_json_root(d);
    size_t depth = 0;
    while (v && v->type == KEN_JSON_ARRAY) { depth++; v = ken_json_at(v, 0); }
    CHECK_EQ_INT(depth, n);
    ken_json_free(d);
    /* objects nested as deep */
    size_t k = 0;
    for (size_t i = 0; i < 1000; i++) { memcpy(s + k, "{\"a\":", 5); k += 5; }
    CHECK_EQ_INT(ken_json_parse(s, k, NULL, &d, &pe, &e), KEN_ERR_LIMIT);
    free(s);
    /* exactly at the depth limit is fine */
    o.depth_max = 3;
    CHECK_EQ_INT(ken_json_parse("[[[1]]]", 7, &o, &d, &pe, &e), KEN_OK);
    ken_json_free(d);
    CHECK_EQ_INT(ken_json_parse("[[[[1]]]]", 9, &o, &d, &pe, &e), KEN_ERR_LIMIT);
    o = (ken_json_opts){0};
    o.bytes_max = 4;
    CHECK_EQ_INT(ken_json_parse("[1,2]", 5, &o, &d, &pe, &e), KEN_ERR_LIMIT);
    o = (ken_json_opts){0};
    o.nodes_max = 3;
    CHECK_EQ_INT(ken_json_parse("[1,2]", 5, &o, &d, &pe, &e), KEN_OK);
    ken_json_free(d);
    CHECK_EQ_INT(ken_json_parse("[1,2,3,4]", 9, &o, &d, &pe, &e), KEN_ERR_LIMIT);
}

static void test_big(void) {
    /* 200k members: kids are contiguous, lookup works, the arena holds them */
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_buf_putc(&b, '[');
    for (int i = 0; i < 200000; i++) ken_buf_printf(&b, "%s{\"id\":%d,\"t\":\"x%d\"}", i ? "," : "", i, i);
    ken_buf_putc(&b, ']');
    ken_json_doc *d;
    ken_err e;
    REQUIRE(ken_json_parse(b.data, b.len, NULL, &d, NULL, &e) == KEN_OK);
    const ken_json *r = ken_json_root(d);
    CHECK_EQ_INT(r->n, 200000);
    CHECK(ken_json_get(ken_json_at(r, 123456), "id")->num == 123456);
    CHECK_EQ_STR(ken_json_str(ken_json_get(ken_json_at(r, 199999), "t")), "x199999");
    ken_json_free(d);
    ken_buf_free(&b);
}

TEST_MAIN(test_values, test_strings, test_syntax_errors, test_limits, test_big)
