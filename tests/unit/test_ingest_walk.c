/* test_ingest_walk.c: the walker on a real folder tree: sorted order, hidden
 * entries, .kenignore rules (globs, **, negation, anchoring, folder-only,
 * nested files), symlinks (folders not followed, dangling ones reported). */
#include "test_ingest_util.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void put(const char *rel, const char *text) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    /* mkdir -p of the parent */
    for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = 0;
        mkdir(p, 0755);
        *s = '/';
    }
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

typedef struct {
    char list[4096];
    int n, stop_at;
} seen;

static int on_file(void *ud, const char *path) {
    seen *s = ud;
    size_t rl = strlen(root);
    const char *rel = strncmp(path, root, rl) == 0 && path[rl] == '/' ? path + rl + 1 : path;
    size_t l = strlen(s->list);
    snprintf(s->list + l, sizeof s->list - l, "%s;", rel);
    return ++s->n == s->stop_at;
}

static void rm_rf(const char *p) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", p);
}

static void test_walk_tree(void) {
    snprintf(root, sizeof root, "/tmp/ken-walk-XXXXXX");
    REQUIRE(mkdtemp(root));
    put(".kenignore",
        "# comment\n\nbuild/\n*.log\n!keep.log\n/top.txt\n[ab]x.dat\nq?.txt\n"
        "deep/**/target.txt\nvendor/**\n");
    put("a.txt", "a");
    put("b.md", "b");
    put(".hidden.txt", "h");
    put(".git/config", "g");
    put("build/out.o", "o");
    put("logs/x.log", "x");
    put("logs/keep.log", "k");
    put("top.txt", "t");
    put("ax.dat", "d");
    put("cx.dat", "d");
    put("q1.txt", "q");
    put("deep/a/b/c/target.txt", "t");
    put("deep/a/other.txt", "o");
    put("deep/target.txt", "t");
    put("vendor/lib.c", "v");
    put("docs/.kenignore", "draft*\n/local.txt\n");
    put("docs/readme.md", "r");
    put("docs/draft1.md", "d");
    put("docs/local.txt", "l");
    put("docs/top.txt", "t");
    put("docs/sub/local.txt", "l");
    put("docs/sub/draft2.md", "d");
    char p[600], t[600];
    snprintf(p, sizeof p, "%s/link_to_dir", root);
    snprintf(t, sizeof t, "%s/docs", root);
    CHECK(symlink(t, p) == 0);
    snprintf(p, sizeof p, "%s/link_to_file", root);
    snprintf(t, sizeof t, "%s/a.txt", root);
    CHECK(symlink(t, p) == 0);
    snprintf(p, sizeof p, "%s/dangling", root);
    CHECK(symlink("/nonexistent/ken/target", p) == 0);
    snprintf(p, sizeof p, "%s/loop", root);
    CHECK(symlink(root, p) == 0);                  /* a loop, never followed */

    seen s = {0};
    ti_result w = {0};
    ken_err e;
    ken_err_clear(&e);
    CHECK_EQ_INT(ken_walk(root, on_file, &s, ti_warn_cb, &w, &e), KEN_OK);
    CHECK_EQ_STR(s.list, "a.txt;b.md;cx.dat;deep/a/other.txt;docs/readme.md;docs/sub/local.txt;"
                         "docs/top.txt;link_to_file;logs/keep.log;");
    CHECK_EQ_INT(w.n_warn, 1);
    if (w.n_warn >= 1) CHECKF(ti_contains(w.warn[0], "dangling"), "warn: %s", w.warn[0]);
    ti_free(&w);

    /* the same with a trailing slash on the root, and a stop after 2 files */
    char r2[300];
    snprintf(r2, sizeof r2, "%s/", root);
    memset(&s, 0, sizeof s);
    s.stop_at = 2;
    CHECK_EQ_INT(ken_walk(r2, on_file, &s, NULL, NULL, &e), KEN_ERR_CANCELLED);
    CHECK_EQ_STR(s.list, "a.txt;b.md;");

    /* a file as root; a missing root */
    memset(&s, 0, sizeof s);
    snprintf(p, sizeof p, "%s/b.md", root);
    CHECK_EQ_INT(ken_walk(p, on_file, &s, NULL, NULL, &e), KEN_OK);
    CHECK_EQ_STR(s.list, "b.md;");
    snprintf(p, sizeof p, "%s/missing", root);
    CHECK_EQ_INT(ken_walk(p, on_file, &s, NULL, NULL, &e), KEN_ERR_NOTFOUND);
    CHECKF(ti_contains(e.msg, "missing"), "msg: %s", e.msg);

    /* an unreadable folder is reported (root can read anything: checked as non-root only) */
    put("locked/x.txt", "x");
    snprintf(p, sizeof p, "%s/locked", root);
    chmod(p, 0);
    memset(&s, 0, sizeof s);
    memset(&w, 0, sizeof w);
    CHECK_EQ_INT(ken_walk(root, on_file, &s, ti_warn_cb, &w, &e), KEN_OK);
    if (geteuid() != 0) {
        CHECK_EQ_INT(w.n_warn, 2);
        CHECK(!ti_contains(s.list, "locked"));
    } else {
        fprintf(stderr, "note: running as root, the unreadable-folder case reads fine\n");
        CHECK(ti_contains(s.list, "locked/x.txt"));
    }
    chmod(p, 0755);
    ti_free(&w);
    rm_rf(root);
}

static void test_walk_deep(void) {
    /* 300 nested folders: the walk stops descending at its depth cap with a warning */
    snprintf(root, sizeof root, "/tmp/ken-walkd-XXXXXX");
    REQUIRE(mkdtemp(root));
    char rel[2048] = "";
    for (int i = 0; i < 300; i++) strcat(rel, "d/");
    strcat(rel, "f.txt");
    put(rel, "x");
    put("top.txt", "x");
    seen s = {0};
    ti_result w = {0};
    ken_err e;
    CHECK_EQ_INT(ken_walk(root, on_file, &s, ti_warn_cb, &w, &e), KEN_OK);
    CHECK_EQ_STR(s.list, "top.txt;");
    CHECK_EQ_INT(w.n_warn, 1);
    if (w.n_warn) CHECKF(ti_contains(w.warn[0], "too deep"), "warn: %s", w.warn[0]);
    ti_free(&w);
    rm_rf(root);
}

/* The finer points of gitignore syntax, each checked against git 2.39's own
 * reading of the same file (`git ls-files -o --exclude-standard`). */
static void test_walk_gitignore_syntax(void) {
    snprintf(root, sizeof root, "/tmp/ken-walkg-XXXXXX");
    REQUIRE(mkdtemp(root));
    put(".kenignore",
        "\xEF\xBB\xBF" "bom.txt\n"     /* a UTF-8 BOM before the first pattern */
        "tab.txt\t\n"                  /* a trailing tab is part of the pattern */
        "spaces.txt   \n"               /* trailing spaces are not */
        "sp\\ .txt\n"                  /* unless escaped: "sp .txt" */
        "\\#hash.txt\n\\!bang.txt\n"   /* escaped # and ! */
        "star\\*.txt\n"                /* a literal star */
        "[[:digit:]].txt\n"             /* a POSIX class */
        "[[:upper:]][[:lower:]].md\n"
        "***/deep.txt\n"                /* three stars span folders like two */
        "out/\n!out/keep.txt\n");      /* no re-including inside an excluded folder */
    const char *files[] = {"bom.txt", "tab.txt", "spaces.txt", "sp .txt", "sp.txt",
                           "#hash.txt", "!bang.txt", "star*.txt", "starx.txt", "1.txt",
                           "x.txt", "Ab.md", "ab.md", "deep.txt", "a/b/deep.txt",
                           "out/keep.txt", "out/x.txt"};
    for (size_t i = 0; i < KEN_ARRAY_LEN(files); i++) put(files[i], "x");
    seen s = {0};
    ken_err e;
    ken_err_clear(&e);
    CHECK_EQ_INT(ken_walk(root, on_file, &s, NULL, NULL, &e), KEN_OK);
    CHECK_EQ_STR(s.list, "ab.md;sp.txt;starx.txt;tab.txt;x.txt;");
    rm_rf(root);
}

TEST_MAIN(test_walk_tree, test_walk_deep, test_walk_gitignore_syntax)
