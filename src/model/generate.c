/* generate.c: ken_generate: prompt in batches, then one token at a time
 * through the sampler, with end-of-generation tokens, stop strings (never
 * emitted, even in part), a token budget, the context limit and a
 * streaming callback that only ever sees final text. */
#include "ken_infer.h"
#include "model/model_int.h"

#include <stdlib.h>
#include <string.h>


static bool is_eog(const ken_vocab *v, int32_t id) {
    const ken_tok_special *sp = ken_vocab_special(v);
    return id == sp->eos || id == sp->eot || id == sp->eom;
}

/* Length of the longest suffix of s[0..n) that is a proper prefix of a stop
 * string (that text must be held back: it may become a stop). */
static size_t stop_overlap(const char *s, size_t n, const ken_gen_opts *o) {
    size_t best = 0;
    for (size_t i = 0; i < o->n_stop; i++) {
        size_t sl = strlen(o->stop[i]);
        for (size_t k = KEN_MIN(sl - (sl > 0), n); k > best; k--)
            if (memcmp(s + n - k, o->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Bytes at the end of s[0..n) that form an incomplete UTF-8 sequence. */
static size_t utf8_tail(const char *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char b = (unsigned char)s[n - k];
        if ((b & 0xC0) == 0x80) continue;        /* continuation: look further back */
        size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

/* Finds the first stop string in s[0..n); returns its offset or n. */
static size_t find_stop(const char *s, size_t n, const ken_gen_opts *o) {
    size_t first = n;
    for (size_t i = 0; i < o->n_stop; i++) {
        size_t sl = strlen(o->stop[i]);
        if (sl == 0 || sl > n) continue;
        for (size_t p = 0; p + sl <= n && p < first; p++)
            if (memcmp(s + p, o->stop[i], sl) == 0) {
                first = p;
                break;
            }
    }
    return first;
}

typedef struct {
    ken_buf text;
    size_t emitted;      /* bytes already handed to the callback */
} gen_out;

/* Appends a token's text, finds stop strings in the new tail, hands the
 * text that became final to the callback. Returns a ken_stop_reason when
 * generation must stop, -1 to go on. */
static int take_piece(gen_out *out, const ken_gen_opts *o, int32_t id, const char *piece,
                      size_t pl, ken_status *st) {
    size_t before = out->text.len, max_stop = 0;
    if (piece && pl && (*st = ken_buf_append(&out->text, piece, pl))) return KEN_STOP_MAX_TOKENS;
    const char *t = out->text.data ? out->text.data : "";
    for (size_t i = 0; i < o->n_stop; i++) max_stop = KEN_MAX(max_stop, strlen(o->stop[i]));
    /* a stop string ending in the new text starts at most max_stop - 1 before it */
    size_t from = before > max_stop ? before - max_stop + 1 : 0;
    size_t stop_at = from + find_stop(t + from, out->text.len - from, o);
    size_t final = stop_at;
    if (stop_at == out->text.len)
        final = out->text.len - KEN_MAX(stop_overlap(t, out->text.len, o),
                                         utf8_tail(t, out->text.len));
    if (final < out->emitted) final = out->emitted;
    int halt = o->on_token ? o->on_token(o->ud, id, t + out->emitted, final - out->emitted) : 0;
    out->emitted = final;
    if (stop_at < out->text.len) {
        out->text.len = stop_at;
        out->text.data[stop_at] = 0;
        return KEN_STOP_STRING;
    }
    return halt ? KEN_STOP_CALLBACK : -1;
}

static ken_status run_prompt(ken_ctx *c, const char *prompt, size_t len, const ken_gen_opts *o,
                             int32_t **ids, size_t *n) {
    const ken_model *m = c->m;
    if (ken_model_is_encoder(m))
        return ken_err_set(&c->err, KEN_ERR_UNSUPPORTED, "%s is an encoder: it cannot generate",
                           ken_model_arch_name(m->arch));
    if (!m->vocab) return ken_err_set(&c->err, KEN_ERR_UNSUPPORTED, "the model has no tokenizer");
    ken_status st = ken_tok_tokenize(m->vocab, prompt, len, true, o->parse_special != 0, ids, n,
                                     &c->err);
    if (st) return st;
    if (*n == 0) return ken_err_set(&c->err, KEN_ERR_INVALID, "the prompt gives no tokens");
    ken_model_ctx_reset(c->mc);
    return ken_model_decode(c->mc, *ids, (int64_t)*n, false, &c->err);
}

ken_status ken_generate(ken_ctx *c, const char *prompt, size_t len, const ken_gen_opts *opts,
                        char **text, size_t *text_len, ken_gen_stats *stats) {
    ken_gen_opts o = {0};
    if (opts) memcpy(&o, opts, KEN_MIN(sizeof o, opts->size ? opts->size : sizeof o));
    if (text) *text = NULL;
    if (text_len) *text_len = 0;
    ken_gen_stats S = {0};
    ken_err_clear(&c->err);
    const ken_model *m = c->m;
    int max = o.max_tokens > 0 ? o.max_tokens : 256;
    ken_sampler_params sp = {.temperature = o.temperature, .top_k = o.top_k,
                             .top_p = o.top_p > 0.0f && o.top_p < 1.0f ? o.top_p : 1.0f,
                             .min_p = o.min_p, .repeat_penalty = o.repeat_penalty > 0.0f ? o.repeat_penalty : 1.0f,
                             .freq_penalty = o.freq_penalty, .presence_penalty = o.presence_penalty,
                             .penalty_last_n = o.penalty_last_n, .seed = o.seed};
    for (size_t i = 0; i < o.n_stop; i++)
        if (!o.stop[i]) return ken_err_set(&c->err, KEN_ERR_INVALID, "NULL stop string");
    ken_sampler *smp = NULL;
    if (ken_sampler_new(&sp, (int32_t)m->n_vocab, &smp))
        return ken_err_set(&c->err, KEN_ERR_INVALID, "invalid sampling parameters");
    int32_t *ids = NULL;
    size_t n = 0;
    gen_out out = {0};
    ken_buf_init(&out.text, 0);
    double t0 = ken_now();
    ken_status st = run_prompt(c, prompt, len, &o, &ids, &n);
    S.n_prompt = n;
    int32_t *hist = NULL;
    if (!st && !(hist = malloc((n + (size_t)max) * sizeof *hist)))
        st = ken_err_set(&c->err, KEN_ERR_NOMEM, "out of memory");
    if (!st) memcpy(hist, ids, n * sizeof *hist);
    double t1 = ken_now();
    S.prompt_s = t1 - t0;
    size_t nh = n;
    S.reason = KEN_STOP_MAX_TOKENS;
    for (int k = 0; !st && k < max; k++) {
        const float *lg = ken_model_logits(c->mc, NULL);
        int32_t id = ken_sampler_sample(smp, lg, hist, (int64_t)nh);
        if (!o.ignore_eog && is_eog(m->vocab, id)) {
            S.reason = KEN_STOP_EOG;
            break;
        }
        hist[nh++] = id;
        S.n_generated++;
        size_t pl = 0;
        const char *piece = ken_tok_piece(m->vocab, id, false, &pl);
        int r = take_piece(&out, &o, id, piece, pl, &st);
        if (st) {
            ken_err_set(&c->err, st, "generated text too long");
            break;
        }
        if (r >= 0) {
            S.reason = (ken_stop_reason)r;
            break;
        }
        if (k + 1 == max) break;
        if (ken_model_ctx_n_past(c->mc) >= ken_model_ctx_n_ctx(c->mc)) {
            S.reason = KEN_STOP_CONTEXT;
            break;
        }
        st = ken_model_decode(c->mc, &id, 1, false, &c->err);
    }
    /* what was held back (an unfinished stop-string prefix) is final now */
    if (!st && o.on_token && out.emitted < out.text.len && S.reason != KEN_STOP_STRING)
        o.on_token(o.ud, -1, out.text.data + out.emitted, out.text.len - out.emitted);
    S.gen_s = ken_now() - t1;
    if (stats) *stats = S;
    if (!st && text) {
        if (!out.text.data) st = ken_buf_puts(&out.text, "");
        if (!st) *text = ken_buf_take(&out.text, text_len);
    }
    ken_buf_free(&out.text);
    free(hist);
    free(ids);
    ken_sampler_free(smp);
    return st;
}
