/* test_kb.c: the ingest pipeline through the public API: add, unchanged,
 * update, JSONL documents appearing and vanishing, sync, rm, list, read back. */
#include "ken.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void write_file(const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) { perror(p); exit(1); }
    fputs(text, f);
    fclose(f);
}

static ken_kb *open_kb(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/store/kb.db", dir);
    ken_kb_opts o = {.size = sizeof o, .path = p, .create = 1};
    ken_kb *kb = NULL;
    ken_status st = ken_kb_open(&o, &kb);
    if (st) fprintf(stderr, "open: %s\n", ken_kb_errmsg(kb));
    return st ? (ken_kb_close(kb), NULL) : kb;
}

static int count_cb(void *ud, const ken_doc_info *d) {
    (void)d;
    ++*(int *)ud;
    return 0;
}

static int count_docs(ken_kb *kb, const char *collection) {
    int n = 0;
    ken_list_opts o = {.size = sizeof o, .collection = collection};
    CHECK(ken_kb_list(kb, &o, count_cb, &n) == KEN_OK);
    return n;
}

typedef struct { const char *text; size_t len; int64_t id; } doc_copy;

static int doc_cb(void *ud, const ken_doc_info *d, const char *text, size_t len) {
    doc_copy *c = ud;
    c->id = d->id;
    c->text = strndup(text, len);
    c->len = len;
    return 0;
}

typedef struct { const doc_copy *doc; int n, bad; } span_ctx;

static int span_cb(void *ud, const ken_chunk_info *c) {
    span_ctx *s = ud;
    s->n++;
    if (c->start < 0 || c->end > (int64_t)s->doc->len || c->start > c->end ||
        (size_t)(c->end - c->start) != c->text_len ||
        memcmp(s->doc->text + c->start, c->text, c->text_len) != 0)
        s->bad++;
    return 0;
}

static void test_add_update(void) {
    ken_kb *kb = open_kb();
    REQUIRE(kb);
    write_file("a.md", "# Owls\n\nOwls hunt at night. They have silent feathers.\n\n## Eyes\n\nTheir eyes are large.\n");
    write_file("b.txt", "Herons wade in shallow water.\n");
    const char *paths[] = {dir};
    ken_add_stats s;
    CHECK(ken_kb_add(kb, paths, 1, NULL, &s) == KEN_OK);
    CHECK_EQ_INT(s.added, 2);
    CHECK(s.chunks >= 2);
    CHECK_EQ_INT(count_docs(kb, NULL), 2);
    /* Unchanged. */
    CHECK(ken_kb_add(kb, paths, 1, NULL, &s) == KEN_OK);
    CHECK_EQ_INT(s.added, 0);
    CHECK_EQ_INT(s.unchanged, 2);
    /* Changed file replaces its document. */
    write_file("b.txt", "Herons wade in shallow water. Egrets too.\n");
    CHECK(ken_kb_add(kb, paths, 1, NULL, &s) == KEN_OK);
    CHECK_EQ_INT(s.updated, 1);
    CHECK_EQ_INT(s.unchanged, 1);
    CHECK_EQ_INT(count_docs(kb, NULL), 2);
    /* Spans point at exact bytes of the stored text, headings recorded. */
    char p[512];
    snprintf(p, sizeof p, "%s/a.md", dir);
    char real[4096];
    REQUIRE(realpath(p, real));
    doc_copy d = {0};
    REQUIRE(ken_kb_doc(kb, real, doc_cb, &d) == KEN_OK);
    span_ctx sc = {.doc = &d};
    CHECK(ken_kb_doc_chunks(kb, d.id, span_cb, &sc) == KEN_OK);
    CHECK(sc.n >= 1);
    CHECK_EQ_INT(sc.bad, 0);
    CHECK(strstr(d.text, "silent feathers") != NULL);
    free((void *)d.text);
    ken_kb_stats ks;
    CHECK(ken_kb_stat(kb, &ks) == KEN_OK);
    CHECK_EQ_INT(ks.documents, 2);
    CHECK_EQ_INT(ks.sources, 2);
    ken_kb_close(kb);
}

static void test_jsonl_and_rm(void) {
    ken_kb *kb = open_kb();
    REQUIRE(kb);
    const char *v1 = "{\"_id\":\"d1\",\"title\":\"One\",\"text\":\"first\"}\n"
                     "{\"_id\":\"d2\",\"title\":\"Two\",\"text\":\"second\"}\n"
                     "{\"_id\":\"d3\",\"title\":\"Three\",\"text\":\"third\"}\n";
    ken_add_opts o = {.size = sizeof o, .collection = "beir"};
    ken_add_stats s;
    CHECK(ken_kb_add_buffer(kb, "corpus.jsonl", v1, strlen(v1), &o, &s) == KEN_OK);
    CHECK_EQ_INT(s.added, 3);
    CHECK_EQ_INT(count_docs(kb, "beir"), 3);
    /* d2 changes, d3 vanishes, d1 stays. */
    const char *v2 = "{\"_id\":\"d1\",\"title\":\"One\",\"text\":\"first\"}\n"
                     "{\"_id\":\"d2\",\"title\":\"Two\",\"text\":\"second, changed\"}\n";
    CHECK(ken_kb_add_buffer(kb, "corpus.jsonl", v2, strlen(v2), &o, &s) == KEN_OK);
    CHECK_EQ_INT(s.unchanged, 1);
    CHECK_EQ_INT(s.updated, 1);
    CHECK_EQ_INT(s.removed, 1);
    CHECK_EQ_INT(count_docs(kb, "beir"), 2);
    /* rm by external id; a missing one is NOTFOUND. */
    CHECK(ken_kb_remove(kb, "d1", &s) == KEN_OK);
    CHECK_EQ_INT(s.removed, 1);
    CHECK(ken_kb_remove(kb, "d1", &s) == KEN_ERR_NOTFOUND);
    CHECK_EQ_INT(count_docs(kb, "beir"), 1);
    /* Records without an _id are kept apart by their position. */
    const char *noid = "{\"title\":\"A\",\"text\":\"alpha\"}\n{\"title\":\"B\",\"text\":\"beta\"}\n";
    ken_add_opts o2 = {.size = sizeof o2, .collection = "noid"};
    CHECK(ken_kb_add_buffer(kb, "noid.jsonl", noid, strlen(noid), &o2, &s) == KEN_OK);
    CHECK_EQ_INT(s.added, 2);
    CHECK_EQ_INT(count_docs(kb, "noid"), 2);
    ken_kb_close(kb);
}

static void test_sync(void) {
    ken_kb *kb = open_kb();
    REQUIRE(kb);
    char sub[512], p[600];
    snprintf(sub, sizeof sub, "%s/sync", dir);
    mkdir(sub, 0755);
    snprintf(p, sizeof p, "%s/x.txt", sub);
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    fputs("Kingfishers dive.\n", f);
    fclose(f);
    ken_add_stats s;
    CHECK(ken_kb_sync(kb, sub, NULL, &s) == KEN_OK);
    CHECK_EQ_INT(s.added, 1);
    int before = count_docs(kb, NULL);
    unlink(p);
    CHECK(ken_kb_sync(kb, sub, NULL, &s) == KEN_OK);
    CHECK_EQ_INT(s.removed, 1);
    CHECK_EQ_INT(count_docs(kb, NULL), before - 1);
    ken_kb_close(kb);
}

static void test_readonly_and_missing(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/nowhere/kb.db", dir);
    ken_kb_opts o = {.size = sizeof o, .path = p};
    ken_kb *kb = NULL;
    CHECK(ken_kb_open(&o, &kb) == KEN_ERR_NOTFOUND);
    CHECK(strstr(ken_kb_errmsg(kb), "no knowledge base") != NULL);
    ken_kb_close(kb);
}

static void cleanup(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/ken-test-kb-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_fn fns[] = {test_add_update, test_jsonl_and_rm, test_sync, test_readonly_and_missing,
                     cleanup};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) fns[i]();
    fprintf(stderr, "%d checks, %d failed\n", test_checks_, test_failures_);
    return test_failures_ || !test_checks_ ? 1 : 0;
}
