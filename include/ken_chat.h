/* ken_chat.h: chat templates: turn a conversation into the prompt text a
 * model expects, by rendering the model's own Jinja chat template
 * (tokenizer.chat_template in a GGUF) exactly as Hugging Face transformers
 * renders it, or a named built-in format when no template can be used.
 *
 * Messages are an OpenAI-style JSON array: [{"role": "system"|"user"|
 * "assistant"|"tool", "content": "..."}, ...] (extra fields such as
 * tool_calls are passed to the template as they are).
 * Strings the caller receives (out, warning, errmsg) are freed with ken_free. */
#ifndef KEN_CHAT_H
#define KEN_CHAT_H

#include "ken.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Renders template_text (Jinja) for messages_json. bos/eos: the token texts
 * given to the template as bos_token/eos_token (NULL: ""). extra_json: NULL
 * or a JSON object of extra variables (tools, enable_thinking, ...).
 * A template that raises (raise_exception) fails with KEN_ERR_FORMAT and the
 * template's message in *errmsg; no prompt is made up. */
ken_status ken_chat_render(const char *template_text, const char *messages_json,
                           int add_generation_prompt, const char *bos, const char *eos,
                           const char *extra_json, char **out, size_t *out_len, char **errmsg);

/* Renders with a built-in format: "chatml", "llama3", "mistral", "gemma",
 * "phi3", "deepseek", "granite". KEN_ERR_NOTFOUND for an unknown name. */
ken_status ken_chat_render_builtin(const char *format, const char *messages_json,
                                   int add_generation_prompt, const char *bos, const char *eos,
                                   char **out, size_t *out_len, char **errmsg);

/* The built-in format a template's text looks like ("chatml" when nothing
 * matches); a static string. */
const char *ken_chat_detect_format(const char *template_text);

/* The names of the built-in formats, comma-separated (static). */
const char *ken_chat_formats(void);
/* The turn markers of a built-in format (static strings; *n of them, NULL
 * and 0 for an unknown name): a model that writes one as plain text, not as
 * the special token that ends generation by itself, has finished its turn,
 * so generation stops there. */
const char *const *ken_chat_format_stops(const char *format, size_t *n);

typedef struct {
    uint32_t size;                  /* sizeof(ken_chat_opts) */
    const char *template_text;      /* NULL: the model's tokenizer.chat_template */
    const char *format;             /* non-NULL: use this built-in format, no template */
    int add_generation_prompt;
    const char *extra_json;         /* NULL or extra template variables (a JSON object) */
} ken_chat_opts;

/* Renders messages for the model in the GGUF file model_path: its template
 * (or opts->template_text) with the vocabulary's BOS/EOS token texts. When
 * the template is missing, cannot be parsed or uses something unsupported,
 * falls back to the built-in format detected from its text and sets
 * *warning (may be NULL) to say so; *warning is NULL otherwise. */
ken_status ken_chat_render_model(const char *model_path, const ken_chat_opts *opts,
                                 const char *messages_json, char **out, size_t *out_len,
                                 char **warning, char **errmsg);

#ifdef __cplusplus
}
#endif

#endif
