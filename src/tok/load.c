/* load.c: ken_tok_load, the order of llama.cpp's llama_vocab::load: model
 * type and its defaults, tokens, merges and pre-tokenizer (or the Unigram
 * charsmap and tries), special ids and
 * add_* flags from metadata, text-detected end-of-turn / FIM tokens (which
 * become control tokens), the special-token list for the partitioner and
 * the piece cache. */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>


/* gemma4: the tokenizer model "gemma4" (BPE without default special ids). */
static void set_defaults(ken_vocab *v, bool gemma4) {
    ken_tok_special *s = &v->sp;
    memset(s, 0xFF, sizeof *s);                 /* every id -1 */
    switch (v->type) {
    case KEN_TOK_SPM:
        s->bos = 1, s->eos = 2, s->unk = 0;
        v->add_space_prefix = true, v->add_bos = true;
        break;
    case KEN_TOK_WPM:
        s->bos = 101, s->unk = 100, s->sep = 102, s->pad = 0, s->mask = 103;
        v->add_bos = true, v->add_sep = true, v->clean_spaces = true;
        break;
    case KEN_TOK_BPE:
        if (!gemma4) s->bos = 11, s->eos = 11;
        break;
    case KEN_TOK_UGM:
        s->eos = 1, s->unk = 2, s->pad = 0;
        v->add_eos = true;
        break;
    default:
        break;
    }
    v->escape_whitespaces = v->type != KEN_TOK_BPE;
    v->wpm_lowercase = true, v->wpm_strip_accents = true;
}

static ken_status read_type(ken_vocab *v, const ken_gguf *g, ken_err *err) {
    ken_gguf_str m, pre;
    bool gemma4 = false;
    if (!ken_gguf_get_str(g, "tokenizer.ggml.model", &m))
        return ken_err_set(err, KEN_ERR_FORMAT, "tokenizer: no tokenizer.ggml.model");
    if (ken_gguf_str_eq(m, "llama")) v->type = KEN_TOK_SPM;
    else if (ken_gguf_str_eq(m, "bert")) v->type = KEN_TOK_WPM;
    else if (ken_gguf_str_eq(m, "gpt2")) v->type = KEN_TOK_BPE;
    else if (ken_gguf_str_eq(m, "t5")) v->type = KEN_TOK_UGM;
    else if (ken_gguf_str_eq(m, "whitespace")) v->type = KEN_TOK_BPE, v->ws_model = true;
    else if (ken_gguf_str_eq(m, "gemma4")) v->type = KEN_TOK_BPE, gemma4 = true;
    else
        return ken_err_set(err, KEN_ERR_UNSUPPORTED, "tokenizer: unsupported tokenizer model '%.*s'",
                           (int)KEN_MIN(m.n, 64), m.p);
    v->pre_name[0] = 0;
    if (gemma4) {
        /* the model "gemma4" implies its pre-tokenizer, whatever the file names */
        strcpy(v->pre_name, "gemma4");
    } else if (ken_gguf_get_str(g, "tokenizer.ggml.pre", &pre)) {
        if (pre.n >= sizeof v->pre_name)
            return ken_err_set(err, KEN_ERR_UNSUPPORTED, "tokenizer: pre-tokenizer name too long");
        memcpy(v->pre_name, pre.p, pre.n), v->pre_name[pre.n] = 0;
    }
    set_defaults(v, gemma4);
    return KEN_OK;
}

static void read_special_ids(ken_vocab *v, const ken_gguf *g) {
    static const struct { const char *key; size_t off; } keys[] = {
#define K(k, f) { "tokenizer.ggml." k, offsetof(ken_tok_special, f) }
        K("bos_token_id", bos), K("eos_token_id", eos), K("eot_token_id", eot),
        K("eom_token_id", eom), K("unknown_token_id", unk), K("seperator_token_id", sep),
        K("padding_token_id", pad), K("mask_token_id", mask), K("fim_pre_token_id", fim_pre),
        K("fim_suf_token_id", fim_suf), K("fim_mid_token_id", fim_mid),
        K("fim_pad_token_id", fim_pad), K("fim_rep_token_id", fim_rep),
        K("fim_sep_token_id", fim_sep), K("prefix_token_id", fim_pre),
        K("suffix_token_id", fim_suf), K("middle_token_id", fim_mid),
#undef K
    };
    for (size_t i = 0; i < KEN_ARRAY_LEN(keys); i++) {
        int32_t *id = (int32_t *)((char *)&v->sp + keys[i].off);
        uint32_t nid;
        if (*id >= v->n_tokens) *id = -1;
        if (ken_gguf_get_u32(g, keys[i].key, &nid) && nid < (uint32_t)v->n_tokens)
            *id = (int32_t)nid;
    }
    bool b;
    if (ken_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) v->add_bos = b;
    if (ken_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) v->add_eos = b;
    if (ken_gguf_get_bool(g, "tokenizer.ggml.add_sep_token", &b)) v->add_sep = b;
    if (v->force_add_bos) v->add_bos = true;     /* llama.cpp overrides it for Gemma 4 */
    if (ken_gguf_get_bool(g, "tokenizer.ggml.normalizer.lowercase", &b)) v->wpm_lowercase = b;
    v->wpm_strip_accents = v->wpm_lowercase;
    if (ken_gguf_get_bool(g, "tokenizer.ggml.normalizer.strip_accents", &b))
        v->wpm_strip_accents = b;
}

/* The normalizer flags: read before the newline token is found (a Unigram
 * vocab tokenizes "\n" with them, as llama.cpp does). */
static void read_space_flags(ken_vocab *v, const ken_gguf *g) {
    bool b;
    if (ken_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b)) v->add_space_prefix = b;
    if (ken_gguf_get_bool(g, "tokenizer.ggml.remove_extra_whitespaces", &b)) v->remove_extra_ws = b;
}

static bool text_in(const char *t, size_t n, const char *const *list) {
    for (; *list; list++)
        if (strlen(*list) == n && !memcmp(*list, t, n)) return true;
    return false;
}

static void add_eog(ken_vocab *v, int32_t id) {
    if (id < 0) return;
    for (size_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return;
    if (v->n_eog < KEN_ARRAY_LEN(v->eog)) v->eog[v->n_eog++] = id;
}

/* llama.cpp finds end-of-turn and FIM tokens by their text and makes them
 * control tokens; the first text in each list that the vocab has wins. */
static void detect_by_text(ken_vocab *v) {
    static const char *const eot[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
        "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
        "<\xef\xbd\x9c""end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
        "<end_of_utterance>", NULL };
    static const char *const eom[] = { "<|eom_id|>", NULL };
    static const char *const pre[] = { "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
        "<\xef\xbd\x9c""fim\xe2\x96\x81""begin\xef\xbd\x9c>", "<PRE>", "\xe2\x96\x81<PRE>",
        "<|code_prefix|>", "<|prefix|>", NULL };
    static const char *const suf[] = { "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
        "<\xef\xbd\x9c""fim\xe2\x96\x81hole\xef\xbd\x9c>", "<SUF>", "\xe2\x96\x81<SUF>",
        "<|code_suffix|>", "<|suffix|>", NULL };
    static const char *const mid[] = { "<|fim_middle|>", "<fim-middle>", "<fim_middle>",
        "<\xef\xbd\x9c""fim\xe2\x96\x81""end\xef\xbd\x9c>", "<MID>", "\xe2\x96\x81<MID>",
        "<|code_middle|>", "<|middle|>", NULL };
    static const char *const pad[] = { "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL };
    static const char *const rep[] = { "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
        "<reponame>", NULL };
    static const char *const sep[] = { "<|file_sep|>", NULL };
    static const char *const eog[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>",
        "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>",
        "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
        "<\xef\xbd\x9c""end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "[e~[", NULL };
    struct { const char *const *list; int32_t *id; } det[] = {
        { eot, &v->sp.eot }, { eom, &v->sp.eom }, { pre, &v->sp.fim_pre },
        { suf, &v->sp.fim_suf }, { mid, &v->sp.fim_mid }, { pad, &v->sp.fim_pad },
        { rep, &v->sp.fim_rep }, { sep, &v->sp.fim_sep },
    };
    for (size_t d = 0; d < KEN_ARRAY_LEN(det); d++) {
        if (*det[d].id >= 0) continue;
        for (const char *const *t = det[d].list; *t && *det[d].id < 0; t++) {
            int32_t id = tok_vocab_find(v, *t, strlen(*t));
            if (id >= 0) *det[d].id = id, v->attrs[id] |= TOK_ATTR_CONTROL;
        }
    }
    v->n_eog = 0;
    add_eog(v, v->sp.fim_pad), add_eog(v, v->sp.fim_rep), add_eog(v, v->sp.fim_sep);
    for (int32_t id = 0; id < v->n_tokens; id++) {
        size_t n;
        const char *t = tok_text(v, id, &n);
        if (n < 4 || (t[0] != '<' && t[0] != '[' && t[0] != '_')) continue;  /* none of the lists */
        if (text_in(t, n, eog)) v->attrs[id] |= TOK_ATTR_CONTROL, add_eog(v, id);
        /* gpt-oss: these always render */
        static const char *const ud[] = { "<|channel|>", "<|message|>", "<|start|>",
                                          "<|constrain|>", NULL };
        if (text_in(t, n, ud)) v->attrs[id] = TOK_ATTR_USER_DEFINED;
    }
    add_eog(v, v->sp.eos), add_eog(v, v->sp.eot), add_eog(v, v->sp.eom);
    /* gpt-oss / solar-open: "<|end|>" ends a message, not the generation */
    static const char *const ret[] = { "<|return|>", NULL }, *const call[] = { "<|call|>", "<|calls|>", NULL };
    static const char *const flush[] = { "<|flush|>", NULL }, *const end[] = { "<|end|>", NULL };
    bool has_ret = false, has_call = false, has_flush = false;
    int32_t end_id = -1;
    for (size_t i = 0; i < v->n_eog; i++) {
        size_t n;
        const char *t = tok_text(v, v->eog[i], &n);
        has_ret |= text_in(t, n, ret), has_call |= text_in(t, n, call);
        has_flush |= text_in(t, n, flush);
        if (text_in(t, n, end)) end_id = v->eog[i];
    }
    if (end_id >= 0 && ((has_ret && has_call) || (has_call && has_flush))) {
        for (size_t i = 0; i < v->n_eog; i++)
            if (v->eog[i] == end_id) v->eog[i] = v->eog[--v->n_eog];
        v->attrs[end_id] = TOK_ATTR_USER_DEFINED;
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Control, user-defined and unknown tokens, longest text first, bucketed by
 * their first two bytes so a text can be screened in one pass. */
static ken_status build_specials(ken_vocab *v) {
    size_t n = 0;
    for (int32_t id = 0; id < v->n_tokens; id++)
        n += (v->attrs[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) != 0;
    v->special_ids = malloc((n + 1) * sizeof *v->special_ids);
    v->special_first2 = calloc(65536 + 2, sizeof *v->special_first2);
    v->special_by2 = malloc((n + 1) * sizeof *v->special_by2);
    if (!v->special_ids || !v->special_first2 || !v->special_by2) return KEN_ERR_NOMEM;
    n = 0;
    for (int32_t id = 0; id < v->n_tokens; id++)
        if (v->attrs[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
            v->special_ids[n++] = id;
    v->n_special = n;
    /* longest first; equal lengths by id (llama.cpp's std::sort leaves that
     * order unspecified) */
    uint64_t *keys = malloc((n + 1) * sizeof *keys);
    if (!keys) return KEN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        int32_t id = v->special_ids[i];
        uint32_t len = v->text_off[id + 1] - v->text_off[id];
        keys[i] = (uint64_t)(UINT32_MAX - len) << 32 | (uint32_t)id;
    }
    qsort(keys, n, sizeof *keys, cmp_u64);
    for (size_t i = 0; i < n; i++) v->special_ids[i] = (int32_t)(keys[i] & 0xFFFFFFFFu);
    free(keys);
    /* bucket key: first two bytes; one-byte tokens go to bucket 65536 */
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const unsigned char *t = (const unsigned char *)tok_text(v, v->special_ids[i], &len);
        v->special_first2[(len >= 2 ? (t[0] << 8 | t[1]) : 65536) + 1]++;
    }
    for (size_t k = 0; k < 65537; k++) v->special_first2[k + 1] += v->special_first2[k];
    int32_t *fill = malloc(65537 * sizeof *fill);
    if (!fill) return KEN_ERR_NOMEM;
    memcpy(fill, v->special_first2, 65537 * sizeof *fill);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const unsigned char *t = (const unsigned char *)tok_text(v, v->special_ids[i], &len);
        v->special_by2[fill[len >= 2 ? (t[0] << 8 | t[1]) : 65536]++] = (int32_t)i;
    }
    free(fill);
    return KEN_OK;
}

/* llama.cpp sets lstrip/rstrip per model name for a few families. */
static void name_attrs(ken_vocab *v, const ken_gguf *g) {
    ken_gguf_str nm;
    char name[128] = "";
    if (ken_gguf_get_str(g, "general.name", &nm)) {
        size_t n = KEN_MIN(nm.n, sizeof name - 1);
        for (size_t i = 0; i < n; i++)
            name[i] = (char)(nm.p[i] >= 'A' && nm.p[i] <= 'Z' ? nm.p[i] + 32 : nm.p[i]);
        name[n] = 0;
    }
    ken_gguf_str ar = { "", 0 };
    char arch[64] = "";
    if (ken_gguf_get_str(g, "general.architecture", &ar) && ar.n < sizeof arch)
        memcpy(arch, ar.p, ar.n), arch[ar.n] = 0;
    if (strstr(v->pre_name, "jina-v2-de") || strstr(v->pre_name, "jina-v2-es") ||
        strstr(v->pre_name, "jina-v2-code") || strstr(arch, "nomic-bert-moe") ||
        strstr(arch, "jina-bert-v3")) {
        int32_t id = tok_vocab_find(v, "<mask>", 6);
        if (id >= 0) v->attrs[id] |= TOK_ATTR_LSTRIP;
    } else if (strstr(name, "phi-3") || strstr(name, "phi3")) {
        for (size_t i = 0; i < v->n_special; i++) v->attrs[v->special_ids[i]] |= TOK_ATTR_RSTRIP;
        static const char *const on[] = { "</s>" }, *const off[] = { "<unk>", "<s>", "<|endoftext|>" };
        int32_t id = tok_vocab_find(v, on[0], strlen(on[0]));
        if (id >= 0) v->attrs[id] |= TOK_ATTR_RSTRIP;
        for (size_t i = 0; i < 3; i++)
            if ((id = tok_vocab_find(v, off[i], strlen(off[i]))) >= 0)
                v->attrs[id] &= (uint16_t)~TOK_ATTR_RSTRIP;
    } else if (strstr(name, "modern-bert")) {
        int32_t id = tok_vocab_find(v, "[MASK]", 6);
        if (id >= 0) v->attrs[id] |= TOK_ATTR_LSTRIP;
    }
}

static ken_status find_newline(ken_vocab *v) {
    if (v->type == KEN_TOK_SPM) {
        v->sp.nl = tok_byte_token(v, '\n');
        if (v->sp.nl < 0) v->sp.nl = v->sp.pad;
        return KEN_OK;
    }
    if (v->type == KEN_TOK_WPM) {
        v->sp.nl = v->sp.pad;
        return KEN_OK;
    }
    tok_ids ids = { 0 };
    ken_status st = v->type == KEN_TOK_UGM ? tok_ugm_encode(v, "\n", 1, &ids)
                                           : tok_bpe_fragment(v, "\n", 1, &ids);
    v->sp.nl = st == KEN_OK && ids.n ? ids.v[0] : v->sp.pad;
    free(ids.v);
    return st;
}

void ken_vocab_free(ken_vocab *v) {
    if (!v) return;
    tok_pretok_free(v);
    free(v->text_arena), free(v->text_off), free(v->scores), free(v->attrs);
    free(v->hash_slots), free(v->merges), free(v->xmerge_arena), free(v->xmerge_off);
    free(v->xmerge_rank), free(v->xmerge_len), free(v->xmerge_slots);
    free(v->special_ids), free(v->special_first2), free(v->special_by2);
    free(v->piece_arena), free(v->piece_off), free(v->spm_pairs);
    tok_trie_free(&v->ugm_tokens), tok_trie_free(&v->ugm_user);
    free(v->ugm_xcda), free(v->ugm_pool);
    free(v);
}

ken_status ken_tok_load(const ken_gguf *g, ken_vocab **out, ken_err *err) {
    *out = NULL;
    ken_vocab *v = calloc(1, sizeof *v);
    if (!v) return ken_err_set(err, KEN_ERR_NOMEM, "tokenizer: out of memory");
    ken_status st = read_type(v, g, err);
    if (st == KEN_OK) st = tok_load_tokens(v, g, err);
    if (st == KEN_OK && v->type == KEN_TOK_SPM && (st = tok_spm_build_pairs(v)) != KEN_OK)
        ken_err_set(err, st, "tokenizer: out of memory");
    if (st == KEN_OK && v->type == KEN_TOK_BPE) {
        st = tok_load_merges(v, g, err);
        if (st == KEN_OK) st = tok_pretok_init(v, err);
    }
    if (st == KEN_OK && v->type == KEN_TOK_UGM) st = tok_ugm_init(v, g, err);
    if (st == KEN_OK) {
        if (v->type == KEN_TOK_BPE) v->add_space_prefix = false;
        read_space_flags(v, g);
        st = find_newline(v);
        if (st != KEN_OK)
            ken_err_set(err, st, "tokenizer: cannot tokenize a newline%s",
                        st == KEN_ERR_FORMAT ? ": precompiled charsmap index out of bounds" : "");
    }
    if (st == KEN_OK) {
        read_special_ids(v, g);
        if ((v->add_bos && v->sp.bos < 0) || (v->add_eos && v->sp.eos < 0) ||
            (v->add_sep && v->sp.sep < 0))
            st = ken_err_set(err, KEN_ERR_FORMAT, "tokenizer: add_bos/eos/sep set without the token");
    }
    if (st == KEN_OK) {
        detect_by_text(v);
        st = build_specials(v);
        if (st == KEN_OK) st = tok_build_pieces(v);
        if (st != KEN_OK) ken_err_set(err, st, "tokenizer: out of memory");
    }
    if (st == KEN_OK) name_attrs(v, g);
    if (st != KEN_OK) {
        ken_vocab_free(v);
        return st;
    }
    *out = v;
    return KEN_OK;
}
