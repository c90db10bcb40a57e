/* ground.c: the prompt for a grounded answer and the check of the answer.
 *
 * Prompt: a system instruction (answer only from the numbered sources, cite
 * each claim as [n], say "I don't know" otherwise), the newest earlier turns
 * that fit, and a user message with the sources [1]..[n], best first, then
 * the question. Sources are added while they fit the token budget; the first
 * one that does not fit whole is cut at a sentence (else word) end.
 *
 * Check: citation markers are found outside code; the answer is split into
 * sentences with the markers blanked out (so "blue. [1] Grass" splits after
 * "blue." and "[1]" belongs to the sentence it follows); each sentence's
 * content words (stop words out, lightly stemmed) are looked up in the union
 * of its valid cited sources' words. A citation is valid when its number was
 * a source in the prompt; support is what share of the sentence those
 * sources contain. */
#include "retrieve/ground.h"
#include "base/json.h"
#include "retrieve/retrieve.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_MESSAGES_MAX 256
#define MESSAGE_OVERHEAD_TOKENS 8     /* role markers a chat template adds per message */
#define SOURCE_TOKENS_MIN 48          /* a source cut shorter than this (or than half of
                                         it) is not worth adding */
#define CITES_MAX (1 << 19)           /* markers x numbers in one answer */

static const char default_system[] =
    "You answer questions using only the numbered sources given with the question. "
    "Cite every claim with the number of the source it comes from in square brackets, "
    "like [1] or [2][3], right after the claim. Do not use outside knowledge. "
    "If the sources do not contain the answer, say \"I don't know\" and nothing else.";

/* ------------------------------------------------------------ word sets */

typedef struct {
    uint64_t *v;
    size_t n, cap;
    ken_status st;
} stemset;

static int on_term(void *ud, const char *t, size_t n, size_t start, size_t end) {
    stemset *s = ud;
    (void)start; (void)end;
    if (ken_retrieve_stopword(t, n)) return 0;
    char st[KEN_RETRIEVE_TERM_BYTES_MAX + 1];
    size_t sn = ken_retrieve_stem(t, n, st);
    if (sn == 0) return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        uint64_t *v = realloc(s->v, cap * sizeof *v);
        if (!v) { s->st = KEN_ERR_NOMEM; return 1; }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = ken_hash64(st, sn);
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The distinct stems of text, sorted. */
static ken_status stems_of(const char *text, size_t len, stemset *s) {
    memset(s, 0, sizeof *s);
    ken_retrieve_terms(text, len, on_term, s);
    if (s->st != KEN_OK) return s->st;
    if (s->n) qsort(s->v, s->n, sizeof *s->v, cmp_u64);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++)
        if (w == 0 || s->v[w - 1] != s->v[i]) s->v[w++] = s->v[i];
    s->n = w;
    return KEN_OK;
}

static bool stems_has(const stemset *s, uint64_t h) {
    return s->n && bsearch(&h, s->v, s->n, sizeof *s->v, cmp_u64) != NULL;
}

static size_t stems_common(const stemset *a, const stemset *b) {
    size_t c = 0;
    for (size_t i = 0; i < a->n; i++) c += stems_has(b, a->v[i]);
    return c;
}

double ken_ground_containment(const char *a, size_t a_len, const char *b, size_t b_len) {
    stemset sa, sb;
    memset(&sb, 0, sizeof sb);
    double r = 0;
    if (stems_of(a, a_len, &sa) == KEN_OK && stems_of(b, b_len, &sb) == KEN_OK && sa.n)
        r = (double)stems_common(&sa, &sb) / (double)sa.n;
    free(sa.v);
    free(sb.v);
    return r;
}

/* ------------------------------------------------------------ prompt */

static size_t count_default(void *ud, const char *text, size_t len) {
    (void)ud; (void)text;
    return (len + 2) / 3;
}

typedef struct {
    ken_ground_count_fn fn;
    void *ud;
} counter;

static size_t count(const counter *c, const char *t, size_t n) { return c->fn(c->ud, t, n); }

/* The header line of source i: "[i] Title > heading (uri, page p)". */
static ken_status source_header(ken_buf *b, size_t i, const ken_ground_source *s) {
    ken_status st = ken_buf_printf(b, "[%zu]", i + 1);
    bool title = s->title && *s->title;
    if (st == KEN_OK && title) st = ken_buf_printf(b, " %s", s->title);
    if (st == KEN_OK && s->heading && *s->heading)
        st = ken_buf_printf(b, " > %s", s->heading);
    if (st == KEN_OK && s->uri && *s->uri)
        st = ken_buf_printf(b, title ? " (%s" : " %s", s->uri);
    if (st == KEN_OK && s->page > 0) st = ken_buf_printf(b, ", page %d", (int)s->page);
    if (st == KEN_OK && title && s->uri && *s->uri) st = ken_buf_putc(b, ')');
    if (st == KEN_OK) st = ken_buf_putc(b, '\n');
    return st;
}

/* The longest prefix of t[0..n) at most `bytes` long that ends at a sentence
 * end (else a word end, else a UTF-8 boundary). */
static size_t cut_at(const char *t, size_t n, size_t bytes) {
    if (bytes >= n) return n;
    size_t best_word = 0;
    for (size_t i = bytes; i > bytes / 2; i--) {
        char c = t[i - 1];
        if ((c == '.' || c == '!' || c == '?' || c == '\n') && (t[i] == ' ' || t[i] == '\n'))
            return i;
        if (!best_word && (t[i] == ' ' || t[i] == '\n')) best_word = i;
    }
    if (best_word) return best_word;
    size_t i = bytes;
    while (i > 0 && ((unsigned char)t[i] & 0xC0) == 0x80) i--;
    return i;
}

/* Appends as many sources as fit `budget` tokens to b; records used lengths. */
static ken_status add_sources(const ken_ground_source *src, size_t n_src, const counter *c,
                              size_t budget, ken_buf *b, ken_ground_prompt *p) {
    size_t used = 0;
    ken_buf one;
    ken_buf_init(&one, 0);
    ken_status st = KEN_OK;
    for (size_t i = 0; i < n_src && i < KEN_GROUND_SOURCES_MAX && st == KEN_OK; i++) {
        ken_buf_reset(&one);
        st = source_header(&one, p->n_sources, &src[i]);
        if (st != KEN_OK) break;
        size_t head = count(c, one.data, one.len) + 1;
        size_t len = src[i].text_len;
        size_t tok = head + count(c, src[i].text, len);
        if (budget && used + tok > budget) {
            /* Cut this source to what is left, shrinking until it fits. */
            size_t full = tok - head ? tok - head : 1;
            if (used + head + KEN_MIN((size_t)SOURCE_TOKENS_MIN, full / 2) > budget) break;
            size_t left = budget - used - head;
            len = cut_at(src[i].text, src[i].text_len, (size_t)((double)len * left / full));
            for (int tries = 0; tries < 12 && len > 0; tries++) {
                tok = head + count(c, src[i].text, len);
                if (used + tok <= budget) break;
                len = cut_at(src[i].text, len, len * 9 / 10);
            }
            if (len == 0 || used + tok > budget) break;
        }
        st = ken_buf_append(&one, src[i].text, len);
        if (st == KEN_OK) st = ken_buf_puts(&one, "\n\n");
        if (st == KEN_OK) st = ken_buf_append(b, one.data, one.len);
        if (st != KEN_OK) break;
        p->used_len[p->n_sources++] = len;
        used += tok;
        if (len < src[i].text_len) break;   /* the budget is spent */
    }
    ken_buf_free(&one);
    p->tokens += used;
    return st;
}

typedef struct {
    const ken_json *msg[HISTORY_MESSAGES_MAX];
    size_t n;
} history;

/* Reads the earlier turns; only user and assistant messages with string
 * content are kept (a system message there would override ours). */
static ken_status read_history(const ken_json *root, history *h, ken_err *err) {
    h->n = 0;
    if (!root || root->type != KEN_JSON_ARRAY)
        return ken_err_set(err, KEN_ERR_FORMAT, "history: expected a JSON array of messages");
    size_t first = root->n > HISTORY_MESSAGES_MAX ? root->n - HISTORY_MESSAGES_MAX : 0;
    for (size_t i = first; i < root->n; i++) {
        const ken_json *m = &root->kids[i];
        const char *role = ken_json_str(ken_json_get(m, "role"));
        const char *content = ken_json_str(ken_json_get(m, "content"));
        if (!role || !content)
            return ken_err_set(err, KEN_ERR_FORMAT,
                               "history: message %zu needs string role and content", i);
        if (strcmp(role, "user") && strcmp(role, "assistant")) continue;
        h->msg[h->n++] = m;
    }
    return KEN_OK;
}

/* How many of the newest history messages fit budget (starting with a user
 * message, so a turn is never kept half). */
static size_t history_fit(const history *h, const counter *c, size_t budget, size_t *tokens) {
    size_t used = 0, keep = 0;
    for (size_t i = h->n; i > 0; i--) {
        const ken_json *m = h->msg[i - 1];
        const ken_json *ct = ken_json_get(m, "content");
        size_t t = count(c, ct->str, ct->len) + MESSAGE_OVERHEAD_TOKENS;
        if (budget && used + t > budget) break;
        used += t;
        keep++;
    }
    while (keep && strcmp(ken_json_str(ken_json_get(h->msg[h->n - keep], "role")), "user")) {
        const ken_json *ct = ken_json_get(h->msg[h->n - keep], "content");
        used -= count(c, ct->str, ct->len) + MESSAGE_OVERHEAD_TOKENS;
        keep--;
    }
    *tokens = used;
    return keep;
}

static void put_message(ken_jw *w, const char *role, const char *content, size_t len) {
    ken_jw_obj_begin(w);
    ken_jw_key(w, "role");
    ken_jw_str(w, role);
    ken_jw_key(w, "content");
    ken_jw_strn(w, content, len);
    ken_jw_obj_end(w);
}

/* The parts before and after the sources in the user message. */
#define USER_HEAD "Sources:\n\n"
#define USER_NONE "Sources: none were found.\n\n"
#define USER_Q "Question: "

ken_status ken_ground_build_prompt(const ken_ground_source *src, size_t n_src,
                                   const ken_ground_prompt_opts *o, ken_ground_prompt *out,
                                   ken_err *err) {
    memset(out, 0, sizeof *out);
    if (!o || !o->question) return ken_err_set(err, KEN_ERR_INVALID, "prompt: no question");
    counter c = {o->count ? o->count : count_default, o->count ? o->count_ud : NULL};
    const char *sys = o->system ? o->system : default_system;
    size_t qlen = strlen(o->question);
    size_t fixed = count(&c, sys, strlen(sys)) + count(&c, o->question, qlen) +
                   count(&c, USER_HEAD USER_Q, strlen(USER_HEAD USER_Q)) +
                   2 * MESSAGE_OVERHEAD_TOKENS;
    size_t budget = o->budget_tokens;
    if (budget && fixed > budget)
        return ken_err_set(err, KEN_ERR_LIMIT,
                           "prompt: the instruction and question need %zu tokens, "
                           "more than the budget of %zu", fixed, budget);
    ken_json_doc *hdoc = NULL;
    history h = {.n = 0};
    ken_status st = KEN_OK;
    if (o->history_json) {
        st = ken_json_parse(o->history_json, strlen(o->history_json), NULL, &hdoc, NULL, err);
        if (st == KEN_OK) st = read_history(ken_json_root(hdoc), &h, err);
        if (st != KEN_OK) goto out;
    }
    /* History gets at most a third of what the sources could use. */
    size_t left = budget ? budget - fixed : 0;
    size_t htok = 0;
    out->n_history = history_fit(&h, &c, budget ? left / 3 : 0, &htok);
    out->n_history_dropped = h.n - out->n_history;
    out->tokens = fixed + htok;
    if (!(out->used_len = calloc(n_src ? n_src : 1, sizeof *out->used_len))) {
        st = ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
        goto out;
    }
    ken_buf user;
    ken_buf_init(&user, 0);
    st = ken_buf_puts(&user, USER_HEAD);
    if (st == KEN_OK) st = add_sources(src, n_src, &c, budget ? left - htok : 0, &user, out);
    if (st == KEN_OK && out->n_sources == 0) {
        ken_buf_reset(&user);
        st = ken_buf_puts(&user, USER_NONE);
    }
    if (st == KEN_OK) st = ken_buf_printf(&user, USER_Q "%s", o->question);
    ken_buf mb;
    ken_buf_init(&mb, 0);
    ken_jw w;
    ken_jw_init(&w, &mb, 0);
    ken_jw_arr_begin(&w);
    put_message(&w, "system", sys, strlen(sys));
    for (size_t i = h.n - out->n_history; i < h.n; i++) {
        const ken_json *ct = ken_json_get(h.msg[i], "content");
        put_message(&w, ken_json_str(ken_json_get(h.msg[i], "role")), ct->str, ct->len);
    }
    if (st == KEN_OK) put_message(&w, "user", user.data, user.len);
    ken_jw_arr_end(&w);
    if (st == KEN_OK) st = ken_jw_status(&w);
    if (st == KEN_OK) out->messages_json = ken_buf_take(&mb, NULL);
    else ken_err_set(err, st, "prompt: out of memory");
    ken_buf_free(&mb);
    ken_buf_free(&user);
out:
    ken_json_free(hdoc);
    if (st != KEN_OK) ken_ground_prompt_free(out);
    return st;
}

void ken_ground_prompt_free(ken_ground_prompt *p) {
    if (!p) return;
    free(p->messages_json);
    free(p->used_len);
    memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------ citations */

typedef struct {
    ken_ground_cite *v;
    size_t n, cap;
} citelist;

static ken_status cite_add(citelist *l, size_t s, size_t e, int n) {
    if (l->n >= CITES_MAX) return KEN_ERR_LIMIT;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        ken_ground_cite *v = realloc(l->v, cap * sizeof *v);
        if (!v) return KEN_ERR_NOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (ken_ground_cite){s, e, n};
    return KEN_OK;
}

/* Reads a number of 1-3 digits at t[*i]; -1 if there is none. */
static int read_num(const char *t, size_t n, size_t *i) {
    size_t s = *i;
    int v = 0;
    while (*i < n && isdigit((unsigned char)t[*i]) && *i - s < 4) v = v * 10 + (t[(*i)++] - '0');
    if (*i == s || *i - s > 3) return -1;
    return v;
}

static void skip_sp(const char *t, size_t n, size_t *i) {
    while (*i < n && t[*i] == ' ') (*i)++;
}

/* Parses a marker starting at t[s] == '['; returns its end (after ']') and
 * the numbers, or 0 when it is not a citation. */
static size_t parse_marker(const char *t, size_t n, size_t s, int *nums, size_t *n_nums) {
    size_t i = s + 1;
    *n_nums = 0;
    for (;;) {
        skip_sp(t, n, &i);
        int a = read_num(t, n, &i);
        if (a < 0) return 0;
        int b = a;
        skip_sp(t, n, &i);
        if (i < n && (t[i] == '-' || (unsigned char)t[i] == 0xE2)) {   /* "-" or an en dash */
            if (t[i] == '-') i++;
            else if (i + 2 < n && (unsigned char)t[i + 1] == 0x80 && (unsigned char)t[i + 2] == 0x93)
                i += 3;
            else return 0;
            skip_sp(t, n, &i);
            if ((b = read_num(t, n, &i)) < a || b - a > 20) return 0;
            skip_sp(t, n, &i);
        }
        for (int v = a; v <= b && *n_nums < 32; v++) nums[(*n_nums)++] = v;
        if (i < n && t[i] == ']') break;
        if (i < n && (t[i] == ',' || t[i] == ';')) { i++; continue; }
        return 0;
    }
    i++;
    if (i < n && t[i] == '(') return 0;   /* a markdown link [1](url) */
    return i;
}

ken_status ken_ground_parse_cites(const char *t, size_t n, ken_ground_cite **out,
                                  size_t *n_out) {
    citelist l = {0};
    ken_status st = KEN_OK;
    bool fence = false, code = false;
    for (size_t i = 0; i < n && st == KEN_OK; i++) {
        if (t[i] == '`') {
            size_t j = i;
            while (j < n && t[j] == '`') j++;
            bool line_start = i == 0 || t[i - 1] == '\n';
            if (j - i >= 3 && line_start) fence = !fence;
            else if (!fence) code = !code;
            i = j - 1;
            continue;
        }
        if (t[i] == '\n' && code && i + 1 < n && t[i + 1] == '\n') code = false;  /* unclosed ` */
        if (fence || code || t[i] != '[') continue;
        int nums[32];
        size_t k;
        size_t e = parse_marker(t, n, i, nums, &k);
        if (!e) continue;
        for (size_t j = 0; j < k && st == KEN_OK; j++) st = cite_add(&l, i, e, nums[j]);
        i = e - 1;
    }
    if (st != KEN_OK) {
        free(l.v);
        l.v = NULL;
        l.n = 0;
    }
    *out = l.v;
    *n_out = l.n;
    return st;
}

/* ------------------------------------------------------------ check */

static const char *const unsure_phrases[] = {
    "i don't know", "i do not know", "i dont know", "not sure", "i'm unsure", "i am unsure",
    "cannot answer", "can't answer", "unable to answer", "no information about",
    "no information on", "do not contain", "does not contain", "don't contain",
    "doesn't contain", "do not mention", "does not mention", "doesn't mention",
    "not mentioned in", "no relevant information", "not enough information",
    "cannot be determined", "i cannot find", "i can't find", "could not find",
};

bool ken_ground_unsure(const char *text, size_t len) {
    /* Lower-case copy with curly apostrophes made straight. */
    size_t cap = KEN_MIN(len, (size_t)1 << 16);
    char *l = malloc(cap + 1);
    if (!l) return false;
    size_t n = 0;
    for (size_t i = 0; i < cap; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == 0xE2 && i + 2 < cap && (unsigned char)text[i + 1] == 0x80 &&
            (unsigned char)text[i + 2] == 0x99) {
            l[n++] = '\'';
            i += 2;
            continue;
        }
        l[n++] = (char)tolower(c);
    }
    l[n] = '\0';
    bool hit = false;
    for (size_t i = 0; i < KEN_ARRAY_LEN(unsure_phrases) && !hit; i++)
        hit = strstr(l, unsure_phrases[i]) != NULL;
    free(l);
    return hit;
}

/* Which sentence a marker at [s, e) belongs to: the one containing it, else
 * the one before it (markers after the full stop), else the first. */
static size_t owner(const ken_retrieve_span *sp, size_t n, size_t s) {
    size_t lo = 0, hi = n;   /* the last span starting at or before s (binary search) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (sp[mid].start <= s) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* Scores sentence x against the sources; sets support, best and flags. */
static ken_status score_sentence(ken_ground_sentence *x,
                                 const char *masked, const stemset *srcs, size_t n_src,
                                 double min_support) {
    stemset ss;
    ken_status st = stems_of(masked + x->start, x->end - x->start, &ss);
    if (st != KEN_OK) return st;
    x->n_terms = ss.n;
    /* "I don't know" and the like make no claim to check. */
    x->claim = ss.n >= KEN_GROUND_CLAIM_TERMS_MIN &&
               !ken_ground_unsure(masked + x->start, x->end - x->start);
    size_t supported = 0;
    bool any_valid = false, any_invalid = false;
    for (size_t i = 0; i < x->n_cites; i++) {
        if (x->cites[i] >= 1 && (size_t)x->cites[i] <= n_src) any_valid = true;
        else any_invalid = true;
    }
    for (size_t t = 0; t < ss.n; t++) {
        for (size_t i = 0; i < x->n_cites; i++) {
            int c = x->cites[i];
            if (c >= 1 && (size_t)c <= n_src && stems_has(&srcs[c - 1], ss.v[t])) {
                supported++;
                break;
            }
        }
    }
    x->support = ss.n ? (double)supported / (double)ss.n : 0;
    for (size_t j = 0; j < n_src && ss.n; j++) {
        double b = (double)stems_common(&ss, &srcs[j]) / (double)ss.n;
        if (b > x->best_support) { x->best_support = b; x->best_source = (int)j + 1; }
    }
    if (any_invalid) x->flags |= KEN_GROUND_INVALID;
    if (x->claim && x->n_cites == 0) x->flags |= KEN_GROUND_UNCITED;
    if (x->claim && any_valid && x->support < min_support) x->flags |= KEN_GROUND_WEAK;
    if (x->claim && !any_valid && x->n_cites) x->flags |= KEN_GROUND_WEAK;
    free(ss.v);
    return KEN_OK;
}

/* Splits the answer (markers blanked) into sentences and gives each its
 * citations. */
static ken_status split(const char *masked, size_t len, const ken_ground_cite *cv, size_t nc,
                        ken_ground_check *c) {
    ken_retrieve_span *sp = NULL;
    size_t ns = 0;
    ken_status st = ken_retrieve_sentences(masked, len, &sp, &ns);
    if (st != KEN_OK) return st;
    if (ns && !(c->sent = calloc(ns, sizeof *c->sent))) {
        free(sp);
        return KEN_ERR_NOMEM;
    }
    c->n_sent = ns;
    for (size_t i = 0; i < ns; i++) {
        c->sent[i].start = sp[i].start;
        c->sent[i].end = sp[i].end;
    }
    for (size_t k = 0; k < nc && ns; k++) {
        ken_ground_sentence *x = &c->sent[owner(sp, ns, cv[k].start)];
        if (cv[k].end > x->end) x->end = cv[k].end;         /* "... blue. [1]" */
        if (cv[k].start < x->start) x->start = cv[k].start; /* a leading marker */
        bool seen = false;
        for (size_t j = 0; j < x->n_cites && !seen; j++) seen = x->cites[j] == cv[k].n;
        if (!seen && x->n_cites < KEN_GROUND_CITES_PER_SENT) x->cites[x->n_cites++] = cv[k].n;
    }
    free(sp);
    return KEN_OK;
}

ken_status ken_ground_verify(const char *answer, size_t len, const ken_ground_source *src,
                             size_t n_src, double min_support, ken_ground_check *out,
                             ken_err *err) {
    memset(out, 0, sizeof *out);
    if (len > KEN_GROUND_ANSWER_BYTES_MAX)
        return ken_err_set(err, KEN_ERR_LIMIT, "answer: %zu bytes, at most %u are checked",
                           len, KEN_GROUND_ANSWER_BYTES_MAX);
    if (min_support <= 0) min_support = KEN_GROUND_MIN_SUPPORT_DEFAULT;
    n_src = KEN_MIN(n_src, (size_t)KEN_GROUND_SOURCES_MAX);
    stemset srcs[KEN_GROUND_SOURCES_MAX];
    memset(srcs, 0, sizeof srcs);
    char *masked = malloc(len + 1);
    ken_status st = masked ? KEN_OK : KEN_ERR_NOMEM;
    if (st == KEN_OK) st = ken_ground_parse_cites(answer, len, &out->cites, &out->n_cites);
    if (st == KEN_OK) {
        memcpy(masked, answer, len);
        masked[len] = '\0';
        for (size_t k = 0; k < out->n_cites; k++) {
            memset(masked + out->cites[k].start, ' ', out->cites[k].end - out->cites[k].start);
            if (out->cites[k].n >= 1 && (size_t)out->cites[k].n <= n_src) out->n_valid++;
            else out->n_invalid++;
        }
        st = split(masked, len, out->cites, out->n_cites, out);
    }
    for (size_t j = 0; j < n_src && st == KEN_OK; j++)
        st = stems_of(src[j].text, src[j].text_len, &srcs[j]);
    double sum = 0;
    for (size_t i = 0; i < out->n_sent && st == KEN_OK; i++) {
        ken_ground_sentence *x = &out->sent[i];
        st = score_sentence(x, masked, srcs, n_src, min_support);
        if (st != KEN_OK) break;
        if (x->claim) { out->n_claims++; sum += x->support; }
        if (x->flags) out->n_flagged++;
    }
    for (size_t j = 0; j < n_src; j++) free(srcs[j].v);
    free(masked);
    if (st != KEN_OK) {
        ken_ground_check_free(out);
        if (st == KEN_ERR_LIMIT)
            return ken_err_set(err, st, "checking the answer: over %d citations", CITES_MAX);
        return ken_err_set(err, st, "checking the answer: out of memory");
    }
    out->support = out->n_claims ? sum / (double)out->n_claims : 0;
    out->grounded = out->n_valid > 0;
    out->unsure = ken_ground_unsure(answer, len);
    return KEN_OK;
}

void ken_ground_check_free(ken_ground_check *c) {
    if (!c) return;
    free(c->sent);
    free(c->cites);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------ rewrite */

static const char *const refer_words[] = {
    "it", "its", "they", "them", "their", "theirs", "this", "that", "these", "those",
    "he", "she", "him", "her", "his", "hers", "there", "such", "same",
};

typedef struct {
    ken_buf *out;          /* NULL: only count */
    const stemset *have;   /* words already in the query */
    size_t n_content;
    bool refers;
    ken_status st;
} rw_ctx;

static int on_rw_term(void *ud, const char *t, size_t n, size_t start, size_t end) {
    rw_ctx *c = ud;
    (void)start; (void)end;
    for (size_t i = 0; i < KEN_ARRAY_LEN(refer_words); i++)
        if (strlen(refer_words[i]) == n && memcmp(refer_words[i], t, n) == 0) c->refers = true;
    if (ken_retrieve_stopword(t, n)) return 0;
    c->n_content++;
    if (!c->out) return 0;
    char st[KEN_RETRIEVE_TERM_BYTES_MAX + 1];
    size_t sn = ken_retrieve_stem(t, n, st);
    if (c->have && stems_has(c->have, ken_hash64(st, sn))) return 0;
    c->st = ken_buf_putc(c->out, ' ');
    if (c->st == KEN_OK) c->st = ken_buf_append(c->out, t, n);
    return c->st != KEN_OK;
}

ken_status ken_ground_rewrite(const char *question, const char *const *earlier,
                              size_t n_earlier, char **out) {
    *out = NULL;
    size_t qlen = strlen(question);
    rw_ctx c = {.st = KEN_OK};
    ken_retrieve_terms(question, qlen, on_rw_term, &c);
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_status st = ken_buf_append(&b, question, qlen);
    bool follow = c.refers || c.n_content < KEN_GROUND_CLAIM_TERMS_MIN;
    size_t have_content = c.n_content;
    for (size_t k = 0; follow && k < 2 && k < n_earlier && st == KEN_OK; k++) {
        const char *e = earlier[n_earlier - 1 - k];
        if (!e) continue;
        stemset have;
        if ((st = stems_of(b.data, b.len, &have)) != KEN_OK) { free(have.v); break; }
        rw_ctx a = {.out = &b, .have = &have, .st = KEN_OK};
        ken_retrieve_terms(e, strlen(e), on_rw_term, &a);
        free(have.v);
        st = a.st;
        have_content += a.n_content;
        if (have_content >= KEN_GROUND_CLAIM_TERMS_MIN) break;   /* enough to search */
    }
    if (st != KEN_OK) {
        ken_buf_free(&b);
        return st;
    }
    *out = b.data ? ken_buf_take(&b, NULL) : ken_strdup("");
    return *out ? KEN_OK : KEN_ERR_NOMEM;
}
