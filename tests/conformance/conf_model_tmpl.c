/* conf_model_tmpl.c: renders every chat template in fixtures/templates for
 * every conversation and compares with Hugging Face's reference rendering
 * byte for byte; conversations the reference refused (raise_exception) must
 * fail in ken too, with the template's message. Prints how many matched. */
#include "test.h"

#include "base/base.h"
#include "base/json.h"
#include "model/template.h"

static char *read_text(const char *path, size_t *n) {
    ken_buf b;
    ken_err err;
    ken_buf_init(&b, 0);
    if (ken_file_read(path, (size_t)64 << 20, &b, &err)) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        ken_buf_free(&b);
        return NULL;
    }
    if (!b.data) ken_buf_reserve(&b, 1);
    return ken_buf_take(&b, n);
}

static ken_json_doc *read_json(const char *path) {
    size_t n;
    char *s = read_text(path, &n);
    ken_json_doc *d = NULL;
    if (s && ken_json_parse(s, n, NULL, &d, NULL, NULL)) d = NULL;
    free(s);
    return d;
}

/* Shows where two renderings first differ. */
static void show_diff(const char *what, const char *got, size_t gn, const char *want, size_t wn) {
    size_t i = 0;
    while (i < gn && i < wn && got[i] == want[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "%s: differs at byte %zu (got %zu bytes, want %zu)\n  got:  \"%.*s\"\n  want: \"%.*s\"\n",
            what, i, gn, wn, (int)KEN_MIN(gn - from, 120), got + from, (int)KEN_MIN(wn - from, 120),
            want + from);
}

static void test_fixture_templates(void) {
    const char *fx = test_fixtures();
    char path[1024];
    snprintf(path, sizeof path, "%s/templates/manifest.json", fx);
    ken_json_doc *man = read_json(path);
    snprintf(path, sizeof path, "%s/templates/conversations.json", fx);
    ken_json_doc *conv = read_json(path);
    REQUIRE(man && conv);
    const ken_json *root = ken_json_root(man), *convs = ken_json_root(conv);
    const char *bos = ken_json_str(ken_json_get(root, "bos_token"));
    const char *eos = ken_json_str(ken_json_get(root, "eos_token"));
    const ken_json *tmpls = ken_json_get(root, "templates");
    REQUIRE(bos && eos && tmpls && tmpls->type == KEN_JSON_OBJECT && tmpls->n >= 10);
    int total = 0, matched = 0;
    for (size_t t = 0; t < tmpls->n; t++) {
        const ken_json *entry = &tmpls->kids[t];
        const char *name = entry->key;
        size_t tn;
        snprintf(path, sizeof path, "%s/templates/%s/template.jinja", fx, name);
        char *tmpl = read_text(path, &tn);
        CHECKF(tmpl != NULL, "%s", path);
        if (!tmpl) continue;
        const ken_json *rendered = ken_json_get(entry, "rendered");
        const ken_json *errors = ken_json_get(entry, "errors");
        for (size_t k = 0; k < convs->n; k++) {
            const ken_json *cv = &convs->kids[k];
            const char *cname = cv->key;
            ken_buf out;
            ken_err err = {{0}};
            ken_buf_init(&out, 0);
            ken_status st = ken_chat_render_json(tmpl, tn, cv, 1, bos, eos, NULL, &out, &err);
            const char *want_err = ken_json_str(ken_json_get(errors, cname));
            total++;
            if (want_err) {
                bool ok = st == KEN_ERR_FORMAT && strstr(err.msg, want_err) != NULL;
                CHECKF(ok, "%s/%s: expected the error \"%s\", got status %d \"%s\"", name, cname,
                       want_err, (int)st, err.msg);
                matched += ok;
            } else {
                bool listed = false;
                for (size_t r = 0; rendered && r < rendered->n; r++)
                    listed |= strcmp(ken_json_str(&rendered->kids[r]) ? ken_json_str(&rendered->kids[r]) : "", cname) == 0;
                CHECKF(listed, "%s/%s in neither rendered nor errors", name, cname);
                snprintf(path, sizeof path, "%s/templates/%s/%s.txt", fx, name, cname);
                size_t wn;
                char *want = read_text(path, &wn);
                CHECKF(st == KEN_OK, "%s/%s: %s", name, cname, err.msg);
                bool ok = st == KEN_OK && want && out.len == wn && memcmp(out.data ? out.data : "", want, wn) == 0;
                if (!ok && st == KEN_OK && want) show_diff(path, out.data ? out.data : "", out.len, want, wn);
                CHECKF(ok, "%s/%s: rendering differs from the reference", name, cname);
                matched += ok;
                free(want);
            }
            ken_buf_free(&out);
        }
        free(tmpl);
    }
    fprintf(stderr, "chat templates: %d of %d renderings match the reference\n", matched, total);
    CHECK_EQ_INT(matched, total);
    ken_json_free(man);
    ken_json_free(conv);
}

/* The same templates without a generation prompt must still render (every
 * template handles add_generation_prompt = false) and be a prefix of the
 * reference (the generation prompt is appended at the end). */
static void test_without_generation_prompt(void) {
    const char *fx = test_fixtures();
    char path[1024];
    snprintf(path, sizeof path, "%s/templates/conversations.json", fx);
    ken_json_doc *conv = read_json(path);
    REQUIRE(conv);
    const ken_json *multi = ken_json_get(ken_json_root(conv), "multi_turn");
    REQUIRE(multi);
    static const char *const names[] = {"Qwen-Qwen2.5-7B-Instruct", "meta-llama-Llama-3.1-8B-Instruct",
                                        "google-gemma-2-2b-it", "microsoft-Phi-3.5-mini-instruct"};
    for (size_t i = 0; i < KEN_ARRAY_LEN(names); i++) {
        size_t tn, wn;
        snprintf(path, sizeof path, "%s/templates/%s/template.jinja", fx, names[i]);
        char *tmpl = read_text(path, &tn);
        snprintf(path, sizeof path, "%s/templates/%s/multi_turn.txt", fx, names[i]);
        char *want = read_text(path, &wn);
        REQUIRE(tmpl && want);
        ken_buf out;
        ken_err err = {{0}};
        ken_buf_init(&out, 0);
        ken_status st = ken_chat_render_json(tmpl, tn, multi, 0, "<|begin_of_text|>", "<|end_of_text|>",
                                             NULL, &out, &err);
        CHECKF(st == KEN_OK, "%s: %s", names[i], err.msg);
        CHECKF((out.len < wn && memcmp(out.data ? out.data : "", want, out.len) == 0) ||
               (strstr(names[i], "Phi") && out.len > 0),
               "%s: without the generation prompt the rendering is not a prefix", names[i]);
        ken_buf_free(&out);
        free(tmpl);
        free(want);
    }
    ken_json_free(conv);
}

TEST_MAIN(test_fixture_templates, test_without_generation_prompt)
