/* test_base.c: buffers, SHA-256, UTF-8, text decoding/normalization, JSON writer. */
#include "base/base.h"
#include "test.h"

static void test_buf(void) {
    ken_buf b;
    ken_buf_init(&b, 16);
    CHECK(ken_buf_puts(&b, "hello") == KEN_OK);
    CHECK(ken_buf_printf(&b, " %d", 42) == KEN_OK);
    CHECK_EQ_STR(b.data, "hello 42");
    CHECK(ken_buf_puts(&b, "0123456789") == KEN_ERR_LIMIT);  /* over the cap */
    CHECK_EQ_STR(b.data, "hello 42");                         /* unchanged */
    size_t n;
    char *p = ken_buf_take(&b, &n);
    CHECK_EQ_INT(n, 8);
    free(p);
    ken_buf_free(&b);
}

static void test_sha256(void) {
    char hex[65];
    ken_sha256_hex("", 0, hex);
    CHECK_EQ_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ken_sha256_hex("abc", 3, hex);
    CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* 1,000,000 x 'a' fed in odd pieces. */
    ken_sha256 s;
    uint8_t md[32];
    char a[997];
    memset(a, 'a', sizeof a);
    ken_sha256_init(&s);
    size_t left = 1000000;
    while (left) {
        size_t k = left < sizeof a ? left : sizeof a;
        ken_sha256_update(&s, a, k);
        left -= k;
    }
    ken_sha256_final(&s, md);
    ken_hex(md, 32, hex);
    CHECK_EQ_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* The SHA-NI path (when the CPU has it) against the portable one, on every
 * length from 0 to 300 and on odd update splits. */
static void test_sha256_paths(void) {
    uint8_t data[300];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof data; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    bool simd = ken_sha256_use_ref(false);
    fprintf(stderr, "sha256: SIMD path %s\n", simd ? "in use" : "not available");
    for (size_t n = 0; n <= sizeof data; n++) {
        char a[65], b[65];
        ken_sha256_use_ref(true);
        ken_sha256_hex(data, n, a);
        ken_sha256_use_ref(false);
        ken_sha256 s;
        uint8_t md[32];
        ken_sha256_init(&s);
        ken_sha256_update(&s, data, n / 3);
        ken_sha256_update(&s, data + n / 3, n - n / 3);
        ken_sha256_final(&s, md);
        ken_hex(md, 32, b);
        CHECKF(strcmp(a, b) == 0, "length %zu", n);
    }
}

static void test_utf8(void) {
    CHECK(ken_utf8_valid("abc", 3));
    CHECK(ken_utf8_valid("\xC3\xA9", 2));
    CHECK(!ken_utf8_valid("\xC0\xAF", 2));           /* overlong */
    CHECK(!ken_utf8_valid("\xED\xA0\x80", 3));       /* surrogate */
    CHECK(!ken_utf8_valid("\xF4\x90\x80\x80", 4));   /* > U+10FFFF */
    CHECK(!ken_utf8_valid("\xE2\x82", 2));           /* truncated */
    CHECK_EQ_INT(ken_utf8_valid_prefix("abcdefghij\xFF", 11), 10);
    size_t i = 0;
    CHECK_EQ_INT(ken_utf8_next("\xF0\x9F\x99\x82", 4, &i), 0x1F642);
    CHECK_EQ_INT(i, 4);
    i = 0;
    CHECK_EQ_INT(ken_utf8_next("\xFF", 1, &i), 0xFFFD);
    CHECK_EQ_INT(i, 1);
}

static void test_decode(void) {
    ken_buf b;
    ken_err e = {{0}};
    ken_buf_init(&b, 0);
    /* Latin-1 fallback. */
    CHECK(ken_text_decode("caf\xE9", 4, &b, NULL, &e) == KEN_OK);
    CHECK_EQ_STR(b.data, "caf\xC3\xA9");
    ken_buf_reset(&b);
    /* UTF-16LE with BOM, with a surrogate pair. */
    const char u16[] = "\xFF\xFE" "h\0i\0" "\x3D\xD8\x42\xDE";
    CHECK(ken_text_decode(u16, sizeof u16 - 1, &b, NULL, &e) == KEN_OK);
    CHECK_EQ_STR(b.data, "hi\xF0\x9F\x99\x82");
    ken_buf_reset(&b);
    /* UTF-16BE with BOM. */
    CHECK(ken_text_decode("\xFE\xFF\0o\0k", 6, &b, NULL, &e) == KEN_OK);
    CHECK_EQ_STR(b.data, "ok");
    ken_buf_reset(&b);
    /* UTF-8 BOM is dropped. */
    CHECK(ken_text_decode("\xEF\xBB\xBFx", 4, &b, NULL, &e) == KEN_OK);
    CHECK_EQ_STR(b.data, "x");
    ken_buf_reset(&b);
    /* Damaged UTF-8 stays UTF-8: a stray byte and a cut last character
     * become U+FFFD (not the whole text read as Latin-1). */
    ken_text_info info;
    CHECK(ken_text_decode("K\xC3\xB6ln \xFF caf\xC3\xA9 \xC3", 15, &b, &info, &e) == KEN_OK);
    CHECK_EQ_STR(b.data, "K\xC3\xB6ln \xEF\xBF\xBD caf\xC3\xA9 \xEF\xBF\xBD");
    CHECK_EQ_INT(info.enc, KEN_ENC_UTF8);
    CHECK_EQ_INT(info.replaced, 2);
    ken_buf_reset(&b);
    /* Latin-1 is told apart: no valid multi-byte sequence. */
    CHECK(ken_text_decode("caf\xE9 cr\xE8me \xC3", 12, &b, &info, &e) == KEN_OK);
    CHECK_EQ_STR(b.data, "caf\xC3\xA9 cr\xC3\xA8me \xC3\x83");
    CHECK_EQ_INT(info.enc, KEN_ENC_LATIN1);
    CHECK_EQ_INT(info.replaced, 0);
    ken_buf_reset(&b);
    /* UTF-16 cut in the middle of a unit, and a lone surrogate. */
    CHECK(ken_text_decode("\xFF\xFEo\0\x00\xD8k\0!", 9, &b, &info, &e) == KEN_OK);
    CHECK_EQ_STR(b.data, "o\xEF\xBF\xBDk\xEF\xBF\xBD");
    CHECK_EQ_INT(info.enc, KEN_ENC_UTF16LE);
    CHECK_EQ_INT(info.replaced, 2);
    ken_buf_reset(&b);
    /* Binary. */
    CHECK(ken_text_decode("ab\0cd", 5, &b, NULL, &e) == KEN_ERR_FORMAT);
    CHECK(strstr(e.msg, "binary") != NULL);
    ken_buf_free(&b);
}

static void test_normalize(void) {
    ken_buf b;
    ken_buf_init(&b, 0);
    /* e + combining acute -> precomposed; CRLF -> LF; stray controls dropped. */
    CHECK(ken_text_normalize("e\xCC\x81\r\nx\x01y\rz", 11, &b) == KEN_OK);
    CHECK_EQ_STR(b.data, "\xC3\xA9\nxy\nz");
    ken_buf_reset(&b);
    CHECK(ken_text_normalize("\xFF", 1, &b) == KEN_ERR_FORMAT);
    ken_buf_free(&b);
}

static void test_jw(void) {
    ken_buf b;
    ken_jw w;
    ken_buf_init(&b, 0);
    ken_jw_init(&w, &b, 0);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "s");
    ken_jw_str(&w, "a\"b\\\n\x01\xFF");
    ken_jw_key(&w, "n");
    ken_jw_num(&w, 0.1);
    ken_jw_key(&w, "a");
    ken_jw_arr_begin(&w);
    ken_jw_int(&w, -3);
    ken_jw_bool(&w, true);
    ken_jw_null(&w);
    ken_jw_arr_end(&w);
    ken_jw_obj_end(&w);
    CHECK(ken_jw_status(&w) == KEN_OK);
    CHECK_EQ_STR(b.data, "{\"s\":\"a\\\"b\\\\\\n\\u0001\xEF\xBF\xBD\",\"n\":0.1,\"a\":[-3,true,null]}");
    ken_buf_free(&b);
}

TEST_MAIN(test_buf, test_sha256, test_sha256_paths, test_utf8, test_decode, test_normalize, test_jw)
