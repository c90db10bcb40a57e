/* tokenize.c: the top of llama.cpp's tokenizer: special-token partition
 * (tokenizer_st_partition), per-type assembly (BOS/EOS, SentencePiece's
 * space prefix and escaping, [CLS] ... [SEP], Unigram per fragment),
 * pieces and detokenization (including llama.cpp's clean-up of spaces
 * before punctuation). */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct { int32_t tok; uint32_t off, len; } frag;   /* tok < 0: raw text */
typedef struct { frag *v; size_t n, cap; } frags;

static ken_status frags_push(frags *f, frag x) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        frag *p = realloc(f->v, cap * sizeof *p);
        if (!p) return KEN_ERR_NOMEM;
        f->v = p, f->cap = cap;
    }
    f->v[f->n++] = x;
    return KEN_OK;
}

static bool c_isspace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Which special tokens occur in text at all (the partition below only has
 * to run for those). */
static ken_status screen_specials(const ken_vocab *v, const char *t, size_t n, bool *present) {
    const unsigned char *u = (const unsigned char *)t;
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned b = (unsigned)u[i] << 8 | u[i + 1];
        for (int32_t k = v->special_first2[b]; k < v->special_first2[b + 1]; k++) {
            int32_t si = v->special_by2[k];
            if (present[si]) continue;
            size_t len;
            const char *s = tok_text(v, v->special_ids[si], &len);
            if (i + len <= n && memcmp(t + i, s, len) == 0) present[si] = true;
        }
    }
    for (int32_t k = v->special_first2[65536]; k < v->special_first2[65537]; k++) {
        int32_t si = v->special_by2[k];
        size_t len;
        const char *s = tok_text(v, v->special_ids[si], &len);
        if (len == 1 && memchr(t, s[0], n)) present[si] = true;
    }
    return KEN_OK;
}

/* Cuts every occurrence of special token id out of the raw fragments, left
 * to right, with llama.cpp's lstrip/rstrip of the neighbouring spaces. */
static ken_status cut_token(const ken_vocab *v, const char *t, int32_t id, frags *in, frags *out) {
    size_t L;
    const char *s = tok_text(v, id, &L);
    uint16_t attr = v->attrs[id];
    ken_status st = KEN_OK;
    out->n = 0;
    for (size_t f = 0; f < in->n && st == KEN_OK; f++) {
        frag x = in->v[f];
        if (x.tok >= 0) { st = frags_push(out, x); continue; }
        size_t base = x.off, blen = x.len;
        while (st == KEN_OK) {
            const char *m = memmem(t + base, blen, s, L);
            if (!m) {
                if (blen) st = frags_push(out, (frag){ -1, (uint32_t)base, (uint32_t)blen });
                break;
            }
            size_t mo = (size_t)(m - t), left = mo - base;
            if (attr & TOK_ATTR_LSTRIP)
                while (left > 0 && c_isspace(t[base + left - 1])) left--;
            if (left) st = frags_push(out, (frag){ -1, (uint32_t)base, (uint32_t)left });
            if (st == KEN_OK) st = frags_push(out, (frag){ id, 0, 0 });
            size_t roff = mo + L, rlen = base + blen - roff;
            if (attr & TOK_ATTR_RSTRIP)
                while (rlen > 0 && c_isspace(t[roff])) roff++, rlen--;
            base = roff, blen = rlen;
            if (!blen) break;
        }
    }
    return st;
}

static ken_status partition(const ken_vocab *v, const char *t, size_t n, bool parse_special,
                            frags *out) {
    frags tmp = { 0 };
    out->n = 0;
    if (n == 0) return KEN_OK;
    ken_status st = frags_push(out, (frag){ -1, 0, (uint32_t)n });
    bool *present = v->n_special ? calloc(v->n_special, 1) : NULL;
    if (v->n_special && !present) st = KEN_ERR_NOMEM;
    if (st == KEN_OK && present) st = screen_specials(v, t, n, present);
    for (size_t si = 0; si < v->n_special && st == KEN_OK; si++) {
        int32_t id = v->special_ids[si];
        if (!present[si]) continue;
        if (!parse_special && (v->attrs[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) continue;
        st = cut_token(v, t, id, out, &tmp);
        frags sw = *out;
        *out = tmp, tmp = sw;
    }
    free(present), free(tmp.v);
    return st;
}

/* text with spaces escaped as U+2581 (and one in front if prefix) into buf. */
static ken_status escape_spaces(const char *t, size_t n, bool prefix, tok_str *buf) {
    ken_status st = KEN_OK;
    buf->n = 0;
    if (prefix) st = tok_str_append(buf, "\xe2\x96\x81", 3);
    for (size_t i = 0; i < n && st == KEN_OK;) {
        const char *sp = memchr(t + i, ' ', n - i);
        size_t e = sp ? (size_t)(sp - t) : n;
        st = tok_str_append(buf, t + i, e - i);
        if (st == KEN_OK && sp) st = tok_str_append(buf, "\xe2\x96\x81", 3);
        i = sp ? e + 1 : n;
    }
    return st;
}

/* SentencePiece: optional leading space, spaces escaped as U+2581. */
static ken_status spm_fragment(const ken_vocab *v, const char *t, size_t n, bool prefix,
                               tok_str *buf, tok_ids *out) {
    ken_status st = escape_spaces(t, n, prefix, buf);
    if (st == KEN_OK) st = tok_spm_encode(v, buf->p ? buf->p : "", buf->n, out);
    return st;
}

/* The "whitespace" tokenizer model: white space separates pieces that are
 * tokenized one by one (lower-cased when the normalizer says so). */
static ken_status ws_fragment(const ken_vocab *v, const char *t, size_t n, tok_ids *out) {
    tok_str seg = { 0 };
    ken_status st = KEN_OK;
    for (size_t i = 0; i <= n && st == KEN_OK;) {
        uint32_t cp = i < n ? tok_utf8_next(t, n, &i) : (i++, ' ');
        if (tok_cpt_flags(cp) & TOK_CF_SPACE) {
            if (seg.n) st = tok_bpe_encode(v, seg.p, seg.n, out);
            seg.n = 0;
            continue;
        }
        char u[4];
        st = tok_str_append(&seg, u, (size_t)tok_utf8_put(v->wpm_lowercase ? tok_cpt_tolower(cp) : cp, u));
    }
    free(seg.p);
    return st;
}

ken_status tok_bpe_fragment(const ken_vocab *v, const char *t, size_t n, tok_ids *out) {
    tok_str buf = { 0 };
    ken_status st = KEN_OK;
    if (v->escape_whitespaces) {
        if ((st = escape_spaces(t, n, false, &buf)) != KEN_OK) goto out;
        t = buf.p ? buf.p : "", n = buf.n;
    }
    st = v->ws_model ? ws_fragment(v, t, n, out) : tok_bpe_encode(v, t, n, out);
out:
    free(buf.p);
    return st;
}

static ken_status assemble(const ken_vocab *v, const char *t, const frags *fr, bool add_special,
                           tok_ids *out) {
    tok_str buf = { 0 };
    ken_status st = KEN_OK;
    bool bos = add_special && (v->type == KEN_TOK_WPM || v->add_bos);
    if (bos && v->sp.bos < 0) return KEN_ERR_INVALID;
    if (bos) st = tok_ids_push(out, v->sp.bos);
    bool prev_special = true;
    for (size_t f = 0; f < fr->n && st == KEN_OK; f++) {
        frag x = fr->v[f];
        if (x.tok >= 0) {
            st = tok_ids_push(out, x.tok);
            prev_special = true;
            continue;
        }
        if (v->type == KEN_TOK_SPM)
            st = spm_fragment(v, t + x.off, x.len, v->add_space_prefix && prev_special, &buf, out);
        else if (v->type == KEN_TOK_BPE)
            st = tok_bpe_fragment(v, t + x.off, x.len, out);
        else if (v->type == KEN_TOK_UGM)
            st = tok_ugm_encode(v, t + x.off, x.len, out);
        else
            st = tok_wpm_encode(v, t + x.off, x.len, out);
        prev_special = false;
    }
    if (st == KEN_OK && add_special) {
        if (v->type == KEN_TOK_WPM) {
            st = v->sp.sep >= 0 ? tok_ids_push(out, v->sp.sep) : KEN_ERR_INVALID;
        } else if (v->add_eos) {
            st = tok_ids_push(out, v->sp.eos);
        }
    }
    free(buf.p);
    return st;
}

ken_status ken_tok_tokenize(const ken_vocab *v, const char *text, size_t len, bool add_special,
                            bool parse_special, int32_t **ids, size_t *n, ken_err *err) {
    *ids = NULL, *n = 0;
    if (len > TOK_TEXT_MAX)
        return ken_err_set(err, KEN_ERR_LIMIT, "tokenize: text of %zu bytes exceeds the %zu limit",
                           len, TOK_TEXT_MAX);
    if (!text && len) return ken_err_set(err, KEN_ERR_INVALID, "tokenize: NULL text");
    frags fr = { 0 };
    tok_ids out = { 0 };
    ken_status st = partition(v, text, len, parse_special, &fr);
    if (st == KEN_OK) st = assemble(v, text, &fr, add_special, &out);
    free(fr.v);
    if (st != KEN_OK) {
        free(out.v);
        return ken_err_set(err, st, "tokenize: %s", st == KEN_ERR_INVALID
                           ? "the vocab has no BOS/SEP token to add"
                           : st == KEN_ERR_FORMAT
                           ? "the vocab's precompiled charsmap indexes out of its bounds"
                           : ken_status_str(st));
    }
    if (out.n == 0) free(out.v), out.v = NULL;
    *ids = out.v, *n = out.n;
    return KEN_OK;
}

/* ------------------------------------------------------------ pieces */

/* BPE vocab text -> bytes (llama.cpp's llama_decode_text). */
static ken_status decode_bpe_text(const char *t, size_t n, tok_str *out) {
    ken_status st = KEN_OK;
    for (size_t i = 0; i < n && st == KEN_OK;) {
        uint32_t cp = tok_utf8_next(t, n, &i);
        int b = tok_cpt_to_byte(cp);
        if (b >= 0) {
            char c = (char)b;
            st = tok_str_append(out, &c, 1);
            continue;
        }
        char u[4], hex[16];
        int nu = tok_utf8_put(cp, u);
        st = tok_str_append(out, "[UNK_BYTE_0x", 12);
        for (int k = 0; k < nu && st == KEN_OK; k++) {
            snprintf(hex, sizeof hex, "%02x", (unsigned char)u[k]);
            st = tok_str_append(out, hex, 2);
        }
        if (st == KEN_OK) st = tok_str_append(out, t, n);
        if (st == KEN_OK) st = tok_str_append(out, "]", 1);
    }
    return st;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static ken_status piece_of(const ken_vocab *v, int32_t id, tok_str *out) {
    size_t n;
    const char *t = tok_text(v, id, &n);
    uint16_t a = v->attrs[id];
    if (a & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED))
        return tok_str_append(out, t, n);
    if (a & TOK_ATTR_NORMAL) {
        if (v->type == KEN_TOK_BPE && !v->escape_whitespaces) return decode_bpe_text(t, n, out);
        ken_status st = KEN_OK;
        for (size_t i = 0; i < n && st == KEN_OK; i++) {
            if (i + 3 <= n && !memcmp(t + i, "\xe2\x96\x81", 3)) {
                st = tok_str_append(out, " ", 1);
                i += 2;
            } else {
                st = tok_str_append(out, t + i, 1);
            }
        }
        return st;
    }
    if (a & TOK_ATTR_BYTE) {
        int hi = n >= 5 ? hexval(t[3]) : -1, lo = n >= 5 ? hexval(t[4]) : -1;
        char c = (char)(hi >= 0 && lo >= 0 ? hi * 16 + lo : hi >= 0 ? hi : 0);
        return tok_str_append(out, &c, 1);
    }
    return KEN_OK;
}

ken_status tok_build_pieces(ken_vocab *v) {
    tok_str arena = { 0 };
    ken_status st = KEN_OK;
    v->piece_off = malloc(((size_t)v->n_tokens + 1) * sizeof *v->piece_off);
    if (!v->piece_off) return KEN_ERR_NOMEM;
    for (int32_t id = 0; id < v->n_tokens && st == KEN_OK; id++) {
        v->piece_off[id] = (uint32_t)arena.n;
        st = piece_of(v, id, &arena);
        if (arena.n > UINT32_MAX / 2) st = KEN_ERR_LIMIT;
    }
    v->piece_off[v->n_tokens] = (uint32_t)arena.n;
    if (st == KEN_OK && !arena.p) st = tok_str_append(&arena, "", 0);
    v->piece_arena = arena.p;
    return st;
}

const char *ken_tok_piece(const ken_vocab *v, int32_t id, bool special, size_t *len) {
    *len = 0;
    if (id < 0 || id >= v->n_tokens) return NULL;
    if (!special && (v->attrs[id] & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL))) return "";
    *len = v->piece_off[id + 1] - v->piece_off[id];
    return v->piece_arena + v->piece_off[id];
}

/* llama.cpp's clean_up_tokenization_spaces passes over the output. */
static size_t clean_spaces(char *t, size_t total) {
    size_t n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) {             /* " ?", " !", " .", " ," */
        char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) n--;
        t[n++] = x;
    }
    total = n, n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) {             /* " ' " -> "'" */
        char x = t[i];
        if (x == '\'' && i + 1 < total && t[i - 1] == ' ' && t[i + 1] == ' ') {
            n--;
            t[++i] = '\0';
        }
        t[n++] = x;
    }
    total = n, n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) {             /* " 's", " 'm", " 're", " 've" */
        char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < total) {
            char x1 = t[i + 1];
            if (x1 == 's' || x1 == 'm') n--;
            else if (i + 2 < total && ((x1 == 'r' && t[i + 2] == 'e') || (x1 == 'v' && t[i + 2] == 'e')))
                n--;
        }
        t[n++] = x;
    }
    return n;
}

ken_status ken_tok_detokenize(const ken_vocab *v, const int32_t *ids, size_t n,
                              bool remove_special, bool unparse_special, char **text,
                              size_t *len, ken_err *err) {
    tok_str out = { 0 };
    ken_status st = tok_str_append(&out, "", 0);
    bool remove_space = v->add_space_prefix;
    *text = NULL, *len = 0;
    if (remove_special && v->add_bos && n > 0 && ids[0] == v->sp.bos) remove_space = false, ids++, n--;
    if (remove_special && v->add_eos && n > 0 && ids[n - 1] == v->sp.eos) n--;
    for (size_t i = 0; i < n && st == KEN_OK; i++) {
        size_t pl;
        const char *p = ken_tok_piece(v, ids[i], unparse_special, &pl);
        if (!p) {
            free(out.p);
            return ken_err_set(err, KEN_ERR_INVALID, "detokenize: token id %d out of range",
                               ids[i]);
        }
        if (remove_space && pl && p[0] == ' ') p++, pl--;
        remove_space = false;
        st = tok_str_append(&out, p, pl);
        if (out.n > TOK_TEXT_MAX) st = KEN_ERR_LIMIT;
    }
    if (st != KEN_OK) {
        free(out.p);
        return ken_err_set(err, st, "detokenize: %s", ken_status_str(st));
    }
    if (v->clean_spaces) out.n = clean_spaces(out.p, out.n), out.p[out.n] = 0;
    *text = out.p, *len = out.n;
    return KEN_OK;
}

uint32_t ken_tok_attr(const ken_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens ? v->attrs[id] : 0;
}

bool ken_tok_is_control(const ken_vocab *v, int32_t id) {
    return (ken_tok_attr(v, id) & TOK_ATTR_CONTROL) != 0;
}

bool ken_tok_is_eog(const ken_vocab *v, int32_t id) {
    for (size_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return true;
    return false;
}
