/* doc.c: parsed documents (ken_idoc), the text builder the structured
 * parsers share, and the final NFC normalization that keeps spans exact. */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>

void ken_idoc_init(ken_idoc *d) {
    memset(d, 0, sizeof *d);
    ken_buf_init(&d->text, 0);
}

void ken_idoc_free(ken_idoc *d) {
    if (!d) return;
    free(d->ext_id);
    free(d->title);
    free(d->meta_json);
    ken_buf_free(&d->text);
    for (size_t i = 0; i < d->n_secs; i++) free(d->secs[i].heading);
    free(d->secs);
    memset(d, 0, sizeof *d);
}

ken_status ken_ingest_add_section(ken_idoc *d, int64_t start, int64_t end, const char *heading,
                                  int32_t page, int32_t level, ken_sec_kind kind) {
    KEN_ASSERT(start <= end);
    if (d->n_secs >= KEN_INGEST_SECS_MAX) return KEN_ERR_LIMIT;
    if (d->n_secs == d->cap_secs) {
        size_t cap = d->cap_secs ? d->cap_secs * 2 : 16;
        ken_section *p = realloc(d->secs, cap * sizeof *p);
        if (!p) return KEN_ERR_NOMEM;
        d->secs = p;
        d->cap_secs = cap;
    }
    char *h = ken_strdup(heading ? heading : "");
    if (!h) return KEN_ERR_NOMEM;
    d->secs[d->n_secs++] = (ken_section){start, end, h, page, level, kind};
    return KEN_OK;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static bool only_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!is_space(s[i])) return false;
    return true;
}

/* Largest n' <= n that does not cut a UTF-8 sequence of valid text. */
static size_t utf8_floor(const char *s, size_t n) {
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

ken_status ken_ingest_set_title(ken_idoc *d, const char *s, size_t n) {
    ken_buf b;
    ken_buf_init(&b, 0);
    bool sp = false;
    for (size_t i = 0; i < n && b.len < 1024; i++) {
        if (is_space(s[i]) || s[i] == '\f' || s[i] == '\v') { sp = b.len > 0; continue; }
        if (sp && ken_buf_putc(&b, ' ')) goto nomem;
        sp = false;
        if (ken_buf_putc(&b, s[i])) goto nomem;
    }
    if (b.len == 0) { ken_buf_free(&b); return KEN_OK; }
    /* Repair what the cap or the input may have broken. */
    size_t ok = ken_utf8_valid_prefix(b.data, b.len);
    if (ok < b.len) {
        ken_buf c;
        ken_buf_init(&c, 0);
        size_t i = 0;
        while (i < b.len)
            if (ken_utf8_put(&c, ken_utf8_next(b.data, b.len, &i))) { ken_buf_free(&c); goto nomem; }
        ken_buf_free(&b);
        b = c;
    }
    free(d->title);
    d->title = ken_buf_take(&b, NULL);
    return d->title ? KEN_OK : KEN_ERR_NOMEM;
nomem:
    ken_buf_free(&b);
    return KEN_ERR_NOMEM;
}

/* ------------------------------------------------------------ finalize */

/* Normalizes s[0..n) into out: invalid UTF-8 becomes U+FFFD first. */
static ken_status norm_piece(const char *s, size_t n, ken_buf *out) {
    if (ken_utf8_valid(s, n)) return ken_text_normalize(s, n, out);
    ken_buf fix;
    ken_buf_init(&fix, 0);
    ken_status st = ken_buf_reserve(&fix, n + n / 2);
    size_t i = 0;
    while (!st && i < n) st = ken_utf8_put(&fix, ken_utf8_next(s, n, &i));
    if (!st) st = ken_text_normalize(fix.data, fix.len, out);
    ken_buf_free(&fix);
    return st;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t find_point(const int64_t *pts, size_t n, int64_t v) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pts[mid] < v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

ken_status ken_ingest_finalize(ken_idoc *d) {
    size_t len = d->text.len, np = 0;
    int64_t *pts = malloc((2 * d->n_secs + 2) * sizeof *pts);
    int64_t *map = malloc((2 * d->n_secs + 2) * sizeof *map);
    ken_buf out;
    ken_buf_init(&out, d->text.cap_max);
    ken_status st = pts && map ? KEN_OK : KEN_ERR_NOMEM;
    if (st) goto out;
    pts[np++] = 0;
    pts[np++] = (int64_t)len;
    for (size_t i = 0; i < d->n_secs; i++) {
        pts[np++] = d->secs[i].start;
        pts[np++] = d->secs[i].end;
    }
    qsort(pts, np, sizeof *pts, cmp_i64);
    size_t u = 0;
    for (size_t i = 0; i < np; i++)
        if (u == 0 || pts[i] != pts[u - 1]) pts[u++] = pts[i];
    np = u;
    st = ken_buf_reserve(&out, len);
    map[0] = 0;
    for (size_t i = 0; !st && i + 1 < np; i++) {
        st = norm_piece(d->text.data + pts[i], (size_t)(pts[i + 1] - pts[i]), &out);
        map[i + 1] = (int64_t)out.len;
    }
    if (st) goto out;
    size_t w = 0;
    for (size_t i = 0; i < d->n_secs; i++) {
        ken_section s = d->secs[i];
        s.start = map[find_point(pts, np, s.start)];
        s.end = map[find_point(pts, np, s.end)];
        if (s.end <= s.start || only_space(out.data + s.start, (size_t)(s.end - s.start))) {
            free(s.heading);
            continue;
        }
        d->secs[w++] = s;
    }
    d->n_secs = w;
    ken_buf_free(&d->text);
    st = ken_ingest_buf_cstr(&out);   /* keep text.data a string */
    d->text = out;
    ken_buf_init(&out, 0);
out:
    ken_buf_free(&out);
    free(pts);
    free(map);
    return st;
}

/* ------------------------------------------------------------ builder */

void ken_ingest_b_init(ken_ingest_b *b, ken_idoc *doc, bool collapse_ws) {
    memset(b, 0, sizeof *b);
    b->doc = doc;
    b->sec_start = 0;
    b->sec_kind = KEN_SEC_PROSE;
    b->head_start = -1;
    b->collapse_ws = collapse_ws;
}

static void b_fail(ken_ingest_b *b, ken_status st) {
    if (!b->st) b->st = st;
}

/* The heading path of levels 1..level, " > "-joined, into out. */
static ken_status heading_path(const ken_ingest_b *b, int level, ken_buf *out) {
    ken_status st = KEN_OK;
    for (int l = 1; l <= level && l <= 6 && !st; l++) {
        if (!b->heads[l] || !b->heads[l][0]) continue;
        if (out->len) st = ken_buf_puts(out, " > ");
        if (!st) st = ken_buf_puts(out, b->heads[l]);
    }
    if (!st) st = ken_ingest_buf_cstr(out);
    return st;
}

static void close_section(ken_ingest_b *b) {
    if (b->st || b->sec_start < 0) return;
    int64_t end = (int64_t)b->doc->text.len;
    if (end > b->sec_start &&
        !only_space(b->doc->text.data + b->sec_start, (size_t)(end - b->sec_start))) {
        ken_buf p;
        ken_buf_init(&p, 0);
        ken_status st = heading_path(b, b->level, &p);
        if (!st) st = ken_ingest_add_section(b->doc, b->sec_start, end, p.data, 0, b->level,
                                             b->sec_kind);
        ken_buf_free(&p);
        b_fail(b, st);
    }
    b->sec_start = -1;
    b->floor = end;
}

static void flush_breaks(ken_ingest_b *b) {
    ken_buf *t = &b->doc->text;
    if (b->pending_nl && t->len) {
        int have = 0;
        while (have < (int)t->len && have < b->pending_nl && t->data[t->len - 1 - have] == '\n')
            have++;
        /* Trailing spaces before a line break only make noise. */
        while (have == 0 && (int64_t)t->len > b->floor &&
               (t->data[t->len - 1] == ' ' || t->data[t->len - 1] == '\t'))
            t->data[--t->len] = 0;
        for (int i = have; i < b->pending_nl && !b->st; i++) b_fail(b, ken_buf_putc(t, '\n'));
    }
    b->pending_nl = 0;
    b->pending_space = false;
}

static void open_section(ken_ingest_b *b, ken_sec_kind kind) {
    flush_breaks(b);
    b->sec_start = (int64_t)b->doc->text.len;
    b->sec_kind = kind;
}

void ken_ingest_b_break(ken_ingest_b *b, int nl) {
    if (nl > b->pending_nl) b->pending_nl = nl;
    b->pending_space = false;
}

bool ken_ingest_b_at_line_start(const ken_ingest_b *b) {
    const ken_buf *t = &b->doc->text;
    return b->pending_nl || t->len == 0 || t->data[t->len - 1] == '\n';
}

void ken_ingest_b_raw(ken_ingest_b *b, const char *s, size_t n) {
    if (b->st || n == 0) return;
    flush_breaks(b);
    b_fail(b, ken_buf_append(&b->doc->text, s, n));
}

void ken_ingest_b_text(ken_ingest_b *b, const char *s, size_t n) {
    if (b->st || n == 0) return;
    if (!b->collapse_ws) { ken_ingest_b_raw(b, s, n); return; }
    ken_buf *t = &b->doc->text;
    size_t i = 0;
    while (i < n && !b->st) {
        if (is_space(s[i]) || s[i] == '\f' || s[i] == '\v') {
            if (!ken_ingest_b_at_line_start(b)) b->pending_space = true;
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_space(s[j]) && s[j] != '\f' && s[j] != '\v') j++;
        bool sp = b->pending_space;
        flush_breaks(b);
        if (sp && t->len && t->data[t->len - 1] != '\n' && t->data[t->len - 1] != ' ')
            b_fail(b, ken_buf_putc(t, ' '));
        if (!b->st) b_fail(b, ken_buf_append(t, s + i, j - i));
        i = j;
    }
}

void ken_ingest_b_heading_begin(ken_ingest_b *b, int level) {
    if (b->st) return;
    if (b->head_start >= 0) return;           /* nested headings: keep the outer one */
    if (level < 1) level = 1;
    if (level > 6) level = 6;
    close_section(b);
    ken_ingest_b_break(b, 2);
    open_section(b, KEN_SEC_HEADING);
    b->head_start = b->sec_start;
    b->head_level = level;
}

const char *ken_ingest_b_heading_end(ken_ingest_b *b) {
    if (b->st || b->head_start < 0) return NULL;
    ken_buf *t = &b->doc->text;
    int64_t hs = b->head_start;
    b->head_start = -1;
    /* The heading's text, white space collapsed, capped at a char boundary. */
    ken_buf h;
    ken_buf_init(&h, 0);
    bool sp = false;
    ken_status st = ken_ingest_buf_cstr(&h);
    for (size_t i = (size_t)hs; i < t->len && !st && h.len < KEN_INGEST_HEADING_MAX; i++) {
        if (is_space(t->data[i])) { sp = h.len > 0; continue; }
        if (sp) st = ken_buf_putc(&h, ' ');
        sp = false;
        if (!st) st = ken_buf_putc(&h, t->data[i]);
    }
    if (!st && h.len >= KEN_INGEST_HEADING_MAX && (size_t)hs + h.len < t->len) {
        h.len = utf8_floor(h.data, h.len);
        h.data[h.len] = 0;
    }
    if (st) { ken_buf_free(&h); b_fail(b, st); return NULL; }
    int lv = b->head_level;
    for (int l = lv; l <= 6; l++) { free(b->heads[l]); b->heads[l] = NULL; }
    b->heads[lv] = ken_buf_take(&h, NULL);
    b->level = lv;
    if (!b->heads[lv]) { b_fail(b, KEN_ERR_NOMEM); return NULL; }
    close_section(b);                      /* the HEADING section, with its own path */
    ken_ingest_b_break(b, 2);
    open_section(b, KEN_SEC_PROSE);
    return b->heads[lv];
}

void ken_ingest_b_code_begin(ken_ingest_b *b) {
    if (b->st || b->sec_kind == KEN_SEC_CODE || b->head_start >= 0) return;
    close_section(b);
    ken_ingest_b_break(b, 2);
    open_section(b, KEN_SEC_CODE);
}

void ken_ingest_b_code_end(ken_ingest_b *b) {
    if (b->st || b->sec_kind != KEN_SEC_CODE) return;
    close_section(b);
    ken_ingest_b_break(b, 2);
    open_section(b, KEN_SEC_PROSE);
}

ken_status ken_ingest_b_finish(ken_ingest_b *b) {
    if (b->head_start >= 0) (void)ken_ingest_b_heading_end(b);
    close_section(b);
    for (int l = 0; l <= 6; l++) { free(b->heads[l]); b->heads[l] = NULL; }
    /* A trailing newline reads better and keeps the last line a line. */
    if (!b->st && b->doc->text.len && b->doc->text.data[b->doc->text.len - 1] != '\n')
        b_fail(b, ken_buf_putc(&b->doc->text, '\n'));
    return b->st;
}
