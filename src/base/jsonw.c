/* jsonw.c: a streaming JSON writer over ken_buf (always valid JSON out). */
#include "base.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

ken_status ken_json_escape(ken_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    ken_status st = ken_buf_reserve(b, n + 2);
    size_t i = 0;
    while (!st && i < n) {
        size_t j = i;
        /* Copy runs of plain bytes at once. */
        while (j < n) {
            unsigned char c = (unsigned char)s[j];
            if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
            j++;
        }
        if (j > i) {
            st = ken_buf_append(b, s + i, j - i);
            i = j;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t k = i;
            int32_t cp = ken_utf8_next(s, n, &k);
            if (cp == 0xFFFD && k == i + 1) st = ken_buf_append(b, "\xEF\xBF\xBD", 3);
            else st = ken_buf_append(b, s + i, k - i);
            i = k;
            continue;
        }
        char e[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        default:
            e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = hex[c >> 4]; e[5] = hex[c & 15];
            el = 6;
        }
        st = ken_buf_append(b, e, el);
        i++;
    }
    return st;
}

void ken_jw_init(ken_jw *w, ken_buf *out, int indent) {
    memset(w, 0, sizeof *w);
    w->out = out;
    w->indent = indent;
}

static void put(ken_jw *w, const char *s, size_t n) {
    if (!w->st) w->st = ken_buf_append(w->out, s, n);
}

static void newline(ken_jw *w) {
    if (!w->indent) return;
    put(w, "\n", 1);
    for (int i = 0; i < w->depth * w->indent; i++) put(w, " ", 1);
}

/* Before any value: a comma if needed, unless it follows a key. */
static void pre_value(ken_jw *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->need_comma[w->depth]) put(w, ",", 1);
        w->need_comma[w->depth] = true;
        newline(w);
    }
}

static void open_(ken_jw *w, char c) {
    pre_value(w);
    put(w, &c, 1);
    if (w->depth + 1 >= KEN_JW_DEPTH_MAX) {
        if (!w->st) w->st = KEN_ERR_LIMIT;
        return;
    }
    w->depth++;
    w->need_comma[w->depth] = false;
}

static void close_(ken_jw *w, char c) {
    KEN_ASSERT(w->depth > 0);
    bool had = w->need_comma[w->depth];
    w->depth--;
    if (had) newline(w);
    put(w, &c, 1);
}

void ken_jw_obj_begin(ken_jw *w) { open_(w, '{'); }
void ken_jw_obj_end(ken_jw *w) { close_(w, '}'); }
void ken_jw_arr_begin(ken_jw *w) { open_(w, '['); }
void ken_jw_arr_end(ken_jw *w) { close_(w, ']'); }

void ken_jw_key(ken_jw *w, const char *key) {
    pre_value(w);
    put(w, "\"", 1);
    if (!w->st) w->st = ken_json_escape(w->out, key, strlen(key));
    put(w, w->indent ? "\": " : "\":", w->indent ? 3 : 2);
    w->after_key = true;
}

void ken_jw_strn(ken_jw *w, const char *s, size_t n) {
    if (!s) {
        ken_jw_null(w);
        return;
    }
    pre_value(w);
    put(w, "\"", 1);
    if (!w->st) w->st = ken_json_escape(w->out, s, n);
    put(w, "\"", 1);
}

void ken_jw_str(ken_jw *w, const char *s) { ken_jw_strn(w, s, s ? strlen(s) : 0); }

void ken_jw_int(ken_jw *w, int64_t v) {
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", (long long)v);
    pre_value(w);
    put(w, b, (size_t)n);
}

void ken_jw_uint(ken_jw *w, uint64_t v) {
    char b[32];
    int n = snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    pre_value(w);
    put(w, b, (size_t)n);
}

void ken_jw_num(ken_jw *w, double v) {
    if (!isfinite(v)) {
        ken_jw_null(w);
        return;
    }
    char b[40];
    int n = snprintf(b, sizeof b, "%.17g", v);
    /* Prefer the shortest form that reads back the same. */
    for (int prec = 6; prec < 17; prec++) {
        char t[40];
        int m = snprintf(t, sizeof t, "%.*g", prec, v);
        if (strtod(t, NULL) == v) {
            memcpy(b, t, (size_t)m + 1);
            n = m;
            break;
        }
    }
    pre_value(w);
    put(w, b, (size_t)n);
}

void ken_jw_bool(ken_jw *w, bool v) {
    pre_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void ken_jw_null(ken_jw *w) {
    pre_value(w);
    put(w, "null", 4);
}

void ken_jw_raw(ken_jw *w, const char *json) {
    pre_value(w);
    put(w, json, strlen(json));
}

ken_status ken_jw_status(const ken_jw *w) { return w->st; }
