/* sentence.c: splits text into sentences with byte spans, for extractive
 * answers. A sentence ends at . ! or ? (plus closing quotes/brackets) when
 * white space and then an upper-case letter, digit, quote, bracket or the end
 * follow, unless the word before the stop is a known abbreviation or an
 * initial; a blank line, a heading or list line and a table row always end
 * one. Spans exclude surrounding white space, so text[start..end) is exactly
 * the sentence that gets cited. Over-long sentences are cut between words. */
#include "retrieve/retrieve.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define SENTENCE_BYTES_MAX 800
#define SENTENCES_MAX 100000

static const char *const abbrevs[] = {
    "al", "approx", "ca", "cf", "co", "corp", "dept", "dr", "e.g", "eg", "esp", "est", "etc",
    "fig", "figs", "gen", "i.e", "ie", "inc", "jr", "ltd", "mr", "mrs", "ms", "mt", "no",
    "nos", "p", "pp", "prof", "rev", "sec", "sgt", "sr", "st", "vol", "vs", "u.s", "u.k",
};

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Is the word ending just before text[dot] an abbreviation or an initial? */
static bool abbrev_before(const char *t, size_t dot) {
    size_t s = dot;
    while (s > 0 && !is_space(t[s - 1]) && t[s - 1] != '(' && t[s - 1] != '"') s--;
    size_t n = dot - s;
    if (n == 0) return false;
    if (n == 1 && isupper((unsigned char)t[s])) return true;   /* "J. Smith" */
    if (n > 6) return false;
    char w[8];
    for (size_t i = 0; i < n; i++) w[i] = (char)tolower((unsigned char)t[s + i]);
    w[n] = '\0';
    for (size_t i = 0; i < KEN_ARRAY_LEN(abbrevs); i++)
        if (strcmp(w, abbrevs[i]) == 0) return true;
    return false;
}

/* Can a sentence start at t[i] (first non-space after a stop)? */
static bool starter(const char *t, size_t n, size_t i) {
    if (i >= n) return true;
    unsigned char c = (unsigned char)t[i];
    if (isupper(c) || isdigit(c) || c == '"' || c == '(' || c == '[' || c == '\'' || c >= 0x80)
        return true;   /* non-ASCII: a capital letter or a quote mark, most often */
    return false;
}

/* Does the line at t[i] start a block (heading, list item, table row, quote)? */
static bool block_line(const char *t, size_t n, size_t i) {
    while (i < n && (t[i] == ' ' || t[i] == '\t')) i++;
    if (i >= n) return false;
    char c = t[i];
    if (c == '#' || c == '|' || c == '>') return true;
    if ((c == '-' || c == '*' || c == '+') && i + 1 < n && t[i + 1] == ' ') return true;
    size_t j = i;
    while (j < n && isdigit((unsigned char)t[j])) j++;
    return j > i && j + 1 < n && (t[j] == '.' || t[j] == ')') && t[j + 1] == ' ';
}

typedef struct {
    ken_retrieve_span *v;
    size_t n, cap;
} spans;

static bool has_word(const char *t, size_t s, size_t e) {
    for (size_t i = s; i < e; i++)
        if (isalnum((unsigned char)t[i]) || (unsigned char)t[i] >= 0x80) return true;
    return false;
}

/* Adds [s, e) trimmed, cut into pieces of at most SENTENCE_BYTES_MAX bytes. */
static ken_status emit(spans *sp, const char *t, size_t s, size_t e) {
    while (s < e) {
        while (s < e && is_space(t[s])) s++;
        while (e > s && is_space(t[e - 1])) e--;
        if (s >= e) return KEN_OK;
        size_t piece = e;
        if (e - s > SENTENCE_BYTES_MAX) {
            piece = s + SENTENCE_BYTES_MAX;
            while (piece > s + SENTENCE_BYTES_MAX / 2 && !is_space(t[piece])) piece--;
            if (!is_space(t[piece])) {   /* no space: cut at a UTF-8 boundary */
                piece = s + SENTENCE_BYTES_MAX;
                while (piece > s && ((unsigned char)t[piece] & 0xC0) == 0x80) piece--;
            }
        }
        size_t pe = piece;
        while (pe > s && is_space(t[pe - 1])) pe--;
        if (has_word(t, s, pe)) {
            if (sp->n >= SENTENCES_MAX) return KEN_ERR_LIMIT;
            if (sp->n == sp->cap) {
                size_t cap = sp->cap ? sp->cap * 2 : 32;
                ken_retrieve_span *v = realloc(sp->v, cap * sizeof *v);
                if (!v) return KEN_ERR_NOMEM;
                sp->v = v;
                sp->cap = cap;
            }
            sp->v[sp->n++] = (ken_retrieve_span){s, pe};
        }
        s = piece;
    }
    return KEN_OK;
}

ken_status ken_retrieve_sentences(const char *t, size_t n, ken_retrieve_span **out,
                                  size_t *n_out) {
    spans sp = {0};
    ken_status st = KEN_OK;
    size_t start = 0;
    for (size_t i = 0; i < n && st == KEN_OK; i++) {
        char c = t[i];
        if (c == '\n') {
            size_t j = i + 1;
            while (j < n && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r')) j++;
            bool blank = j < n && t[j] == '\n';
            /* A heading or table row ends at its own line end too. */
            if (blank || block_line(t, n, i + 1) || block_line(t, n, start)) {
                st = emit(&sp, t, start, i);
                start = i + 1;
            }
            continue;
        }
        if (c != '.' && c != '!' && c != '?') continue;
        size_t e = i + 1;
        while (e < n && (t[e] == '.' || t[e] == '!' || t[e] == '?')) e++;
        while (e < n && (t[e] == '"' || t[e] == '\'' || t[e] == ')' || t[e] == ']')) e++;
        if (e + 2 < n && (unsigned char)t[e] == 0xE2 && (unsigned char)t[e + 1] == 0x80 &&
            ((unsigned char)t[e + 2] == 0x9D || (unsigned char)t[e + 2] == 0x99))
            e += 3;   /* closing curly quote */
        if (e < n && !is_space(t[e])) continue;        /* "3.14", "e.g.x" */
        size_t next = e;
        while (next < n && is_space(t[next])) next++;
        if (!starter(t, n, next)) continue;
        if (c == '.' && e == i + 1 && abbrev_before(t, i)) continue;
        st = emit(&sp, t, start, e);
        start = e;
        i = e - 1;
    }
    if (st == KEN_OK) st = emit(&sp, t, start, n);
    if (st != KEN_OK) {
        free(sp.v);
        *out = NULL;
        *n_out = 0;
        return st;
    }
    *out = sp.v;
    *n_out = sp.n;
    return KEN_OK;
}
