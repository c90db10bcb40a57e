/* test_model_quant.c: ken_model_quantize against llama-quantize: every
 * tiny-llama-q-<TYPE>.gguf fixture was made by llama-quantize from
 * tiny-llama-q-f32.gguf; quantizing the same file must give the same
 * tensors, types and bytes — in fact the same file, byte for byte. Plus errors for unknown types, adapters and
 * missing files, and a quantized file that loads and runs. */
#include "ken_infer.h"
#include "gguf/gguf.h"
#include "test.h"

#include <unistd.h>

static void compare(const char *type, const char *got_path) {
    char want_path[1024];
    snprintf(want_path, sizeof want_path, "%s/models/tiny-llama-q-%s.gguf", test_fixtures(), type);
    ken_err err;
    ken_gguf *a = NULL, *b = NULL;
    REQUIRE(ken_gguf_open(got_path, &a, &err) == KEN_OK);
    if (ken_gguf_open(want_path, &b, &err) != KEN_OK) {
        CHECK(0);
        ken_gguf_close(a);
        return;
    }
    CHECK_EQ_INT(ken_gguf_n_tensors(a), ken_gguf_n_tensors(b));
    int same = 0;
    for (uint64_t i = 0; i < ken_gguf_n_tensors(b); i++) {
        const ken_gguf_tensor *w = ken_gguf_tensor_at(b, i);
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)w->name.n, w->name.p);
        const ken_gguf_tensor *g = ken_gguf_tensor_find(a, name);
        CHECKF(g != NULL, "%s: %s missing", type, name);
        if (!g) continue;
        CHECKF(g->type == w->type, "%s: %s is %s, llama-quantize wrote %s", type, name,
               ken_dtype_name(g->type), ken_dtype_name(w->type));
        bool eq = g->type == w->type && g->n_bytes == w->n_bytes &&
                  memcmp(g->data, w->data, g->n_bytes) == 0;
        CHECKF(eq, "%s: %s bytes differ", type, name);
        same += eq;
    }
    uint32_t ft = 0, wft = 1;
    CHECK(ken_gguf_get_u32(a, "general.file_type", &ft) && ken_gguf_get_u32(b, "general.file_type", &wft));
    CHECK_EQ_INT(ft, wft);
    bool file_eq = ken_gguf_file_size(a) == ken_gguf_file_size(b) &&
                   memcmp(ken_gguf_bytes(a), ken_gguf_bytes(b), ken_gguf_file_size(a)) == 0;
    CHECKF(file_eq, "%s: the file differs from llama-quantize's", type);
    fprintf(stderr, "%-7s %d/%d tensors byte-identical to llama-quantize; whole file %s\n", type,
            same, (int)ken_gguf_n_tensors(b), file_eq ? "identical" : "DIFFERENT");
    ken_gguf_close(a);
    ken_gguf_close(b);
}

static bool same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    for (int ca = 0, cb = 0; same && ca != EOF; same = ca == cb) {
        ca = fgetc(fa);
        cb = fgetc(fb);
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void test_quantize(void) {
    char src[1024], out[] = "/tmp/ken_test_quant_XXXXXX";
    snprintf(src, sizeof src, "%s/models/tiny-llama-q-f32.gguf", test_fixtures());
    int fd = mkstemp(out);
    REQUIRE(fd >= 0);
    close(fd);
    static const char *types[] = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K",
                                  "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char *msg = NULL;
        ken_status st = ken_model_quantize(src, out, types[i], &msg);
        CHECKF(st == KEN_OK, "%s: %s", types[i], msg ? msg : "");
        ken_free(msg);
        if (!st) compare(types[i], out);
    }
    /* the last one (Q6_K) loads and generates */
    ken_model *m = NULL;
    char *msg = NULL;
    REQUIRE(ken_model_open(out, &m, &msg) == KEN_OK);
    ken_ctx *c = NULL;
    REQUIRE(ken_ctx_new(m, NULL, &c, &msg) == KEN_OK);
    char *text = NULL;
    ken_gen_opts o = {.size = sizeof o, .max_tokens = 8, .ignore_eog = 1};
    CHECK(ken_generate(c, "Once upon a time", 16, &o, &text, NULL, NULL) == KEN_OK);
    CHECK(text && *text);
    ken_free(text);
    ken_ctx_free(c);
    ken_model_close(m);
    /* F16 and back to a K-quant from a quantized input */
    CHECK(ken_model_quantize(src, out, "F16", NULL) == KEN_OK);
    char out2[sizeof out + 4];
    snprintf(out2, sizeof out2, "%s.q4", out);
    CHECK(ken_model_quantize(out, out2, "Q4_K_M", NULL) == KEN_OK);
    CHECK(ken_model_open(out2, &m, NULL) == KEN_OK);
    ken_model_close(m);
    /* "q4_k" is llama-quantize's alias of Q4_K_M: the same file */
    char out3[sizeof out + 4];
    snprintf(out3, sizeof out3, "%s.q3", out);
    CHECK(ken_model_quantize(out, out3, "q4_k", NULL) == KEN_OK);
    CHECK(same_file(out2, out3));
    unlink(out3);
    unlink(out2);
    /* errors */
    CHECK(ken_model_quantize(src, out, "Q9_Z", &msg) == KEN_ERR_INVALID);
    CHECK(msg && strstr(msg, "Q9_Z"));
    ken_free(msg);
    CHECK(ken_model_quantize("/nonexistent.gguf", out, "Q8_0", NULL) != KEN_OK);
    char lora[1024];
    snprintf(lora, sizeof lora, "%s/models/tiny-llama3-lora-r4.gguf", test_fixtures());
    CHECK(ken_model_quantize(lora, out, "Q8_0", NULL) == KEN_ERR_UNSUPPORTED);
    unlink(out);
}

TEST_MAIN(test_quantize)
