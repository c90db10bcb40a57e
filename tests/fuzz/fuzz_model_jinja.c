/* fuzz_model_jinja.c: arbitrary bytes as a chat template, parsed and (when
 * it parses) rendered for a small conversation with tight limits: nothing
 * may crash, hang, leak or read out of bounds; a failure must come with a
 * status and a message, a success with output inside the output limit. */
#include "model/jinja.h"

#include <stdlib.h>
#include <string.h>

static void check(int cond) {
    if (!cond) abort();
}

static const char VARS[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"Hi \\u00e9\"},"
    "{\"role\":\"assistant\",\"content\":\"<think>x</think>A\",\"tool_calls\":[{\"type\":\"function\","
    "\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1,\"b\":[true,null,2.5]}}}]}],"
    "\"add_generation_prompt\":true,\"bos_token\":\"<s>\",\"eos_token\":\"</s>\",\"tools\":null}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ken_json_doc *vars_doc;
    if (!vars_doc) check(ken_json_parse(VARS, strlen(VARS), NULL, &vars_doc, NULL, NULL) == KEN_OK);
    ken_jinja_tmpl *t = NULL;
    ken_err err;
    err.msg[0] = 0;
    ken_status st = ken_jinja_parse((const char *)data, size, &t, &err);
    if (st != KEN_OK) {
        check(t == NULL && err.msg[0] != 0);
        return 0;
    }
    ken_jinja_limits lim = {.out_max = 1 << 16, .mem_max = 16 << 20, .depth_max = 100, .steps_max = 50000};
    const ken_json *vars[1] = {ken_json_root(vars_doc)};
    ken_buf out;
    ken_buf_init(&out, 0);
    err.msg[0] = 0;
    st = ken_jinja_render(t, vars, 1, &lim, &out, &err);
    if (st != KEN_OK) check(err.msg[0] != 0);
    else check(out.len <= lim.out_max);
    ken_buf_free(&out);
    ken_jinja_free(t);
    return 0;
}
