/* test_store.c: the SQLite store through its interface: create/open/reopen,
 * sources, documents and chunks (put, get, list, find, touch, prune,
 * delete), the FTS index in sync after replace and delete, cascades,
 * transactions, config, read-only, and refusal of newer/foreign/corrupt
 * files. Raw SQLite queries check what the interface does not show. */
#include "store/store.h"
#include "test.h"

#include <fcntl.h>
#include <math.h>
#include <ftw.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

static char tmp_dir[256];

static void tmp_make(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/ken_store_XXXXXX");
    if (!mkdtemp(tmp_dir)) { perror("mkdtemp"); exit(1); }
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void tmp_remove(void) {
    nftw(tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmp_dir, name);
    return buf;
}

static ken_store *open_store(const char *path, bool create, bool readonly, ken_status *st) {
    ken_store_opts o = {.path = path, .create = create, .readonly = readonly};
    ken_store *s = NULL;
    ken_err e = {{0}};
    *st = ken_store_open(&o, &s, &e);
    if (*st) {
        if (s != NULL) fprintf(stderr, "open failed but returned a handle\n");
        fprintf(stderr, "(expected or not) open '%s': %s\n", path, e.msg);
    }
    return s;
}

/* An integer from a raw query on the file (a second connection). */
static long long raw_int(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "raw query '%s': %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int raw_exec(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static long long fts_count(const char *path, const char *match) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH '%s'", match);
    return raw_int(path, sql);
}

/* A document whose text is n sentences "w<k> marker." split one chunk per
 * sentence. */
typedef struct {
    char text[4096];
    ken_store_chunk chunks[32];
    size_t n;
    ken_store_doc doc;
} test_doc;

static void make_doc(test_doc *t, const char *collection, const char *uri, const char *ext_id,
                     const char *marker, size_t n) {
    memset(t, 0, sizeof *t);
    size_t len = 0;
    for (size_t i = 0; i < n && i < 32; i++) {
        t->chunks[i].start = (int64_t)len;
        len += (size_t)snprintf(t->text + len, sizeof t->text - len, "word%zu %s sentence. ", i,
                                marker);
        t->chunks[i].end = (int64_t)len - 1;
        t->chunks[i].ordinal = (int32_t)i;
        t->chunks[i].heading = i % 2 ? "Intro > Details" : "Intro";
        t->chunks[i].page = 0;
        t->chunks[i].tokens = 4;
    }
    t->n = n;
    t->doc = (ken_store_doc){.collection = collection, .uri = uri, .ext_id = ext_id,
                             .title = "A title", .mime = "text/plain", .hash = marker,
                             .mtime = 1234, .meta_json = "{\"k\":1}", .text = t->text,
                             .text_len = len};
}

/* Callback collectors. */
typedef struct { int n; int64_t id; char text[4096]; char hash[80]; int64_t n_chunks; } doc_seen;
static int on_doc(void *ud, const ken_store_doc *d) {
    doc_seen *s = ud;
    s->n++;
    s->id = d->id;
    s->n_chunks = d->n_chunks;
    snprintf(s->hash, sizeof s->hash, "%s", d->hash ? d->hash : "");
    if (d->text) snprintf(s->text, sizeof s->text, "%.*s", (int)d->text_len, d->text);
    else s->text[0] = 0;
    return 0;
}

typedef struct { int n; char texts[32][128]; int64_t ids[32]; } chunks_seen;
static int on_chunk(void *ud, const ken_store_chunk *c) {
    chunks_seen *s = ud;
    if (s->n < 32) {
        snprintf(s->texts[s->n], 128, "%.*s", (int)c->text_len, c->text);
        s->ids[s->n] = c->id;
    }
    s->n++;
    return 0;
}

typedef struct { int n; int64_t id; char hash[80]; } src_seen;
static int on_src(void *ud, const ken_store_source *s) {
    src_seen *x = ud;
    x->n++;
    x->id = s->id;
    snprintf(x->hash, sizeof x->hash, "%s", s->hash ? s->hash : "");
    return 0;
}

/* ------------------------------------------------------------ tests */

static void test_create_open(void) {
    tmp_make();
    ken_status st;
    const char *p = tmp_path("a/b/ken.db");
    ken_store *s = open_store(p, false, false, &st);
    CHECK(s == NULL && st == KEN_ERR_NOTFOUND);
    s = open_store(p, true, false, &st);
    REQUIRE(s != NULL);
    CHECK_EQ_STR(s->ops->name, "sqlite");
    ken_store_stats stats;
    CHECK_EQ_INT(s->ops->stats(s, &stats), KEN_OK);
    CHECK_EQ_INT(stats.schema_version, KEN_STORE_SCHEMA_VERSION);
    CHECK_EQ_INT(stats.documents, 0);
    CHECK(stats.file_bytes > 0);
    CHECK_EQ_INT(s->gen, 1);
    CHECK_EQ_INT(s->ops->check(s), KEN_OK);
    ken_store_close(s);
    CHECK_EQ_INT(raw_int(p, "PRAGMA journal_mode = WAL") >= -1, 1);
    s = open_store(p, false, false, &st);
    CHECK(s != NULL);
    ken_store_close(s);
    s = open_store(p, false, true, &st);
    CHECK(s != NULL);
    ken_store_close(s);
    /* A folder is not a store. */
    s = open_store(tmp_path("a"), true, false, &st);
    CHECK(s == NULL && st == KEN_ERR_INVALID);
    ken_store_opts o = {.path = "postgres://x/y"};
    ken_err e;
    CHECK_EQ_INT(ken_store_open(&o, &s, &e), KEN_ERR_UNSUPPORTED);
    ken_store_close(NULL);
    tmp_remove();
}

static void docs_list_delete(ken_store *s, const char *p, int64_t id);

static void test_docs(void) {
    tmp_make();
    const char *p = tmp_path("ken.db");
    ken_status st;
    ken_store *s = open_store(p, true, false, &st);
    REQUIRE(s);
    const ken_store_ops *o = s->ops;
    ken_store_source src = {.collection = "c1", .uri = "/x/a.md", .kind = "file", .hash = "h1",
                            .mtime = 5, .size = 10};
    int64_t sid = 0, sid2 = 0;
    CHECK_EQ_INT(o->source_put(s, &src, &sid), KEN_OK);
    src.hash = "h2";
    CHECK_EQ_INT(o->source_put(s, &src, &sid2), KEN_OK);
    CHECK_EQ_INT(sid, sid2);
    src_seen ss = {0};
    CHECK_EQ_INT(o->source_get(s, "c1", "/x/a.md", on_src, &ss), KEN_OK);
    CHECK_EQ_INT(ss.n, 1);
    CHECK_EQ_STR(ss.hash, "h2");
    CHECK_EQ_INT(o->source_get(s, "c2", "/x/a.md", on_src, &ss), KEN_ERR_NOTFOUND);

    static test_doc t;
    make_doc(&t, "c1", "/x/a.md", NULL, "alpha", 5);
    t.doc.source_id = sid;
    int64_t id = 0, id2 = 0;
    bool rep = true;
    CHECK_EQ_INT(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, &id, &rep), KEN_OK);
    CHECK(id > 0);
    CHECK(!rep);
    doc_seen ds = {0};
    CHECK_EQ_INT(o->doc_find(s, "c1", "/x/a.md", on_doc, &ds), KEN_OK);
    CHECK_EQ_INT(ds.id, id);
    CHECK_EQ_INT(ds.n_chunks, 5);
    CHECK_EQ_STR(ds.text, "");          /* find gives no text */
    memset(&ds, 0, sizeof ds);
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)id);
    CHECK_EQ_INT(o->doc_get(s, ref, on_doc, &ds), KEN_OK);
    CHECK_EQ_STR(ds.text, t.text);
    memset(&ds, 0, sizeof ds);
    CHECK_EQ_INT(o->doc_get(s, "/x/a.md", on_doc, &ds), KEN_OK);
    CHECK_EQ_INT(ds.id, id);
    CHECK_EQ_INT(o->doc_get(s, "nope", on_doc, &ds), KEN_ERR_NOTFOUND);

    chunks_seen cs = {0};
    CHECK_EQ_INT(o->chunk_list(s, id, on_chunk, &cs), KEN_OK);
    CHECK_EQ_INT(cs.n, 5);
    CHECK_EQ_STR(cs.texts[0], "word0 alpha sentence.");
    CHECK_EQ_STR(cs.texts[4], "word4 alpha sentence.");
    chunks_seen one = {0};
    CHECK_EQ_INT(o->chunk_get(s, cs.ids[2], on_chunk, &one), KEN_OK);
    CHECK_EQ_STR(one.texts[0], "word2 alpha sentence.");
    CHECK_EQ_INT(o->chunk_get(s, 999999, on_chunk, &one), KEN_ERR_NOTFOUND);
    CHECK_EQ_INT(fts_count(p, "alpha"), 5);
    CHECK_EQ_INT(fts_count(p, "title:title"), 5);
    CHECK_EQ_INT(fts_count(p, "heading:details"), 2);

    /* Replace: same id, new chunks, the FTS index follows. */
    make_doc(&t, "c1", "/x/a.md", NULL, "beta", 3);
    t.doc.source_id = sid;
    CHECK_EQ_INT(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, &id2, &rep), KEN_OK);
    CHECK_EQ_INT(id2, id);
    CHECK(rep);
    CHECK_EQ_INT(fts_count(p, "alpha"), 0);
    CHECK_EQ_INT(fts_count(p, "beta"), 3);
    CHECK_EQ_INT(raw_int(p, "SELECT count(*) FROM chunks"), 3);
    memset(&cs, 0, sizeof cs);
    CHECK_EQ_INT(o->chunk_list(s, id, on_chunk, &cs), KEN_OK);
    CHECK_EQ_INT(cs.n, 3);
    CHECK_EQ_STR(cs.texts[1], "word1 beta sentence.");
    CHECK_EQ_INT(o->check(s), KEN_OK);
    docs_list_delete(s, p, id);
    ken_store_close(s);
    tmp_remove();
}

/* With document id (in c1 under /x/, 3 chunks) in the store: a second
 * document with an external id, list with filters, stats, delete. */
static void docs_list_delete(ken_store *s, const char *p, int64_t id) {
    const ken_store_ops *o = s->ops;
    static test_doc t;
    doc_seen ds = {0};
    chunks_seen cs = {0};
    make_doc(&t, "c2", "/y/b.jsonl", "rec-7", "gamma", 2);
    t.doc.mime = "application/json";
    int64_t id3 = 0;
    CHECK_EQ_INT(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, &id3, NULL), KEN_OK);
    memset(&ds, 0, sizeof ds);
    CHECK_EQ_INT(o->doc_get(s, "rec-7", on_doc, &ds), KEN_OK);
    CHECK_EQ_INT(ds.id, id3);
    CHECK_EQ_INT(o->doc_find(s, "c2", "rec-7", on_doc, &ds), KEN_OK);
    ken_store_filter f = {0};
    memset(&ds, 0, sizeof ds);
    CHECK_EQ_INT(o->doc_list(s, &f, on_doc, &ds), KEN_OK);
    CHECK_EQ_INT(ds.n, 2);
    f.collection = "c2";
    memset(&ds, 0, sizeof ds);
    CHECK_EQ_INT(o->doc_list(s, &f, on_doc, &ds), KEN_OK);
    CHECK_EQ_INT(ds.n, 1);
    f = (ken_store_filter){.uri_prefix = "/x/"};
    memset(&ds, 0, sizeof ds);
    CHECK_EQ_INT(o->doc_list(s, &f, on_doc, &ds), KEN_OK);
    CHECK(ds.n == 1 && ds.id == id);
    f = (ken_store_filter){.mime = "application/json"};
    memset(&ds, 0, sizeof ds);
    CHECK_EQ_INT(o->doc_list(s, &f, on_doc, &ds), KEN_OK);
    CHECK(ds.n == 1 && ds.id == id3);
    f = (ken_store_filter){.limit = 1, .offset = 1};
    memset(&ds, 0, sizeof ds);
    CHECK_EQ_INT(o->doc_list(s, &f, on_doc, &ds), KEN_OK);
    CHECK(ds.n == 1 && ds.id == id3);

    ken_store_stats stats;
    CHECK_EQ_INT(o->stats(s, &stats), KEN_OK);
    CHECK_EQ_INT(stats.documents, 2);
    CHECK_EQ_INT(stats.chunks, 5);
    CHECK_EQ_INT(stats.collections, 2);
    CHECK_EQ_INT(stats.sources, 1);
    CHECK(stats.text_bytes > 0);

    /* Delete: chunks and FTS rows go with the document. */
    CHECK_EQ_INT(o->doc_delete(s, id3), KEN_OK);
    CHECK_EQ_INT(o->doc_delete(s, id3), KEN_ERR_NOTFOUND);
    CHECK_EQ_INT(fts_count(p, "gamma"), 0);
    CHECK_EQ_INT(raw_int(p, "SELECT count(*) FROM chunks"), 3);
    CHECK_EQ_INT(o->chunk_list(s, id3, on_chunk, &cs), KEN_ERR_NOTFOUND);
    CHECK_EQ_INT(o->check(s), KEN_OK);
}

static void test_touch_prune_cascade(void) {
    tmp_make();
    const char *p = tmp_path("ken.db");
    ken_status st;
    ken_store *s = open_store(p, true, false, &st);
    REQUIRE(s);
    const ken_store_ops *o = s->ops;
    ken_store_source src = {.collection = "c", .uri = "/data.jsonl", .kind = "file"};
    int64_t sid = 0, ids[4];
    REQUIRE(o->source_put(s, &src, &sid) == KEN_OK);
    static test_doc t;
    char ext[16];
    int64_t g1 = s->gen;
    REQUIRE(o->begin(s) == KEN_OK);
    for (int i = 0; i < 4; i++) {
        snprintf(ext, sizeof ext, "r%d", i);
        make_doc(&t, "c", "/data.jsonl", ext, "delta", 3);
        t.doc.source_id = sid;
        CHECK_EQ_INT(o->doc_put(s, &t.doc, t.chunks, t.n, g1, &ids[i], NULL), KEN_OK);
    }
    CHECK_EQ_INT(o->commit(s), KEN_OK);
    ken_store_close(s);

    /* A new open gives a fresh generation; touch two, prune the rest. */
    s = open_store(p, false, false, &st);
    REQUIRE(s);
    o = s->ops;
    CHECK(s->gen > g1);
    CHECK_EQ_INT(o->doc_touch(s, ids[0], s->gen), KEN_OK);
    CHECK_EQ_INT(o->doc_touch(s, ids[2], s->gen), KEN_OK);
    CHECK_EQ_INT(o->doc_touch(s, 424242, s->gen), KEN_ERR_NOTFOUND);
    int64_t removed = -1;
    CHECK_EQ_INT(o->source_prune(s, sid, s->gen, &removed), KEN_OK);
    CHECK_EQ_INT(removed, 2);
    doc_seen ds = {0};
    CHECK_EQ_INT(o->doc_find(s, "c", "r1", on_doc, &ds), KEN_ERR_NOTFOUND);
    CHECK_EQ_INT(o->doc_find(s, "c", "r2", on_doc, &ds), KEN_OK);
    CHECK_EQ_INT(fts_count(p, "delta"), 6);
    CHECK_EQ_INT(o->check(s), KEN_OK);

    /* Deleting the source cascades to documents, chunks and FTS rows. */
    CHECK_EQ_INT(o->source_delete(s, sid), KEN_OK);
    CHECK_EQ_INT(o->source_delete(s, sid), KEN_ERR_NOTFOUND);
    CHECK_EQ_INT(raw_int(p, "SELECT count(*) FROM documents"), 0);
    CHECK_EQ_INT(raw_int(p, "SELECT count(*) FROM chunks"), 0);
    CHECK_EQ_INT(fts_count(p, "delta"), 0);
    CHECK_EQ_INT(o->check(s), KEN_OK);

    /* Guards: chunks cannot be deleted or edited behind their document. */
    make_doc(&t, "c", "/z", NULL, "eps", 2);
    CHECK_EQ_INT(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, &ids[0], NULL), KEN_OK);
    CHECK(raw_exec(p, "DELETE FROM chunks") != SQLITE_OK);
    CHECK(raw_exec(p, "UPDATE chunks SET start_byte = 1") != SQLITE_OK);
    CHECK(raw_exec(p, "UPDATE documents SET text = 'x'") != SQLITE_OK);
    CHECK_EQ_INT(raw_exec(p, "UPDATE documents SET seen_gen = 7"), SQLITE_OK);
    CHECK_EQ_INT(o->check(s), KEN_OK);
    /* check sees what the schema cannot: a wrong chunk count or length. */
    CHECK_EQ_INT(raw_exec(p, "UPDATE documents SET n_chunks = 5"), SQLITE_OK);
    CHECK_EQ_INT(o->check(s), KEN_ERR_STORE);
    CHECK(strstr(ken_store_errmsg(s), "chunk count") != NULL);
    CHECK_EQ_INT(raw_exec(p, "UPDATE documents SET n_chunks = 2, text_bytes = 3"), SQLITE_OK);
    CHECK_EQ_INT(o->check(s), KEN_ERR_STORE);
    CHECK(strstr(ken_store_errmsg(s), "outside the text") != NULL);
    /* An FTS row gone behind the store's back is found too. */
    CHECK_EQ_INT(raw_exec(p, "UPDATE documents SET text_bytes = length(CAST(text AS BLOB))"),
                 SQLITE_OK);
    CHECK_EQ_INT(o->check(s), KEN_OK);
    CHECK_EQ_INT(raw_exec(p, "INSERT INTO chunks_fts(chunks_fts, rowid, text, heading, title)"
                             " SELECT 'delete', id, text, heading, title FROM chunks_content"
                             " LIMIT 1"), SQLITE_OK);
    CHECK_EQ_INT(o->check(s), KEN_ERR_STORE);
    CHECK(strstr(ken_store_errmsg(s), "FTS") != NULL);
    ken_store_close(s);
    tmp_remove();
}

static int list_then_read(void *ud, const ken_store_doc *d) {
    ken_store *s = ud;
    doc_seen ds = {0};
    chunks_seen cs = {0};
    CHECK_EQ_INT(s->ops->doc_get_id(s, d->id, on_doc, &ds), KEN_OK);
    CHECK_EQ_INT(s->ops->chunk_list(s, d->id, on_chunk, &cs), KEN_OK);
    CHECK_EQ_INT(cs.n, d->n_chunks);
    /* Same statement re-entered: doc_list inside doc_list. */
    doc_seen inner = {0};
    ken_store_filter f = {.limit = 1};
    CHECK_EQ_INT(s->ops->doc_list(s, &f, on_doc, &inner), KEN_OK);
    CHECK_EQ_INT(inner.n, 1);
    return 0;
}

static void test_tx_and_reentry(void) {
    tmp_make();
    const char *p = tmp_path("ken.db");
    ken_status st;
    ken_store *s = open_store(p, true, false, &st);
    REQUIRE(s);
    const ken_store_ops *o = s->ops;
    static test_doc t;
    CHECK_EQ_INT(o->commit(s), KEN_ERR_INVALID);
    CHECK_EQ_INT(o->rollback(s), KEN_OK);
    REQUIRE(o->begin(s) == KEN_OK);
    CHECK_EQ_INT(o->begin(s), KEN_ERR_INVALID);
    make_doc(&t, "c", "/1", NULL, "one", 3);
    CHECK_EQ_INT(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL), KEN_OK);
    CHECK_EQ_INT(o->rollback(s), KEN_OK);
    doc_seen ds = {0};
    CHECK_EQ_INT(o->doc_find(s, "c", "/1", on_doc, &ds), KEN_ERR_NOTFOUND);
    REQUIRE(o->begin(s) == KEN_OK);
    CHECK_EQ_INT(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL), KEN_OK);
    make_doc(&t, "c", "/2", NULL, "two", 4);
    CHECK_EQ_INT(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL), KEN_OK);
    /* Invalid input is refused before writing: the transaction goes on. */
    t.chunks[1].end = 100000;
    CHECK_EQ_INT(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL), KEN_ERR_INVALID);
    t.chunks[1].end = t.chunks[1].start + 2;
    t.doc.meta_json = "{not json";
    CHECK_EQ_INT(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL), KEN_ERR_INVALID);
    CHECK(strstr(ken_store_errmsg(s), "meta_json") != NULL);
    t.doc.meta_json = NULL;
    t.doc.source_id = 777;
    CHECK_EQ_INT(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL), KEN_ERR_INVALID);
    CHECK(strstr(ken_store_errmsg(s), "no source") != NULL);
    CHECK_EQ_INT(o->commit(s), KEN_OK);
    CHECK_EQ_INT(fts_count(p, "two"), 4);
    CHECK_EQ_INT(raw_int(p, "SELECT count(*) FROM documents"), 2);

    /* Spans that split a UTF-8 character or invalid text are refused. */
    const char *u = "caf\xc3\xa9 bar";
    ken_store_chunk c = {.start = 0, .end = 4};
    ken_store_doc d = {.collection = "c", .uri = "/u", .text = u, .text_len = strlen(u)};
    CHECK_EQ_INT(o->doc_put(s, &d, &c, 1, s->gen, NULL, NULL), KEN_ERR_INVALID);
    c.end = 5;
    CHECK_EQ_INT(o->doc_put(s, &d, &c, 1, s->gen, NULL, NULL), KEN_OK);
    d.text = "bad \xff";
    d.text_len = 5;
    CHECK_EQ_INT(o->doc_put(s, &d, &c, 1, s->gen, NULL, NULL), KEN_ERR_INVALID);
    CHECK_EQ_INT(fts_count(p, "cafe"), 1);       /* remove_diacritics */

    ken_store_filter f = {0};
    CHECK_EQ_INT(o->doc_list(s, &f, list_then_read, s), KEN_OK);
    CHECK_EQ_INT(o->check(s), KEN_OK);
    ken_store_close(s);
    tmp_remove();
}

static void test_config_readonly(void) {
    tmp_make();
    const char *p = tmp_path("ken.db");
    ken_status st;
    ken_store *s = open_store(p, true, false, &st);
    REQUIRE(s);
    ken_buf b;
    ken_buf_init(&b, 0);
    CHECK_EQ_INT(s->ops->config_get(s, "bm25.k1", &b), KEN_ERR_NOTFOUND);
    CHECK_EQ_INT(s->ops->config_set(s, "bm25.k1", "1.2"), KEN_OK);
    CHECK_EQ_INT(s->ops->config_set(s, "bm25.k1", "0.9"), KEN_OK);
    CHECK_EQ_INT(s->ops->config_get(s, "bm25.k1", &b), KEN_OK);
    CHECK_EQ_STR(b.data, "0.9");
    static test_doc t;
    make_doc(&t, "c", "/r", NULL, "ro", 2);
    CHECK_EQ_INT(s->ops->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL), KEN_OK);
    ken_store_close(s);

    s = open_store(p, false, true, &st);
    REQUIRE(s);
    CHECK_EQ_INT(s->ops->config_get(s, "bm25.k1", &b), KEN_OK);
    CHECK_EQ_STR(b.data, "0.9");
    CHECK_EQ_INT(s->ops->config_set(s, "x", "y"), KEN_ERR_INVALID);
    CHECK_EQ_INT(s->ops->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL), KEN_ERR_INVALID);
    CHECK_EQ_INT(s->ops->begin(s), KEN_ERR_INVALID);
    doc_seen ds = {0};
    CHECK_EQ_INT(s->ops->doc_get(s, "/r", on_doc, &ds), KEN_OK);
    CHECK_EQ_INT(ds.n_chunks, 2);
    CHECK_EQ_INT(s->ops->check(s), KEN_OK);
    ken_store_close(s);
    ken_buf_free(&b);
    tmp_remove();
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_refusals(void) {
    tmp_make();
    ken_status st;
    const char *p = tmp_path("ken.db");
    ken_store *s = open_store(p, true, false, &st);
    REQUIRE(s);
    ken_store_close(s);
    /* A newer schema is refused with a clear message. */
    CHECK_EQ_INT(raw_exec(p, "PRAGMA user_version = 99"), SQLITE_OK);
    ken_store_opts o = {.path = p};
    ken_err e = {{0}};
    CHECK_EQ_INT(ken_store_open(&o, &s, &e), KEN_ERR_VERSION);
    CHECK(s == NULL);
    char want[128];
    snprintf(want, sizeof want, "store schema version 99 is newer than this ken supports "
             "(%d); upgrade ken", KEN_STORE_SCHEMA_VERSION);
    CHECK(strstr(e.msg, want) != NULL);
    o.readonly = true;
    CHECK_EQ_INT(ken_store_open(&o, &s, &e), KEN_ERR_VERSION);

    /* Not SQLite at all. */
    const char *txt = tmp_path("notes.txt");
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)('a' + i % 26);
    write_file(txt, junk, sizeof junk);
    s = open_store(txt, false, false, &st);
    CHECK(s == NULL && st == KEN_ERR_FORMAT);
    write_file(txt, "SQLite format 3", 15);    /* a truncated header */
    s = open_store(txt, false, false, &st);
    CHECK(s == NULL && st != KEN_OK);

    /* SQLite, but someone else's database. */
    const char *other = tmp_path("other.db");
    CHECK_EQ_INT(raw_exec(other, "SELECT 1") == SQLITE_OK || 1, 1);
    sqlite3 *db;
    REQUIRE(sqlite3_open(other, &db) == SQLITE_OK);
    sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL);
    sqlite3_close(db);
    s = open_store(other, false, false, &st);
    CHECK(s == NULL && st == KEN_ERR_FORMAT);
    CHECK_EQ_INT(raw_int(other, "SELECT count(*) FROM sqlite_schema"), 1);   /* untouched */

    /* An empty file is a new store when writable, an error when read-only. */
    const char *empty = tmp_path("empty.db");
    write_file(empty, "", 0);
    s = open_store(empty, false, true, &st);
    CHECK(s == NULL && st == KEN_ERR_FORMAT);
    s = open_store(empty, false, false, &st);
    CHECK(s != NULL);
    ken_store_close(s);
    tmp_remove();
}

/* A ken store with garbage written over its pages: every call returns an
 * error or a result, never crashes. */
static void test_corrupt(void) {
    tmp_make();
    ken_status st;
    const char *p = tmp_path("ken.db");
    ken_store *s = open_store(p, true, false, &st);
    REQUIRE(s);
    static test_doc t;
    REQUIRE(s->ops->begin(s) == KEN_OK);
    for (int i = 0; i < 40; i++) {
        char uri[32];
        snprintf(uri, sizeof uri, "/d%d", i);
        make_doc(&t, "c", uri, NULL, "zeta", 20);
        CHECK_EQ_INT(s->ops->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL), KEN_OK);
    }
    CHECK_EQ_INT(s->ops->commit(s), KEN_OK);
    ken_store_close(s);
    struct stat sb;
    REQUIRE(stat(p, &sb) == 0 && sb.st_size > 8192);
    int fd = open(p, O_WRONLY);
    REQUIRE(fd >= 0);
    char junk[4096];
    uint32_t x = 12345;
    for (off_t off = 4096; off < sb.st_size; off += 4096 * 3) {
        for (size_t i = 0; i < sizeof junk; i++) {
            x = x * 1103515245u + 12345u;
            junk[i] = (char)(x >> 16);
        }
        CHECK(pwrite(fd, junk, sizeof junk, off) == (ssize_t)sizeof junk);
    }
    close(fd);
    s = open_store(p, false, false, &st);
    if (s) {
        /* Opening may succeed (page 1 is intact); the damage shows as errors. */
        ken_status c = s->ops->check(s);
        CHECK(c != KEN_OK);
        fprintf(stderr, "check on a corrupt store: %s\n", ken_store_errmsg(s));
        doc_seen ds = {0};
        ken_store_filter f = {0};
        ken_status l = s->ops->doc_list(s, &f, on_doc, &ds);
        fprintf(stderr, "doc_list on a corrupt store: %d %s\n", (int)l,
                l ? ken_store_errmsg(s) : "");
        make_doc(&t, "c", "/new", NULL, "eta", 3);
        l = s->ops->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL);
        fprintf(stderr, "doc_put on a corrupt store: %d %s\n", (int)l,
                l ? ken_store_errmsg(s) : "");
        ken_store_close(s);
    } else {
        CHECK(st != KEN_OK);
    }
    /* Page 1 destroyed: refused at open. */
    fd = open(p, O_WRONLY);
    REQUIRE(fd >= 0);
    CHECK(pwrite(fd, junk, 100, 0) == 100);
    close(fd);
    s = open_store(p, false, false, &st);
    CHECK(s == NULL && st == KEN_ERR_FORMAT);
    tmp_remove();
}

/* Fault injection: the k-th statement step of a replacing doc_put fails;
 * the old version must stay intact, in and out of an explicit transaction
 * (where the failure rolls back the whole transaction: a document put
 * earlier in it is gone too, and commit says there is no transaction). */
static void fault_round(bool explicit_tx) {
    tmp_make();
    const char *p = tmp_path("ken.db");
    ken_status st;
    ken_store *s = open_store(p, true, false, &st);
    REQUIRE(s);
    const ken_store_ops *o = s->ops;
    static test_doc t;
    make_doc(&t, "c", "/f", NULL, "old", 6);
    int64_t id = 0;
    REQUIRE(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, &id, NULL) == KEN_OK);
    make_doc(&t, "c", "/g", NULL, "other", 2);
    REQUIRE(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL) == KEN_OK);
    int failures = 0, rolled_back = 0;
    for (int k = 1; k < 200; k++) {
        if (explicit_tx) {
            REQUIRE(o->begin(s) == KEN_OK);
            make_doc(&t, "c", "/h", NULL, "third", 1);
            REQUIRE(o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL) == KEN_OK);
        }
        make_doc(&t, "c", "/f", NULL, "new", 4);
        ken_store_sqlite_fail_after(s, k);
        st = o->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL);
        ken_store_sqlite_fail_after(s, 0);
        if (st == KEN_OK) {
            if (explicit_tx) CHECK_EQ_INT(o->rollback(s), KEN_OK);
            break;
        }
        failures++;
        CHECK_EQ_INT(st, KEN_ERR_IO);
        CHECK(strstr(ken_store_errmsg(s), "injected") != NULL);
        if (explicit_tx) {
            /* Failing while checking the input (reads) keeps the transaction;
             * failing once writing began rolls it back. */
            if (strstr(ken_store_errmsg(s), "rolled back")) {
                rolled_back++;
                CHECK_EQ_INT(o->commit(s), KEN_ERR_INVALID);
            }
            CHECK_EQ_INT(o->rollback(s), KEN_OK);
        }
        doc_seen ds = {0};
        CHECK_EQ_INT(o->doc_get_id(s, id, on_doc, &ds), KEN_OK);
        CHECK(strstr(ds.text, "old") != NULL);
        CHECK_EQ_INT(ds.n_chunks, 6);
        chunks_seen cs = {0};
        CHECK_EQ_INT(o->chunk_list(s, id, on_chunk, &cs), KEN_OK);
        CHECK_EQ_INT(cs.n, 6);
        CHECK_EQ_INT(fts_count(p, "old"), 6);
        CHECK_EQ_INT(fts_count(p, "new"), 0);
        CHECK_EQ_INT(fts_count(p, "third"), 0);
        CHECK_EQ_INT(o->check(s), KEN_OK);
    }
    /* lookup, delete, insert, 4 x (chunk + fts) and begin/commit steps */
    CHECK(failures >= 10);
    if (explicit_tx) CHECK(rolled_back >= 8);
    fprintf(stderr, "fault injection (%s): %d failing points, old version intact\n",
            explicit_tx ? "in a transaction" : "alone", failures);
    ken_store_close(s);
    tmp_remove();
}

static void test_fault_injection(void) {
    fault_round(false);
    fault_round(true);
}


/* ------------------------------------------------------------ search */

typedef struct {
    int n, stop_at;
    double score[16];
    int64_t chunk[16], doc[16];
    char text[16][64], snippet[16][96], uri[16][32];
    bool has_snippet[16];
} hits_seen;

static int on_hit(void *ud, const ken_store_hit *h) {
    hits_seen *x = ud;
    if (x->n < 16) {
        x->score[x->n] = h->score;
        x->chunk[x->n] = h->chunk_id;
        x->doc[x->n] = h->doc_id;
        snprintf(x->text[x->n], 64, "%.*s", (int)h->text_len, h->text);
        snprintf(x->uri[x->n], 32, "%s", h->uri ? h->uri : "");
        x->has_snippet[x->n] = h->snippet != NULL;
        snprintf(x->snippet[x->n], 96, "%s", h->snippet ? h->snippet : "");
    }
    x->n++;
    return x->stop_at && x->n >= x->stop_at;
}

/* One document, one chunk per '|'-separated piece. */
static void put_pieces(ken_store *s, const char *coll, const char *uri, const char *mime,
                       const char *meta, const char *pieces, int64_t *id) {
    static char text[1024];
    ken_store_chunk ch[16];
    size_t n = 0, len = strlen(pieces);
    memcpy(text, pieces, len + 1);
    size_t start = 0;
    for (size_t i = 0; i <= len && n < 16; i++) {
        if (i == len || text[i] == '|') {
            if (i < len) text[i] = '\n';
            ch[n] = (ken_store_chunk){.ordinal = (int32_t)n, .start = (int64_t)start,
                                      .end = (int64_t)i, .heading = ""};
            n++;
            start = i + 1;
        }
    }
    ken_store_doc d = {.collection = coll, .uri = uri, .mime = mime, .meta_json = meta,
                       .text = text, .text_len = len};
    CHECK_EQ_INT(s->ops->doc_put(s, &d, ch, n, s->gen, id, NULL), KEN_OK);
}

static void search_bad_input(ken_store *s, const char *p);
static void search_counts(ken_store *s, int64_t a);

static void test_search(void) {
    tmp_make();
    const char *p = tmp_path("ken.db");
    ken_status st;
    ken_store *s = open_store(p, true, false, &st);
    REQUIRE(s);
    const ken_store_ops *o = s->ops;
    int64_t a = 0, b = 0;
    put_pieces(s, "c1", "/a", "text/plain", NULL, "apple pie|apple apple tart|banana split now", &a);
    put_pieces(s, "c1", "/b", "text/markdown", "{\"author\":\"ann\",\"n\":5}", "cherry", &b);

    /* BM25 by hand: 4 rows, 9 tokens (avgdl 2.25), "apple" in 2 rows:
     * idf = ln 2; k1 1.2, b 0.75. */
    hits_seen h = {0};
    ken_store_search_q q = {.match = "\"apple\"", .rank = "ken_bm25(1.2, 0.75)",
                            .mark_open = "**", .mark_close = "**"};
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    REQUIRE(h.n == 2);
    double want0 = log(2) * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 3 / 2.25));
    double want1 = log(2) * 1 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / 2.25));
    CHECKF(fabs(h.score[0] - want0) < 1e-9, "score %.12f want %.12f", h.score[0], want0);
    CHECKF(fabs(h.score[1] - want1) < 1e-9, "score %.12f want %.12f", h.score[1], want1);
    CHECK_EQ_STR(h.text[0], "apple apple tart");
    CHECK_EQ_STR(h.snippet[0], "**apple** **apple** tart");
    CHECK_EQ_STR(h.uri[1], "/a");
    CHECK_EQ_INT(h.doc[0], a);
    /* No markers: no snippet. Default rank works. */
    memset(&h, 0, sizeof h);
    q = (ken_store_search_q){.match = "\"apple\" OR \"cherry\""};
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    CHECK_EQ_INT(h.n, 3);
    CHECK(!h.has_snippet[0]);
    CHECK(h.score[0] >= h.score[1] && h.score[1] >= h.score[2] && h.score[2] > 0);
    /* Phrase weights: "apple" weighted 0 leaves cherry first. */
    memset(&h, 0, sizeof h);
    q.rank = "ken_bm25(0.9, 0.4, 0, 1)";
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    CHECK(h.n == 3 && strcmp(h.text[0], "cherry") == 0 && h.score[1] == 0);
    /* Filters, limit, stopping. */
    memset(&h, 0, sizeof h);
    q = (ken_store_search_q){.match = "\"apple\" OR \"cherry\"", .collection = "c1",
                             .mime = "text/markdown"};
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    CHECK(h.n == 1 && h.doc[0] == b);
    memset(&h, 0, sizeof h);
    q = (ken_store_search_q){.match = "\"apple\" OR \"cherry\"", .meta_path = "$.author",
                             .meta_value = "ann"};
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    CHECK(h.n == 1 && h.doc[0] == b);
    memset(&h, 0, sizeof h);
    q.meta_path = "$.n";
    q.meta_value = "5";
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    CHECK_EQ_INT(h.n, 1);
    memset(&h, 0, sizeof h);
    q = (ken_store_search_q){.match = "\"apple\" OR \"cherry\"", .uri_prefix = "/a"};
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    CHECK_EQ_INT(h.n, 2);
    memset(&h, 0, sizeof h);
    q = (ken_store_search_q){.match = "\"apple\" OR \"cherry\"", .collection = "nope"};
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    CHECK_EQ_INT(h.n, 0);
    memset(&h, 0, sizeof h);
    q = (ken_store_search_q){.match = "\"apple\" OR \"cherry\"", .limit = 2};
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    CHECK_EQ_INT(h.n, 2);
    memset(&h, 0, sizeof h);
    h.stop_at = 1;
    q.limit = 0;
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    CHECK_EQ_INT(h.n, 1);
    search_bad_input(s, p);
    search_counts(s, a);
    ken_store_close(s);
    tmp_remove();
}

/* Bad input to search: errors, not crashes (two rows match "apple"). */
static void search_bad_input(ken_store *s, const char *p) {
    const ken_store_ops *o = s->ops;
    hits_seen h = {0};
    ken_store_search_q q = {.match = "\"apple\"", .rank = "ken_bm25(-1, 2)"};
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_ERR_STORE);
    static const char *const bad_ranks[] = {
        "ken_bm25(1); DROP TABLE chunks", "ken_bm25('x')", "ken_bm25(1,)", "ken_bm25(,1)",
        "(1)", "ken_bm25", "ken_bm25(1", "ken_bm25(1 2)", "ken_bm25(-)", "ken_bm25(1e)",
        "ken_bm25(x'00')", "ken_bm25(NULL)", "ken_bm25(1e-05)", "ken_bm25(1..2)",
    };
    for (size_t i = 0; i < KEN_ARRAY_LEN(bad_ranks); i++) {
        q = (ken_store_search_q){.match = "\"apple\"", .rank = bad_ranks[i]};
        CHECKF(o->search(s, &q, on_hit, &h) == KEN_ERR_INVALID, "rank %s", bad_ranks[i]);
    }
    memset(&h, 0, sizeof h);
    q = (ken_store_search_q){.match = "\"apple\"", .rank = "ken_bm25( 1.5 , -0 ,+2,.5)"};
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    CHECK_EQ_INT(h.n, 2);
    memset(&h, 0, sizeof h);
    q.rank = "bm25()";
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_OK);
    CHECK_EQ_INT(h.n, 2);
    q = (ken_store_search_q){.match = "AND OR ("};
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_ERR_STORE);
    q = (ken_store_search_q){.match = ""};
    CHECK_EQ_INT(o->search(s, &q, on_hit, &h), KEN_ERR_INVALID);
    CHECK_EQ_INT(raw_int(p, "SELECT count(*) FROM chunks"), 4);
}

/* match_count: df and N for idf, before and after replacing document a. */
static void search_counts(ken_store *s, int64_t a) {
    const ken_store_ops *o = s->ops;
    int64_t df = -1, n = -1, c = 0;
    CHECK_EQ_INT(o->match_count(s, "\"apple\"", &df, &n), KEN_OK);
    CHECK(df == 2 && n == 4);
    CHECK_EQ_INT(o->match_count(s, "\"durian\"", &df, &n), KEN_OK);
    CHECK(df == 0 && n == 4);
    /* The index follows a replace: old terms gone, new ones found. */
    put_pieces(s, "c1", "/a", "text/plain", NULL, "durian", &c);
    CHECK_EQ_INT(c, a);
    CHECK_EQ_INT(o->match_count(s, "\"apple\"", &df, &n), KEN_OK);
    CHECK(df == 0 && n == 2);
    CHECK_EQ_INT(o->match_count(s, "\"durian\"", &df, &n), KEN_OK);
    CHECK(df == 1 && n == 2);
}

/* Several processes create and write the same new store at once: the
 * schema is made once (the version is re-read under the write lock) and
 * every writer succeeds (busy_timeout, BEGIN IMMEDIATE). */
static void test_concurrent_create(void) {
    tmp_make();
    const char *p = tmp_path("sub/ken.db");
    enum { N = 4 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        REQUIRE(pids[i] >= 0);
        if (pids[i] == 0) {
            ken_status st;
            ken_store *s = open_store(p, true, false, &st);
            if (!s) _exit(10);
            static test_doc t;
            char uri[16];
            int rc = 0;
            for (int k = 0; k < 20 && !rc; k++) {
                snprintf(uri, sizeof uri, "/p%d/%d", i, k);
                make_doc(&t, "c", uri, NULL, "conc", 3);
                if (s->ops->doc_put(s, &t.doc, t.chunks, t.n, s->gen, NULL, NULL)) {
                    fprintf(stderr, "child %d: %s\n", i, ken_store_errmsg(s));
                    rc = 11;
                }
            }
            ken_store_close(s);
            _exit(rc);
        }
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        CHECK(waitpid(pids[i], &status, 0) == pids[i]);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d status %d", i, status);
    }
    CHECK_EQ_INT(raw_int(p, "SELECT count(*) FROM documents"), N * 20);
    CHECK_EQ_INT(fts_count(p, "conc"), N * 20 * 3);
    CHECK_EQ_INT(raw_int(p, "PRAGMA user_version"), KEN_STORE_SCHEMA_VERSION);
    tmp_remove();
}

TEST_MAIN(test_create_open, test_docs, test_touch_prune_cascade, test_tx_and_reentry,
          test_config_readonly, test_search, test_refusals, test_concurrent_create, test_corrupt, test_fault_injection)
