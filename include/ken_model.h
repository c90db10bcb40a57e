/* ken_model.h: the model side of the public API: facts about GGUF model
 * files. (Tokenizers are in ken_tok.h; inference will join here.) */
#ifndef KEN_MODEL_H
#define KEN_MODEL_H

#include "ken.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Describes the GGUF file at path: architecture, parameter count, tensor
 * types (count and bytes per type), context and embedding length, layers,
 * heads, vocabulary type and size, special tokens, chat template presence,
 * file type, GGUF version and alignment.
 * json = 0: human-readable text; json != 0: one JSON document (stable
 * snake_case field names, see docs). On success *out is the text, which the
 * caller frees with ken_free. On failure *out is NULL and, when errmsg is not
 * NULL, *errmsg is a message the caller frees with ken_free.
 * Returns KEN_ERR_NOTFOUND (no such file), KEN_ERR_IO, KEN_ERR_FORMAT,
 * KEN_ERR_LIMIT, KEN_ERR_VERSION, KEN_ERR_UNSUPPORTED (bad input), or
 * KEN_ERR_NOMEM. */
ken_status ken_model_info(const char *path, int json, char **out, char **errmsg);

#ifdef __cplusplus
}
#endif
#endif
