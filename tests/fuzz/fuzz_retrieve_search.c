/* fuzz_retrieve_search.c: arbitrary bytes (NUL included) as a query run all
 * the way through a real store: ken_retrieve_search in the variant the first
 * byte picks (chunks or documents, RM3, k1/b, filters, k) must succeed (the
 * only refusal is a query over the length limit: never an SQL error), rank
 * exactly as the in-memory accelerator does on the same file, and
 * ken_retrieve_answer's every citation must be its document's bytes
 * [start, end) verbatim. */
#include "retrieve/retrieve.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check(int cond) {
    if (!cond) abort();
}

#define N_DOCS 6

static char dir[] = "/tmp/ken-fuzz-search-XXXXXX";
static ken_store *plain, *fast;       /* FTS5 only; with the accelerator */
static int64_t doc_id[N_DOCS];

static const char *const docs[N_DOCS][3] = {   /* title, uri, text */
    {"Fox facts", "/docs/a.md",
     "The quick brown fox jumps over the lazy dog. Foxes are small omnivores; a fox hunts "
     "at night.\n\nNEAR the den, \"quoted\" words AND OR NOT title: text: {col} (a*b)^2."},
    {"Dogs", "/docs/b.md", "Dogs are loyal companions. A dog guards the house and runs fast."},
    {"Solar", "/energy/c.txt", "Solar panels convert sunlight into electricity. Panels run "
     "for decades."},
    {"Caf\xc3\xa9", "/other/d.txt", "Caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 stra\xc3\x9f"
     "e \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xd0\xb4\xd0\xb0\xd0\xbd\xd0\xbd\xd1\x8b\xd0\xb5. "
     "The fox sat in the caf\xc3\xa9."},
    {"Bees", "/docs/e.md", "Honeybees dance to tell the hive where flowers are. The waggle "
     "dance encodes distance and direction."},
    {"Empty-ish", "/docs/f.md", "the of and a"},
};

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void cleanup(void) {
    ken_store_close(fast);
    ken_store_close(plain);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void setup(void) {
    check(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/kb.db", dir);
    ken_store_opts o = {.path = path, .create = true};
    ken_err e;
    check(ken_store_open(&o, &plain, &e) == KEN_OK);
    for (int i = 0; i < N_DOCS; i++) {
        const char *t = docs[i][2];
        /* Two chunks that overlap, cut at spaces as the chunker would. */
        size_t n = strlen(t), half = n / 2, quarter = n / 4;
        while (half < n && t[half] != ' ') half++;
        while (quarter < half && t[quarter] != ' ') quarter++;
        ken_store_chunk ch[2] = {
            {.ordinal = 0, .start = 0, .end = (int64_t)half, .heading = ""},
            {.ordinal = 1, .start = (int64_t)quarter + 1, .end = (int64_t)n, .heading = "Part"}};
        char hash[65];
        ken_sha256_hex(t, n, hash);
        ken_store_doc d = {.collection = i % 2 ? "c1" : "c2", .uri = docs[i][1],
                           .title = docs[i][0], .mime = "text/plain", .hash = hash,
                           .meta_json = "{\"lang\": \"en\"}", .text = t, .text_len = n};
        check(plain->ops->doc_put(plain, &d, ch, 2, plain->gen, &doc_id[i], NULL) == KEN_OK);
    }
    o.lexcache = true;
    check(ken_store_open(&o, &fast, &e) == KEN_OK);
    atexit(cleanup);
    /* The comparison means something only if the accelerator answers. */
    ken_retrieve_hits h;
    check(ken_retrieve_search(fast, "fox", 3, NULL, &h, &e) == KEN_OK && h.n > 0);
    ken_retrieve_hits_free(&h);
    ken_store_lexcache_stats ls;
    check(ken_store_lexcache_stats_get(fast, &ls) && ls.answered == 1);
}

static const char *doc_text(int64_t id) {
    for (int i = 0; i < N_DOCS; i++)
        if (doc_id[i] == id) return docs[i][2];
    check(0);
    return NULL;
}

static void opts_of(uint8_t v, ken_retrieve_opts *o) {
    memset(o, 0, sizeof *o);
    o->k = 1 + (v & 7);
    o->docs = v & 8;
    o->prf = v & 16;
    if (v & 32) o->k1 = 2.0, o->b = 1.0;
    switch (v >> 6) {
    case 1: o->collection = "c1"; break;
    case 2: o->uri_prefix = "/docs/"; break;
    case 3: o->meta_field = "lang"; o->meta_value = "en"; break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!plain) setup();
    if (size == 0) return 0;
    ken_retrieve_opts o;
    opts_of(data[0], &o);
    const char *q = (const char *)data + 1;
    size_t n = size - 1;
    ken_retrieve_hits a, b;
    ken_err e;
    ken_status st = ken_retrieve_search(plain, q, n, &o, &a, &e);
    if (n > KEN_RETRIEVE_QUERY_BYTES_MAX) {
        check(st == KEN_ERR_INVALID);
        return 0;
    }
    check(st == KEN_OK);
    check(ken_retrieve_search(fast, q, n, &o, &b, &e) == KEN_OK);
    check(a.n == b.n && a.n <= o.k);
    for (size_t i = 0; i < a.n; i++) {
        check(a.v[i].chunk_id == b.v[i].chunk_id);
        check(fabs(a.v[i].score - b.v[i].score) <= 1e-9 * (1 + fabs(a.v[i].score)));
        check(strcmp(a.v[i].snippet ? a.v[i].snippet : "", b.v[i].snippet ? b.v[i].snippet : "") == 0);
        if (i) check(a.v[i].score <= a.v[i - 1].score);
    }
    ken_retrieve_hits_free(&a);
    ken_retrieve_hits_free(&b);

    ken_retrieve_answer_opts ao = {.min_score = (data[0] & 1) ? -1 : 0};
    ken_retrieve_ans ans;
    check(ken_retrieve_answer(plain, q, n, &ao, &ans, &e) == KEN_OK);
    check(ans.text != NULL && (ans.found || ans.n_cites == 0));
    for (size_t i = 0; i < ans.n_cites; i++) {
        const ken_retrieve_cite *c = &ans.cites[i];
        const char *t = doc_text(c->doc_id);
        check(c->start >= 0 && c->start < c->end && (size_t)c->end <= strlen(t));
        check(strlen(c->sentence) == (size_t)(c->end - c->start));
        check(memcmp(t + c->start, c->sentence, (size_t)(c->end - c->start)) == 0);
    }
    ken_retrieve_answer_free(&ans);
    return 0;
}
