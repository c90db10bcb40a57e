/* template.c: chat templates: renders a model's Jinja chat template (jinja.c)
 * with the variables transformers' apply_chat_template gives it (messages,
 * tools = None, documents = None, add_generation_prompt, bos_token,
 * eos_token, plus extra kwargs), or a named built-in format (chatml, llama3,
 * mistral, gemma, phi3, deepseek, granite) when there is no usable template.
 *
 * A template that raises (raise_exception) is an error, never a fallback:
 * the model's authors said that conversation is not valid for it. Fallback
 * happens only when the template is missing, does not parse, or needs a
 * feature this Jinja subset lacks. */
#include "model/template.h"

#include "gguf/gguf.h"
#include "model/jinja.h"

#include <stdlib.h>
#include <string.h>

#define MESSAGES_BYTES_MAX ((size_t)64 << 20)
#define TEMPLATE_OUT_MAX ((size_t)64 << 20)

static ken_status parse_json(const char *s, size_t n, const char *what, ken_json_doc **doc,
                             ken_err *err) {
    ken_json_opts o = {.bytes_max = MESSAGES_BYTES_MAX};
    ken_json_error pe;
    ken_status st = ken_json_parse(s, n, &o, doc, &pe, NULL);
    if (st)
        return ken_err_set(err, st, "%s: %s at line %zu, column %zu", what,
                           pe.what ? pe.what : "invalid JSON", pe.line, pe.col);
    return KEN_OK;
}

static ken_status check_messages(const ken_json *m, ken_err *err) {
    if (!m || m->type != KEN_JSON_ARRAY)
        return ken_err_set(err, KEN_ERR_INVALID, "messages must be a JSON array of {role, content}");
    for (size_t i = 0; i < m->n; i++) {
        const ken_json *msg = &m->kids[i];
        if (msg->type != KEN_JSON_OBJECT || !ken_json_str(ken_json_get(msg, "role")))
            return ken_err_set(err, KEN_ERR_INVALID, "message %zu is not an object with a string \"role\"", i);
    }
    return KEN_OK;
}

ken_status ken_chat_render_json(const char *tmpl, size_t tlen, const ken_json *messages,
                                int add_generation_prompt, const char *bos, const char *eos,
                                const ken_json *extra, ken_buf *out, ken_err *err) {
    ken_status st = check_messages(messages, err);
    if (st) return st;
    if (extra && extra->type != KEN_JSON_OBJECT)
        return ken_err_set(err, KEN_ERR_INVALID, "extra template variables must be a JSON object");
    /* the fixed variables, as a small JSON object */
    ken_buf vb;
    ken_buf_init(&vb, 0);
    ken_jw w;
    ken_jw_init(&w, &vb, 0);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "tools");
    ken_jw_null(&w);
    ken_jw_key(&w, "documents");
    ken_jw_null(&w);
    ken_jw_key(&w, "add_generation_prompt");
    ken_jw_bool(&w, add_generation_prompt != 0);
    ken_jw_key(&w, "bos_token");
    ken_jw_str(&w, bos ? bos : "");
    ken_jw_key(&w, "eos_token");
    ken_jw_str(&w, eos ? eos : "");
    ken_jw_obj_end(&w);
    ken_json_doc *vdoc = NULL;
    ken_jinja_tmpl *t = NULL;
    st = ken_jw_status(&w);
    if (st) {
        ken_err_set(err, st, "out of memory");
        goto out;
    }
    if ((st = parse_json(vb.data, vb.len, "template variables", &vdoc, err))) goto out;
    if ((st = ken_jinja_parse(tmpl, tlen, &t, err))) goto out;
    /* messages last but extra kwargs override everything, as **kwargs do */
    const ken_json *mobj_kids = messages;
    ken_json mobj = {.type = KEN_JSON_OBJECT, .kids = (ken_json *)mobj_kids, .n = 1};
    ken_json mnode = *messages;
    mnode.key = "messages";
    mnode.key_len = 8;
    mobj.kids = &mnode;
    const ken_json *vars[3] = {ken_json_root(vdoc), &mobj, extra};
    ken_jinja_limits lim = {.out_max = TEMPLATE_OUT_MAX};
    st = ken_jinja_render(t, vars, 3, &lim, out, err);
out:
    ken_jinja_free(t);
    ken_json_free(vdoc);
    ken_buf_free(&vb);
    return st;
}

/* ------------------------------------------------------ built-in formats */

static const char *const FORMATS = "chatml, llama3, mistral, gemma, phi3, deepseek, granite";

const char *ken_chat_formats(void) { return FORMATS; }

/* Turn markers of each built-in format: a model that writes them as plain
 * text (not as the special token, which ends generation by itself) has
 * finished its turn. */
const char *const *ken_chat_format_stops(const char *format, size_t *n) {
    static const char *const chatml[] = {"<|im_end|>", "<|im_start|>"};
    static const char *const llama3[] = {"<|eot_id|>", "<|start_header_id|>"};
    static const char *const mistral[] = {"</s>", "[INST]"};
    static const char *const gemma[] = {"<end_of_turn>", "<start_of_turn>"};
    static const char *const phi3[] = {"<|end|>", "<|user|>", "<|endoftext|>"};
    static const char *const deepseek[] = {"<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                           "<\xef\xbd\x9cUser\xef\xbd\x9c>"};
    static const char *const granite[] = {"<|end_of_text|>", "<|start_of_role|>"};
    static const struct { const char *name; const char *const *s; size_t n; } tab[] = {
        {"chatml", chatml, 2}, {"llama3", llama3, 2}, {"mistral", mistral, 2},
        {"gemma", gemma, 2}, {"phi3", phi3, 3}, {"deepseek", deepseek, 2},
        {"granite", granite, 2}};
    for (size_t i = 0; format && i < KEN_ARRAY_LEN(tab); i++)
        if (strcmp(format, tab[i].name) == 0) {
            *n = tab[i].n;
            return tab[i].s;
        }
    *n = 0;
    return NULL;
}

const char *ken_chat_detect_format(const char *t) {
    if (!t) return "chatml";
    if (strstr(t, "<|im_start|>")) return "chatml";
    if (strstr(t, "<|start_header_id|>")) return "llama3";
    if (strstr(t, "<start_of_turn>")) return "gemma";
    if (strstr(t, "<|start_of_role|>")) return "granite";
    if (strstr(t, "\xef\xbd\x9cUser\xef\xbd\x9c")) return "deepseek";  /* <｜User｜> */
    if (strstr(t, "[INST]")) return "mistral";
    if (strstr(t, "<|user|>") && strstr(t, "<|end|>")) return "phi3";
    return "chatml";
}

/* The text of a message's content: a string, or the "text" parts of a list. */
static ken_status content_text(const ken_json *msg, ken_buf *b) {
    const ken_json *c = ken_json_get(msg, "content");
    if (!c || c->type == KEN_JSON_NULL) return KEN_OK;
    if (c->type == KEN_JSON_STRING) return ken_buf_append(b, c->str, c->len);
    if (c->type != KEN_JSON_ARRAY) return KEN_ERR_INVALID;
    for (size_t i = 0; i < c->n; i++) {
        const ken_json *txt = ken_json_get(&c->kids[i], "text");
        if (txt && txt->type == KEN_JSON_STRING) {
            ken_status st = ken_buf_append(b, txt->str, txt->len);
            if (st) return st;
        }
    }
    return KEN_OK;
}

/* Python's str.strip() for ASCII whitespace (llama3 trims contents). */
static void trim(const char **s, size_t *n) {
    while (*n && strchr(" \t\n\r\f\v", (*s)[0])) (*s)++, (*n)--;
    while (*n && strchr(" \t\n\r\f\v", (*s)[*n - 1])) (*n)--;
}

typedef struct {
    const char *name;
    const char *pre, *mid, *post;   /* per message: pre ROLE mid CONTENT post */
    const char *gen;                /* generation prompt */
    const char *asst_role;          /* the assistant's role name in this format */
    bool system_into_user;          /* no system role: prepend to the first user turn */
    bool trim;
} format_spec;

static const format_spec SPECS[] = {
    {"chatml", "<|im_start|>", "\n", "<|im_end|>\n", "<|im_start|>assistant\n", "assistant", false, false},
    {"llama3", "<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>",
     "<|start_header_id|>assistant<|end_header_id|>\n\n", "assistant", false, true},
    {"gemma", "<start_of_turn>", "\n", "<end_of_turn>\n", "<start_of_turn>model\n", "model", true, true},
    {"phi3", "<|", "|>\n", "<|end|>\n", "<|assistant|>\n", "assistant", false, false},
    {"granite", "<|start_of_role|>", "<|end_of_role|>", "<|end_of_text|>\n",
     "<|start_of_role|>assistant<|end_of_role|>", "assistant", false, false},
};

/* mistral and deepseek do not fit pre/role/mid: written out. */
static ken_status builtin_special(const char *format, const ken_json *m, int agp, const char *bos,
                                  const char *eos, ken_buf *out) {
    bool ds = strcmp(format, "deepseek") == 0;
    ken_buf sys, txt;
    ken_buf_init(&sys, 0);
    ken_buf_init(&txt, 0);
    ken_status st = KEN_OK;
    if (bos && !ds) st = ken_buf_puts(out, bos);
    for (size_t i = 0; i < m->n && !st; i++) {
        const char *role = ken_json_str(ken_json_get(&m->kids[i], "role"));
        ken_buf_reset(&txt);
        if ((st = content_text(&m->kids[i], &txt))) break;
        const char *t = txt.data ? txt.data : "";
        if (strcmp(role, "system") == 0) {
            if (ds) st = ken_buf_puts(out, t);
            else st = ken_buf_printf(&sys, "%s%s", sys.len ? "\n\n" : "", t);
        } else if (strcmp(role, "assistant") == 0) {
            st = ds ? ken_buf_printf(out, "\xef\xbd\x9c" "Assistant\xef\xbd\x9c%s<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", t)
                    : ken_buf_printf(out, "%s%s", t, eos ? eos : "");
        } else if (ds) {
            st = ken_buf_printf(out, "<\xef\xbd\x9cUser\xef\xbd\x9c>%s", t);
        } else {
            st = ken_buf_printf(out, "[INST]%s%s%s[/INST]", sys.len ? sys.data : "", sys.len ? "\n\n" : "", t);
            ken_buf_reset(&sys);
        }
    }
    if (!st && agp && ds) st = ken_buf_puts(out, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>");
    ken_buf_free(&sys);
    ken_buf_free(&txt);
    return st;
}

ken_status ken_chat_builtin_json(const char *format, const ken_json *m, int agp, const char *bos,
                                 const char *eos, ken_buf *out, ken_err *err) {
    ken_status st = check_messages(m, err);
    if (st) return st;
    if (strcmp(format, "mistral") == 0 || strcmp(format, "deepseek") == 0) {
        st = builtin_special(format, m, agp, bos, eos, out);
        return st ? ken_err_set(err, st, "cannot render the messages as %s", format) : KEN_OK;
    }
    const format_spec *f = NULL;
    for (size_t i = 0; i < KEN_ARRAY_LEN(SPECS); i++)
        if (strcmp(SPECS[i].name, format) == 0) f = &SPECS[i];
    if (!f) return ken_err_set(err, KEN_ERR_NOTFOUND, "unknown chat format '%s' (known: %s)", format, FORMATS);
    ken_buf txt, sys;
    ken_buf_init(&txt, 0);
    ken_buf_init(&sys, 0);
    for (size_t i = 0; i < m->n && !st; i++) {
        const char *role = ken_json_str(ken_json_get(&m->kids[i], "role"));
        ken_buf_reset(&txt);
        if ((st = content_text(&m->kids[i], &txt))) break;
        const char *t = txt.data ? txt.data : "";
        size_t tn = txt.len;
        if (f->trim) trim(&t, &tn);
        if (f->system_into_user && strcmp(role, "system") == 0) {
            st = ken_buf_printf(&sys, "%.*s\n\n", (int)tn, t);
            continue;
        }
        if (strcmp(role, "assistant") == 0) role = f->asst_role;
        st = ken_buf_printf(out, "%s%s%s%s%.*s", f->pre, role, f->mid, sys.len ? sys.data : "", (int)tn, t);
        if (!st) st = ken_buf_puts(out, f->post);
        ken_buf_reset(&sys);
    }
    if (!st && agp) st = ken_buf_puts(out, f->gen);
    ken_buf_free(&txt);
    ken_buf_free(&sys);
    return st ? ken_err_set(err, st, "cannot render the messages as %s", format) : KEN_OK;
}

/* ------------------------------------------------------------ public API */

static ken_status finish(ken_status st, ken_buf *out, ken_err *err, char **res, size_t *res_len,
                         char **errmsg) {
    if (st) {
        ken_buf_free(out);
        if (errmsg) *errmsg = ken_strdup(err->msg);
        return st;
    }
    if (!out->data && ken_buf_reserve(out, 1)) {
        if (errmsg) *errmsg = ken_strdup("out of memory");
        return KEN_ERR_NOMEM;
    }
    *res = ken_buf_take(out, res_len);
    return KEN_OK;
}

ken_status ken_chat_render(const char *template_text, const char *messages_json,
                           int add_generation_prompt, const char *bos, const char *eos,
                           const char *extra_json, char **out, size_t *out_len, char **errmsg) {
    ken_err err = {{0}};
    ken_buf b;
    ken_buf_init(&b, TEMPLATE_OUT_MAX);
    ken_json_doc *md = NULL, *xd = NULL;
    *out = NULL;
    if (errmsg) *errmsg = NULL;
    ken_status st = parse_json(messages_json, strlen(messages_json), "messages", &md, &err);
    if (!st && extra_json) st = parse_json(extra_json, strlen(extra_json), "extra variables", &xd, &err);
    if (!st)
        st = ken_chat_render_json(template_text, strlen(template_text), ken_json_root(md),
                                  add_generation_prompt, bos, eos, xd ? ken_json_root(xd) : NULL, &b, &err);
    ken_json_free(md);
    ken_json_free(xd);
    return finish(st, &b, &err, out, out_len, errmsg);
}

ken_status ken_chat_render_builtin(const char *format, const char *messages_json,
                                   int add_generation_prompt, const char *bos, const char *eos,
                                   char **out, size_t *out_len, char **errmsg) {
    ken_err err = {{0}};
    ken_buf b;
    ken_buf_init(&b, TEMPLATE_OUT_MAX);
    ken_json_doc *md = NULL;
    *out = NULL;
    if (errmsg) *errmsg = NULL;
    ken_status st = parse_json(messages_json, strlen(messages_json), "messages", &md, &err);
    if (!st) st = ken_chat_builtin_json(format, ken_json_root(md), add_generation_prompt, bos, eos, &b, &err);
    ken_json_free(md);
    return finish(st, &b, &err, out, out_len, errmsg);
}

/* The text of token id `key`'s value in tokenizer.ggml.tokens, or NULL. */
static char *token_text(const ken_gguf *g, const char *key) {
    uint32_t id;
    ken_gguf_type et;
    uint64_t count;
    if (!ken_gguf_get_u32(g, key, &id) || !ken_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &count) ||
        et != KEN_GGUF_STRING || id >= count)
        return NULL;
    const ken_gguf_kv *kv = ken_gguf_find(g, "tokenizer.ggml.tokens");
    ken_gguf_str s = ken_gguf_arr_str(&kv->val, id);
    return s.p ? ken_strndup(s.p, (size_t)s.n) : NULL;
}

static ken_status render_model(ken_gguf *g, const ken_chat_opts *o, const ken_json *msgs,
                               const ken_json *extra, ken_buf *out, char **warning, ken_err *err) {
    char *bos = token_text(g, "tokenizer.ggml.bos_token_id");
    char *eos = token_text(g, "tokenizer.ggml.eos_token_id");
    ken_gguf_str ts = {0};
    const char *tmpl = o->template_text;
    size_t tlen = tmpl ? strlen(tmpl) : 0;
    if (!tmpl && ken_gguf_get_str(g, "tokenizer.chat_template", &ts)) tmpl = ts.p, tlen = (size_t)ts.n;
    ken_status st;
    const char *fmt = o->format;
    char why[1100] = "";
    if (!fmt && tmpl) {
        /* a template that does not parse, or needs what the subset lacks,
         * falls back; one that raises or fails on these messages does not */
        ken_jinja_tmpl *probe = NULL;
        st = ken_jinja_parse(tmpl, tlen, &probe, err);
        ken_jinja_free(probe);
        size_t before = out->len;
        if (!st) {
            st = ken_chat_render_json(tmpl, tlen, msgs, o->add_generation_prompt, bos, eos, extra, out, err);
            if (st != KEN_ERR_UNSUPPORTED) goto out;
        }
        out->len = before;
        char *t = ken_strndup(tmpl, tlen);
        fmt = ken_chat_detect_format(t);
        free(t);
        snprintf(why, sizeof why, "the chat template cannot be rendered (%s); using the built-in "
                 "format '%s'", err->msg, fmt);
    } else if (!fmt) {
        fmt = "chatml";
        snprintf(why, sizeof why, "the model has no chat template; using the built-in format 'chatml'");
    }
    st = ken_chat_builtin_json(fmt, msgs, o->add_generation_prompt, bos, eos, out, err);
    if (!st && why[0] && warning) *warning = ken_strdup(why);
out:
    free(bos);
    free(eos);
    return st;
}

ken_status ken_chat_render_model(const char *model_path, const ken_chat_opts *opts,
                                 const char *messages_json, char **out, size_t *out_len,
                                 char **warning, char **errmsg) {
    ken_err err = {{0}};
    ken_buf b;
    ken_buf_init(&b, TEMPLATE_OUT_MAX);
    ken_json_doc *md = NULL, *xd = NULL;
    ken_gguf *g = NULL;
    ken_chat_opts o = {0};
    *out = NULL;
    if (warning) *warning = NULL;
    if (errmsg) *errmsg = NULL;
    if (opts) memcpy(&o, opts, KEN_MIN(opts->size ? opts->size : sizeof o, sizeof o));
    ken_status st = parse_json(messages_json, strlen(messages_json), "messages", &md, &err);
    if (!st && o.extra_json) st = parse_json(o.extra_json, strlen(o.extra_json), "extra variables", &xd, &err);
    if (!st && xd && ken_json_root(xd)->type != KEN_JSON_OBJECT)
        st = ken_err_set(&err, KEN_ERR_INVALID, "extra template variables must be a JSON object");
    if (!st) st = ken_gguf_open(model_path, &g, &err);
    if (!st) st = render_model(g, &o, ken_json_root(md), xd ? ken_json_root(xd) : NULL, &b, warning, &err);
    ken_gguf_close(g);
    ken_json_free(md);
    ken_json_free(xd);
    return finish(st, &b, &err, out, out_len, errmsg);
}
