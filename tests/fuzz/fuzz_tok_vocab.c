/* fuzz_tok_vocab.c: libFuzzer target for loading a tokenizer from GGUF
 * metadata (ken_tok_load: token arrays, merges, pre-tokenizer names,
 * special ids, the Unigram precompiled charsmap and tries) and then using
 * it: a fixed text and the input's last bytes are tokenized with and
 * without special tokens, and the ids detokenized. Loading may fail (with a
 * message); tokenizing may fail only with KEN_ERR_FORMAT, the status of a
 * charsmap that indexes out of its bounds (llama.cpp throws there too);
 * every id must be in range. Seeds: small vocabularies of each model type,
 * the Unigram ones with a hand-built charsmap (tests/unit/test_tok_ugm.c,
 * KEN_TEST_UGM_DUMP). */
#include "tok/tok_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void use(const ken_vocab *v, const char *t, size_t n) {
    for (int mode = 0; mode < 4; mode++) {
        int32_t *ids = NULL;
        size_t ni = 0;
        ken_err e;
        ken_status st = ken_tok_tokenize(v, t, n, mode & 1, mode & 2, &ids, &ni, &e);
        if (st != KEN_OK) {
            if ((st != KEN_ERR_FORMAT && st != KEN_ERR_INVALID) || ids || !e.msg[0])
                __builtin_trap();
            continue;
        }
        for (size_t i = 0; i < ni; i++)
            if (ids[i] < 0 || ids[i] >= v->n_tokens) __builtin_trap();
        char *text = NULL;
        size_t tn = 0;
        if (ken_tok_detokenize(v, ids, ni, mode & 1, mode & 2, &text, &tn, &e) != KEN_OK)
            __builtin_trap();
        free(text), free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char text[] = "Hello  world\t\n<A>ABCD x<s></s> \xff\xc3\xa9\xe2\x96\x81zz <mask>";
    ken_gguf *g = NULL;
    ken_vocab *v = NULL;
    ken_err err;
    if (ken_gguf_open_mem(data, size, &g, &err) != KEN_OK) return 0;
    if (ken_tok_load(g, &v, &err) != KEN_OK) {
        if (v || !err.msg[0]) __builtin_trap();           /* failures always explain */
        ken_gguf_close(g);
        return 0;
    }
    ken_gguf_close(g);                                   /* the vocab copied what it needs */
    use(v, text, sizeof text - 1);
    size_t tail = size < 96 ? size : 96;
    use(v, (const char *)data + size - tail, tail);
    ken_vocab_free(v);
    return 0;
}
