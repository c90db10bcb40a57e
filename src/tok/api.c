/* api.c: the public face of the tokenizers (include/ken_tok.h): loading
 * from a path, and thin wrappers that turn ken_err messages into strings
 * the caller owns. */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>

static void give_msg(char **errmsg, const ken_err *e) {
    if (errmsg) *errmsg = ken_strdup(e->msg[0] ? e->msg : "tokenizer error");
}

ken_status ken_vocab_load(const char *gguf_path, ken_vocab **out, char **errmsg) {
    ken_err e;
    ken_gguf *g = NULL;
    ken_err_clear(&e);
    if (errmsg) *errmsg = NULL;
    *out = NULL;
    if (!gguf_path) {
        ken_err_set(&e, KEN_ERR_INVALID, "no model path");
        give_msg(errmsg, &e);
        return KEN_ERR_INVALID;
    }
    ken_status st = ken_gguf_open(gguf_path, &g, &e);
    if (st == KEN_OK) st = ken_tok_load(g, out, &e);
    ken_gguf_close(g);
    if (st != KEN_OK) give_msg(errmsg, &e);
    return st;
}

ken_tok_type ken_vocab_type(const ken_vocab *v) { return v->type; }
int32_t ken_vocab_n_tokens(const ken_vocab *v) { return v->n_tokens; }
const char *ken_vocab_pre(const ken_vocab *v) { return v->pre_name; }
const ken_tok_special *ken_vocab_special(const ken_vocab *v) { return &v->sp; }
int ken_vocab_add_bos(const ken_vocab *v) { return v->add_bos; }
int ken_vocab_add_eos(const ken_vocab *v) { return v->add_eos; }
int ken_vocab_add_sep(const ken_vocab *v) { return v->add_sep; }
int ken_vocab_is_eog(const ken_vocab *v, int32_t id) { return ken_tok_is_eog(v, id); }

ken_status ken_tokenize(const ken_vocab *v, const char *text, size_t len, int add_special,
                        int parse_special, int32_t **ids, size_t *n) {
    ken_err e;
    if (!v || !ids || !n) return KEN_ERR_INVALID;
    return ken_tok_tokenize(v, text, len, add_special != 0, parse_special != 0, ids, n, &e);
}

ken_status ken_token_piece(const ken_vocab *v, int32_t id, int special, const char **piece,
                           size_t *len) {
    if (!v || !piece || !len) return KEN_ERR_INVALID;
    *piece = ken_tok_piece(v, id, special != 0, len);
    if (!*piece) return KEN_ERR_INVALID;
    return KEN_OK;
}

ken_status ken_token_text(const ken_vocab *v, int32_t id, const char **text, size_t *len) {
    if (!v || !text || !len || id < 0 || id >= v->n_tokens) return KEN_ERR_INVALID;
    *text = tok_text(v, id, len);
    return KEN_OK;
}

ken_status ken_detokenize(const ken_vocab *v, const int32_t *ids, size_t n, int remove_special,
                          int unparse_special, char **text, size_t *len) {
    ken_err e;
    if (!v || !text || !len || (!ids && n)) return KEN_ERR_INVALID;
    return ken_tok_detokenize(v, ids, n, remove_special != 0, unparse_special != 0, text, len, &e);
}
