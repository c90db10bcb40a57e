/* http.c: the HTTP backend of ken_llm (an OpenAI-compatible server). Not
 * built yet: opening one fails with a clear message. */
#include "llm/llm_int.h"

ken_status llm_http_open(ken_llm *l, const ken_llm_opts *o, char **errmsg) {
    (void)o;
    l->kind = LLM_HTTP;
    llm_errmsg(errmsg, "the HTTP backend is not available in this build yet");
    return KEN_ERR_UNSUPPORTED;
}

void llm_http_close(ken_llm *l) { (void)l; }

ken_status llm_http_chat(ken_llm *l, const char *messages_json, const ken_llm_gen_opts *o,
                         char **text, size_t *text_len, ken_llm_stats *stats, char **errmsg) {
    return KEN_ERR_UNSUPPORTED;
}

ken_status llm_http_embed(ken_llm *l, const char *const *texts, const size_t *lens, size_t n,
                          float **vecs, size_t *dim, char **errmsg) {
    return KEN_ERR_UNSUPPORTED;
}
