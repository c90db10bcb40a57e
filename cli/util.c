/* util.c: what the commands share: status -> exit code, printing a failure
 * with the handle's message, argument parsing and JSON output helpers. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_exit_of(ken_status st) {
    switch (st) {
    case KEN_OK: return EXIT_OK;
    case KEN_ERR_NOMEM: case KEN_ERR_INTERNAL: case KEN_ERR_STORE: return EXIT_INTERNAL;
    case KEN_ERR_INVALID: return EXIT_USAGE;
    default: return EXIT_INPUT;
    }
}

int cli_fail(ken_kb *kb, ken_status st) {
    const char *m = kb ? ken_kb_errmsg(kb) : "";
    fprintf(stderr, "ken: %s\n", m && *m ? m : ken_status_str(st));
    return cli_exit_of(st);
}

int cli_usage_error(const char *cmd, const char *fmt, const char *arg) {
    fprintf(stderr, "ken %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see `ken %s --help`)\n", cmd);
    return EXIT_USAGE;
}

bool cli_is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0; }

bool cli_num_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out) {
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < (long long)lo || n > (long long)hi) return false;
    *out = (uint32_t)n;
    return true;
}

bool cli_num_f(const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= lo && d <= hi)) return false;
    *out = d;
    return true;
}

ken_status cli_open_ro(ken_kb **kb) {
    ken_kb_opts o = {.size = sizeof o, .path = cli_db_path, .readonly = 1};
    return ken_kb_open(&o, kb);
}

/* A JSON string on stdout; invalid UTF-8 bytes become U+FFFD. */
void cli_jstr(const char *s) {
    if (!s) { fputs("null", stdout); return; }
    putchar('"');
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') { putchar('\\'); putchar((int)c); p++; continue; }
        if (c < 0x20) {
            if (c == '\n') fputs("\\n", stdout);
            else if (c == '\t') fputs("\\t", stdout);
            else printf("\\u%04x", c);
            p++;
            continue;
        }
        if (c < 0x80) { putchar((int)c); p++; continue; }
        /* Copy a valid multi-byte sequence, else U+FFFD for this byte. Lead
         * bytes are C2-DF, E0-EF and F0-F4; C0, C1 and F5-FF never lead one. */
        int len = c >= 0xF5 ? 0 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        bool ok = len > 0;
        for (int i = 1; ok && i < len; i++) ok = (p[i] & 0xC0) == 0x80;
        if (ok && len == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))) ok = false;
        if (ok && len == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))) ok = false;
        if (!ok) { fputs("\xef\xbf\xbd", stdout); p++; continue; }
        fwrite(p, 1, (size_t)len, stdout);
        p += len;
    }
    putchar('"');
}

void cli_jnum(double v) {
    if (isfinite(v)) printf("%.6g", v);
    else fputs("null", stdout);
}

/* Joins the positional words into one query string (bounded). */
char *cli_join_words(char **w, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) {
        len += strlen(w[i]) + 1;
        if (len > QUERY_ARG_BYTES_MAX + 2) return NULL;
    }
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i) strcat(s, " ");
        strcat(s, w[i]);
    }
    return s;
}
