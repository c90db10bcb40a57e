/* test_store_chat.c: chat sessions in the SQLite store (schema 2): create and
 * find by name, turns appended in order with their sources, listing,
 * cascading delete, refusal of bad roles/names/UTF-8/oversized turns and of
 * writes through a read-only handle, persistence across reopen, and the
 * forward migration of a version-1 file. */
#include "store/store.h"
#include "test.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char path[128];

static ken_store *open_store(bool create, bool readonly) {
    ken_store_opts o = {.path = path, .create = create, .readonly = readonly};
    ken_store *s = NULL;
    ken_err e = {{0}};
    if (ken_store_open(&o, &s, &e) != KEN_OK) fprintf(stderr, "open: %s\n", e.msg);
    return s;
}

typedef struct { int n; char roles[8][16]; char text[8][64]; char src[8][64]; } turns;

static int on_turn(void *ud, const ken_store_turn *t) {
    turns *x = ud;
    if (x->n >= 8) return 1;
    CHECK_EQ_INT(t->ordinal, x->n + 1);
    snprintf(x->roles[x->n], 16, "%s", t->role);
    snprintf(x->text[x->n], 64, "%.*s", (int)t->content_len, t->content);
    snprintf(x->src[x->n], 64, "%s", t->sources_json ? t->sources_json : "-");
    x->n++;
    return 0;
}

typedef struct { int n; char names[4][32]; int64_t turns[4]; } sessions;

static int on_session(void *ud, const ken_store_session *s) {
    sessions *x = ud;
    if (x->n >= 4) return 1;
    snprintf(x->names[x->n], 32, "%s", s->name);
    x->turns[x->n++] = s->n_turns;
    return 0;
}

static ken_status add(ken_store *s, int64_t sid, const char *role, const char *text,
                      const char *src) {
    ken_store_turn t = {.role = role, .content = text, .content_len = strlen(text),
                        .sources_json = src};
    return s->ops->turn_add(s, sid, &t, NULL);
}

static void test_sessions(void) {
    ken_store *s = open_store(true, false);
    REQUIRE(s != NULL);
    int64_t a = 0, b = 0, again = 0;
    CHECK(s->ops->session_open(s, "alpha", false, &a) == KEN_ERR_NOTFOUND);
    CHECK(s->ops->session_open(s, "alpha", true, &a) == KEN_OK);
    CHECK(s->ops->session_open(s, "alpha", true, &again) == KEN_OK);
    CHECK(a > 0 && again == a);
    CHECK(s->ops->session_open(s, "beta", true, &b) == KEN_OK && b != a);
    CHECK(add(s, a, "user", "What is WAL?", NULL) == KEN_OK);
    CHECK(add(s, a, "assistant", "Write-ahead logging [1].",
              "[{\"n\":1,\"uri\":\"/d/wal.html\",\"start\":10,\"end\":90}]") == KEN_OK);
    CHECK(add(s, b, "user", "hello", NULL) == KEN_OK);
    CHECK(add(s, a, "user", "And checkpoints?", NULL) == KEN_OK);
    /* refused before anything is written */
    CHECK(add(s, a, "narrator", "x", NULL) == KEN_ERR_INVALID);
    CHECK(add(s, a, "user", "bad \xff utf8", NULL) == KEN_ERR_INVALID);
    CHECK(add(s, a, "user", "x", "{not json") != KEN_OK);
    CHECK(add(s, 9999, "user", "no such session", NULL) != KEN_OK);
    CHECK(s->ops->session_open(s, "", true, &again) == KEN_ERR_INVALID);
    CHECK(s->ops->session_open(s, "\xc3", true, &again) == KEN_ERR_INVALID);
    char big[300];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(s->ops->session_open(s, big, true, &again) == KEN_ERR_INVALID);
    size_t huge_n = (16u << 20) + 1;
    char *huge = malloc(huge_n);
    REQUIRE(huge != NULL);
    memset(huge, 'a', huge_n);
    ken_store_turn ht = {.role = "user", .content = huge, .content_len = huge_n};
    CHECK(s->ops->turn_add(s, a, &ht, NULL) == KEN_ERR_LIMIT);
    free(huge);
    turns t = {0};
    CHECK(s->ops->turn_list(s, a, on_turn, &t) == KEN_OK);
    CHECK_EQ_INT(t.n, 3);
    CHECK_EQ_STR(t.roles[0], "user");
    CHECK_EQ_STR(t.text[1], "Write-ahead logging [1].");
    CHECK(strstr(t.src[1], "wal.html") != NULL);
    CHECK_EQ_STR(t.src[0], "-");
    CHECK_EQ_STR(t.text[2], "And checkpoints?");
    s->ops->close(s);

    /* persisted; read-only handles read but do not write */
    s = open_store(false, true);
    REQUIRE(s != NULL);
    sessions ss = {0};
    CHECK(s->ops->session_list(s, on_session, &ss) == KEN_OK);
    CHECK_EQ_INT(ss.n, 2);
    int ia = strcmp(ss.names[0], "alpha") == 0 ? 0 : 1;
    CHECK_EQ_STR(ss.names[ia], "alpha");
    CHECK_EQ_INT(ss.turns[ia], 3);
    CHECK_EQ_INT(ss.turns[1 - ia], 1);
    CHECK(s->ops->session_open(s, "gamma", true, &again) == KEN_ERR_INVALID);
    CHECK(add(s, a, "user", "x", NULL) == KEN_ERR_INVALID);
    s->ops->close(s);

    /* delete cascades to the turns */
    s = open_store(false, false);
    REQUIRE(s != NULL);
    CHECK(s->ops->session_delete(s, a) == KEN_OK);
    CHECK(s->ops->session_delete(s, a) == KEN_ERR_NOTFOUND);
    t.n = 0;
    CHECK(s->ops->turn_list(s, a, on_turn, &t) == KEN_OK);
    CHECK_EQ_INT(t.n, 0);
    CHECK(s->ops->check(s) == KEN_OK);
    s->ops->close(s);
}

static int raw(const char *sql) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* A version-1 file (made by dropping what migrations 2 and 3 added) is
 * moved forward on open. */
static void test_migration(void) {
    unlink(path);
    ken_store *s = open_store(true, false);
    REQUIRE(s != NULL);
    s->ops->close(s);
    CHECK_EQ_INT(raw("DROP TABLE embeddings; DROP TABLE embed_models; DROP TABLE chat_turns;"
                     " DROP TABLE chat_sessions; PRAGMA user_version = 1;"),
                 SQLITE_OK);
    s = open_store(false, true);             /* read-only cannot migrate */
    CHECK(s == NULL);
    if (s) s->ops->close(s);
    s = open_store(false, false);
    REQUIRE(s != NULL);
    int64_t id = 0;
    CHECK(s->ops->session_open(s, "after-migration", true, &id) == KEN_OK);
    CHECK(add(s, id, "user", "ok", NULL) == KEN_OK);
    ken_store_stats st;
    CHECK(s->ops->stats(s, &st) == KEN_OK);
    CHECK_EQ_INT(st.schema_version, KEN_STORE_SCHEMA_VERSION);
    s->ops->close(s);
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

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/ken_chat_XXXXXX");
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/s.db", dir);
}

TEST_MAIN(setup, test_sessions, test_migration, cleanup)
