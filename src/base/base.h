/* base.h: the small things every module uses: growable buffers with a cap,
 * error messages, logging, hashing, UTF-8, files, and a JSON writer.
 * Nothing here depends on any other module. */
#ifndef KEN_BASE_H
#define KEN_BASE_H

#include "ken.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KEN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define KEN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KEN_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Programmer errors: always checked, abort with file and line. */
#define KEN_ASSERT(cond) \
    do { if (!(cond)) ken_assert_fail(#cond, __FILE__, __LINE__); } while (0)
void ken_assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));

/* ------------------------------------------------------------ errors */

/* A message buffer carried by handles; ken_err_set formats into it and
 * returns st so callers can write `return ken_err_set(e, KEN_ERR_IO, ...)`. */
typedef struct { char msg[1024]; } ken_err;
ken_status ken_err_set(ken_err *e, ken_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ken_err_clear(ken_err *e);

/* ------------------------------------------------------------ logging */
void ken_log(ken_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ buffers */

/* A growable byte buffer; always NUL-terminated after len (when data is
 * non-NULL). cap_max 0 means KEN_BUF_DEFAULT_MAX; growth past it fails
 * with KEN_ERR_LIMIT and leaves the buffer as it was. */
#define KEN_BUF_DEFAULT_MAX ((size_t)1 << 34) /* 16 GiB: a sanity bound */
typedef struct {
    char *data;
    size_t len, cap;
    size_t cap_max;
} ken_buf;

void ken_buf_init(ken_buf *b, size_t cap_max);
void ken_buf_free(ken_buf *b);
void ken_buf_reset(ken_buf *b);                 /* len = 0, keeps memory */
ken_status ken_buf_reserve(ken_buf *b, size_t extra);
ken_status ken_buf_append(ken_buf *b, const void *p, size_t n);
ken_status ken_buf_puts(ken_buf *b, const char *s);
ken_status ken_buf_putc(ken_buf *b, char c);
ken_status ken_buf_printf(ken_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the memory to the caller (who frees it); the buffer is emptied. */
char *ken_buf_take(ken_buf *b, size_t *len_out);

/* strdup / strndup that return NULL on failure; n bytes, NUL-terminated. */
char *ken_strndup(const char *s, size_t n);
char *ken_strdup(const char *s);

/* ------------------------------------------------------------ hashing */

typedef struct {
    uint32_t h[8];
    uint64_t n_bytes;
    uint8_t block[64];
    size_t block_len;
} ken_sha256;
void ken_sha256_init(ken_sha256 *s);
void ken_sha256_update(ken_sha256 *s, const void *p, size_t n);
void ken_sha256_final(ken_sha256 *s, uint8_t out[32]);
/* Hex digest of p[0..n) into out (65 bytes with the NUL). */
void ken_sha256_hex(const void *p, size_t n, char out[65]);
void ken_hex(const uint8_t *p, size_t n, char *out);   /* out: 2n+1 bytes */
/* Tests and benchmarks: force the portable compression (true) or pick the
 * fastest the CPU has (false). Returns whether a SIMD path is now in use. */
bool ken_sha256_use_ref(bool ref);

/* 64-bit FNV-1a, for hash tables. */
uint64_t ken_hash64(const void *p, size_t n);

/* ------------------------------------------------------------ UTF-8 */

/* Length of the longest valid UTF-8 prefix of s[0..n) (strict: no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
size_t ken_utf8_valid_prefix(const char *s, size_t n);
static inline bool ken_utf8_valid(const char *s, size_t n) {
    return ken_utf8_valid_prefix(s, n) == n;
}
/* Decodes one code point at s[*i..n); advances *i. Invalid bytes decode as
 * U+FFFD and advance by one. */
int32_t ken_utf8_next(const char *s, size_t n, size_t *i);
/* Appends the UTF-8 encoding of cp (U+FFFD for invalid cp). */
ken_status ken_utf8_put(ken_buf *b, int32_t cp);

/* Text decoding for ingestion: turns raw bytes into valid UTF-8.
 * UTF-8 (with or without BOM) stays; UTF-16LE/BE with BOM are converted;
 * bytes that are not valid UTF-8 are read as UTF-8 with each invalid byte
 * replaced by U+FFFD when valid multi-byte sequences are at least as many as
 * the runs of invalid bytes (damaged UTF-8: a cut last character, a stray
 * byte), else as
 * Latin-1 (Windows-1252 printable range). Returns KEN_ERR_FORMAT when the
 * data is binary (NUL bytes or many control characters) with a message in
 * err. info (may be NULL) tells the encoding read and how many bytes or
 * UTF-16 units were replaced by U+FFFD. */
typedef enum { KEN_ENC_UTF8 = 0, KEN_ENC_UTF16LE, KEN_ENC_UTF16BE, KEN_ENC_LATIN1 } ken_text_enc;
typedef struct {
    ken_text_enc enc;
    size_t replaced;
} ken_text_info;
ken_status ken_text_decode(const void *data, size_t len, ken_buf *out, ken_text_info *info,
                           ken_err *err);

/* Unicode NFC normalization (utf8proc) of valid UTF-8; also turns CRLF/CR
 * into LF and drops NUL and other C0 controls except TAB and LF. */
ken_status ken_text_normalize(const char *s, size_t n, ken_buf *out);

/* ------------------------------------------------------------ files */

/* Reads a whole file; fails with KEN_ERR_LIMIT past bytes_max. */
ken_status ken_file_read(const char *path, size_t bytes_max, ken_buf *out, ken_err *err);
/* Writes data to path atomically: a temp file in the same folder, fsync,
 * rename. */
ken_status ken_file_write_atomic(const char *path, const void *data, size_t n, ken_err *err);
/* mkdir -p of the folder that will hold path. */
ken_status ken_mkdir_parent(const char *path, ken_err *err);
bool ken_isatty_stderr(void);
/* Monotonic time in seconds. */
double ken_now(void);

/* ------------------------------------------------------------ JSON out */

/* A JSON writer over a ken_buf: tracks nesting to place commas. Strings are
 * escaped; invalid UTF-8 is written as U+FFFD so the output is always valid
 * JSON. Errors (allocation) are sticky and reported by ken_jw_status. */
#define KEN_JW_DEPTH_MAX 64
typedef struct {
    ken_buf *out;
    int depth;
    bool need_comma[KEN_JW_DEPTH_MAX];
    bool after_key;
    ken_status st;
    int indent;                 /* 0: compact; n: pretty with n spaces */
} ken_jw;

void ken_jw_init(ken_jw *w, ken_buf *out, int indent);
void ken_jw_obj_begin(ken_jw *w);
void ken_jw_obj_end(ken_jw *w);
void ken_jw_arr_begin(ken_jw *w);
void ken_jw_arr_end(ken_jw *w);
void ken_jw_key(ken_jw *w, const char *key);
void ken_jw_str(ken_jw *w, const char *s);              /* NULL -> null */
void ken_jw_strn(ken_jw *w, const char *s, size_t n);
void ken_jw_int(ken_jw *w, int64_t v);
void ken_jw_uint(ken_jw *w, uint64_t v);
void ken_jw_num(ken_jw *w, double v);                   /* non-finite -> null */
void ken_jw_bool(ken_jw *w, bool v);
void ken_jw_null(ken_jw *w);
void ken_jw_raw(ken_jw *w, const char *json);           /* a pre-made value */
ken_status ken_jw_status(const ken_jw *w);
/* Escapes s[0..n) as a JSON string body (no quotes) into b. */
ken_status ken_json_escape(ken_buf *b, const char *s, size_t n);

#endif
