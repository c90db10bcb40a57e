/* jsondoc.c: JSON and JSONL documents. Each object is one document, by the
 * BEIR conventions unless the options name other fields: "_id" becomes
 * ext_id (a string or a number's text), "title" the title (and the heading
 * of the document's one section), "text" the text; the other scalar fields
 * go to meta_json as an object. A .json file holds one object or an array
 * of objects; a .jsonl file one object per line, where broken lines are
 * reported through warn ("line 17: expected ',' or '}' at column 5") and
 * the good ones ingested. */
#include "base/json.h"
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>

#define WARN_MAX 100        /* per file; the rest are counted */

typedef struct {
    const ken_ingest_job *j;
    const char *id_f, *title_f, *text_f;
    ken_json_opts jo;
    size_t docs, bad, warned;
} jctx;

static void jwarn(jctx *c, const char *fmt, const char *where, const char *what) {
    c->bad++;
    if (c->warned++ < WARN_MAX) ken_ingest_warnf(c->j, fmt, where, what);
}

/* The other scalar members as a JSON object, or NULL when there are none. */
static ken_status meta_of(jctx *c, const ken_json *o, char **out) {
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    size_t n = 0;
    for (size_t i = 0; i < o->n; i++) {
        const ken_json *m = &o->kids[i];
        if (m->type == KEN_JSON_ARRAY || m->type == KEN_JSON_OBJECT) continue;
        if (strcmp(m->key, c->id_f) == 0 || strcmp(m->key, c->title_f) == 0 ||
            strcmp(m->key, c->text_f) == 0)
            continue;
        if (n++ == 0) ken_jw_obj_begin(&w);
        ken_jw_key(&w, m->key);
        switch (m->type) {
        case KEN_JSON_STRING: ken_jw_strn(&w, m->str, m->len); break;
        case KEN_JSON_NUMBER: ken_jw_raw(&w, m->str); break;
        case KEN_JSON_BOOL: ken_jw_bool(&w, m->b); break;
        default: ken_jw_null(&w); break;
        }
    }
    if (n) ken_jw_obj_end(&w);
    ken_status st = ken_jw_status(&w);
    *out = !st && n ? ken_buf_take(&b, NULL) : NULL;
    ken_buf_free(&b);
    return st;
}

/* One object -> one document. Problems with this object alone are warnings
 * (returns KEN_OK); allocation failure or a stop from the callback are not. */
static ken_status one_doc(jctx *c, const ken_json *o, int64_t line, int64_t item,
                          const char *where) {
    const ken_ingest_job *j = c->j;
    if (o->type != KEN_JSON_OBJECT) {
        jwarn(c, "%s: %s, not an object", where, ken_json_type_name(o->type));
        return KEN_OK;
    }
    const ken_json *text = ken_json_get(o, c->text_f);
    if (!text || text->type != KEN_JSON_STRING) {
        char what[128];
        snprintf(what, sizeof what, "no \"%.80s\" string field", c->text_f);
        jwarn(c, "%s: %s", where, what);
        return KEN_OK;
    }
    ken_idoc d;
    ken_idoc_init(&d);
    d.text.cap_max = j->bytes_max;
    d.line = line;
    d.item = item;
    ken_status st = ken_buf_append(&d.text, text->str, text->len);
    const ken_json *id = ken_json_get(o, c->id_f), *title = ken_json_get(o, c->title_f);
    if (!st && id && (id->type == KEN_JSON_STRING || id->type == KEN_JSON_NUMBER))
        st = (d.ext_id = ken_strndup(id->str, id->len)) ? KEN_OK : KEN_ERR_NOMEM;
    if (!st && title && title->type == KEN_JSON_STRING)
        st = ken_ingest_set_title(&d, title->str, title->len);
    if (!st) st = meta_of(c, o, &d.meta_json);
    if (!st && d.text.len)
        st = ken_ingest_add_section(&d, 0, (int64_t)d.text.len, d.title ? d.title : "", 0, 0,
                                    KEN_SEC_PROSE);
    if (st) {
        ken_idoc_free(&d);
        return ken_err_set(j->err, st, "%s: %s", where, ken_status_str(st));
    }
    ken_err keep = *j->err;
    st = ken_ingest_emit(j, &d);
    if (st == KEN_ERR_FORMAT) {            /* empty text: skip this one */
        jwarn(c, "%s: %s", where, j->err->msg);
        *j->err = keep;
        st = KEN_OK;
    } else if (!st) {
        c->docs++;
    }
    ken_idoc_free(&d);
    return st;
}

static ken_status json_file(jctx *c) {
    const ken_ingest_job *j = c->j;
    ken_json_doc *doc;
    ken_err e;
    ken_err_clear(&e);
    ken_status st = ken_json_parse(j->data, j->len, &c->jo, &doc, NULL, &e);
    if (st) return ken_err_set(j->err, st == KEN_ERR_NOMEM ? st : KEN_ERR_FORMAT, "JSON: %s", e.msg);
    const ken_json *r = ken_json_root(doc);
    if (r->type == KEN_JSON_ARRAY) {
        for (size_t i = 0; i < r->n && !st; i++) {
            char where[48];
            snprintf(where, sizeof where, "item %zu", i + 1);
            st = one_doc(c, &r->kids[i], 0, (int64_t)i + 1, where);
        }
    } else if (r->type == KEN_JSON_OBJECT) {
        ken_err keep = *j->err;
        size_t warned = c->warned;
        c->warned = WARN_MAX;                 /* a lone object: its problem is the error */
        st = one_doc(c, r, 0, 0, "object");
        c->warned = warned;
        if (!st && c->docs == 0) {
            *j->err = keep;
            st = ken_err_set(j->err, KEN_ERR_FORMAT, "JSON object has no \"%.80s\" string field "
                             "with text (set the text field name)", c->text_f);
        }
    } else {
        st = ken_err_set(j->err, KEN_ERR_FORMAT, "JSON: top-level %s, expected an object or an "
                         "array of objects", ken_json_type_name(r->type));
    }
    ken_json_free(doc);
    return st;
}

static ken_status jsonl_file(jctx *c) {
    const ken_ingest_job *j = c->j;
    const char *s = j->data;
    size_t n = j->len, i = 0;
    int64_t line = 0, item = 0;
    ken_status st = KEN_OK;
    while (i < n && !st) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) : n, le = e;
        line++;
        if (le > i && s[le - 1] == '\r') le--;
        size_t b = i;
        if (line == 1 && le - i >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) b += 3;
        bool blank = true;
        for (size_t k = b; k < le && blank; k++) blank = s[k] == ' ' || s[k] == '\t';
        if (!blank) {
            item++;
            ken_json_doc *doc;
            ken_json_error pe;
            ken_err e2;
            ken_status ps = ken_json_parse(s + i, le - i, &c->jo, &doc, &pe, &e2);
            char where[48];
            snprintf(where, sizeof where, "line %lld", (long long)line);
            if (ps == KEN_ERR_NOMEM) {
                st = ken_err_set(j->err, ps, "%s: out of memory", where);
            } else if (ps) {
                c->bad++;
                if (c->warned++ < WARN_MAX)
                    ken_ingest_warnf(j, "line %lld: %s at column %zu", (long long)line,
                                     pe.what ? pe.what : "invalid JSON", pe.col);
            } else {
                st = one_doc(c, ken_json_root(doc), line, item, where);
                ken_json_free(doc);
            }
        }
        i = e + 1;
    }
    if (!st && c->warned > WARN_MAX)
        ken_ingest_warnf(j, "%zu more problems not shown", c->warned - WARN_MAX);
    if (!st && c->docs == 0 && c->bad)
        st = ken_err_set(j->err, KEN_ERR_FORMAT, "JSONL: no usable line (%zu bad)", c->bad);
    else if (!st && c->docs == 0)
        st = ken_err_set(j->err, KEN_ERR_FORMAT, "JSONL: no lines");
    return st;
}

ken_status ken_ingest_json(const ken_ingest_job *j, bool lines) {
    jctx c;
    memset(&c, 0, sizeof c);
    c.j = j;
    c.id_f = j->opts->json_id_field ? j->opts->json_id_field : "_id";
    c.title_f = j->opts->json_title_field ? j->opts->json_title_field : "title";
    c.text_f = j->opts->json_text_field ? j->opts->json_text_field : "text";
    c.jo.depth_max = j->opts->json_depth_max > 0 ? j->opts->json_depth_max : 256;
    c.jo.bytes_max = j->bytes_max;
    if (lines) return jsonl_file(&c);
    ken_status st = json_file(&c);
    if (!st && c.docs == 0)
        st = ken_err_set(j->err, KEN_ERR_FORMAT, "JSON: no object with a \"%.80s\" string field",
                         c.text_f);
    return st;
}
