/* tests/test.h: the tiny harness every C test uses.
 * A test is a program: CHECK records a failure and goes on, REQUIRE stops the
 * test function; TEST_MAIN runs the listed functions and exits non-zero when
 * anything failed, so ctest sees it. */
#ifndef KEN_TEST_H
#define KEN_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures_;
static int test_checks_;

#define CHECK(cond) do { test_checks_++; if (!(cond)) { test_failures_++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECKF(cond, ...) do { test_checks_++; if (!(cond)) { test_failures_++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define REQUIRE(cond) do { test_checks_++; if (!(cond)) { test_failures_++; \
    fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); return; } } while (0)
#define CHECK_EQ_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    CHECKF(a_ == b_, "%s = %lld, %s = %lld", #a, a_, #b, b_); } while (0)
#define CHECK_EQ_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    CHECKF(a_ && b_ && strcmp(a_, b_) == 0, "%s = \"%s\", %s = \"%s\"", #a, \
           a_ ? a_ : "(null)", #b, b_ ? b_ : "(null)"); } while (0)

typedef void (*test_fn)(void);
#define TEST_MAIN(...) int main(void) { \
    test_fn fns_[] = { __VA_ARGS__ }; \
    for (size_t i_ = 0; i_ < sizeof fns_ / sizeof fns_[0]; i_++) fns_[i_](); \
    fprintf(stderr, "%d checks, %d failed\n", test_checks_, test_failures_); \
    if (test_checks_ == 0) { fprintf(stderr, "no checks ran\n"); return 1; } \
    return test_failures_ ? 1 : 0; }

/* Deterministic test data: a 64-bit LCG (Knuth's MMIX constants; the top
 * 53 bits used) and an approximately normal float (Irwin-Hall, 12 draws). */
#include <stdint.h>
static inline uint64_t test_rng_next(uint64_t *state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return *state >> 11;
}
static inline float test_rng_normal(uint64_t *state) {
    double s = 0;
    for (int i = 0; i < 12; i++) s += (double)test_rng_next(state) * 0x1p-53;
    return (float)(s - 6);
}

/* The fixtures folder: $KEN_FIXTURES, else ../shared/fixtures beside the
 * source tree. Missing fixtures fail the test when CI=true and skip (exit 77,
 * which ctest reports as skipped, never as passed) otherwise. */
#include <sys/stat.h>
static inline const char *test_fixtures(void) {
    const char *f = getenv("KEN_FIXTURES");
    struct stat st;
    if (f && *f && stat(f, &st) == 0 && S_ISDIR(st.st_mode)) return f;
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0) {
        fprintf(stderr, "fixtures not found at '%s' (KEN_FIXTURES) and CI=true: failing\n",
                f ? f : "(unset)");
        exit(1);
    }
    fprintf(stderr, "fixtures not found at '%s': skipped\n", f ? f : "(unset)");
    exit(77);
}

/* A whole file, NUL-terminated (the NUL not counted in *len; len may be
 * NULL); NULL when it cannot be read. Freed with free(). */
static inline char *test_slurp(const char *path, size_t *len) {
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap + 1);
    for (size_t r; p && (r = fread(p + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            char *q = realloc(p, cap * 2 + 1);
            if (!q) { free(p); p = NULL; break; }
            p = q, cap *= 2;
        }
    }
    if (p && ferror(f)) { free(p); p = NULL; }
    fclose(f);
    if (p) {
        p[n] = 0;
        if (len) *len = n;
    }
    return p;
}
#endif
