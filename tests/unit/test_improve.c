/* test_improve.c: pins the retrieval metrics on hand-computed cases (graded
 * gains, ties, missing judgments, queries without relevant documents, cuts),
 * the BEIR readers on good and malformed input, the TREC run writer and the
 * evaluation harness. */
#include "improve/improve.h"
#include "test.h"

#include <math.h>

#define NEAR(a, b) CHECKF(fabs((a) - (b)) < 1e-9, "%s = %.12f, want %.12f", #a, (double)(a), \
                          (double)(b))

static ken_qrel J(const char *d, int g) { return (ken_qrel){(char *)"q", (char *)d, g}; }

static void test_graded(void) {
    ken_qrel judged[] = {J("d1", 2), J("d2", 1), J("d3", 0), J("d4", 3)};
    ken_run_entry run[] = {{"d1", .9}, {"d5", .8}, {"d2", .7}, {"d3", .6}, {"d4", .5}};
    ken_eval_metrics m;
    REQUIRE(ken_eval_query_metrics(judged, 4, run, 5, &m) == KEN_OK);
    /* DCG = 2/log2(2) + 1/log2(4) + 3/log2(6); IDCG = 3 + 2/log2(3) + 1/log2(4). */
    double dcg = 2 + 0.5 + 3 / log2(6.0), idcg = 3 + 2 / log2(3.0) + 0.5;
    NEAR(m.ndcg10, dcg / idcg);
    NEAR(m.ndcg10, 0.7687245741317421);
    NEAR(m.recall100, 1.0);
    NEAR(m.mrr10, 1.0);
    NEAR(m.map100, (1.0 + 2.0 / 3 + 3.0 / 5) / 3);
    CHECK_EQ_INT(m.n_rel, 3);
    CHECK_EQ_INT(m.n_ret, 5);
}

static void test_ties(void) {
    /* Equal scores: trec_eval orders by docid descending, so "b" comes before
     * "a" whatever the input order or ranks. */
    ken_qrel judged[] = {J("a", 1)};
    ken_run_entry run[] = {{"c", .5}, {"a", 1.0}, {"b", 1.0}};
    ken_eval_metrics m;
    REQUIRE(ken_eval_query_metrics(judged, 1, run, 3, &m) == KEN_OK);
    CHECK_EQ_STR(run[0].docid, "b");
    CHECK_EQ_STR(run[1].docid, "a");
    CHECK_EQ_STR(run[2].docid, "c");
    NEAR(m.mrr10, 0.5);
    NEAR(m.ndcg10, 0.6309297535714575);
    NEAR(m.map100, 0.5);
    NEAR(m.recall100, 1.0);
}

static void test_no_relevant(void) {
    ken_qrel judged[] = {J("x", 0), J("y", -1)};
    ken_run_entry run[] = {{"x", 1.0}, {"y", 0.5}};
    ken_eval_metrics m;
    REQUIRE(ken_eval_query_metrics(judged, 2, run, 2, &m) == KEN_OK);
    NEAR(m.ndcg10, 0);
    NEAR(m.recall100, 0);
    NEAR(m.mrr10, 0);
    NEAR(m.map100, 0);
    CHECK_EQ_INT(m.n_rel, 0);
    /* An empty run. */
    ken_qrel j2[] = {J("x", 1)};
    REQUIRE(ken_eval_query_metrics(j2, 1, NULL, 0, &m) == KEN_OK);
    NEAR(m.ndcg10, 0);
    CHECK_EQ_INT(m.n_rel, 1);
    CHECK_EQ_INT(m.n_ret, 0);
}

static void test_missing_judgments(void) {
    /* Unjudged documents count as non-relevant; two relevant never found. */
    ken_qrel judged[] = {J("r1", 1), J("r2", 2), J("r3", 1), J("r4", 1)};
    ken_run_entry run[] = {{"u1", 9}, {"r3", 8}, {"u2", 7}, {"r1", 6}, {"u3", 5}};
    ken_eval_metrics m;
    REQUIRE(ken_eval_query_metrics(judged, 4, run, 5, &m) == KEN_OK);
    NEAR(m.recall100, 0.5);
    NEAR(m.mrr10, 0.5);
    NEAR(m.map100, (1.0 / 2 + 2.0 / 4) / 4);
    double dcg = 1 / log2(3.0) + 1 / log2(5.0);
    double idcg = 2 + 1 / log2(3.0) + 1 / log2(4.0) + 1 / log2(5.0);
    NEAR(m.ndcg10, dcg / idcg);
}

static void test_cuts(void) {
    char names[120][8];
    ken_run_entry run[120];
    for (int i = 0; i < 120; i++) {
        snprintf(names[i], sizeof names[i], "u%03d", i);
        run[i] = (ken_run_entry){names[i], 1000.0 - i};
    }
    /* Relevant at rank 15: outside nDCG@10 and MRR@10, inside the @100 cuts. */
    ken_qrel judged[] = {J("u014", 1)};
    ken_eval_metrics m;
    REQUIRE(ken_eval_query_metrics(judged, 1, run, 120, &m) == KEN_OK);
    NEAR(m.ndcg10, 0);
    NEAR(m.mrr10, 0);
    NEAR(m.recall100, 1);
    NEAR(m.map100, 1.0 / 15);
    /* Relevant at rank 101: outside every cut. */
    ken_qrel j2[] = {J("u100", 3)};
    REQUIRE(ken_eval_query_metrics(j2, 1, run, 120, &m) == KEN_OK);
    NEAR(m.recall100, 0);
    NEAR(m.map100, 0);
    /* Twelve relevant in the top twelve: the ideal DCG is cut at 10 too. */
    ken_qrel j3[12];
    for (int i = 0; i < 12; i++) j3[i] = J(names[i], 1);
    REQUIRE(ken_eval_query_metrics(j3, 12, run, 120, &m) == KEN_OK);
    NEAR(m.ndcg10, 1);
    NEAR(m.map100, 1);
    NEAR(m.mrr10, 1);
}

static void test_duplicates(void) {
    ken_qrel judged[] = {J("b", 1)};
    ken_run_entry run[] = {{"a", .9}, {"a", .8}, {"b", .7}};
    ken_eval_metrics m;
    REQUIRE(ken_eval_query_metrics(judged, 1, run, 3, &m) == KEN_OK);
    NEAR(m.mrr10, 0.5);
    CHECK_EQ_INT(m.n_ret, 2);
}

static void test_queries(void) {
    const char *src =
        "{\"_id\": \"q1\", \"text\": \"what is \\\"bm25\\\"?\", \"metadata\": {\"a\": [1, 2.5e3, "
        "true, null, {\"b\": \"x\"}]}}\n"
        "\n"
        "{\"text\": \"caf\\u00e9 \\ud83d\\ude00\", \"_id\": \"q2\"}\r\n"
        "  {\"_id\":\"q3\",\"text\":\"\"}  \n";
    ken_eval_queries q;
    ken_err err = {{0}};
    REQUIRE(ken_eval_parse_queries(src, strlen(src), &q, &err) == KEN_OK);
    REQUIRE(q.n == 3);
    CHECK_EQ_STR(q.v[0].id, "q1");
    CHECK_EQ_STR(q.v[0].text, "what is \"bm25\"?");
    CHECK_EQ_STR(q.v[1].id, "q2");
    CHECK_EQ_STR(q.v[1].text, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    CHECK_EQ_STR(q.v[2].text, "");
    ken_eval_queries_free(&q);

    const char *bad[] = {
        "{\"_id\": \"q1\"}\n",                              /* no text */
        "{\"_id\": 5, \"text\": \"x\"}\n",                   /* id not a string */
        "{\"_id\": \"q1\", \"text\": \"x\"} trailing\n",
        "{\"_id\": \"q1\", \"text\": \"x\"\n",               /* unterminated object */
        "{\"_id\": \"q1\", \"text\": \"x}\n",                /* unterminated string */
        "[\"q1\"]\n",
        "{\"_id\": \"q\xff\", \"text\": \"x\"}\n",           /* invalid UTF-8 */
        "{\"_id\": \"q1\", \"text\": \"\\x\"}\n",            /* bad escape */
        "{\"_id\": \"q1\", \"text\": \"a\", \"m\": @}\n",
    };
    for (size_t i = 0; i < KEN_ARRAY_LEN(bad); i++) {
        ken_err e = {{0}};
        ken_status st = ken_eval_parse_queries(bad[i], strlen(bad[i]), &q, &e);
        CHECKF(st == KEN_ERR_FORMAT, "case %zu: status %d", i, (int)st);
        CHECKF(strstr(e.msg, "line 1") != NULL, "case %zu: message '%s'", i, e.msg);
        CHECK(q.n == 0 && q.v == NULL);
    }
    /* Nesting far too deep fails cleanly instead of recursing without end. */
    ken_buf deep;
    ken_buf_init(&deep, 0);
    ken_buf_puts(&deep, "{\"_id\": \"q\", \"text\": \"t\", \"m\": ");
    for (int i = 0; i < 10000; i++) ken_buf_putc(&deep, '[');
    ken_err e = {{0}};
    CHECK(ken_eval_parse_queries(deep.data, deep.len, &q, &e) == KEN_ERR_FORMAT);
    CHECK(strstr(e.msg, "deep") != NULL);
    ken_buf_free(&deep);
}

static void test_qrels(void) {
    const char *src = "query-id\tcorpus-id\tscore\n"
                      "q2\td9\t1\n"
                      "q1\td2\t2\n"
                      "q1 d1 1\n"
                      "\n"
                      "q1\td2\t1\n"           /* repeat: the highest grade stays */
                      "q3 0 d7 1.0\n";        /* TREC form, float grade */
    ken_qrels q;
    ken_err err = {{0}};
    REQUIRE(ken_eval_parse_qrels(src, strlen(src), &q, &err) == KEN_OK);
    REQUIRE(q.n == 4);
    size_t n;
    const ken_qrel *j = ken_eval_qrels_find(&q, "q1", &n);
    REQUIRE(n == 2 && j);
    CHECK_EQ_STR(j[0].docid, "d1");
    CHECK_EQ_INT(j[0].grade, 1);
    CHECK_EQ_STR(j[1].docid, "d2");
    CHECK_EQ_INT(j[1].grade, 2);
    j = ken_eval_qrels_find(&q, "q3", &n);
    REQUIRE(n == 1 && j);
    CHECK_EQ_STR(j[0].docid, "d7");
    CHECK(ken_eval_qrels_find(&q, "q0", &n) == NULL && n == 0);
    CHECK(ken_eval_qrels_find(&q, "q9", &n) == NULL && n == 0);
    ken_eval_qrels_free(&q);

    const char *bad[] = {"q1\td1\n", "q1\td1\tx\n", "q1\td1\t1.5\n", "a b c d e f\n",
                         "q1\td1\t99999999999999999999\n",
                         /* found by fuzz_improve_beir: a float grade beyond long */
                         "q1\td1\t33333333333333333333333333333333333333333333333333.1\n",
                         "q1\td1\t-1e400.0\n"};
    for (size_t i = 0; i < KEN_ARRAY_LEN(bad); i++) {
        ken_err e = {{0}};
        CHECKF(ken_eval_parse_qrels(bad[i], strlen(bad[i]), &q, &e) == KEN_ERR_FORMAT,
               "case %zu", i);
        CHECK(strstr(e.msg, "line 1") != NULL);
        CHECK(q.n == 0);
    }
}

static void test_trec(void) {
    ken_run_entry run[] = {{"d3", 2.5}, {"d1", 1.25}};
    ken_buf b;
    ken_buf_init(&b, 0);
    REQUIRE(ken_eval_trec_lines(&b, "q7", run, 2, NULL) == KEN_OK);
    CHECK_EQ_STR(b.data, "q7 Q0 d3 1 2.500000 ken\nq7 Q0 d1 2 1.250000 ken\n");
    ken_buf_free(&b);
}

/* A fake retriever: q1 finds d1 then d2, q2 finds nothing. */
static ken_status fake_search(void *ud, const char *query, size_t k, ken_run_entry **run,
                              size_t *n) {
    static ken_run_entry r[] = {{"d1", 2}, {"d2", 1}};
    (*(int *)ud)++;
    *run = r;
    *n = strcmp(query, "first") == 0 ? 2 : 0;
    return KEN_OK;
}

static void test_harness(void) {
    const char *qs = "{\"_id\":\"q1\",\"text\":\"first\"}\n{\"_id\":\"q2\",\"text\":\"second\"}\n"
                     "{\"_id\":\"q3\",\"text\":\"unjudged\"}\n";
    const char *qr = "query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td5\t1\n";
    ken_eval_queries q;
    ken_qrels r;
    ken_err err = {{0}};
    REQUIRE(ken_eval_parse_queries(qs, strlen(qs), &q, &err) == KEN_OK);
    REQUIRE(ken_eval_parse_qrels(qr, strlen(qr), &r, &err) == KEN_OK);
    ken_buf trec;
    ken_buf_init(&trec, 0);
    ken_eval_opts o = {.k = 10, .trec_out = &trec};
    ken_eval_result res;
    int calls = 0;
    REQUIRE(ken_eval_run(&q, &r, fake_search, &calls, &o, NULL, NULL, &res, &err) == KEN_OK);
    CHECK_EQ_INT(calls, 2);
    CHECK_EQ_INT(res.n_queries, 2);
    CHECK_EQ_INT(res.n_skipped, 1);
    NEAR(res.mean.mrr10, (0.5 + 0) / 2);
    NEAR(res.mean.recall100, 0.5);
    NEAR(res.mean.ndcg10, (1 / log2(3.0)) / 2);
    CHECK_EQ_STR(trec.data, "q1 Q0 d1 1 2.000000 ken\nq1 Q0 d2 2 1.000000 ken\n");
    ken_buf_free(&trec);
    ken_eval_queries_free(&q);
    ken_eval_qrels_free(&r);
}

/* trec_eval (9.x) averages over every query that has a line in the qrels,
 * including one whose judgments are all 0: it counts, with 0 everywhere. A
 * query with no line at all is skipped. */
static void test_harness_zero_judged(void) {
    const char *qs = "{\"_id\":\"q1\",\"text\":\"first\"}\n{\"_id\":\"q4\",\"text\":\"first\"}\n"
                     "{\"_id\":\"q5\",\"text\":\"first\"}\n";
    const char *qr = "query-id\tcorpus-id\tscore\nq1\td2\t1\nq4\td1\t0\nq4\td2\t0\n";
    ken_eval_queries q;
    ken_qrels r;
    ken_err err = {{0}};
    REQUIRE(ken_eval_parse_queries(qs, strlen(qs), &q, &err) == KEN_OK);
    REQUIRE(ken_eval_parse_qrels(qr, strlen(qr), &r, &err) == KEN_OK);
    ken_eval_opts o = {.k = 10};
    ken_eval_result res;
    int calls = 0;
    REQUIRE(ken_eval_run(&q, &r, fake_search, &calls, &o, NULL, NULL, &res, &err) == KEN_OK);
    CHECK_EQ_INT(res.n_queries, 2);
    CHECK_EQ_INT(res.n_skipped, 1);
    NEAR(res.mean.mrr10, 0.5 / 2);
    NEAR(res.mean.recall100, 1.0 / 2);
    NEAR(res.mean.map100, 0.5 / 2);
    NEAR(res.mean.ndcg10, (1 / log2(3.0)) / 2);
    ken_eval_queries_free(&q);
    ken_eval_qrels_free(&r);
}

TEST_MAIN(test_graded, test_ties, test_no_relevant, test_missing_judgments, test_cuts,
          test_duplicates, test_queries, test_qrels, test_trec, test_harness,
          test_harness_zero_judged)
