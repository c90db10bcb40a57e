/* writer.c: writing GGUF v3 files: metadata in insertion order, tensor infos,
 * then the tensor data, each tensor starting on the alignment and padded to
 * it (the last one too), as llama.cpp's and gguf-py's writers lay it out. A
 * file without tensors ends right after the metadata, as theirs do.
 *
 * Values are serialized into the writer when set, so the caller's values
 * need not outlive the call. Tensor data is copied by ken_gguf_add_tensor
 * and referenced by ken_gguf_add_tensor_ref (for copying big mapped models
 * without holding a second copy in memory). The file appears atomically:
 * written to a temp file in the same folder, fsync'd, renamed. */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF writer copies numeric arrays as they are in memory: little-endian hosts only"
#endif

typedef struct {
    char *key;
    size_t key_len;
    ken_buf val;            /* type (u32) + encoded value */
} wkv;

typedef struct {
    char *name;
    ken_dtype type;
    uint32_t n_dims;
    uint64_t ne[KEN_GGUF_MAX_DIMS];
    const void *data;
    void *owned;            /* the copy, when the writer owns the data */
    uint64_t n_bytes, offset;
} wtensor;

struct ken_gguf_writer {
    uint32_t alignment;
    wkv *kvs;
    size_t n_kv, cap_kv;
    wtensor *ts;
    size_t n_t, cap_t;
    ken_err err;
};

/* Caps on what a writer accepts: the same limits the reader enforces. */
#define WRITER_MAX_KV KEN_GGUF_MAX_KV
#define WRITER_MAX_TENSORS KEN_GGUF_MAX_TENSORS

ken_gguf_writer *ken_gguf_writer_new(uint32_t alignment) {
    if (alignment == 0) alignment = 32;
    if (alignment & (alignment - 1) || alignment > (1u << 30)) return NULL;
    ken_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->alignment = 32;
    if (alignment != 32 && ken_gguf_set_u32(w, "general.alignment", alignment) != KEN_OK) {
        ken_gguf_writer_free(w);
        return NULL;
    }
    return w;
}

void ken_gguf_writer_free(ken_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        ken_buf_free(&w->kvs[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->ts[i].name);
        free(w->ts[i].owned);
    }
    free(w->kvs);
    free(w->ts);
    free(w);
}

const char *ken_gguf_writer_errmsg(const ken_gguf_writer *w) { return w ? w->err.msg : ""; }

/* ------------------------------------------------------------ values */

static ken_status put32(ken_buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return ken_buf_append(b, x, 4);
}

static ken_status put64(ken_buf *b, uint64_t v) {
    ken_status st = put32(b, (uint32_t)v);
    return st ? st : put32(b, (uint32_t)(v >> 32));
}

static ken_status put_str(ken_buf *b, const char *p, uint64_t n) {
    ken_status st = put64(b, n);
    return st ? st : ken_buf_append(b, p, (size_t)n);
}

static ken_status put_scalar(ken_buf *b, const ken_gguf_value *v) {
    uint8_t x[8];
    uint32_t size = ken_gguf_type_size(v->type);
    switch (v->type) {
    case KEN_GGUF_INT8: case KEN_GGUF_INT16: case KEN_GGUF_INT32: case KEN_GGUF_INT64:
        for (uint32_t i = 0; i < size; i++) x[i] = (uint8_t)((uint64_t)v->v.i64 >> (8 * i));
        break;
    case KEN_GGUF_BOOL: x[0] = v->v.b ? 1 : 0; break;
    case KEN_GGUF_FLOAT32: {
        float f = (float)v->v.f64;
        memcpy(x, &f, 4);
        break;
    }
    case KEN_GGUF_FLOAT64: memcpy(x, &v->v.f64, 8); break;
    default:
        for (uint32_t i = 0; i < size; i++) x[i] = (uint8_t)(v->v.u64 >> (8 * i));
        break;
    }
    return ken_buf_append(b, x, size);
}

static ken_status put_value(ken_gguf_writer *w, ken_buf *b, const ken_gguf_value *v,
                            int depth);

static ken_status put_array(ken_gguf_writer *w, ken_buf *b, const ken_gguf_arrval *a,
                            int depth) {
    ken_gguf_type et = a->elem_type;
    if (depth > KEN_GGUF_MAX_DEPTH)
        return ken_err_set(&w->err, KEN_ERR_LIMIT, "arrays nested deeper than %d",
                           KEN_GGUF_MAX_DEPTH);
    if ((unsigned)et >= KEN_GGUF_TYPE_COUNT)
        return ken_err_set(&w->err, KEN_ERR_INVALID, "unknown array element type %d", (int)et);
    if (a->count > KEN_GGUF_MAX_ARRAY)
        return ken_err_set(&w->err, KEN_ERR_LIMIT, "array of %llu elements is over the limit",
                           (unsigned long long)a->count);
    ken_status st = put32(b, (uint32_t)et);
    if (!st) st = put64(b, a->count);
    if (st || a->count == 0) return st;
    ken_gguf_value wrap = {.type = KEN_GGUF_ARRAY, .v.arr = *a}, e;
    if (et == KEN_GGUF_ARRAY) {
        if (!a->elems) return ken_err_set(&w->err, KEN_ERR_INVALID, "array of arrays without elems");
        for (uint64_t i = 0; i < a->count && !st; i++) {
            if (a->elems[i].type != KEN_GGUF_ARRAY)
                return ken_err_set(&w->err, KEN_ERR_INVALID, "element %llu of an array of "
                                   "arrays is a %s", (unsigned long long)i,
                                   ken_gguf_type_name(a->elems[i].type));
            /* depth counts array levels, as the reader counts them */
            st = put_array(w, b, &a->elems[i].v.arr, depth + 1);
        }
        return st;
    }
    if (et == KEN_GGUF_STRING) {
        if (!a->str_offsets && !a->strs)
            return ken_err_set(&w->err, KEN_ERR_INVALID, "string array without strings");
        for (uint64_t i = 0; i < a->count && !st; i++) {
            ken_gguf_arr_at(&wrap, i, &e);
            st = put_value(w, b, &e, depth + 1);
        }
        return st;
    }
    if (!a->data) return ken_err_set(&w->err, KEN_ERR_INVALID, "numeric array without data");
    return ken_buf_append(b, a->data, (size_t)(a->count * ken_gguf_type_size(et)));
}

static ken_status put_value(ken_gguf_writer *w, ken_buf *b, const ken_gguf_value *v,
                            int depth) {
    if ((unsigned)v->type >= KEN_GGUF_TYPE_COUNT)
        return ken_err_set(&w->err, KEN_ERR_INVALID, "unknown value type %d", (int)v->type);
    if (v->type == KEN_GGUF_ARRAY) return put_array(w, b, &v->v.arr, depth + 1);
    if (v->type == KEN_GGUF_STRING) {
        if (v->v.str.n > KEN_GGUF_MAX_STR || (!v->v.str.p && v->v.str.n))
            return ken_err_set(&w->err, KEN_ERR_INVALID, "bad string (%llu bytes)",
                               (unsigned long long)v->v.str.n);
        return put_str(b, v->v.str.p, v->v.str.n);
    }
    return put_scalar(b, v);
}

/* Alignment is metadata too: setting general.alignment changes the layout. */
static ken_status check_alignment(ken_gguf_writer *w, const ken_gguf_value *v) {
    uint64_t a;
    if (v->type == KEN_GGUF_UINT8 || v->type == KEN_GGUF_UINT16 || v->type == KEN_GGUF_UINT32 ||
        v->type == KEN_GGUF_UINT64)
        a = v->v.u64;
    else if ((v->type == KEN_GGUF_INT8 || v->type == KEN_GGUF_INT16 ||
              v->type == KEN_GGUF_INT32 || v->type == KEN_GGUF_INT64) && v->v.i64 >= 0)
        a = (uint64_t)v->v.i64;
    else
        return ken_err_set(&w->err, KEN_ERR_INVALID, "general.alignment must be a non-negative "
                           "integer, not %s", ken_gguf_type_name(v->type));
    if (a == 0 || (a & (a - 1)) || a > (1u << 30))
        return ken_err_set(&w->err, KEN_ERR_INVALID, "general.alignment %llu is not a power "
                           "of two up to 2^30", (unsigned long long)a);
    w->alignment = (uint32_t)a;
    return KEN_OK;
}

static ken_status set_val(ken_gguf_writer *w, const char *key, size_t key_len,
                          const ken_gguf_value *v) {
    if (!key || key_len > KEN_GGUF_MAX_STR)
        return ken_err_set(&w->err, KEN_ERR_INVALID, "bad key");
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_status st = put32(&b, (uint32_t)v->type);
    if (!st) st = put_value(w, &b, v, 0);
    if (st) {
        ken_buf_free(&b);
        if (st == KEN_ERR_NOMEM) ken_err_set(&w->err, st, "out of memory for kv '%.*s'",
                                             (int)KEN_MIN(key_len, 80), key);
        return st;
    }
    bool is_align = key_len == 17 && memcmp(key, "general.alignment", 17) == 0;
    if (is_align && (st = check_alignment(w, v))) {
        ken_buf_free(&b);
        return st;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (w->kvs[i].key_len == key_len && memcmp(w->kvs[i].key, key, key_len) == 0) {
            ken_buf_free(&w->kvs[i].val);          /* replace in place, keep the order */
            w->kvs[i].val = b;
            return KEN_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
        wkv *n = cap <= WRITER_MAX_KV ? realloc(w->kvs, cap * sizeof *n) : NULL;
        if (!n) {
            ken_buf_free(&b);
            return ken_err_set(&w->err, cap <= WRITER_MAX_KV ? KEN_ERR_NOMEM : KEN_ERR_LIMIT,
                               "cannot add kv %zu", w->n_kv);
        }
        w->kvs = n;
        w->cap_kv = cap;
    }
    char *k = ken_strndup(key, key_len);
    if (!k) {
        ken_buf_free(&b);
        return ken_err_set(&w->err, KEN_ERR_NOMEM, "out of memory");
    }
    w->kvs[w->n_kv++] = (wkv){k, key_len, b};
    return KEN_OK;
}

ken_status ken_gguf_set_val(ken_gguf_writer *w, const char *key, const ken_gguf_value *v) {
    return set_val(w, key, key ? strlen(key) : 0, v);
}

ken_status ken_gguf_set_kv(ken_gguf_writer *w, const ken_gguf_kv *kv) {
    return set_val(w, kv->key.p ? kv->key.p : "", (size_t)kv->key.n, &kv->val);
}

ken_status ken_gguf_set_u32(ken_gguf_writer *w, const char *key, uint32_t v) {
    ken_gguf_value x = {.type = KEN_GGUF_UINT32, .v.u64 = v};
    return ken_gguf_set_val(w, key, &x);
}
ken_status ken_gguf_set_i32(ken_gguf_writer *w, const char *key, int32_t v) {
    ken_gguf_value x = {.type = KEN_GGUF_INT32, .v.i64 = v};
    return ken_gguf_set_val(w, key, &x);
}
ken_status ken_gguf_set_u64(ken_gguf_writer *w, const char *key, uint64_t v) {
    ken_gguf_value x = {.type = KEN_GGUF_UINT64, .v.u64 = v};
    return ken_gguf_set_val(w, key, &x);
}
ken_status ken_gguf_set_i64(ken_gguf_writer *w, const char *key, int64_t v) {
    ken_gguf_value x = {.type = KEN_GGUF_INT64, .v.i64 = v};
    return ken_gguf_set_val(w, key, &x);
}
ken_status ken_gguf_set_f32(ken_gguf_writer *w, const char *key, float v) {
    ken_gguf_value x = {.type = KEN_GGUF_FLOAT32, .v.f64 = v};
    return ken_gguf_set_val(w, key, &x);
}
ken_status ken_gguf_set_f64(ken_gguf_writer *w, const char *key, double v) {
    ken_gguf_value x = {.type = KEN_GGUF_FLOAT64, .v.f64 = v};
    return ken_gguf_set_val(w, key, &x);
}
ken_status ken_gguf_set_bool(ken_gguf_writer *w, const char *key, bool v) {
    ken_gguf_value x = {.type = KEN_GGUF_BOOL, .v.b = v};
    return ken_gguf_set_val(w, key, &x);
}
ken_status ken_gguf_set_str(ken_gguf_writer *w, const char *key, const char *v) {
    ken_gguf_value x = {.type = KEN_GGUF_STRING, .v.str = {v, v ? strlen(v) : 0}};
    return ken_gguf_set_val(w, key, &x);
}

ken_status ken_gguf_set_arr(ken_gguf_writer *w, const char *key, ken_gguf_type elem_type,
                            const void *data, uint64_t count) {
    if (ken_gguf_type_size(elem_type) == 0)
        return ken_err_set(&w->err, KEN_ERR_INVALID, "ken_gguf_set_arr: %s is not a numeric "
                           "type", ken_gguf_type_name(elem_type));
    ken_gguf_value x = {.type = KEN_GGUF_ARRAY};
    x.v.arr.elem_type = elem_type;
    x.v.arr.count = count;
    x.v.arr.data = data;
    return ken_gguf_set_val(w, key, &x);
}

ken_status ken_gguf_set_arr_str(ken_gguf_writer *w, const char *key,
                                const ken_gguf_str *strs, uint64_t count) {
    ken_gguf_value x = {.type = KEN_GGUF_ARRAY};
    x.v.arr.elem_type = KEN_GGUF_STRING;
    x.v.arr.count = count;
    x.v.arr.strs = strs;
    return ken_gguf_set_val(w, key, &x);
}

/* ------------------------------------------------------------ tensors */

static ken_status add_tensor(ken_gguf_writer *w, const char *name, ken_dtype type,
                             uint32_t n_dims, const uint64_t *ne, const void *data,
                             uint64_t n_bytes, bool copy) {
    size_t len = name ? strlen(name) : 0;
    if (!name || len >= KEN_GGUF_MAX_NAME)
        return ken_err_set(&w->err, KEN_ERR_INVALID, "tensor name '%s' must be 0 to %d bytes",
                           name ? name : "(null)", KEN_GGUF_MAX_NAME - 1);
    if (n_dims < 1 || n_dims > KEN_GGUF_MAX_DIMS || !ne)
        return ken_err_set(&w->err, KEN_ERR_INVALID, "tensor '%s': %u dimensions (1 to %d)",
                           name, n_dims, KEN_GGUF_MAX_DIMS);
    if (!ken_dtype_known(type))
        return ken_err_set(&w->err, KEN_ERR_INVALID, "tensor '%s': unknown type %d", name,
                           (int)type);
    uint64_t n_elems = 1;
    for (uint32_t j = 0; j < n_dims; j++) {
        if (ne[j] > (uint64_t)INT64_MAX || (ne[j] && n_elems > (uint64_t)INT64_MAX / ne[j]))
            return ken_err_set(&w->err, KEN_ERR_INVALID, "tensor '%s': dimensions overflow",
                               name);
        n_elems *= ne[j];
    }
    if (ne[0] % ken_dtype_block(type))
        return ken_err_set(&w->err, KEN_ERR_INVALID, "tensor '%s': ne[0] = %llu is not a "
                           "multiple of the %s block size %u", name, (unsigned long long)ne[0],
                           ken_dtype_name(type), ken_dtype_block(type));
    uint64_t rows = ne[0] ? n_elems / ne[0] : 0, want = ken_dtype_row_bytes(type, ne[0]);
    if (rows && want > UINT64_MAX / rows)
        return ken_err_set(&w->err, KEN_ERR_INVALID, "tensor '%s': size overflows", name);
    want *= rows;
    if (n_bytes != want || (!data && n_bytes))
        return ken_err_set(&w->err, KEN_ERR_INVALID, "tensor '%s': %llu bytes given, %s %s "
                           "needs %llu", name, (unsigned long long)n_bytes,
                           ken_dtype_name(type), data ? "of these dimensions" : "data",
                           (unsigned long long)want);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->ts[i].name, name) == 0)
            return ken_err_set(&w->err, KEN_ERR_INVALID, "tensor '%s' added twice", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *n = cap <= WRITER_MAX_TENSORS ? realloc(w->ts, cap * sizeof *n) : NULL;
        if (!n) return ken_err_set(&w->err, cap <= WRITER_MAX_TENSORS ? KEN_ERR_NOMEM :
                                   KEN_ERR_LIMIT, "cannot add tensor %zu", w->n_t);
        w->ts = n;
        w->cap_t = cap;
    }
    wtensor t = {.type = type, .n_dims = n_dims, .n_bytes = n_bytes, .data = data};
    for (uint32_t j = 0; j < KEN_GGUF_MAX_DIMS; j++) t.ne[j] = j < n_dims ? ne[j] : 1;
    t.name = ken_strdup(name);
    if (copy && n_bytes) {
        t.owned = n_bytes <= SIZE_MAX ? malloc((size_t)n_bytes) : NULL;
        if (t.owned) memcpy(t.owned, data, (size_t)n_bytes);
        t.data = t.owned;
    }
    if (!t.name || (copy && n_bytes && !t.owned)) {
        free(t.name);
        free(t.owned);
        return ken_err_set(&w->err, KEN_ERR_NOMEM, "out of memory for tensor '%s'", name);
    }
    w->ts[w->n_t++] = t;
    return KEN_OK;
}

ken_status ken_gguf_add_tensor(ken_gguf_writer *w, const char *name, ken_dtype type,
                               uint32_t n_dims, const uint64_t *ne, const void *data,
                               uint64_t n_bytes) {
    return add_tensor(w, name, type, n_dims, ne, data, n_bytes, true);
}

ken_status ken_gguf_add_tensor_ref(ken_gguf_writer *w, const char *name, ken_dtype type,
                                   uint32_t n_dims, const uint64_t *ne, const void *data,
                                   uint64_t n_bytes) {
    return add_tensor(w, name, type, n_dims, ne, data, n_bytes, false);
}

ken_status ken_gguf_copy_tensor(ken_gguf_writer *w, const ken_gguf_tensor *t) {
    char name[KEN_GGUF_MAX_NAME];
    if (t->name.n >= sizeof name)
        return ken_err_set(&w->err, KEN_ERR_INVALID, "tensor name too long");
    memcpy(name, t->name.p, (size_t)t->name.n);
    name[t->name.n] = 0;
    uint32_t nd = t->n_dims ? t->n_dims : 1;
    return add_tensor(w, name, t->type, nd, t->ne, t->data, t->n_bytes, false);
}

/* ------------------------------------------------------------ output */

/* Header, kvs and tensor infos, padded to the alignment when tensors follow;
 * assigns each tensor its offset. */
static ken_status build_meta(ken_gguf_writer *w, ken_buf *b) {
    ken_status st = ken_buf_append(b, "GGUF", 4);
    if (!st) st = put32(b, 3);
    if (!st) st = put64(b, w->n_t);
    if (!st) st = put64(b, w->n_kv);
    for (size_t i = 0; i < w->n_kv && !st; i++) {
        st = put_str(b, w->kvs[i].key, w->kvs[i].key_len);
        if (!st) st = ken_buf_append(b, w->kvs[i].val.data, w->kvs[i].val.len);
    }
    uint64_t off = 0, a = w->alignment;
    for (size_t i = 0; i < w->n_t && !st; i++) {
        wtensor *t = &w->ts[i];
        t->offset = off;
        off += t->n_bytes + (a - t->n_bytes % a) % a;
        st = put_str(b, t->name, strlen(t->name));
        if (!st) st = put32(b, t->n_dims);
        for (uint32_t j = 0; j < t->n_dims && !st; j++) st = put64(b, t->ne[j]);
        if (!st) st = put32(b, (uint32_t)t->type);
        if (!st) st = put64(b, t->offset);
    }
    while (!st && w->n_t && b->len % a) st = ken_buf_putc(b, 0);
    return st;
}

static ken_status write_all(int fd, const void *p, uint64_t n, const char *tmp, ken_err *err) {
    const uint8_t *q = p;
    while (n) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : (size_t)n;
        ssize_t k = write(fd, q, chunk);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return ken_err_set(err, KEN_ERR_IO, "writing %s: %s", tmp,
                                       k < 0 ? strerror(errno) : "short write");
        q += k;
        n -= (uint64_t)k;
    }
    return KEN_OK;
}

static ken_status write_body(ken_gguf_writer *w, int fd, const ken_buf *meta, const char *tmp,
                             ken_err *err) {
    static const uint8_t zeros[256];
    ken_status st = write_all(fd, meta->data, meta->len, tmp, err);
    for (size_t i = 0; i < w->n_t && !st; i++) {
        const wtensor *t = &w->ts[i];
        st = write_all(fd, t->data, t->n_bytes, tmp, err);
        uint64_t pad = (w->alignment - t->n_bytes % w->alignment) % w->alignment;
        while (!st && pad) {
            uint64_t k = pad > sizeof zeros ? sizeof zeros : pad;
            st = write_all(fd, zeros, k, tmp, err);
            pad -= k;
        }
    }
    if (!st && fsync(fd) != 0)
        st = ken_err_set(err, KEN_ERR_IO, "fsync %s: %s", tmp, strerror(errno));
    return st;
}

ken_status ken_gguf_write_buf(ken_gguf_writer *w, ken_buf *out, ken_err *err) {
    ken_err dummy;
    if (!err) err = &dummy;
    size_t start = out->len;
    ken_status st = build_meta(w, out);
    for (size_t i = 0; i < w->n_t && !st; i++) {
        const wtensor *t = &w->ts[i];
        if (t->n_bytes > SIZE_MAX) st = KEN_ERR_LIMIT;
        else st = ken_buf_append(out, t->data, (size_t)t->n_bytes);
        while (!st && (out->len - start) % w->alignment) st = ken_buf_putc(out, 0);
    }
    if (st) {
        out->len = start;
        if (out->data) out->data[start] = 0;
        return ken_err_set(err, st, "serializing GGUF: %s", ken_status_str(st));
    }
    return KEN_OK;
}

ken_status ken_gguf_write(ken_gguf_writer *w, const char *path, ken_err *err) {
    ken_err dummy;
    if (!err) err = &dummy;
    ken_buf meta;
    ken_buf_init(&meta, 0);
    ken_status st = build_meta(w, &meta);
    if (st) {
        ken_buf_free(&meta);
        return ken_err_set(err, st, "building GGUF metadata for %s: %s", path,
                           ken_status_str(st));
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        ken_buf_free(&meta);
        return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = ken_err_set(err, KEN_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    (void)fchmod(fd, 0644);
    st = write_body(w, fd, &meta, tmp, err);
    if (close(fd) != 0 && !st)
        st = ken_err_set(err, KEN_ERR_IO, "closing %s: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = ken_err_set(err, KEN_ERR_IO, "renaming %s to %s: %s", tmp, path, strerror(errno));
    if (st) unlink(tmp);
out:
    free(tmp);
    ken_buf_free(&meta);
    return st;
}
