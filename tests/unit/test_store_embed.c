/* test_store_embed.c: embeddings in the SQLite store (schema 3): models
 * recorded and listed with their vector counts, vectors written, replaced,
 * scanned and counted, chunks without vectors (paged by id), the revision
 * counter moving on every change, vectors leaving with their documents and
 * their model, chunk ids under filters, one chunk as a hit, a damaged
 * vector refused, read-only refusals, and migrating a version-2 file. */
#include "store/store.h"
#include "test.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/ken-test-store-embed-XXXXXX";
static char path[128];

static ken_store *open_store(bool create, bool readonly) {
    ken_store_opts o = {.path = path, .create = create, .readonly = readonly};
    ken_store *s = NULL;
    ken_err e = {{0}};
    if (ken_store_open(&o, &s, &e) != KEN_OK) fprintf(stderr, "open: %s\n", e.msg);
    return s;
}

static int raw(const char *sql) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static int64_t put_doc(ken_store *s, const char *coll, const char *uri, const char *mime,
                       const char *meta, const char *text, int n_chunks) {
    ken_store_chunk ch[4];
    size_t len = strlen(text), step = len / (size_t)n_chunks;
    for (int i = 0; i < n_chunks; i++)
        ch[i] = (ken_store_chunk){.ordinal = i, .start = (int64_t)(step * (size_t)i),
                                  .end = i == n_chunks - 1 ? (int64_t)len
                                                            : (int64_t)(step * (size_t)(i + 1))};
    char hash[65];
    ken_sha256_hex(text, len, hash);
    ken_store_doc d = {.collection = coll, .uri = uri, .title = "T", .mime = mime, .hash = hash,
                       .meta_json = meta, .text = text, .text_len = len};
    int64_t id = 0;
    CHECKF(s->ops->doc_put(s, &d, ch, (size_t)n_chunks, s->gen, &id, NULL) == KEN_OK, "%s",
           ken_store_errmsg(s));
    return id;
}

typedef struct { int64_t ids[16]; size_t n; float first[16]; } idlist;

static int on_hit(void *ud, const ken_store_hit *h) {
    idlist *l = ud;
    if (l->n < 16) l->ids[l->n++] = h->chunk_id;
    CHECK(h->text && h->uri && h->text_len == (size_t)(h->end - h->start));
    return 0;
}
static int on_id(void *ud, int64_t id) {
    idlist *l = ud;
    if (l->n < 16) l->ids[l->n++] = id;
    return 0;
}
static int on_vec(void *ud, int64_t chunk, const float *v, uint32_t dim) {
    idlist *l = ud;
    CHECK_EQ_INT(dim, 3);
    if (l->n < 16) { l->first[l->n] = v[0]; l->ids[l->n++] = chunk; }
    return 0;
}

typedef struct { int n; ken_store_emodel m[4]; char name[4][32]; } models;
static int on_model(void *ud, const ken_store_emodel *m) {
    models *x = ud;
    if (x->n >= 4) return 1;
    x->m[x->n] = *m;
    snprintf(x->name[x->n], 32, "%s", m->name);
    x->n++;
    return 0;
}

static int64_t model_rev(ken_store *s, int64_t id) {
    models ms = {0};
    CHECK(s->ops->emodel_list(s, on_model, &ms) == KEN_OK);
    for (int i = 0; i < ms.n; i++) if (ms.m[i].id == id) return ms.m[i].rev;
    return -1;
}

static void test_vectors(void) {
    ken_store *s = open_store(true, false);
    REQUIRE(s != NULL);
    int64_t d1 = put_doc(s, "a", "/x/one.md", "text/markdown", "{\"lang\":\"en\"}",
                         "alpha beta gamma delta", 2);
    int64_t d2 = put_doc(s, "b", "/y/two.txt", "text/plain", NULL, "epsilon zeta", 1);
    (void)d2;
    ken_store_emodel m = {.sha256 = "ab", .name = "tiny", .path = "/m.gguf", .dim = 3,
                          .passage_prefix = "passage: "};
    int64_t mid = 0;
    REQUIRE(s->ops->emodel_put(s, &m, &mid) == KEN_OK);
    ken_store_emodel bad = m;
    bad.dim = 0;
    CHECK(s->ops->emodel_put(s, &bad, NULL) == KEN_ERR_INVALID);
    int64_t nv = -1, nm = -1;
    CHECK(s->ops->vec_count(s, mid, &nv, &nm) == KEN_OK);
    CHECK(nv == 0 && nm == 3);
    idlist miss = {0};
    CHECK(s->ops->vec_missing(s, mid, 0, 2, on_hit, &miss) == KEN_OK);
    REQUIRE(miss.n == 2);
    CHECK(miss.ids[0] < miss.ids[1]);
    idlist rest = {0};
    CHECK(s->ops->vec_missing(s, mid, miss.ids[1], 0, on_hit, &rest) == KEN_OK);
    CHECK_EQ_INT(rest.n, 1);
    int64_t rev0 = model_rev(s, mid);
    float v[3] = {1, 2, 3};
    CHECK(s->ops->vec_put(s, mid, miss.ids[0], v, 3) == KEN_OK);
    CHECK(model_rev(s, mid) > rev0);
    v[0] = 9;
    int64_t rev1 = model_rev(s, mid);
    CHECK(s->ops->vec_put(s, mid, miss.ids[0], v, 3) == KEN_OK);   /* replaced */
    CHECK(model_rev(s, mid) > rev1);
    CHECK(s->ops->vec_put(s, mid, miss.ids[1], v, 3) == KEN_OK);
    CHECK(s->ops->vec_put(s, mid, rest.ids[0], v, 3) == KEN_OK);
    CHECK(s->ops->vec_put(s, mid, 999999, v, 3) != KEN_OK);        /* no such chunk */
    CHECK(s->ops->vec_put(s, mid, rest.ids[0], v, 0) == KEN_ERR_INVALID);
    CHECK(s->ops->vec_count(s, mid, &nv, &nm) == KEN_OK);
    CHECK(nv == 3 && nm == 0);
    idlist sc = {0};
    CHECK(s->ops->vec_scan(s, mid, on_vec, &sc) == KEN_OK);
    CHECK_EQ_INT(sc.n, 3);
    CHECK(sc.first[0] == 9.0f);
    models ms = {0};
    CHECK(s->ops->emodel_list(s, on_model, &ms) == KEN_OK);
    CHECK(ms.n == 1 && ms.m[0].n_vectors == 3 && ms.m[0].dim == 3);
    CHECK_EQ_STR(ms.name[0], "tiny");
    /* Filters. */
    idlist f = {0};
    ken_store_search_q q = {.collection = "a"};
    CHECK(s->ops->chunk_ids(s, &q, on_id, &f) == KEN_OK);
    CHECK_EQ_INT(f.n, 2);
    idlist g = {0};
    ken_store_search_q q2 = {.uri_prefix = "/y/"};
    CHECK(s->ops->chunk_ids(s, &q2, on_id, &g) == KEN_OK);
    CHECK(g.n == 1 && g.ids[0] == rest.ids[0]);
    idlist h = {0};
    ken_store_search_q q3 = {.meta_path = "$.lang", .meta_value = "en", .mime = "text/markdown"};
    CHECK(s->ops->chunk_ids(s, &q3, on_id, &h) == KEN_OK);
    CHECK_EQ_INT(h.n, 2);
    idlist all = {0};
    CHECK(s->ops->chunk_ids(s, NULL, on_id, &all) == KEN_OK);
    CHECK_EQ_INT(all.n, 3);
    idlist one = {0};
    CHECK(s->ops->chunk_hit(s, rest.ids[0], on_hit, &one) == KEN_OK);
    CHECK_EQ_INT(one.n, 1);
    CHECK(s->ops->chunk_hit(s, 424242, on_hit, &one) == KEN_ERR_NOTFOUND);
    /* Deleting a document takes its vectors; the revision moves. */
    int64_t rev2 = model_rev(s, mid);
    CHECK(s->ops->doc_delete(s, d1) == KEN_OK);
    CHECK(s->ops->vec_count(s, mid, &nv, &nm) == KEN_OK);
    CHECK(nv == 1 && nm == 0);
    CHECK(model_rev(s, mid) > rev2);
    /* A second model; deleting the first takes its vectors. */
    int64_t mid2 = 0;
    m.sha256 = "cd";
    CHECK(s->ops->emodel_put(s, &m, &mid2) == KEN_OK);
    CHECK(mid2 != mid);
    CHECK(s->ops->vec_put(s, mid2, rest.ids[0], v, 3) == KEN_OK);
    CHECK(s->ops->emodel_delete(s, mid) == KEN_OK);
    CHECK(s->ops->vec_count(s, mid2, &nv, &nm) == KEN_OK);
    CHECK(nv == 1 && nm == 0);
    CHECK(s->ops->check(s) == KEN_OK);
    s->ops->close(s);
    /* A damaged vector (wrong size) is refused on reading, not trusted. */
    CHECK_EQ_INT(raw("UPDATE embeddings SET vec = x'0102'"), SQLITE_OK);
    s = open_store(false, true);
    REQUIRE(s != NULL);
    idlist d = {0};
    CHECK(s->ops->vec_scan(s, mid2, on_vec, &d) == KEN_ERR_STORE);
    CHECK(strstr(ken_store_errmsg(s), "damaged") != NULL);
    /* Read-only refusals. */
    CHECK(s->ops->vec_put(s, mid2, rest.ids[0], v, 3) == KEN_ERR_INVALID);
    CHECK(s->ops->emodel_put(s, &m, NULL) == KEN_ERR_INVALID);
    CHECK(s->ops->emodel_delete(s, mid2) == KEN_ERR_INVALID);
    s->ops->close(s);
}

/* A version-2 file (made by dropping what migration 3 added) is moved
 * forward on open. */
static void test_migration(void) {
    unlink(path);
    ken_store *s = open_store(true, false);
    REQUIRE(s != NULL);
    put_doc(s, "a", "/z.txt", "text/plain", NULL, "one two three", 1);
    s->ops->close(s);
    CHECK_EQ_INT(raw("DROP TABLE embeddings; DROP TABLE embed_models; PRAGMA user_version = 2;"),
                 SQLITE_OK);
    s = open_store(false, false);
    REQUIRE(s != NULL);
    ken_store_emodel m = {.sha256 = "ab", .path = "/m", .dim = 2};
    int64_t mid;
    CHECK(s->ops->emodel_put(s, &m, &mid) == KEN_OK);
    int64_t nv, nm;
    CHECK(s->ops->vec_count(s, mid, &nv, &nm) == KEN_OK);
    CHECK(nv == 0 && nm == 1);
    ken_store_stats st;
    CHECK(s->ops->stats(s, &st) == KEN_OK);
    CHECK_EQ_INT(st.schema_version, 3);
    s->ops->close(s);
}

static void setup(void) {
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(1); }
    snprintf(path, sizeof path, "%s/kb.db", dir);
}

static void cleanup(void) {
    char p[160];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
}

TEST_MAIN(setup, test_vectors, test_migration, cleanup)
