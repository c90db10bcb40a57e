/* fuzz_base_json.c: arbitrary bytes through the JSON parser; on success the
 * DOM is walked (without recursion) and its invariants checked: valid UTF-8
 * strings, keys exactly on object members, numbers with their text. */
#include "base/json.h"

#include <stdlib.h>
#include <string.h>

static void check(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ken_json_opts o;
    memset(&o, 0, sizeof o);
    o.depth_max = 64;
    ken_json_doc *d;
    ken_json_error pe;
    ken_err err;
    ken_status st = ken_json_parse((const char *)data, size, &o, &d, &pe, &err);
    if (st != KEN_OK) {
        check(d == NULL && pe.what != NULL && pe.offset <= size && pe.line >= 1 && pe.col >= 1);
        return 0;
    }
    /* Iterative walk with an explicit stack of (node, next child). */
    const ken_json *stack[70];
    size_t next[70], top = 0;
    stack[0] = ken_json_root(d);
    next[0] = 0;
    for (;;) {
        const ken_json *v = stack[top];
        if (next[top] == 0) {
            if (v->type == KEN_JSON_STRING) check(ken_utf8_valid(v->str, v->len) && v->str[v->len] == 0);
            if (v->type == KEN_JSON_NUMBER) check(v->str && v->len > 0);
        }
        if ((v->type == KEN_JSON_ARRAY || v->type == KEN_JSON_OBJECT) && next[top] < v->n) {
            const ken_json *k = &v->kids[next[top]++];
            check((v->type == KEN_JSON_OBJECT) == (k->key != NULL));
            if (k->key) check(ken_json_getn(v, k->key, k->key_len) != NULL);
            check(top + 1 < 70);
            stack[++top] = k;
            next[top] = 0;
            continue;
        }
        if (top == 0) break;
        top--;
    }
    ken_json_free(d);
    return 0;
}
