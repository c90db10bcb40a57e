/* html.c: HTML to readable text with libxml2's forgiving HTML parser.
 * Page furniture is dropped (script, style, noscript, nav, template, svg,
 * forms' controls, footer, aside, and header outside article/main, plus
 * anything hidden); h1-h6 become sections with heading paths, <pre> a code
 * section; block elements end lines, paragraphs leave a blank line, list
 * items get "- ", table cells " | ". The DOM is walked with parent links,
 * not recursion, so 100k nested elements cost no stack. */
#include "ingest/ingest_int.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void) { xmlInitParser(); }

typedef struct {
    ken_ingest_b b;
    ken_idoc *doc;
    int pre;                 /* depth of <pre> */
    bool have_title, title_from_tag;
} html_state;

static bool name_is(const xmlNode *n, const char *name) {
    return n->name && strcmp((const char *)n->name, name) == 0;
}

static bool name_in(const xmlNode *n, const char *const *list) {
    for (; *list; list++)
        if (name_is(n, *list)) return true;
    return false;
}

static const char *const DROP[] = {
    "script", "style", "noscript", "nav", "template", "svg", "math", "iframe", "object",
    "embed", "canvas", "select", "button", "footer", "aside", "audio", "video", "map", NULL};
static const char *const PARA[] = {
    "p", "blockquote", "table", "ul", "ol", "dl", "figure", "hr", "section", "article",
    "main", "header", "address", "details", "fieldset", "form", "h1", "h2", "h3", "h4",
    "h5", "h6", "pre", NULL};
static const char *const LINE[] = {
    "div", "li", "tr", "dt", "dd", "br", "caption", "figcaption", "summary", "legend",
    "center", "body", "tbody", "thead", "tfoot", "option", "label", "textarea", NULL};

static bool attr_is(const xmlNode *n, const char *attr, const char *val) {
    xmlChar *v = xmlGetProp(n, (const xmlChar *)attr);
    if (!v) return false;
    bool hit = val ? strcasecmp((const char *)v, val) == 0 : true;
    xmlFree(v);
    return hit;
}

static bool hidden(const xmlNode *n) {
    if (!n->properties) return false;
    if (attr_is(n, "hidden", NULL) || attr_is(n, "aria-hidden", "true")) return true;
    if (attr_is(n, "role", "navigation") || attr_is(n, "role", "banner") ||
        attr_is(n, "role", "contentinfo") || attr_is(n, "role", "search"))
        return true;
    xmlChar *st = xmlGetProp(n, (const xmlChar *)"style");
    bool none = false;
    if (st) {
        char compact[128];
        size_t k = 0;
        for (const xmlChar *s = st; *s && k + 1 < sizeof compact; s++)
            if (*s != ' ') compact[k++] = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
        compact[k] = 0;
        none = strstr(compact, "display:none") != NULL || strstr(compact, "visibility:hidden") != NULL;
        xmlFree(st);
    }
    return none;
}

/* A <header> is site chrome unless it belongs to an article or main. */
static bool chrome_header(const xmlNode *n) {
    int k = 0;
    for (const xmlNode *p = n->parent; p && k < 64; p = p->parent, k++)
        if (p->type == XML_ELEMENT_NODE && (name_is(p, "article") || name_is(p, "main")))
            return false;
    return true;
}

static int heading_level(const xmlNode *n) {
    const char *s = (const char *)n->name;
    if (s && (s[0] == 'h' || s[0] == 'H') && s[1] >= '1' && s[1] <= '6' && s[2] == 0) return s[1] - '0';
    return 0;
}

/* Opens an element; false means "do not descend (and do not close)". */
static bool enter(html_state *h, const xmlNode *n) {
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        const char *t = (const char *)n->content;
        if (!t) return false;
        if (h->pre) ken_ingest_b_raw(&h->b, t, strlen(t));
        else ken_ingest_b_text(&h->b, t, strlen(t));
        return false;
    }
    if (n->type != XML_ELEMENT_NODE) return false;
    if (name_in(n, DROP) || hidden(n) || (name_is(n, "header") && chrome_header(n))) return false;
    if (name_is(n, "title")) {
        xmlChar *t = xmlNodeGetContent(n);
        if (t && !h->title_from_tag) {
            if (ken_ingest_set_title(h->doc, (const char *)t, strlen((const char *)t))) h->b.st = KEN_ERR_NOMEM;
            h->title_from_tag = h->have_title = h->doc->title != NULL;
        }
        xmlFree(t);
        return false;
    }
    int lv = heading_level(n);
    if (lv) { ken_ingest_b_heading_begin(&h->b, lv); return true; }
    if (name_is(n, "pre")) {
        if (h->pre++ == 0) ken_ingest_b_code_begin(&h->b);
        return true;
    }
    if (name_in(n, PARA)) ken_ingest_b_break(&h->b, 2);
    else if (name_in(n, LINE)) ken_ingest_b_break(&h->b, 1);
    if (name_is(n, "li")) ken_ingest_b_raw(&h->b, "- ", 2);
    else if ((name_is(n, "td") || name_is(n, "th")) && !ken_ingest_b_at_line_start(&h->b))
        ken_ingest_b_raw(&h->b, " | ", 3);
    return true;
}

static void leave(html_state *h, const xmlNode *n) {
    if (n->type != XML_ELEMENT_NODE) return;
    int lv = heading_level(n);
    if (lv) {
        const char *t = ken_ingest_b_heading_end(&h->b);
        if (t && *t && lv == 1 && !h->have_title) {
            if (ken_ingest_set_title(h->doc, t, strlen(t))) h->b.st = KEN_ERR_NOMEM;
            h->have_title = true;
        }
        return;
    }
    if (name_is(n, "pre")) {
        if (h->pre > 0 && --h->pre == 0) ken_ingest_b_code_end(&h->b);
        return;
    }
    if (name_in(n, PARA)) ken_ingest_b_break(&h->b, 2);
    else if (name_in(n, LINE)) ken_ingest_b_break(&h->b, 1);
}

/* Depth-first over the tree with parent/next links: O(1) extra memory. */
static void walk(html_state *h, xmlNode *root) {
    xmlNode *n = root;
    bool in = enter(h, n);
    while (!h->b.st) {
        if (in && n->children) {
            n = n->children;
            in = enter(h, n);
            continue;
        }
        if (in) leave(h, n);
        while (n != root && !n->next) {
            n = n->parent;
            leave(h, n);
        }
        if (n == root) break;
        n = n->next;
        in = enter(h, n);
    }
}

/* Does the head of the page declare a charset other than UTF-8 (a meta
 * charset, an http-equiv content type, an XML declaration)? */
static bool declares_other_charset(const char *p, size_t n) {
    n = KEN_MIN(n, (size_t)4096);
    static const char *const keys[] = {"charset=", "encoding="};
    for (size_t k = 0; k < KEN_ARRAY_LEN(keys); k++) {
        size_t kl = strlen(keys[k]);
        for (size_t i = 0; i + kl < n; i++) {
            if (strncasecmp(p + i, keys[k], kl) != 0) continue;
            size_t v = i + kl;
            while (v < n && (p[v] == '"' || p[v] == '\'' || p[v] == ' ')) v++;
            return !(v + 4 <= n && strncasecmp(p + v, "utf", 3) == 0 &&
                     (p[v + 3] == '8' || (p[v + 3] == '-' && v + 5 <= n && p[v + 4] == '8')));
        }
    }
    return false;
}

ken_status ken_ingest_html(const ken_ingest_job *j) {
    if (j->len > INT_MAX) return ken_err_set(j->err, KEN_ERR_LIMIT, "HTML file too large");
    pthread_once(&xml_once, xml_init);
    /* Valid UTF-8 is read as UTF-8 whatever a stale <meta> says; so is
     * damaged UTF-8 (invalid bytes replaced by U+FFFD, reported) unless the
     * page declares another charset; anything else is left to libxml2's
     * detection (BOM, meta charset, Latin-1), which would switch a page to
     * Latin-1 at its first invalid byte. */
    const char *data = j->data, *enc = NULL;
    size_t len = j->len;
    ken_buf fixed;
    ken_buf_init(&fixed, j->bytes_max);
    if (ken_utf8_valid(data, len)) enc = "UTF-8";
    else if (!declares_other_charset(data, len)) {
        ken_text_info info;
        ken_err e;
        if (ken_text_decode(data, len, &fixed, &info, &e) == KEN_OK && info.enc == KEN_ENC_UTF8 &&
            fixed.len <= INT_MAX) {
            ken_ingest_warnf(j, "invalid UTF-8: %zu byte(s) replaced by U+FFFD", info.replaced);
            data = fixed.data;
            len = fixed.len;
            enc = "UTF-8";
        }
    }
    htmlParserCtxtPtr ctx = htmlNewParserCtxt();
    if (!ctx) {
        ken_buf_free(&fixed);
        return ken_err_set(j->err, KEN_ERR_NOMEM, "HTML: out of memory");
    }
    /* XML_PARSE_HUGE lifts libxml2's 256-level nesting limit: its HTML
     * parser, text extraction and xmlFreeDoc are iterative (checked with
     * 2M levels on a 1 MiB stack), and so is our walk, so deep pages are
     * read whole; the input size is already capped by bytes_max. */
    htmlDocPtr x = htmlCtxtReadMemory(ctx, data, (int)len, NULL, enc,
                                      HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR |
                                      HTML_PARSE_NOWARNING | HTML_PARSE_COMPACT | XML_PARSE_HUGE);
    /* Should a libxml2 build still stop at its depth limit, what came
     * before is kept and the cut is reported. */
    xmlErrorPtr le = xmlCtxtGetLastError(ctx);
    bool too_deep = le && le->message && strstr(le->message, "Excessive depth");
    htmlFreeParserCtxt(ctx);
    ken_buf_free(&fixed);
    if (!x) return ken_err_set(j->err, KEN_ERR_FORMAT, "HTML: the parser could not read the file");
    if (too_deep)
        ken_ingest_warnf(j, "%s: HTML nested deeper than 256 levels; the rest of the page was not read",
                         j->name);
    ken_idoc d;
    ken_idoc_init(&d);
    d.text.cap_max = j->bytes_max;
    html_state h;
    memset(&h, 0, sizeof h);
    h.doc = &d;
    ken_ingest_b_init(&h.b, &d, true);
    xmlNode *root = xmlDocGetRootElement(x);
    if (root) walk(&h, root);
    ken_status st = ken_ingest_b_finish(&h.b);
    if (st) ken_err_set(j->err, st, "HTML: %s", ken_status_str(st));
    else st = ken_ingest_emit(j, &d);
    if (st == KEN_ERR_FORMAT && too_deep)
        ken_err_set(j->err, st, "HTML nested deeper than 256 levels before any text");
    ken_idoc_free(&d);
    xmlFreeDoc(x);
    return st;
}
