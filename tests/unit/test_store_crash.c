/* test_store_crash.c: kill -9 during writes. A child process rewrites many
 * documents (each with many chunks, every chunk carrying the document's
 * version marker "vN") in batched transactions and reports each commit on a
 * pipe; the parent SIGKILLs it at several points (after different numbers of
 * commits, and after different delays), then opens the store and checks:
 * integrity_check ok, FTS index consistent with the chunks, no orphan chunks,
 * every document entirely in one version (row, chunk count, every chunk's
 * text, the FTS index agree), every reported commit durable, no document gone
 * back in time. Finally an unkilled writer completes the job. */
#include "store/store.h"
#include "test.h"

#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_DOCS 120
#define N_VERSIONS 5
#define BATCH 10
#define N_BATCHES (N_DOCS / BATCH)
#define COLLECTION "crash"

static char tmp_dir[256], db_path[300];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static int chunks_of(int v) { return 8 + 3 * v; }

/* The text of document d in version v, one chunk per line. */
static size_t doc_text(int d, int v, char *buf, size_t cap, ken_store_chunk *ch) {
    size_t len = 0;
    int n = chunks_of(v);
    for (int i = 0; i < n; i++) {
        ch[i] = (ken_store_chunk){.ordinal = i, .start = (int64_t)len, .tokens = 12,
                                  .heading = "Doc > Part"};
        len += (size_t)snprintf(buf + len, cap - len, "doc%d chunk%d marker v%d lorem ipsum "
                                "dolor sit amet consectetur adipiscing elit sed do\n", d, i, v);
        ch[i].end = (int64_t)len - 1;
    }
    return len;
}

typedef struct { int v, batch, committed; } commit_msg;  /* committed 0: begun */

static int version_of(void *ud, const ken_store_doc *d) {
    *(int *)ud = d->hash && d->hash[0] == 'v' ? atoi(d->hash + 1) : -1;
    return 0;
}

/* The writer: for each version, brings every document up to it, BATCH
 * documents per transaction; skips documents already there, so a re-run
 * resumes. Reports each commit on fd. Never returns. */
static void writer(int fd) {
    ken_store_opts o = {.path = db_path, .create = true};
    ken_store *s = NULL;
    ken_err e;
    if (ken_store_open(&o, &s, &e)) { fprintf(stderr, "writer: %s\n", e.msg); _exit(2); }
    static char text[16384];
    static ken_store_chunk ch[64];
    char uri[32], hash[16];
    for (int v = 1; v <= N_VERSIONS; v++) {
        for (int b = 0; b < N_BATCHES; b++) {
            if (s->ops->begin(s)) goto fail;
            commit_msg mb = {v, b, 0};
            if (write(fd, &mb, sizeof mb) != (ssize_t)sizeof mb) _exit(3);
            for (int d = b * BATCH; d < (b + 1) * BATCH; d++) {
                snprintf(uri, sizeof uri, "/doc/%d", d);
                int cur = 0;
                ken_status st = s->ops->doc_find(s, COLLECTION, uri, version_of, &cur);
                if (st && st != KEN_ERR_NOTFOUND) goto fail;
                if (cur >= v) continue;
                snprintf(hash, sizeof hash, "v%d", v);
                size_t len = doc_text(d, v, text, sizeof text, ch);
                ken_store_doc doc = {.collection = COLLECTION, .uri = uri, .hash = hash,
                                     .title = "crash doc", .text = text, .text_len = len};
                if (s->ops->doc_put(s, &doc, ch, (size_t)chunks_of(v), s->gen, NULL, NULL))
                    goto fail;
            }
            if (s->ops->commit(s)) goto fail;
            commit_msg m = {v, b, 1};
            if (write(fd, &m, sizeof m) != (ssize_t)sizeof m) _exit(3);
        }
    }
    ken_store_close(s);
    _exit(0);
fail:
    fprintf(stderr, "writer: %s\n", ken_store_errmsg(s));
    _exit(4);
}

static long long raw_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "raw query '%s': %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return v;
}

typedef struct { int v, n, bad; } chunk_check;
static int check_chunk(void *ud, const ken_store_chunk *c) {
    chunk_check *k = ud;
    char want[32];
    int m = snprintf(want, sizeof want, " marker v%d ", k->v);
    k->n++;
    if (!memmem(c->text, c->text_len, want, (size_t)m)) k->bad++;
    return 0;
}

/* Checks the store after a kill. floor[d]: the lowest version document d
 * may hold (from reported commits and the previous round); updated. */
static void check_store(int *floor, const char *when) {
    ken_store_opts o = {.path = db_path};
    ken_store *s = NULL;
    ken_err e;
    ken_status st = ken_store_open(&o, &s, &e);
    bool none_yet = true;
    for (int d = 0; d < N_DOCS; d++) none_yet = none_yet && floor[d] == 0;
    if (st == KEN_ERR_NOTFOUND && none_yet) {
        fprintf(stderr, "%s: killed before the store file was made\n", when);
        return;
    }
    CHECKF(st == KEN_OK, "%s: open: %s", when, e.msg);
    if (st) return;
    CHECKF(s->ops->check(s) == KEN_OK, "%s: %s", when, ken_store_errmsg(s));
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    char *ic = NULL;
    sqlite3_stmt *icq = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &icq, NULL) == SQLITE_OK &&
        sqlite3_step(icq) == SQLITE_ROW)
        ic = sqlite3_mprintf("%s", sqlite3_column_text(icq, 0));
    sqlite3_finalize(icq);
    CHECKF(ic && strcmp(ic, "ok") == 0, "%s: integrity_check: %s", when, ic ? ic : "?");
    sqlite3_free(ic);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM chunks WHERE doc_id NOT IN"
                             " (SELECT id FROM documents)"), 0);
    long long per_version[N_VERSIONS + 1] = {0};
    int present = 0;
    for (int d = 0; d < N_DOCS; d++) {
        char uri[32];
        snprintf(uri, sizeof uri, "/doc/%d", d);
        int v = 0;
        st = s->ops->doc_find(s, COLLECTION, uri, version_of, &v);
        if (st == KEN_ERR_NOTFOUND) {
            CHECKF(floor[d] == 0, "%s: doc %d lost (was at least v%d)", when, d, floor[d]);
            continue;
        }
        CHECK_EQ_INT(st, KEN_OK);
        present++;
        CHECKF(v >= 1 && v <= N_VERSIONS && v >= floor[d], "%s: doc %d at v%d, floor v%d",
               when, d, v, floor[d]);
        if (v < 1 || v > N_VERSIONS) continue;
        floor[d] = v;
        per_version[v] += chunks_of(v);
        /* The chunks: count from the row, from the chunk table, all marked vN. */
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT n_chunks * 1000 + (SELECT count(*) FROM chunks"
                 " WHERE doc_id = d.id) FROM documents d WHERE uri = '%s'", uri);
        CHECKF(raw_int(db, sql) == chunks_of(v) * 1001LL, "%s: doc %d v%d: chunk counts", when,
               d, v);
        int64_t id = 0;
        snprintf(sql, sizeof sql, "SELECT id FROM documents WHERE uri = '%s'", uri);
        id = raw_int(db, sql);
        chunk_check k = {.v = v};
        CHECK_EQ_INT(s->ops->chunk_list(s, id, check_chunk, &k), KEN_OK);
        CHECKF(k.n == chunks_of(v) && k.bad == 0, "%s: doc %d v%d: %d chunks, %d not of v%d",
               when, d, v, k.n, k.bad, v);
    }
    /* The FTS index (not the content table) agrees, version by version. */
    for (int v = 1; v <= N_VERSIONS; v++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH"
                 " 'marker AND v%d'", v);
        CHECKF(raw_int(db, sql) == per_version[v], "%s: FTS rows of v%d: %lld, want %lld", when,
               v, raw_int(db, sql), per_version[v]);
    }
    fprintf(stderr, "%s: %d documents; chunks per version:", when, present);
    for (int v = 1; v <= N_VERSIONS; v++) fprintf(stderr, " v%d=%lld", v, per_version[v]);
    fputc('\n', stderr);
    sqlite3_close(db);
    ken_store_close(s);
}

/* Runs the writer, kills it after `commits` reported commits (or after
 * delay_us when commits < 0), raises floors from the reported commits. */
static int mid_tx_kills;

static void round_once(int commits, int delay_us, int *floor, const char *label) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        writer(fds[1]);
    }
    close(fds[1]);
    commit_msg m;
    int got = 0;
    bool killed = false;
    if (commits < 0) {
        usleep((useconds_t)delay_us);
        killed = kill(pid, SIGKILL) == 0;
    }
    bool in_tx = false;
    while (read(fds[0], &m, sizeof m) == (ssize_t)sizeof m) {
        in_tx = !m.committed;
        if (!m.committed) {
            if (got == commits && !killed) {
                /* The next transaction has begun: land somewhere inside it. */
                usleep((useconds_t)delay_us);
                killed = kill(pid, SIGKILL) == 0;
            }
            continue;
        }
        for (int d = m.batch * BATCH; d < (m.batch + 1) * BATCH; d++)
            if (floor[d] < m.v) floor[d] = m.v;
        got++;
    }
    close(fds[0]);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    bool by_kill = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    CHECKF(by_kill || clean, "%s: writer failed (status %d)", label, status);
    char when[96];
    if (by_kill && in_tx) mid_tx_kills++;
    snprintf(when, sizeof when, "%s (%d commits seen, %s)", label, got,
             by_kill ? (in_tx ? "killed inside a transaction" : "killed") : "finished");
    check_store(floor, when);
}

static void test_crash(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/ken_store_crash_XXXXXX");
    REQUIRE(mkdtemp(tmp_dir));
    snprintf(db_path, sizeof db_path, "%s/ken.db", tmp_dir);
    double t0 = (double)clock();
    int floor[N_DOCS] = {0};
    /* Kill points: inside the transaction after n commits (after a delay,
     * to land at different places in it), and at fixed delays from the start. */
    static const struct { int commits, delay_us; } points[] = {
        {-1, 30000}, {1, 0}, {4, 300}, {9, 1500}, {17, 100}, {26, 2500}, {-1, 150000},
        {38, 700}, {47, 0}, {55, 1200},
    };
    for (size_t i = 0; i < KEN_ARRAY_LEN(points); i++) {
        char label[64];
        snprintf(label, sizeof label, "kill point %zu", i + 1);
        round_once(points[i].commits, points[i].delay_us, floor, label);
    }
    /* An unkilled writer completes the job. */
    round_once(1 << 30, 0, floor, "final run");
    /* The kills must have hit open transactions, or the test shows little. */
    CHECKF(mid_tx_kills >= 5, "only %d kills landed inside a transaction", mid_tx_kills);
    for (int d = 0; d < N_DOCS; d++)
        CHECKF(floor[d] == N_VERSIONS, "doc %d ends at v%d", d, floor[d]);
    fprintf(stderr, "crash test: %.1f s cpu in the parent\n", ((double)clock() - t0) / CLOCKS_PER_SEC);
    nftw(tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TEST_MAIN(test_crash)
