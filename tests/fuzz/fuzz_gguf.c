/* fuzz_gguf.c: libFuzzer target for the GGUF reader. Opens the input with
 * ken_gguf_open_mem and, when it is accepted, touches everything a caller
 * could: every kv through every getter, every array element (nested arrays
 * recursively), every tensor by index and by name and the first and last
 * byte of its data, and the model description (ken model info) in both
 * formats, so any bound the reader failed to check shows up as an ASan
 * report. */
#include "gguf/gguf.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void walk_value(const ken_gguf_value *v, int depth) {
    if (v->type == KEN_GGUF_STRING) {
        if (v->v.str.n) sink += (uint8_t)v->v.str.p[0] + (uint8_t)v->v.str.p[v->v.str.n - 1];
        return;
    }
    if (v->type != KEN_GGUF_ARRAY) {
        sink += v->v.u64;
        return;
    }
    if (depth > KEN_GGUF_MAX_DEPTH + 2) __builtin_trap();
    for (uint64_t i = 0; i < v->v.arr.count; i++) {
        ken_gguf_value e;
        if (!ken_gguf_arr_at(v, i, &e)) __builtin_trap();
        sink += (uint64_t)ken_gguf_arr_int(v, i);
        double d = ken_gguf_arr_float(v, i);
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        sink += bits;
        ken_gguf_str s = ken_gguf_arr_str(v, i);
        if (s.n) sink += (uint8_t)s.p[s.n - 1];
        walk_value(&e, depth + 1);
    }
    ken_gguf_value e;
    if (ken_gguf_arr_at(v, v->v.arr.count, &e)) __builtin_trap();
}

static void walk_getters(const ken_gguf *g, const ken_gguf_kv *kv) {
    char key[256];
    if (kv->key.n >= sizeof key || memchr(kv->key.p, 0, kv->key.n)) return;
    memcpy(key, kv->key.p, kv->key.n);
    key[kv->key.n] = 0;
    if (ken_gguf_find(g, key) != kv) __builtin_trap();   /* keys are unique */
    uint64_t u; int64_t i; uint32_t u32; float f; bool b; ken_gguf_str s;
    ken_gguf_type t; uint64_t n;
    sink += ken_gguf_get_u64(g, key, &u) + ken_gguf_get_i64(g, key, &i) +
            ken_gguf_get_u32(g, key, &u32) + ken_gguf_get_f32(g, key, &f) +
            ken_gguf_get_bool(g, key, &b) + ken_gguf_get_str(g, key, &s) +
            ken_gguf_get_arr(g, key, &t, &n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ken_gguf *g = NULL;
    ken_err err;
    if (ken_gguf_open_mem(data, size, &g, &err) != KEN_OK) {
        if (g || !err.msg[0]) __builtin_trap();           /* failures always explain */
        return 0;
    }
    sink += ken_gguf_version(g) + ken_gguf_alignment(g) + ken_gguf_data_offset(g);
    for (uint64_t i = 0; i < ken_gguf_n_kv(g); i++) {
        const ken_gguf_kv *kv = ken_gguf_kv_at(g, i);
        walk_value(&kv->val, 0);
        walk_getters(g, kv);
        sink += strlen(ken_gguf_type_name(kv->val.type));
    }
    for (uint64_t i = 0; i < ken_gguf_n_tensors(g); i++) {
        const ken_gguf_tensor *t = ken_gguf_tensor_at(g, i);
        char name[KEN_GGUF_MAX_NAME];
        if (t->name.n >= sizeof name) __builtin_trap();
        memcpy(name, t->name.p, t->name.n);
        name[t->name.n] = 0;
        if (memchr(name, 0, t->name.n) || ken_gguf_tensor_find(g, name) != t) __builtin_trap();
        if (t->offset % ken_gguf_alignment(g)) __builtin_trap();
        if (t->n_bytes) {
            const uint8_t *p = t->data;
            sink += p[0] + p[t->n_bytes - 1];
        }
        sink += strlen(ken_dtype_name(t->type)) + ken_dtype_block(t->type);
    }
    /* the model description walks special-token ids into the vocabulary */
    for (int json = 0; json < 2; json++) {
        ken_buf b;
        ken_buf_init(&b, 0);
        if (ken_gguf_describe(g, "fuzz.gguf", json, &b) != KEN_OK) __builtin_trap();
        ken_buf_free(&b);
    }
    ken_gguf_close(g);
    return 0;
}
