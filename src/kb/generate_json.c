/* generate_json.c (kb): a generated answer as one JSON document (the
 * `--json` of `ken ask --model` and `ken chat`): the answer, the sources in
 * the prompt, the citations (source number -> document, span, page), each
 * sentence's support and flags, the routing decisions and the timings. */
#include "ken_ask.h"
#include "base/base.h"
#include "kb/generate.h"

#include <stdlib.h>
#include <string.h>

static void put_source(ken_jw *w, const ken_reply_source *s, bool with_text) {
    ken_jw_obj_begin(w);
    ken_jw_key(w, "n"); ken_jw_int(w, s->n);
    ken_jw_key(w, "doc_id"); ken_jw_int(w, s->doc_id);
    ken_jw_key(w, "chunk_id"); ken_jw_int(w, s->chunk_id);
    ken_jw_key(w, "ext_id"); ken_jw_str(w, s->ext_id);
    ken_jw_key(w, "uri"); ken_jw_str(w, s->uri);
    ken_jw_key(w, "title"); ken_jw_str(w, s->title);
    ken_jw_key(w, "heading"); ken_jw_str(w, s->heading);
    ken_jw_key(w, "page"); ken_jw_int(w, s->page);
    ken_jw_key(w, "start"); ken_jw_int(w, s->start);
    ken_jw_key(w, "end"); ken_jw_int(w, s->end);
    ken_jw_key(w, "score"); ken_jw_num(w, s->score);
    ken_jw_key(w, "cited"); ken_jw_int(w, s->cited);
    if (with_text) { ken_jw_key(w, "text"); ken_jw_strn(w, s->text, s->text_len); }
    ken_jw_obj_end(w);
}

static void put_sentence(ken_jw *w, const ken_reply_info *i, const ken_reply_sentence *s) {
    ken_jw_obj_begin(w);
    ken_jw_key(w, "text"); ken_jw_strn(w, i->answer + s->start, s->end - s->start);
    ken_jw_key(w, "start"); ken_jw_uint(w, s->start);
    ken_jw_key(w, "end"); ken_jw_uint(w, s->end);
    ken_jw_key(w, "cites");
    ken_jw_arr_begin(w);
    for (size_t k = 0; k < s->n_cites; k++) ken_jw_int(w, s->cites[k]);
    ken_jw_arr_end(w);
    ken_jw_key(w, "claim"); ken_jw_bool(w, s->claim);
    ken_jw_key(w, "support"); ken_jw_num(w, s->support);
    ken_jw_key(w, "best_source"); ken_jw_int(w, s->best_source);
    ken_jw_key(w, "best_support"); ken_jw_num(w, s->best_support);
    ken_jw_key(w, "flags");
    ken_jw_arr_begin(w);
    if (s->flags & KEN_SENT_UNCITED) ken_jw_str(w, "uncited");
    if (s->flags & KEN_SENT_INVALID) ken_jw_str(w, "invalid_citation");
    if (s->flags & KEN_SENT_WEAK) ken_jw_str(w, "weak_support");
    ken_jw_arr_end(w);
    ken_jw_obj_end(w);
}

static void put_step(ken_jw *w, const ken_route_step *s) {
    ken_jw_obj_begin(w);
    ken_jw_key(w, "model"); ken_jw_str(w, s->model);
    ken_jw_key(w, "backend"); ken_jw_str(w, s->backend);
    ken_jw_key(w, "decision"); ken_jw_str(w, s->decision);
    ken_jw_key(w, "reason"); ken_jw_str(w, s->reason);
    ken_jw_key(w, "grounded"); ken_jw_bool(w, s->grounded);
    ken_jw_key(w, "unsure"); ken_jw_bool(w, s->unsure);
    ken_jw_key(w, "support"); ken_jw_num(w, s->support);
    ken_jw_key(w, "text"); ken_jw_str(w, s->text);
    ken_jw_key(w, "prompt_tokens"); ken_jw_uint(w, s->n_prompt);
    ken_jw_key(w, "generated_tokens"); ken_jw_uint(w, s->n_generated);
    ken_jw_key(w, "ttft_s"); ken_jw_num(w, s->ttft_s);
    ken_jw_key(w, "total_s"); ken_jw_num(w, s->total_s);
    ken_jw_key(w, "tokens_per_s"); ken_jw_num(w, s->tokens_per_s);
    ken_jw_obj_end(w);
}

static void put_reply(ken_jw *w, const ken_reply_info *i) {
    ken_jw_obj_begin(w);
    ken_jw_key(w, "question"); ken_jw_str(w, i->question);
    ken_jw_key(w, "query"); ken_jw_str(w, i->query);
    ken_jw_key(w, "found"); ken_jw_bool(w, i->found);
    ken_jw_key(w, "confidence"); ken_jw_num(w, i->confidence);
    ken_jw_key(w, "answer"); ken_jw_strn(w, i->answer, i->answer_len);
    ken_jw_key(w, "grounded"); ken_jw_bool(w, i->grounded);
    ken_jw_key(w, "ungrounded"); ken_jw_bool(w, i->found && !i->grounded);
    ken_jw_key(w, "unsure"); ken_jw_bool(w, i->unsure);
    ken_jw_key(w, "support"); ken_jw_num(w, i->support);
    ken_jw_key(w, "claims"); ken_jw_uint(w, i->n_claims);
    ken_jw_key(w, "flagged"); ken_jw_uint(w, i->n_flagged);
    ken_jw_key(w, "valid_citations"); ken_jw_uint(w, i->n_valid_cites);
    ken_jw_key(w, "invalid_citations"); ken_jw_uint(w, i->n_invalid_cites);
    ken_jw_key(w, "model"); ken_jw_str(w, i->model);
    ken_jw_key(w, "backend"); ken_jw_str(w, i->backend);
    ken_jw_key(w, "escalated"); ken_jw_bool(w, i->escalated);
    ken_jw_key(w, "citations");
    ken_jw_arr_begin(w);
    for (size_t k = 0; k < i->n_sources; k++)
        if (i->sources[k].cited) put_source(w, &i->sources[k], false);
    ken_jw_arr_end(w);
    ken_jw_key(w, "sentences");
    ken_jw_arr_begin(w);
    for (size_t k = 0; k < i->n_sentences; k++) put_sentence(w, i, &i->sentences[k]);
    ken_jw_arr_end(w);
    ken_jw_key(w, "sources");
    ken_jw_arr_begin(w);
    for (size_t k = 0; k < i->n_sources; k++) put_source(w, &i->sources[k], true);
    ken_jw_arr_end(w);
    ken_jw_key(w, "routing");
    ken_jw_arr_begin(w);
    for (size_t k = 0; k < i->n_route; k++) put_step(w, &i->route[k]);
    ken_jw_arr_end(w);
    ken_jw_key(w, "timings");
    ken_jw_obj_begin(w);
    ken_jw_key(w, "retrieval_s"); ken_jw_num(w, i->retrieval_s);
    ken_jw_key(w, "generation_s"); ken_jw_num(w, i->generation_s);
    ken_jw_key(w, "ttft_s"); ken_jw_num(w, i->ttft_s);
    ken_jw_key(w, "tokens_per_s"); ken_jw_num(w, i->tokens_per_s);
    ken_jw_key(w, "prompt_tokens"); ken_jw_uint(w, i->prompt_tokens);
    ken_jw_key(w, "generated_tokens"); ken_jw_uint(w, i->generated_tokens);
    ken_jw_obj_end(w);
    ken_jw_key(w, "history");
    ken_jw_obj_begin(w);
    ken_jw_key(w, "kept"); ken_jw_uint(w, i->history_kept);
    ken_jw_key(w, "dropped"); ken_jw_uint(w, i->history_dropped);
    ken_jw_obj_end(w);
    ken_jw_key(w, "finish"); ken_jw_str(w, i->finish);
    ken_jw_obj_end(w);
}

const char *ken_reply_json(ken_reply *r) {
    if (!r) return NULL;
    char **slot = ken_kb_reply_json_slot(r);
    if (*slot) return *slot;
    ken_buf b;
    ken_buf_init(&b, 0);
    ken_jw w;
    ken_jw_init(&w, &b, 0);
    put_reply(&w, ken_reply_get(r));
    if (ken_jw_status(&w) != KEN_OK) {
        ken_buf_free(&b);
        return NULL;
    }
    *slot = ken_buf_take(&b, NULL);
    return *slot;
}
