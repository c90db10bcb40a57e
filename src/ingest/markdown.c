/* markdown.c: Markdown to readable text with md4c. Headings become sections
 * with heading paths, fenced and indented code blocks KEN_SEC_CODE sections;
 * the markup goes away but the shape stays: paragraphs separated by blank
 * lines, list items on their own lines ("- " or "1. "), table cells joined
 * by " | ". YAML front matter is skipped (its "title:" becomes the title). */
#include "ingest/ingest_int.h"

#include <limits.h>
#include <md4c.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEPTH_MAX 32    /* deeper lists stop indenting */

typedef struct {
    ken_ingest_b b;
    ken_idoc *doc;
    int list_depth;                    /* may exceed LIST_DEPTH_MAX */
    unsigned list_next[LIST_DEPTH_MAX];/* next number of an ordered list, 0: bullets */
    bool item_start;                   /* just wrote a list marker */
    bool in_html;                      /* inside a raw HTML block */
    bool in_tag;                       /* stripping an HTML tag */
    char tag[8];                       /* its name, lower case (truncated) */
    size_t tag_len;
    bool tag_done;                     /* the name has ended */
    bool in_skip;                      /* inside <script> or <style> */
    int cell;                          /* table cell index in the row */
    bool have_title;
} md_state;

/* Named entities that occur in real documents; the rest stay as written. */
static const struct { const char *name; uint32_t cp; } ENTITIES[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
    {"nbsp", 0xA0}, {"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122}, {"mdash", 0x2014},
    {"ndash", 0x2013}, {"hellip", 0x2026}, {"laquo", 0xAB}, {"raquo", 0xBB},
    {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D},
    {"bull", 0x2022}, {"middot", 0xB7}, {"deg", 0xB0}, {"times", 0xD7}, {"divide", 0xF7},
    {"euro", 0x20AC}, {"pound", 0xA3}, {"yen", 0xA5}, {"cent", 0xA2}, {"sect", 0xA7},
    {"para", 0xB6}, {"plusmn", 0xB1}, {"larr", 0x2190}, {"rarr", 0x2192},
    {"uarr", 0x2191}, {"darr", 0x2193}, {"le", 0x2264}, {"ge", 0x2265}, {"ne", 0x2260},
    {"infin", 0x221E}, {"check", 0x2713}, {"shy", 0xAD}, {"zwj", 0x200D}, {"zwnj", 0x200C},
};

/* Decodes "&...;" (md4c hands entities over whole) into out. */
static void put_entity(md_state *m, const char *s, size_t n) {
    uint32_t cp = 0;
    bool ok = false;
    if (n >= 4 && s[1] == '#') {
        bool hex = s[2] == 'x' || s[2] == 'X';
        ok = true;
        for (size_t i = hex ? 3 : 2; i + 1 < n && ok; i++) {
            char c = s[i];
            int v = c >= '0' && c <= '9' ? c - '0'
                  : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (v < 0) ok = false;
            else if (cp <= 0x10FFFF) cp = cp * (hex ? 16 : 10) + (uint32_t)v;
        }
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    } else if (n >= 3) {
        for (size_t i = 0; i < KEN_ARRAY_LEN(ENTITIES); i++)
            if (strlen(ENTITIES[i].name) == n - 2 && memcmp(ENTITIES[i].name, s + 1, n - 2) == 0) {
                cp = ENTITIES[i].cp;
                ok = true;
                break;
            }
    }
    if (!ok) { ken_ingest_b_text(&m->b, s, n); return; }
    char u[8];
    ken_buf tb = {u, 0, sizeof u, sizeof u - 1};
    if (ken_utf8_put(&tb, (int32_t)cp) == KEN_OK) ken_ingest_b_text(&m->b, u, tb.len);
}

/* Raw HTML inside Markdown: keep the text, drop the tags. */
/* Text between tags: line breaks become line breaks of the output, blank
 * and indented lines do not pile up. */
static void html_text(md_state *m, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) : n, a = i;
        if (a < e && ken_ingest_b_at_line_start(&m->b))
            while (a < e && (s[a] == ' ' || s[a] == '\t')) a++;
        ken_ingest_b_text(&m->b, s + a, e - a);
        if (!nl) return;
        ken_ingest_b_break(&m->b, 1);
        i = e + 1;
    }
}

static void put_html(md_state *m, const char *s, size_t n) {
    if (!m->in_html) return;      /* inline tags carry no text of their own */
    size_t i = 0;
    while (i < n) {
        if (m->in_tag) {
            /* The tag's name decides whether what follows is text at all. */
            while (i < n && m->tag_len < sizeof m->tag - 1 && s[i] != '>' && s[i] != ' ' &&
                   s[i] != '\n' && !m->tag_done)
                m->tag[m->tag_len++] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]), i++;
            m->tag_done = m->tag_done || i < n;
            const char *e = memchr(s + i, '>', n - i);
            if (!e) return;
            m->tag[m->tag_len] = 0;
            if (strcmp(m->tag, "script") == 0 || strcmp(m->tag, "style") == 0) m->in_skip = true;
            else if (strcmp(m->tag, "/script") == 0 || strcmp(m->tag, "/style") == 0) m->in_skip = false;
            m->in_tag = false;
            i = (size_t)(e - s) + 1;
            continue;
        }
        const char *lt = memchr(s + i, '<', n - i);
        size_t end = lt ? (size_t)(lt - s) : n;
        if (!m->in_skip) html_text(m, s + i, end - i);
        if (!lt) return;
        m->in_tag = true;
        m->tag_len = 0;
        m->tag_done = false;
        i = end + 1;
    }
}

static void list_marker(md_state *m) {
    char mk[32];
    int d = KEN_MIN(m->list_depth, LIST_DEPTH_MAX);
    ken_ingest_b_break(&m->b, 1);
    for (int i = 1; i < d && i < 8; i++) ken_ingest_b_raw(&m->b, "  ", 2);
    unsigned *next = d > 0 ? &m->list_next[d - 1] : NULL;
    if (next && *next) snprintf(mk, sizeof mk, "%u. ", (*next)++);
    else snprintf(mk, sizeof mk, "- ");
    ken_ingest_b_raw(&m->b, mk, strlen(mk));
    m->item_start = true;
}

static int enter_block(MD_BLOCKTYPE type, void *detail, void *ud) {
    md_state *m = ud;
    bool was_item = m->item_start;
    m->item_start = false;
    switch (type) {
    case MD_BLOCK_UL:
    case MD_BLOCK_OL:
        if (m->list_depth < LIST_DEPTH_MAX) {
            unsigned start = type == MD_BLOCK_OL ? ((MD_BLOCK_OL_DETAIL *)detail)->start : 0;
            m->list_next[m->list_depth] = type == MD_BLOCK_OL ? (start ? start : 1) : 0;
            if (type == MD_BLOCK_OL && start == 0) m->list_next[m->list_depth] = 0;
        }
        ken_ingest_b_break(&m->b, m->list_depth ? 1 : 2);
        m->list_depth++;
        break;
    case MD_BLOCK_LI: list_marker(m); break;
    case MD_BLOCK_H: ken_ingest_b_heading_begin(&m->b, (int)((MD_BLOCK_H_DETAIL *)detail)->level); break;
    case MD_BLOCK_CODE: ken_ingest_b_code_begin(&m->b); break;
    case MD_BLOCK_HTML: ken_ingest_b_break(&m->b, 2); m->in_html = true; m->in_tag = m->in_skip = false; break;
    case MD_BLOCK_P: if (!was_item) ken_ingest_b_break(&m->b, 2); else m->item_start = true; break;
    case MD_BLOCK_TR: ken_ingest_b_break(&m->b, 1); m->cell = 0; break;
    case MD_BLOCK_TH:
    case MD_BLOCK_TD: if (m->cell++ > 0) ken_ingest_b_raw(&m->b, " | ", 3); break;
    case MD_BLOCK_QUOTE:
    case MD_BLOCK_HR:
    case MD_BLOCK_TABLE: ken_ingest_b_break(&m->b, 2); break;
    default: break;
    }
    return m->b.st ? 1 : 0;
}

static int leave_block(MD_BLOCKTYPE type, void *detail, void *ud) {
    md_state *m = ud;
    (void)detail;
    m->item_start = false;
    switch (type) {
    case MD_BLOCK_UL:
    case MD_BLOCK_OL:
        if (m->list_depth > 0) m->list_depth--;
        ken_ingest_b_break(&m->b, m->list_depth ? 1 : 2);
        break;
    case MD_BLOCK_LI: ken_ingest_b_break(&m->b, 1); break;
    case MD_BLOCK_H: {
        int lv = m->b.head_level;
        const char *h = ken_ingest_b_heading_end(&m->b);
        if (h && *h && lv == 1 && !m->have_title) {
            if (ken_ingest_set_title(m->doc, h, strlen(h))) m->b.st = KEN_ERR_NOMEM;
            m->have_title = true;
        }
        break;
    }
    case MD_BLOCK_CODE: ken_ingest_b_code_end(&m->b); break;
    case MD_BLOCK_HTML: m->in_html = false; ken_ingest_b_break(&m->b, 2); break;
    case MD_BLOCK_P:
    case MD_BLOCK_QUOTE:
    case MD_BLOCK_TABLE: ken_ingest_b_break(&m->b, 2); break;
    default: break;
    }
    return m->b.st ? 1 : 0;
}

static int span_cb(MD_SPANTYPE type, void *detail, void *ud) {
    (void)type; (void)detail; (void)ud;
    return 0;
}

static int text_cb(MD_TEXTTYPE type, const MD_CHAR *s, MD_SIZE n, void *ud) {
    md_state *m = ud;
    m->item_start = false;
    switch (type) {
    case MD_TEXT_NULLCHAR: ken_ingest_b_text(&m->b, "\xEF\xBF\xBD", 3); break;
    case MD_TEXT_BR: ken_ingest_b_break(&m->b, 1); break;
    case MD_TEXT_SOFTBR: ken_ingest_b_text(&m->b, " ", 1); break;
    case MD_TEXT_ENTITY: put_entity(m, s, n); break;
    case MD_TEXT_HTML: put_html(m, s, n); break;
    case MD_TEXT_CODE:
        if (m->b.sec_kind == KEN_SEC_CODE) ken_ingest_b_raw(&m->b, s, n);
        else ken_ingest_b_text(&m->b, s, n);
        break;
    default: ken_ingest_b_text(&m->b, s, n); break;
    }
    return m->b.st ? 1 : 0;
}

/* Skips "---\n...\n---\n" front matter; returns the offset of the body and
 * sets the title from a "title:" line. */
static size_t front_matter(md_state *m, const char *s, size_t n) {
    if (n < 8 || memcmp(s, "---\n", 4) != 0) return 0;
    size_t i = 4;
    const char *title = NULL;
    size_t title_n = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) : n;
        size_t ln = e - i;
        if ((ln == 3 && (memcmp(s + i, "---", 3) == 0 || memcmp(s + i, "...", 3) == 0))) {
            if (title) {
                while (title_n && (*title == ' ' || *title == '"' || *title == '\'')) { title++; title_n--; }
                while (title_n && (title[title_n - 1] == ' ' || title[title_n - 1] == '"' ||
                                   title[title_n - 1] == '\'')) title_n--;
                if (title_n && ken_ingest_set_title(m->doc, title, title_n) == KEN_OK)
                    m->have_title = true;
            }
            return nl ? e + 1 : n;
        }
        if (ln > 6 && memcmp(s + i, "title:", 6) == 0 && !title) {
            title = s + i + 6;
            title_n = ln - 6;
        }
        if (!nl || i > 65536) return 0;     /* no closing line: not front matter */
        i = e + 1;
    }
    return 0;
}

ken_status ken_ingest_markdown(const ken_ingest_job *j) {
    ken_buf src;
    ken_buf_init(&src, j->bytes_max);
    ken_idoc d;
    ken_idoc_init(&d);
    d.text.cap_max = j->bytes_max;
    md_state m;
    memset(&m, 0, sizeof m);
    m.doc = &d;
    ken_ingest_b_init(&m.b, &d, false);
    ken_status st = ken_ingest_decode_text(j, &src);
    if (st) goto out;
    if (src.len > UINT_MAX / 2) { st = ken_err_set(j->err, KEN_ERR_LIMIT, "Markdown file too large"); goto out; }
    size_t off = front_matter(&m, src.data, src.len);
    MD_PARSER p;
    memset(&p, 0, sizeof p);
    p.flags = MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH | MD_FLAG_TASKLISTS | MD_FLAG_PERMISSIVEATXHEADERS;
    p.enter_block = enter_block;
    p.leave_block = leave_block;
    p.enter_span = span_cb;
    p.leave_span = span_cb;
    p.text = text_cb;
    int r = md_parse(src.data + off, (MD_SIZE)(src.len - off), &p, &m);
    st = ken_ingest_b_finish(&m.b);
    if (st) { ken_err_set(j->err, st, "Markdown: %s", ken_status_str(st)); goto out; }
    if (r != 0) { st = ken_err_set(j->err, KEN_ERR_NOMEM, "Markdown: parser failed"); goto out; }
    st = ken_ingest_emit(j, &d);
out:
    ken_idoc_free(&d);
    ken_buf_free(&src);
    return st;
}
