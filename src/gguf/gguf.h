/* gguf.h: reading (mmap, bounds-checked) and writing GGUF v2/v3 files.
 *
 * A ken_gguf owns its mapping; every pointer it hands out (strings, array
 * data, tensor data) points into the mapping or into the handle and stays
 * valid until ken_gguf_close. Nothing is copied: tensor data is the mapped
 * bytes. Strings in GGUF are not NUL-terminated: they come as ken_gguf_str.
 * An open handle is never modified, so any number of threads may read it.
 *
 * Opening validates everything up front (header, every kv, every tensor
 * info, placement of every tensor), so the accessors need no error paths:
 * a file either opens completely valid or not at all, with a message in the
 * ken_err saying what is wrong and at which byte. Numbers are little-endian
 * in the file and decoded byte by byte, so unaligned data is fine; tensor
 * data is aligned to the file's alignment relative to the start of the
 * file (mmap gives page-aligned starts). */
#ifndef KEN_GGUF_H
#define KEN_GGUF_H

#include "base/base.h"

typedef enum {
    KEN_GGUF_UINT8 = 0, KEN_GGUF_INT8 = 1, KEN_GGUF_UINT16 = 2, KEN_GGUF_INT16 = 3,
    KEN_GGUF_UINT32 = 4, KEN_GGUF_INT32 = 5, KEN_GGUF_FLOAT32 = 6, KEN_GGUF_BOOL = 7,
    KEN_GGUF_STRING = 8, KEN_GGUF_ARRAY = 9, KEN_GGUF_UINT64 = 10, KEN_GGUF_INT64 = 11,
    KEN_GGUF_FLOAT64 = 12,
    KEN_GGUF_TYPE_COUNT
} ken_gguf_type;

/* ggml tensor types as numbered in GGUF (ggml.h's enum ggml_type). The
 * i-quants, ternary and MXFP4 types are listed so that files using them can
 * be opened and described; whether a kernel exists for a type is nn's
 * business, not this module's. Numbers missing here (4, 5, 31-33, 36-38)
 * were removed from ggml and are refused. */
typedef enum {
    KEN_DT_F32 = 0, KEN_DT_F16 = 1, KEN_DT_Q4_0 = 2, KEN_DT_Q4_1 = 3,
    KEN_DT_Q5_0 = 6, KEN_DT_Q5_1 = 7, KEN_DT_Q8_0 = 8, KEN_DT_Q8_1 = 9,
    KEN_DT_Q2_K = 10, KEN_DT_Q3_K = 11, KEN_DT_Q4_K = 12, KEN_DT_Q5_K = 13,
    KEN_DT_Q6_K = 14, KEN_DT_Q8_K = 15,
    KEN_DT_IQ2_XXS = 16, KEN_DT_IQ2_XS = 17, KEN_DT_IQ3_XXS = 18, KEN_DT_IQ1_S = 19,
    KEN_DT_IQ4_NL = 20, KEN_DT_IQ3_S = 21, KEN_DT_IQ2_S = 22, KEN_DT_IQ4_XS = 23,
    KEN_DT_I8 = 24, KEN_DT_I16 = 25, KEN_DT_I32 = 26, KEN_DT_I64 = 27, KEN_DT_F64 = 28,
    KEN_DT_IQ1_M = 29, KEN_DT_BF16 = 30, KEN_DT_TQ1_0 = 34, KEN_DT_TQ2_0 = 35,
    KEN_DT_MXFP4 = 39,
    KEN_DT_COUNT = 40
} ken_dtype;

/* Block size (elements) and bytes per block of a type; 0 for unknown types. */
uint32_t ken_dtype_block(ken_dtype t);
uint32_t ken_dtype_block_bytes(ken_dtype t);
const char *ken_dtype_name(ken_dtype t);          /* "Q4_K", or "?" */
bool ken_dtype_known(uint32_t t);
/* Bytes of a row of n elements (n must be a multiple of the block size;
 * returns 0 otherwise or for unknown types). */
uint64_t ken_dtype_row_bytes(ken_dtype t, uint64_t n);

typedef struct { const char *p; uint64_t n; } ken_gguf_str;

/* A metadata value. Scalars: unsigned integers in u64, signed in i64, FLOAT32
 * and FLOAT64 in f64, BOOL in b, STRING in str.
 * Arrays: elem_type, count, data pointing at the first element in the file,
 * and element access through ken_gguf_arr_* (which check the index):
 * - numeric/BOOL arrays: count packed little-endian elements at data;
 * - STRING arrays: str_offsets[i] is the offset from data to element i's
 *   8-byte length prefix (use ken_gguf_arr_str);
 * - arrays of arrays (nested): elems[i] is element i as a full value, which
 *   may itself be any array (use ken_gguf_arr_at).
 * Writer input built by hand may instead give STRING arrays as strs (with
 * str_offsets NULL); the reader never sets strs. */
typedef struct ken_gguf_value ken_gguf_value;
typedef struct {
    ken_gguf_type elem_type;
    uint64_t count;
    const uint8_t *data;
    const uint64_t *str_offsets;
    const ken_gguf_value *elems;
    const ken_gguf_str *strs;
} ken_gguf_arrval;
struct ken_gguf_value {
    ken_gguf_type type;
    union {
        uint64_t u64; int64_t i64; double f64; bool b;
        ken_gguf_str str;
        ken_gguf_arrval arr;
    } v;
};

/* Size in bytes of one element of a fixed-size type (0 for STRING/ARRAY). */
uint32_t ken_gguf_type_size(ken_gguf_type t);
const char *ken_gguf_type_name(ken_gguf_type t);   /* "uint32", ..., or "?" */

typedef struct {
    ken_gguf_str key;
    ken_gguf_value val;
} ken_gguf_kv;

#define KEN_GGUF_MAX_DIMS 4
typedef struct {
    ken_gguf_str name;
    uint32_t n_dims;
    uint64_t ne[KEN_GGUF_MAX_DIMS];   /* ne[0] is the innermost (row length) */
    ken_dtype type;
    uint64_t offset;                  /* relative to the data section */
    uint64_t n_elems, n_bytes;
    const void *data;                 /* into the mapping */
} ken_gguf_tensor;

typedef struct ken_gguf ken_gguf;

/* Limits for hostile files: counts and lengths beyond these are refused. */
#define KEN_GGUF_MAX_KV       (1u << 20)
#define KEN_GGUF_MAX_TENSORS  (1u << 20)
#define KEN_GGUF_MAX_STR      ((uint64_t)1 << 30)
#define KEN_GGUF_MAX_ARRAY    ((uint64_t)1 << 28)
#define KEN_GGUF_MAX_DEPTH    8        /* nesting of arrays of arrays */
#define KEN_GGUF_MAX_NAME     64       /* tensor names: < 64 bytes, as ggml */

/* Opens and validates path: header, every kv, every tensor info (type known,
 * dims sane, no overflow, data inside the file, no overlaps). */
ken_status ken_gguf_open(const char *path, ken_gguf **out, ken_err *err);
/* The same over a caller-owned buffer (fuzzing, tests); buf must outlive g. */
ken_status ken_gguf_open_mem(const void *buf, size_t len, ken_gguf **out, ken_err *err);
void ken_gguf_close(ken_gguf *g);

uint32_t ken_gguf_version(const ken_gguf *g);
uint32_t ken_gguf_alignment(const ken_gguf *g);
uint64_t ken_gguf_file_size(const ken_gguf *g);

uint64_t ken_gguf_n_kv(const ken_gguf *g);
const ken_gguf_kv *ken_gguf_kv_at(const ken_gguf *g, uint64_t i);
const ken_gguf_kv *ken_gguf_find(const ken_gguf *g, const char *key);    /* NULL if absent */

/* Typed getters: return false when absent or of an incompatible type.
 * Integer getters accept any integer type whose value fits. */
bool ken_gguf_get_u64(const ken_gguf *g, const char *key, uint64_t *out);
bool ken_gguf_get_i64(const ken_gguf *g, const char *key, int64_t *out);
bool ken_gguf_get_u32(const ken_gguf *g, const char *key, uint32_t *out);
bool ken_gguf_get_f32(const ken_gguf *g, const char *key, float *out);  /* f32 or f64 */
bool ken_gguf_get_bool(const ken_gguf *g, const char *key, bool *out);
bool ken_gguf_get_str(const ken_gguf *g, const char *key, ken_gguf_str *out);
/* Arrays: element count and type; then element access. */
bool ken_gguf_get_arr(const ken_gguf *g, const char *key, ken_gguf_type *elem_type,
                      uint64_t *count);
/* Element i of an array value. Out of range or wrong element type gives
 * {NULL, 0}, 0 or 0.0 (check count and elem_type first). arr_int accepts
 * integer and BOOL elements (UINT64 above INT64_MAX wraps); arr_float accepts
 * FLOAT32/FLOAT64 and integer elements. */
ken_gguf_str ken_gguf_arr_str(const ken_gguf_value *v, uint64_t i);      /* STRING arrays */
int64_t ken_gguf_arr_int(const ken_gguf_value *v, uint64_t i);           /* integer arrays */
double ken_gguf_arr_float(const ken_gguf_value *v, uint64_t i);          /* float arrays */
/* Any element as a value (nested arrays included); false if v is not an
 * array or i is out of range. *out points into v's storage. */
bool ken_gguf_arr_at(const ken_gguf_value *v, uint64_t i, ken_gguf_value *out);

/* Byte offset of the data section (tensor offsets are relative to it); for a
 * file without tensors, where the data section would start (may equal or
 * pass the file size). */
uint64_t ken_gguf_data_offset(const ken_gguf *g);
/* The mapped (or caller's) bytes of the whole file. */
const uint8_t *ken_gguf_bytes(const ken_gguf *g);

uint64_t ken_gguf_n_tensors(const ken_gguf *g);
const ken_gguf_tensor *ken_gguf_tensor_at(const ken_gguf *g, uint64_t i);
const ken_gguf_tensor *ken_gguf_tensor_find(const ken_gguf *g, const char *name);

bool ken_gguf_str_eq(ken_gguf_str s, const char *z);

/* What ken_model_info prints (include/ken_model.h), for an open file: text
 * or JSON appended to out; label names the file. */
ken_status ken_gguf_describe(const ken_gguf *g, const char *label, bool json, ken_buf *out);

/* ------------------------------------------------------------ writing */

/* A writer collects kvs and tensors, then writes a v3 file atomically (temp
 * file + fsync + rename). Kvs keep insertion order; setting a key again
 * replaces its value in place. Setting general.alignment (an unsigned integer
 * power of two) changes the data layout; ken_gguf_writer_new(a) with a != 32
 * sets it. Values are serialized when set (the caller's memory may go away);
 * tensor data is copied by ken_gguf_add_tensor and referenced by
 * ken_gguf_add_tensor_ref / ken_gguf_copy_tensor (then it must outlive the
 * write). Each tensor starts on the alignment and is padded to it; a file
 * without tensors ends after the metadata (as llama.cpp's writers do).
 * Setters return KEN_ERR_INVALID / KEN_ERR_LIMIT / KEN_ERR_NOMEM with a message
 * in ken_gguf_writer_errmsg; a failed setter leaves the writer unchanged. */
typedef struct ken_gguf_writer ken_gguf_writer;

ken_gguf_writer *ken_gguf_writer_new(uint32_t alignment);  /* 0 -> 32; NULL if bad */
void ken_gguf_writer_free(ken_gguf_writer *w);
const char *ken_gguf_writer_errmsg(const ken_gguf_writer *w);
ken_status ken_gguf_set_u32(ken_gguf_writer *w, const char *key, uint32_t v);
ken_status ken_gguf_set_i32(ken_gguf_writer *w, const char *key, int32_t v);
ken_status ken_gguf_set_u64(ken_gguf_writer *w, const char *key, uint64_t v);
ken_status ken_gguf_set_i64(ken_gguf_writer *w, const char *key, int64_t v);
ken_status ken_gguf_set_f32(ken_gguf_writer *w, const char *key, float v);
ken_status ken_gguf_set_f64(ken_gguf_writer *w, const char *key, double v);
ken_status ken_gguf_set_bool(ken_gguf_writer *w, const char *key, bool v);
ken_status ken_gguf_set_str(ken_gguf_writer *w, const char *key, const char *v);
ken_status ken_gguf_set_arr(ken_gguf_writer *w, const char *key, ken_gguf_type elem_type,
                            const void *data, uint64_t count);          /* numeric */
ken_status ken_gguf_set_arr_str(ken_gguf_writer *w, const char *key,
                                const ken_gguf_str *strs, uint64_t count);
/* Any value: every scalar type, strings, arrays of anything including arrays
 * of arrays (elems) and STRING arrays given as strs or str_offsets. */
ken_status ken_gguf_set_val(ken_gguf_writer *w, const char *key, const ken_gguf_value *v);
/* Copies a kv (any type, arrays included) from an open file. */
ken_status ken_gguf_set_kv(ken_gguf_writer *w, const ken_gguf_kv *kv);
/* n_dims 1..4; n_bytes must be what type and ne imply. */
ken_status ken_gguf_add_tensor(ken_gguf_writer *w, const char *name, ken_dtype type,
                               uint32_t n_dims, const uint64_t *ne, const void *data,
                               uint64_t n_bytes);
ken_status ken_gguf_add_tensor_ref(ken_gguf_writer *w, const char *name, ken_dtype type,
                                   uint32_t n_dims, const uint64_t *ne, const void *data,
                                   uint64_t n_bytes);
/* Adds a tensor of an open file by reference (the file must stay open). */
ken_status ken_gguf_copy_tensor(ken_gguf_writer *w, const ken_gguf_tensor *t);
ken_status ken_gguf_write(ken_gguf_writer *w, const char *path, ken_err *err);
/* The same bytes appended to out (small files, tests, fuzzing). */
ken_status ken_gguf_write_buf(ken_gguf_writer *w, ken_buf *out, ken_err *err);

#endif
