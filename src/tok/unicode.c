/* unicode.c: the character facts the tokenizers need, defined the way
 * llama.cpp's unicode tables define them (so the splits agree): category
 * groups and White_Space per code point (from utf8proc), simple lower-case,
 * the first code point of NFD, llama.cpp's lenient UTF-8 decoding, and the
 * GPT-2 byte <-> code point mapping. */
#include "tok/tok_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define N_CPTS 0x110000u

static uint16_t *g_flags;          /* N_CPTS entries, built once */
static pthread_once_t g_flags_once = PTHREAD_ONCE_INIT;
static uint16_t g_flags_fallback[128];   /* used if the table cannot be allocated */

static uint16_t category_flags(utf8proc_category_t c) {
    switch (c) {
    case UTF8PROC_CATEGORY_CN: return TOK_CF_UNDEF;
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: return TOK_CF_LETTER;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return TOK_CF_MARK;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return TOK_CF_NUMBER;
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return TOK_CF_PUNCT;
    case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC: case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO: return TOK_CF_SYMBOL;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return TOK_CF_SEPARATOR;
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: return TOK_CF_CONTROL;
    }
    return TOK_CF_UNDEF;
}

/* The Unicode White_Space property (PropList.txt), as llama.cpp lists it. */
static bool is_white_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* llama.cpp's table is Unicode 15.1; utf8proc 2.8 knows 15.0. These are all
 * of 15.1's 627 new characters (CJK Extension I and five symbols). */
static uint16_t unicode_15_1(uint32_t cp) {
    if (cp >= 0x2EBF0 && cp <= 0x2EE5D) return TOK_CF_LETTER;
    if ((cp >= 0x2FFC && cp <= 0x2FFF) || cp == 0x31EF) return TOK_CF_SYMBOL;
    return TOK_CF_UNDEF;
}

static uint16_t compute_flags(uint32_t cp) {
    uint16_t f;
    if (cp >= 0xD800 && cp <= 0xDFFF) f = TOK_CF_CONTROL;       /* Cs */
    else f = category_flags(utf8proc_category((utf8proc_int32_t)cp));
    if (f == TOK_CF_UNDEF) f = unicode_15_1(cp);
    if (is_white_space(cp)) f |= TOK_CF_SPACE;
    return f;
}

static void build_flags(void) {
    uint16_t *t = malloc(N_CPTS * sizeof *t);
    for (uint32_t cp = 0; cp < 128; cp++) g_flags_fallback[cp] = compute_flags(cp);
    if (!t) return;
    for (uint32_t cp = 0; cp < N_CPTS; cp++) t[cp] = compute_flags(cp);
    g_flags = t;
}

uint16_t tok_cpt_flags(uint32_t cp) {
    pthread_once(&g_flags_once, build_flags);
    if (cp >= N_CPTS) return TOK_CF_UNDEF;
    if (g_flags) return g_flags[cp];
    return cp < 128 ? g_flags_fallback[cp] : compute_flags(cp);
}

uint32_t tok_cpt_tolower(uint32_t cp) {
    if (cp >= N_CPTS || (cp >= 0xD800 && cp <= 0xDFFF)) return cp;
    /* llama.cpp's table is UnicodeData's simple lowercase mapping, as utf8proc's */
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
}

uint32_t tok_cpt_nfd_first(uint32_t cp) {
    if (cp < 0xC0 || cp >= N_CPTS || (cp >= 0xD800 && cp <= 0xDFFF)) return cp;
    utf8proc_int32_t buf[8];
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, buf, 8,
                                                 UTF8PROC_DECOMPOSE, &last);
    if (n < 1 || n > 8) return cp;
    return (uint32_t)buf[0];
}

uint32_t tok_utf8_next(const char *s, size_t n, size_t *i) {
    const unsigned char *u = (const unsigned char *)s;
    size_t o = *i;
    unsigned c = u[o];
    if (c < 0x80) { *i = o + 1; return c; }
    if (!(c & 0x40)) goto bad;
#define CONT(k) (o + (k) < n && (u[o + (k)] & 0xC0) == 0x80)
    if (!(c & 0x20)) {
        if (!CONT(1)) goto bad;
        *i = o + 2;
        return ((c & 0x1Fu) << 6) | (u[o + 1] & 0x3Fu);
    }
    if (!(c & 0x10)) {
        if (!CONT(1) || !CONT(2)) goto bad;
        *i = o + 3;
        return ((c & 0x0Fu) << 12) | ((u[o + 1] & 0x3Fu) << 6) | (u[o + 2] & 0x3Fu);
    }
    if (!(c & 0x08)) {
        if (!CONT(1) || !CONT(2) || !CONT(3)) goto bad;
        *i = o + 4;
        return ((c & 0x07u) << 18) | ((u[o + 1] & 0x3Fu) << 12) | ((u[o + 2] & 0x3Fu) << 6) |
               (u[o + 3] & 0x3Fu);
    }
#undef CONT
bad:
    *i = o + 1;
    return 0xFFFD;
}

int tok_utf8_put(uint32_t cp, char out[4]) {
    if (cp <= 0x7F) { out[0] = (char)cp; return 1; }
    if (cp <= 0x7FF) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp <= 0xFFFF) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF) return tok_utf8_put(0xFFFD, out);
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
 * other 68 bytes to U+0100.. in byte order. */
static bool byte_is_direct(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

static uint32_t g_b2c[256];
static int16_t g_c2b[512];
static char g_img[256][4];     /* UTF-8 of each byte's image, NUL-padded */
static pthread_once_t g_bytes_once = PTHREAD_ONCE_INIT;

static void build_bytes(void) {
    uint32_t n = 0;
    for (unsigned i = 0; i < 512; i++) g_c2b[i] = -1;
    for (unsigned c = 0; c < 256; c++) {
        g_b2c[c] = byte_is_direct(c) ? c : 256 + n++;
        g_c2b[g_b2c[c]] = (int16_t)c;
        tok_utf8_put(g_b2c[c], g_img[c]);
    }
}

uint32_t tok_byte_to_cpt(uint8_t b) {
    pthread_once(&g_bytes_once, build_bytes);
    return g_b2c[b];
}

const char *tok_byte_image(uint8_t b) {
    pthread_once(&g_bytes_once, build_bytes);
    return g_img[b];
}

int tok_cpt_to_byte(uint32_t cp) {
    pthread_once(&g_bytes_once, build_bytes);
    return cp < 512 ? g_c2b[cp] : -1;
}

/* ------------------------------------------------------------ arrays */

ken_status tok_ids_push(tok_ids *a, int32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        if (cap > (size_t)INT32_MAX) return KEN_ERR_LIMIT;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return KEN_ERR_NOMEM;
        a->v = v, a->cap = cap;
    }
    a->v[a->n++] = id;
    return KEN_OK;
}

ken_status tok_u32s_push(tok_u32s *a, uint32_t x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        uint32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return KEN_ERR_NOMEM;
        a->v = v, a->cap = cap;
    }
    a->v[a->n++] = x;
    return KEN_OK;
}

ken_status tok_str_reserve(tok_str *s, size_t extra) {
    if (s->n + extra + 1 <= s->cap) return KEN_OK;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->n + extra + 1) cap *= 2;
    char *q = realloc(s->p, cap);
    if (!q) return KEN_ERR_NOMEM;
    s->p = q, s->cap = cap;
    return KEN_OK;
}

ken_status tok_str_append(tok_str *s, const void *p, size_t n) {
    if (s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->n + n + 1) cap *= 2;
        char *q = realloc(s->p, cap);
        if (!q) return KEN_ERR_NOMEM;
        s->p = q, s->cap = cap;
    }
    if (n) memcpy(s->p + s->n, p, n);
    s->n += n;
    s->p[s->n] = 0;
    return KEN_OK;
}
