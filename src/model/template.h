/* template.h: chat templates inside the library (template.c): the public
 * calls are in include/ken_chat.h; this adds the forms that work on parsed
 * JSON and ken_err, for other modules (generation, the server). */
#ifndef KEN_TEMPLATE_H
#define KEN_TEMPLATE_H

#include "base/base.h"
#include "base/json.h"
#include "ken_chat.h"

/* Renders the Jinja template tmpl[0..tlen) for messages (a JSON array);
 * extra: NULL or a JSON object of more variables. Appends to out. */
ken_status ken_chat_render_json(const char *tmpl, size_t tlen, const ken_json *messages,
                                int add_generation_prompt, const char *bos, const char *eos,
                                const ken_json *extra, ken_buf *out, ken_err *err);

/* Renders messages with the built-in format `format`; appends to out. */
ken_status ken_chat_builtin_json(const char *format, const ken_json *messages,
                                 int add_generation_prompt, const char *bos, const char *eos,
                                 ken_buf *out, ken_err *err);

#endif
