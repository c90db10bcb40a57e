/* utf8.c: strict UTF-8 validation and decoding, text decoding for ingestion
 * (UTF-8 / UTF-16 with BOM / Latin-1), and NFC normalization via utf8proc. */
#include "base.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Length of the valid sequence starting at s[i], or 0 if invalid. */
static size_t seq_len(const unsigned char *s, size_t n, size_t i) {
    unsigned c = s[i];
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) {
        return (i + 1 < n && (s[i + 1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (c < 0xF0) {
        if (i + 2 >= n) return 0;
        unsigned c1 = s[i + 1];
        if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && c1 < 0xA0) return 0;   /* overlong */
        if (c == 0xED && c1 >= 0xA0) return 0;  /* surrogates */
        return 3;
    }
    if (c < 0xF5) {
        if (i + 3 >= n) return 0;
        unsigned c1 = s[i + 1];
        if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && c1 < 0x90) return 0;   /* overlong */
        if (c == 0xF4 && c1 >= 0x90) return 0;  /* > U+10FFFF */
        return 4;
    }
    return 0;
}

size_t ken_utf8_valid_prefix(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        size_t l = seq_len(s, n, i);
        if (!l) return i;
        i += l;
    }
    return n;
}

int32_t ken_utf8_next(const char *str, size_t n, size_t *i) {
    const unsigned char *s = (const unsigned char *)str;
    size_t l = seq_len(s, n, *i);
    int32_t cp;
    switch (l) {
    case 1: cp = s[*i]; break;
    case 2: cp = (s[*i] & 0x1F) << 6 | (s[*i + 1] & 0x3F); break;
    case 3: cp = (s[*i] & 0x0F) << 12 | (s[*i + 1] & 0x3F) << 6 | (s[*i + 2] & 0x3F); break;
    case 4:
        cp = (s[*i] & 0x07) << 18 | (s[*i + 1] & 0x3F) << 12 | (s[*i + 2] & 0x3F) << 6 |
             (s[*i + 3] & 0x3F);
        break;
    default: *i += 1; return 0xFFFD;
    }
    *i += l;
    return cp;
}

ken_status ken_utf8_put(ken_buf *b, int32_t cp) {
    char o[4];
    size_t n;
    if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) { o[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    return ken_buf_append(b, o, n);
}

static ken_status decode_utf16(const unsigned char *p, size_t n, bool be, ken_buf *out,
                               size_t *replaced) {
    ken_status st = ken_buf_reserve(out, n + n / 2);
    for (size_t i = 0; !st && i + 1 < n; i += 2) {
        uint32_t u = be ? (uint32_t)(p[i] << 8 | p[i + 1]) : (uint32_t)(p[i + 1] << 8 | p[i]);
        if (u >= 0xD800 && u <= 0xDBFF && i + 3 < n) {
            uint32_t u2 = be ? (uint32_t)(p[i + 2] << 8 | p[i + 3])
                             : (uint32_t)(p[i + 3] << 8 | p[i + 2]);
            if (u2 >= 0xDC00 && u2 <= 0xDFFF) {
                u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
                i += 2;
            }
        }
        if (u >= 0xD800 && u <= 0xDFFF) (*replaced)++;
        st = ken_utf8_put(out, (int32_t)u);  /* lone surrogates become U+FFFD */
    }
    if (!st && n % 2) {                      /* a cut last unit */
        (*replaced)++;
        st = ken_utf8_put(out, 0xFFFD);
    }
    return st;
}

/* Windows-1252's 0x80..0x9F; other bytes map to the same code point. */
static const uint16_t cp1252[32] = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};

/* Binary data: NUL bytes, or more than 5% control characters that text
 * does not use, in the first 64 KiB. */
static bool looks_binary(const unsigned char *p, size_t n) {
    size_t m = KEN_MIN(n, (size_t)65536), bad = 0;
    for (size_t i = 0; i < m; i++) {
        unsigned c = p[i];
        if (c == 0) return true;
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1B)
            bad++;
    }
    return m && bad * 20 > m;
}

/* Damaged UTF-8 rather than another encoding: at least one valid
 * multi-byte sequence, and no fewer of them than runs of invalid bytes (a
 * cut last character is one run). Latin-1 text seldom holds a valid
 * sequence: it takes a capital like Â or Ã followed by a symbol like © or
 * ¶. Counts from byte `from`, the end of the valid prefix; *bad gets the
 * number of invalid bytes. */
static bool mostly_utf8(const char *s, size_t n, size_t from, size_t *bad) {
    size_t good = 0, runs = 0;
    bool in_run = false;
    *bad = 0;
    for (size_t i = 0; i < from; i++) good += ((unsigned char)s[i] & 0xC0) == 0xC0;
    for (size_t i = from; i < n;) {
        size_t l = (unsigned char)s[i] < 0x80 ? 1 : seq_len((const unsigned char *)s, n, i);
        if (l) {
            good += l > 1;
            in_run = false;
            i += l;
        } else {
            runs += !in_run;
            in_run = true;
            (*bad)++;
            i++;
        }
    }
    return good > 0 && good >= runs;
}

ken_status ken_text_decode(const void *data, size_t len, ken_buf *out, ken_text_info *info,
                           ken_err *err) {
    ken_text_info dummy;
    if (!info) info = &dummy;
    memset(info, 0, sizeof *info);
    const unsigned char *p = data;
    if (len >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF))) {
        info->enc = p[0] == 0xFE ? KEN_ENC_UTF16BE : KEN_ENC_UTF16LE;
        return decode_utf16(p + 2, len - 2, p[0] == 0xFE, out, &info->replaced);
    }
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
        p += 3;
        len -= 3;
    }
    if (looks_binary(p, len))
        return ken_err_set(err, KEN_ERR_FORMAT, "binary data, not text");
    size_t valid = ken_utf8_valid_prefix((const char *)p, len);
    if (valid == len) return ken_buf_append(out, p, len);
    size_t bad;
    ken_status st;
    if (mostly_utf8((const char *)p, len, valid, &bad)) {
        info->replaced = bad;
        st = ken_buf_reserve(out, len + 2 * bad);
        if (!st) st = ken_buf_append(out, p, valid);
        for (size_t i = valid; !st && i < len;) {
            size_t j = i + ken_utf8_valid_prefix((const char *)p + i, len - i);
            st = ken_buf_append(out, p + i, j - i);
            if (!st && j < len) st = ken_utf8_put(out, ken_utf8_next((const char *)p, len, &j));
            i = j;
        }
        return st;
    }
    /* Not UTF-8: read it as Latin-1 / Windows-1252. */
    info->enc = KEN_ENC_LATIN1;
    st = ken_buf_reserve(out, len + len / 2);
    for (size_t i = 0; !st && i < len; i++) {
        unsigned c = p[i];
        int32_t cp = c >= 0x80 && c < 0xA0 ? cp1252[c - 0x80] : (int32_t)c;
        st = ken_utf8_put(out, cp);
    }
    return st;
}

/* Line ends to LF; C0 controls other than TAB/LF dropped (FF/VT become LF). */
static ken_status clean_controls(const char *s, size_t n, ken_buf *out) {
    ken_status st = ken_buf_reserve(out, n);
    if (st) return st;
    char *o = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 || c == '\t' || c == '\n') *o++ = (char)c;
        else if (c == '\r') {
            *o++ = '\n';
            if (i + 1 < n && s[i + 1] == '\n') i++;
        } else if (c == '\f' || c == '\v') *o++ = '\n';
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = 0;
    return KEN_OK;
}

ken_status ken_text_normalize(const char *s, size_t n, ken_buf *out) {
    bool ascii = true;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) { ascii = false; break; }
    if (ascii) return clean_controls(s, n, out);
    if (!ken_utf8_valid(s, n)) return KEN_ERR_FORMAT;
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) {
        free(nfc);
        return m == UTF8PROC_ERROR_NOMEM ? KEN_ERR_NOMEM : KEN_ERR_FORMAT;
    }
    ken_status st = clean_controls((const char *)nfc, (size_t)m, out);
    free(nfc);
    return st;
}
