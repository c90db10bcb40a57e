/* gguf.c: reading GGUF v2/v3 files: map the file, validate every byte of
 * the header, metadata and tensor table, and index kvs and tensors by name.
 *
 * Every read goes through a cursor that checks the remaining length first,
 * so a truncated or hostile file can only produce an error. Allocations are
 * bounded by what the file can hold: a count is checked against the bytes
 * left (each element has a minimum encoded size) before anything is
 * allocated. Nothing is copied out of the mapping; the handle only owns the
 * kv and tensor tables, the string-array offset tables and the hash indexes. */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ dtypes */

typedef struct { const char *name; uint32_t block, bytes; } dtype_info;

/* Block sizes and block bytes as in ggml's type traits (block_q4_0 is a
 * half scale + 16 bytes of nibbles = 18 bytes per 32 values, etc.). */
static const dtype_info DTYPES[KEN_DT_COUNT] = {
    [KEN_DT_F32] = {"F32", 1, 4},          [KEN_DT_F16] = {"F16", 1, 2},
    [KEN_DT_Q4_0] = {"Q4_0", 32, 18},      [KEN_DT_Q4_1] = {"Q4_1", 32, 20},
    [KEN_DT_Q5_0] = {"Q5_0", 32, 22},      [KEN_DT_Q5_1] = {"Q5_1", 32, 24},
    [KEN_DT_Q8_0] = {"Q8_0", 32, 34},      [KEN_DT_Q8_1] = {"Q8_1", 32, 36},
    [KEN_DT_Q2_K] = {"Q2_K", 256, 84},     [KEN_DT_Q3_K] = {"Q3_K", 256, 110},
    [KEN_DT_Q4_K] = {"Q4_K", 256, 144},    [KEN_DT_Q5_K] = {"Q5_K", 256, 176},
    [KEN_DT_Q6_K] = {"Q6_K", 256, 210},    [KEN_DT_Q8_K] = {"Q8_K", 256, 292},
    [KEN_DT_IQ2_XXS] = {"IQ2_XXS", 256, 66}, [KEN_DT_IQ2_XS] = {"IQ2_XS", 256, 74},
    [KEN_DT_IQ3_XXS] = {"IQ3_XXS", 256, 98}, [KEN_DT_IQ1_S] = {"IQ1_S", 256, 50},
    [KEN_DT_IQ4_NL] = {"IQ4_NL", 32, 18},  [KEN_DT_IQ3_S] = {"IQ3_S", 256, 110},
    [KEN_DT_IQ2_S] = {"IQ2_S", 256, 82},   [KEN_DT_IQ4_XS] = {"IQ4_XS", 256, 136},
    [KEN_DT_I8] = {"I8", 1, 1},            [KEN_DT_I16] = {"I16", 1, 2},
    [KEN_DT_I32] = {"I32", 1, 4},          [KEN_DT_I64] = {"I64", 1, 8},
    [KEN_DT_F64] = {"F64", 1, 8},          [KEN_DT_IQ1_M] = {"IQ1_M", 256, 56},
    [KEN_DT_BF16] = {"BF16", 1, 2},        [KEN_DT_TQ1_0] = {"TQ1_0", 256, 54},
    [KEN_DT_TQ2_0] = {"TQ2_0", 256, 66},   [KEN_DT_MXFP4] = {"MXFP4", 32, 17},
};

bool ken_dtype_known(uint32_t t) { return t < KEN_DT_COUNT && DTYPES[t].block != 0; }
uint32_t ken_dtype_block(ken_dtype t) { return ken_dtype_known(t) ? DTYPES[t].block : 0; }
uint32_t ken_dtype_block_bytes(ken_dtype t) { return ken_dtype_known(t) ? DTYPES[t].bytes : 0; }
const char *ken_dtype_name(ken_dtype t) { return ken_dtype_known(t) ? DTYPES[t].name : "?"; }

uint64_t ken_dtype_row_bytes(ken_dtype t, uint64_t n) {
    if (!ken_dtype_known(t) || n % DTYPES[t].block) return 0;
    uint64_t blocks = n / DTYPES[t].block;
    if (blocks > UINT64_MAX / DTYPES[t].bytes) return 0;
    return blocks * DTYPES[t].bytes;
}

static const uint8_t TYPE_SIZE[KEN_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const TYPE_NAME[KEN_GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
    "string", "array", "uint64", "int64", "float64"};

uint32_t ken_gguf_type_size(ken_gguf_type t) {
    return (unsigned)t < KEN_GGUF_TYPE_COUNT ? TYPE_SIZE[t] : 0;
}
const char *ken_gguf_type_name(ken_gguf_type t) {
    return (unsigned)t < KEN_GGUF_TYPE_COUNT ? TYPE_NAME[t] : "?";
}

/* ------------------------------------------------------------ handle */

/* A bump arena for the small tables nested arrays need; freed at close. */
typedef struct arena_blk { struct arena_blk *next; size_t used, cap; } arena_blk;
#define ARENA_HDR ((sizeof(arena_blk) + 15) & ~(size_t)15)
#define ARENA_BLOCK ((size_t)64 << 10)

struct ken_gguf {
    const uint8_t *base;
    uint64_t size;
    bool mapped;
    uint32_t version, alignment;
    uint64_t data_offset;
    uint64_t n_kv, n_tensors;
    ken_gguf_kv *kvs;
    ken_gguf_tensor *tensors;
    uint32_t *kv_index, *t_index;      /* open addressing: slot = index + 1 */
    uint64_t kv_cap, t_cap;            /* powers of two */
    arena_blk *arena;
    uint64_t alloc_bytes, alloc_max;
};

/* Rounds n up to 16 and takes it from the arena; NULL past the budget. */
static void *arena_alloc(ken_gguf *g, uint64_t n) {
    if (n > g->alloc_max - g->alloc_bytes) return NULL;
    n = (n + 15) & ~(uint64_t)15;
    arena_blk *b = g->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? (size_t)n : ARENA_BLOCK;
        b = malloc(ARENA_HDR + cap);
        if (!b) return NULL;
        b->next = g->arena;
        b->used = 0;
        b->cap = cap;
        g->arena = b;
    }
    void *p = (char *)b + ARENA_HDR + b->used;
    b->used += n;
    g->alloc_bytes += n;
    return p;
}

static uint64_t hash_bytes(const char *p, uint64_t n) {
    uint64_t h = 1469598103934665603ull;       /* FNV-1a */
    for (uint64_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static bool str_eqn(ken_gguf_str s, const char *p, uint64_t n) {
    return s.n == n && (n == 0 || memcmp(s.p, p, n) == 0);
}

bool ken_gguf_str_eq(ken_gguf_str s, const char *z) {
    return z && str_eqn(s, z, strlen(z));
}

/* ------------------------------------------------------------ cursor */

typedef struct {
    const uint8_t *p;
    uint64_t size, pos;
    ken_err *err;
    ken_gguf *g;
    char ctx[160];          /* what is being read, for error messages */
} cursor;

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t ld64(const uint8_t *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }

static uint64_t left(const cursor *c) { return c->size - c->pos; }

static ken_status need(cursor *c, uint64_t n, const char *what) {
    if (left(c) >= n) return KEN_OK;
    return ken_err_set(c->err, KEN_ERR_FORMAT,
                       "truncated GGUF: %s at byte %llu needs %llu bytes but only %llu "
                       "remain (%s)", what, (unsigned long long)c->pos,
                       (unsigned long long)n, (unsigned long long)left(c), c->ctx);
}

static ken_status rd_u32(cursor *c, uint32_t *v, const char *what) {
    ken_status st = need(c, 4, what);
    if (st) return st;
    *v = ld32(c->p + c->pos);
    c->pos += 4;
    return KEN_OK;
}

static ken_status rd_u64(cursor *c, uint64_t *v, const char *what) {
    ken_status st = need(c, 8, what);
    if (st) return st;
    *v = ld64(c->p + c->pos);
    c->pos += 8;
    return KEN_OK;
}

static ken_status rd_str(cursor *c, ken_gguf_str *s, const char *what) {
    uint64_t n;
    ken_status st = rd_u64(c, &n, what);
    if (st) return st;
    if (n > KEN_GGUF_MAX_STR)
        return ken_err_set(c->err, KEN_ERR_LIMIT, "GGUF %s at byte %llu has length %llu, "
                           "over the limit of %llu (%s)", what, (unsigned long long)(c->pos - 8),
                           (unsigned long long)n, (unsigned long long)KEN_GGUF_MAX_STR, c->ctx);
    if (n > left(c))
        return ken_err_set(c->err, KEN_ERR_FORMAT, "truncated GGUF: %s at byte %llu has "
                           "length %llu but only %llu bytes remain (%s)", what,
                           (unsigned long long)(c->pos - 8), (unsigned long long)n,
                           (unsigned long long)left(c), c->ctx);
    s->p = (const char *)c->p + c->pos;
    s->n = n;
    c->pos += n;
    return KEN_OK;
}

static ken_status nomem(cursor *c, const char *what) {
    return ken_err_set(c->err, KEN_ERR_NOMEM, "out of memory (or over the %llu-byte table "
                       "budget) for %s (%s)", (unsigned long long)c->g->alloc_max, what, c->ctx);
}

/* ------------------------------------------------------------ values */

/* Decodes one fixed-size little-endian scalar of type t at p. */
static void decode_scalar(ken_gguf_type t, const uint8_t *p, ken_gguf_value *out) {
    out->type = t;
    switch (t) {
    case KEN_GGUF_UINT8: out->v.u64 = p[0]; break;
    case KEN_GGUF_INT8: out->v.i64 = (int8_t)p[0]; break;
    case KEN_GGUF_UINT16: out->v.u64 = ld16(p); break;
    case KEN_GGUF_INT16: out->v.i64 = (int16_t)ld16(p); break;
    case KEN_GGUF_UINT32: out->v.u64 = ld32(p); break;
    case KEN_GGUF_INT32: out->v.i64 = (int32_t)ld32(p); break;
    case KEN_GGUF_UINT64: out->v.u64 = ld64(p); break;
    case KEN_GGUF_INT64: out->v.i64 = (int64_t)ld64(p); break;
    case KEN_GGUF_BOOL: out->v.b = p[0] != 0; break;
    case KEN_GGUF_FLOAT32: {
        uint32_t u = ld32(p);
        float f;
        memcpy(&f, &u, 4);
        out->v.f64 = f;
        break;
    }
    case KEN_GGUF_FLOAT64: {
        uint64_t u = ld64(p);
        memcpy(&out->v.f64, &u, 8);
        break;
    }
    default: out->v.u64 = 0; break;
    }
}

static ken_status rd_array(cursor *c, ken_gguf_arrval *a, int depth);

static ken_status bad_type(cursor *c, uint32_t t, const char *what) {
    return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF %s at byte %llu has unknown value type "
                       "%u (%s)", what, (unsigned long long)(c->pos - 4), t, c->ctx);
}

static ken_status rd_value(cursor *c, uint32_t t, ken_gguf_value *v, int depth) {
    if (t >= KEN_GGUF_TYPE_COUNT) return bad_type(c, t, "value");
    v->type = (ken_gguf_type)t;
    if (t == KEN_GGUF_STRING) return rd_str(c, &v->v.str, "string value");
    if (t == KEN_GGUF_ARRAY) return rd_array(c, &v->v.arr, depth + 1);
    ken_status st = need(c, TYPE_SIZE[t], "value");
    if (st) return st;
    if (t == KEN_GGUF_BOOL && c->p[c->pos] > 1)
        return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF bool at byte %llu has value %u, "
                           "not 0 or 1 (%s)", (unsigned long long)c->pos, c->p[c->pos], c->ctx);
    decode_scalar((ken_gguf_type)t, c->p + c->pos, v);
    c->pos += TYPE_SIZE[t];
    return KEN_OK;
}

/* The elements of a STRING array: checks every length, records offsets. */
static ken_status rd_str_elems(cursor *c, ken_gguf_arrval *a) {
    if (a->count > left(c) / 8)
        return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF array of %llu strings at byte %llu "
                           "cannot fit in the %llu bytes left (%s)",
                           (unsigned long long)a->count, (unsigned long long)c->pos,
                           (unsigned long long)left(c), c->ctx);
    uint64_t *offs = arena_alloc(c->g, a->count * sizeof *offs);
    if (!offs && a->count) return nomem(c, "a string array");
    for (uint64_t i = 0; i < a->count; i++) {
        ken_gguf_str s;
        offs[i] = c->pos - (uint64_t)(a->data - c->p);
        ken_status st = rd_str(c, &s, "array string");
        if (st) return st;
    }
    a->str_offsets = offs;
    return KEN_OK;
}

static ken_status rd_array(cursor *c, ken_gguf_arrval *a, int depth) {
    uint32_t et;
    ken_status st;
    memset(a, 0, sizeof *a);
    if (depth > KEN_GGUF_MAX_DEPTH)
        return ken_err_set(c->err, KEN_ERR_LIMIT, "GGUF arrays nested deeper than %d at byte "
                           "%llu (%s)", KEN_GGUF_MAX_DEPTH, (unsigned long long)c->pos, c->ctx);
    if ((st = rd_u32(c, &et, "array element type"))) return st;
    if (et >= KEN_GGUF_TYPE_COUNT) return bad_type(c, et, "array element type");
    if ((st = rd_u64(c, &a->count, "array length"))) return st;
    a->elem_type = (ken_gguf_type)et;
    a->data = c->p + c->pos;
    if (a->count > KEN_GGUF_MAX_ARRAY)
        return ken_err_set(c->err, KEN_ERR_LIMIT, "GGUF array at byte %llu has %llu elements, "
                           "over the limit of %llu (%s)", (unsigned long long)(c->pos - 12),
                           (unsigned long long)a->count, (unsigned long long)KEN_GGUF_MAX_ARRAY,
                           c->ctx);
    if (et == KEN_GGUF_STRING) return rd_str_elems(c, a);
    if (et != KEN_GGUF_ARRAY) {
        if ((st = need(c, a->count * TYPE_SIZE[et], "array data"))) return st;
        c->pos += a->count * TYPE_SIZE[et];
        return KEN_OK;
    }
    /* Arrays of arrays: each element is at least a 12-byte array header. */
    if (a->count > left(c) / 12)
        return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF array of %llu arrays at byte %llu "
                           "cannot fit in the %llu bytes left (%s)",
                           (unsigned long long)a->count, (unsigned long long)c->pos,
                           (unsigned long long)left(c), c->ctx);
    ken_gguf_value *elems = arena_alloc(c->g, a->count * sizeof *elems);
    if (!elems && a->count) return nomem(c, "a nested array");
    for (uint64_t i = 0; i < a->count; i++) {
        elems[i].type = KEN_GGUF_ARRAY;
        if ((st = rd_array(c, &elems[i].v.arr, depth + 1))) return st;
    }
    a->elems = elems;
    return KEN_OK;
}

/* ------------------------------------------------------------ indexes */

static uint64_t index_cap(uint64_t n) {
    uint64_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    return cap;
}

/* Inserts entry i named s; returns the clashing index + 1 on a duplicate. */
static uint32_t index_put(uint32_t *slots, uint64_t cap, ken_gguf_str s, uint32_t i,
                          const ken_gguf_str *(*name_of)(const ken_gguf *, uint32_t),
                          const ken_gguf *g) {
    uint64_t h = hash_bytes(s.p, s.n) & (cap - 1);
    while (slots[h]) {
        const ken_gguf_str *o = name_of(g, slots[h] - 1);
        if (str_eqn(*o, s.p, s.n)) return slots[h];
        h = (h + 1) & (cap - 1);
    }
    slots[h] = i + 1;
    return 0;
}

static const ken_gguf_str *kv_name(const ken_gguf *g, uint32_t i) { return &g->kvs[i].key; }
static const ken_gguf_str *t_name(const ken_gguf *g, uint32_t i) { return &g->tensors[i].name; }

static uint32_t index_get(const uint32_t *slots, uint64_t cap, const char *z,
                          const ken_gguf_str *(*name_of)(const ken_gguf *, uint32_t),
                          const ken_gguf *g) {
    if (!slots || !z) return 0;
    uint64_t n = strlen(z);
    uint64_t h = hash_bytes(z, n) & (cap - 1);
    while (slots[h]) {
        if (str_eqn(*name_of(g, slots[h] - 1), z, n)) return slots[h];
        h = (h + 1) & (cap - 1);
    }
    return 0;
}

/* ------------------------------------------------------------ parsing */

static void set_ctx_kv(cursor *c, uint64_t i, ken_gguf_str key) {
    int n = key.n > 80 ? 80 : (int)key.n;
    snprintf(c->ctx, sizeof c->ctx, "kv %llu '%.*s'", (unsigned long long)i, n,
             key.p ? key.p : "");
}

static ken_status parse_header(cursor *c, ken_gguf *g) {
    snprintf(c->ctx, sizeof c->ctx, "header");
    if (c->size < 4 || memcmp(c->p, "GGUF", 4) != 0)
        return ken_err_set(c->err, KEN_ERR_FORMAT, "not a GGUF file (the first 4 bytes are "
                           "not \"GGUF\")");
    c->pos = 4;
    ken_status st = rd_u32(c, &g->version, "version");
    if (st) return st;
    uint32_t v = g->version;
    uint32_t swapped = (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
    if (v == 1)
        return ken_err_set(c->err, KEN_ERR_VERSION, "GGUF version 1 is not supported "
                           "(only versions 2 and 3; re-convert the model)");
    if (v != 2 && v != 3 && swapped >= 1 && swapped <= 3)
        return ken_err_set(c->err, KEN_ERR_UNSUPPORTED, "big-endian GGUF file (version %u "
                           "stored big-endian) is not supported; use a little-endian file",
                           swapped);
    if (v != 2 && v != 3)
        return ken_err_set(c->err, KEN_ERR_VERSION, "unsupported GGUF version %u (only 2 "
                           "and 3)", v);
    if ((st = rd_u64(c, &g->n_tensors, "tensor count"))) return st;
    if ((st = rd_u64(c, &g->n_kv, "kv count"))) return st;
    /* A kv takes at least 13 bytes (key length, type, one byte); a tensor
     * info at least 24 (name length, n_dims, type, offset). */
    if (g->n_kv > KEN_GGUF_MAX_KV || g->n_tensors > KEN_GGUF_MAX_TENSORS)
        return ken_err_set(c->err, KEN_ERR_LIMIT, "GGUF header claims %llu kvs and %llu "
                           "tensors, over the limits (%u, %u)", (unsigned long long)g->n_kv,
                           (unsigned long long)g->n_tensors, KEN_GGUF_MAX_KV,
                           KEN_GGUF_MAX_TENSORS);
    if (g->n_kv * 13 + g->n_tensors * 24 > left(c))
        return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF header claims %llu kvs and %llu "
                           "tensors, more than the %llu bytes after the header can hold "
                           "(truncated or corrupt)", (unsigned long long)g->n_kv,
                           (unsigned long long)g->n_tensors, (unsigned long long)left(c));
    return KEN_OK;
}

static ken_status parse_kvs(cursor *c, ken_gguf *g) {
    ken_status st;
    g->kvs = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kvs);
    g->kv_cap = index_cap(g->n_kv);
    g->kv_index = calloc(g->kv_cap, sizeof *g->kv_index);
    if (!g->kvs || !g->kv_index) return nomem(c, "the kv table");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        ken_gguf_kv *kv = &g->kvs[i];
        uint32_t t;
        snprintf(c->ctx, sizeof c->ctx, "kv %llu", (unsigned long long)i);
        if ((st = rd_str(c, &kv->key, "key"))) return st;
        set_ctx_kv(c, i, kv->key);
        if ((st = rd_u32(c, &t, "value type"))) return st;
        if ((st = rd_value(c, t, &kv->val, 0))) return st;
        uint32_t dup = index_put(g->kv_index, g->kv_cap, kv->key, (uint32_t)i, kv_name, g);
        if (dup)
            return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF key appears twice (kv %u and "
                               "%s)", dup - 1, c->ctx);
    }
    return KEN_OK;
}

static ken_status parse_alignment(cursor *c, ken_gguf *g) {
    g->alignment = 32;
    const ken_gguf_kv *kv = ken_gguf_find(g, "general.alignment");
    if (!kv) return KEN_OK;
    uint64_t a;
    if (!ken_gguf_get_u64(g, "general.alignment", &a) || kv->val.type == KEN_GGUF_BOOL)
        return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF general.alignment has type %s, "
                           "expected an unsigned integer",
                           ken_gguf_type_name(kv->val.type));
    if (a == 0 || (a & (a - 1)) || a > ((uint64_t)1 << 30))
        return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF general.alignment is %llu, not a "
                           "power of two between 1 and 2^30", (unsigned long long)a);
    g->alignment = (uint32_t)a;
    return KEN_OK;
}

/* Dimensions, type and size of one tensor info already holding its name. */
static ken_status parse_dims(cursor *c, ken_gguf_tensor *t) {
    ken_status st;
    uint32_t type;
    if ((st = rd_u32(c, &t->n_dims, "tensor n_dims"))) return st;
    if (t->n_dims > KEN_GGUF_MAX_DIMS)
        return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF %s has %u dimensions (at most %d)",
                           c->ctx, t->n_dims, KEN_GGUF_MAX_DIMS);
    t->n_elems = 1;
    for (uint32_t j = 0; j < KEN_GGUF_MAX_DIMS; j++) {
        t->ne[j] = 1;
        if (j >= t->n_dims) continue;
        if ((st = rd_u64(c, &t->ne[j], "tensor dimension"))) return st;
        if (t->ne[j] > (uint64_t)INT64_MAX)
            return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF %s has negative dimension "
                               "ne[%u]", c->ctx, j);
        if (t->ne[j] && t->n_elems > (uint64_t)INT64_MAX / t->ne[j])
            return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF %s: element count overflows "
                               "(dimension ne[%u] = %llu)", c->ctx, j,
                               (unsigned long long)t->ne[j]);
        t->n_elems *= t->ne[j];
    }
    if ((st = rd_u32(c, &type, "tensor type"))) return st;
    if (!ken_dtype_known(type))
        return ken_err_set(c->err, KEN_ERR_UNSUPPORTED, "GGUF %s has unknown tensor type %u",
                           c->ctx, type);
    t->type = (ken_dtype)type;
    if (t->ne[0] % DTYPES[type].block)
        return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF %s: row length ne[0] = %llu is not "
                           "a multiple of the %s block size %u", c->ctx,
                           (unsigned long long)t->ne[0], DTYPES[type].name, DTYPES[type].block);
    uint64_t blocks = t->n_elems / DTYPES[type].block;
    if (blocks > UINT64_MAX / DTYPES[type].bytes)
        return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF %s: byte size overflows", c->ctx);
    t->n_bytes = blocks * DTYPES[type].bytes;
    return rd_u64(c, &t->offset, "tensor offset");
}

static ken_status parse_tensor_infos(cursor *c, ken_gguf *g) {
    ken_status st;
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    g->t_cap = index_cap(g->n_tensors);
    g->t_index = calloc(g->t_cap, sizeof *g->t_index);
    if (!g->tensors || !g->t_index) return nomem(c, "the tensor table");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        ken_gguf_tensor *t = &g->tensors[i];
        snprintf(c->ctx, sizeof c->ctx, "tensor %llu", (unsigned long long)i);
        if ((st = rd_str(c, &t->name, "tensor name"))) return st;
        int n = t->name.n > 80 ? 80 : (int)t->name.n;
        snprintf(c->ctx, sizeof c->ctx, "tensor %llu '%.*s'", (unsigned long long)i, n,
                 t->name.p);
        if (t->name.n >= KEN_GGUF_MAX_NAME)
            return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF %s: name of %llu bytes is too "
                               "long (at most %d)", c->ctx, (unsigned long long)t->name.n,
                               KEN_GGUF_MAX_NAME - 1);
        /* ggml names are C strings: an embedded NUL would make two names equal. */
        if (t->name.n && memchr(t->name.p, 0, (size_t)t->name.n))
            return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF %s: name contains a NUL byte",
                               c->ctx);
        if ((st = parse_dims(c, t))) return st;
        uint32_t dup = index_put(g->t_index, g->t_cap, t->name, (uint32_t)i, t_name, g);
        if (dup)
            return ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF tensor name appears twice "
                               "(tensor %u and %s)", dup - 1, c->ctx);
    }
    return KEN_OK;
}

typedef struct { uint64_t start, end; uint64_t i; } span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Places every tensor in the data section: aligned, inside the file, and
 * not overlapping another (found by sorting the spans). */
static ken_status place_tensors(cursor *c, ken_gguf *g) {
    uint64_t a = g->alignment, pad = (a - c->pos % a) % a;
    g->data_offset = c->pos + pad;
    if (g->n_tensors == 0) return KEN_OK;
    if (pad > left(c))
        return ken_err_set(c->err, KEN_ERR_FORMAT, "truncated GGUF: the data section would "
                           "start at byte %llu, past the end of the %llu-byte file",
                           (unsigned long long)g->data_offset, (unsigned long long)c->size);
    uint64_t data_size = c->size - g->data_offset;
    span *sp = malloc(g->n_tensors * sizeof *sp);
    if (!sp) return nomem(c, "the tensor spans");
    ken_status st = KEN_OK;
    for (uint64_t i = 0; i < g->n_tensors && !st; i++) {
        ken_gguf_tensor *t = &g->tensors[i];
        int n = t->name.n > 80 ? 80 : (int)t->name.n;
        if (t->offset % a)
            st = ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF tensor '%.*s' has offset %llu, "
                             "not a multiple of the alignment %u", n, t->name.p,
                             (unsigned long long)t->offset, g->alignment);
        else if (t->offset > data_size || t->n_bytes > data_size - t->offset)
            st = ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF tensor '%.*s' (offset %llu, %llu "
                             "bytes) extends past the end of the file (data section: %llu "
                             "bytes)", n, t->name.p, (unsigned long long)t->offset,
                             (unsigned long long)t->n_bytes, (unsigned long long)data_size);
        t->data = c->p + g->data_offset + (st ? 0 : t->offset);
        sp[i] = (span){t->offset, t->offset + t->n_bytes, i};
    }
    if (!st) qsort(sp, g->n_tensors, sizeof *sp, span_cmp);
    for (uint64_t i = 0, last = UINT64_MAX; i < g->n_tensors && !st; i++) {
        if (sp[i].start == sp[i].end) continue;          /* empty tensors take no room */
        if (last != UINT64_MAX && sp[last].end > sp[i].start) {
            const ken_gguf_tensor *x = &g->tensors[sp[last].i], *y = &g->tensors[sp[i].i];
            st = ken_err_set(c->err, KEN_ERR_FORMAT, "GGUF tensors '%.*s' and '%.*s' overlap "
                             "in the data section", (int)KEN_MIN(x->name.n, 80), x->name.p,
                             (int)KEN_MIN(y->name.n, 80), y->name.p);
        }
        last = i;
    }
    free(sp);
    return st;
}

static ken_status parse(ken_gguf *g, ken_err *err) {
    cursor c = {.p = g->base, .size = g->size, .err = err, .g = g};
    ken_status st;
    if ((st = parse_header(&c, g))) return st;
    if ((st = parse_kvs(&c, g))) return st;
    if ((st = parse_alignment(&c, g))) return st;
    if ((st = parse_tensor_infos(&c, g))) return st;
    return place_tensors(&c, g);
}

static ken_status open_bytes(const void *buf, uint64_t len, bool mapped, ken_gguf **out,
                             ken_err *err) {
    ken_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        if (mapped) munmap((void *)buf, len);
        return ken_err_set(err, KEN_ERR_NOMEM, "out of memory opening a GGUF file");
    }
    g->base = buf;
    g->size = len;
    g->mapped = mapped;
    /* Tables are proportional to the file: a generous cap on top. */
    g->alloc_max = len * 8 + ((uint64_t)1 << 20);
    ken_status st = parse(g, err);
    if (st) {
        ken_gguf_close(g);
        return st;
    }
    *out = g;
    return KEN_OK;
}

ken_status ken_gguf_open_mem(const void *buf, size_t len, ken_gguf **out, ken_err *err) {
    ken_err dummy;
    if (!err) err = &dummy;
    *out = NULL;
    if (!buf && len) return ken_err_set(err, KEN_ERR_INVALID, "NULL buffer");
    static const uint8_t empty[1];
    return open_bytes(buf ? buf : empty, len, false, out, err);
}

ken_status ken_gguf_open(const char *path, ken_gguf **out, ken_err *err) {
    ken_err dummy;
    if (!err) err = &dummy;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ken_err_set(err, errno == ENOENT ? KEN_ERR_NOTFOUND : KEN_ERR_IO,
                           "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ken_err_set(err, KEN_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ken_err_set(err, KEN_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return ken_err_set(err, KEN_ERR_FORMAT, "%s: empty file, not GGUF", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return ken_err_set(err, KEN_ERR_LIMIT, "%s: too large to map", path);
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return ken_err_set(err, KEN_ERR_IO, "cannot map %s: %s", path, strerror(e));
    ken_status st = open_bytes(p, (uint64_t)sb.st_size, true, out, err);
    if (st) {
        /* Prefix the path so the message says which file is bad. */
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        ken_err_set(err, st, "%s: %s", path, msg);
    }
    return st;
}

void ken_gguf_close(ken_gguf *g) {
    if (!g) return;
    if (g->mapped) munmap((void *)g->base, g->size);
    while (g->arena) {
        arena_blk *n = g->arena->next;
        free(g->arena);
        g->arena = n;
    }
    free(g->kvs);
    free(g->tensors);
    free(g->kv_index);
    free(g->t_index);
    free(g);
}

/* ------------------------------------------------------------ access */

uint32_t ken_gguf_version(const ken_gguf *g) { return g->version; }
uint32_t ken_gguf_alignment(const ken_gguf *g) { return g->alignment; }
uint64_t ken_gguf_file_size(const ken_gguf *g) { return g->size; }
uint64_t ken_gguf_data_offset(const ken_gguf *g) { return g->data_offset; }
const uint8_t *ken_gguf_bytes(const ken_gguf *g) { return g->base; }
uint64_t ken_gguf_n_kv(const ken_gguf *g) { return g->n_kv; }
uint64_t ken_gguf_n_tensors(const ken_gguf *g) { return g->n_tensors; }

const ken_gguf_kv *ken_gguf_kv_at(const ken_gguf *g, uint64_t i) {
    return i < g->n_kv ? &g->kvs[i] : NULL;
}

const ken_gguf_tensor *ken_gguf_tensor_at(const ken_gguf *g, uint64_t i) {
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const ken_gguf_kv *ken_gguf_find(const ken_gguf *g, const char *key) {
    uint32_t s = index_get(g->kv_index, g->kv_cap, key, kv_name, g);
    return s ? &g->kvs[s - 1] : NULL;
}

const ken_gguf_tensor *ken_gguf_tensor_find(const ken_gguf *g, const char *name) {
    uint32_t s = index_get(g->t_index, g->t_cap, name, t_name, g);
    return s ? &g->tensors[s - 1] : NULL;
}

static bool is_unsigned(ken_gguf_type t) {
    return t == KEN_GGUF_UINT8 || t == KEN_GGUF_UINT16 || t == KEN_GGUF_UINT32 ||
           t == KEN_GGUF_UINT64;
}
static bool is_signed(ken_gguf_type t) {
    return t == KEN_GGUF_INT8 || t == KEN_GGUF_INT16 || t == KEN_GGUF_INT32 ||
           t == KEN_GGUF_INT64;
}

bool ken_gguf_get_u64(const ken_gguf *g, const char *key, uint64_t *out) {
    const ken_gguf_kv *kv = ken_gguf_find(g, key);
    if (!kv) return false;
    if (is_unsigned(kv->val.type)) { *out = kv->val.v.u64; return true; }
    if (is_signed(kv->val.type) && kv->val.v.i64 >= 0) { *out = (uint64_t)kv->val.v.i64; return true; }
    return false;
}

bool ken_gguf_get_i64(const ken_gguf *g, const char *key, int64_t *out) {
    const ken_gguf_kv *kv = ken_gguf_find(g, key);
    if (!kv) return false;
    if (is_signed(kv->val.type)) { *out = kv->val.v.i64; return true; }
    if (is_unsigned(kv->val.type) && kv->val.v.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)kv->val.v.u64;
        return true;
    }
    return false;
}

bool ken_gguf_get_u32(const ken_gguf *g, const char *key, uint32_t *out) {
    uint64_t v;
    if (!ken_gguf_get_u64(g, key, &v) || v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

bool ken_gguf_get_f32(const ken_gguf *g, const char *key, float *out) {
    const ken_gguf_kv *kv = ken_gguf_find(g, key);
    if (!kv || (kv->val.type != KEN_GGUF_FLOAT32 && kv->val.type != KEN_GGUF_FLOAT64))
        return false;
    *out = (float)kv->val.v.f64;
    return true;
}

bool ken_gguf_get_bool(const ken_gguf *g, const char *key, bool *out) {
    const ken_gguf_kv *kv = ken_gguf_find(g, key);
    if (!kv || kv->val.type != KEN_GGUF_BOOL) return false;
    *out = kv->val.v.b;
    return true;
}

bool ken_gguf_get_str(const ken_gguf *g, const char *key, ken_gguf_str *out) {
    const ken_gguf_kv *kv = ken_gguf_find(g, key);
    if (!kv || kv->val.type != KEN_GGUF_STRING) return false;
    *out = kv->val.v.str;
    return true;
}

bool ken_gguf_get_arr(const ken_gguf *g, const char *key, ken_gguf_type *elem_type,
                      uint64_t *count) {
    const ken_gguf_kv *kv = ken_gguf_find(g, key);
    if (!kv || kv->val.type != KEN_GGUF_ARRAY) return false;
    if (elem_type) *elem_type = kv->val.v.arr.elem_type;
    if (count) *count = kv->val.v.arr.count;
    return true;
}

static bool arr_ok(const ken_gguf_value *v, uint64_t i) {
    return v && v->type == KEN_GGUF_ARRAY && i < v->v.arr.count &&
           (v->v.arr.data || v->v.arr.elems || v->v.arr.strs);
}

ken_gguf_str ken_gguf_arr_str(const ken_gguf_value *v, uint64_t i) {
    ken_gguf_str s = {NULL, 0};
    if (!arr_ok(v, i) || v->v.arr.elem_type != KEN_GGUF_STRING) return s;
    if (v->v.arr.str_offsets) {
        const uint8_t *p = v->v.arr.data + v->v.arr.str_offsets[i];
        s.n = ld64(p);
        s.p = (const char *)p + 8;
    } else if (v->v.arr.strs) {
        s = v->v.arr.strs[i];
    }
    return s;
}

int64_t ken_gguf_arr_int(const ken_gguf_value *v, uint64_t i) {
    if (!arr_ok(v, i)) return 0;
    ken_gguf_type t = v->v.arr.elem_type;
    if (!is_signed(t) && !is_unsigned(t) && t != KEN_GGUF_BOOL) return 0;
    ken_gguf_value e;
    decode_scalar(t, v->v.arr.data + i * TYPE_SIZE[t], &e);
    if (t == KEN_GGUF_BOOL) return e.v.b;
    return is_signed(t) ? e.v.i64 : (int64_t)e.v.u64;
}

double ken_gguf_arr_float(const ken_gguf_value *v, uint64_t i) {
    if (!arr_ok(v, i)) return 0.0;
    ken_gguf_type t = v->v.arr.elem_type;
    if (t == KEN_GGUF_FLOAT32 || t == KEN_GGUF_FLOAT64) {
        ken_gguf_value e;
        decode_scalar(t, v->v.arr.data + i * TYPE_SIZE[t], &e);
        return e.v.f64;
    }
    if (is_unsigned(t)) {
        ken_gguf_value e;
        decode_scalar(t, v->v.arr.data + i * TYPE_SIZE[t], &e);
        return (double)e.v.u64;
    }
    return (double)ken_gguf_arr_int(v, i);
}

bool ken_gguf_arr_at(const ken_gguf_value *v, uint64_t i, ken_gguf_value *out) {
    if (!arr_ok(v, i)) return false;
    ken_gguf_type t = v->v.arr.elem_type;
    if (t == KEN_GGUF_ARRAY) {
        if (!v->v.arr.elems) return false;
        *out = v->v.arr.elems[i];
    } else if (t == KEN_GGUF_STRING) {
        out->type = KEN_GGUF_STRING;
        out->v.str = ken_gguf_arr_str(v, i);
    } else {
        if (!v->v.arr.data) return false;
        decode_scalar(t, v->v.arr.data + i * TYPE_SIZE[t], out);
    }
    return true;
}
