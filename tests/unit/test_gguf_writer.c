/* test_gguf_writer.c: the GGUF writer: a round trip of every value type
 * (nested arrays included) and a few tensors, alignment and padding, argument
 * errors, atomic replacement, and copying every fixture model through the
 * writer (same metadata and tensor bytes; stories260K byte-identical). */
#include "gguf/gguf.h"
#include "test.h"

#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

/* Removes the folder at exit, also when test_fixtures() exits early. */
static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    char p[512];
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

static void make_tmpdir(void) {
    if (tmpdir[0]) return;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ken_gguf_XXXXXX");
    if (!mkdtemp(tmpdir)) abort();
    atexit(remove_tmpdir);
}

static void tmp_path(char *out, size_t n, const char *name) {
    make_tmpdir();
    snprintf(out, n, "%s/%s", tmpdir, name);
}

/* Counts the entries of tmpdir (to see that no temp file is left). */
static int count_tmp_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static bool val_eq(const ken_gguf_value *a, const ken_gguf_value *b, int depth);

static bool arr_eq(const ken_gguf_value *a, const ken_gguf_value *b, int depth) {
    if (a->v.arr.elem_type != b->v.arr.elem_type || a->v.arr.count != b->v.arr.count)
        return false;
    for (uint64_t i = 0; i < a->v.arr.count; i++) {
        ken_gguf_value x, y;
        if (!ken_gguf_arr_at(a, i, &x) || !ken_gguf_arr_at(b, i, &y)) return false;
        if (!val_eq(&x, &y, depth + 1)) return false;
    }
    return true;
}

static bool val_eq(const ken_gguf_value *a, const ken_gguf_value *b, int depth) {
    if (a->type != b->type || depth > 10) return false;
    switch (a->type) {
    case KEN_GGUF_STRING:
        return a->v.str.n == b->v.str.n && (a->v.str.n == 0 ||
               memcmp(a->v.str.p, b->v.str.p, a->v.str.n) == 0);
    case KEN_GGUF_ARRAY: return arr_eq(a, b, depth);
    case KEN_GGUF_BOOL: return a->v.b == b->v.b;
    case KEN_GGUF_FLOAT32: case KEN_GGUF_FLOAT64:
        return memcmp(&a->v.f64, &b->v.f64, sizeof(double)) == 0;
    default: return a->v.u64 == b->v.u64;
    }
}

/* ------------------------------------------------------------ round trip */

static const char *const NAMES[] = {"zero", "", "héllo wörld", "with\0nul"};

static void add_all_kvs(ken_gguf_writer *w) {
    ken_gguf_value v;
    static const struct { ken_gguf_type t; uint64_t u; } S[] = {
        {KEN_GGUF_UINT8, 200}, {KEN_GGUF_UINT16, 60000}, {KEN_GGUF_UINT32, 4000000000u},
        {KEN_GGUF_UINT64, UINT64_MAX - 5},
    };
    for (size_t i = 0; i < 4; i++) {
        char key[32];
        snprintf(key, sizeof key, "t.%s", ken_gguf_type_name(S[i].t));
        v = (ken_gguf_value){.type = S[i].t, .v.u64 = S[i].u};
        CHECK(ken_gguf_set_val(w, key, &v) == KEN_OK);
    }
    v = (ken_gguf_value){.type = KEN_GGUF_INT8, .v.i64 = -100};
    CHECK(ken_gguf_set_val(w, "t.int8", &v) == KEN_OK);
    v = (ken_gguf_value){.type = KEN_GGUF_INT16, .v.i64 = -30000};
    CHECK(ken_gguf_set_val(w, "t.int16", &v) == KEN_OK);
    CHECK(ken_gguf_set_i32(w, "t.int32", -2000000000) == KEN_OK);
    CHECK(ken_gguf_set_i64(w, "t.int64", INT64_MIN + 1) == KEN_OK);
    CHECK(ken_gguf_set_f32(w, "t.float32", 0.1f) == KEN_OK);
    CHECK(ken_gguf_set_f64(w, "t.float64", -1e300) == KEN_OK);
    CHECK(ken_gguf_set_bool(w, "t.bool", true) == KEN_OK);
    CHECK(ken_gguf_set_str(w, "t.string", "a string") == KEN_OK);
    CHECK(ken_gguf_set_str(w, "t.empty", "") == KEN_OK);
    CHECK(ken_gguf_set_u32(w, "t.replaced", 1) == KEN_OK);
    CHECK(ken_gguf_set_u32(w, "t.replaced", 2) == KEN_OK);      /* replaced in place */
    int32_t i32s[5] = {1, -2, 3, -4, 5};
    float f32s[3] = {0.5f, -0.25f, 1e-30f};
    uint8_t bools[3] = {1, 0, 1};
    int64_t i64s[2] = {INT64_MAX, INT64_MIN};
    CHECK(ken_gguf_set_arr(w, "a.int32", KEN_GGUF_INT32, i32s, 5) == KEN_OK);
    CHECK(ken_gguf_set_arr(w, "a.float32", KEN_GGUF_FLOAT32, f32s, 3) == KEN_OK);
    CHECK(ken_gguf_set_arr(w, "a.bool", KEN_GGUF_BOOL, bools, 3) == KEN_OK);
    CHECK(ken_gguf_set_arr(w, "a.int64", KEN_GGUF_INT64, i64s, 2) == KEN_OK);
    CHECK(ken_gguf_set_arr(w, "a.empty", KEN_GGUF_UINT8, NULL, 0) == KEN_OK);
    ken_gguf_str strs[4];
    for (int i = 0; i < 4; i++) strs[i] = (ken_gguf_str){NAMES[i], strlen(NAMES[i])};
    strs[3].n = 8;                                       /* keep the embedded NUL */
    CHECK(ken_gguf_set_arr_str(w, "a.string", strs, 4) == KEN_OK);
    /* [[1,-2,3,-4,5], ["zero","",...], [[0.5,...]], []] */
    ken_gguf_value inner[4], deep[1];
    memset(inner, 0, sizeof inner);
    memset(deep, 0, sizeof deep);
    inner[0].type = KEN_GGUF_ARRAY;
    inner[0].v.arr = (ken_gguf_arrval){.elem_type = KEN_GGUF_INT32, .count = 5, .data =
                                       (const uint8_t *)i32s};
    inner[1].type = KEN_GGUF_ARRAY;
    inner[1].v.arr = (ken_gguf_arrval){.elem_type = KEN_GGUF_STRING, .count = 4, .strs = strs};
    deep[0].type = KEN_GGUF_ARRAY;
    deep[0].v.arr = (ken_gguf_arrval){.elem_type = KEN_GGUF_FLOAT32, .count = 3, .data =
                                      (const uint8_t *)f32s};
    inner[2].type = KEN_GGUF_ARRAY;
    inner[2].v.arr = (ken_gguf_arrval){.elem_type = KEN_GGUF_ARRAY, .count = 1, .elems = deep};
    inner[3].type = KEN_GGUF_ARRAY;
    inner[3].v.arr = (ken_gguf_arrval){.elem_type = KEN_GGUF_STRING, .count = 0, .strs = strs};
    v = (ken_gguf_value){.type = KEN_GGUF_ARRAY};
    v.v.arr = (ken_gguf_arrval){.elem_type = KEN_GGUF_ARRAY, .count = 4, .elems = inner};
    CHECK(ken_gguf_set_val(w, "a.nested", &v) == KEN_OK);
}

static void check_all_kvs(const ken_gguf *g) {
    uint64_t u = 0; int64_t i = 0; float f = 0; bool b = false; ken_gguf_str s;
    CHECK(ken_gguf_get_u64(g, "t.uint8", &u) && u == 200);
    CHECK(ken_gguf_get_u64(g, "t.uint16", &u) && u == 60000);
    CHECK(ken_gguf_get_u64(g, "t.uint32", &u) && u == 4000000000u);
    CHECK(ken_gguf_get_u64(g, "t.uint64", &u) && u == UINT64_MAX - 5);
    CHECK(!ken_gguf_get_i64(g, "t.uint64", &i));
    CHECK(ken_gguf_get_i64(g, "t.int8", &i) && i == -100);
    CHECK(ken_gguf_get_i64(g, "t.int16", &i) && i == -30000);
    CHECK(ken_gguf_get_i64(g, "t.int32", &i) && i == -2000000000);
    CHECK(!ken_gguf_get_u64(g, "t.int32", &u));
    CHECK(ken_gguf_get_i64(g, "t.int64", &i) && i == INT64_MIN + 1);
    CHECK(ken_gguf_get_f32(g, "t.float32", &f) && f == 0.1f);
    CHECK(ken_gguf_find(g, "t.float32")->val.type == KEN_GGUF_FLOAT32);
    CHECK(ken_gguf_find(g, "t.float64")->val.v.f64 == -1e300);
    CHECK(ken_gguf_get_bool(g, "t.bool", &b) && b);
    CHECK(ken_gguf_get_str(g, "t.string", &s) && ken_gguf_str_eq(s, "a string"));
    CHECK(ken_gguf_get_str(g, "t.empty", &s) && s.n == 0);
    uint32_t u32 = 0;
    CHECK(ken_gguf_get_u32(g, "t.replaced", &u32) && u32 == 2);
    /* insertion order kept: t.replaced sits where it was first set */
    CHECK(ken_gguf_find(g, "t.replaced") == ken_gguf_find(g, "t.empty") + 1);
    const ken_gguf_value *a = &ken_gguf_find(g, "a.int32")->val;
    CHECK(a->v.arr.count == 5 && ken_gguf_arr_int(a, 3) == -4);
    a = &ken_gguf_find(g, "a.float32")->val;
    CHECK(ken_gguf_arr_float(a, 2) == (double)1e-30f);
    a = &ken_gguf_find(g, "a.bool")->val;
    CHECK(a->v.arr.elem_type == KEN_GGUF_BOOL && ken_gguf_arr_int(a, 0) == 1 &&
          ken_gguf_arr_int(a, 1) == 0);
    a = &ken_gguf_find(g, "a.int64")->val;
    CHECK(ken_gguf_arr_int(a, 1) == INT64_MIN);
    CHECK(ken_gguf_find(g, "a.empty")->val.v.arr.count == 0);
    a = &ken_gguf_find(g, "a.string")->val;
    CHECK(a->v.arr.count == 4 && ken_gguf_str_eq(ken_gguf_arr_str(a, 2), "héllo wörld"));
    ken_gguf_str nul = ken_gguf_arr_str(a, 3);
    CHECK(nul.n == 8 && memcmp(nul.p, "with\0nul", 8) == 0);
    a = &ken_gguf_find(g, "a.nested")->val;
    REQUIRE(a->v.arr.elem_type == KEN_GGUF_ARRAY && a->v.arr.count == 4);
    ken_gguf_value e, d, x;
    CHECK(ken_gguf_arr_at(a, 0, &e) && ken_gguf_arr_int(&e, 4) == 5);
    CHECK(ken_gguf_arr_at(a, 1, &e) && ken_gguf_str_eq(ken_gguf_arr_str(&e, 0), "zero"));
    CHECK(ken_gguf_arr_at(a, 2, &e) && ken_gguf_arr_at(&e, 0, &d) &&
          ken_gguf_arr_at(&d, 1, &x) && x.type == KEN_GGUF_FLOAT32 && x.v.f64 == -0.25);
    CHECK(ken_gguf_arr_at(a, 3, &e) && e.v.arr.count == 0 &&
          e.v.arr.elem_type == KEN_GGUF_STRING);
}

static void roundtrip(uint32_t alignment) {
    char path[256];
    tmp_path(path, sizeof path, "rt.gguf");
    ken_gguf_writer *w = ken_gguf_writer_new(alignment);
    REQUIRE(w);
    add_all_kvs(w);
    float m[12];
    for (int i = 0; i < 12; i++) m[i] = (float)i * 0.5f;
    uint8_t q[2 * 2 * 18];
    for (size_t i = 0; i < sizeof q; i++) q[i] = (uint8_t)(i * 7);
    uint16_t h[8] = {0x3c00, 0, 1, 2, 3, 4, 5, 6};
    int32_t ids[3] = {7, 8, 9};
    CHECK(ken_gguf_add_tensor(w, "m", KEN_DT_F32, 2, (uint64_t[]){4, 3}, m, sizeof m) == KEN_OK);
    CHECK(ken_gguf_add_tensor(w, "q", KEN_DT_Q4_0, 2, (uint64_t[]){64, 2}, q, sizeof q) == KEN_OK);
    CHECK(ken_gguf_add_tensor_ref(w, "h", KEN_DT_F16, 1, (uint64_t[]){8}, h, sizeof h) == KEN_OK);
    CHECK(ken_gguf_add_tensor(w, "ids", KEN_DT_I32, 3, (uint64_t[]){3, 1, 1}, ids,
                              sizeof ids) == KEN_OK);
    memset(m, 0, sizeof m);                 /* the writer holds its own copy */
    ken_err err;
    REQUIRE(ken_gguf_write(w, path, &err) == KEN_OK);
    /* the in-memory form is the same bytes */
    ken_buf mem, file;
    ken_buf_init(&mem, 0);
    ken_buf_init(&file, 0);
    CHECK(ken_gguf_write_buf(w, &mem, &err) == KEN_OK);
    CHECK(ken_file_read(path, 1 << 20, &file, &err) == KEN_OK);
    CHECK(mem.len == file.len && mem.len > 0 && memcmp(mem.data, file.data, mem.len) == 0);
    ken_buf_free(&mem);
    ken_buf_free(&file);
    ken_gguf_writer_free(w);
    CHECK_EQ_INT(count_tmp_files(), 1);
    ken_gguf *g = NULL;
    REQUIRE(ken_gguf_open(path, &g, &err) == KEN_OK);
    uint32_t a = alignment ? alignment : 32;
    CHECK_EQ_INT(ken_gguf_alignment(g), a);
    CHECK_EQ_INT(ken_gguf_version(g), 3);
    check_all_kvs(g);
    CHECK_EQ_INT(ken_gguf_n_tensors(g), 4);
    CHECK_EQ_INT(ken_gguf_data_offset(g) % a, 0);
    const ken_gguf_tensor *t = ken_gguf_tensor_find(g, "m");
    REQUIRE(t);
    CHECK(t->type == KEN_DT_F32 && t->n_dims == 2 && t->ne[0] == 4 && t->ne[1] == 3);
    float last;
    memcpy(&last, (const float *)t->data + 11, 4);      /* alignment 1: may be unaligned */
    CHECK(last == 5.5f);
    t = ken_gguf_tensor_find(g, "q");
    REQUIRE(t);
    CHECK(t->n_bytes == sizeof q && memcmp(t->data, q, sizeof q) == 0 && t->offset % a == 0);
    t = ken_gguf_tensor_find(g, "h");
    REQUIRE(t);
    CHECK(t->n_bytes == 16 && memcmp(t->data, h, 16) == 0 && t->offset % a == 0);
    t = ken_gguf_tensor_find(g, "ids");
    REQUIRE(t);
    int32_t id2;
    memcpy(&id2, (const int32_t *)t->data + 2, 4);
    CHECK(t->n_dims == 3 && id2 == 9);
    /* every tensor padded to the alignment, the last one included */
    CHECK_EQ_INT(ken_gguf_file_size(g), t->offset + ((12 + a - 1) / a) * a +
                 ken_gguf_data_offset(g));
    ken_gguf_close(g);
    unlink(path);
}

static void test_roundtrip(void) {
    roundtrip(0);
    roundtrip(64);
    roundtrip(1);
}

static void test_no_tensors(void) {
    char path[256];
    tmp_path(path, sizeof path, "kv.gguf");
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    CHECK(ken_gguf_set_str(w, "general.architecture", "llama") == KEN_OK);
    ken_err err;
    REQUIRE(ken_gguf_write(w, path, &err) == KEN_OK);
    ken_gguf_writer_free(w);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size == 4 + 4 + 8 + 8 + 8 + 20 + 4 + 8 + 5);
    ken_gguf *g = NULL;
    CHECK(ken_gguf_open(path, &g, &err) == KEN_OK);
    ken_gguf_close(g);
    unlink(path);
}

/* The writer counts nesting as the reader does: arrays nested exactly to
 * KEN_GGUF_MAX_DEPTH are read, written back and read again; one level more
 * is refused by both. (Found by fuzz_gguf_roundtrip: the writer counted two
 * levels per array of arrays and refused what the reader had accepted.) */
static void nested_levels(int levels, ken_gguf_value *vals) {
    /* vals[0] is the outermost array; vals[levels-1] holds no elements */
    for (int i = 0; i < levels; i++) {
        vals[i].type = KEN_GGUF_ARRAY;
        memset(&vals[i].v.arr, 0, sizeof vals[i].v.arr);
        if (i + 1 < levels) {
            vals[i].v.arr.elem_type = KEN_GGUF_ARRAY;
            vals[i].v.arr.count = 1;
            vals[i].v.arr.elems = &vals[i + 1];
        } else {
            vals[i].v.arr.elem_type = KEN_GGUF_UINT8;
        }
    }
}

static void test_nesting_limit(void) {
    ken_gguf_value vals[KEN_GGUF_MAX_DEPTH + 1];
    ken_err err;
    nested_levels(KEN_GGUF_MAX_DEPTH, vals);
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    CHECK(ken_gguf_set_val(w, "deep", &vals[0]) == KEN_OK);
    ken_buf one;
    ken_buf_init(&one, 0);
    REQUIRE(ken_gguf_write_buf(w, &one, &err) == KEN_OK);
    ken_gguf_writer_free(w);
    ken_gguf *g = NULL;
    CHECK(ken_gguf_open_mem(one.data, one.len, &g, &err) == KEN_OK);
    CHECK(g && ken_gguf_n_kv(g) == 1);
    if (g && ken_gguf_n_kv(g) == 1) {
        w = ken_gguf_writer_new(0);
        CHECK(ken_gguf_set_kv(w, ken_gguf_kv_at(g, 0)) == KEN_OK);
        ken_buf two;
        ken_buf_init(&two, 0);
        CHECK(ken_gguf_write_buf(w, &two, &err) == KEN_OK);
        CHECK(two.len == one.len && memcmp(one.data, two.data, one.len) == 0);
        ken_buf_free(&two);
        ken_gguf_writer_free(w);
        ken_gguf_close(g);
    }
    ken_buf_free(&one);
    nested_levels(KEN_GGUF_MAX_DEPTH + 1, vals);
    w = ken_gguf_writer_new(0);
    CHECK(ken_gguf_set_val(w, "deeper", &vals[0]) == KEN_ERR_LIMIT);
    CHECK(strstr(ken_gguf_writer_errmsg(w), "nested deeper") != NULL);
    ken_gguf_writer_free(w);
}

static void test_writer_errors(void) {
    CHECK(ken_gguf_writer_new(3) == NULL);
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    REQUIRE(w);
    float f[4] = {0};
    char longname[80];
    memset(longname, 'x', 79);
    longname[79] = 0;
    CHECK(ken_gguf_add_tensor(w, longname, KEN_DT_F32, 1, (uint64_t[]){4}, f, 16) ==
          KEN_ERR_INVALID);
    CHECK(strstr(ken_gguf_writer_errmsg(w), "name") != NULL);
    CHECK(ken_gguf_add_tensor(w, "t", KEN_DT_F32, 1, (uint64_t[]){4}, f, 12) == KEN_ERR_INVALID);
    CHECK(strstr(ken_gguf_writer_errmsg(w), "needs 16") != NULL);
    CHECK(ken_gguf_add_tensor(w, "t", KEN_DT_Q4_0, 1, (uint64_t[]){4}, f, 16) == KEN_ERR_INVALID);
    CHECK(ken_gguf_add_tensor(w, "t", (ken_dtype)4, 1, (uint64_t[]){4}, f, 16) == KEN_ERR_INVALID);
    CHECK(ken_gguf_add_tensor(w, "t", KEN_DT_F32, 5, (uint64_t[]){4, 1, 1, 1, 1}, f, 16) ==
          KEN_ERR_INVALID);
    CHECK(ken_gguf_add_tensor(w, "t", KEN_DT_F32, 2, (uint64_t[]){(uint64_t)1 << 62, 4}, f, 16)
          == KEN_ERR_INVALID);
    CHECK(ken_gguf_add_tensor(w, "t", KEN_DT_F32, 1, (uint64_t[]){4}, f, 16) == KEN_OK);
    CHECK(ken_gguf_add_tensor(w, "t", KEN_DT_F32, 1, (uint64_t[]){4}, f, 16) == KEN_ERR_INVALID);
    CHECK(strstr(ken_gguf_writer_errmsg(w), "twice") != NULL);
    CHECK(ken_gguf_set_u32(w, "general.alignment", 24) == KEN_ERR_INVALID);
    CHECK(ken_gguf_set_str(w, "general.alignment", "32") == KEN_ERR_INVALID);
    CHECK(ken_gguf_set_arr(w, "k", KEN_GGUF_STRING, f, 1) == KEN_ERR_INVALID);
    CHECK(ken_gguf_set_arr(w, "k", KEN_GGUF_INT32, NULL, 1) == KEN_ERR_INVALID);
    ken_gguf_value bad = {.type = (ken_gguf_type)13};
    CHECK(ken_gguf_set_val(w, "k", &bad) == KEN_ERR_INVALID);
    /* nesting beyond the reader's limit is refused by the writer too */
    ken_gguf_value chain[12];
    memset(chain, 0, sizeof chain);
    for (int i = 0; i < 12; i++) {
        chain[i].type = KEN_GGUF_ARRAY;
        chain[i].v.arr.elem_type = i == 11 ? KEN_GGUF_UINT8 : KEN_GGUF_ARRAY;
        chain[i].v.arr.count = i == 11 ? 0 : 1;
        chain[i].v.arr.elems = i == 11 ? NULL : &chain[i + 1];
    }
    CHECK(ken_gguf_set_val(w, "deep", &chain[0]) == KEN_ERR_LIMIT);
    CHECK(ken_gguf_set_u32(w, "general.alignment", 16) == KEN_OK);
    ken_err err;
    CHECK(ken_gguf_write(w, "/nonexistent-dir/x.gguf", &err) == KEN_ERR_IO);
    CHECK(strstr(err.msg, "nonexistent-dir") != NULL);
    /* an existing file is replaced atomically, no temp file left behind */
    char path[256];
    tmp_path(path, sizeof path, "atomic.gguf");
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp);
    fputs("old contents", fp);
    fclose(fp);
    int before = count_tmp_files();
    CHECK(ken_gguf_write(w, path, &err) == KEN_OK);
    CHECK_EQ_INT(count_tmp_files(), before);
    ken_gguf *g = NULL;
    CHECK(ken_gguf_open(path, &g, &err) == KEN_OK);
    if (g) CHECK_EQ_INT(ken_gguf_alignment(g), 16);
    ken_gguf_close(g);
    unlink(path);
    ken_gguf_writer_free(w);
    ken_gguf_writer_free(NULL);
}

/* ------------------------------------------------------------ fixture copies */

static bool files_equal(const char *a, const char *b) {
    ken_buf x, y;
    ken_buf_init(&x, 0);
    ken_buf_init(&y, 0);
    ken_err err;
    bool eq = ken_file_read(a, (size_t)1 << 28, &x, &err) == KEN_OK &&
              ken_file_read(b, (size_t)1 << 28, &y, &err) == KEN_OK && x.len == y.len &&
              memcmp(x.data, y.data, x.len) == 0;
    ken_buf_free(&x);
    ken_buf_free(&y);
    return eq;
}

/* Copies src through the writer into dst and compares; returns byte-equality. */
static bool copy_and_compare(const char *src, const char *dst) {
    ken_gguf *g = NULL, *h = NULL;
    ken_err err;
    if (ken_gguf_open(src, &g, &err) != KEN_OK) { CHECKF(0, "%s", err.msg); return false; }
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    for (uint64_t i = 0; i < ken_gguf_n_kv(g); i++)
        CHECK(ken_gguf_set_kv(w, ken_gguf_kv_at(g, i)) == KEN_OK);
    for (uint64_t i = 0; i < ken_gguf_n_tensors(g); i++)
        CHECK(ken_gguf_copy_tensor(w, ken_gguf_tensor_at(g, i)) == KEN_OK);
    CHECKF(ken_gguf_write(w, dst, &err) == KEN_OK, "%s", err.msg);
    ken_gguf_writer_free(w);
    bool same = false;
    if (ken_gguf_open(dst, &h, &err) == KEN_OK) {
        CHECK_EQ_INT(ken_gguf_n_kv(h), ken_gguf_n_kv(g));
        CHECK_EQ_INT(ken_gguf_n_tensors(h), ken_gguf_n_tensors(g));
        CHECK_EQ_INT(ken_gguf_alignment(h), ken_gguf_alignment(g));
        for (uint64_t i = 0; i < ken_gguf_n_kv(g) && i < ken_gguf_n_kv(h); i++) {
            const ken_gguf_kv *a = ken_gguf_kv_at(g, i), *b = ken_gguf_kv_at(h, i);
            CHECKF(a->key.n == b->key.n && memcmp(a->key.p, b->key.p, a->key.n) == 0 &&
                   val_eq(&a->val, &b->val, 0), "%s kv %llu", src, (unsigned long long)i);
        }
        for (uint64_t i = 0; i < ken_gguf_n_tensors(g) && i < ken_gguf_n_tensors(h); i++) {
            const ken_gguf_tensor *a = ken_gguf_tensor_at(g, i), *b = ken_gguf_tensor_at(h, i);
            CHECKF(a->name.n == b->name.n && memcmp(a->name.p, b->name.p, a->name.n) == 0 &&
                   a->type == b->type && a->n_dims == b->n_dims &&
                   memcmp(a->ne, b->ne, sizeof a->ne) == 0 && a->n_bytes == b->n_bytes &&
                   memcmp(a->data, b->data, a->n_bytes) == 0, "%s tensor %llu", src,
                   (unsigned long long)i);
        }
        ken_gguf_close(h);
        same = files_equal(src, dst);
    } else {
        CHECKF(0, "%s", err.msg);
    }
    ken_gguf_close(g);
    unlink(dst);
    return same;
}

static void test_fixture_copies(void) {
    const char *fx = test_fixtures();
    static const char *const files[] = {
        "models/stories260K.gguf", "models/tiny-llama-q-Q4_K_M.gguf",
        "models/tiny-llama3-lora-r4.gguf", "models/tiny-bge-cls-f32.gguf",
        "tokenizer/ggml-vocab-qwen2.gguf", "tokenizer/ggml-vocab-phi-3.gguf",
    };
    char src[4096], dst[256];
    tmp_path(dst, sizeof dst, "copy.gguf");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(src, sizeof src, "%s/%s", fx, files[i]);
        bool same = copy_and_compare(src, dst);
        fprintf(stderr, "copy of %s: %s\n", files[i], same ? "byte-identical" : "differs");
        /* llama.cpp's own layout: every fixture comes back byte for byte */
        CHECKF(same, "%s not byte-identical", files[i]);
    }
}

/* Every file the tests wrote was removed again. */
static void cleanup(void) {
    CHECK_EQ_INT(count_tmp_files(), 0);
}

TEST_MAIN(test_roundtrip, test_no_tensors, test_nesting_limit, test_writer_errors, test_fixture_copies, cleanup)
