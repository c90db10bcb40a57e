/* info.c: ken_model_info (include/ken_model.h): what a GGUF model file holds,
 * as text for people or as one JSON document with stable snake_case fields.
 *
 * Everything is gathered first into a model_facts struct from the opened file
 * (nothing copied, pointers into the mapping), then printed by one of two
 * formatters, so the text and JSON outputs always say the same thing. */
#include "gguf/gguf.h"
#include "ken_model.h"

#include <stdlib.h>
#include <string.h>

/* llama.cpp's enum llama_ftype (general.file_type), by value. */
static const char *ftype_name(uint64_t ft) {
    static const char *const names[] = {
        [0] = "ALL_F32", [1] = "MOSTLY_F16", [2] = "MOSTLY_Q4_0", [3] = "MOSTLY_Q4_1",
        [7] = "MOSTLY_Q8_0", [8] = "MOSTLY_Q5_0", [9] = "MOSTLY_Q5_1",
        [10] = "MOSTLY_Q2_K", [11] = "MOSTLY_Q3_K_S", [12] = "MOSTLY_Q3_K_M",
        [13] = "MOSTLY_Q3_K_L", [14] = "MOSTLY_Q4_K_S", [15] = "MOSTLY_Q4_K_M",
        [16] = "MOSTLY_Q5_K_S", [17] = "MOSTLY_Q5_K_M", [18] = "MOSTLY_Q6_K",
        [19] = "MOSTLY_IQ2_XXS", [20] = "MOSTLY_IQ2_XS", [21] = "MOSTLY_Q2_K_S",
        [22] = "MOSTLY_IQ3_XS", [23] = "MOSTLY_IQ3_XXS", [24] = "MOSTLY_IQ1_S",
        [25] = "MOSTLY_IQ4_NL", [26] = "MOSTLY_IQ3_S", [27] = "MOSTLY_IQ3_M",
        [28] = "MOSTLY_IQ2_S", [29] = "MOSTLY_IQ2_M", [30] = "MOSTLY_IQ4_XS",
        [31] = "MOSTLY_IQ1_M", [32] = "MOSTLY_BF16", [36] = "MOSTLY_TQ1_0",
        [37] = "MOSTLY_TQ2_0", [38] = "MOSTLY_MXFP4_MOE",
    };
    if (ft < KEN_ARRAY_LEN(names) && names[ft]) return names[ft];
    return "unknown";
}

/* The special tokens reported, with llama.cpp's key names (its "seperator"
 * spelling included; "separator" is accepted too). */
static const struct { const char *name, *key, *alt; } SPECIALS[] = {
    {"bos", "tokenizer.ggml.bos_token_id", NULL},
    {"eos", "tokenizer.ggml.eos_token_id", NULL},
    {"eot", "tokenizer.ggml.eot_token_id", NULL},
    {"pad", "tokenizer.ggml.padding_token_id", NULL},
    {"sep", "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.separator_token_id"},
    {"cls", "tokenizer.ggml.cls_token_id", NULL},
    {"mask", "tokenizer.ggml.mask_token_id", NULL},
    {"unk", "tokenizer.ggml.unknown_token_id", NULL},
};
#define N_SPECIALS (sizeof SPECIALS / sizeof SPECIALS[0])

/* A hyper-parameter: absent, or a number (arrays, as per-layer head counts,
 * give their maximum). */
typedef struct { bool set; bool is_float; uint64_t u; double f; } hparam;

typedef struct {
    uint64_t count, bytes, params;
} type_stat;

typedef struct {
    ken_gguf_str arch, name, gtype, vocab_model, vocab_pre, adapter_type;
    bool has_arch, has_name, has_gtype, has_vocab_model, has_vocab_pre, has_adapter_type;
    hparam file_type, ctx, embd, layers, ff, heads, heads_kv, rope_base, vocab_size_hp,
        lora_alpha;
    bool has_vocab;
    uint64_t vocab_size;
    const ken_gguf_value *tokens;
    bool special_set[N_SPECIALS];
    uint64_t special_id[N_SPECIALS];
    int add_bos, add_eos;            /* -1 unset, 0, 1 */
    bool chat_template;
    uint64_t chat_template_bytes;
    uint64_t params, tensor_bytes;
    type_stat types[KEN_DT_COUNT];
} model_facts;

static hparam get_hparam(const ken_gguf *g, const char *key) {
    hparam h = {0};
    const ken_gguf_kv *kv = ken_gguf_find(g, key);
    if (!kv) return h;
    const ken_gguf_value *v = &kv->val;
    if (v->type == KEN_GGUF_FLOAT32 || v->type == KEN_GGUF_FLOAT64) {
        h.set = h.is_float = true;
        h.f = v->v.f64;
    } else if (ken_gguf_get_u64(g, key, &h.u)) {
        h.set = true;
    } else if (v->type == KEN_GGUF_ARRAY && v->v.arr.count > 0 &&
               ken_gguf_type_size(v->v.arr.elem_type) > 0 &&
               v->v.arr.elem_type != KEN_GGUF_FLOAT32 && v->v.arr.elem_type != KEN_GGUF_FLOAT64) {
        h.set = true;
        for (uint64_t i = 0; i < v->v.arr.count; i++) {
            int64_t x = ken_gguf_arr_int(v, i);
            if (x > 0 && (uint64_t)x > h.u) h.u = (uint64_t)x;
        }
    }
    return h;
}

static hparam arch_hparam(const ken_gguf *g, ken_gguf_str arch, const char *suffix) {
    char key[256];
    if (arch.n > 128) return (hparam){0};
    snprintf(key, sizeof key, "%.*s.%s", (int)arch.n, arch.p, suffix);
    return get_hparam(g, key);
}

static void gather(const ken_gguf *g, model_facts *f) {
    memset(f, 0, sizeof *f);
    f->has_arch = ken_gguf_get_str(g, "general.architecture", &f->arch);
    f->has_name = ken_gguf_get_str(g, "general.name", &f->name);
    f->has_gtype = ken_gguf_get_str(g, "general.type", &f->gtype);
    f->has_adapter_type = ken_gguf_get_str(g, "adapter.type", &f->adapter_type);
    f->has_vocab_model = ken_gguf_get_str(g, "tokenizer.ggml.model", &f->vocab_model);
    f->has_vocab_pre = ken_gguf_get_str(g, "tokenizer.ggml.pre", &f->vocab_pre);
    f->file_type = get_hparam(g, "general.file_type");
    f->lora_alpha = get_hparam(g, "adapter.lora.alpha");
    if (f->has_arch) {
        f->ctx = arch_hparam(g, f->arch, "context_length");
        f->embd = arch_hparam(g, f->arch, "embedding_length");
        f->layers = arch_hparam(g, f->arch, "block_count");
        f->ff = arch_hparam(g, f->arch, "feed_forward_length");
        f->heads = arch_hparam(g, f->arch, "attention.head_count");
        f->heads_kv = arch_hparam(g, f->arch, "attention.head_count_kv");
        f->rope_base = arch_hparam(g, f->arch, "rope.freq_base");
        f->vocab_size_hp = arch_hparam(g, f->arch, "vocab_size");
    }
    const ken_gguf_kv *tok = ken_gguf_find(g, "tokenizer.ggml.tokens");
    if (tok && tok->val.type == KEN_GGUF_ARRAY && tok->val.v.arr.elem_type == KEN_GGUF_STRING) {
        f->has_vocab = true;
        f->tokens = &tok->val;
        f->vocab_size = tok->val.v.arr.count;
    }
    for (size_t i = 0; i < N_SPECIALS; i++) {
        uint64_t id;
        bool ok = ken_gguf_get_u64(g, SPECIALS[i].key, &id) ||
                  (SPECIALS[i].alt && ken_gguf_get_u64(g, SPECIALS[i].alt, &id));
        /* UINT32_MAX (-1 written as uint32) is llama.cpp's "none". */
        f->special_set[i] = ok && id != UINT32_MAX;
        f->special_id[i] = id;
    }
    bool b;
    f->add_bos = ken_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) ? b : -1;
    f->add_eos = ken_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b) ? b : -1;
    ken_gguf_str tmpl;
    f->chat_template = ken_gguf_get_str(g, "tokenizer.chat_template", &tmpl);
    f->chat_template_bytes = f->chat_template ? tmpl.n : 0;
    for (uint64_t i = 0; i < ken_gguf_n_tensors(g); i++) {
        const ken_gguf_tensor *t = ken_gguf_tensor_at(g, i);
        f->params += t->n_elems;
        f->tensor_bytes += t->n_bytes;
        f->types[t->type].count++;
        f->types[t->type].bytes += t->n_bytes;
        f->types[t->type].params += t->n_elems;
    }
}

/* The text of special token i, or {NULL, 0} when the id is outside the vocab. */
static ken_gguf_str special_text(const model_facts *f, size_t i) {
    ken_gguf_str none = {NULL, 0};
    if (!f->special_set[i] || !f->tokens || f->special_id[i] >= f->vocab_size) return none;
    return ken_gguf_arr_str(f->tokens, f->special_id[i]);
}

/* ------------------------------------------------------------ JSON */

static void jw_hparam(ken_jw *w, const char *key, hparam h) {
    ken_jw_key(w, key);
    if (!h.set) ken_jw_null(w);
    else if (h.is_float) ken_jw_num(w, h.f);
    else ken_jw_uint(w, h.u);
}

/* Strings from the file are cut at JSON_STR_MAX bytes so a hostile file
 * cannot make the description huge. */
#define JSON_STR_MAX 1024

static void jw_gstr(ken_jw *w, const char *key, bool has, ken_gguf_str s) {
    ken_jw_key(w, key);
    if (has) ken_jw_strn(w, s.p, (size_t)KEN_MIN(s.n, JSON_STR_MAX));
    else ken_jw_null(w);
}

static void jw_tristate(ken_jw *w, const char *key, int v) {
    ken_jw_key(w, key);
    if (v < 0) ken_jw_null(w);
    else ken_jw_bool(w, v != 0);
}

static void format_json_tokens(ken_jw *w, const model_facts *f) {
    ken_jw_key(w, "vocab");
    ken_jw_obj_begin(w);
    jw_gstr(w, "model", f->has_vocab_model, f->vocab_model);
    jw_gstr(w, "pre", f->has_vocab_pre, f->vocab_pre);
    ken_jw_key(w, "size");
    if (f->has_vocab) ken_jw_uint(w, f->vocab_size);
    else ken_jw_null(w);
    ken_jw_obj_end(w);
    ken_jw_key(w, "special_tokens");
    ken_jw_obj_begin(w);
    for (size_t i = 0; i < N_SPECIALS; i++) {
        ken_jw_key(w, SPECIALS[i].name);
        if (!f->special_set[i]) {
            ken_jw_null(w);
            continue;
        }
        ken_gguf_str s = special_text(f, i);
        ken_jw_obj_begin(w);
        ken_jw_key(w, "id");
        ken_jw_uint(w, f->special_id[i]);
        ken_jw_key(w, "text");
        if (s.p) ken_jw_strn(w, s.p, (size_t)KEN_MIN(s.n, JSON_STR_MAX));
        else ken_jw_null(w);
        ken_jw_obj_end(w);
    }
    ken_jw_obj_end(w);
    jw_tristate(w, "add_bos_token", f->add_bos);
    jw_tristate(w, "add_eos_token", f->add_eos);
    ken_jw_key(w, "chat_template");
    ken_jw_bool(w, f->chat_template);
    ken_jw_key(w, "chat_template_bytes");
    ken_jw_uint(w, f->chat_template_bytes);
}

static ken_status format_json(const ken_gguf *g, const char *path, const model_facts *f,
                              ken_buf *out) {
    ken_jw w;
    ken_jw_init(&w, out, 2);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "file");
    ken_jw_str(&w, path);
    ken_jw_key(&w, "file_bytes");
    ken_jw_uint(&w, ken_gguf_file_size(g));
    ken_jw_key(&w, "gguf_version");
    ken_jw_uint(&w, ken_gguf_version(g));
    ken_jw_key(&w, "alignment");
    ken_jw_uint(&w, ken_gguf_alignment(g));
    ken_jw_key(&w, "kv_count");
    ken_jw_uint(&w, ken_gguf_n_kv(g));
    ken_jw_key(&w, "tensor_count");
    ken_jw_uint(&w, ken_gguf_n_tensors(g));
    jw_gstr(&w, "architecture", f->has_arch, f->arch);
    jw_gstr(&w, "name", f->has_name, f->name);
    jw_gstr(&w, "type", f->has_gtype, f->gtype);
    jw_gstr(&w, "adapter_type", f->has_adapter_type, f->adapter_type);
    jw_hparam(&w, "lora_alpha", f->lora_alpha);
    jw_hparam(&w, "file_type", f->file_type);
    ken_jw_key(&w, "file_type_name");
    if (f->file_type.set && !f->file_type.is_float) ken_jw_str(&w, ftype_name(f->file_type.u));
    else ken_jw_null(&w);
    ken_jw_key(&w, "parameters");
    ken_jw_uint(&w, f->params);
    ken_jw_key(&w, "tensor_bytes");
    ken_jw_uint(&w, f->tensor_bytes);
    jw_hparam(&w, "context_length", f->ctx);
    jw_hparam(&w, "embedding_length", f->embd);
    jw_hparam(&w, "block_count", f->layers);
    jw_hparam(&w, "feed_forward_length", f->ff);
    jw_hparam(&w, "head_count", f->heads);
    jw_hparam(&w, "head_count_kv", f->heads_kv);
    jw_hparam(&w, "rope_freq_base", f->rope_base);
    format_json_tokens(&w, f);
    ken_jw_key(&w, "tensor_types");
    ken_jw_arr_begin(&w);
    for (int t = 0; t < KEN_DT_COUNT; t++) {
        if (!f->types[t].count) continue;
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "type");
        ken_jw_str(&w, ken_dtype_name((ken_dtype)t));
        ken_jw_key(&w, "count");
        ken_jw_uint(&w, f->types[t].count);
        ken_jw_key(&w, "bytes");
        ken_jw_uint(&w, f->types[t].bytes);
        ken_jw_key(&w, "parameters");
        ken_jw_uint(&w, f->types[t].params);
        ken_jw_obj_end(&w);
    }
    ken_jw_arr_end(&w);
    ken_jw_obj_end(&w);
    ken_status st = ken_jw_status(&w);
    return st ? st : ken_buf_putc(out, '\n');
}

/* ------------------------------------------------------------ text */

/* 1234567 -> "1,234,567" */
static const char *commas(uint64_t v, char buf[32]) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v), j = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) buf[j++] = ',';
        buf[j++] = tmp[i];
    }
    buf[j] = 0;
    return buf;
}

/* Appends s with control bytes escaped, so token text cannot garble a terminal. */
static void put_visible(ken_buf *b, ken_gguf_str s, size_t max) {
    size_t n = s.n > max ? max : (size_t)s.n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c == 0x7f) ken_buf_printf(b, "\\x%02x", c);
        else ken_buf_putc(b, (char)c);
    }
    if (s.n > max) ken_buf_puts(b, "...");
}

static void put_hparam(ken_buf *b, const char *label, hparam h) {
    char c[32];
    ken_buf_printf(b, "%-17s ", label);
    if (!h.set) ken_buf_puts(b, "-\n");
    else if (h.is_float) ken_buf_printf(b, "%g\n", h.f);
    else ken_buf_printf(b, "%s\n", commas(h.u, c));
}

static void put_field(ken_buf *b, const char *label, bool has, ken_gguf_str s) {
    ken_buf_printf(b, "%-17s ", label);
    if (has) put_visible(b, s, 200);
    else ken_buf_puts(b, "-");
    ken_buf_putc(b, '\n');
}

static void format_text_tokens(ken_buf *b, const model_facts *f) {
    char c[32];
    ken_buf_printf(b, "%-17s ", "vocabulary");
    if (f->has_vocab_model) put_visible(b, f->vocab_model, 64);
    else ken_buf_puts(b, "-");
    if (f->has_vocab_pre) {
        ken_buf_puts(b, " (pre ");
        put_visible(b, f->vocab_pre, 64);
        ken_buf_puts(b, ")");
    }
    if (f->has_vocab) ken_buf_printf(b, ", %s tokens", commas(f->vocab_size, c));
    ken_buf_putc(b, '\n');
    ken_buf_printf(b, "%-17s", "special tokens");
    int shown = 0;
    for (size_t i = 0; i < N_SPECIALS; i++) {
        if (!f->special_set[i]) continue;
        ken_buf_printf(b, "%s %s %llu", shown ? "," : "", SPECIALS[i].name,
                       (unsigned long long)f->special_id[i]);
        ken_gguf_str s = special_text(f, i);
        if (s.p) {
            ken_buf_puts(b, " '");
            put_visible(b, s, 40);
            ken_buf_puts(b, "'");
        }
        shown++;
    }
    ken_buf_puts(b, shown ? "\n" : " -\n");
    if (f->add_bos >= 0 || f->add_eos >= 0)
        ken_buf_printf(b, "%-17s bos %s, eos %s\n", "adds tokens",
                       f->add_bos < 0 ? "-" : f->add_bos ? "yes" : "no",
                       f->add_eos < 0 ? "-" : f->add_eos ? "yes" : "no");
    if (f->chat_template)
        ken_buf_printf(b, "%-17s yes (%s bytes)\n", "chat template",
                       commas(f->chat_template_bytes, c));
    else
        ken_buf_printf(b, "%-17s no\n", "chat template");
}

static ken_status format_text(const ken_gguf *g, const char *path, const model_facts *f,
                              ken_buf *b) {
    char c1[32], c2[32];
    ken_buf_printf(b, "%-17s %s (%s bytes)\n", "file", path, commas(ken_gguf_file_size(g), c1));
    ken_buf_printf(b, "%-17s GGUF v%u, alignment %u, %llu kvs, %llu tensors\n", "format",
                   ken_gguf_version(g), ken_gguf_alignment(g),
                   (unsigned long long)ken_gguf_n_kv(g), (unsigned long long)ken_gguf_n_tensors(g));
    put_field(b, "architecture", f->has_arch, f->arch);
    put_field(b, "name", f->has_name, f->name);
    if (f->has_gtype) put_field(b, "type", true, f->gtype);
    if (f->has_adapter_type) put_field(b, "adapter", true, f->adapter_type);
    if (f->lora_alpha.set) put_hparam(b, "lora alpha", f->lora_alpha);
    ken_buf_printf(b, "%-17s ", "file type");
    if (f->file_type.set && !f->file_type.is_float)
        ken_buf_printf(b, "%s (%llu)\n", ftype_name(f->file_type.u),
                       (unsigned long long)f->file_type.u);
    else
        ken_buf_puts(b, "-\n");
    ken_buf_printf(b, "%-17s %s (%.2f M)\n", "parameters", commas(f->params, c1),
                   (double)f->params / 1e6);
    put_hparam(b, "context length", f->ctx);
    put_hparam(b, "embedding length", f->embd);
    put_hparam(b, "layers", f->layers);
    put_hparam(b, "feed forward", f->ff);
    put_hparam(b, "heads", f->heads);
    put_hparam(b, "kv heads", f->heads_kv);
    if (f->rope_base.set) put_hparam(b, "rope freq base", f->rope_base);
    format_text_tokens(b, f);
    ken_buf_printf(b, "%-17s %s bytes\n", "tensor data", commas(f->tensor_bytes, c1));
    for (int t = 0; t < KEN_DT_COUNT; t++) {
        if (!f->types[t].count) continue;
        ken_buf_printf(b, "  %-8s %6llu %-7s %16s bytes %16s params\n",
                       ken_dtype_name((ken_dtype)t), (unsigned long long)f->types[t].count,
                       f->types[t].count == 1 ? "tensor" : "tensors",
                       commas(f->types[t].bytes, c1), commas(f->types[t].params, c2));
    }
    return KEN_OK;
}

/* The text is bounded (token texts and names are cut, the tensor-type table
 * has at most KEN_DT_COUNT lines), so reserving TEXT_MAX up front means the
 * appends above cannot fail half-way through. */
#define TEXT_MAX ((size_t)48 << 10)

/* ------------------------------------------------------------ entry */

static void set_errmsg(char **errmsg, const char *msg) {
    if (errmsg) *errmsg = ken_strdup(msg);
}

ken_status ken_gguf_describe(const ken_gguf *g, const char *label, bool json, ken_buf *out) {
    if (!label || strlen(label) > 4096) return KEN_ERR_INVALID;
    model_facts *f = malloc(sizeof *f);
    if (!f) return KEN_ERR_NOMEM;
    gather(g, f);
    ken_status st;
    if (json) {
        st = format_json(g, label, f, out);
    } else if (!(st = ken_buf_reserve(out, TEXT_MAX))) {
        size_t start = out->len;
        st = format_text(g, label, f, out);
        KEN_ASSERT(out->len - start < TEXT_MAX);
    }
    free(f);
    return st;
}

ken_status ken_model_info(const char *path, int json, char **out, char **errmsg) {
    if (out) *out = NULL;
    if (errmsg) *errmsg = NULL;
    if (!path || !out) {
        set_errmsg(errmsg, "ken_model_info: path and out are required");
        return KEN_ERR_INVALID;
    }
    ken_gguf *g = NULL;
    ken_err err;
    ken_status st = ken_gguf_open(path, &g, &err);
    if (st) {
        set_errmsg(errmsg, err.msg);
        return st;
    }
    ken_buf b;
    ken_buf_init(&b, 0);
    st = ken_gguf_describe(g, path, json != 0, &b);
    ken_gguf_close(g);
    if (st) {
        ken_buf_free(&b);
        set_errmsg(errmsg, st == KEN_ERR_INVALID ? "path too long" :
                           "out of memory describing the model");
        return st;
    }
    *out = ken_buf_take(&b, NULL);
    if (!*out) {
        set_errmsg(errmsg, "out of memory describing the model");
        return KEN_ERR_NOMEM;
    }
    return KEN_OK;
}
