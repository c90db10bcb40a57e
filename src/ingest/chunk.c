/* chunk.c: splits a parsed document into chunks of about target_words
 * words, structure first: a chunk stays inside its section (heading, page,
 * code block) unless the section is tiny, and a heading is kept with what
 * follows it. Inside prose, cuts and overlaps fall on sentence starts where
 * possible; a huge sentence is cut between words and a huge word (a 50 MB
 * line) between UTF-8 characters, max_bytes being the hard cap. Code is cut
 * between blank-line blocks, then lines, then characters.
 *
 * Token estimate: max(ceil(words * 1.3), ceil(bytes / 4)) -- words for prose,
 * bytes for text without spaces (code, CJK, long tokens).
 *
 * Everything is linear: a chunk's words are scanned once plus the overlap,
 * and the overlap is capped at half the chunk. */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t s, e;
    bool sent;               /* a sentence starts at this word */
    bool cut;                /* ended by the byte cap inside a longer word */
} word;

typedef struct {
    const char *t;           /* document text */
    uint32_t target, overlap, max_bytes, tiny;
    ken_ichunk *v;
    size_t n, cap;
    const char *heading;     /* of the chunks being made */
    word *W;                 /* the words of the chunk being made (target + 2) */
    int32_t page;
} chunker;

static bool ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int32_t estimate(int64_t words, int64_t bytes) {
    int64_t a = (words * 13 + 9) / 10, b = (bytes + 3) / 4;
    int64_t t = a > b ? a : b;
    return t > INT32_MAX ? INT32_MAX : (int32_t)t;
}

static ken_status emit(chunker *c, int64_t s, int64_t e, int64_t words) {
    while (s < e && ws(c->t[s])) s++;
    while (e > s && ws(c->t[e - 1])) e--;
    if (e <= s) return KEN_OK;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        ken_ichunk *p = realloc(c->v, cap * sizeof *p);
        if (!p) return KEN_ERR_NOMEM;
        c->v = p;
        c->cap = cap;
    }
    c->v[c->n++] = (ken_ichunk){s, e, c->heading, c->page, estimate(words, e - s)};
    return KEN_OK;
}

/* Scripts written without spaces (CJK ideographs, kana, their punctuation
 * and fullwidth forms): each character counts as a word, so they chunk by
 * characters instead of by 8 KiB runs. Returns the byte length of such a
 * character at t[i], else 0. */
static int cjk_len(const char *t, int64_t i, int64_t z) {
    const unsigned char *u = (const unsigned char *)t + i;
    if (u[0] < 0xE3 || u[0] > 0xF0) return 0;
    if (u[0] == 0xF0) {            /* U+20000..U+2FFFF: F0 A0..AF xx xx */
        return z - i >= 4 && u[1] >= 0xA0 && u[1] <= 0xAF ? 4 : 0;
    }
    if (z - i < 3) return 0;
    uint32_t cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    if ((cp >= 0x3001 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
        (cp >= 0xFF01 && cp <= 0xFF60))
        return 3;
    return 0;
}

static int64_t count_words(const char *t, int64_t s, int64_t e) {
    int64_t n = 0;
    bool in = false;
    for (int64_t i = s; i < e; i++) {
        int cl = (unsigned char)t[i] >= 0xE3 ? cjk_len(t, i, e) : 0;
        if (cl) {
            n++;
            in = false;
            i += cl - 1;
            continue;
        }
        bool w = !ws(t[i]);
        if (w && !in) n++;
        in = w;
    }
    return n;
}

/* The largest char boundary <= p, but past s (so a cut always moves on). */
static int64_t char_floor(const char *t, int64_t s, int64_t p) {
    int64_t q = p;
    while (q > s && ((unsigned char)t[q] & 0xC0) == 0x80) q--;
    if (q > s) return q;
    q = s + 1;                                 /* a cap smaller than one char */
    while (((unsigned char)t[q] & 0xC0) == 0x80) q++;
    return q;
}

/* ------------------------------------------------------------ sentences */

static bool is_closer(const char *t, int64_t s, int64_t *e) {
    char c = t[*e - 1];
    if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == '*' || c == '_') {
        (*e)--;
        return true;
    }
    /* ’ ” » and their friends: E2 80 99 / E2 80 9D / C2 BB */
    if (*e - s >= 3 && (unsigned char)t[*e - 3] == 0xE2 && (unsigned char)t[*e - 2] == 0x80 &&
        ((unsigned char)t[*e - 1] == 0x99 || (unsigned char)t[*e - 1] == 0x9D)) {
        *e -= 3;
        return true;
    }
    if (*e - s >= 2 && (unsigned char)t[*e - 2] == 0xC2 && (unsigned char)t[*e - 1] == 0xBB) {
        *e -= 2;
        return true;
    }
    return false;
}

/* Sorted, for bsearch: a period after these does not end a sentence. */
static const char *const ABBREV[] = {
    "al", "approx", "apr", "art", "assn", "aug", "blvd", "ca", "capt", "cf", "ch", "cit",
    "co", "col", "corp", "dec", "dept", "dr", "ed", "eds", "eq", "eqs", "est", "feb", "fig",
    "figs", "gen", "gov", "hon", "ibid", "inc", "jan", "jr", "jul", "jun", "lt", "ltd",
    "mar", "messrs", "mlle", "mme", "mr", "mrs", "ms", "mt", "no", "nos", "nov", "oct", "op",
    "p", "pp", "prof", "rd", "ref", "refs", "resp", "rev", "sec", "sep", "sept", "sgt", "sr",
    "st", "univ", "viz", "vol", "vols", "vs",
};

static int cmp_abbrev(const void *key, const void *elem) {
    return strcmp(key, *(const char *const *)elem);
}

static bool is_abbrev(const char *t, int64_t s, int64_t e) {
    int64_t n = e - s;
    if (n < 1 || n > 8) return false;
    char low[9];
    for (int64_t i = 0; i < n; i++) {
        char c = t[s + i];
        low[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    low[n] = 0;
    return bsearch(low, ABBREV, KEN_ARRAY_LEN(ABBREV), sizeof ABBREV[0], cmp_abbrev) != NULL;
}

static bool list_marker(const char *t, int64_t s, int64_t e) {
    char c = t[s];
    if (e - s == 1 && (c == '-' || c == '*' || c == '+')) return true;
    if (e - s == 3 && (unsigned char)c == 0xE2 && (unsigned char)t[s + 1] == 0x80 &&
        (unsigned char)t[s + 2] == 0xA2) return true;            /* • */
    int64_t i = s;
    while (i < e && t[i] >= '0' && t[i] <= '9') i++;
    return i > s && i + 1 == e && (t[i] == '.' || t[i] == ')');
}

/* Does word (s, e) start a sentence, given the previous word (ps, pe) and
 * the gap between them? */
static bool starts_sentence(const char *t, int64_t ps, int64_t pe, int64_t s, int64_t e) {
    int nl = 0;
    for (int64_t i = pe; i < s; i++) nl += t[i] == '\n';
    /* 。！？ end sentences in scripts without spaces */
    if (pe - ps >= 3 && (memcmp(t + pe - 3, "\xE3\x80\x82", 3) == 0 ||
                         memcmp(t + pe - 3, "\xEF\xBC\x81", 3) == 0 ||
                         memcmp(t + pe - 3, "\xEF\xBC\x9F", 3) == 0))
        return true;
    if (nl >= 2) return true;                          /* paragraph */
    if (nl == 1 && list_marker(t, s, e)) return true;  /* list item */
    int64_t q = pe;
    while (q > ps && is_closer(t, ps, &q)) {}
    if (q <= ps) return false;
    char last = t[q - 1];
    unsigned char first = (unsigned char)t[s];
    /* skip an opening quote or bracket of the next word */
    int64_t f = s;
    while (f < e && (t[f] == '"' || t[f] == '\'' || t[f] == '(' || t[f] == '[' || t[f] == '*')) f++;
    if (f < e) first = (unsigned char)t[f];
    bool lower = first >= 'a' && first <= 'z';
    bool upper = first >= 'A' && first <= 'Z';
    if (last == '?' || last == '!') return !lower;
    bool ellipsis = (q - ps >= 3 && memcmp(t + q - 3, "...", 3) == 0) ||
                    (q - ps >= 3 && memcmp(t + q - 3, "\xE2\x80\xA6", 3) == 0);
    if (ellipsis) return upper;
    if (last != '.') return false;
    if (lower) return false;
    /* The token before the period, without opening punctuation. */
    int64_t ts = ps;
    while (ts < q - 1 && (t[ts] == '"' || t[ts] == '\'' || t[ts] == '(' || t[ts] == '[')) ts++;
    int64_t tn = q - 1 - ts;
    if (tn == 1 && t[ts] >= 'A' && t[ts] <= 'Z') return false;   /* initial: "J. R. R." */
    if (memchr(t + ts, '.', (size_t)tn)) {                       /* "U.S.", "e.g.", "3.14." */
        bool digits = true;
        for (int64_t i = ts; i < q - 1; i++)
            if (!((t[i] >= '0' && t[i] <= '9') || t[i] == '.' || t[i] == ',')) digits = false;
        if (!digits) return false;
    }
    if (is_abbrev(t, ts, q - 1)) return false;
    return true;
}

/* ------------------------------------------------------------ prose */

/* Reads the next word at or after p (< z); returns false at the end. A word
 * longer than max_bytes ends at a char boundary within the cap. */
static bool next_word(const chunker *c, int64_t *p, int64_t z, word *w) {
    int64_t i = *p;
    while (i < z && ws(c->t[i])) i++;
    if (i >= z) { *p = z; return false; }
    int64_t j = i, cap = i + c->max_bytes;
    int cl = cjk_len(c->t, i, z);
    w->cut = false;
    if (cl) {
        j = i + cl;
    } else {
        while (j < z && !ws(c->t[j]) && j < cap &&
               !((unsigned char)c->t[j] >= 0xE3 && cjk_len(c->t, j, z)))
            j++;
        if (j < z && !ws(c->t[j]) && j >= cap) {
            j = char_floor(c->t, i, cap);
            w->cut = true;
        }
    }
    w->s = i;
    w->e = j;
    *p = j;
    return true;
}

static ken_status chunk_prose(chunker *c, int64_t a, int64_t z) {
    size_t wcap = (size_t)c->target + 2;
    word *W = c->W;
    ken_status st = KEN_OK;
    int64_t pos = a;
    bool first_sent = true;
    for (;;) {
        size_t n = 0;
        int64_t p = pos;
        bool at_end = false;
        while (n < wcap) {
            word w;
            if (!next_word(c, &p, z, &w)) { at_end = true; break; }
            w.sent = n == 0 ? first_sent
                   : (W[n - 1].cut ? false          /* pieces of one huge word */
                      : starts_sentence(c->t, W[n - 1].s, W[n - 1].e, w.s, w.e));
            W[n++] = w;
            if (w.e - W[0].s > (int64_t)c->max_bytes) break;
        }
        if (n == 0) break;
        size_t k = KEN_MIN(n, (size_t)c->target);
        while (k > 1 && W[k - 1].e - W[0].s > (int64_t)c->max_bytes) k--;
        if (k == n && at_end) {
            st = emit(c, W[0].s, W[k - 1].e, (int64_t)k);
            break;
        }
        /* Cut at the last sentence start in the second half, else between words. */
        size_t cut = k;
        for (size_t i = k; i >= KEN_MAX((size_t)1, k / 2); i--)
            if (W[i].sent) { cut = i; break; }
        st = emit(c, W[0].s, W[cut - 1].e, (int64_t)cut);
        if (st) break;
        size_t next = cut;
        if (c->overlap && !W[cut - 1].cut) {
            size_t lo = KEN_MAX((size_t)1, (cut + 1) / 2);
            size_t from = cut > c->overlap ? cut - c->overlap : 0;
            if (from < lo) from = lo;
            next = from < cut ? from : cut;
            for (size_t i = from; i < cut; i++)
                if (W[i].sent) { next = i; break; }
        }
        pos = W[next].s;
        first_sent = W[next].sent;
    }
    return st;
}

/* ------------------------------------------------------------ code */

static bool blank_line(const char *t, int64_t s, int64_t e) {
    for (int64_t i = s; i < e; i++)
        if (!ws(t[i])) return false;
    return true;
}

static ken_status chunk_code(chunker *c, int64_t a, int64_t z) {
    const char *t = c->t;
    int64_t pos = a;
    ken_status st = KEN_OK;
    while (pos < z && !st) {
        /* Start at the first non-blank line (keeping its indentation). */
        for (;;) {
            const char *nl = memchr(t + pos, '\n', (size_t)(z - pos));
            int64_t le = nl ? nl - t : z;
            if (!blank_line(t, pos, le)) break;
            pos = nl ? le + 1 : z;
            if (pos >= z) return KEN_OK;
        }
        int64_t p = pos, end_ok = pos, cut_blank = -1, words = 0, words_blank = 0;
        bool full = false;
        while (p < z) {
            const char *nl = memchr(t + p, '\n', (size_t)(z - p));
            int64_t le = nl ? nl - t : z, nx = nl ? le + 1 : z;
            if (blank_line(t, p, le)) {
                if (end_ok > pos) { cut_blank = end_ok; words_blank = words; }
                p = nx;
                continue;
            }
            int64_t lw = count_words(t, p, le);
            if (end_ok > pos && (words + lw > c->target || le - pos > (int64_t)c->max_bytes)) {
                full = true;
                break;
            }
            if (end_ok == pos && le - pos > (int64_t)c->max_bytes) {
                /* A huge line: cut it all here, so it is scanned once. */
                while (!st && le - pos > (int64_t)c->max_bytes) {
                    int64_t cut = char_floor(t, pos, pos + c->max_bytes);
                    st = emit(c, pos, cut, count_words(t, pos, cut));
                    pos = cut;
                }
                if (!st) st = emit(c, pos, le, count_words(t, pos, le));
                pos = nx;
                goto next;
            }
            words += lw;
            end_ok = le;
            p = nx;
        }
        if (!full) {
            st = emit(c, pos, end_ok, words);
            break;
        }
        if (cut_blank > pos + (end_ok - pos) / 2) {
            st = emit(c, pos, cut_blank, words_blank);
            pos = cut_blank;
        } else {
            st = emit(c, pos, end_ok, words);
            pos = end_ok;
        }
    next:;
    }
    return st;
}

/* ------------------------------------------------------------ sections */

/* Is heading path h at or below path p? */
static bool is_under(const char *h, const char *p) {
    size_t n = strlen(p);
    if (n == 0) return true;
    if (strncmp(h, p, n) != 0) return false;
    return h[n] == 0 || strncmp(h + n, " > ", 3) == 0;
}

static size_t parent_len(const char *h) {
    const char *last = NULL;
    for (const char *s = strstr(h, " > "); s; s = strstr(s + 3, " > ")) last = s;
    return last ? (size_t)(last - h) : 0;
}

/* May a tiny group ending in section a take section b? Same heading, a
 * descendant, or a sibling (same parent). */
static bool related(const ken_section *a, const ken_section *b) {
    if (is_under(b->heading, a->heading)) return true;
    size_t pa = parent_len(a->heading), pb = parent_len(b->heading);
    return pa == pb && strncmp(a->heading, b->heading, pa) == 0;
}

/* The last section of the heading chain starting at i: a heading section
 * goes with the section after it when that one is under it. */
static size_t chain_end(const ken_idoc *d, size_t i) {
    while (d->secs[i].kind == KEN_SEC_HEADING && i + 1 < d->n_secs &&
           is_under(d->secs[i + 1].heading, d->secs[i].heading))
        i++;
    return i;
}

ken_status ken_chunk_doc(const ken_idoc *doc, const ken_chunk_opts *opts,
                         ken_ichunk **out, size_t *n_out) {
    static const ken_chunk_opts defaults;
    if (!opts) opts = &defaults;
    *out = NULL;
    *n_out = 0;
    chunker c = {0};
    c.t = doc->text.data ? doc->text.data : "";
    c.target = opts->target_words ? opts->target_words : 250;
    if (c.target > 100000) c.target = 100000;
    c.overlap = KEN_MIN(opts->overlap_words, c.target / 2);
    c.max_bytes = opts->max_bytes ? opts->max_bytes : 8192;
    if (c.max_bytes < 16) c.max_bytes = 16;
    c.tiny = KEN_MAX(c.target / 5, 1u);
    c.W = malloc(((size_t)c.target + 2) * sizeof *c.W);
    if (!c.W) return KEN_ERR_NOMEM;
    ken_status st = KEN_OK;
    if (doc->n_secs == 0) {
        c.heading = "";
        st = chunk_prose(&c, 0, (int64_t)doc->text.len);
        goto out;
    }
    /* Spans must be sorted, disjoint and inside the text (parsers make them so). */
    for (size_t i = 0; i < doc->n_secs; i++) {
        const ken_section *S = &doc->secs[i];
        if (S->start < 0 || S->end < S->start || S->end > (int64_t)doc->text.len || !S->heading ||
            (i && S->start < doc->secs[i - 1].end)) {
            st = KEN_ERR_INVALID;
            goto out;
        }
    }
    int64_t *wc = malloc(doc->n_secs * sizeof *wc);
    if (!wc) {
        st = KEN_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < doc->n_secs; i++)
        wc[i] = count_words(c.t, doc->secs[i].start, doc->secs[i].end);
    for (size_t i = 0; i < doc->n_secs && !st;) {
        const ken_section *S = doc->secs;
        int64_t gs = S[i].start, words = 0;
        size_t j = chain_end(doc, i), k = j;
        for (size_t x = i; x <= j; x++) words += wc[x];
        c.heading = S[j].heading;
        c.page = S[j].page;
        bool merged = false;
        while (words < c.tiny && k + 1 < doc->n_secs && related(&S[k], &S[k + 1])) {
            size_t m = chain_end(doc, k + 1);
            int64_t w2 = 0;
            for (size_t x = k + 1; x <= m; x++) w2 += wc[x];
            if (words + w2 > c.target || S[m].end - gs > (int64_t)c.max_bytes) break;
            words += w2;
            k = m;
            merged = true;
        }
        if (merged) st = emit(&c, gs, S[k].end, words);
        else if (S[j].kind == KEN_SEC_CODE) st = chunk_code(&c, gs, S[j].end);
        else st = chunk_prose(&c, gs, S[j].end);
        i = k + 1;
    }
    free(wc);
out:
    free(c.W);
    if (st) { free(c.v); return st; }
    *out = c.v;
    *n_out = c.n;
    return KEN_OK;
}
