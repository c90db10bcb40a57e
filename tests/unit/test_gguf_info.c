/* test_gguf_info.c: ken_model_info on the fixture models, as text and as
 * JSON: the facts the fixtures README states, and clean errors for missing
 * and truncated files. */
#include "gguf/gguf.h"
#include "ken_model.h"
#include "test.h"

#include <unistd.h>

static char *info(const char *rel, int json) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_fixtures(), rel);
    char *out = NULL, *msg = NULL;
    ken_status st = ken_model_info(path, json, &out, &msg);
    CHECKF(st == KEN_OK && out && !msg, "%s: %s", rel, msg ? msg : "?");
    free(msg);
    return out;
}

#define HAS(s, needle) CHECKF((s) && strstr((s), (needle)) != NULL, "missing '%s' in:\n%s", \
                              needle, (s) ? (s) : "(null)")

static void test_stories(void) {
    char *t = info("models/stories260K.gguf", 0);
    HAS(t, "architecture      llama\n");
    HAS(t, "GGUF v3, alignment 32, 19 kvs, 48 tensors");
    HAS(t, "layers            5\n");
    HAS(t, "embedding length  64\n");
    HAS(t, "context length    2,048\n");
    HAS(t, "heads             8\n");
    HAS(t, "kv heads          4\n");
    HAS(t, "vocabulary        llama, 512 tokens");
    HAS(t, "bos 1 '<s>'");
    HAS(t, "eos 2 '</s>'");
    HAS(t, "unk 0 '<unk>'");
    HAS(t, "chat template     no");
    CHECK(t && strstr(t, "pad") == NULL);            /* 0xFFFFFFFF means none */
    HAS(t, "  F32          48 tensors");
    free(t);
    char *j = info("models/stories260K.gguf", 1);
    HAS(j, "\"architecture\": \"llama\"");
    HAS(j, "\"block_count\": 5");
    HAS(j, "\"embedding_length\": 64");
    HAS(j, "\"tensor_count\": 48");
    HAS(j, "\"gguf_version\": 3");
    HAS(j, "\"size\": 512");
    HAS(j, "\"text\": \"<s>\"");
    HAS(j, "\"pad\": null");
    HAS(j, "\"chat_template\": false");
    HAS(j, "\"file_bytes\": 1185376");
    free(j);
}

static void test_quantized(void) {
    char *j = info("models/tiny-llama-q-Q4_K_M.gguf", 1);
    HAS(j, "\"file_type\": 15");
    HAS(j, "\"file_type_name\": \"MOSTLY_Q4_K_M\"");
    HAS(j, "\"type\": \"Q4_K\",\n      \"count\": 13");
    HAS(j, "\"type\": \"Q6_K\",\n      \"count\": 3");
    HAS(j, "\"type\": \"F32\",\n      \"count\": 5");
    free(j);
    char *t = info("models/tiny-llama-q-Q4_K_M.gguf", 0);
    HAS(t, "MOSTLY_Q4_K_M (15)");
    HAS(t, "  Q4_K         13 tensors");
    free(t);
}

static void test_bert_and_vocab(void) {
    char *j = info("models/tiny-bge-cls-f32.gguf", 1);
    HAS(j, "\"architecture\": \"bert\"");
    HAS(j, "\"cls\": {\n      \"id\": 101,\n      \"text\": \"[CLS]\"");
    HAS(j, "\"sep\": {\n      \"id\": 102,\n      \"text\": \"[SEP]\"");
    HAS(j, "\"mask\": {\n      \"id\": 103,\n      \"text\": \"[MASK]\"");
    HAS(j, "\"size\": 30522");
    HAS(j, "\"pre\": \"bert-bge\"");
    free(j);
    j = info("tokenizer/ggml-vocab-phi-3.gguf", 1);
    HAS(j, "\"chat_template\": true");
    HAS(j, "\"add_bos_token\": true");
    HAS(j, "\"tensor_count\": 0");
    HAS(j, "\"parameters\": 0");
    HAS(j, "\"tensor_types\": []");
    free(j);
    char *t = info("models/tiny-llama3-lora-r4.gguf", 0);
    HAS(t, "type              adapter\n");
    HAS(t, "adapter           lora\n");
    HAS(t, "lora alpha        8\n");
    free(t);
}

static void test_errors(void) {
    char *out = (char *)1, *msg = NULL;
    CHECK(ken_model_info("/nonexistent/m.gguf", 0, &out, &msg) == KEN_ERR_NOTFOUND);
    CHECK(out == NULL);
    HAS(msg, "m.gguf");
    free(msg);
    /* a truncated copy of a real model */
    char src[4096], dst[64];
    snprintf(src, sizeof src, "%s/models/stories260K.gguf", test_fixtures());
    snprintf(dst, sizeof dst, "/tmp/ken_gguf_info_XXXXXX");
    int fd = mkstemp(dst);
    REQUIRE(fd >= 0);
    FILE *in = fopen(src, "rb");
    REQUIRE(in);
    char buf[5000];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    CHECK(write(fd, buf, n) == (ssize_t)n);
    close(fd);
    msg = NULL;
    CHECK(ken_model_info(dst, 1, &out, &msg) == KEN_ERR_FORMAT);
    HAS(msg, "truncated");
    free(msg);
    unlink(dst);
    msg = NULL;
    CHECK(ken_model_info(NULL, 0, &out, &msg) == KEN_ERR_INVALID);
    free(msg);
}

TEST_MAIN(test_stories, test_quantized, test_bert_and_vocab, test_errors)
