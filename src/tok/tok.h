/* tok.h: the tokenizer module's internal API, for the model code: load a
 * vocab from an already open GGUF file, tokenize into a caller buffer,
 * render pieces. The public face of the same objects is include/ken_tok.h.
 *
 * Ownership: ken_tok_load copies everything it needs, so the GGUF may be
 * closed afterwards. Output arrays are malloc'd and owned by the caller. */
#ifndef KEN_TOK_TOK_H
#define KEN_TOK_TOK_H

#include "base/base.h"
#include "gguf/gguf.h"
#include "ken_tok.h"

/* Loads the tokenizer metadata of g. */
ken_status ken_tok_load(const ken_gguf *g, ken_vocab **out, ken_err *err);

/* Tokenizes; *ids malloc'd (NULL when *n == 0). */
ken_status ken_tok_tokenize(const ken_vocab *v, const char *text, size_t len, bool add_special,
                            bool parse_special, int32_t **ids, size_t *n, ken_err *err);

/* Piece of id (see ken_token_piece); NULL/0 when id is out of range. */
const char *ken_tok_piece(const ken_vocab *v, int32_t id, bool special, size_t *len);

/* Detokenizes into a malloc'd NUL-terminated string. */
ken_status ken_tok_detokenize(const ken_vocab *v, const int32_t *ids, size_t n,
                              bool remove_special, bool unparse_special, char **text,
                              size_t *len, ken_err *err);

/* Token attributes (llama_token_attr bits), control test, and whether id
 * ends generation (EOS, EOT, EOM, FIM pad/repo/sep, "<|im_end|>", ...). */
uint32_t ken_tok_attr(const ken_vocab *v, int32_t id);
bool ken_tok_is_control(const ken_vocab *v, int32_t id);
bool ken_tok_is_eog(const ken_vocab *v, int32_t id);

#endif
