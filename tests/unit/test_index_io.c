/* test_index_io.c: the index file: round trip, and every way a file can be
 * wrong (missing, truncated, corrupt, foreign, other version, stale, other
 * dimension) refused with the right status. */
#include "test.h"
#include "test_index_util.h"
#include "index/hnsw_int.h"

#include <unistd.h>

#define N 1500
#define DIM 48

static char path[256];

static void results_equal(ken_hnsw *a, ken_hnsw *b, const float *q, size_t nq) {
    for (size_t i = 0; i < nq; i++) {
        ken_hnsw_hit x[10], y[10];
        size_t nx = 0, ny = 0;
        CHECK_EQ_INT(ken_hnsw_search(a, q + i * DIM, 10, NULL, x, &nx, NULL), KEN_OK);
        CHECK_EQ_INT(ken_hnsw_search(b, q + i * DIM, 10, NULL, y, &ny, NULL), KEN_OK);
        CHECK_EQ_INT(nx, ny);
        for (size_t j = 0; j < nx && j < ny; j++) {
            CHECK_EQ_INT(x[j].id, y[j].id);
            CHECK(x[j].score == y[j].score);
        }
    }
}

static ken_buf read_all(void) {
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_file_read(path, 1 << 28, &b, NULL);
    return b;
}

static void write_all(const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

static void test_round_trip(void) {
    snprintf(path, sizeof path, "test_index_io.%ld.hnsw", (long)getpid());
    float *x = tix_data(N + 20, DIM, 20, 1.0f, false, 3);
    ken_hnsw *h = tix_build(x, N, DIM, KEN_HNSW_L2, 1);
    REQUIRE(h);
    for (uint64_t id = 1000; id < 1000 + N; id += 7) ken_hnsw_remove(h, id, NULL);
    ken_err e;
    CHECK_EQ_INT(ken_hnsw_save(h, path, 42, &e), KEN_OK);
    ken_hnsw *g = NULL;
    CHECK_EQ_INT(ken_hnsw_load(path, 42, DIM, &g, &e), KEN_OK);
    REQUIRE(g);
    ken_hnsw_stats s1, s2;
    ken_hnsw_get_stats(h, &s1);
    ken_hnsw_get_stats(g, &s2);
    CHECK_EQ_INT(s1.count, s2.count);
    CHECK_EQ_INT(s1.deleted, s2.deleted);
    CHECK_EQ_INT(s1.max_level, s2.max_level);
    CHECK_EQ_INT(ken_hnsw_metric_of(g), KEN_HNSW_L2);
    CHECK(!ken_hnsw_contains(g, 1000));
    CHECK(ken_hnsw_contains(g, 1001));
    results_equal(h, g, x + (size_t)N * DIM, 20);
    /* The loaded index keeps growing like the original. */
    float v[DIM];
    for (int j = 0; j < DIM; j++) v[j] = (float)j;
    CHECK_EQ_INT(ken_hnsw_add(g, 7, v, &e), KEN_OK);
    ken_hnsw_hit hit;
    size_t nh = 0;
    CHECK_EQ_INT(ken_hnsw_search(g, v, 1, NULL, &hit, &nh, &e), KEN_OK);
    CHECK(nh == 1 && hit.id == 7);
    ken_hnsw_free(g);
    ken_hnsw_free(h);
    free(x);
    /* An empty index round-trips too. */
    ken_hnsw_opts o = {.dim = 4, .metric = KEN_HNSW_IP};
    REQUIRE(ken_hnsw_new(&o, &h, &e) == KEN_OK);
    CHECK_EQ_INT(ken_hnsw_save(h, path, 1, &e), KEN_OK);
    CHECK_EQ_INT(ken_hnsw_load(path, 1, 4, &g, &e), KEN_OK);
    REQUIRE(g);
    float q[4] = {1, 2, 3, 4};
    CHECK_EQ_INT(ken_hnsw_search(g, q, 3, NULL, &hit, &nh, &e), KEN_OK);
    CHECK_EQ_INT(nh, 0);
    ken_hnsw_free(g);
    ken_hnsw_free(h);
}

static void test_refusals(void) {
    float *x = tix_data(300, 16, 5, 1.0f, true, 4);
    ken_hnsw *h = tix_build(x, 300, 16, KEN_HNSW_COSINE, 1);
    REQUIRE(h);
    ken_err e;
    ken_hnsw *g = (ken_hnsw *)1;
    REQUIRE(ken_hnsw_save(h, path, 5, &e) == KEN_OK);
    ken_buf good = read_all();
    REQUIRE(good.len > 200);
    CHECK_EQ_INT(ken_hnsw_load(path, 6, 0, &g, &e), KEN_ERR_VERSION);   /* stale */
    CHECK(g == NULL && strstr(e.msg, "stale"));
    CHECK_EQ_INT(ken_hnsw_load(path, 5, 17, &g, &e), KEN_ERR_INVALID);  /* other dimension */
    CHECK(strstr(e.msg, "dimension") != NULL);
    CHECK_EQ_INT(ken_hnsw_load("no/such/file.hnsw", 5, 0, &g, &e), KEN_ERR_NOTFOUND);
    /* Truncated anywhere: header, body, last byte. */
    size_t cuts[] = {0, 10, 127, 128, 129, good.len / 2, good.len - 1};
    for (size_t i = 0; i < KEN_ARRAY_LEN(cuts); i++) {
        write_all(good.data, cuts[i]);
        CHECKF(ken_hnsw_load(path, 5, 0, &g, &e) == KEN_ERR_FORMAT, "cut %zu: %s", cuts[i], e.msg);
        CHECK(g == NULL);
    }
    /* One flipped bit anywhere: the header, ids, vectors, links, the end. */
    size_t flips[] = {0, 9, 20, 100, 130, 300, good.len / 3, good.len / 2, good.len - 2};
    for (size_t i = 0; i < KEN_ARRAY_LEN(flips); i++) {
        good.data[flips[i]] ^= 0x10;
        write_all(good.data, good.len);
        ken_status st = ken_hnsw_load(path, 5, 0, &g, &e);
        CHECKF(st == KEN_ERR_FORMAT || st == KEN_ERR_VERSION, "flip at %zu: %d %s", flips[i],
               (int)st, e.msg);
        CHECK(g == NULL);
        good.data[flips[i]] ^= 0x10;
    }
    /* Another format version (byte 8: the version field). */
    good.data[8] = 2;
    write_all(good.data, good.len);
    CHECK_EQ_INT(ken_hnsw_load(path, 5, 0, &g, &e), KEN_ERR_VERSION);
    CHECK(strstr(e.msg, "version") != NULL);
    good.data[8] = 1;
    /* Padded: trailing garbage is refused too. */
    ken_buf_append(&good, "xx", 2);
    write_all(good.data, good.len);
    CHECK_EQ_INT(ken_hnsw_load(path, 5, 0, &g, &e), KEN_ERR_FORMAT);
    write_all("not an index at all, just some text that is long enough to fill a header..."
              "................................................................", 140);
    CHECK_EQ_INT(ken_hnsw_load(path, 5, 0, &g, &e), KEN_ERR_FORMAT);
    CHECK(strstr(e.msg, "not a ken HNSW index") != NULL);
    /* Saving over a file replaces it whole; the good file loads again. */
    CHECK_EQ_INT(ken_hnsw_save(h, path, 5, &e), KEN_OK);
    CHECK_EQ_INT(ken_hnsw_load(path, 5, 16, &g, &e), KEN_OK);
    ken_hnsw_free(g);
    /* A folder that does not exist: an I/O error, no crash. */
    CHECK_EQ_INT(ken_hnsw_save(h, "no/such/dir/x.hnsw", 5, &e), KEN_ERR_IO);
    ken_buf_free(&good);
    unlink(path);
    ken_hnsw_free(h);
    free(x);
}

/* Files with a correct checksum but impossible contents (what a hostile or
 * buggy writer could produce) are refused by the content checks. */
static void crafted(const ken_buf *good, size_t off, const void *val, size_t n, const char *what) {
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_buf_append(&b, good->data, good->len);
    memcpy(b.data + off, val, n);
    uint64_t c = ken_hnsw_file_checksum((const uint8_t *)b.data, b.len);
    memcpy(b.data + KEN_HNSW_FILE_CHECKSUM_OFFSET, &c, 8);
    write_all(b.data, b.len);
    ken_hnsw *g = NULL;
    ken_err e;
    ken_status st = ken_hnsw_load(path, 5, 0, &g, &e);
    CHECKF(st == KEN_ERR_FORMAT && g == NULL, "%s: status %d (%s)", what, (int)st, e.msg);
    ken_hnsw_free(g);
    ken_buf_free(&b);
}

static void test_crafted(void) {
    float *x = tix_data(300, 16, 5, 1.0f, true, 8);
    ken_hnsw *h = tix_build(x, 300, 16, KEN_HNSW_COSINE, 1);
    REQUIRE(h);
    REQUIRE(ken_hnsw_save(h, path, 5, NULL) == KEN_OK);
    ken_buf good = read_all();
    uint64_t n;
    uint32_t dim, M;
    memcpy(&n, good.data + 32, 8);
    memcpy(&dim, good.data + 16, 4);
    memcpy(&M, good.data + 24, 4);
    REQUIRE(n == 300 && dim == 16 && M == 16);
    size_t hdr = KEN_HNSW_FILE_HEADER_BYTES, levels = hdr + n * 8, del = levels + n;
    size_t vecs = levels + ((2 * n + 7) & ~(size_t)7), l0 = vecs + n * dim * 4;
    uint32_t too_many = 2 * M + 1, out_of_range = (uint32_t)n + 5, entry = (uint32_t)n;
    uint8_t lev40 = 40, del2 = 2;
    float nan = NAN;
    uint64_t huge = 1ull << 40;
    int32_t maxl = 7;
    crafted(&good, l0, &too_many, 4, "link count");
    crafted(&good, l0 + 4, &out_of_range, 4, "link target");
    crafted(&good, levels, &lev40, 1, "level");
    crafted(&good, del + 1, &del2, 1, "deleted flag");
    crafted(&good, 48, &entry, 4, "entry");
    crafted(&good, vecs + 4 * 5, &nan, 4, "NaN");
    crafted(&good, 32, &huge, 8, "count");
    crafted(&good, 52, &maxl, 4, "max level");
    /* The unmodified bytes with a recomputed checksum still load. */
    write_all(good.data, good.len);
    ken_hnsw *g = NULL;
    CHECK_EQ_INT(ken_hnsw_load(path, 5, 16, &g, NULL), KEN_OK);
    ken_hnsw_free(g);
    unlink(path);
    ken_buf_free(&good);
    ken_hnsw_free(h);
    free(x);
}

/* The generation read from the header alone; live ids; stored vectors. */
static void test_peek_ids_get(void) {
    snprintf(path, sizeof path, "test_index_io.%ld.peek.hnsw", (long)getpid());
    ken_err e;
    uint64_t g = 1;
    CHECK_EQ_INT(ken_hnsw_file_generation(path, &g, &e), KEN_ERR_NOTFOUND);
    float *x = tix_data(50, DIM, 5, 1.0f, false, 9);
    ken_hnsw *h = tix_build(x, 50, DIM, KEN_HNSW_L2, 1);
    REQUIRE(h);
    CHECK_EQ_INT(ken_hnsw_remove(h, 1003, &e), KEN_OK);
    uint64_t *ids = NULL;
    size_t n = 0;
    CHECK_EQ_INT(ken_hnsw_ids(h, &ids, &n, &e), KEN_OK);
    CHECK_EQ_INT(n, 49);
    bool has3 = false, has4 = false;
    for (size_t i = 0; i < n; i++) { has3 |= ids[i] == 1003; has4 |= ids[i] == 1004; }
    CHECK(!has3 && has4);
    free(ids);
    float v[DIM];
    CHECK(ken_hnsw_get(h, 1004, v));
    CHECK(memcmp(v, x + 4 * DIM, sizeof v) == 0);
    CHECK(!ken_hnsw_get(h, 1003, v) && !ken_hnsw_get(h, 5, v));
    CHECK_EQ_INT(ken_hnsw_save(h, path, (7ull << 40) | 12, &e), KEN_OK);
    CHECK_EQ_INT(ken_hnsw_file_generation(path, &g, &e), KEN_OK);
    CHECK(g == ((7ull << 40) | 12));
    write_all("not an index at all, not an index at all, not an index at all, padding "
              "padding padding padding padding", 100);
    CHECK_EQ_INT(ken_hnsw_file_generation(path, &g, &e), KEN_ERR_FORMAT);
    write_all("KENHNSW", 8);   /* shorter than a header */
    CHECK_EQ_INT(ken_hnsw_file_generation(path, &g, &e), KEN_ERR_FORMAT);
    unlink(path);
    ken_hnsw_free(h);
    free(x);
}

TEST_MAIN(test_round_trip, test_refusals, test_crafted, test_peek_ids_get)
