/* test_gguf.c: the GGUF reader on the fixture files (known facts) and on
 * hand-built hostile files: truncation at every byte, huge counts, bad
 * lengths, unknown types, tensors out of range / overlapping / misaligned,
 * bad alignment, versions, byte order, nested arrays. */
#include "gguf/gguf.h"
#include "test.h"

#include <dirent.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------ a tiny builder */

typedef struct { uint8_t b[8192]; size_t n; } bld;

static void put(bld *w, const void *p, size_t n) {
    if (w->n + n > sizeof w->b) abort();
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void put8(bld *w, uint8_t v) { put(w, &v, 1); }
static void put32(bld *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(w, b, 4);
}
static void put64(bld *w, uint64_t v) { put32(w, (uint32_t)v); put32(w, (uint32_t)(v >> 32)); }
static void putstr(bld *w, const char *s) { put64(w, strlen(s)); put(w, s, strlen(s)); }
static void pad(bld *w, size_t a) { while (w->n % a) put8(w, 0); }
static void poke32(bld *w, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) w->b[at + i] = (uint8_t)(v >> (8 * i));
}
static void poke64(bld *w, size_t at, uint64_t v) {
    poke32(w, at, (uint32_t)v);
    poke32(w, at + 4, (uint32_t)(v >> 32));
}

/* Offsets of interesting fields of the small file, for corrupting them. */
typedef struct {
    size_t version, n_tensors, n_kv, key0_len, type0, arr_count, str0_len;
    size_t t0_ndims, t0_ne0, t0_type, t0_off, t1_name_len, t1_off, t1_ne0, t1_type, data;
} layout;

/* A valid v3 file: 5 kvs (string, u32, string array, nested array, f32),
 * two F32 tensors "a" [4] and "b" [2,4] back to back; the last byte of the
 * file is the last byte of tensor b, so every strict prefix is invalid. */
static void small_file(bld *w, layout *L) {
    memset(w, 0, sizeof *w);
    put(w, "GGUF", 4);
    L->version = w->n; put32(w, 3);
    L->n_tensors = w->n; put64(w, 2);
    L->n_kv = w->n; put64(w, 5);
    L->key0_len = w->n; putstr(w, "general.architecture");
    L->type0 = w->n; put32(w, KEN_GGUF_STRING); putstr(w, "llama");
    putstr(w, "llama.block_count"); put32(w, KEN_GGUF_UINT32); put32(w, 7);
    putstr(w, "tokenizer.ggml.tokens"); put32(w, KEN_GGUF_ARRAY); put32(w, KEN_GGUF_STRING);
    L->arr_count = w->n; put64(w, 3);
    L->str0_len = w->n; putstr(w, "<s>"); putstr(w, ""); putstr(w, "hello");
    /* [[1,2],[["x"]]]: an array of two arrays, the second nested deeper */
    putstr(w, "test.nested"); put32(w, KEN_GGUF_ARRAY); put32(w, KEN_GGUF_ARRAY); put64(w, 2);
    put32(w, KEN_GGUF_INT16); put64(w, 2); put8(w, 1); put8(w, 0); put8(w, 0xfe); put8(w, 0xff);
    put32(w, KEN_GGUF_ARRAY); put64(w, 1); put32(w, KEN_GGUF_STRING); put64(w, 1); putstr(w, "x");
    putstr(w, "test.f"); put32(w, KEN_GGUF_FLOAT32); put32(w, 0x3fc00000u); /* 1.5f */
    putstr(w, "a"); L->t0_ndims = w->n; put32(w, 1); L->t0_ne0 = w->n; put64(w, 4);
    L->t0_type = w->n; put32(w, KEN_DT_F32); L->t0_off = w->n; put64(w, 0);
    L->t1_name_len = w->n; putstr(w, "b"); put32(w, 2); L->t1_ne0 = w->n; put64(w, 2); put64(w, 4);
    L->t1_type = w->n; put32(w, KEN_DT_F32); L->t1_off = w->n; put64(w, 32);
    pad(w, 32);
    L->data = w->n;
    for (int i = 0; i < 8; i++) { float f = (float)i; put(w, &f, 4); }  /* a + padding */
    for (int i = 0; i < 8; i++) { float f = 10.0f + (float)i; put(w, &f, 4); }
}

/* Opens a private heap copy (so ASan sees any overread); returns status. */
static ken_status open_copy(const uint8_t *p, size_t n, ken_gguf **g, ken_err *err) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, p, n);
    ken_status st = ken_gguf_open_mem(copy, n, g, err);
    if (st == KEN_OK) {
        /* walk everything while the buffer lives */
        for (uint64_t i = 0; i < ken_gguf_n_kv(*g); i++) CHECK(ken_gguf_kv_at(*g, i) != NULL);
        ken_gguf_close(*g);
        *g = NULL;
    }
    free(copy);
    return st;
}

static ken_status try_bytes(bld *w, ken_err *err) {
    ken_gguf *g = NULL;
    err->msg[0] = 0;
    return open_copy(w->b, w->n, &g, err);
}

/* Expects failure with a message containing `needle`. */
#define EXPECT_FAIL(w, needle) do { ken_err e_; ken_status st_ = try_bytes(w, &e_); \
    CHECKF(st_ != KEN_OK && strstr(e_.msg, needle) != NULL, "status %d msg '%s' want '%s'", \
           (int)st_, e_.msg, needle); } while (0)

static void test_small_valid(void) {
    bld w; layout L;
    small_file(&w, &L);
    ken_gguf *g = NULL;
    ken_err err;
    REQUIRE(ken_gguf_open_mem(w.b, w.n, &g, &err) == KEN_OK);
    CHECK_EQ_INT(ken_gguf_version(g), 3);
    CHECK_EQ_INT(ken_gguf_alignment(g), 32);
    CHECK_EQ_INT(ken_gguf_n_kv(g), 5);
    CHECK_EQ_INT(ken_gguf_n_tensors(g), 2);
    CHECK_EQ_INT(ken_gguf_data_offset(g), L.data);
    ken_gguf_str s;
    CHECK(ken_gguf_get_str(g, "general.architecture", &s) && ken_gguf_str_eq(s, "llama"));
    uint32_t u = 0; uint64_t u64 = 0; int64_t i64 = 0; float f = 0;
    CHECK(ken_gguf_get_u32(g, "llama.block_count", &u) && u == 7);
    CHECK(ken_gguf_get_u64(g, "llama.block_count", &u64) && u64 == 7);
    CHECK(ken_gguf_get_i64(g, "llama.block_count", &i64) && i64 == 7);
    CHECK(!ken_gguf_get_str(g, "llama.block_count", &s));
    CHECK(!ken_gguf_get_u32(g, "missing", &u));
    CHECK(!ken_gguf_get_f32(g, "llama.block_count", &f));
    CHECK(ken_gguf_get_f32(g, "test.f", &f) && f == 1.5f);
    ken_gguf_type et; uint64_t cnt;
    CHECK(ken_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &cnt) && et == KEN_GGUF_STRING &&
          cnt == 3);
    const ken_gguf_kv *kv = ken_gguf_find(g, "tokenizer.ggml.tokens");
    REQUIRE(kv);
    CHECK(ken_gguf_str_eq(ken_gguf_arr_str(&kv->val, 0), "<s>"));
    CHECK(ken_gguf_str_eq(ken_gguf_arr_str(&kv->val, 1), ""));
    CHECK(ken_gguf_str_eq(ken_gguf_arr_str(&kv->val, 2), "hello"));
    CHECK(ken_gguf_arr_str(&kv->val, 3).p == NULL);
    /* nested */
    kv = ken_gguf_find(g, "test.nested");
    REQUIRE(kv && kv->val.v.arr.elem_type == KEN_GGUF_ARRAY && kv->val.v.arr.count == 2);
    ken_gguf_value e0, e1, e10, x;
    REQUIRE(ken_gguf_arr_at(&kv->val, 0, &e0) && ken_gguf_arr_at(&kv->val, 1, &e1));
    CHECK(!ken_gguf_arr_at(&kv->val, 2, &x));
    CHECK(e0.type == KEN_GGUF_ARRAY && e0.v.arr.elem_type == KEN_GGUF_INT16);
    CHECK_EQ_INT(ken_gguf_arr_int(&e0, 0), 1);
    CHECK_EQ_INT(ken_gguf_arr_int(&e0, 1), -2);
    CHECK(ken_gguf_arr_float(&e0, 1) == -2.0);
    REQUIRE(ken_gguf_arr_at(&e1, 0, &e10));
    CHECK(e10.type == KEN_GGUF_ARRAY && e10.v.arr.elem_type == KEN_GGUF_STRING);
    CHECK(ken_gguf_str_eq(ken_gguf_arr_str(&e10, 0), "x"));
    REQUIRE(ken_gguf_arr_at(&e10, 0, &x));
    CHECK(x.type == KEN_GGUF_STRING && ken_gguf_str_eq(x.v.str, "x"));
    /* tensors */
    const ken_gguf_tensor *a = ken_gguf_tensor_find(g, "a"), *b = ken_gguf_tensor_find(g, "b");
    REQUIRE(a && b);
    CHECK(ken_gguf_tensor_find(g, "c") == NULL);
    CHECK(ken_gguf_tensor_at(g, 0) == a && ken_gguf_tensor_at(g, 2) == NULL);
    CHECK_EQ_INT(a->n_elems, 4);
    CHECK_EQ_INT(a->n_bytes, 16);
    CHECK_EQ_INT(b->n_dims, 2);
    CHECK_EQ_INT(b->ne[1], 4);
    CHECK_EQ_INT(b->ne[2], 1);
    CHECK_EQ_INT(b->n_bytes, 32);
    CHECK(((const float *)b->data)[7] == 17.0f);
    CHECK((const uint8_t *)a->data == w.b + L.data);
    ken_gguf_close(g);
    ken_gguf_close(NULL);
}

static void test_truncation(void) {
    bld w; layout L;
    small_file(&w, &L);
    int fails = 0;
    for (size_t n = 0; n < w.n; n++) {
        ken_gguf *g = NULL;
        ken_err err;
        err.msg[0] = 0;
        ken_status st = open_copy(w.b, n, &g, &err);
        if (st != KEN_OK && err.msg[0]) fails++;
        else fprintf(stderr, "prefix %zu: status %d msg '%s'\n", n, (int)st, err.msg);
    }
    CHECK_EQ_INT(fails, w.n);
}

static void test_header_errors(void) {
    bld w; layout L;
    small_file(&w, &L);
    bld v = w;
    memcpy(v.b, "GGUG", 4);
    EXPECT_FAIL(&v, "not a GGUF file");
    v = w; poke32(&v, L.version, 1); EXPECT_FAIL(&v, "version 1 is not supported");
    v = w; poke32(&v, L.version, 4); EXPECT_FAIL(&v, "unsupported GGUF version 4");
    v = w; poke32(&v, L.version, 0x03000000u); EXPECT_FAIL(&v, "big-endian");
    v = w; poke32(&v, L.version, 2);
    ken_err e;
    CHECK(try_bytes(&v, &e) == KEN_OK);
    v = w; poke64(&v, L.n_kv, (uint64_t)1 << 40); EXPECT_FAIL(&v, "over the limits");
    v = w; poke64(&v, L.n_kv, 1000); EXPECT_FAIL(&v, "more than the");
    v = w; poke64(&v, L.n_tensors, UINT64_MAX); EXPECT_FAIL(&v, "over the limits");
    v = w; poke64(&v, L.n_tensors, 30); EXPECT_FAIL(&v, "more than the");
    v = w; poke64(&v, L.n_kv, 6); EXPECT_FAIL(&v, "");  /* tensor info read as a kv */
}

static void test_value_errors(void) {
    bld w; layout L;
    small_file(&w, &L);
    bld v = w;
    poke64(&v, L.key0_len, (uint64_t)1 << 62); EXPECT_FAIL(&v, "over the limit");
    v = w; poke64(&v, L.key0_len, 5000); EXPECT_FAIL(&v, "only");
    v = w; poke32(&v, L.type0, 13); EXPECT_FAIL(&v, "unknown value type 13");
    v = w; poke32(&v, L.type0, 0xffffffffu); EXPECT_FAIL(&v, "unknown value type");
    v = w; poke64(&v, L.arr_count, (uint64_t)1 << 27); EXPECT_FAIL(&v, "cannot fit");
    v = w; poke64(&v, L.arr_count, (uint64_t)1 << 40); EXPECT_FAIL(&v, "over the limit");
    v = w; poke64(&v, L.str0_len, UINT64_MAX); EXPECT_FAIL(&v, "over the limit");
    v = w; poke64(&v, L.str0_len, 4); EXPECT_FAIL(&v, "");   /* misparses what follows */
    /* bool with value 2 */
    bld b = {0};
    put(&b, "GGUF", 4); put32(&b, 3); put64(&b, 0); put64(&b, 1);
    putstr(&b, "k"); put32(&b, KEN_GGUF_BOOL); put8(&b, 2);
    EXPECT_FAIL(&b, "not 0 or 1");
    /* duplicate key */
    b.n = 0;
    put(&b, "GGUF", 4); put32(&b, 3); put64(&b, 0); put64(&b, 2);
    putstr(&b, "k"); put32(&b, KEN_GGUF_UINT8); put8(&b, 1);
    putstr(&b, "k"); put32(&b, KEN_GGUF_UINT8); put8(&b, 2);
    EXPECT_FAIL(&b, "appears twice");
    /* nesting too deep: 20 arrays of one array each */
    b.n = 0;
    put(&b, "GGUF", 4); put32(&b, 3); put64(&b, 0); put64(&b, 1);
    putstr(&b, "deep"); put32(&b, KEN_GGUF_ARRAY);
    for (int i = 0; i < 20; i++) { put32(&b, KEN_GGUF_ARRAY); put64(&b, 1); }
    put32(&b, KEN_GGUF_UINT8); put64(&b, 0);
    EXPECT_FAIL(&b, "nested deeper");
    /* an array of arrays claiming more elements than bytes */
    b.n = 0;
    put(&b, "GGUF", 4); put32(&b, 3); put64(&b, 0); put64(&b, 1);
    putstr(&b, "aa"); put32(&b, KEN_GGUF_ARRAY); put32(&b, KEN_GGUF_ARRAY);
    put64(&b, 1000000); put64(&b, 0);
    EXPECT_FAIL(&b, "cannot fit");
    /* a bad alignment */
    for (int k = 0; k < 3; k++) {
        static const uint32_t bad[] = {0, 3, 48};
        b.n = 0;
        put(&b, "GGUF", 4); put32(&b, 3); put64(&b, 0); put64(&b, 1);
        putstr(&b, "general.alignment"); put32(&b, KEN_GGUF_UINT32); put32(&b, bad[k]);
        EXPECT_FAIL(&b, "not a power of two");
    }
    b.n = 0;
    put(&b, "GGUF", 4); put32(&b, 3); put64(&b, 0); put64(&b, 1);
    putstr(&b, "general.alignment"); put32(&b, KEN_GGUF_STRING); putstr(&b, "32");
    EXPECT_FAIL(&b, "expected an unsigned integer");
}

static void test_tensor_errors(void) {
    bld w; layout L;
    small_file(&w, &L);
    bld v = w;
    poke32(&v, L.t0_type, 4); EXPECT_FAIL(&v, "unknown tensor type 4");
    v = w; poke32(&v, L.t0_type, 1000); EXPECT_FAIL(&v, "unknown tensor type 1000");
    v = w; poke32(&v, L.t0_type, KEN_DT_Q4_0); EXPECT_FAIL(&v, "not a multiple of the Q4_0");
    v = w; poke32(&v, L.t0_ndims, 5); EXPECT_FAIL(&v, "5 dimensions");
    v = w; poke64(&v, L.t0_ne0, (uint64_t)1 << 63); EXPECT_FAIL(&v, "negative dimension");
    v = w; poke64(&v, L.t1_ne0, (uint64_t)1 << 62); EXPECT_FAIL(&v, "");
    v = w; poke64(&v, L.t1_ne0, (uint64_t)1 << 61); poke64(&v, L.t1_ne0 + 8, 1u << 8);
    EXPECT_FAIL(&v, "overflows");
    v = w; poke64(&v, L.t0_ne0, 1000); EXPECT_FAIL(&v, "extends past the end");
    v = w; poke64(&v, L.t1_off, 64); EXPECT_FAIL(&v, "extends past the end");
    v = w; poke64(&v, L.t1_off, UINT64_MAX - 31); EXPECT_FAIL(&v, "extends past the end");
    v = w; poke64(&v, L.t1_off, 0); EXPECT_FAIL(&v, "overlap");
    v = w; poke64(&v, L.t0_ne0, 12); EXPECT_FAIL(&v, "overlap");
    v = w; poke64(&v, L.t1_off, 4); EXPECT_FAIL(&v, "not a multiple of the alignment");
    v = w; v.b[L.t1_name_len + 8] = 'a'; EXPECT_FAIL(&v, "appears twice");
    v = w; v.b[L.t1_name_len + 8] = 0; EXPECT_FAIL(&v, "NUL byte");
    /* tensors in reverse order of offsets are fine */
    v = w; poke64(&v, L.t0_off, 32); poke64(&v, L.t1_off, 0); poke64(&v, L.t1_ne0, 1);
    ken_err e;
    CHECKF(try_bytes(&v, &e) == KEN_OK, "%s", e.msg);
    /* name too long */
    bld b = {0};
    char name[70];
    memset(name, 'n', 69);
    name[69] = 0;
    put(&b, "GGUF", 4); put32(&b, 3); put64(&b, 1); put64(&b, 0);
    putstr(&b, name); put32(&b, 1); put64(&b, 1); put32(&b, 0); put64(&b, 0);
    pad(&b, 32); put32(&b, 0);
    EXPECT_FAIL(&b, "too long");
}

static void test_open_errors(void) {
    ken_gguf *g = (ken_gguf *)1;
    ken_err err;
    CHECK(ken_gguf_open("/nonexistent/x.gguf", &g, &err) == KEN_ERR_NOTFOUND);
    CHECK(g == NULL);
    CHECK(strstr(err.msg, "x.gguf") != NULL);
    CHECK(ken_gguf_open("/", &g, &err) != KEN_OK);
    CHECK(ken_gguf_open_mem(NULL, 0, &g, &err) != KEN_OK);
    CHECK(strstr(err.msg, "not a GGUF") != NULL);
}

static void test_dtypes(void) {
    CHECK_EQ_INT(ken_dtype_block(KEN_DT_F32), 1);
    CHECK_EQ_INT(ken_dtype_block_bytes(KEN_DT_F32), 4);
    CHECK_EQ_INT(ken_dtype_block_bytes(KEN_DT_F16), 2);
    CHECK_EQ_INT(ken_dtype_block_bytes(KEN_DT_BF16), 2);
    static const struct { ken_dtype t; uint32_t blk, bytes; const char *name; } T[] = {
        {KEN_DT_Q4_0, 32, 18, "Q4_0"}, {KEN_DT_Q4_1, 32, 20, "Q4_1"},
        {KEN_DT_Q5_0, 32, 22, "Q5_0"}, {KEN_DT_Q5_1, 32, 24, "Q5_1"},
        {KEN_DT_Q8_0, 32, 34, "Q8_0"}, {KEN_DT_Q8_1, 32, 36, "Q8_1"},
        {KEN_DT_Q2_K, 256, 84, "Q2_K"}, {KEN_DT_Q3_K, 256, 110, "Q3_K"},
        {KEN_DT_Q4_K, 256, 144, "Q4_K"}, {KEN_DT_Q5_K, 256, 176, "Q5_K"},
        {KEN_DT_Q6_K, 256, 210, "Q6_K"}, {KEN_DT_Q8_K, 256, 292, "Q8_K"},
        {KEN_DT_I8, 1, 1, "I8"}, {KEN_DT_I16, 1, 2, "I16"}, {KEN_DT_I32, 1, 4, "I32"},
        {KEN_DT_I64, 1, 8, "I64"}, {KEN_DT_F64, 1, 8, "F64"}, {KEN_DT_BF16, 1, 2, "BF16"},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        CHECK_EQ_INT(ken_dtype_block(T[i].t), T[i].blk);
        CHECK_EQ_INT(ken_dtype_block_bytes(T[i].t), T[i].bytes);
        CHECK_EQ_STR(ken_dtype_name(T[i].t), T[i].name);
    }
    CHECK(!ken_dtype_known(4) && !ken_dtype_known(5) && !ken_dtype_known(40));
    CHECK(!ken_dtype_known(UINT32_MAX));
    CHECK_EQ_STR(ken_dtype_name((ken_dtype)4), "?");
    CHECK_EQ_INT(ken_dtype_row_bytes(KEN_DT_Q4_K, 512), 288);
    CHECK_EQ_INT(ken_dtype_row_bytes(KEN_DT_Q4_K, 100), 0);
}

/* ------------------------------------------------------------ fixtures */

static int open_dir(const char *dir, int *n_ok) {
    DIR *d = opendir(dir);
    if (!d) { CHECKF(0, "cannot open %s", dir); return 0; }
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 5, ".gguf") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        ken_gguf *g = NULL;
        ken_err err;
        ken_status st = ken_gguf_open(path, &g, &err);
        CHECKF(st == KEN_OK, "%s: %s", path, err.msg);
        n++;
        if (st) continue;
        (*n_ok)++;
        ken_gguf_str arch;
        CHECKF(ken_gguf_get_str(g, "general.architecture", &arch), "%s", path);
        CHECK_EQ_INT(ken_gguf_version(g), 3);
        /* every tensor lies in the file, every lookup by name finds itself;
         * llama.cpp packs tensors back to back (padded to the alignment) up to
         * the end of the file, so the sizes our block table gives must tile
         * the data section exactly: a check of bytes-per-block on real files */
        uint64_t next = 0, a = ken_gguf_alignment(g);
        for (uint64_t i = 0; i < ken_gguf_n_tensors(g); i++) {
            const ken_gguf_tensor *t = ken_gguf_tensor_at(g, i);
            CHECKF(t->offset == next, "%s tensor %llu at %llu, expected %llu", path,
                   (unsigned long long)i, (unsigned long long)t->offset,
                   (unsigned long long)next);
            next = t->offset + (t->n_bytes + a - 1) / a * a;
            char name[KEN_GGUF_MAX_NAME];
            snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
            CHECK(ken_gguf_tensor_find(g, name) == t);
        }
        if (ken_gguf_n_tensors(g))
            CHECK_EQ_INT(ken_gguf_data_offset(g) + next, ken_gguf_file_size(g));
        for (uint64_t i = 0; i < ken_gguf_n_kv(g); i++) {
            const ken_gguf_kv *kv = ken_gguf_kv_at(g, i);
            char *key = strndup(kv->key.p, kv->key.n);
            CHECK(ken_gguf_find(g, key) == kv);
            free(key);
        }
        ken_gguf_close(g);
    }
    closedir(d);
    return n;
}

static void test_fixture_files(void) {
    const char *fx = test_fixtures();
    char dir[4096];
    int ok = 0;
    snprintf(dir, sizeof dir, "%s/models", fx);
    CHECK_EQ_INT(open_dir(dir, &ok), 19);
    snprintf(dir, sizeof dir, "%s/tokenizer", fx);
    CHECK_EQ_INT(open_dir(dir, &ok), 8);
    CHECK_EQ_INT(ok, 27);
}

static void test_stories(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", test_fixtures());
    ken_gguf *g = NULL;
    ken_err err;
    REQUIRE(ken_gguf_open(path, &g, &err) == KEN_OK);
    ken_gguf_str s;
    CHECK(ken_gguf_get_str(g, "general.architecture", &s) && ken_gguf_str_eq(s, "llama"));
    uint32_t u = 0;
    CHECK(ken_gguf_get_u32(g, "llama.block_count", &u) && u == 5);
    CHECK(ken_gguf_get_u32(g, "llama.embedding_length", &u) && u == 64);
    CHECK(ken_gguf_get_u32(g, "llama.feed_forward_length", &u) && u == 172);
    CHECK(ken_gguf_get_u32(g, "llama.attention.head_count", &u) && u == 8);
    CHECK(ken_gguf_get_u32(g, "llama.attention.head_count_kv", &u) && u == 4);
    CHECK(ken_gguf_get_u32(g, "llama.context_length", &u) && u == 2048);
    ken_gguf_type et; uint64_t n;
    CHECK(ken_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) && et == KEN_GGUF_STRING &&
          n == 512);
    CHECK(ken_gguf_get_str(g, "tokenizer.ggml.model", &s) && ken_gguf_str_eq(s, "llama"));
    /* token_embd [64, 512] F32, 5 layers x 9 tensors + token_embd + output_norm + output */
    CHECK_EQ_INT(ken_gguf_n_tensors(g), 48);
    const ken_gguf_tensor *t = ken_gguf_tensor_find(g, "token_embd.weight");
    REQUIRE(t);
    CHECK(t->type == KEN_DT_F32 && t->ne[0] == 64 && t->ne[1] == 512);
    CHECK(ken_gguf_tensor_find(g, "blk.4.ffn_down.weight") != NULL);
    CHECK(ken_gguf_tensor_find(g, "blk.5.ffn_down.weight") == NULL);
    uint64_t total = 0;
    for (uint64_t i = 0; i < ken_gguf_n_tensors(g); i++)
        total += ken_gguf_tensor_at(g, i)->n_elems;
    CHECKF(total > 250000 && total < 300000, "params %llu", (unsigned long long)total);
    CHECK_EQ_INT(ken_gguf_file_size(g), 1185376);
    ken_gguf_close(g);
}

TEST_MAIN(test_dtypes, test_small_valid, test_truncation, test_header_errors,
          test_value_errors, test_tensor_errors, test_open_errors, test_fixture_files,
          test_stories)
