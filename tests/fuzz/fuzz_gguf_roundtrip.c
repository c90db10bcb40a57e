/* fuzz_gguf_roundtrip.c: libFuzzer target for the writer against the reader.
 * Every input the reader accepts is copied through the writer (all kvs, all
 * tensors) into memory and read back: the copy must open, hold the same kvs
 * (nested arrays compared element by element) and the same tensor bytes,
 * and copying the copy must give the very same bytes (the writer's layout is
 * a fixed point). */
#include "gguf/gguf.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool val_eq(const ken_gguf_value *a, const ken_gguf_value *b, int depth) {
    if (a->type != b->type || depth > KEN_GGUF_MAX_DEPTH + 2) return false;
    switch (a->type) {
    case KEN_GGUF_STRING:
        return a->v.str.n == b->v.str.n &&
               (a->v.str.n == 0 || memcmp(a->v.str.p, b->v.str.p, a->v.str.n) == 0);
    case KEN_GGUF_BOOL: return a->v.b == b->v.b;
    case KEN_GGUF_FLOAT32: case KEN_GGUF_FLOAT64:
        return memcmp(&a->v.f64, &b->v.f64, sizeof(double)) == 0;
    case KEN_GGUF_ARRAY:
        if (a->v.arr.elem_type != b->v.arr.elem_type || a->v.arr.count != b->v.arr.count)
            return false;
        for (uint64_t i = 0; i < a->v.arr.count; i++) {
            ken_gguf_value x, y;
            if (!ken_gguf_arr_at(a, i, &x) || !ken_gguf_arr_at(b, i, &y)) return false;
            /* bool arrays keep their raw bytes */
            if (x.type == KEN_GGUF_BOOL) {
                if (a->v.arr.data[i] != b->v.arr.data[i]) return false;
            } else if (!val_eq(&x, &y, depth + 1)) {
                return false;
            }
        }
        return true;
    default: return a->v.u64 == b->v.u64;
    }
}

/* Copies g through a writer into out; false when the writer refuses. */
static bool copy(const ken_gguf *g, ken_buf *out) {
    ken_gguf_writer *w = ken_gguf_writer_new(0);
    if (!w) __builtin_trap();
    bool ok = true;
    for (uint64_t i = 0; i < ken_gguf_n_kv(g) && ok; i++)
        ok = ken_gguf_set_kv(w, ken_gguf_kv_at(g, i)) == KEN_OK;
    for (uint64_t i = 0; i < ken_gguf_n_tensors(g) && ok; i++)
        ok = ken_gguf_copy_tensor(w, ken_gguf_tensor_at(g, i)) == KEN_OK;
    ken_err err;
    if (ok && ken_gguf_write_buf(w, out, &err) != KEN_OK) __builtin_trap();
    ken_gguf_writer_free(w);
    return ok;
}

static void compare(const ken_gguf *a, const ken_gguf *b) {
    if (ken_gguf_n_kv(a) != ken_gguf_n_kv(b) || ken_gguf_n_tensors(a) != ken_gguf_n_tensors(b) ||
        ken_gguf_alignment(a) != ken_gguf_alignment(b))
        __builtin_trap();
    for (uint64_t i = 0; i < ken_gguf_n_kv(a); i++) {
        const ken_gguf_kv *x = ken_gguf_kv_at(a, i), *y = ken_gguf_kv_at(b, i);
        if (x->key.n != y->key.n || (x->key.n && memcmp(x->key.p, y->key.p, x->key.n)) ||
            !val_eq(&x->val, &y->val, 0))
            __builtin_trap();
    }
    for (uint64_t i = 0; i < ken_gguf_n_tensors(a); i++) {
        const ken_gguf_tensor *x = ken_gguf_tensor_at(a, i), *y = ken_gguf_tensor_at(b, i);
        if (x->name.n != y->name.n || (x->name.n && memcmp(x->name.p, y->name.p, x->name.n)) ||
            x->type != y->type || memcmp(x->ne, y->ne, sizeof x->ne) != 0 ||
            x->n_bytes != y->n_bytes || (x->n_bytes && memcmp(x->data, y->data, x->n_bytes)) ||
            y->offset % ken_gguf_alignment(b))
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ken_gguf *g = NULL, *h = NULL, *k = NULL;
    ken_err err;
    if (ken_gguf_open_mem(data, size, &g, &err) != KEN_OK) return 0;
    ken_buf one, two;
    ken_buf_init(&one, 0);
    ken_buf_init(&two, 0);
    /* The writer may refuse what the reader accepts only for tensors with
     * no dimensions... which it writes as one dimension: so never. */
    if (!copy(g, &one)) __builtin_trap();
    if (ken_gguf_open_mem(one.data, one.len, &h, &err) != KEN_OK) __builtin_trap();
    compare(g, h);
    if (!copy(h, &two) || two.len != one.len || memcmp(one.data, two.data, one.len) != 0)
        __builtin_trap();
    if (ken_gguf_open_mem(two.data, two.len, &k, &err) != KEN_OK) __builtin_trap();
    ken_gguf_close(k);
    ken_gguf_close(h);
    ken_gguf_close(g);
    ken_buf_free(&one);
    ken_buf_free(&two);
    return 0;
}
