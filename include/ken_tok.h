/* ken_tok.h: tokenizers of GGUF models, token for token identical to
 * llama.cpp: byte-level BPE (GPT-2 style, with the pre-tokenizer named by
 * tokenizer.ggml.pre), SentencePiece BPE (tokenizer.ggml.model = llama),
 * WordPiece (bert) and Unigram (t5: T5, XLM-RoBERTa; with SentencePiece's
 * precompiled charsmap normalization).
 *
 * A ken_vocab is immutable after loading and may be shared by threads.
 * Memory the caller owns (ids, text, errmsg) is released with ken_free. */
#ifndef KEN_TOK_H
#define KEN_TOK_H

#include "ken.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ken_vocab ken_vocab;

/* llama.cpp's enum llama_vocab_type numbering. */
typedef enum {
    KEN_TOK_NONE = 0, KEN_TOK_SPM = 1, KEN_TOK_BPE = 2, KEN_TOK_WPM = 3, KEN_TOK_UGM = 4
} ken_tok_type;

/* Special token ids; -1 when the vocab has none. */
typedef struct {
    int32_t bos, eos, eot, eom, unk, sep, pad, mask, nl;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
} ken_tok_special;

/* Loads the tokenizer of a GGUF file (model or vocab-only). On failure
 * *errmsg (if errmsg is not NULL) gets a message the caller frees with
 * ken_free. */
ken_status ken_vocab_load(const char *gguf_path, ken_vocab **out, char **errmsg);
void ken_vocab_free(ken_vocab *v);

ken_tok_type ken_vocab_type(const ken_vocab *v);
int32_t ken_vocab_n_tokens(const ken_vocab *v);
/* The tokenizer.ggml.pre name ("llama-bpe", ...; "" when absent). */
const char *ken_vocab_pre(const ken_vocab *v);
const ken_tok_special *ken_vocab_special(const ken_vocab *v);
/* What add_special adds: BOS first / EOS last / SEP last (llama.cpp's defaults
 * when the GGUF has no tokenizer.ggml.add_*_token key). */
int ken_vocab_add_bos(const ken_vocab *v);
int ken_vocab_add_eos(const ken_vocab *v);
int ken_vocab_add_sep(const ken_vocab *v);
/* Whether id ends generation (EOS, end-of-turn and the like, as llama.cpp
 * decides from metadata and token texts). */
int ken_vocab_is_eog(const ken_vocab *v, int32_t id);

/* Tokenizes text[0..len). add_special adds BOS/EOS (or [CLS] ... [SEP]) as the
 * vocab wants; parse_special turns the text of control tokens ("<s>",
 * "<|im_start|>") into those tokens (user-defined tokens are always
 * recognised, as in llama.cpp). Untrusted text: parse_special = 0.
 * *ids is allocated (NULL when *n is 0); free it with ken_free. */
ken_status ken_tokenize(const ken_vocab *v, const char *text, size_t len, int add_special,
                        int parse_special, int32_t **ids, size_t *n);

/* The text of token id as it appears in the output (byte-level and space
 * escapes undone); control tokens give "" unless special. The pointer stays
 * valid while v lives. KEN_ERR_INVALID for an id out of range. */
ken_status ken_token_piece(const ken_vocab *v, int32_t id, int special, const char **piece,
                           size_t *len);
/* The token's raw vocabulary text (e.g. "Ġworld", "▁Hello", "<0x0A>"). */
ken_status ken_token_text(const ken_vocab *v, int32_t id, const char **text, size_t *len);

/* Turns ids back into text like llama_detokenize: remove_special drops a
 * leading BOS / trailing EOS the vocab adds; unparse_special renders control
 * tokens. *text is NUL-terminated, allocated; free with ken_free. */
ken_status ken_detokenize(const ken_vocab *v, const int32_t *ids, size_t n, int remove_special,
                          int unparse_special, char **text, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
